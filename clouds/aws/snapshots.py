"""Snapshots of an account's data stores: RDS database instances (a manual DB snapshot) and EBS
volumes (an EBS snapshot carrying a ``Name`` tag).

Taking a snapshot is safe to repeat: RDS snapshot identifiers are unique per region, so a second
call with the same name finds the snapshot the first made (if it is of the same database); EBS
has no client token, so a snapshot of the volume already tagged with the name is taken as the
earlier call's. Restoring belongs to disaster recovery and is not part of this adapter yet.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from clouds.aws.api import AwsApi, error_code, identify, tag_list, translate
from clouds.aws.storage import Storage
from clouds.base import Snapshot
from clouds.errors import UnsupportedRequest

SNAPSHOT_NAME_RULE = (
    "an RDS snapshot identifier is 1-255 letters, digits and single hyphens, starting with a letter "
    "and not ending with a hyphen"
)
_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9-]+")


def snapshot_identifier(name: str) -> str:
    """``name`` in RDS's rules for a snapshot identifier: anything else becomes a hyphen, runs of
    hyphens one, a leading non-letter gets an ``s`` before it, at most 255 characters, no
    hyphen at either end."""
    text = re.sub(r"-{2,}", "-", _NOT_ALLOWED.sub("-", name)).strip("-")
    if not text[:1].isalpha():
        text = f"s-{text}" if text else "snapshot"
    return text[:255].rstrip("-")


def _created(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return datetime.now(UTC)  # still being created: RDS has no time for it yet


class Snapshots:
    """Snapshots of RDS databases and EBS volumes, named by the caller."""

    def __init__(self, api: AwsApi, storage: Storage) -> None:
        self.api = api
        self.storage = storage

    def take(self, resource_id: str, *, name: str) -> Snapshot:
        kind, region, identifier = identify(resource_id)
        if kind == "database":
            return self._database(resource_id, region or self.api.default_region, identifier, name)
        if kind == "volume":
            return self._volume(resource_id, self.storage.describe_volume(resource_id, region).region, name)
        raise UnsupportedRequest(
            f"only an RDS database or an EBS volume can be snapshotted on AWS, not {kind} {resource_id!r}"
        )

    def _database(self, resource_id: str, region: str, db: str, name: str) -> Snapshot:
        rds = self.api.client("rds", region)
        identifier = snapshot_identifier(name)
        try:
            made = rds.create_db_snapshot(DBSnapshotIdentifier=identifier, DBInstanceIdentifier=db)["DBSnapshot"]
        except ClientError as exc:
            if error_code(exc) != "DBSnapshotAlreadyExists":
                raise translate(exc, resource_id) from exc
            found = self.api.call(lambda: rds.describe_db_snapshots(DBSnapshotIdentifier=identifier))
            made = found["DBSnapshots"][0]
            if made.get("DBInstanceIdentifier") != db:
                raise UnsupportedRequest(
                    f"a snapshot named {identifier!r} exists in {region} of another database "
                    f"({made.get('DBInstanceIdentifier')}); choose another name"
                ) from None
        return Snapshot(
            id=made["DBSnapshotArn"],
            resource_id=resource_id,
            created_at=_created(made.get("SnapshotCreateTime")),
            size_gb=made.get("AllocatedStorage"),
        )

    def _volume(self, resource_id: str, region: str, name: str) -> Snapshot:
        ec2 = self.api.client("ec2", region)
        filters = [{"Name": "volume-id", "Values": [resource_id]}, {"Name": "tag:Name", "Values": [name]}]
        earlier = list(self.api.pages("ec2", region, "describe_snapshots", "Snapshots", OwnerIds=["self"],
                                      Filters=filters))  # fmt: skip
        if earlier:
            return _ebs(earlier[0], resource_id)
        tags: Mapping[str, str] = {"Name": name}
        made = self.api.call(
            lambda: ec2.create_snapshot(
                VolumeId=resource_id,
                Description=f"{name} (WedCloud)",
                TagSpecifications=[{"ResourceType": "snapshot", "Tags": tag_list(tags)}],
            ),
            resource_id,
        )
        return _ebs(made, resource_id)


def _ebs(item: Mapping[str, Any], volume_id: str) -> Snapshot:
    return Snapshot(
        id=item["SnapshotId"],
        resource_id=volume_id,
        created_at=_created(item.get("StartTime")),
        size_gb=item.get("VolumeSize"),
    )
