"""Isolated networks on Azure (a drill's): a virtual network whose one subnet a deny-all network
security group closes, through azure-mgmt-resource against the ARM emulator over HTTP; made again
it is found, a sweep finds it by its tags, it is deleted whole once nothing is on it, and a network
WedCloud did not make is never deleted."""

from __future__ import annotations

from typing import Any

import pytest

from clouds.azure.api import ArmId
from clouds.azure.networks import VNET
from clouds.errors import UnsupportedRequest
from tests.clouds.test_azure_recovery import SUBSCRIPTION, _cloud, _vm
from tests.emulators.azure_compute import AzureComputeEmulator

pytestmark = pytest.mark.integration

TAGS = {"wedcloud:drill": "3f2a", "wedcloud:plan": "plan-7"}
NAME = "wedcloud-drill-3f2a00000000"
DR = "ukwest"


def listing(emulator: AzureComputeEmulator) -> dict[str, list[str]]:
    """What the emulator holds, kind by kind (ids)."""
    return {
        "virtual_networks": [n.id for n in emulator.networks.of("virtualNetworks")],
        "security_groups": [n.id for n in emulator.networks.of("networkSecurityGroups")],
        "vms": sorted(v.id for v in emulator.vms.values()),
        "disks": sorted(d.id for d in emulator.disks.values()),
        "nics": sorted(n.id for n in emulator.nics.values()),
        "snapshots": sorted(s.id for s in emulator.recovery.snapshots.values()),
    }


def _rules(emulator: AzureComputeEmulator) -> dict[str, Any]:
    [group] = emulator.networks.of("networkSecurityGroups")
    return {r["name"]: r["properties"] for r in group.properties["securityRules"]}


def test_an_isolated_network_is_a_subnet_closed_by_deny_all_rules_before_azures_defaults(
    azure_compute: AzureComputeEmulator,
) -> None:
    azure_compute.add_subscription(SUBSCRIPTION)
    network = _cloud(azure_compute).isolated_network(region=DR, name=NAME, tags=TAGS)
    [vnet] = azure_compute.networks.of("virtualNetworks")
    assert network.id == vnet.id
    assert (network.region, network.tags) == (
        DR,
        {**TAGS, "wedcloud:isolated-network": "true"},
    )
    [subnet] = vnet.properties["subnets"]
    assert network.details["subnet"] == f"{vnet.id}/subnets/{subnet['name']}"
    assert subnet["properties"]["networkSecurityGroup"]["id"] == network.details["security_group"]
    assert subnet["properties"]["defaultOutboundAccess"] is False
    rules = _rules(azure_compute)
    assert {(r["direction"], r["access"], r["priority"]) for r in rules.values()} == {
        ("Inbound", "Deny", 100), ("Outbound", "Deny", 100)}  # fmt: skip
    assert all(r[f] == "*" for r in rules.values() for f in ("protocol", "sourceAddressPrefix",
               "destinationAddressPrefix", "sourcePortRange", "destinationPortRange"))  # fmt: skip


def test_making_an_isolated_network_again_finds_it_and_a_sweep_lists_it_by_its_tags(
    azure_compute: AzureComputeEmulator,
) -> None:
    azure_compute.add_subscription(SUBSCRIPTION)
    cloud = _cloud(azure_compute)
    first = cloud.isolated_network(region=DR, name=NAME, tags=TAGS)
    before = listing(azure_compute)
    assert cloud.isolated_network(region=DR, name=NAME, tags=TAGS) == first
    assert listing(azure_compute) == before
    assert [n.id for n in cloud.isolated_networks(region=DR, tags={"wedcloud:drill": "3f2a"})] == [first.id]
    assert cloud.isolated_networks(region=DR, tags={"wedcloud:drill": "another"}) == []
    assert cloud.isolated_networks(region="uksouth", tags={"wedcloud:drill": "3f2a"}) == []


def test_an_isolated_network_is_deleted_whole_once_its_vm_is_gone(azure_compute: AzureComputeEmulator) -> None:
    vm = _vm(azure_compute)
    cloud = _cloud(azure_compute, subnets={})  # no recovery subnet: the VM can only go on the network
    network = cloud.isolated_network(region=DR, name=NAME, tags=TAGS)
    snapshot = cloud.snapshot(vm.id, name="web-1-snap")
    copy = cloud.copy_snapshot(snapshot.id, region=DR, name="web-1-ukwest")
    before = listing(azure_compute)
    restored = cloud.restore(copy.id, region=DR, name="web-1-dr", tags=TAGS, network=network.id)
    nic = azure_compute.nics[(SUBSCRIPTION, "wedcloud-ukwest", "web-1-dr-nic")]
    assert (nic.subnet, nic.public_ip, nic.vm) == (network.details["subnet"], None, restored.id)

    assert cloud.delete_network(network.id, region=DR) is False  # the copy's interface is on it
    assert len(azure_compute.networks.of("virtualNetworks")) == 1
    cloud.terminate(restored.id)
    assert cloud.delete_network(network.id, region=DR) is True
    assert cloud.delete_network(network.id, region=DR) is True  # gone already
    after = listing(azure_compute)
    assert (after["virtual_networks"], after["security_groups"]) == ([], [])
    assert after == {**before, "virtual_networks": [], "security_groups": []}


def test_a_network_wedcloud_did_not_isolate_is_never_deleted(azure_compute: AzureComputeEmulator) -> None:
    azure_compute.add_subscription(SUBSCRIPTION)
    cloud = _cloud(azure_compute)
    network_id = cloud.arm.id_of(ArmId("wedcloud-ukwest", VNET, "production"))
    cloud.arm.ensure_group("wedcloud-ukwest", DR)
    cloud.networks._put(network_id, {"location": DR, "tags": {"env": "prod"},
                                     "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]}}})  # fmt: skip
    with pytest.raises(UnsupportedRequest, match="no isolated network WedCloud made"):
        cloud.delete_network(network_id, region=DR)
    with pytest.raises(UnsupportedRequest, match="not an isolated network WedCloud made"):
        cloud.isolated_network(region=DR, name="production", tags=TAGS)
    assert [n.id for n in azure_compute.networks.of("virtualNetworks")] == [network_id]
    assert azure_compute.networks.of("networkSecurityGroups") == []
    assert cloud.isolated_networks(region=DR, tags={}) == []
