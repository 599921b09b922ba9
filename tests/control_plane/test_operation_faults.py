"""The fault matrix: every operation kind against moto through a fault-injecting proxy, with a
provider error, throttling and a timeout at each AWS action the kind calls. After the fault and
one reconcile round every operation has ended, the cloud says what the store says, and nothing
is lost or made twice."""

from __future__ import annotations

import secrets
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from analytics.optimisation.model import Recommendation
from clouds.aws import credentials as aws_credentials
from clouds.base import ResourceType
from control_plane.crypto import Cipher
from control_plane.services import applying, operations, resources
from control_plane.services import optimisation as recommendations
from control_plane.services.providers import adapter_for, create_cloud_provider
from control_plane.services.reconciler import reconcile, sync_work
from control_plane.store.db import make_engine, make_sessionmaker
from control_plane.store.migrate import upgrade
from control_plane.store.models import Operation, Provider, RecommendationRow, Resource
from tests.emulators.fault_proxy import FAULTS, FaultProxy
from wedcloud.home import HomeLayout

pytestmark = [pytest.mark.integration, pytest.mark.slow]
# A launch whose answer is lost: the transport sends RunInstances again before the operation can
# look for its token tag; EC2 deduplicates by ClientToken, moto ignores it, so at moto that case
# makes two instances. Left out here until the adapter stops relying on ClientToken (reported).
MOTO_CANNOT = {("timeout", "RunInstances")}
AMI = "ami-12c6146b"
KEYS = {"access_key_id": "AKIAIOSFODNN7EXAMPLE", "secret_access_key": "testing-secret-not-real"}
KINDS = ("provision", "bulk_provision", "scale", "start", "stop", "terminate", "sync", "apply_recommendation")
# short timeouts and one attempt: a fault reaches the operation at once, and the matrix stays fast
FAST = Config(retries={"mode": "standard", "max_attempts": 1}, connect_timeout=2, read_timeout=1.0)


@dataclass
class World:
    sessions: sessionmaker[Session]
    cipher: Cipher
    proxy: FaultProxy
    provider_id: uuid.UUID
    layout: HomeLayout
    ec2: Any
    matrix: list[tuple[str, str, str]]

    def adapters(self, provider: Provider, session: Session) -> Any:
        return adapter_for(provider, session=session, layout=self.layout, cipher=self.cipher)

    def provider(self, session: Session) -> Provider:
        found = session.get(Provider, self.provider_id)
        assert found is not None
        return found


@pytest.fixture(scope="module")
def world(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    home = tmp_path_factory.mktemp("faults")
    engine = make_engine(f"sqlite:///{home / 'state.db'}")
    upgrade(engine)
    sessions = make_sessionmaker(engine)
    cipher = Cipher(secrets.token_bytes(32))
    proxy = FaultProxy(moto_endpoint, timeout_hold_seconds=1.2)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(aws_credentials, "RETRIES", FAST)
        with sessions() as session:
            provider = create_cloud_provider(
                session, cipher, kind="aws", name="faulty-aws", default_region="eu-west-2", credentials=KEYS,
                settings={"endpoint_url": proxy.url},
            )  # fmt: skip
            session.commit()
        keys = {"aws_access_key_id": KEYS["access_key_id"], "aws_secret_access_key": KEYS["secret_access_key"]}
        ec2 = boto3.client("ec2", region_name="eu-west-2", endpoint_url=moto_endpoint, **keys)
        warm = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, InstanceType="t3.micro")["Instances"][0]
        ec2.terminate_instances(InstanceIds=[warm["InstanceId"]])  # moto's first launch loads its catalogues
        built = World(sessions, cipher, proxy, provider.id, HomeLayout(Path(home)), ec2, [])
        yield built
        print(f"\nfault matrix: {len(built.matrix)} (kind, fault, step) cases, each ended with cloud == store")
    proxy.stop()
    engine.dispose()
    urllib.request.urlopen(urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")).close()  # noqa: S310


def _provision(world: World, name: str) -> tuple[uuid.UUID, uuid.UUID]:
    """(operation, row) of a provision of ``name``, executed."""
    with world.sessions() as session:
        provider = world.provider(session)
        spec = resources.ProvisionSpec(
            provider_id=provider.id, name=name, resource_type=ResourceType.COMPUTE, size="t3.micro",
            region="eu-west-2", image=AMI, tags={"case": name, "api_token": "real-token"},
        )  # fmt: skip
        operation, _, request = resources.begin_provision(
            session, provider, spec, actor="test", idempotency_key=None, cipher=world.cipher
        )
        session.commit()
        ids = (operation.id, operation.resource_id)
    operations.execute(world.sessions, ids[0], resources.provision_work(world.adapters, ids[0], request))
    assert ids[1] is not None
    return ids[0], ids[1]


def _running(world: World, name: str) -> uuid.UUID:
    _, row_id = _provision(world, name)
    reconcile(world.sessions, world.adapters, cipher=world.cipher)  # pending at EC2 -> running
    return row_id


def _act(world: World, row_id: uuid.UUID, action: str, payload: dict[str, Any]) -> uuid.UUID:
    with world.sessions() as session:
        row = session.get(Resource, row_id)
        assert row is not None
        operation, _ = resources.begin_action(session, row, action, actor="test", idempotency_key=None, payload=payload)
        session.commit()
        operation_id: uuid.UUID = operation.id
    operations.execute(
        world.sessions, operation_id, resources.action_work(world.adapters, operation_id, action, payload)
    )
    return operation_id


def _prepare(world: World, kind: str, name: str) -> Callable[[], uuid.UUID]:
    """Set up what ``kind`` acts on (without faults); the returned call runs the operation."""
    if kind == "provision":
        return lambda: _provision(world, name)[0]
    if kind == "bulk_provision":
        return lambda: _bulk(world, name)
    if kind == "sync":
        return lambda: _sync(world)
    row_id = _running(world, name)
    if kind == "start":
        _act(world, row_id, "stop", {})
    if kind == "apply_recommendation":
        return lambda: _apply(world, row_id)
    payload = {"size": "t3.small"} if kind == "scale" else {}
    return lambda: _act(world, row_id, kind, payload)


def _bulk(world: World, name: str) -> uuid.UUID:
    with world.sessions() as session:
        provider = world.provider(session)
        items: list[resources.BulkItem] = []
        for index in range(2):
            spec = resources.ProvisionSpec(
                provider_id=provider.id, name=f"{name}-{index}", resource_type=ResourceType.COMPUTE,
                size="t3.micro", region="eu-west-2", image=AMI, tags={"case": name},
            )  # fmt: skip
            items.append((index, provider.id, resources.check_spec(provider, spec), None))
        operation, _ = operations.begin(
            session, kind="bulk_provision", actor="test", request={"name": name}, cipher=world.cipher,
            sealed=resources.bulk_sealed(items, atomic=False),
        )  # fmt: skip
        session.commit()
        operation_id: uuid.UUID = operation.id
    work = resources.bulk_work(world.adapters, operation_id, items, atomic=False)
    operations.execute(world.sessions, operation_id, work)
    return operation_id


def _sync(world: World) -> uuid.UUID:
    with world.sessions() as session:
        operation, _ = operations.begin(
            session, kind="sync", actor="test", request={"provider_id": str(world.provider_id)},
            provider_id=world.provider_id, target=f"sync:{world.provider_id}",
        )  # fmt: skip
        session.commit()
        operation_id: uuid.UUID = operation.id
    operations.execute(world.sessions, operation_id, sync_work(world.adapters, world.provider_id))
    return operation_id


def _apply(world: World, row_id: uuid.UUID) -> uuid.UUID:
    with world.sessions() as session:
        row = session.get(Resource, row_id)
        assert row is not None
        rec = Recommendation.build(
            kind="rightsize", provider="faulty-aws", account_id="123456789012", resource_id=row.cloud_id,
            region="eu-west-2", action="resize", target="t3.small", monthly_saving=Decimal("5"), currency="USD",
            evidence={}, risk="low", risk_reason="test", confidence=0.9, confidence_reason="test",
        )  # fmt: skip
        recommendations.store_recommendations(session, [rec], providers=[], seen_at=datetime.now(UTC))
        stored = recommendations.get_recommendation(session, rec.id)
        operation, _ = recommendations.begin_apply(session, stored, actor="test", idempotency_key=None)
        session.commit()
        operation_id: uuid.UUID = operation.id
    work = applying.apply_work(world.adapters, operation_id, rec.id, actor="test", probe=lambda url: (True, url))
    operations.execute(world.sessions, operation_id, work)
    return operation_id


def _at_moto(world: World) -> dict[str, list[tuple[str, str, str]]]:
    """Name -> (id, state, type) of every instance moto has that is not terminated."""
    found: dict[str, list[tuple[str, str, str]]] = {}
    reservations = (
        r for page in world.ec2.get_paginator("describe_instances").paginate() for r in page["Reservations"]
    )
    for reservation in reservations:  # every page: moto answers 100 instances a page, and others' may be there
        for instance in reservation["Instances"]:
            tags = {t["Key"]: t["Value"] for t in instance.get("Tags", [])}
            if instance["State"]["Name"] not in ("terminated", "shutting-down") and "Name" in tags:
                found.setdefault(tags["Name"], []).append(
                    (instance["InstanceId"], instance["State"]["Name"], instance["InstanceType"])
                )
    return found


def _check_invariants(world: World, name: str) -> None:
    with world.sessions() as session:
        unfinished = list(session.scalars(select(Operation).where(Operation.status.in_(operations.IN_FLIGHT))))
        assert [(o.kind, o.status, o.error) for o in unfinished] == [], (name, world.proxy.seen, world.proxy.injected)
        assert list(session.scalars(select(RecommendationRow).where(RecommendationRow.status == "applying"))) == []
        rows = [
            r for r in session.scalars(select(Resource).where(Resource.provider_id == world.provider_id))
            if r.name == name or r.name.startswith(f"{name}-")
        ]  # fmt: skip
    live = {n: v for n, v in _at_moto(world).items() if n == name or n.startswith(f"{name}-")}
    kept = [r for r in rows if r.state not in ("failed", "terminated")]
    assert [r.name for r in rows if r.state == "provisioning"] == [], world.proxy.seen
    assert sorted((r.name, r.cloud_id, r.state, r.size) for r in kept) == sorted(
        (n, i, s, t) for n, found in live.items() for i, s, t in found
    ), world.proxy.seen  # the cloud equals the store: nothing lost, nothing doubled


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("kind", KINDS)
def test_after_a_fault_at_any_step_and_a_reconcile_round_the_cloud_equals_the_store(
    world: World, kind: str, fault: str
) -> None:
    clean = f"{kind}-{fault}-clean"
    world.proxy.clear()
    run = _prepare(world, kind, clean)
    world.proxy.clear()
    run()  # without a fault: which actions does this kind call?
    steps = [s for s in dict.fromkeys(world.proxy.seen) if s.isalpha()]
    assert steps, world.proxy.seen
    reconcile(world.sessions, world.adapters, cipher=world.cipher)
    _check_invariants(world, clean)
    for step in (s for s in steps if (fault, s) not in MOTO_CANNOT):
        name = f"{kind}-{fault}-{step}".lower()
        run = _prepare(world, kind, name)
        world.proxy.clear()
        world.proxy.inject(step, fault)
        run()
        assert world.proxy.injected == [(step, fault)]
        world.proxy.wait_idle()
        reconcile(world.sessions, world.adapters, cipher=world.cipher)
        _check_invariants(world, name)
        world.matrix.append((kind, fault, step))
