"""The per-worker event source (control_plane/monitoring/fanout.py) on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from control_plane.monitoring import events
from control_plane.monitoring.events import Event
from control_plane.monitoring.fanout import EventSource, Gaps
from control_plane.monitoring.settings import MonitorSettings
from control_plane.store.monitoring_models import StreamEvent


class Received:
    def __init__(self) -> None:
        self.events: list[Event] = []
        self.lock = threading.Lock()

    def __call__(self, batch: Sequence[Event]) -> None:
        with self.lock:
            self.events.extend(batch)

    def ids(self) -> list[int]:
        with self.lock:
            return [event.id for event in self.events]

    def wait_for(self, count: int, timeout: float = 10.0) -> list[int]:
        deadline = time.monotonic() + timeout
        while len(self.ids()) < count:
            assert time.monotonic() < deadline, f"only {self.ids()} of {count} events arrived"
            time.sleep(0.01)
        return self.ids()


@pytest.fixture
def follow(engine: Engine) -> Iterator[Callable[..., tuple[EventSource, Received]]]:
    started: list[EventSource] = []

    def start(**options: object) -> tuple[EventSource, Received]:
        received = Received()
        source = EventSource(engine, received, MonitorSettings(stream_poll_ms=10), **options)  # type: ignore[arg-type]
        source.start()
        started.append(source)
        return source, received

    yield start
    for source in started:
        source.stop()


def publish(engine: Engine, topic: str = "alerts", **payload: object) -> int:
    with Session(engine) as session, session.begin():
        return events.publish(session, topic, dict(payload))


def test_events_committed_after_start_are_delivered_once_in_order(engine: Engine, follow) -> None:  # type: ignore[no-untyped-def]
    publish(engine, n=0)  # before the start: not delivered
    source, received = follow()
    assert source.mode == ("listen" if engine.dialect.name == "postgresql" else "poll")
    published = [publish(engine, n=n) for n in range(1, 6)]
    with Session(engine) as session, session.begin():
        many = events.publish_many(session, "metrics", [{"data": {"i": i}} for i in range(3)])
    assert received.wait_for(8) == [*published, many - 2, many - 1, many]
    time.sleep(0.3)
    assert len(received.ids()) == 8
    assert source.status()["connected"] is True


def test_an_event_rolled_back_is_never_delivered(engine: Engine, follow) -> None:  # type: ignore[no-untyped-def]
    _, received = follow()
    with Session(engine) as session:
        events.publish(session, "alerts", {"rolled": "back"})
        session.rollback()
    kept = publish(engine, kept=True)
    assert received.wait_for(1) == [kept]
    time.sleep(0.3)
    assert received.ids() == [kept]


@pytest.mark.integration
def test_a_lower_id_committed_late_is_delivered_after_the_higher_one(postgres_engine: Engine, follow_pg) -> None:  # type: ignore[no-untyped-def]
    """PostgreSQL hands out ids at insert time: the transaction holding the lower id may
    commit last. The source remembers the gap and delivers the late event, once."""
    _, received = follow_pg()
    slow = Session(postgres_engine)
    low = events.publish(slow, "alerts", {"slow": True})  # id taken, not committed
    high = publish(postgres_engine, fast=True)
    assert low < high
    assert received.wait_for(1) == [high]
    slow.commit()
    slow.close()
    assert received.wait_for(2) == [high, low]
    time.sleep(0.5)
    assert received.ids() == [high, low]


@pytest.mark.integration
def test_the_listener_reconnects_and_catches_up_after_its_connection_drops(
    postgres_engine: Engine,
    follow_pg,  # type: ignore[no-untyped-def]
) -> None:
    source, received = follow_pg()
    first = publish(postgres_engine, n=1)
    received.wait_for(1)
    with postgres_engine.connect() as admin:
        killed = admin.scalar(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND query LIKE 'LISTEN%' AND pid <> pg_backend_pid()"
            )
        )
    assert killed == 1
    during = publish(postgres_engine, n=2)  # may commit while nobody listens
    after = [publish(postgres_engine, n=n) for n in (3, 4)]
    assert received.wait_for(4, timeout=15) == [first, during, *after]
    assert source.status()["connected"] is True


def test_the_source_prunes_the_log_to_the_replay_window(engine: Engine) -> None:
    old = datetime.now(UTC) - timedelta(minutes=20)
    with Session(engine) as session, session.begin():
        events.publish(session, "alerts", {"old": True}, at=old)
        recent = events.publish(session, "alerts", {"old": False})
    source = EventSource(engine, Received(), MonitorSettings(stream_replay_minutes=15))
    source._pruned_at = 0.0  # due
    source._maybe_prune()
    with Session(engine) as session:
        assert list(session.scalars(select(StreamEvent.id))) == [recent]


def _event(event_id: int) -> Event:
    return Event(id=event_id, topic="alerts", at=datetime.now(UTC), payload={})


def test_gaps_remember_missing_ids_until_they_commit_or_expire() -> None:
    gaps = Gaps(10, keep_seconds=5)
    assert [e.id for e in gaps.accept([_event(11), _event(14)], now=100)] == [11, 14]
    assert gaps.floor(now=101) == 11  # read again from the lowest open gap (12)
    assert gaps.watermark() == 12
    assert [e.id for e in gaps.accept([_event(13), _event(14)], now=102)] == [13]  # 14 not twice
    assert gaps.floor(now=104) == 11
    assert gaps.floor(now=106) == 14  # 12 never committed: forgotten after 5 s
    assert gaps.accept([_event(12)], now=107) == []  # too late: not delivered out of the blue
    assert gaps.watermark() == 15


@pytest.fixture
def postgres_engine(migrated_postgres_url: str) -> Iterator[Engine]:
    from control_plane.store.db import make_engine

    engine = make_engine(migrated_postgres_url)
    yield engine
    engine.dispose()


@pytest.fixture
def follow_pg(postgres_engine: Engine) -> Iterator[Callable[..., tuple[EventSource, Received]]]:
    started: list[EventSource] = []

    def start() -> tuple[EventSource, Received]:
        received = Received()
        source = EventSource(postgres_engine, received, safety_read_seconds=0.5)
        source.start()
        started.append(source)
        return source, received

    yield start
    for source in started:
        source.stop()


@pytest.mark.integration
def test_the_listener_reads_the_wakes_of_one_tick_together(postgres_engine: Engine) -> None:
    reads: list[list[int]] = []
    lock = threading.Lock()

    def deliver(batch: Sequence[Event]) -> None:
        with lock:
            reads.append([event.id for event in batch])

    def delivered(count: int) -> list[list[int]]:
        deadline = time.monotonic() + 10
        while sum(len(read) for read in reads) < count:
            assert time.monotonic() < deadline, f"only {reads} arrived"
            time.sleep(0.01)
        with lock:
            return list(reads)

    settings = MonitorSettings(stream_tick_ms=1000)
    source = EventSource(postgres_engine, deliver, settings, safety_read_seconds=30)
    source.start()
    try:
        first = publish(postgres_engine, n=0)
        assert delivered(1) == [[first]]
        rest = [publish(postgres_engine, n=n) for n in range(1, 6)]  # five commits, five wakes
        assert delivered(6) == [[first], rest]  # one read, at the end of the tick
    finally:
        source.stop()
