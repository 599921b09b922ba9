"""Drift on the sandbox cloud, on SQLite and PostgreSQL: a deployment's resources are made
through the sandbox's adapter and recorded as an apply records them; then the cloud is changed
behind WedCloud's back (resized, retagged, terminated, an extra tagged resource made) and the
check must report exactly that, store it, and publish a change only when the drift changes."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from clouds.base import CloudProvider, ProvisionRequest, ResourceType, ScaleRequest
from clouds.errors import AuthenticationFailed, Throttled
from clouds.sandbox.provider import SandboxCloud
from clouds.sandbox.world import build_world, save_world
from control_plane.deployments import drift
from control_plane.deployments.spec import DEPLOYMENT_TAG, VERSION_TAG
from control_plane.services import inventory
from control_plane.services.errors import NotFound
from control_plane.services.providers import adapter_for
from control_plane.services.sandbox import register_sandbox_providers
from control_plane.store.db import make_sessionmaker
from control_plane.store.deployment_models import Deployment, DeploymentResource
from control_plane.store.models import Provider, Resource
from control_plane.store.monitoring_models import StreamEvent
from wedcloud.home import HomeLayout

AS_OF = date(2026, 12, 6)
NOW = datetime(2026, 12, 7, 4, 30, tzinfo=UTC)
# logical name -> (template type, size, region, template tags)
BOOKING: dict[str, tuple[str, str, str, dict[str, str]]] = {
    "db": ("database", "db.m5.large", "us-east-1", {"app": "booking", "env": "prod"}),
    "web": ("instance_group", "t3.medium", "eu-west-2", {"app": "booking", "role": "web"}),
    "files": ("bucket", "0GB", "us-east-1", {"app": "booking"}),
    "cache": ("instance", "t3.micro", "us-east-1", {"app": "booking", "role": "cache"}),
}
TYPES = {"database": ResourceType.DATABASE, "instance_group": ResourceType.COMPUTE, "bucket": ResourceType.STORAGE,
         "instance": ResourceType.COMPUTE}  # fmt: skip
SubstituteAdapter = Callable[[Provider, CloudProvider], CloudProvider]


@dataclass
class Stack:
    """A sandbox world with its providers registered, and deployments made in it."""

    engine: Engine
    sessions: sessionmaker[Session]
    layout: HomeLayout
    providers: dict[str, uuid.UUID]  # flavour -> provider id
    substitute: dict[uuid.UUID, SubstituteAdapter] = field(default_factory=dict)  # fault injection

    def adapter_for(self, provider: Provider, session: Session) -> CloudProvider:
        adapter = adapter_for(provider, session=session, layout=self.layout)
        wrap = self.substitute.get(provider.id)
        return wrap(provider, adapter) if wrap else adapter

    def cloud(self, flavour: str = "aws") -> SandboxCloud:
        """The flavour's adapter, as someone changing the cloud outside WedCloud uses it."""
        return SandboxCloud(self.engine, flavour=flavour, exports_dir=self.layout.exports)

    def make(self, name: str, resources: Mapping[str, tuple[str, str, str, dict[str, str]]] = BOOKING,
             *, flavour: str = "aws", status: str = "deployed") -> tuple[uuid.UUID, dict[str, str]]:  # fmt: skip
        """A deployment whose resources are provisioned through the adapter, tagged and recorded as
        the engine does (the cloud gets the attribution tags too, the record the template's tags);
        returns its id and each logical resource's cloud id."""
        deployment_id, provider_id = uuid.uuid4(), self.providers[flavour]
        made: dict[str, str] = {}
        with self.sessions.begin() as session:
            session.add(Deployment(id=deployment_id, name=name, status=status, current_version=1, latest_version=1,
                                   provider_ids=[str(provider_id)], created_by="test"))  # fmt: skip
            for logical, (kind, size, region, tags) in resources.items():
                request = self.request(name, logical, deployment_id, kind, size, region, tags)
                made[logical] = self.cloud(flavour).provision(request).id
                session.add(DeploymentResource(deployment_id=deployment_id, logical_name=logical,
                                               provider_id=provider_id, cloud_id=made[logical], subtype=kind,
                                               region=region, size=size, tags=dict(tags),
                                               version=1))  # fmt: skip
        return deployment_id, made

    @staticmethod
    def request(name: str, logical: str, deployment_id: uuid.UUID, kind: str, size: str, region: str,
                tags: Mapping[str, str]) -> ProvisionRequest:  # fmt: skip
        options: dict[str, Any] = {"subtype": kind}
        if kind == "instance_group":
            options |= {"min": 1, "max": 4}
        return ProvisionRequest(name=f"{name}-{logical}", resource_type=TYPES[kind], region=region, size=size,
                                tags={**tags, DEPLOYMENT_TAG: str(deployment_id), VERSION_TAG: "1"},
                                options=options)  # fmt: skip

    def request_of(self, name: str, logical: str, deployment_id: uuid.UUID) -> ProvisionRequest:
        """The request that (re)makes one of the booking stack's resources."""
        return self.request(name, logical, deployment_id, *BOOKING[logical])

    @staticmethod
    def row(session: Session, deployment_id: uuid.UUID, logical: str) -> DeploymentResource:
        query = select(DeploymentResource).where(DeploymentResource.deployment_id == deployment_id,
                                                 DeploymentResource.logical_name == logical)  # fmt: skip
        return session.scalars(query).one()

    def record(self, deployment_id: uuid.UUID, logical: str, *, cloud_id: str | None, region: str = "us-east-1",
               size: str = "t3.micro", flavour: str = "aws") -> None:  # fmt: skip
        """A row the engine has planned (no cloud id yet) or whose resource went away outright."""
        with self.sessions.begin() as session:
            session.add(DeploymentResource(deployment_id=deployment_id, logical_name=logical,
                                           provider_id=self.providers[flavour], cloud_id=cloud_id, subtype="instance",
                                           region=region, size=size, tags={"app": "booking"},
                                           version=1))  # fmt: skip

    def check(self, deployment_id: uuid.UUID) -> dict[str, Any]:
        with self.sessions.begin() as session:
            return drift.check(session, deployment_id, self.adapter_for, now=NOW)

    def events(self) -> list[dict[str, Any]]:
        with self.sessions() as session:
            query = select(StreamEvent).where(StreamEvent.topic == "deployments").order_by(StreamEvent.id)
            return [e.payload for e in session.scalars(query)]


def build_stack(engine: Engine, tmp_path: Path) -> Stack:
    layout = HomeLayout(tmp_path / "home").ensure()
    save_world(engine, build_world(4, AS_OF, date(2025, 6, 1)))
    sessions = make_sessionmaker(engine)
    with sessions.begin() as session:
        providers = {p.settings["flavour"]: p.id for p in register_sandbox_providers(session)}
    return Stack(engine, sessions, layout, providers)


@pytest.fixture
def stack(engine: Engine, tmp_path: Path) -> Stack:
    return build_stack(engine, tmp_path)


def _tags(stack: Stack, cloud_id: str) -> dict[str, str]:
    return dict(stack.cloud().describe(cloud_id).tags)


def test_a_deployment_as_applied_has_no_drift_and_publishes_nothing(stack: Stack) -> None:
    booking, _ = stack.make("booking")
    stack.record(booking, "reports", cloud_id=None, region="eu-west-1")  # planned, not made yet: skipped
    with stack.sessions() as session:
        updated_at = session.get(Deployment, booking).updated_at  # type: ignore[union-attr]
    result = stack.check(booking)
    assert {k: result[k] for k in ("drifted", "missing", "changed", "extra", "errors")} == {
        "drifted": False, "missing": [], "changed": [], "extra": [], "errors": []}  # fmt: skip
    assert result["checked_at"] == NOW.isoformat()
    with stack.sessions() as session:
        stored = session.get(Deployment, booking)
        assert stored is not None
        assert (stored.drift, stored.drift_checked_at) == (result, NOW)
        assert stored.updated_at == updated_at  # a check is not a change of the deployment
    assert stack.events() == []


def test_the_check_reports_exactly_what_changed_behind_wedclouds_back(stack: Stack) -> None:
    booking, ids = stack.make("booking")
    other, _ = stack.make("other", {"box": ("instance", "t3.micro", "us-east-1", {})})
    stack.record(booking, "queue", cloud_id="sbx-aws-0000deadbeef")  # its id is gone from the cloud outright
    cloud = stack.cloud()
    cloud.scale(ids["db"], ScaleRequest(size="db.r5.large"))
    web_tags = _tags(stack, ids["web"])
    cloud.tag(ids["web"], {**{k: v for k, v in web_tags.items() if k != "app"}, "role": "api", "owner": "ops"})
    cloud.tag(ids["files"], {**_tags(stack, ids["files"]), "backup": "nightly"})  # added by others: not compared
    cloud.terminate(ids["cache"])
    orphan = cloud.provision(ProvisionRequest(name="booking-orphan", resource_type=ResourceType.COMPUTE,
                                              region="us-east-1", size="t3.micro",
                                              tags={DEPLOYMENT_TAG: str(booking)}))  # fmt: skip
    cloud.provision(ProvisionRequest(name="someone-elses", resource_type=ResourceType.COMPUTE, region="us-east-1",
                                     size="t3.micro", tags={DEPLOYMENT_TAG: str(other)}))  # fmt: skip
    aws = str(stack.providers["aws"])

    result = stack.check(booking)

    assert result["drifted"] is True
    assert result["missing"] == [
        {"resource": "cache", "cloud_id": ids["cache"], "provider_id": aws, "region": "us-east-1",
         "reason": "terminated"},
        {"resource": "queue", "cloud_id": "sbx-aws-0000deadbeef", "provider_id": aws, "region": "us-east-1",
         "reason": "not_found"},
    ]  # fmt: skip
    assert result["changed"] == [
        {"resource": "db", "cloud_id": ids["db"], "provider_id": aws, "region": "us-east-1", "field": "size",
         "expected": "db.m5.large", "actual": "db.r5.large"},
        {"resource": "web", "cloud_id": ids["web"], "provider_id": aws, "region": "eu-west-2", "field": "tags",
         "expected": {"app": "booking", "role": "web"}, "actual": {"app": None, "role": "api"}},
    ]  # fmt: skip
    assert result["extra"] == [
        {"cloud_id": orphan.id, "name": "booking-orphan", "subtype": "instance", "provider_id": aws,
         "region": "us-east-1", "size": "t3.micro", "source": "listing"},
    ]  # fmt: skip
    assert result["errors"] == []
    (event,) = stack.events()
    assert event["type"] == "drift"
    assert (event["deployment_id"], event["deployment"], event["drifted"]) == (str(booking), "booking", True)
    assert event["changed"] == result["changed"]
    with stack.sessions() as session:
        assert session.get(Deployment, other).drift is None  # type: ignore[union-attr]  # only the one checked

    assert stack.check(booking)["changed"] == result["changed"]
    assert len(stack.events()) == 1  # the same drift again: nothing new to tell


def test_an_extra_left_in_a_region_the_deployment_no_longer_uses_is_found_in_the_inventory(stack: Stack) -> None:
    booking, _ = stack.make("booking")
    cloud = stack.cloud()
    left = cloud.provision(ProvisionRequest(name="booking-old-cache", resource_type=ResourceType.COMPUTE,
                                            region="eu-west-1", size="t3.micro",
                                            tags={DEPLOYMENT_TAG: str(booking)}))  # fmt: skip
    gone = cloud.provision(ProvisionRequest(name="booking-old-web", resource_type=ResourceType.COMPUTE,
                                            region="eu-west-1", size="t3.micro",
                                            tags={DEPLOYMENT_TAG: str(booking)}))  # fmt: skip
    for _ in range(2):  # the inventory sync saw both, then saw one terminated
        with stack.sessions.begin() as session:
            provider = session.get(Provider, stack.providers["aws"])
            assert provider is not None
            inventory.sync(session, provider, cloud.list_resources(region="eu-west-1"))
        cloud.terminate(gone.id)
    with stack.sessions() as session:
        assert session.scalar(select(Resource.state).where(Resource.cloud_id == gone.id)) == "terminated"
    result = stack.check(booking)
    assert result["extra"] == [
        {"cloud_id": left.id, "name": "booking-old-cache", "subtype": "instance",
         "provider_id": str(stack.providers["aws"]), "region": "eu-west-1", "size": "t3.micro", "source": "inventory"},
    ]  # fmt: skip
    assert result["drifted"] is True


def test_drift_clears_once_the_cloud_matches_again_and_the_change_is_published(stack: Stack) -> None:
    booking, ids = stack.make("booking")
    cloud = stack.cloud()
    cloud.scale(ids["db"], ScaleRequest(size="db.r5.large"))
    assert stack.check(booking)["drifted"] is True
    cloud.scale(ids["db"], ScaleRequest(size="db.m5.large"))
    cleared = stack.check(booking)
    assert (cleared["drifted"], cleared["changed"]) == (False, [])
    assert [(e["drifted"], len(e["changed"])) for e in stack.events()] == [(True, 1), (False, 0)]


def test_a_provider_that_cannot_answer_is_an_error_and_keeps_what_it_last_reported(stack: Stack) -> None:
    booking, ids = stack.make("booking")
    stack.cloud().terminate(ids["cache"])
    first = stack.check(booking)
    assert [m["resource"] for m in first["missing"]] == ["cache"]

    class Throttling:
        """The sandbox adapter, throttled on every read."""

        def __init__(self, adapter: CloudProvider) -> None:
            self.adapter = adapter

        def __getattr__(self, name: str) -> Any:
            return getattr(self.adapter, name)

        def describe(self, resource_id: str) -> Any:
            raise Throttled(f"rate exceeded reading {resource_id}")

        def list_resources(self, *, region: str | None = None) -> Any:
            raise Throttled(f"rate exceeded listing {region}")

    stack.substitute[stack.providers["aws"]] = lambda _, adapter: Throttling(adapter)  # type: ignore[assignment,return-value]
    stack.cloud().scale(ids["db"], ScaleRequest(size="db.r5.large"))  # unseen while throttled
    second = stack.check(booking)
    assert second["drifted"] is True
    assert second["missing"] == first["missing"]  # carried over: an outage is not a repair
    assert second["changed"] == []
    assert {e.get("resource") for e in second["errors"]} == {"db", "web", "files", "cache", None}
    assert all(e["error"].startswith("Throttled: rate exceeded") for e in second["errors"])
    assert len(stack.events()) == 1  # the drift did not change


def test_check_all_looks_at_live_deployments_and_one_bad_provider_does_not_stop_the_rest(stack: Stack) -> None:
    _, ids = stack.make("booking")
    standby, _ = stack.make("standby", {"db": ("database", "db-custom-2-7680", "europe-west2", {})}, flavour="gcp")
    stack.make("old", {"box": ("instance", "t3.micro", "us-east-1", {})}, status="destroyed")
    stack.make("moving", {"box": ("instance", "t3.micro", "us-east-1", {})}, status="applying")
    stack.make("held", {"box": ("instance", "t3.micro", "us-east-1", {})}, status="paused")

    def refused(provider: Provider, adapter: CloudProvider) -> CloudProvider:
        raise AuthenticationFailed(f"the credentials of {provider.name} were refused")

    stack.substitute[stack.providers["gcp"]] = refused
    stack.cloud().scale(ids["db"], ScaleRequest(size="db.r5.large"))

    summary = drift.check_all(stack.sessions, stack.adapter_for, now=NOW)

    assert summary == {"checked": 3, "drifted": 1, "with_errors": 1, "failed": []}
    with stack.sessions() as session:
        checked = {d.name: d.drift for d in session.scalars(select(Deployment))}
    assert checked["booking"]["drifted"] is True  # type: ignore[index]
    assert checked["standby"]["errors"] == [  # type: ignore[index]
        {"resource": "db", "provider_id": str(stack.providers["gcp"]),
         "error": "AuthenticationFailed: the credentials of sandbox-gcp were refused"},
        {"provider_id": str(stack.providers["gcp"]), "region": "europe-west2",
         "error": "AuthenticationFailed: the credentials of sandbox-gcp were refused"},
    ]  # fmt: skip
    assert checked["held"]["drifted"] is False  # type: ignore[index]
    assert (checked["old"], checked["moving"]) == (None, None)
    with stack.sessions() as session:
        assert [d.name for d in drift.drifted(session)] == ["booking"]
        assert drift.drifted(session, deployment_id=standby) == []


def test_checking_a_deployment_that_does_not_exist_says_so(stack: Stack) -> None:
    with pytest.raises(NotFound):
        stack.check(uuid.uuid4())
