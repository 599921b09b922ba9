"""Disaster-recovery plans: created, changed, read and listed.

Every rule that needs the store or a cloud is checked here before anything is written, and
every problem is listed with the JSON pointer of the field at fault (a 422 problem+json): the
provider and regions exist, a DR target is not the primary, the selection matches at least one
resource, the DNS targets cover the primary and the first DR target, and a plan with data stores
recovers first to a region of its own provider (where its snapshots are copied and restorable).
A name taken by a concurrent request between the check and the insert is the same 409 as one
taken before.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from control_plane.disaster_recovery.protected import select_resources, split
from control_plane.disaster_recovery.spec import PlanSpec
from control_plane.pagination import page_of, seek
from control_plane.services.errors import Conflict, InvalidRequest, NotFound
from control_plane.services.resources import AdapterFor
from control_plane.store.deployment_models import Deployment
from control_plane.store.models import Provider
from control_plane.store.recovery_models import RecoveryPlan


@dataclass
class PlanPage:
    items: list[dict[str, Any]]
    next_cursor: str | None


def _problem(pointer: str, message: str) -> dict[str, str]:
    return {"pointer": pointer, "message": message}


def _regions(session: Session, provider: Provider, adapter_for: AdapterFor) -> set[str] | None:
    """The provider's regions: those it was registered with, else what its cloud lists (None:
    the cloud cannot be asked now, and regions go unchecked rather than refused)."""
    if provider.regions:
        return set(provider.regions)
    try:
        return {region.id for region in adapter_for(provider, session).list_regions()}
    except Exception:
        return None


def check(session: Session, spec: PlanSpec, adapter_for: AdapterFor) -> list[dict[str, str]]:
    """Every problem of ``spec`` that the store or a cloud reveals, with its pointer."""
    problems: list[dict[str, str]] = []
    primary = session.get(Provider, spec.primary_provider_id)
    if primary is None:
        return [_problem("/primary_provider_id", f"no provider with id {spec.primary_provider_id}")]
    known = _regions(session, primary, adapter_for)
    if known is not None and spec.primary_region not in known:
        problems.append(_problem("/primary_region", f"{primary.name} has no region {spec.primary_region!r}; "
                                 f"it has {', '.join(sorted(known))}"))  # fmt: skip
    seen: set[tuple[uuid.UUID, str]] = set()
    for index, target in enumerate(spec.dr_targets):
        at = f"/dr_targets/{index}"
        provider = primary if target.provider_id in (None, primary.id) else session.get(Provider, target.provider_id)
        if provider is None:
            problems.append(_problem(f"{at}/provider_id", f"no provider with id {target.provider_id}"))
            continue
        if (provider.id, target.region) == (primary.id, spec.primary_region):
            problems.append(_problem(f"{at}/region", "a DR target must differ from the primary region"))
        if (provider.id, target.region) in seen:
            problems.append(_problem(at, "this DR target is listed twice"))
        seen.add((provider.id, target.region))
        regions = known if provider is primary else _regions(session, provider, adapter_for)
        if regions is not None and target.region not in regions:
            problems.append(_problem(f"{at}/region", f"{provider.name} has no region {target.region!r}; "
                                     f"it has {', '.join(sorted(regions))}"))  # fmt: skip
    deployment_id = spec.protected.deployment_id
    if deployment_id is not None and session.get(Deployment, deployment_id) is None:
        problems.append(_problem("/protected/deployment_id", f"no deployment with id {deployment_id}"))
    elif not problems:
        chosen = select_resources(session, provider_id=primary.id, region=spec.primary_region,
                                  protected=spec.protected.model_dump(mode="json"))  # fmt: skip
        stateful, stateless, _ = split(chosen)
        if not (stateful or stateless):
            problems.append(_problem("/protected", (
                f"matches no volume, database, instance or instance group of {primary.name} in "
                f"{spec.primary_region}; check the ids, tags or deployment"
            )))  # fmt: skip
        first_provider = spec.dr_targets[0].provider_id
        if stateful and first_provider not in (None, primary.id):
            problems.append(_problem("/dr_targets", (
                f"the plan protects {len(stateful)} data store(s) and its first DR target is on another provider: "
                f"backups are copied to the first target, a failover and a drill go there, and another cloud cannot "
                f"restore {primary.name}'s snapshots; list a region of {primary.name} first (a cold standby on "
                f"another provider may follow it)"
            )))  # fmt: skip
        chosen_ids = {row.id for row in chosen}
        for index, rid in enumerate(spec.protected.resource_ids):
            if rid not in chosen_ids:
                problems.append(_problem(f"/protected/resource_ids/{index}", (
                    f"resource {rid} is not a live resource of {primary.name} in {spec.primary_region}"
                )))  # fmt: skip
    if spec.routing is not None:
        first = spec.dr_targets[0].region
        for region in (spec.primary_region, first):
            if region not in spec.routing.targets:
                problems.append(_problem("/routing/targets", f"needs the value the record holds while {region} serves"))
        regions_named = {spec.primary_region, *(t.region for t in spec.dr_targets)}
        for region in spec.routing.targets:
            if region not in regions_named:
                problems.append(_problem(f"/routing/targets/{region}", "is neither the primary nor a DR target region"))
    return problems


def _refuse(problems: list[dict[str, str]]) -> InvalidRequest:
    count = len(problems)
    listed = "; ".join(f"{p['pointer']}: {p['message']}" for p in problems[:5])
    return InvalidRequest(f"the plan has {count} problem{'s' if count != 1 else ''}: {listed}", errors=problems)


def _taken(name: str) -> Conflict:
    return Conflict(f"a plan named {name!r} exists; choose another name or PUT to change it")


def create_plan(session: Session, *, spec: PlanSpec, actor: str, adapter_for: AdapterFor) -> RecoveryPlan:
    if session.scalar(select(RecoveryPlan.id).where(RecoveryPlan.name == spec.name)) is not None:
        raise _taken(spec.name)
    if problems := check(session, spec, adapter_for):
        raise _refuse(problems)
    plan = RecoveryPlan(id=uuid.uuid4(), created_by=actor, status="active", active_provider_id=spec.primary_provider_id,
                        active_region=spec.primary_region, serving=[], failed_checks=0, revision=1)  # fmt: skip
    _apply(plan, spec)
    try:
        # inside a savepoint, so a lost race for the name rolls back the plan alone
        with session.begin_nested():
            session.add(plan)
            session.flush()
    except IntegrityError:  # a concurrent request took the name since the check above
        raise _taken(spec.name) from None
    return plan


def update_plan(
    session: Session, *, plan_id: uuid.UUID, spec: PlanSpec, adapter_for: AdapterFor, expected_revision: int | None
) -> RecoveryPlan:
    plan = get_plan(session, plan_id, lock=True)
    if expected_revision is not None and expected_revision != plan.revision:
        raise Conflict(f"the plan is at revision {plan.revision}, not {expected_revision}: read it again, then PUT")
    clash = session.scalar(select(RecoveryPlan.id).where(RecoveryPlan.name == spec.name, RecoveryPlan.id != plan.id))
    if clash is not None:
        raise Conflict(f"another plan is named {spec.name!r}")
    if plan.status == "failing_over":
        raise Conflict("a failover of this plan is running; change it when it has ended")
    moved = (plan.primary_provider_id, plan.primary_region) != (spec.primary_provider_id, spec.primary_region)
    if moved and plan.serving:
        raise Conflict("the plan serves from a DR target: fail back before moving its primary")
    if problems := check(session, spec, adapter_for):
        raise _refuse(problems)
    try:
        with session.begin_nested():
            _apply(plan, spec)
            if moved:
                plan.active_provider_id, plan.active_region = spec.primary_provider_id, spec.primary_region
            plan.revision += 1
            session.flush()
    except IntegrityError:  # a concurrent request took the new name since the check above
        raise Conflict(f"another plan is named {spec.name!r}") from None
    return plan


def _apply(plan: RecoveryPlan, spec: PlanSpec) -> None:
    data = spec.model_dump(mode="json")
    plan.name, plan.description = spec.name, spec.description
    plan.primary_provider_id, plan.primary_region = spec.primary_provider_id, spec.primary_region
    plan.dr_targets, plan.protected = data["dr_targets"], data["protected"]
    plan.rto_seconds, plan.rpo_seconds = spec.rto_seconds, spec.rpo_seconds
    plan.backup, plan.routing, plan.auto_failover = data["backup"], data["routing"], data["auto_failover"]
    plan.drill_schedule = spec.drill_schedule


def get_plan(session: Session, plan_id: uuid.UUID, *, lock: bool = False) -> RecoveryPlan:
    plan = session.get(RecoveryPlan, plan_id, with_for_update=lock)
    if plan is None:
        raise NotFound(f"no disaster-recovery plan with id {plan_id}")
    return plan


def list_plans(session: Session, *, status: str | None, limit: int, cursor: str | None) -> PlanPage:
    """Newest first."""
    query = select(RecoveryPlan)
    if status:
        query = query.where(RecoveryPlan.status == status)
    query = seek(query, RecoveryPlan.created_at, RecoveryPlan.id, limit=limit, cursor=cursor, descending=True,
                 decode=datetime.fromisoformat)  # fmt: skip
    rows, next_cursor = page_of(list(session.scalars(query)), limit, lambda p: p.created_at.isoformat())
    return PlanPage([plan_view(row) for row in rows], next_cursor)


def plan_view(plan: RecoveryPlan) -> dict[str, Any]:
    return {
        "id": str(plan.id),
        "name": plan.name,
        "description": plan.description,
        "primary_provider_id": str(plan.primary_provider_id),
        "primary_region": plan.primary_region,
        "dr_targets": [
            {**t, "provider_id": t.get("provider_id") or str(plan.primary_provider_id)} for t in plan.dr_targets
        ],
        "protected": plan.protected,
        "rto_seconds": plan.rto_seconds,
        "rpo_seconds": plan.rpo_seconds,
        "backup": plan.backup,
        "routing": plan.routing,
        "auto_failover": plan.auto_failover,
        "drill_schedule": plan.drill_schedule,
        "status": plan.status,
        "active": {"provider_id": str(plan.active_provider_id), "region": plan.active_region},
        "serving": plan.serving,
        "revision": plan.revision,
        "created_by": plan.created_by,
        "created_at": plan.created_at.isoformat(),
        "updated_at": plan.updated_at.isoformat(),
    }
