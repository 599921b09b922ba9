"""Which resources a plan protects, and how each is recovered.

A plan names its resources by ids, tags or a deployment; each adds to the set. Only live
resources of the primary provider in the primary region count. After a failover the plan
serves from the copies it made (``RecoveryPlan.serving``), and those are what backups and the
next failover (the failback) work on.

Data stores (volumes, databases, instances with their disks) are recovered from snapshots;
instance groups are stateless and are made again from their size and capacity. Buckets are
not snapshotted by any cloud: they are listed as unprotected (use the cloud's replication).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from clouds.base import ResourceState
from control_plane.store.deployment_models import DeploymentResource
from control_plane.store.models import Resource
from control_plane.store.recovery_models import RecoveryPlan

FROM_SNAPSHOT = ("volume", "database", "instance")  # restored from a backup
MADE_AGAIN = ("instance_group",)  # stateless: provisioned again in the DR region
LIVE = (ResourceState.TERMINATED.value,)


def select_resources(
    session: Session, *, provider_id: uuid.UUID, region: str, protected: dict[str, Any]
) -> list[Resource]:
    """The live resources of ``provider_id`` in ``region`` that ``protected`` names, by name."""
    ids = {uuid.UUID(str(i)) for i in protected.get("resource_ids") or []}
    tags: dict[str, str] = dict(protected.get("tags") or {})
    deployment_id = protected.get("deployment_id")
    if deployment_id:
        made = select(DeploymentResource.resource_id).where(
            DeploymentResource.deployment_id == uuid.UUID(str(deployment_id)),
            DeploymentResource.resource_id.is_not(None),
        )
        ids |= {i for i in session.scalars(made) if i is not None}
    live = select(Resource).where(
        Resource.provider_id == provider_id, Resource.region == region, Resource.state.not_in(LIVE)
    )
    chosen = [row for row in session.scalars(live) if row.id in ids or _carries(row, tags)]
    return sorted(chosen, key=lambda r: (r.name, str(r.id)))


def _carries(row: Resource, tags: dict[str, str]) -> bool:
    return bool(tags) and all(k in row.tags and str(row.tags[k]) == v for k, v in tags.items())


def serving_resources(session: Session, plan: RecoveryPlan) -> list[Resource]:
    """What the plan protects now: the copies serving since the last failover, or the selection."""
    if plan.serving:
        rows = session.scalars(select(Resource).where(Resource.id.in_([uuid.UUID(i) for i in plan.serving])))
        return sorted((r for r in rows if r.state not in LIVE), key=lambda r: (r.name, str(r.id)))
    return select_resources(
        session, provider_id=plan.primary_provider_id, region=plan.primary_region, protected=plan.protected
    )


def split(resources: Iterable[Resource]) -> tuple[list[Resource], list[Resource], list[Resource]]:
    """(restored from backups, made again, not protected by the plan). An instance a group
    launched (``details["group"]``: an Auto Scaling group's member, which carries the group's
    tags) is neither: its group makes its like again."""
    stateful: list[Resource] = []
    stateless: list[Resource] = []
    other: list[Resource] = []
    for row in resources:
        if row.subtype == "instance" and (row.details or {}).get("group"):
            continue
        (stateful if row.subtype in FROM_SNAPSHOT else stateless if row.subtype in MADE_AGAIN else other).append(row)
    return stateful, stateless, other


def standby_region(plan: RecoveryPlan) -> tuple[uuid.UUID, str]:
    """Where the next failover goes (and backups are copied to): the first DR target while the
    primary serves, the primary while a DR target serves (the failback)."""
    if (plan.active_provider_id, plan.active_region) == (plan.primary_provider_id, plan.primary_region):
        first = plan.dr_targets[0]
        return uuid.UUID(first.get("provider_id") or str(plan.primary_provider_id)), first["region"]
    return plan.primary_provider_id, plan.primary_region


def names(rows: Sequence[Resource]) -> list[str]:
    return [f"{r.name} ({r.id})" for r in rows]
