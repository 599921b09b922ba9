"""Disaster recovery on Google Cloud: snapshots, copies and restores through google-cloud-compute
(REST), and Cloud DNS through google-cloud-dns, against the Compute Engine emulator over HTTP
(which serves global snapshots, their global operations and Cloud DNS v1 on the same endpoint)."""

from __future__ import annotations

import pytest
from google.cloud.dns import Client as DnsClient

from clouds.base import DnsRecordSet, ResourceType
from clouds.errors import InvalidStateTransition, ResourceNotFound, UnsupportedRequest
from clouds.gcp.credentials import credentials_for
from clouds.gcp.provider import GcpCloud
from clouds.gcp.snapshots import storage_location
from tests.emulators.google_compute import Disk, GoogleComputeEmulator, Instance

pytestmark = pytest.mark.integration

PROJECT = "wedsync-prod"
PRIMARY, DR, FAR = "europe-west2", "europe-west1", "us-central1"
DISK = f"projects/{PROJECT}/zones/europe-west2-b/disks/bookings-data"
WEB = f"projects/{PROJECT}/zones/europe-west2-b/instances/web-1"
PLAN_TAGS = {"wedcloud:plan": "plan-7", "team": "bookings"}
DRILL_TAGS = {"wedcloud:drill": "drill-3"}


def _cloud(emulator: GoogleComputeEmulator) -> GcpCloud:
    return GcpCloud(
        emulator.service_account(), project_id=PROJECT, regions=(PRIMARY,), endpoint_url=emulator.url, backoff=0.01
    )


def _disk(emulator: GoogleComputeEmulator, name: str = "bookings-data", size_gb: int = 120) -> Disk:
    return emulator.add_disk(Disk(PROJECT, "europe-west2-b", name, size_gb))


def _web(emulator: GoogleComputeEmulator) -> Instance:
    """An instance booting from its own disk of its name, as GCE makes one from an image."""
    _disk(emulator, "web-1", 20).users.append("web-1")
    return emulator.add_instance(Instance(PROJECT, "europe-west2-b", "web-1", "e2-medium"))


def test_snapshot_locations_are_the_multi_region_holding_the_region() -> None:
    assert [storage_location(r) for r in ("europe-west2", "us-east4", "asia-south1")] == ["eu", "us", "asia"]
    assert storage_location("australia-southeast1") == "australia-southeast1"  # no multi-region holds it


def test_a_disk_snapshot_is_kept_multi_regionally_with_its_tags_as_labels(
    google_compute: GoogleComputeEmulator,
) -> None:
    _disk(google_compute)
    cloud = _cloud(google_compute)
    taken = cloud.snapshot(DISK, name="bookings-data-0601", tags=PLAN_TAGS)
    assert (taken.id, taken.resource_id) == (f"projects/{PROJECT}/global/snapshots/bookings-data-0601", DISK)
    assert (taken.region, taken.state, taken.size_gb, taken.kind) == ("eu", "completed", 120, "volume")
    assert taken.completed_at == taken.created_at
    assert taken.created_at.utcoffset() is not None
    assert taken.tags == PLAN_TAGS  # the adapter's own labels are not tags
    stored = google_compute.snapshots.snapshots[(PROJECT, "bookings-data-0601")]
    assert stored.storage_locations == ["eu"]
    assert stored.labels["wedcloud-plan"] == "plan-7"
    assert stored.labels["team"] == "bookings"
    assert cloud.describe_snapshot(taken.id) == taken


def test_a_repeated_snapshot_finds_the_first_and_a_taken_name_is_refused(
    google_compute: GoogleComputeEmulator,
) -> None:
    _disk(google_compute)
    _disk(google_compute, "albums-data")
    cloud = _cloud(google_compute)
    first = cloud.snapshot(DISK, name="bookings-data-0601", tags=PLAN_TAGS)
    assert cloud.snapshot(DISK, name="bookings-data-0601", tags=PLAN_TAGS) == first
    assert len(google_compute.snapshots.snapshots) == 1
    with pytest.raises(UnsupportedRequest, match="of another resource"):
        cloud.snapshot(DISK.replace("bookings-data", "albums-data"), name="bookings-data-0601")
    with pytest.raises(ResourceNotFound):
        cloud.snapshot(DISK.replace("bookings-data", "missing"), name="missing-0601")


def test_a_copy_for_a_region_of_the_same_multi_region_is_the_snapshot_itself(
    google_compute: GoogleComputeEmulator,
) -> None:
    _disk(google_compute)
    cloud = _cloud(google_compute)
    taken = cloud.snapshot(DISK, name="bookings-data-0601", tags=PLAN_TAGS)
    assert cloud.copy_snapshot(taken.id, region=DR, name="bookings-data-0601-dr", tags=DRILL_TAGS) == taken
    assert set(google_compute.snapshots.snapshots) == {(PROJECT, "bookings-data-0601")}
    assert google_compute.snapshots.snapshots[(PROJECT, "bookings-data-0601")].labels.get("wedcloud-drill") is None


def test_a_copy_for_another_multi_region_is_a_new_snapshot_kept_there_without_a_staging_disk(
    google_compute: GoogleComputeEmulator,
) -> None:
    _disk(google_compute)
    cloud = _cloud(google_compute)
    taken = cloud.snapshot(DISK, name="bookings-data-0601", tags=PLAN_TAGS)
    copy = cloud.copy_snapshot(taken.id, region=FAR, name="bookings-data-0601-us", tags=DRILL_TAGS)
    assert (copy.region, copy.state, copy.source_snapshot_id) == ("us", "completed", taken.id)
    assert (copy.resource_id, copy.kind, copy.size_gb, copy.tags) == (DISK, "volume", 120, DRILL_TAGS)
    assert google_compute.snapshots.snapshots[(PROJECT, "bookings-data-0601-us")].storage_locations == ["us"]
    assert set(google_compute.disks) == {(PROJECT, "europe-west2-b", "bookings-data")}  # staging disk deleted
    # a repeated call (after a crash that left the staging disk behind) makes nothing and deletes it
    google_compute.add_disk(Disk(PROJECT, "us-central1-a", "bookings-data-0601-us-staging", 120))
    again = cloud.copy_snapshot(taken.id, region=FAR, name="bookings-data-0601-us", tags=DRILL_TAGS)
    assert again == copy
    assert len(google_compute.snapshots.snapshots) == 2
    assert set(google_compute.disks) == {(PROJECT, "europe-west2-b", "bookings-data")}
    assert [s.id for s in cloud.list_snapshots(region=FAR)] == [copy.id]


def test_a_disk_is_restored_in_a_dr_region_carrying_the_tags_once(google_compute: GoogleComputeEmulator) -> None:
    _disk(google_compute)
    cloud = _cloud(google_compute)
    taken = cloud.snapshot(DISK, name="bookings-data-0601", tags=PLAN_TAGS)
    restored = cloud.restore(taken.id, region=DR, name="bookings-data-drill", tags=DRILL_TAGS)
    assert (restored.region, restored.zone, restored.size) == (DR, "europe-west1-b", "120GB")
    assert (restored.resource_type, restored.subtype, restored.tags) == (ResourceType.STORAGE, "volume", DRILL_TAGS)
    made = google_compute.disks[(PROJECT, "europe-west1-b", "bookings-data-drill")]
    assert made.source_snapshot is not None
    assert made.source_snapshot.endswith("/global/snapshots/bookings-data-0601")
    assert cloud.restore(taken.id, region=DR, name="bookings-data-drill", tags=DRILL_TAGS).id == restored.id
    assert len(google_compute.disks) == 2
    bigger = cloud.restore(taken.id, region=DR, name="bookings-data-big", tags=DRILL_TAGS, size="200GB")
    assert bigger.size == "200GB"
    with pytest.raises(UnsupportedRequest, match="smaller than the snapshot"):  # Compute Engine refuses
        cloud.restore(taken.id, region=DR, name="bookings-data-small", size="50GB")


def test_an_instance_snapshot_restores_as_an_instance_booting_from_its_disk(
    google_compute: GoogleComputeEmulator,
) -> None:
    _web(google_compute)
    cloud = _cloud(google_compute)
    taken = cloud.snapshot(WEB, name="web-1-0601", tags=PLAN_TAGS)
    assert (taken.kind, taken.resource_id, taken.size_gb, taken.region) == ("instance", WEB, 20, "eu")
    restored = cloud.restore(taken.id, region=DR, name="web-1-drill", tags=DRILL_TAGS)
    assert (restored.subtype, restored.zone, restored.size, restored.tags) == (
        "instance", "europe-west1-b", "e2-medium", DRILL_TAGS,
    )  # fmt: skip
    boot = google_compute.disks[(PROJECT, "europe-west1-b", "web-1-drill")]
    assert boot.users == ["web-1-drill"]
    assert boot.labels == {"wedcloud-drill": "drill-3"}
    assert cloud.restore(taken.id, region=DR, name="web-1-drill", tags=DRILL_TAGS).id == restored.id
    assert (len(google_compute.instances), len(google_compute.disks)) == (2, 2)
    resized = cloud.restore(taken.id, region=DR, name="web-1-big", tags=DRILL_TAGS, size="e2-standard-4")
    assert resized.size == "e2-standard-4"
    cloud.terminate(restored.id)  # its boot disk goes with it (autoDelete), so a drill leaves none
    assert (PROJECT, "europe-west1-b", "web-1-drill") not in google_compute.disks


def test_a_snapshot_still_uploading_is_pending_and_not_restored(google_compute: GoogleComputeEmulator) -> None:
    _disk(google_compute)
    cloud = _cloud(google_compute)
    taken = cloud.snapshot(DISK, name="bookings-data-0601")
    google_compute.snapshots.snapshots[(PROJECT, "bookings-data-0601")].status = "UPLOADING"
    pending = cloud.describe_snapshot(taken.id)
    assert (pending.state, pending.completed_at) == ("pending", None)
    with pytest.raises(InvalidStateTransition):
        cloud.restore(taken.id, region=DR, name="too-soon")
    google_compute.snapshots.snapshots[(PROJECT, "bookings-data-0601")].status = "FAILED"
    assert cloud.describe_snapshot(taken.id).state == "failed"


def test_snapshots_are_listed_by_tag_and_region_over_every_page(google_compute: GoogleComputeEmulator) -> None:
    _disk(google_compute)
    cloud = _cloud(google_compute)
    drilled = {cloud.snapshot(DISK, name=f"drill-{n}", tags=DRILL_TAGS | {"team": "bookings"}).id for n in range(5)}
    nightly = {cloud.snapshot(DISK, name=f"nightly-{n}", tags=PLAN_TAGS).id for n in range(3)}
    google_compute.snapshots.page_size = 2
    google_compute.requests.clear()
    assert {s.id for s in cloud.list_snapshots(tags=DRILL_TAGS)} == drilled
    # three pages of the five the label filter kept, not four of all eight
    assert sum(1 for _, path in google_compute.requests if path.endswith("/global/snapshots")) == 3
    assert {s.id for s in cloud.list_snapshots(tags={"team": "bookings"})} == drilled | nightly
    assert len(list(cloud.list_snapshots(region=DR))) == 8  # eu serves europe-west1
    assert list(cloud.list_snapshots(region=FAR)) == []
    assert list(cloud.list_snapshots(tags={"wedcloud:drill": "drill-4"})) == []


def test_a_deleted_snapshot_is_gone_and_deleting_it_again_is_fine(google_compute: GoogleComputeEmulator) -> None:
    _disk(google_compute)
    cloud = _cloud(google_compute)
    taken = cloud.snapshot(DISK, name="bookings-data-0601")
    cloud.delete_snapshot(taken.id)
    assert google_compute.snapshots.snapshots == {}
    with pytest.raises(ResourceNotFound):
        cloud.describe_snapshot(taken.id)
    cloud.delete_snapshot(taken.id)


# -- Cloud DNS ----------------------------------------------------------------------------------
RECORDS = DnsRecordSet(
    zone="wedsync-public", name="book.wedsync.example", targets={PRIMARY: "34.89.10.1", DR: "35.195.20.2"}, ttl=60
)
NAME = ("book.wedsync.example.", "A")


def _dns_client(emulator: GoogleComputeEmulator) -> DnsClient:
    """Google's own Cloud DNS client, to read what the adapter wrote."""
    credentials = credentials_for(emulator.service_account(), emulator.url)
    return DnsClient(project=PROJECT, credentials=credentials, client_options={"api_endpoint": emulator.url})


def test_route_dns_switches_the_record_in_one_change_and_reads_back(google_compute: GoogleComputeEmulator) -> None:
    zone = google_compute.dns.add_zone(PROJECT, "wedsync-public", "wedsync.example.")
    zone.rrsets[NAME] = (300, ["34.89.10.1"])
    cloud = _cloud(google_compute)
    before = cloud.dns_routing(RECORDS)
    assert before is not None
    assert (before.active, before.weights) == (PRIMARY, {PRIMARY: 100, DR: 0})
    routed = cloud.route_dns(RECORDS, active=DR, health_check_url="https://book.wedsync.example/health")
    assert (routed.active, routed.weights, routed.values) == (DR, {PRIMARY: 0, DR: 100}, ("35.195.20.2",))
    assert zone.rrsets[NAME] == (60, ["35.195.20.2"])
    (change,) = zone.changes.values()  # one atomic change: the old set out, the new one in
    assert [d["rrdatas"] for d in change["deletions"]] == [["34.89.10.1"]]
    assert [a["rrdatas"] for a in change["additions"]] == [["35.195.20.2"]]
    assert change["status"] == "done"  # waited on
    read = [
        r for r in _dns_client(google_compute).zone("wedsync-public").list_resource_record_sets() if r.name == NAME[0]
    ]
    assert [(r.record_type, r.ttl, r.rrdatas) for r in read] == [("A", 60, ["35.195.20.2"])]
    assert cloud.route_dns(RECORDS, active=DR) == routed
    assert len(zone.changes) == 1  # repeating it changed nothing
    assert cloud.dns_routing(RECORDS) == routed


def test_route_dns_makes_a_missing_record_and_writes_a_cname_fully_qualified(
    google_compute: GoogleComputeEmulator,
) -> None:
    zone = google_compute.dns.add_zone(PROJECT, "wedsync-public", "wedsync.example.")
    cloud = _cloud(google_compute)
    aliases = DnsRecordSet(
        zone="wedsync-public", name="www.wedsync.example.", type="CNAME", ttl=30,
        targets={PRIMARY: "web-lb.europe-west2.wedsync.example", DR: "web-lb.europe-west1.wedsync.example"},
    )  # fmt: skip
    assert cloud.dns_routing(aliases) is None
    google_compute.throttle(2, path="/dns/")  # Cloud DNS is busy: the call waits and tries again
    routed = cloud.route_dns(aliases, active=PRIMARY)
    assert zone.rrsets[("www.wedsync.example.", "CNAME")] == (30, ["web-lb.europe-west2.wedsync.example."])
    assert cloud.dns_routing(aliases) == routed
    assert routed.active == PRIMARY
    with pytest.raises(UnsupportedRequest, match="none of the record set's targets"):
        cloud.route_dns(aliases, active="asia-east1")


def test_a_zone_that_does_not_exist_is_not_found(google_compute: GoogleComputeEmulator) -> None:
    google_compute.add_project(PROJECT)
    with pytest.raises(ResourceNotFound):
        _cloud(google_compute).route_dns(RECORDS, active=DR)
