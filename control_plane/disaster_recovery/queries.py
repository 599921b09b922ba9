"""Disaster recovery's read side, as the API shows it: a plan with its standing and its last
runs, runs with their steps and report, and a plan's backups. Pages are newest first, with the
cursor of :mod:`control_plane.pagination`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from control_plane.disaster_recovery.plans import get_plan, plan_view
from control_plane.disaster_recovery.runs import timeline
from control_plane.disaster_recovery.status import plan_status
from control_plane.pagination import page_of, seek
from control_plane.services.errors import NotFound
from control_plane.store.recovery_models import RecoveryBackup, RecoveryRun, RecoveryStep

RECENT_RUNS = 10  # the runs a plan's detail shows


@dataclass
class Listing:
    items: list[dict[str, Any]]
    next_cursor: str | None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def run_summary(run: RecoveryRun) -> dict[str, Any]:
    """A run in short: what, who, why, where, when, how it ended and what it measured."""
    return {
        "id": str(run.id),
        "plan_id": str(run.plan_id) if run.plan_id else None,
        "kind": run.kind,
        "status": run.status,
        "dry_run": run.dry_run,
        "actor": run.actor,
        "reason": run.reason,
        "operation_id": str(run.operation_id) if run.operation_id else None,
        "request": run.request,
        "source": run.source or None,
        "target": run.target or None,
        "started_at": run.started_at.isoformat(),
        "finished_at": _iso(run.finished_at),
        "rto_seconds": run.rto_seconds,
        "rpo_seconds": run.rpo_seconds,
        "passed": run.passed,
        "summary": (run.report or {}).get("summary"),
        "error": run.error,
    }


def run_view(session: Session, run_id: uuid.UUID) -> dict[str, Any]:
    """A run with every step of its journal (live while it runs) and its report."""
    run = session.get(RecoveryRun, run_id)
    if run is None:
        raise NotFound(f"no disaster-recovery run with id {run_id}")
    steps = list(session.scalars(select(RecoveryStep).where(RecoveryStep.run_id == run_id).order_by(RecoveryStep.seq)))
    report = {key: value for key, value in (run.report or {}).items() if key != "steps"}  # steps: the journal's
    return {**run_summary(run), "steps": timeline(steps), "report": report}


def list_runs(
    session: Session,
    *,
    plan_id: uuid.UUID | None,
    kind: str | None,
    status: str | None,
    limit: int,
    cursor: str | None,
) -> Listing:
    query = select(RecoveryRun)
    if plan_id is not None:
        query = query.where(RecoveryRun.plan_id == plan_id)
    if kind is not None:
        query = query.where(RecoveryRun.kind == kind)
    if status is not None:
        query = query.where(RecoveryRun.status == status)
    query = seek(query, RecoveryRun.started_at, RecoveryRun.id, limit=limit, cursor=cursor, descending=True,
                 decode=datetime.fromisoformat)  # fmt: skip
    rows, next_cursor = page_of(list(session.scalars(query)), limit, lambda r: r.started_at.isoformat())
    return Listing([run_summary(row) for row in rows], next_cursor)


def plan_detail(session: Session, plan_id: uuid.UUID) -> dict[str, Any]:
    """A plan, its standing (:func:`status.plan_status`) and its last runs, newest first."""
    plan = get_plan(session, plan_id)
    recent = session.scalars(
        select(RecoveryRun).where(RecoveryRun.plan_id == plan_id)
        .order_by(RecoveryRun.started_at.desc(), RecoveryRun.id.desc()).limit(RECENT_RUNS)
    )  # fmt: skip
    return {**plan_view(plan), "standing": plan_status(session, plan), "runs": [run_summary(r) for r in recent]}


def backup_view(backup: RecoveryBackup) -> dict[str, Any]:
    return {
        "id": str(backup.id),
        "plan_id": str(backup.plan_id),
        "run_id": str(backup.run_id) if backup.run_id else None,
        "provider_id": str(backup.provider_id),
        "resource_id": str(backup.resource_id) if backup.resource_id else None,
        "cloud_id": backup.cloud_id,
        "resource_name": backup.resource_name,
        "subtype": backup.subtype,
        "size": backup.size,
        "region": backup.region,
        "status": backup.status,
        "snapshot_name": backup.snapshot_name,
        "snapshot_id": backup.snapshot_id,
        "size_gb": backup.size_gb,
        "copies": backup.copies,
        "taken_at": backup.taken_at.isoformat(),
        "completed_at": _iso(backup.completed_at),
        "copied_at": _iso(backup.copied_at),
        "expired_at": _iso(backup.expired_at),
        "error": backup.error,
    }


def list_backups(
    session: Session, *, plan_id: uuid.UUID, status: str | None, limit: int, cursor: str | None
) -> Listing:
    """A plan's backups, newest first (404 for an unknown plan)."""
    get_plan(session, plan_id)
    query = select(RecoveryBackup).where(RecoveryBackup.plan_id == plan_id)
    if status is not None:
        query = query.where(RecoveryBackup.status == status)
    query = seek(query, RecoveryBackup.taken_at, RecoveryBackup.id, limit=limit, cursor=cursor, descending=True,
                 decode=datetime.fromisoformat)  # fmt: skip
    rows, next_cursor = page_of(list(session.scalars(query)), limit, lambda b: b.taken_at.isoformat())
    return Listing([backup_view(row) for row in rows], next_cursor)
