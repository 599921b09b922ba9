"""Each plan's standing: readiness, the RPO now against its target, the last drill's measured
RTO and RPO, and every open problem, read from the store (no cloud is called)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from control_plane.disaster_recovery.backups import Rpo, newest_backups, rpo_now
from control_plane.disaster_recovery.protected import serving_resources, split, standby_region
from control_plane.disaster_recovery.recover import snapshot_in
from control_plane.store.recovery_models import RecoveryPlan, RecoveryRun
from wedcloud.sqltypes import utcnow

DRILL_STALE = timedelta(days=90)  # a plan not drilled for this long is not known to work


def _last(session: Session, plan_id: uuid.UUID, kind: str, *, ended: bool = True) -> RecoveryRun | None:
    query = select(RecoveryRun).where(RecoveryRun.plan_id == plan_id, RecoveryRun.kind == kind,
                                      RecoveryRun.dry_run.is_(False))  # fmt: skip
    if ended:
        query = query.where(RecoveryRun.status != "running")
    return session.scalar(query.order_by(RecoveryRun.started_at.desc()).limit(1))


def plan_status(session: Session, plan: RecoveryPlan, now: datetime | None = None) -> dict[str, Any]:
    now = now or utcnow()
    problems: list[str] = []
    stateful, stateless, unprotected = split(serving_resources(session, plan))
    if not (stateful or stateless):
        problems.append("the plan protects no live resource")
    if unprotected:
        problems.append(f"not protected by snapshots (use the cloud's replication): "
                        f"{', '.join(r.name for r in unprotected)}")  # fmt: skip
    newest = newest_backups(session, plan)
    _, standby = standby_region(plan)
    for row in stateful:
        backup = newest.get(row.cloud_id)
        if backup is None:
            problems.append(f"{row.name} has no completed backup")
        elif plan.backup.get("cross_region_copy", True) and snapshot_in(backup, standby) is None:
            problems.append(f"the newest backup of {row.name} has no copy in {standby}")
    rpo = rpo_now(session, plan, now)
    if rpo is not None and rpo.seconds > plan.rpo_seconds:
        problems.append(f"RPO {rpo.seconds / 3600:.1f} h is past the target of {plan.rpo_seconds / 3600:.1f} h "
                        f"({rpo.resource}'s newest usable backup is from {rpo.since.isoformat()})")  # fmt: skip
    drill = _last(session, plan.id, "drill")
    if drill is None:
        problems.append("never drilled: run POST /api/cloud/disaster-recovery/test")
    else:
        if not drill.passed:
            problems.append(f"the last drill ({drill.started_at.date().isoformat()}) did not pass: "
                            f"{drill.report.get('summary') or (drill.error or {}).get('detail')}")  # fmt: skip
        if now - drill.started_at > DRILL_STALE:
            problems.append(f"the last drill is older than {DRILL_STALE.days} days")
    if plan.status == "degraded":
        problems.append("the last failover could neither finish nor go back: follow docs/runbooks/failover.md")
    if plan.status == "failed_over":
        problems.append(f"serving from the DR target {plan.active_region}: fail back when the primary is healthy")
    if not plan.routing:
        problems.append("no DNS record set: a failover restores but cannot move traffic")
    blocking = rpo is None or rpo.seconds > plan.rpo_seconds or plan.status == "degraded"
    readiness = "not_ready" if blocking else ("at_risk" if problems else "ready")
    return {
        "plan_id": str(plan.id),
        "name": plan.name,
        "status": plan.status,
        "readiness": readiness,
        "serving": {"provider_id": str(plan.active_provider_id), "region": plan.active_region},
        "standby_region": standby,
        "rpo": {
            "target_seconds": plan.rpo_seconds,
            "current_seconds": round(rpo.seconds, 3) if rpo else None,
            "met": rpo is not None and rpo.seconds <= plan.rpo_seconds,
        },
        "rto": {"target_seconds": plan.rto_seconds},
        "last_backup": _last_backup(rpo),
        "last_drill": None
        if drill is None
        else {
            "run_id": str(drill.id),
            "started_at": drill.started_at.isoformat(),
            "status": drill.status,
            "passed": drill.passed,
            "rto_seconds": drill.rto_seconds,
            "rpo_seconds": drill.rpo_seconds,
            "operation_id": str(drill.operation_id) if drill.operation_id else None,
        },
        "protected": {"from_backups": len(stateful), "made_again": len(stateless), "unprotected": len(unprotected)},
        "problems": problems,
    }


def _last_backup(rpo: Rpo | None) -> dict[str, Any] | None:
    """The plan's last backup, as the issue means it ("the last backup and its age, which is the
    RPO now"): the newest usable backup of the data store whose newest one is oldest, the one a
    recovery of the whole plan now would have to start from; its age is counted from when it
    became usable (its cross-region copy was whole), so ``age_seconds`` is ``rpo.current_seconds``.
    None while a data store has no usable backup (``problems`` says which)."""
    if rpo is None:
        return None
    backup = rpo.backup
    return {
        "backup_id": str(backup.id),
        "resource": backup.resource_name,
        "taken_at": backup.taken_at.isoformat(),
        "copied_at": backup.copied_at.isoformat() if backup.copied_at else None,
        "usable_at": rpo.since.isoformat(),
        "age_seconds": round(rpo.seconds, 3),
    }


def status(session: Session, *, plan_id: uuid.UUID | None = None) -> list[dict[str, Any]]:
    query = select(RecoveryPlan).order_by(RecoveryPlan.created_at, RecoveryPlan.id)
    if plan_id is not None:
        query = query.where(RecoveryPlan.id == plan_id)
    now = utcnow()
    return [plan_status(session, plan, now) for plan in session.scalars(query)]
