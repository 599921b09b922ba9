"""A restore: data stores back from a chosen backup (the newest, a named one, or the newest
before a point in time), into new resources (the default) or in place of the old ones.

New resources carry the old ones' own tags and ``wedcloud:restore=<run>``, and are added to the
inventory. In place (admin, with ``confirm``): once every new resource is ready, each old one
is snapshotted (``before-restore``, kept) and then terminated, and a plan serving from them
serves from the new ones. If a restore fails, what the run made is deleted, and the old
resources are untouched. Once the first replacement has begun, nothing is undone: a run whose
process died is taken up again (:func:`resume`) and finishes the replacements.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from clouds.errors import CloudError
from control_plane.disaster_recovery import waits
from control_plane.disaster_recovery.protected import serving_resources, split
from control_plane.disaster_recovery.recover import Source, adopt, restore_all, snapshot_in, target_sizes, teardown
from control_plane.disaster_recovery.runs import RESTORE_TAG, Run, StepFailed, timeline
from control_plane.services.errors import InvalidRequest, NotFound
from control_plane.store.models import Resource
from control_plane.store.recovery_models import RecoveryBackup, RecoveryPlan, RecoveryRun

KEPT_TAG = "wedcloud:kept-by"  # the snapshot a replacement takes of what it replaces: kept, never torn down


def chosen_backup(session: Session, resource: Resource, *, backup_id: uuid.UUID | None,
                  before: datetime | None) -> RecoveryBackup | None:  # fmt: skip
    query = select(RecoveryBackup).where(RecoveryBackup.cloud_id == resource.cloud_id,
                                         RecoveryBackup.provider_id == resource.provider_id,
                                         RecoveryBackup.status == "completed")  # fmt: skip
    if backup_id is not None:
        return session.scalar(query.where(RecoveryBackup.id == backup_id))
    if before is not None:
        query = query.where(RecoveryBackup.completed_at <= before)
    return session.scalar(query.order_by(RecoveryBackup.taken_at.desc()).limit(1))


def sources_for(session: Session, request: dict[str, Any]) -> tuple[list[Source], str, uuid.UUID]:
    """What the restore brings back, the region it goes to, and its provider; InvalidRequest naming
    the field when a resource has no backup that fits."""
    backup_id = uuid.UUID(request["backup_id"]) if request.get("backup_id") else None
    before = datetime.fromisoformat(request["point_in_time"]) if request.get("point_in_time") else None
    if request.get("resource_id"):
        resource = session.get(Resource, uuid.UUID(request["resource_id"]))
        if resource is None:
            raise NotFound(f"no resource with id {request['resource_id']}")
        resources = [resource]
    else:
        plan = session.get(RecoveryPlan, uuid.UUID(request["plan_id"]))
        if plan is None:
            raise NotFound(f"no disaster-recovery plan with id {request['plan_id']}")
        resources, _, _ = split(serving_resources(session, plan))
        if not resources:
            raise InvalidRequest("the plan protects no data store to restore",
                                 errors=[{"pointer": "/plan_id", "message": "protects no data store"}])  # fmt: skip
    region = request.get("region") or resources[0].region
    sources, problems = [], []
    for resource in resources:
        backup = chosen_backup(session, resource, backup_id=backup_id, before=before)
        snapshot = snapshot_in(backup, region) if backup else None
        if backup is None:
            field = "/backup_id" if backup_id else "/point_in_time" if before else "/resource_id"
            problems.append({"pointer": field, "message": f"{resource.name} has no completed backup that fits"})
        elif snapshot is None:
            problems.append({"pointer": "/region", "message": f"the backup of {resource.name} has no copy in {region}"})
        else:
            own = {k: str(v) for k, v in resource.tags.items() if not str(k).startswith("wedcloud:")}
            sources.append(Source(resource.id, resource.provider_id, resource.cloud_id, resource.name,
                                  resource.subtype, resource.size, resource.region, dict(resource.details), snapshot,
                                  backup.taken_at, own))  # fmt: skip
    if problems:
        raise InvalidRequest("; ".join(p["message"] for p in problems), errors=problems)
    return sources, region, resources[0].provider_id


def run_restore(run: Run) -> dict[str, Any]:
    with run.sessions() as session:
        row = session.get(RecoveryRun, run.run_id)
        assert row is not None
        request = dict(row.request)
        sources, region, provider_id = sources_for(session, request)
    in_place = request.get("mode") == "replace"
    tag = (RESTORE_TAG, str(run.run_id))
    made: list[dict[str, Any]] = []
    try:
        prefix = request.get("name") or f"restored-{run.run_id.hex[:6]}"
        sized, problems, _ = target_sizes(run, sources, provider_id, region)
        if problems:
            raise StepFailed("; ".join(problems))
        restore_all(run, sources, provider_id=provider_id, region=region, tag=tag, prefix=prefix, made=made,
                    sized=sized, keep_tags=True)  # fmt: skip
    except (StepFailed, CloudError) as exc:
        try:
            cleanup = teardown(run, [m["cloud_id"] for m in made], provider_id=provider_id, region=region, tag=tag)
        except (StepFailed, CloudError) as again:
            cleanup = {"error": str(again)}
        report = {"summary": f"restore failed ({exc}); what it made was deleted", "cleanup": cleanup,
                  "steps": timeline(run.steps())}  # fmt: skip
        return run.finish(status="failed", report=report, error=str(exc))
    new_ids = adopt(run, provider_id, made)
    replaced: list[dict[str, Any]] = []
    if in_place:
        try:
            _replace(run, sources, new_ids, replaced)
        except Exception as exc:
            summary = (f"{len(made)} resource(s) restored, {len(replaced)} of {len(sources)} old one(s) replaced "
                       f"before an error ({exc}); the new ones are kept, the rest of the old ones too")  # fmt: skip
            report = {"summary": summary, "resources": new_ids, "replaced": replaced, "steps": timeline(run.steps())}
            return run.finish(status="failed", report=report, error=str(exc))
    verb = "replaced" if in_place else "restored"
    report = {"summary": f"{len(made)} resource(s) {verb} in {region}", "region": region, "resources": new_ids,
              "made": [{k: v for k, v in m.items() if k != "data_at"} for m in made], "replaced": replaced,
              "steps": timeline(run.steps())}  # fmt: skip
    return run.finish(status="succeeded", report=report)


def _replace(run: Run, sources: list[Source], new_ids: list[str], replaced: list[dict[str, Any]],
             done: frozenset[str] = frozenset(), *, resuming: bool = False) -> None:  # fmt: skip
    """Snapshot and terminate each old resource. Every plan protecting an old one serves from
    its replacement from now on (``serving`` lists what it serves from, the new in place of the
    old), since a selection by ids, tags or deployment would no longer name the new one. Each
    replacement done is appended to ``replaced``. ``done``: the old ones (by cloud id) a
    journal shows replaced already; only their records are made again (safe to repeat).
    ``resuming``: a replacement may have begun before, so its snapshot (found by the run's
    tag) is not taken again, and a terminated resource is left as it is."""
    for source, new_id in zip(sources, new_ids, strict=True):
        with run.sessions() as session:
            plans = {
                p.id: [str(r.id) for r in serving_resources(session, p)] for p in session.scalars(select(RecoveryPlan))
            }
        kept_id: str | None
        if source.cloud_id in done:
            kept_id = next((str(s.detail.get("kept_snapshot")) for s in run.steps()
                            if s.name == f"replace {source.name}"[:200] and s.status == "done"), None)  # fmt: skip
        else:
            adapter = run.adapter(source.provider_id)
            with run.step(f"replace {source.name}", old=source.cloud_id, new=new_id) as step:
                taken = (next((s for s in adapter.list_snapshots(region=source.region, tags={KEPT_TAG: str(run.run_id)})
                               if s.resource_id == source.cloud_id), None) if resuming else None)  # fmt: skip
                kept = waits.snapshot_whole(run, adapter, taken or adapter.snapshot(
                    source.cloud_id, name=f"before-restore-{run.run_id.hex[:8]}-{source.name}"[:63],
                    tags={KEPT_TAG: str(run.run_id)},
                ))  # fmt: skip
                step["kept_snapshot"] = kept.id
                waits.terminated(run, adapter, source.cloud_id)
            kept_id = kept.id
        replaced.append({"old": source.cloud_id, "new_resource_id": new_id, "kept_snapshot": kept_id})
        old_id = str(source.resource_id)
        with run.sessions() as session:
            old = session.get(Resource, source.resource_id)
            if old is not None:
                old.state, old.desired_state = "terminated", "terminated"
            for plan_id, serving in plans.items():
                plan = session.get(RecoveryPlan, plan_id)
                if plan is not None and old_id in serving:
                    plan.serving = [new_id if i == old_id else i for i in serving]
            session.commit()


def resume(run: Run, why: str) -> dict[str, Any] | None:
    """A restore in place whose process died (or that stopped on an unexpected error) once it
    had begun replacing: rolled forward, never undone (an old resource may be terminated
    already, so its replacement is all there is). The new resources are kept and recorded, and
    the replacements the journal does not show done are carried out. None when no replacement
    had begun: then what the run made is simply deleted."""
    steps = run.steps()
    if not any(s.name.startswith("replace ") for s in steps):
        return None
    with run.sessions() as session:
        row = session.get(RecoveryRun, run.run_id)
        assert row is not None
        provider_id = uuid.UUID(row.target["provider_id"])
    restored = [s for s in steps if s.name.startswith("restore ") and s.detail.get("cloud_id")]
    made = [{"cloud_id": s.detail["cloud_id"], "name": s.detail.get("made_name")} for s in restored]
    sources: list[Source] = []
    done = frozenset(str(s.detail.get("old")) for s in steps if s.name.startswith("replace ") and s.status == "done")
    replaced: list[dict[str, Any]] = []
    new_ids: list[str] = []
    try:
        new_ids = adopt(run, provider_id, made)  # recorded first: kept whatever happens next
        with run.sessions() as session:
            for step in restored:
                query = select(Resource).where(Resource.provider_id == provider_id,
                                               Resource.cloud_id == step.detail.get("source"))  # fmt: skip
                old = session.scalars(query).one_or_none()
                if old is None:
                    raise StepFailed(f"{step.detail.get('source')}, which it replaces, is no longer in the inventory")
                sources.append(Source(old.id, old.provider_id, old.cloud_id, old.name, old.subtype, old.size,
                                      old.region, dict(old.details), step.detail.get("snapshot_id"), None,
                                      {}))  # fmt: skip
        _replace(run, sources, new_ids, replaced, done, resuming=True)
    except Exception as exc:
        summary = (f"{why}, part-way through replacing; taken up again, {len(replaced)} of {len(sources)} old "
                   f"one(s) replaced before an error ({exc}); the new ones are kept, the rest of the old ones "
                   "too")  # fmt: skip
        report = {"summary": summary, "resources": new_ids, "replaced": replaced, "steps": timeline(run.steps())}
        return run.finish(status="failed", report=report, error=str(exc))
    summary = f"{why}, part-way through replacing; it was taken up again: {len(made)} resource(s) replaced"
    report = {"summary": summary, "resources": new_ids, "made": made, "replaced": replaced,
              "steps": timeline(run.steps())}  # fmt: skip
    return run.finish(status="succeeded", report=report)
