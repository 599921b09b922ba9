"""Snapshots of an account's data stores: EBS volumes (an EBS snapshot), RDS database instances
(a manual DB snapshot) and EC2 instances (an AMI, whose EBS snapshots hold the instance's disks):
taken, described, listed and deleted. Copies are :mod:`clouds.aws.snapshot_copies`, restores
:mod:`clouds.aws.restores`.

Ids are what AWS names them by: ``snap-...`` (EBS), the DB snapshot's ARN (RDS) and ``ami-...``
(an instance's image). An RDS ARN names its region; ``snap-`` and ``ami-`` ids do not, so they
are looked for in the adapter's regions, one after the other. An EC2 ARN
(``arn:aws:ec2:<region>::snapshot/snap-...`` or ``...::image/ami-...``) is accepted too and
reaches a region outside the adapter's list.

Every call is safe to repeat. RDS snapshot identifiers and AMI names are unique per region, so a
second call with the same name finds what the first made (and refuses a name that another
resource's snapshot holds); EBS has no client token, so a snapshot of the volume already tagged
with the name is taken as the earlier call's.

What WedCloud needs later and AWS does not keep is written as ``wedcloud:`` tags on the snapshot
(:data:`BOOKKEEPING_TAGS`): the source of a copy and an AMI's instance type. They, and ``Name``
(which is :attr:`Snapshot.name`), are not in :attr:`Snapshot.tags`.

Times: ``created_at`` is EBS's ``StartTime`` (the moment of the data), RDS's
``SnapshotCreateTime`` or an AMI's ``CreationDate``; ``completed_at`` is set once the snapshot is
whole (EBS ``completed``, RDS and AMI ``available``): EBS's ``CompletionTime`` where it reports
one, otherwise the creation time, since neither RDS nor EC2 images report a completion time.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from functools import partial
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from clouds.aws.api import AwsApi, error_code, identify, tag_dict, tag_list, translate
from clouds.aws.compute import Compute
from clouds.aws.storage import Storage
from clouds.base import Snapshot
from clouds.errors import ResourceNotFound, UnsupportedRequest

SOURCE_SNAPSHOT_TAG = "wedcloud:source-snapshot"  # a copy's source snapshot id
SOURCE_RESOURCE_TAG = "wedcloud:source-resource"  # the disk, database or instance a copy holds
INSTANCE_TYPE_TAG = "wedcloud:instance-type"  # an AMI's source instance type, for its restore
BOOKKEEPING_TAGS = frozenset({"Name", SOURCE_SNAPSHOT_TAG, SOURCE_RESOURCE_TAG, INSTANCE_TYPE_TAG})

SNAPSHOT_NAME_RULE = (
    "an RDS snapshot identifier is 1-255 letters, digits and single hyphens, starting with a letter "
    "and not ending with a hyphen"
)
_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9-]+")
_NOT_IN_IMAGE_NAMES = re.compile(r"[^A-Za-z0-9()\[\] ./'@_-]+")
_RDS_SNAPSHOT_ARN = re.compile(r"arn:[^:]+:rds:([^:]+):[^:]*:snapshot:(.+)")
_EC2_ARN = re.compile(r"arn:[^:]+:ec2:([^:]+):[^:]*:(snapshot|image)/((?:snap|ami)-[0-9a-f]+)")
_NOT_FOUND = {"InvalidSnapshot.NotFound", "InvalidAMIID.NotFound", "InvalidAMIID.Unavailable",
              "DBSnapshotNotFound", "DBSnapshotNotFoundFault"}  # fmt: skip
_EBS_STATES = {"completed": "completed", "pending": "pending", "recovering": "pending"}
_AMI_STATES = {"available": "completed", "pending": "pending", "transient": "pending"}


def snapshot_identifier(name: str) -> str:
    """``name`` in RDS's rules for a snapshot identifier: anything else becomes a hyphen, runs of
    hyphens one, a leading non-letter gets an ``s`` before it, at most 255 characters, no
    hyphen at either end."""
    text = re.sub(r"-{2,}", "-", _NOT_ALLOWED.sub("-", name)).strip("-")
    if not text[:1].isalpha():
        text = f"s-{text}" if text else "snapshot"
    return text[:255].rstrip("-")


def image_name(name: str) -> str:
    """``name`` in EC2's rules for an AMI name: 3-128 letters, digits, spaces and ``()[]./-'@_``."""
    text = _NOT_IN_IMAGE_NAMES.sub("-", name).strip()[:128]
    return text if len(text) >= 3 else f"{text}---"[:3]


def parse_snapshot_id(snapshot_id: str) -> tuple[str, str, str]:
    """(kind, region, AWS's own id) of a snapshot id; the region of a bare ``snap-``/``ami-`` id
    is not in it (""). An RDS snapshot's own id is its identifier."""
    if found := _RDS_SNAPSHOT_ARN.fullmatch(snapshot_id):
        return "database", found[1], found[2]
    if found := _EC2_ARN.fullmatch(snapshot_id):
        return ("volume" if found[2] == "snapshot" else "instance"), found[1], found[3]
    if snapshot_id.startswith("snap-"):
        return "volume", "", snapshot_id
    if snapshot_id.startswith("ami-"):
        return "instance", "", snapshot_id
    raise UnsupportedRequest(
        f"{snapshot_id!r} is not an AWS snapshot id: snap-... (EBS), ami-... (an instance's image) or an RDS "
        "snapshot ARN"
    )


def _moment(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    if isinstance(value, str) and value:  # DescribeImages answers CreationDate as ISO 8601 text
        return datetime.fromisoformat(value).astimezone(UTC)
    return None


def _created(value: Any) -> datetime:
    return _moment(value) or datetime.now(UTC)  # still being created: AWS has no time for it yet


def _snapshot(*, id: str, resource_id: str, region: str, state: str, kind: str,
              created: Any, completed: Any = None, size_gb: int | None = None, name: str | None = None,
              source: str | None = None, tags: Mapping[str, str]) -> Snapshot:  # fmt: skip
    created_at = _created(created)
    return Snapshot(
        id=id,
        resource_id=tags.get(SOURCE_RESOURCE_TAG, resource_id),
        created_at=created_at,
        size_gb=size_gb,
        region=region,
        completed_at=(_moment(completed) or created_at) if state == "completed" else None,
        state=state,
        name=tags.get("Name", name),
        tags={k: v for k, v in tags.items() if k not in BOOKKEEPING_TAGS},
        source_snapshot_id=tags.get(SOURCE_SNAPSHOT_TAG, source),
        kind=kind,
    )


def ebs_snapshot(item: Mapping[str, Any], region: str) -> Snapshot:
    """An EBS snapshot as a Snapshot (a copy's own VolumeId is meaningless: its source is a tag)."""
    return _snapshot(
        id=item["SnapshotId"], resource_id=item.get("VolumeId", ""), region=region, kind="volume",
        state=_EBS_STATES.get(item.get("State", ""), "failed"), created=item.get("StartTime"),
        completed=item.get("CompletionTime"), size_gb=item.get("VolumeSize"), tags=tag_dict(item.get("Tags")),
    )  # fmt: skip


def db_snapshot(item: Mapping[str, Any], region: str) -> Snapshot:
    """A manual DB snapshot as a Snapshot; its resource is the DB instance's ARN."""
    status = str(item.get("Status", ""))
    failed = "fail" in status or "incompatible" in status
    state = "completed" if status == "available" else "failed" if failed else "pending"
    arn = item["DBSnapshotArn"].split(":")
    source_region = item.get("SourceRegion") or region
    database = f"arn:{arn[1]}:rds:{source_region}:{arn[4]}:db:{item.get('DBInstanceIdentifier', '')}"
    return _snapshot(
        id=item["DBSnapshotArn"], resource_id=database, region=region, kind="database", state=state,
        created=item.get("SnapshotCreateTime"), size_gb=item.get("AllocatedStorage"),
        name=item["DBSnapshotIdentifier"], source=item.get("SourceDBSnapshotIdentifier"),
        tags=tag_dict(item.get("TagList")),
    )  # fmt: skip


def image_snapshot(item: Mapping[str, Any], region: str) -> Snapshot:
    """An AMI as a Snapshot of its instance; its size is its disks' total."""
    disks = [mapping["Ebs"] for mapping in item.get("BlockDeviceMappings") or () if "Ebs" in mapping]
    return _snapshot(
        id=item["ImageId"], resource_id=item.get("SourceInstanceId") or "", region=region, kind="instance",
        state=_AMI_STATES.get(item.get("State", ""), "failed"), created=item.get("CreationDate"),
        size_gb=sum(int(disk.get("VolumeSize") or 0) for disk in disks) or None, name=item.get("Name"),
        source=item.get("SourceImageId"), tags=tag_dict(item.get("Tags")),
    )  # fmt: skip


def backing_snapshots(image: Mapping[str, Any]) -> list[str]:
    """The EBS snapshots holding an AMI's disks."""
    mappings = image.get("BlockDeviceMappings") or ()
    return [m["Ebs"]["SnapshotId"] for m in mappings if m.get("Ebs", {}).get("SnapshotId")]


def tag_filters(tags: Mapping[str, str] | None) -> list[dict[str, Any]]:
    """EC2 filters keeping what carries every one of ``tags``."""
    return [{"Name": f"tag:{key}", "Values": [value]} for key, value in (tags or {}).items()]


class Snapshots:
    """Snapshots of EBS volumes, RDS databases and EC2 instances, named by the caller."""

    def __init__(self, api: AwsApi, storage: Storage, compute: Compute) -> None:
        self.api = api
        self.storage = storage
        self.compute = compute

    # -- taking one ------------------------------------------------------------------------
    def take(self, resource_id: str, *, name: str, tags: Mapping[str, str] | None = None) -> Snapshot:
        kind, region, identifier = identify(resource_id)
        own = {"Name": name, **(tags or {})}
        if kind == "database":
            return self._database(resource_id, region or self.api.default_region, identifier, name, own)
        if kind == "volume":
            return self._volume(resource_id, self.storage.describe_volume(resource_id, region).region, name, own)
        if kind == "instance":
            return self._instance(resource_id, name, own)
        raise UnsupportedRequest(
            f"only an EBS volume, an RDS database or an EC2 instance can be snapshotted on AWS, not {kind} "
            f"{resource_id!r}"
        )

    def _database(self, resource_id: str, region: str, db: str, name: str, tags: Mapping[str, str]) -> Snapshot:
        rds = self.api.client("rds", region)
        identifier = snapshot_identifier(name)
        try:
            made = rds.create_db_snapshot(
                DBSnapshotIdentifier=identifier, DBInstanceIdentifier=db, Tags=tag_list(tags)
            )["DBSnapshot"]
        except ClientError as exc:
            if error_code(exc) != "DBSnapshotAlreadyExists":
                raise translate(exc, resource_id) from exc
            made = self._db_snapshot(region, identifier, resource_id)
            if made.get("DBInstanceIdentifier") != db:
                raise UnsupportedRequest(
                    f"a snapshot named {identifier!r} exists in {region} of another database "
                    f"({made.get('DBInstanceIdentifier')}); choose another name"
                ) from None
        except BotoCoreError as exc:
            raise translate(exc, resource_id) from exc
        return db_snapshot(made, region)

    def _volume(self, resource_id: str, region: str, name: str, tags: Mapping[str, str]) -> Snapshot:
        ec2 = self.api.client("ec2", region)
        filters = [{"Name": "volume-id", "Values": [resource_id]}, {"Name": "tag:Name", "Values": [name]}]
        earlier = list(self.api.pages("ec2", region, "describe_snapshots", "Snapshots", OwnerIds=["self"],
                                      Filters=filters))  # fmt: skip
        if earlier:
            return ebs_snapshot(earlier[0], region)
        made = self.api.call(
            lambda: ec2.create_snapshot(
                VolumeId=resource_id,
                Description=f"{name} (WedCloud)",
                TagSpecifications=[{"ResourceType": "snapshot", "Tags": tag_list(tags)}],
            ),
            resource_id,
        )
        return ebs_snapshot(made, region)

    def _instance(self, resource_id: str, name: str, tags: Mapping[str, str]) -> Snapshot:
        """An AMI of the running instance, without rebooting it (its disks as they are: crash-consistent)."""
        instance = self.compute.describe_instance(resource_id)
        region, wanted = instance.region, image_name(name)
        earlier = self.own_images(region, [{"Name": "name", "Values": [wanted]}])
        if not earlier:
            tags = {**tags, INSTANCE_TYPE_TAG: instance.size or "", SOURCE_RESOURCE_TAG: resource_id}
            ec2 = self.api.client("ec2", region)
            try:
                ec2.create_image(
                    InstanceId=resource_id, Name=wanted, Description=f"{name} (WedCloud)", NoReboot=True,
                    TagSpecifications=[{"ResourceType": "image", "Tags": tag_list(tags)}],
                )  # fmt: skip
            except ClientError as exc:
                if error_code(exc) != "InvalidAMIName.Duplicate":  # made meanwhile by another call
                    raise translate(exc, resource_id) from exc
            except BotoCoreError as exc:
                raise translate(exc, resource_id) from exc
            earlier = self.own_images(region, [{"Name": "name", "Values": [wanted]}])
        found = image_snapshot(earlier[0], region)
        if found.resource_id != resource_id:
            raise UnsupportedRequest(
                f"an image named {wanted!r} exists in {region} of another instance ({found.resource_id}); "
                "choose another name"
            )
        return found

    # -- reading ---------------------------------------------------------------------------
    def own_images(self, region: str, filters: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return list(self.api.pages("ec2", region, "describe_images", "Images", Owners=["self"], Filters=filters))

    def _db_snapshot(self, region: str, identifier: str, snapshot_id: str) -> dict[str, Any]:
        rds = self.api.client("rds", region)
        found = self.api.call(lambda: rds.describe_db_snapshots(DBSnapshotIdentifier=identifier), snapshot_id)
        if not found["DBSnapshots"]:
            raise ResourceNotFound(snapshot_id)
        return dict(found["DBSnapshots"][0])

    def find(self, snapshot_id: str) -> tuple[str, str, dict[str, Any]] | None:
        """(kind, region, AWS's description) of a snapshot, or None when no region holds it."""
        kind, region, own_id = parse_snapshot_id(snapshot_id)
        for candidate in [region] if region else self.api.regions:
            try:
                if kind == "database":
                    return kind, candidate, self._db_snapshot(candidate, own_id, snapshot_id)
                ec2 = self.api.client("ec2", candidate)
                if kind == "volume":
                    items = ec2.describe_snapshots(SnapshotIds=[own_id])["Snapshots"]
                else:
                    items = ec2.describe_images(ImageIds=[own_id])["Images"]
            except ResourceNotFound:
                continue
            except ClientError as exc:
                if error_code(exc) in _NOT_FOUND:
                    continue
                raise translate(exc, snapshot_id) from exc
            except BotoCoreError as exc:
                raise translate(exc, snapshot_id) from exc
            if items:
                return kind, candidate, items[0]
        return None

    def describe(self, snapshot_id: str) -> Snapshot:
        found = self.find(snapshot_id)
        if found is None:
            raise ResourceNotFound(snapshot_id)
        kind, region, item = found
        return {"volume": ebs_snapshot, "database": db_snapshot, "instance": image_snapshot}[kind](item, region)

    def list_snapshots(self, *, region: str | None = None, tags: Mapping[str, str] | None = None) -> Iterator[Snapshot]:
        """The account's AMIs, EBS snapshots (but those holding an AMI's disks: they go with it)
        and manual RDS snapshots, in ``region`` or every region of the adapter."""
        wanted, account = dict(tags or {}), self.api.account_id()
        for name in [region] if region else self.api.regions:
            images = self.own_images(name, [])
            held = {snapshot for image in images for snapshot in backing_snapshots(image)}
            yield from (image_snapshot(i, name) for i in images if wanted.items() <= tag_dict(i.get("Tags")).items())
            # owner-id as well: moto ignores OwnerIds and lists the snapshots of Amazon's AMIs too
            owned = [{"Name": "owner-id", "Values": [account]}, *tag_filters(wanted)]
            for item in self.api.pages("ec2", name, "describe_snapshots", "Snapshots", OwnerIds=["self"],
                                       Filters=owned):  # fmt: skip
                if item["SnapshotId"] not in held:
                    yield ebs_snapshot(item, name)
            for item in self.api.pages("rds", name, "describe_db_snapshots", "DBSnapshots", SnapshotType="manual"):
                if wanted.items() <= tag_dict(item.get("TagList")).items():
                    yield db_snapshot(item, name)

    # -- deleting --------------------------------------------------------------------------
    def delete(self, snapshot_id: str) -> None:
        """Delete a snapshot; an AMI is deregistered and its disks' snapshots deleted with it
        (those another AMI also uses stay). One that is gone already is no error."""
        found = self.find(snapshot_id)
        if found is None:
            return
        kind, region, item = found
        if kind == "database":
            rds = self.api.client("rds", region)
            _gone_is_fine(partial(rds.delete_db_snapshot, DBSnapshotIdentifier=item["DBSnapshotIdentifier"]))
            return
        ec2 = self.api.client("ec2", region)
        if kind == "volume":
            _gone_is_fine(partial(ec2.delete_snapshot, SnapshotId=item["SnapshotId"]))
            return
        # DeleteAssociatedSnapshots makes AWS delete the disks' snapshots in the same call; the
        # deletes after it find them gone there, and do the work where it is ignored (moto).
        _gone_is_fine(partial(ec2.deregister_image, ImageId=item["ImageId"], DeleteAssociatedSnapshots=True))
        for disk in backing_snapshots(item):
            _gone_is_fine(partial(ec2.delete_snapshot, SnapshotId=disk), in_use_is_fine=True)


def _gone_is_fine(call: Callable[[], Any], *, in_use_is_fine: bool = False) -> None:
    """Make the call; what it would delete being gone already is no error, nor (for an AMI's
    disk snapshots) one another AMI still holds."""
    try:
        call()
    except ClientError as exc:
        if error_code(exc) in _NOT_FOUND or (in_use_is_fine and error_code(exc) == "InvalidSnapshot.InUse"):
            return
        raise translate(exc) from exc
    except BotoCoreError as exc:
        raise translate(exc) from exc
