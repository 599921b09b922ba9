"""Snapshots of RDS databases and EBS volumes through the AWS adapter, against the moto server."""

from __future__ import annotations

from typing import Any

import pytest

from clouds.aws import credentials as aws_credentials
from clouds.aws.provider import AwsCloud
from clouds.aws.snapshots import snapshot_identifier
from clouds.base import ProvisionRequest, ResourceType
from clouds.errors import ResourceNotFound, UnsupportedRequest

pytestmark = pytest.mark.integration
REGION = "eu-west-2"


def _cloud(moto_endpoint: str, keys: dict[str, str]) -> AwsCloud:
    return AwsCloud(keys, regions=(REGION,), endpoint_url=moto_endpoint)


def _client(moto_endpoint: str, keys: dict[str, str], service: str) -> Any:
    return aws_credentials.client(aws_credentials.session_for(keys, REGION), service, moto_endpoint)


def _database(cloud: AwsCloud, name: str = "bookings-db") -> str:
    made = cloud.provision(
        ProvisionRequest(
            name=name, resource_type=ResourceType.DATABASE, region=REGION, size="db.t3.micro",
            options={"subtype": "database", "engine": "postgres", "storage_gb": 20},
        )
    )  # fmt: skip
    return made.id


def _volume(cloud: AwsCloud) -> str:
    made = cloud.provision(
        ProvisionRequest(
            name="albums-disk", resource_type=ResourceType.STORAGE, region=REGION, size="30GB",
            options={"subtype": "volume"},
        )
    )  # fmt: skip
    return made.id


def test_a_database_snapshot_is_taken_under_an_rds_safe_identifier_and_a_repeat_finds_it(
    moto_endpoint: str, aws_keys: dict[str, str]
) -> None:
    cloud = _cloud(moto_endpoint, aws_keys)
    database = _database(cloud)
    # the name an ARN-derived caller might pass: colons and a leading digit are not RDS's
    taken = cloud.snapshot(database, name="1:bookings--db_v2-")
    assert taken.resource_id == database
    assert taken.id.startswith(f"arn:aws:rds:{REGION}:")
    assert taken.id.endswith(":snapshot:s-1-bookings-db-v2")
    assert taken.size_gb == 20
    again = cloud.snapshot(database, name="1:bookings--db_v2-")
    assert again.id == taken.id
    listed = _client(moto_endpoint, aws_keys, "rds").describe_db_snapshots(
        DBInstanceIdentifier="bookings-db", SnapshotType="manual"
    )
    assert [s["DBSnapshotIdentifier"] for s in listed["DBSnapshots"]] == ["s-1-bookings-db-v2"]


def test_a_snapshot_name_another_database_holds_is_refused(moto_endpoint: str, aws_keys: dict[str, str]) -> None:
    cloud = _cloud(moto_endpoint, aws_keys)
    first, second = _database(cloud, "first-db"), _database(cloud, "second-db")
    cloud.snapshot(first, name="nightly")
    with pytest.raises(UnsupportedRequest, match="another database"):
        cloud.snapshot(second, name="nightly")


def test_a_volume_snapshot_carries_its_name_tag_and_a_repeat_makes_no_second(
    moto_endpoint: str, aws_keys: dict[str, str]
) -> None:
    cloud = _cloud(moto_endpoint, aws_keys)
    volume = _volume(cloud)
    taken = cloud.snapshot(volume, name="albums-disk-v3")
    assert taken.id.startswith("snap-")
    assert (taken.resource_id, taken.size_gb) == (volume, 30)
    assert cloud.snapshot(volume, name="albums-disk-v3").id == taken.id
    ec2 = _client(moto_endpoint, aws_keys, "ec2")
    mine = ec2.describe_snapshots(OwnerIds=["self"], Filters=[{"Name": "volume-id", "Values": [volume]}])["Snapshots"]
    assert [(s["SnapshotId"], {t["Key"]: t["Value"] for t in s["Tags"]}["Name"]) for s in mine] == [
        (taken.id, "albums-disk-v3")
    ]


def test_a_bucket_or_a_group_cannot_be_snapshotted(moto_endpoint: str, aws_keys: dict[str, str]) -> None:
    cloud = _cloud(moto_endpoint, aws_keys)
    for resource_id in ("arn:aws:s3:::albums", f"arn:aws:autoscaling:{REGION}:1:x"):
        with pytest.raises(UnsupportedRequest, match="only an EBS volume, an RDS database or an EC2 instance"):
            cloud.snapshot(resource_id, name="nope")


def test_a_snapshot_of_something_gone_says_it_is_not_found(moto_endpoint: str, aws_keys: dict[str, str]) -> None:
    cloud = _cloud(moto_endpoint, aws_keys)
    with pytest.raises(ResourceNotFound):
        cloud.snapshot(f"arn:aws:rds:{REGION}:123456789012:db:missing-db", name="gone")
    with pytest.raises(ResourceNotFound):
        cloud.snapshot("vol-0123456789abcdef0", name="gone")
    with pytest.raises(ResourceNotFound):
        cloud.snapshot("i-0123456789abcdef0", name="gone")


def test_a_volume_snapshot_restores_into_a_new_volume_in_its_region(
    moto_endpoint: str, aws_keys: dict[str, str]
) -> None:
    cloud = _cloud(moto_endpoint, aws_keys)
    taken = cloud.snapshot(_volume(cloud), name="albums-disk-v3")
    restored = cloud.restore(taken.id, region=REGION, name="albums-disk-back", tags={"team": "weddings"})
    assert (restored.subtype, restored.region, restored.size) == ("volume", REGION, "30GB")
    assert restored.tags == {"Name": "albums-disk-back", "team": "weddings"}
    volumes = _client(moto_endpoint, aws_keys, "ec2").describe_volumes(VolumeIds=[restored.id])["Volumes"]
    assert volumes[0]["SnapshotId"] == taken.id


def test_snapshot_identifiers_follow_rds_rules() -> None:
    assert snapshot_identifier("bookings-db-v2") == "bookings-db-v2"
    assert snapshot_identifier("arn:aws:rds:eu-west-2:1:db:x-v1") == "arn-aws-rds-eu-west-2-1-db-x-v1"
    assert snapshot_identifier("--") == "snapshot"
    assert len(snapshot_identifier("a" * 400)) == 255
