"""Compute Engine's global snapshots (``/compute/v1/projects/<p>/global/snapshots``) and the
global operations their inserts and deletes return, served by the Compute Engine emulator
(:mod:`tests.emulators.google_compute`), whose disks they are taken of and restored into.

What it enforces, as the Compute API reference documents it: a name matches
``[a-z]([-a-z0-9]{0,61}[a-z0-9])?`` and is unique per project (409 ``alreadyExists``); a
snapshot needs a ``sourceDisk`` that exists (404 otherwise); ``storageLocations`` holds at most
one Cloud Storage location, a multi-region (``eu``, ``us``, ``asia``) or a region, and defaults
to the multi-region nearest the disk (its own region outside them); a snapshot is ``CREATING``
until its operation is done, then ``READY``; a disk is made only from a ``READY`` snapshot (400
``resourceNotReady``) and is never smaller than it. ``list`` pages with ``maxResults`` and
``pageToken`` and takes a ``filter`` of label comparisons, each in parentheses and all of which
must hold: ``(labels.<key> = "<value>") (labels.<key> = "<value>")`` (``AND`` between them is
allowed too); any other filter is refused with 400, so a filter the adapter sends is one this
emulator understood. Global operations are ``RUNNING`` until polled once (``get`` or ``wait``),
then ``DONE``, as the emulator's zone operations are.

For tests of callers that wait: ``uploading_reads`` (0 unless a test raises it) keeps a new
snapshot ``UPLOADING`` for that many reads after its operation is done, then ``READY`` (or
``FAILED`` when ``uploads_fail``); ``disk_deletes`` records, at each disk's deletion, the status of
every snapshot of that disk (the Compute Engine emulator calls ``note_disk_deleted``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from tests.emulators.http import HttpError, Reply, Request

BASE = "https://www.googleapis.com/compute/v1"
PROJECT = r"/compute/v1/projects/(?P<project>[^/]+)"
SNAPSHOTS = PROJECT + "/global/snapshots"
SNAPSHOT = SNAPSHOTS + r"/(?P<name>[^/]+)"
OPERATION = PROJECT + r"/global/operations/(?P<op>[^/]+)"
# the Cloud Storage multi-regions a snapshot may be stored in, by the regions they hold
MULTI_REGIONS = {"eu": "europe-", "us": "us-", "asia": "asia-"}
_NAME = re.compile(r"[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?")
_DISK = re.compile(r"(?:.*/)?(?:projects/(?P<project>[^/]+)/)?zones/(?P<zone>[^/]+)/disks/(?P<name>[^/]+)")
_SNAPSHOT = re.compile(r"(?:.*/)?(?:projects/(?P<project>[^/]+)/)?global/snapshots/(?P<name>[^/]+)")
_TERM = re.compile(r'\s*(?P<joined>AND\s+)?\(\s*labels\.(?P<key>[a-z][-_a-z0-9]*)\s*=\s*"(?P<value>[^"]*)"\s*\)\s*')
STATUS = {400: "INVALID_ARGUMENT", 404: "NOT_FOUND", 409: "ALREADY_EXISTS"}

Check = Callable[[Request, str], str]  # permission check of the host: the project, or an HttpError


def _error(code: int, message: str, reason: str = "invalid") -> HttpError:
    return HttpError(
        code,
        {"error": {"code": code, "message": message, "status": STATUS.get(code, "UNKNOWN"),
                   "errors": [{"message": message, "domain": "global", "reason": reason}]}},
    )  # fmt: skip


def nearest_location(region: str) -> str:
    """Where Compute Engine stores a snapshot by default: the multi-region holding the disk's region."""
    return next((place for place, prefix in MULTI_REGIONS.items() if region.startswith(prefix)), region)


def label_filter(expression: str) -> dict[str, str]:
    """The label comparisons of a list filter; 400 for anything else."""
    wanted: dict[str, str] = {}
    position = 0
    while position < len(expression):
        term = _TERM.match(expression, position)
        if term is None or (position == 0 and term["joined"]):
            raise _error(400, f"Invalid list filter expression '{expression}'.")
        wanted[term["key"]] = term["value"]
        position = term.end()
    return wanted


@dataclass
class Snapshot:
    project: str
    name: str
    source_disk: str  # the disk's URL
    source_disk_id: str
    disk_size_gb: int
    storage_locations: list[str]
    labels: dict[str, str] = field(default_factory=dict)
    status: str = "CREATING"
    created: str = ""  # RFC 3339, as GCE reports creationTimestamp
    id: int = 0
    reads_left: int = 0  # reads it stays UPLOADING for (``GoogleSnapshots.uploading_reads``)

    @property
    def self_link(self) -> str:
        return f"{BASE}/projects/{self.project}/global/snapshots/{self.name}"

    def view(self) -> dict[str, Any]:
        return {
            "kind": "compute#snapshot",
            "id": str(self.id),
            "name": self.name,
            "status": self.status,
            "sourceDisk": self.source_disk,
            "sourceDiskId": self.source_disk_id,
            "diskSizeGb": str(self.disk_size_gb),
            "storageBytes": str(self.disk_size_gb * 2**30 // 4),
            "storageLocations": list(self.storage_locations),
            "labels": dict(self.labels),
            "labelFingerprint": "42WmSpB8rSM=",
            "creationTimestamp": self.created,
            "snapshotType": "STANDARD",
            "selfLink": self.self_link,
        }


class GoogleSnapshots:
    """The snapshot routes, registered on ``host`` (the Compute Engine emulator), whose disks,
    lock, permission check, ids and clock they share."""

    def __init__(
        self, host: Any, check: Check, ids: Iterator[int], clock: Callable[[], str], regions: tuple[str, ...]
    ) -> None:
        self.host, self._check, self._ids, self._clock = host, check, ids, clock
        self.locations = set(MULTI_REGIONS) | set(regions)
        self.snapshots: dict[tuple[str, str], Snapshot] = {}  # (project, name)
        self.operations: dict[str, dict[str, Any]] = {}
        self._when_done: dict[str, Callable[[], None]] = {}
        self.page_size = 500
        self.uploading_reads, self.uploads_fail = 0, False
        self.disk_deletes: list[tuple[str, dict[str, str]]] = []  # (disk URL, {snapshot name: status})
        host.route("GET", SNAPSHOTS, self._list)
        host.route("POST", SNAPSHOTS, self._insert)
        host.route("GET", SNAPSHOT, self._get)
        host.route("DELETE", SNAPSHOT, self._delete)
        host.route("GET", OPERATION, self._operation)
        host.route("POST", OPERATION + "/wait", self._operation)

    def reset(self) -> None:
        with self.host.lock:
            self.snapshots.clear()
            self.operations.clear()
            self._when_done.clear()
            self.page_size = 500
            self.uploading_reads, self.uploads_fail = 0, False
            self.disk_deletes.clear()

    def note_disk_deleted(self, disk_link: str) -> None:
        with self.host.lock:
            of_disk = {s.name: s.status for s in self.snapshots.values() if s.source_disk == disk_link}
            self.disk_deletes.append((disk_link, of_disk))

    def restorable(self, project: str, reference: str) -> Snapshot:
        """The snapshot a new disk names as its ``sourceSnapshot``: it exists and is READY."""
        found = _SNAPSHOT.fullmatch(reference)
        with self.host.lock:
            snapshot = self.snapshots.get((found["project"] or project, found["name"])) if found else None
        if snapshot is None:
            raise _error(404, f"The resource '{reference}' was not found", "notFound")
        if snapshot.status != "READY":
            raise _error(400, f"The resource '{snapshot.self_link}' is not ready", "resourceNotReady")
        return snapshot

    def global_operation(self, project: str, kind: str, target: str, done: Callable[[], None]) -> Reply:
        """A global operation on ``target`` (the network routes' too), running ``done`` once polled."""
        return self._operation_for(project, kind, target, done)

    def _operation_for(self, project: str, kind: str, target: str, done: Callable[[], None]) -> Reply:
        name = f"operation-{next(self._ids)}"
        operation = {
            "kind": "compute#operation", "id": str(next(self._ids)), "name": name, "operationType": kind,
            "targetLink": target, "status": "RUNNING", "progress": 0,
            "selfLink": f"{BASE}/projects/{project}/global/operations/{name}",
        }  # fmt: skip
        with self.host.lock:
            self.operations[name] = operation
            self._when_done[name] = done
        return Reply(200, operation)

    def _operation(self, request: Request) -> Reply:
        self._check(request, "compute.globalOperations.get")
        name = request.params["op"]
        with self.host.lock:
            operation = self.operations.get(name)
            if operation is None:
                raise _error(404, f"The resource 'operations/{name}' was not found", "notFound")
            shown = dict(operation)  # a get shows RUNNING once; a wait returns when it is done
            operation.update(status="DONE", progress=100)
            self._when_done.pop(name, lambda: None)()
        return Reply(200, dict(operation) if request.method == "POST" else shown)

    def _snapshot(self, request: Request) -> Snapshot:
        key = (request.params["project"], request.params["name"])
        with self.host.lock:
            found = self.snapshots.get(key)
        if found is None:
            raise _error(404, f"The resource 'projects/{key[0]}/global/snapshots/{key[1]}' was not found", "notFound")
        return found

    def _insert(self, request: Request) -> Reply:
        project = self._check(request, "compute.snapshots.create")
        body = request.json() or {}
        name = str(body.get("name") or "")
        if not _NAME.fullmatch(name):
            raise _error(400, f"Invalid value for field 'resource.name': '{name}'. "
                         "Must be a match of regex '(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)'")  # fmt: skip
        source = _DISK.fullmatch(str(body.get("sourceDisk") or ""))
        if source is None:
            raise _error(400, "Invalid value for field 'resource.sourceDisk': a source disk is required.")
        key = (source["project"] or project, source["zone"], source["name"])
        with self.host.lock:
            disk = self.host.disks.get(key)
        if disk is None:
            raise _error(404, f"The resource 'projects/{key[0]}/zones/{key[1]}/disks/{key[2]}' was not found",
                         "notFound")  # fmt: skip
        locations = [
            str(place) for place in body.get("storageLocations") or [nearest_location(key[1].rsplit("-", 1)[0])]
        ]
        if len(locations) > 1 or locations[0] not in self.locations:
            raise _error(400, f"Invalid value for field 'resource.storageLocations': {locations}. "
                         "Specify one Cloud Storage location (a region or a multi-region).")  # fmt: skip
        with self.host.lock:
            if (project, name) in self.snapshots:
                raise _error(409, f"The resource 'projects/{project}/global/snapshots/{name}' already exists",
                             "alreadyExists")  # fmt: skip
            snapshot = Snapshot(
                project, name, disk.self_link, str(disk.id), disk.size_gb, locations,
                dict(body.get("labels") or {}), "CREATING", self._clock(), next(self._ids),
            )  # fmt: skip
            self.snapshots[(project, name)] = snapshot

        def uploaded() -> None:
            if snapshot.status == "CREATING":
                snapshot.status = "UPLOADING" if self.uploading_reads else "READY"
                snapshot.reads_left = self.uploading_reads

        return self._operation_for(project, "insert", snapshot.self_link, uploaded)

    def _get(self, request: Request) -> Reply:
        self._check(request, "compute.snapshots.get")
        snapshot = self._snapshot(request)
        with self.host.lock:
            view = snapshot.view()
            if snapshot.status == "UPLOADING" and snapshot.reads_left > 0:
                snapshot.reads_left -= 1
                if snapshot.reads_left == 0:
                    snapshot.status = "FAILED" if self.uploads_fail else "READY"
        return Reply(200, view)

    def _list(self, request: Request) -> Reply:
        project = self._check(request, "compute.snapshots.list")
        wanted = label_filter(request.query.get("filter") or "")
        with self.host.lock:
            found = sorted(
                (s for s in self.snapshots.values()
                 if s.project == project and all(s.labels.get(k) == v for k, v in wanted.items())),
                key=lambda s: s.name,
            )  # fmt: skip
        size = min(int(request.query.get("maxResults") or 500), self.page_size)
        offset = int(request.query.get("pageToken") or 0)
        reply: dict[str, Any] = {"kind": "compute#snapshotList", "items": [s.view() for s in found[offset:][:size]]}
        if offset + size < len(found):
            reply["nextPageToken"] = str(offset + size)
        return Reply(200, reply)

    def _delete(self, request: Request) -> Reply:
        project = self._check(request, "compute.snapshots.delete")
        snapshot = self._snapshot(request)
        with self.host.lock:
            snapshot.status = "DELETING"

        def deleted() -> None:
            self.snapshots.pop((project, snapshot.name), None)

        return self._operation_for(project, "delete", snapshot.self_link, deleted)
