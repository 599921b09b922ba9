"""The sandbox provider's answers to requests of every kind: volumes, buckets, databases and
groups made and retried, tags, scaling of what cannot scale, and what a terminated resource refuses."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from clouds.base import ProvisionRequest, ResourceState, ResourceType, ScaleRequest
from clouds.errors import AuthenticationFailed, InvalidStateTransition, UnsupportedRequest
from clouds.sandbox.provider import SandboxCloud
from clouds.sandbox.world import build_world, save_world

AS_OF = date(2026, 3, 1)


@pytest.fixture
def cloud(sqlite_engine: Engine, tmp_path: Path) -> SandboxCloud:
    save_world(sqlite_engine, build_world(4, AS_OF, date(2026, 1, 1)))
    return SandboxCloud(
        sqlite_engine, flavour="aws", exports_dir=tmp_path, clock=lambda: datetime(2026, 3, 1, 12, tzinfo=UTC)
    )


def _request(resource_type: ResourceType, size: str, name: str = "made", **options: object) -> ProvisionRequest:
    # the clock stands still, so an id made from name and time needs a name of its own
    return ProvisionRequest(name=name, resource_type=resource_type, region="eu-west-2", size=size, options=options)


def test_storage_and_databases_are_made_in_their_kind_and_state(cloud: SandboxCloud) -> None:
    volume = cloud.provision(_request(ResourceType.STORAGE, "100GB"))
    bucket = cloud.provision(_request(ResourceType.STORAGE, "0GB", "photos", subtype="bucket"))
    database = cloud.provision(_request(ResourceType.DATABASE, "db.m5.large", "db", subtype="postgres", storage_gb=50))
    group = cloud.provision(_request(ResourceType.COMPUTE, "m5.large", "fleet", subtype="instance_group", min=2, max=5))
    assert (volume.subtype, volume.state, volume.size) == ("volume", ResourceState.AVAILABLE, "100GB")
    assert (bucket.subtype, bucket.zone) == ("bucket", None)
    assert (database.subtype, database.state) == ("database", ResourceState.RUNNING)
    assert (group.subtype, group.details["min"], group.details["max"]) == ("instance_group", 2, 5)


def test_a_storage_size_that_is_not_a_number_of_gb_is_refused(cloud: SandboxCloud) -> None:
    with pytest.raises(UnsupportedRequest, match="such as '100GB', not 'large'"):
        cloud.provision(_request(ResourceType.STORAGE, "large"))
    with pytest.raises(UnsupportedRequest, match="cannot provision network"):
        cloud.provision(_request(ResourceType.NETWORK, "1"))


def test_a_retried_provision_with_the_same_token_returns_the_first_resource(cloud: SandboxCloud) -> None:
    first = cloud.provision(_request(ResourceType.STORAGE, "20GB", client_token="op-1"))
    again = cloud.provision(_request(ResourceType.STORAGE, "20GB", client_token="op-1"))
    other = cloud.provision(_request(ResourceType.STORAGE, "20GB", client_token="op-2"))
    assert again.id == first.id
    assert other.id != first.id


def test_tags_are_replaced_and_a_terminated_resource_refuses_tags_and_scaling(cloud: SandboxCloud) -> None:
    volume = cloud.provision(_request(ResourceType.STORAGE, "20GB"))
    assert cloud.tag(volume.id, {"team": "venues"}).tags == {"team": "venues"}
    with pytest.raises(UnsupportedRequest, match="volume resources have no instance type"):
        cloud.scale(volume.id, ScaleRequest(size="m5.large"))
    with pytest.raises(UnsupportedRequest, match="only instance groups scale horizontally"):
        cloud.scale(volume.id, ScaleRequest(capacity=2))
    with pytest.raises(InvalidStateTransition):
        cloud.stop(volume.id)  # only powered resources start and stop
    assert cloud.terminate(volume.id).state == ResourceState.TERMINATED
    with pytest.raises(InvalidStateTransition, match="tag"):
        cloud.tag(volume.id, {"team": "weddings"})
    with pytest.raises(InvalidStateTransition, match="scale"):
        cloud.scale(volume.id, ScaleRequest(capacity=1))


def test_metrics_within_one_hour_or_of_unmetered_resources_are_empty(cloud: SandboxCloud) -> None:
    volume = cloud.provision(_request(ResourceType.STORAGE, "20GB"))
    start = datetime(2026, 2, 1, 10, 5, tzinfo=UTC)
    assert cloud.get_metrics([volume.id], start=start, end=start.replace(minute=30)).is_empty()
    assert cloud.get_metrics([volume.id], start=start, end=start.replace(day=2)).is_empty()


def test_provisioning_in_a_world_that_does_not_exist_says_to_create_it(sqlite_engine: Engine, tmp_path: Path) -> None:
    save_world(sqlite_engine, build_world(4, AS_OF, date(2026, 1, 1)))
    elsewhere = SandboxCloud(sqlite_engine, flavour="aws", exports_dir=tmp_path, world="missing")
    with pytest.raises(AuthenticationFailed, match="wedcloud sandbox create"):
        elsewhere.provision(_request(ResourceType.STORAGE, "20GB"))
