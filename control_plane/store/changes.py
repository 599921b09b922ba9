"""Answers cached until the store changes.

Migration 0003 keeps a counter per watched table, bumped by a trigger in the same transaction
as every write, whichever process makes it (the API, the reconciler, the CLI, Dagster). An
answer computed from a table is kept with the counter value read *before* computing it, and
served again only while the counter still has that value; so a cached answer is never older
than the last committed change. Reading the counters is one primary-key lookup.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

from sqlalchemy import Connection, Engine, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from control_plane.store.models import ChangeCounter

Value = TypeVar("Value")


def counter_in(session: Session, name: str) -> int:
    """A counter read inside ``session``'s own transaction (see the module's note on order)."""
    return int(session.scalar(select(ChangeCounter.value).where(ChangeCounter.name == name)) or 0)


class CounterReader:
    """Reads the counters on one connection of its own, in autocommit mode so that it never
    holds a transaction (or, on PostgreSQL, a snapshot) open between reads. Reads are
    serialised by a lock, so worker threads may share it (the API never reads it on its event
    loop: a stalled database would stall every request). A dropped connection is replaced once.

    Callers queued behind a read share the next one: a read that *began* after a caller asked
    sees every change committed before it asked, so it answers that caller as well as a read of
    its own would. Under load, one round trip to the database then serves every request waiting,
    instead of one round trip each, one after another."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._connection: Connection | None = None
        self._query = select(ChangeCounter.name, ChangeCounter.value)
        self._lock = threading.Lock()
        self._last: tuple[float, dict[str, int]] | None = None  # (when the last read began, what it read)

    def read(self) -> dict[str, int]:
        asked = time.monotonic()
        with self._lock:
            if self._last is not None and self._last[0] > asked:
                return dict(self._last[1])
            began = time.monotonic()
            try:
                found = self._read()
            except DBAPIError:
                self._close()
                found = self._read()
            self._last = (began, found)
            return dict(found)

    def _read(self) -> dict[str, int]:
        if self._connection is None:
            self._connection = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        return {name: int(value) for name, value in self._connection.execute(self._query)}

    def close(self) -> None:
        """Close the connection, unless a read still holds it after a second (a stalled
        database: closing would wait for it too)."""
        if self._lock.acquire(timeout=1):
            try:
                self._close()
            finally:
                self._lock.release()

    def _close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class VersionedCache(Generic[Value]):
    """At most ``entries`` answers, least recently used first out; each valid while its table's
    counter is unchanged and, with ``max_age``, for that many seconds."""

    def __init__(self, entries: int, *, max_age: float | None = None) -> None:
        self.entries, self.max_age = entries, max_age
        self._items: OrderedDict[Hashable, tuple[int, float, Value]] = OrderedDict()

    def get(self, key: Hashable, version: int) -> Value | None:
        found = self._items.get(key)
        if found is None:
            return None
        stored_version, stored_at, value = found
        if stored_version != version or (self.max_age is not None and time.monotonic() - stored_at > self.max_age):
            del self._items[key]
            return None
        self._items.move_to_end(key)
        return value

    def __len__(self) -> int:
        return len(self._items)

    def put(self, key: Hashable, version: int, value: Value) -> None:
        if self.entries <= 0:
            return
        self._items[key] = (version, time.monotonic(), value)
        self._items.move_to_end(key)
        while len(self._items) > self.entries:
            self._items.popitem(last=False)
