"""Checking a rendered template against its clouds, on SQLite and PostgreSQL: sizes against the
sandbox's price catalogue, regions and the EC2 instance quota of an AWS account on the moto
server, and cloud names already taken by resources outside the deployment."""

from __future__ import annotations

import copy
import secrets
from pathlib import Path
from typing import Any

import boto3
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from clouds.base import CloudProvider, ProvisionRequest, ResourceType
from control_plane.crypto import Cipher
from control_plane.deployments.checks import availability, availability_problems, instance_limit, name_clashes
from control_plane.deployments.spec import TemplateProblem
from control_plane.services import inventory
from control_plane.services.providers import adapter_for, create_cloud_provider
from control_plane.store.deployment_models import Deployment, DeploymentResource
from control_plane.store.models import Provider, Resource
from tests.control_plane.deployments import SandboxWorld, rendered_ok, sandbox_world, shipped

AMI = "ami-12c6146b"


@pytest.fixture
def world(engine: Engine, tmp_path: Path) -> SandboxWorld:
    return sandbox_world(engine, tmp_path)


def _booking(**sizes: str) -> dict[str, Any]:
    document = copy.deepcopy(shipped("booking-stack.yaml"))
    for name, size in sizes.items():
        document["resources"][name]["size"] = size
    return document


def test_the_shipped_templates_pass_every_check_on_the_sandbox(world: SandboxWorld) -> None:
    for name in ("booking-stack.yaml", "cross-cloud.yaml"):
        rendered = rendered_ok(world, shipped(name))
        with world.sessions() as session:
            checked = availability(session, rendered, world.adapters)
            clashes = name_clashes(session, rendered, deployment_name="wedding")
        assert (checked.problems, checked.warnings, clashes) == ([], [], [])


@pytest.mark.parametrize(
    ("sizes", "pointer", "fragment"),
    [
        ({"web": "t3.huge"}, "/template/resources/web/size", "t3.huge is not offered in us-east-1; an instance type"),
        (
            {"web": "db.m5.large"},
            "/template/resources/web/size",
            "db.m5.large is a database class; an instance_group needs an instance type: one of c5.2xlarge",
        ),
        (
            {"db": "m5.large"},
            "/template/resources/db/size",
            "m5.large is an instance type; a database needs a database class: one of db.m5.large, db.m5.xlarge",
        ),
        ({"db": "db-custom-2-7680"}, "/template/resources/db/size", "not offered in us-east-1"),
        ({"uploads": "STANDARD"}, "/template/resources/uploads/size", "sizes a bucket by its GB, such as '0GB'"),
    ],
    ids=[
        "unknown size",
        "database class on a group",
        "instance type on a database",
        "another cloud's class",
        "storage class on a sandbox bucket",
    ],
)
def test_a_size_missing_from_the_providers_catalogue_is_a_problem_at_its_size(
    world: SandboxWorld, sizes: dict[str, str], pointer: str, fragment: str
) -> None:
    rendered = rendered_ok(world, _booking(**sizes))
    with world.sessions() as session:
        problems = availability_problems(session, rendered, world.adapters)
    assert [p.pointer for p in problems] == [pointer]
    assert problems[0].message.startswith("sandbox-aws: ")
    assert fragment in problems[0].message


class _Moto:
    def __init__(self, world: SandboxWorld, endpoint: str, keys: dict[str, str]) -> None:
        self.world, self.endpoint, self.keys, self.cipher = world, endpoint, keys, Cipher(secrets.token_bytes(32))

    def register(self, name: str, default_region: str | None = "eu-west-2") -> None:
        with self.world.sessions() as session, session.begin():
            create_cloud_provider(session, self.cipher, kind="aws", name=name, default_region=default_region,
                                  credentials=self.keys, settings={"endpoint_url": self.endpoint})  # fmt: skip

    def adapters(self, provider: Provider, session: Session) -> CloudProvider:
        return adapter_for(provider, session=session, layout=self.world.layout, cipher=self.cipher)

    def launch(self, count: int, region: str = "eu-west-2") -> None:
        """Instances made outside WedCloud, then synced into the store as a provider sync does."""
        ec2 = boto3.client("ec2", region_name=region, endpoint_url=self.endpoint,
                           aws_access_key_id=self.keys["access_key_id"],
                           aws_secret_access_key=self.keys["secret_access_key"])  # fmt: skip
        ec2.run_instances(ImageId=AMI, MinCount=count, MaxCount=count, InstanceType="t3.micro")
        with self.world.sessions() as session, session.begin():
            provider = self.world.provider(session, "aws-prod")
            inventory.sync(session, provider, self.adapters(provider, session).list_resources())


@pytest.fixture
def moto(world: SandboxWorld, moto_endpoint: str, aws_keys: dict[str, str]) -> _Moto:
    return _Moto(world, moto_endpoint, aws_keys)


def _owned(deployment: Deployment, logical: str, row: Resource) -> DeploymentResource:
    """The row that makes ``row`` the deployment's resource ``logical``."""
    return DeploymentResource(deployment_id=deployment.id, logical_name=logical, provider_id=row.provider_id,
                              resource_id=row.id, subtype=row.subtype, region=row.region, version=1)  # fmt: skip


def _group(desired: int, region: str | None = None) -> dict[str, Any]:
    web = {"provider": "aws-prod", "type": "instance_group", "size": "t3.micro",
           "options": {"min": 1, "max": 40, "desired": desired, "launch_template": "booking-web"}}  # fmt: skip
    return {"resources": {"web": web | ({"region": region} if region else {})}}


def test_an_aws_group_past_the_accounts_instance_quota_is_a_problem(world: SandboxWorld, moto: _Moto) -> None:
    moto.register("aws-prod")
    moto.launch(2)
    with world.sessions() as session:
        limit = instance_limit(moto.adapters(world.provider(session, "aws-prod"), session), "eu-west-2")
    assert limit is not None
    assert limit > 2
    fits = rendered_ok(world, _group(limit - 2))
    too_many = rendered_ok(world, _group(limit - 1))
    with world.sessions() as session:
        assert availability_problems(session, fits, moto.adapters) == []
        checked = availability(session, too_many, moto.adapters)
    assert checked.problems == [TemplateProblem(
        "/template/resources/web",
        f"aws-prod: {limit + 1} instances in eu-west-2 (2 already running) would pass the account's limit of "
        f"{limit} (max-instances)",
    )]  # fmt: skip
    # AWS's adapter publishes no price catalogue: the size is not checked, and says so
    assert [(w.pointer, "size not checked" in w.message) for w in checked.warnings] == [
        ("/template/resources/web/size", True)
    ]


def test_instances_of_the_deployment_itself_do_not_count_against_the_quota(world: SandboxWorld, moto: _Moto) -> None:
    moto.register("aws-prod")
    moto.launch(2)
    with world.sessions() as session, session.begin():
        limit = instance_limit(moto.adapters(world.provider(session, "aws-prod"), session), "eu-west-2")
        assert limit is not None
        own = session.scalars(select(Resource).where(Resource.subtype == "instance")).first()
        assert own is not None
        deployment = Deployment(name="wedding", created_by="test")
        session.add(deployment)
        session.flush()
        session.add(_owned(deployment, "web", own))
        deployment_id = deployment.id
    rendered = rendered_ok(world, _group(limit - 1))
    with world.sessions() as session:
        assert availability_problems(session, rendered, moto.adapters) != []
        assert availability_problems(session, rendered, moto.adapters, deployment_id=deployment_id) == []


def test_a_region_the_cloud_does_not_list_is_a_problem_when_the_provider_names_none(
    world: SandboxWorld, moto: _Moto
) -> None:
    moto.register("aws-prod", default_region=None)  # no regions registered: the cloud's own list decides
    good, bad = rendered_ok(world, _group(1, "eu-west-1")), rendered_ok(world, _group(1, "mars-north-1"))
    with world.sessions() as session:
        assert availability_problems(session, good, moto.adapters) == []
        problems = availability_problems(session, bad, moto.adapters)
    assert [p.pointer for p in problems] == ["/template/resources/web/region"]
    assert "aws-prod does not offer 'mars-north-1'; one of " in problems[0].message
    assert "eu-west-1" in problems[0].message


def test_a_provider_whose_adapter_cannot_be_made_is_a_warning_not_a_problem(world: SandboxWorld, moto: _Moto) -> None:
    moto.register("aws-prod")
    rendered = rendered_ok(world, _group(1))

    def without_key(provider: Provider, session: Session) -> CloudProvider:
        return adapter_for(provider, session=session, layout=world.layout)  # its credentials cannot be opened

    with world.sessions() as session:
        checked = availability(session, rendered, without_key)
    assert checked.problems == []
    assert [w.pointer for w in checked.warnings] == ["/template/resources/web/provider"]
    assert "aws-prod: not checked, no adapter" in checked.warnings[0].message


def _provision_and_sync(
    world: SandboxWorld,
    name: str,
    provider_name: str = "sandbox-aws",
    region: str = "us-east-1",
    size: str = "db.m5.large",
) -> Resource:
    """A resource made in the sandbox outside any deployment and synced into the store."""
    with world.sessions() as session, session.begin():
        provider = world.provider(session, provider_name)
        adapter = world.adapters(provider, session)
        made = adapter.provision(ProvisionRequest(name=name, resource_type=ResourceType.DATABASE, region=region,
                                                  size=size, options={"subtype": "database"}))  # fmt: skip
        inventory.sync(session, provider, adapter.list_resources())
        row = session.scalars(select(Resource).where(Resource.cloud_id == made.id)).one()
        session.expunge(row)
        return row


def test_a_cloud_name_taken_outside_the_deployment_is_a_clash(world: SandboxWorld) -> None:
    taken = _provision_and_sync(world, "wedding-db")
    rendered = rendered_ok(world, shipped("booking-stack.yaml"))
    with world.sessions() as session:
        clashes = name_clashes(session, rendered, deployment_name="wedding")
        assert name_clashes(session, rendered, deployment_name="party") == []
    assert clashes == [TemplateProblem(
        "/template/resources/db",
        f"sandbox-aws already has a database named 'wedding-db' (resource {taken.id}) outside this deployment; "
        "rename the resource or the deployment",
    )]  # fmt: skip


def test_the_deployments_own_resources_and_terminated_ones_do_not_clash(world: SandboxWorld) -> None:
    taken = _provision_and_sync(world, "wedding-db")
    _provision_and_sync(
        world, "wedding-web", "sandbox-gcp", "europe-west2", "db-custom-2-7680"
    )  # same name, another provider
    rendered = rendered_ok(world, shipped("booking-stack.yaml"))
    with world.sessions() as session, session.begin():
        deployment = Deployment(name="wedding", created_by="test")
        session.add(deployment)
        session.flush()
        session.add(_owned(deployment, "db", taken))
        deployment_id = deployment.id
    with world.sessions() as session:
        assert name_clashes(session, rendered, deployment_name="wedding", deployment_id=deployment_id) == []
        assert [p.pointer for p in name_clashes(session, rendered, deployment_name="wedding")] == [
            "/template/resources/db"
        ]
    with world.sessions() as session, session.begin():
        provider = world.provider(session, "sandbox-aws")
        adapter = world.adapters(provider, session)
        adapter.terminate(taken.cloud_id)
        inventory.sync(session, provider, adapter.list_resources())
    with world.sessions() as session:
        assert name_clashes(session, rendered, deployment_name="wedding") == []
