"""Snapshots of managed disks and of VMs (their OS disk), their copies in other regions
(azure-mgmt-compute's ``snapshots`` operations), and what a restore needs to know of them.

A snapshot is an incremental snapshot (``incremental: true``, ``creationData.createOption``
``Copy`` from the disk), which ARM requires of a snapshot that is to be copied to another
region: a copy is a snapshot in the target region made with ``createOption`` ``CopyStart`` from
the source snapshot. ARM creates the copy at once and fills it in the background; until
``completionPercent`` reaches 100 it is ``pending`` and no disk can be made from it, and a
``copyCompletionError`` makes it ``failed``. ARM records no time at which a snapshot became whole:
``completed_at`` is its ``timeCreated`` once it is complete (for a copy, when the copy started).

A snapshot of a VM is a snapshot of its OS disk (the VM's data disks are not part of it: snapshot
each disk for them). It records what a restore needs in tags: the VM that was snapshotted
(``wedcloud:snapshot-of``, on every snapshot WedCloud takes, since a copy's ``creationData``
names only its source snapshot), the VM's size (``wedcloud:vm-size``, which makes the snapshot's
kind ``instance``) and the disk's SKU (``wedcloud:disk-sku``); the OS type is the snapshot's own
``osType``. These tags are copied to each copy and hidden from the tags a Snapshot reports. A
snapshot of a running VM is crash-consistent, as Azure's own snapshots are.

Every snapshot and copy in a region lives in the resource group ``<resource group>-<region>``
(``wedcloud-ukwest``), made in that region when missing: a backup does not go when the source's
group is deleted, and a group's resources cannot be changed while the region holding the group's
metadata is down, so a region's backups (and what is restored from them) are kept apart from
every other region. Taking or copying a snapshot is safe to repeat: the name in that group finds
the earlier call's snapshot when it is of the same source, and is refused when it is of another.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from clouds.azure.api import (
    DISK,
    NAMES,
    SNAPSHOT,
    SNAPSHOT_KINDS,
    TOKEN_TAG,
    VM,
    Arm,
    ArmId,
    parse_id,
    parse_time,
    translate,
)
from clouds.base import Snapshot
from clouds.errors import CloudError, ResourceNotFound, UnsupportedRequest

SNAPSHOT_OF = "wedcloud:snapshot-of"  # the VM or disk a snapshot (and each copy of it) holds
VM_SIZE_TAG = "wedcloud:vm-size"  # the snapshotted VM's size: the snapshot restores into a VM
DISK_SKU_TAG = "wedcloud:disk-sku"  # the snapshotted disk's SKU, which a restored disk gets
RECORDED = (SNAPSHOT_OF, VM_SIZE_TAG, DISK_SKU_TAG)
_HIDDEN = {*RECORDED, TOKEN_TAG}


def recovery_group(resource_group: str, region: str) -> str:
    """The resource group holding the snapshots, copies and restored resources of ``region``."""
    return f"{resource_group}-{region}"


def recorded(raw: Mapping[str, Any]) -> dict[str, str]:
    """The tags a snapshot records for its restore (see the module's doc)."""
    return {k: v for k, v in (raw.get("tags") or {}).items() if k in RECORDED}


def user_tags(raw: Mapping[str, Any]) -> dict[str, str]:
    return {k: v for k, v in (raw.get("tags") or {}).items() if k not in _HIDDEN}


def state_of(properties: Mapping[str, Any]) -> str:
    """pending, completed or failed, from ARM's provisioning state and a copy's progress."""
    provisioning = properties.get("provisioningState", "Succeeded")
    if provisioning in ("Failed", "Canceled") or properties.get("copyCompletionError"):
        return "failed"
    percent = properties.get("completionPercent")
    if provisioning != "Succeeded" or (percent is not None and float(percent) < 100):
        return "pending"
    return "completed"


def to_snapshot(raw: Mapping[str, Any]) -> Snapshot:
    properties = raw.get("properties") or {}
    creation, tags = properties.get("creationData") or {}, raw.get("tags") or {}
    state = state_of(properties)
    created = parse_time(properties.get("timeCreated")) or datetime.now(UTC)  # none yet while ARM creates it
    copy = creation.get("createOption") == "CopyStart"
    return Snapshot(
        id=raw["id"],
        resource_id=str(tags.get(SNAPSHOT_OF) or creation.get("sourceResourceId") or ""),
        created_at=created.astimezone(UTC),
        size_gb=properties.get("diskSizeGB"),
        region=raw["location"],
        completed_at=created.astimezone(UTC) if state == "completed" else None,
        state=state,
        name=raw["name"],
        tags=user_tags(raw),
        source_snapshot_id=creation.get("sourceResourceId") if copy else None,
        kind="instance" if tags.get(VM_SIZE_TAG) else "volume",
    )


def _snapshot_of(raw: Mapping[str, Any]) -> str | None:
    """What a snapshot WedCloud took holds (its recorded source)."""
    return (raw.get("tags") or {}).get(SNAPSHOT_OF)


def copied_from(raw: Mapping[str, Any]) -> str | None:
    """The source of a snapshot, a copy or a disk (``creationData.sourceResourceId``)."""
    return ((raw.get("properties") or {}).get("creationData") or {}).get("sourceResourceId")


def _same(one: str | None, other: str | None) -> bool:
    """ARM ids compare without regard to case."""
    return (one or "").lower() == (other or "").lower()


class Snapshots:
    """The subscription's snapshots: taken of disks and VMs, copied across regions, listed and deleted."""

    def __init__(self, arm: Arm, resource_group: str) -> None:
        self.arm = arm
        self.resource_group = resource_group

    def raw(self, snapshot_id: str) -> dict[str, Any]:
        return self.arm.raw(parse_id(snapshot_id, SNAPSHOT_KINDS))

    def take(self, resource_id: str, *, name: str, tags: Mapping[str, str] | None) -> Snapshot:
        """An incremental snapshot of a managed disk, or of a VM's OS disk, in its region."""
        arm = parse_id(resource_id)
        if arm.kind not in (DISK, VM):
            raise UnsupportedRequest(
                f"a {NAMES[arm.kind]} ({arm.kind}) cannot be snapshotted on Azure: only a managed disk or a "
                f"virtual machine (its OS disk) can, not {resource_id}"
            )
        source = self.arm.raw(arm)
        disk, record = source, {SNAPSHOT_OF: source["id"]}
        os_type = None
        if arm.kind == VM:
            properties = source.get("properties") or {}
            os_disk = (properties.get("storageProfile") or {}).get("osDisk") or {}
            disk_id = (os_disk.get("managedDisk") or {}).get("id")
            if not disk_id:
                raise UnsupportedRequest(f"{resource_id}: the VM's OS disk is not a managed disk: it has no snapshot")
            disk, os_type = self.arm.raw(parse_id(disk_id)), os_disk.get("osType")
            record[VM_SIZE_TAG] = str((properties.get("hardwareProfile") or {}).get("vmSize") or "")
        if sku := (disk.get("sku") or {}).get("name"):
            record[DISK_SKU_TAG] = str(sku)
        target = ArmId(recovery_group(self.resource_group, disk["location"]), SNAPSHOT, name)
        found = self._found(target, source["id"], _snapshot_of)
        if found is not None:
            return found
        os_type = (disk.get("properties") or {}).get("osType") or os_type
        body = {
            "location": disk["location"],
            "tags": {**(tags or {}), **record},
            "properties": {
                "creationData": {"createOption": "Copy", "sourceResourceId": disk["id"]},
                "incremental": True,
                **({"osType": os_type} if os_type else {}),
            },
        }
        return self._made(target, body)

    def copy(self, snapshot_id: str, *, region: str, name: str, tags: Mapping[str, str] | None) -> Snapshot:
        """A copy in ``region`` (``CopyStart``), carrying the source's recorded tags and ``tags``
        (none of the source's own: a copy is tagged for what it is, as a backup's or a drill's).
        It is pending until ARM has copied it whole."""
        source = self.raw(snapshot_id)
        properties = source.get("properties") or {}
        if not properties.get("incremental"):
            raise UnsupportedRequest(
                f"{snapshot_id} is a full snapshot: Azure copies only incremental snapshots to another region"
            )
        target = ArmId(recovery_group(self.resource_group, region), SNAPSHOT, name)
        found = self._found(target, source["id"], copied_from)
        if found is not None:
            return found
        os_type = properties.get("osType")
        body = {
            "location": region,
            "tags": {**(tags or {}), **recorded(source)},
            "properties": {
                "creationData": {"createOption": "CopyStart", "sourceResourceId": source["id"]},
                "incremental": True,
                **({"osType": os_type} if os_type else {}),
            },
        }
        return self._made(target, body)

    def describe(self, snapshot_id: str) -> Snapshot:
        return to_snapshot(self.raw(snapshot_id))

    def listed(self, *, region: str | None, tags: Mapping[str, str] | None) -> Iterator[Snapshot]:
        """The subscription's snapshots (every page), in ``region``, carrying every tag of ``tags``."""
        wanted = dict(tags or {})
        try:
            for found in self.arm.compute.snapshots.list():
                raw = found.as_dict()
                own = raw.get("tags") or {}
                if (region is None or raw["location"] == region) and all(own.get(k) == v for k, v in wanted.items()):
                    yield to_snapshot(raw)
        except CloudError:
            raise
        except Exception as exc:
            raise translate(exc) from exc

    def delete(self, snapshot_id: str) -> None:
        """Delete a snapshot; one that is gone already is not an error."""
        try:
            self.arm.run(parse_id(snapshot_id, SNAPSHOT_KINDS), "begin_delete")
        except ResourceNotFound:
            return

    def _found(
        self, target: ArmId, source_id: str, source_of: Callable[[Mapping[str, Any]], str | None]
    ) -> Snapshot | None:
        """The snapshot an earlier call made under the name (``source_of`` reads its source), or
        None; a snapshot of something else under the name is refused."""
        try:
            raw = self.arm.raw(target)
        except ResourceNotFound:
            return None
        if not _same(source_of(raw), source_id):
            raise UnsupportedRequest(
                f"a snapshot named {target.name!r} exists in resource group {target.group} of another source "
                f"({source_of(raw)}): choose another name"
            )
        return to_snapshot(raw)

    def _made(self, target: ArmId, body: dict[str, Any]) -> Snapshot:
        self.arm.ensure_group(target.group, body["location"])
        self.arm.run(target, "begin_create_or_update", body)
        return to_snapshot(self.arm.raw(target))
