"""Undoing the steps of a failed apply, the last done first.

- a create is undone by deleting what it made;
- an update by putting back the size, capacity and tags it changed;
- a replace by deleting the new resource and holding the old one again (the old one is still
  there: retirements run last, and a retirement is undone before its replace);
- a delete or a retirement by making the resource again from the spec it was made with, with a
  client token of its own. Its data is not brought back: a data store deleted with ``retain:
  snapshot`` left a snapshot, which the log names.

Each undo is journalled like a step (``undoing`` before the cloud call, ``undone`` after).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from clouds.base import ResourceState
from control_plane.deployments.planning import desired_from_json
from control_plane.deployments.spec import DEPLOYMENT_TAG, VERSION_TAG
from control_plane.deployments.steps import (
    FORWARD,
    Apply,
    _adapter,
    _change,
    _done,
    _held,
    _terminate,
    log,
    make,
    step_label,
)
from control_plane.services.resources import apply_cloud
from control_plane.store.deployment_models import DeploymentResource, DeploymentStep
from control_plane.store.models import Resource
from wedcloud.sqltypes import utcnow


def undo(run: Apply, step: DeploymentStep) -> None:
    if step.action in ("create", "replace"):
        _unmake(run, step)
    elif step.action == "update":
        _put_back(run, step)
    elif step.action in ("delete", "retire"):
        before = step.before or {}
        make(run, step, suffix=f"u{run.version}", token=f"{step.idempotency_key}:undo", spec=before["spec"])
        if snapshot := (step.after or {}).get("snapshot"):
            with run.sessions() as session:
                log(
                    session,
                    run,
                    f"{step.logical_name} was made again without its data; its snapshot {snapshot} "
                    "holds the data it had",
                    step=step_label(step),
                    level="warning",
                )
                session.commit()
    else:  # pragma: no cover - FORWARD names every action
        raise ValueError(f"no undo for {step.action!r} (known: {', '.join(FORWARD)})")


def _unmake(run: Apply, step: DeploymentStep) -> None:
    after, before = step.after or {}, step.before
    cloud_id = after.get("cloud_id")
    if cloud_id is None:  # the intent was written but the provider never answered: find by token
        with run.sessions() as session:
            row = session.scalar(select(Resource).where(Resource.cloud_id == f"pending:{step.idempotency_key}"))
            if row is not None:
                row.state = ResourceState.FAILED.value
            _done(session, step, run, f"nothing to undo for {step.logical_name}: it was never made")
            session.commit()
        return
    with run.sessions() as session:
        spec = after.get("resolved") or after
        _, adapter = _adapter(run, session, spec["provider_id"])
    gone = _terminate(adapter, cloud_id)
    with run.sessions() as session:
        if after.get("resource_id") and (row := session.get(Resource, uuid.UUID(after["resource_id"]))) is not None:
            if gone is not None:
                apply_cloud(row, gone, adapter)
            row.state, row.desired_state = ResourceState.TERMINATED.value, ResourceState.TERMINATED.value
            row.terminated_at = row.terminated_at or utcnow()
        held = _held(session, run, step.logical_name)
        if held is not None and held.cloud_id == cloud_id:
            if before is None:
                session.delete(held)
            else:
                _hold_again(held, before)
        _done(session, step, run, f"deleted {step.logical_name} ({cloud_id}), made by this apply")
        session.commit()


def _hold_again(held: DeploymentResource, before: dict[str, Any]) -> None:
    held.provider_id = uuid.UUID(before["provider_id"])
    held.resource_id = uuid.UUID(before["resource_id"]) if before.get("resource_id") else None
    held.cloud_id, held.subtype, held.region, held.size = (
        before["cloud_id"],
        before["subtype"],
        before["region"],
        before["size"],
    )
    held.tags, held.spec, held.attributes, held.version = (
        before["tags"],
        before["spec"],
        before["attributes"],
        before["version"],
    )


def _put_back(run: Apply, step: DeploymentStep) -> None:
    before = step.before or {}
    spec = before.get("spec", {})
    old = desired_from_json(spec)
    with run.sessions() as session:
        held = _held(session, run, step.logical_name)
        _, adapter = _adapter(run, session, before["provider_id"])
        row = session.get(Resource, held.resource_id) if held and held.resource_id else None
        running = row is not None and row.state == ResourceState.RUNNING.value
        size_now = held.size if held else None
        capacity_now = (held.spec.get("options", {}) if held else {}).get("desired")
    tags = {**before.get("tags", {}), DEPLOYMENT_TAG: str(run.deployment_id), VERSION_TAG: str(before.get("version"))}
    made = _change(
        adapter,
        before["cloud_id"],
        before.get("size"),
        old.options.get("desired"),
        capacity_now,
        running=running,
        size_now=size_now,
        tags=tags,
    )
    with run.sessions() as session:
        if held is not None and (fresh := session.get(DeploymentResource, held.id)) is not None:
            _hold_again(fresh, before)
        if row is not None and (fresh_row := session.get(Resource, row.id)) is not None:
            apply_cloud(fresh_row, made, adapter)
        _done(session, step, run, f"put {step.logical_name} back as version {before.get('version')} had it")
        session.commit()


def done_steps(run: Apply) -> list[DeploymentStep]:
    """The steps of this apply that changed a cloud, the last finished first."""
    with run.sessions() as session:
        steps = session.scalars(
            select(DeploymentStep).where(
                DeploymentStep.operation_id == run.operation_id, DeploymentStep.status.in_(("done", "undoing"))
            )
        )
        return sorted(steps, key=lambda s: (s.finished_at or utcnow(), s.seq), reverse=True)
