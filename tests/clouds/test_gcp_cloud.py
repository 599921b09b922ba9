"""The Google Cloud adapter through google-cloud-compute (REST) and google-cloud-storage (JSON)
against the project's Compute Engine emulator over HTTP (which also serves Cloud Storage's bucket
routes), zone operations waited on through the same endpoint."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from clouds.base import METRICS_SCHEMA, ProvisionRequest, ResourceState, ResourceType, ScaleRequest
from clouds.errors import AuthenticationFailed, InvalidStateTransition, ResourceNotFound, UnsupportedRequest
from clouds.gcp.provider import GcpCloud
from tests.emulators.google_compute import Address, Disk, GoogleComputeEmulator, Group, Instance
from tests.emulators.google_storage import Bucket

pytestmark = pytest.mark.integration

PROJECT = "wedsync-prod"
DEBIAN = "projects/debian-cloud/global/images/family/debian-12"


def _cloud(emulator: GoogleComputeEmulator, regions: tuple[str, ...] = ("europe-west2",)) -> GcpCloud:
    return GcpCloud(emulator.service_account(), project_id=PROJECT, regions=regions, endpoint_url=emulator.url)


def _request(name: str = "web-1", **options: str) -> ProvisionRequest:
    return ProvisionRequest(
        name=name, resource_type=ResourceType.COMPUTE, region="europe-west2", size="e2-medium", image=DEBIAN,
        tags={"team": "bookings"}, options=dict(options),
    )  # fmt: skip


def _bucket(name: str = "wedsync-archive", size: str = "NEARLINE", **options: str) -> ProvisionRequest:
    return ProvisionRequest(
        name=name, resource_type=ResourceType.STORAGE, region="europe-west2", size=size, tags={"team": "bookings"},
        options={"subtype": "bucket", **options},
    )  # fmt: skip


def _volume(name: str = "data-1", size: str = "200GB", **options: str) -> ProvisionRequest:
    return ProvisionRequest(
        name=name, resource_type=ResourceType.STORAGE, region="europe-west2", size=size, tags={"team": "bookings"},
        options={"subtype": "volume", **options},
    )  # fmt: skip


def _fields(request: ProvisionRequest) -> list[str]:
    return [field for field, _ in GcpCloud.provision_problems(request)]


def _pages(emulator: GoogleComputeEmulator, path: str) -> int:
    return sum(1 for method, seen in emulator.requests if method == "GET" and seen.endswith(path))


def test_inventory_is_aggregated_across_zones_and_follows_every_page(google_compute: GoogleComputeEmulator) -> None:
    for index in range(130):
        zone = ("europe-west2-a", "europe-west2-b", "us-central1-a")[index % 3]
        google_compute.add_instance(
            Instance(PROJECT, zone, f"vm-{index:03}", "e2-small", "TERMINATED" if index == 1 else "RUNNING")
        )
    found = list(_cloud(google_compute).list_resources())
    assert len(found) == 87  # the two europe-west2 zones, from 130 over three pages
    assert {r.region for r in found} == {"europe-west2"}
    states = {r.name: r.state for r in found}
    assert states["vm-001"] == ResourceState.STOPPED  # GCE says TERMINATED for a stopped instance
    assert states["vm-000"] == ResourceState.RUNNING


def test_connection_names_the_project_and_a_missing_permission(google_compute: GoogleComputeEmulator) -> None:
    google_compute.add_project(PROJECT)
    check = _cloud(google_compute).test_connection()
    assert check.ok, check.detail
    assert check.identity == f"projects/{PROJECT}"
    google_compute.deny("compute.instances.list")
    denied = _cloud(google_compute).test_connection()
    assert list(denied.missing_permissions) == ["compute.instances.list"]


def test_an_unknown_project_is_refused(google_compute: GoogleComputeEmulator) -> None:
    assert not _cloud(google_compute).test_connection().ok
    with pytest.raises(AuthenticationFailed):
        _cloud(google_compute).list_regions()


def test_regions_come_from_the_project(google_compute: GoogleComputeEmulator) -> None:
    google_compute.add_project(PROJECT)
    regions = {r.id: r.geography for r in _cloud(google_compute).list_regions()}
    assert regions == {"europe-west1": "Europe", "europe-west2": "Europe", "us-central1": "North America"}


def test_an_instance_is_created_stopped_resized_started_relabelled_and_deleted(
    google_compute: GoogleComputeEmulator,
) -> None:
    google_compute.add_project(PROJECT)
    cloud = _cloud(google_compute)
    made = cloud.provision(_request())
    assert (made.name, made.size, made.zone, made.state) == (
        "web-1",
        "e2-medium",
        "europe-west2-b",
        ResourceState.RUNNING,
    )
    assert any("/operations/" in path for _, path in google_compute.requests)  # the insert was waited on
    with pytest.raises(InvalidStateTransition):  # as GCE: only a stopped instance changes machine type
        cloud.scale(made.id, ScaleRequest(size="e2-standard-4"))
    assert cloud.stop(made.id).state == ResourceState.STOPPED
    assert cloud.scale(made.id, ScaleRequest(size="e2-standard-4")).size == "e2-standard-4"
    assert cloud.start(made.id).state == ResourceState.RUNNING
    assert cloud.tag(made.id, {"team": "payments"}).tags == {"team": "payments"}
    assert cloud.terminate(made.id).state == ResourceState.TERMINATED
    with pytest.raises(ResourceNotFound):
        cloud.describe(made.id)


def test_a_retried_provision_finds_the_instance_its_operation_made(google_compute: GoogleComputeEmulator) -> None:
    google_compute.add_project(PROJECT)
    cloud = _cloud(google_compute)
    first = cloud.provision(_request(client_token="op-1"))
    assert cloud.provision(_request(client_token="op-1")).id == first.id
    with pytest.raises(UnsupportedRequest, match="already exists"):
        cloud.provision(_request(client_token="op-2"))
    assert len(list(cloud.list_resources())) == 1


def test_what_gce_refuses_comes_back_as_a_clear_error(google_compute: GoogleComputeEmulator) -> None:
    google_compute.add_project(PROJECT)
    cloud = _cloud(google_compute)
    with pytest.raises(UnsupportedRequest, match="Machine type does not exist"):
        cloud.provision(ProvisionRequest(**{**vars(_request()), "size": "e9-imaginary"}))
    with pytest.raises(ResourceNotFound):
        cloud.start(f"projects/{PROJECT}/zones/europe-west2-b/instances/nope")


# -- Cloud Storage buckets -----------------------------------------------------------------------
def test_buckets_are_listed_from_every_page_and_kept_where_their_data_lives(
    google_compute: GoogleComputeEmulator,
) -> None:
    google_compute.storage.page_size = 2
    places = {"eu-archive": "EU", "london-logs": "EUROPE-WEST2", "us-media": "US", "iowa-tmp": "US-CENTRAL1",
              "dual-eu": "EUR4", "belgium-bak": "EUROPE-WEST1", "london-cold": "EUROPE-WEST2"}  # fmt: skip
    for name, location in places.items():
        google_compute.add_bucket(Bucket(PROJECT, name, location, "COLDLINE", {"team": "data"}))
    google_compute.add_bucket(Bucket("someone-else", "not-ours", "EUROPE-WEST2"))
    found = {r.name: r for r in _cloud(google_compute).list_resources() if r.subtype == "bucket"}
    assert _pages(google_compute, "/storage/v1/b") == 4  # seven buckets, two a page
    assert set(found) == {"eu-archive", "london-logs", "london-cold"}  # EU keeps data in europe-west2
    assert found["eu-archive"].region == "eu"
    assert found["london-logs"].region == "europe-west2"
    assert (found["london-logs"].size, found["london-logs"].tags) == ("COLDLINE", {"team": "data"})
    everywhere = {r.name for r in _cloud(google_compute, regions=()).list_resources()}
    assert everywhere == set(places)


def test_a_bucket_is_made_in_the_region_with_its_storage_class_relabelled_and_deleted(
    google_compute: GoogleComputeEmulator,
) -> None:
    google_compute.add_project(PROJECT)
    cloud = _cloud(google_compute)
    made = cloud.provision(_bucket())
    assert made.id == "projects/_/buckets/wedsync-archive"
    assert (made.resource_type, made.subtype, made.region, made.size, made.state) == (
        ResourceType.STORAGE, "bucket", "europe-west2", "NEARLINE", ResourceState.AVAILABLE,
    )  # fmt: skip
    assert made.created_at is not None
    assert made.created_at.tzinfo == UTC
    stored = google_compute.storage.buckets["wedsync-archive"]
    assert (stored.project, stored.location, stored.storage_class) == (PROJECT, "EUROPE-WEST2", "NEARLINE")
    assert cloud.tag(made.id, {"team": "payments", "tier": "cold"}).tags == {"team": "payments", "tier": "cold"}
    assert cloud.tag(made.id, {"tier": "cold"}).tags == {"tier": "cold"}  # a label left out is removed
    assert cloud.describe(made.id).tags == {"tier": "cold"}
    assert cloud.terminate(made.id).state == ResourceState.TERMINATED
    assert google_compute.storage.buckets == {}
    with pytest.raises(ResourceNotFound):
        cloud.describe(made.id)


def test_a_bucket_goes_to_the_multi_region_its_options_name(google_compute: GoogleComputeEmulator) -> None:
    google_compute.add_project(PROJECT)
    made = _cloud(google_compute).provision(_bucket(location="EU"))
    assert (made.region, made.details["location"], made.details["location_type"]) == ("eu", "EU", "multi-region")


def test_a_retried_bucket_provision_returns_the_bucket_its_token_made(google_compute: GoogleComputeEmulator) -> None:
    google_compute.add_project(PROJECT)
    cloud = _cloud(google_compute)
    first = cloud.provision(_bucket(client_token="op-1"))
    assert cloud.provision(_bucket(client_token="op-1")) == first
    assert first.tags == {"team": "bookings"}  # the token's label is WedCloud's, not a tag
    with pytest.raises(UnsupportedRequest, match="already exists"):
        cloud.provision(_bucket(client_token="op-2"))
    google_compute.add_bucket(Bucket("someone-else", "taken-name", "US"))
    with pytest.raises(UnsupportedRequest, match="global across Google Cloud"):
        cloud.provision(_bucket("taken-name", client_token="op-3"))
    assert [b.project for b in google_compute.storage.buckets.values()] == [PROJECT, "someone-else"]


def test_bucket_names_and_storage_classes_google_refuses_are_caught_before_anything_is_sent(
    google_compute: GoogleComputeEmulator,
) -> None:
    for bad in ("ab", "Wedsync-Archive", "-archive", "archive.", "goog-archive", "my-google-files", "x" * 64):
        assert _fields(_bucket(bad)) == ["name"], bad
    assert _fields(_bucket("wedsync_archive.eu-1")) == []
    assert _fields(_bucket(size="HOT")) == ["size"]
    assert _fields(_bucket(size="archive")) == []  # any case
    google_compute.add_project(PROJECT)
    with pytest.raises(UnsupportedRequest, match="storage class"):
        _cloud(google_compute).provision(_bucket(size="HOT"))
    assert not any(method == "POST" for method, _ in google_compute.requests)


def test_a_missing_storage_permission_is_named(google_compute: GoogleComputeEmulator) -> None:
    google_compute.add_project(PROJECT)
    google_compute.deny("storage.buckets.create", "storage.buckets.list")
    cloud = _cloud(google_compute)
    with pytest.raises(AuthenticationFailed, match=r"storage\.buckets\.create"):
        cloud.provision(_bucket())
    assert list(cloud.test_connection().missing_permissions) == ["storage.buckets.list"]


def test_a_bucket_that_holds_objects_is_not_deleted(google_compute: GoogleComputeEmulator) -> None:
    google_compute.add_bucket(Bucket(PROJECT, "full-bucket", "EU", objects=3))
    with pytest.raises(UnsupportedRequest, match="not empty"):
        _cloud(google_compute).terminate("projects/_/buckets/full-bucket")
    assert "full-bucket" in google_compute.storage.buckets


# -- persistent disks ------------------------------------------------------------------------------
def test_volumes_are_listed_from_every_page_with_the_instance_they_are_attached_to(
    google_compute: GoogleComputeEmulator,
) -> None:
    google_compute.page_size = 3
    web = google_compute.add_instance(Instance(PROJECT, "europe-west2-a", "web-1", "e2-small"))
    for index in range(10):
        zone = ("europe-west2-a", "europe-west2-b", "us-central1-a")[index % 3]
        users = [web.name] if index == 0 else []
        google_compute.add_disk(Disk(PROJECT, zone, f"data-{index}", 10 * (index + 1), "pd-ssd", users=users))
    found = {r.name: r for r in _cloud(google_compute).list_resources() if r.subtype == "volume"}
    assert _pages(google_compute, "/aggregated/disks") == 4  # ten disks, three a page
    assert len(found) == 7  # the two europe-west2 zones
    assert found["data-0"].attached_to == f"projects/{PROJECT}/zones/europe-west2-a/instances/web-1"
    assert found["data-1"].attached_to is None  # unattached disks are listed too
    assert (found["data-1"].size, found["data-1"].state, found["data-1"].zone) == (
        "20GB", ResourceState.AVAILABLE, "europe-west2-b",
    )  # fmt: skip
    assert found["data-1"].details["disk_type"] == "pd-ssd"
    assert found["data-1"].created_at == datetime(2026, 11, 1, 16, tzinfo=UTC)  # GCE said 09:00 at -07:00


def test_a_volume_is_made_relabelled_and_deleted_once_per_token(google_compute: GoogleComputeEmulator) -> None:
    google_compute.add_project(PROJECT)
    cloud = _cloud(google_compute)
    made = cloud.provision(_volume(client_token="op-1", disk_type="pd-ssd", zone="europe-west2-a"))
    assert made.id == f"projects/{PROJECT}/zones/europe-west2-a/disks/data-1"
    assert (made.size, made.zone, made.details["disk_type"], made.tags) == (
        "200GB", "europe-west2-a", "pd-ssd", {"team": "bookings"},
    )  # fmt: skip
    assert cloud.provision(_volume(client_token="op-1", disk_type="pd-ssd", zone="europe-west2-a")).id == made.id
    with pytest.raises(UnsupportedRequest, match="already exists"):
        cloud.provision(_volume(client_token="op-2", zone="europe-west2-a"))
    assert len(google_compute.disks) == 1
    assert cloud.tag(made.id, {"team": "payments"}).tags == {"team": "payments"}
    assert google_compute.disks[(PROJECT, "europe-west2-a", "data-1")].labels["wedcloud-operation"] == "op-1"
    assert cloud.terminate(made.id).state == ResourceState.TERMINATED
    with pytest.raises(ResourceNotFound):
        cloud.describe(made.id)


def test_a_volume_defaults_to_a_balanced_disk_in_the_regions_b_zone(google_compute: GoogleComputeEmulator) -> None:
    google_compute.add_project(PROJECT)
    made = _cloud(google_compute).provision(_volume(size="50GB"))
    assert (made.zone, made.size, made.details["disk_type"]) == ("europe-west2-b", "50GB", "pd-balanced")


def test_an_attached_volume_is_deleted_only_once_its_instance_is_gone(google_compute: GoogleComputeEmulator) -> None:
    web = google_compute.add_instance(Instance(PROJECT, "europe-west2-b", "web-1", "e2-small"))
    google_compute.add_disk(Disk(PROJECT, "europe-west2-b", "data-1", users=[web.name]))
    cloud = _cloud(google_compute)
    volume = f"projects/{PROJECT}/zones/europe-west2-b/disks/data-1"
    with pytest.raises(UnsupportedRequest, match="already being used"):
        cloud.terminate(volume)
    cloud.terminate(f"projects/{PROJECT}/zones/europe-west2-b/instances/web-1")
    assert cloud.describe(volume).attached_to is None
    assert cloud.terminate(volume).state == ResourceState.TERMINATED


def test_volume_sizes_types_names_and_zones_gce_refuses_are_caught_before_anything_is_sent() -> None:
    assert _fields(_volume()) == []
    assert _fields(_volume(size="5GB")) == ["size"]
    assert _fields(_volume(size="lots")) == ["size"]
    assert _fields(_volume(size="70000GB")) == ["size"]
    assert _fields(_volume(disk_type="pd-fast")) == ["options"]
    assert _fields(_volume(zone="us-central1-a")) == ["options"]
    assert _fields(_volume("Data_1")) == ["name"]
    assert _fields(_volume("1-data")) == ["name"]


# -- managed instance groups -----------------------------------------------------------------------
def test_instance_groups_are_listed_from_every_page_with_their_bounds(google_compute: GoogleComputeEmulator) -> None:
    google_compute.page_size = 2
    for index in range(5):
        google_compute.add_group(Group(PROJECT, "europe-west2-a", f"pool-{index}", target_size=index))
    google_compute.add_group(Group(PROJECT, "europe-west2-b", "web", target_size=3, autoscaler=(2, 6)))
    found = {r.name: r for r in _cloud(google_compute).list_resources() if r.subtype == "instance_group"}
    assert _pages(google_compute, "/aggregated/instanceGroupManagers") == 3
    assert set(found) == {"pool-0", "pool-1", "pool-2", "pool-3", "pool-4", "web"}
    assert found["web"].resource_type == ResourceType.COMPUTE
    assert {k: found["web"].details[k] for k in ("min", "max", "desired")} == {"min": 2, "max": 6, "desired": 3}
    assert {k: found["pool-1"].details[k] for k in ("min", "max", "desired")} == {"min": 0, "max": 1000, "desired": 1}
    assert (found["pool-0"].state, found["pool-1"].state) == (ResourceState.STOPPED, ResourceState.RUNNING)


def test_a_group_scales_within_its_autoscalers_bounds_and_is_refused_outside_them(
    google_compute: GoogleComputeEmulator,
) -> None:
    google_compute.add_group(Group(PROJECT, "europe-west2-b", "web", target_size=3, autoscaler=(2, 6)))
    cloud = _cloud(google_compute)
    group_id = f"projects/{PROJECT}/zones/europe-west2-b/instanceGroupManagers/web"
    scaled = cloud.scale(group_id, ScaleRequest(capacity=6))
    assert scaled.details["desired"] == 6
    assert google_compute.groups[(PROJECT, "europe-west2-b", "web")].target_size == 6
    assert any(path.endswith("/instanceGroupManagers/web/resize") for _, path in google_compute.requests)
    for outside in (1, 7):
        with pytest.raises(UnsupportedRequest, match=r"2 to 6 instances \(its autoscaler"):
            cloud.scale(group_id, ScaleRequest(capacity=outside))
    assert google_compute.groups[(PROJECT, "europe-west2-b", "web")].target_size == 6
    with pytest.raises(UnsupportedRequest, match="by capacity"):
        cloud.scale(group_id, ScaleRequest(size="e2-standard-4"))


def test_a_group_without_an_autoscaler_scales_from_0_to_1000(google_compute: GoogleComputeEmulator) -> None:
    google_compute.add_group(Group(PROJECT, "europe-west2-a", "batch", target_size=2))
    cloud = _cloud(google_compute)
    group_id = f"projects/{PROJECT}/zones/europe-west2-a/instanceGroupManagers/batch"
    assert cloud.scale(group_id, ScaleRequest(capacity=0)).state == ResourceState.STOPPED
    with pytest.raises(UnsupportedRequest, match="0 to 1000"):
        cloud.scale(group_id, ScaleRequest(capacity=1001))
    assert cloud.scale(group_id, ScaleRequest(capacity=1000)).details["desired"] == 1000


def test_a_group_is_imported_not_provisioned_scaled_not_started_and_deleted(
    google_compute: GoogleComputeEmulator,
) -> None:
    group = ProvisionRequest(**{**vars(_request("pool")), "options": {"subtype": "instance_group"}})
    problems = GcpCloud.provision_problems(group)
    assert [field for field, _ in problems] == ["subtype"]
    assert "imported by a provider sync" in problems[0][1]
    google_compute.add_group(Group(PROJECT, "europe-west2-a", "pool"))
    cloud = _cloud(google_compute)
    with pytest.raises(UnsupportedRequest, match="imported by a provider sync"):
        cloud.provision(group)
    group_id = f"projects/{PROJECT}/zones/europe-west2-a/instanceGroupManagers/pool"
    for action in (cloud.start, cloud.stop):
        with pytest.raises(UnsupportedRequest, match="scale it"):
            action(group_id)
    assert cloud.terminate(group_id).state == ResourceState.TERMINATED
    assert google_compute.groups == {}
    with pytest.raises(ResourceNotFound):
        cloud.describe(group_id)


# -- metrics (Cloud Monitoring projects.timeSeries.list, served by the same emulator) ------------
COMPUTE = "compute.googleapis.com/instance/"
T0 = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
FIVE = timedelta(minutes=5)


def _minutes(*values: float) -> list[tuple[datetime, float]]:
    """One sample a minute from T0, as Compute Engine samples its metrics."""
    return [(T0 + timedelta(minutes=m), value) for m, value in enumerate(values)]


def _vm(emulator: GoogleComputeEmulator, name: str = "web-1") -> tuple[Instance, str]:
    vm = emulator.add_instance(Instance(PROJECT, "europe-west2-a", name, "e2-small"))
    return vm, f"projects/{PROJECT}/zones/europe-west2-a/instances/{name}"


def _values(frame: pl.DataFrame, metric: str) -> list[float]:
    return frame.filter(pl.col("metric") == metric).sort("timestamp")["value"].to_list()


def test_metrics_come_back_per_period_with_cpu_as_percent_and_counts_summed(
    google_compute: GoogleComputeEmulator,
) -> None:
    vm, vm_id = _vm(google_compute)
    google_compute.add_points(COMPUTE + "cpu/utilization", vm, _minutes(0.1, 0.2, 0.3, 0.4, 0.5, 0.9))
    google_compute.add_points(
        COMPUTE + "network/received_bytes_count", vm, _minutes(100, 200, 300, 400, 500, 7), "INT64"
    )
    google_compute.add_points(COMPUTE + "network/sent_bytes_count", vm, _minutes(1, 1, 1, 1, 1, 1), "INT64")
    for device in ("boot", "data"):  # one series per disk, reads and writes: all operations add up
        google_compute.add_points(COMPUTE + "disk/read_ops_count", vm, _minutes(2, 2, 2, 2, 2, 2), "INT64",
                                  device_name=device)  # fmt: skip
        google_compute.add_points(COMPUTE + "disk/write_ops_count", vm, _minutes(1, 1, 1, 1, 1, 1), "INT64",
                                  device_name=device)  # fmt: skip
    frame = _cloud(google_compute).get_metrics([vm_id], start=T0, end=T0 + 2 * FIVE, period=FIVE)
    assert frame.schema == METRICS_SCHEMA
    assert set(frame["resource_id"]) == {vm_id}
    assert frame.filter(pl.col("metric") == "cpu_percent").sort("timestamp")["timestamp"].to_list() == [T0, T0 + FIVE]
    assert _values(frame, "cpu_percent") == pytest.approx([30.0, 90.0])  # the mean of 10..50 %, then 90 %
    assert _values(frame, "network_in_bytes") == [1500.0, 7.0]
    assert _values(frame, "network_out_bytes") == [5.0, 1.0]
    assert _values(frame, "disk_io_ops") == [30.0, 6.0]
    assert "memory_percent" not in set(frame["metric"])  # no Ops Agent: absent, not zero


def test_memory_comes_from_the_ops_agents_used_state_only(google_compute: GoogleComputeEmulator) -> None:
    vm, vm_id = _vm(google_compute)
    memory = "agent.googleapis.com/memory/percent_used"
    google_compute.add_points(memory, vm, _minutes(40, 60), state="used")
    google_compute.add_points(memory, vm, _minutes(55, 35), state="free")
    frame = _cloud(google_compute).get_metrics([vm_id], start=T0, end=T0 + FIVE, period=FIVE)
    assert _values(frame, "memory_percent") == [50.0]
    assert set(frame["metric"]) == {"memory_percent"}


def test_every_page_of_time_series_is_read(google_compute: GoogleComputeEmulator) -> None:
    vm, vm_id = _vm(google_compute)
    for index in range(5):
        google_compute.add_points(COMPUTE + "disk/read_ops_count", vm, _minutes(index + 1), "INT64",
                                  device_name=f"disk-{index}")  # fmt: skip
    google_compute.monitoring.page_size = 2
    frame = _cloud(google_compute).get_metrics([vm_id], start=T0, end=T0 + FIVE, period=FIVE)
    assert _values(frame, "disk_io_ops") == [15.0]  # 1 + 2 + 3 + 4 + 5, from three pages
    lists = [path for method, path in google_compute.requests if method == "GET" and path.endswith("/timeSeries")]
    assert len(lists) == 6 + 2  # one list per metric type, two more pages of disk reads


def test_several_instances_in_one_call_are_mapped_back_to_their_ids(google_compute: GoogleComputeEmulator) -> None:
    web, web_id = _vm(google_compute, "web-1")
    db, db_id = _vm(google_compute, "db-1")
    _, idle_id = _vm(google_compute, "idle-1")
    other = google_compute.add_instance(Instance(PROJECT, "europe-west2-b", "not-asked", "e2-small"))
    for vm, fraction in ((web, 0.25), (db, 0.75), (other, 0.5)):
        google_compute.add_points(COMPUTE + "cpu/utilization", vm, _minutes(fraction))
    frame = _cloud(google_compute).get_metrics([web_id, db_id, idle_id], start=T0, end=T0 + FIVE, period=FIVE)
    by_id = dict(frame.filter(pl.col("metric") == "cpu_percent").select("resource_id", "value").iter_rows())
    assert by_id == {web_id: 25.0, db_id: 75.0}  # the idle one reported nothing; the other was not asked for


def test_disks_and_buckets_report_no_metrics(google_compute: GoogleComputeEmulator) -> None:
    google_compute.add_disk(Disk(PROJECT, "europe-west2-a", "data-1"))
    google_compute.add_bucket(Bucket(PROJECT, "wedsync-archive"))
    ids = [f"projects/{PROJECT}/zones/europe-west2-a/disks/data-1", "projects/_/buckets/wedsync-archive"]
    frame = _cloud(google_compute).get_metrics(ids, start=T0, end=T0 + FIVE, period=FIVE)
    assert frame.is_empty()
    assert frame.schema == METRICS_SCHEMA


def test_a_missing_monitoring_permission_is_named(google_compute: GoogleComputeEmulator) -> None:
    _, vm_id = _vm(google_compute)
    google_compute.deny("monitoring.timeSeries.list")
    with pytest.raises(AuthenticationFailed, match=r"monitoring\.timeSeries\.list"):
        _cloud(google_compute).get_metrics([vm_id], start=T0, end=T0 + FIVE, period=FIVE)


# -- addresses, state_since and architecture -------------------------------------------------------
def _address_id(name: str, region: str = "europe-west2") -> str:
    return f"projects/{PROJECT}/regions/{region}/addresses/{name}"


def test_external_addresses_are_listed_reserved_as_unattached_and_in_use_as_attached_to_their_user(
    google_compute: GoogleComputeEmulator,
) -> None:
    google_compute.page_size = 2
    web = google_compute.add_instance(Instance(PROJECT, "europe-west2-a", "web-1", "e2-small"))
    rule = f"https://www.googleapis.com/compute/v1/projects/{PROJECT}/regions/europe-west2/forwardingRules/lb"
    google_compute.add_address(Address(PROJECT, "europe-west2", "web-ip", "34.89.1.10", users=[web.self_link]))
    google_compute.add_address(Address(PROJECT, "europe-west2", "lb-ip", users=[rule]))
    google_compute.add_address(Address(PROJECT, "europe-west2", "spare-ip", "34.89.1.11", labels={"team": "web"}))
    google_compute.add_address(Address(PROJECT, "europe-west2", "db-internal", "10.0.0.5", "INTERNAL"))
    google_compute.add_address(Address(PROJECT, "us-central1", "far-ip"))
    google_compute.add_address(Address(PROJECT, "europe-west2", "nat-ip", status="IN_USE"))
    cloud = _cloud(google_compute)
    found = {r.name: r for r in cloud.list_resources() if r.subtype == "address"}
    assert _pages(google_compute, "/aggregated/addresses") == 3  # six addresses, two a page
    assert set(found) == {"web-ip", "lb-ip", "spare-ip", "nat-ip"}  # external ones of the provider's regions
    assert found["nat-ip"].attached_to == "unknown"  # in use, no user named: never called unattached
    used, spare = found["web-ip"], found["spare-ip"]
    assert (used.id, used.resource_type, used.state, used.size, used.region) == (
        _address_id("web-ip"), ResourceType.NETWORK, ResourceState.AVAILABLE, None, "europe-west2",
    )  # fmt: skip
    assert used.attached_to == f"projects/{PROJECT}/zones/europe-west2-a/instances/web-1"  # the instance's id
    assert (used.details["ip"], used.details["allocation"], used.details["gce_status"]) == (
        "34.89.1.10", "static", "IN_USE",
    )  # fmt: skip
    assert found["lb-ip"].attached_to == f"projects/{PROJECT}/regions/europe-west2/forwardingRules/lb"
    assert (spare.attached_to, spare.details["ip"], spare.details["gce_status"]) == (None, "34.89.1.11", "RESERVED")
    assert spare.tags == {"team": "web"}
    assert "state_since" not in spare.details  # GCE does not say since when it is unused: never guessed
    assert cloud.describe(spare.id) == spare
    assert {r.name for r in _cloud(google_compute, regions=()).list_resources() if r.subtype == "address"} == {
        "web-ip", "lb-ip", "spare-ip", "nat-ip", "far-ip",
    }  # fmt: skip


def test_terminating_a_reserved_address_releases_it_and_one_in_use_is_refused_until_its_instance_is_gone(
    google_compute: GoogleComputeEmulator,
) -> None:
    web = google_compute.add_instance(Instance(PROJECT, "europe-west2-a", "web-1", "e2-small"))
    google_compute.add_address(Address(PROJECT, "europe-west2", "web-ip", users=[web.self_link]))
    google_compute.add_address(Address(PROJECT, "europe-west2", "spare-ip"))
    cloud = _cloud(google_compute)
    released = cloud.terminate(_address_id("spare-ip"))
    assert (released.subtype, released.state) == ("address", ResourceState.TERMINATED)
    assert list(google_compute.addresses) == [(PROJECT, "europe-west2", "web-ip")]
    assert any("/regions/europe-west2/operations/" in path for _, path in google_compute.requests)  # waited on
    with pytest.raises(ResourceNotFound):
        cloud.describe(_address_id("spare-ip"))
    with pytest.raises(InvalidStateTransition, match="instances/web-1"):
        cloud.terminate(_address_id("web-ip"))
    with pytest.raises(UnsupportedRequest, match="an address has no power state"):
        cloud.stop(_address_id("web-ip"))
    cloud.terminate(f"projects/{PROJECT}/zones/europe-west2-a/instances/web-1")
    assert cloud.describe(_address_id("web-ip")).attached_to is None
    assert cloud.terminate(_address_id("web-ip")).state == ResourceState.TERMINATED
    assert google_compute.addresses == {}


def test_an_address_is_relabelled_keeping_the_label_of_the_operation_that_made_it(
    google_compute: GoogleComputeEmulator,
) -> None:
    google_compute.add_address(
        Address(PROJECT, "europe-west2", "web-ip", labels={"team": "web", "wedcloud-operation": "op-1"})
    )
    tagged = _cloud(google_compute).tag(_address_id("web-ip"), {"team": "payments"})
    assert tagged.tags == {"team": "payments"}
    assert google_compute.addresses[(PROJECT, "europe-west2", "web-ip")].labels["wedcloud-operation"] == "op-1"


def test_an_instance_reports_when_it_last_started_or_stopped(google_compute: GoogleComputeEmulator) -> None:
    google_compute.add_project(PROJECT)
    cloud = _cloud(google_compute)
    made = cloud.provision(_request())
    started = made.details["state_since"]
    assert started.tzinfo == UTC
    assert abs(datetime.now(UTC) - started) < timedelta(minutes=1)
    before = datetime.now(UTC) - timedelta(seconds=1)
    stopped = cloud.stop(made.id)
    assert stopped.details["state_since"] >= before  # lastStopTimestamp, in UTC
    google_compute.add_instance(
        Instance(PROJECT, "europe-west2-a", "old", "e2-small", "TERMINATED",
                 last_start="2026-10-01T01:00:00.000-07:00", last_stop="2026-11-02T02:30:00.000-08:00")
    )  # fmt: skip
    google_compute.add_instance(Instance(PROJECT, "europe-west2-a", "unsaid", "e2-small"))
    found = {r.name: r for r in cloud.list_resources()}
    assert found["old"].details["state_since"] == datetime(2026, 11, 2, 10, 30, tzinfo=UTC)
    assert "state_since" not in found["unsaid"].details  # GCE gave no lastStartTimestamp: never guessed


def test_instances_report_their_architecture_from_the_cpu_platform_or_machine_series(
    google_compute: GoogleComputeEmulator,
) -> None:
    machines = {
        "intel": ("e2-small", "Intel Broadwell"),
        "tau": ("t2a-standard-2", "Ampere Altra"),
        "axion": ("c4a-standard-4", "Unknown CPU Platform"),  # stopped: only the series says
        "amd": ("n2d-standard-2", "Unknown CPU Platform"),
        "future": ("zz9-standard-2", "Unknown CPU Platform"),
    }
    for name, (machine, platform) in machines.items():
        google_compute.add_instance(Instance(PROJECT, "europe-west2-a", name, machine, cpu_platform=platform))
    found = {r.name: r.details["architecture"] for r in _cloud(google_compute).list_resources()}
    assert found == {"intel": "x86_64", "tau": "arm64", "axion": "arm64", "amd": "x86_64", "future": None}


def test_disks_report_when_they_were_last_attached_or_detached_and_never_their_creation(
    google_compute: GoogleComputeEmulator,
) -> None:
    web = google_compute.add_instance(Instance(PROJECT, "europe-west2-a", "web-1", "e2-small"))
    google_compute.add_disk(
        Disk(PROJECT, "europe-west2-a", "in-use", users=[web.name], last_attach="2026-11-20T01:00:00.000-08:00")
    )
    google_compute.add_disk(
        Disk(PROJECT, "europe-west2-a", "detached", last_attach="2026-10-01T00:00:00.000-07:00",
             last_detach="2026-11-03T04:00:00.000-08:00")
    )  # fmt: skip
    google_compute.add_disk(Disk(PROJECT, "europe-west2-a", "never-used"))
    google_compute.add_disk(Disk(PROJECT, "europe-west2-a", "in-use-unsaid", users=[web.name]))
    found = {r.name: r for r in _cloud(google_compute).list_resources() if r.subtype == "volume"}
    assert found["in-use"].details["state_since"] == datetime(2026, 11, 20, 9, tzinfo=UTC)
    assert found["detached"].details["state_since"] == datetime(2026, 11, 3, 12, tzinfo=UTC)
    # GCE gives no detach time: its creation is not when it became unattached, so none is guessed
    assert (found["never-used"].attached_to, "state_since" in found["never-used"].details) == (None, False)
    assert "state_since" not in found["in-use-unsaid"].details


def test_an_unattached_disk_attached_since_its_last_detach_gets_no_state_since(
    google_compute: GoogleComputeEmulator,
) -> None:
    google_compute.add_disk(
        Disk(PROJECT, "europe-west2-a", "reattached", last_attach="2026-11-20T01:00:00.000-08:00",
             last_detach="2026-11-03T04:00:00.000-08:00")
    )  # fmt: skip
    google_compute.add_disk(
        Disk(PROJECT, "europe-west2-a", "same-moment", last_attach="2026-11-03T04:00:00.000-08:00",
             last_detach="2026-11-03T12:00:00.000Z")
    )  # fmt: skip
    found = {r.name: r for r in _cloud(google_compute).list_resources() if r.subtype == "volume"}
    assert found["reattached"].attached_to is None
    assert "state_since" not in found["reattached"].details  # the detach is older than the last attach
    assert found["same-moment"].details["state_since"] == datetime(2026, 11, 3, 12, tzinfo=UTC)


def test_an_address_without_an_address_type_is_external(google_compute: GoogleComputeEmulator) -> None:
    google_compute.add_address(Address(PROJECT, "europe-west2", "defaulted", "34.89.1.12", address_type=""))
    found = [r.name for r in _cloud(google_compute).list_resources() if r.subtype == "address"]
    assert found == ["defaulted"]


def test_the_adapter_gives_its_credentials_to_other_google_clients(google_compute: GoogleComputeEmulator) -> None:
    from google.oauth2.service_account import Credentials

    from tests.emulators.google_auth import OWNER

    cloud = _cloud(google_compute)
    assert isinstance(cloud.credentials, Credentials)  # the key the emulator knows
    assert cloud.credentials is cloud.storage._credentials
    # the Compute clients hold a copy that signs its own JWTs, of the same account
    assert cloud.instances._transport._credentials.service_account_email == OWNER
