"""Restoring a snapshot into a new managed disk, or a new VM booting from a disk made from it
(azure-mgmt-compute), with the network interface the VM needs (Microsoft.Network, through
azure-mgmt-resource's generic resources operations, as :mod:`clouds.azure.addresses` does).

ARM makes a disk from a snapshot only in the snapshot's region (``createOption`` ``Copy``), and
only once the snapshot is whole: a snapshot of another region is copied there first
(:meth:`clouds.azure.snapshots.Snapshots.copy`). The restored disk gets the source disk's SKU
(recorded on the snapshot), the snapshot's size unless ``size`` (``<n>GB``, no smaller) says more,
and the snapshot's OS type.

A snapshot of a VM (kind ``instance``) restores into a VM named ``name`` whose OS disk is a disk
``<name>-osdisk`` made from the snapshot (attached, ``createOption`` ``Attach``, so the VM keeps
the source's OS, users and keys) and whose network interface is a new one, ``<name>-nic``, with no
public IP address, on an isolated network's subnet when the caller names one (a drill's,
:mod:`clouds.azure.networks`), else on the subnet the adapter is given for that region
(``recovery_subnets``): WedCloud's provisioning takes
an existing interface from its caller and makes none, and a restore has no caller to ask. Both are
deleted with the VM (``deleteOption: Delete``), so terminating the restored VM leaves nothing
behind. Its size is the source VM's (recorded on the snapshot) unless ``size`` names another.
Everything restored carries ``tags`` and lives in the region's recovery group
(:func:`clouds.azure.snapshots.recovery_group`).

Each step is safe to repeat: the disk, the interface and the VM are found by name first and
taken when they are what an earlier call made (the disk from this snapshot, the VM booting from
that disk), and refused when the name holds something else. A process that dies between making
the interface and the VM leaves the interface, which WedCloud's inventory does not list: a
repeated restore uses it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from azure.core.exceptions import ResourceNotFoundError

from clouds.azure.api import DISK, INTERFACE, NETWORK_API, VM, Arm, ArmId, translate
from clouds.azure.compute import Compute
from clouds.azure.snapshots import DISK_SKU_TAG, VM_SIZE_TAG, Snapshots, copied_from, recovery_group, to_snapshot
from clouds.azure.storage import DEFAULT_DISK_SKU, MAX_DISK_GB, Storage
from clouds.base import CloudResource
from clouds.errors import InvalidStateTransition, ResourceNotFound, UnsupportedRequest

_GB = re.compile(r"(\d+)GB")


def _same(one: str | None, other: str | None) -> bool:
    return (one or "").lower() == (other or "").lower()


class Restorer:
    """New disks and VMs from the subscription's snapshots."""

    def __init__(
        self, arm: Arm, snapshots: Snapshots, machines: Compute, stores: Storage, subnets: Mapping[str, str]
    ) -> None:
        self.arm, self.snapshots, self.machines, self.stores = arm, snapshots, machines, stores
        self.subnets = dict(subnets)  # region -> the ARM id of the subnet a restored VM's interface joins

    def restore(
        self,
        snapshot_id: str,
        *,
        region: str,
        name: str,
        tags: Mapping[str, str] | None,
        size: str | None,
        subnet: str | None = None,
    ) -> CloudResource:
        """``subnet``: the subnet a VM's interface joins (an isolated network's), else the
        region's ``recovery_subnets``."""
        raw = self.snapshots.raw(snapshot_id)
        snapshot = to_snapshot(raw)
        if snapshot.region != region:
            raise UnsupportedRequest(
                f"{snapshot_id} is stored in {snapshot.region}: Azure makes a disk from a snapshot in the snapshot's "
                f"own region, so copy it to {region} first"
            )
        if snapshot.state != "completed":
            raise InvalidStateTransition(snapshot_id, snapshot.state, "restore from")
        group = recovery_group(self.snapshots.resource_group, region)
        if snapshot.kind == "instance":
            return self._vm(raw, ArmId(group, VM, name), dict(tags or {}), size, subnet)
        if size is not None and not _GB.fullmatch(size):
            raise UnsupportedRequest(f"size {size!r}: a restored managed disk's size is '<n>GB'")
        disk = self._disk(raw, ArmId(group, DISK, name), dict(tags or {}), int(size[:-2]) if size else None)
        return self.stores.disk_to_cloud(disk)

    def _disk(
        self, snapshot: Mapping[str, Any], arm: ArmId, tags: dict[str, str], size_gb: int | None
    ) -> dict[str, Any]:
        """The disk made from ``snapshot`` under the name: an earlier call's, or a new one."""
        properties = snapshot.get("properties") or {}
        least = int(properties.get("diskSizeGB") or 1)
        if size_gb is not None and not least <= size_gb <= MAX_DISK_GB:
            raise UnsupportedRequest(f"a disk restored from {snapshot['name']} is {least}GB to {MAX_DISK_GB}GB")
        try:
            existing = self.arm.raw(arm)
        except ResourceNotFound:
            existing = None
        if existing is not None:
            if _same(copied_from(existing), snapshot["id"]):
                return existing
            raise UnsupportedRequest(
                f"a managed disk named {arm.name!r} exists in resource group {arm.group} and was not restored from "
                f"{snapshot['id']}: choose another name"
            )
        os_type = properties.get("osType")
        body = {
            "location": snapshot["location"],
            "tags": tags,
            "sku": {"name": (snapshot.get("tags") or {}).get(DISK_SKU_TAG) or DEFAULT_DISK_SKU},
            "properties": {
                "creationData": {"createOption": "Copy", "sourceResourceId": snapshot["id"]},
                **({"diskSizeGB": size_gb} if size_gb is not None else {}),
                **({"osType": os_type} if os_type else {}),
            },
        }
        self.arm.ensure_group(arm.group, snapshot["location"])
        self.arm.run(arm, "begin_create_or_update", body)
        return self.arm.raw(arm)

    def _vm(
        self, snapshot: Mapping[str, Any], arm: ArmId, tags: dict[str, str], size: str | None, subnet: str | None
    ) -> CloudResource:
        region = snapshot["location"]
        disk_arm = ArmId(arm.group, DISK, f"{arm.name}-osdisk")
        try:
            existing = self.arm.raw(arm)
        except ResourceNotFound:
            existing = None
        if existing is not None:
            os_disk = ((existing.get("properties") or {}).get("storageProfile") or {}).get("osDisk") or {}
            if _same((os_disk.get("managedDisk") or {}).get("id"), self.arm.id_of(disk_arm)):
                return self.machines.vm_to_cloud(existing)
            raise UnsupportedRequest(
                f"a virtual machine named {arm.name!r} exists in resource group {arm.group} and was not restored "
                f"from {snapshot['id']}: choose another name"
            )
        vm_size = size or (snapshot.get("tags") or {}).get(VM_SIZE_TAG)
        os_type = (snapshot.get("properties") or {}).get("osType")
        subnet = subnet or self.subnets.get(region)
        if not vm_size or not os_type:
            raise UnsupportedRequest(f"{snapshot['id']} records no VM size or OS type: restore it as a disk")
        if not subnet:
            raise UnsupportedRequest(
                f"a VM restored in {region} needs a subnet there for its network interface: give the provider's "
                f"recovery_subnets a subnet's ARM id for {region}"
            )
        disk = self._disk(snapshot, disk_arm, tags, None)
        interface = self._interface(ArmId(arm.group, INTERFACE, f"{arm.name}-nic"), region, subnet, tags)
        body = {
            "location": region,
            "tags": tags,
            "properties": {
                "hardwareProfile": {"vmSize": vm_size},
                "storageProfile": {
                    "osDisk": {
                        "createOption": "Attach", "osType": os_type, "managedDisk": {"id": disk["id"]},
                        "deleteOption": "Delete",
                    }
                },
                "networkProfile": {
                    "networkInterfaces": [{"id": interface, "properties": {"primary": True, "deleteOption": "Delete"}}]
                },
            },
        }  # fmt: skip
        self.arm.run(arm, "begin_create_or_update", body)
        return self.machines.vm_to_cloud(self.arm.raw(arm))

    def _interface(self, arm: ArmId, region: str, subnet: str, tags: dict[str, str]) -> str:
        """The network interface under the name (an earlier call's, or a new one on ``subnet``)."""
        interface_id = self.arm.id_of(arm)
        generic = self.arm.resources.resources
        try:
            found = generic.get_by_id(interface_id, api_version=NETWORK_API).as_dict()
        except ResourceNotFoundError:
            found = None
        except Exception as exc:
            raise translate(exc, interface_id) from exc
        if found is not None:
            user = ((found.get("properties") or {}).get("virtualMachine") or {}).get("id")
            if user:
                raise UnsupportedRequest(f"the network interface {interface_id} is used by {user}: choose another name")
            return str(found["id"])
        configuration = {"subnet": {"id": subnet}, "privateIPAllocationMethod": "Dynamic"}
        body = {
            "location": region,
            "tags": tags,
            "properties": {"ipConfigurations": [{"name": "ipconfig1", "properties": configuration}]},
        }
        try:
            poller = generic.begin_create_or_update_by_id(
                interface_id, body, api_version=NETWORK_API, **self.arm.polling
            )
        except Exception as exc:
            raise translate(exc, interface_id) from exc
        self.arm.wait(poller, interface_id)
        return interface_id
