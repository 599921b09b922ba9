"""Each API worker's source of new stream events: it follows the ``stream_events`` log
(``events.py``) and hands what it reads to a callback (the worker's hub).

It runs in a thread of its own. On PostgreSQL it holds one dedicated connection doing ``LISTEN
wedcloud_events`` (autocommit), which the ``pg_notify`` of ``events.publish`` wakes when the
publishing transaction commits; it also reads once a second without a wake, as a safety net. On
SQLite it reads the log's newest id every ``stream_poll_ms`` (50 ms or less) and the rows after
the last one it saw when that moved. A wake less than ``stream_tick_ms`` after the last read
waits for the tick's end, so that a busy log is read (and its events handed over) in batches.

**Ids committed out of order.** A PostgreSQL sequence hands out ids when rows are inserted, not
when they commit: a transaction holding id 7 may commit after one holding id 8. So when the
reader sees 8 while 7 is missing it remembers 7 as a gap and keeps reading from the lowest open
gap for ``gap_seconds``; a late 7 is then handed over (after 8: clients see ids ascend, except
for such a late event). A gap never filled (a rolled-back transaction, a sequence's cache) is
forgotten after ``gap_seconds``. No id is handed over twice.

A dropped connection or a failed read is logged and retried with a growing pause (0.2 s to
5 s); after it the reader catches up from its last id, so nothing committed meanwhile is lost
(while it lasts in the log). About once a minute the source prunes the log to
``stream_replay_minutes`` (every worker does; pruning twice is harmless).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from control_plane.monitoring import events
from control_plane.monitoring.events import Event
from control_plane.monitoring.settings import MonitorSettings

log = logging.getLogger(__name__)

Deliver = Callable[[Sequence[Event]], None]
BATCH = 1000
MAX_GAPS = 10_000
PRUNE_EVERY_SECONDS = 60.0


class Gaps:
    """The reader's position: the highest id handed over, and the lower ids not seen yet that
    may still commit (each until its deadline)."""

    def __init__(self, last_id: int, *, keep_seconds: float) -> None:
        self.last_id = last_id
        self.keep_seconds = keep_seconds
        self.open: dict[int, float] = {}

    def floor(self, now: float) -> int:
        """Read the ids above this one: the lowest open gap's predecessor, or the last id."""
        for missing in [i for i, deadline in self.open.items() if deadline < now]:
            del self.open[missing]
        return min(self.open) - 1 if self.open else self.last_id

    def accept(self, batch: Sequence[Event], now: float) -> list[Event]:
        """The events of ``batch`` (ids ascending) not handed over before; records new gaps."""
        fresh: list[Event] = []
        for event in batch:
            if event.id <= self.last_id:
                if self.open.pop(event.id, None) is not None:
                    fresh.append(event)  # a late commit filling a gap
                continue
            for missing in range(self.last_id + 1, min(event.id, self.last_id + 1 + MAX_GAPS)):
                self.open[missing] = now + self.keep_seconds
            self.last_id = event.id
            fresh.append(event)
        while len(self.open) > MAX_GAPS:
            del self.open[min(self.open)]
        return fresh

    def watermark(self) -> int:
        """The lowest id that may still be handed over (every id below it has been, or never will)."""
        return min(self.open) if self.open else self.last_id + 1


class EventSource:
    """Follows the event log in a daemon thread and calls ``deliver`` (from that thread) with
    each batch of new events. ``start()`` reads the log's newest id first: only events after it
    are delivered."""

    def __init__(
        self,
        engine: Engine,
        deliver: Deliver,
        settings: MonitorSettings | None = None,
        *,
        sessions: sessionmaker[Session] | None = None,
        gap_seconds: float = 5.0,
        safety_read_seconds: float = 1.0,
    ) -> None:
        self.engine = engine
        self.sessions = sessions or sessionmaker(engine, expire_on_commit=False)
        self.deliver = deliver
        self.settings = settings or MonitorSettings()
        self.mode = "listen" if engine.dialect.name == "postgresql" else "poll"
        self.gaps = Gaps(0, keep_seconds=gap_seconds)
        self.safety_read_seconds = safety_read_seconds
        self.connected = False
        self.last_error: str | None = None
        self.last_read_at: float | None = None  # time.monotonic() of the last successful read
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # one read at a time, and the position with it
        self._pruned_at = 0.0

    # -- life ---------------------------------------------------------------------------------

    def start(self) -> None:
        with self.sessions() as session:
            self.gaps.last_id = events.newest_id(session)
        self._pruned_at = time.monotonic()
        self._thread = threading.Thread(target=self._run, name=f"stream-{self.mode}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def last_id(self) -> int:
        return self.gaps.last_id

    def watermark(self) -> int:
        with self._lock:
            return self.gaps.watermark()

    # -- reading --------------------------------------------------------------------------------

    def read(self) -> int:
        """Read what is new and deliver it; returns how many events were delivered."""
        delivered = 0
        with self._lock:
            while True:
                now = time.monotonic()
                with self.sessions() as session:
                    batch = events.events_after(session, self.gaps.floor(now), limit=BATCH)
                fresh = self.gaps.accept(batch, now)
                self.last_read_at = time.monotonic()
                if fresh:
                    self.deliver(fresh)
                    delivered += len(fresh)
                if len(batch) < BATCH:
                    return delivered

    def _run(self) -> None:
        pause = 0.2
        while not self._stop.is_set():
            try:
                if self.mode == "listen":
                    self._listen()
                else:
                    self._poll()
            except Exception as exc:  # a dropped connection, a store restarting: retry
                self.connected = False
                self.last_error = f"{type(exc).__name__}: {exc}"[:300]
                log.warning("stream event source failed (%s); retrying in %.1f s", self.last_error, pause)
                self._stop.wait(pause)
                pause = min(pause * 2, 5.0)
            else:
                pause = 0.2

    def _poll(self) -> None:
        interval = self.settings.stream_poll_ms / 1000
        seen = -1
        self.read()
        self.connected = True
        self.last_error = None
        while not self._stop.wait(interval):
            with self.sessions() as session:
                newest = events.newest_id(session)
            self.last_read_at = time.monotonic()
            if newest != seen or self.gaps.open:
                self.read()
                seen = newest
            self._maybe_prune()

    def _listen(self) -> None:
        import psycopg  # only on PostgreSQL

        with psycopg.connect(_conninfo(self.engine), autocommit=True) as connection:
            connection.execute(f"LISTEN {events.CHANNEL}")
            self.connected = True
            self.last_error = None
            self.read()  # whatever committed while there was no listener
            tick = self.settings.stream_tick_ms / 1000
            while not self._stop.is_set():
                woken = False
                for _ in connection.notifies(timeout=self.safety_read_seconds / 4, stop_after=1):
                    woken = True
                rest = tick - (time.monotonic() - (self.last_read_at or 0.0))
                if woken and rest > 0:  # at most one read a tick: the wakes meanwhile share it
                    for _ in connection.notifies(timeout=rest):
                        pass
                if woken or self.gaps.open or _due(self.last_read_at, self.safety_read_seconds):
                    self.read()
                self._maybe_prune()

    def _maybe_prune(self) -> None:
        if time.monotonic() - self._pruned_at < PRUNE_EVERY_SECONDS:
            return
        self._pruned_at = time.monotonic()
        keep = timedelta(minutes=self.settings.stream_replay_minutes)
        try:
            with self.sessions.begin() as session:
                dropped = events.prune(session, keep=keep)
            if dropped:
                log.info("pruned %d stream events older than %s", dropped, keep)
        except Exception:
            log.exception("pruning the stream event log failed; trying again later")

    def status(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "connected": self.connected,
            "last_id": self.gaps.last_id,
            "last_error": self.last_error,
            "seconds_since_read": None if self.last_read_at is None else time.monotonic() - self.last_read_at,
        }


def _due(last: float | None, every: float) -> bool:
    return last is None or time.monotonic() - last >= every


def _conninfo(engine: Engine) -> str:
    """The engine's URL as libpq takes it (without SQLAlchemy's ``+psycopg`` driver name)."""
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
