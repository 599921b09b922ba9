"""The sandbox's bills as a billing source: its export folder for one flavour."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from clouds.billing import ExportFile, combined_signature
from clouds.sandbox.catalog import FlavourKey
from clouds.sandbox.exports import list_exports


@dataclass(frozen=True)
class SandboxBillingSource:
    source_id: str
    exports_dir: Path
    flavour: FlavourKey

    def _files(self) -> list[ExportFile]:
        files = []
        for export in list_exports(self.exports_dir, self.flavour):
            stat = export.path.stat()
            signature = f"{export.path.name}:{stat.st_size}:{stat.st_mtime_ns}"
            files.append(ExportFile(export.billing_period, export.path, export.size_bytes, signature))
        return files

    def months(self) -> dict[date, str]:
        by_month: dict[date, list[str]] = {}
        for file in self._files():
            by_month.setdefault(file.month, []).append(file.signature)
        return {month: combined_signature(parts) for month, parts in by_month.items()}

    def fetch(self, month: date) -> list[ExportFile]:
        return [f for f in self._files() if f.month == month]
