"""Disaster recovery on the Azure adapter through azure-mgmt-compute, azure-mgmt-resource and
azure-mgmt-dns against the project's ARM emulator over HTTP: snapshots of disks and VMs, their
copies in another region, disks and VMs restored from them, and Azure DNS record sets moved from
one region's target to another's."""

from __future__ import annotations

from collections import Counter

import pytest
from azure.mgmt.dns import DnsManagementClient
from azure.mgmt.dns.models import ARecord, RecordSet

from clouds.azure.credentials import StaticToken, client_options
from clouds.azure.dns import ACTIVE_KEY
from clouds.azure.provider import AzureCloud
from clouds.base import DnsRecordSet, ResourceState
from clouds.errors import InvalidStateTransition, ResourceNotFound, UnsupportedRequest
from tests.emulators.azure_compute import (
    AzureComputeEmulator,
    ManagedDisk,
    NetworkInterface,
    ScaleSet,
    StorageAccount,
    VirtualMachine,
)

pytestmark = pytest.mark.integration

SUBSCRIPTION = "00000000-0000-0000-0000-00000000d121"
TOKEN = {"access_token": "emulator-token"}
NETWORK = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/net/providers/Microsoft.Network/virtualNetworks"
SUBNETS = {"ukwest": f"{NETWORK}/dr-vnet/subnets/default", "uksouth": f"{NETWORK}/main-vnet/subnets/default"}
DRILL = {"wedcloud:drill": "d-1"}


def _cloud(emulator: AzureComputeEmulator, *, subnets: dict[str, str] | None = None) -> AzureCloud:
    return AzureCloud(
        TOKEN, subscription_id=SUBSCRIPTION, regions=("uksouth", "ukwest"), endpoint_url=emulator.url,
        polling_interval=0, recovery_subnets=SUBNETS if subnets is None else subnets,
    )  # fmt: skip


def _data_disk(emulator: AzureComputeEmulator) -> ManagedDisk:
    return emulator.add_disk(ManagedDisk(SUBSCRIPTION, "web", "data-1", "uksouth", 64, sku="Premium_LRS"))


def _vm(emulator: AzureComputeEmulator) -> VirtualMachine:
    """A running VM booting from a managed Linux disk, with its network interface."""
    disk = emulator.add_disk(ManagedDisk(SUBSCRIPTION, "web", "web-1-os", "uksouth", 30, os_type="Linux"))
    nic = emulator.add_nic(NetworkInterface(SUBSCRIPTION, "web", "web-1-nic", "uksouth", subnet=SUBNETS["uksouth"]))
    properties = {
        "storageProfile": {
            "imageReference": {"publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server"},
            "osDisk": {"createOption": "FromImage", "osType": "Linux", "managedDisk": {"id": disk.id}},
        },
        "networkProfile": {"networkInterfaces": [{"id": nic.id}]},
    }
    vm = VirtualMachine(SUBSCRIPTION, "web", "web-1", "uksouth", "Standard_D2s_v5", body={"properties": properties})
    disk.managed_by = nic.vm = vm.id
    return emulator.add_vm(vm)


def _writes(emulator: AzureComputeEmulator) -> Counter[str]:
    """The PUTs, PATCHes and DELETEs the emulator has answered, by method."""
    return Counter(method for method, _ in emulator.requests if method in ("PUT", "PATCH", "DELETE"))


def test_a_disk_snapshot_copied_to_another_region_restores_there_carrying_the_tags(
    azure_compute: AzureComputeEmulator,
) -> None:
    disk = _data_disk(azure_compute)
    cloud = _cloud(azure_compute)
    snapshot = cloud.snapshot(disk.id, name="data-1-snap", tags={"wedcloud:plan": "p-1"})
    assert (snapshot.kind, snapshot.region, snapshot.state, snapshot.size_gb) == ("volume", "uksouth", "completed", 64)
    assert (snapshot.resource_id, snapshot.source_snapshot_id) == (disk.id, None)
    assert snapshot.tags == {"wedcloud:plan": "p-1"}
    assert snapshot.completed_at is not None
    assert snapshot.completed_at.tzinfo is not None
    stored = azure_compute.recovery.snapshot(snapshot.id)
    assert stored is not None
    assert (stored.group, stored.create_option, stored.source_id, stored.incremental) == (
        "wedcloud-uksouth", "Copy", disk.id, True,
    )  # fmt: skip

    azure_compute.recovery.copy_start_percent = 40.0  # Azure copies it in the background
    copy = cloud.copy_snapshot(snapshot.id, region="ukwest", name="data-1-ukwest", tags={"wedcloud:backup": "b-1"})
    assert (copy.region, copy.state, copy.completed_at) == ("ukwest", "pending", None)
    assert (copy.source_snapshot_id, copy.resource_id, copy.kind) == (snapshot.id, disk.id, "volume")
    assert copy.tags == {"wedcloud:backup": "b-1"}
    stored_copy = azure_compute.recovery.snapshot(copy.id)
    assert stored_copy is not None
    assert (stored_copy.create_option, stored_copy.group) == ("CopyStart", "wedcloud-ukwest")
    with pytest.raises(InvalidStateTransition):
        cloud.restore(copy.id, region="ukwest", name="data-1-dr", tags=DRILL)
    azure_compute.recovery.complete_copies()
    assert cloud.describe_snapshot(copy.id).state == "completed"
    assert cloud.describe_snapshot(copy.id).completed_at is not None

    restored = cloud.restore(copy.id, region="ukwest", name="data-1-dr", tags=DRILL)
    assert (restored.subtype, restored.region, restored.size, restored.tags) == ("volume", "ukwest", "64GB", DRILL)
    assert (restored.state, restored.details["sku"]) == (ResourceState.AVAILABLE, "Premium_LRS")  # the source's SKU
    made = azure_compute.disks[(SUBSCRIPTION, "wedcloud-ukwest", "data-1-dr")]
    assert made.creation == {"createOption": "Copy", "sourceResourceId": copy.id}
    larger = cloud.restore(copy.id, region="ukwest", name="data-1-dr-large", tags=DRILL, size="128GB")
    assert larger.size == "128GB"
    with pytest.raises(UnsupportedRequest, match="copy it to ukwest first"):
        cloud.restore(snapshot.id, region="ukwest", name="data-1-wrong", tags=DRILL)


def test_a_vm_snapshot_restores_in_the_dr_region_as_a_vm_booting_from_its_disk(
    azure_compute: AzureComputeEmulator,
) -> None:
    vm = _vm(azure_compute)
    cloud = _cloud(azure_compute)
    snapshot = cloud.snapshot(vm.id, name="web-1-snap", tags={"wedcloud:plan": "p-1"})
    assert (snapshot.kind, snapshot.resource_id, snapshot.size_gb) == ("instance", vm.id, 30)
    assert snapshot.tags == {"wedcloud:plan": "p-1"}  # what it records for the restore is not among them
    copy = cloud.copy_snapshot(snapshot.id, region="ukwest", name="web-1-ukwest")
    assert (copy.kind, copy.resource_id, copy.tags) == ("instance", vm.id, {})  # the copy records the VM too

    restored = cloud.restore(copy.id, region="ukwest", name="web-1-dr", tags=DRILL)
    assert (restored.subtype, restored.region, restored.size) == ("instance", "ukwest", "Standard_D2s_v5")
    assert (restored.state, restored.tags, restored.details["resource_group"]) == (
        ResourceState.RUNNING, DRILL, "wedcloud-ukwest",
    )  # fmt: skip
    os_disk = azure_compute.disks[(SUBSCRIPTION, "wedcloud-ukwest", "web-1-dr-osdisk")]
    assert os_disk.creation == {"createOption": "Copy", "sourceResourceId": copy.id}
    assert (os_disk.os_type, os_disk.managed_by) == ("Linux", restored.id)
    nic = azure_compute.nics[(SUBSCRIPTION, "wedcloud-ukwest", "web-1-dr-nic")]
    assert (nic.location, nic.subnet, nic.vm, nic.tags) == ("ukwest", SUBNETS["ukwest"], restored.id, DRILL)
    drill = {r.name for r in cloud.list_resources(region="ukwest") if r.tags == DRILL}
    assert drill == {"web-1-dr", "web-1-dr-osdisk"}

    resized = cloud.restore(copy.id, region="ukwest", name="web-1-big", tags=DRILL, size="Standard_E2s_v5")
    assert resized.size == "Standard_E2s_v5"
    for made in (restored, resized):  # the OS disk and the interface go with the VM
        cloud.terminate(made.id)
    assert [r for r in cloud.list_resources(region="ukwest") if r.tags == DRILL] == []
    assert [key for key in azure_compute.nics if key[1] == "wedcloud-ukwest"] == []


def test_a_copy_azure_could_not_finish_is_failed_and_restores_nothing(azure_compute: AzureComputeEmulator) -> None:
    cloud = _cloud(azure_compute)
    snapshot = cloud.snapshot(_data_disk(azure_compute).id, name="data-1-snap")
    azure_compute.recovery.copy_start_percent = 10.0
    copy = cloud.copy_snapshot(snapshot.id, region="ukwest", name="data-1-ukwest")
    azure_compute.recovery.fail_copies("The source snapshot was deleted during the copy.")
    failed = cloud.describe_snapshot(copy.id)
    assert (failed.state, failed.completed_at) == ("failed", None)
    with pytest.raises(InvalidStateTransition, match="while it is failed"):
        cloud.restore(copy.id, region="ukwest", name="data-1-dr")
    assert (SUBSCRIPTION, "wedcloud-ukwest", "data-1-dr") not in azure_compute.disks


def test_repeated_calls_find_what_the_first_made_and_a_name_held_by_another_source_is_refused(
    azure_compute: AzureComputeEmulator,
) -> None:
    disk, vm = _data_disk(azure_compute), _vm(azure_compute)
    cloud = _cloud(azure_compute)

    def everything() -> tuple[str, ...]:
        snapshot = cloud.snapshot(vm.id, name="web-1-snap", tags=DRILL)
        copy = cloud.copy_snapshot(snapshot.id, region="ukwest", name="web-1-ukwest", tags=DRILL)
        volume = cloud.snapshot(disk.id, name="data-1-snap", tags=DRILL)
        volume_copy = cloud.copy_snapshot(volume.id, region="ukwest", name="data-1-ukwest", tags=DRILL)
        restored_vm = cloud.restore(copy.id, region="ukwest", name="web-1-dr", tags=DRILL)
        restored_disk = cloud.restore(volume_copy.id, region="ukwest", name="data-1-dr", tags=DRILL)
        return snapshot.id, copy.id, volume.id, volume_copy.id, restored_vm.id, restored_disk.id

    first = everything()
    held = (len(azure_compute.recovery.snapshots), len(azure_compute.disks), len(azure_compute.vms),
            len(azure_compute.nics))  # fmt: skip
    writes = _writes(azure_compute)
    assert everything() == first
    assert _writes(azure_compute) == writes  # the repeat only read
    assert held == (4, 4, 2, 2)
    with pytest.raises(UnsupportedRequest, match="another source"):
        cloud.snapshot(disk.id, name="web-1-snap")  # the VM's snapshot holds the name
    another = cloud.copy_snapshot(first[2], region="ukwest", name="data-1-ukwest-2")
    with pytest.raises(UnsupportedRequest, match="was not restored from"):
        cloud.restore(another.id, region="ukwest", name="data-1-dr")  # a disk restored from the first copy


def test_list_snapshots_follows_every_page_and_filters_by_region_and_tags(azure_compute: AzureComputeEmulator) -> None:
    disk = _data_disk(azure_compute)
    cloud = _cloud(azure_compute)
    for index in range(3):
        made = cloud.snapshot(disk.id, name=f"daily-{index}", tags={"wedcloud:plan": "p-1", "day": str(index)})
        cloud.copy_snapshot(made.id, region="ukwest", name=f"daily-{index}-ukwest", tags={"wedcloud:plan": "p-1"})
    cloud.snapshot(disk.id, name="other-plan", tags={"wedcloud:plan": "p-2"})
    azure_compute.page_size = 2
    assert len(list(cloud.list_snapshots())) == 7
    snapshots_path = f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Compute/snapshots"
    assert azure_compute.requests.count(("GET", snapshots_path)) == 4  # seven over four pages
    in_ukwest = {s.name for s in cloud.list_snapshots(region="ukwest")}
    assert in_ukwest == {"daily-0-ukwest", "daily-1-ukwest", "daily-2-ukwest"}
    assert {s.name for s in cloud.list_snapshots(region="uksouth", tags={"wedcloud:plan": "p-1", "day": "1"})} == {
        "daily-1"
    }
    assert {s.name for s in cloud.list_snapshots(tags={"wedcloud:plan": "p-2"})} == {"other-plan"}


def test_a_deleted_snapshot_is_gone_and_deleting_it_again_is_no_error(azure_compute: AzureComputeEmulator) -> None:
    cloud = _cloud(azure_compute)
    snapshot = cloud.snapshot(_data_disk(azure_compute).id, name="data-1-snap")
    cloud.delete_snapshot(snapshot.id)
    assert azure_compute.recovery.snapshots == {}
    with pytest.raises(ResourceNotFound):
        cloud.describe_snapshot(snapshot.id)
    cloud.delete_snapshot(snapshot.id)
    assert list(cloud.list_snapshots()) == []


def test_what_azure_cannot_snapshot_is_refused_naming_its_type(azure_compute: AzureComputeEmulator) -> None:
    group = azure_compute.add_scale_set(ScaleSet(SUBSCRIPTION, "web", "web-set", "uksouth", "Standard_B2s", 2))
    account = azure_compute.add_account(StorageAccount(SUBSCRIPTION, "web", "wedsyncexports", "uksouth"))
    cloud = _cloud(azure_compute)
    with pytest.raises(UnsupportedRequest, match=r"scale set \(Microsoft.Compute/virtualMachineScaleSets\)"):
        cloud.snapshot(group.id, name="set-snap")
    with pytest.raises(UnsupportedRequest, match=r"storage account \(Microsoft.Storage/storageAccounts\)"):
        cloud.snapshot(account.id, name="account-snap")
    assert _writes(azure_compute) == Counter()


def test_a_vm_restore_without_a_subnet_in_the_region_is_refused_before_anything_is_made(
    azure_compute: AzureComputeEmulator,
) -> None:
    cloud = _cloud(azure_compute, subnets={})
    snapshot = cloud.snapshot(_vm(azure_compute).id, name="web-1-snap")
    copy = cloud.copy_snapshot(snapshot.id, region="ukwest", name="web-1-ukwest")
    writes = _writes(azure_compute)
    with pytest.raises(UnsupportedRequest, match="recovery_subnets"):
        cloud.restore(copy.id, region="ukwest", name="web-1-dr")
    assert _writes(azure_compute) == writes


# -- Azure DNS ---------------------------------------------------------------------------------------
BOOKING = DnsRecordSet(
    zone="dns/wedsync.example", name="book.wedsync.example", targets={"uksouth": "20.0.0.1", "ukwest": "20.0.0.2"}
)


def _dns_client(emulator: AzureComputeEmulator) -> DnsManagementClient:
    return DnsManagementClient(StaticToken("emulator-token"), SUBSCRIPTION, **client_options(emulator.url))


def test_route_dns_moves_an_a_record_to_the_dr_region_and_reads_it_back(azure_compute: AzureComputeEmulator) -> None:
    azure_compute.dns.add_zone(SUBSCRIPTION, "dns", "wedsync.example")
    cloud = _cloud(azure_compute)
    assert cloud.dns_routing(BOOKING) is None
    primary = cloud.route_dns(BOOKING, active="uksouth", health_check_url="https://book.wedsync.example/health")
    assert (primary.active, dict(primary.weights), primary.values) == (
        "uksouth", {"uksouth": 100, "ukwest": 0}, ("20.0.0.1",),
    )  # fmt: skip

    switched = cloud.route_dns(BOOKING, active="ukwest")
    assert (switched.active, dict(switched.weights), switched.values) == (
        "ukwest", {"uksouth": 0, "ukwest": 100}, ("20.0.0.2",),
    )  # fmt: skip
    read = _dns_client(azure_compute).record_sets.get("dns", "wedsync.example", "book", "A")
    assert ([r.ipv4_address for r in read.a_records or ()], read.ttl, read.metadata) == (
        ["20.0.0.2"], 60, {ACTIVE_KEY: "ukwest"},
    )  # fmt: skip
    stored = azure_compute.dns.record(SUBSCRIPTION, "dns", "wedsync.example", "A", "book")
    assert stored is not None
    assert (stored.values(), stored.ttl) == (["20.0.0.2"], 60)

    etag, writes = stored.etag, _writes(azure_compute)
    assert cloud.route_dns(BOOKING, active="ukwest") == switched  # repeating it changes nothing
    assert _writes(azure_compute) == writes
    assert azure_compute.dns.record(SUBSCRIPTION, "dns", "wedsync.example", "A", "book").etag == etag  # type: ignore[union-attr]
    assert cloud.dns_routing(BOOKING) == switched


def test_a_cname_at_a_relative_name_switches_and_keeps_the_record_sets_other_metadata(
    azure_compute: AzureComputeEmulator,
) -> None:
    azure_compute.dns.add_zone(SUBSCRIPTION, "dns", "wedsync.example")
    records = DnsRecordSet(
        zone="dns/wedsync.example", name="www", type="CNAME", ttl=30,
        targets={"uksouth": "web-uks.azurewebsites.net", "aws:eu-west-2": "web.eu-west-2.elb.amazonaws.com"},
    )  # fmt: skip
    cloud = _cloud(azure_compute)
    cloud.route_dns(records, active="uksouth")
    client = _dns_client(azure_compute)
    current = client.record_sets.get("dns", "wedsync.example", "www", "CNAME")
    current.metadata = {**(current.metadata or {}), "owner": "platform"}
    client.record_sets.create_or_update("dns", "wedsync.example", "www", "CNAME", current)
    routed = cloud.route_dns(records, active="aws:eu-west-2")
    assert (routed.active, routed.values) == ("aws:eu-west-2", ("web.eu-west-2.elb.amazonaws.com",))
    read = client.record_sets.get("dns", "wedsync.example", "www", "CNAME")
    assert read.cname_record is not None
    assert read.cname_record.cname == "web.eu-west-2.elb.amazonaws.com"
    assert (read.fqdn, read.ttl) == ("www.wedsync.example.", 30)
    assert read.metadata == {"owner": "platform", ACTIVE_KEY: "aws:eu-west-2"}


def test_dns_routing_reads_a_record_someone_else_wrote_by_its_value(azure_compute: AzureComputeEmulator) -> None:
    azure_compute.dns.add_zone(SUBSCRIPTION, "dns", "wedsync.example")
    client, cloud = _dns_client(azure_compute), _cloud(azure_compute)
    client.record_sets.create_or_update(
        "dns", "wedsync.example", "book", "A", RecordSet(ttl=300, a_records=[ARecord(ipv4_address="20.0.0.1")])
    )
    found = cloud.dns_routing(BOOKING)
    assert found is not None
    assert (found.active, dict(found.weights)) == ("uksouth", {"uksouth": 100, "ukwest": 0})
    client.record_sets.create_or_update(
        "dns", "wedsync.example", "book", "A", RecordSet(ttl=300, a_records=[ARecord(ipv4_address="20.9.9.9")])
    )
    elsewhere = cloud.dns_routing(BOOKING)
    assert elsewhere is not None
    assert (elsewhere.active, dict(elsewhere.weights), elsewhere.values) == (
        None,
        {},
        ("20.9.9.9",),
    )


def test_route_dns_refuses_an_unknown_target_a_bad_address_and_a_missing_zone(
    azure_compute: AzureComputeEmulator,
) -> None:
    azure_compute.add_subscription(SUBSCRIPTION)
    cloud = _cloud(azure_compute)
    with pytest.raises(UnsupportedRequest, match="not one of the record's targets"):
        cloud.route_dns(BOOKING, active="eastus")
    wrong = DnsRecordSet(zone="dns/wedsync.example", name="book", targets={"uksouth": "book.example"})
    with pytest.raises(UnsupportedRequest, match="not an IPv4 address"):
        cloud.route_dns(wrong, active="uksouth")
    with pytest.raises(ResourceNotFound, match=r"dnszones/wedsync\.example"):
        cloud.route_dns(BOOKING, active="uksouth")
    assert _writes(azure_compute) == Counter({"PUT": 1})  # the refused write to the missing zone
