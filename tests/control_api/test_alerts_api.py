"""GET /monitoring/alerts and acknowledgement over the API, on SQLite and PostgreSQL: alerts
raised by the evaluator from samples written now, listed by state and filters, read with their
history, acknowledged (audited, published), and the 403, 404, 409 and 422 answers."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from control_api.app import API_PREFIX
from control_plane.monitoring import conditions, lifecycle
from control_plane.security import Role
from control_plane.store.db import make_sessionmaker
from control_plane.store.monitoring_models import MonitorAlert, StreamEvent
from tests.control_api.conftest import Api
from tests.control_plane.monitoring.helpers import add_provider, add_resource, cpu

ALERTS = f"{API_PREFIX}/monitoring/alerts"


@pytest.fixture
def raised(api: Api) -> dict[str, Any]:
    """Two rules over two web servers: web-1 above 90% (firing at once), web-2 above 50%
    (pending: `for` 10 minutes), and a disk rule that nothing breaches."""
    operator = api.headers(Role.OPERATOR)
    sessions = make_sessionmaker(api.engine)
    with sessions.begin() as session:
        provider = add_provider(session)
        hot = add_resource(session, provider, "web-1", tags={"role": "web"})
        warm = add_resource(session, provider, "web-2", tags={"role": "web"})
    for name, threshold, wait, severity in (("cpu critical", 90, 0, "critical"), ("cpu warm", 50, 600, "warning")):
        body = {"name": name, "kind": "threshold", "metric": "cpu", "comparator": ">", "threshold": threshold,
                "for": wait, "severity": severity, "hold": 0, "selector": {"resources": [str(hot.id)]}
                if name == "cpu critical" else {"resources": [str(warm.id)]}, "labels": {"team": "web"}}  # fmt: skip
        assert api.client.post(f"{ALERTS}/rules", json=body, headers=operator).status_code == 201
    now = datetime.now(UTC)
    cpu(sessions, hot, now - timedelta(seconds=5), 97)
    cpu(sessions, warm, now - timedelta(seconds=5), 60)
    lifecycle.evaluate(sessions, now=now)
    with sessions() as session:
        ids = {a.labels["resource"]: a.id for a in session.scalars(select(MonitorAlert))}
    return {"sessions": sessions, "hot": hot, "warm": warm, "now": now, "ids": ids}


def _listed(api: Api, **params: Any) -> list[dict[str, Any]]:
    answer = api.client.get(ALERTS, params=params, headers=api.headers(Role.VIEWER))
    assert answer.status_code == 200, answer.text
    return list(answer.json()["items"])


def test_alerts_are_listed_by_state_and_filtered_by_severity_rule_resource_and_label(
    api: Api, raised: dict[str, Any]
) -> None:
    everything = _listed(api)
    assert sorted((a["labels"]["resource"], a["state"]) for a in everything) == [("web-1", "firing"),
                                                                                 ("web-2", "pending")]  # fmt: skip
    hot = next(a for a in everything if a["state"] == "firing")
    assert hot["rule"] == "cpu critical"
    assert hot["value"] == 97.0
    assert hot["labels"]["team"] == "web"
    assert [(t["from"], t["to"]) for t in hot["transitions"]] == [("inactive", "firing")]
    assert [a["labels"]["resource"] for a in _listed(api, state="pending")] == ["web-2"]
    assert [a["labels"]["resource"] for a in _listed(api, severity="critical")] == ["web-1"]
    assert [a["labels"]["resource"] for a in _listed(api, rule="cpu warm")] == ["web-2"]
    assert [a["labels"]["resource"] for a in _listed(api, resource=str(raised["hot"].id))] == ["web-1"]
    assert [a["labels"]["resource"] for a in _listed(api, label=["resource=web-2", "team=web"])] == ["web-2"]
    assert _listed(api, label="team=db") == []
    page = api.client.get(ALERTS, params={"limit": 1}, headers=api.headers(Role.VIEWER)).json()
    rest = api.client.get(ALERTS, params={"limit": 1, "cursor": page["next_cursor"]}, headers=api.headers(Role.VIEWER))
    assert {page["items"][0]["id"], rest.json()["items"][0]["id"]} == {str(i) for i in raised["ids"].values()}
    assert rest.json()["next_cursor"] is None


def test_a_bad_filter_is_a_422_naming_it(api: Api) -> None:
    for params, field in (
        ({"label": "team"}, "label"),
        ({"state": "asleep"}, "state"),
        ({"resource": "x"}, "resource"),
    ):
        answer = api.client.get(ALERTS, params=params, headers=api.headers(Role.VIEWER))
        assert answer.status_code == 422
        assert [e["field"] for e in answer.json()["errors"]] == [field]


def test_an_operator_acknowledges_an_alert_and_it_is_audited_published_and_listed_as_acknowledged(
    api: Api, raised: dict[str, Any]
) -> None:
    alert_id = raised["ids"]["web-1"]
    answer = api.client.post(f"{ALERTS}/{alert_id}/ack", json={"note": "scaling out", "expires_in": "2h"},
                             headers=api.headers(Role.OPERATOR))  # fmt: skip
    assert answer.status_code == 200, answer.text
    acked = answer.json()
    assert acked["state"] == "acknowledged"
    assert acked["ack"]["by"] == "test-operator"
    assert acked["ack"]["note"] == "scaling out"
    expires = datetime.fromisoformat(acked["ack"]["expires_at"])
    assert timedelta(hours=1, minutes=59) < expires - datetime.fromisoformat(acked["ack"]["at"]) <= timedelta(hours=2)
    assert [(t["to"], t["actor"]) for t in acked["transitions"]][-1] == ("acknowledged", "test-operator")
    audit = api.audit()[-1]
    assert audit.target == f"alert:{alert_id}"
    assert audit.detail["acknowledged_by"] == "test-operator"
    assert [a["labels"]["resource"] for a in _listed(api, state="acknowledged")] == ["web-1"]
    assert [a["labels"]["resource"] for a in _listed(api, state="firing")] == []
    again = api.client.post(
        f"{ALERTS}/{alert_id}/ack", json={"note": "still on it"}, headers=api.headers(Role.OPERATOR)
    )
    assert again.json()["ack"]["note"] == "still on it"
    assert again.json()["ack"]["expires_at"] is None
    with Session(api.engine) as session:
        published = [e.payload["transition"] for e in session.scalars(
            select(StreamEvent).where(StreamEvent.topic == "alerts").order_by(StreamEvent.id))]  # fmt: skip
    assert published[-2:] == [{"from": "firing", "to": "acknowledged"}] * 2
    detail = api.client.get(f"{ALERTS}/{alert_id}", headers=api.headers(Role.VIEWER)).json()
    assert [t["to"] for t in detail["transitions"]] == ["firing", "acknowledged", "acknowledged"]


def test_acknowledging_a_resolved_alert_is_a_409(api: Api, raised: dict[str, Any]) -> None:
    later = raised["now"] + conditions.LOOKBACK + timedelta(minutes=2)
    lifecycle.evaluate(raised["sessions"], now=later)  # no sample in the lookback: clear, hold 0: resolved
    alert_id = raised["ids"]["web-1"]
    assert api.client.get(f"{ALERTS}/{alert_id}", headers=api.headers(Role.VIEWER)).json()["state"] == "resolved"
    answer = api.client.post(f"{ALERTS}/{alert_id}/ack", json={}, headers=api.headers(Role.OPERATOR))
    assert answer.status_code == 409
    assert answer.headers["content-type"] == "application/problem+json"


def test_a_viewer_cannot_acknowledge_and_bad_acks_are_refused(api: Api, raised: dict[str, Any]) -> None:
    alert_id = raised["ids"]["web-1"]
    assert api.client.post(f"{ALERTS}/{alert_id}/ack", json={}, headers=api.headers(Role.VIEWER)).status_code == 403
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    for body, field in (({"expires_at": past}, "expires_at"), ({"expires_in": "-1h"}, "expires_in"),
                        ({"expires_in": "1h", "expires_at": past}, None)):  # fmt: skip
        answer = api.client.post(f"{ALERTS}/{alert_id}/ack", json=body, headers=api.headers(Role.OPERATOR))
        assert answer.status_code == 422
        if field is not None:
            assert field in [e["field"] for e in answer.json()["errors"]]
    with Session(api.engine) as session:
        alert = session.get(MonitorAlert, alert_id)
        assert alert is not None
        assert alert.acked_at is None


def test_an_unknown_alert_is_a_404(api: Api) -> None:
    missing = uuid.uuid4()
    assert api.client.get(f"{ALERTS}/{missing}", headers=api.headers(Role.VIEWER)).status_code == 404
    assert api.client.post(f"{ALERTS}/{missing}/ack", json={}, headers=api.headers(Role.OPERATOR)).status_code == 404
