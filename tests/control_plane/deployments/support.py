"""A sandbox world with its three providers in a migrated store, and ways to drive deployments
through the service layer as the API does (begin in one transaction, run the work after)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session, sessionmaker

from clouds.base import CloudProvider, ProvisionRequest, ResourceState
from clouds.errors import UnsupportedRequest
from control_plane.deployments import service
from control_plane.deployments.spec import DEPLOYMENT_TAG
from control_plane.services import operations
from control_plane.services.resources import AdapterFor
from control_plane.store.deployment_models import Deployment, DeploymentLog, DeploymentStep
from control_plane.store.models import Operation, Provider
from tests.control_plane.deployments import sandbox_world
from wedcloud.home import HomeLayout
from wedcloud.sqltypes import utcnow

BOOKING = """
parameters:
  env: {type: string, default: prod, allowed: [prod, staging]}
  db_size: {type: string, default: db.m5.large}
  web_count: {type: integer, default: 2, minimum: 1, maximum: 4}
resources:
  db:
    provider: sandbox-aws
    type: database
    region: eu-west-2
    size: ${parameters.db_size}
    options: {storage_gb: 20}
    retain: snapshot
    tags: {env: "${parameters.env}", tier: data}
  web:
    provider: sandbox-aws
    type: instance_group
    region: eu-west-2
    size: m5.large
    depends_on: [db]
    options: {min: 1, max: 4, desired: "${parameters.web_count}"}
    tags: {env: "${parameters.env}", db: "${resources.db.endpoint}"}
  bucket:
    provider: sandbox-aws
    type: bucket
    region: eu-west-2
    size: 0GB
    tags: {env: "${parameters.env}"}
outputs:
  db_endpoint: ${resources.db.endpoint}
"""


@dataclass
class Cloud:
    sessions: sessionmaker[Session]
    layout: HomeLayout
    adapters: AdapterFor

    def provider(self, name: str = "sandbox-aws") -> Provider:
        with self.sessions() as session:
            found = session.scalar(select(Provider).where(Provider.name == name))
            assert found is not None
            return found

    def adapter(self, name: str = "sandbox-aws") -> CloudProvider:
        with self.sessions() as session:
            return self.adapters(self.provider(name), session)

    def begin(self, call: Callable[..., service.Started], *args: Any, **kwargs: Any) -> service.Started:
        kwargs.setdefault("actor", "tester")
        kwargs.setdefault("idempotency_key", None)
        kwargs.setdefault("adapter_for", self.adapters)
        with self.sessions() as session, session.begin():
            return call(session, *args, **kwargs)

    def run(self, started: service.Started) -> Operation:
        assert started.operation is not None
        assert started.work is not None
        operations.execute(self.sessions, started.operation.id, started.work)
        with self.sessions() as session:
            operation = session.get(Operation, started.operation.id)
            assert operation is not None
            return operation

    def create(self, name: str = "booking", template: str = BOOKING, **kwargs: Any) -> tuple[uuid.UUID, Operation]:
        kwargs.setdefault("parameters", {})
        kwargs.setdefault("on_failure", None)
        started = self.begin(service.begin_create, name=name, template=template, **kwargs)
        assert started.deployment is not None
        return started.deployment.id, self.run(started)

    def die_during(self, operation_id: uuid.UUID, *, seqs: tuple[int, ...] | None = None) -> None:
        """Leave ``operation_id`` as a process that died mid-apply does: its steps (those in
        ``seqs``, else all) ``started``, the operation running under a lease that has expired."""
        with self.sessions() as session, session.begin():
            steps = update(DeploymentStep).where(DeploymentStep.operation_id == operation_id)
            if seqs is not None:
                steps = steps.where(DeploymentStep.seq.in_(seqs))
            session.execute(steps.values(status="started"))
            session.execute(
                update(Operation)
                .where(Operation.id == operation_id)
                .values(status="running", lease_owner="a-dead-process", lease_expires_at=utcnow())
            )

    def deployment(self, deployment_id: uuid.UUID) -> Deployment:
        with self.sessions() as session:
            found = session.get(Deployment, deployment_id)
            assert found is not None
            return found

    def steps(self, operation_id: uuid.UUID) -> list[DeploymentStep]:
        with self.sessions() as session:
            query = select(DeploymentStep).where(DeploymentStep.operation_id == operation_id)
            return list(session.scalars(query.order_by(DeploymentStep.seq)))

    def logs(self, deployment_id: uuid.UUID) -> list[DeploymentLog]:
        with self.sessions() as session:
            query = select(DeploymentLog).where(DeploymentLog.deployment_id == deployment_id)
            return list(session.scalars(query.order_by(DeploymentLog.id)))

    def listing(self, deployment_id: uuid.UUID | None = None) -> dict[str, tuple[str, str | None, str]]:
        """What the sandbox cloud holds that is alive: id -> (name, size, state); only one
        deployment's when given."""
        held = {}
        for name in ("sandbox-aws", "sandbox-gcp", "sandbox-azure"):
            for resource in self.adapter(name).list_resources():
                if resource.state == ResourceState.TERMINATED:
                    continue
                if deployment_id is not None and resource.tags.get(DEPLOYMENT_TAG) != str(deployment_id):
                    continue
                held[resource.id] = (resource.name, resource.size, resource.state.value)
        return held


class Refusing:
    """An adapter refusing to make resources whose name ends in one of ``names`` (a cloud's refusal)."""

    def __init__(self, adapter: CloudProvider, names: tuple[str, ...]) -> None:
        self.adapter, self.names = adapter, names

    def provision(self, request: ProvisionRequest) -> Any:
        if request.name.endswith(self.names):
            raise UnsupportedRequest(f"the cloud refuses {request.name}")
        return self.adapter.provision(request)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.adapter, name)


def sandbox_cloud(engine: Engine, tmp_path: Path) -> Cloud:
    world = sandbox_world(engine, tmp_path)
    return Cloud(world.sessions, world.layout, world.adapters)
