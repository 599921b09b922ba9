"""Serving snapshots are published atomically and never disturb readers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest

from wedcloud import snapshots


def _build(rows: int) -> Any:
    def build(path: Path) -> dict[str, Any]:
        with duckdb.connect(str(path)) as con:
            con.execute(f"CREATE TABLE t AS SELECT * FROM range({rows})")
        return {"rows": rows}

    return build


def test_publishing_switches_the_pointer_to_a_complete_file(tmp_path: Path) -> None:
    assert snapshots.current(tmp_path) is None
    first = snapshots.publish(tmp_path, _build(3))
    assert snapshots.current(tmp_path) == first
    with duckdb.connect(str(first.path), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM t").fetchall() == [(3,)]
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind


def test_a_failed_build_leaves_the_current_snapshot_in_place(tmp_path: Path) -> None:
    good = snapshots.publish(tmp_path, _build(1))

    def broken(path: Path) -> dict[str, Any]:
        path.write_bytes(b"half a file")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        snapshots.publish(tmp_path, broken)
    assert snapshots.current(tmp_path) == good
    assert not list(tmp_path.glob(".*partial"))


def test_a_reader_keeps_its_open_snapshot_while_new_ones_are_published_and_old_ones_pruned(tmp_path: Path) -> None:
    first = snapshots.publish(tmp_path, _build(5))
    reader = duckdb.connect(str(first.path), read_only=True)
    for n in range(snapshots.KEEP_SNAPSHOTS + 1):
        snapshots.publish(tmp_path, _build(n))
    assert not first.path.exists()
    assert reader.execute("SELECT count(*) FROM t").fetchall() == [(5,)]
    reader.close()
    assert len(list(tmp_path.glob("snapshot-*.duckdb"))) == snapshots.KEEP_SNAPSHOTS
