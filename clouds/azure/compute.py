"""Virtual machines and scale sets (azure-mgmt-compute): what they are as CloudResources, what
provisioning a VM asks of ARM, their power and their size or capacity.

Stopping a VM deallocates it, so it stops billing compute hours; a scale set starts and stops
by its capacity, within the bounds its tags ``wedcloud:min`` and ``wedcloud:max`` set.

``details["architecture"]`` of a VM or scale set comes from its size's name: a ``p`` among the
feature letters after the vCPU count (``Standard_D2ps_v5``, ``Standard_E4pds_v5``) is an Arm
(Ampere Altra or Cobalt) size. A VM's power state carries no time, so its ``state_since`` is absent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from clouds.azure.api import NAMES, SCALE_SET, VM, Arm, parse_id, parse_time, reported_tags, settled_state
from clouds.base import CloudResource, Problem, ProvisionRequest, ResourceState, ResourceType, ScaleRequest
from clouds.errors import UnsupportedRequest

# a size's name: Standard_<family><vCPUs>[-<constrained vCPUs>]<feature letters>[_<accelerator>][_v<n>]
_SIZE_NAME = re.compile(r"(?:Standard|Basic)_([A-Z]+)(\d+)(?:-\d+)?([a-z]*)")
MIN_TAG, MAX_TAG = "wedcloud:min", "wedcloud:max"  # a scale set's capacity bounds
MAX_CAPACITY = 1000  # instances in one scale set (platform images)
_POWER = {
    "running": ResourceState.RUNNING,
    "starting": ResourceState.PROVISIONING,
    "stopped": ResourceState.STOPPED,  # powered off but still allocated (and billed)
    "stopping": ResourceState.STOPPED,
    "deallocated": ResourceState.STOPPED,
    "deallocating": ResourceState.STOPPED,
}


def _image(text: str) -> dict[str, str]:
    """An image reference from ``publisher:offer:sku:version`` (the CLI's URN) or an image id."""
    if text.startswith("/"):
        return {"id": text}
    parts = text.split(":")
    if len(parts) != 4:
        raise UnsupportedRequest(f"image {text!r}: use publisher:offer:sku:version or an image's ARM id")
    return dict(zip(("publisher", "offer", "sku", "version"), parts, strict=True))


def _architecture(size: str | None) -> str | None:
    """``arm64`` for a size whose feature letters include ``p``, else ``x86_64``; None for a name
    that does not follow Azure's size naming."""
    found = _SIZE_NAME.match(size or "")
    if found is None:
        return None
    return "arm64" if "p" in found[3] else "x86_64"


def _bounds(tags: Mapping[str, str]) -> tuple[int, int]:
    """A scale set's capacity bounds: its wedcloud:min and wedcloud:max tags, else 0..1000."""

    def bound(key: str, default: int) -> int:
        try:
            return min(max(int(tags[key]), 0), MAX_CAPACITY)
        except (KeyError, ValueError):
            return default

    return bound(MIN_TAG, 0), bound(MAX_TAG, MAX_CAPACITY)


def vm_problems(request: ProvisionRequest) -> list[Problem]:
    problems: list[Problem] = []
    if not request.image:
        problems.append(("image", "an Azure VM needs an image (publisher:offer:sku:version)"))
    if not request.network:
        problems.append(("network", "an Azure VM needs the ARM id of its network interface"))
    if not request.options.get("ssh_public_key"):
        problems.append(("options", "an Azure VM needs options.ssh_public_key for its administrator"))
    return problems


def scale_set_problems(request: ProvisionRequest) -> list[Problem]:
    return [
        ("subtype", "Azure scale sets are not provisioned by WedCloud: a sync imports them, and "
         "POST /resources/{id}/scale changes their capacity")
    ]  # fmt: skip


def vm_body(request: ProvisionRequest) -> dict[str, Any]:
    admin = str(request.options.get("admin_username", "wedcloud"))
    key = request.options["ssh_public_key"]
    return {
        "properties": {
            "hardwareProfile": {"vmSize": request.size},
            "storageProfile": {"imageReference": _image(str(request.image))},
            "osProfile": {
                "computerName": request.name[:15],
                "adminUsername": admin,
                "linuxConfiguration": {
                    "disablePasswordAuthentication": True,
                    "ssh": {"publicKeys": [{"path": f"/home/{admin}/.ssh/authorized_keys", "keyData": key}]},
                },
            },
            "networkProfile": {"networkInterfaces": [{"id": request.network}]},
        },
    }


class Compute:
    """The subscription's virtual machines and scale sets."""

    def __init__(self, arm: Arm) -> None:
        self.arm = arm

    def vm_to_cloud(self, raw: Mapping[str, Any]) -> CloudResource:
        properties = raw.get("properties") or {}
        statuses = (properties.get("instanceView") or {}).get("statuses") or []
        codes = [s.get("code", "") for s in statuses]
        power = next((c.split("/", 1)[1] for c in codes if c.startswith("PowerState/")), None)
        provisioning = properties.get("provisioningState", "Succeeded")
        if provisioning in ("Creating", "Updating") and power is None:
            state = ResourceState.PROVISIONING
        elif provisioning == "Failed":
            state = ResourceState.FAILED
        else:
            state = _POWER.get(power or "running", ResourceState.RUNNING)
        zones = raw.get("zones") or []
        image = (properties.get("storageProfile") or {}).get("imageReference") or {}
        return CloudResource(
            id=raw["id"],
            name=raw["name"],
            resource_type=ResourceType.COMPUTE,
            subtype="instance",
            region=raw["location"],
            zone=zones[0] if zones else None,
            state=state,
            account_id=self.arm.subscription_id,
            size=(properties.get("hardwareProfile") or {}).get("vmSize"),
            tags=reported_tags(raw),
            created_at=parse_time(properties.get("timeCreated")),
            details={
                "resource_group": parse_id(raw["id"]).group,
                "image": ":".join(image[k] for k in ("publisher", "offer", "sku", "version") if k in image) or None,
                "power_state": power,
                "deallocated": power == "deallocated",
                "architecture": _architecture((properties.get("hardwareProfile") or {}).get("vmSize")),
            },
        )

    def scale_set_to_cloud(self, raw: Mapping[str, Any]) -> CloudResource:
        properties, sku = raw.get("properties") or {}, raw.get("sku") or {}
        capacity = int(sku.get("capacity") or 0)
        low, high = _bounds(raw.get("tags") or {})
        return CloudResource(
            id=raw["id"], name=raw["name"], resource_type=ResourceType.COMPUTE, subtype="instance_group",
            region=raw["location"], account_id=self.arm.subscription_id, size=sku.get("name"),
            tags=reported_tags(raw),
            state=settled_state(properties, ResourceState.RUNNING if capacity else ResourceState.STOPPED),
            created_at=parse_time(properties.get("timeCreated")),
            details={
                "resource_group": parse_id(raw["id"]).group, "min": low, "max": high, "desired": capacity,
                "orchestration_mode": properties.get("orchestrationMode"),
                "architecture": _architecture(sku.get("name")),
            },
        )  # fmt: skip

    def power(self, resource_id: str, operation: str) -> None:
        """Start or deallocate a VM (``operation``), polled to its end."""
        arm = parse_id(resource_id)
        if arm.kind == SCALE_SET:
            raise UnsupportedRequest("a scale set starts and stops by its capacity: scale it to 0 to stop it")
        if arm.kind != VM:
            raise UnsupportedRequest(f"a {NAMES[arm.kind]} has no power state")
        self.arm.run(arm, operation)

    def scale_patch(self, resource_id: str, request: ScaleRequest) -> dict[str, Any]:
        """The update that scales: a scale set's capacity, or a VM's size."""
        kind = parse_id(resource_id).kind
        if request.capacity is not None:
            if kind != SCALE_SET:
                raise UnsupportedRequest(f"a {NAMES[kind]} has no capacity: only a scale set scales horizontally")
            return self._scale_out(resource_id, request.capacity)
        if kind != VM:
            raise UnsupportedRequest(f"a {NAMES[kind]} is not resized here; a scale set scales by capacity")
        if not request.size:
            raise UnsupportedRequest("scaling needs a new size")
        return {"properties": {"hardwareProfile": {"vmSize": request.size}}}

    def _scale_out(self, resource_id: str, capacity: int) -> dict[str, Any]:
        """A scale set's new capacity, within the bounds its tags set (wedcloud:min/max)."""
        low, high = _bounds(self.arm.raw(parse_id(resource_id)).get("tags") or {})
        if not low <= capacity <= high:
            raise UnsupportedRequest(
                f"capacity {capacity} is outside the scale set's bounds {low}..{high} (its tags {MIN_TAG}, {MAX_TAG})"
            )
        return {"sku": {"capacity": capacity}}
