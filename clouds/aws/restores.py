"""New resources from snapshots: an EBS volume (CreateVolume), an RDS database
(RestoreDBInstanceFromDBSnapshot) or an EC2 instance (RunInstances from the AMI), in the region
the snapshot is stored in (copy it there first: :mod:`clouds.aws.snapshot_copies`).

Each carries ``Name`` and the caller's tags (an instance's disks too), and a repeated call returns
what the first made: a volume of the snapshot with that ``Name`` tag, the database of that
identifier (which must carry the ``wedcloud:restored-from`` tag naming the same snapshot), an
instance of the image with that ``Name`` tag that is not terminated. Volumes and instances are
also asked for with a client token derived from the snapshot, the region and the name, so that
EC2 itself makes no second one when a retry races the first call.

An instance's disks follow its image's block device mapping: a disk the source instance kept on
termination outlives the restored instance too, and carries the same tags, so that whoever
cleans up by tag finds it.

Given an isolated network (:mod:`clouds.aws.networks`, a drill's), an instance is launched in its
first subnet with its closed security group, and a database is restored into its DB subnet group
with that security group and ``PubliclyAccessible=False``. Without one, both land where AWS puts
them by default (the region's default VPC): a failover's copies, which are meant to serve.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from clouds.aws.api import AwsApi, client_token, error_code, tag_dict, tag_list, translate
from clouds.aws.compute import Compute
from clouds.aws.databases import Databases
from clouds.aws.networks import Networks
from clouds.aws.snapshots import INSTANCE_TYPE_TAG, Snapshots, snapshot_identifier
from clouds.aws.storage import Storage
from clouds.base import CloudResource
from clouds.errors import ResourceNotFound, UnsupportedRequest

RESTORED_FROM_TAG = "wedcloud:restored-from"  # a restored database's snapshot (RDS does not keep it)
_LIVE_VOLUMES = ["creating", "available", "in-use"]
_LIVE_INSTANCES = ["pending", "running", "stopping", "stopped"]


def database_identifier(name: str) -> str:
    """``name`` in RDS's rules for a DB instance identifier (1-63 letters, digits and single
    hyphens, starting with a letter, not ending with a hyphen)."""
    return snapshot_identifier(name)[:63].rstrip("-")


class Restores:
    """Volumes, databases and instances made from the account's snapshots."""

    def __init__(
        self, api: AwsApi, snapshots: Snapshots, storage: Storage, databases: Databases, compute: Compute,
        networks: Networks,
    ) -> None:  # fmt: skip
        self.api = api
        self.networks = networks
        self.snapshots = snapshots
        self.storage = storage
        self.databases = databases
        self.compute = compute

    def restore(
        self, snapshot_id: str, *, region: str, name: str, tags: Mapping[str, str] | None = None,
        size: str | None = None, network: str | None = None,
    ) -> CloudResource:  # fmt: skip
        found = self.snapshots.find(snapshot_id)
        if found is None:
            raise ResourceNotFound(snapshot_id)
        kind, stored_in, item = found
        if stored_in != region:
            raise UnsupportedRequest(
                f"the snapshot {snapshot_id} is stored in {stored_in}: copy it to {region} first (copy_snapshot), "
                "then restore the copy"
            )
        own = {"Name": name, **(tags or {})}
        placement = self.networks.describe(region, network).details if network else None
        token = client_token(item.get("SnapshotId") or item.get("ImageId") or snapshot_id, region, name)
        if kind == "volume":
            return self._volume(item, region, name, own, size, token)
        if kind == "database":
            return self._database(item, region, name, own, size, placement)
        return self._instance(item, region, name, own, size, token, placement)

    def _volume(
        self, item: Mapping[str, Any], region: str, name: str, tags: dict[str, str], size: str | None, token: str
    ) -> CloudResource:
        """A gp3 volume of the snapshot in the region's first available zone; ``size`` (``"50GB"``)
        makes it larger than the snapshot."""
        snapshot = item["SnapshotId"]
        filters = [{"Name": "snapshot-id", "Values": [snapshot]}, {"Name": "tag:Name", "Values": [name]},
                   {"Name": "status", "Values": _LIVE_VOLUMES}]  # fmt: skip
        if earlier := list(self.storage.volumes(region, Filters=filters)):
            return earlier[0]
        arguments: dict[str, Any] = {
            "SnapshotId": snapshot, "AvailabilityZone": self._zone(region), "VolumeType": "gp3", "ClientToken": token,
            "TagSpecifications": [{"ResourceType": "volume", "Tags": tag_list(tags)}],
        }  # fmt: skip
        if size:
            if not size.upper().removesuffix("GB").isdigit():
                raise UnsupportedRequest(f"a volume's size is its capacity in GB, such as 50GB, not {size!r}")
            arguments["Size"] = int(size.upper().removesuffix("GB"))
        ec2 = self.api.client("ec2", region)
        made = self.api.call(lambda: ec2.create_volume(**arguments), snapshot)
        return next(self.storage.volumes(region, VolumeIds=[made["VolumeId"]]))

    def _zone(self, region: str) -> str:
        ec2 = self.api.client("ec2", region)
        answer = self.api.call(
            lambda: ec2.describe_availability_zones(Filters=[{"Name": "state", "Values": ["available"]}])
        )
        zones = sorted(str(zone["ZoneName"]) for zone in answer["AvailabilityZones"])
        if not zones:
            raise UnsupportedRequest(f"{region} has no availability zone available")
        return zones[0]

    def _database(
        self, item: Mapping[str, Any], region: str, name: str, tags: dict[str, str], size: str | None,
        placement: Mapping[str, Any] | None,
    ) -> CloudResource:  # fmt: skip
        """A DB instance of the snapshot, of class ``size`` or (RDS's default) the source's. Its
        snapshots carry its tags (CopyTagsToSnapshot), so the final snapshot RDS takes when it is
        deleted can be told apart, and deleted with it, by whoever made the copy."""
        rds = self.api.client("rds", region)
        identifier, snapshot = database_identifier(name), item["DBSnapshotArn"]
        arguments: dict[str, Any] = {
            "DBInstanceIdentifier": identifier,
            "DBSnapshotIdentifier": item["DBSnapshotIdentifier"],
            "Tags": tag_list({**tags, RESTORED_FROM_TAG: snapshot}),
            "CopyTagsToSnapshot": True,
        }
        if size:
            arguments["DBInstanceClass"] = size
        if placement is not None:
            arguments |= {"DBSubnetGroupName": placement["db_subnet_group"], "PubliclyAccessible": False,
                          "VpcSecurityGroupIds": [placement["security_group"]]}  # fmt: skip
        try:
            rds.restore_db_instance_from_db_snapshot(**arguments)
        except ClientError as exc:
            if error_code(exc) != "DBInstanceAlreadyExists":
                raise translate(exc, snapshot) from exc
            existing = self.databases.database(region, identifier)
            if existing.tags.get(RESTORED_FROM_TAG) != snapshot:
                raise UnsupportedRequest(
                    f"a database named {identifier!r} exists in {region} that is no restore of {snapshot}; "
                    "choose another name"
                ) from None
            return existing
        except BotoCoreError as exc:
            raise translate(exc, snapshot) from exc
        return self.databases.database(region, identifier)

    def _instance(
        self, item: Mapping[str, Any], region: str, name: str, tags: dict[str, str], size: str | None, token: str,
        placement: Mapping[str, Any] | None,
    ) -> CloudResource:  # fmt: skip
        """An instance of the image, of type ``size`` or the type its source instance had."""
        image = item["ImageId"]
        instance_type = size or tag_dict(item.get("Tags")).get(INSTANCE_TYPE_TAG)
        if not instance_type:
            raise UnsupportedRequest(f"the image {image} does not say its instance type: give the restore a size")
        filters = [{"Name": "image-id", "Values": [image]}, {"Name": "tag:Name", "Values": [name]},
                   {"Name": "instance-state-name", "Values": _LIVE_INSTANCES}]  # fmt: skip
        if earlier := list(self.compute.instances(region, Filters=filters)):
            return earlier[0]
        ec2 = self.api.client("ec2", region)
        where = ({"SubnetId": placement["subnets"][0], "SecurityGroupIds": [placement["security_group"]]}
                 if placement is not None else {})  # fmt: skip
        answer = self.api.call(
            lambda: ec2.run_instances(
                ImageId=image, InstanceType=instance_type, MinCount=1, MaxCount=1, ClientToken=token,
                TagSpecifications=[{"ResourceType": kind, "Tags": tag_list(tags)} for kind in ("instance", "volume")],
                **where,
            ),
            image,
        )  # fmt: skip
        return next(self.compute.instances(region, InstanceIds=[answer["Instances"][0]["InstanceId"]]))
