"""The moto inventory that drills are checked against notices what appears and what changes."""

from __future__ import annotations

import pytest

from clouds.aws import credentials as aws_credentials
from tests.clouds.moto_inventory import moto_inventory

pytestmark = pytest.mark.integration
REGIONS = ("eu-west-2", "eu-west-1")


def test_the_inventory_notices_a_new_volume_and_a_changed_tag(moto_endpoint: str, aws_keys: dict[str, str]) -> None:
    ec2 = aws_credentials.client(aws_credentials.session_for(aws_keys, "eu-west-1"), "ec2", moto_endpoint)
    before = moto_inventory(moto_endpoint, REGIONS, keys=aws_keys)
    assert moto_inventory(moto_endpoint, REGIONS, keys=aws_keys) == before
    volume = ec2.create_volume(AvailabilityZone="eu-west-1a", Size=8)["VolumeId"]
    with_volume = moto_inventory(moto_endpoint, REGIONS, keys=aws_keys)
    assert with_volume != before
    assert [v["id"] for v in with_volume["volumes"] if v not in before["volumes"]] == [volume]
    ec2.create_tags(Resources=[volume], Tags=[{"Key": "wedcloud:drill", "Value": "d-1"}])
    assert moto_inventory(moto_endpoint, REGIONS, keys=aws_keys) != with_volume
    ec2.delete_volume(VolumeId=volume)
    assert moto_inventory(moto_endpoint, REGIONS, keys=aws_keys) == before


def test_the_inventory_leaves_out_terminated_instances(moto_endpoint: str, aws_keys: dict[str, str]) -> None:
    ec2 = aws_credentials.client(aws_credentials.session_for(aws_keys, "eu-west-2"), "ec2", moto_endpoint)
    before = moto_inventory(moto_endpoint, REGIONS, keys=aws_keys)
    started = ec2.run_instances(ImageId="ami-12c6146b", InstanceType="t3.micro", MinCount=1, MaxCount=1)
    instance = started["Instances"][0]["InstanceId"]
    assert [i["id"] for i in moto_inventory(moto_endpoint, REGIONS, keys=aws_keys)["instances"]] == [instance]
    ec2.terminate_instances(InstanceIds=[instance])
    assert moto_inventory(moto_endpoint, REGIONS, keys=aws_keys) == before
