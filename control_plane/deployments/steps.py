"""The cloud calls of each step of an apply, and of each undo.

Every function here is called with a step whose intent is already committed (``started`` or
``undoing``) and ends by recording its result in one transaction: the resource rows
(``resources`` and ``deployment_resources``), the step's status and a log line. The cloud call
itself runs outside any transaction. Each call is safe to repeat after a crash: a create passes
the step's idempotency key as the provider's client token (the same key finds the resource the
first attempt made), a resize or a retag to the same values changes nothing, and a delete of
something already gone counts as done.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from clouds.base import CloudProvider, CloudResource, ProvisionRequest, ResourceState, ScaleRequest
from clouds.errors import ResourceNotFound
from control_plane.deployments.planning import desired_from_json, desired_json
from control_plane.deployments.references import attributes_of, cloud_name
from control_plane.deployments.spec import DEPLOYMENT_TAG, VERSION_TAG, DesiredResource
from control_plane.deployments.template_refs import resolve
from control_plane.monitoring import events
from control_plane.services.errors import NotFound
from control_plane.services.resources import AdapterFor, apply_cloud, pending_row, scale_resource
from control_plane.store.deployment_models import DeploymentLog, DeploymentResource, DeploymentStep
from control_plane.store.models import Provider, Resource
from wedcloud.sqltypes import utcnow


@dataclass(frozen=True)
class Apply:
    """What every step of one apply shares."""

    sessions: sessionmaker[Session]
    adapter_for: AdapterFor
    deployment_id: uuid.UUID
    deployment_name: str
    operation_id: uuid.UUID
    version: int


def log(session: Session, run: Apply, message: str, *, step: str | None = None, level: str = "info") -> DeploymentLog:
    """A log line of the apply, in ``session``'s transaction, also published on the stream."""
    line = DeploymentLog(
        deployment_id=run.deployment_id,
        operation_id=run.operation_id,
        version=run.version,
        step=step,
        level=level,
        message=message,
        at=utcnow(),
    )
    session.add(line)
    session.flush()
    payload = {
        "deployment_id": str(run.deployment_id),
        "log_id": line.id,
        "version": run.version,
        "step": step,
        "level": level,
        "message": message,
    }
    events.publish(session, "deployments", payload, severity="warning" if level == "error" else None)
    return line


def step_label(step: DeploymentStep) -> str:
    return f"{step.seq}:{step.action}:{step.logical_name}"


def _adapter(run: Apply, session: Session, provider_id: uuid.UUID | str) -> tuple[Provider, CloudProvider]:
    provider = session.get(Provider, uuid.UUID(str(provider_id)))
    if provider is None:
        raise NotFound(f"provider {provider_id} was removed while the deployment used it")
    return provider, run.adapter_for(provider, session)


def _held(session: Session, run: Apply, name: str) -> DeploymentResource | None:
    return session.scalar(
        select(DeploymentResource).where(
            DeploymentResource.deployment_id == run.deployment_id, DeploymentResource.logical_name == name
        )
    )


def _attributes(session: Session, run: Apply) -> dict[str, dict[str, str]]:
    rows = session.scalars(select(DeploymentResource).where(DeploymentResource.deployment_id == run.deployment_id))
    return {row.logical_name: dict(row.attributes) for row in rows}


def _tags(run: Apply, desired: DesiredResource) -> dict[str, str]:
    return {**desired.tags, DEPLOYMENT_TAG: str(run.deployment_id), VERSION_TAG: str(run.version)}


def _done(session: Session, step: DeploymentStep, run: Apply, message: str, **after: Any) -> None:
    fresh = session.get(DeploymentStep, step.id)
    assert fresh is not None
    undoing = fresh.status == "undoing"
    fresh.status = "undone" if undoing else "done"
    fresh.finished_at = utcnow()
    if after:
        fresh.after = {**(fresh.after or {}), **after}
    log(session, run, message, step=step_label(step))


# -- forward ---------------------------------------------------------------------------------
def make(run: Apply, step: DeploymentStep, *, suffix: str, token: str, spec: dict[str, Any]) -> None:
    """Provision the resource ``spec`` describes with client token ``token`` and hold it."""
    with run.sessions() as session:
        desired = resolve(desired_from_json(spec), _attributes(session, run))
        provider, adapter = _adapter(run, session, desired.provider_id)
        request = ProvisionRequest(
            name=cloud_name(run.deployment_name, desired.name, suffix=suffix),
            resource_type=desired.resource_type,
            region=desired.region,
            size=desired.size,
            image=desired.image,
            network=desired.network,
            tags=_tags(run, desired),
            options={**desired.options, "subtype": desired.subtype, "protected": desired.protected},
        )
        pending = f"pending:{token}"
        row = session.scalar(select(Resource).where(Resource.provider_id == provider.id, Resource.cloud_id == pending))
        if row is None:  # the intent: a row waiting for the provider's answer
            row = pending_row(provider, request, token)
            session.add(row)
            session.commit()
        row_id = row.id
    made = adapter.provision(replace(request, options={**request.options, "client_token": token}))
    with run.sessions() as session:
        row = session.get(Resource, row_id)
        assert row is not None
        row = _reuse(session, row, made)
        apply_cloud(row, made, adapter)
        _hold(session, run, desired, made, row_id=row.id, planned=spec)
        _done(
            session,
            step,
            run,
            f"made {desired.name} ({made.id})",
            cloud_id=made.id,
            resource_id=str(row.id),
            resolved=desired_json(desired),
        )
        session.commit()


def _reuse(session: Session, row: Resource, made: CloudResource) -> Resource:
    """The row for what the provider made. AWS names a bucket or a database by its name, so one
    deleted earlier and made again (a rollback putting it back) has the cloud id of the earlier,
    terminated row: that row is used again, its life begun anew, and the waiting row goes."""
    earlier = session.scalar(
        select(Resource).where(
            Resource.provider_id == row.provider_id, Resource.cloud_id == made.id, Resource.id != row.id
        )
    )
    if earlier is None:
        return row
    earlier.desired_state, earlier.protected = row.desired_state, row.protected
    earlier.launched_at = earlier.terminated_at = None
    session.delete(row)
    session.flush()
    return earlier


def _hold(
    session: Session,
    run: Apply,
    desired: DesiredResource,
    made: CloudResource,
    *,
    row_id: uuid.UUID | None,
    planned: dict[str, Any],
) -> None:
    """The deployment holds ``made`` (its row ``row_id``) as ``desired``, priced as planned."""
    held = _held(session, run, desired.name)
    if held is None:
        held = DeploymentResource(deployment_id=run.deployment_id, logical_name=desired.name)
        session.add(held)
    held.provider_id, held.resource_id, held.cloud_id = desired.provider_id, row_id, made.id
    held.subtype, held.region, held.size = desired.subtype, desired.region, _size(desired, made)
    held.tags, held.spec, held.attributes = dict(desired.tags), desired_json(desired), attributes_of(made)
    held.version = run.version
    _priced(held, planned)


def _priced(held: DeploymentResource, planned: dict[str, Any]) -> None:
    """The monthly estimate the plan gave the resource, where it gave one."""
    if planned.get("monthly_estimate") is not None:
        held.monthly_estimate, held.currency = Decimal(str(planned["monthly_estimate"])), planned.get("currency")


def _size(desired: DesiredResource, made: CloudResource) -> str:
    """The size a deployment holds: the cloud's, except for a group, whose size some clouds
    report as its capacity (AWS: an Auto Scaling group's desired count); the plan compares it
    with the template's instance type."""
    if desired.type == "instance_group":
        return desired.size
    return made.size or desired.size


def update(run: Apply, step: DeploymentStep) -> None:
    """Change size, capacity and tags in place to ``step.after``; remember what they were."""
    with run.sessions() as session:
        held = _held(session, run, step.logical_name)
        if held is None or not held.cloud_id:
            raise NotFound(f"{step.logical_name} is no longer held by the deployment")
        desired = resolve(desired_from_json(step.after or {}), _attributes(session, run))
        _, adapter = _adapter(run, session, held.provider_id)
        row = session.get(Resource, held.resource_id) if held.resource_id else None
        running = row is not None and row.state == ResourceState.RUNNING.value
        cloud_id, old_options = held.cloud_id, dict(held.spec.get("options", {}))
    result = _change(
        adapter,
        cloud_id,
        desired.size,
        desired.options.get("desired"),
        old_options.get("desired"),
        running=running,
        size_now=held.size,
        tags=_tags(run, desired),
    )
    with run.sessions() as session:
        _record(session, run, desired, result, adapter, planned=step.after or {})
        _done(session, step, run, f"updated {desired.name}", resolved=desired_json(desired))
        session.commit()


def _change(
    adapter: CloudProvider,
    cloud_id: str,
    size: str | None,
    capacity: Any,
    old_capacity: Any,
    *,
    running: bool,
    size_now: str | None,
    tags: dict[str, str],
) -> CloudResource:
    if size and size != size_now:
        scale_resource(adapter, cloud_id, ScaleRequest(size=size), running=running)
    if capacity is not None and capacity != old_capacity:
        adapter.scale(cloud_id, ScaleRequest(capacity=int(capacity)))
    return adapter.tag(cloud_id, tags)


def _record(
    session: Session,
    run: Apply,
    desired: DesiredResource,
    made: CloudResource,
    adapter: CloudProvider,
    *,
    planned: dict[str, Any],
) -> None:
    held = _held(session, run, desired.name)
    assert held is not None
    row = session.get(Resource, held.resource_id) if held.resource_id else None
    if row is not None:
        apply_cloud(row, made, adapter)
        row.protected = desired.protected
    _hold(session, run, desired, made, row_id=held.resource_id, planned=planned)


def remove(run: Apply, step: DeploymentStep, before: dict[str, Any]) -> None:
    """Delete what ``before`` held (a snapshot first when its spec says ``retain: snapshot``)."""
    spec, cloud_id = before.get("spec", {}), before.get("cloud_id")
    with run.sessions() as session:
        _, adapter = _adapter(run, session, before["provider_id"])
    snapshot = None
    if cloud_id and spec.get("retain") == "snapshot" and not (step.after or {}).get("snapshot"):
        try:
            name = cloud_name(run.deployment_name, step.logical_name, suffix=f"v{run.version}")
            snapshot = adapter.snapshot(cloud_id, name=name).id
        except ResourceNotFound:
            snapshot = None
        if snapshot:
            with run.sessions() as session:
                fresh = session.get(DeploymentStep, step.id)
                assert fresh is not None
                fresh.after = {**(fresh.after or {}), "snapshot": snapshot}
                log(
                    session,
                    run,
                    f"snapshot {snapshot} of {step.logical_name} taken before deleting it",
                    step=step_label(step),
                )
                session.commit()
    gone = _terminate(adapter, cloud_id)
    with run.sessions() as session:
        row = session.get(Resource, uuid.UUID(before["resource_id"])) if before.get("resource_id") else None
        if row is not None:
            if gone is not None:
                apply_cloud(row, gone, adapter)
            row.state, row.desired_state = ResourceState.TERMINATED.value, ResourceState.TERMINATED.value
            row.terminated_at = row.terminated_at or utcnow()
        held = _held(session, run, step.logical_name)
        if held is not None and held.cloud_id == cloud_id:  # (a retired one's name now holds its replacement)
            session.delete(held)
        _done(session, step, run, f"deleted {step.logical_name} ({cloud_id})")
        session.commit()


def _terminate(adapter: CloudProvider, cloud_id: str | None) -> CloudResource | None:
    if not cloud_id:
        return None
    try:
        return adapter.terminate(cloud_id)
    except ResourceNotFound:
        return None  # already gone: a repeated delete


FORWARD: dict[str, Callable[[Apply, DeploymentStep], None]] = {
    "create": lambda run, step: make(run, step, suffix="", token=step.idempotency_key, spec=step.after or {}),
    "replace": lambda run, step: make(
        run, step, suffix=f"r{run.version}", token=step.idempotency_key, spec=step.after or {}
    ),
    "update": update,
    "delete": lambda run, step: remove(run, step, step.before or {}),
    "retire": lambda run, step: remove(run, step, step.before or {}),
}
