"""Serving snapshots: how Dagster publishes the tables the API reads.

DuckDB lets one process write a database file, and a reader holding that file open makes
the writer fail. So the API never opens the warehouse. Dagster's ``serving`` asset writes a
complete, immutable DuckDB file next to the previous ones, then atomically replaces the
pointer file ``current.json`` (write to a temporary name, fsync, ``os.replace``). Readers
follow the pointer and open the snapshot read-only; a publish never blocks them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

POINTER_NAME = "current.json"
SNAPSHOT_PREFIX = "snapshot-"
KEEP_SNAPSHOTS = 3


@dataclass(frozen=True)
class SnapshotInfo:
    """One published snapshot, as described by the pointer file."""

    path: Path
    version: str
    published_at: datetime
    metadata: dict[str, Any]

    def age_seconds(self, now: datetime | None = None) -> float:
        return ((now or datetime.now(UTC)) - self.published_at).total_seconds()


def _fsync_write(path: Path, payload: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(payload)
        handle.flush()
        os.fsync(handle.fileno())


def publish(
    serving_dir: Path,
    build: Callable[[Path], dict[str, Any]],
    *,
    now: datetime | None = None,
) -> SnapshotInfo:
    """Build a new snapshot with ``build(path)`` and make it current.

    ``build`` writes a DuckDB file at the path it is given and returns metadata (row
    counts, data freshness) that is stored in the pointer. If ``build`` raises, the
    current snapshot is untouched and the partial file is removed.
    """
    serving_dir.mkdir(parents=True, exist_ok=True)
    published_at = now or datetime.now(UTC)
    version = published_at.strftime("%Y%m%dT%H%M%S%fZ")
    final = serving_dir / f"{SNAPSHOT_PREFIX}{version}.duckdb"
    staging = serving_dir / f".{final.name}.partial"
    try:
        metadata = build(staging)
        os.replace(staging, final)
    finally:
        staging.unlink(missing_ok=True)
    pointer = {
        "path": final.name,
        "version": version,
        "published_at": published_at.isoformat(),
        "metadata": metadata,
    }
    pointer_tmp = serving_dir / f".{POINTER_NAME}.partial"
    _fsync_write(pointer_tmp, json.dumps(pointer, indent=2, default=str).encode())
    os.replace(pointer_tmp, serving_dir / POINTER_NAME)
    _prune(serving_dir, keep=final.name)
    return SnapshotInfo(final, version, published_at, metadata)


def _prune(serving_dir: Path, *, keep: str) -> None:
    """Delete all but the newest snapshots. Readers that still hold an older file open keep
    reading it: on POSIX an unlinked file lives until its last handle closes."""
    snapshots = sorted(serving_dir.glob(f"{SNAPSHOT_PREFIX}*.duckdb"), reverse=True)
    for old in snapshots[KEEP_SNAPSHOTS:]:
        if old.name != keep:
            old.unlink(missing_ok=True)


def current(serving_dir: Path) -> SnapshotInfo | None:
    """The snapshot the pointer names, or None when nothing has been published yet."""
    pointer = serving_dir / POINTER_NAME
    try:
        raw = json.loads(pointer.read_text())
    except FileNotFoundError:
        return None
    return SnapshotInfo(
        path=serving_dir / raw["path"],
        version=raw["version"],
        published_at=datetime.fromisoformat(raw["published_at"]),
        metadata=raw.get("metadata", {}),
    )
