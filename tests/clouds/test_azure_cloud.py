"""The Azure adapter through azure-mgmt-compute and azure-mgmt-resource against the project's
ARM emulator over HTTP, long-running operations polled to their end."""

from __future__ import annotations

import pytest

from clouds.azure_cloud import AzureCloud
from clouds.base import ProvisionRequest, ResourceState, ResourceType, ScaleRequest
from clouds.errors import AuthenticationFailed, ResourceNotFound, UnsupportedRequest
from tests.emulators.azure_compute import AzureComputeEmulator, VirtualMachine

pytestmark = pytest.mark.integration

SUBSCRIPTION = "00000000-0000-0000-0000-00000000a2c1"
TOKEN = {"access_token": "emulator-token"}
NIC = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/net/providers/Microsoft.Network/networkInterfaces/web-nic"
UBUNTU = "Canonical:ubuntu-24_04-lts:server:latest"


def _cloud(emulator: AzureComputeEmulator, regions: tuple[str, ...] = ("uksouth",)) -> AzureCloud:
    return AzureCloud(
        TOKEN, subscription_id=SUBSCRIPTION, regions=regions, endpoint_url=emulator.url, polling_interval=0
    )


def _request(name: str = "web-1", **options: str) -> ProvisionRequest:
    return ProvisionRequest(
        name=name, resource_type=ResourceType.COMPUTE, region="uksouth", size="Standard_B2s", image=UBUNTU,
        network=NIC, tags={"team": "bookings"}, options={"ssh_public_key": "ssh-ed25519 AAAA test", **options},
    )  # fmt: skip


def test_inventory_follows_every_page_and_reads_power_states(azure_compute: AzureComputeEmulator) -> None:
    for index in range(120):
        azure_compute.add_vm(
            VirtualMachine(SUBSCRIPTION, "web", f"vm-{index:03}", "uksouth" if index % 4 else "westeurope",
                           "Standard_D2s_v5", power="deallocated" if index == 1 else "running")
        )  # fmt: skip
    found = list(_cloud(azure_compute).list_resources())
    assert len(found) == 90  # only the provider's region; 120 VMs listed over three pages
    assert {r.size for r in found} == {"Standard_D2s_v5"}
    states = {r.name: r.state for r in found}
    assert states["vm-001"] == ResourceState.STOPPED
    assert states["vm-002"] == ResourceState.RUNNING
    assert (
        "GET",
        f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Compute/virtualMachines",
    ) in azure_compute.requests
    assert set(azure_compute.tokens) == {"emulator-token"}


def test_connection_names_the_subscription_and_a_missing_permission(azure_compute: AzureComputeEmulator) -> None:
    azure_compute.add_subscription(SUBSCRIPTION)
    check = _cloud(azure_compute).test_connection()
    assert check.ok, check.detail
    assert SUBSCRIPTION in check.identity
    azure_compute.deny("Microsoft.Compute/virtualMachines/read")
    denied = _cloud(azure_compute).test_connection()
    assert not denied.ok
    assert list(denied.missing_permissions) == ["Microsoft.Compute/virtualMachines/read"]


def test_an_unknown_subscription_fails_the_connection_test_with_its_reason(azure_compute: AzureComputeEmulator) -> None:
    check = _cloud(azure_compute).test_connection()
    assert not check.ok
    assert "SubscriptionNotFound" in check.detail
    with pytest.raises(AuthenticationFailed):
        _cloud(azure_compute).list_regions()


def test_regions_come_from_the_subscription(azure_compute: AzureComputeEmulator) -> None:
    azure_compute.add_subscription(SUBSCRIPTION)
    regions = {r.id: (r.name, r.geography) for r in _cloud(azure_compute).list_regions()}
    assert regions["uksouth"] == ("UK South", "Europe")


def test_a_vm_is_created_deallocated_resized_started_and_deleted(azure_compute: AzureComputeEmulator) -> None:
    azure_compute.add_subscription(SUBSCRIPTION)
    cloud = _cloud(azure_compute)
    made = cloud.provision(_request())
    assert (made.name, made.size, made.state, made.tags) == (
        "web-1",
        "Standard_B2s",
        ResourceState.RUNNING,
        {"team": "bookings"},
    )
    assert made.details["resource_group"] == "wedcloud"
    polled = [path for method, path in azure_compute.requests if "/operations/" in path]
    assert polled  # the create was a long-running operation, polled to its end
    assert cloud.stop(made.id).details["power_state"] == "deallocated"
    assert cloud.scale(made.id, ScaleRequest(size="Standard_D4s_v5")).size == "Standard_D4s_v5"
    assert cloud.start(made.id).state == ResourceState.RUNNING
    assert cloud.tag(made.id, {"team": "payments"}).tags == {"team": "payments"}
    assert cloud.terminate(made.id).state == ResourceState.TERMINATED
    with pytest.raises(ResourceNotFound):
        cloud.describe(made.id)


def test_provisioning_the_same_name_again_finds_the_same_vm(azure_compute: AzureComputeEmulator) -> None:
    azure_compute.add_subscription(SUBSCRIPTION)
    cloud = _cloud(azure_compute)
    first, second = cloud.provision(_request()), cloud.provision(_request())
    assert first.id == second.id
    assert len(list(cloud.list_resources())) == 1


def test_what_azure_refuses_comes_back_as_a_clear_error(azure_compute: AzureComputeEmulator) -> None:
    azure_compute.add_subscription(SUBSCRIPTION)
    cloud = _cloud(azure_compute)
    with pytest.raises(UnsupportedRequest, match="vmSize"):
        cloud.provision(ProvisionRequest(**{**vars(_request()), "size": "Standard_Imaginary"}))
    with pytest.raises(UnsupportedRequest, match="network interface"):
        cloud.provision(ProvisionRequest(**{**vars(_request()), "network": None}))
    with pytest.raises(ResourceNotFound):
        cloud.start(
            f"/subscriptions/{SUBSCRIPTION}/resourceGroups/web/providers/Microsoft.Compute/virtualMachines/nope"
        )
