"""Backups: a snapshot of each protected data store, copied to the standby region, recorded with
when each was whole; retention; and the RPO they give.

A backup row is written (``pending``, with the snapshot's name) before the cloud is asked, so a
run that dies and is resumed asks again with the same name and gets the same snapshot (every
adapter's snapshot and copy are safe to repeat): nothing is taken twice.

RPO now = now - the time the newest cross-region copy was whole (the snapshot itself, when the
plan does not copy), for the resource whose newest backup is oldest: that much data is lost if
the region is lost now.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from clouds.errors import CloudError
from control_plane.disaster_recovery import waits
from control_plane.disaster_recovery.protected import serving_resources, split, standby_region
from control_plane.disaster_recovery.runs import BACKUP_TAG, PLAN_TAG, Run, StepFailed
from control_plane.store.models import Resource
from control_plane.store.recovery_models import RecoveryBackup, RecoveryPlan
from wedcloud.sqltypes import utcnow


def slug(text: str, length: int) -> str:
    """``text`` as lowercase letters, digits and single hyphens, at most ``length`` characters."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:length].rstrip("-")


def snapshot_name(plan: RecoveryPlan, resource: Resource, run_id: uuid.UUID) -> str:
    """``wedcloud-<plan>-<resource>-<resource id>-<run>``: letters, digits and single hyphens, at
    most 63 characters, starting with a letter (the strictest of the clouds' rules). The names
    are cut to fit, so the resource's id keeps two resources of one run apart."""
    return f"wedcloud-{slug(f'{plan.name}-{resource.name}', 32)}-{resource.id.hex[:6]}-{run_id.hex[:8]}"


def run_backup(run: Run) -> dict[str, Any]:
    with run.sessions() as session:
        plan = run.plan(session)
        stateful, _, _ = split(serving_resources(session, plan))
        copy_to = standby_region(plan) if plan.backup.get("cross_region_copy", True) else None
        work = [(r.id, r.provider_id, r.cloud_id, r.name) for r in stateful]
        names = {r.id: snapshot_name(plan, r, run.run_id) for r in stateful}
        resources = {r.id: r for r in stateful}
        session.expunge_all()
    made, failed = [], []
    for resource_id, _provider_id, _cloud_id, name in work:
        backup_id = _pending_row(run, resources[resource_id], names[resource_id])
        try:
            made.append(_take(run, backup_id, copy_to))
        except (CloudError, StepFailed) as exc:
            failed.append({"resource": name, "error": str(exc)})
            _mark(run, backup_id, status="failed", error={"detail": str(exc)})
    expired, kept = expire(run)
    with run.sessions() as session:
        rpo = rpo_now(session, run.plan(session))
    summary = f"{len(made)} backup(s) taken, {len(failed)} failed, {len(expired)} expired"
    if kept:
        summary += f", {len(kept)} not expired (the cloud refused; the next backup tries again)"
    report = {"summary": summary, "backups": made, "failed": failed, "expired": expired, "not_expired": kept,
              "rpo_seconds": rpo.seconds if rpo else None}  # fmt: skip
    return run.finish(status="failed" if failed else "succeeded", report=report,
                      error="; ".join(f"{f['resource']}: {f['error']}" for f in failed) or None,
                      rpo_seconds=rpo.seconds if rpo else None)  # fmt: skip


def _pending_row(run: Run, resource: Resource, name: str) -> uuid.UUID:
    """The run's backup row of ``resource``: the one a resumed run wrote, or a new one."""
    with run.sessions() as session:
        found = session.scalar(
            select(RecoveryBackup.id).where(
                RecoveryBackup.run_id == run.run_id, RecoveryBackup.resource_id == resource.id
            )
        )
        if found is not None:
            return found
        row = RecoveryBackup(
            id=uuid.uuid4(), plan_id=run.plan_id, run_id=run.run_id, provider_id=resource.provider_id,
            resource_id=resource.id, cloud_id=resource.cloud_id, resource_name=resource.name,
            subtype=resource.subtype, size=resource.size, region=resource.region, snapshot_name=name,
            copies=[], status="pending", taken_at=utcnow(),
        )  # fmt: skip
        session.add(row)
        session.commit()
        return row.id


def _mark(run: Run, backup_id: uuid.UUID, **changes: Any) -> None:
    with run.sessions() as session:
        row = session.get(RecoveryBackup, backup_id)
        assert row is not None
        for key, value in changes.items():
            setattr(row, key, value)
        session.commit()


def _take(run: Run, backup_id: uuid.UUID, copy_to: tuple[uuid.UUID, str] | None) -> dict[str, Any]:
    with run.sessions() as session:
        row = session.get(RecoveryBackup, backup_id)
        assert row is not None
        provider_id, cloud_id, name, source_region = row.provider_id, row.cloud_id, row.snapshot_name, row.region
    adapter = run.adapter(provider_id)
    tags = {PLAN_TAG: str(run.plan_id), BACKUP_TAG: str(backup_id)}
    with run.step(f"snapshot {name}", resource=cloud_id) as step:
        taken = waits.snapshot_whole(run, adapter, adapter.snapshot(cloud_id, name=name, tags=tags))
        step["snapshot_id"] = taken.id
    _mark(run, backup_id, snapshot_id=taken.id, size_gb=taken.size_gb, taken_at=taken.created_at,
          completed_at=taken.completed_at)  # fmt: skip
    copies: list[dict[str, Any]] = []
    if copy_to is not None and copy_to[0] == provider_id and copy_to[1] != source_region:
        region = copy_to[1]
        with run.step(f"copy {name} to {region}", snapshot_id=taken.id) as step:
            copy = adapter.copy_snapshot(taken.id, region=region, name=f"{name}-{region}"[:63], tags=tags)
            copy = waits.snapshot_whole(run, adapter, copy)
            step["copy_id"] = copy.id
        copies.append({"region": region, "snapshot_id": copy.id, "completed_at": copy.completed_at.isoformat()
                       if copy.completed_at else None})  # fmt: skip
    copied_at = max((datetime.fromisoformat(c["completed_at"]) for c in copies if c["completed_at"]), default=None)
    _mark(run, backup_id, copies=copies, copied_at=copied_at, status="completed")
    return {"backup_id": str(backup_id), "resource": cloud_id, "snapshot_id": taken.id, "copies": copies}


def expire(run: Run) -> tuple[list[str], list[dict[str, str]]]:
    """Delete the snapshots (and copies) of backups past the plan's retention; the newest
    completed backup of each resource is always kept. Returns the backups expired, and those
    the cloud would not delete (they stay ``completed``, so the next backup run tries again: the
    backups this run took are not undone for them)."""
    with run.sessions() as session:
        plan = run.plan(session)
        keep, days = plan.backup.get("retention_count"), plan.backup.get("retention_days")
        rows = list(session.scalars(
            select(RecoveryBackup).where(RecoveryBackup.plan_id == plan.id, RecoveryBackup.status == "completed")
            .order_by(RecoveryBackup.cloud_id, RecoveryBackup.taken_at.desc())
        ))  # fmt: skip
        session.expunge_all()
    cutoff = utcnow() - timedelta(days=days) if days else None
    rank: dict[str, int] = {}
    doomed = []
    for row in rows:
        rank[row.cloud_id] = rank.get(row.cloud_id, 0) + 1
        if rank[row.cloud_id] == 1:
            continue
        if (keep and rank[row.cloud_id] > keep) or (cutoff and row.taken_at < cutoff):
            doomed.append(row)
    gone, kept = [], []
    for row in doomed:
        try:
            adapter = run.adapter(row.provider_id)
            with run.step(f"expire {row.snapshot_name}", backup_id=str(row.id)):
                for snapshot_id in [c["snapshot_id"] for c in row.copies] + [row.snapshot_id]:
                    if snapshot_id:
                        adapter.delete_snapshot(snapshot_id)
        except (CloudError, StepFailed) as exc:
            kept.append({"backup_id": str(row.id), "error": str(exc)})
            continue
        _mark(run, row.id, status="expired", expired_at=utcnow())
        gone.append(str(row.id))
    return gone, kept


@dataclass(frozen=True)
class Rpo:
    seconds: float
    resource: str  # the resource whose newest backup is oldest
    since: datetime  # when that backup (its copy) was whole
    backup: RecoveryBackup  # that backup


def newest_backups(session: Session, plan: RecoveryPlan) -> dict[str, RecoveryBackup]:
    """The newest completed backup of each resource the plan serves from, by cloud id."""
    rows = session.scalars(
        select(RecoveryBackup).where(RecoveryBackup.plan_id == plan.id, RecoveryBackup.status == "completed")
        .order_by(RecoveryBackup.taken_at.desc())
    )  # fmt: skip
    newest: dict[str, RecoveryBackup] = {}
    for row in rows:
        newest.setdefault(row.cloud_id, row)
    return newest


def recovery_point(plan: RecoveryPlan, backup: RecoveryBackup) -> datetime | None:
    """When the backup became usable for recovery: its copy, or itself when the plan does not copy."""
    if plan.backup.get("cross_region_copy", True) and backup.copies:
        return backup.copied_at
    if plan.backup.get("cross_region_copy", True):
        return None  # not copied: lost with the region
    return backup.completed_at


def rpo_now(session: Session, plan: RecoveryPlan, now: datetime | None = None) -> Rpo | None:
    """The plan's RPO now, or None when a protected data store has no usable backup."""
    now = now or utcnow()
    stateful, _, _ = split(serving_resources(session, plan))
    if not stateful:
        return None
    newest = newest_backups(session, plan)
    worst: Rpo | None = None
    for resource in stateful:
        backup = newest.get(resource.cloud_id)
        point = recovery_point(plan, backup) if backup else None
        if backup is None or point is None:
            return None
        candidate = Rpo((now - point).total_seconds(), resource.name, point, backup)
        if worst is None or candidate.seconds > worst.seconds:
            worst = candidate
    return worst
