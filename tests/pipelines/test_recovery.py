"""Disaster recovery in Dagster, on the sandbox's booking stack, on SQLite and PostgreSQL: the
``dr_schedules`` sensor asks for each due backup once, ``dr_backup_job`` takes it (and a re-run of
the same due time takes none), and ``dr_health`` asks for a ``dr_failover_job`` run after the
plan's threshold of failed health checks, which fails the plan over."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from sqlalchemy import Engine, func, select

from assets.resources import ProvidersResource
from clouds.base import DnsRecordSet
from control_plane.disaster_recovery import schedules
from control_plane.store.recovery_models import RecoveryBackup, RecoveryPlan, RecoveryRun
from pipelines.definitions import build_definitions
from pipelines.materialize import QUIET, dagster_instance
from pipelines.settings import PipelineSettings
from tests.control_plane.disaster_recovery.health_page import health_page
from tests.control_plane.disaster_recovery.support import PRIMARY, ROUTING, STANDBY, Recovery, booking_recovery

EVERY_4_HOURS = "0 */4 * * *"
RECORDS = DnsRecordSet(zone=ROUTING["zone"], name=ROUTING["name"], targets=ROUTING["targets"])


@pytest.fixture
def dr(engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Recovery:
    recovery = booking_recovery(engine, tmp_path)
    monkeypatch.setenv("DAGSTER_HOME", str(recovery.cloud.layout.dagster_home))
    return recovery


def _defs(dr: Recovery, store_url: str) -> dg.Definitions:
    return build_definitions(PipelineSettings(home=dr.cloud.layout.root, database_url=store_url, environment="test"))


def _tick(defs: dg.Definitions, name: str, dr: Recovery, store_url: str, now: datetime,
          cursor: str | None = None) -> dg.SensorResult:  # fmt: skip
    providers = ProvidersResource(database_url=store_url, home=str(dr.cloud.layout.root), environment="test",
                                  now=now.isoformat())  # fmt: skip
    with dg.build_sensor_context(cursor=cursor, resources={"providers": providers}) as context:
        result = defs.resolve_sensor_def(name)(context)
    assert isinstance(result, dg.SensorResult)
    return result


def _execute(defs: dg.Definitions, dr: Recovery, request: dg.RunRequest) -> dg.ExecuteInProcessResult:
    assert request.job_name is not None
    with dagster_instance(dr.cloud.layout.dagster_home) as instance:
        return defs.resolve_job_def(request.job_name).execute_in_process(
            instance=instance, run_config={**QUIET, **request.run_config}, tags=request.tags, raise_on_error=False
        )


def _metadata(result: dg.ExecuteInProcessResult) -> dict[str, Any]:
    (output,) = [e for e in result.all_node_events if e.is_successful_output]
    assert output.step_output_data is not None
    return {key: entry.value for key, entry in output.step_output_data.metadata.items()}


def _backups(dr: Recovery, plan_id: uuid.UUID) -> int:
    with dr.cloud.sessions() as session:
        query = select(func.count()).select_from(RecoveryBackup).where(RecoveryBackup.plan_id == plan_id)
        return int(session.scalar(query) or 0)


def test_a_due_backup_is_requested_once_and_the_job_takes_it_on_the_sandbox(dr: Recovery, store_url: str) -> None:
    plan_id = dr.plan(backup={"schedule": EVERY_4_HOURS})
    defs = _defs(dr, store_url)
    now = datetime.now(UTC)
    due = schedules.latest_time(EVERY_4_HOURS, now).isoformat()

    first = _tick(defs, "dr_schedules", dr, store_url, now)
    (request,) = first.run_requests or []
    assert (request.run_key, request.job_name) == (f"{plan_id}:backup:{due}", "dr_backup_job")
    assert request.run_config == {"ops": {"take_dr_backup": {"config": {"plan_id": str(plan_id), "due_at": due}}}}
    assert request.tags["wedcloud/dr_plan"] == "booking"
    # the next tick, before the run has started: the same due time is not asked for again
    assert _tick(defs, "dr_schedules", dr, store_url, now + timedelta(seconds=60), first.cursor).run_requests == []

    result = _execute(defs, dr, request)
    assert result.success
    metadata = _metadata(result)
    assert (metadata["status"], metadata["replayed"]) == ("succeeded", False)
    assert 0 <= metadata["rpo_seconds"] < 600
    assert _backups(dr, plan_id) == 1
    with dr.cloud.sessions() as session:
        run = session.get(RecoveryRun, uuid.UUID(metadata["run_id"]))
        assert run is not None
    assert (run.kind, run.actor, run.status) == ("backup", "system:schedule", "succeeded")

    again = _execute(defs, dr, request)  # the same due time run again (a re-executed run): no second backup
    assert again.success
    assert (_metadata(again)["replayed"], _metadata(again)["run_id"]) == (True, metadata["run_id"])
    assert _backups(dr, plan_id) == 1


def test_a_plan_backed_up_since_its_last_scheduled_time_is_not_due_until_the_next(dr: Recovery, store_url: str) -> None:
    plan_id = dr.plan(backup={"schedule": EVERY_4_HOURS})
    taken = dr.backup(plan_id).started_at
    defs = _defs(dr, store_url)
    assert _tick(defs, "dr_schedules", dr, store_url, taken + timedelta(seconds=1)).run_requests == []
    following = schedules.latest_time(EVERY_4_HOURS, taken) + timedelta(hours=4)
    (request,) = _tick(defs, "dr_schedules", dr, store_url, following).run_requests or []
    assert request.run_key == f"{plan_id}:backup:{following.isoformat()}"


def test_a_plan_whose_schedule_never_comes_does_not_stop_the_others_backups(dr: Recovery, store_url: str) -> None:
    broken = dr.plan(name="broken")
    healthy = dr.plan(name="healthy")
    with dr.cloud.sessions() as session, session.begin():  # stored before crons were checked
        plan = session.get(RecoveryPlan, broken)
        assert plan is not None
        plan.backup = {**plan.backup, "schedule": "0 0 30 2 *"}
    (request,) = _tick(_defs(dr, store_url), "dr_schedules", dr, store_url, datetime.now(UTC)).run_requests or []
    assert request.run_key.startswith(f"{healthy}:backup:")


def test_the_health_sensor_starts_a_failover_run_after_three_failed_checks(
    dr: Recovery, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with health_page(monkeypatch, down_for=3) as (_page, url):
        rule = {"enabled": True, "failed_checks": 3, "require_approval": False}
        plan_id = dr.plan(routing={**ROUTING, "health_check_url": url}, auto_failover=rule)
        dr.backup(plan_id)
        dr.cloud.adapter().route_dns(RECORDS, active=PRIMARY)
        defs = _defs(dr, store_url)
        now = datetime.now(UTC)
        ticks = [_tick(defs, "dr_health", dr, store_url, now + timedelta(seconds=30 * n)) for n in range(3)]
        assert [len(t.run_requests or []) for t in ticks] == [0, 0, 1]
        (request,) = ticks[2].run_requests or []
        assert request.job_name == "dr_failover_job"
        assert request.run_key is not None
        assert request.run_key.startswith(f"auto-failover:{plan_id}:3:")
        result = _execute(defs, dr, request)
    assert result.success
    assert _metadata(result)["status"] == "succeeded"
    assert dr.cloud.adapter().dns_routing(RECORDS).active == STANDBY  # type: ignore[union-attr]
    assert dr.stored_plan(plan_id).status == "failed_over"
