"""Google Cloud as a CloudProvider: one project's Compute Engine instances, through
google-cloud-compute over REST.

Changes return zone operations; this adapter waits on them with its own zone-operations client
(``ZoneOperationsClient.wait``) pointed at the same endpoint as the others, instead of the
library's ``ExtendedOperation.result()``, whose poller would otherwise talk to the default
endpoint. Lists are aggregated across zones and follow every page. GCE reports a stopped
instance as ``TERMINATED``: that is our ``stopped``; a deleted instance is gone (404). A name is
unique per zone, so a retried provision finds the instance its operation already made (by the
``wedcloud-operation`` label) instead of making another.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from google.api_core import exceptions as google_errors

from clouds.base import (
    CloudResource,
    ConnectionCheck,
    NotYetAdapted,
    Problem,
    ProvisionRequest,
    Region,
    ResourceState,
    ResourceType,
    ScaleRequest,
    Service,
)
from clouds.errors import (
    AuthenticationFailed,
    CloudError,
    InvalidStateTransition,
    ResourceNotFound,
    Throttled,
    UnsupportedRequest,
)
from clouds.gcp import credentials_for

SERVICES = (
    Service("compute.googleapis.com/instances", "Compute Engine", "Compute", (ResourceType.COMPUTE,)),
    Service("compute.googleapis.com/disks", "Persistent Disk", "Storage", (ResourceType.STORAGE,)),
)
TOKEN_LABEL = "wedcloud-operation"  # noqa: S105 - a label key: the operation that made an instance
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
_GEOGRAPHIES = {
    "europe": "Europe", "us": "North America", "northamerica": "North America", "asia": "Asia Pacific",
    "australia": "Asia Pacific", "southamerica": "South America", "me": "Middle East", "africa": "Africa",
}  # fmt: skip
_ID = re.compile(r"projects/(?P<project>[^/]+)/zones/(?P<zone>[^/]+)/instances/(?P<name>[^/]+)$")


def translate(exc: Exception, resource_id: str | None = None) -> CloudError:
    """The :mod:`clouds.errors` error for a Google API error."""
    message = getattr(exc, "message", None) or str(exc)
    if isinstance(exc, google_errors.NotFound) and resource_id:
        return ResourceNotFound(resource_id)
    if isinstance(exc, google_errors.Forbidden | google_errors.Unauthorized | google_errors.PermissionDenied):
        return AuthenticationFailed(message)
    if isinstance(exc, google_errors.NotFound):
        return AuthenticationFailed(f"the project cannot be found: {message}")
    if isinstance(exc, google_errors.TooManyRequests | google_errors.ServiceUnavailable):
        return Throttled(f"Google Cloud is busy: {message}")
    if isinstance(exc, google_errors.BadRequest) and "must be stopped" in message:
        return InvalidStateTransition(resource_id or "", "running", "change the machine type of")
    return UnsupportedRequest(message)


def label_value(text: str) -> str:
    """A string as a GCE label value: lowercase letters, digits, - and _, at most 63."""
    return re.sub(r"[^a-z0-9_-]", "-", text.lower())[:63]


def _parts(resource_id: str) -> tuple[str, str, str]:
    found = _ID.search(resource_id)
    if found is None:
        raise ResourceNotFound(resource_id)
    return found["project"], found["zone"], found["name"]


class GcpCloud(NotYetAdapted):
    """One Google Cloud project (a service-account key or Application Default Credentials)."""

    kind = "gcp"

    @classmethod
    def provision_problems(cls, request: ProvisionRequest) -> list[Problem]:
        problems: list[Problem] = []
        if request.options["subtype"] != "instance":
            problems.append(("subtype", "the Google Cloud adapter provisions Compute Engine instances"))
        if not request.image:
            problems.append(("image", "a GCE instance needs an image (projects/<project>/global/images/...)"))
        return problems

    def __init__(
        self,
        credentials: dict[str, Any] | None,
        *,
        project_id: str,
        regions: Sequence[str] = (),
        default_region: str | None = None,
        endpoint_url: str | None = None,
    ) -> None:
        from google.api_core.client_options import ClientOptions
        from google.cloud import compute_v1

        self.project = project_id
        self.regions = list(regions)
        self.default_region = default_region or (self.regions[0] if self.regions else "europe-west2")
        options = ClientOptions(api_endpoint=endpoint_url) if endpoint_url else None
        common: dict[str, Any] = {
            "credentials": credentials_for(credentials, endpoint_url),
            "transport": "rest",
            "client_options": options,
        }
        self.instances = compute_v1.InstancesClient(**common)
        self.zone_operations = compute_v1.ZoneOperationsClient(**common)
        self.regions_client = compute_v1.RegionsClient(**common)
        self.projects = compute_v1.ProjectsClient(**common)
        self._compute = compute_v1

    # -- helpers -------------------------------------------------------------------------------
    def _id(self, zone: str, name: str) -> str:
        return f"projects/{self.project}/zones/{zone}/instances/{name}"

    def _to_cloud(self, instance: Any) -> CloudResource:
        zone = str(instance.zone).rsplit("/", 1)[-1]
        labels = dict(instance.labels)
        return CloudResource(
            id=self._id(zone, instance.name),
            name=instance.name,
            resource_type=ResourceType.COMPUTE,
            subtype="instance",
            region=zone.rsplit("-", 1)[0],
            zone=zone,
            state=_STATES.get(str(instance.status), ResourceState.FAILED),
            account_id=self.project,
            size=str(instance.machine_type).rsplit("/", 1)[-1],
            tags={k: v for k, v in labels.items() if k != TOKEN_LABEL},
            created_at=datetime.fromisoformat(instance.creation_timestamp) if instance.creation_timestamp else None,
            details={"gce_status": str(instance.status), "instance_id": str(instance.id)},
        )

    def _wait(self, operation: Any, resource_id: str) -> None:
        """Wait on a zone operation to its end (``wait`` returns early on long ones: ask again)."""
        zone = str(operation.zone).rsplit("/", 1)[-1]
        try:
            while operation.status != self._compute.Operation.Status.DONE:
                operation = self.zone_operations.wait(project=self.project, zone=zone, operation=operation.name)
        except google_errors.GoogleAPICallError as exc:
            raise translate(exc, resource_id) from exc
        if operation.error and operation.error.errors:
            first = operation.error.errors[0]
            raise UnsupportedRequest(f"{first.code}: {first.message}")

    def _call(self, resource_id: str, method: str, **arguments: Any) -> None:
        project, zone, name = _parts(resource_id)
        try:
            # the _unary variants answer the zone operation itself, which ``_wait`` polls
            operation = getattr(self.instances, f"{method}_unary")(
                project=project, zone=zone, instance=name, **arguments
            )
        except google_errors.GoogleAPICallError as exc:
            raise translate(exc, resource_id) from exc
        self._wait(operation, resource_id)

    # -- read side -----------------------------------------------------------------------------
    def test_connection(self) -> ConnectionCheck:
        try:
            project = self.projects.get(project=self.project)
        except google_errors.GoogleAPICallError as exc:
            return ConnectionCheck(ok=False, identity="", detail=f"the project cannot be read: {translate(exc)}")
        missing = []
        try:
            next(iter(self.instances.aggregated_list(request={"project": self.project, "max_results": 1})), None)
        except google_errors.Forbidden:
            missing.append("compute.instances.list")
        detail = (
            f"project {project.name}; missing permissions: {', '.join(missing)}"
            if missing
            else f"project {project.name}; every permission WedCloud reads with is granted"
        )
        return ConnectionCheck(
            ok=not missing, identity=f"projects/{project.name}", detail=detail, missing_permissions=missing
        )

    def list_regions(self) -> list[Region]:
        try:
            found = list(self.regions_client.list(project=self.project))
        except google_errors.GoogleAPICallError as exc:
            raise translate(exc) from exc
        return sorted(
            (Region(r.name, r.description or r.name, _GEOGRAPHIES.get(r.name.split("-")[0], "Other")) for r in found),
            key=lambda r: r.id,
        )

    def list_services(self) -> list[Service]:
        return list(SERVICES)

    def list_resources(self, *, region: str | None = None) -> Iterator[CloudResource]:
        wanted = {region} if region else set(self.regions)
        try:
            for _zone, scoped in self.instances.aggregated_list(request={"project": self.project, "max_results": 500}):
                for instance in scoped.instances:
                    resource = self._to_cloud(instance)
                    if not wanted or resource.region in wanted:
                        yield resource
        except google_errors.GoogleAPICallError as exc:
            raise translate(exc) from exc

    def describe(self, resource_id: str) -> CloudResource:
        project, zone, name = _parts(resource_id)
        try:
            return self._to_cloud(self.instances.get(project=project, zone=zone, instance=name))
        except google_errors.GoogleAPICallError as exc:
            raise translate(exc, resource_id) from exc

    # -- write side ----------------------------------------------------------------------------
    def provision(self, request: ProvisionRequest) -> CloudResource:
        if request.resource_type != ResourceType.COMPUTE or request.options.get("subtype", "instance") != "instance":
            raise UnsupportedRequest("the Google Cloud adapter provisions Compute Engine instances")
        if not request.image:
            raise UnsupportedRequest(
                "a GCE instance needs an image (e.g. projects/debian-cloud/global/images/family/debian-12)"
            )
        zone = str(request.options.get("zone") or f"{request.region}-b")
        resource_id = self._id(zone, request.name)
        labels = dict(request.tags)
        token = request.options.get("client_token")
        if token:
            labels[TOKEN_LABEL] = label_value(str(token))
        instance = self._compute.Instance(
            name=request.name,
            machine_type=f"zones/{zone}/machineTypes/{request.size}",
            labels=labels,
            disks=[{"boot": True, "auto_delete": True, "initialize_params": {"source_image": request.image}}],
            network_interfaces=[{"network": request.network or "global/networks/default"}],
        )
        try:
            operation = self.instances.insert_unary(project=self.project, zone=zone, instance_resource=instance)
        except google_errors.Conflict:
            existing = self.describe(resource_id)
            made_by = self.instances.get(project=self.project, zone=zone, instance=request.name).labels.get(TOKEN_LABEL)
            if token and made_by == label_value(str(token)):
                return existing  # this operation made it before: a retry, not a second instance
            raise UnsupportedRequest(f"an instance named {request.name!r} already exists in {zone}") from None
        except google_errors.GoogleAPICallError as exc:
            raise translate(exc, resource_id) from exc
        self._wait(operation, resource_id)
        return self.describe(resource_id)

    def start(self, resource_id: str) -> CloudResource:
        self._call(resource_id, "start")
        return self.describe(resource_id)

    def stop(self, resource_id: str) -> CloudResource:
        self._call(resource_id, "stop")
        return self.describe(resource_id)

    def terminate(self, resource_id: str) -> CloudResource:
        current = self.describe(resource_id)
        self._call(resource_id, "delete")
        return CloudResource(**{**vars(current), "state": ResourceState.TERMINATED})

    def scale(self, resource_id: str, request: ScaleRequest) -> CloudResource:
        if request.capacity is not None:
            raise UnsupportedRequest(
                "managed instance groups are not part of the Google Cloud adapter yet; give a size"
            )
        if not request.size:
            raise UnsupportedRequest("scaling needs a new machine type")
        _, zone, _ = _parts(resource_id)
        body = self._compute.InstancesSetMachineTypeRequest(machine_type=f"zones/{zone}/machineTypes/{request.size}")
        self._call(resource_id, "set_machine_type", instances_set_machine_type_request_resource=body)
        return self.describe(resource_id)

    def tag(self, resource_id: str, tags: Mapping[str, str]) -> CloudResource:
        project, zone, name = _parts(resource_id)
        try:
            current = self.instances.get(project=project, zone=zone, instance=name)
        except google_errors.GoogleAPICallError as exc:
            raise translate(exc, resource_id) from exc
        labels = dict(tags)
        if TOKEN_LABEL in current.labels:
            labels[TOKEN_LABEL] = current.labels[TOKEN_LABEL]
        body = self._compute.InstancesSetLabelsRequest(labels=labels, label_fingerprint=current.label_fingerprint)
        self._call(resource_id, "set_labels", instances_set_labels_request_resource=body)
        return self.describe(resource_id)
