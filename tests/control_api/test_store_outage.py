"""A stalled or unreachable PostgreSQL: authenticated requests answer 503 problem+json, and the
event loop keeps serving what needs no store (issue 13, item 10).

The stall is real: another transaction holds an ACCESS EXCLUSIVE lock on ``change_counters``,
which every authenticated request reads. The outage is real too: the database stops taking
connections and its sessions are ended.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from control_api.app import create_app
from control_api.settings import ApiSettings
from control_plane.security import Role
from control_plane.services.api_keys import create_key
from control_plane.store.db import make_engine
from control_plane.store.migrate import upgrade
from tests.control_api.asgi import Answer, call

pytestmark = pytest.mark.integration
PROBLEM = "application/problem+json"


@pytest.fixture
def served(postgres_url: str, tmp_path: Path) -> Iterator[tuple[TestClient, str]]:
    engine = make_engine(postgres_url)
    upgrade(engine)
    with Session(engine) as session, session.begin():
        _, key = create_key(session, name="outage", role=Role.VIEWER)
    engine.dispose()
    settings = ApiSettings(
        home=tmp_path / "home", database_url=postgres_url, environment="test", store_timeout_seconds=1
    )
    with TestClient(create_app(settings)) as client:
        assert client.get("/api/cloud/operations", headers={"X-API-Key": key}).status_code == 200
        yield client, key


def test_a_stalled_store_answers_503_and_never_holds_up_the_event_loop(
    served: tuple[TestClient, str], postgres_url: str
) -> None:
    client, key = served
    locker = create_engine(postgres_url).connect()
    locker.begin()
    locker.execute(text("LOCK TABLE change_counters IN ACCESS EXCLUSIVE MODE"))
    # whatever the code under test does, the lock goes after 6 s, so the test cannot hang
    release = threading.Timer(6, locker.rollback)
    release.start()
    answers: dict[str, Answer] = {}
    health_seconds: list[float] = []

    async def scenario() -> None:
        async def authenticated() -> None:
            answers["operations"] = await call(client.app, "GET", "/api/cloud/operations", headers={"x-api-key": key})

        started = time.monotonic()
        async with anyio.create_task_group() as group:
            group.start_soon(authenticated)
            await anyio.sleep(0.2)  # the authenticated request is now waiting for the store
            answers["health"] = await call(client.app, "GET", "/api/healthz")
            health_seconds.append(time.monotonic() - started)

    try:
        anyio.run(scenario)
    finally:
        release.cancel()
        locker.rollback()
        locker.close()
        locker.engine.dispose()
    assert answers["health"].status == 200
    assert health_seconds[0] < 1  # the loop was free while the other request waited (6 s)
    stalled = answers["operations"]
    assert (stalled.status, stalled.headers["content-type"]) == (503, PROBLEM)
    assert "did not answer within 1 s" in stalled.json()["detail"]
    assert stalled.headers["retry-after"]


def test_an_unreachable_store_answers_503_and_recovers(
    served: tuple[TestClient, str], postgres_url: str, postgres_server: str
) -> None:
    client, key = served
    name = make_url(postgres_url).database
    admin = create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false'))
            connection.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"), {"name": name}
            )
        down = client.get("/api/cloud/operations", headers={"X-API-Key": key})
        assert (down.status_code, down.headers["content-type"]) == (503, PROBLEM)
        assert down.json()["detail"] == "The state store is unavailable; try again shortly."
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true'))
        admin.dispose()
    assert client.get("/api/cloud/operations", headers={"X-API-Key": key}).status_code == 200
