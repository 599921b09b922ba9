"""The alert lifecycle on a controlled clock, on SQLite and PostgreSQL: samples written at
chosen times, ``evaluate(now=...)`` stepped, every transition stored and published."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from control_plane.monitoring import alerts, conditions, lifecycle
from control_plane.monitoring.rules import BUILTIN_NAME
from control_plane.monitoring.settings import MonitorSettings
from control_plane.store.db import make_sessionmaker
from control_plane.store.models import Budget
from control_plane.store.monitoring_models import AlertRule, MonitorAlert, MonitorStatus, StreamEvent
from tests.control_api.test_budgets import daily_forecast, november, publish_costs
from tests.control_plane.monitoring.helpers import (
    T0,
    add_provider,
    add_resource,
    add_rule,
    alerts_of,
    cpu,
    history,
)

SETTINGS = MonitorSettings()
CPU_HIGH = {"metric": "cpu", "selector": {}, "aggregation": "avg", "window": 30.0, "comparator": ">",
            "threshold": 90.0, "for": 120.0}  # fmt: skip


def _at(seconds: int) -> object:
    return T0 + timedelta(seconds=seconds)


def _listed(sessions: object, seconds: float, **filters: object) -> list[dict[str, object]]:
    with sessions() as session:  # type: ignore[operator]
        items, _ = alerts.list_alerts(session, now=T0 + timedelta(seconds=seconds), keep=timedelta(minutes=15),
                                      limit=50, **filters)  # type: ignore[arg-type]  # fmt: skip
    return items


def test_a_breach_goes_pending_then_firing_after_for_and_a_flap_within_the_hold_stays_firing(engine: Engine) -> None:
    sessions = make_sessionmaker(engine)
    with sessions.begin() as session:
        provider = add_provider(session)
        web = add_resource(session, provider, "web-1")
        rule = add_rule(session, "web cpu high", "threshold", CPU_HIGH, severity="critical", labels={"team": "web"})
    values = {0: 95, 60: 95, 120: 95, 150: 20, 180: 95, 210: 20, 240: 20, 270: 20}
    states = {}
    for second, value in values.items():
        cpu(sessions, web, _at(second), value)
        lifecycle.evaluate(sessions, now=_at(second), settings=SETTINGS)
        (alert,) = alerts_of(sessions, rule.id)
        states[second] = alert.state
    assert states == {0: "pending", 60: "pending", 120: "firing", 150: "firing", 180: "firing", 210: "firing",
                      240: "firing", 270: "resolved"}  # fmt: skip
    (alert,) = alerts_of(sessions, rule.id)
    assert history(sessions, alert.id) == [("inactive", "pending"), ("pending", "firing"), ("firing", "resolved")]
    assert alert.fired_at == _at(120)
    assert alert.resolved_at == _at(270)
    assert alert.open_key is None
    assert alert.labels == {"alertname": "web cpu high", "severity": "critical", "team": "web", "resource": "web-1",
                            "resource_id": str(web.id), "provider": "sandbox-aws",
                            "provider_id": str(provider.id)}  # fmt: skip
    with sessions() as session:
        published = list(
            session.scalars(select(StreamEvent).where(StreamEvent.topic == "alerts").order_by(StreamEvent.id))
        )
    assert [(e.payload["transition"]["from"], e.payload["transition"]["to"]) for e in published] == [
        ("inactive", "pending"), ("pending", "firing"), ("firing", "resolved")]  # fmt: skip
    assert {e.severity for e in published} == {"critical"}
    assert published[1].resource_id == str(web.id)
    assert published[1].payload["id"] == str(alert.id)
    assert published[1].payload["state"] == "firing"


def test_a_resolved_alert_is_listed_15_minutes_and_a_new_breach_is_a_new_alert(engine: Engine) -> None:
    sessions = make_sessionmaker(engine)
    with sessions.begin() as session:
        web = add_resource(session, add_provider(session), "web-1")
        rule = add_rule(session, "cpu", "threshold", {**CPU_HIGH, "for": 0.0}, hold=0.0)
    cpu(sessions, web, _at(0), 99)
    assert [(t.from_state, t.to_state) for t in lifecycle.evaluate(sessions, now=_at(0))] == [("inactive", "firing")]
    cpu(sessions, web, _at(30), 10)
    lifecycle.evaluate(sessions, now=_at(30))
    assert [a["state"] for a in _listed(sessions, 30 + 14 * 60)] == ["resolved"]
    assert _listed(sessions, 30 + 14 * 60, states=["firing"]) == []
    assert _listed(sessions, 30 + 16 * 60) == []
    cpu(sessions, web, _at(60), 99)
    lifecycle.evaluate(sessions, now=_at(60))
    first, second = alerts_of(sessions, rule.id)
    assert (first.state, second.state) == ("resolved", "firing")
    assert first.id != second.id


def test_a_pending_alert_that_clears_is_dropped_and_no_longer_listed(engine: Engine) -> None:
    sessions = make_sessionmaker(engine)
    with sessions.begin() as session:
        web = add_resource(session, add_provider(session), "web-1")
        rule = add_rule(session, "cpu", "threshold", CPU_HIGH)
    cpu(sessions, web, _at(0), 95)
    lifecycle.evaluate(sessions, now=_at(0))
    assert [a["state"] for a in _listed(sessions, 0)] == ["pending"]
    cpu(sessions, web, _at(30), 50)
    lifecycle.evaluate(sessions, now=_at(30))
    (alert,) = alerts_of(sessions, rule.id)
    assert alert.state == "inactive"
    assert history(sessions, alert.id)[-1] == ("pending", "inactive")
    assert _listed(sessions, 30) == []


def test_an_expired_acknowledgement_is_cleared_and_the_alert_lists_as_firing_again(engine: Engine) -> None:
    sessions = make_sessionmaker(engine)
    with sessions.begin() as session:
        web = add_resource(session, add_provider(session), "web-1")
        rule = add_rule(session, "cpu", "threshold", {**CPU_HIGH, "for": 0.0})
    for second in (0, 30, 60, 90):
        cpu(sessions, web, _at(second), 97)
    lifecycle.evaluate(sessions, now=_at(0))
    (alert,) = alerts_of(sessions, rule.id)
    with sessions.begin() as session:
        row = session.get(MonitorAlert, alert.id)
        alerts.acknowledge(session, row, by="ops", note="on it", expires_at=_at(60), now=_at(10))  # type: ignore[arg-type]
    assert [a["state"] for a in _listed(sessions, 30)] == ["acknowledged"]
    assert _listed(sessions, 30, states=["firing"]) == []
    lifecycle.evaluate(sessions, now=_at(30))
    assert alerts_of(sessions, rule.id)[0].acked_by == "ops"
    done = lifecycle.evaluate(sessions, now=_at(60))
    assert [(t.from_state, t.to_state) for t in done] == [("firing", "unacknowledged")]
    (alert,) = alerts_of(sessions, rule.id)
    assert alert.acked_at is None
    assert alert.ack_expires_at is None
    assert alert.state == "firing"
    assert [a["state"] for a in _listed(sessions, 90)] == ["firing"]
    assert history(sessions, alert.id) == [("inactive", "firing"), ("firing", "acknowledged"),
                                           ("firing", "unacknowledged")]  # fmt: skip


@pytest.mark.parametrize("in_limit", [500, 0], ids=["ids-in-sql", "fleet-filtered-in-python"])
def test_absence_fires_for_a_resource_without_samples_for_the_minutes_and_resolves_when_one_arrives(
    engine: Engine, in_limit: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(conditions, "IN_LIMIT", in_limit)
    sessions = make_sessionmaker(engine)
    with sessions.begin() as session:
        provider = add_provider(session)
        quiet = add_resource(session, provider, "quiet-1")
        busy = add_resource(session, provider, "busy-1")
        rule = add_rule(session, "silent", "absence", {"selector": {}, "minutes": 5, "for": 0.0}, hold=0.0)
    cpu(sessions, quiet, _at(0), 10)
    for second in range(0, 301, 30):
        cpu(sessions, busy, _at(second), 10)
    lifecycle.evaluate(sessions, now=_at(240))
    assert alerts_of(sessions, rule.id) == []
    lifecycle.evaluate(sessions, now=_at(300))
    (alert,) = alerts_of(sessions, rule.id)
    assert (alert.state, alert.labels["resource"], alert.value) == ("firing", "quiet-1", 5.0)
    cpu(sessions, quiet, _at(330), 10)
    lifecycle.evaluate(sessions, now=_at(330))
    assert alerts_of(sessions, rule.id)[0].state == "resolved"


def test_one_failing_provider_raises_the_built_in_provider_unreachable_alert(engine: Engine) -> None:
    sessions = make_sessionmaker(engine)
    with sessions.begin() as session:
        down, up = add_provider(session, "sandbox-aws"), add_provider(session, "sandbox-gcp")
        failed = [{"at": T0.isoformat(), "ok": False, "seconds": 1.0, "error": "connection refused"}]
        session.add(MonitorStatus(name=f"provider:{down.id}", provider_id=down.id, ok=False, last_attempt_at=T0,
                                  last_error="connection refused", recent=failed))  # fmt: skip
        session.add(MonitorStatus(name=f"provider:{up.id}", provider_id=up.id, ok=True, last_attempt_at=T0,
                                  last_success_at=T0, recent=[{**failed[0], "ok": True, "error": None}]))  # fmt: skip
    lifecycle.evaluate(sessions, now=_at(0))
    with sessions() as session:
        rule = session.scalar(select(AlertRule).where(AlertRule.name == BUILTIN_NAME))
    assert rule is not None
    assert rule.kind == "provider_unreachable"
    (alert,) = alerts_of(sessions, rule.id)
    assert (alert.state, alert.labels["provider"], alert.provider_id) == ("firing", "sandbox-aws", down.id)
    assert "sandbox-aws" in alert.annotations["summary"]
    with sessions.begin() as session:
        status = session.get(MonitorStatus, f"provider:{down.id}")
        status.ok, status.recent = True, [*status.recent, {"at": T0.isoformat(), "ok": True}]  # type: ignore[union-attr]
    lifecycle.evaluate(sessions, now=_at(30))
    assert alerts_of(sessions, rule.id)[0].state == "firing"  # held a minute against flapping
    lifecycle.evaluate(sessions, now=_at(90))
    assert alerts_of(sessions, rule.id)[0].state == "resolved"
    with sessions() as session:  # not made twice
        assert session.scalar(select(func.count()).select_from(AlertRule)) == 1


def test_cost_rules_fire_on_a_budget_forecast_and_an_open_anomaly_of_the_snapshot(
    engine: Engine, tmp_path: Path
) -> None:
    publish_costs(tmp_path, november(10), daily_forecast("total", None, 50.0), anomalies=[("2026-11-09", "2026-11-10")])
    sessions = make_sessionmaker(engine)
    with sessions.begin() as session:
        budget = Budget(name="AWS monthly", scope={}, amount=Decimal("1000"), currency="USD", period="month")
        small = Budget(name="roomy", scope={}, amount=Decimal("5000"), currency="USD", period="month")
        session.add_all([budget, small])
        session.flush()
        over = add_rule(session, "over", "budget_forecast", {"budget_id": str(budget.id), "percent": 100, "for": 0.0})
        fine = add_rule(session, "fine", "budget_forecast", {"budget_id": str(small.id), "percent": 100, "for": 0.0})
        spike = add_rule(session, "spike", "cost_anomaly", {"min_impact": None, "recent_days": 3, "for": 0.0})
    lifecycle.evaluate(sessions, now=_at(0), serving_dir=tmp_path / "serving")
    (alert,) = alerts_of(sessions, over.id)
    # 500 spent over ten days and 20 days forecast at 50: 1500, 150% of 1000
    assert (alert.state, alert.value, alert.labels["budget"]) == ("firing", 150.0, "AWS monthly")
    assert alerts_of(sessions, fine.id) == []
    (anomaly,) = alerts_of(sessions, spike.id)
    assert (anomaly.state, anomaly.labels["anomaly_id"]) == ("firing", "a0")
    lifecycle.evaluate(sessions, now=_at(30))  # no snapshot this round: the cost alerts are left as they are
    assert alerts_of(sessions, over.id)[0].state == "firing"


def test_two_concurrent_evaluators_open_one_alert(engine: Engine) -> None:
    sessions = make_sessionmaker(engine)
    with sessions.begin() as session:
        web = add_resource(session, add_provider(session), "web-1")
        rule = add_rule(session, "cpu", "threshold", CPU_HIGH)
    cpu(sessions, web, _at(0), 95)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            lifecycle.evaluate(sessions, now=_at(0))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert [a.state for a in alerts_of(sessions, rule.id)] == ["pending"]


def test_annotations_fill_labels_and_value_and_leave_format_tricks_inert(engine: Engine) -> None:
    sessions = make_sessionmaker(engine)
    with sessions.begin() as session:
        web = add_resource(session, add_provider(session), "web-1")
        rule = add_rule(session, "cpu", "threshold", CPU_HIGH)
        rule.annotations = {
            "summary": "{resource} at {value}% ({unknown} stays)",
            "attribute": "{resource.__class__}",  # str.format would read attributes
            "padding": "{value:>999999999}",  # and pad to a gigabyte
            "runbook_url": "https://runbooks.example/{resource}",  # a URL is kept as written
        }
    cpu(sessions, web, _at(0), 95.5)
    lifecycle.evaluate(sessions, now=_at(0))
    (alert,) = alerts_of(sessions, rule.id)
    assert alert.annotations == {
        "summary": "web-1 at 95.5% ({unknown} stays)",
        "attribute": "{resource.__class__}",
        "padding": "{value:>999999999}",
        "runbook_url": "https://runbooks.example/{resource}",
    }
