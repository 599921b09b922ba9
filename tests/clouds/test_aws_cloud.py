"""The AWS adapter through boto3 against a moto server over HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from clouds import aws
from clouds.aws_cloud import AwsCloud
from clouds.base import ProvisionRequest, ResourceState, ResourceType, ScaleRequest
from clouds.errors import ResourceNotFound, UnsupportedRequest

pytestmark = pytest.mark.integration

AMI = "ami-12c6146b"  # one of the images moto ships


def _cloud(moto_endpoint: str, keys: dict[str, str], regions: tuple[str, ...] = ("eu-west-2",)) -> AwsCloud:
    return AwsCloud(keys, regions=regions, endpoint_url=moto_endpoint)


def _ec2(moto_endpoint: str, keys: dict[str, str], region: str = "eu-west-2") -> Any:
    return aws.client(aws.session_for(keys, region), "ec2", moto_endpoint)


def test_inventory_follows_every_page_of_instances_and_lists_volumes_and_buckets(
    moto_endpoint: str, aws_keys: dict[str, str]
) -> None:
    ec2 = _ec2(moto_endpoint, aws_keys)
    ec2.run_instances(ImageId=AMI, InstanceType="t3.micro", MinCount=130, MaxCount=130)
    ec2.create_volume(AvailabilityZone="eu-west-2a", Size=20, VolumeType="gp3")
    s3 = aws.client(aws.session_for(aws_keys, "eu-west-2"), "s3", moto_endpoint)
    s3.create_bucket(Bucket="wedsync-photos", CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})
    aws.client(aws.session_for(aws_keys, "us-east-1"), "s3", moto_endpoint).create_bucket(Bucket="elsewhere")
    found = list(_cloud(moto_endpoint, aws_keys).list_resources())
    instances = [r for r in found if r.subtype == "instance"]
    assert len(instances) == 130
    assert {r.state for r in instances} == {ResourceState.RUNNING}
    assert {r.size for r in instances} == {"t3.micro"}
    volumes = [r for r in found if r.subtype == "volume"]
    assert [v.size for v in volumes if v.attached_to is None] == ["20GB"]
    assert {v.attached_to for v in volumes if v.attached_to} == {i.id for i in instances}  # their root volumes
    assert [r.name for r in found if r.subtype == "bucket"] == ["wedsync-photos"]


def test_connection_names_the_identity_and_finds_every_permission(moto_endpoint: str, aws_keys: dict[str, str]) -> None:
    check = _cloud(moto_endpoint, aws_keys).test_connection()
    assert check.ok, check.detail
    assert check.identity.startswith("arn:aws:")
    assert list(check.missing_permissions) == []


def test_regions_come_from_ec2(moto_endpoint: str, aws_keys: dict[str, str]) -> None:
    regions = {r.id: r.geography for r in _cloud(moto_endpoint, aws_keys).list_regions()}
    assert regions["eu-west-2"] == "Europe"
    assert regions["us-east-1"] == "North America"


def test_an_instance_is_provisioned_stopped_resized_started_and_terminated(
    moto_endpoint: str, aws_keys: dict[str, str]
) -> None:
    cloud = _cloud(moto_endpoint, aws_keys)
    made = cloud.provision(
        ProvisionRequest(
            name="web-1", resource_type=ResourceType.COMPUTE, region="eu-west-2", size="t3.small", image=AMI,
            tags={"team": "weddings"},
        )
    )  # fmt: skip
    assert (made.name, made.size, made.tags["team"]) == ("web-1", "t3.small", "weddings")
    assert cloud.stop(made.id).state == ResourceState.STOPPED
    resized = cloud.scale(made.id, ScaleRequest(size="t3.large"))
    assert (resized.size, resized.state) == ("t3.large", ResourceState.STOPPED)
    assert cloud.start(made.id).state == ResourceState.RUNNING
    assert cloud.terminate(made.id).state == ResourceState.TERMINATED


def test_a_retried_provision_with_the_same_client_token_makes_one_instance(
    moto_endpoint: str, aws_keys: dict[str, str]
) -> None:
    cloud = _cloud(moto_endpoint, aws_keys)
    request = ProvisionRequest(
        name="once", resource_type=ResourceType.COMPUTE, region="eu-west-2", size="t3.micro", image=AMI,
        options={"client_token": "op-123"},
    )  # fmt: skip
    first, second = cloud.provision(request), cloud.provision(request)
    assert first.id == second.id
    assert len([r for r in cloud.list_resources() if r.subtype == "instance"]) == 1


def test_unknown_instances_and_unsupported_kinds_are_refused(moto_endpoint: str, aws_keys: dict[str, str]) -> None:
    cloud = _cloud(moto_endpoint, aws_keys)
    with pytest.raises(ResourceNotFound):
        cloud.stop("i-0123456789abcdef0")
    with pytest.raises(UnsupportedRequest, match="AMI"):
        cloud.provision(
            ProvisionRequest(name="x", resource_type=ResourceType.COMPUTE, region="eu-west-2", size="t3.micro")
        )
