"""Persistent disk snapshots, their copies and restores, for the Google Cloud adapter: Compute
Engine's global snapshots through the clients of :mod:`clouds.gcp.api`.

Where a snapshot is kept. Compute Engine keeps a (globally scoped) snapshot in one Cloud Storage
location and can restore it into a disk in any region or zone. The adapter asks for the
multi-region whose data centres include the disk's region: ``eu`` for ``europe-*``, ``us`` for
``us-*``, ``asia`` for ``asia-*`` (:func:`clouds.gcp.storage.multi_region_of`), so the snapshot
outlives the loss of that region. A disk in a region outside those three (``northamerica-*``,
``australia-*``, ``me-*`` ...) has its snapshot kept in its own region: which multi-region is
"nearest" to those is Compute Engine's choice, not one its documentation fixes.
``Snapshot.region`` is the storage location (``eu``), lower case.

Copies. Compute Engine cannot copy a snapshot, nor move it to another location: the only way to
another location is a new snapshot of a disk. So ``copy_snapshot`` answers the snapshot itself
when its storage location covers ``region`` (the multi-region holding it, or the region itself),
unchanged: its name and tags are the source's (a caller must not delete it as if it were a
copy). Otherwise it makes a real copy, kept in ``region``'s multi-region (or ``region``): a
staging disk made from the snapshot in a zone of ``region`` (``pd-standard``, carrying ``tags``),
a snapshot of that disk named ``name``, then the staging disk deleted once the copy is whole (a
repeated call deletes one left behind); the copy's ``source_snapshot_id`` is the snapshot it was
made from, its ``resource_id`` and kind the source's.

Instances. A snapshot of an instance is a snapshot of its boot disk (other disks are not in it),
of kind ``instance``, with the instance's machine type in a label. Restoring it makes a disk named
as the instance, then the instance booting from it (``autoDelete``: deleting the instance deletes
the disk), with ``size`` or the label's machine type, on the region's ``default`` network, or
on an isolated network's subnetwork (a drill's, :mod:`clouds.gcp.networks`); with no access
config either way (no external address).

Labels. Tags are labels, as everywhere in this adapter (``wedcloud:<key>`` is the label
``wedcloud-<key>``), on snapshots, copies, staging disks and restored disks and instances. The
adapter's own bookkeeping is in labels named ``wedcloud-snapshot-*`` (kind, the source's name and
zone, the machine type, the snapshot a copy was made from): they are not tags, and no tag may be
one of them.

States. ``READY`` is ``completed``, ``FAILED`` is ``failed``, the rest (``CREATING``,
``UPLOADING``, ``DELETING``) ``pending``. Compute Engine records no completion time: a snapshot
holds its disk's data as it was when it was created, so ``completed_at`` is its
``creationTimestamp`` once it is ``READY``. ``snapshot`` waits on the insert's operation, as
every change of this adapter does.

Safe to repeat. Snapshot names are unique per project: a ``snapshot`` or ``copy_snapshot`` whose
name is taken answers the snapshot of that name when its labels say it is of the same resource
(and, for a copy, of the same source snapshot), and refuses otherwise. ``restore`` looks for its
disk (and instance) by name in the zone first and keeps what a previous call made from the same
snapshot (booting from that disk). A restore or copy uses the first zone, in name order, that
Compute Engine lists for the region, so a repeated call looks in the same zone.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from google.api_core import exceptions as google_errors

from clouds.base import CloudResource, Snapshot
from clouds.errors import CloudError, InvalidStateTransition, ResourceNotFound, UnsupportedRequest
from clouds.gcp.api import (
    GCE_NAME,
    GCE_NAME_RULE,
    NOUNS,
    GcpApi,
    collection_of,
    created,
    labels_of,
    last,
    translate,
    user_labels,
    zonal_parts,
)
from clouds.gcp.storage import covers, multi_region_of

if TYPE_CHECKING:
    from clouds.gcp.compute import Compute
    from clouds.gcp.storage import Storage

OWN = "wedcloud-snapshot-"  # the adapter's own labels on snapshots
KIND, SOURCE, SOURCE_ZONE, MACHINE_TYPE, COPY_OF = (
    f"{OWN}kind", f"{OWN}source", f"{OWN}zone", f"{OWN}machine-type", f"{OWN}copy-of",
)  # fmt: skip
IDENTITY = (KIND, SOURCE, SOURCE_ZONE, COPY_OF)  # what makes two snapshots of the same thing
_SNAPSHOT_ID = re.compile(r"projects/(?P<project>[^/]+)/global/snapshots/(?P<name>[^/]+)$")
_STATES = {"READY": "completed", "FAILED": "failed"}
STAGING_DISK_TYPE, RESTORED_DISK_TYPE = "pd-standard", "pd-balanced"


def storage_location(region: str) -> str:
    """Where a snapshot of a disk in ``region`` is kept: its multi-region, else the region."""
    return multi_region_of(region) or region


def _path(url: str) -> str:
    """``projects/...`` of a Compute Engine URL (the form of the adapter's ids)."""
    return url[url.index("projects/") :] if "projects/" in url else url


def _staging_name(name: str) -> str:
    return f"{name[:54].rstrip('-')}-staging"


def _origin(source: Any) -> dict[str, str]:
    """The labels saying what ``source`` is a snapshot of, for a copy of it to say the same."""
    labels = {key: source.labels[key] for key in (KIND, SOURCE, SOURCE_ZONE, MACHINE_TYPE) if key in source.labels}
    if SOURCE not in labels and "/zones/" in str(source.source_disk):  # a snapshot WedCloud did not take
        _, zone, name = zonal_parts(_path(str(source.source_disk)), "disks")
        labels |= {SOURCE: name, SOURCE_ZONE: zone}
    return labels


def _covered(found: Any, region: str) -> bool:
    return any(covers(str(place).lower(), None, {region}) for place in found.storage_locations)


class Snapshots:
    """The project's snapshots, and the disks and instances restored from them."""

    def __init__(self, api: GcpApi, compute: Compute, storage: Storage) -> None:
        self._api, self._compute, self._storage = api, compute, storage

    def snapshot_id(self, name: str) -> str:
        return f"projects/{self._api.project}/global/snapshots/{name}"

    def _get(self, snapshot_id: str) -> Any:
        found = _SNAPSHOT_ID.search(snapshot_id)
        if found is None:
            raise ResourceNotFound(snapshot_id)
        try:
            return self._api.snapshots.get(project=found["project"], snapshot=found["name"])
        except google_errors.GoogleAPICallError as exc:
            raise translate(exc, snapshot_id) from exc

    def to_snapshot(self, found: Any) -> Snapshot:
        labels = dict(found.labels)
        kind = labels.get(KIND, "volume")
        state = _STATES.get(str(found.status), "pending")
        when = created(str(found.creation_timestamp))
        if when is None:
            raise CloudError(f"Compute Engine answered snapshot {found.name} without its creationTimestamp")
        if labels.get(SOURCE) and labels.get(SOURCE_ZONE):
            collection = "instances" if kind == "instance" else "disks"
            resource_id = self._api.zonal_id(labels[SOURCE_ZONE], labels[SOURCE], collection)
        else:  # a snapshot WedCloud did not take
            resource_id = _path(str(found.source_disk))
        locations = [str(place).lower() for place in found.storage_locations]
        return Snapshot(
            id=self.snapshot_id(found.name),
            resource_id=resource_id,
            created_at=when,
            size_gb=int(found.disk_size_gb) or None,
            region=locations[0] if locations else None,
            completed_at=when if state == "completed" else None,
            state=state,
            name=found.name,
            tags=user_labels({k: v for k, v in labels.items() if not k.startswith(OWN)}),
            source_snapshot_id=self.snapshot_id(labels[COPY_OF]) if labels.get(COPY_OF) else None,
            kind=kind,
        )

    @staticmethod
    def _labels(tags: Mapping[str, str] | None) -> dict[str, str]:
        labels = labels_of(tags or {})
        if any(key.startswith(OWN) for key in labels):
            raise UnsupportedRequest(f"tags: wedcloud:{OWN.removeprefix('wedcloud-')}* tags are WedCloud's own")
        return labels

    @staticmethod
    def _named(name: str, noun: str) -> None:
        if not GCE_NAME.fullmatch(name):
            raise UnsupportedRequest(f"name: {noun} name {GCE_NAME_RULE}")

    # -- snapshots -----------------------------------------------------------------------------
    def snapshot(self, resource_id: str, *, name: str, tags: Mapping[str, str] | None = None) -> Snapshot:
        labels = self._labels(tags)
        collection = collection_of(resource_id)
        if collection == "instances":
            instance = self._api.get(resource_id)
            boot = next((disk for disk in instance.disks if disk.boot and disk.source), None)
            if boot is None:
                raise UnsupportedRequest(f"instance {instance.name} has no boot persistent disk to snapshot")
            disk_id = _path(str(boot.source))
            labels |= {KIND: "instance", SOURCE: instance.name, MACHINE_TYPE: last(instance.machine_type)}
        elif collection == "disks":
            disk_id = resource_id
            labels |= {KIND: "volume", SOURCE: zonal_parts(resource_id, "disks")[2]}
        else:
            raise UnsupportedRequest(f"{NOUNS[collection]} cannot be snapshotted: snapshot a disk or an instance")
        zone = zonal_parts(disk_id, "disks")[1]
        labels[SOURCE_ZONE] = zone
        return self._take(name, disk_id, storage_location(zone.rsplit("-", 1)[0]), labels, resource_id)

    def _take(self, name: str, disk_id: str, location: str, labels: dict[str, str], source_id: str) -> Snapshot:
        """A snapshot of a disk kept in ``location``, or the one a previous call took."""
        self._named(name, "a snapshot")
        body = self._api.compute_v1.Snapshot(
            name=name, source_disk=disk_id, storage_locations=[location], labels=labels
        )
        snapshot_id = self.snapshot_id(name)
        try:
            operation = self._api.snapshots.insert_unary(project=self._api.project, snapshot_resource=body)
        except google_errors.Conflict:
            return self._earlier(snapshot_id, labels)
        except google_errors.GoogleAPICallError as exc:
            raise translate(exc, source_id) from exc
        self._api.wait(operation, snapshot_id)
        return self.describe(snapshot_id)

    def _earlier(self, snapshot_id: str, labels: Mapping[str, str]) -> Snapshot:
        """The snapshot a previous call took under this name; refused when it is of something else."""
        found = self._get(snapshot_id)
        if any(found.labels.get(key) != labels.get(key) for key in IDENTITY):
            raise UnsupportedRequest(
                f"a snapshot named {found.name!r} already exists, of another resource "
                "(snapshot names are unique per project)"
            )
        return self.to_snapshot(found)

    def copy(self, snapshot_id: str, *, region: str, name: str, tags: Mapping[str, str] | None = None) -> Snapshot:
        source = self._get(snapshot_id)
        if _covered(source, region):
            return self.to_snapshot(source)  # already kept where ``region`` restores from
        if str(source.status) != "READY":
            raise InvalidStateTransition(snapshot_id, str(source.status).lower(), "copy")
        labels = self._labels(tags) | _origin(source) | {COPY_OF: source.name}
        staging = self._api.zonal_id(self.zone_in(region), _staging_name(name), "disks")
        try:
            copy = self._earlier(self.snapshot_id(name), labels)  # a repeated call: made already
        except ResourceNotFound:
            self._disk_from(source, staging, self._labels(tags), STAGING_DISK_TYPE)
            copy = self._take(name, staging, storage_location(region), labels, snapshot_id)
        if copy.state != "pending" and self._found(staging) is not None:
            self._api.call(staging, "delete")  # else the copy still reads it: a repeated call deletes it
        return copy

    def describe(self, snapshot_id: str) -> Snapshot:
        return self.to_snapshot(self._get(snapshot_id))

    def list(self, *, region: str | None = None, tags: Mapping[str, str] | None = None) -> Iterator[Snapshot]:
        """The project's snapshots kept where ``region`` restores from, carrying every tag of ``tags``
        (a label filter in the list request, checked again here); every page."""
        wanted = labels_of(tags or {})
        request: dict[str, Any] = {"project": self._api.project, "max_results": 500}
        if wanted:
            request["filter"] = " ".join(f'(labels.{key} = "{value}")' for key, value in sorted(wanted.items()))
        try:
            for found in self._api.snapshots.list(request=request):
                if any(found.labels.get(key) != value for key, value in wanted.items()):
                    continue
                if region is None or _covered(found, region):
                    yield self.to_snapshot(found)
        except google_errors.GoogleAPICallError as exc:
            raise translate(exc) from exc

    def delete(self, snapshot_id: str) -> None:
        found = _SNAPSHOT_ID.search(snapshot_id)
        if found is None:
            return  # no snapshot has such an id: gone already
        try:
            operation = self._api.snapshots.delete_unary(project=found["project"], snapshot=found["name"])
        except google_errors.NotFound:
            return
        except google_errors.GoogleAPICallError as exc:
            raise translate(exc, snapshot_id) from exc
        self._api.wait(operation, snapshot_id)

    # -- restores ------------------------------------------------------------------------------
    def restore(
        self,
        snapshot_id: str,
        *,
        region: str,
        name: str,
        tags: Mapping[str, str] | None = None,
        size: str | None = None,
        network: CloudResource | None = None,
    ) -> CloudResource:
        """``network``: the isolated network an instance's interface goes on (its subnetwork)."""
        labels = self._labels(tags)
        source = self._get(snapshot_id)
        if str(source.status) != "READY":
            raise InvalidStateTransition(snapshot_id, str(source.status).lower(), "restore from")
        disk_id = self._api.zonal_id(self.zone_in(region), name, "disks")
        if source.labels.get(KIND) == "instance":
            self._named(name, "an instance")
            machine_type = size or source.labels.get(MACHINE_TYPE)
            if not machine_type:
                raise UnsupportedRequest("size: restoring an instance needs its machine type, such as 'e2-medium'")
            self._disk_from(source, disk_id, labels, RESTORED_DISK_TYPE)
            nic = {"network": "global/networks/default"}
            if network is not None:  # no access config either way: no external address
                nic = {"network": network.id, "subnetwork": str(network.details["subnetwork"])}
            return self._instance_on(disk_id, machine_type, labels, nic)
        self._named(name, "a volume")
        digits = (size or "").upper().removesuffix("GB")
        if size is not None and not digits.isdigit():
            raise UnsupportedRequest(f"size: a restored disk's size is its capacity, such as '200GB', not {size!r}")
        self._disk_from(source, disk_id, labels, RESTORED_DISK_TYPE, int(digits) if size else None)
        return self._storage.describe_disk(disk_id)

    def zone_in(self, region: str) -> str:
        """The first zone, in name order, that Compute Engine lists for ``region``."""
        try:
            found = self._api.regions_client.get(project=self._api.project, region=region)
        except google_errors.NotFound:
            raise UnsupportedRequest(f"region: {region!r} is not a Compute Engine region") from None
        except google_errors.GoogleAPICallError as exc:
            raise translate(exc) from exc
        zones = sorted(last(zone) for zone in found.zones)
        if not zones:
            raise UnsupportedRequest(f"region: Compute Engine lists no zone in {region}")
        return zones[0]

    def _found(self, resource_id: str) -> Any:
        """A zonal resource as the SDK answers it, or None when there is none."""
        try:
            return self._api.get(resource_id)
        except ResourceNotFound:
            return None

    def _disk_from(
        self, source: Any, disk_id: str, labels: dict[str, str], disk_type: str, size_gb: int | None = None
    ) -> None:
        """A disk made from the snapshot ``source``, or the one a previous call made."""
        project, zone, name = zonal_parts(disk_id, "disks")
        existing = self._found(disk_id)
        if existing is None:
            fields: dict[str, Any] = {"size_gb": size_gb} if size_gb else {}
            disk = self._api.compute_v1.Disk(
                name=name, source_snapshot=f"global/snapshots/{source.name}", labels=labels,
                type_=f"zones/{zone}/diskTypes/{disk_type}", **fields,
            )  # fmt: skip
            try:
                operation = self._api.disks.insert_unary(project=project, zone=zone, disk_resource=disk)
            except google_errors.Conflict:
                existing = self._api.get(disk_id)  # made meanwhile
            except google_errors.GoogleAPICallError as exc:
                raise translate(exc, self.snapshot_id(source.name)) from exc
            else:
                self._api.wait(operation, disk_id)
                return
        if last(existing.source_snapshot) != source.name:
            raise UnsupportedRequest(f"a disk named {name!r} already exists in {zone}, not made from {source.name}")

    def _instance_on(
        self, disk_id: str, machine_type: str, labels: dict[str, str], nic: dict[str, str]
    ) -> CloudResource:
        """An instance named as its boot disk ``disk_id``, or the one a previous call made."""
        project, zone, name = zonal_parts(disk_id, "disks")
        instance_id = self._api.zonal_id(zone, name)
        existing = self._found(instance_id)
        if existing is None:
            instance = self._api.compute_v1.Instance(
                name=name, machine_type=f"zones/{zone}/machineTypes/{machine_type}", labels=labels,
                disks=[{"boot": True, "auto_delete": True, "source": disk_id}],
                network_interfaces=[nic],
            )  # fmt: skip
            try:
                operation = self._api.instances.insert_unary(project=project, zone=zone, instance_resource=instance)
            except google_errors.Conflict:
                existing = self._api.get(instance_id)  # made meanwhile
            except google_errors.GoogleAPICallError as exc:
                raise translate(exc, instance_id) from exc
            else:
                self._api.wait(operation, instance_id)
                return self._compute.describe_instance(instance_id)
        if not any(disk.boot and _path(str(disk.source)) == disk_id for disk in existing.disks):
            raise UnsupportedRequest(f"an instance named {name!r} already exists in {zone}, booting another disk")
        return self._compute.describe_instance(instance_id)
