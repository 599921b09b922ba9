"""The ``disaster_recovery`` alert rule through the normal evaluation: the built-in rule made once a
plan exists, an RPO breach (an old backup, or none) firing and resolving after a fresh backup,
and a plan left degraded by a failover."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, update

from control_plane.monitoring import lifecycle, rules
from control_plane.monitoring.rules import RECOVERY_BUILTIN_NAME
from control_plane.services.errors import InvalidRequest
from control_plane.store.monitoring_models import AlertRule, MonitorAlert
from control_plane.store.recovery_models import RecoveryBackup, RecoveryPlan
from tests.control_plane.disaster_recovery.support import Recovery, booking_recovery


@pytest.fixture
def dr(engine: Engine, tmp_path: Path) -> Recovery:
    return booking_recovery(engine, tmp_path)


def _rule(dr: Recovery) -> AlertRule | None:
    with dr.cloud.sessions() as session:
        return session.scalar(select(AlertRule).where(AlertRule.name == RECOVERY_BUILTIN_NAME))


def _alerts(dr: Recovery, problem: str) -> list[MonitorAlert]:
    rule = _rule(dr)
    assert rule is not None
    with dr.cloud.sessions() as session:
        query = select(MonitorAlert).where(MonitorAlert.rule_id == rule.id).order_by(MonitorAlert.created_at)
        return [a for a in session.scalars(query) if a.labels["problem"] == problem]


def _age_backups(dr: Recovery, plan_id: uuid.UUID, hours: float) -> None:
    """Make the plan's backups (snapshots and copies) ``hours`` older, as if no backup ran since."""
    with dr.cloud.sessions.begin() as session:
        for row in session.scalars(select(RecoveryBackup).where(RecoveryBackup.plan_id == plan_id)):
            shift = timedelta(hours=hours)
            row.taken_at -= shift
            row.completed_at = row.completed_at - shift if row.completed_at else None
            row.copied_at = row.copied_at - shift if row.copied_at else None


def test_the_built_in_rule_is_made_once_the_first_plan_exists(dr: Recovery) -> None:
    lifecycle.evaluate(dr.cloud.sessions, now=datetime.now(UTC))
    assert _rule(dr) is None  # no plan, no rule
    dr.plan()
    lifecycle.evaluate(dr.cloud.sessions, now=datetime.now(UTC))
    rule = _rule(dr)
    assert rule is not None
    assert (rule.kind, rule.severity, rule.enabled, rule.created_by) == (
        "disaster_recovery",
        "critical",
        True,
        "system",
    )


def test_a_plan_whose_backup_is_older_than_its_rpo_raises_an_alert_that_a_fresh_backup_resolves(dr: Recovery) -> None:
    plan_id = dr.plan()  # RPO target: 4 h
    dr.backup(plan_id)
    _age_backups(dr, plan_id, hours=5)
    now = datetime.now(UTC)
    lifecycle.evaluate(dr.cloud.sessions, now=now)
    (alert,) = _alerts(dr, "rpo")
    assert (alert.state, alert.severity) == ("firing", "critical")
    assert (alert.labels["plan"], alert.labels["plan_id"]) == ("booking", str(plan_id))
    assert alert.value is not None
    assert 5 * 3600 <= alert.value < 5 * 3600 + 600
    assert "booking" in alert.annotations["summary"]

    dr.backup(plan_id)
    later = datetime.now(UTC)
    lifecycle.evaluate(dr.cloud.sessions, now=later)
    assert _alerts(dr, "rpo")[0].state == "firing"  # held a minute against flapping
    lifecycle.evaluate(dr.cloud.sessions, now=later + timedelta(seconds=61))
    assert [a.state for a in _alerts(dr, "rpo")] == ["resolved"]


def test_a_plan_without_a_usable_backup_breaches_its_rpo_with_no_value(dr: Recovery) -> None:
    plan_id = dr.plan()
    lifecycle.evaluate(dr.cloud.sessions, now=datetime.now(UTC))
    (alert,) = _alerts(dr, "rpo")
    assert (alert.state, alert.labels["plan_id"], alert.value) == ("firing", str(plan_id), None)


def test_a_plan_left_degraded_by_a_failover_raises_a_failover_alert(dr: Recovery) -> None:
    plan_id = dr.plan()
    dr.backup(plan_id)
    with dr.cloud.sessions.begin() as session:
        session.execute(update(RecoveryPlan).where(RecoveryPlan.id == plan_id).values(status="degraded"))
    lifecycle.evaluate(dr.cloud.sessions, now=datetime.now(UTC))
    (alert,) = _alerts(dr, "failover")
    assert (alert.state, alert.labels["plan"]) == ("firing", "booking")
    assert _alerts(dr, "rpo") == []


def test_a_rule_for_one_plan_must_name_a_plan_that_exists(dr: Recovery) -> None:
    plan_id = dr.plan()
    with dr.cloud.sessions() as session:
        with pytest.raises(InvalidRequest) as refused:
            rules.check_spec(session, "disaster_recovery", {"plan_id": str(uuid.uuid4())})
        assert refused.value.extra["errors"][0]["field"] == "plan_id"
        assert rules.check_spec(session, "disaster_recovery", {"plan_id": plan_id}) == {"plan_id": str(plan_id)}
