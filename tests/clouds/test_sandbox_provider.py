"""The sandbox behind the CloudProvider protocol: lifecycle, validation, reads."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from clouds.base import CloudProvider, ProvisionRequest, ResourceState, ResourceType, ScaleRequest
from clouds.errors import AuthenticationFailed, InvalidStateTransition, ResourceNotFound, UnsupportedRequest
from clouds.sandbox.create import write_exports
from clouds.sandbox.provider import SandboxCloud
from clouds.sandbox.usage import Meter, UsageKind
from clouds.sandbox.world import build_world, load_world, save_world

AS_OF = date(2026, 3, 1)


@pytest.fixture
def cloud(sqlite_engine: Engine, tmp_path: Path) -> SandboxCloud:
    save_world(sqlite_engine, build_world(4, AS_OF, date(2025, 6, 1)))
    return SandboxCloud(
        sqlite_engine,
        flavour="aws",
        exports_dir=tmp_path / "exports",
        clock=lambda: datetime(2026, 3, 1, 12, tzinfo=UTC),
    )


def _provision(cloud: SandboxCloud, size: str = "m5.large") -> str:
    request = ProvisionRequest(name="test-box", resource_type=ResourceType.COMPUTE, region="eu-west-2", size=size)
    return cloud.provision(request).id


def test_the_sandbox_is_a_cloud_provider(cloud: SandboxCloud) -> None:
    assert isinstance(cloud, CloudProvider)
    assert cloud.test_connection().ok


def test_without_a_world_the_connection_check_fails_and_says_why(sqlite_engine: Engine, tmp_path: Path) -> None:
    cloud = SandboxCloud(sqlite_engine, flavour="gcp", exports_dir=tmp_path)
    check = cloud.test_connection()
    assert not check.ok
    assert "wedcloud sandbox create" in check.detail
    with pytest.raises(AuthenticationFailed):
        list(cloud.list_resources())


def test_inventory_lists_live_resources_but_not_terminated_ones_or_egress(cloud: SandboxCloud) -> None:
    names = {r.name for r in cloud.list_resources()}
    assert {"wedsync-web", "wedsync-db", "staging-old", "analytics-old"} <= names
    assert "internet-egress" not in names
    assert not any(n.startswith("gpu-experiment") for n in names)  # terminated 9 days before as-of
    stopped = next(r for r in cloud.list_resources() if r.name == "analytics-old")
    assert stopped.state == ResourceState.STOPPED


def test_regions_services_and_regional_prices(cloud: SandboxCloud) -> None:
    assert [r.id for r in cloud.list_regions()] == ["us-east-1", "eu-west-2", "eu-west-1"]
    assert {s.category for s in cloud.list_services()} == {"Compute", "Storage", "Databases", "Networking"}
    london = {t.name: t.hourly_price for t in cloud.price_catalogue(region="eu-west-2")}
    virginia = {t.name: t.hourly_price for t in cloud.price_catalogue(region="us-east-1")}
    assert london["m5.large"] > virginia["m5.large"]
    with pytest.raises(UnsupportedRequest):
        cloud.price_catalogue(region="mars-1")


def test_start_and_stop_follow_the_state_machine(cloud: SandboxCloud) -> None:
    box = _provision(cloud)
    assert cloud.stop(box).state == ResourceState.STOPPED
    assert cloud.stop(box).state == ResourceState.STOPPED  # asking again is harmless
    assert cloud.start(box).state == ResourceState.RUNNING
    assert cloud.terminate(box).state == ResourceState.TERMINATED
    with pytest.raises(InvalidStateTransition, match="while it is terminated"):
        cloud.start(box)


def test_an_instance_changes_type_only_while_stopped(cloud: SandboxCloud) -> None:
    box = _provision(cloud)
    with pytest.raises(InvalidStateTransition):
        cloud.scale(box, ScaleRequest(size="m5.xlarge"))
    cloud.stop(box)
    assert cloud.scale(box, ScaleRequest(size="m5.xlarge")).size == "m5.xlarge"
    with pytest.raises(UnsupportedRequest):
        cloud.scale(box, ScaleRequest(size="z9.enormous"))


def test_a_group_scales_only_within_its_bounds(cloud: SandboxCloud) -> None:
    web = next(r for r in cloud.list_resources() if r.name == "wedsync-web")
    cloud.scale(web.id, ScaleRequest(capacity=6))
    with pytest.raises(UnsupportedRequest, match="outside the group's bounds"):
        cloud.scale(web.id, ScaleRequest(capacity=40))


def test_provisioning_refuses_unknown_sizes_and_regions(cloud: SandboxCloud) -> None:
    with pytest.raises(UnsupportedRequest):
        _provision(cloud, size="nope.large")
    with pytest.raises(UnsupportedRequest):
        cloud.provision(
            ProvisionRequest(name="x", resource_type=ResourceType.COMPUTE, region="uksouth", size="m5.large")
        )
    with pytest.raises(ResourceNotFound):
        cloud.stop("i-doesnotexist")


def test_a_changed_type_is_billed_from_the_next_day(cloud: SandboxCloud, sqlite_engine: Engine) -> None:
    box = _provision(cloud)
    cloud.stop(box)
    cloud.scale(box, ScaleRequest(size="m5.2xlarge"))
    cloud.start(box)
    world = load_world(sqlite_engine)
    assert world is not None
    resource = next(r for r in world.resources if r.id == box)
    # the sandbox's clock says noon on as-of: the day after, its bill shows the new size only
    later = replace(world, as_of=date(2026, 3, 2))
    hours = {
        c.size: c.quantity
        for c in Meter(later).charges("aws", date(2026, 3, 1))
        if c.resource.id == resource.id and c.usage_kind == UsageKind.COMPUTE_HOURS
    }
    assert hours == {"m5.2xlarge": 12}


def test_snapshots_restore_into_another_region(cloud: SandboxCloud) -> None:
    db = next(r for r in cloud.list_resources() if r.name == "wedsync-db")
    snapshot = cloud.snapshot(db.id, name="nightly")
    restored = cloud.restore(snapshot.id, region="eu-west-1", name="wedsync-db-dr")
    assert (restored.region, restored.size, restored.resource_type) == ("eu-west-1", db.size, ResourceType.DATABASE)
    assert restored.tags["restored-from"] == snapshot.id
    with pytest.raises(ResourceNotFound):
        cloud.restore("snap-missing", region="eu-west-1", name="x")


def test_metrics_come_back_in_the_long_format_and_only_while_running(cloud: SandboxCloud) -> None:
    stopped = next(r for r in cloud.list_resources() if r.name == "analytics-old")
    idle = next(r for r in cloud.list_resources() if r.name == "staging-old")
    frame = cloud.get_metrics(
        [idle.id, stopped.id], start=datetime(2026, 2, 1, tzinfo=UTC), end=datetime(2026, 2, 2, tzinfo=UTC)
    )
    assert frame.columns == ["resource_id", "metric", "timestamp", "value"]
    assert set(frame["resource_id"]) == {idle.id}  # the stopped one reports nothing
    assert frame.filter(frame["metric"] == "cpu_percent").height == 24


def test_billing_exports_are_listed_per_month(cloud: SandboxCloud, sqlite_engine: Engine) -> None:
    assert cloud.list_billing_exports() == []
    world = load_world(sqlite_engine)
    assert world is not None
    write_exports(world, cloud.exports_dir)
    exports = cloud.list_billing_exports()
    assert [e.billing_period for e in exports] == [date(2025 + (m > 12), (m - 1) % 12 + 1, 1) for m in range(6, 15)]
    assert all(e.format == "aws_cur2" and e.size_bytes > 0 for e in exports)
