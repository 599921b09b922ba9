"""The gate in front of the app: keys checked, bodies capped and callers rate-limited before
any body is read; refusals audited by subject and minute (SQLite: the store is not in play).

Requests go to the app as raw ASGI calls (``tests.control_api.asgi``), with a ``receive`` that
counts the chunks it hands out, which is how a test can see that a body was never read.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from control_api.app import create_app
from control_api.settings import ApiSettings
from control_plane.security import Role
from control_plane.services.api_keys import create_key
from control_plane.store.db import make_engine
from control_plane.store.migrate import upgrade
from control_plane.store.models import AuditEntry
from tests.control_api.asgi import Body, call

PROBLEM = "application/problem+json"
MIB = 1024 * 1024


@dataclass
class Served:
    client: TestClient
    app: FastAPI
    engine: Engine
    keys: dict[Role, str]

    def audit(self) -> list[AuditEntry]:
        with Session(self.engine) as session:
            return list(session.scalars(select(AuditEntry).order_by(AuditEntry.id)))


@contextmanager
def serve(tmp_path: Path, **overrides: Any) -> Iterator[Served]:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    engine = make_engine(url)
    upgrade(engine)
    keys = {}
    with Session(engine) as session, session.begin():
        for role in (Role.VIEWER, Role.ADMIN):
            _, keys[role] = create_key(session, name=f"gate-{role.value}", role=role)
    settings = ApiSettings(home=tmp_path / "home", database_url=url, environment="test", **overrides)
    app = create_app(settings)
    with TestClient(app) as client:
        yield Served(client, app, engine, keys)
    engine.dispose()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with serve(tmp_path) as served:
        yield served


def test_an_anonymous_body_is_refused_401_without_being_read(served: Served) -> None:
    body = Body(10 * 1024)
    answer = anyio.run(
        lambda: call(served.app, "POST", "/api/cloud/providers", headers={"content-length": "10240"}, body=body)
    )
    assert (answer.status, answer.headers["content-type"]) == (401, PROBLEM)
    assert answer.chunks_read == 0


@pytest.mark.parametrize("content_type", ["application/json", "text/plain"])
def test_malformed_json_without_a_key_is_401_not_422(served: Served, content_type: str) -> None:
    response = served.client.post(
        "/api/cloud/providers", content=b'{"kind": "sandbox",', headers={"content-type": content_type}
    )
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("role", [None, Role.ADMIN], ids=["anonymous", "admin"])
def test_a_declared_length_over_the_limit_is_413_before_the_body_is_read(served: Served, role: Role | None) -> None:
    headers = {"content-length": str(50 * MIB), "content-type": "application/json"}
    if role is not None:
        headers["x-api-key"] = served.keys[role]
    body = Body(50 * MIB, chunk=MIB)
    answer = anyio.run(lambda: call(served.app, "POST", "/api/cloud/costs/budgets", headers=headers, body=body))
    assert (answer.status, answer.headers["content-type"]) == (413, PROBLEM)
    assert str(MIB) in answer.json()["detail"]
    assert answer.chunks_read == 0


def test_a_chunked_body_is_cut_off_at_the_limit_and_answered_413(served: Served) -> None:
    """No length given: the body is counted while it streams, and reading stops just past the
    limit, whatever the app made of the part it read."""
    headers = {"x-api-key": served.keys[Role.ADMIN], "content-type": "application/json"}
    body = Body(50 * MIB, chunk=64 * 1024)
    answer = anyio.run(lambda: call(served.app, "POST", "/api/cloud/costs/budgets", headers=headers, body=body))
    assert (answer.status, answer.headers["content-type"]) == (413, PROBLEM)
    assert answer.json()["type"] == "urn:wedcloud:problem:body-too-large"
    assert body.read == MIB // (64 * 1024) + 1  # the chunk that passed the limit, no further


def test_a_body_under_the_limit_reaches_the_app(served: Served) -> None:
    response = served.client.post(
        "/api/cloud/costs/budgets",
        content=b"{",
        headers={"x-api-key": served.keys[Role.ADMIN], "content-type": "application/json"},
    )
    assert response.status_code == 422  # the app read it, and found it wanting


@pytest.mark.parametrize(
    ("overrides", "role", "refused_after"),
    [
        ({"rate_limit_per_address": 3, "rate_limit_per_key": 0}, None, 3),
        ({"rate_limit_per_address": 0, "rate_limit_per_key": 2}, Role.VIEWER, 2),
        ({"rate_limit_per_address": 0, "rate_limit_per_key": 0}, Role.VIEWER, None),
    ],
    ids=["per-address", "per-key", "off"],
)
def test_callers_past_their_rate_get_429_with_retry_after(
    tmp_path: Path, overrides: dict[str, int], role: Role | None, refused_after: int | None
) -> None:
    with serve(tmp_path, **overrides) as served:
        headers = {"x-api-key": served.keys[role]} if role else {}
        statuses = [served.client.get("/api/cloud/operations", headers=headers).status_code for _ in range(6)]
        allowed = 200 if role else 401
        if refused_after is None:
            assert statuses == [allowed] * 6
            return
        assert statuses == [allowed] * refused_after + [429] * (6 - refused_after)
        refused = served.client.get("/api/cloud/operations", headers=headers)
        assert refused.headers["content-type"] == PROBLEM
        assert int(refused.headers["retry-after"]) >= 1
        assert served.client.get("/api/healthz").status_code == 200  # probes are never limited


def test_another_address_keeps_its_own_bucket_and_an_ipv6_64_is_one_caller(tmp_path: Path) -> None:
    with serve(tmp_path, rate_limit_per_address=1, rate_limit_per_key=0) as served:

        async def statuses() -> list[int]:
            addresses = ["2001:db8::1", "2001:db8::2", "2001:db8:0:1::1", "198.51.100.1"]
            return [(await call(served.app, "GET", "/api/cloud/operations", client=a)).status for a in addresses]

        assert anyio.run(statuses) == [401, 429, 401, 401]


def test_ten_thousand_anonymous_requests_add_a_few_audit_rows_that_count_them_all(tmp_path: Path) -> None:
    """The flood of issue 13: each refusal used to be a row. Now a subject (here one address)
    adds at most two rows a minute, and the rows' counts add up to every refusal."""
    with serve(tmp_path) as served:

        async def flood() -> dict[int, int]:
            seen: dict[int, int] = {}
            for _ in range(10_000):
                status = (await call(served.app, "POST", "/api/cloud/providers", body=Body(0))).status
                seen[status] = seen.get(status, 0) + 1
            return seen

        seen = anyio.run(flood)
        # a burst of the default 1200 a minute (and what refilled meanwhile), then 429s
        assert set(seen) == {401, 429}
        assert 1200 <= seen[401] < 1500
        during = [row for row in served.audit() if row.method != "CLI"]
    rows = [row for row in served.audit() if row.method != "CLI"]  # stopping the API wrote the minutes still open
    assert 2 <= len(rows) <= 12
    assert len(during) <= len(rows)
    assert sum(row.detail["count"] for row in rows) == 10_000
    assert {row.actor for row in rows} == {"anonymous"}
    assert {row.detail["subject"] for row in rows} == {"client:203.0.113.7"}


def test_refusals_are_rows_per_subject_and_minute() -> None:
    from control_api.limits import RefusalLog
    from control_plane import audit

    now = [600.0]
    log = RefusalLog(clock=lambda: now[0])

    def refused(status: int = 401) -> AuditEntry:
        return audit.entry(actor="anonymous", method="GET", path="/api/cloud/x", action="GET /api/cloud/x",
                           status=status, request_id="r", detail={})  # fmt: skip

    written = [*log.record("client:a", refused()), *log.record("client:b", refused())]
    assert [row.detail["count"] for row in written] == [1, 1]  # the first of each subject, at once
    for _ in range(5):
        written += log.record("client:a", refused(429))
    assert len(written) == 2  # counted, not written
    now[0] = 661.0  # the next minute: a's first row of it, and the rest of the last
    written += log.record("client:a", refused())
    closed = [row for row in written[2:] if row.detail["aggregated"] == "the rest of the minute"]
    assert [(row.detail["count"], row.status_code, row.detail["statuses"]) for row in closed] == [(5, 429, {"429": 5})]
    assert len(written) == 4
    assert log.sweep(float("inf")) == []  # b's minute had one refusal, a's new one too: nothing left
    assert len(log.record("client:a", refused())) == 1  # a new minute's first row
    assert log.record("client:a", refused()) == []
    (last,) = log.sweep(float("inf"))  # stopping the API writes the minute still open
    assert (last.detail["count"], last.detail["subject"]) == (1, "client:a")
