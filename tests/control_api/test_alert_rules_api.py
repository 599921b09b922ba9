"""Alert rules and silences over the API, on SQLite and PostgreSQL: create, read, replace,
delete; each bad field a 422 naming it with nothing written; roles; 404s and name clashes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from control_api.app import API_PREFIX
from control_plane.security import Role
from control_plane.store.models import Provider
from control_plane.store.monitoring_models import AlertRule, Silence
from tests.control_api.conftest import Api

RULES = f"{API_PREFIX}/monitoring/alerts/rules"
SILENCES = f"{API_PREFIX}/monitoring/alerts/silences"
HOOK = "https://hooks.example.com/oncall/T0KEN"


def rule(**changes: Any) -> dict[str, Any]:
    return {"name": "web cpu high", "kind": "threshold", "severity": "critical", "metric": "cpu",
            "selector": {"tags": {"role": "web"}}, "comparator": ">", "threshold": 90, "for": "5m",
            "annotations": {"summary": "{resource} at {value}%", "runbook_url": "https://runbooks.example.com/cpu"},
            "routes": [{"type": "webhook", "url": HOOK}], "grouping": {"repeat_interval": "1h"}} | changes  # fmt: skip


def _rules(api: Api) -> int:
    with Session(api.engine) as session:
        return int(session.scalar(select(func.count()).select_from(AlertRule)) or 0)


def _fields(answer: Any) -> list[str]:
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    return [e["field"] for e in answer.json()["errors"]]


def test_an_operator_creates_a_threshold_rule_and_its_signing_secret_is_shown_once(api: Api) -> None:
    with Session(api.engine) as session, session.begin():
        session.add(Provider(kind="sandbox", name="sandbox-aws", regions=[]))
    answer = api.client.post(
        RULES, json=rule(selector={"provider": ["sandbox-aws"]}), headers=api.headers(Role.OPERATOR)
    )
    assert answer.status_code == 201, answer.text
    created = answer.json()
    assert created["webhook_secret"].startswith("whsec_")
    assert created["for"] == 300.0
    assert created["window"] == 60.0
    assert created["hold"] == 60.0
    assert created["grouping"] == {"group_by": ["alertname"], "group_wait": 30.0, "group_interval": 300.0,
                                   "repeat_interval": 3600.0}  # fmt: skip
    assert "T0KEN" not in answer.text
    assert created["routes"][0]["url"] != HOOK
    assert len(created["selector"]["provider"]) == 1  # the name, stored as the provider's id
    shown = api.client.get(f"{RULES}/{created['id']}", headers=api.headers(Role.VIEWER)).json()
    assert "webhook_secret" not in shown
    assert shown["has_signing_secret"] is True
    assert shown["metric"] == "cpu"
    assert api.audit()[-1].target == f"alert_rule:{created['id']}"
    listed = api.client.get(RULES, params={"kind": "threshold"}, headers=api.headers(Role.VIEWER)).json()
    assert [r["name"] for r in listed["items"]] == ["web cpu high"]


def test_post_alerts_creates_a_rule_as_the_issue_names_it_and_each_kind_is_accepted(api: Api) -> None:
    bodies = [
        {"name": "silent", "kind": "absence", "minutes": 10},
        {"name": "down", "kind": "provider_unreachable", "failures": 2, "for": 60},
        {"name": "spike", "kind": "cost_anomaly", "min_impact": "50.00"},
    ]
    for body in bodies:
        answer = api.client.post(f"{API_PREFIX}/monitoring/alerts", json=body, headers=api.headers(Role.OPERATOR))
        assert answer.status_code == 201, answer.text
        assert answer.json()["kind"] == body["kind"]
        assert answer.json()["webhook_secret"] is None
    assert _rules(api) == 3


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"metric": "temperature"}, "metric"),
        ({"for": -5}, "for"),
        ({"for": "-5m"}, "for"),
        ({"for": "soon"}, "for"),
        ({"selector": {"provider": ["no-such-cloud"]}}, "selector.provider"),
        ({"selector": {"colour": "red"}}, "selector.colour"),
        ({"selector": {"resources": [str(uuid.uuid4())]}}, "selector.resources.0"),
        ({"routes": [{"type": "webhook", "url": "file:///etc/passwd"}]}, "routes.0.url"),
        ({"routes": [{"type": "slack", "url": "http://user:pw@hooks.example.com/x"}]}, "routes.0.url"),
        ({"routes": [{"type": "email", "to": ["not-an-address"]}]}, "routes.0.to.0"),
        ({"annotations": {"runbook_url": "ftp://runbooks.example.com/cpu"}}, "annotations.runbook_url"),
        ({"annotations": {"runbook_url": "https://user:pw@runbooks.example.com/"}}, "annotations.runbook_url"),
        ({"comparator": "above"}, "comparator"),
        ({"window": "2h"}, "window"),
        ({"labels": {"severity": "low"}}, "labels"),
        ({"kind": "weather"}, "kind"),
    ],
)
def test_a_bad_field_is_a_422_naming_it_and_nothing_is_written(api: Api, changes: dict[str, Any], field: str) -> None:
    answer = api.client.post(RULES, json=rule(**changes), headers=api.headers(Role.OPERATOR))
    assert field in _fields(answer)
    assert _rules(api) == 0


def test_a_budget_forecast_rule_needs_a_budget_that_exists(api: Api) -> None:
    body = {"name": "over", "kind": "budget_forecast", "budget_id": str(uuid.uuid4())}
    assert _fields(api.client.post(RULES, json=body, headers=api.headers(Role.OPERATOR))) == ["budget_id"]


def test_a_name_clash_is_a_409_and_replacing_keeps_a_route_sent_back_as_shown(api: Api) -> None:
    created = api.client.post(RULES, json=rule(), headers=api.headers(Role.OPERATOR)).json()
    clash = api.client.post(RULES, json={"name": "web cpu high", "kind": "absence", "minutes": 5},
                            headers=api.headers(Role.OPERATOR))  # fmt: skip
    assert clash.status_code == 409
    assert clash.headers["content-type"] == "application/problem+json"
    body = rule(threshold=95, routes=created["routes"], **{"for": 0})
    replaced = api.client.put(f"{RULES}/{created['id']}", json=body, headers=api.headers(Role.OPERATOR))
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["threshold"] == 95
    assert replaced.json()["webhook_secret"] is None  # the rule kept its secret
    with Session(api.engine) as session:
        stored = session.get(AlertRule, uuid.UUID(created["id"]))
        assert stored is not None
        assert "sealed" in stored.routes[0]
    other = api.client.post(RULES, json=rule(name="other", routes=[]), headers=api.headers(Role.OPERATOR)).json()
    taken = api.client.put(f"{RULES}/{other['id']}", json=rule(routes=[]), headers=api.headers(Role.OPERATOR))
    assert taken.status_code == 409
    assert api.client.delete(f"{RULES}/{created['id']}", headers=api.headers(Role.OPERATOR)).status_code == 204
    assert api.client.get(f"{RULES}/{created['id']}", headers=api.headers(Role.VIEWER)).status_code == 404


def test_a_viewer_reads_rules_and_silences_but_cannot_write_them(api: Api) -> None:
    viewer = api.headers(Role.VIEWER)
    assert api.client.post(RULES, json=rule(), headers=viewer).status_code == 403
    assert api.client.post(f"{API_PREFIX}/monitoring/alerts", json=rule(), headers=viewer).status_code == 403
    ends = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    silence = {"matchers": [{"name": "alertname", "value": "x"}], "ends_at": ends}
    assert api.client.post(SILENCES, json=silence, headers=viewer).status_code == 403
    created = api.client.post(RULES, json=rule(routes=[]), headers=api.headers(Role.OPERATOR)).json()
    assert api.client.put(f"{RULES}/{created['id']}", json=rule(), headers=viewer).status_code == 403
    assert api.client.delete(f"{RULES}/{created['id']}", headers=viewer).status_code == 403
    assert api.client.get(RULES, headers=viewer).status_code == 200
    assert api.client.get(SILENCES, headers=viewer).status_code == 200


@pytest.mark.parametrize("method", ["get", "put", "delete"])
def test_an_unknown_rule_is_a_404(api: Api, method: str) -> None:
    kwargs: dict[str, Any] = {"json": rule()} if method == "put" else {}
    answer = getattr(api.client, method)(f"{RULES}/{uuid.uuid4()}", headers=api.headers(Role.OPERATOR), **kwargs)
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"


def test_a_silence_is_created_listed_and_expired_by_delete(api: Api) -> None:
    ends = datetime.now(UTC) + timedelta(hours=2)
    body = {"matchers": [{"name": "alertname", "op": "=", "value": "web cpu high"},
                         {"name": "resource", "op": "=~", "value": "web-.*"}],
            "ends_at": ends.isoformat(), "comment": "maintenance"}  # fmt: skip
    answer = api.client.post(SILENCES, json=body, headers=api.headers(Role.OPERATOR))
    assert answer.status_code == 201, answer.text
    created = answer.json()
    assert created["state"] == "active"
    assert created["created_by"] == "test-operator"
    active = api.client.get(SILENCES, params={"state": "active"}, headers=api.headers(Role.VIEWER)).json()
    assert [s["id"] for s in active["items"]] == [created["id"]]
    expired = api.client.delete(f"{SILENCES}/{created['id']}", headers=api.headers(Role.OPERATOR))
    assert expired.status_code == 200
    assert expired.json()["state"] == "expired"
    assert api.client.get(f"{SILENCES}/{created['id']}", headers=api.headers(Role.VIEWER)).json()["state"] == "expired"
    assert api.client.get(SILENCES, params={"state": "active"}, headers=api.headers(Role.VIEWER)).json()["items"] == []
    assert api.audit()[-1].target == f"silence:{created['id']}"
    assert api.client.get(f"{SILENCES}/{uuid.uuid4()}", headers=api.headers(Role.VIEWER)).status_code == 404
    assert api.client.delete(f"{SILENCES}/{uuid.uuid4()}", headers=api.headers(Role.OPERATOR)).status_code == 404


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"matchers": [{"name": "resource", "op": "=~", "value": "web-("}]}, "matchers.0.value"),
        (
            {
                "matchers": [
                    {"name": "x", "op": "=~", "value": "x"},
                    {"name": "resource", "op": "!~", "value": "(a+)+$"},
                ]
            },
            "matchers.1.value",
        ),  # nested repeats: exponential backtracking on a crafted label
        ({"matchers": [{"name": "resource", "op": "=~", "value": "(?:web-[0-9]*)*"}]}, "matchers.0.value"),
        ({"matchers": []}, "matchers"),
        ({"ends_at": "2020-01-01T00:00:00Z"}, "ends_at"),
        ({"ends_at": "2030-01-01T00:00:00"}, "ends_at"),
    ],
)
def test_a_bad_silence_is_a_422_naming_the_field(api: Api, changes: dict[str, Any], field: str) -> None:
    ends = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    body = {"matchers": [{"name": "alertname", "value": "x"}], "ends_at": ends} | changes
    assert field in _fields(api.client.post(SILENCES, json=body, headers=api.headers(Role.OPERATOR)))
    with Session(api.engine) as session:
        assert session.scalar(select(func.count()).select_from(Silence)) == 0
