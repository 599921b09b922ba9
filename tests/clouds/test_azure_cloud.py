"""The Azure adapter through azure-mgmt-compute, azure-mgmt-storage, azure-mgmt-resource and
azure-mgmt-monitor against the project's ARM emulator over HTTP, long-running operations polled
to their end."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pytest
from azure.core.exceptions import ServiceRequestError
from azure.core.rest import HttpRequest

from clouds.azure.provider import AzureCloud
from clouds.base import METRICS_SCHEMA, ProvisionRequest, ResourceState, ResourceType, ScaleRequest
from clouds.errors import (
    AuthenticationFailed,
    InvalidStateTransition,
    ResourceNotFound,
    Throttled,
    UnsupportedRequest,
)
from tests.emulators.azure_compute import (
    AzureComputeEmulator,
    ManagedDisk,
    NetworkInterface,
    PublicIp,
    ScaleSet,
    StorageAccount,
    VirtualMachine,
)

pytestmark = pytest.mark.integration

SUBSCRIPTION = "00000000-0000-0000-0000-00000000a2c1"
TOKEN = {"access_token": "emulator-token"}
NIC = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/net/providers/Microsoft.Network/networkInterfaces/web-nic"
UBUNTU = "Canonical:ubuntu-24_04-lts:server:latest"
STORAGE, AVAILABLE = ResourceType.STORAGE, ResourceState.AVAILABLE
OTHER_SUBSCRIPTION = "00000000-0000-0000-0000-0000000000ff"
ACCOUNTS_PATH = f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Storage/storageAccounts"
DISKS_PATH = f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Compute/disks"
SCALE_SETS_PATH = f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Compute/virtualMachineScaleSets"


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


def test_a_vm_retried_with_its_token_is_found_and_a_name_another_token_holds_is_refused(
    azure_compute: AzureComputeEmulator,
) -> None:
    azure_compute.add_subscription(SUBSCRIPTION)
    cloud = _cloud(azure_compute)
    first = cloud.provision(_request(client_token="op-1"))
    assert cloud.provision(_request(client_token="op-1")).id == first.id
    assert first.tags == {"team": "bookings"}  # the token is kept on the VM, not shown
    assert sum(1 for method, path in azure_compute.requests if method == "PUT" and "virtualMachines" in path) == 1
    with pytest.raises(UnsupportedRequest, match="did not make it"):
        cloud.provision(_request(client_token="op-2"))


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


def _storage(name: str, subtype: str, size: str, *, token: str | None = None, **options: str) -> ProvisionRequest:
    if token:
        options["client_token"] = token
    return ProvisionRequest(
        name=name, resource_type=ResourceType.STORAGE, region="uksouth", size=size, tags={"team": "bookings"},
        options={"subtype": subtype, **options},
    )  # fmt: skip


def _problem_fields(request: ProvisionRequest) -> list[str]:
    return [field for field, _ in AzureCloud.provision_problems(request)]


def _list_calls(emulator: AzureComputeEmulator, path: str) -> int:
    return sum(1 for method, called in emulator.requests if (method, called) == ("GET", path))


# -- storage accounts (bucket) -------------------------------------------------------------------
def test_storage_account_inventory_follows_every_page_in_the_providers_regions(
    azure_compute: AzureComputeEmulator,
) -> None:
    azure_compute.page_size = 2
    for index in range(5):
        azure_compute.add_account(StorageAccount(SUBSCRIPTION, "data", f"wedlogs{index}", "uksouth"))
    azure_compute.add_account(StorageAccount(SUBSCRIPTION, "data", "farlogs", "eastus"))
    found = [r for r in _cloud(azure_compute).list_resources() if r.subtype == "bucket"]
    assert sorted(r.name for r in found) == [f"wedlogs{index}" for index in range(5)]
    assert _list_calls(azure_compute, ACCOUNTS_PATH) == 3  # six accounts, two a page
    first = found[0]
    assert (first.resource_type, first.state, first.size) == (STORAGE, AVAILABLE, "Standard_LRS")
    assert first.details["kind"] == "StorageV2"
    assert first.created_at is not None
    assert first.created_at.utcoffset() is not None


def test_a_storage_account_is_created_as_storagev2_tagged_and_deleted(azure_compute: AzureComputeEmulator) -> None:
    azure_compute.add_subscription(SUBSCRIPTION)
    cloud = _cloud(azure_compute)
    made = cloud.provision(_storage("wedlogs", "bucket", "Standard_GRS", resource_group="data"))
    assert (made.subtype, made.size, made.state) == ("bucket", "Standard_GRS", AVAILABLE)
    assert made.tags == {"team": "bookings"}
    assert made.id.endswith("/resourceGroups/data/providers/Microsoft.Storage/storageAccounts/wedlogs")
    assert made.details["kind"] == "StorageV2"
    assert any("/asyncoperations/" in path for _, path in azure_compute.requests)  # the create was polled
    assert cloud.describe(made.id).tags == {"team": "bookings"}
    assert cloud.tag(made.id, {"team": "payments"}).tags == {"team": "payments"}
    gone = cloud.terminate(made.id)
    assert (gone.state, gone.size, gone.region) == (ResourceState.TERMINATED, "Standard_GRS", "uksouth")
    assert azure_compute.accounts == {}
    with pytest.raises(ResourceNotFound):
        cloud.describe(made.id)


def test_a_retried_account_provision_with_the_same_token_returns_the_same_account(
    azure_compute: AzureComputeEmulator,
) -> None:
    azure_compute.add_subscription(SUBSCRIPTION)
    cloud = _cloud(azure_compute)
    first = cloud.provision(_storage("wedlogs", "bucket", "Standard_LRS", token="op-1"))
    cloud.tag(first.id, {"team": "payments"})  # replacing the tags keeps the token
    second = cloud.provision(_storage("wedlogs", "bucket", "Standard_LRS", token="op-1"))
    assert second.id == first.id
    assert second.tags == {"team": "payments"}  # the token tag is not shown
    assert len(azure_compute.accounts) == 1
    assert sum(1 for method, path in azure_compute.requests if method == "PUT" and "storageAccounts" in path) == 1
    with pytest.raises(UnsupportedRequest, match="did not make it"):
        cloud.provision(_storage("wedlogs", "bucket", "Standard_LRS", token="op-2"))


def test_an_account_name_taken_in_another_subscription_is_refused_clearly(
    azure_compute: AzureComputeEmulator,
) -> None:
    azure_compute.add_subscription(SUBSCRIPTION)
    azure_compute.add_account(StorageAccount(OTHER_SUBSCRIPTION, "theirs", "popularname", "westeurope"))
    with pytest.raises(UnsupportedRequest, match=r"already taken.*unique across Azure"):
        _cloud(azure_compute).provision(_storage("popularname", "bucket", "Standard_LRS", token="op-1"))
    assert len(azure_compute.accounts) == 1


def test_provision_problems_refuse_bad_account_names_and_skus() -> None:
    assert _problem_fields(_storage("wedlogs2026", "bucket", "Standard_ZRS")) == []
    for name in ("Wed_Logs", "ab", "a" * 25, "wed-logs"):
        assert _problem_fields(_storage(name, "bucket", "Standard_LRS")) == ["name"], name
    assert _problem_fields(_storage("wedlogs", "bucket", "Standard_Huge")) == ["size"]
    refused = AzureCloud.provision_problems(_storage("Bad", "bucket", "Standard_LRS"))
    assert "3-24 lowercase letters and digits" in refused[0][1]


# -- managed disks (volume) ----------------------------------------------------------------------
def test_disk_inventory_pages_and_names_the_vm_a_disk_is_attached_to(azure_compute: AzureComputeEmulator) -> None:
    azure_compute.page_size = 2
    vm = azure_compute.add_vm(VirtualMachine(SUBSCRIPTION, "web", "web-1", "uksouth", "Standard_B2s"))
    azure_compute.add_disk(ManagedDisk(SUBSCRIPTION, "web", "web-1-data", "uksouth", 256, managed_by=vm.id))
    for index in range(3):
        azure_compute.add_disk(ManagedDisk(SUBSCRIPTION, "web", f"spare-{index}", "uksouth", 64, "Premium_LRS"))
    disks = {r.name: r for r in _cloud(azure_compute).list_resources() if r.subtype == "volume"}
    assert sorted(disks) == ["spare-0", "spare-1", "spare-2", "web-1-data"]
    assert _list_calls(azure_compute, DISKS_PATH) == 2
    assert disks["web-1-data"].attached_to == vm.id
    spare = disks["spare-0"]
    assert (spare.attached_to, spare.size, spare.state) == (None, "64GB", AVAILABLE)
    assert spare.details["sku"] == "Premium_LRS"


def test_a_managed_disk_is_created_empty_retried_tagged_and_deleted(azure_compute: AzureComputeEmulator) -> None:
    azure_compute.add_subscription(SUBSCRIPTION)
    cloud = _cloud(azure_compute)
    made = cloud.provision(_storage("bookings-data", "volume", "128GB", token="op-7", sku="Premium_LRS"))
    assert (made.subtype, made.size, made.state, made.attached_to) == ("volume", "128GB", AVAILABLE, None)
    assert made.details["sku"] == "Premium_LRS"
    assert made.id.endswith("/providers/Microsoft.Compute/disks/bookings-data")
    assert any("/operations/" in path for _, path in azure_compute.requests)  # the create was polled
    again = cloud.provision(_storage("bookings-data", "volume", "128GB", token="op-7", sku="Premium_LRS"))
    assert again.id == made.id
    assert len(azure_compute.disks) == 1
    assert cloud.provision(_storage("plain", "volume", "8GB")).details["sku"] == "StandardSSD_LRS"
    assert cloud.tag(made.id, {"team": "payments"}).tags == {"team": "payments"}
    assert cloud.terminate(made.id).state == ResourceState.TERMINATED
    with pytest.raises(ResourceNotFound):
        cloud.describe(made.id)


def test_an_attached_disk_is_not_deleted_and_has_no_power_state(azure_compute: AzureComputeEmulator) -> None:
    vm = azure_compute.add_vm(VirtualMachine(SUBSCRIPTION, "web", "web-1", "uksouth", "Standard_B2s"))
    disk = azure_compute.add_disk(ManagedDisk(SUBSCRIPTION, "web", "web-1-data", "uksouth", 64, managed_by=vm.id))
    cloud = _cloud(azure_compute)
    with pytest.raises(InvalidStateTransition, match="attached"):
        cloud.terminate(disk.id)
    with pytest.raises(UnsupportedRequest, match="no power state"):
        cloud.stop(disk.id)
    assert len(azure_compute.disks) == 1


def test_provision_problems_refuse_bad_disk_sizes_skus_and_names() -> None:
    assert _problem_fields(_storage("data_1.v2", "volume", "32767GB", sku="UltraSSD_LRS")) == []
    for size in ("0GB", "32768GB", "100", "1TB"):
        assert _problem_fields(_storage("data", "volume", size)) == ["size"], size
    assert _problem_fields(_storage("data", "volume", "10GB", sku="Floppy_LRS")) == ["options"]
    for name in ("-data", "data.", "d" * 81):
        assert _problem_fields(_storage(name, "volume", "10GB")) == ["name"], name


# -- scale sets (instance_group) -----------------------------------------------------------------
def test_scale_sets_are_listed_over_every_page_with_their_bounds(azure_compute: AzureComputeEmulator) -> None:
    azure_compute.page_size = 1
    azure_compute.add_scale_set(
        ScaleSet(SUBSCRIPTION, "web", "web-vmss", "uksouth", "Standard_D2s_v5", 3,
                 tags={"wedcloud:min": "2", "wedcloud:max": "8"})
    )  # fmt: skip
    azure_compute.add_scale_set(ScaleSet(SUBSCRIPTION, "batch", "batch-vmss", "uksouth", "Standard_B2s", 0))
    groups = {r.name: r for r in _cloud(azure_compute).list_resources() if r.subtype == "instance_group"}
    assert _list_calls(azure_compute, SCALE_SETS_PATH) == 2
    web, batch = groups["web-vmss"], groups["batch-vmss"]
    assert (web.resource_type, web.size, web.state) == (ResourceType.COMPUTE, "Standard_D2s_v5", ResourceState.RUNNING)
    assert {k: web.details[k] for k in ("min", "max", "desired")} == {"min": 2, "max": 8, "desired": 3}
    assert {k: batch.details[k] for k in ("min", "max", "desired")} == {"min": 0, "max": 1000, "desired": 0}
    assert batch.state == ResourceState.STOPPED  # no instances


def test_a_scale_set_scales_within_its_bounds_and_refuses_outside_them(azure_compute: AzureComputeEmulator) -> None:
    scale_set = azure_compute.add_scale_set(
        ScaleSet(SUBSCRIPTION, "web", "web-vmss", "uksouth", "Standard_D2s_v5", 2,
                 tags={"wedcloud:min": "1", "wedcloud:max": "5"})
    )  # fmt: skip
    cloud = _cloud(azure_compute)
    scaled = cloud.scale(scale_set.id, ScaleRequest(capacity=5))
    assert scaled.details["desired"] == 5
    assert scale_set.capacity == 5
    assert any("/operations/" in path for _, path in azure_compute.requests)  # the update was polled
    with pytest.raises(UnsupportedRequest, match=r"bounds 1\.\.5"):
        cloud.scale(scale_set.id, ScaleRequest(capacity=6))
    with pytest.raises(UnsupportedRequest, match=r"bounds 1\.\.5"):
        cloud.scale(scale_set.id, ScaleRequest(capacity=0))
    assert scale_set.capacity == 5
    with pytest.raises(UnsupportedRequest, match="scale it to 0"):
        cloud.stop(scale_set.id)
    tagged = cloud.tag(scale_set.id, {"team": "web"})  # without bounds tags: 0..1000
    assert (tagged.details["min"], tagged.details["max"]) == (0, 1000)
    assert cloud.scale(scale_set.id, ScaleRequest(capacity=0)).state == ResourceState.STOPPED
    assert cloud.terminate(scale_set.id).state == ResourceState.TERMINATED
    assert azure_compute.scale_sets == {}


def test_only_a_scale_set_scales_by_capacity(azure_compute: AzureComputeEmulator) -> None:
    vm = azure_compute.add_vm(VirtualMachine(SUBSCRIPTION, "web", "web-1", "uksouth", "Standard_B2s"))
    with pytest.raises(UnsupportedRequest, match="only a scale set"):
        _cloud(azure_compute).scale(vm.id, ScaleRequest(capacity=3))


def test_scale_sets_are_not_provisioned_and_the_refusal_says_they_are_imported() -> None:
    request = ProvisionRequest(
        name="web-vmss", resource_type=ResourceType.COMPUTE, region="uksouth", size="Standard_B2s",
        options={"subtype": "instance_group", "min": 1, "max": 4},
    )  # fmt: skip
    (problem,) = AzureCloud.provision_problems(request)
    assert problem[0] == "subtype"
    assert "sync imports them" in problem[1]
    assert "scale" in problem[1]


# -- dispatch and permissions --------------------------------------------------------------------
def test_an_id_of_a_kind_the_adapter_does_not_manage_is_refused(azure_compute: AzureComputeEmulator) -> None:
    with pytest.raises(UnsupportedRequest, match="networkInterfaces"):
        _cloud(azure_compute).describe(NIC)
    with pytest.raises(ResourceNotFound):
        _cloud(azure_compute).describe("/not/an/arm/id")


def test_connection_names_a_missing_storage_read_permission(azure_compute: AzureComputeEmulator) -> None:
    azure_compute.add_subscription(SUBSCRIPTION)
    azure_compute.deny("Microsoft.Storage/storageAccounts/read", "Microsoft.Compute/disks/read")
    check = _cloud(azure_compute).test_connection()
    assert not check.ok
    assert list(check.missing_permissions) == ["Microsoft.Compute/disks/read", "Microsoft.Storage/storageAccounts/read"]


# -- metrics -------------------------------------------------------------------------------------
HOUR_10 = datetime(2026, 11, 26, 10, tzinfo=UTC)
GIB = 2**30


def _at(minutes: int) -> datetime:
    return HOUR_10 + timedelta(minutes=minutes)


def _series(frame: pl.DataFrame, resource_id: str, metric: str) -> dict[datetime, float]:
    rows = frame.filter((pl.col("resource_id") == resource_id) & (pl.col("metric") == metric))
    return dict(zip(rows["timestamp"].to_list(), rows["value"].to_list(), strict=True))


def test_datapoints_come_back_as_wedcloud_metrics_per_hour(azure_compute: AzureComputeEmulator) -> None:
    vm = azure_compute.add_vm(VirtualMachine(SUBSCRIPTION, "web", "web-1", "uksouth", "Standard_D2s_v5"))  # 8 GiB
    azure_compute.add_metric(vm.id, "Percentage CPU", [(_at(5), 20.0), (_at(35), 40.0), (_at(70), 50.0)])
    azure_compute.add_metric(vm.id, "Percentage CPU", [(_at(-1), 99.0), (_at(120), 99.0)])  # outside the span
    azure_compute.add_metric(vm.id, "Network In Total", [(_at(5), 1000.0), (_at(40), 500.0)])
    azure_compute.add_metric(vm.id, "Network Out Total", [(_at(65), 250.0)])
    azure_compute.add_metric(vm.id, "Disk Read Operations/Sec", [(_at(5), 1.0), (_at(6), 3.0)])
    azure_compute.add_metric(vm.id, "Disk Write Operations/Sec", [(_at(5), 1.0)])
    azure_compute.add_metric(vm.id, "Available Memory Bytes", [(_at(5), 2.0 * GIB)])
    frame = _cloud(azure_compute).get_metrics([vm.id], start=HOUR_10, end=_at(120))
    assert frame.schema == METRICS_SCHEMA
    hour_11 = _at(60)
    assert _series(frame, vm.id, "cpu_percent") == {HOUR_10: 30.0, hour_11: 50.0}
    assert _series(frame, vm.id, "network_in_bytes") == {HOUR_10: 1500.0}
    assert _series(frame, vm.id, "network_out_bytes") == {hour_11: 250.0}
    assert _series(frame, vm.id, "disk_io_ops") == {HOUR_10: (2.0 + 1.0) * 3600}  # average per second, an hour
    assert _series(frame, vm.id, "memory_percent") == {HOUR_10: 75.0}  # 2 of 8 GiB available
    (asked,) = [path for _, path in azure_compute.requests if path.endswith("/providers/Microsoft.Insights/metrics")]
    assert asked.lstrip("/") == vm.id.lstrip("/") + "/providers/Microsoft.Insights/metrics"


def test_a_five_minute_period_stamps_each_sample_with_its_periods_start(azure_compute: AzureComputeEmulator) -> None:
    vm = azure_compute.add_vm(VirtualMachine(SUBSCRIPTION, "web", "web-1", "uksouth", "Standard_B2s"))
    azure_compute.add_metric(vm.id, "Percentage CPU", [(_at(1), 10.0), (_at(4), 30.0), (_at(7), 50.0)])
    azure_compute.add_metric(vm.id, "Network In Total", [(_at(2), 100.0), (_at(3), 100.0)])
    frame = _cloud(azure_compute).get_metrics([vm.id], start=_at(0), end=_at(15), period=timedelta(minutes=5))
    assert _series(frame, vm.id, "cpu_percent") == {_at(0): 20.0, _at(5): 50.0}
    assert _series(frame, vm.id, "network_in_bytes") == {_at(0): 200.0}
    assert frame["timestamp"].dtype == pl.Datetime("us", "UTC")


def test_a_null_datapoint_and_unreported_memory_are_absent_not_zero(azure_compute: AzureComputeEmulator) -> None:
    vm = azure_compute.add_vm(VirtualMachine(SUBSCRIPTION, "web", "web-1", "uksouth", "Standard_B2s"))
    azure_compute.add_metric(vm.id, "Percentage CPU", [(_at(5), None), (_at(65), 12.5)])
    azure_compute.add_metric(vm.id, "Disk Read Operations/Sec", [(_at(5), 4.0)])  # no writes reported
    frame = _cloud(azure_compute).get_metrics([vm.id], start=HOUR_10, end=_at(120))
    assert _series(frame, vm.id, "cpu_percent") == {_at(60): 12.5}
    assert set(frame["metric"]) == {"cpu_percent"}  # no memory, no half-counted disk operations, no zeros


def test_memory_is_absent_when_the_vms_size_is_not_listed(azure_compute: AzureComputeEmulator) -> None:
    vm = azure_compute.add_vm(VirtualMachine(SUBSCRIPTION, "web", "big", "uksouth", "Standard_M416ms_v2"))
    azure_compute.add_metric(vm.id, "Available Memory Bytes", [(_at(5), 4.0 * GIB)])
    azure_compute.add_metric(vm.id, "Percentage CPU", [(_at(5), 7.0)])
    frame = _cloud(azure_compute).get_metrics([vm.id], start=HOUR_10, end=_at(60))
    assert set(frame["metric"]) == {"cpu_percent"}


def test_several_resources_are_read_in_one_call_and_storage_reports_nothing(
    azure_compute: AzureComputeEmulator,
) -> None:
    vm = azure_compute.add_vm(VirtualMachine(SUBSCRIPTION, "web", "web-1", "uksouth", "Standard_B2s"))
    scale_set = azure_compute.add_scale_set(
        ScaleSet(SUBSCRIPTION, "web", "web-vmss", "uksouth", "Standard_D4s_v5", 3)  # 16 GiB an instance
    )
    disk = azure_compute.add_disk(ManagedDisk(SUBSCRIPTION, "web", "data-1", "uksouth", 64))
    account = azure_compute.add_account(StorageAccount(SUBSCRIPTION, "web", "wedsyncdata", "uksouth"))
    azure_compute.add_metric(vm.id, "Percentage CPU", [(_at(5), 10.0)])
    azure_compute.add_metric(scale_set.id, "Percentage CPU", [(_at(5), 60.0)])
    azure_compute.add_metric(scale_set.id, "Available Memory Bytes", [(_at(5), 4.0 * GIB)])
    frame = _cloud(azure_compute).get_metrics([vm.id, scale_set.id, disk.id, account.id], start=HOUR_10, end=_at(60))
    assert _series(frame, vm.id, "cpu_percent") == {HOUR_10: 10.0}
    assert _series(frame, scale_set.id, "cpu_percent") == {HOUR_10: 60.0}
    assert _series(frame, scale_set.id, "memory_percent") == {HOUR_10: 75.0}
    assert set(frame["resource_id"]) == {vm.id, scale_set.id}
    empty = _cloud(azure_compute).get_metrics([disk.id, account.id], start=HOUR_10, end=_at(60))
    assert (empty.height, empty.schema) == (0, METRICS_SCHEMA)


def test_a_missing_metrics_permission_is_named_and_an_unknown_vm_is_not_found(
    azure_compute: AzureComputeEmulator,
) -> None:
    vm = azure_compute.add_vm(VirtualMachine(SUBSCRIPTION, "web", "web-1", "uksouth", "Standard_B2s"))
    cloud = _cloud(azure_compute)
    with pytest.raises(ResourceNotFound):
        cloud.get_metrics([vm.id.replace("web-1", "gone")], start=HOUR_10, end=_at(60))
    azure_compute.deny("Microsoft.Insights/metrics/read")
    with pytest.raises(AuthenticationFailed, match=re.escape("Microsoft.Insights/metrics/read")):
        cloud.get_metrics([vm.id], start=HOUR_10, end=_at(60))


def test_a_period_azure_monitor_does_not_offer_is_refused(azure_compute: AzureComputeEmulator) -> None:
    vm = azure_compute.add_vm(VirtualMachine(SUBSCRIPTION, "web", "web-1", "uksouth", "Standard_B2s"))
    with pytest.raises(UnsupportedRequest, match="PT5M"):
        _cloud(azure_compute).get_metrics([vm.id], start=HOUR_10, end=_at(60), period=timedelta(minutes=7))


# -- public IP addresses, state_since and architecture -------------------------------------------
LB = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/net/providers/Microsoft.Network/loadBalancers/web-lb"
ADDRESSES_PATH = f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Network/publicIPAddresses"
INTERFACES_PATH = f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Network/networkInterfaces"
NAT = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/net/providers/Microsoft.Network/natGateways/web-nat"


def _address_on_a_vm(azure_compute: AzureComputeEmulator) -> tuple[VirtualMachine, NetworkInterface, PublicIp]:
    """VM web-1, its network interface web-nic and the address web-ip (20.1.2.3) on the interface."""
    vm = azure_compute.add_vm(VirtualMachine(SUBSCRIPTION, "web", "web-1", "uksouth", "Standard_B2s"))
    nic = azure_compute.add_nic(NetworkInterface(SUBSCRIPTION, "net", "web-nic", "uksouth", vm=vm.id))
    address = azure_compute.add_public_ip(
        PublicIp(SUBSCRIPTION, "net", "web-ip", "uksouth", "20.1.2.3", ip_configuration=nic.ip_configuration())
    )
    return vm, nic, address


def test_public_ips_are_listed_attached_to_the_vm_of_their_interface_or_to_what_else_uses_them(
    azure_compute: AzureComputeEmulator,
) -> None:
    azure_compute.page_size = 2
    vm, nic, _ = _address_on_a_vm(azure_compute)
    spare_nic = azure_compute.add_nic(NetworkInterface(SUBSCRIPTION, "net", "spare-nic", "uksouth"))
    azure_compute.add_public_ip(
        PublicIp(SUBSCRIPTION, "net", "nic-ip", "uksouth", "20.1.2.4", ip_configuration=spare_nic.ip_configuration())
    )
    azure_compute.add_public_ip(
        PublicIp(SUBSCRIPTION, "net", "lb-ip", "uksouth", "20.1.2.5",
                 ip_configuration=f"{LB}/frontendIPConfigurations/front")
    )  # fmt: skip
    azure_compute.add_public_ip(
        PublicIp(SUBSCRIPTION, "net", "spare-ip", "uksouth", "20.1.2.6", tags={"team": "web"}, zones=["1"])
    )
    azure_compute.add_public_ip(PublicIp(SUBSCRIPTION, "net", "dynamic-ip", "uksouth", None, "Dynamic", "Basic"))
    azure_compute.add_public_ip(PublicIp(SUBSCRIPTION, "net", "far-ip", "eastus", "40.1.2.3"))
    cloud = _cloud(azure_compute)
    found = {r.name: r for r in cloud.list_resources() if r.subtype == "address"}
    assert _list_calls(azure_compute, ADDRESSES_PATH) == 3  # six addresses, two a page
    assert set(found) == {"web-ip", "nic-ip", "lb-ip", "spare-ip", "dynamic-ip"}  # the provider's region
    web = found["web-ip"]
    assert (web.resource_type, web.state, web.size, web.region) == (
        ResourceType.NETWORK, ResourceState.AVAILABLE, None, "uksouth",
    )  # fmt: skip
    assert web.attached_to == vm.id  # through its network interface
    assert (web.details["ip"], web.details["allocation"], web.details["sku"]) == ("20.1.2.3", "static", "Standard")
    assert found["nic-ip"].attached_to == spare_nic.id  # an interface without a VM
    assert found["lb-ip"].attached_to == LB
    spare = found["spare-ip"]
    assert (spare.attached_to, spare.tags, spare.zone) == (None, {"team": "web"}, "1")
    assert "state_since" not in spare.details  # Azure does not say since when: never guessed
    assert (found["dynamic-ip"].details["ip"], found["dynamic-ip"].details["allocation"]) == (None, "dynamic")
    nic_reads = [path for method, path in azure_compute.requests if method == "GET" and "networkInterfaces" in path]
    assert nic_reads == [INTERFACES_PATH]  # the interfaces listed once, none read one by one
    assert cloud.describe(spare.id) == spare
    assert cloud.describe(web.id).attached_to == vm.id  # a describe reads its interface
    assert _list_calls(azure_compute, nic.id) == 1


def test_terminating_an_unattached_public_ip_deletes_it_and_an_associated_one_is_refused(
    azure_compute: AzureComputeEmulator,
) -> None:
    _, _, busy = _address_on_a_vm(azure_compute)
    idle = azure_compute.add_public_ip(PublicIp(SUBSCRIPTION, "net", "spare-ip", "uksouth", "20.1.2.6"))
    cloud = _cloud(azure_compute)
    released = cloud.terminate(idle.id)
    assert (released.subtype, released.state, released.details["ip"]) == (
        "address", ResourceState.TERMINATED, "20.1.2.6",
    )  # fmt: skip
    assert any("/Microsoft.Network/locations/" in path for _, path in azure_compute.requests)  # the delete was polled
    assert list(azure_compute.public_ips.values()) == [busy]
    with pytest.raises(ResourceNotFound):
        cloud.describe(idle.id)
    with pytest.raises(InvalidStateTransition, match="web-1"):
        cloud.terminate(busy.id)
    with pytest.raises(UnsupportedRequest, match="public IP address has no power state"):
        cloud.stop(busy.id)
    assert len(azure_compute.public_ips) == 1


def test_a_public_ip_is_retagged_keeping_the_token_of_the_operation_that_made_it(
    azure_compute: AzureComputeEmulator,
) -> None:
    address = azure_compute.add_public_ip(
        PublicIp(
            SUBSCRIPTION, "net", "web-ip", "uksouth", "20.1.2.3", tags={"team": "web", "wedcloud:operation": "op-1"}
        )
    )
    tagged = _cloud(azure_compute).tag(address.id, {"team": "payments"})
    assert tagged.tags == {"team": "payments"}
    assert address.tags == {"team": "payments", "wedcloud:operation": "op-1"}


def test_a_missing_public_ip_read_permission_is_named_by_the_connection_test(
    azure_compute: AzureComputeEmulator,
) -> None:
    azure_compute.add_subscription(SUBSCRIPTION)
    azure_compute.deny("Microsoft.Network/publicIPAddresses/read")
    check = _cloud(azure_compute).test_connection()
    assert list(check.missing_permissions) == ["Microsoft.Network/publicIPAddresses/read"]
    with pytest.raises(AuthenticationFailed):
        list(_cloud(azure_compute).list_resources())


def test_vms_and_scale_sets_report_arm64_for_sizes_with_the_p_feature_letter(
    azure_compute: AzureComputeEmulator,
) -> None:
    sizes = {"intel": "Standard_D2s_v5", "ampere": "Standard_D2ps_v5", "cobalt": "Standard_E4pds_v6",
             "amd": "Standard_D4as_v5", "fpga": "Standard_NP10s", "constrained": "Standard_M8-2ms",
             "odd": "custom-size"}  # fmt: skip
    for name, size in sizes.items():
        azure_compute.add_vm(VirtualMachine(SUBSCRIPTION, "web", name, "uksouth", size))
    azure_compute.add_scale_set(ScaleSet(SUBSCRIPTION, "web", "arm-vmss", "uksouth", "Standard_D2pls_v5", 2))
    found = {r.name: r.details["architecture"] for r in _cloud(azure_compute).list_resources()}
    assert found == {
        "intel": "x86_64", "ampere": "arm64", "cobalt": "arm64", "amd": "x86_64", "fpga": "x86_64",
        "constrained": "x86_64", "odd": None, "arm-vmss": "arm64",
    }  # fmt: skip


def test_a_disk_reports_when_its_ownership_last_changed_and_nothing_when_azure_does_not_say(
    azure_compute: AzureComputeEmulator,
) -> None:
    azure_compute.add_disk(
        ManagedDisk(
            SUBSCRIPTION, "web", "detached", "uksouth", 64, ownership_updated="2026-11-03T12:00:00.1234567+00:00"
        )
    )
    azure_compute.add_disk(ManagedDisk(SUBSCRIPTION, "web", "unsaid", "uksouth", 64))
    found = {r.name: r for r in _cloud(azure_compute).list_resources() if r.subtype == "volume"}
    assert found["detached"].details["state_since"] == datetime(2026, 11, 3, 12, 0, 0, 123456, tzinfo=UTC)
    assert "state_since" not in found["unsaid"].details
    vm = azure_compute.add_vm(
        VirtualMachine(SUBSCRIPTION, "web", "web-1", "uksouth", "Standard_B2s", power="deallocated")
    )
    assert "state_since" not in _cloud(azure_compute).describe(vm.id).details  # Azure gives no power-state time


def test_an_address_on_an_interface_that_cannot_be_read_is_attached_to_the_interface(
    azure_compute: AzureComputeEmulator,
) -> None:
    _, nic, address = _address_on_a_vm(azure_compute)
    azure_compute.deny("Microsoft.Network/networkInterfaces/read")  # 403 to the list and to a read
    cloud = _cloud(azure_compute)
    listed = next(r for r in cloud.list_resources() if r.subtype == "address")
    assert listed.attached_to == nic.id  # never taken for an address nothing uses
    assert cloud.describe(address.id).attached_to == nic.id
    with pytest.raises(InvalidStateTransition, match="web-nic"):
        cloud.terminate(address.id)
    assert list(azure_compute.public_ips.values()) == [address]


def test_an_interface_out_of_reach_is_the_adapters_error_not_the_sdks(
    azure_compute: AzureComputeEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    nic = azure_compute.add_nic(NetworkInterface(SUBSCRIPTION, "net", "web-nic", "uksouth"))
    address = azure_compute.add_public_ip(
        PublicIp(SUBSCRIPTION, "net", "web-ip", "uksouth", "20.1.2.3", ip_configuration=nic.ip_configuration())
    )
    cloud = _cloud(azure_compute)
    get_by_id, send_request = cloud.resources.resources.get_by_id, cloud.compute.send_request

    def read(resource_id: str, **options: Any) -> Any:
        if "networkInterfaces" in resource_id:
            raise ServiceRequestError("connection refused")
        return get_by_id(resource_id, **options)

    def send(request: HttpRequest, **options: Any) -> Any:
        if "networkInterfaces" in request.url:
            raise ServiceRequestError("connection refused")
        return send_request(request, **options)

    monkeypatch.setattr(cloud.resources.resources, "get_by_id", read)
    monkeypatch.setattr(cloud.compute, "send_request", send)
    for attempt in (
        lambda: cloud.describe(address.id), lambda: cloud.tag(address.id, {"team": "web"}),
        lambda: cloud.terminate(address.id), lambda: list(cloud.list_resources()),
    ):  # fmt: skip
        with pytest.raises(Throttled, match="could not be reached"):
            attempt()
    assert list(azure_compute.public_ips.values()) == [address]


def test_an_address_held_only_by_a_nat_gateway_is_attached_to_it(azure_compute: AzureComputeEmulator) -> None:
    address = azure_compute.add_public_ip(
        PublicIp(SUBSCRIPTION, "net", "nat-ip", "uksouth", "20.1.2.7", nat_gateway=NAT)
    )
    cloud = _cloud(azure_compute)
    listed = next(r for r in cloud.list_resources() if r.subtype == "address")
    assert listed.attached_to == NAT
    assert not [path for _, path in azure_compute.requests if "networkInterfaces" in path]  # none needed
    with pytest.raises(InvalidStateTransition, match="web-nat"):
        cloud.terminate(address.id)


def test_a_disk_in_any_state_but_unattached_is_in_use_and_has_no_state_since(
    azure_compute: AzureComputeEmulator,
) -> None:
    when = "2026-11-03T12:00:00+00:00"
    shared_vm = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/web/providers/Microsoft.Compute/virtualMachines/db-2"
    for name, state, extended in (
        ("exported", "ActiveSAS", []), ("uploading", "ActiveUpload", []), ("ready", "ReadyToUpload", []),
        ("reserved", "Reserved", []), ("shared", "Attached", [shared_vm]),
    ):  # fmt: skip
        azure_compute.add_disk(
            ManagedDisk(SUBSCRIPTION, "web", name, "uksouth", 64, ownership_updated=when, disk_state=state,
                        managed_by_extended=extended)
        )  # fmt: skip
    found = {r.name: r for r in _cloud(azure_compute).list_resources() if r.subtype == "volume"}
    exported = found["exported"]
    assert (exported.attached_to, exported.details["disk_state"]) == ("unknown", "ActiveSAS")
    assert "state_since" not in exported.details  # not when it was detached: never a deletion candidate
    assert {name: r.attached_to for name, r in found.items()} == {
        "exported": "unknown", "uploading": "unknown", "ready": "unknown", "reserved": "unknown", "shared": shared_vm,
    }  # fmt: skip
    assert not [r.name for r in found.values() if "state_since" in r.details]


def test_a_disk_reports_its_ownership_time_only_as_its_attach_or_detach_time(
    azure_compute: AzureComputeEmulator,
) -> None:
    vm = azure_compute.add_vm(VirtualMachine(SUBSCRIPTION, "web", "web-1", "uksouth", "Standard_B2s"))
    azure_compute.add_disk(
        ManagedDisk(SUBSCRIPTION, "web", "data", "uksouth", 64, managed_by=vm.id,
                    ownership_updated="2026-11-20T09:00:00+00:00")
    )  # fmt: skip
    disk = next(r for r in _cloud(azure_compute).list_resources() if r.subtype == "volume")
    assert (disk.attached_to, disk.details["state_since"]) == (vm.id, datetime(2026, 11, 20, 9, tzinfo=UTC))
