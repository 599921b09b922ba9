"""Filling in ``${resources.<name>.<attribute>}`` once the resources exist: the attributes the
sandbox reports for a resource it made, substituted into a rendered resource and its outputs."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import Engine

from clouds.base import CloudResource, ProvisionRequest, ResourceState, ResourceType
from control_plane.deployments.spec import ATTRIBUTES, DesiredResource
from control_plane.deployments.template import (
    UnresolvedReference,
    attributes_of,
    render,
    resolve,
    resolve_outputs,
)
from tests.control_plane.deployments import SandboxWorld, sandbox_world, shipped


@pytest.fixture
def world(engine: Engine, tmp_path: Path) -> SandboxWorld:
    return sandbox_world(engine, tmp_path)


def _made(world: SandboxWorld, desired: DesiredResource) -> CloudResource:
    """The resource the sandbox makes for ``desired`` (its references resolved already)."""
    with world.sessions() as session:
        adapter = world.adapters(world.provider(session, "sandbox-aws"), session)
    request = ProvisionRequest(
        name=f"wedding-{desired.name}", resource_type=desired.resource_type, region=desired.region,
        size=desired.size, tags=desired.tags, options={**desired.options, "subtype": desired.subtype},
    )  # fmt: skip
    return adapter.provision(request)


def test_references_resolve_from_the_attributes_of_what_the_sandbox_made(world: SandboxWorld) -> None:
    with world.sessions() as session:
        rendered, problems = render(session, document=shipped("booking-stack.yaml"), parameters={"env": "dev"})
    assert problems == []
    assert rendered is not None
    made: dict[str, dict[str, str]] = {}
    for name, desired in rendered.resources.items():
        ready = resolve(desired, made)
        assert ready.pending == {}
        made[name] = attributes_of(_made(world, ready))
    db = made["db"]
    assert set(db) == set(ATTRIBUTES)
    assert db["name"] == "wedding-db"
    assert db["endpoint"] == "wedding-db"
    assert db["region"] == "us-east-1"
    web = resolve(rendered.resources["web"], made)
    assert web.tags["db_endpoint"] == db["endpoint"]
    assert web.tags["env"] == "dev"
    assert web.options["desired"] == 2
    assert rendered.resources["web"].tags["db_endpoint"] == "${resources.db.endpoint}"  # the original is kept
    outputs = resolve_outputs(rendered.outputs, made)
    assert outputs == {"db_endpoint": db["endpoint"], "web_group": made["web"]["id"],
                       "uploads_bucket": "wedding-uploads"}  # fmt: skip


def _desired(**pending: str) -> DesiredResource:
    return DesiredResource(
        name="app", provider_id=uuid.uuid4(), provider_kind="sandbox", type="instance",
        region="us-east-1", size="t3.micro", tags={"db": "x"}, image="ami-${resources.base.id}",
        options={"env": {"DB_URL": "postgres://${resources.db.endpoint}:5432/app"}, "ports": [80, "p"]},
        pending=pending,
    )  # fmt: skip


def test_nested_options_image_and_lists_are_filled_in_at_their_paths() -> None:
    desired = _desired(**{
        "options.env.DB_URL": "postgres://${resources.db.endpoint}:5432/app", "image": "ami-${resources.base.id}",
        "tags.db": "${resources.db.zone}/${resources.db.region}", "options.ports.1": "${resources.db.name}",
    })  # fmt: skip
    attributes = {"db": {"endpoint": "db.internal", "zone": "us-east-1a", "region": "us-east-1", "name": "db-1"},
                  "base": {"id": "0abc"}}  # fmt: skip
    ready = resolve(desired, attributes)
    assert ready.options == {"env": {"DB_URL": "postgres://db.internal:5432/app"}, "ports": [80, "db-1"]}
    assert ready.image == "ami-0abc"
    assert ready.tags == {"db": "us-east-1a/us-east-1"}
    assert ready.pending == {}


def test_a_reference_to_a_resource_not_made_yet_raises_a_key_error_naming_it() -> None:
    desired = _desired(**{"tags.db": "${resources.db.endpoint}"})
    with pytest.raises(KeyError) as raised:
        resolve(desired, {})
    assert isinstance(raised.value, UnresolvedReference)
    assert str(raised.value) == "${resources.db.endpoint}: resource 'db' has no attributes yet"
    with pytest.raises(UnresolvedReference, match="has no attribute 'endpoint'"):
        resolve_outputs({"db": "${resources.db.endpoint}"}, {"db": {"id": "i-1"}})


def test_the_endpoint_is_the_address_the_cloud_reports_else_the_name() -> None:
    def made(**details: str) -> CloudResource:
        return CloudResource(id="db-1", name="wedding-db", resource_type=ResourceType.DATABASE, subtype="database",
                             region="eu-west-2", state=ResourceState.RUNNING, account_id="1234", size="db.m5.large",
                             details=details)  # fmt: skip

    assert attributes_of(made(endpoint="wedding-db.abc.rds.amazonaws.com"))["endpoint"] == (
        "wedding-db.abc.rds.amazonaws.com"
    )
    assert attributes_of(made(address="10.0.0.4"))["endpoint"] == "10.0.0.4"
    assert attributes_of(made(dns_name="lb.example"))["endpoint"] == "lb.example"
    plain = attributes_of(made())
    assert plain == {"id": "db-1", "name": "wedding-db", "region": "eu-west-2", "size": "db.m5.large", "zone": "",
                     "endpoint": "wedding-db", "account_id": "1234"}  # fmt: skip
