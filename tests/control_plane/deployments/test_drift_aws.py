"""Drift of a deployment on AWS (a moto server over HTTP, through boto3), on SQLite and
PostgreSQL: an Auto Scaling group reports its capacity as its size, changes it with its load
and launches instances that carry its tags, and a bucket keeps its storage class aside; none of
that is drift. An instance resized and a group retagged behind WedCloud's back, and an instance
launched by hand with the deployment's tag, are."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from clouds.aws import credentials as aws_credentials
from clouds.base import ProvisionRequest, ResourceType
from control_plane.crypto import load_cipher
from control_plane.deployments import drift
from control_plane.deployments.spec import DEPLOYMENT_TAG, VERSION_TAG
from control_plane.services.providers import adapter_for, create_cloud_provider
from control_plane.store.db import make_sessionmaker
from control_plane.store.deployment_models import Deployment, DeploymentResource
from control_plane.store.models import Provider
from wedcloud.home import HomeLayout

pytestmark = [pytest.mark.integration]
REGION = "eu-west-2"
AMI = "ami-12c6146b"


def test_an_aws_deployment_drifts_only_where_its_cloud_was_changed(
    engine: Engine, tmp_path: Path, moto_endpoint: str, aws_keys: dict[str, str]
) -> None:
    layout = HomeLayout(tmp_path / "home").ensure()
    cipher = load_cipher(layout.root)
    sessions = make_sessionmaker(engine)
    with sessions.begin() as session:
        provider_id = create_cloud_provider(
            session, cipher, kind="aws", name="wedsync-aws", default_region=REGION, credentials=aws_keys,
            settings={"endpoint_url": moto_endpoint},
        ).id  # fmt: skip

    def adapters(provider: Provider, session: Any) -> Any:
        return adapter_for(provider, session=session, layout=layout, cipher=cipher)

    boto = aws_credentials.session_for(aws_keys, REGION)
    ec2 = aws_credentials.client(boto, "ec2", moto_endpoint)
    autoscaling = aws_credentials.client(boto, "autoscaling", moto_endpoint)
    ec2.create_launch_template(
        LaunchTemplateName="web", LaunchTemplateData={"ImageId": AMI, "InstanceType": "t3.small"}
    )
    deployment_id = uuid.uuid4()
    attribution = {DEPLOYMENT_TAG: str(deployment_id), VERSION_TAG: "1"}
    stack = {
        "web": ("instance_group", "t3.small", {"subtype": "instance_group", "launch_template": "web", "min": 1,
                                               "max": 4, "desired": 2}, None),
        "cache": ("instance", "t3.micro", {"subtype": "instance"}, AMI),
        "files": ("bucket", "STANDARD", {"subtype": "bucket"}, None),
    }  # fmt: skip
    ids: dict[str, str] = {}
    with sessions.begin() as session:
        session.add(Deployment(id=deployment_id, name="booking", status="deployed", created_by="test"))
        provider = session.get(Provider, provider_id)
        assert provider is not None
        cloud = adapters(provider, session)
        for logical, (subtype, size, options, image) in stack.items():
            tags = {"app": "booking"}
            name = f"booking-{logical}-{deployment_id.hex[:8]}"
            kind = ResourceType.STORAGE if subtype == "bucket" else ResourceType.COMPUTE
            request = ProvisionRequest(name=name, resource_type=kind, region=REGION, size=size, image=image,
                                       tags={**tags, **attribution}, options=options)  # fmt: skip
            made = cloud.provision(request)
            ids[logical] = made.id
            # recorded as the engine records it: the cloud's size, but a group's instance type, and the
            # template's tags
            held = size if subtype == "instance_group" else made.size or size
            session.add(DeploymentResource(deployment_id=deployment_id, logical_name=logical, provider_id=provider_id,
                                           cloud_id=made.id, subtype=subtype, region=REGION, size=held, tags=tags,
                                           version=1))  # fmt: skip

    def check() -> dict[str, Any]:
        with sessions.begin() as session:
            return drift.check(session, deployment_id, adapters)

    group = autoscaling.describe_auto_scaling_groups()["AutoScalingGroups"][0]
    assert len(group["Instances"]) == 2  # launched with the group's tags, the deployment's among them
    clean = check()
    assert (clean["drifted"], clean["missing"], clean["changed"], clean["extra"], clean["errors"]) == (
        False, [], [], [], [])  # fmt: skip

    ec2.stop_instances(InstanceIds=[ids["cache"]])
    ec2.modify_instance_attribute(InstanceId=ids["cache"], InstanceType={"Value": "t3.large"})
    autoscaling.create_or_update_tags(Tags=[{"ResourceId": group["AutoScalingGroupName"],
                                             "ResourceType": "auto-scaling-group", "Key": "app", "Value": "shop",
                                             "PropagateAtLaunch": True}])  # fmt: skip
    # scaling policies move a group's capacity with its load: not drift
    autoscaling.set_desired_capacity(AutoScalingGroupName=group["AutoScalingGroupName"], DesiredCapacity=3)
    orphan = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, InstanceType="t3.micro", TagSpecifications=[
        {"ResourceType": "instance", "Tags": [{"Key": DEPLOYMENT_TAG, "Value": str(deployment_id)}]}])  # fmt: skip
    orphan_id = orphan["Instances"][0]["InstanceId"]

    found = check()

    assert [(c["resource"], c["field"], c["expected"], c["actual"]) for c in found["changed"]] == [
        ("cache", "size", "t3.micro", "t3.large"),
        ("web", "tags", {"app": "booking"}, {"app": "shop"}),
    ]
    assert [(e["cloud_id"], e["subtype"]) for e in found["extra"]] == [(orphan_id, "instance")]
    assert (found["missing"], found["errors"], found["drifted"]) == ([], [], True)
