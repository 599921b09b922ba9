"""A folder of billing files someone already downloads (any format the converter knows)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from clouds.billing import ExportFile, combined_signature, month_of_path

SUFFIXES = (".csv", ".csv.gz", ".parquet", ".jsonl", ".jsonl.gz", ".json")


class UndatedFiles(ValueError):
    pass


@dataclass(frozen=True)
class FolderSource:
    """Files under ``root`` whose path names their billing month."""

    source_id: str
    root: Path
    format: str | None = None

    def _files(self) -> dict[date, list[Path]]:
        if not self.root.is_dir():
            raise FileNotFoundError(f"billing folder {self.root} does not exist")
        by_month: dict[date, list[Path]] = defaultdict(list)
        undated = []
        for path in sorted(self.root.rglob("*")):
            if not path.is_file() or not path.name.lower().endswith(SUFFIXES) or path.name.startswith("."):
                continue
            month = month_of_path(path.relative_to(self.root))
            if month is None:
                undated.append(path.name)
            else:
                by_month[month].append(path)
        if undated:
            raise UndatedFiles(
                f"{len(undated)} file(s) in {self.root} do not name their billing month (e.g. {undated[0]}); "
                "put them in a YYYY-MM folder or add YYYY-MM to their names"
            )
        return by_month

    @staticmethod
    def _signature(path: Path) -> str:
        stat = path.stat()
        return f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}"

    def months(self) -> dict[date, str]:
        return {
            month: combined_signature([self._signature(p) for p in paths]) for month, paths in self._files().items()
        }

    def fetch(self, month: date) -> list[ExportFile]:
        return [
            ExportFile(month, path, path.stat().st_size, self._signature(path), self.format)
            for path in self._files().get(month, [])
        ]
