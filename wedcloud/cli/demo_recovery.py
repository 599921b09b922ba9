"""The demo's disaster-recovery plan: the booking stack of :mod:`wedcloud.cli.demo_stack`,
protected by its deployment, backed up across regions and drilled once, so that
``GET /api/cloud/disaster-recovery/status`` shows a measured RTO and RPO from the first start.

Everything goes through the service layer, as the API does: begin in one transaction, then
``operations.execute`` the work. A later start reuses the plan and repeats only what is due:

- a backup when the plan's RPO is not met now (no usable backup, or the newest cross-region
  copy is older than the 4 h target), so the demo always starts with a fresh enough backup;
- a drill when none has finished, the last one did not pass, or it is older than
  ``DRILL_AGAIN_AFTER`` (a day).

A new sandbox world gets a new deployment; the plan that protected the old one is deleted with
its runs and backups (their resources and snapshots went with the old world) and made again.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from control_plane.disaster_recovery import plans, service
from control_plane.disaster_recovery.backups import rpo_now
from control_plane.disaster_recovery.spec import PlanSpec
from control_plane.disaster_recovery.status import plan_status
from control_plane.services import operations
from control_plane.services.audit_log import record_change
from control_plane.services.errors import ServiceError
from control_plane.services.resources import AdapterFor
from control_plane.store.db import transaction
from control_plane.store.deployment_models import Deployment, DeploymentResource
from control_plane.store.models import Resource
from control_plane.store.recovery_models import RecoveryPlan, RecoveryRun
from wedcloud.cli.context import CliContext
from wedcloud.cli.demo_stack import DEMO_DEPLOYMENT, demo_adapters
from wedcloud.sqltypes import utcnow

DEMO_PLAN = "booking-demo-dr"
ACTOR = "wedcloud demo"
STANDBY_REGION = "eu-west-1"  # another region of the stack's provider (sandbox-aws)
# the two addresses are documentation ranges (RFC 5737): the record is the sandbox DNS's only
PRIMARY_ADDRESS, STANDBY_ADDRESS = "192.0.2.10", "198.51.100.10"
RTO_SECONDS, RPO_SECONDS = 3600, 4 * 3600
DRILL_AGAIN_AFTER = timedelta(days=1)


def plan_spec(*, provider_id: uuid.UUID, region: str, deployment_id: uuid.UUID) -> PlanSpec:
    return PlanSpec.model_validate({
        "name": DEMO_PLAN,
        "description": f"The {DEMO_DEPLOYMENT} stack, back in {STANDBY_REGION} within an hour (the demo's plan).",
        "primary_provider_id": str(provider_id),
        "primary_region": region,
        "dr_targets": [{"region": STANDBY_REGION}],
        "protected": {"deployment_id": str(deployment_id)},
        "rto_seconds": RTO_SECONDS,
        "rpo_seconds": RPO_SECONDS,
        "backup": {"schedule": "0 */4 * * *", "cross_region_copy": True},
        "routing": {"zone": "wedsync-demo", "name": "booking.wedsync.example.", "type": "A", "ttl": 60,
                    "targets": {region: PRIMARY_ADDRESS, STANDBY_REGION: STANDBY_ADDRESS}},
    })  # fmt: skip


def protect_booking_stack(context: CliContext) -> str:
    """Register the plan (once), take a backup and run a drill when due; a line to print."""
    adapters = demo_adapters(context)
    try:
        plan_id, made = _plan(context, adapters)
    except ServiceError as exc:
        return f"disaster recovery: no plan for {DEMO_DEPLOYMENT}: {exc}"
    if plan_id is None:
        return f"disaster recovery: skipped, {DEMO_DEPLOYMENT} is not deployed"
    done: list[str] = []
    with context.sessions() as session:
        plan = plans.get_plan(session, plan_id)
        rpo = rpo_now(session, plan)
        backup_due = rpo is None or rpo.seconds > plan.rpo_seconds
    try:
        if backup_due:
            _run(context, service.begin_backup, plan_id=plan_id, adapter_for=adapters)
            done.append("backed up")
        if _drill_due(context, plan_id):
            _run(context, service.begin_drill, plan_id=plan_id, region=None, adapter_for=adapters)
            done.append("drilled")
    except ServiceError as exc:  # another run of the plan (a scheduled backup) holds it
        done.append(f"the rest not now: {exc}")
    with context.sessions() as session:
        standing = plan_status(session, plans.get_plan(session, plan_id))
    return _line(standing, made=made, done=done)


def _plan(context: CliContext, adapters: AdapterFor) -> tuple[uuid.UUID | None, bool]:
    """The plan's id (None: no deployed stack to protect) and whether it was made now."""
    with transaction(context.sessions) as session:
        deployment = session.scalar(select(Deployment).where(Deployment.name == DEMO_DEPLOYMENT))
        existing = session.scalar(select(RecoveryPlan).where(RecoveryPlan.name == DEMO_PLAN))
        if deployment is None or deployment.status != "deployed":
            return (existing.id if existing else None), False
        if existing is not None and existing.protected.get("deployment_id") == str(deployment.id):
            return existing.id, False
        if existing is not None:  # it protected the deployment of an older sandbox world
            session.delete(existing)  # its runs and backups go with it (ON DELETE CASCADE)
            session.flush()
        provider_id, region = _stack_home(session, deployment.id)
        spec = plan_spec(provider_id=provider_id, region=region, deployment_id=deployment.id)
        plan = plans.create_plan(session, spec=spec, actor=ACTOR, adapter_for=adapters)
        record_change(session, actor=ACTOR, action="dr_plan.create", target=f"dr_plan:{plan.id}",
                      detail={"name": plan.name, "deployment_id": str(deployment.id)}, command="demo")  # fmt: skip
        return plan.id, True


def _stack_home(session: Session, deployment_id: uuid.UUID) -> tuple[uuid.UUID, str]:
    """The provider and region of the stack's database (where the whole stack lives)."""
    query = (
        select(Resource.provider_id, Resource.region, Resource.subtype)
        .join(DeploymentResource, DeploymentResource.resource_id == Resource.id)
        .where(DeploymentResource.deployment_id == deployment_id)
    )
    rows = sorted(session.execute(query), key=lambda row: row.subtype != "database")
    if not rows:
        raise ServiceError(f"{DEMO_DEPLOYMENT} holds no resource")
    return rows[0].provider_id, rows[0].region


def _drill_due(context: CliContext, plan_id: uuid.UUID) -> bool:
    with context.sessions() as session:
        last = session.scalar(
            select(RecoveryRun).where(RecoveryRun.plan_id == plan_id, RecoveryRun.kind == "drill",
                                      RecoveryRun.status != "running")
            .order_by(RecoveryRun.started_at.desc()).limit(1)
        )  # fmt: skip
    return last is None or not last.passed or utcnow() - last.started_at > DRILL_AGAIN_AFTER


def _run(context: CliContext, begin: Any, **kwargs: Any) -> None:
    with transaction(context.sessions) as session:
        started = begin(session, actor=ACTOR, idempotency_key=None, **kwargs)
        operation_id, work = started.operation.id, started.work
    if work is not None:
        operations.execute(context.sessions, operation_id, work)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "not measured"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _line(standing: dict[str, Any], *, made: bool, done: list[str]) -> str:
    drill = standing["last_drill"]
    if drill is None:
        measured = "never drilled"
    else:
        verdict = "passed" if drill["passed"] else "failed"
        measured = (f"drill {verdict}: RTO {_duration(drill['rto_seconds'])} (target "
                    f"{_duration(standing['rto']['target_seconds'])}), RPO {_duration(drill['rpo_seconds'])} "
                    f"(target {_duration(standing['rpo']['target_seconds'])})")  # fmt: skip
    what = "new" if made else "reused"
    if done:
        what += ", " + " and ".join(done)
    return (f"disaster recovery: plan {standing['name']} ({standing['serving']['region']} -> "
            f"{standing['standby_region']}), {measured}, {standing['readiness']} ({what}; "
            f"GET /api/cloud/disaster-recovery/status)")  # fmt: skip
