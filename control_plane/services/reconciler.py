"""Reconciling: take over the operations whose process died, and bring rows in line.

Every operation kind has a path after a crash (``docs/operations.md``): provisions (single and
bulk) and the resource actions are resumed with the same client tokens, so nothing is made twice;
a sync is run again; an apply is resumed from the start when it had not begun the change, and
put back (compensated) when it had; a deployment's apply is finished or rolled back from its
journal (``control_plane.deployments.engine``); a disaster-recovery backup carries on, and a
drill, failover or restore that had begun is undone from its journal
(``control_plane.disaster_recovery.service``); an analysis is failed (run it again). An
operation is taken over only when its lease has expired (``services.executor``): its process no
longer renews it.

``reconcile_once`` runs one round with the deployment's own adapters (the API runs it on a timer,
``wedcloud reconcile`` once)."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from clouds.base import CloudProvider, ResourceState
from clouds.errors import CloudError
from control_plane.crypto import Cipher, load_cipher
from control_plane.deployments import engine as deployment_engine
from control_plane.disaster_recovery import service as disaster_recovery
from control_plane.disaster_recovery.runs import RUN_OF_OPERATION
from control_plane.services import applying, executor, inventory, operations
from control_plane.services import optimisation as recommendations
from control_plane.services.errors import NotFound
from control_plane.services.providers import adapter_for, get_provider
from control_plane.services.resources import (
    PENDING_PREFIX,
    AdapterFor,
    action_work,
    apply_cloud,
    bulk_items,
    bulk_work,
    provision_work,
    request_from_json,
)
from control_plane.store.models import Operation, Provider, RecommendationRow, Resource
from wedcloud.home import HomeLayout
from wedcloud.sqltypes import utcnow

log = logging.getLogger(__name__)
ACTIONS = ("scale", "start", "stop", "terminate")


class CannotResume(Exception):
    """An operation that has no way forward: it is failed, with this reason."""


@dataclass
class Reconciled:
    resumed: list[str] = field(default_factory=list)  # operations taken over after their process died
    refreshed: list[str] = field(default_factory=list)  # rows whose state the provider changed
    compensated: list[str] = field(default_factory=list)  # rows and recommendations left by dead operations


def reconcile(sessions: sessionmaker[Session], adapter_for: AdapterFor, *, cipher: Cipher | None = None) -> Reconciled:
    """Finish or compensate the operations whose lease expired, then move rows out of
    ``provisioning`` by asking their provider."""
    report = Reconciled()
    with sessions() as session:
        stuck = list(
            session.scalars(select(Operation.id).where(executor.expired(utcnow())).order_by(Operation.created_at))
        )
    for operation_id in stuck:
        if not executor.claim(sessions, operation_id):
            continue  # another process took it first
        report.resumed.append(str(operation_id))
        try:
            with sessions() as session:
                operation = operations.get_operation(session, operation_id)
                work = work_for(operation, adapter_for, cipher)
        except Exception as exc:
            why = str(exc) if isinstance(exc, CannotResume) else f"{type(exc).__name__}: {exc}"
            operations.finish(sessions, operation_id, status=operations.FAILED, result=None,
                              error={"type": "CannotResume", "detail": why})  # fmt: skip
            executor.release(operation_id)
            continue
        operations.execute(sessions, operation_id, work, claimed=True)
    report.compensated = _compensate_dead(sessions)
    report.refreshed = _refresh_waiting(sessions, adapter_for)
    return report


def work_for(operation: Operation, adapter_for: AdapterFor, cipher: Cipher | None) -> operations.Work:
    """The work that finishes ``operation`` from wherever its process stopped."""
    kind, body = operation.kind, operation.request
    if kind in ("provision", "bulk_provision"):
        sealed = operations.unsealed(operation, cipher)
        if sealed is None:
            raise CannotResume("its request was not kept sealed (or cannot be read here); provision it again")
        if kind == "provision":
            return provision_work(adapter_for, operation.id, request_from_json(sealed["request"]))
        return bulk_work(adapter_for, operation.id, bulk_items(sealed), atomic=sealed["atomic"])
    if kind in ACTIONS:
        payload = {k: v for k, v in body.items() if k != "resource_id"}
        return action_work(adapter_for, operation.id, kind, payload)
    if kind == "sync":
        return sync_work(adapter_for, uuid.UUID(body["provider_id"]))
    if kind == "apply_recommendation":
        return applying.apply_work(adapter_for, operation.id, body["recommendation"], actor=operation.actor)
    if kind == deployment_engine.KIND:  # its journal says where it stopped (control_plane.deployments.engine)
        return deployment_engine.apply_work(adapter_for, operation.id)
    if kind in RUN_OF_OPERATION:  # a backup carries on; a drill, failover or restore is undone from its journal
        return disaster_recovery.run_work(adapter_for, operation.id)
    raise CannotResume(f"a {kind} operation is not resumed after its process stopped; start it again")


def sync_work(adapter_for: AdapterFor, provider_id: uuid.UUID) -> operations.Work:
    """Import the provider's inventory (a sync operation's work; repeating it is harmless)."""

    def work(session: Session) -> dict[str, Any]:
        provider = get_provider(session, provider_id=provider_id)
        adapter = adapter_for(provider, session)
        return inventory.sync(session, provider, adapter.list_resources(), prices=inventory.catalogue_prices(adapter))

    return work


def _compensate_dead(sessions: sessionmaker[Session]) -> list[str]:
    """Rows still waiting for a provision that failed, and recommendations still ``applying``
    under an operation that ended, are told so."""
    done: list[str] = []
    with sessions() as session:
        failed = select(Operation.id).where(Operation.status == operations.FAILED)
        for row in session.scalars(
            select(Resource).where(
                Resource.state == ResourceState.PROVISIONING.value, Resource.cloud_id.startswith(PENDING_PREFIX)
            )
        ):
            owner = row.cloud_id.removeprefix(PENDING_PREFIX).split(":")[0]
            operation = session.get(Operation, _uuid(owner))
            if operation is None or operation.status not in operations.IN_FLIGHT:
                row.state = ResourceState.FAILED.value
                done.append(f"resource:{row.id}")
        for rec in session.scalars(
            select(RecommendationRow).where(
                RecommendationRow.status == recommendations.APPLYING,
                (RecommendationRow.operation_id.is_(None)) | RecommendationRow.operation_id.in_(failed),
            )
        ):
            session.execute(
                update(RecommendationRow)
                .where(RecommendationRow.id == rec.id, RecommendationRow.status == recommendations.APPLYING)
                .values(status=recommendations.FAILED)
            )
            done.append(f"recommendation:{rec.id}")
        session.commit()
    return done


def _uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def _refresh_waiting(sessions: sessionmaker[Session], adapter_for: AdapterFor) -> list[str]:
    refreshed: list[str] = []
    with sessions() as session:
        waiting = list(
            session.scalars(
                select(Resource.id).where(
                    Resource.state == ResourceState.PROVISIONING.value, ~Resource.cloud_id.startswith(PENDING_PREFIX)
                )
            )
        )
    for row_id in waiting:
        with sessions() as session:
            fresh = session.get(Resource, row_id)
            provider = session.get(Provider, fresh.provider_id) if fresh else None
            if fresh is None or provider is None:
                continue
            try:
                adapter = adapter_for(provider, session)
                apply_cloud(fresh, adapter.describe(fresh.cloud_id), adapter)
            except (CloudError, NotFound) as exc:
                log.warning("could not refresh %s: %s", fresh.cloud_id, exc)
                continue
            session.commit()
            refreshed.append(str(row_id))
    return refreshed


def reconcile_once(layout: HomeLayout, environment: str, sessions: sessionmaker[Session]) -> Reconciled:
    """A round for the deployment whose home is ``layout`` (its credentials key is read there,
    or from the environment as ``environment`` requires)."""
    cipher = load_cipher(layout.root, environment=environment)

    def adapters(provider: Provider, session: Session) -> CloudProvider:
        return adapter_for(provider, session=session, layout=layout, cipher=cipher)

    return reconcile(sessions, adapters, cipher=cipher)
