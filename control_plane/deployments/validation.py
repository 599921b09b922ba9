"""Validation: a template rendered against its parameters, checked against its clouds and
existing names, and priced, with nothing written (``POST /deployments/validate``); the same
checks every change runs before it records anything (``rendered_for``)."""

from __future__ import annotations

import re
import uuid
from dataclasses import replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from control_plane.deployments import checks, estimate
from control_plane.deployments import template as templates
from control_plane.deployments.planning import plan
from control_plane.deployments.spec import Rendered, TemplateProblem
from control_plane.services.errors import InvalidRequest, NotFound
from control_plane.services.resources import AdapterFor
from control_plane.store.deployment_models import Deployment, DeploymentResource

NAME = re.compile(r"[a-z][a-z0-9-]{0,39}")
NAME_RULE = "1-40 lowercase letters, digits and hyphens, starting with a letter (it prefixes every resource's name)"


def get_deployment(session: Session, deployment_id: uuid.UUID, *, lock: bool = False) -> Deployment:
    deployment = session.get(Deployment, deployment_id, with_for_update=lock)
    if deployment is None:
        raise NotFound(f"no deployment with id {deployment_id}")
    return deployment


def held(session: Session, deployment_id: uuid.UUID) -> list[DeploymentResource]:
    """The resources a deployment holds now, by logical name."""
    query = select(DeploymentResource).where(DeploymentResource.deployment_id == deployment_id)
    return list(session.scalars(query.order_by(DeploymentResource.logical_name)))


def _refuse(problems: list[TemplateProblem], what: str) -> InvalidRequest:
    count = len(problems)
    return InvalidRequest(
        f"the template cannot be {what}: {count} problem{'s' if count != 1 else ''} ("
        + "; ".join(f"{p.pointer}: {p.message}" for p in problems[:5])
        + (" ..." if count > 5 else "")
        + ")",
        errors=[p.as_error() for p in problems],
    )


def rendered_for(
    session: Session,
    *,
    template: dict[str, Any] | str,
    parameters: dict[str, Any],
    name: str | None,
    deployment_id: uuid.UUID | None,
    adapter_for: AdapterFor,
    what: str = "deployed",
) -> tuple[dict[str, Any], Rendered, list[TemplateProblem]]:
    """The document, its rendering with estimates, and what could not be checked (warnings); or
    InvalidRequest listing every problem."""
    problems: list[TemplateProblem] = []
    if name is not None and not NAME.fullmatch(name):
        problems.append(TemplateProblem("/name", NAME_RULE))
    document, found = templates.load_document(template)
    problems += found
    if document is None:
        raise _refuse(problems, what)
    rendered, found = templates.render(session, document=document, parameters=parameters, deployment_name=name)
    problems += found
    warnings: list[TemplateProblem] = []
    if rendered is not None:
        checked = checks.availability(session, rendered, adapter_for, deployment_id=deployment_id)
        problems += checked.problems
        warnings = checked.warnings
        if name is not None:
            problems += checks.name_clashes(session, rendered, deployment_name=name, deployment_id=deployment_id)
    if problems or rendered is None:
        raise _refuse(problems, what)
    return document, replace(rendered, estimates=estimate.estimates(session, rendered, adapter_for)), warnings


def validate(
    session: Session,
    *,
    template: dict[str, Any] | str,
    parameters: dict[str, Any],
    deployment_id: uuid.UUID | None,
    adapter_for: AdapterFor,
    name: str | None = None,
) -> dict[str, Any]:
    """What a template would make and cost, and (given a deployment) what it would change.
    Writes nothing; a template with problems raises InvalidRequest listing each."""
    deployment = get_deployment(session, deployment_id) if deployment_id else None
    _, rendered, warnings = rendered_for(
        session,
        template=template,
        parameters=parameters,
        name=name or (deployment.name if deployment else None),
        deployment_id=deployment_id,
        adapter_for=adapter_for,
        what="validated",
    )
    diff = plan(rendered, held(session, deployment.id)).as_json() if deployment else None
    resources = [
        {
            "name": d.name,
            "provider_id": str(d.provider_id),
            "type": d.type,
            "region": d.region,
            "size": d.size,
            "monthly_estimate": _money(rendered, d.name),
            "currency": _currency(rendered, d.name),
            "basis": rendered.estimates[d.name].basis if d.name in rendered.estimates else None,
        }
        for d in rendered.resources.values()
    ]
    total = plan(rendered, []).as_json()["monthly_estimate"]
    return {
        "valid": True,
        "problems": [],
        "warnings": [w.as_error() for w in warnings],
        "resources": resources,
        "monthly_estimate": total,
        "diff": diff,
        "parameters": rendered.parameters,
    }


def _money(rendered: Rendered, name: str) -> str | None:
    found = rendered.estimates.get(name)
    return str(found.monthly) if found and found.monthly is not None else None


def _currency(rendered: Rendered, name: str) -> str | None:
    found = rendered.estimates.get(name)
    return found.currency if found else None
