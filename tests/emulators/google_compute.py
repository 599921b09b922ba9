"""A Google Compute Engine REST emulator (``/compute/v1``): projects, regions and instances,
with the zone operations google-cloud-compute waits on, over real HTTP.

What it enforces, as the Compute API reference documents it: an instance needs a machine type,
a boot disk image and a network interface; a name is unique per zone (409 ``alreadyExists``);
the machine type changes only while the instance is stopped (GCE reports a stopped instance as
``TERMINATED``); labels change only with the current ``labelFingerprint`` (412); a missing
permission answers 403 naming it (``deny``). Changes return a zone operation that is
``RUNNING`` until polled once, then ``DONE``; ``aggregatedList`` pages with ``nextPageToken``.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass, field
from typing import Any

from tests.emulators.http import Emulator, HttpError, Reply, Request

BASE = "https://www.googleapis.com/compute/v1"
PROJECT = r"/compute/v1/projects/(?P<project>[^/]+)"
INSTANCES = PROJECT + r"/zones/(?P<zone>[^/]+)/instances"
INSTANCE = INSTANCES + r"/(?P<name>[^/]+)"
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

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(repr(sorted(self.labels.items())).encode()).hexdigest()[:16]

    @property
    def self_link(self) -> str:
        return f"{BASE}/projects/{self.project}/zones/{self.zone}/instances/{self.name}"

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
            "disks": [{"boot": True, "source": f"{BASE}/projects/{self.project}/zones/{self.zone}/disks/{self.name}"}],
            "networkInterfaces": [{"network": f"{BASE}/projects/{self.project}/global/networks/default"}],
        }


class GoogleComputeEmulator(Emulator):
    def __init__(self, page_size: int = 50) -> None:
        super().__init__()
        self.page_size = page_size
        self.projects: set[str] = set()
        self.instances: dict[tuple[str, str, str], Instance] = {}
        self.operations: dict[str, dict[str, Any]] = {}
        self.denied: set[str] = set()
        self._ids = itertools.count(1000)
        self.route("GET", PROJECT, self._project)
        self.route("GET", PROJECT + "/regions", self._regions)
        self.route("GET", PROJECT + "/aggregated/instances", self._aggregated)
        self.route("GET", INSTANCES, self._list)
        self.route("POST", INSTANCES, self._insert)
        self.route("GET", INSTANCE, self._get)
        self.route("DELETE", INSTANCE, self._delete)
        self.route("POST", INSTANCE + "/start", self._power("RUNNING", "compute.instances.start"))
        self.route("POST", INSTANCE + "/stop", self._power("TERMINATED", "compute.instances.stop"))
        self.route("POST", INSTANCE + "/setMachineType", self._set_machine_type)
        self.route("POST", INSTANCE + "/setLabels", self._set_labels)
        self.route("GET", PROJECT + r"/zones/(?P<zone>[^/]+)/operations/(?P<op>[^/]+)", self._operation)
        self.route("POST", PROJECT + r"/zones/(?P<zone>[^/]+)/operations/(?P<op>[^/]+)/wait", self._wait)

    def error_body(self, status: int, message: str) -> Any:
        return {"error": {"code": status, "message": message, "status": STATUS.get(status, "UNKNOWN")}}

    # -- test set-up ---------------------------------------------------------------------------
    def add_project(self, project: str) -> None:
        with self.lock:
            self.projects.add(project)

    def add_instance(self, instance: Instance) -> Instance:
        with self.lock:
            self.projects.add(instance.project)
            instance.id = instance.id or next(self._ids)
            self.instances[(instance.project, instance.zone, instance.name)] = instance
        return instance

    def deny(self, *permissions: str) -> None:
        with self.lock:
            self.denied |= set(permissions)

    def reset(self) -> None:
        with self.lock:
            self.projects.clear()
            self.instances.clear()
            self.operations.clear()
            self.denied.clear()
            self.requests.clear()

    # -- helpers -------------------------------------------------------------------------------
    def _check(self, request: Request, permission: str) -> str:
        project = request.params["project"]
        with self.lock:
            if project not in self.projects:
                raise _error(404, f"The resource 'projects/{project}' was not found", "notFound")
            if permission in self.denied:
                raise _error(403, f"Required '{permission}' permission for 'projects/{project}'", "forbidden")
        return project

    def _instance(self, request: Request) -> Instance:
        key = (request.params["project"], request.params["zone"], request.params["name"])
        with self.lock:
            found = self.instances.get(key)
        if found is None:
            raise _error(
                404, f"The resource 'projects/{key[0]}/zones/{key[1]}/instances/{key[2]}' was not found", "notFound"
            )
        return found

    def _operation_for(self, project: str, zone: str, kind: str, target: str) -> Reply:
        name = f"operation-{next(self._ids)}"
        operation = {
            "kind": "compute#operation",
            "id": str(next(self._ids)),
            "name": name,
            "zone": f"{BASE}/projects/{project}/zones/{zone}",
            "operationType": kind,
            "targetLink": target,
            "status": "RUNNING",
            "progress": 0,
            "selfLink": f"{BASE}/projects/{project}/zones/{zone}/operations/{name}",
        }
        with self.lock:
            self.operations[name] = operation
        return Reply(200, operation)

    # -- routes --------------------------------------------------------------------------------
    def _project(self, request: Request) -> Reply:
        project = self._check(request, "compute.projects.get")
        return Reply(200, {"kind": "compute#project", "name": project, "id": "4815162342"})

    def _regions(self, request: Request) -> Reply:
        project = self._check(request, "compute.regions.list")
        items = [
            {"kind": "compute#region", "name": region, "description": region, "status": "UP",
             "zones": [f"{BASE}/projects/{project}/zones/{region}-{z}" for z in zones]}
            for region, zones in REGIONS.items()
        ]  # fmt: skip
        return Reply(200, {"kind": "compute#regionList", "items": items})

    def _aggregated(self, request: Request) -> Reply:
        project = self._check(request, "compute.instances.list")
        with self.lock:
            everything = sorted(
                (i for i in self.instances.values() if i.project == project), key=lambda i: (i.zone, i.name)
            )
        size = min(int(request.query.get("maxResults") or 500), self.page_size)
        offset = int(request.query.get("pageToken") or 0)
        page = everything[offset : offset + size]
        items: dict[str, Any] = {}
        for instance in page:
            items.setdefault(f"zones/{instance.zone}", {"instances": []})["instances"].append(instance.view())
        reply: dict[str, Any] = {"kind": "compute#instanceAggregatedList", "items": items}
        if offset + size < len(everything):
            reply["nextPageToken"] = str(offset + size)
        return Reply(200, reply)

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
        boot = next((d for d in body.get("disks") or [] if d.get("boot")), None)
        image = ((boot or {}).get("initializeParams") or {}).get("sourceImage")
        if not image:
            raise _error(
                400,
                "Invalid value for field 'resource.disks': a boot disk with initializeParams.sourceImage is required.",
            )
        if not body.get("networkInterfaces"):
            raise _error(400, "Invalid value for field 'resource.networkInterfaces': at least one is required.")
        with self.lock:
            if (project, zone, name) in self.instances:
                raise _error(
                    409,
                    f"The resource 'projects/{project}/zones/{zone}/instances/{name}' already exists",
                    "alreadyExists",
                )
            instance = Instance(
                project, zone, name, machine, "RUNNING", dict(body.get("labels") or {}), image, next(self._ids)
            )
            self.instances[(project, zone, name)] = instance
        return self._operation_for(project, zone, "insert", instance.self_link)

    def _get(self, request: Request) -> Reply:
        self._check(request, "compute.instances.get")
        return Reply(200, self._instance(request).view())

    def _delete(self, request: Request) -> Reply:
        project = self._check(request, "compute.instances.delete")
        instance = self._instance(request)
        with self.lock:
            self.instances.pop((project, instance.zone, instance.name), None)
        return self._operation_for(project, instance.zone, "delete", instance.self_link)

    def _power(self, status: str, permission: str) -> Any:
        def handler(request: Request) -> Reply:
            project = self._check(request, permission)
            instance = self._instance(request)
            with self.lock:
                instance.status = status
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

    def _set_labels(self, request: Request) -> Reply:
        project = self._check(request, "compute.instances.setLabels")
        instance = self._instance(request)
        body = request.json() or {}
        if body.get("labelFingerprint") != instance.fingerprint:
            raise _error(412, "Labels fingerprint either invalid or resource labels have changed", "conditionNotMet")
        with self.lock:
            instance.labels = dict(body.get("labels") or {})
        return self._operation_for(project, instance.zone, "setLabels", instance.self_link)

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
