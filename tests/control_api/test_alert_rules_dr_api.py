"""``disaster_recovery`` alert rules over the API, on SQLite and PostgreSQL: made for every plan
or for one; a plan that does not exist is a 422 naming ``plan_id`` with nothing written."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from control_api.app import API_PREFIX
from control_plane.security import Role
from control_plane.store.monitoring_models import AlertRule
from tests.control_api.conftest import Api

RULES = f"{API_PREFIX}/monitoring/alerts/rules"


def test_an_operator_makes_a_disaster_recovery_rule_and_an_unknown_plan_is_refused(api: Api) -> None:
    operator = api.headers(Role.OPERATOR)
    made = api.client.post(RULES, json={"name": "rpo", "kind": "disaster_recovery", "severity": "critical"},
                           headers=operator)  # fmt: skip
    assert made.status_code == 201, made.text
    assert (made.json()["kind"], made.json()["plan_id"]) == ("disaster_recovery", None)
    for plan_id in (str(uuid.uuid4()), "not-an-id"):
        refused = api.client.post(RULES, json={"name": "one plan", "kind": "disaster_recovery", "plan_id": plan_id},
                                  headers=operator)  # fmt: skip
        assert refused.status_code == 422, refused.text
        assert [e["field"] for e in refused.json()["errors"]] == ["plan_id"]
    with Session(api.engine) as session:
        assert session.scalar(select(func.count()).select_from(AlertRule)) == 1
