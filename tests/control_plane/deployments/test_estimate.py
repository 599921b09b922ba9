"""Monthly estimates of rendered templates from the providers' own price catalogues, on SQLite
and PostgreSQL: every expected figure is read from the catalogue the adapter publishes (its
hourly list price × 730, its storage prices), never written down here."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from clouds.base import DATABASE_SERVICE, InstanceType
from clouds.price_snapshot import shipped as shipped_prices
from clouds.sandbox.provider import SandboxCloud
from control_plane.crypto import Cipher
from control_plane.deployments.estimate import capacity_of, estimate, estimates, total
from control_plane.deployments.spec import HOURS_PER_MONTH, DesiredResource, Estimate, Rendered
from control_plane.services.providers import create_cloud_provider
from tests.control_plane.deployments import SandboxWorld, rendered_ok, sandbox_world, shipped

CENT = Decimal("0.01")


@pytest.fixture
def world(engine: Engine, tmp_path: Path) -> SandboxWorld:
    return sandbox_world(engine, tmp_path)


def _sandbox(world: SandboxWorld, name: str) -> SandboxCloud:
    with world.sessions() as session:
        adapter = world.adapters(world.provider(session, name), session)
    assert isinstance(adapter, SandboxCloud)
    return adapter


def _listed(adapter: SandboxCloud, region: str, size: str) -> InstanceType:
    return next(t for t in adapter.price_catalogue(region=region) if t.name == size)


def test_the_booking_stack_is_priced_from_the_catalogue_of_its_region(world: SandboxWorld) -> None:
    rendered = rendered_ok(world, shipped("booking-stack.yaml"), {"web_count": 3})
    with world.sessions() as session:
        found = estimates(session, rendered, world.adapters)
    aws = _sandbox(world, "sandbox-aws")
    factor = aws.flavour.region("us-east-1").price_factor
    db, web = _listed(aws, "us-east-1", "db.m5.large"), _listed(aws, "us-east-1", "t3.medium")
    assert db.service == DATABASE_SERVICE
    block, stored = aws.flavour.storage.block_gb_month * factor, aws.flavour.storage.object_gb_month * factor
    assert found["db"].monthly == (db.hourly_price * HOURS_PER_MONTH + 50 * block).quantize(CENT)
    assert found["web"].monthly == (web.hourly_price * HOURS_PER_MONTH * 3).quantize(CENT)
    assert found["uploads"].monthly == (200 * stored).quantize(CENT)
    assert {e.currency for e in found.values()} == {db.currency}
    assert found["web"].basis.startswith("3 × t3.medium at ")
    assert total(found) == {db.currency: sum((e.monthly for e in found.values() if e.monthly), Decimal("0"))}


def test_a_region_with_a_price_factor_is_priced_at_its_own_list_prices(world: SandboxWorld) -> None:
    rendered = rendered_ok(world, shipped("cross-cloud.yaml"), {"standby_size": "e2-medium"})
    with world.sessions() as session:
        found = estimates(session, rendered, world.adapters)
    gcp = _sandbox(world, "sandbox-gcp")
    listed = _listed(gcp, "europe-west2", "e2-medium")
    base = next(t for t in gcp.flavour.instance_types if t.name == "e2-medium")
    assert listed.hourly_price > base.hourly_price  # London costs more than Iowa
    assert found["standby"].monthly == (listed.hourly_price * HOURS_PER_MONTH).quantize(CENT)
    block = gcp.flavour.storage.block_gb_month * gcp.flavour.region("europe-west2").price_factor
    assert found["standby_disk"].monthly == (100 * block).quantize(CENT)
    assert found["standby_disk"].basis.startswith("100 GB at ")


def test_every_estimate_is_decimal_money_to_the_cent(world: SandboxWorld) -> None:
    rendered = rendered_ok(world, shipped("cross-cloud.yaml"))
    with world.sessions() as session:
        found = estimates(session, rendered, world.adapters)
    assert set(found) == set(rendered.resources)
    for item in found.values():
        assert isinstance(item.monthly, Decimal)
        assert item.monthly == item.monthly.quantize(CENT)
        assert item.monthly.as_tuple().exponent == -2


def _one(world: SandboxWorld, body: dict[str, Any]) -> tuple[SandboxCloud, DesiredResource]:
    rendered = rendered_ok(world, {"resources": {"it": {"provider": "sandbox-aws", **body}}})
    return _sandbox(world, "sandbox-aws"), rendered.resources["it"]


def test_a_group_is_priced_at_its_desired_capacity_else_its_minimum_else_one(world: SandboxWorld) -> None:
    adapter, group = _one(world, {"type": "instance_group", "size": "m5.large",
                                  "options": {"min": 2, "max": 6, "desired": 4}})  # fmt: skip
    hourly = _listed(adapter, group.region, "m5.large").hourly_price
    no_desired = replace(group, options={"min": 2, "max": 6})
    bare = replace(group, options={})
    assert [capacity_of(g) for g in (group, no_desired, bare)] == [4, 2, 1]
    for desired, count in ((group, 4), (no_desired, 2), (bare, 1)):
        assert estimate(adapter, desired).monthly == (hourly * HOURS_PER_MONTH * count).quantize(CENT)


def test_a_size_the_catalogue_does_not_sell_has_no_estimate_and_says_why(world: SandboxWorld) -> None:
    adapter, instance = _one(world, {"type": "instance", "size": "m5.large"})
    assert estimate(adapter, replace(instance, size="m5.huge")) == Estimate(
        None, "USD", "m5.huge is not a compute size of the catalogue for us-east-1"
    )
    database_class = estimate(adapter, replace(instance, size="db.m5.large"))
    assert database_class.monthly is None  # an instance is not priced at a database class's rate


def test_a_bucket_without_an_expected_size_is_zero_and_asks_for_one(world: SandboxWorld) -> None:
    adapter, bucket = _one(world, {"type": "bucket", "size": "0GB"})
    assert estimate(adapter, bucket) == Estimate(
        Decimal("0.00"), "USD", "priced per GB stored; give options.expected_gb"
    )


def test_a_cloud_without_a_catalogue_is_priced_from_the_shipped_snapshot_and_says_so(world: SandboxWorld) -> None:
    with world.sessions() as session, session.begin():
        create_cloud_provider(session, Cipher(secrets.token_bytes(32)), kind="aws", name="aws-prod",
                              default_region="eu-west-2")  # fmt: skip
    document = {"resources": {
        "web": {"provider": "aws-prod", "type": "instance", "size": "t3.micro", "image": "ami-12c6146b"},
        "disk": {"provider": "aws-prod", "type": "volume", "size": "50GB"},
        "db": {"provider": "aws-prod", "type": "database", "size": "db.t3.micro", "options": {"engine": "postgres"}},
    }}  # fmt: skip
    rendered = rendered_ok(world, document)
    with world.sessions() as session:
        found = estimates(session, rendered, world.adapters)
    snapshot = shipped_prices("aws", "eu-west-2")
    assert snapshot is not None
    micro = snapshot.instance_type("t3.micro")
    assert micro is not None
    assert found["web"].monthly == (micro.hourly_price * HOURS_PER_MONTH).quantize(Decimal("0.01"))
    assert snapshot.block_gb_month is not None
    assert found["disk"].monthly == (snapshot.block_gb_month * 50).quantize(Decimal("0.01"))
    assert all("shipped list-price snapshot" in found[name].basis for name in ("web", "disk"))
    assert found["db"].monthly is None  # the snapshot prices no database class: no guess
    assert found["db"].basis.startswith("db.t3.micro is not a database size")


def test_a_provider_gone_since_rendering_has_no_estimate(world: SandboxWorld) -> None:
    rendered = rendered_ok(world, shipped("booking-stack.yaml"))
    gone = uuid.uuid4()
    moved = Rendered(resources={n: replace(r, provider_id=gone) for n, r in rendered.resources.items()},
                     outputs={}, parameters={})  # fmt: skip
    with world.sessions() as session:
        found = estimates(session, moved, world.adapters)
    assert {e.monthly for e in found.values()} == {None}
    assert found["db"].basis == f"provider {gone} is no longer registered"


def test_a_larger_size_parameter_changes_only_the_web_tiers_estimate(world: SandboxWorld) -> None:
    small = rendered_ok(world, shipped("booking-stack.yaml"))
    large = rendered_ok(world, shipped("booking-stack.yaml"), {"web_size": "m5.xlarge"})
    with world.sessions() as session:
        before, after = estimates(session, small, world.adapters), estimates(session, large, world.adapters)
    hourly = _listed(_sandbox(world, "sandbox-aws"), "us-east-1", "m5.xlarge").hourly_price
    assert after["web"].monthly == (hourly * HOURS_PER_MONTH * 2).quantize(CENT)
    assert before["web"].monthly is not None
    assert after["web"].monthly > before["web"].monthly
    assert (after["db"], after["uploads"]) == (before["db"], before["uploads"])
