"""Drift: how far each deployment's cloud has moved from what its last apply recorded.

:func:`check` compares every :class:`DeploymentResource` of a deployment with its cloud:

- **missing**: the cloud no longer has it (``ResourceNotFound``, or it is terminated);
- **changed**: its size, or a tag the template set (``row.tags``), differs from the record;
  tags that others added are not the template's business and are not compared;
- **extra**: the cloud holds a resource tagged ``wedcloud:deployment=<id>`` that the deployment
  does not record (left by a crashed apply, or copied by hand).

A provider that cannot answer (throttled, unreachable, credentials refused) is an **error**,
not drift: what it last reported about the resources it could not check is carried over, so an
outage neither raises nor clears a drift alert. The result is stored on ``Deployment.drift``
(``drift_checked_at``), and an event goes out on the stream's ``deployments`` topic when the
drift found changes. The ``drift`` alert rule reads the stored result (:func:`drifted`); it never
calls a cloud. :func:`check_all` runs the daily asset's round over every live deployment.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from clouds.base import CloudProvider, CloudResource, ResourceState
from clouds.errors import ResourceNotFound
from control_plane.deployments.spec import DEPLOYMENT_TAG
from control_plane.monitoring import events
from control_plane.services.errors import NotFound
from control_plane.services.resources import PENDING_PREFIX, AdapterFor
from control_plane.store.deployment_models import Deployment, DeploymentResource
from control_plane.store.models import Provider, Resource
from wedcloud.sqltypes import utcnow

log = logging.getLogger(__name__)

CHECKED_STATUSES = ("deployed", "paused", "failed")  # what the daily round looks at
FINDINGS = ("missing", "changed", "extra")


def _problem(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


@dataclass
class Listings:
    """The providers' listings of one round, by (provider id, region): each region is listed
    once however many deployments use it. A listing that failed holds its error text."""

    found: dict[tuple[uuid.UUID, str], list[CloudResource] | str] = field(default_factory=dict)

    def of(self, adapter: CloudProvider, provider_id: uuid.UUID, region: str) -> list[CloudResource] | str:
        key = (provider_id, region)
        if key not in self.found:
            try:
                self.found[key] = list(adapter.list_resources(region=region))
            except Exception as exc:  # a provider that cannot list is an error of this round, not drift
                self.found[key] = _problem(exc)
        return self.found[key]


def _size_differs(row: DeploymentResource, cloud: CloudResource) -> bool:
    """Sizes are compared where the cloud reports one in the record's terms. A sandbox bucket
    reports none. An Auto Scaling group reports its desired capacity (a number) where the engine
    holds its instance type, and is not compared: a group's capacity moves with its load
    (scaling policies), so it is not drift."""
    actual = _size_of(row, cloud)
    if row.size is None or actual is None:
        return False
    if row.subtype == "instance_group" and actual.isdigit() and not row.size.isdigit():
        return False
    return actual != row.size


def _size_of(row: DeploymentResource, cloud: CloudResource) -> str | None:
    """The cloud's size of a resource; an S3 bucket's is its storage class, kept in details."""
    if cloud.size is None and row.subtype == "bucket":
        storage_class = cloud.details.get("storage_class")
        return str(storage_class) if storage_class is not None else None
    return cloud.size


def _compare(row: DeploymentResource, cloud: CloudResource) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """(a missing finding or None, changed findings) of one recorded resource."""
    base: dict[str, Any] = {"resource": row.logical_name, "cloud_id": row.cloud_id, "provider_id": str(row.provider_id),
            "region": row.region}  # fmt: skip
    if cloud.state == ResourceState.TERMINATED:
        return {**base, "reason": "terminated"}, []
    changed = []
    if _size_differs(row, cloud):
        changed.append({**base, "field": "size", "expected": row.size, "actual": _size_of(row, cloud)})
    wanted = {str(k): str(v) for k, v in (row.tags or {}).items()}
    differing = sorted(k for k, v in wanted.items() if cloud.tags.get(k) != v)
    if differing:
        changed.append({**base, "field": "tags", "expected": {k: wanted[k] for k in differing},
                        "actual": {k: cloud.tags.get(k) for k in differing}})  # fmt: skip
    return None, changed


def _extras(
    deployment_id: uuid.UUID, listed: Iterable[CloudResource], recorded: set[str], provider_id: uuid.UUID, region: str
) -> list[dict[str, Any]]:
    """Listed resources tagged with the deployment that it does not record (``recorded`` holds
    the members of its groups too). A member of a group (an Auto Scaling group's instance carries
    the group's tags) is the group's, not an extra."""
    found = []
    for resource in listed:
        if resource.tags.get(DEPLOYMENT_TAG) != str(deployment_id) or resource.id in recorded:
            continue
        if resource.state == ResourceState.TERMINATED or resource.details.get("group"):
            continue
        found.append({"cloud_id": resource.id, "name": resource.name, "subtype": resource.subtype,
                      "provider_id": str(provider_id), "region": region, "size": resource.size,
                      "source": "listing"})  # fmt: skip
    return found


def _signature(result: dict[str, Any] | None) -> str:
    """The drift found, without when or the errors: a change of it is what the stream reports."""
    result = result or {}
    return json.dumps({k: sorted(result.get(k) or [], key=lambda f: json.dumps(f, sort_keys=True)) for k in FINDINGS},
                      sort_keys=True)  # fmt: skip


def check(
    session: Session,
    deployment_id: uuid.UUID,
    adapter_for: AdapterFor,
    *,
    listings: Listings | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Compare the deployment with its clouds, store the result on it and return it:
    ``{"checked_at", "drifted", "missing", "changed", "extra", "errors"}``.

    Extras come from the providers' own listings of each region the deployment uses, not from
    the ``resources`` table: that table is only as fresh as the last inventory sync, and a
    resource left by an apply that died before recording it is exactly what the check must
    see the day it appears. A listing costs one paged list call per service of a region, and
    the round shares each (provider, region) listing between its deployments (``listings``),
    so a day's round lists each region once, however many deployments live there. Regions and
    providers the deployment no longer uses are not listed (that would be every region of
    every provider); for them the ``resources`` table is consulted, in one query."""
    deployment = session.get(Deployment, deployment_id)
    if deployment is None:
        raise NotFound(f"no deployment has the id {deployment_id}")
    listings = listings if listings is not None else Listings()
    rows = list(session.scalars(
        select(DeploymentResource).where(DeploymentResource.deployment_id == deployment_id)
        .order_by(DeploymentResource.logical_name)
    ))  # fmt: skip
    adapters = _adapters(session, rows, adapter_for)
    found: dict[str, list[dict[str, Any]]] = {k: [] for k in FINDINGS}
    errors: list[dict[str, Any]] = []
    unchecked, members = _check_rows(rows, adapters, found, errors)
    unlisted = _find_extras(session, deployment_id, rows, members, adapters, listings, found, errors)
    previous = deployment.drift or {}
    for kind in ("missing", "changed"):  # what the clouds that did not answer last reported
        found[kind] += [f for f in previous.get(kind) or [] if f.get("resource") in unchecked]
    found["extra"] += [f for f in previous.get("extra") or [] if (f.get("provider_id"), f.get("region")) in unlisted]
    moment = now or utcnow()
    result = {"checked_at": moment.isoformat(), "drifted": any(found[k] for k in FINDINGS), **found, "errors": errors}
    if _signature(result) != _signature(deployment.drift):
        events.publish(
            session, "deployments",
            {"type": "drift", "deployment_id": str(deployment.id), "deployment": deployment.name, **result},
            severity="warning" if result["drifted"] else "info", at=moment,
        )  # fmt: skip
    # a check is not a change of the deployment: its updated_at stays
    session.execute(update(Deployment).where(Deployment.id == deployment.id)
                    .values(drift=result, drift_checked_at=moment, updated_at=Deployment.updated_at))  # fmt: skip
    session.expire(deployment, ["drift", "drift_checked_at"])
    return result


def _adapters(
    session: Session, rows: Sequence[DeploymentResource], adapter_for: AdapterFor
) -> dict[uuid.UUID, CloudProvider | str]:
    """The adapter of each provider the rows use, or why there is none."""
    used = {r.provider_id for r in rows}
    providers = {p.id: p for p in session.scalars(select(Provider).where(Provider.id.in_(used)))}
    adapters: dict[uuid.UUID, CloudProvider | str] = {}
    for provider_id in sorted(used, key=str):
        provider = providers.get(provider_id)
        if provider is None:
            adapters[provider_id] = f"provider {provider_id} is no longer registered"
            continue
        try:
            adapters[provider_id] = adapter_for(provider, session)
        except Exception as exc:  # its credentials cannot be opened, its kind has no adapter...
            adapters[provider_id] = _problem(exc)
    return adapters


def _check_rows(
    rows: Sequence[DeploymentResource],
    adapters: dict[uuid.UUID, CloudProvider | str],
    found: dict[str, list[dict[str, Any]]],
    errors: list[dict[str, Any]],
) -> tuple[set[str], set[str]]:
    """Describe each made resource and add what is missing or changed to ``found``; returns the
    logical names whose cloud did not answer, and the instances of the recorded groups (theirs,
    not extras)."""
    unchecked: set[str] = set()
    members: set[str] = set()
    for row in rows:
        adapter = adapters[row.provider_id]
        if row.cloud_id is None:
            continue  # not made yet
        if isinstance(adapter, str):
            errors.append({"resource": row.logical_name, "provider_id": str(row.provider_id), "error": adapter})
            unchecked.add(row.logical_name)
            continue
        try:
            cloud = adapter.describe(row.cloud_id)
        except ResourceNotFound:
            found["missing"].append({"resource": row.logical_name, "cloud_id": row.cloud_id,
                                     "provider_id": str(row.provider_id), "region": row.region,
                                     "reason": "not_found"})  # fmt: skip
            continue
        except Exception as exc:  # throttled, unreachable, refused: the cloud did not say
            errors.append({"resource": row.logical_name, "provider_id": str(row.provider_id), "error": _problem(exc)})
            unchecked.add(row.logical_name)
            continue
        members |= {str(i) for i in cloud.details.get("instances") or []}
        missing, changed = _compare(row, cloud)
        found["missing"] += [missing] if missing else []
        found["changed"] += changed
    return unchecked, members


def _find_extras(
    session: Session,
    deployment_id: uuid.UUID,
    rows: Sequence[DeploymentResource],
    members: set[str],
    adapters: dict[uuid.UUID, CloudProvider | str],
    listings: Listings,
    found: dict[str, list[dict[str, Any]]],
    errors: list[dict[str, Any]],
) -> set[tuple[str, str]]:
    """Add the extras of every (provider, region) the deployment uses to ``found``; returns the
    ones that could not be listed."""
    recorded = {r.cloud_id for r in rows if r.cloud_id is not None} | members
    seen: set[str] = set()
    unlisted: set[tuple[str, str]] = set()
    used = {(r.provider_id, r.region) for r in rows}
    for provider_id, region in sorted(used, key=str):
        adapter = adapters[provider_id]
        listed = adapter if isinstance(adapter, str) else listings.of(adapter, provider_id, region)
        if isinstance(listed, str):
            unlisted.add((str(provider_id), region))
            errors.append({"provider_id": str(provider_id), "region": region, "error": listed})
            continue
        for extra in _extras(deployment_id, listed, recorded, provider_id, region):
            if extra["cloud_id"] not in seen:
                seen.add(extra["cloud_id"])
                found["extra"].append(extra)
    found["extra"] += _inventory_extras(session, deployment_id, recorded | seen, used)
    return unlisted


def _inventory_extras(
    session: Session, deployment_id: uuid.UUID, known: set[str], listed: set[tuple[uuid.UUID, str]]
) -> list[dict[str, Any]]:
    """Resources of the ``resources`` table tagged with the deployment, in a provider or region
    it no longer uses (so not listed): a resource an earlier version left behind elsewhere. The
    table is as fresh as the last inventory sync, which is enough for what no listing covers."""
    query = select(Resource.cloud_id, Resource.name, Resource.subtype, Resource.provider_id, Resource.region,
                   Resource.size).where(
        Resource.tags[DEPLOYMENT_TAG].as_string() == str(deployment_id),
        Resource.state != ResourceState.TERMINATED.value, Resource.terminated_at.is_(None),
    ).order_by(Resource.cloud_id)  # fmt: skip
    return [
        {"cloud_id": row.cloud_id, "name": row.name, "subtype": row.subtype, "provider_id": str(row.provider_id),
         "region": row.region, "size": row.size, "source": "inventory"}
        for row in session.execute(query)
        if (row.provider_id, row.region) not in listed and row.cloud_id not in known
        and not row.cloud_id.startswith(PENDING_PREFIX)
    ]  # fmt: skip


def check_all(
    sessions: sessionmaker[Session], adapter_for: AdapterFor, *, now: datetime | None = None
) -> dict[str, Any]:
    """Check every deployment that is deployed, paused or failed, each in its own transaction;
    one that cannot be checked is logged and counted, and the rest go on. Returns
    ``{"checked", "drifted", "with_errors", "failed": [deployment ids]}``."""
    with sessions() as session:
        ids = list(session.scalars(
            select(Deployment.id).where(Deployment.status.in_(CHECKED_STATUSES)).order_by(Deployment.name)
        ))  # fmt: skip
    listings = Listings()
    summary: dict[str, Any] = {"checked": 0, "drifted": 0, "with_errors": 0, "failed": []}
    for deployment_id in ids:
        try:
            with sessions.begin() as session:
                result = check(session, deployment_id, adapter_for, listings=listings, now=now)
        except Exception:
            log.exception("the drift of deployment %s could not be checked", deployment_id)
            summary["failed"].append(str(deployment_id))
            continue
        summary["checked"] += 1
        summary["drifted"] += int(result["drifted"])
        summary["with_errors"] += int(bool(result["errors"]))
    return summary


@dataclass(frozen=True)
class Drifted:
    """A live deployment whose last check found drift, as the ``drift`` alert rule reads it."""

    id: uuid.UUID
    name: str
    drift: dict[str, Any]

    @property
    def findings(self) -> int:
        return sum(len(self.drift.get(k) or []) for k in FINDINGS)


def drifted(session: Session, *, deployment_id: uuid.UUID | None = None) -> list[Drifted]:
    """Deployments not destroyed whose stored drift says drifted (one, with ``deployment_id``)."""
    query = select(Deployment.id, Deployment.name, Deployment.drift).where(
        Deployment.status.not_in(("destroying", "destroyed"))
    )
    if deployment_id is not None:
        query = query.where(Deployment.id == deployment_id)
    return [Drifted(i, n, d) for i, n, d in session.execute(query.order_by(Deployment.name)) if d and d.get("drifted")]
