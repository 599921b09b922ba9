"""Cross-region copies of snapshots: EBS CopySnapshot, RDS CopyDBSnapshot and EC2 CopyImage, each
called in the region the copy is stored in, naming the source's region.

A copy is named by the caller: its ``Name`` tag (EBS), its identifier (RDS, in RDS's rules) or its
AMI name (EC2). A repeated call finds the copy by that name in the target region and returns it;
a name already holding a copy of another snapshot is refused. Each copy carries the source
snapshot's id and the source's resource as ``wedcloud:`` tags (EBS and AMI copies keep neither,
and a copy must say what it holds), and an AMI copy the source's instance type.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from clouds.aws.api import AwsApi, client_token, error_code, tag_dict, tag_list, translate
from clouds.aws.snapshots import (
    INSTANCE_TYPE_TAG,
    SOURCE_RESOURCE_TAG,
    SOURCE_SNAPSHOT_TAG,
    Snapshots,
    db_snapshot,
    ebs_snapshot,
    image_name,
    image_snapshot,
    snapshot_identifier,
)
from clouds.base import Snapshot
from clouds.errors import ResourceNotFound, UnsupportedRequest


class SnapshotCopies:
    """Copies of the account's snapshots into another region."""

    def __init__(self, api: AwsApi, snapshots: Snapshots) -> None:
        self.api = api
        self.snapshots = snapshots

    def copy(self, snapshot_id: str, *, region: str, name: str, tags: Mapping[str, str] | None = None) -> Snapshot:
        found = self.snapshots.find(snapshot_id)
        if found is None:
            raise ResourceNotFound(snapshot_id)
        kind, source_region, item = found
        source = self.snapshots.describe(snapshot_id)
        own = {"Name": name, **(tags or {}), SOURCE_SNAPSHOT_TAG: source.id, SOURCE_RESOURCE_TAG: source.resource_id}
        if kind == "database":
            return self._database(source, source_region, region, name, own)
        if kind == "volume":
            return self._volume(source, source_region, region, name, own)
        instance_type = tag_dict(item.get("Tags")).get(INSTANCE_TYPE_TAG, "")
        return self._image(source, source_region, region, name, {**own, INSTANCE_TYPE_TAG: instance_type})

    def _volume(self, source: Snapshot, source_region: str, region: str, name: str, tags: dict[str, str]) -> Snapshot:
        filters = [{"Name": "tag:Name", "Values": [name]}]
        earlier = list(self.api.pages("ec2", region, "describe_snapshots", "Snapshots", OwnerIds=["self"],
                                      Filters=filters))  # fmt: skip
        if not earlier:
            ec2 = self.api.client("ec2", region)
            made = self.api.call(
                lambda: ec2.copy_snapshot(
                    SourceSnapshotId=source.id, SourceRegion=source_region, Description=f"{name} (WedCloud)",
                    TagSpecifications=[{"ResourceType": "snapshot", "Tags": tag_list(tags)}],
                ),
                source.id,
            )  # fmt: skip
            earlier = list(self.api.pages("ec2", region, "describe_snapshots", "Snapshots",
                                          SnapshotIds=[made["SnapshotId"]]))  # fmt: skip
        return _theirs(ebs_snapshot(earlier[0], region), source, region)

    def _database(self, source: Snapshot, source_region: str, region: str, name: str, tags: dict[str, str]) -> Snapshot:
        rds = self.api.client("rds", region)
        identifier = snapshot_identifier(name)
        arguments: dict[str, Any] = {
            "SourceDBSnapshotIdentifier": source.id,  # the ARN: another region's snapshot is named by it
            "TargetDBSnapshotIdentifier": identifier,
            "Tags": tag_list(tags),
        }
        if source_region != region:  # boto3 signs the source region's PreSignedUrl from it
            arguments["SourceRegion"] = source_region
        try:
            made = rds.copy_db_snapshot(**arguments)["DBSnapshot"]
        except ClientError as exc:
            if error_code(exc) != "DBSnapshotAlreadyExists":
                raise translate(exc, source.id) from exc
            partition, account = source.id.split(":")[1], source.id.split(":")[4]
            found = self.snapshots.find(f"arn:{partition}:rds:{region}:{account}:snapshot:{identifier}")
            if found is None:
                raise translate(exc, source.id) from exc
            made = found[2]
        except BotoCoreError as exc:
            raise translate(exc, source.id) from exc
        return _theirs(db_snapshot(made, region), source, region)

    def _image(self, source: Snapshot, source_region: str, region: str, name: str, tags: dict[str, str]) -> Snapshot:
        wanted = image_name(name)
        earlier = self.snapshots.own_images(region, [{"Name": "name", "Values": [wanted]}])
        if not earlier:
            ec2 = self.api.client("ec2", region)
            token = client_token(source.id, region, name)
            copied = self.api.call(
                lambda: ec2.copy_image(
                    SourceImageId=source.id, SourceRegion=source_region, Name=wanted,
                    Description=f"{name} (WedCloud)", ClientToken=token,
                    TagSpecifications=[{"ResourceType": "image", "Tags": tag_list(tags)}],
                ),
                source.id,
            )  # fmt: skip
            # tagging again is harmless where CopyImage tagged it, and needed where it did not (moto)
            self.api.tag_ec2(copied["ImageId"], region, [], tags)
            earlier = list(self.api.pages("ec2", region, "describe_images", "Images", ImageIds=[copied["ImageId"]]))
        return _theirs(image_snapshot(earlier[0], region), source, region)


def _theirs(copy: Snapshot, source: Snapshot, region: str) -> Snapshot:
    """The copy, if it is one of ``source``; a name holding a copy of something else is refused."""
    if copy.source_snapshot_id != source.id:
        raise UnsupportedRequest(
            f"{copy.name!r} in {region} is a copy of another snapshot ({copy.source_snapshot_id or 'none'}), "
            f"not of {source.id}; choose another name"
        )
    return copy
