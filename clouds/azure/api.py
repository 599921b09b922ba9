"""What every part of the Azure adapter shares: one subscription's ARM clients (azure-mgmt-compute,
azure-mgmt-storage, azure-mgmt-resource, azure-mgmt-monitor), raw GETs and lists of ARM's REST API
through the compute client's pipeline, reads and writes by ARM id, and ARM's errors as
:mod:`clouds.errors`.

Long-running operations (create, start, deallocate, delete, scale) are polled to their end by
the SDK's ARM poller; every list follows ``nextLink``; ARM's errors leave the adapter as the
errors of :mod:`clouds.errors`. A resource is found by its ARM id, whose provider segment
(``Microsoft.Compute/disks`` ...) says which SDK operations manage it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple

from azure.core.credentials import TokenCredential
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
)
from azure.core.rest import HttpRequest

from clouds.base import ResourceState
from clouds.errors import (
    AuthenticationFailed,
    CloudError,
    InvalidStateTransition,
    ResourceNotFound,
    Throttled,
    UnsupportedRequest,
)

SUBSCRIPTIONS_API = "2022-12-01"
VM = "Microsoft.Compute/virtualMachines"
DISK = "Microsoft.Compute/disks"
SCALE_SET = "Microsoft.Compute/virtualMachineScaleSets"
ACCOUNT = "Microsoft.Storage/storageAccounts"
ADDRESS = "Microsoft.Network/publicIPAddresses"
SNAPSHOT = "Microsoft.Compute/snapshots"
INTERFACE = "Microsoft.Network/networkInterfaces"
NETWORK_API = "2024-05-01"  # the Microsoft.Network REST version addresses are read and changed with
_KINDS = {kind.lower(): kind for kind in (VM, DISK, SCALE_SET, ACCOUNT, ADDRESS)}
NAMES = {
    VM: "virtual machine", DISK: "managed disk", SCALE_SET: "scale set", ACCOUNT: "storage account",
    ADDRESS: "public IP address", SNAPSHOT: "snapshot",
}  # fmt: skip
SNAPSHOT_KINDS = {SNAPSHOT.lower(): SNAPSHOT}  # what parse_id accepts where a snapshot's id is expected
TOKEN_TAG = "wedcloud:operation"  # noqa: S105 - a tag key: the operation that made a resource
_NAME_TAKEN = ("StorageAccountAlreadyTaken", "StorageAccountInAnotherResourceGroup")


def translate(exc: Exception, resource_id: str | None = None) -> CloudError:
    """The :mod:`clouds.errors` error for an Azure SDK error."""
    if isinstance(exc, ResourceNotFoundError) and resource_id:
        return ResourceNotFound(resource_id)
    if isinstance(exc, ClientAuthenticationError):
        return AuthenticationFailed(str(exc.message if hasattr(exc, "message") else exc))
    if isinstance(exc, ServiceRequestError):
        return Throttled(f"Azure could not be reached: {exc}")
    if isinstance(exc, HttpResponseError):
        code = getattr(exc.error, "code", None) or ""
        message = getattr(exc.error, "message", None) or str(exc)
        if exc.status_code == 429:
            return Throttled(f"Azure throttled the call: {message}")
        if exc.status_code in (401, 403) or code in ("AuthorizationFailed", "SubscriptionNotFound"):
            return AuthenticationFailed(f"{code}: {message}")
        if exc.status_code == 404 and resource_id:
            return ResourceNotFound(resource_id)
        if code in _NAME_TAKEN:
            return UnsupportedRequest(f"{message} Storage account names are unique across Azure: choose another.")
        if exc.status_code == 409:
            return InvalidStateTransition(resource_id or "", "busy", message)
        return UnsupportedRequest(f"{code or exc.status_code}: {message}")
    return UnsupportedRequest(str(exc))


class ArmId(NamedTuple):
    group: str
    kind: str  # VM, DISK, SCALE_SET, ACCOUNT, ADDRESS or SNAPSHOT
    name: str


def parse_id(resource_id: str, kinds: Mapping[str, str] = _KINDS) -> ArmId:
    """Resource group, type and name of the ARM id of a resource this adapter manages (of one of
    ``kinds``, lower-case type -> type: the resources it lists unless told otherwise)."""
    pieces = resource_id.strip("/").split("/")
    lowered = [p.lower() for p in pieces]
    try:
        group = pieces[lowered.index("resourcegroups") + 1]
        at = lowered.index("providers")
        kind, name = "/".join(lowered[at + 1 : at + 3]), pieces[at + 3]
    except (ValueError, IndexError):
        raise ResourceNotFound(resource_id) from None
    if kind not in kinds or len(pieces) != at + 4:
        managed = " or ".join(NAMES[known] for known in kinds.values())
        raise UnsupportedRequest(
            f"{resource_id} is a {'/'.join(pieces[at + 1 : at + 3])}: the Azure adapter expects a {managed} here"
        )
    return ArmId(group, kinds[kind], name)


def reported_tags(raw: Mapping[str, Any]) -> dict[str, str]:
    return {k: v for k, v in (raw.get("tags") or {}).items() if k != TOKEN_TAG}


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def settled_state(properties: Mapping[str, Any], settled: ResourceState) -> ResourceState:
    """A resource without a power state: ``settled`` once ARM has finished provisioning it."""
    provisioning = properties.get("provisioningState", "Succeeded")
    if provisioning in ("Creating", "ResolvingDNS", "Accepted"):
        return ResourceState.PROVISIONING
    return ResourceState.FAILED if provisioning == "Failed" else settled


class Arm:
    """One subscription's ARM clients, and the reads and writes by ARM id every part makes."""

    def __init__(
        self, credential: TokenCredential, subscription_id: str, options: dict[str, Any], polling: dict[str, Any]
    ) -> None:
        from azure.mgmt.compute import ComputeManagementClient
        from azure.mgmt.dns import DnsManagementClient
        from azure.mgmt.monitor import MonitorManagementClient
        from azure.mgmt.resource.resources import ResourceManagementClient
        from azure.mgmt.storage import StorageManagementClient

        self.subscription_id = subscription_id
        self.polling = polling  # keyword arguments of every long-running operation (its polling interval)
        self.compute = ComputeManagementClient(credential, subscription_id, **options)
        self.storage = StorageManagementClient(credential, subscription_id, **options)
        self.resources = ResourceManagementClient(credential, subscription_id, **options)
        self.monitor = MonitorManagementClient(credential, subscription_id, **options)
        self.dns = DnsManagementClient(credential, subscription_id, **options)

    def read(self, path: str, api_version: str) -> dict[str, Any]:
        """A GET on an ARM path through the compute client's pipeline (its auth, retries)."""
        response = self.compute.send_request(HttpRequest("GET", f"{path}?api-version={api_version}"))
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    def items(self, path: str, api_version: str) -> Iterator[dict[str, Any]]:
        """Every item of an ARM list, following ``nextLink`` (an absolute URL with its own query)."""
        url: str | None = f"{path}?api-version={api_version}"
        while url:
            response = self.compute.send_request(HttpRequest("GET", url))
            response.raise_for_status()
            body = response.json()
            yield from body.get("value") or []
            url = body.get("nextLink")

    def id_of(self, arm: ArmId) -> str:
        return f"/subscriptions/{self.subscription_id}/resourceGroups/{arm.group}/providers/{arm.kind}/{arm.name}"

    def operations(self, kind: str) -> Any:
        """The SDK's operations on one kind of resource."""
        return {
            VM: self.compute.virtual_machines,
            DISK: self.compute.disks,
            SCALE_SET: self.compute.virtual_machine_scale_sets,
            ACCOUNT: self.storage.storage_accounts,
            SNAPSHOT: self.compute.snapshots,
        }[kind]

    def begin(self, kind: str, operation: str, *arguments: Any) -> Any:
        """Start a long-running operation (``begin_...``) on ``kind`` with this adapter's polling."""
        return getattr(self.operations(kind), operation)(*arguments, **self.polling)

    def wait(self, poller: Any, resource_id: str) -> None:
        try:
            poller.result()
        except Exception as exc:  # the poller raises the SDK's errors
            raise translate(exc, resource_id) from exc

    def run(self, arm: ArmId, operation: str, *arguments: Any) -> None:
        """One write on a resource; a long-running one (``begin_...``) is polled to its end."""
        resource_id = self.id_of(arm)
        long_running = operation.startswith("begin_")
        try:
            if long_running:
                poller = self.begin(arm.kind, operation, arm.group, arm.name, *arguments)
            else:
                getattr(self.operations(arm.kind), operation)(arm.group, arm.name, *arguments)
        except Exception as exc:
            raise translate(exc, resource_id) from exc
        if long_running:
            self.wait(poller, resource_id)

    def ensure_group(self, group: str, region: str) -> None:
        """Create the resource group in ``region`` unless it exists (wherever it is: ARM refuses to
        move a group, and a group's resources may live in any region)."""
        try:
            self.resources.resource_groups.get(group)
            return
        except ResourceNotFoundError:
            pass
        except Exception as exc:
            raise translate(exc) from exc
        try:
            self.resources.resource_groups.create_or_update(group, {"location": region})
        except Exception as exc:
            raise translate(exc) from exc

    def raw(self, arm: ArmId) -> dict[str, Any]:
        """The resource as ARM answers a GET of it."""
        try:
            if arm.kind == ADDRESS:
                address: dict[str, Any] = self.resources.resources.get_by_id(
                    self.id_of(arm), api_version=NETWORK_API
                ).as_dict()
                return address
            operations = self.operations(arm.kind)
            if arm.kind == VM:
                found = operations.get(arm.group, arm.name, expand="instanceView")
            elif arm.kind == ACCOUNT:
                found = operations.get_properties(arm.group, arm.name)
            else:
                found = operations.get(arm.group, arm.name)
        except Exception as exc:
            raise translate(exc, self.id_of(arm)) from exc
        raw: dict[str, Any] = found.as_dict()
        return raw
