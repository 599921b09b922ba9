"""Operations after a crash, under concurrency and with faults, on SQLite and PostgreSQL: every
kind is finished by a reconcile round, one executor at a time, one change per resource, one
apply per recommendation, and an apply that goes wrong after the change puts it back."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from analytics.optimisation.model import Recommendation
from clouds.sandbox.provider import SandboxCloud
from control_plane.security import Role
from control_plane.services import applying, executor, operations
from control_plane.services import optimisation as recommendations
from control_plane.services.errors import Conflict
from control_plane.services.providers import adapter_for
from control_plane.services.reconciler import reconcile_once
from control_plane.store.db import make_sessionmaker
from control_plane.store.models import Operation, Provider, RecommendationRow, Resource
from tests.control_api.conftest import Api
from tests.control_api.test_resources import URL, _act, _problem, _provider, _provision, _spec

SEEN = datetime(2026, 11, 27, tzinfo=UTC)


def _resize(cloud_id: str, target: str = "t3.large") -> Recommendation:
    return Recommendation.build(
        kind="rightsize", provider="sandbox-aws", account_id="111", resource_id=cloud_id, region="eu-west-2",
        action="resize", target=target, monthly_saving=Decimal("10"), currency="USD",
        evidence={"hourly_rate": Decimal("0.5")}, risk="low", risk_reason="test", confidence=0.9,
        confidence_reason="test",
    )  # fmt: skip


def _store(api: Api, rec: Recommendation) -> None:
    with Session(api.engine) as session:
        recommendations.store_recommendations(session, [rec], providers=["sandbox-aws"], seen_at=SEEN)
        session.commit()


def _expire_leases(api: Api) -> None:
    """What the passing of a dead process's lease time looks like to the others."""
    with api.engine.begin() as connection:
        connection.execute(
            update(Operation)
            .where(Operation.status.in_(operations.IN_FLIGHT))
            .values(lease_expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )


def _reconcile(api: Api) -> Any:
    state = api.client.app.state  # type: ignore[attr-defined]
    return reconcile_once(state.settings.layout, state.settings.environment, state.sessions)


def _sandbox(api: Api) -> SandboxCloud:
    return SandboxCloud(api.engine, flavour="aws", exports_dir=api.home / "exports")


def _rows(api: Api) -> list[Resource]:
    with Session(api.engine) as session:
        return list(session.scalars(select(Resource)))


def test_every_kind_of_operation_a_crash_interrupted_is_finished_by_a_reconcile_round(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider_id = _provider(api)
    a, b, c, d, e = (_provision(api, provider_id, name=f"r-{i}") for i in range(5))
    assert _act(api, c["id"], "stop").status_code == 202
    _store(api, rec := _resize(d["cloud_id"]))
    operator, admin = api.headers(Role.OPERATOR), api.headers(Role.ADMIN)
    secret, bulk = {"api_token": "tok-123"}, [_spec(provider_id, name=f"bulk-{i}") for i in range(2)]
    with monkeypatch.context() as crashed:  # every request is answered, then the process dies
        crashed.setattr(executor, "claim", lambda *args, **kwargs: False)
        asked = [
            api.client.post(URL, json=_spec(provider_id, name="sealed", tags=secret), headers=operator),
            api.client.post(f"{URL}/bulk-provision", json={"specs": bulk}, headers=operator),
            _act(api, a["id"], "scale", size="t3.large"),
            _act(api, b["id"], "stop"),
            _act(api, c["id"], "start"),
            _act(api, e["id"], "delete", Role.ADMIN),
            api.client.post(f"/api/cloud/providers/{provider_id}/sync", headers=admin),
            api.client.post(f"/api/cloud/costs/optimization/{rec.id}/apply", json={}, headers=operator),
        ]
    assert [r.status_code for r in asked] == [202] * 8, [r.text for r in asked]
    assert {r.json()["status"] for r in asked} == {"pending"}
    assert _reconcile(api).resumed == []  # their leases are still running: nobody takes them over
    _expire_leases(api)
    report = _reconcile(api)
    assert sorted(report.resumed) == sorted(r.json()["id"] for r in asked)
    with Session(api.engine) as session:
        kinds = {o.kind: (o.status, o.error) for o in session.scalars(select(Operation))}
        assert {kind: status for kind, (status, _) in kinds.items()} == dict.fromkeys(
            ("provision", "bulk_provision", "scale", "start", "stop", "terminate", "sync", "apply_recommendation"),
            "succeeded",
        ), kinds
        assert session.get(RecommendationRow, rec.id).status == "applied"  # type: ignore[union-attr]
    rows = {r.name: r for r in _rows(api)}
    assert [r.name for r in rows.values() if r.state == "provisioning" or r.cloud_id.startswith("pending:")] == []
    expected = {"r-0": ("running", "t3.large"), "r-1": ("stopped", "m5.large"), "r-2": ("running", "m5.large"),
                "r-3": ("running", "t3.large"), "r-4": ("terminated", "m5.large"), "sealed": ("running", "m5.large"),
                "bulk-0": ("running", "m5.large"), "bulk-1": ("running", "m5.large")}  # fmt: skip
    assert {n: (rows[n].state, rows[n].size) for n in expected} == expected
    cloud = _sandbox(api)
    for row in rows.values():  # the cloud says what the store says, and each resource is there once
        assert (cloud.describe(row.cloud_id).state.value, cloud.describe(row.cloud_id).size) == (row.state, row.size)
    listed = [r.name for r in cloud.list_resources() if r.name in expected]
    assert sorted(listed) == sorted(n for n in expected if n != "r-4") or sorted(listed) == sorted(expected)
    assert cloud.describe(rows["sealed"].cloud_id).tags["api_token"] == "tok-123"  # the real value, not redacted
    assert _reconcile(api).resumed == []  # nothing runs twice


def test_a_second_change_to_a_resource_while_one_is_in_flight_is_refused_naming_it(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = _provision(api, _provider(api))
    with monkeypatch.context() as stalled:
        stalled.setattr(executor, "claim", lambda *args, **kwargs: False)
        first = _act(api, made["id"], "stop")
    refused = _problem(_act(api, made["id"], "scale", size="t3.large"), 409)
    assert refused["operation"] == first.json()["id"]
    assert first.json()["id"] in refused["detail"]


def _one_pending(api: Api, kind: str = "sync") -> uuid.UUID:
    provider_id = _provider(api)
    with Session(api.engine) as session:
        operation, _ = operations.begin(session, kind=kind, actor="test", request={"provider_id": provider_id},
                                        provider_id=uuid.UUID(provider_id))  # fmt: skip
        session.commit()
        return operation.id


def test_two_executors_racing_for_one_operation_run_it_once(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two processes (two owners) claim the same operation at the same moment; the lease, renewed
    by the heartbeat, keeps the loser out for as long as the work runs."""
    monkeypatch.setattr(executor, "LEASE_SECONDS", 0.6)
    sessions = make_sessionmaker(api.engine)
    operation_id = _one_pending(api)
    _expire_leases(api)
    runs: list[str] = []
    start = threading.Barrier(2)

    def run(owner: str) -> None:
        def work(session: Session) -> dict[str, Any]:
            runs.append(owner)
            time.sleep(1.5)  # longer than the lease: only the heartbeat keeps it
            return {"by": owner}

        start.wait()
        for _ in range(8):
            operations.execute(sessions, operation_id, work, owner=owner)
            time.sleep(0.25)

    threads = [threading.Thread(target=run, args=(owner,)) for owner in ("process-a", "process-b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(runs) == 1
    with Session(api.engine) as session:
        done = session.get(Operation, operation_id)
        assert done is not None
        assert (done.status, done.result, done.attempts, done.lease_owner) == ("succeeded", {"by": runs[0]}, 1, None)


def test_two_concurrent_applies_of_one_recommendation_start_one_operation(api: Api) -> None:
    made = _provision(api, _provider(api))
    _store(api, rec := _resize(made["cloud_id"]))
    sessions = make_sessionmaker(api.engine)
    start = threading.Barrier(2)
    answers: list[Any] = []

    def apply() -> None:
        with sessions() as session:
            row = recommendations.get_recommendation(session, rec.id)
            start.wait()
            try:
                operation, created = recommendations.begin_apply(session, row, actor="test", idempotency_key=None)
                session.commit()
                answers.append((operation.id, created))
            except Conflict as exc:
                answers.append(exc)

    threads = [threading.Thread(target=apply) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with Session(api.engine) as session:
        applies = list(session.scalars(select(Operation).where(Operation.kind == "apply_recommendation")))
        assert len(applies) == 1
        assert session.get(RecommendationRow, rec.id).operation_id == applies[0].id  # type: ignore[union-attr]
    assert [a for a in answers if isinstance(a, tuple) and a[1]] == [(applies[0].id, True)]
    assert all(isinstance(a, Conflict) or a[0] == applies[0].id for a in answers)


def test_applying_again_after_the_apply_died_starts_a_new_operation(api: Api) -> None:
    made = _provision(api, _provider(api))
    _store(api, rec := _resize(made["cloud_id"]))
    with Session(api.engine) as session:
        row = recommendations.get_recommendation(session, rec.id)
        dead, _ = recommendations.begin_apply(session, row, actor="test", idempotency_key=None)
        dead_id = dead.id
        session.commit()
        session.execute(update(Operation).where(Operation.id == dead_id).values(status="failed"))
        session.commit()
    again = api.client.post(f"/api/cloud/costs/optimization/{rec.id}/apply", json={},
                            headers=api.headers(Role.OPERATOR))  # fmt: skip
    assert again.status_code == 202, again.text
    assert again.json()["id"] != str(dead_id)
    polled = api.client.get(again.headers["location"], headers=api.headers(Role.VIEWER)).json()
    assert polled["status"] == "succeeded", polled


class Crash(BaseException):
    """The process dying: nothing in it catches this."""


class Faulty:
    """The real adapter, with ``fault`` raised at the ``nth`` call of ``method`` (once)."""

    def __init__(self, real: Any, method: str, fault: BaseException, nth: int = 1) -> None:
        self.real, self.method, self.fault, self.left = real, method, fault, nth

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.real, name)
        if name != self.method:
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            self.left -= 1
            if self.left == 0:
                raise self.fault
            return attribute(*args, **kwargs)

        return call


def _apply_with(api: Api, rec_id: str, faulty: Callable[[Any], Any], probe: Any) -> uuid.UUID:
    sessions = make_sessionmaker(api.engine)
    layout = api.client.app.state.settings.layout  # type: ignore[attr-defined]

    def adapters(provider: Provider, session: Session) -> Any:
        return faulty(adapter_for(provider, session=session, layout=layout))

    with sessions() as session:
        row = recommendations.get_recommendation(session, rec_id)
        operation, _ = recommendations.begin_apply(session, row, actor="test", idempotency_key=None)
        operation_id: uuid.UUID = operation.id
        session.commit()
    work = applying.apply_work(adapters, operation_id, rec_id, actor="test", probe=probe)
    operations.execute(sessions, operation_id, work)
    return operation_id


def _file_url_probe(url: str) -> tuple[bool, str]:
    answer_status = None  # what urllib gives a file: or data: URL
    return 200 <= answer_status < 300, url  # type: ignore[operator]


@pytest.mark.parametrize(
    ("method", "nth", "check_raises", "status"),
    [
        ("describe", 1, False, "failed"),  # before anything changed
        ("stop", 1, False, "reverted"),
        ("scale", 2, False, "reverted"),  # the first asks a running instance and is refused; the second resizes
        ("start", 1, False, "reverted"),
        (None, 0, True, "reverted"),  # the health check raising, as with a file: URL
        ("describe", 2, True, "reverted"),  # ... and the revert's first look failing too: it is tried again
    ],
)
def test_an_apply_that_fails_at_any_step_leaves_the_resource_as_it_was(
    api: Api, method: str | None, nth: int, check_raises: bool, status: str
) -> None:
    made = _provision(api, _provider(api))
    _sandbox(api).tag(made["cloud_id"], {"wedcloud:health-url": "file:///etc/hostname"})
    _store(api, rec := _resize(made["cloud_id"]))
    fault = RuntimeError(f"injected at {method} #{nth}")
    probe = _file_url_probe if check_raises else (lambda url: (True, url))
    _apply_with(api, rec.id, lambda real: Faulty(real, method, fault, nth) if method else real, probe)
    with Session(api.engine) as session:
        row = session.get(RecommendationRow, rec.id)
        assert row is not None
        assert row.status == status, row.outcome
        reason = row.outcome["reason"]
        assert ("TypeError" in reason) if check_raises else (f"injected at {method}" in reason)
    resource = _sandbox(api).describe(made["cloud_id"])
    assert (resource.state.value, resource.size) == ("running", "m5.large")


def test_an_apply_whose_process_died_during_the_change_is_put_back_by_the_reconciler(api: Api) -> None:
    made = _provision(api, _provider(api))
    _store(api, rec := _resize(made["cloud_id"]))
    with pytest.raises(Crash):  # stopped and resized; the process dies before it starts the instance
        _apply_with(api, rec.id, lambda real: Faulty(real, "start", Crash()), lambda url: (True, url))
    assert _sandbox(api).describe(made["cloud_id"]).size == "t3.large"
    _expire_leases(api)
    assert len(_reconcile(api).resumed) == 1
    with Session(api.engine) as session:
        row = session.get(RecommendationRow, rec.id)
        assert row is not None
        assert (row.status, row.outcome["before"]["size"]) == ("reverted", "m5.large")
        assert "interrupted" in row.outcome["reason"]
    resource = _sandbox(api).describe(made["cloud_id"])
    assert (resource.state.value, resource.size) == ("running", "m5.large")
