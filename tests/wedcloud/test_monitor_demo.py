"""What a newcomer sees in the demo: the monitor's rounds (collect, evaluate, notify) take the
planted hot resource's alert pending -> firing -> resolved, on a controlled clock, with every
step published on the stream's ``alerts`` topic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from control_plane.monitoring.settings import MonitorSettings
from control_plane.store.monitoring_models import AlertRule, AlertTransition, MonitorAlert, StreamEvent
from tests.demo_world import pinned_clock
from wedcloud.cli.context import CliContext
from wedcloud.cli.monitor import DEMO_RULE, _round, after_collection, prepare_sandbox_monitoring

START = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)  # the demo's start: the hot spot runs from +2 to +12 minutes


def test_the_demo_rule_takes_the_planted_resource_pending_firing_resolved(
    context: CliContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = pinned_clock(monkeypatch, START)
    assert prepare_sandbox_monitoring(context, START) > 0
    assert prepare_sandbox_monitoring(context, START) > 0  # a second start makes no second rule
    settings = MonitorSettings(interval_seconds=30)
    lines: list[str] = []
    hooks = after_collection(context, lines.append)
    for step in range(1, 34):  # 16.5 minutes of 30-second rounds
        clock[0] = START + timedelta(seconds=30 * step)
        _round(context, settings, hooks, clock[0], lines.append)
    with context.sessions() as session:
        rule = session.scalars(select(AlertRule).where(AlertRule.name == DEMO_RULE)).one()
        alerts = list(session.scalars(select(MonitorAlert).where(MonitorAlert.rule_id == rule.id)))
        assert [a.labels["resource"] for a in alerts] == ["wedsync-api-2"]
        history = list(
            session.scalars(
                select(AlertTransition).where(AlertTransition.alert_id == alerts[0].id).order_by(AlertTransition.id)
            )
        )
        published = list(session.scalars(select(StreamEvent).where(StreamEvent.topic == "alerts")))
    assert [(t.from_state, t.to_state) for t in history] == [
        ("inactive", "pending"),
        ("pending", "firing"),
        ("firing", "resolved"),
    ]
    pending, firing, resolved = (t.at for t in history)
    # the spike's first full minute over 90% breaches; firing 2 minutes later; resolved a hold after it ends
    assert START + timedelta(minutes=2) < pending <= START + timedelta(minutes=4)
    assert firing - pending == timedelta(minutes=2)
    assert START + timedelta(minutes=12) < resolved <= START + timedelta(minutes=15)
    mine = [e for e in published if e.resource_id == str(alerts[0].resource_id)]
    assert [e.payload["transition"]["to"] for e in mine] == ["pending", "firing", "resolved"]
    assert any("pending -> firing" in line and "wedsync-api-2" in line for line in lines)
