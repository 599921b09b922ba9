"""Cloud Storage buckets (JSON API ``/storage/v1/b``), served by the Compute Engine emulator's
server so that one endpoint answers everything google-cloud-compute and google-cloud-storage ask.

What it enforces, as the Cloud Storage documentation states it: a bucket name is 3-63 lowercase
letters, digits, dashes, underscores and dots, starts and ends with a letter or digit, does not
start with ``goog`` and does not contain ``google`` (400); the bucket namespace is global, so a
name taken in any project answers 409; the location is a region, a dual-region or a multi-region
(stored upper case, as Google reports it) and the storage class one of the four; a bucket that
still holds objects cannot be deleted (409); ``labels`` in a PATCH merge, a null value removes
a label; lists page with ``nextPageToken``; a missing permission answers 403 naming it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from tests.emulators.google_auth import GoogleEmulator
from tests.emulators.http import HttpError, Reply, Request

BUCKETS = r"/storage/v1/b"
BUCKET = BUCKETS + r"/(?P<bucket>[^/]+)"
STORAGE_CLASSES = ("STANDARD", "NEARLINE", "COLDLINE", "ARCHIVE")
MULTI_REGIONS = ("EU", "US", "ASIA")
DUAL_REGIONS = ("EUR4", "NAM4", "ASIA1")
_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]")


def _error(code: int, message: str, reason: str) -> HttpError:
    detail = {"message": message, "domain": "global", "reason": reason}
    return HttpError(code, {"error": {"code": code, "message": message, "errors": [detail]}})


@dataclass
class Bucket:
    project: str
    name: str
    location: str = "EU"
    storage_class: str = "STANDARD"
    labels: dict[str, str] = field(default_factory=dict)
    objects: int = 0  # how many objects it holds: a bucket that holds some cannot be deleted
    metageneration: int = 1

    @property
    def location_type(self) -> str:
        if self.location in MULTI_REGIONS:
            return "multi-region"
        return "dual-region" if self.location in DUAL_REGIONS else "region"

    def view(self) -> dict[str, Any]:
        return {
            "kind": "storage#bucket",
            "id": self.name,
            "name": self.name,
            "selfLink": f"https://www.googleapis.com/storage/v1/b/{self.name}",
            "projectNumber": "4815162342",
            "location": self.location,
            "locationType": self.location_type,
            "storageClass": self.storage_class,
            "labels": dict(self.labels),
            "metageneration": str(self.metageneration),
            "etag": f"CA{self.metageneration}=",
            "timeCreated": "2026-11-01T09:00:00.000Z",
            "updated": "2026-11-01T09:00:00.000Z",
        }


class GoogleStorage:
    """The bucket routes, registered on ``host``; projects and denied permissions are the host's."""

    def __init__(self, host: GoogleEmulator, projects: set[str], denied: set[str], regions: tuple[str, ...]) -> None:
        self.host, self.projects, self.denied = host, projects, denied
        self.locations = {r.upper() for r in regions} | set(MULTI_REGIONS) | set(DUAL_REGIONS)
        self.buckets: dict[str, Bucket] = {}
        self.page_size = 1000
        host.route("GET", BUCKETS, self._list)
        host.route("POST", BUCKETS, self._insert)
        host.route("GET", BUCKET, self._get)
        host.route("PATCH", BUCKET, self._patch)
        host.route("DELETE", BUCKET, self._delete)

    def add(self, bucket: Bucket) -> Bucket:
        with self.host.lock:
            self.projects.add(bucket.project)
            self.buckets[bucket.name] = bucket
        return bucket

    def reset(self) -> None:
        with self.host.lock:
            self.buckets.clear()
            self.page_size = 1000

    def _allow(self, request: Request, permission: str, project: str | None = None) -> None:
        """Refuse what is denied, or what the caller has no grant for on the project (the
        bucket's project for a bucket route)."""
        if project is None and "bucket" in request.params:
            with self.host.lock:
                found = self.buckets.get(request.params["bucket"])
            project = found.project if found else None
        with self.host.lock:
            if project is not None and project not in self.projects:
                raise _error(404, f"The requested project was not found: {project}", "notFound")
            granted = project is None or self.host.permits(request, project, permission)
            if permission in self.denied or not granted:
                raise _error(
                    403,
                    f"{request.principal} does not have {permission} access to the Google Cloud project. "
                    f"Permission '{permission}' denied on resource (or it may not exist).",
                    "forbidden",
                )

    def _bucket(self, request: Request) -> Bucket:
        with self.host.lock:
            found = self.buckets.get(request.params["bucket"])
        if found is None:
            raise _error(404, "The specified bucket does not exist.", "notFound")
        return found

    def _list(self, request: Request) -> Reply:
        project = request.query.get("project")
        if not project:
            raise _error(400, "Required parameter: project", "required")
        self._allow(request, "storage.buckets.list", project)
        prefix = request.query.get("prefix") or ""
        with self.host.lock:
            everything = sorted(
                (b for b in self.buckets.values() if b.project == project and b.name.startswith(prefix)),
                key=lambda b: b.name,
            )
        size = min(int(request.query.get("maxResults") or 1000), self.page_size)
        offset = int(request.query.get("pageToken") or 0)
        reply: dict[str, Any] = {
            "kind": "storage#buckets",
            "items": [b.view() for b in everything[offset : offset + size]],
        }
        if offset + size < len(everything):
            reply["nextPageToken"] = str(offset + size)
        return Reply(200, reply)

    def _insert(self, request: Request) -> Reply:
        project = str(request.query.get("project") or "")
        self._allow(request, "storage.buckets.create", project)
        body = request.json() or {}
        name = str(body.get("name") or "")
        if not _NAME.fullmatch(name) or name.startswith("goog") or "google" in name:
            raise _error(400, f"Invalid bucket name: '{name}'", "invalid")
        location = str(body.get("location") or "US").upper()
        if location not in self.locations:
            raise _error(400, f"Invalid location: '{location}'", "invalid")
        storage_class = str(body.get("storageClass") or "STANDARD").upper()
        if storage_class not in STORAGE_CLASSES:
            raise _error(400, f"Invalid storage class: '{storage_class}'", "invalid")
        with self.host.lock:
            taken = self.buckets.get(name)
            if taken is not None and taken.project == project:
                raise _error(409, "Your previous request to create the named bucket succeeded and you already own it.",
                             "conflict")  # fmt: skip
            if taken is not None:
                raise _error(409, "The requested bucket name is not available. The bucket namespace is shared "
                             "by all users of the system. Please select a different name and try again.",
                             "conflict")  # fmt: skip
            bucket = Bucket(project, name, location, storage_class, dict(body.get("labels") or {}))
            self.buckets[name] = bucket
        return Reply(200, bucket.view())

    def _get(self, request: Request) -> Reply:
        self._allow(request, "storage.buckets.get")
        return Reply(200, self._bucket(request).view())

    def _patch(self, request: Request) -> Reply:
        self._allow(request, "storage.buckets.update")
        bucket = self._bucket(request)
        changes = dict((request.json() or {}).get("labels") or {})
        with self.host.lock:
            for key, value in changes.items():
                if value is None:
                    bucket.labels.pop(key, None)
                else:
                    bucket.labels[key] = str(value)
            bucket.metageneration += 1
        return Reply(200, bucket.view())

    def _delete(self, request: Request) -> Reply:
        self._allow(request, "storage.buckets.delete")
        bucket = self._bucket(request)
        if bucket.objects:
            raise _error(409, "The bucket you tried to delete is not empty.", "conflict")
        with self.host.lock:
            self.buckets.pop(bucket.name, None)
        return Reply(204, None)
