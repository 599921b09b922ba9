"""EC2 instances and Auto Scaling groups: listed, described, provisioned, tagged, resized or
scaled, started, stopped and terminated, through EC2 and Auto Scaling.

An instance reports when it entered its state where EC2 says (``details["state_since"]``: a
stopped instance's ``StateTransitionReason``, a running one's ``LaunchTime``) and its
``details["architecture"]`` as ``x86_64`` or ``arm64``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from clouds.aws.api import TOKEN_TAG, AwsApi, error_code, state_since, tag_dict, tag_list, translate
from clouds.base import CloudResource, ProvisionRequest, ResourceState, ResourceType
from clouds.errors import ResourceNotFound, UnsupportedRequest

_INSTANCE_STATES = {
    "pending": ResourceState.PROVISIONING,
    "running": ResourceState.RUNNING,
    "stopping": ResourceState.STOPPED,
    "stopped": ResourceState.STOPPED,
    "shutting-down": ResourceState.TERMINATED,
    "terminated": ResourceState.TERMINATED,
}
# EC2's architectures as WedCloud names them; i386 (32-bit) has no counterpart among current types
_ARCHITECTURES = {"x86_64": "x86_64", "x86_64_mac": "x86_64", "arm64": "arm64", "arm64_mac": "arm64"}
# StateTransitionReason of a stopped instance: "User initiated (2026-11-01 10:00:00 GMT)"
_TRANSITION_TIME = re.compile(r"\((\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) (?:GMT|UTC)\)")


def _transition_time(reason: str | None) -> datetime | None:
    """When EC2 says an instance changed state, from its ``StateTransitionReason`` (in UTC)."""
    found = _TRANSITION_TIME.search(reason or "")
    if found is None:
        return None
    return datetime.strptime(found[1], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)


def _instance_since(item: Mapping[str, Any], state: ResourceState) -> datetime | None:
    """When the instance entered its state, where EC2 says: a stopped instance's transition
    reason names the time it was stopped; ``LaunchTime`` is when it was last started."""
    if item["State"]["Name"] == "stopped":
        return _transition_time(item.get("StateTransitionReason"))
    if state == ResourceState.RUNNING:
        launched = item.get("LaunchTime")
        return launched if isinstance(launched, datetime) else None
    return None


def _instance(item: Mapping[str, Any], region: str, account: str | None) -> CloudResource:
    tags = tag_dict(item.get("Tags"))
    placement = item.get("Placement", {})
    state = _INSTANCE_STATES.get(item["State"]["Name"], ResourceState.FAILED)
    return CloudResource(
        id=item["InstanceId"],
        name=tags.get("Name", item["InstanceId"]),
        resource_type=ResourceType.COMPUTE,
        subtype="instance",
        region=region,
        zone=placement.get("AvailabilityZone"),
        state=state,
        account_id=account or "",
        size=item.get("InstanceType"),
        tags=tags,
        created_at=item.get("LaunchTime"),
        details={
            "image": item.get("ImageId"),
            "subnet": item.get("SubnetId"),
            "vpc": item.get("VpcId"),
            "private_ip": item.get("PrivateIpAddress"),
            "architecture": _ARCHITECTURES.get(str(item.get("Architecture"))),
            "lifecycle": item.get("InstanceLifecycle", "on-demand"),
            "group": tags.get("aws:autoscaling:groupName"),
            **state_since(_instance_since(item, state)),
        },
    )


def _group(item: Mapping[str, Any], region: str) -> CloudResource:
    tags = tag_dict(item.get("Tags"))
    return CloudResource(
        id=item["AutoScalingGroupARN"],
        name=item["AutoScalingGroupName"],
        resource_type=ResourceType.COMPUTE,
        subtype="instance_group",
        region=region,
        state=ResourceState.RUNNING if item["DesiredCapacity"] else ResourceState.STOPPED,
        account_id=item["AutoScalingGroupARN"].split(":")[4],
        size=str(item["DesiredCapacity"]),
        tags=tags,
        created_at=item.get("CreatedTime"),
        details={
            "min": item["MinSize"],
            "max": item["MaxSize"],
            "desired": item["DesiredCapacity"],
            "instances": [i["InstanceId"] for i in item.get("Instances", [])],
            "launch_template": (item.get("LaunchTemplate") or {}).get("LaunchTemplateName"),
        },
    )


class Compute:
    """The account's EC2 instances and Auto Scaling groups."""

    def __init__(self, api: AwsApi) -> None:
        self.api = api

    # -- read side -----------------------------------------------------------------------
    def find_region(self, resource_id: str) -> str:
        """The region holding an EC2 instance (ids are unique across regions)."""
        for region in self.api.regions:
            try:
                if list(self.api.pages("ec2", region, "describe_instances", "Reservations", InstanceIds=[resource_id])):
                    return region
            except ResourceNotFound:
                continue
        raise ResourceNotFound(resource_id)

    def instance_regions(self, instance_ids: list[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for region in self.api.regions:
            wanted = [{"Name": "instance-id", "Values": instance_ids}]
            found |= {resource.id: region for resource in self.instances(region, Filters=wanted)}
        return found

    def instances(self, region: str, **filters: Any) -> Iterator[CloudResource]:
        for reservation in self.api.pages("ec2", region, "describe_instances", "Reservations", **filters):
            for item in reservation["Instances"]:
                yield _instance(item, region, reservation.get("OwnerId"))

    def groups(self, region: str, *names: str) -> Iterator[CloudResource]:
        arguments = {"AutoScalingGroupNames": list(names)} if names else {}
        for item in self.api.pages(
            "autoscaling", region, "describe_auto_scaling_groups", "AutoScalingGroups", **arguments
        ):
            yield _group(item, region)

    def describe_instance(self, resource_id: str) -> CloudResource:
        region = self.find_region(resource_id)
        return next(self.instances(region, InstanceIds=[resource_id]))

    def describe_group(self, resource_id: str, region: str, name: str) -> CloudResource:
        found = list(self.groups(region, name))
        if not found:
            raise ResourceNotFound(resource_id)
        return found[0]

    # -- write side ----------------------------------------------------------------------
    def run_instance(self, request: ProvisionRequest, tags: dict[str, str]) -> CloudResource:
        arguments: dict[str, Any] = {
            "ImageId": request.image,
            "InstanceType": request.size,
            "MinCount": 1,
            "MaxCount": 1,
            "TagSpecifications": [{"ResourceType": "instance", "Tags": tag_list(tags)}],
        }
        if token := tags.get(TOKEN_TAG):
            # A retry of the same operation must not make a second instance. EC2 honours
            # ClientToken itself; the tag also lets a reconciler find the instance later.
            existing = list(self.instances(request.region, Filters=[{"Name": f"tag:{TOKEN_TAG}", "Values": [token]}]))
            if existing:
                return existing[0]
            arguments["ClientToken"] = token
        if request.network:
            arguments["SubnetId"] = request.network
        if groups := request.options.get("security_groups"):
            arguments["SecurityGroupIds"] = list(groups)
        answer = self.api.call(lambda: self.api.client("ec2", request.region).run_instances(**arguments))
        return _instance(answer["Instances"][0], request.region, answer.get("OwnerId"))

    def create_group(self, request: ProvisionRequest, tags: dict[str, str]) -> CloudResource:
        autoscaling = self.api.client("autoscaling", request.region)
        low, high = int(request.options.get("min", 1)), int(request.options.get("max", 4))
        template = str(request.options["launch_template"])
        key = "LaunchTemplateId" if template.startswith("lt-") else "LaunchTemplateName"
        placement = (
            {"VPCZoneIdentifier": request.network} if request.network else {"AvailabilityZones": [f"{request.region}a"]}
        )
        if token := tags.get(TOKEN_TAG):
            # a retry finds what the first attempt made (AWS would answer AlreadyExists; moto
            # replaces the group instead, leaving the first one's instances running)
            earlier = list(self.groups(request.region, request.name))
            if earlier and earlier[0].tags.get(TOKEN_TAG) == token:
                return earlier[0]
        try:
            autoscaling.create_auto_scaling_group(
                AutoScalingGroupName=request.name,
                LaunchTemplate={key: template, "Version": "$Default"},
                MinSize=low,
                MaxSize=high,
                DesiredCapacity=int(request.options.get("desired", low)),
                Tags=[{**tag, "PropagateAtLaunch": True} for tag in tag_list(tags)],
                **placement,
            )
        except ClientError as exc:
            if error_code(exc) != "AlreadyExists":
                raise translate(exc) from exc
            existing = next(self.groups(request.region, request.name))
            if TOKEN_TAG not in tags or existing.tags.get(TOKEN_TAG) != tags[TOKEN_TAG]:
                raise UnsupportedRequest(f"an Auto Scaling group named {request.name!r} exists") from None
            return existing
        return next(self.groups(request.region, request.name))

    def tag_group(
        self,
        resource_id: str,
        region: str,
        name: str,
        current: Mapping[str, str],
        gone: list[str],
        tags: Mapping[str, str],
    ) -> None:
        """Remove the ``gone`` keys of the group's ``current`` tags, then set ``tags``."""
        autoscaling = self.api.client("autoscaling", region)

        def group_tags(keys: Mapping[str, str]) -> list[dict[str, Any]]:
            return [
                {"ResourceId": name, "ResourceType": "auto-scaling-group", "Key": k, "Value": v,
                 "PropagateAtLaunch": True}
                for k, v in keys.items()
            ]  # fmt: skip

        if gone:
            old = group_tags({k: current[k] for k in gone})
            self.api.call(lambda: autoscaling.delete_tags(Tags=old), resource_id)
        if tags:
            self.api.call(lambda: autoscaling.create_or_update_tags(Tags=group_tags(tags)), resource_id)

    def resize_instance(self, resource_id: str, size: str) -> CloudResource:
        current = self.describe_instance(resource_id)
        ec2 = self.api.client("ec2", current.region)
        was_running = current.state == ResourceState.RUNNING
        if was_running:  # EC2 changes the type of a stopped instance only
            self.api.call(lambda: ec2.stop_instances(InstanceIds=[resource_id]), resource_id)
            ec2.get_waiter("instance_stopped").wait(InstanceIds=[resource_id], WaiterConfig={"Delay": 1})
        self.api.call(
            lambda: ec2.modify_instance_attribute(InstanceId=resource_id, InstanceType={"Value": size}),
            resource_id,
        )
        if was_running:
            self.api.call(lambda: ec2.start_instances(InstanceIds=[resource_id]), resource_id)
        return self.describe_instance(resource_id)

    def scale_group(self, region: str, name: str, capacity: int) -> CloudResource:
        found = list(self.groups(region, name))
        if not found:
            raise ResourceNotFound(name)
        low, high = found[0].details["min"], found[0].details["max"]
        if not low <= capacity <= high:
            raise UnsupportedRequest(f"capacity {capacity} is outside the group's bounds {low}..{high}")
        autoscaling = self.api.client("autoscaling", region)
        self.api.call(lambda: autoscaling.set_desired_capacity(AutoScalingGroupName=name, DesiredCapacity=capacity))
        return next(self.groups(region, name))

    def power(self, resource_id: str, action: str) -> CloudResource:
        """Start, stop or terminate an instance."""
        region = self.find_region(resource_id)
        ec2 = self.api.client("ec2", region)
        call = {"start": ec2.start_instances, "stop": ec2.stop_instances, "terminate": ec2.terminate_instances}
        self.api.call(lambda: call[action](InstanceIds=[resource_id]), resource_id)
        return next(self.instances(region, InstanceIds=[resource_id]))

    def delete_group(self, region: str, name: str) -> None:
        autoscaling = self.api.client("autoscaling", region)
        self.api.call(lambda: autoscaling.delete_auto_scaling_group(AutoScalingGroupName=name, ForceDelete=True))
