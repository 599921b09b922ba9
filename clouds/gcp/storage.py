"""Persistent disks (Compute Engine) and Cloud Storage buckets (google-cloud-storage, JSON API),
for the Google Cloud adapter, through the clients of :mod:`clouds.gcp.api`.

A bucket's name is global across Google Cloud, so a retried provision finds the bucket its
operation already made by its ``wedcloud-operation`` label. A bucket's region is its location in
lower case: a region (``europe-west2``), a dual-region (``eur4``) or a multi-region (``eu``); a
region filter keeps a bucket whose data lives in one of the regions asked for (a multi-region
covers every region of its continent). ``details["state_since"]`` of a disk is its last attach
while attached, its last detach when it is no earlier than its last attach (never its creation).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from google.api_core import exceptions as google_errors

from clouds.base import CloudResource, Problem, ProvisionRequest, ResourceState, ResourceType
from clouds.gcp.api import (
    GcpApi,
    bucket_name,
    created,
    last,
    request_labels,
    since,
    translate,
    user_labels,
    with_token,
    zonal_problems,
    zone_of,
)

_DISK_STATES = {
    "CREATING": ResourceState.PROVISIONING,
    "RESTORING": ResourceState.PROVISIONING,
    "READY": ResourceState.AVAILABLE,
    "DELETING": ResourceState.TERMINATED,
}
# the regions a multi-region (by prefix) or a predefined dual-region keeps a bucket's data in
_MULTI_REGIONS = {"eu": ("europe-",), "us": ("us-",), "asia": ("asia-",)}
_DUAL_REGIONS = {
    "eur4": ("europe-north1", "europe-west4"),
    "nam4": ("us-central1", "us-east1"),
    "asia1": ("asia-northeast1", "asia-northeast2"),
}
BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]")
BUCKET_NAME_RULE = (
    "a bucket name is 3-63 lowercase letters, digits, dashes, underscores and dots, starts and ends with a "
    "letter or digit, and neither starts with 'goog' nor contains 'google'"
)
STORAGE_CLASSES = ("STANDARD", "NEARLINE", "COLDLINE", "ARCHIVE")
DISK_TYPES = ("pd-standard", "pd-balanced", "pd-ssd", "pd-extreme")


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
    detach_time, attach_time = created(detached), created(attached)
    if detach_time is None or (attach_time is not None and attach_time > detach_time):
        return ""
    return detached


def _gigabytes(size: str) -> int | None:
    digits = size.upper().removesuffix("GB")
    return int(digits) if digits.isdigit() else None


def multi_region_of(region: str) -> str | None:
    """The multi-region whose data centres include ``region`` (``eu`` for ``europe-*``, ``us`` for
    ``us-*``, ``asia`` for ``asia-*``), None for a region outside them."""
    return next((place for place, prefixes in _MULTI_REGIONS.items() if region.startswith(prefixes)), None)


def covers(location: str, data_locations: Sequence[str] | None, wanted: set[str]) -> bool:
    """Whether a bucket at ``location`` keeps data in one of the ``wanted`` regions (any when none)."""
    place = location.lower()
    if not wanted:
        return True
    if data_locations:  # a configurable dual-region names its two regions
        return bool({d.lower() for d in data_locations} & wanted)
    if place in _MULTI_REGIONS:
        return any(region.startswith(_MULTI_REGIONS[place]) for region in wanted)
    return bool(set(_DUAL_REGIONS.get(place, (place,))) & wanted)


def volume_problems(request: ProvisionRequest) -> list[Problem]:
    problems = zonal_problems(request, "a volume")
    size = _gigabytes(request.size)
    if size is None or not 10 <= size <= 65536:
        problems.append(("size", "a persistent disk's size is 10GB to 65536GB, such as '100GB'"))
    if request.options.get("disk_type", "pd-balanced") not in DISK_TYPES:
        problems.append(("options", f"options.disk_type is one of {', '.join(DISK_TYPES)}"))
    return problems


def bucket_problems(request: ProvisionRequest) -> list[Problem]:
    problems: list[Problem] = []
    name = request.name
    if not BUCKET_NAME.fullmatch(name) or name.startswith("goog") or "google" in name:
        problems.append(("name", BUCKET_NAME_RULE))
    if request.size.upper() not in STORAGE_CLASSES:
        problems.append(("size", f"a bucket's size is its storage class: one of {', '.join(STORAGE_CLASSES)}"))
    return problems


class Storage:
    """The project's persistent disks and Cloud Storage buckets."""

    def __init__(self, api: GcpApi) -> None:
        self._api = api

    # -- persistent disks ----------------------------------------------------------------------
    def disk_to_cloud(self, disk: Any) -> CloudResource:
        zone = last(disk.zone)
        users = [str(u) for u in disk.users]
        return CloudResource(
            id=self._api.zonal_id(zone, disk.name, "disks"),
            name=disk.name,
            resource_type=ResourceType.STORAGE,
            subtype="volume",
            region=zone.rsplit("-", 1)[0],
            zone=zone,
            state=_DISK_STATES.get(str(disk.status), ResourceState.FAILED),
            account_id=self._api.project,
            size=f"{disk.size_gb}GB",
            tags=user_labels(disk.labels),
            created_at=created(disk.creation_timestamp),
            attached_to=users[0][users[0].index("projects/") :] if users else None,  # an instance's id
            details={
                "disk_type": last(disk.type_),
                "gce_status": str(disk.status),
                "disk_id": str(disk.id),
                **since(_disk_since(disk)),
            },
        )

    def describe_disk(self, resource_id: str) -> CloudResource:
        return self.disk_to_cloud(self._api.get(resource_id))

    def provision_volume(self, request: ProvisionRequest) -> CloudResource:
        zone = zone_of(request)
        disk = self._api.compute_v1.Disk(
            name=request.name,
            size_gb=_gigabytes(request.size),
            type_=f"zones/{zone}/diskTypes/{request.options.get('disk_type', 'pd-balanced')}",
            labels=request_labels(request),
        )
        resource_id = self._api.zonal_id(zone, request.name, "disks")
        token = request.options.get("client_token")
        return self._api.insert(resource_id, {"disk_resource": disk}, token, self.describe_disk)

    def tag_disk(self, resource_id: str, tags: Mapping[str, str]) -> CloudResource:
        current = self._api.get(resource_id)
        labels = with_token(tags, current.labels)
        zonal = self._api.compute_v1.ZoneSetLabelsRequest(labels=labels, label_fingerprint=current.label_fingerprint)
        self._api.call(resource_id, "set_labels", name_as="resource", zone_set_labels_request_resource=zonal)
        return self.describe_disk(resource_id)

    # -- buckets -------------------------------------------------------------------------------
    def bucket_to_cloud(self, bucket: Any) -> CloudResource:
        location = str(bucket.location or "")
        return CloudResource(
            id=f"projects/_/buckets/{bucket.name}",
            name=bucket.name,
            resource_type=ResourceType.STORAGE,
            subtype="bucket",
            region=location.lower(),
            state=ResourceState.AVAILABLE,
            account_id=self._api.project,
            size=bucket.storage_class,
            tags=user_labels(bucket.labels or {}),
            created_at=bucket.time_created,
            details={"location": location, "location_type": bucket.location_type},
        )

    def bucket(self, resource_id: str) -> Any:
        try:
            return self._api.storage.get_bucket(bucket_name(resource_id))
        except google_errors.GoogleAPICallError as exc:
            raise translate(exc, resource_id) from exc

    def describe_bucket(self, resource_id: str) -> CloudResource:
        return self.bucket_to_cloud(self.bucket(resource_id))

    def provision_bucket(self, request: ProvisionRequest) -> CloudResource:
        bucket = self._api.storage.bucket(request.name)
        bucket.storage_class = request.size.upper()
        bucket.labels = request_labels(request)
        resource_id = f"projects/_/buckets/{request.name}"
        try:
            location = request.options.get("location") or request.region  # e.g. a multi-region: EU
            made = self._api.storage.create_bucket(bucket, project=self._api.project, location=location)
        except google_errors.Conflict:
            try:
                labels = self._api.storage.get_bucket(request.name).labels or {}
            except google_errors.GoogleAPICallError:
                labels = {}  # another project's bucket, which this one may not read
            taken = f"a bucket named {request.name!r} already exists (bucket names are global across Google Cloud)"
            token = request.options.get("client_token")
            return self._api.retried(resource_id, token, labels, taken, self.describe_bucket)
        except google_errors.GoogleAPICallError as exc:
            raise translate(exc) from exc
        return self.bucket_to_cloud(made)

    def tag_bucket(self, resource_id: str, tags: Mapping[str, str]) -> CloudResource:
        bucket = self.bucket(resource_id)
        bucket.labels = with_token(tags, bucket.labels or {})
        try:
            bucket.patch(retry=self._api.retry)
        except google_errors.GoogleAPICallError as exc:
            raise translate(exc, resource_id) from exc
        return self.bucket_to_cloud(bucket)

    def delete_bucket(self, resource_id: str, name: str) -> None:
        try:
            self._api.storage.bucket(name).delete(retry=self._api.retry)
        except google_errors.GoogleAPICallError as exc:
            raise translate(exc, resource_id) from exc
