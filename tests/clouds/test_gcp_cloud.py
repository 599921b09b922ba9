"""The Google Cloud adapter through google-cloud-compute (REST) against the project's Compute
Engine emulator over HTTP, zone operations waited on through the same endpoint."""

from __future__ import annotations

import pytest

from clouds.base import ProvisionRequest, ResourceState, ResourceType, ScaleRequest
from clouds.errors import AuthenticationFailed, InvalidStateTransition, ResourceNotFound, UnsupportedRequest
from clouds.gcp_cloud import GcpCloud
from tests.emulators.google_compute import GoogleComputeEmulator, Instance

pytestmark = pytest.mark.integration

PROJECT = "wedsync-prod"
DEBIAN = "projects/debian-cloud/global/images/family/debian-12"


def _cloud(emulator: GoogleComputeEmulator, regions: tuple[str, ...] = ("europe-west2",)) -> GcpCloud:
    return GcpCloud(None, project_id=PROJECT, regions=regions, endpoint_url=emulator.url)


def _request(name: str = "web-1", **options: str) -> ProvisionRequest:
    return ProvisionRequest(
        name=name, resource_type=ResourceType.COMPUTE, region="europe-west2", size="e2-medium", image=DEBIAN,
        tags={"team": "bookings"}, options=dict(options),
    )  # fmt: skip


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
