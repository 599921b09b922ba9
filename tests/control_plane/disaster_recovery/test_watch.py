"""The automatic-failover rule on the sandbox: the plan's health page probed once a round, its
failures counted in a row; at the threshold a failover (no approval required), or a critical
event and the ``disaster-recovery`` alert (approval required)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from clouds.base import DnsRecordSet
from control_plane.disaster_recovery.watch import check_plans
from control_plane.monitoring import lifecycle
from control_plane.monitoring.rules import RECOVERY_BUILTIN_NAME
from control_plane.store.monitoring_models import AlertRule, MonitorAlert, StreamEvent
from control_plane.store.recovery_models import RecoveryRun
from tests.control_plane.disaster_recovery.health_page import health_page
from tests.control_plane.disaster_recovery.support import PRIMARY, ROUTING, STANDBY, Recovery, booking_recovery

RECORDS = DnsRecordSet(zone=ROUTING["zone"], name=ROUTING["name"], targets=ROUTING["targets"])


@pytest.fixture
def dr(engine: Engine, tmp_path: Path) -> Recovery:
    return booking_recovery(engine, tmp_path)


def _watched_plan(dr: Recovery, url: str, *, approval: bool) -> Any:
    rule = {"enabled": True, "failed_checks": 3, "require_approval": approval}
    return dr.plan(routing={**ROUTING, "health_check_url": url}, auto_failover=rule)


def _round(dr: Recovery) -> Any:
    return check_plans(dr.cloud.sessions, dr.cloud.adapters, now=datetime.now(UTC))


def _health_alerts(dr: Recovery) -> list[MonitorAlert]:
    with dr.cloud.sessions() as session:
        rule = session.scalar(select(AlertRule).where(AlertRule.name == RECOVERY_BUILTIN_NAME))
        assert rule is not None
        query = select(MonitorAlert).where(MonitorAlert.rule_id == rule.id).order_by(MonitorAlert.created_at)
        return [a for a in session.scalars(query) if a.labels["problem"] == "health"]


def test_three_failed_checks_in_a_row_fail_the_plan_over_when_no_approval_is_required(
    dr: Recovery, monkeypatch: pytest.MonkeyPatch
) -> None:
    with health_page(monkeypatch, down_for=3) as (page, url):
        plan_id = _watched_plan(dr, url, approval=False)
        dr.backup(plan_id)
        dr.cloud.adapter().route_dns(RECORDS, active=PRIMARY)
        for failed in (1, 2):
            found = _round(dr)
            assert (found.checked, found.failing, found.failovers) == (1, {"booking": failed}, [])
            assert dr.stored_plan(plan_id).failed_checks == failed
        third = _round(dr)
    (outcome,) = third.failovers
    assert outcome.status == "succeeded", outcome.summary
    assert dr.cloud.adapter().dns_routing(RECORDS).active == STANDBY  # type: ignore[union-attr]
    plan = dr.stored_plan(plan_id)
    assert (plan.status, plan.active_region, plan.failed_checks) == ("failed_over", STANDBY, 0)
    with dr.cloud.sessions() as session:
        run = session.get(RecoveryRun, outcome.run_id)
        assert run is not None
    assert (run.kind, run.actor) == ("failover", "system:auto-failover")
    assert run.reason is not None
    assert "3 health checks failed in a row" in run.reason
    assert page.requests >= 4  # three failed checks, then the failover's own check after the switch


def test_a_check_that_answers_between_failures_starts_the_count_again(
    dr: Recovery, monkeypatch: pytest.MonkeyPatch
) -> None:
    with health_page(monkeypatch, down_for=2) as (page, url):
        plan_id = _watched_plan(dr, url, approval=False)
        counts = [_round(dr).failing.get("booking", 0) for _ in range(3)]
        page.down_for(2)
        counts += [_round(dr).failing.get("booking", 0) for _ in range(2)]
    assert counts == [1, 2, 0, 1, 2]
    plan = dr.stored_plan(plan_id)
    assert (plan.status, plan.failed_checks) == ("active", 2)
    with dr.cloud.sessions() as session:
        assert session.scalar(select(RecoveryRun).where(RecoveryRun.kind == "failover")) is None


def test_with_approval_required_the_threshold_raises_a_critical_event_and_alert_and_fails_nothing_over(
    dr: Recovery, monkeypatch: pytest.MonkeyPatch
) -> None:
    with health_page(monkeypatch, down_for=3) as (_page, url):  # down for three checks, then up
        plan_id = _watched_plan(dr, url, approval=True)
        dr.cloud.adapter().route_dns(RECORDS, active=PRIMARY)
        rounds = [_round(dr) for _ in range(3)]
        assert [len(r.triggers) for r in rounds] == [0, 0, 1]
        assert rounds[2].triggers[0].needs_approval
        assert rounds[2].failovers == []
        plan = dr.stored_plan(plan_id)
        assert (plan.status, plan.active_region, plan.failed_checks) == ("active", PRIMARY, 3)
        assert dr.cloud.adapter().dns_routing(RECORDS).active == PRIMARY  # type: ignore[union-attr]
        with dr.cloud.sessions() as session:
            event = session.scalars(select(StreamEvent).where(StreamEvent.topic == "dr")
                                    .order_by(StreamEvent.id.desc()).limit(1)).one()  # fmt: skip
            assert session.scalar(select(RecoveryRun).where(RecoveryRun.kind == "failover")) is None
        assert (event.severity, event.payload["status"], event.payload["plan_id"]) == (
            "critical", "approval_needed", str(plan_id),
        )  # fmt: skip

        now = datetime.now(UTC)
        lifecycle.evaluate(dr.cloud.sessions, now=now)
        (alert,) = _health_alerts(dr)
        assert (alert.state, alert.severity, alert.value) == ("firing", "critical", 3.0)
        assert alert.labels["plan_id"] == str(plan_id)

        assert _round(dr).failing == {}  # the page answers again
        lifecycle.evaluate(dr.cloud.sessions, now=now + timedelta(seconds=1))
        lifecycle.evaluate(dr.cloud.sessions, now=now + timedelta(seconds=62))
    assert [a.state for a in _health_alerts(dr)] == ["resolved"]
