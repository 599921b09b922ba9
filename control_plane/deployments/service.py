"""Deployments' write side: create, update, roll back and destroy, each a new version applied
by one operation, and validation, which writes nothing.

Each ``begin_*`` checks everything it can before anything is written (the template, the
providers, the catalogue, name clashes, protected resources), then, in the caller's
transaction, records the version with its plan, journals the plan's steps and begins the
operation. The caller commits and runs ``Started.work`` (``engine.apply_work``) afterwards.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from control_plane.deployments import engine
from control_plane.deployments.planning import Plan, plan, plan_destroy
from control_plane.deployments.spec import ON_FAILURE, Rendered
from control_plane.deployments.steps import Apply, log
from control_plane.deployments.validation import get_deployment, held, rendered_for
from control_plane.services import operations
from control_plane.services.errors import Conflict, InvalidRequest, NotFound
from control_plane.services.resources import AdapterFor
from control_plane.store.deployment_models import Deployment, DeploymentStep, DeploymentVersion
from control_plane.store.models import Operation, Resource

BUSY = ("applying", "destroying")


@dataclass
class Started:
    deployment: Deployment | None  # None: plan only, for a deployment not made yet
    version: DeploymentVersion | None
    operation: Operation | None  # None: plan only, or nothing to change
    created: bool  # False: a replay of an Idempotency-Key, or nothing was started
    plan: dict[str, Any]
    work: operations.Work | None


def _replayed(
    session: Session, actor: str, idempotency_key: str | None, kind: str, body: dict[str, Any]
) -> Started | None:
    """The answer of an earlier request with this Idempotency-Key (the same body), if any."""
    if not idempotency_key:
        return None
    earlier = session.scalar(
        select(Operation).where(Operation.actor == actor, Operation.idempotency_key == idempotency_key)
    )
    if earlier is None:
        return None
    operation, _ = operations.begin(
        session, kind=engine.KIND, actor=actor, request={"action": kind, **body}, idempotency_key=idempotency_key
    )
    version = session.scalar(select(DeploymentVersion).where(DeploymentVersion.operation_id == operation.id))
    deployment = session.get(Deployment, version.deployment_id) if version else None
    return Started(deployment, version, operation, False, version.plan if version else {}, None)


def begin_create(
    session: Session,
    *,
    name: str,
    template: dict[str, Any] | str,
    parameters: dict[str, Any],
    on_failure: str | None,
    actor: str,
    idempotency_key: str | None,
    adapter_for: AdapterFor,
    plan_only: bool = False,
) -> Started:
    body = {"name": name, "template": template, "parameters": parameters, "on_failure": on_failure}
    if (earlier := _replayed(session, actor, idempotency_key, "create", body)) is not None:
        return earlier
    document, rendered, _ = rendered_for(
        session, template=template, parameters=parameters, name=name, deployment_id=None, adapter_for=adapter_for
    )
    chosen = on_failure or rendered.on_failure
    if chosen not in ON_FAILURE:
        raise InvalidRequest(
            f"on_failure is one of {', '.join(ON_FAILURE)}",
            errors=[{"pointer": "/on_failure", "message": f"one of {', '.join(ON_FAILURE)}"}],
        )
    if session.scalar(select(Deployment.id).where(Deployment.name == name)) is not None:
        raise Conflict(
            f"a deployment named {name!r} exists (a destroyed one keeps its name with its history); choose another "
            "name, or PUT /api/cloud/deployments/{id} to change it"
        )
    steps = plan(rendered, [])
    if plan_only:
        return Started(None, None, None, False, steps.as_json(), None)
    deployment = Deployment(
        id=uuid.uuid4(),
        name=name,
        environment=rendered.environment,
        status="applying",
        on_failure=chosen,
        latest_version=0,
        provider_ids=sorted({str(d.provider_id) for d in rendered.resources.values()}),
        outputs={},
        created_by=actor,
    )
    session.add(deployment)
    session.flush()
    return _start(
        session,
        deployment,
        document,
        rendered,
        steps,
        kind="create",
        actor=actor,
        body=body,
        idempotency_key=idempotency_key,
        adapter_for=adapter_for,
        parameters=parameters,
    )


def _start(
    session: Session,
    deployment: Deployment,
    document: dict[str, Any],
    rendered: Rendered,
    steps: Plan,
    *,
    kind: str,
    actor: str,
    body: dict[str, Any],
    idempotency_key: str | None,
    adapter_for: AdapterFor,
    parameters: dict[str, Any],
    rollback_of: int | None = None,
) -> Started:
    """Record version ``latest + 1`` with its plan, journal its steps and begin its operation."""
    operation, created = operations.begin(
        session,
        kind=engine.KIND,
        actor=actor,
        request={"action": kind, **body},
        idempotency_key=idempotency_key,
        target=f"deployment:{deployment.id}",
    )
    number = (
        int(
            session.scalar(
                select(func.max(DeploymentVersion.number)).where(DeploymentVersion.deployment_id == deployment.id)
            )
            or 0
        )
        + 1
    )
    version = DeploymentVersion(
        id=uuid.uuid4(),
        deployment_id=deployment.id,
        number=number,
        kind=kind,
        template=document,
        parameters=parameters,  # as given: with the template, they render the same resources again
        plan={**steps.as_json(), "parameters": rendered.parameters},
        author=actor,
        outcome="applying",
        rollback_of=rollback_of,
        operation_id=operation.id,
    )
    session.add(version)
    for step in steps.steps:
        session.add(
            DeploymentStep(
                deployment_id=deployment.id,
                operation_id=operation.id,
                version=number,
                seq=step.seq,
                logical_name=step.name,
                action=step.action,
                status="planned",
                idempotency_key=f"{operation.id}:{step.seq}",
                depends_on=step.depends_on,
                before=step.before,
                after={
                    **(step.after or {}),
                    "changes": step.changes,
                    "monthly_estimate": step.monthly_estimate,
                    "currency": steps.currency,
                },
            )
        )
    deployment.latest_version = number
    deployment.status = "destroying" if kind == "destroy" else "applying"
    if kind != "destroy":
        deployment.environment = rendered.environment
        deployment.provider_ids = sorted({str(d.provider_id) for d in rendered.resources.values()})
    session.flush()
    run = Apply(None, adapter_for, deployment.id, deployment.name, operation.id, number)  # type: ignore[arg-type]
    summary = steps.summary()
    log(
        session,
        run,
        f"version {number} ({kind}) planned by {actor}: "
        + ", ".join(f"{n} {action}" for action, n in summary.items() if n),
    )
    return Started(
        deployment, version, operation, created, steps.as_json(), engine.apply_work(adapter_for, operation.id)
    )


def _changeable(session: Session, deployment_id: uuid.UUID) -> Deployment:
    deployment = get_deployment(session, deployment_id, lock=True)
    if deployment.status in BUSY:
        raise Conflict(
            f"deployment {deployment.name!r} is {deployment.status}; wait for its operation to end",
            deployment_status=deployment.status,
        )
    if deployment.status == "destroyed":
        raise Conflict(
            f"deployment {deployment.name!r} was destroyed; its history keeps its name, so create a new deployment "
            "under another name",
            deployment_status=deployment.status,
        )
    return deployment


def _version(session: Session, deployment: Deployment, number: int | None) -> DeploymentVersion | None:
    if number is None:
        return None
    return session.scalar(
        select(DeploymentVersion).where(
            DeploymentVersion.deployment_id == deployment.id, DeploymentVersion.number == number
        )
    )


def _refuse_protected(session: Session, steps: Plan, what: str) -> None:
    """Conflict when the plan deletes a protected resource."""
    for step in steps.steps:
        if step.action in ("delete", "retire") and step.before and step.before.get("resource_id"):
            row = session.get(Resource, uuid.UUID(step.before["resource_id"]))
            if (row is not None and row.protected) or step.before.get("spec", {}).get("protected"):
                raise Conflict(
                    f"{step.name!r} is protected: {what} would delete it; set protected: false in the template "
                    "and apply that first",
                    resource=step.name,
                )


def begin_update(
    session: Session,
    deployment_id: uuid.UUID,
    *,
    template: dict[str, Any] | str | None,
    parameters: dict[str, Any] | None,
    actor: str,
    idempotency_key: str | None,
    adapter_for: AdapterFor,
    plan_only: bool = False,
    kind: str = "update",
    rollback_of: int | None = None,
) -> Started:
    body = {
        "deployment_id": str(deployment_id),
        "template": template,
        "parameters": parameters,
        "rollback_of": rollback_of,
    }
    if (earlier := _replayed(session, actor, idempotency_key, kind, body)) is not None:
        return earlier
    deployment = _changeable(session, deployment_id)
    base = _version(session, deployment, deployment.current_version or deployment.latest_version)
    if template is None and base is None:
        raise InvalidRequest(
            "this deployment has no version to start from; give a template",
            errors=[{"pointer": "/template", "message": "required"}],
        )
    chosen_template = template if template is not None else base.template  # type: ignore[union-attr]
    chosen_parameters = parameters if parameters is not None else (base.parameters if base else {})
    document, rendered, _ = rendered_for(
        session,
        template=chosen_template,
        parameters=chosen_parameters,
        name=deployment.name,
        deployment_id=deployment.id,
        adapter_for=adapter_for,
    )
    steps = plan(rendered, held(session, deployment.id))
    _refuse_protected(session, steps, "this change")
    if plan_only or not steps.steps:
        return Started(deployment, None, None, False, steps.as_json(), None)
    return _start(
        session,
        deployment,
        document,
        rendered,
        steps,
        kind=kind,
        actor=actor,
        body=body,
        idempotency_key=idempotency_key,
        adapter_for=adapter_for,
        parameters=chosen_parameters,
        rollback_of=rollback_of,
    )


def begin_rollback(
    session: Session,
    deployment_id: uuid.UUID,
    *,
    version: int | None,
    actor: str,
    idempotency_key: str | None,
    adapter_for: AdapterFor,
) -> Started:
    """Back to ``version``, or to the version before the current one (after a failed or paused
    apply: to the current one, the last good)."""
    deployment = get_deployment(session, deployment_id)
    if version is None:
        version = _previous(session, deployment)
    target = _version(session, deployment, version)
    if target is None or target.kind == "destroy":
        raise NotFound(
            f"deployment {deployment.name!r} has no version {version} to return to",
            errors=[{"pointer": "/version", "message": "a version this deployment applied"}],
        )
    if target.outcome not in ("applied", "superseded"):
        raise Conflict(f"version {version} was never applied ({target.outcome}); return to one that was")
    return begin_update(
        session,
        deployment_id,
        template=target.template,
        parameters=target.parameters,
        actor=actor,
        idempotency_key=idempotency_key,
        adapter_for=adapter_for,
        kind="rollback",
        rollback_of=target.number,
    )


def _previous(session: Session, deployment: Deployment) -> int:
    current = deployment.current_version
    if current is not None and deployment.status != "deployed":
        return current  # the failed or paused change is what goes
    earlier = session.scalar(
        select(func.max(DeploymentVersion.number)).where(
            DeploymentVersion.deployment_id == deployment.id,
            DeploymentVersion.outcome == "applied",
            DeploymentVersion.kind != "destroy",
            DeploymentVersion.number < (current or 0),
        )
    )
    if earlier is None:
        raise Conflict(f"deployment {deployment.name!r} has no earlier version to return to; give a version")
    return int(earlier)


def begin_destroy(
    session: Session, deployment_id: uuid.UUID, *, actor: str, idempotency_key: str | None, adapter_for: AdapterFor
) -> Started:
    body = {"deployment_id": str(deployment_id)}
    if (earlier := _replayed(session, actor, idempotency_key, "destroy", body)) is not None:
        return earlier
    deployment = _changeable(session, deployment_id)
    steps = plan_destroy(held(session, deployment.id))
    _refuse_protected(session, steps, "destroying the deployment")
    base = _version(session, deployment, deployment.current_version or deployment.latest_version)
    document = base.template if base else {"resources": {}}
    rendered = Rendered(resources={}, outputs={}, parameters=base.parameters if base else {})
    return _start(
        session,
        deployment,
        document,
        rendered,
        steps,
        kind="destroy",
        actor=actor,
        body=body,
        idempotency_key=idempotency_key,
        adapter_for=adapter_for,
        parameters=rendered.parameters,
    )
