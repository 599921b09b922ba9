"""Azure as a CloudProvider: one subscription's virtual machines, managed disks and scale sets
(azure-mgmt-compute), storage accounts (azure-mgmt-storage), resource groups (azure-mgmt-resource)
and public IP addresses.

azure-mgmt-network is not a dependency: public IP addresses are listed by a GET of ARM's REST
list (``Microsoft.Network/publicIPAddresses``, following ``nextLink``) through the compute
client's pipeline (its credential, retries and policies), and read, retagged and deleted by id
through azure-mgmt-resource's generic resources operations (``get_by_id``, ``begin_update_by_id``,
``begin_delete_by_id``). An address is attached to the VM of the network interface whose IP
configuration holds it (to the interface itself when it belongs to no VM or cannot be read), else
to the load balancer, gateway or NAT gateway that uses it. A listing lists the subscription's
network interfaces once, the same way (``Microsoft.Network/networkInterfaces``), for the map of
interface to VM; a describe reads the one interface by id.

Long-running operations (create, start, deallocate, delete, scale) are polled to their end by
the SDK's ARM poller; every list follows ``nextLink``; ARM's errors leave this module as the
errors of :mod:`clouds.errors`. A resource is found by its ARM id, whose provider segment
(``Microsoft.Compute/disks`` ...) says which SDK operations manage it.

Provisioning is idempotent per client token: what a request makes carries the token in the
tag ``wedcloud:operation`` (hidden from the tags this module reports, and kept when tags are
replaced), so a retried request finds what it made; a name another request or person holds is
refused. Without a token, an existing name is answered with what exists (ARM's PUT by name).
Stopping a VM deallocates it, so it stops billing compute hours; a scale set starts and stops
by its capacity. Billing lives in :mod:`clouds.azure.billing`.

``details["architecture"]`` of a VM or scale set comes from its size's name: a ``p`` among the
feature letters after the vCPU count (``Standard_D2ps_v5``, ``Standard_E4pds_v5``) is an Arm
(Ampere Altra or Cobalt) size. ``details["state_since"]`` is given where Azure states it: a managed
disk's ``lastOwnershipUpdateTime``, only while a VM manages it (when it was attached) or while it
is ``Unattached`` and managed by nothing (when it was detached). A disk in any other state
(``Reserved``, ``ActiveSAS``, ``ActiveUpload``, ``ReadyToUpload`` ...) is in use: it is attached to
its VM, else the first of ``managedByExtended``, else ``unknown``, and has no state_since. A VM's
power state and an address carry no such time, so theirs is absent.

Utilisation metrics come from Azure Monitor's platform metrics (azure-mgmt-monitor, Metrics -
List, one call per VM or scale set): CPU, network and disk operations as the host measures
them, memory as a share of the size's memory (from the location's VM sizes) where Azure reports
``Available Memory Bytes``. Managed disks and storage accounts report none of these.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import polars as pl
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
)
from azure.core.rest import HttpRequest

from clouds.azure.credentials import client_options, credential_for
from clouds.base import (
    HOUR,
    METRICS_SCHEMA,
    CloudResource,
    ConnectionCheck,
    Metric,
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

SUBSCRIPTIONS_API = "2022-12-01"
VM = "Microsoft.Compute/virtualMachines"
DISK = "Microsoft.Compute/disks"
SCALE_SET = "Microsoft.Compute/virtualMachineScaleSets"
ACCOUNT = "Microsoft.Storage/storageAccounts"
ADDRESS = "Microsoft.Network/publicIPAddresses"
INTERFACE = "Microsoft.Network/networkInterfaces"
NETWORK_API = "2024-05-01"  # the Microsoft.Network REST version addresses are read and changed with
_KINDS = {kind.lower(): kind for kind in (VM, DISK, SCALE_SET, ACCOUNT, ADDRESS)}
UNKNOWN_USER = "unknown"  # what a resource in use is attached to when Azure names no user
_NAMES = {
    VM: "virtual machine", DISK: "managed disk", SCALE_SET: "scale set", ACCOUNT: "storage account",
    ADDRESS: "public IP address",
}  # fmt: skip
# a size's name: Standard_<family><vCPUs>[-<constrained vCPUs>]<feature letters>[_<accelerator>][_v<n>]
_SIZE_NAME = re.compile(r"(?:Standard|Basic)_([A-Z]+)(\d+)(?:-\d+)?([a-z]*)")
# (kind, the operation listing the subscription's resources of that kind, its arguments)
_LISTS: tuple[tuple[str, str, dict[str, str]], ...] = (
    (VM, "list_all", {"status_only": "true"}),
    (DISK, "list", {}),
    (SCALE_SET, "list_all", {}),
    (ACCOUNT, "list", {}),
)
SERVICES = (
    Service(VM, "Virtual Machines", "Compute", (ResourceType.COMPUTE,)),
    Service(SCALE_SET, "Virtual Machine Scale Sets", "Compute", (ResourceType.COMPUTE,)),
    Service(DISK, "Managed Disks", "Storage", (ResourceType.STORAGE,)),
    Service(ACCOUNT, "Storage Accounts", "Storage", (ResourceType.STORAGE,)),
    Service(ADDRESS, "Public IP Addresses", "Networking", (ResourceType.NETWORK,)),
)
TOKEN_TAG = "wedcloud:operation"  # noqa: S105 - a tag key: the operation that made a resource
MIN_TAG, MAX_TAG = "wedcloud:min", "wedcloud:max"  # a scale set's capacity bounds
MAX_CAPACITY = 1000  # instances in one scale set (platform images)
DISK_SKUS = (
    "Standard_LRS", "StandardSSD_LRS", "StandardSSD_ZRS", "Premium_LRS", "Premium_ZRS", "PremiumV2_LRS", "UltraSSD_LRS",
)  # fmt: skip
DEFAULT_DISK_SKU = "StandardSSD_LRS"
MAX_DISK_GB = 32767
STORAGE_SKUS = (
    "Standard_LRS", "Standard_GRS", "Standard_RAGRS", "Standard_ZRS", "Standard_GZRS", "Standard_RAGZRS",
    "Premium_LRS", "Premium_ZRS",
)  # fmt: skip
_ACCOUNT_NAME = re.compile(r"[a-z0-9]{3,24}")
_DISK_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9_.-]{0,78}[A-Za-z0-9_])?")
_GROUP_NAME = re.compile(r"[-\w.()]{0,89}[-\w()]")
_NAME_TAKEN = ("StorageAccountAlreadyTaken", "StorageAccountInAnotherResourceGroup")
_SUBTYPE_TYPES = {
    "instance": ResourceType.COMPUTE,
    "instance_group": ResourceType.COMPUTE,
    "volume": ResourceType.STORAGE,
    "bucket": ResourceType.STORAGE,
}
METRICS_READ = "Microsoft.Insights/metrics/read"
AVAILABLE_MEMORY = "Available Memory Bytes"


class HostMetric(NamedTuple):
    aggregation: str  # the data point's field Azure fills: average or total
    metric: Metric
    per_second: bool = False  # a rate: times the period's seconds gives the period's count


# the platform metrics of Microsoft.Compute/virtualMachines, the same on virtualMachineScaleSets
# (learn.microsoft.com/azure/azure-monitor/reference/supported-metrics/microsoft-compute-virtualmachines-metrics)
HOST_METRICS = {
    "Percentage CPU": HostMetric("average", Metric.CPU_PERCENT),
    AVAILABLE_MEMORY: HostMetric("average", Metric.MEMORY_PERCENT),  # bytes, made a share of the size's memory
    "Network In Total": HostMetric("total", Metric.NETWORK_IN_BYTES),
    "Network Out Total": HostMetric("total", Metric.NETWORK_OUT_BYTES),
    "Disk Read Operations/Sec": HostMetric("average", Metric.DISK_IO_OPS, per_second=True),
    "Disk Write Operations/Sec": HostMetric("average", Metric.DISK_IO_OPS, per_second=True),
}
# Azure Monitor's time grains, the ISO 8601 durations ``interval`` takes
GRAINS = {
    timedelta(minutes=1): "PT1M", timedelta(minutes=5): "PT5M", timedelta(minutes=15): "PT15M",
    timedelta(minutes=30): "PT30M", HOUR: "PT1H", timedelta(hours=6): "PT6H", timedelta(hours=12): "PT12H",
    timedelta(days=1): "P1D",
}  # fmt: skip
_POWER = {
    "running": ResourceState.RUNNING,
    "starting": ResourceState.PROVISIONING,
    "stopped": ResourceState.STOPPED,  # powered off but still allocated (and billed)
    "stopping": ResourceState.STOPPED,
    "deallocated": ResourceState.STOPPED,
    "deallocating": ResourceState.STOPPED,
}


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


def _metrics_error(exc: Exception, resource_id: str) -> CloudError:
    """As :func:`translate`, a refusal naming the permission that reading metrics needs."""
    error = translate(exc, resource_id)
    if isinstance(error, AuthenticationFailed) and getattr(exc, "status_code", None) == 403:
        return AuthenticationFailed(f"reading metrics needs the permission {METRICS_READ}: {error}")
    return error


Row = tuple[str, str, datetime, float]


def _utc_text(moment: datetime) -> str:
    moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _grain(period: timedelta) -> str:
    try:
        return GRAINS[period]
    except KeyError:
        raise UnsupportedRequest(f"Azure Monitor's periods are {', '.join(GRAINS.values())}, not {period}") from None


def _samples(response: Any, seconds: float) -> Iterator[tuple[str, datetime, float]]:
    """(Azure metric name, period start, value) of each data point with data; a null is skipped."""
    names = {name.lower(): name for name in HOST_METRICS}
    for found in response.value or []:
        name = names.get(str(found.name.value).lower())
        if name is None:
            continue
        wanted = HOST_METRICS[name]
        for series in found.timeseries or []:
            for point in series.data or []:
                value = getattr(point, wanted.aggregation)
                if value is not None:
                    yield name, point.time_stamp.astimezone(UTC), value * (seconds if wanted.per_second else 1)


def _used_share(available: float, memory: float) -> float:
    """The percentage of a size's memory in use, from the bytes Azure reports available."""
    return min(max(100 * (1 - available / memory), 0.0), 100.0)


def _metrics_frame(rows: list[Row]) -> pl.DataFrame:
    """The long metrics frame; disk operations are reads plus writes, so a period counts only
    when Azure reported both."""
    if not rows:
        return pl.DataFrame(schema=METRICS_SCHEMA)
    frame = pl.DataFrame(rows, schema=list(METRICS_SCHEMA), orient="row")
    summed = frame.group_by("resource_id", "metric", "timestamp").agg(pl.col("value").sum(), pl.len().alias("parts"))
    complete = (pl.col("metric") != Metric.DISK_IO_OPS.value) | (pl.col("parts") == 2)
    return (
        summed.filter(complete)
        .select(list(METRICS_SCHEMA))
        .sort("resource_id", "metric", "timestamp")
        .cast(METRICS_SCHEMA)
    )


class ArmId(NamedTuple):
    group: str
    kind: str  # VM, DISK, SCALE_SET or ACCOUNT
    name: str


def _parts(resource_id: str) -> ArmId:
    """Resource group, type and name of the ARM id of a resource this adapter manages."""
    pieces = resource_id.strip("/").split("/")
    lowered = [p.lower() for p in pieces]
    try:
        group = pieces[lowered.index("resourcegroups") + 1]
        at = lowered.index("providers")
        kind, name = "/".join(lowered[at + 1 : at + 3]), pieces[at + 3]
    except (ValueError, IndexError):
        raise ResourceNotFound(resource_id) from None
    if kind not in _KINDS or len(pieces) != at + 4:
        raise UnsupportedRequest(
            f"{resource_id}: the Azure adapter manages {', '.join(_NAMES.values())}, not {'/'.join(pieces[at + 1 :])}"
        )
    return ArmId(group, _KINDS[kind], name)


def _image(text: str) -> dict[str, str]:
    """An image reference from ``publisher:offer:sku:version`` (the CLI's URN) or an image id."""
    if text.startswith("/"):
        return {"id": text}
    parts = text.split(":")
    if len(parts) != 4:
        raise UnsupportedRequest(f"image {text!r}: use publisher:offer:sku:version or an image's ARM id")
    return dict(zip(("publisher", "offer", "sku", "version"), parts, strict=True))


def _tags(raw: Mapping[str, Any]) -> dict[str, str]:
    return {k: v for k, v in (raw.get("tags") or {}).items() if k != TOKEN_TAG}


def _time(text: str | None) -> datetime | None:
    if not text:
        return None
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _architecture(size: str | None) -> str | None:
    """``arm64`` for a size whose feature letters include ``p``, else ``x86_64``; None for a name
    that does not follow Azure's size naming."""
    found = _SIZE_NAME.match(size or "")
    if found is None:
        return None
    return "arm64" if "p" in found[3] else "x86_64"


def _since(text: str | None) -> dict[str, datetime]:
    """``details["state_since"]`` from a time Azure gives; absent, never guessed, without one."""
    moment = _time(text)
    return {} if moment is None else {"state_since": moment.astimezone(UTC)}


def _disk_user(raw: Mapping[str, Any]) -> str | None:
    """What a managed disk is attached to: None only when ARM says it is ``Unattached`` and names
    no VM. Any other state (Attached, Reserved, ActiveSAS, ActiveUpload, ReadyToUpload, or none
    given) is in use: the VM that manages it, else the first of ``managedByExtended``, else
    ``unknown``, so that it is never taken for a disk nothing uses."""
    managers = [raw.get("managedBy"), *(raw.get("managedByExtended") or [])]
    user = next((manager for manager in managers if manager), None)
    if user is None and (raw.get("properties") or {}).get("diskState") != "Unattached":
        return UNKNOWN_USER
    return user


def _configuration(properties: Mapping[str, Any]) -> str:
    """The id of the IP configuration holding an address (of its properties); empty without one."""
    return str((properties.get("ipConfiguration") or {}).get("id") or "")


def _is_interface(arm_id: str) -> bool:
    return f"/providers/{INTERFACE.lower()}/" in arm_id.lower()


def _interface_user(interface: Mapping[str, Any]) -> str:
    """What an address on a network interface (ARM's view of it) is attached to: its VM, else the
    interface itself (one of a private endpoint, or not yet given to a VM)."""
    vm = ((interface.get("properties") or {}).get("virtualMachine") or {}).get("id")
    return str(vm or interface["id"])


def _parent(arm_id: str) -> str:
    """The top-level resource of a child resource's id (an IP configuration's interface)."""
    pieces = arm_id.strip("/").split("/")
    lowered = [p.lower() for p in pieces]
    if "providers" not in lowered:
        return arm_id
    at = lowered.index("providers")
    return "/" + "/".join(pieces[: at + 4])


def _state(properties: Mapping[str, Any], settled: ResourceState) -> ResourceState:
    """A resource without a power state: ``settled`` once ARM has finished provisioning it."""
    provisioning = properties.get("provisioningState", "Succeeded")
    if provisioning in ("Creating", "ResolvingDNS", "Accepted"):
        return ResourceState.PROVISIONING
    return ResourceState.FAILED if provisioning == "Failed" else settled


def _bounds(tags: Mapping[str, str]) -> tuple[int, int]:
    """A scale set's capacity bounds: its wedcloud:min and wedcloud:max tags, else 0..1000."""

    def bound(key: str, default: int) -> int:
        try:
            return min(max(int(tags[key]), 0), MAX_CAPACITY)
        except (KeyError, ValueError):
            return default

    return bound(MIN_TAG, 0), bound(MAX_TAG, MAX_CAPACITY)


def _subtype(request: ProvisionRequest) -> str:
    default = "volume" if request.resource_type == ResourceType.STORAGE else "instance"
    return str(request.options.get("subtype") or default)


def _vm_problems(request: ProvisionRequest) -> list[Problem]:
    problems: list[Problem] = []
    if not request.image:
        problems.append(("image", "an Azure VM needs an image (publisher:offer:sku:version)"))
    if not request.network:
        problems.append(("network", "an Azure VM needs the ARM id of its network interface"))
    if not request.options.get("ssh_public_key"):
        problems.append(("options", "an Azure VM needs options.ssh_public_key for its administrator"))
    return problems


def _disk_problems(request: ProvisionRequest) -> list[Problem]:
    problems: list[Problem] = []
    if not _DISK_NAME.fullmatch(request.name):
        problems.append(
            ("name", "a managed disk's name is 1-80 letters, digits, '_', '.' or '-', starting with a letter or "
             "digit and ending with a letter, digit or '_'")
        )  # fmt: skip
    size = request.size.removesuffix("GB")
    if not (request.size.endswith("GB") and size.isdigit() and 1 <= int(size) <= MAX_DISK_GB):
        problems.append(("size", f"a managed disk's size is '<n>GB' with n from 1 to {MAX_DISK_GB}"))
    if request.options.get("sku", DEFAULT_DISK_SKU) not in DISK_SKUS:
        problems.append(("options", f"options.sku of a managed disk is one of {', '.join(DISK_SKUS)}"))
    return problems


def _account_problems(request: ProvisionRequest) -> list[Problem]:
    problems: list[Problem] = []
    if not _ACCOUNT_NAME.fullmatch(request.name):
        problems.append(
            ("name", "a storage account's name is 3-24 lowercase letters and digits, and unique across all of Azure")
        )
    if request.size not in STORAGE_SKUS:
        problems.append(("size", f"a storage account's size is its SKU: one of {', '.join(STORAGE_SKUS)}"))
    return problems


def _scale_set_problems(request: ProvisionRequest) -> list[Problem]:
    return [
        ("subtype", "Azure scale sets are not provisioned by WedCloud: a sync imports them, and "
         "POST /resources/{id}/scale changes their capacity")
    ]  # fmt: skip


_PROBLEMS: dict[str, Callable[[ProvisionRequest], list[Problem]]] = {
    "instance": _vm_problems,
    "volume": _disk_problems,
    "bucket": _account_problems,
    "instance_group": _scale_set_problems,
}


class AzureCloud(NotYetAdapted):
    """One Azure subscription (a service principal or the SDK's chain), over ``regions``."""

    kind = "azure"

    @classmethod
    def provision_problems(cls, request: ProvisionRequest) -> list[Problem]:
        subtype = request.options["subtype"]
        check = _PROBLEMS.get(subtype)
        if check is None or _SUBTYPE_TYPES[subtype] != request.resource_type:
            return [("subtype", "the Azure adapter provisions virtual machines (compute instance), managed disks "
                     "(storage volume) and storage accounts (storage bucket)")]  # fmt: skip
        problems = check(request)
        group = request.options.get("resource_group")
        if group is not None and not (isinstance(group, str) and _GROUP_NAME.fullmatch(group)):
            problems.append(("options", "options.resource_group is 1-90 letters, digits, '_', '-', '.', '(' or ')', "
                             "not ending in '.'"))  # fmt: skip
        return problems

    def __init__(
        self,
        credentials: dict[str, Any] | None,
        *,
        subscription_id: str,
        regions: Sequence[str] = (),
        default_region: str | None = None,
        endpoint_url: str | None = None,
        resource_group: str = "wedcloud",
        polling_interval: float | None = None,
    ) -> None:
        from azure.mgmt.compute import ComputeManagementClient
        from azure.mgmt.monitor import MonitorManagementClient
        from azure.mgmt.resource.resources import ResourceManagementClient
        from azure.mgmt.storage import StorageManagementClient

        self.subscription_id = subscription_id
        self.regions = list(regions)
        self.default_region = default_region or (self.regions[0] if self.regions else "uksouth")
        self.resource_group = resource_group
        # seconds between polls of a long-running operation when Azure gives no Retry-After
        # (None: the SDK's own default, 30 s)
        self.polling: dict[str, Any] = {} if polling_interval is None else {"polling_interval": polling_interval}
        credential = credential_for(credentials)
        options = client_options(endpoint_url)
        self.compute = ComputeManagementClient(credential, subscription_id, **options)
        self.storage = StorageManagementClient(credential, subscription_id, **options)
        self.resources = ResourceManagementClient(credential, subscription_id, **options)
        self.monitor = MonitorManagementClient(credential, subscription_id, **options)
        self._sizes: dict[str, dict[str, int]] = {}  # location -> VM size (lower case) -> memory in MiB

    # -- helpers -------------------------------------------------------------------------------
    def _arm(self, path: str, api_version: str) -> dict[str, Any]:
        """A GET on an ARM path through the compute client's pipeline (its auth, retries)."""
        response = self.compute.send_request(HttpRequest("GET", f"{path}?api-version={api_version}"))
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    def _arm_list(self, path: str, api_version: str) -> Iterator[dict[str, Any]]:
        """Every item of an ARM list, following ``nextLink`` (an absolute URL with its own query)."""
        url: str | None = f"{path}?api-version={api_version}"
        while url:
            response = self.compute.send_request(HttpRequest("GET", url))
            response.raise_for_status()
            body = response.json()
            yield from body.get("value") or []
            url = body.get("nextLink")

    def _addresses(self) -> Iterator[dict[str, Any]]:
        yield from self._arm_list(f"/subscriptions/{self.subscription_id}/providers/{ADDRESS}", NETWORK_API)

    def _id(self, arm: ArmId) -> str:
        return f"/subscriptions/{self.subscription_id}/resourceGroups/{arm.group}/providers/{arm.kind}/{arm.name}"

    def _operations(self, kind: str) -> Any:
        """The SDK's operations on one kind of resource."""
        return {
            VM: self.compute.virtual_machines,
            DISK: self.compute.disks,
            SCALE_SET: self.compute.virtual_machine_scale_sets,
            ACCOUNT: self.storage.storage_accounts,
        }[kind]

    def _to_cloud(self, kind: str, raw: Mapping[str, Any]) -> CloudResource:
        convert = {
            VM: self._vm_to_cloud,
            DISK: self._disk_to_cloud,
            SCALE_SET: self._scale_set_to_cloud,
            ACCOUNT: self._account_to_cloud,
            ADDRESS: self._address_to_cloud,
        }[kind]
        return convert(raw)

    def _vm_to_cloud(self, raw: Mapping[str, Any]) -> CloudResource:
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
            account_id=self.subscription_id,
            size=(properties.get("hardwareProfile") or {}).get("vmSize"),
            tags=_tags(raw),
            created_at=_time(properties.get("timeCreated")),
            details={
                "resource_group": _parts(raw["id"]).group,
                "image": ":".join(image[k] for k in ("publisher", "offer", "sku", "version") if k in image) or None,
                "power_state": power,
                "deallocated": power == "deallocated",
                "architecture": _architecture((properties.get("hardwareProfile") or {}).get("vmSize")),
            },
        )

    def _disk_to_cloud(self, raw: Mapping[str, Any]) -> CloudResource:
        properties = raw.get("properties") or {}
        zones = raw.get("zones") or []
        size = properties.get("diskSizeGB")
        user, state = _disk_user(raw), properties.get("diskState")
        # lastOwnershipUpdateTime is the attach time of a disk a VM manages, the detach time of an
        # unattached one; a disk in any other state (ActiveSAS, ReadyToUpload ...) gets none
        since = bool(raw.get("managedBy")) or (state == "Unattached" and user is None)
        return CloudResource(
            id=raw["id"], name=raw["name"], resource_type=ResourceType.STORAGE, subtype="volume",
            region=raw["location"], zone=zones[0] if zones else None,
            state=_state(properties, ResourceState.AVAILABLE), account_id=self.subscription_id,
            size=None if size is None else f"{size}GB", tags=_tags(raw),
            created_at=_time(properties.get("timeCreated")), attached_to=user,
            details={
                "resource_group": _parts(raw["id"]).group, "sku": (raw.get("sku") or {}).get("name"),
                "disk_state": state, **(_since(properties.get("lastOwnershipUpdateTime")) if since else {}),
            },
        )  # fmt: skip

    def _scale_set_to_cloud(self, raw: Mapping[str, Any]) -> CloudResource:
        properties, sku = raw.get("properties") or {}, raw.get("sku") or {}
        capacity = int(sku.get("capacity") or 0)
        low, high = _bounds(raw.get("tags") or {})
        return CloudResource(
            id=raw["id"], name=raw["name"], resource_type=ResourceType.COMPUTE, subtype="instance_group",
            region=raw["location"], account_id=self.subscription_id, size=sku.get("name"), tags=_tags(raw),
            state=_state(properties, ResourceState.RUNNING if capacity else ResourceState.STOPPED),
            created_at=_time(properties.get("timeCreated")),
            details={
                "resource_group": _parts(raw["id"]).group, "min": low, "max": high, "desired": capacity,
                "orchestration_mode": properties.get("orchestrationMode"),
                "architecture": _architecture(sku.get("name")),
            },
        )  # fmt: skip

    def _account_to_cloud(self, raw: Mapping[str, Any]) -> CloudResource:
        properties = raw.get("properties") or {}
        return CloudResource(
            id=raw["id"], name=raw["name"], resource_type=ResourceType.STORAGE, subtype="bucket",
            region=raw["location"], state=_state(properties, ResourceState.AVAILABLE),
            account_id=self.subscription_id, size=(raw.get("sku") or {}).get("name"), tags=_tags(raw),
            created_at=_time(properties.get("creationTime")),
            details={
                "resource_group": _parts(raw["id"]).group, "kind": raw.get("kind"),
                "access_tier": properties.get("accessTier"),
                "blob_endpoint": (properties.get("primaryEndpoints") or {}).get("blob"),
            },
        )  # fmt: skip

    def _address_to_cloud(self, raw: Mapping[str, Any], interfaces: Mapping[str, str] | None = None) -> CloudResource:
        """A public IP address, attached to what uses it (see :meth:`_address_user`)."""
        properties, zones = raw.get("properties") or {}, raw.get("zones") or []
        allocation = properties.get("publicIPAllocationMethod")
        return CloudResource(
            id=raw["id"], name=raw["name"], resource_type=ResourceType.NETWORK, subtype="address",
            region=raw["location"], zone=zones[0] if zones else None,
            state=_state(properties, ResourceState.AVAILABLE), account_id=self.subscription_id, tags=_tags(raw),
            attached_to=self._address_user(raw["id"], properties, interfaces),
            details={
                "resource_group": _parts(raw["id"]).group, "ip": properties.get("ipAddress"),
                "allocation": allocation.lower() if allocation else None, "sku": (raw.get("sku") or {}).get("name"),
                "ip_configuration": _configuration(properties) or None,
            },
        )  # fmt: skip

    def _address_user(
        self, address_id: str, properties: Mapping[str, Any], interfaces: Mapping[str, str] | None
    ) -> str | None:
        """What an address is attached to: the VM of the network interface whose IP configuration
        holds it (the interface when it has no VM, or cannot be read), the resource owning any
        other IP configuration (a load balancer, a gateway), or the NAT gateway using it.

        ``interfaces`` is a listing's map of every interface (see :meth:`_interface_users`); an
        interface it lacks counts as attached to itself. Without one (a describe), the interface
        is read by its id."""
        configuration = _configuration(properties)
        if not configuration:
            return (properties.get("natGateway") or {}).get("id") or None
        owner = _parent(configuration)
        if not _is_interface(owner):
            return owner
        if interfaces is not None:
            return interfaces.get(owner.lower(), owner)
        try:
            found = self.resources.resources.get_by_id(owner, api_version=NETWORK_API).as_dict()
        except HttpResponseError as exc:
            if exc.status_code not in (401, 403, 404):
                raise translate(exc, address_id) from exc
            return owner  # an interface this identity may not read (or gone): the interface is what is known
        except Exception as exc:
            raise translate(exc, address_id) from exc
        return _interface_user(found)

    def _interface_users(self) -> dict[str, str]:
        """Every network interface of the subscription (its id in lower case, as ARM ids are
        case-insensitive) -> what an address on it is attached to (see :func:`_interface_user`),
        from one listing. Interfaces this identity may not list are left out (so count as
        attached to themselves); any other error is the listing's."""
        users: dict[str, str] = {}
        try:
            for found in self._arm_list(f"/subscriptions/{self.subscription_id}/providers/{INTERFACE}", NETWORK_API):
                users[found["id"].lower()] = _interface_user(found)
        except HttpResponseError as exc:
            if exc.status_code not in (401, 403):
                raise translate(exc) from exc
        except Exception as exc:
            raise translate(exc) from exc
        return users

    def _address_write(self, resource_id: str, operation: str, **arguments: Any) -> None:
        """A long-running change of an address through the generic resources operations (its
        arguments by keyword: older azure-mgmt-resource takes ``api_version`` second)."""
        try:
            poller = getattr(self.resources.resources, operation)(
                resource_id, api_version=NETWORK_API, **arguments, **self.polling
            )
        except Exception as exc:
            raise translate(exc, resource_id) from exc
        self._wait(poller, resource_id)

    def _begin(self, kind: str, operation: str, *arguments: Any) -> Any:
        """Start a long-running operation (``begin_...``) on ``kind`` with this adapter's polling."""
        return getattr(self._operations(kind), operation)(*arguments, **self.polling)

    def _wait(self, poller: Any, resource_id: str) -> None:
        try:
            poller.result()
        except Exception as exc:  # the poller raises the SDK's errors
            raise translate(exc, resource_id) from exc

    def _run(self, arm: ArmId, operation: str, *arguments: Any) -> None:
        """One write on a resource; a long-running one (``begin_...``) is polled to its end."""
        resource_id = self._id(arm)
        long_running = operation.startswith("begin_")
        try:
            if long_running:
                poller = self._begin(arm.kind, operation, arm.group, arm.name, *arguments)
            else:
                getattr(self._operations(arm.kind), operation)(arm.group, arm.name, *arguments)
        except Exception as exc:
            raise translate(exc, resource_id) from exc
        if long_running:
            self._wait(poller, resource_id)

    def _raw(self, arm: ArmId) -> dict[str, Any]:
        """The resource as ARM answers a GET of it."""
        try:
            if arm.kind == ADDRESS:
                address: dict[str, Any] = self.resources.resources.get_by_id(
                    self._id(arm), api_version=NETWORK_API
                ).as_dict()
                return address
            operations = self._operations(arm.kind)
            if arm.kind == VM:
                found = operations.get(arm.group, arm.name, expand="instanceView")
            elif arm.kind == ACCOUNT:
                found = operations.get_properties(arm.group, arm.name)
            else:
                found = operations.get(arm.group, arm.name)
        except Exception as exc:
            raise translate(exc, self._id(arm)) from exc
        raw: dict[str, Any] = found.as_dict()
        return raw

    # -- read side -----------------------------------------------------------------------------
    def test_connection(self) -> ConnectionCheck:
        try:
            subscription = self._arm(f"/subscriptions/{self.subscription_id}", SUBSCRIPTIONS_API)
        except Exception as exc:
            return ConnectionCheck(ok=False, identity="", detail=f"the subscription cannot be read: {translate(exc)}")
        identity = f"/subscriptions/{self.subscription_id} ({subscription.get('displayName', '')})"
        missing = []
        for kind, listing, arguments in _LISTS:
            try:
                next(iter(getattr(self._operations(kind), listing)(**arguments)), None)
            except HttpResponseError as exc:
                if exc.status_code == 403:
                    missing.append(f"{kind}/read")
        try:
            next(self._addresses(), None)
        except HttpResponseError as exc:
            if exc.status_code == 403:
                missing.append(f"{ADDRESS}/read")
        detail = (
            f"subscription {subscription.get('state', 'unknown')}; missing permissions: {', '.join(missing)}"
            if missing
            else f"subscription {subscription.get('state', 'unknown')}; every permission WedCloud reads with is granted"
        )
        return ConnectionCheck(ok=not missing, identity=identity, detail=detail, missing_permissions=missing)

    def list_regions(self) -> list[Region]:
        try:
            body = self._arm(f"/subscriptions/{self.subscription_id}/locations", SUBSCRIPTIONS_API)
        except Exception as exc:
            raise translate(exc) from exc
        return sorted(
            (
                Region(
                    item["name"],
                    item.get("displayName", item["name"]),
                    (item.get("metadata") or {}).get("geographyGroup", "Other"),
                )
                for item in body.get("value", [])
            ),
            key=lambda r: r.id,
        )

    def list_services(self) -> list[Service]:
        return list(SERVICES)

    def list_resources(self, *, region: str | None = None) -> Iterator[CloudResource]:
        """VMs, managed disks, scale sets, storage accounts and public IP addresses, every page of each."""
        wanted = {region} if region else set(self.regions)
        for kind, listing, arguments in _LISTS:
            try:
                for found in getattr(self._operations(kind), listing)(**arguments):
                    raw = found.as_dict()
                    if not wanted or raw["location"] in wanted:
                        yield self._to_cloud(kind, raw)
            except Exception as exc:
                raise translate(exc) from exc
        interfaces: dict[str, str] | None = None  # network interface -> its VM, listed once when first needed
        try:
            for raw in self._addresses():
                if not wanted or raw["location"] in wanted:
                    if interfaces is None and _is_interface(_parent(_configuration(raw.get("properties") or {}))):
                        interfaces = self._interface_users()
                    yield self._address_to_cloud(raw, {} if interfaces is None else interfaces)
        except CloudError:
            raise
        except Exception as exc:
            raise translate(exc) from exc

    def describe(self, resource_id: str) -> CloudResource:
        arm = _parts(resource_id)
        return self._to_cloud(arm.kind, self._raw(arm))

    # -- metrics -------------------------------------------------------------------------------
    def get_metrics(
        self, resource_ids: Sequence[str], *, start: datetime, end: datetime, period: timedelta = HOUR
    ) -> pl.DataFrame:
        """Azure Monitor's platform metrics of each VM and scale set per period (one Metrics - List
        call each); managed disks and storage accounts report none. A data point without data is
        absent, and so is memory when Azure reports none or the size's memory is unknown."""
        grain, timespan = _grain(period), f"{_utc_text(start)}/{_utc_text(end)}"
        rows: list[Row] = []
        for resource_id in dict.fromkeys(resource_ids):
            arm = _parts(resource_id)
            if arm.kind in (VM, SCALE_SET):
                rows += self._host_metrics(resource_id, arm, timespan, grain, period.total_seconds())
        return _metrics_frame(rows)

    def _host_metrics(self, resource_id: str, arm: ArmId, timespan: str, grain: str, seconds: float) -> list[Row]:
        try:
            response = self.monitor.metrics.list(
                resource_id, timespan=timespan, interval=grain, metricnames=",".join(HOST_METRICS),
                aggregation="Average,Total",
            )  # fmt: skip
        except Exception as exc:
            raise _metrics_error(exc, resource_id) from exc
        samples = list(_samples(response, seconds))
        memory = self._memory_bytes(arm) if any(name == AVAILABLE_MEMORY for name, *_ in samples) else None
        rows: list[Row] = []
        for name, moment, value in samples:
            if name == AVAILABLE_MEMORY:
                if memory is None:
                    continue
                value = _used_share(value, memory)
            rows.append((resource_id, HOST_METRICS[name].metric.value, moment, value))
        return rows

    def _memory_bytes(self, arm: ArmId) -> float | None:
        """The memory of a VM's size (of each instance's, for a scale set), from its location's VM
        sizes; None when the size is not listed there."""
        raw = self._raw(arm)
        hardware = (raw.get("properties") or {}).get("hardwareProfile") or {}
        size = (raw.get("sku") or {}).get("name") if arm.kind == SCALE_SET else hardware.get("vmSize")
        location = raw["location"]
        if location not in self._sizes:
            try:
                listed = self.compute.virtual_machine_sizes.list(location)
                self._sizes[location] = {s.name.lower(): s.memory_in_mb for s in listed if s.name and s.memory_in_mb}
            except Exception as exc:
                raise translate(exc) from exc
        megabytes = self._sizes[location].get(str(size).lower())
        return float(megabytes * 2**20) if megabytes else None

    # -- write side ----------------------------------------------------------------------------
    def provision(self, request: ProvisionRequest) -> CloudResource:
        request = replace(request, options={**request.options, "subtype": _subtype(request)})
        problems = self.provision_problems(request)
        if problems:
            raise UnsupportedRequest("; ".join(f"{field}: {message}" for field, message in problems))
        kind, create, body = {
            "instance": (VM, "begin_create_or_update", self._vm_body),
            "volume": (DISK, "begin_create_or_update", self._disk_body),
            "bucket": (ACCOUNT, "begin_create", self._account_body),
        }[request.options["subtype"]]
        arm = ArmId(str(request.options.get("resource_group") or self.resource_group), kind, request.name)
        token = request.options.get("client_token")
        existing = self._claimed(arm, str(token) if token else None)
        if existing is not None:
            return existing
        try:
            self.resources.resource_groups.create_or_update(arm.group, {"location": request.region})
        except Exception as exc:
            raise translate(exc) from exc
        tags = {**request.tags, **({TOKEN_TAG: str(token)} if token else {})}
        self._run(arm, create, {**body(request), "location": request.region, "tags": tags})
        return self.describe(self._id(arm))

    def _claimed(self, arm: ArmId, token: str | None) -> CloudResource | None:
        """What already holds the name: None if nothing; the resource if this request's token
        made it (a retry) or no token was given; else UnsupportedRequest."""
        try:
            raw = self._raw(arm)
        except ResourceNotFound:
            return None
        if token is None or (raw.get("tags") or {}).get(TOKEN_TAG) == token:
            return self._to_cloud(arm.kind, raw)
        raise UnsupportedRequest(
            f"a {_NAMES[arm.kind]} named {arm.name!r} already exists in resource group {arm.group} and this "
            "request did not make it: choose another name"
        )

    @staticmethod
    def _vm_body(request: ProvisionRequest) -> dict[str, Any]:
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

    @staticmethod
    def _disk_body(request: ProvisionRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "sku": {"name": request.options.get("sku", DEFAULT_DISK_SKU)},
            "properties": {"creationData": {"createOption": "Empty"}, "diskSizeGB": int(request.size[:-2])},
        }
        if request.options.get("zone"):
            body["zones"] = [str(request.options["zone"])]
        return body

    @staticmethod
    def _account_body(request: ProvisionRequest) -> dict[str, Any]:
        return {
            "sku": {"name": request.size},
            "kind": "StorageV2",
            "properties": {"minimumTlsVersion": "TLS1_2", "allowBlobPublicAccess": False},
        }

    def _power(self, resource_id: str, operation: str) -> CloudResource:
        arm = _parts(resource_id)
        if arm.kind == SCALE_SET:
            raise UnsupportedRequest("a scale set starts and stops by its capacity: scale it to 0 to stop it")
        if arm.kind != VM:
            raise UnsupportedRequest(f"a {_NAMES[arm.kind]} has no power state")
        self._run(arm, operation)
        return self.describe(resource_id)

    def start(self, resource_id: str) -> CloudResource:
        return self._power(resource_id, "begin_start")

    def stop(self, resource_id: str) -> CloudResource:
        """Deallocate: a VM that is only powered off keeps billing its compute hours."""
        return self._power(resource_id, "begin_deallocate")

    def terminate(self, resource_id: str) -> CloudResource:
        current = self.describe(resource_id)
        arm = _parts(resource_id)
        if arm.kind == ADDRESS:
            if current.attached_to:  # as Azure refuses it (PublicIPAddressCannotBeDeleted), said plainly
                raise InvalidStateTransition(resource_id, f"associated with {current.attached_to}", "release")
            self._address_write(resource_id, "begin_delete_by_id")
        else:
            self._run(arm, "delete" if arm.kind == ACCOUNT else "begin_delete")
        return replace(current, state=ResourceState.TERMINATED)

    def _update(self, resource_id: str, patch: dict[str, Any]) -> CloudResource:
        arm = _parts(resource_id)
        if arm.kind == ADDRESS:
            self._address_write(resource_id, "begin_update_by_id", parameters=patch)
        else:
            self._run(arm, "update" if arm.kind == ACCOUNT else "begin_update", patch)
        return self.describe(resource_id)

    def scale(self, resource_id: str, request: ScaleRequest) -> CloudResource:
        kind = _parts(resource_id).kind
        if request.capacity is not None:
            if kind != SCALE_SET:
                raise UnsupportedRequest(f"a {_NAMES[kind]} has no capacity: only a scale set scales horizontally")
            return self._scale_out(resource_id, request.capacity)
        if kind != VM:
            raise UnsupportedRequest(f"a {_NAMES[kind]} is not resized here; a scale set scales by capacity")
        if not request.size:
            raise UnsupportedRequest("scaling needs a new size")
        return self._update(resource_id, {"properties": {"hardwareProfile": {"vmSize": request.size}}})

    def _scale_out(self, resource_id: str, capacity: int) -> CloudResource:
        """A scale set's new capacity, within the bounds its tags set (wedcloud:min/max)."""
        low, high = _bounds(self._raw(_parts(resource_id)).get("tags") or {})
        if not low <= capacity <= high:
            raise UnsupportedRequest(
                f"capacity {capacity} is outside the scale set's bounds {low}..{high} (its tags {MIN_TAG}, {MAX_TAG})"
            )
        return self._update(resource_id, {"sku": {"capacity": capacity}})

    def tag(self, resource_id: str, tags: Mapping[str, str]) -> CloudResource:
        """Replace the tags, keeping the token of the operation that made the resource."""
        token = (self._raw(_parts(resource_id)).get("tags") or {}).get(TOKEN_TAG)
        return self._update(resource_id, {"tags": {**tags, **({TOKEN_TAG: token} if token else {})}})
