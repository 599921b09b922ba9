"""AWS as a CloudProvider, through boto3: EC2 instances and EBS volumes, S3 buckets, RDS
databases and Auto Scaling groups.

Every list follows its paginator to the end (EC2 pages at 100 items by default), every call
retries throttling with botocore's adaptive mode, and SDK errors leave this module as the
errors of :mod:`clouds.errors`. Billing lives in :mod:`clouds.aws` (exports and Cost
Explorer); metrics, price lists and snapshots are not part of this adapter yet.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import partial
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from clouds import aws
from clouds.base import (
    CloudResource,
    ConnectionCheck,
    NotYetAdapted,
    Problem,
    ProvisionRequest,
    Region,
    ResourceState,
    ResourceType,
    ScaleRequest,
    Service,
)
from clouds.errors import (
    AuthenticationFailed,
    CloudError,
    InvalidStateTransition,
    ResourceNotFound,
    Throttled,
    UnsupportedRequest,
)

# What WedCloud reads and changes, and the FOCUS ServiceCategory each is billed under.
SERVICES = (
    Service("AmazonEC2", "Amazon Elastic Compute Cloud", "Compute", (ResourceType.COMPUTE,)),
    Service("AmazonEBS", "Amazon Elastic Block Store", "Storage", (ResourceType.STORAGE,)),
    Service("AmazonS3", "Amazon Simple Storage Service", "Storage", (ResourceType.STORAGE,)),
    Service("AmazonRDS", "Amazon Relational Database Service", "Databases", (ResourceType.DATABASE,)),
    Service("AutoScaling", "Amazon EC2 Auto Scaling", "Compute", (ResourceType.COMPUTE,)),
)

# The read permissions a connection test probes, with the call that needs each.
PERMISSION_PROBES: tuple[tuple[str, str], ...] = (
    ("ec2:DescribeRegions", "describe_regions"),
    ("ec2:DescribeInstances", "describe_instances"),
    ("ec2:DescribeVolumes", "describe_volumes"),
    ("s3:ListAllMyBuckets", "list_buckets"),
    ("rds:DescribeDBInstances", "describe_db_instances"),
    ("autoscaling:DescribeAutoScalingGroups", "describe_auto_scaling_groups"),
)

TOKEN_TAG = "wedcloud:operation"  # noqa: S105 - a tag key: the operation that made a resource

_INSTANCE_STATES = {
    "pending": ResourceState.PROVISIONING,
    "running": ResourceState.RUNNING,
    "stopping": ResourceState.STOPPED,
    "stopped": ResourceState.STOPPED,
    "shutting-down": ResourceState.TERMINATED,
    "terminated": ResourceState.TERMINATED,
}
_VOLUME_STATES = {
    "creating": ResourceState.PROVISIONING,
    "available": ResourceState.AVAILABLE,
    "in-use": ResourceState.AVAILABLE,
    "deleting": ResourceState.TERMINATED,
    "deleted": ResourceState.TERMINATED,
    "error": ResourceState.FAILED,
}
_DB_STATES = {
    "creating": ResourceState.PROVISIONING,
    "available": ResourceState.RUNNING,
    "stopped": ResourceState.STOPPED,
    "stopping": ResourceState.STOPPED,
    "starting": ResourceState.PROVISIONING,
    "deleting": ResourceState.TERMINATED,
    "failed": ResourceState.FAILED,
}
_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnauthorizedAccess"}
_BAD_IDENTITY = {"InvalidClientTokenId", "SignatureDoesNotMatch", "AuthFailure", "ExpiredToken"}
_THROTTLED = {"Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException"}
_GEOGRAPHIES = {
    "us": "North America", "ca": "North America", "eu": "Europe", "ap": "Asia Pacific", "sa": "South America",
}  # fmt: skip


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def translate(exc: ClientError | BotoCoreError, resource_id: str | None = None) -> CloudError:
    """The :mod:`clouds.errors` error for an SDK error."""
    if isinstance(exc, BotoCoreError):
        error: CloudError = Throttled(f"AWS could not be reached: {exc}")
        return error
    code, message = _code(exc), exc.response.get("Error", {}).get("Message", str(exc))
    if code in _THROTTLED:
        return Throttled(f"AWS throttled the call: {message}")
    if code in _DENIED or code in _BAD_IDENTITY:
        return AuthenticationFailed(f"{code}: {message}")
    if resource_id and (code.endswith(".NotFound") or code in {"DBInstanceNotFound", "NoSuchBucket"}):
        return ResourceNotFound(resource_id)
    if code == "IncorrectInstanceState" and resource_id:
        return InvalidStateTransition(resource_id, "in another state", message)
    return UnsupportedRequest(f"{code}: {message}")


def _tags(items: Sequence[Mapping[str, str]] | None, key: str = "Key", value: str = "Value") -> dict[str, str]:
    return {item[key]: item.get(value, "") for item in items or ()}


def _geography(region: str) -> str:
    return _GEOGRAPHIES.get(region.split("-")[0], "Other")


class AwsCloud(NotYetAdapted):
    """One AWS account (its registered credentials or the SDK's chain), over ``regions``."""

    kind = "aws"

    @classmethod
    def provision_problems(cls, request: ProvisionRequest) -> list[Problem]:
        subtype = request.options["subtype"]
        problems: list[Problem] = []
        if subtype == "instance" and not (request.image or "").startswith("ami-"):
            problems.append(("image", "an EC2 instance needs an AMI id (ami-...)"))
        if subtype not in ("instance", "volume"):
            problems.append(("subtype", "the AWS adapter provisions instances and volumes"))
        return problems

    def __init__(
        self,
        credentials: dict[str, Any] | None,
        *,
        regions: Sequence[str],
        default_region: str | None = None,
        endpoint_url: str | None = None,
    ) -> None:
        self.credentials = credentials
        self.default_region = default_region or (regions[0] if regions else "us-east-1")
        self.regions = list(regions) or [self.default_region]
        self.endpoint_url = endpoint_url
        self._sessions: dict[str, boto3.Session] = {}

    # -- helpers -------------------------------------------------------------------------
    def client(self, service: str, region: str | None = None) -> Any:
        region = region or self.default_region
        if region not in self._sessions:
            self._sessions[region] = aws.session_for(self.credentials, region)
        return aws.client(self._sessions[region], service, self.endpoint_url)

    def _call(self, call: Callable[[], Any], resource_id: str | None = None) -> Any:
        try:
            return call()
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc, resource_id) from exc

    def _pages(self, service: str, region: str, operation: str, key: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        paginator = self.client(service, region).get_paginator(operation)
        try:
            for page in paginator.paginate(**kwargs):
                yield from page.get(key, [])
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc, ",".join(kwargs.get("InstanceIds", [])) or None) from exc

    def _find_region(self, resource_id: str) -> str:
        """The region holding an EC2 instance (ids are unique across regions)."""
        for region in self.regions:
            try:
                if list(self._pages("ec2", region, "describe_instances", "Reservations", InstanceIds=[resource_id])):
                    return region
            except ResourceNotFound:
                continue
        raise ResourceNotFound(resource_id)

    # -- read side -----------------------------------------------------------------------
    def test_connection(self) -> ConnectionCheck:
        try:
            identity = self.client("sts").get_caller_identity()
        except (ClientError, BotoCoreError) as exc:
            return ConnectionCheck(ok=False, identity="", detail=f"sts:GetCallerIdentity failed: {exc}")
        missing = []
        for permission, operation in PERMISSION_PROBES:
            service = permission.split(":")[0]
            try:
                getattr(self.client(service), operation)(**_probe_arguments(operation))
            except ClientError as exc:
                if _code(exc) in _DENIED:
                    missing.append(permission)
            except BotoCoreError:
                missing.append(permission)
        detail = (
            f"account {identity['Account']}; missing permissions: {', '.join(missing)}"
            if missing
            else f"account {identity['Account']}; every permission WedCloud reads with is granted"
        )
        return ConnectionCheck(ok=not missing, identity=identity["Arn"], detail=detail, missing_permissions=missing)

    def list_regions(self) -> list[Region]:
        answer = self._call(lambda: self.client("ec2").describe_regions())
        names = sorted(r["RegionName"] for r in answer["Regions"])
        return [Region(name, name, _geography(name)) for name in names]

    def list_services(self) -> list[Service]:
        return list(SERVICES)

    def list_resources(self, *, region: str | None = None) -> Iterator[CloudResource]:
        regions = [region] if region else self.regions
        for name in regions:
            yield from self._instances(name)
            yield from self._volumes(name)
            yield from self._databases(name)
        yield from self._buckets(regions)

    def _instances(self, region: str, **filters: Any) -> Iterator[CloudResource]:
        for reservation in self._pages("ec2", region, "describe_instances", "Reservations", **filters):
            for item in reservation["Instances"]:
                yield self._instance(item, region, reservation.get("OwnerId"))

    def _instance(self, item: Mapping[str, Any], region: str, account: str | None) -> CloudResource:
        tags = _tags(item.get("Tags"))
        placement = item.get("Placement", {})
        return CloudResource(
            id=item["InstanceId"],
            name=tags.get("Name", item["InstanceId"]),
            resource_type=ResourceType.COMPUTE,
            subtype="instance",
            region=region,
            zone=placement.get("AvailabilityZone"),
            state=_INSTANCE_STATES.get(item["State"]["Name"], ResourceState.FAILED),
            account_id=account or "",
            size=item.get("InstanceType"),
            tags=tags,
            created_at=item.get("LaunchTime"),
            details={
                "image": item.get("ImageId"),
                "subnet": item.get("SubnetId"),
                "vpc": item.get("VpcId"),
                "private_ip": item.get("PrivateIpAddress"),
                "architecture": item.get("Architecture"),
                "lifecycle": item.get("InstanceLifecycle", "on-demand"),
                "group": tags.get("aws:autoscaling:groupName"),
            },
        )

    def _volumes(self, region: str) -> Iterator[CloudResource]:
        for item in self._pages("ec2", region, "describe_volumes", "Volumes"):
            tags = _tags(item.get("Tags"))
            attachments = item.get("Attachments") or []
            yield CloudResource(
                id=item["VolumeId"],
                name=tags.get("Name", item["VolumeId"]),
                resource_type=ResourceType.STORAGE,
                subtype="volume",
                region=region,
                zone=item.get("AvailabilityZone"),
                state=_VOLUME_STATES.get(item["State"], ResourceState.FAILED),
                account_id="",
                size=f"{item['Size']}GB",
                tags=tags,
                created_at=item.get("CreateTime"),
                attached_to=attachments[0]["InstanceId"] if attachments else None,
                details={"volume_type": item.get("VolumeType"), "iops": item.get("Iops")},
            )

    def _databases(self, region: str) -> Iterator[CloudResource]:
        for item in self._pages("rds", region, "describe_db_instances", "DBInstances"):
            yield CloudResource(
                id=item["DBInstanceArn"],
                name=item["DBInstanceIdentifier"],
                resource_type=ResourceType.DATABASE,
                subtype="instance",
                region=region,
                zone=item.get("AvailabilityZone"),
                state=_DB_STATES.get(item["DBInstanceStatus"], ResourceState.RUNNING),
                account_id=item["DBInstanceArn"].split(":")[4],
                size=item.get("DBInstanceClass"),
                tags=_tags(item.get("TagList")),
                created_at=item.get("InstanceCreateTime"),
                details={"engine": item.get("Engine"), "storage_gb": item.get("AllocatedStorage")},
            )

    def _buckets(self, regions: Sequence[str]) -> Iterator[CloudResource]:
        """S3 buckets are global; each is listed once, under its own region, if that region is
        one of ``regions``."""
        s3 = self.client("s3")
        answer = self._call(s3.list_buckets)
        owner = answer.get("Owner", {}).get("ID", "")
        for bucket in answer.get("Buckets", []):
            name = bucket["Name"]
            location = self._call(partial(s3.get_bucket_location, Bucket=name), name)
            region = location.get("LocationConstraint") or "us-east-1"
            if region not in regions:
                continue
            try:
                tags = _tags(s3.get_bucket_tagging(Bucket=name).get("TagSet"))
            except ClientError:
                tags = {}  # NoSuchTagSet: a bucket without tags
            yield CloudResource(
                id=f"arn:aws:s3:::{name}",
                name=name,
                resource_type=ResourceType.STORAGE,
                subtype="bucket",
                region=region,
                state=ResourceState.AVAILABLE,
                account_id=owner,
                tags=tags,
                created_at=bucket.get("CreationDate"),
            )

    # -- write side ----------------------------------------------------------------------
    def provision(self, request: ProvisionRequest) -> CloudResource:
        subtype = str(request.options.get("subtype", "instance"))
        tags = [{"Key": k, "Value": v} for k, v in {"Name": request.name, **request.tags}.items()]
        if request.resource_type == ResourceType.COMPUTE and subtype == "instance":
            return self._run_instance(request, tags)
        if request.resource_type == ResourceType.STORAGE and subtype == "volume":
            return self._create_volume(request, tags)
        raise UnsupportedRequest(
            f"the AWS adapter provisions compute instances and storage volumes, not {request.resource_type}/{subtype}"
        )

    def _run_instance(self, request: ProvisionRequest, tags: list[dict[str, str]]) -> CloudResource:
        if not request.image:
            raise UnsupportedRequest("an EC2 instance needs an image (an AMI id)")
        arguments: dict[str, Any] = {
            "ImageId": request.image,
            "InstanceType": request.size,
            "MinCount": 1,
            "MaxCount": 1,
            "TagSpecifications": [{"ResourceType": "instance", "Tags": tags}],
        }
        if token := request.options.get("client_token"):
            # A retry of the same operation must not make a second instance. EC2 honours
            # ClientToken itself; the tag also lets a reconciler find the instance later.
            existing = list(self._instances(request.region, Filters=[{"Name": f"tag:{TOKEN_TAG}", "Values": [token]}]))
            if existing:
                return existing[0]
            arguments["ClientToken"] = str(token)
            tags = [*tags, {"Key": TOKEN_TAG, "Value": str(token)}]
            arguments["TagSpecifications"] = [{"ResourceType": "instance", "Tags": tags}]
        if request.network:
            arguments["SubnetId"] = request.network
        answer = self._call(lambda: self.client("ec2", request.region).run_instances(**arguments))
        return self._instance(answer["Instances"][0], request.region, answer.get("OwnerId"))

    def _create_volume(self, request: ProvisionRequest, tags: list[dict[str, str]]) -> CloudResource:
        size = int(str(request.size).removesuffix("GB"))
        zone = str(request.options.get("zone") or f"{request.region}a")
        ec2 = self.client("ec2", request.region)
        created = self._call(
            lambda: ec2.create_volume(
                AvailabilityZone=zone,
                Size=size,
                VolumeType=str(request.options.get("volume_type", "gp3")),
                TagSpecifications=[{"ResourceType": "volume", "Tags": tags}],
            )
        )
        return next(r for r in self._volumes(request.region) if r.id == created["VolumeId"])

    def describe(self, resource_id: str) -> CloudResource:
        if resource_id.startswith("vol-"):
            for region in self.regions:
                found = [v for v in self._volumes(region) if v.id == resource_id]
                if found:
                    return found[0]
            raise ResourceNotFound(resource_id)
        region = self._find_region(resource_id)
        return next(self._instances(region, InstanceIds=[resource_id]))

    def tag(self, resource_id: str, tags: Mapping[str, str]) -> CloudResource:
        """Replace the resource's tags (its Name tag follows its name and is kept)."""
        current = self.describe(resource_id)
        ec2 = self.client("ec2", current.region)
        kept = ("Name", "aws:", "wedcloud:")  # the name, AWS's own tags and ours
        gone = [{"Key": k} for k in current.tags if k not in tags and not k.startswith(kept)]
        if gone:
            self._call(lambda: ec2.delete_tags(Resources=[resource_id], Tags=gone), resource_id)
        if tags:
            new = [{"Key": k, "Value": v} for k, v in tags.items()]
            self._call(lambda: ec2.create_tags(Resources=[resource_id], Tags=new), resource_id)
        return self.describe(resource_id)

    def scale(self, resource_id: str, request: ScaleRequest) -> CloudResource:
        if request.capacity is not None:
            return self._scale_group(resource_id, request.capacity)
        if not request.size:
            raise UnsupportedRequest("scaling needs a new size or a capacity")
        current = self.describe(resource_id)
        ec2 = self.client("ec2", current.region)
        was_running = current.state == ResourceState.RUNNING
        if was_running:  # EC2 changes the type of a stopped instance only
            self._call(lambda: ec2.stop_instances(InstanceIds=[resource_id]), resource_id)
            ec2.get_waiter("instance_stopped").wait(InstanceIds=[resource_id], WaiterConfig={"Delay": 1})
        self._call(
            lambda: ec2.modify_instance_attribute(InstanceId=resource_id, InstanceType={"Value": request.size}),
            resource_id,
        )
        if was_running:
            self._call(lambda: ec2.start_instances(InstanceIds=[resource_id]), resource_id)
        return self.describe(resource_id)

    def _scale_group(self, group: str, capacity: int) -> CloudResource:
        autoscaling = self.client("autoscaling")
        groups = self._call(lambda: autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[group]))
        if not groups["AutoScalingGroups"]:
            raise ResourceNotFound(group)
        found = groups["AutoScalingGroups"][0]
        if not found["MinSize"] <= capacity <= found["MaxSize"]:
            raise UnsupportedRequest(
                f"capacity {capacity} is outside the group's bounds {found['MinSize']}..{found['MaxSize']}"
            )
        self._call(lambda: autoscaling.set_desired_capacity(AutoScalingGroupName=group, DesiredCapacity=capacity))
        return CloudResource(
            id=group,
            name=group,
            resource_type=ResourceType.COMPUTE,
            subtype="group",
            region=self.default_region,
            state=ResourceState.RUNNING,
            account_id="",
            size=str(capacity),
            tags=_tags(found.get("Tags")),
            details={"min": found["MinSize"], "max": found["MaxSize"], "desired": capacity},
        )

    def _power(self, resource_id: str, action: str) -> CloudResource:
        region = self._find_region(resource_id)
        ec2 = self.client("ec2", region)
        call = {"start": ec2.start_instances, "stop": ec2.stop_instances, "terminate": ec2.terminate_instances}[action]
        self._call(lambda: call(InstanceIds=[resource_id]), resource_id)
        return next(self._instances(region, InstanceIds=[resource_id]))

    def start(self, resource_id: str) -> CloudResource:
        return self._power(resource_id, "start")

    def stop(self, resource_id: str) -> CloudResource:
        return self._power(resource_id, "stop")

    def terminate(self, resource_id: str) -> CloudResource:
        return self._power(resource_id, "terminate")


def _probe_arguments(operation: str) -> dict[str, Any]:
    """The cheapest arguments for each permission probe (one item where the API allows it)."""
    if operation in ("describe_instances", "describe_volumes"):
        return {"MaxResults": 5}
    if operation in ("describe_db_instances", "describe_auto_scaling_groups"):
        return {"MaxRecords": 20}
    return {}
