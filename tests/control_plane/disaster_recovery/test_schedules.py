"""When a plan's backups and drills are due (its crons against its last runs), and a run a
schedule starts: begun as ``system:schedule``, carried out, and not taken twice for one due time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from control_plane.disaster_recovery import schedules, service
from control_plane.disaster_recovery.schedules import due_runs, due_time, run_scheduled
from control_plane.store.recovery_models import RecoveryBackup, RecoveryPlan, RecoveryRun
from tests.control_plane.disaster_recovery.support import Recovery, booking_recovery

EVERY_4_HOURS = "0 */4 * * *"


@pytest.fixture
def dr(engine: Engine, tmp_path: Path) -> Recovery:
    return booking_recovery(engine, tmp_path)


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_a_run_is_due_for_the_latest_scheduled_time_once_the_first_after_the_last_run_has_come() -> None:
    last = _at("2026-12-07T04:00:30")
    assert due_time(EVERY_4_HOURS, last, _at("2026-12-07T07:59:59")) is None
    assert due_time(EVERY_4_HOURS, last, _at("2026-12-07T08:00:00")) == _at("2026-12-07T08:00:00")
    # a scheduler down for a day: one run, for the latest time it missed
    assert due_time(EVERY_4_HOURS, last, _at("2026-12-08T09:15:00")) == _at("2026-12-08T08:00:00")
    # never run: due at once, for the latest scheduled time
    assert due_time(EVERY_4_HOURS, None, _at("2026-12-07T03:59:59")) == _at("2026-12-07T00:00:00")


def test_a_plan_never_backed_up_is_due_at_once_and_not_again_until_its_next_time(dr: Recovery) -> None:
    plan_id = dr.plan(backup={"schedule": EVERY_4_HOURS})
    now = datetime.now(UTC)
    with dr.cloud.sessions() as session:
        (due,) = due_runs(session, now=now)
    assert (due.plan_id, due.kind, due.due_at) == (plan_id, "backup", schedules.latest_time(EVERY_4_HOURS, now))
    assert due.key == f"{plan_id}:backup:{due.due_at.isoformat()}"
    backup = dr.backup(plan_id)
    with dr.cloud.sessions() as session:
        assert due_runs(session, now=backup.started_at + timedelta(seconds=1)) == []
        next_time = schedules.latest_time(EVERY_4_HOURS, backup.started_at) + timedelta(hours=4)
        (again,) = due_runs(session, now=next_time)
    assert (again.kind, again.due_at) == ("backup", next_time)


def test_a_drill_is_due_at_its_first_time_after_the_plan_was_made_and_waits_for_a_due_backup(dr: Recovery) -> None:
    plan_id = dr.plan(drill_schedule="0 3 * * *", backup={"schedule": "0 0 29 2 *"})  # backups: rare
    created = dr.stored_plan(plan_id).created_at
    first_drill = schedules.latest_time("0 3 * * *", created) + timedelta(days=1)
    with dr.cloud.sessions() as session:
        assert [d.kind for d in due_runs(session, now=first_drill)] == ["backup"]  # one operation at a time
    backup = dr.backup(plan_id)
    with dr.cloud.sessions() as session:
        assert due_runs(session, now=max(first_drill, backup.started_at) - timedelta(minutes=1)) == []
        (drill,) = due_runs(session, now=max(first_drill, backup.started_at + timedelta(seconds=1)))
    assert drill.kind == "drill"


def test_a_plan_whose_operation_is_in_flight_is_not_due(dr: Recovery) -> None:
    plan_id = dr.plan()
    dr.begin(service.begin_drill, plan_id=plan_id, region=None)  # begun, not carried out yet
    with dr.cloud.sessions() as session:
        assert due_runs(session, now=datetime.now(UTC)) == []


def test_a_scheduled_backup_runs_as_the_schedule_and_the_same_due_time_never_takes_a_second(dr: Recovery) -> None:
    plan_id = dr.plan()
    key = schedules.schedule_key(plan_id, "backup", "2026-12-07T08:00:00+00:00")
    first = run_scheduled(dr.cloud.sessions, dr.cloud.adapters, kind="backup", plan_id=plan_id, idempotency_key=key)
    assert (first.status, first.operation_status, first.replayed, first.ok) == ("succeeded", "succeeded", False, True)
    assert first.rpo_seconds is not None
    assert 0 <= first.rpo_seconds < 60
    again = run_scheduled(dr.cloud.sessions, dr.cloud.adapters, kind="backup", plan_id=plan_id, idempotency_key=key)
    assert (again.run_id, again.replayed) == (first.run_id, True)
    with dr.cloud.sessions() as session:
        run = session.get(RecoveryRun, first.run_id)
        assert run is not None
        assert run.actor == "system:schedule"
        backups = session.scalar(
            select(func.count()).select_from(RecoveryBackup).where(RecoveryBackup.plan_id == plan_id)
        )
    assert backups == 1  # the booking stack's one database


def test_a_plan_whose_schedule_never_comes_is_skipped_and_reported_while_the_others_run(dr: Recovery) -> None:
    broken = dr.plan(name="broken", drill_schedule="0 3 * * *")
    healthy = dr.plan(name="healthy")
    with dr.cloud.sessions() as session, session.begin():  # stored before crons were checked
        plan = session.get(RecoveryPlan, broken)
        assert plan is not None
        plan.backup = {**plan.backup, "schedule": "0 0 30 2 *"}
    skipped: list[schedules.Unschedulable] = []
    now = datetime.now(UTC) + timedelta(days=2)
    with dr.cloud.sessions() as session:
        due = due_runs(session, now=now, skipped=skipped)
    assert [(d.plan_id, d.kind) for d in due] == [(broken, "drill"), (healthy, "backup")]
    assert [(s.plan_id, s.kind, s.cron) for s in skipped] == [(broken, "backup", "0 0 30 2 *")]
    assert "cannot run" in str(skipped[0])
