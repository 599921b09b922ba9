"""The demo protects its booking stack with a disaster-recovery plan, backs it up and drills it
once, so the status shows a measured RTO and RPO; a second start repeats only what is due."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select, update

from clouds.sandbox.world import build_world, save_world
from control_plane.disaster_recovery.status import status
from control_plane.store.deployment_models import Deployment
from control_plane.store.models import Provider
from control_plane.store.recovery_models import RecoveryBackup, RecoveryPlan, RecoveryRun
from wedcloud.cli.context import CliContext
from wedcloud.cli.demo_recovery import DEMO_PLAN, STANDBY_REGION, protect_booking_stack
from wedcloud.cli.demo_stack import DEMO_DEPLOYMENT, deploy_booking_stack
from wedcloud.cli.monitor import prepare_sandbox_monitoring
from wedcloud.sqltypes import utcnow


def _runs(context: CliContext) -> list[tuple[str, str]]:
    with context.sessions() as session:
        query = select(RecoveryRun.kind, RecoveryRun.status).order_by(RecoveryRun.started_at)
        return [(row.kind, row.status) for row in session.execute(query)]


def test_the_demo_registers_a_plan_backs_it_up_and_drills_it_so_status_has_a_measured_rto_and_rpo(
    context: CliContext,
) -> None:
    deploy_booking_stack(context, fresh_world=True)
    line = protect_booking_stack(context)
    with context.sessions() as session:
        plan = session.scalars(select(RecoveryPlan).where(RecoveryPlan.name == DEMO_PLAN)).one()
        deployment = session.scalars(select(Deployment).where(Deployment.name == DEMO_DEPLOYMENT)).one()
        provider = session.get(Provider, plan.primary_provider_id)
        [standing] = status(session)
    assert provider is not None
    assert provider.name == "sandbox-aws"
    assert plan.protected == {"deployment_id": str(deployment.id), "resource_ids": [], "tags": {}}
    assert [t["region"] for t in plan.dr_targets] == [STANDBY_REGION] != [plan.primary_region]
    assert plan.routing is not None
    assert set(plan.routing["targets"]) == {plan.primary_region, STANDBY_REGION}
    assert (plan.rto_seconds, plan.rpo_seconds) == (3600, 4 * 3600)
    assert plan.backup["schedule"] == "0 */4 * * *"
    assert plan.backup["cross_region_copy"] is True
    assert _runs(context) == [("backup", "succeeded"), ("drill", "succeeded")]
    drill = standing["last_drill"]
    assert drill["passed"] is True
    # the database's modelled restore alone takes minutes; the backup was copied seconds ago
    assert 60 < drill["rto_seconds"] < 3600
    assert 0 <= drill["rpo_seconds"] < 600
    assert standing["rpo"]["met"] is True
    assert standing["last_backup"]["copied_at"] is not None
    assert line.startswith(f"disaster recovery: plan {DEMO_PLAN} ({plan.primary_region} -> {STANDBY_REGION}), "
                           "drill passed: RTO ")  # fmt: skip
    assert "(new, backed up and drilled;" in line


def test_a_second_demo_reuses_the_plan_and_drills_again_only_when_the_last_drill_is_a_day_old(
    context: CliContext,
) -> None:
    deploy_booking_stack(context, fresh_world=True)
    protect_booking_stack(context)
    line = protect_booking_stack(context)
    assert _runs(context) == [("backup", "succeeded"), ("drill", "succeeded")]
    assert "(reused;" in line
    assert "drill passed" in line
    with context.sessions() as session, session.begin():
        two_days_ago = utcnow() - timedelta(days=2)
        session.execute(update(RecoveryRun).values(started_at=two_days_ago))
        session.execute(update(RecoveryBackup).values(taken_at=two_days_ago, completed_at=two_days_ago,
                                                      copied_at=two_days_ago))  # fmt: skip
    line = protect_booking_stack(context)
    # the backup two days old is past the 4 h RPO: a new one, then a new drill
    assert _runs(context)[2:] == [("backup", "succeeded"), ("drill", "succeeded")]
    assert "(reused, backed up and drilled;" in line


def test_a_new_sandbox_world_gets_a_new_plan_for_its_new_deployment(context: CliContext) -> None:
    deploy_booking_stack(context, fresh_world=True)
    protect_booking_stack(context)
    with context.sessions() as session:
        first = session.scalars(select(RecoveryPlan.id).where(RecoveryPlan.name == DEMO_PLAN)).one()
    # what `wedcloud demo --rebuild` does before deploying: a new world, its inventory synced
    save_world(context.engine, build_world(5, date(2026, 12, 6), date(2026, 10, 1)))
    prepare_sandbox_monitoring(context, utcnow())
    deploy_booking_stack(context, fresh_world=True)
    line = protect_booking_stack(context)
    with context.sessions() as session:
        plans = list(session.scalars(select(RecoveryPlan)))
        deployment = session.scalars(select(Deployment).where(Deployment.name == DEMO_DEPLOYMENT)).one()
        runs = list(session.scalars(select(RecoveryRun)))
    assert [p.name for p in plans] == [DEMO_PLAN]
    assert plans[0].id != first
    assert plans[0].protected["deployment_id"] == str(deployment.id)
    assert {r.plan_id for r in runs} == {plans[0].id}  # the old plan's runs went with it
    assert "(new, backed up and drilled;" in line
