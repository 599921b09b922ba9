"""Compute Engine instances and zonal managed instance groups (with their autoscalers), for the
Google Cloud adapter, through the clients of :mod:`clouds.gcp.api`.

GCE reports a stopped instance as ``TERMINATED``: that is our ``stopped``. A group scales between
its autoscaler's min and max replicas, or 0..1000 without one. ``details["state_since"]`` of an
instance is its last start or stop, as GCE states it; ``details["architecture"]`` comes from the
CPU platform or the machine type's series.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from google.api_core import exceptions as google_errors

from clouds.base import CloudResource, Problem, ProvisionRequest, ResourceState, ResourceType, ScaleRequest
from clouds.errors import UnsupportedRequest
from clouds.gcp.api import (
    GcpApi,
    created,
    last,
    request_labels,
    since,
    translate,
    user_labels,
    with_token,
    zonal_parts,
    zonal_problems,
    zone_of,
)

_STATES = {
    "PROVISIONING": ResourceState.PROVISIONING,
    "STAGING": ResourceState.PROVISIONING,
    "RUNNING": ResourceState.RUNNING,
    "STOPPING": ResourceState.STOPPED,
    "SUSPENDING": ResourceState.STOPPED,
    "SUSPENDED": ResourceState.STOPPED,
    "TERMINATED": ResourceState.STOPPED,  # GCE's word for a stopped instance
    "REPAIRING": ResourceState.RUNNING,
}
# Machine series by architecture, from Compute Engine's machine families guide: Arm are Tau T2A
# (Ampere Altra), C4A and N4A (Google Axion) and A4X (NVIDIA Grace); the rest are x86 (custom-*
# is N1). The CPU platform, where GCE reports one, is read first.
_ARM_SERIES = frozenset({"t2a", "c4a", "n4a", "a4x"})
_X86_SERIES = frozenset({
    "e2", "f1", "g1", "n1", "n2", "n2d", "n4", "n4d", "c2", "c2d", "c3", "c3d", "c4", "c4d", "t2d", "h3", "h4d",
    "m1", "m2", "m3", "m4", "x4", "z3", "a2", "a3", "a4", "g2", "g4", "custom",
})  # fmt: skip
_ARM_PLATFORMS = ("ampere", "axion", "nvidia grace")
_X86_PLATFORMS = ("intel", "amd")
GROUP_BOUNDS = (0, 1000)  # what a zonal managed instance group holds without an autoscaler


def _architecture(machine_type: str, cpu_platform: str) -> str | None:
    """``x86_64`` or ``arm64`` from what GCE reports, None when neither says."""
    platform = cpu_platform.lower()
    if platform.startswith(_ARM_PLATFORMS):
        return "arm64"
    if platform.startswith(_X86_PLATFORMS):
        return "x86_64"
    series = machine_type.split("-", 1)[0].lower()
    if series in _ARM_SERIES:
        return "arm64"
    return "x86_64" if series in _X86_SERIES else None


def _instance_since(instance: Any) -> str:
    """The timestamp of the instance's last change into its status (empty when GCE has none)."""
    status = str(instance.status)
    if status == "RUNNING":
        return str(instance.last_start_timestamp)
    if status == "TERMINATED":
        return str(instance.last_stop_timestamp)
    if status == "SUSPENDED":
        return str(instance.last_suspended_timestamp)
    return ""


def instance_problems(request: ProvisionRequest) -> list[Problem]:
    problems = zonal_problems(request, "an instance")
    if not request.image:
        problems.append(("image", "a GCE instance needs an image (projects/<project>/global/images/...)"))
    return problems


class Compute:
    """The project's instances and zonal managed instance groups."""

    def __init__(self, api: GcpApi) -> None:
        self._api = api

    def instance_to_cloud(self, instance: Any) -> CloudResource:
        zone = last(instance.zone)
        return CloudResource(
            id=self._api.zonal_id(zone, instance.name),
            name=instance.name,
            resource_type=ResourceType.COMPUTE,
            subtype="instance",
            region=zone.rsplit("-", 1)[0],
            zone=zone,
            state=_STATES.get(str(instance.status), ResourceState.FAILED),
            account_id=self._api.project,
            size=last(instance.machine_type),
            tags=user_labels(instance.labels),
            created_at=created(instance.creation_timestamp),
            details={
                "gce_status": str(instance.status),
                "instance_id": str(instance.id),
                "architecture": _architecture(last(instance.machine_type), str(instance.cpu_platform)),
                **since(_instance_since(instance)),
            },
        )

    def group_to_cloud(self, group: Any) -> CloudResource:
        zone = last(group.zone)
        low, high = self._bounds(group)
        return CloudResource(
            id=self._api.zonal_id(zone, group.name, "instanceGroupManagers"),
            name=group.name,
            resource_type=ResourceType.COMPUTE,
            subtype="instance_group",
            region=zone.rsplit("-", 1)[0],
            zone=zone,
            state=ResourceState.RUNNING if group.target_size else ResourceState.STOPPED,
            account_id=self._api.project,
            created_at=created(group.creation_timestamp),
            details={
                "min": low,
                "max": high,
                "desired": group.target_size,
                "instance_template": last(group.instance_template),
                "autoscaler": last(group.status.autoscaler) or None,
            },
        )

    def _bounds(self, group: Any) -> tuple[int, int]:
        """The replicas a group may hold: its autoscaler's min and max, else 0..1000."""
        if not group.status.autoscaler:
            return GROUP_BOUNDS
        zone, name = last(group.zone), last(group.status.autoscaler)
        try:
            policy = self._api.autoscalers.get(project=self._api.project, zone=zone, autoscaler=name).autoscaling_policy
        except google_errors.GoogleAPICallError as exc:
            raise translate(exc, self._api.zonal_id(zone, group.name, "instanceGroupManagers")) from exc
        return policy.min_num_replicas, policy.max_num_replicas

    def describe_instance(self, resource_id: str) -> CloudResource:
        return self.instance_to_cloud(self._api.get(resource_id))

    def describe_group(self, resource_id: str) -> CloudResource:
        return self.group_to_cloud(self._api.get(resource_id))

    def provision(self, request: ProvisionRequest) -> CloudResource:
        zone = zone_of(request)
        instance = self._api.compute_v1.Instance(
            name=request.name,
            machine_type=f"zones/{zone}/machineTypes/{request.size}",
            labels=request_labels(request),
            disks=[{"boot": True, "auto_delete": True, "initialize_params": {"source_image": request.image}}],
            network_interfaces=[{"network": request.network or "global/networks/default",
                                 **({"subnetwork": request.options["subnetwork"]}
                                    if request.options.get("subnetwork") else {})}],
        )  # fmt: skip
        resource_id = self._api.zonal_id(zone, request.name)
        token = request.options.get("client_token")
        return self._api.insert(resource_id, {"instance_resource": instance}, token, self.describe_instance)

    def power(self, resource_id: str, action: str) -> CloudResource:
        """Start or stop an instance."""
        self._api.call(resource_id, action)
        return self.describe_instance(resource_id)

    def tag(self, resource_id: str, tags: Mapping[str, str]) -> CloudResource:
        current = self._api.get(resource_id)
        labels = with_token(tags, current.labels)
        body = self._api.compute_v1.InstancesSetLabelsRequest(
            labels=labels, label_fingerprint=current.label_fingerprint
        )
        self._api.call(resource_id, "set_labels", instances_set_labels_request_resource=body)
        return self.describe_instance(resource_id)

    def scale(self, resource_id: str, request: ScaleRequest) -> CloudResource:
        """An instance to a new machine type (GCE changes it only while the instance is stopped)."""
        if request.capacity is not None:
            raise UnsupportedRequest("only a managed instance group scales by capacity; give an instance a size")
        if not request.size:
            raise UnsupportedRequest("scaling needs a new machine type")
        _, zone, _ = zonal_parts(resource_id)
        body = self._api.compute_v1.InstancesSetMachineTypeRequest(
            machine_type=f"zones/{zone}/machineTypes/{request.size}"
        )
        self._api.call(resource_id, "set_machine_type", instances_set_machine_type_request_resource=body)
        return self.describe_instance(resource_id)

    def resize(self, resource_id: str, request: ScaleRequest) -> CloudResource:
        if request.capacity is None:
            raise UnsupportedRequest(
                "a managed instance group scales by capacity (its number of instances); its machine type is "
                "its instance template's"
            )
        group = self.describe_group(resource_id)
        low, high = group.details["min"], group.details["max"]
        if not low <= request.capacity <= high:
            bounds = "its autoscaler's min and max replicas" if group.details["autoscaler"] else "Compute Engine's"
            raise UnsupportedRequest(
                f"{group.name} holds {low} to {high} instances ({bounds}); {request.capacity} is outside"
            )
        self._api.call(resource_id, "resize", size=request.capacity)
        return self.describe_group(resource_id)
