"""Auto Scaling groups and instance resizes through boto3 against the moto server: what a
retried provision, a retag and a resize of a running instance do."""

from __future__ import annotations

import pytest

from clouds.aws import credentials as aws_credentials
from clouds.aws.provider import AwsCloud
from clouds.base import ProvisionRequest, ResourceState, ResourceType, ScaleRequest
from clouds.errors import ResourceNotFound, UnsupportedRequest

pytestmark = pytest.mark.integration

AMI = "ami-12c6146b"  # one of the images moto ships


def _cloud(moto_endpoint: str, keys: dict[str, str]) -> AwsCloud:
    aws_credentials.client(aws_credentials.session_for(keys, "eu-west-2"), "ec2", moto_endpoint).create_launch_template(
        LaunchTemplateName="web", LaunchTemplateData={"ImageId": AMI, "InstanceType": "t3.small"}
    )
    return AwsCloud(keys, regions=("eu-west-2",), endpoint_url=moto_endpoint)


def _group(name: str = "web-fleet", **options: object) -> ProvisionRequest:
    return ProvisionRequest(
        name=name, resource_type=ResourceType.COMPUTE, region="eu-west-2", size="t3.small",
        options={"subtype": "instance_group", "launch_template": "web", "min": 1, "max": 3, **options},
        tags={"team": "weddings", "cost-centre": "cc-1"},
    )  # fmt: skip


def test_a_retried_group_provision_with_the_same_token_finds_the_first_group(
    moto_endpoint: str, aws_keys: dict[str, str]
) -> None:
    cloud = _cloud(moto_endpoint, aws_keys)
    first = cloud.provision(_group(client_token="op-7"))
    second = cloud.provision(_group(client_token="op-7"))
    assert second.id == first.id
    assert second.tags["wedcloud:operation"] == "op-7"
    assert [r.id for r in cloud.list_resources() if r.subtype == "instance_group"] == [first.id]


def test_retagging_a_group_replaces_its_own_tags_and_keeps_name_and_operation(
    moto_endpoint: str, aws_keys: dict[str, str]
) -> None:
    cloud = _cloud(moto_endpoint, aws_keys)
    made = cloud.provision(_group(client_token="op-8"))
    retagged = cloud.tag(made.id, {"team": "venues", "env": "prod"})
    assert retagged.tags == {"Name": "web-fleet", "wedcloud:operation": "op-8", "team": "venues", "env": "prod"}
    assert cloud.tag(made.id, {}).tags == {"Name": "web-fleet", "wedcloud:operation": "op-8"}


def test_a_running_instance_is_stopped_resized_and_started_again(moto_endpoint: str, aws_keys: dict[str, str]) -> None:
    cloud = _cloud(moto_endpoint, aws_keys)
    made = cloud.provision(
        ProvisionRequest(name="web-1", resource_type=ResourceType.COMPUTE, region="eu-west-2", size="t3.small",
                         image=AMI)
    )  # fmt: skip
    cloud.start(made.id)
    resized = cloud.scale(made.id, ScaleRequest(size="t3.large"))
    assert (resized.size, resized.state) == ("t3.large", ResourceState.RUNNING)


def test_scaling_asks_for_what_the_kind_supports(moto_endpoint: str, aws_keys: dict[str, str]) -> None:
    cloud = _cloud(moto_endpoint, aws_keys)
    instance = cloud.provision(
        ProvisionRequest(name="web-2", resource_type=ResourceType.COMPUTE, region="eu-west-2", size="t3.small",
                         image=AMI)
    )  # fmt: skip
    with pytest.raises(UnsupportedRequest, match="only an Auto Scaling group scales horizontally"):
        cloud.scale(instance.id, ScaleRequest(capacity=2))
    with pytest.raises(UnsupportedRequest, match="needs a new size or a capacity"):
        cloud.scale(instance.id, ScaleRequest())
    group = cloud.provision(_group())
    cloud.terminate(group.id)
    with pytest.raises(ResourceNotFound):
        cloud.scale(group.id, ScaleRequest(capacity=2))
