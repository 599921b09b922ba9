"""Disaster recovery's write side: begin a backup, a drill, a failover or a restore.

Each ``begin_*`` checks what it can before anything is written, then, in the caller's
transaction, records the run and begins its operation (``dr_<kind>``; one at a time per plan,
the plan being the operation's target). The caller commits and runs ``Started.work``
afterwards; the operation's result is the run's report.

A run whose process died is taken over by the reconciler (:func:`run_work` again): a backup
carries on (its snapshots are named, so none is taken twice); a drill, or a restore that had not
begun replacing anything, is compensated: what it made is deleted and the run ends ``failed``
saying why. A restore in place that had begun replacing is finished (the old resources may be
gone already). A failover is taken up by :func:`failover.resume`: completed once its DNS switch
read back at the target, otherwise it stays (the region left is down) or goes back (DNS where
the journal says it was, its copies deleted).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from clouds.errors import CloudError
from control_plane.disaster_recovery import backups, drill, failover, restore
from control_plane.disaster_recovery.failover import target_of
from control_plane.disaster_recovery.plans import get_plan
from control_plane.disaster_recovery.recover import teardown
from control_plane.disaster_recovery.runs import (
    OPERATION_KINDS,
    RUN_OF_OPERATION,
    TAG_OF_KIND,
    Run,
    StepFailed,
    timeline,
)
from control_plane.services import operations
from control_plane.services.errors import InvalidRequest, NotFound
from control_plane.services.resources import AdapterFor
from control_plane.store.models import Operation
from control_plane.store.recovery_models import RecoveryBackup, RecoveryPlan, RecoveryRun
from wedcloud.sqltypes import utcnow

RUNNERS = {"backup": backups.run_backup, "drill": drill.run_drill, "failover": failover.run_failover,
           "restore": restore.run_restore}  # fmt: skip
# how long a run may wait for its cloud (the reconciler's lease is renewed meanwhile); tests lower it
WAIT_SECONDS = 1800.0


@dataclass
class Started:
    run: RecoveryRun
    operation: Operation
    created: bool  # False: a replay of an Idempotency-Key
    work: operations.Work | None


def _begin(
    session: Session,
    *,
    kind: str,
    plan: RecoveryPlan | None,
    actor: str,
    idempotency_key: str | None,
    request: dict[str, Any],
    adapter_for: AdapterFor,
    source: dict[str, str] | None = None,
    target: dict[str, str] | None = None,
    dry_run: bool = False,
    reason: str | None = None,
    lock: str | None = None,
) -> Started:
    lock = lock or (f"dr_plan:{plan.id}" if plan is not None else f"dr_restore:{request.get('resource_id')}")
    operation, created = operations.begin(
        session, kind=OPERATION_KINDS[kind], actor=actor, request=request, idempotency_key=idempotency_key,
        target=lock, provider_id=plan.primary_provider_id if plan else None,
    )  # fmt: skip
    if not created:
        run = session.scalar(select(RecoveryRun).where(RecoveryRun.operation_id == operation.id))
        assert run is not None
        return Started(run, operation, False, None)
    run = RecoveryRun(
        id=uuid.uuid4(), plan_id=plan.id if plan else None, kind=kind, status="running", operation_id=operation.id,
        actor=actor, reason=reason, dry_run=dry_run, request=request, source=source or {}, target=target or {},
        started_at=utcnow(), report={},
    )  # fmt: skip
    session.add(run)
    session.flush()
    return Started(run, operation, True, run_work(adapter_for, operation.id))


def _bad_region(detail: str, message: str) -> InvalidRequest:
    return InvalidRequest(detail, errors=[{"pointer": "/region", "message": message}])


def begin_backup(session: Session, *, plan_id: uuid.UUID, actor: str, idempotency_key: str | None,
                 adapter_for: AdapterFor) -> Started:  # fmt: skip
    plan = get_plan(session, plan_id)
    return _begin(session, kind="backup", plan=plan, actor=actor, idempotency_key=idempotency_key,
                  request={"plan_id": str(plan_id)}, adapter_for=adapter_for)  # fmt: skip


def begin_drill(session: Session, *, plan_id: uuid.UUID, region: str | None, actor: str, idempotency_key: str | None,
                adapter_for: AdapterFor) -> Started:  # fmt: skip
    plan = get_plan(session, plan_id)
    allowed = {t["region"] for t in plan.dr_targets} | ({plan.primary_region} if plan.serving else set())
    allowed.discard(plan.active_region)
    if region is not None and region not in allowed:
        raise _bad_region(f"{region!r} is not where the plan could recover to now",
                          f"one of {', '.join(sorted(allowed))}")  # fmt: skip
    chosen = target_of(session, plan, region)
    source = {"provider_id": str(plan.active_provider_id), "region": plan.active_region}
    return _begin(session, kind="drill", plan=plan, actor=actor, idempotency_key=idempotency_key,
                  request={"plan_id": str(plan_id), "region": region}, adapter_for=adapter_for, source=source,
                  target=chosen)  # fmt: skip


def begin_failover(session: Session, *, plan_id: uuid.UUID, region: str | None, reason: str, dry_run: bool,
                   actor: str, idempotency_key: str | None, adapter_for: AdapterFor) -> Started:  # fmt: skip
    plan = get_plan(session, plan_id)
    named = {plan.primary_region, *(t["region"] for t in plan.dr_targets)}
    if region is not None and region not in named:
        raise _bad_region(f"{region!r} is neither the plan's primary nor a DR target region",
                          f"one of {', '.join(sorted(named))}")  # fmt: skip
    chosen = target_of(session, plan, region)
    serves_there = chosen["region"] == plan.active_region and chosen["provider_id"] == str(plan.active_provider_id)
    if serves_there and plan.status != "degraded":  # a degraded plan may finish a failover that stayed
        raise _bad_region(f"the plan already serves from {plan.active_region}", "is where the plan serves from now")
    source = {"provider_id": str(plan.active_provider_id), "region": plan.active_region}
    body = {"plan_id": str(plan_id), "region": region, "reason": reason, "dry_run": dry_run}
    return _begin(session, kind="failover", plan=plan, actor=actor, idempotency_key=idempotency_key, request=body,
                  adapter_for=adapter_for, source=source, target=chosen, dry_run=dry_run, reason=reason)  # fmt: skip


def begin_restore(session: Session, *, request: dict[str, Any], actor: str, idempotency_key: str | None,
                  adapter_for: AdapterFor) -> Started:  # fmt: skip
    """``request``: plan_id or resource_id; backup_id or point_in_time (ISO 8601); region; mode
    (new | replace); name. Checked now (every resource has a backup that fits) so a bad request
    is a 422, not a failed operation."""
    _sources, region, provider_id = restore.sources_for(session, request)
    plan = session.get(RecoveryPlan, uuid.UUID(request["plan_id"])) if request.get("plan_id") else None
    target = {"provider_id": str(provider_id), "region": region}
    lock = None
    if plan is None and request.get("mode") == "replace":
        # replacing a resource a plan protects takes the plan's lock: not while it fails over
        owner = session.scalar(
            select(RecoveryBackup.plan_id).where(RecoveryBackup.resource_id == uuid.UUID(request["resource_id"]))
            .order_by(RecoveryBackup.taken_at.desc()).limit(1)
        )  # fmt: skip
        lock = f"dr_plan:{owner}" if owner else None
    return _begin(session, kind="restore", plan=plan, actor=actor, idempotency_key=idempotency_key, request=request,
                  adapter_for=adapter_for, target=target, lock=lock)  # fmt: skip


def run_work(adapter_for: AdapterFor, operation_id: uuid.UUID, *, wait_seconds: float | None = None) -> operations.Work:
    """The work of a run's operation: the run itself, or, when its process died part-way, what
    the module docstring says."""

    def work(session: Session) -> dict[str, Any]:
        sessions = sessionmaker(session.get_bind(), expire_on_commit=False)
        with sessions() as own:
            row = own.scalar(select(RecoveryRun).where(RecoveryRun.operation_id == operation_id))
            if row is None:
                raise NotFound(f"operation {operation_id} runs no disaster-recovery run")
            kind, run_id, plan_id, status = row.kind, row.id, row.plan_id, row.status
            started = _has_steps(own, run_id)
        run = Run(sessions, adapter_for, run_id, plan_id, kind, wait_seconds=wait_seconds or WAIT_SECONDS)
        if status != "running":  # it ended; only the operation was left to record
            with sessions() as own:
                ended = own.get(RecoveryRun, run_id)
                assert ended is not None
                return {"run_id": str(run_id), "status": ended.status, **ended.report}
        if started and kind != "backup":
            return _compensate(run)
        try:
            return RUNNERS[kind](run)
        except Exception as exc:  # a bug or an unexpected answer: never leave a run running with copies up
            if kind == "backup":
                run.finish(status="failed", report={"summary": f"the backup stopped: {exc}"}, error=str(exc))
            else:
                _compensate(run, why=f"the {kind} stopped on an unexpected error ({type(exc).__name__})")
            raise

    return work


def _has_steps(session: Session, run_id: uuid.UUID) -> bool:
    from control_plane.store.recovery_models import RecoveryStep

    return session.scalar(select(RecoveryStep.id).where(RecoveryStep.run_id == run_id).limit(1)) is not None


def _compensate(run: Run, *, why: str | None = None) -> dict[str, Any]:
    """Take up a drill, failover or restore whose process died (or that stopped on an unexpected
    error). A failover follows its own rules (:func:`failover.resume`: forward past a verified
    DNS switch, else stay or go back); a restore in place that began replacing rolls forward
    (:func:`restore.resume`); anything else is undone: everything carrying the run's tag in its
    target region is deleted. Steps the process left ``started`` are ended first (``failed``,
    ``Interrupted``). If taking it up fails in turn, the run is still ended (a failover
    ``stayed``, anything else ``failed``, saying why, nothing more undone), its plan is left
    ``degraded``, and the error goes on up."""
    with run.sessions() as session:
        row = session.get(RecoveryRun, run.run_id)
        assert row is not None
        target, kind = row.target, row.kind
    why = why or f"the process running this {kind} stopped part-way"
    try:
        run.interrupted(why)
        return _take_up(run, why, kind, target)
    except Exception as exc:
        _end_unfinished(run, kind, f"{why}; taking it up failed too ({type(exc).__name__}: {exc})")
        raise


def _take_up(run: Run, why: str, kind: str, target: dict[str, Any]) -> dict[str, Any]:
    if kind == "failover" and run.plan_id is not None:
        return failover.resume(run, why)
    if kind == "restore" and (forward := restore.resume(run, why)) is not None:
        return forward
    made = [s.detail["cloud_id"] for s in run.steps() if s.detail.get("cloud_id")]
    errors = []
    cleanup: dict[str, Any] = {}
    if target.get("region"):
        try:
            cleanup = teardown(run, made, provider_id=uuid.UUID(target["provider_id"]), region=target["region"],
                               tag=(TAG_OF_KIND[kind], str(run.run_id)))  # fmt: skip
        except (StepFailed, CloudError) as exc:
            errors.append(f"cleanup: {exc}")
    summary = f"{why}; what it made was undone" + (f", with problems: {'; '.join(errors)}" if errors else "")
    return run.finish(status="failed", report={"summary": summary, "cleanup": cleanup}, error=summary)


def _end_unfinished(run: Run, kind: str, summary: str) -> None:
    """End a run still ``running`` (a failover ``stayed``: where DNS points is not known, so
    nothing more is undone) and leave its plan ``degraded`` (never ``failing_over``, which
    blocks changes to it)."""
    with run.sessions() as session:
        row = session.get(RecoveryRun, run.run_id)
        if row is None or row.status != "running":
            return
        plan = session.get(RecoveryPlan, run.plan_id) if run.plan_id else None
        if plan is not None and (kind == "failover" or plan.status == "failing_over"):
            plan.status = "degraded"
        session.commit()
    run.finish(status="stayed" if kind == "failover" else "failed",
               report={"summary": f"{summary}: see the runbook", "steps": timeline(run.steps())},
               error=summary)  # fmt: skip


def run_of_operation(operation: Operation) -> str | None:
    """The run kind an operation carries out, if it is a disaster-recovery one."""
    return RUN_OF_OPERATION.get(operation.kind)


def last_started(session: Session, plan_id: uuid.UUID, kind: str) -> datetime | None:
    query = select(RecoveryRun.started_at).where(RecoveryRun.plan_id == plan_id, RecoveryRun.kind == kind)
    return session.scalar(query.order_by(RecoveryRun.started_at.desc()).limit(1))
