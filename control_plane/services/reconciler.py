"""Reconciling: finish the provisions a crash interrupted and move resources out of
``provisioning`` (``reconcile``); ``reconcile_once`` runs one round with the deployment's own
adapters (the API runs it on a timer, ``wedcloud reconcile`` once)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from clouds.base import CloudProvider, ProvisionRequest, ResourceState, ResourceType
from clouds.errors import CloudError
from control_plane.crypto import load_cipher
from control_plane.services import operations
from control_plane.services.providers import adapter_for
from control_plane.services.resources import PENDING_PREFIX, AdapterFor, apply_cloud, provision_work
from control_plane.store.models import Operation, Provider, Resource
from wedcloud.home import HomeLayout
from wedcloud.sqltypes import utcnow

log = logging.getLogger(__name__)


@dataclass
class Reconciled:
    resumed: list[str] = field(default_factory=list)  # operations finished after a crash
    refreshed: list[str] = field(default_factory=list)  # rows whose state the provider changed


def reconcile(
    sessions: sessionmaker[Session], adapter_for: AdapterFor, *, stale_after: timedelta = timedelta(minutes=2)
) -> Reconciled:
    """Finish provisions a crash interrupted (same client token: no second resource), and move
    rows out of ``provisioning`` by asking their provider."""
    report = Reconciled()
    cutoff = utcnow() - stale_after
    with sessions() as session:
        stuck = list(
            session.scalars(
                select(Operation).where(
                    Operation.kind == "provision",
                    Operation.status.in_((operations.PENDING, operations.RUNNING)),
                    Operation.updated_at <= cutoff,
                )
            )
        )
        waiting = list(
            session.scalars(
                select(Resource).where(
                    Resource.state == ResourceState.PROVISIONING.value, ~Resource.cloud_id.startswith(PENDING_PREFIX)
                )
            )
        )
    for operation in stuck:
        request = _request_of(operation)
        operations.execute(sessions, operation.id, provision_work(adapter_for, operation.id, request))
        report.resumed.append(str(operation.id))
    for row in waiting:
        with sessions() as session:
            fresh = session.get(Resource, row.id)
            provider = session.get(Provider, row.provider_id)
            if fresh is None or provider is None:
                continue
            adapter = adapter_for(provider, session)
            try:
                apply_cloud(fresh, adapter.describe(fresh.cloud_id), adapter)
            except CloudError as exc:
                log.warning("could not refresh %s: %s", fresh.cloud_id, exc)
                continue
            session.commit()
            report.refreshed.append(str(row.id))
    return report


def _request_of(operation: Operation) -> ProvisionRequest:
    body = operation.request
    return ProvisionRequest(
        name=body["name"],
        resource_type=ResourceType(body["type"]),
        region=body["region"],
        size=body["size"],
        image=body.get("image"),
        network=body.get("network"),
        tags=body.get("tags") or {},
        options={**(body.get("options") or {}), "subtype": body["subtype"]},
    )


def reconcile_once(layout: HomeLayout, environment: str, sessions: sessionmaker[Session]) -> Reconciled:
    """A round for the deployment whose home is ``layout`` (its credentials key is read there,
    or from the environment as ``environment`` requires)."""
    cipher = load_cipher(layout.root, environment=environment)

    def adapters(provider: Provider, session: Session) -> CloudProvider:
        return adapter_for(provider, session=session, layout=layout, cipher=cipher)

    return reconcile(sessions, adapters)
