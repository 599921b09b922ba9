"""The read side of /api/cloud/deployments on SQLite and PostgreSQL, over rows as the engine
writes them: the list's filters and cursor, a deployment's detail with its billed cost beside the
estimate (from a published serving snapshot), the status of its latest apply, and its logs."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, get_args

import duckdb
import pytest
from sqlalchemy.orm import Session

from analytics.warehouse import ensure_schema
from control_api.schemas.deployments import DeploymentState
from control_plane.security import Role
from control_plane.store.deployment_models import (
    DEPLOYMENT_STATUSES,
    Deployment,
    DeploymentLog,
    DeploymentResource,
    DeploymentStep,
    DeploymentVersion,
)
from control_plane.store.models import Provider
from tests.control_api.conftest import Api
from wedcloud import snapshots

URL = "/api/cloud/deployments"
PROBLEM = "application/problem+json"
T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def _provider(session: Session, name: str) -> uuid.UUID:
    row = Provider(name=name, kind="sandbox", default_region="eu-west-2", settings={"flavour": "aws"})
    session.add(row)
    session.flush()
    return row.id


def _seed(
    session: Session,
    name: str,
    *,
    providers: list[uuid.UUID],
    status: str = "deployed",
    environment: str | None = "prod",
    at: datetime = T0,
) -> Deployment:
    """A deployment with one applied version, as the engine leaves it."""
    row = Deployment(
        name=name, environment=environment, status=status, current_version=1, latest_version=1,
        provider_ids=[str(p) for p in providers], created_by="key:ops", created_at=at, updated_at=at,
    )  # fmt: skip
    session.add(row)
    session.flush()
    session.add(
        DeploymentVersion(
            deployment_id=row.id, number=1, kind="create", template={"resources": {}}, parameters={"env": environment},
            plan={"steps": []}, author="key:ops", outcome="applied", created_at=at, finished_at=at,
        )
    )  # fmt: skip
    return row


def _get(api: Api, path: str, role: Role = Role.VIEWER, **params: Any) -> Any:
    return api.client.get(f"{URL}{path}", params=params, headers=api.headers(role))


def test_the_state_filter_offers_every_deployment_status() -> None:
    assert get_args(DeploymentState) == DEPLOYMENT_STATUSES


def test_the_list_filters_by_status_environment_and_provider_newest_first_with_a_cursor(api: Api) -> None:
    with Session(api.engine) as session, session.begin():
        aws, gcp = _provider(session, "sandbox-aws"), _provider(session, "sandbox-gcp")
        for i in range(5):
            _seed(session, f"stack-{i}", providers=[aws] if i % 2 else [aws, gcp], at=T0 + timedelta(minutes=i),
                  environment="prod" if i < 3 else "dev", status="failed" if i == 4 else "deployed")  # fmt: skip
    names = [d["name"] for d in _get(api, "").json()["items"]]
    assert names == ["stack-4", "stack-3", "stack-2", "stack-1", "stack-0"]
    first = _get(api, "", limit=2).json()
    second = _get(api, "", limit=2, cursor=first["next_cursor"]).json()
    last = _get(api, "", limit=2, cursor=second["next_cursor"]).json()
    assert [d["name"] for d in first["items"] + second["items"] + last["items"]] == names
    assert last["next_cursor"] is None
    assert [d["name"] for d in _get(api, "", status="failed").json()["items"]] == ["stack-4"]
    assert [d["name"] for d in _get(api, "", environment="dev").json()["items"]] == ["stack-4", "stack-3"]
    by_gcp = _get(api, "", provider="sandbox-gcp").json()["items"]
    assert [d["name"] for d in by_gcp] == ["stack-4", "stack-2", "stack-0"]
    assert [d["name"] for d in _get(api, "", provider=str(gcp)).json()["items"]] == ["stack-4", "stack-2", "stack-0"]
    assert {p["name"] for p in by_gcp[0]["providers"]} == {"sandbox-aws", "sandbox-gcp"}


def test_the_list_refuses_an_unknown_provider_status_or_cursor_by_field(api: Api) -> None:
    for params, field in (({"provider": "nimbus"}, "provider"), ({"status": "sleeping"}, "status"),
                          ({"cursor": "not-a-cursor"}, None)):  # fmt: skip
        response = _get(api, "", **params)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == PROBLEM
        if field:
            assert field in {e["field"] for e in response.json()["errors"]}


def test_every_read_answers_404_for_an_unknown_deployment(api: Api) -> None:
    missing = uuid.uuid4()
    for path in ("", "/status", "/logs"):
        response = _get(api, f"/{missing}{path}")
        assert response.status_code == 404, response.text
        assert response.headers["content-type"] == PROBLEM
        assert str(missing) in response.json()["detail"]


def test_reads_need_a_key_and_any_role_reads(api: Api) -> None:
    some = uuid.uuid4()
    for path in ("", "/schema", f"/{some}", f"/{some}/status", f"/{some}/logs"):
        assert api.client.get(f"{URL}{path}").status_code == 401
    for role in Role:
        assert _get(api, "", role).status_code == 200


def _publish_bills(home: Path, source: str, lines: list[tuple[str, str, str]]) -> None:
    """A serving snapshot whose cost_detail_daily holds ``lines`` (day, resource id, cost)."""

    def build(path: Path) -> dict[str, Any]:
        with duckdb.connect(str(path)) as con:
            ensure_schema(con)
            for day, resource, cost in lines:
                amount = Decimal(cost)
                con.execute(
                    "INSERT INTO cost_detail_daily VALUES (?, 'AWS', 'acct', NULL, 'Databases', 'Amazon RDS', "
                    "'eu-west-2', ?, 'DB', 'Usage', 'Standard', 'USD', '{}', ?, ?, ?, 1, ?, NULL)",
                    [date.fromisoformat(day), resource, amount, amount, amount, source],
                )
        return {"data_through": max(line[0] for line in lines)}

    snapshots.publish(home / "serving", build)


def test_the_detail_shows_each_resource_with_its_estimate_beside_its_billed_cost_of_the_last_30_days(
    api: Api,
) -> None:
    with Session(api.engine) as session, session.begin():
        aws = _provider(session, "sandbox-aws")
        row = _seed(session, "booking", providers=[aws])
        for name, subtype, cloud_id, estimate in (("db", "database", "sbx-aws-DB1", "125.03"),
                                                   ("files", "bucket", "sbx-aws-b2", "0.00"),
                                                   ("web", "instance_group", None, None)):  # fmt: skip
            session.add(DeploymentResource(
                deployment_id=row.id, logical_name=name, provider_id=aws, cloud_id=cloud_id, subtype=subtype,
                region="eu-west-2", size="db.m5.large" if name == "db" else None, tags={"env": "prod"},
                attributes={"id": cloud_id} if cloud_id else {}, version=1,
                monthly_estimate=Decimal(estimate) if estimate else None, currency="USD" if estimate else None,
            ))  # fmt: skip
        row.outputs = {"db_id": "sbx-aws-DB1"}
        deployment_id = row.id
    # the db billed on 31 days: the first is outside the 30 billed days up to the last; files never billed
    days = [(date(2026, 10, 24) + timedelta(days=i)).isoformat() for i in range(31)]
    _publish_bills(api.home, str(aws), [(day, "sbx-aws-db1", "4.10") for day in days])
    detail = _get(api, f"/{deployment_id}").json()
    resources = {r["name"]: r for r in detail["resources"]}
    billed = {"amount": str(Decimal("4.10") * 30), "currency": "USD", "days": 30}
    assert resources["db"]["actual_cost"] == {**billed, "from": "2026-10-25", "through": "2026-11-23"}
    assert resources["db"]["monthly_estimate"] == {"amount": "125.03", "currency": "USD"}
    assert resources["files"]["actual_cost"] is None
    assert resources["web"]["actual_cost"] is None
    assert resources["web"]["monthly_estimate"] is None
    assert detail["monthly_estimate"] == [{"amount": "125.03", "currency": "USD"}]
    assert detail["outputs"] == {"db_id": "sbx-aws-DB1"}
    assert detail["version"]["number"] == 1
    assert detail["version"]["parameters"] == {"env": "prod"}
    assert [v["number"] for v in detail["versions"]] == [1]


def test_the_detail_has_no_billed_cost_without_a_snapshot(api: Api) -> None:
    with Session(api.engine) as session, session.begin():
        aws = _provider(session, "sandbox-aws")
        row = _seed(session, "booking", providers=[aws])
        session.add(DeploymentResource(deployment_id=row.id, logical_name="db", provider_id=aws, cloud_id="sbx-1",
                                       subtype="database", region="eu-west-2", version=1))  # fmt: skip
        deployment_id = row.id
    (resource,) = _get(api, f"/{deployment_id}").json()["resources"]
    assert resource["cloud_id"] == "sbx-1"
    assert resource["actual_cost"] is None


def _steps_and_logs(session: Session, row: Deployment) -> uuid.UUID:
    """Version 2 of ``row`` applying: its first step done, its second started, and log lines of both
    versions."""
    operation = uuid.uuid4()
    row.latest_version, row.status = 2, "applying"
    session.add(DeploymentVersion(
        deployment_id=row.id, number=2, kind="update", template={"resources": {}}, author="key:ops",
        outcome="applying", operation_id=operation, created_at=T0,
    ))  # fmt: skip
    for seq, name, status in ((1, "db", "done"), (2, "web", "started"), (3, "files", "planned")):
        session.add(DeploymentStep(
            deployment_id=row.id, operation_id=operation, version=2, seq=seq, logical_name=name, action="update",
            status=status, idempotency_key=f"{row.id}:2:{seq}", depends_on=[seq - 1] if seq > 1 else [],
            started_at=T0 if status != "planned" else None, finished_at=T0 if status == "done" else None,
        ))  # fmt: skip
    # the engine labels a line with its step: seq:action:logical name
    lines = [(1, None, "info", "version 1 applied"), (2, "1:update:db", "debug", "resizing db"),
             (2, "1:update:db", "info", "db resized"), (2, "2:update:web", "warning", "web is slow to answer"),
             (2, "2:update:web", "error", "web failed once; retrying"),
             (2, "3:update:b_db", "info", "b_db waits")]  # fmt: skip
    for i, (version, step, level, message) in enumerate(lines):
        session.add(DeploymentLog(deployment_id=row.id, operation_id=operation if version == 2 else None,
                                  version=version, step=step, level=level, message=message,
                                  at=T0 + timedelta(seconds=i)))  # fmt: skip
        session.flush()  # ids in the order written
    return operation


def test_the_status_shows_each_step_of_the_latest_apply_and_its_progress(api: Api) -> None:
    with Session(api.engine) as session, session.begin():
        row = _seed(session, "booking", providers=[_provider(session, "sandbox-aws")])
        row.drift = {"drifted": True, "items": [{"name": "web", "kind": "changed", "field": "size"}]}
        row.drift_checked_at = T0
        operation = _steps_and_logs(session, row)
        deployment_id = row.id
    status = _get(api, f"/{deployment_id}/status").json()
    assert (status["status"], status["current_version"], status["latest_version"]) == ("applying", 1, 2)
    assert status["apply"]["operation_id"] == str(operation)
    assert status["apply"]["outcome"] == "applying"
    assert [(s["seq"], s["name"], s["status"]) for s in status["steps"]] == [
        (1, "db", "done"), (2, "web", "started"), (3, "files", "planned"),
    ]  # fmt: skip
    assert status["steps"][1]["depends_on"] == [1]
    assert status["progress"] == {"done": 1, "total": 3}
    assert status["drift"]["items"][0]["name"] == "web"


def test_the_logs_come_in_order_filtered_by_level_step_and_version_and_followed_by_after(api: Api) -> None:
    with Session(api.engine) as session, session.begin():
        row = _seed(session, "booking", providers=[_provider(session, "sandbox-aws")])
        operation = _steps_and_logs(session, row)
        deployment_id = row.id
    path = f"/{deployment_id}/logs"
    every = _get(api, path).json()
    assert [line["message"] for line in every["items"]] == [
        "version 1 applied", "resizing db", "db resized", "web is slow to answer", "web failed once; retrying",
        "b_db waits",
    ]  # fmt: skip
    assert every["more"] is False
    assert every["next_after"] == every["items"][-1]["id"]
    assert every["items"][1]["operation_id"] == str(operation)
    assert every["items"][0]["operation_id"] is None
    assert [line["level"] for line in _get(api, path, level="warning").json()["items"]] == ["warning", "error"]
    by_name = [line["message"] for line in _get(api, path, step="db").json()["items"]]
    assert by_name == ["resizing db", "db resized"]  # not b_db's, nor a pattern's
    assert [line["message"] for line in _get(api, path, step="2:update:web").json()["items"]] == [
        "web is slow to answer", "web failed once; retrying",
    ]  # fmt: skip
    assert _get(api, path, step="%db").json()["items"] == []
    assert len(_get(api, path, version=2).json()["items"]) == 5
    first = _get(api, path, limit=2).json()
    assert first["more"] is True
    rest = _get(api, path, after=first["next_after"]).json()
    assert [line["id"] for line in first["items"] + rest["items"]] == [line["id"] for line in every["items"]]
    caught_up = _get(api, path, after=rest["next_after"]).json()
    assert caught_up == {"items": [], "next_after": rest["next_after"], "more": False}


def test_the_logs_refuse_an_unknown_level_by_field(api: Api) -> None:
    with Session(api.engine) as session, session.begin():
        deployment_id = _seed(session, "booking", providers=[]).id
    response = _get(api, f"/{deployment_id}/logs", level="loud")
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["level"]


@pytest.mark.parametrize("path", ["/validate", "/schema"])
def test_the_fixed_paths_are_never_taken_for_an_id(api: Api, path: str) -> None:
    wrong = api.client.put(f"{URL}{path}", json={}, headers=api.headers(Role.ADMIN))
    assert wrong.status_code == 405
    assert wrong.headers["content-type"] == PROBLEM
    assert wrong.headers["allow"] == ("POST" if path == "/validate" else "GET")
