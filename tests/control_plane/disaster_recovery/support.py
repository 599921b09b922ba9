"""The booking stack deployed on the sandbox, a plan protecting it, and ways to drive disaster
recovery through the service layer as the API does (begin in one transaction, run the work)."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from clouds.base import CloudProvider
from control_plane.crypto import Cipher
from control_plane.disaster_recovery import plans, service
from control_plane.disaster_recovery.spec import PlanSpec
from control_plane.services import inventory, operations
from control_plane.services.providers import adapter_for, create_cloud_provider
from control_plane.services.reconciler import reconcile
from control_plane.store.db import make_sessionmaker
from control_plane.store.models import Operation, Provider
from control_plane.store.recovery_models import RecoveryPlan, RecoveryRun, RecoveryStep
from tests.control_plane.deployments.support import Cloud, sandbox_cloud
from wedcloud.home import HomeLayout
from wedcloud.sqltypes import utcnow

PRIMARY, STANDBY = "eu-west-2", "eu-west-1"
ROUTING = {"zone": "wedsync", "name": "api.wedsync.example.", "type": "A", "ttl": 60,
           "targets": {PRIMARY: "203.0.113.10", STANDBY: "198.51.100.20"}}  # fmt: skip


class ProcessDied(BaseException):
    """The process running a run was killed: nothing in it catches this, as nothing runs."""


class Dies:
    """The real adapter, except that the process dies at ``at`` (a method name), once ``after``
    (another) has been called, if given; ``calls_first``: the real call is made before dying;
    ``raising``: what is raised there instead of the process dying (a cloud's refusal, a bug)."""

    def __init__(self, adapter: CloudProvider, at: str, *, after: str | None = None, calls_first: bool = False,
                 raising: BaseException | None = None) -> None:  # fmt: skip
        self.adapter, self.at, self.after, self.calls_first = adapter, at, after, calls_first
        self.raising = raising
        self.armed = after is None

    def __getattr__(self, name: str) -> Any:
        real = getattr(self.adapter, name)
        if name not in (self.at, self.after):
            return real

        def call(*args: Any, **kwargs: Any) -> Any:
            if name == self.at and self.armed:
                if self.calls_first:
                    real(*args, **kwargs)
                raise self.raising or ProcessDied()
            found = real(*args, **kwargs)
            if name == self.after:
                self.armed = True
            return found

        return call


@dataclass
class Recovery:
    """A sandbox world with the booking stack deployed (a database, a web group and a bucket in
    eu-west-2 of ``sandbox-aws``) and what the tests need to drive disaster recovery."""

    cloud: Cloud
    deployment_id: uuid.UUID | None = None
    provider: str = "sandbox-aws"  # the primary provider's name

    def spec(self, **changes: Any) -> PlanSpec:
        body: dict[str, Any] = {
            "name": "booking",
            "primary_provider_id": str(self.cloud.provider(self.provider).id),
            "primary_region": PRIMARY,
            "dr_targets": [{"region": STANDBY}],
            "protected": {"deployment_id": str(self.deployment_id)},
            "rto_seconds": 3600,
            "rpo_seconds": 4 * 3600,
            "routing": ROUTING,
        }
        body.update(changes)
        return PlanSpec.model_validate(body)

    def plan(self, **changes: Any) -> uuid.UUID:
        with self.cloud.sessions() as session, session.begin():
            return plans.create_plan(session, spec=self.spec(**changes), actor="tester",
                                     adapter_for=self.cloud.adapters).id  # fmt: skip

    def begin(self, call: Callable[..., service.Started], **kwargs: Any) -> service.Started:
        kwargs.setdefault("actor", "tester")
        kwargs.setdefault("idempotency_key", None)
        kwargs.setdefault("adapter_for", self.cloud.adapters)
        with self.cloud.sessions() as session, session.begin():
            return call(session, **kwargs)

    def run(self, started: service.Started) -> tuple[Operation, RecoveryRun]:
        assert started.work is not None
        operations.execute(self.cloud.sessions, started.operation.id, started.work)
        with self.cloud.sessions() as session:
            operation = session.get(Operation, started.operation.id)
            run = session.get(RecoveryRun, started.run.id)
            assert operation is not None
            assert run is not None
            return operation, run

    def backup(self, plan_id: uuid.UUID) -> RecoveryRun:
        return self.run(self.begin(service.begin_backup, plan_id=plan_id))[1]

    def drill(self, plan_id: uuid.UUID) -> RecoveryRun:
        return self.run(self.begin(service.begin_drill, plan_id=plan_id, region=None))[1]

    def failover(self, plan_id: uuid.UUID, **kwargs: Any) -> RecoveryRun:
        kwargs.setdefault("region", None)
        kwargs.setdefault("reason", "the primary region is down")
        kwargs.setdefault("dry_run", False)
        return self.run(self.begin(service.begin_failover, plan_id=plan_id, **kwargs))[1]

    def stored_plan(self, plan_id: uuid.UUID) -> RecoveryPlan:
        with self.cloud.sessions() as session:
            found = session.get(RecoveryPlan, plan_id)
            assert found is not None
            return found

    def stored_run(self, run_id: uuid.UUID) -> RecoveryRun:
        with self.cloud.sessions() as session:
            found = session.get(RecoveryRun, run_id)
            assert found is not None
            return found

    def steps(self, run_id: uuid.UUID) -> list[RecoveryStep]:
        with self.cloud.sessions() as session:
            query = select(RecoveryStep).where(RecoveryStep.run_id == run_id).order_by(RecoveryStep.seq)
            return list(session.scalars(query))


def booking_recovery(engine: Engine, root: Path) -> Recovery:
    cloud = sandbox_cloud(engine, root)
    deployment_id, operation = cloud.create()
    assert operation.status == "succeeded", operation.error
    return Recovery(cloud, deployment_id)


def drill_killed_once_its_network_is_made(dr: Recovery, plan_id: uuid.UUID) -> service.Started:
    """A drill whose process died the moment the cloud made its isolated network, before the
    journal could note the network's id."""

    def dying(provider: Any, session: Any) -> Any:
        return Dies(dr.cloud.adapters(provider, session), "isolated_network", calls_first=True)

    started = dr.begin(service.begin_drill, plan_id=plan_id, region=None, adapter_for=dying)
    assert started.work is not None
    with pytest.raises(ProcessDied):
        operations.execute(dr.cloud.sessions, started.operation.id, started.work)
    return started


def taken_over(dr: Recovery, started: service.Started) -> RecoveryRun:
    """The run of a dead process once the reconciler has taken it up (its lease ran out)."""
    with dr.cloud.sessions() as session, session.begin():
        session.execute(update(Operation).where(Operation.id == started.operation.id)
                        .values(status="running", lease_owner="a-dead-process", lease_expires_at=utcnow()))  # fmt: skip
    assert str(started.operation.id) in reconcile(dr.cloud.sessions, dr.cloud.adapters).resumed
    return dr.stored_run(started.run.id)


def cloud_recovery(engine: Engine, root: Path, *, kind: str, name: str, regions: list[str],
                   credentials: dict[str, Any], settings: dict[str, Any]) -> Recovery:  # fmt: skip
    """A provider of a real cloud's adapter (on its emulator), created through the service and its
    primary region (the first of ``regions``) synced into the inventory, to drive recovery on."""
    layout = HomeLayout(root / "home").ensure()
    cipher = Cipher(secrets.token_bytes(32))
    sessions = make_sessionmaker(engine)

    def adapters(provider: Provider, session: Session) -> CloudProvider:
        return adapter_for(provider, session=session, layout=layout, cipher=cipher)

    with sessions.begin() as session:
        provider = create_cloud_provider(session, cipher, kind=kind, name=name, default_region=regions[0],
                                         regions=regions, credentials=credentials, settings=settings)  # fmt: skip
        inventory.sync(session, provider, adapters(provider, session).list_resources(region=regions[0]))
    return Recovery(Cloud(sessions, layout, adapters), provider=name)
