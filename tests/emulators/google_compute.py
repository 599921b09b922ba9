"""A Google Compute Engine REST emulator (``/compute/v1``): projects, regions, instances,
persistent disks, zonal managed instance groups and their autoscalers, with the zone operations
google-cloud-compute waits on, over real HTTP; its server also answers Cloud Storage's bucket
routes (``/storage/v1/b``, :mod:`tests.emulators.google_storage`) and Cloud Monitoring's time
series (``/v3/projects/<p>/timeSeries``, :mod:`tests.emulators.google_monitoring`).

What it enforces, as the Compute API reference documents it: an instance needs a machine type,
a boot disk image and a network interface; a name is unique per zone (409 ``alreadyExists``);
the machine type changes only while the instance is stopped (GCE reports a stopped instance as
``TERMINATED``); labels change only with the current ``labelFingerprint`` (412); a missing
permission answers 403 naming it (``deny``, or a service account without the grant:
:mod:`tests.emulators.google_auth`, which also refuses a call without a valid token). Changes
return a zone operation that is ``RUNNING`` until polled once, then ``DONE``; ``aggregatedList``
pages with ``nextPageToken``.
Disks: a name matches ``[a-z]([-a-z0-9]{0,61}[a-z0-9])?`` and is unique per zone, the type is a
known ``pd-*`` type, the size 10..65536 GB, a disk in use by an instance cannot be deleted (400
``resourceInUseByAnotherResource``), deleting an instance detaches its disks. Groups: ``resize``
takes a size of 0..1000; ``status.autoscaler`` names the group's autoscaler, if it has one.
Instances report ``cpuPlatform`` and ``lastStartTimestamp``/``lastStopTimestamp`` (set when they
are created, started and stopped), disks ``lastAttachTimestamp``/``lastDetachTimestamp`` when a
test sets them. Addresses (regional, ``EXTERNAL`` or ``INTERNAL``): a name is unique per region,
``status`` is ``IN_USE`` while ``users`` names a resource and ``RESERVED`` otherwise, an address in
use cannot be deleted (400 ``resourceInUseByAnotherResource``), deleting an instance releases the
addresses it used. A test adds addresses; they are listed (aggregated), read, relabelled and
deleted, relabels and deletes returning a region operation, waited on like a zone's. An address
whose ``address_type`` is empty is answered without ``addressType``, as GCE answers one that
defaulted to external.
Snapshots (global, with their storage location) are :mod:`tests.emulators.google_snapshots`; a
disk made with ``sourceSnapshot`` takes the snapshot's size unless it asks for more (never
less), and reports ``sourceSnapshot``. An instance boots from a new disk
(``initializeParams.sourceImage``) or from an existing disk of its zone (``source``), which must
not be in use by another instance (400 ``resourceInUseByAnotherResource``); deleting the instance
deletes such a boot disk when it was attached with ``autoDelete``. Cloud DNS managed zones,
record sets and changes are :mod:`tests.emulators.google_dns`, and VPC networks, subnetworks,
firewall rules and routes :mod:`tests.emulators.google_networks` (``networks``), whose networks
and subnetworks an instance's interfaces must name when they name any but ``default``.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from tests.emulators.google_auth import GoogleEmulator
from tests.emulators.google_dns import GoogleDns
from tests.emulators.google_monitoring import GoogleMonitoring, Series
from tests.emulators.google_networks import GoogleNetworks
from tests.emulators.google_snapshots import GoogleSnapshots
from tests.emulators.google_storage import Bucket, GoogleStorage
from tests.emulators.http import HttpError, Reply, Request

BASE = "https://www.googleapis.com/compute/v1"
PROJECT = r"/compute/v1/projects/(?P<project>[^/]+)"
INSTANCES = PROJECT + r"/zones/(?P<zone>[^/]+)/instances"
INSTANCE = INSTANCES + r"/(?P<name>[^/]+)"
DISKS = PROJECT + r"/zones/(?P<zone>[^/]+)/disks"
DISK = DISKS + r"/(?P<name>[^/]+)"
GROUP = PROJECT + r"/zones/(?P<zone>[^/]+)/instanceGroupManagers/(?P<name>[^/]+)"
ADDRESS = PROJECT + r"/regions/(?P<region>[^/]+)/addresses/(?P<name>[^/]+)"
AUTOSCALER = PROJECT + r"/zones/(?P<zone>[^/]+)/autoscalers/(?P<name>[^/]+)"
DISK_TYPES = ("pd-standard", "pd-balanced", "pd-ssd", "pd-extreme")
_NAME = re.compile(r"[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?")
REGIONS = {"europe-west2": ("a", "b"), "europe-west1": ("b", "c"), "us-central1": ("a", "b")}
MACHINE_TYPES = ("e2-small", "e2-medium", "e2-standard-2", "e2-standard-4", "n2-standard-2")
STATUS = {
    400: "INVALID_ARGUMENT",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    412: "FAILED_PRECONDITION",
}


def _error(code: int, message: str, reason: str = "invalid") -> HttpError:
    return HttpError(
        code,
        {"error": {"code": code, "message": message, "status": STATUS.get(code, "UNKNOWN"),
                   "errors": [{"message": message, "domain": "global", "reason": reason}]}},
    )  # fmt: skip


def _fingerprint(labels: dict[str, str]) -> str:
    return hashlib.sha256(repr(sorted(labels.items())).encode()).hexdigest()[:16]


def _zonal(project: str, zone: str, collection: str, name: str) -> str:
    return f"{BASE}/projects/{project}/zones/{zone}/{collection}/{name}"


PACIFIC = timezone(timedelta(hours=-7))  # GCE stamps times in its own zone's offset


def gce_time(moment: datetime | None = None) -> str:
    """An RFC 3339 timestamp as GCE writes one (``2026-11-01T09:00:00.000-07:00``)."""
    moment = (moment or datetime.now(UTC)).astimezone(PACIFIC)
    return moment.isoformat(timespec="milliseconds")


def _stamps(**fields: str | None) -> dict[str, str]:
    return {key: value for key, value in fields.items() if value}


@dataclass
class Instance:
    project: str
    zone: str
    name: str
    machine_type: str
    status: str = "RUNNING"
    labels: dict[str, str] = field(default_factory=dict)
    image: str = "projects/debian-cloud/global/images/family/debian-12"
    id: int = 0
    cpu_platform: str = "Intel Broadwell"
    last_start: str | None = None  # RFC 3339, as GCE reports lastStartTimestamp
    last_stop: str | None = None
    boot_disk: str | None = None  # an existing disk it boots from (else a disk of its own name)
    auto_delete: bool = True
    interfaces: list[dict[str, Any]] = field(default_factory=list)  # as inserted (else the default network)

    @property
    def fingerprint(self) -> str:
        return _fingerprint(self.labels)

    @property
    def self_link(self) -> str:
        return _zonal(self.project, self.zone, "instances", self.name)

    def view(self) -> dict[str, Any]:
        return {
            "kind": "compute#instance",
            "id": str(self.id),
            "name": self.name,
            "zone": f"{BASE}/projects/{self.project}/zones/{self.zone}",
            "machineType": f"{BASE}/projects/{self.project}/zones/{self.zone}/machineTypes/{self.machine_type}",
            "status": self.status,
            "labels": self.labels,
            "labelFingerprint": self.fingerprint,
            "creationTimestamp": "2026-11-01T09:00:00.000-07:00",
            "selfLink": self.self_link,
            "disks": [
                {
                    "boot": True,
                    "autoDelete": self.auto_delete,
                    "source": _zonal(self.project, self.zone, "disks", self.boot_disk or self.name),
                }
            ],
            "networkInterfaces": self.interfaces
            or [{"network": f"{BASE}/projects/{self.project}/global/networks/default"}],
            "cpuPlatform": self.cpu_platform,
            **_stamps(lastStartTimestamp=self.last_start, lastStopTimestamp=self.last_stop),
        }


@dataclass
class Disk:
    project: str
    zone: str
    name: str
    size_gb: int = 100
    disk_type: str = "pd-balanced"
    labels: dict[str, str] = field(default_factory=dict)
    users: list[str] = field(default_factory=list)  # names of the instances (same zone) it is attached to
    id: int = 0
    last_attach: str | None = None  # RFC 3339, as GCE reports lastAttachTimestamp
    last_detach: str | None = None
    source_snapshot: str | None = None  # the URL of the snapshot it was made from

    @property
    def fingerprint(self) -> str:
        return _fingerprint(self.labels)

    @property
    def self_link(self) -> str:
        return _zonal(self.project, self.zone, "disks", self.name)

    def view(self) -> dict[str, Any]:
        return {
            "kind": "compute#disk",
            "id": str(self.id),
            "name": self.name,
            "zone": f"{BASE}/projects/{self.project}/zones/{self.zone}",
            "sizeGb": str(self.size_gb),
            "type": f"{BASE}/projects/{self.project}/zones/{self.zone}/diskTypes/{self.disk_type}",
            "status": "READY",
            "users": [_zonal(self.project, self.zone, "instances", user) for user in self.users],
            "labels": self.labels,
            "labelFingerprint": self.fingerprint,
            "creationTimestamp": "2026-11-01T09:00:00.000-07:00",
            "selfLink": self.self_link,
            **_stamps(lastAttachTimestamp=self.last_attach, lastDetachTimestamp=self.last_detach),
            **_stamps(sourceSnapshot=self.source_snapshot),
        }


@dataclass
class Address:
    """A reserved regional address; ``users`` are the full URLs of what uses it (an instance's
    access config, a forwarding rule)."""

    project: str
    region: str
    name: str
    address: str = ""
    address_type: str = "EXTERNAL"
    users: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    network_tier: str = "PREMIUM"
    id: int = 0
    status: str | None = None  # as users imply (IN_USE or RESERVED) unless a test says otherwise

    @property
    def fingerprint(self) -> str:
        return _fingerprint(self.labels)

    @property
    def self_link(self) -> str:
        return f"{BASE}/projects/{self.project}/regions/{self.region}/addresses/{self.name}"

    def view(self) -> dict[str, Any]:
        return {
            "kind": "compute#address",
            "id": str(self.id),
            "name": self.name,
            "address": self.address,
            **_stamps(addressType=self.address_type),
            "status": self.status or ("IN_USE" if self.users else "RESERVED"),
            "users": list(self.users),
            "region": f"{BASE}/projects/{self.project}/regions/{self.region}",
            "networkTier": self.network_tier,
            "labels": self.labels,
            "labelFingerprint": self.fingerprint,
            "creationTimestamp": "2026-11-01T09:00:00.000-07:00",
            "selfLink": self.self_link,
        }


@dataclass
class Group:
    """A zonal managed instance group; ``autoscaler`` is (min, max) replicas when it has one."""

    project: str
    zone: str
    name: str
    target_size: int = 2
    template: str = "web-template"
    autoscaler: tuple[int, int] | None = None
    id: int = 0

    @property
    def self_link(self) -> str:
        return _zonal(self.project, self.zone, "instanceGroupManagers", self.name)

    def view(self) -> dict[str, Any]:
        status: dict[str, Any] = {"isStable": True}
        if self.autoscaler:
            status["autoscaler"] = _zonal(self.project, self.zone, "autoscalers", f"{self.name}-autoscaler")
        return {
            "kind": "compute#instanceGroupManager",
            "id": str(self.id),
            "name": self.name,
            "zone": f"{BASE}/projects/{self.project}/zones/{self.zone}",
            "targetSize": self.target_size,
            "baseInstanceName": self.name,
            "instanceTemplate": f"{BASE}/projects/{self.project}/global/instanceTemplates/{self.template}",
            "instanceGroup": _zonal(self.project, self.zone, "instanceGroups", self.name),
            "currentActions": {"none": self.target_size},
            "status": status,
            "creationTimestamp": "2026-11-01T09:00:00.000-07:00",
            "selfLink": self.self_link,
        }


Store = dict[tuple[str, str, str], Any]


class GoogleComputeEmulator(GoogleEmulator):
    def __init__(self, page_size: int = 50) -> None:
        super().__init__()
        self.page_size = self.default_page_size = page_size
        self.projects: set[str] = set()
        self.instances: dict[tuple[str, str, str], Instance] = {}
        self.disks: dict[tuple[str, str, str], Disk] = {}
        self.groups: dict[tuple[str, str, str], Group] = {}
        self.addresses: dict[tuple[str, str, str], Address] = {}  # (project, region, name)
        self.operations: dict[str, dict[str, Any]] = {}
        self.denied: set[str] = set()
        self.storage = GoogleStorage(self, self.projects, self.denied, tuple(REGIONS))
        self.monitoring = GoogleMonitoring(self, self.projects, self.denied)
        self._ids = itertools.count(1000)
        self.snapshots = GoogleSnapshots(self, self._check, self._ids, gce_time, tuple(REGIONS))
        self.dns = GoogleDns(self, self._check)
        self.networks = GoogleNetworks(self, self._check, self.snapshots.global_operation)
        self.route("GET", PROJECT, self._project)
        self.route("GET", PROJECT + "/regions", self._regions)
        self.route("GET", PROJECT + r"/regions/(?P<region>[^/]+)", self._region)
        self.route("GET", PROJECT + "/aggregated/instances", self._aggregated("instances", self.instances))
        self.route("GET", PROJECT + "/aggregated/disks", self._aggregated("disks", self.disks))
        self.route(
            "GET", PROJECT + "/aggregated/instanceGroupManagers", self._aggregated("instanceGroupManagers", self.groups)
        )
        self.route("GET", PROJECT + "/aggregated/addresses", self._aggregated("addresses", self.addresses))
        self.route("GET", ADDRESS, self._get_of("addresses", self.addresses))
        self.route("DELETE", ADDRESS, self._delete_address)
        self.route("POST", ADDRESS + "/setLabels", self._set_labels_of("addresses", self.addresses))
        self.route("GET", PROJECT + r"/regions/(?P<region>[^/]+)/operations/(?P<op>[^/]+)", self._operation)
        self.route("POST", PROJECT + r"/regions/(?P<region>[^/]+)/operations/(?P<op>[^/]+)/wait", self._wait)
        self.route("POST", DISKS, self._insert_disk)
        self.route("GET", DISK, self._get_of("disks", self.disks))
        self.route("DELETE", DISK, self._delete_disk)
        self.route("POST", DISK + "/setLabels", self._set_labels_of("disks", self.disks))
        self.route("GET", GROUP, self._get_of("instanceGroupManagers", self.groups))
        self.route("DELETE", GROUP, self._delete_group)
        self.route("POST", GROUP + "/resize", self._resize)
        self.route("GET", AUTOSCALER, self._autoscaler)
        self.route("GET", INSTANCES, self._list)
        self.route("POST", INSTANCES, self._insert)
        self.route("GET", INSTANCE, self._get)
        self.route("DELETE", INSTANCE, self._delete)
        self.route("POST", INSTANCE + "/start", self._power("RUNNING", "compute.instances.start"))
        self.route("POST", INSTANCE + "/stop", self._power("TERMINATED", "compute.instances.stop"))
        self.route("POST", INSTANCE + "/setMachineType", self._set_machine_type)
        self.route("POST", INSTANCE + "/setLabels", self._set_labels_of("instances", self.instances))
        self.route("GET", PROJECT + r"/zones/(?P<zone>[^/]+)/operations/(?P<op>[^/]+)", self._operation)
        self.route("POST", PROJECT + r"/zones/(?P<zone>[^/]+)/operations/(?P<op>[^/]+)/wait", self._wait)

    def error_body(self, status: int, message: str) -> Any:
        return {"error": {"code": status, "message": message, "status": STATUS.get(status, "UNKNOWN")}}

    # -- test set-up ---------------------------------------------------------------------------
    def add_project(self, project: str) -> None:
        with self.lock:
            self.projects.add(project)

    def add_instance(self, instance: Instance) -> Instance:
        self._add(self.instances, instance)
        return instance

    def add_disk(self, disk: Disk) -> Disk:
        self._add(self.disks, disk)
        return disk

    def add_group(self, group: Group) -> Group:
        self._add(self.groups, group)
        return group

    def add_address(self, address: Address) -> Address:
        with self.lock:
            self.projects.add(address.project)
            address.id = address.id or next(self._ids)
            address.address = address.address or f"34.89.{address.id // 250 % 250}.{address.id % 250}"
            self.addresses[(address.project, address.region, address.name)] = address
        return address

    def add_bucket(self, bucket: Bucket) -> Bucket:
        return self.storage.add(bucket)

    def add_points(
        self,
        metric_type: str,
        instance: Instance,
        points: Sequence[tuple[datetime, float]],
        value_type: str = "DOUBLE",
        **labels: str,
    ) -> Series:
        """Raw samples of ``metric_type`` (e.g. ``compute.googleapis.com/instance/cpu/utilization``)
        for an added instance; ``instance_name`` is set among the metric labels for Compute
        Engine's own metrics, as Google reports it (the Ops Agent's metrics do not carry it)."""
        if metric_type.startswith("compute.googleapis.com/"):
            labels = {"instance_name": instance.name} | labels
        series = Series(
            instance.project, metric_type, str(instance.id), instance.zone, labels, list(points), value_type
        )
        return self.monitoring.add(series)

    def _add(self, store: Store, resource: Any) -> None:
        with self.lock:
            self.projects.add(resource.project)
            resource.id = resource.id or next(self._ids)
            store[(resource.project, resource.zone, resource.name)] = resource

    def deny(self, *permissions: str) -> None:
        with self.lock:
            self.denied |= set(permissions)

    def reset(self) -> None:
        with self.lock:
            self.projects.clear()
            self.instances.clear()
            self.disks.clear()
            self.groups.clear()
            self.addresses.clear()
            self.operations.clear()
            self.denied.clear()
            self.requests.clear()
            self.page_size = self.default_page_size
        self.reset_auth()
        self.storage.reset()
        self.monitoring.reset()
        self.snapshots.reset()
        self.dns.reset()
        self.networks.reset()

    # -- helpers -------------------------------------------------------------------------------
    def _check(self, request: Request, permission: str) -> str:
        project = request.params["project"]
        with self.lock:
            if project not in self.projects:
                raise _error(404, f"The resource 'projects/{project}' was not found", "notFound")
            if permission in self.denied or not self.permits(request, project, permission):
                raise _error(403, f"Required '{permission}' permission for 'projects/{project}'", "forbidden")
        return project

    def _instance(self, request: Request) -> Instance:
        found: Instance = self._find(request, "instances", self.instances)
        return found

    def _find(self, request: Request, collection: str, store: Store) -> Any:
        """A zonal resource, or a regional one where the route names a region."""
        scope = "zones" if "zone" in request.params else "regions"
        key = (request.params["project"], request.params[scope[:-1]], request.params["name"])
        with self.lock:
            found = store.get(key)
        if found is None:
            raise _error(
                404,
                f"The resource 'projects/{key[0]}/{scope}/{key[1]}/{collection}/{key[2]}' was not found",
                "notFound",
            )
        return found

    def _operation_for(self, project: str, zone: str, kind: str, target: str, *, region: str | None = None) -> Reply:
        """A zone operation, or with ``region`` a region operation."""
        name = f"operation-{next(self._ids)}"
        scope = ("region", f"regions/{region}") if region else ("zone", f"zones/{zone}")
        operation = {
            "kind": "compute#operation",
            "id": str(next(self._ids)),
            "name": name,
            scope[0]: f"{BASE}/projects/{project}/{scope[1]}",
            "operationType": kind,
            "targetLink": target,
            "status": "RUNNING",
            "progress": 0,
            "selfLink": f"{BASE}/projects/{project}/{scope[1]}/operations/{name}",
        }
        with self.lock:
            self.operations[name] = operation
        return Reply(200, operation)

    # -- routes --------------------------------------------------------------------------------
    def _project(self, request: Request) -> Reply:
        project = self._check(request, "compute.projects.get")
        return Reply(200, {"kind": "compute#project", "name": project, "id": "4815162342"})

    @staticmethod
    def _region_view(project: str, region: str) -> dict[str, Any]:
        return {"kind": "compute#region", "name": region, "description": region, "status": "UP",
                "zones": [f"{BASE}/projects/{project}/zones/{region}-{z}" for z in REGIONS[region]]}  # fmt: skip

    def _regions(self, request: Request) -> Reply:
        project = self._check(request, "compute.regions.list")
        items = [self._region_view(project, region) for region in REGIONS]
        return Reply(200, {"kind": "compute#regionList", "items": items})

    def _region(self, request: Request) -> Reply:
        project = self._check(request, "compute.regions.get")
        region = request.params["region"]
        if region not in REGIONS:
            raise _error(404, f"The resource 'projects/{project}/regions/{region}' was not found", "notFound")
        return Reply(200, self._region_view(project, region))

    def _aggregated(self, collection: str, store: Store) -> Callable[[Request], Reply]:
        """``aggregatedList`` of a zonal or regional collection: pages of resources grouped by
        ``zones/<zone>`` or ``regions/<region>``."""

        def scope(resource: Any) -> str:
            return f"zones/{resource.zone}" if hasattr(resource, "zone") else f"regions/{resource.region}"

        def handler(request: Request) -> Reply:
            project = self._check(request, f"compute.{collection}.list")
            with self.lock:
                everything = sorted(
                    (r for r in store.values() if r.project == project), key=lambda r: (scope(r), r.name)
                )
            size = min(int(request.query.get("maxResults") or 500), self.page_size)
            offset = int(request.query.get("pageToken") or 0)
            items: dict[str, Any] = {}
            for resource in everything[offset : offset + size]:
                items.setdefault(scope(resource), {collection: []})[collection].append(resource.view())
            reply: dict[str, Any] = {"kind": f"compute#{collection[:-1]}AggregatedList", "items": items}
            if offset + size < len(everything):
                reply["nextPageToken"] = str(offset + size)
            return Reply(200, reply)

        return handler

    def _set_labels_of(self, collection: str, store: Store) -> Callable[[Request], Reply]:
        """``setLabels`` of a zonal or regional resource, with the labels' current fingerprint."""

        def handler(request: Request) -> Reply:
            project = self._check(request, f"compute.{collection}.setLabels")
            resource = self._find(request, collection, store)
            body = request.json() or {}
            if body.get("labelFingerprint") != resource.fingerprint:
                raise _error(
                    412, "Labels fingerprint either invalid or resource labels have changed", "conditionNotMet"
                )
            with self.lock:
                resource.labels = dict(body.get("labels") or {})
            if hasattr(resource, "zone"):
                return self._operation_for(project, resource.zone, "setLabels", resource.self_link)
            return self._operation_for(project, "", "setLabels", resource.self_link, region=resource.region)

        return handler

    def _get_of(self, collection: str, store: Store) -> Callable[[Request], Reply]:
        def handler(request: Request) -> Reply:
            self._check(request, f"compute.{collection}.get")
            return Reply(200, self._find(request, collection, store).view())

        return handler

    def _list(self, request: Request) -> Reply:
        project = self._check(request, "compute.instances.list")
        zone = request.params["zone"]
        with self.lock:
            found = [i.view() for i in self.instances.values() if i.project == project and i.zone == zone]
        return Reply(200, {"kind": "compute#instanceList", "items": found})

    def _insert(self, request: Request) -> Reply:
        project = self._check(request, "compute.instances.create")
        zone = request.params["zone"]
        body = request.json() or {}
        name, machine = body.get("name"), str(body.get("machineType") or "").rsplit("/", 1)[-1]
        if not name:
            raise _error(
                400,
                "Invalid value for field 'resource.name': ''. "
                "Must be a match of regex '(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)'",
            )
        if machine not in MACHINE_TYPES:
            raise _error(
                400,
                f"Invalid value for field 'resource.machineType': '{body.get('machineType')}'. "
                "Machine type does not exist.",
            )
        boot = next((d for d in body.get("disks") or [] if d.get("boot")), None) or {}
        image = (boot.get("initializeParams") or {}).get("sourceImage")
        if not image and not boot.get("source"):
            raise _error(
                400,
                "Invalid value for field 'resource.disks': a boot disk with initializeParams.sourceImage "
                "or a source disk is required.",
            )
        if not body.get("networkInterfaces"):
            raise _error(400, "Invalid value for field 'resource.networkInterfaces': at least one is required.")
        interfaces = [self.networks.interface(project, nic) for nic in body["networkInterfaces"]]
        with self.lock:
            if (project, zone, name) in self.instances:
                raise _error(
                    409,
                    f"The resource 'projects/{project}/zones/{zone}/instances/{name}' already exists",
                    "alreadyExists",
                )
            disk = self._boot_disk(project, zone, str(boot["source"])) if boot.get("source") else None
            instance = Instance(
                project, zone, name, machine, "RUNNING", dict(body.get("labels") or {}), image or "", next(self._ids),
                last_start=gce_time(), boot_disk=disk.name if disk else None,
                auto_delete=bool(boot.get("autoDelete", not disk)), interfaces=interfaces,
            )  # fmt: skip
            if disk is not None:
                disk.users.append(name)
                disk.last_attach = gce_time()
            self.instances[(project, zone, name)] = instance
        return self._operation_for(project, zone, "insert", instance.self_link)

    def _boot_disk(self, project: str, zone: str, source: str) -> Disk:
        """The existing disk an instance boots from: of its zone, and in use by no other instance."""
        name = source.rsplit("/", 1)[-1]
        disk = self.disks.get((project, zone, name))
        if disk is None or f"zones/{zone}/disks/{name}" not in source:
            raise _error(404, f"The resource 'projects/{project}/zones/{zone}/disks/{name}' was not found", "notFound")
        if disk.users:
            user = _zonal(project, zone, "instances", disk.users[0])
            raise _error(400, f"The disk resource '{disk.self_link}' is already being used by '{user}'",
                         "resourceInUseByAnotherResource")  # fmt: skip
        return disk

    def _get(self, request: Request) -> Reply:
        self._check(request, "compute.instances.get")
        return Reply(200, self._instance(request).view())

    def _delete(self, request: Request) -> Reply:
        project = self._check(request, "compute.instances.delete")
        instance = self._instance(request)
        with self.lock:
            self.instances.pop((project, instance.zone, instance.name), None)
            for disk in self.disks.values():  # its disks are detached (the boot disk is not modelled)
                if disk.project == project and disk.zone == instance.zone and instance.name in disk.users:
                    disk.users.remove(instance.name)
                    disk.last_detach = gce_time()
            if instance.boot_disk and instance.auto_delete:  # a boot disk attached with autoDelete goes too
                self.disks.pop((project, instance.zone, instance.boot_disk), None)
            for address in self.addresses.values():  # and the addresses its access configs used
                if instance.self_link in address.users:
                    address.users.remove(instance.self_link)
        return self._operation_for(project, instance.zone, "delete", instance.self_link)

    def _power(self, status: str, permission: str) -> Any:
        def handler(request: Request) -> Reply:
            project = self._check(request, permission)
            instance = self._instance(request)
            with self.lock:
                instance.status = status
                if status == "RUNNING":
                    instance.last_start = gce_time()
                else:
                    instance.last_stop = gce_time()
            return self._operation_for(project, instance.zone, permission.rsplit(".", 1)[-1], instance.self_link)

        return handler

    def _set_machine_type(self, request: Request) -> Reply:
        project = self._check(request, "compute.instances.setMachineType")
        instance = self._instance(request)
        machine = str((request.json() or {}).get("machineType") or "").rsplit("/", 1)[-1]
        if machine not in MACHINE_TYPES:
            raise _error(400, f"Invalid value for field 'machineType': '{machine}'.")
        if instance.status != "TERMINATED":
            raise _error(
                400,
                f"The resource '{instance.self_link}' is not ready: "
                "the instance must be stopped to change its machine type",
                "resourceNotReady",
            )
        with self.lock:
            instance.machine_type = machine
        return self._operation_for(project, instance.zone, "setMachineType", instance.self_link)

    def _operation(self, request: Request) -> Reply:
        self._check(request, "compute.zoneOperations.get")
        with self.lock:
            operation = self.operations.get(request.params["op"])
            if operation is None:
                raise _error(404, f"operation {request.params['op']} not found", "notFound")
            shown = dict(operation)
            operation.update(status="DONE", progress=100)  # done from the second look on
        return Reply(200, shown)

    def _wait(self, request: Request) -> Reply:
        self._check(request, "compute.zoneOperations.get")
        with self.lock:
            operation = self.operations.get(request.params["op"])
            if operation is None:
                raise _error(404, f"operation {request.params['op']} not found", "notFound")
            operation.update(status="DONE", progress=100)
            return Reply(200, dict(operation))

    # -- disks ---------------------------------------------------------------------------------
    def _insert_disk(self, request: Request) -> Reply:
        project = self._check(request, "compute.disks.create")
        zone = request.params["zone"]
        body = request.json() or {}
        name = str(body.get("name") or "")
        if not _NAME.fullmatch(name):
            raise _error(400, f"Invalid value for field 'resource.name': '{name}'. "
                         "Must be a match of regex '(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)'")  # fmt: skip
        disk_type = str(body.get("type") or "pd-standard").rsplit("/", 1)[-1]
        if disk_type not in DISK_TYPES:
            raise _error(400, f"Invalid value for field 'resource.type': '{body.get('type')}'. "
                         "Disk type does not exist.")  # fmt: skip
        source = self.snapshots.restorable(project, body["sourceSnapshot"]) if body.get("sourceSnapshot") else None
        size = int(body.get("sizeGb") or (source.disk_size_gb if source else 0))
        if not 10 <= size <= 65536:
            raise _error(400, f"Invalid value for field 'resource.sizeGb': '{size}'. "
                         "Disk size must be between 10 GB and 65536 GB.")  # fmt: skip
        if source is not None and size < source.disk_size_gb:
            raise _error(400, f"Invalid value for field 'resource.sizeGb': '{size}'. Requested disk size "
                         f"cannot be smaller than the snapshot size ({source.disk_size_gb} GB).")  # fmt: skip
        with self.lock:
            if (project, zone, name) in self.disks:
                raise _error(409, f"The resource 'projects/{project}/zones/{zone}/disks/{name}' already exists",
                             "alreadyExists")  # fmt: skip
            disk = Disk(project, zone, name, size, disk_type, dict(body.get("labels") or {}), [], next(self._ids),
                        source_snapshot=source.self_link if source else None)  # fmt: skip
            self.disks[(project, zone, name)] = disk
        return self._operation_for(project, zone, "insert", disk.self_link)

    def _delete_disk(self, request: Request) -> Reply:
        project = self._check(request, "compute.disks.delete")
        disk: Disk = self._find(request, "disks", self.disks)
        if disk.users:
            user = _zonal(project, disk.zone, "instances", disk.users[0])
            raise _error(400, f"The disk resource '{disk.self_link}' is already being used by '{user}'",
                         "resourceInUseByAnotherResource")  # fmt: skip
        self.snapshots.note_disk_deleted(disk.self_link)
        with self.lock:
            self.disks.pop((project, disk.zone, disk.name), None)
        return self._operation_for(project, disk.zone, "delete", disk.self_link)

    # -- managed instance groups ---------------------------------------------------------------
    def _resize(self, request: Request) -> Reply:
        project = self._check(request, "compute.instanceGroupManagers.update")
        group: Group = self._find(request, "instanceGroupManagers", self.groups)
        size = request.query.get("size", "")
        if not size.isdigit() or int(size) > 1000:
            raise _error(400, f"Invalid value for field 'size': '{size}'. Must be between 0 and 1000.")
        with self.lock:
            group.target_size = int(size)
        return self._operation_for(project, group.zone, "compute.instanceGroupManagers.resize", group.self_link)

    def _delete_group(self, request: Request) -> Reply:
        project = self._check(request, "compute.instanceGroupManagers.delete")
        group: Group = self._find(request, "instanceGroupManagers", self.groups)
        with self.lock:
            self.groups.pop((project, group.zone, group.name), None)
        return self._operation_for(project, group.zone, "delete", group.self_link)

    def _autoscaler(self, request: Request) -> Reply:
        project = self._check(request, "compute.autoscalers.get")
        zone, name = request.params["zone"], request.params["name"]
        with self.lock:
            group = next((g for g in self.groups.values() if g.project == project and g.zone == zone
                          and g.autoscaler and f"{g.name}-autoscaler" == name), None)  # fmt: skip
        if group is None or group.autoscaler is None:
            raise _error(404, f"The resource 'projects/{project}/zones/{zone}/autoscalers/{name}' was not found",
                         "notFound")  # fmt: skip
        low, high = group.autoscaler
        return Reply(200, {
            "kind": "compute#autoscaler", "name": name, "zone": f"{BASE}/projects/{project}/zones/{zone}",
            "target": group.self_link, "status": "ACTIVE",
            "autoscalingPolicy": {"minNumReplicas": low, "maxNumReplicas": high, "mode": "ON"},
        })  # fmt: skip

    # -- addresses -------------------------------------------------------------------------------
    def _delete_address(self, request: Request) -> Reply:
        project = self._check(request, "compute.addresses.delete")
        address: Address = self._find(request, "addresses", self.addresses)
        if address.users:
            raise _error(400, f"The address resource '{address.self_link}' is already being used by "
                         f"'{address.users[0]}'", "resourceInUseByAnotherResource")  # fmt: skip
        with self.lock:
            self.addresses.pop((project, address.region, address.name), None)
        return self._operation_for(project, "", "delete", address.self_link, region=address.region)
