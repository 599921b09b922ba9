"""Google Cloud as a CloudProvider: one project's Compute Engine instances, persistent disks,
zonal managed instance groups and reserved external regional addresses through
google-cloud-compute over REST, and its Cloud Storage buckets through google-cloud-storage (JSON
API), every client pointed at the same endpoint.

Changes return zone operations (region operations for addresses); this adapter waits on them
with its own operations clients (``ZoneOperationsClient.wait``, ``RegionOperationsClient.wait``)
pointed at the same endpoint as the others, instead of the
library's ``ExtendedOperation.result()``, whose poller would otherwise talk to the default
endpoint. Lists are aggregated across zones and follow every page. GCE reports a stopped
instance as ``TERMINATED``: that is our ``stopped``; a deleted instance is gone (404). A name is
unique per zone (per Google Cloud for a bucket), so a retried provision finds the resource its
operation already made (by the ``wedcloud-operation`` label) instead of making another.

Ids: ``projects/<p>/zones/<z>/{instances|disks|instanceGroupManagers}/<name>``,
``projects/<p>/regions/<r>/addresses/<name>`` and, for buckets, ``projects/_/buckets/<name>``
(Google's own resource name: a bucket belongs to no zone and its name is global); describe, tag
and the write side dispatch on the id's shape. A bucket's region is its location in lower case:
a region (``europe-west2``), a dual-region (``eur4``) or a multi-region (``eu``); a region filter
keeps a bucket whose data lives in one of the regions asked for (a multi-region covers every
region of its continent). A group scales between its autoscaler's min and max replicas, or
0..1000 without one; regional groups are not listed yet.

An external address is attached to its first user (an instance, by the instance's id, or a
forwarding rule; ``unknown`` when GCE says IN_USE and names none); global addresses (load
balancers') are not listed yet. ``details["state_since"]`` is what GCE states: an instance's
last start or stop, an attached disk's last attach, an unattached disk's last detach when it is
no earlier than its last attach (never its creation); an address has none.
``details["architecture"]`` comes from the CPU platform or the machine type's series. An external
address is any but ``INTERNAL`` (GCE may leave ``addressType`` out of one it defaulted).

Metrics come from Cloud Monitoring's ``projects.timeSeries.list``. google-cloud-monitoring ships
gRPC transports only, so the adapter calls the documented REST form of the same method
(``GET /v3/projects/<p>/timeSeries``) with the library's own request and response types,
authorised by the adapter's credentials and sent to the same endpoint as the other clients.
Series are matched by the instance's numeric ``resource.labels.instance_id`` (the Ops Agent's
memory series carry no ``instance_name``), aligned per period and mapped back to the ids asked
with. Only instances report metrics; disks, groups and buckets answer no rows.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

import polars as pl
from google.api_core import exceptions as google_errors

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
from clouds.gcp.credentials import SCOPES, credentials_for

if TYPE_CHECKING:
    from google.auth.credentials import Credentials

SERVICES = (
    Service("compute.googleapis.com/instances", "Compute Engine", "Compute", (ResourceType.COMPUTE,)),
    Service("compute.googleapis.com/disks", "Persistent Disk", "Storage", (ResourceType.STORAGE,)),
    Service(
        "compute.googleapis.com/instanceGroupManagers", "Managed Instance Groups", "Compute", (ResourceType.COMPUTE,)
    ),
    Service("storage.googleapis.com/buckets", "Cloud Storage", "Storage", (ResourceType.STORAGE,)),
    Service("compute.googleapis.com/addresses", "External IP addresses", "Networking", (ResourceType.NETWORK,)),
)
TOKEN_LABEL = "wedcloud-operation"  # noqa: S105 - a label key: the operation that made a resource
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
_DISK_STATES = {
    "CREATING": ResourceState.PROVISIONING,
    "RESTORING": ResourceState.PROVISIONING,
    "READY": ResourceState.AVAILABLE,
    "DELETING": ResourceState.TERMINATED,
}
_GEOGRAPHIES = {
    "europe": "Europe", "us": "North America", "northamerica": "North America", "asia": "Asia Pacific",
    "australia": "Asia Pacific", "southamerica": "South America", "me": "Middle East", "africa": "Africa",
}  # fmt: skip
# the regions a multi-region (by prefix) or a predefined dual-region keeps a bucket's data in
_MULTI_REGIONS = {"eu": ("europe-",), "us": ("us-",), "asia": ("asia-",)}
_DUAL_REGIONS = {
    "eur4": ("europe-north1", "europe-west4"),
    "nam4": ("us-central1", "us-east1"),
    "asia1": ("asia-northeast1", "asia-northeast2"),
}
_ID = re.compile(
    r"projects/(?P<project>[^/]+)/zones/(?P<zone>[^/]+)/(?P<collection>instances|disks|instanceGroupManagers)"
    r"/(?P<name>[^/]+)$"
)
_ADDRESS_ID = re.compile(r"projects/(?P<project>[^/]+)/regions/(?P<region>[^/]+)/addresses/(?P<name>[^/]+)$")
_BUCKET_ID = re.compile(r"projects/_/buckets/(?P<name>[^/]+)$")
# Machine series by architecture, from Compute Engine's machine families guide: Arm are Tau T2A
# (Ampere Altra), C4A and N4A (Google Axion) and A4X (NVIDIA Grace); the rest are x86 (custom-*
# is N1). The CPU platform, where GCE reports one, is read first.
_ARM_SERIES = frozenset({"t2a", "c4a", "n4a", "a4x"})
_X86_SERIES = frozenset({
    "e2", "f1", "g1", "n1", "n2", "n2d", "n4", "n4d", "c2", "c2d", "c3", "c3d", "c4", "c4d", "t2d", "h3", "h4d",
    "m1", "m2", "m3", "m4", "x4", "z3", "a2", "a3", "a4", "g2", "g4", "custom",
})  # fmt: skip
_ARM_PLATFORMS = ("ampere", "axion", "nvidia grace")
_UNKNOWN_USER = "unknown"  # what an address IN_USE is attached to when GCE names no user
_X86_PLATFORMS = ("intel", "amd")
GCE_NAME = re.compile(r"[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?")
GCE_NAME_RULE = "is 1-63 lowercase letters, digits and dashes, starting with a letter and not ending with a dash"
BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]")
BUCKET_NAME_RULE = (
    "a bucket name is 3-63 lowercase letters, digits, dashes, underscores and dots, starts and ends with a "
    "letter or digit, and neither starts with 'goog' nor contains 'google'"
)
STORAGE_CLASSES = ("STANDARD", "NEARLINE", "COLDLINE", "ARCHIVE")
DISK_TYPES = ("pd-standard", "pd-balanced", "pd-ssd", "pd-extreme")
GROUP_BOUNDS = (0, 1000)  # what a zonal managed instance group holds without an autoscaler
MONITORING = "https://monitoring.googleapis.com"
# (metric type, WedCloud metric, aligner, extra filter): utilisation is averaged over the period,
# counts (DELTA metrics) are summed over it, so a sample is the bytes or operations in its period
_METRICS = (
    ("compute.googleapis.com/instance/cpu/utilization", Metric.CPU_PERCENT, "ALIGN_MEAN", ""),
    ("agent.googleapis.com/memory/percent_used", Metric.MEMORY_PERCENT, "ALIGN_MEAN", 'metric.labels.state = "used"'),
    ("compute.googleapis.com/instance/network/received_bytes_count", Metric.NETWORK_IN_BYTES, "ALIGN_SUM", ""),
    ("compute.googleapis.com/instance/network/sent_bytes_count", Metric.NETWORK_OUT_BYTES, "ALIGN_SUM", ""),
    ("compute.googleapis.com/instance/disk/read_ops_count", Metric.DISK_IO_OPS, "ALIGN_SUM", ""),
    ("compute.googleapis.com/instance/disk/write_ops_count", Metric.DISK_IO_OPS, "ALIGN_SUM", ""),
)
_SCALES = {Metric.CPU_PERCENT: 100.0}  # Google reports CPU utilisation as a fraction
_AVERAGED = (Metric.CPU_PERCENT.value, Metric.MEMORY_PERCENT.value)  # across series; counts add up
_NOUNS = {
    "instances": "an instance",
    "disks": "a volume",
    "instanceGroupManagers": "an instance group",
    "addresses": "an address",
    "bucket": "a bucket",
}


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


def _collection(resource_id: str) -> str:
    """What an id names: ``bucket``, ``addresses`` or a zonal collection (``instances``, ``disks``, ...)."""
    if _BUCKET_ID.search(resource_id):
        return "bucket"
    if _ADDRESS_ID.search(resource_id):
        return "addresses"
    found = _ID.search(resource_id)
    if found is None:
        raise ResourceNotFound(resource_id)
    return found["collection"]


def _parts(resource_id: str, collection: str = "instances") -> tuple[str, str, str]:
    found = _ID.search(resource_id)
    if found is None or found["collection"] != collection:
        raise ResourceNotFound(resource_id)
    return found["project"], found["zone"], found["name"]


def _address_parts(resource_id: str) -> tuple[str, str, str]:
    found = _ADDRESS_ID.search(resource_id)
    if found is None:
        raise ResourceNotFound(resource_id)
    return found["project"], found["region"], found["name"]


def _user_id(url: str) -> str:
    """A user's id from its URL: an instance's is the id this adapter gives instances."""
    text = str(url)
    return text[text.index("projects/") :] if "projects/" in text else text


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


def _since(timestamp: str) -> dict[str, datetime]:
    """``details["state_since"]`` from one of GCE's timestamps; absent when GCE gives none."""
    moment = _created(timestamp)
    return {} if moment is None else {"state_since": moment}


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


def _disk_since(disk: Any) -> str:
    """When the disk entered its state, where GCE says: its last attach while it has users; its
    last detach while it has none, if that is no earlier than its last attach. Otherwise none: a
    disk GCE never saw detached, or one last attached after its last detach (at odds with its
    having no users), has no time GCE states, and its creation is never taken for one."""
    attached, detached = str(disk.last_attach_timestamp), str(disk.last_detach_timestamp)
    if disk.users:
        return attached
    if not detached:
        return ""
    detach_time, attach_time = _created(detached), _created(attached)
    if detach_time is None or (attach_time is not None and attach_time > detach_time):
        return ""
    return detached


def _bucket_name(resource_id: str) -> str:
    found = _BUCKET_ID.search(resource_id)
    if found is None:
        raise ResourceNotFound(resource_id)
    return found["name"]


def _last(url: str) -> str:
    return str(url).rsplit("/", 1)[-1]


def _created(timestamp: str) -> datetime | None:
    """GCE's RFC 3339 timestamp (in the zone's offset) in UTC."""
    return datetime.fromisoformat(timestamp).astimezone(UTC) if timestamp else None


def _subtype(request: ProvisionRequest) -> str:
    return str(request.options.get("subtype") or _DEFAULT_SUBTYPES.get(request.resource_type, request.resource_type))


def _user_labels(labels: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in labels.items() if k != TOKEN_LABEL}


def _with_token(tags: Mapping[str, str], current: Mapping[str, str]) -> dict[str, str]:
    """New labels for a resource: ``tags``, keeping the label of the operation that made it."""
    labels = dict(tags)
    if TOKEN_LABEL in current:
        labels[TOKEN_LABEL] = current[TOKEN_LABEL]
    return labels


def _labels(request: ProvisionRequest) -> dict[str, str]:
    labels = dict(request.tags)
    if request.options.get("client_token"):
        labels[TOKEN_LABEL] = label_value(str(request.options["client_token"]))
    return labels


def _gigabytes(size: str) -> int | None:
    digits = size.upper().removesuffix("GB")
    return int(digits) if digits.isdigit() else None


def _zone(request: ProvisionRequest) -> str:
    return str(request.options.get("zone") or f"{request.region}-b")


def _covers(location: str, data_locations: Sequence[str] | None, wanted: set[str]) -> bool:
    """Whether a bucket at ``location`` keeps data in one of the ``wanted`` regions (any when none)."""
    place = location.lower()
    if not wanted:
        return True
    if data_locations:  # a configurable dual-region names its two regions
        return bool({d.lower() for d in data_locations} & wanted)
    if place in _MULTI_REGIONS:
        return any(region.startswith(_MULTI_REGIONS[place]) for region in wanted)
    return bool(set(_DUAL_REGIONS.get(place, (place,))) & wanted)


def _series_filter(metric_type: str, extra: str, instance_ids: Sequence[str]) -> str:
    """A time series filter: one metric type of the given instances (by numeric id)."""
    wanted = ", ".join(f'"{i}"' for i in instance_ids)
    clauses = [f'metric.type = "{metric_type}"', 'resource.type = "gce_instance"',
               f"resource.labels.instance_id = one_of({wanted})", extra]  # fmt: skip
    return " AND ".join(c for c in clauses if c)


def _point_value(point: Any) -> float:
    return float(point.value.double_value if "double_value" in point.value else point.value.int64_value)


def _metrics_frame(rows: list[tuple[str, str, datetime, float]]) -> pl.DataFrame:
    """Samples per (resource, metric, period): counts of several series (disks, reads and writes,
    network interfaces) added up, percentages averaged."""
    frame = pl.DataFrame(rows, schema=METRICS_SCHEMA, orient="row")
    summed = frame.group_by("resource_id", "metric", "timestamp").agg(pl.col("value").sum(), pl.len().alias("n"))
    averaged = pl.when(pl.col("metric").is_in(_AVERAGED)).then(pl.col("value") / pl.col("n"))
    return (
        summed.with_columns(averaged.otherwise(pl.col("value")).alias("value"))
        .select(METRICS_SCHEMA.names())
        .sort("resource_id", "metric", "timestamp")
    )


# -- what each subtype needs before anything is sent ------------------------------------------
def _zonal_problems(request: ProvisionRequest, noun: str) -> list[Problem]:
    problems: list[Problem] = []
    if not GCE_NAME.fullmatch(request.name):
        problems.append(("name", f"{noun} name {GCE_NAME_RULE}"))
    if not _zone(request).startswith(f"{request.region}-"):
        problems.append(("options", f"options.zone must be a zone of {request.region}, such as {request.region}-b"))
    return problems


def _instance_problems(request: ProvisionRequest) -> list[Problem]:
    problems = _zonal_problems(request, "an instance")
    if not request.image:
        problems.append(("image", "a GCE instance needs an image (projects/<project>/global/images/...)"))
    return problems


def _volume_problems(request: ProvisionRequest) -> list[Problem]:
    problems = _zonal_problems(request, "a volume")
    size = _gigabytes(request.size)
    if size is None or not 10 <= size <= 65536:
        problems.append(("size", "a persistent disk's size is 10GB to 65536GB, such as '100GB'"))
    if request.options.get("disk_type", "pd-balanced") not in DISK_TYPES:
        problems.append(("options", f"options.disk_type is one of {', '.join(DISK_TYPES)}"))
    return problems


def _bucket_problems(request: ProvisionRequest) -> list[Problem]:
    problems: list[Problem] = []
    name = request.name
    if not BUCKET_NAME.fullmatch(name) or name.startswith("goog") or "google" in name:
        problems.append(("name", BUCKET_NAME_RULE))
    if request.size.upper() not in STORAGE_CLASSES:
        problems.append(("size", f"a bucket's size is its storage class: one of {', '.join(STORAGE_CLASSES)}"))
    return problems


def _refused(message: str) -> Callable[[ProvisionRequest], list[Problem]]:
    return lambda request: [("subtype", message)]


_PROBLEMS: dict[str, Callable[[ProvisionRequest], list[Problem]]] = {
    "instance": _instance_problems,
    "volume": _volume_problems,
    "bucket": _bucket_problems,
    "instance_group": _refused(
        "managed instance groups are imported by a provider sync and scaled here "
        "(scale with a capacity); WedCloud does not create them"
    ),
    "database": _refused("the Google Cloud adapter does not provision databases (Cloud SQL) yet"),
}
_DEFAULT_SUBTYPES = {ResourceType.COMPUTE: "instance", ResourceType.STORAGE: "volume"}


class GcpCloud(NotYetAdapted):
    """One Google Cloud project (a service-account key or Application Default Credentials)."""

    kind = "gcp"

    @classmethod
    def provision_problems(cls, request: ProvisionRequest) -> list[Problem]:
        subtype = _subtype(request)
        check = _PROBLEMS.get(subtype, _refused(f"the Google Cloud adapter cannot provision a {subtype!r}"))
        return check(request)

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
        self.endpoint_url = endpoint_url
        self._credentials = credentials_for(credentials, endpoint_url)
        options = ClientOptions(api_endpoint=endpoint_url) if endpoint_url else None
        common: dict[str, Any] = {"credentials": self._credentials, "transport": "rest", "client_options": options}
        self.instances = compute_v1.InstancesClient(**common)
        self.disks = compute_v1.DisksClient(**common)
        self.groups = compute_v1.InstanceGroupManagersClient(**common)
        self.autoscalers = compute_v1.AutoscalersClient(**common)
        self.zone_operations = compute_v1.ZoneOperationsClient(**common)
        self.addresses = compute_v1.AddressesClient(**common)
        self.region_operations = compute_v1.RegionOperationsClient(**common)
        self.regions_client = compute_v1.RegionsClient(**common)
        self.projects = compute_v1.ProjectsClient(**common)
        self._compute = compute_v1
        # each zonal collection's client and the keyword its methods name a resource by
        self._zonal: dict[str, tuple[Any, str]] = {
            "instances": (self.instances, "instance"),
            "disks": (self.disks, "disk"),
            "instanceGroupManagers": (self.groups, "instance_group_manager"),
        }

    @property
    def credentials(self) -> Credentials | None:
        """The google-auth credentials this adapter calls Google with, for other Google clients of
        the same account (e.g. the Billing Catalog); None when the SDK's default chain (Application
        Default Credentials) is used, which such a client then resolves the same way."""
        credentials: Credentials | None = self._credentials
        return credentials

    @cached_property
    def storage(self) -> Any:
        """The Cloud Storage client (JSON API), made when first used."""
        from google.cloud.storage import Client

        options = {"api_endpoint": self.endpoint_url} if self.endpoint_url else None
        return Client(project=self.project, credentials=self._credentials, client_options=options)

    @cached_property
    def _monitoring(self) -> Any:
        """An authorised HTTP session for Cloud Monitoring's REST API, made when first used."""
        import google.auth
        from google.auth.transport.requests import AuthorizedSession

        credentials = self._credentials or google.auth.default(scopes=SCOPES)[0]
        return AuthorizedSession(credentials)  # type: ignore[no-untyped-call]

    # -- helpers -------------------------------------------------------------------------------
    def _id(self, zone: str, name: str, collection: str = "instances") -> str:
        return f"projects/{self.project}/zones/{zone}/{collection}/{name}"

    def _to_cloud(self, instance: Any) -> CloudResource:
        zone = _last(instance.zone)
        return CloudResource(
            id=self._id(zone, instance.name),
            name=instance.name,
            resource_type=ResourceType.COMPUTE,
            subtype="instance",
            region=zone.rsplit("-", 1)[0],
            zone=zone,
            state=_STATES.get(str(instance.status), ResourceState.FAILED),
            account_id=self.project,
            size=_last(instance.machine_type),
            tags=_user_labels(instance.labels),
            created_at=_created(instance.creation_timestamp),
            details={
                "gce_status": str(instance.status),
                "instance_id": str(instance.id),
                "architecture": _architecture(_last(instance.machine_type), str(instance.cpu_platform)),
                **_since(_instance_since(instance)),
            },
        )

    def _disk_to_cloud(self, disk: Any) -> CloudResource:
        zone = _last(disk.zone)
        users = [str(u) for u in disk.users]
        return CloudResource(
            id=self._id(zone, disk.name, "disks"),
            name=disk.name,
            resource_type=ResourceType.STORAGE,
            subtype="volume",
            region=zone.rsplit("-", 1)[0],
            zone=zone,
            state=_DISK_STATES.get(str(disk.status), ResourceState.FAILED),
            account_id=self.project,
            size=f"{disk.size_gb}GB",
            tags=_user_labels(disk.labels),
            created_at=_created(disk.creation_timestamp),
            attached_to=users[0][users[0].index("projects/") :] if users else None,  # an instance's id
            details={
                "disk_type": _last(disk.type_),
                "gce_status": str(disk.status),
                "disk_id": str(disk.id),
                **_since(_disk_since(disk)),
            },
        )

    def _address_to_cloud(self, address: Any) -> CloudResource:
        """A reserved address: RESERVED is unattached, IN_USE is used by its first user."""
        region, status = _last(address.region), str(address.status)
        users = [_user_id(u) for u in address.users]
        # in use but naming no user: attached to something unknown, never called unattached
        attached = users[0] if users else (_UNKNOWN_USER if status == "IN_USE" else None)
        return CloudResource(
            id=f"projects/{self.project}/regions/{region}/addresses/{address.name}",
            name=address.name,
            resource_type=ResourceType.NETWORK,
            subtype="address",
            region=region,
            state=ResourceState.PROVISIONING if status == "RESERVING" else ResourceState.AVAILABLE,
            account_id=self.project,
            tags=_user_labels(address.labels),
            created_at=_created(address.creation_timestamp),
            attached_to=attached,
            details={
                "ip": address.address,
                "allocation": "static",  # a reserved address is the project's until released
                "gce_status": status,
                "network_tier": str(address.network_tier) or None,
                "address_id": str(address.id),
            },
        )

    def _group_to_cloud(self, group: Any) -> CloudResource:
        zone = _last(group.zone)
        low, high = self._bounds(group)
        return CloudResource(
            id=self._id(zone, group.name, "instanceGroupManagers"),
            name=group.name,
            resource_type=ResourceType.COMPUTE,
            subtype="instance_group",
            region=zone.rsplit("-", 1)[0],
            zone=zone,
            state=ResourceState.RUNNING if group.target_size else ResourceState.STOPPED,
            account_id=self.project,
            created_at=_created(group.creation_timestamp),
            details={
                "min": low,
                "max": high,
                "desired": group.target_size,
                "instance_template": _last(group.instance_template),
                "autoscaler": _last(group.status.autoscaler) or None,
            },
        )

    def _bucket_to_cloud(self, bucket: Any) -> CloudResource:
        location = str(bucket.location or "")
        return CloudResource(
            id=f"projects/_/buckets/{bucket.name}",
            name=bucket.name,
            resource_type=ResourceType.STORAGE,
            subtype="bucket",
            region=location.lower(),
            state=ResourceState.AVAILABLE,
            account_id=self.project,
            size=bucket.storage_class,
            tags=_user_labels(bucket.labels or {}),
            created_at=bucket.time_created,
            details={"location": location, "location_type": bucket.location_type},
        )

    def _bounds(self, group: Any) -> tuple[int, int]:
        """The replicas a group may hold: its autoscaler's min and max, else 0..1000."""
        if not group.status.autoscaler:
            return GROUP_BOUNDS
        zone, name = _last(group.zone), _last(group.status.autoscaler)
        try:
            policy = self.autoscalers.get(project=self.project, zone=zone, autoscaler=name).autoscaling_policy
        except google_errors.GoogleAPICallError as exc:
            raise translate(exc, self._id(zone, group.name, "instanceGroupManagers")) from exc
        return policy.min_num_replicas, policy.max_num_replicas

    def _wait(self, operation: Any, resource_id: str) -> None:
        """Wait on a zone or region operation to its end (``wait`` returns early on long ones: ask again)."""
        client: Any = self.zone_operations if operation.zone else self.region_operations
        scope: dict[str, Any] = (
            {"zone": _last(operation.zone)} if operation.zone else {"region": _last(operation.region)}
        )
        try:
            while operation.status != self._compute.Operation.Status.DONE:
                operation = client.wait(project=self.project, operation=operation.name, **scope)
        except google_errors.GoogleAPICallError as exc:
            raise translate(exc, resource_id) from exc
        if operation.error and operation.error.errors:
            first = operation.error.errors[0]
            raise UnsupportedRequest(f"{first.code}: {first.message}")

    def _call(self, resource_id: str, method: str, name_as: str | None = None, **arguments: Any) -> None:
        """Call a zonal resource's ``method`` (naming it by ``name_as`` where the API does) and wait."""
        collection = _collection(resource_id)
        project, zone, name = _parts(resource_id, collection)
        client, keyword = self._zonal[collection]
        try:
            # the _unary variants answer the zone operation itself, which ``_wait`` polls
            operation = getattr(client, f"{method}_unary")(
                project=project, zone=zone, **{name_as or keyword: name}, **arguments
            )
        except google_errors.GoogleAPICallError as exc:
            raise translate(exc, resource_id) from exc
        self._wait(operation, resource_id)

    def _get(self, resource_id: str) -> Any:
        """A zonal resource as the SDK answers it."""
        collection = _collection(resource_id)
        project, zone, name = _parts(resource_id, collection)
        client, keyword = self._zonal[collection]
        try:
            return client.get(project=project, zone=zone, **{keyword: name})
        except google_errors.GoogleAPICallError as exc:
            raise translate(exc, resource_id) from exc

    def _address(self, resource_id: str) -> Any:
        project, region, name = _address_parts(resource_id)
        try:
            return self.addresses.get(project=project, region=region, address=name)
        except google_errors.GoogleAPICallError as exc:
            raise translate(exc, resource_id) from exc

    def _address_call(self, resource_id: str, method: str, name_as: str = "address", **arguments: Any) -> None:
        """An address's ``method`` (a region operation), waited on."""
        project, region, name = _address_parts(resource_id)
        try:
            operation = getattr(self.addresses, f"{method}_unary")(
                project=project, region=region, **{name_as: name}, **arguments
            )
        except google_errors.GoogleAPICallError as exc:
            raise translate(exc, resource_id) from exc
        self._wait(operation, resource_id)

    def _bucket(self, resource_id: str) -> Any:
        try:
            return self.storage.get_bucket(_bucket_name(resource_id))
        except google_errors.GoogleAPICallError as exc:
            raise translate(exc, resource_id) from exc

    def _aggregated(self, client: Any, field: str) -> Iterator[Any]:
        """Every resource of a zonal collection, across zones and pages."""
        for _scope, scoped in client.aggregated_list(request={"project": self.project, "max_results": 500}):
            yield from getattr(scoped, field)

    def _retried(self, resource_id: str, token: Any, labels: Mapping[str, str], taken: str) -> CloudResource:
        """The resource a name conflict found, when this operation (``token``) made it before."""
        if token and labels.get(TOKEN_LABEL) == label_value(str(token)):
            return self.describe(resource_id)  # a retry, not a second resource
        raise UnsupportedRequest(taken)

    def _insert(self, resource_id: str, body: Mapping[str, Any], token: Any) -> CloudResource:
        collection = _collection(resource_id)
        project, zone, name = _parts(resource_id, collection)
        client, _ = self._zonal[collection]
        try:
            operation = client.insert_unary(project=project, zone=zone, **body)
        except google_errors.Conflict:
            taken = f"{_NOUNS[collection]} named {name!r} already exists in {zone}"
            return self._retried(resource_id, token, self._get(resource_id).labels, taken)
        except google_errors.GoogleAPICallError as exc:
            raise translate(exc, resource_id) from exc
        self._wait(operation, resource_id)
        return self.describe(resource_id)

    # -- read side -----------------------------------------------------------------------------
    def test_connection(self) -> ConnectionCheck:
        try:
            project = self.projects.get(project=self.project)
        except google_errors.GoogleAPICallError as exc:
            return ConnectionCheck(ok=False, identity="", detail=f"the project cannot be read: {translate(exc)}")
        probes: dict[str, Callable[[], Any]] = {
            "compute.instances.list": lambda: next(self._aggregated(self.instances, "instances"), None),
            "compute.disks.list": lambda: next(self._aggregated(self.disks, "disks"), None),
            "compute.instanceGroupManagers.list": lambda: next(
                self._aggregated(self.groups, "instance_group_managers"), None
            ),
            "compute.addresses.list": lambda: next(self._aggregated(self.addresses, "addresses"), None),
            "storage.buckets.list": lambda: next(iter(self.storage.list_buckets(max_results=1)), None),
        }
        missing = []
        for permission, probe in probes.items():
            try:
                probe()
            except google_errors.Forbidden:
                missing.append(permission)
        detail = (
            f"project {project.name}; missing permissions: {', '.join(missing)}"
            if missing
            else f"project {project.name}; every permission WedCloud reads with is granted"
        )
        return ConnectionCheck(
            ok=not missing, identity=f"projects/{project.name}", detail=detail, missing_permissions=missing
        )

    def get_metrics(
        self, resource_ids: Sequence[str], *, start: datetime, end: datetime, period: timedelta = HOUR
    ) -> pl.DataFrame:
        """Instances' utilisation in [start, end) per period; other resources report none."""
        asked = {str(self._get(i).id): i for i in resource_ids if _collection(i) == "instances"}
        if not asked:
            return pl.DataFrame(schema=METRICS_SCHEMA)
        rows = [
            (asked[instance_id], metric.value, moment, value * _SCALES.get(metric, 1.0))
            for metric_type, metric, aligner, extra in _METRICS
            for instance_id, moment, value in self._samples(
                _series_filter(metric_type, extra, list(asked)), aligner, start, end, period
            )
        ]
        return _metrics_frame(rows)

    def _samples(
        self, series_filter: str, aligner: str, start: datetime, end: datetime, period: timedelta
    ) -> Iterator[tuple[str, datetime, float]]:
        """(instance id, start of period, value) of every aligned point, across every page."""
        for series in self._time_series(series_filter, aligner, start, end, period):
            instance_id = series.resource.labels["instance_id"]
            for point in series.points:
                moment = datetime.fromtimestamp(point.interval.end_time.timestamp(), UTC) - period
                yield instance_id, moment, _point_value(point)

    def _time_series(
        self, series_filter: str, aligner: str, start: datetime, end: datetime, period: timedelta
    ) -> Iterator[Any]:
        """``projects.timeSeries.list`` over REST, following ``nextPageToken``."""
        from google.api_core import rest_helpers
        from google.cloud import monitoring_v3
        from google.protobuf import json_format

        request = monitoring_v3.ListTimeSeriesRequest(
            name=f"projects/{self.project}",
            filter=series_filter,
            interval={"start_time": start, "end_time": end},
            aggregation={"alignment_period": period, "per_series_aligner": aligner},
        )
        url = f"{self.endpoint_url or MONITORING}/v3/{request.name}/timeSeries"
        while True:
            query = json_format.MessageToDict(monitoring_v3.ListTimeSeriesRequest.pb(request))
            query.pop("name")  # in the path; the rest are query parameters (interval.startTime, ...)
            params = rest_helpers.flatten_query_params(query, strict=True)  # type: ignore[no-untyped-call]
            try:
                response = self._monitoring.get(url, params=params)
                if not response.ok:
                    raise google_errors.from_http_response(response)  # type: ignore[no-untyped-call]
            except google_errors.GoogleAPICallError as exc:
                raise translate(exc) from exc
            page = monitoring_v3.ListTimeSeriesResponse.from_json(response.content, ignore_unknown_fields=True)
            yield from page.time_series
            if not page.next_page_token:
                return
            request.page_token = page.next_page_token

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
        """Instances, disks, zonal managed instance groups, external regional addresses, then
        buckets; every page of each."""
        wanted = {region} if region else set(self.regions)
        zonal = (
            (self.instances, "instances", self._to_cloud),
            (self.disks, "disks", self._disk_to_cloud),
            (self.groups, "instance_group_managers", self._group_to_cloud),
        )
        try:
            for client, field, to_cloud in zonal:
                for found in self._aggregated(client, field):
                    if found.zone and (not wanted or _last(found.zone).rsplit("-", 1)[0] in wanted):
                        yield to_cloud(found)  # a regional group (no zone) is not adapted yet
            for address in self._aggregated(self.addresses, "addresses"):
                # internal addresses cost nothing reserved; a global one (no region) is not adapted yet.
                # GCE leaves addressType out of an external address it defaults: only INTERNAL is left out
                external = str(address.address_type) != "INTERNAL"
                if external and address.region and (not wanted or _last(address.region) in wanted):
                    yield self._address_to_cloud(address)
            for bucket in self.storage.list_buckets(project=self.project):
                if _covers(str(bucket.location or ""), bucket.data_locations, wanted):
                    yield self._bucket_to_cloud(bucket)
        except google_errors.GoogleAPICallError as exc:
            raise translate(exc) from exc

    def describe(self, resource_id: str) -> CloudResource:
        collection = _collection(resource_id)
        if collection == "bucket":
            return self._bucket_to_cloud(self._bucket(resource_id))
        if collection == "addresses":
            return self._address_to_cloud(self._address(resource_id))
        to_cloud = {
            "instances": self._to_cloud,
            "disks": self._disk_to_cloud,
            "instanceGroupManagers": self._group_to_cloud,
        }
        return to_cloud[collection](self._get(resource_id))

    def tag(self, resource_id: str, tags: Mapping[str, str]) -> CloudResource:
        collection = _collection(resource_id)
        if collection == "bucket":
            return self._tag_bucket(resource_id, tags)
        if collection == "instanceGroupManagers":
            raise UnsupportedRequest("a managed instance group has no labels in Compute Engine; tag its instances")
        if collection == "addresses":
            address = self._address(resource_id)
            body = self._compute.RegionSetLabelsRequest(
                labels=_with_token(tags, address.labels), label_fingerprint=address.label_fingerprint
            )
            self._address_call(resource_id, "set_labels", "resource", region_set_labels_request_resource=body)
            return self.describe(resource_id)
        current = self._get(resource_id)
        labels = _with_token(tags, current.labels)
        if collection == "instances":
            body = self._compute.InstancesSetLabelsRequest(labels=labels, label_fingerprint=current.label_fingerprint)
            self._call(resource_id, "set_labels", instances_set_labels_request_resource=body)
        else:
            zonal = self._compute.ZoneSetLabelsRequest(labels=labels, label_fingerprint=current.label_fingerprint)
            self._call(resource_id, "set_labels", name_as="resource", zone_set_labels_request_resource=zonal)
        return self.describe(resource_id)

    def _tag_bucket(self, resource_id: str, tags: Mapping[str, str]) -> CloudResource:
        bucket = self._bucket(resource_id)
        bucket.labels = _with_token(tags, bucket.labels or {})
        try:
            bucket.patch()
        except google_errors.GoogleAPICallError as exc:
            raise translate(exc, resource_id) from exc
        return self._bucket_to_cloud(bucket)

    # -- write side ----------------------------------------------------------------------------
    def provision(self, request: ProvisionRequest) -> CloudResource:
        problems = self.provision_problems(request)
        if problems:
            raise UnsupportedRequest("; ".join(f"{field}: {message}" for field, message in problems))
        subtype = _subtype(request)
        make = {
            "instance": self._provision_instance,
            "volume": self._provision_volume,
            "bucket": self._provision_bucket,
        }
        return make[subtype](request)

    def _provision_instance(self, request: ProvisionRequest) -> CloudResource:
        zone = _zone(request)
        instance = self._compute.Instance(
            name=request.name,
            machine_type=f"zones/{zone}/machineTypes/{request.size}",
            labels=_labels(request),
            disks=[{"boot": True, "auto_delete": True, "initialize_params": {"source_image": request.image}}],
            network_interfaces=[{"network": request.network or "global/networks/default"}],
        )
        resource_id = self._id(zone, request.name)
        return self._insert(resource_id, {"instance_resource": instance}, request.options.get("client_token"))

    def _provision_volume(self, request: ProvisionRequest) -> CloudResource:
        zone = _zone(request)
        disk = self._compute.Disk(
            name=request.name,
            size_gb=_gigabytes(request.size),
            type_=f"zones/{zone}/diskTypes/{request.options.get('disk_type', 'pd-balanced')}",
            labels=_labels(request),
        )
        resource_id = self._id(zone, request.name, "disks")
        return self._insert(resource_id, {"disk_resource": disk}, request.options.get("client_token"))

    def _provision_bucket(self, request: ProvisionRequest) -> CloudResource:
        bucket = self.storage.bucket(request.name)
        bucket.storage_class = request.size.upper()
        bucket.labels = _labels(request)
        resource_id = f"projects/_/buckets/{request.name}"
        try:
            location = request.options.get("location") or request.region  # e.g. a multi-region: EU
            made = self.storage.create_bucket(bucket, project=self.project, location=location)
        except google_errors.Conflict:
            try:
                labels = self.storage.get_bucket(request.name).labels or {}
            except google_errors.GoogleAPICallError:
                labels = {}  # another project's bucket, which this one may not read
            taken = f"a bucket named {request.name!r} already exists (bucket names are global across Google Cloud)"
            return self._retried(resource_id, request.options.get("client_token"), labels, taken)
        except google_errors.GoogleAPICallError as exc:
            raise translate(exc) from exc
        return self._bucket_to_cloud(made)

    def start(self, resource_id: str) -> CloudResource:
        self._powered(resource_id, "start")
        self._call(resource_id, "start")
        return self.describe(resource_id)

    def stop(self, resource_id: str) -> CloudResource:
        self._powered(resource_id, "stop")
        self._call(resource_id, "stop")
        return self.describe(resource_id)

    def _powered(self, resource_id: str, action: str) -> None:
        collection = _collection(resource_id)
        if collection == "instanceGroupManagers":
            raise UnsupportedRequest(
                f"a managed instance group is not {action}ed as a whole: scale it (capacity 0 stops every "
                "instance, a larger capacity brings them back)"
            )
        if collection != "instances":
            raise UnsupportedRequest(f"{_NOUNS[collection]} has no power state to {action}")

    def terminate(self, resource_id: str) -> CloudResource:
        current = self.describe(resource_id)
        if _collection(resource_id) == "bucket":
            try:
                self.storage.bucket(current.name).delete()
            except google_errors.GoogleAPICallError as exc:
                raise translate(exc, resource_id) from exc
        elif _collection(resource_id) == "addresses":
            if current.attached_to:  # as GCE refuses it (resourceInUseByAnotherResource), said plainly
                raise InvalidStateTransition(resource_id, f"in use by {current.attached_to}", "release")
            self._address_call(resource_id, "delete")
        else:
            self._call(resource_id, "delete")
        return replace(current, state=ResourceState.TERMINATED)

    def scale(self, resource_id: str, request: ScaleRequest) -> CloudResource:
        collection = _collection(resource_id)
        if collection == "instanceGroupManagers":
            return self._resize(resource_id, request)
        if collection != "instances":
            raise UnsupportedRequest(f"{_NOUNS[collection]} does not scale through WedCloud")
        if request.capacity is not None:
            raise UnsupportedRequest("only a managed instance group scales by capacity; give an instance a size")
        if not request.size:
            raise UnsupportedRequest("scaling needs a new machine type")
        _, zone, _ = _parts(resource_id)
        body = self._compute.InstancesSetMachineTypeRequest(machine_type=f"zones/{zone}/machineTypes/{request.size}")
        self._call(resource_id, "set_machine_type", instances_set_machine_type_request_resource=body)
        return self.describe(resource_id)

    def _resize(self, resource_id: str, request: ScaleRequest) -> CloudResource:
        if request.capacity is None:
            raise UnsupportedRequest(
                "a managed instance group scales by capacity (its number of instances); its machine type is "
                "its instance template's"
            )
        group = self.describe(resource_id)
        low, high = group.details["min"], group.details["max"]
        if not low <= request.capacity <= high:
            bounds = "its autoscaler's min and max replicas" if group.details["autoscaler"] else "Compute Engine's"
            raise UnsupportedRequest(
                f"{group.name} holds {low} to {high} instances ({bounds}); {request.capacity} is outside"
            )
        self._call(resource_id, "resize", size=request.capacity)
        return self.describe(resource_id)
