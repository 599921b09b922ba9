"""Change counters bump with every write to a watched table, from any connection, on both
engines; answers cached against them are served only while the table is unchanged."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine, delete, event, insert, update
from sqlalchemy.orm import Session

from control_plane.security import Role
from control_plane.services.api_keys import create_key
from control_plane.store.changes import CounterReader, VersionedCache
from control_plane.store.db import make_engine
from control_plane.store.migrate import upgrade
from control_plane.store.models import Provider, Resource


def _resource(provider_id: uuid.UUID, index: int) -> dict[str, object]:
    return {"id": uuid.uuid4(), "provider_id": provider_id, "cloud_id": f"i-{index}", "name": f"web-{index}",
            "resource_type": "compute", "subtype": "instance", "region": "eu-west-2", "state": "running",
            "tags": {}, "details": {}}  # fmt: skip


def test_every_insert_update_and_delete_of_a_watched_table_bumps_its_counter(engine: Engine) -> None:
    reader = CounterReader(engine)
    start = reader.read()
    with Session(engine) as session, session.begin():
        provider = Provider(kind="sandbox", name="counted", regions=[], tags={}, settings={})
        session.add(provider)
        session.flush()
        provider_id = provider.id
    assert reader.read() == start  # providers are not watched
    with engine.begin() as connection:
        connection.execute(insert(Resource), [_resource(provider_id, i) for i in range(3)])
    inserted = reader.read()["resources"]
    assert inserted > start["resources"]
    with engine.begin() as connection:
        connection.execute(update(Resource).values(state="stopped"))
    updated = reader.read()["resources"]
    assert updated > inserted
    with engine.begin() as connection:
        connection.execute(delete(Resource))
    assert reader.read()["resources"] > updated
    with Session(engine) as session, session.begin():
        create_key(session, name="counted", role=Role.VIEWER)
    assert reader.read()["api_keys"] > start["api_keys"]
    reader.close()


def test_readers_waiting_behind_a_read_share_the_next_one_and_a_later_one_reads_again(engine: Engine) -> None:
    reader = CounterReader(engine)
    reader.read()  # the connection is open
    queries: list[float] = []
    slow, running = threading.Event(), threading.Event()

    @event.listens_for(engine, "before_cursor_execute")
    def count(*args: object) -> None:
        queries.append(time.monotonic())
        if slow.is_set():
            slow.clear()
            running.set()
            time.sleep(0.5)  # the first read is slow: the others ask while it runs

    try:
        slow.set()
        with ThreadPoolExecutor(max_workers=9) as pool:
            first = pool.submit(reader.read)
            assert running.wait(10)
            waiting = [pool.submit(reader.read) for _ in range(8)]
            answers = [first.result(), *(f.result() for f in waiting)]
        # the eight asked while the first read ran, so it could not answer them; one more read,
        # begun after all of them asked, answers all eight
        assert len(queries) == 2
        assert all(a == answers[0] for a in answers)
        with engine.begin() as connection:
            connection.execute(insert(Provider), [{"id": uuid.uuid4(), "kind": "sandbox", "name": "later",
                                                   "regions": [], "tags": {}, "settings": {}}])  # fmt: skip
        reader.read()
        assert len(queries) == 4  # the insert, and a read of its own: nothing shared with the past
    finally:
        event.remove(engine, "before_cursor_execute", count)
        reader.close()


def test_a_rolled_back_write_leaves_the_counter_alone(engine: Engine) -> None:
    reader = CounterReader(engine)
    before = reader.read()
    with Session(engine) as session:
        create_key(session, name="never", role=Role.VIEWER)
        session.rollback()
    assert reader.read() == before
    reader.close()


def test_a_cached_answer_is_served_only_at_its_version() -> None:
    cache = VersionedCache[str](4)
    cache.put("page", 7, "answer")
    assert cache.get("page", 7) == "answer"
    assert cache.get("page", 8) is None
    assert cache.get("page", 7) is None  # a stale entry is dropped, not kept for later


def test_the_least_recently_used_answer_goes_first_and_zero_entries_keeps_none() -> None:
    cache = VersionedCache[int](2)
    cache.put("a", 1, 1)
    cache.put("b", 1, 2)
    assert cache.get("a", 1) == 1  # a is now the most recent
    cache.put("c", 1, 3)
    assert (cache.get("a", 1), cache.get("b", 1), cache.get("c", 1)) == (1, None, 3)
    off = VersionedCache[int](0)
    off.put("a", 1, 1)
    assert off.get("a", 1) is None


def test_an_answer_older_than_its_max_age_is_not_served() -> None:
    cache = VersionedCache[int](2, max_age=0.5)
    cache.put("key", 1, 1)
    assert cache.get("key", 1) == 1
    time.sleep(0.6)
    assert cache.get("key", 1) is None


def test_one_transaction_of_many_writes_bumps_the_counter_once_it_commits(engine: Engine) -> None:
    reader = CounterReader(engine)
    before = reader.read()["resources"]
    with Session(engine) as session, session.begin():
        provider = Provider(kind="sandbox", name="batch", regions=[], tags={}, settings={})
        session.add(provider)
        session.flush()
        session.execute(insert(Resource), [_resource(provider.id, i) for i in range(50)])
        session.execute(update(Resource).values(state="stopped"))
        assert reader.read()["resources"] == before  # nothing is visible before the commit
    after = reader.read()["resources"]
    if engine.dialect.name == "postgresql":
        assert after == before + 1  # counted once, at commit
    else:
        assert after > before  # SQLite counts each row; one writer at a time, so no lock to spare
    reader.close()


@pytest.mark.integration
def test_two_postgresql_writers_crossing_over_resources_do_not_deadlock_on_the_counter(postgres_url: str) -> None:
    """A writes row 1 then row 2; B writes row 2 and commits in between. Were the counter
    bumped at each statement, A would hold its lock while waiting for B, and B would wait for
    the counter: PostgreSQL would abort one of them as a deadlock."""
    engine = make_engine(postgres_url)
    upgrade(engine)
    with Session(engine) as session, session.begin():
        provider = Provider(kind="sandbox", name="crossing", regions=[], tags={}, settings={})
        session.add(provider)
        session.flush()
        rows = [_resource(provider.id, i) for i in range(2)]
        session.execute(insert(Resource), rows)
    first, second = (Resource.id == row["id"] for row in rows)
    with engine.connect() as a, engine.connect() as b:
        for connection in (a, b):  # a wait on a lock fails the test instead of hanging it
            connection.exec_driver_sql("SET lock_timeout = '5s'")
            connection.commit()
        a.begin()
        a.execute(update(Resource).where(first).values(state="stopped"))
        b.begin()
        b.execute(update(Resource).where(second).values(state="stopped"))
        with ThreadPoolExecutor(1) as pool:
            crossing = pool.submit(lambda: a.execute(update(Resource).where(second).values(size="m5.large")))
            time.sleep(0.3)  # A now waits for B's row
            b.commit()
            crossing.result(timeout=10)
        a.commit()
    assert CounterReader(engine).read()["resources"] == 3  # the insert, then A and B once each
    engine.dispose()
