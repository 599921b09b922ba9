"""``drift`` alert rules over the API, on SQLite and PostgreSQL: made for every deployment or
one, listed by kind; a deployment that does not exist is a 422 naming ``deployment_id`` with
nothing written; viewers cannot make one."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from control_api.app import API_PREFIX
from control_plane.security import Role
from control_plane.store.deployment_models import Deployment
from control_plane.store.monitoring_models import AlertRule
from tests.control_api.conftest import Api

RULES = f"{API_PREFIX}/monitoring/alerts/rules"


def _rules(api: Api) -> int:
    with Session(api.engine) as session:
        return int(session.scalar(select(func.count()).select_from(AlertRule)) or 0)


def test_an_operator_makes_drift_rules_for_every_deployment_and_for_one(api: Api) -> None:
    deployment_id = uuid.uuid4()
    with Session(api.engine) as session, session.begin():
        session.add(Deployment(id=deployment_id, name="booking", status="deployed", created_by="test"))
    operator = api.headers(Role.OPERATOR)
    every = api.client.post(RULES, json={"name": "drifted", "kind": "drift", "severity": "critical"}, headers=operator)
    assert every.status_code == 201, every.text
    made = every.json()
    assert (made["kind"], made["deployment_id"], made["severity"]) == ("drift", None, "critical")
    body = {"name": "booking drifted", "kind": "drift", "deployment_id": str(deployment_id)}
    one = api.client.post(f"{API_PREFIX}/monitoring/alerts", json=body, headers=operator)
    assert one.status_code == 201, one.text
    assert one.json()["deployment_id"] == str(deployment_id)
    with Session(api.engine) as session:
        stored = session.get(AlertRule, uuid.UUID(one.json()["id"]))
        assert stored is not None
        assert stored.spec["deployment_id"] == str(deployment_id)
    listed = api.client.get(RULES, params={"kind": "drift"}, headers=api.headers(Role.VIEWER)).json()
    assert [r["name"] for r in listed["items"]] == ["booking drifted", "drifted"]


def test_a_drift_rule_for_an_unknown_deployment_is_a_422_naming_it_and_nothing_is_written(api: Api) -> None:
    for deployment_id in (str(uuid.uuid4()), "not-an-id"):
        answer = api.client.post(RULES, json={"name": "drifted", "kind": "drift", "deployment_id": deployment_id},
                                 headers=api.headers(Role.OPERATOR))  # fmt: skip
        assert answer.status_code == 422, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert [e["field"] for e in answer.json()["errors"]] == ["deployment_id"]
    assert _rules(api) == 0


def test_a_viewer_cannot_make_a_drift_rule(api: Api) -> None:
    answer = api.client.post(RULES, json={"name": "drifted", "kind": "drift"}, headers=api.headers(Role.VIEWER))
    assert answer.status_code == 403
    assert _rules(api) == 0
