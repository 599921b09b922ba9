"""Snapshots, disks made from them, VMs booting from an attached OS disk and the network interfaces
they need: the disaster-recovery side of the ARM compute emulator, served by its server.

What it enforces, as ARM's REST reference and the managed disks documentation have it:

- Snapshots (``Microsoft.Compute/snapshots``): a name of 1-80 letters, digits, ``_ . -``; a
  location; ``creationData.createOption`` ``Copy`` of a managed disk in the same region, or
  ``CopyStart`` of an incremental snapshot (made incremental, in any region); the source must
  exist; an existing snapshot's source cannot change (409 ``PropertyChangeNotAllowed``). Creating
  and deleting are long-running (``Azure-AsyncOperation``); deleting one that is gone answers 204.
  A ``CopyStart`` copy starts at ``copy_start_percent`` (100 unless a test lowers it) and reports
  ``completionPercent`` until ``complete_copies`` finishes it (``fail_copies`` stops it with a
  ``copyCompletionError`` instead). Listed per subscription with
  ``nextLink``; tags change with a PATCH. For tests of callers that wait, a ``Copy`` snapshot of a
  disk starts at ``snapshot_percent`` (None, whole, unless a test sets it), and each GET of a
  snapshot not yet whole moves its ``completionPercent`` on by ``percent_per_read``;
  ``disk_deletes`` records, at each managed disk's deletion, the ``completionPercent`` of every
  snapshot of it (None: whole from the start).
- Managed disks made with ``createOption`` ``Copy`` from a snapshot: the snapshot exists, is in the
  disk's region and is whole (409 ``OperationNotAllowed`` while its copy is in progress); the size
  is the snapshot's unless ``diskSizeGB`` is larger; the disk keeps the snapshot's ``osType``.
- VMs with ``storageProfile.osDisk.createOption`` ``Attach``: the managed disk exists in the VM's
  region, is attached to no other VM and has an ``osType``; no ``osProfile`` or
  ``imageReference`` may be given (400 as ARM answers). The disk becomes the VM's; network
  interfaces the emulator holds must be in the VM's region and belong to no other VM, and become
  the VM's. Deleting the VM deletes its OS disk and interfaces whose ``deleteOption`` is
  ``Delete`` and detaches the others.
- Network interfaces are created with a PUT (``Microsoft.Network``, long-running) needing a
  location and IP configurations on a subnet (one of its virtual network's when the emulator
  holds that network: :mod:`tests.emulators.azure_networks`); ``public_ip`` keeps the public IP
  address the first configuration names, if any.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tests.emulators.http import HttpError, Reply, Request

if TYPE_CHECKING:
    from tests.emulators.azure_compute import AzureComputeEmulator, ManagedDisk, NetworkInterface, VirtualMachine

SUB = r"/subscriptions/(?P<sub>[^/]+)"
GROUP = SUB + r"/(?i:resourceGroups)/(?P<rg>[^/]+)"
SNAPSHOT = GROUP + r"/providers/(?i:Microsoft\.Compute)/(?i:snapshots)/(?P<name>[^/]+)"
NIC = GROUP + r"/providers/(?i:Microsoft\.Network)/(?i:networkInterfaces)/(?P<name>[^/]+)"
NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9_.-]{0,78}[A-Za-z0-9_])?")
_ID = re.compile(r"/subscriptions/([^/]+)/resourceGroups/([^/]+)/providers/[^/]+/[^/]+/([^/]+)", re.IGNORECASE)


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _error(status: int, code: str, message: str) -> HttpError:
    return HttpError(status, {"error": {"code": code, "message": message}})


def key_of(arm_id: str) -> tuple[str, str, str] | None:
    """The emulator's key (subscription, group, name) of an ARM id, lower-cased as ARM compares."""
    found = _ID.fullmatch(arm_id.rstrip("/"))
    return None if found is None else (found[1], found[2].lower(), found[3].lower())


@dataclass
class DiskSnapshot:
    subscription: str
    group: str
    name: str
    location: str
    size_gb: int
    create_option: str  # Copy (of a disk) or CopyStart (of a snapshot)
    source_id: str
    incremental: bool = True
    os_type: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    percent: float | None = None  # completionPercent of a CopyStart copy
    copy_error: str | None = None  # copyCompletionError's message once a CopyStart copy failed
    created: str = field(default_factory=_now)

    @property
    def id(self) -> str:
        group = f"/subscriptions/{self.subscription}/resourceGroups/{self.group}"
        return f"{group}/providers/Microsoft.Compute/snapshots/{self.name}"

    @property
    def whole(self) -> bool:
        return not self.copy_error and (self.percent is None or self.percent >= 100)

    def view(self) -> dict[str, Any]:
        properties: dict[str, Any] = {
            "creationData": {"createOption": self.create_option, "sourceResourceId": self.source_id},
            "diskSizeGB": self.size_gb, "timeCreated": self.created, "provisioningState": "Succeeded",
            "incremental": self.incremental, "diskState": "Unattached",
        }  # fmt: skip
        if self.os_type:
            properties["osType"] = self.os_type
        if self.percent is not None:
            properties["completionPercent"] = self.percent
        if self.copy_error:
            properties["copyCompletionError"] = {"errorCode": "CopySourceNotFound", "errorMessage": self.copy_error}
        return {
            "id": self.id, "name": self.name, "type": "Microsoft.Compute/snapshots", "location": self.location,
            "tags": self.tags, "sku": {"name": "Standard_LRS", "tier": "Standard"}, "properties": properties,
        }  # fmt: skip


class AzureRecovery:
    """The snapshot and network interface routes, registered on ``host``, and the checks its disk
    and VM handlers make of disks copied from snapshots and OS disks attached to VMs."""

    def __init__(self, host: AzureComputeEmulator) -> None:
        self.host = host
        self.snapshots: dict[tuple[str, str, str], DiskSnapshot] = {}
        self.copy_start_percent = 100.0
        self.snapshot_percent: float | None = None
        self.percent_per_read = 0.0
        self.disk_deletes: list[tuple[str, dict[str, float | None]]] = []  # (disk id, {snapshot: percent})
        host.route("GET", SNAPSHOT, self._get_snapshot)  # before the generic read, which it replaces
        host._reads("Microsoft.Compute/snapshots", SNAPSHOT, self.snapshots)
        host.route("PUT", SNAPSHOT, self._put_snapshot)
        host.route("PATCH", SNAPSHOT, host._retag_of(self.snapshots, "Microsoft.Compute/snapshots/write"))
        host.route("DELETE", SNAPSHOT, self._delete_snapshot)
        host.route("PUT", NIC, self._put_nic)

    def reset(self) -> None:
        with self.host.lock:
            self.snapshots.clear()
            self.copy_start_percent = 100.0
            self.snapshot_percent, self.percent_per_read = None, 0.0
            self.disk_deletes.clear()

    def note_disk_deleted(self, disk_id: str) -> None:
        with self.host.lock:
            of_disk = {s.name: s.percent for s in self.snapshots.values() if s.source_id.lower() == disk_id.lower()}
            self.disk_deletes.append((disk_id, of_disk))

    def complete_copies(self) -> None:
        """Every CopyStart copy in progress finishes."""
        with self.host.lock:
            for snapshot in self.snapshots.values():
                if snapshot.percent is not None:
                    snapshot.percent = 100.0

    def fail_copies(self, message: str) -> None:
        """Every CopyStart copy in progress stops with a ``copyCompletionError``."""
        with self.host.lock:
            for snapshot in self.snapshots.values():
                if not snapshot.whole:
                    snapshot.copy_error = message

    def snapshot(self, arm_id: str) -> DiskSnapshot | None:
        key = key_of(arm_id)
        with self.host.lock:
            return None if key is None else self.snapshots.get(key)

    # -- snapshots -------------------------------------------------------------------------------
    def _put_snapshot(self, request: Request) -> Reply:
        subscription = self.host._check(request, "Microsoft.Compute/snapshots/write")
        name, body = request.params["name"], request.json() or {}
        properties = body.get("properties") or {}
        creation = properties.get("creationData") or {}
        option, source_id = creation.get("createOption"), creation.get("sourceResourceId") or ""
        if not NAME.fullmatch(name):
            raise _error(400, "InvalidResourceName", f"Snapshot name '{name}' is invalid.")
        if not body.get("location"):
            raise _error(400, "LocationRequired", "The location property is required.")
        if option == "Copy":
            disk = self.disk(source_id)
            if disk.location != body["location"]:
                raise _error(400, "InvalidParameter", f"The source disk is in {disk.location}; a snapshot made "
                             "with Copy is in its disk's region (CopyStart copies a snapshot to another).")  # fmt: skip
            size, os_type, percent = disk.size_gb, disk.os_type, self.snapshot_percent
        elif option == "CopyStart":
            source = self._source_snapshot(source_id)
            if not (source.incremental and properties.get("incremental")):
                raise _error(400, "InvalidParameter", "CopyStart copies an incremental snapshot into an "
                             "incremental snapshot only.")  # fmt: skip
            size, os_type, percent = source.size_gb, source.os_type, self.copy_start_percent
        else:
            raise _error(400, "InvalidParameter", "creationData.createOption: this emulator makes snapshots with "
                         "Copy (of a managed disk) or CopyStart (of a snapshot).")  # fmt: skip
        self.host._require_group(subscription, request.params["rg"])
        key = (subscription, request.params["rg"].lower(), name.lower())
        with self.host.lock:
            existing = self.snapshots.get(key)
            if existing is not None and existing.source_id.lower() != source_id.lower():
                raise _error(409, "PropertyChangeNotAllowed", "Changing property 'sourceResourceId' is not allowed "
                             f"for existing snapshot '{name}'.")  # fmt: skip
            snapshot = existing or DiskSnapshot(
                subscription, request.params["rg"], name, body["location"], size, option, source_id,
                incremental=bool(properties.get("incremental")), os_type=properties.get("osType") or os_type,
                percent=percent,
            )  # fmt: skip
            snapshot.tags = body.get("tags") or {}
            self.snapshots[key] = snapshot
        return self.host._long_running(request, snapshot.location, 202)

    def _get_snapshot(self, request: Request) -> Reply:
        self.host._check(request, "Microsoft.Compute/snapshots/read")
        snapshot: DiskSnapshot = self.host._find(self.snapshots, request)
        with self.host.lock:
            view = snapshot.view()
            if not snapshot.whole and not snapshot.copy_error and snapshot.percent is not None:
                snapshot.percent = min(100.0, snapshot.percent + self.percent_per_read)
        return Reply(200, view)

    def _delete_snapshot(self, request: Request) -> Reply:
        self.host._check(request, "Microsoft.Compute/snapshots/delete")
        key = (request.params["sub"], request.params["rg"].lower(), request.params["name"].lower())
        with self.host.lock:
            gone = self.snapshots.pop(key, None)
        if gone is None:
            return Reply(204, None)
        return self.host._long_running(request, gone.location, 202)

    def _source_snapshot(self, arm_id: str) -> DiskSnapshot:
        found = self.snapshot(arm_id)
        if found is None:
            raise _error(404, "NotFound", f"The source snapshot '{arm_id}' was not found.")
        return found

    # -- disks and VMs -----------------------------------------------------------------------------
    def disk(self, arm_id: str) -> ManagedDisk:
        key = key_of(arm_id)
        with self.host.lock:
            found = None if key is None else self.host.disks.get(key)
        if found is None:
            raise _error(404, "NotFound", f"The managed disk '{arm_id}' was not found.")
        return found

    def disk_source(self, location: str, properties: dict[str, Any]) -> tuple[int, str | None]:
        """The size and OS type of a disk copied (``createOption`` ``Copy``) from a snapshot."""
        source_id = (properties.get("creationData") or {}).get("sourceResourceId") or ""
        snapshot = self._source_snapshot(source_id)
        if snapshot.location != location:
            raise _error(400, "InvalidParameter", f"The snapshot is in {snapshot.location}: a disk is copied from "
                         "a snapshot in its own region.")  # fmt: skip
        if not snapshot.whole:
            raise _error(409, "OperationNotAllowed", f"The background copy of snapshot {snapshot.name} is not "
                         f"complete ({snapshot.percent}%).")  # fmt: skip
        size = properties.get("diskSizeGB") or snapshot.size_gb
        if not isinstance(size, int) or size < snapshot.size_gb:
            raise _error(400, "InvalidParameter", f"diskSizeGB cannot be less than the snapshot's {snapshot.size_gb}.")
        return size, properties.get("osType") or snapshot.os_type

    def os_disk(self, location: str, properties: dict[str, Any], vm_id: str) -> ManagedDisk:
        """The managed disk a VM attaches as its OS disk, checked."""
        storage = properties.get("storageProfile") or {}
        attached = storage.get("osDisk") or {}
        if properties.get("osProfile"):
            raise _error(400, "InvalidParameter", "Parameter 'osProfile' is not allowed.")
        if storage.get("imageReference"):
            raise _error(400, "InvalidParameter", "Parameter 'imageReference' is not allowed with Attach.")
        if not attached.get("osType"):
            raise _error(400, "InvalidParameter", "Required parameter 'osDisk.osType' is missing (null).")
        disk = self.disk((attached.get("managedDisk") or {}).get("id") or "")
        if disk.location != location:
            raise _error(400, "InvalidParameter", f"Disk {disk.name} is in {disk.location}, not the VM's {location}.")
        if disk.managed_by and disk.managed_by.lower() != vm_id.lower():
            raise _error(409, "OperationNotAllowed", f"Disk {disk.name} is attached to VM {disk.managed_by}.")
        return disk

    def interfaces(self, location: str, properties: dict[str, Any], vm_id: str) -> list[NetworkInterface]:
        """The network interfaces the emulator holds among a VM's, checked (others are taken on trust)."""
        held = []
        for reference in (properties.get("networkProfile") or {}).get("networkInterfaces") or []:
            key = key_of(reference.get("id") or "")
            with self.host.lock:
                nic = None if key is None else self.host.nics.get(key)
            if nic is None:
                continue
            if nic.location != location:
                raise _error(400, "InvalidParameter", f"Network interface {nic.name} is in {nic.location}, not "
                             f"the VM's {location}.")  # fmt: skip
            if nic.vm and nic.vm.lower() != vm_id.lower():
                raise _error(400, "NicInUse", f"Network interface {nic.id} is used by virtual machine {nic.vm}.")
            held.append(nic)
        return held

    def attach(self, vm: VirtualMachine, disk: ManagedDisk | None, nics: list[NetworkInterface]) -> None:
        with self.host.lock:
            if disk is not None:
                disk.managed_by = vm.id
            for nic in nics:
                nic.vm = vm.id

    def release(self, vm: VirtualMachine) -> None:
        """What deleting ``vm`` does to its disks and interfaces (their ``deleteOption``)."""
        properties = vm.body.get("properties") or {}
        os_disk = (properties.get("storageProfile") or {}).get("osDisk") or {}
        deleted = {((os_disk.get("managedDisk") or {}).get("id") or "").lower()} if os_disk.get(
            "deleteOption"
        ) == "Delete" else set()  # fmt: skip
        for reference in (properties.get("networkProfile") or {}).get("networkInterfaces") or []:
            if (reference.get("properties") or {}).get("deleteOption") == "Delete":
                deleted.add((reference.get("id") or "").lower())
        with self.host.lock:
            for key, disk in list(self.host.disks.items()):
                if disk.id.lower() in deleted:
                    del self.host.disks[key]
                elif (disk.managed_by or "").lower() == vm.id.lower():
                    disk.managed_by = None
            for key, nic in list(self.host.nics.items()):
                if nic.id.lower() in deleted:
                    del self.host.nics[key]
                elif (nic.vm or "").lower() == vm.id.lower():
                    nic.vm = None

    # -- network interfaces ------------------------------------------------------------------------
    def _put_nic(self, request: Request) -> Reply:
        from tests.emulators.azure_compute import NetworkInterface

        subscription = self.host._check(request, "Microsoft.Network/networkInterfaces/write")
        body = request.json() or {}
        configurations = (body.get("properties") or {}).get("ipConfigurations") or []
        subnets = [((c.get("properties") or {}).get("subnet") or {}).get("id") for c in configurations]
        if not body.get("location"):
            raise _error(400, "LocationRequired", "The location property is required.")
        if not subnets or not all(subnets):
            raise _error(400, "InvalidRequestFormat", "Each of properties.ipConfigurations needs a subnet.")
        self.host._require_group(subscription, request.params["rg"])
        self.host.networks.check_subnet(str(subnets[0]))
        public = [((c.get("properties") or {}).get("publicIPAddress") or {}).get("id") for c in configurations]
        key = (subscription, request.params["rg"].lower(), request.params["name"].lower())
        with self.host.lock:
            existing = self.host.nics.get(key)
            nic = existing or NetworkInterface(subscription, request.params["rg"], request.params["name"],
                                               body["location"])  # fmt: skip
            nic.tags, nic.subnet, nic.public_ip = body.get("tags") or {}, str(subnets[0]), public[0]
            self.host.nics[key] = nic
        return self.host._long_running(
            request, nic.location, 200 if existing else 201, nic.view(), namespace="Microsoft.Network"
        )
