"""Read access to the current serving snapshot (never the warehouse itself)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any, TypeVar

import anyio
import duckdb

from wedcloud.snapshots import POINTER_NAME, SnapshotInfo, current

T = TypeVar("T")
MEMO_ENTRIES = 256


class SnapshotReader:
    """Follows the pointer file and keeps one read-only connection per snapshot version.

    The pointer is re-read only when its modification time changes, so a request costs one
    ``stat``. Queries run on a cursor of their own, which DuckDB makes safe across threads.
    """

    def __init__(self, serving_dir: Path) -> None:
        self.serving_dir = serving_dir
        self._lock = threading.Lock()
        self._pointer_mtime: int | None = None
        self._info: SnapshotInfo | None = None
        self._connections: dict[str, duckdb.DuckDBPyConnection] = {}
        self._memo: OrderedDict[tuple[str, Hashable], Any] = OrderedDict()

    def current(self) -> SnapshotInfo | None:
        try:
            mtime = (self.serving_dir / POINTER_NAME).stat().st_mtime_ns
        except FileNotFoundError:
            return None
        if mtime != self._pointer_mtime:
            with self._lock:
                self._info = current(self.serving_dir)
                self._pointer_mtime = mtime
        return self._info

    def _connection(self, info: SnapshotInfo) -> duckdb.DuckDBPyConnection:
        with self._lock:
            connection = self._connections.get(info.version)
            if connection is None:
                connection = duckdb.connect(str(info.path), read_only=True)
                connection.execute("SET TimeZone = 'UTC'")
                self._connections[info.version] = connection
                # keep the previous version open for requests still using it; close older ones
                for version in sorted(self._connections)[:-2]:
                    self._connections.pop(version).close()
            return connection

    def query(self, info: SnapshotInfo, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        cursor = self.cursor(info)
        try:
            return cursor.execute(sql, params or []).fetchall()
        finally:
            cursor.close()

    def cursor(self, info: SnapshotInfo) -> duckdb.DuckDBPyConnection:
        """A cursor of its own on the snapshot, for work that reads many tables (the caller
        closes it)."""
        return self._connection(info).cursor()

    def peek(self, info: SnapshotInfo, key: Hashable) -> Any | None:
        """What :meth:`memoized` keeps for ``key`` in this snapshot, without computing it."""
        with self._lock:
            found = self._memo.get((info.version, key))
            if found is not None:
                self._memo.move_to_end((info.version, key))
            return found

    async def answer(self, info: SnapshotInfo, key: Hashable, compute: Callable[[], T]) -> T:
        """:meth:`memoized` for a request handler: a remembered answer is returned from the event
        loop without a thread hop; only a first computation goes to a worker thread."""
        found = self.peek(info, key)
        if found is not None:
            result: T = found
            return result
        return await anyio.to_thread.run_sync(self.memoized, info, key, compute)

    def memoized(self, info: SnapshotInfo, key: Hashable, compute: Callable[[], T]) -> T:
        """``compute()`` once per snapshot version and key: a snapshot never changes, so
        neither does anything computed from it alone."""
        memo_key = (info.version, key)
        with self._lock:
            if memo_key in self._memo:
                self._memo.move_to_end(memo_key)
                result: T = self._memo[memo_key]
                return result
        value = compute()
        with self._lock:  # least recently used out: callers choose keys, so the memo is bounded
            self._memo[memo_key] = value
            while len(self._memo) > MEMO_ENTRIES:
                self._memo.popitem(last=False)
        return value

    def close(self) -> None:
        with self._lock:
            for connection in self._connections.values():
                connection.close()
            self._connections.clear()
