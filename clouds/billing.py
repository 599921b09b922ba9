"""Where billing data comes from: one ``BillingSource`` per provider account.

A source lists the billing periods (months) it has, gives a cheap signature per month so a
restated month is noticed, and fetches a month's files to local paths (downloading them when
they live in S3, Blob storage or BigQuery). The normalisers in ``analytics.focus`` read those
files; nothing here knows FOCUS.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Protocol, runtime_checkable


class DownloadMismatch(RuntimeError):
    """A downloaded billing file is not the size its listing or manifest gave."""


@dataclass(frozen=True)
class ExportFile:
    """One billing file of one month, available locally."""

    month: date
    path: Path
    size: int
    signature: str  # changes when the provider rewrites the file (etag, or size and mtime)
    format: str | None = None  # None: let the normaliser detect it


@runtime_checkable
class BillingSource(Protocol):
    @property
    def source_id(self) -> str:
        """Stable name of the source: the provider it belongs to."""
        ...

    def months(self) -> dict[date, str]:
        """Every billing month available, with a signature of its files."""
        ...

    def fetch(self, month: date) -> list[ExportFile]:
        """That month's files as local paths (downloaded if they are remote)."""
        ...


class UnsafeObjectName(DownloadMismatch):
    """An object or blob name that would be written outside the cache (``..``, an absolute path)."""


def cache_path(root: Path, name: str) -> Path:
    """``root`` joined with an object's name from a bucket listing, refused unless it stays
    under ``root`` (the bucket's own cache folder): whoever can write to the bucket, or answers
    for it, must not choose where a file lands."""
    path = root / name
    if path.resolve() == root.resolve() or not path.resolve().is_relative_to(root.resolve()):
        raise UnsafeObjectName(f"{name!r} would be written outside {root}; not downloaded")
    return path


def download_object(s3: Any, bucket: str, obj: dict[str, Any], local: Path) -> tuple[str, bool]:
    """An object of an S3 (or S3-compatible) listing at ``local``: its signature (ETag and
    size) and whether it had to be downloaded. A file already there under the same signature is
    kept; a new one is written beside it and renamed into place only once its size is right."""
    marker = local.with_name(local.name + ".etag")
    signature = f"{obj['ETag']}:{obj['Size']}"
    if local.exists() and marker.exists() and marker.read_text() == signature:
        return signature, False
    local.parent.mkdir(parents=True, exist_ok=True)
    partial = local.with_name(f".{local.name}.partial")
    s3.download_file(bucket, obj["Key"], str(partial))
    if partial.stat().st_size != obj["Size"]:
        partial.unlink()
        raise DownloadMismatch(f"{bucket}/{obj['Key']}: expected {obj['Size']} bytes")
    os.replace(partial, local)
    marker.write_text(signature)
    return signature, True


def combined_signature(parts: list[str]) -> str:
    return hashlib.sha256("\n".join(sorted(parts)).encode()).hexdigest()[:32]


_MONTH_PATTERNS = (
    re.compile(r"BILLING_PERIOD=(\d{4})-(\d{2})"),
    re.compile(r"(?<!\d)(\d{4})(\d{2})\d{2}-\d{8}(?!\d)"),  # Azure export folders: 20260101-20260131
    re.compile(r"(?<!\d)(\d{4})-(\d{2})(?!\d)"),
    re.compile(r"(?<!\d)(20\d{2})(0[1-9]|1[0-2])(?!\d)"),
)


def month_of_path(path: Path) -> date | None:
    """The billing month a file's path names (``BILLING_PERIOD=2026-01``, ``2026-01``,
    ``20260101-20260131``, ``202601``), or None."""
    text = str(path)
    for pattern in _MONTH_PATTERNS:
        found = pattern.search(text)
        if found:
            year, month = int(found.group(1)), int(found.group(2))
            if 1 <= month <= 12:
                return date(year, month, 1)
    return None
