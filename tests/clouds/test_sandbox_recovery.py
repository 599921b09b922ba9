"""The sandbox's disaster-recovery side: snapshots, cross-region copies, restores with modelled
timings, and DNS routing of a record set."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from clouds.base import DnsRecordSet, ResourceType
from clouds.errors import InvalidStateTransition, ResourceNotFound, UnsupportedRequest
from clouds.sandbox.provider import SandboxCloud
from clouds.sandbox.world import build_world, save_world

AS_OF = date(2026, 3, 1)
RECORDS = DnsRecordSet(zone="wedsync", name="app.wedsync.example", targets={"eu-west-2": "10.0.0.1",
                       "eu-west-1": "10.1.0.1"})  # fmt: skip


@pytest.fixture
def cloud(sqlite_engine: Engine, tmp_path: Path) -> SandboxCloud:
    save_world(sqlite_engine, build_world(4, AS_OF, date(2025, 6, 1)))
    return SandboxCloud(sqlite_engine, flavour="aws", exports_dir=tmp_path / "exports",
                        clock=lambda: datetime(2026, 3, 1, 12, tzinfo=UTC))  # fmt: skip


def _database(cloud: SandboxCloud) -> str:
    return next(r.id for r in cloud.list_resources() if r.name == "wedsync-db")


def test_a_snapshot_copied_to_another_region_restores_there_with_its_tags(cloud: SandboxCloud) -> None:
    db = cloud.describe(_database(cloud))
    taken = cloud.snapshot(db.id, name="nightly", tags={"wedcloud:plan": "p1"})
    copy = cloud.copy_snapshot(taken.id, region="eu-west-1", name="nightly-eu-west-1", tags={"wedcloud:plan": "p1"})
    assert (taken.region, copy.region, copy.source_snapshot_id) == ("eu-west-2", "eu-west-1", taken.id)
    assert copy.state == "completed"
    assert copy.completed_at is not None
    assert copy.kind == "database"
    restored = cloud.restore(copy.id, region="eu-west-1", name="wedsync-db-dr", tags={"wedcloud:drill": "d1"})
    assert (restored.region, restored.size, restored.resource_type) == ("eu-west-1", db.size, ResourceType.DATABASE)
    assert restored.tags["wedcloud:drill"] == "d1"
    assert restored.tags["restored-from"] == copy.id
    with pytest.raises(ResourceNotFound):
        cloud.restore("snap-missing", region="eu-west-1", name="x")


def test_repeating_a_snapshot_copy_or_restore_makes_nothing_new(cloud: SandboxCloud) -> None:
    db = _database(cloud)
    taken = cloud.snapshot(db, name="nightly")
    copy = cloud.copy_snapshot(taken.id, region="eu-west-1", name="nightly-copy")
    restored = cloud.restore(copy.id, region="eu-west-1", name="db-dr")
    resources, snapshots = len(list(cloud.list_resources())), len(list(cloud.list_snapshots()))
    assert cloud.snapshot(db, name="nightly").id == taken.id
    assert cloud.copy_snapshot(taken.id, region="eu-west-1", name="nightly-copy").id == copy.id
    assert cloud.restore(copy.id, region="eu-west-1", name="db-dr").id == restored.id
    assert (len(list(cloud.list_resources())), len(list(cloud.list_snapshots()))) == (resources, snapshots)


def test_restore_time_grows_with_the_data_and_is_the_same_every_time(cloud: SandboxCloud) -> None:
    small = next(r for r in cloud.list_resources() if r.subtype == "volume")
    db = cloud.describe(_database(cloud))
    volume_copy = cloud.restore(cloud.snapshot(small.id, name="v").id, region="eu-west-1", name="v-dr")
    db_copy = cloud.restore(cloud.snapshot(db.id, name="d").id, region="eu-west-1", name="d-dr")
    db_gb, volume_gb = int(db.details["storage_gb"]), int(small.details["storage_gb"])
    assert db_copy.details["ready_after_seconds"] == 240 + 2 * db_gb
    assert volume_copy.details["ready_after_seconds"] == 30 + volume_gb


def test_snapshots_are_listed_by_region_and_tags_and_deleted(cloud: SandboxCloud) -> None:
    taken = cloud.snapshot(_database(cloud), name="nightly", tags={"wedcloud:plan": "p1"})
    copy = cloud.copy_snapshot(taken.id, region="eu-west-1", name="copy", tags={"wedcloud:plan": "p1"})
    cloud.snapshot(_database(cloud), name="other", tags={"wedcloud:plan": "p2"})
    assert [s.id for s in cloud.list_snapshots(region="eu-west-1")] == [copy.id]
    assert {s.id for s in cloud.list_snapshots(tags={"wedcloud:plan": "p1"})} == {taken.id, copy.id}
    cloud.delete_snapshot(copy.id)
    cloud.delete_snapshot(copy.id)  # gone already: not an error
    assert {s.id for s in cloud.list_snapshots(tags={"wedcloud:plan": "p1"})} == {taken.id}
    with pytest.raises(ResourceNotFound):
        cloud.describe_snapshot(copy.id)


def test_a_terminated_resource_cannot_be_snapshotted_and_unknown_regions_are_refused(cloud: SandboxCloud) -> None:
    db = _database(cloud)
    taken = cloud.snapshot(db, name="before")
    with pytest.raises(UnsupportedRequest, match="unknown region"):
        cloud.copy_snapshot(taken.id, region="uksouth", name="x")
    cloud.terminate(db)
    with pytest.raises(InvalidStateTransition):
        cloud.snapshot(db, name="after")
    assert cloud.describe_snapshot(taken.id).id == taken.id  # a snapshot outlives its source


def test_dns_routing_sends_all_traffic_to_the_active_target(cloud: SandboxCloud) -> None:
    assert cloud.dns_routing(RECORDS) is None
    cloud.route_dns(RECORDS, active="eu-west-2")
    moved = cloud.route_dns(RECORDS, active="eu-west-1")
    assert moved.weights == {"eu-west-2": 0, "eu-west-1": 100}
    read = cloud.dns_routing(RECORDS)
    assert read is not None
    assert (read.active, read.values) == ("eu-west-1", ("10.1.0.1",))
    with pytest.raises(UnsupportedRequest, match="not one of the record's targets"):
        cloud.route_dns(RECORDS, active="ap-south-1")
