"""AWS as a CloudProvider, through boto3: EC2 instances, EBS volumes and Elastic IP addresses,
S3 buckets, RDS databases and Auto Scaling groups.

Every list follows its paginator to the end (EC2 pages at 100 items by default), every call
retries throttling with botocore's adaptive mode, and SDK errors leave this module as the
errors of :mod:`clouds.errors`. An instance reports when it entered its state where EC2 says
(``details["state_since"]``: a stopped instance's ``StateTransitionReason``, a running one's
``LaunchTime``, an attached volume's ``AttachTime``) and its ``details["architecture"]`` as
``x86_64`` or ``arm64``. Utilisation metrics come from CloudWatch. Billing lives in
:mod:`clouds.aws.billing` (exports and Cost Explorer), list prices in :mod:`clouds.aws.prices`.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import boto3
import polars as pl
from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

from clouds.aws import credentials as aws_credentials
from clouds.base import (
    HOUR,
    METRICS_SCHEMA,
    CloudResource,
    ConnectionCheck,
    Metric,
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
    # public IPv4 addresses, Elastic IPs included, are billed under Amazon VPC
    Service("AmazonVPC", "Amazon Virtual Private Cloud", "Networking", (ResourceType.NETWORK,)),
)

# The read permissions a connection test probes, with the call that needs each.
PERMISSION_PROBES: tuple[tuple[str, str], ...] = (
    ("ec2:DescribeRegions", "describe_regions"),
    ("ec2:DescribeInstances", "describe_instances"),
    ("ec2:DescribeVolumes", "describe_volumes"),
    ("ec2:DescribeAddresses", "describe_addresses"),
    ("s3:ListAllMyBuckets", "list_buckets"),
    ("rds:DescribeDBInstances", "describe_db_instances"),
    ("autoscaling:DescribeAutoScalingGroups", "describe_auto_scaling_groups"),
)

TOKEN_TAG = "wedcloud:operation"  # noqa: S105 - a tag key: the operation that made a resource
STORAGE_CLASS_TAG = "wedcloud:storage-class"  # a bucket's intended S3 storage class (S3 sets it per object)
BUCKET_ARN = "arn:aws:s3:::"
ADOPTION_WINDOW = timedelta(minutes=15)  # how recent an untagged bucket must be for a retry to adopt it

MetricQuery = tuple[str, str, str, str, bool]
"""(namespace, metric name, statistic, WedCloud metric, per second: multiply by the period)"""
# From the EC2, RDS and CloudWatch agent metric references. EBS operations count volumes on the
# Nitro system; DiskReadOps/DiskWriteOps count instance-store disks only, so they are not used.
INSTANCE_METRICS: tuple[MetricQuery, ...] = (
    ("AWS/EC2", "CPUUtilization", "Average", Metric.CPU_PERCENT, False),
    ("AWS/EC2", "NetworkIn", "Sum", Metric.NETWORK_IN_BYTES, False),
    ("AWS/EC2", "NetworkOut", "Sum", Metric.NETWORK_OUT_BYTES, False),
    ("AWS/EC2", "EBSReadOps", "Sum", Metric.DISK_IO_OPS, False),
    ("AWS/EC2", "EBSWriteOps", "Sum", Metric.DISK_IO_OPS, False),
    ("CWAgent", "mem_used_percent", "Average", Metric.MEMORY_PERCENT, False),
)
DATABASE_METRICS: tuple[MetricQuery, ...] = (
    ("AWS/RDS", "CPUUtilization", "Average", Metric.CPU_PERCENT, False),
    ("AWS/RDS", "NetworkReceiveThroughput", "Average", Metric.NETWORK_IN_BYTES, True),
    ("AWS/RDS", "NetworkTransmitThroughput", "Average", Metric.NETWORK_OUT_BYTES, True),
    ("AWS/RDS", "ReadIOPS", "Average", Metric.DISK_IO_OPS, True),
    ("AWS/RDS", "WriteIOPS", "Average", Metric.DISK_IO_OPS, True),
)
GROUP_METRICS: tuple[MetricQuery, ...] = (
    ("AWS/EC2", "CPUUtilization", "Average", Metric.CPU_PERCENT, False),
    ("AWS/EC2", "NetworkIn", "Sum", Metric.NETWORK_IN_BYTES, False),
    ("AWS/EC2", "NetworkOut", "Sum", Metric.NETWORK_OUT_BYTES, False),
)
# What provision_problems accepts, from the EC2, S3 and RDS API references.
VOLUME_TYPES = ("gp3", "gp2", "io2", "io1", "st1", "sc1", "standard")
S3_STORAGE_CLASSES = ("STANDARD", "INTELLIGENT_TIERING", "STANDARD_IA", "ONEZONE_IA", "GLACIER_IR", "GLACIER",
                      "DEEP_ARCHIVE")  # fmt: skip
DB_ENGINES = ("postgres", "mysql", "mariadb")
BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
IP_ADDRESS = re.compile(r"\d+\.\d+\.\d+\.\d+")
BUCKET_NAME_RULE = (
    "an S3 bucket name is 3-63 lowercase letters, digits, dots and hyphens, starting and ending with a letter "
    "or digit, and not an IP address"
)
DB_IDENTIFIER_RULE = (
    "an RDS identifier is 1-63 letters, digits and single hyphens, starting with a letter and not ending with a hyphen"
)
DB_IDENTIFIER = re.compile(r"[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")

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
# EC2's architectures as WedCloud names them; i386 (32-bit) has no counterpart among current types
_ARCHITECTURES = {"x86_64": "x86_64", "x86_64_mac": "x86_64", "arm64": "arm64", "arm64_mac": "arm64"}
# StateTransitionReason of a stopped instance: "User initiated (2026-11-01 10:00:00 GMT)"
_TRANSITION_TIME = re.compile(r"\((\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) (?:GMT|UTC)\)")
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
    if isinstance(exc, ParamValidationError):
        return UnsupportedRequest(f"AWS would refuse the request: {exc}")
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


def _since(moment: datetime | None) -> dict[str, datetime]:
    """``details["state_since"]`` when known; absent, never guessed, when not."""
    return {} if moment is None else {"state_since": moment.astimezone(UTC)}


class AwsCloud(NotYetAdapted):
    """One AWS account (its registered credentials or the SDK's chain), over ``regions``."""

    kind = "aws"

    @classmethod
    def provision_problems(cls, request: ProvisionRequest) -> list[Problem]:
        subtype, options = request.options["subtype"], request.options
        problems: list[Problem] = []
        if subtype == "instance" and not (request.image or "").startswith("ami-"):
            problems.append(("image", "an EC2 instance needs an AMI id (ami-...)"))
        if subtype == "volume" and options.get("volume_type", "gp3") not in VOLUME_TYPES:
            problems.append(("options", f"options.volume_type is one of {', '.join(VOLUME_TYPES)}"))
        if subtype == "bucket":
            if not BUCKET_NAME.fullmatch(request.name) or IP_ADDRESS.fullmatch(request.name):
                problems.append(("name", BUCKET_NAME_RULE))
            if request.size not in S3_STORAGE_CLASSES:
                problems.append(
                    ("size", f"a bucket's size is its storage class: one of {', '.join(S3_STORAGE_CLASSES)}")
                )
        if subtype == "database":
            if not DB_IDENTIFIER.fullmatch(request.name) or "--" in request.name:
                problems.append(("name", DB_IDENTIFIER_RULE))
            if not request.size.startswith("db."):
                problems.append(("size", "an RDS instance class such as db.t4g.micro"))
            if options.get("engine") not in DB_ENGINES:
                problems.append(("options", f"options.engine is one of {', '.join(DB_ENGINES)}"))
            storage = options.get("storage_gb", 20)
            if not (isinstance(storage, int) and 20 <= storage <= 65536):
                problems.append(("options", "options.storage_gb is a whole number of GB from 20 to 65536"))
        if subtype == "instance_group" and not options.get("launch_template"):
            problems.append(("options", "an Auto Scaling group needs options.launch_template (an lt- id or a name)"))
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
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    # -- helpers -------------------------------------------------------------------------
    def client(self, service: str, region: str | None = None) -> Any:
        region = region or self.default_region
        if region not in self._sessions:
            self._sessions[region] = aws_credentials.session_for(self.credentials, region)
        return aws_credentials.client(self._sessions[region], service, self.endpoint_url)

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
            named = kwargs.get("InstanceIds") or kwargs.get("VolumeIds") or [kwargs.get("DBInstanceIdentifier", "")]
            raise translate(exc, ",".join(named) or None) from exc

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
            yield from self._addresses(name)
            yield from self._databases(name)
            yield from self._groups(name)
        yield from self._buckets(regions)

    def _instances(self, region: str, **filters: Any) -> Iterator[CloudResource]:
        for reservation in self._pages("ec2", region, "describe_instances", "Reservations", **filters):
            for item in reservation["Instances"]:
                yield self._instance(item, region, reservation.get("OwnerId"))

    def _instance(self, item: Mapping[str, Any], region: str, account: str | None) -> CloudResource:
        tags = _tags(item.get("Tags"))
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
                **_since(_instance_since(item, state)),
            },
        )

    def _volumes(self, region: str, **filters: Any) -> Iterator[CloudResource]:
        for item in self._pages("ec2", region, "describe_volumes", "Volumes", **filters):
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
                details={
                    "volume_type": item.get("VolumeType"),
                    "iops": item.get("Iops"),
                    # EC2 says when a volume was attached, not when one was detached
                    **_since(attachments[0].get("AttachTime") if attachments else None),
                },
            )

    def _addresses(self, region: str, **filters: Any) -> Iterator[CloudResource]:
        """Elastic IP addresses of a VPC (DescribeAddresses answers them all at once: it has no
        pages); an EC2-Classic one, without an allocation id, is left out."""
        ec2 = self.client("ec2", region)
        named = ",".join(filters.get("AllocationIds", [])) or None
        answer = self._call(lambda: ec2.describe_addresses(**filters), named)
        for item in answer.get("Addresses", []):
            if item.get("AllocationId"):  # an EC2-Classic address has none, nor an id to act on it by
                yield _address(item, region)

    def _databases(self, region: str) -> Iterator[CloudResource]:
        for item in self._pages("rds", region, "describe_db_instances", "DBInstances"):
            yield _database(item, region)

    def _buckets(self, regions: Sequence[str]) -> Iterator[CloudResource]:
        """S3 buckets are global; each is listed once, under its own region, if that region is
        one of ``regions``."""
        answer = self._call(self.client("s3").list_buckets)
        for bucket in answer.get("Buckets", []):
            found = self._bucket(bucket["Name"])
            if found.region in regions:
                yield replace(found, created_at=bucket.get("CreationDate"))

    def _groups(self, region: str, *names: str) -> Iterator[CloudResource]:
        arguments = {"AutoScalingGroupNames": list(names)} if names else {}
        for item in self._pages(
            "autoscaling", region, "describe_auto_scaling_groups", "AutoScalingGroups", **arguments
        ):
            yield _group(item, region)

    def _database(self, region: str, identifier: str) -> CloudResource:
        found = list(
            self._pages("rds", region, "describe_db_instances", "DBInstances", DBInstanceIdentifier=identifier)
        )
        return _database(found[0], region)

    def _bucket(self, name: str) -> CloudResource:
        s3 = self.client("s3")
        location = self._call(partial(s3.get_bucket_location, Bucket=name), f"{BUCKET_ARN}{name}")
        region = location.get("LocationConstraint") or "us-east-1"
        try:
            tags = _tags(s3.get_bucket_tagging(Bucket=name).get("TagSet"))
        except ClientError:
            tags = {}  # NoSuchTagSet: a bucket without tags
        return CloudResource(
            id=f"{BUCKET_ARN}{name}", name=name, resource_type=ResourceType.STORAGE, subtype="bucket",
            region=region, state=ResourceState.AVAILABLE, account_id="", tags=tags,
            details={"storage_class": tags.get(STORAGE_CLASS_TAG, "STANDARD")},
        )  # fmt: skip

    # -- metrics ---------------------------------------------------------------------------
    def get_metrics(
        self, resource_ids: Sequence[str], *, start: datetime, end: datetime, period: timedelta = HOUR
    ) -> pl.DataFrame:
        """CloudWatch GetMetricData, up to 500 queries a call and every page, for instances,
        databases and Auto Scaling groups (volumes and buckets have none of these metrics).
        Memory comes from the CloudWatch agent (``CWAgent``) where it reports it."""
        seconds = max(60, int(period.total_seconds()) // 60 * 60)  # CloudWatch periods are whole minutes
        first = datetime.fromtimestamp(start.timestamp() // seconds * seconds, UTC)
        last = datetime.fromtimestamp(-(-end.timestamp() // seconds) * seconds, UTC)
        queries: dict[str, list[tuple[dict[str, Any], str, str, float]]] = {}  # region -> queries
        ids = (f"q{n}" for n in itertools.count())
        for resource_id, region, (dimension, value), wanted in self._metric_targets(resource_ids):
            for namespace, name, statistic, metric, per_second in wanted:
                query = {
                    "Id": next(ids),
                    "MetricStat": {
                        "Metric": {"Namespace": namespace, "MetricName": name,
                                   "Dimensions": [{"Name": dimension, "Value": value}]},
                        "Period": seconds, "Stat": statistic,
                    },
                }  # fmt: skip
                queries.setdefault(region, []).append((query, resource_id, metric, seconds if per_second else 1))
        rows: list[tuple[str, str, datetime, float]] = []
        for region, asked in queries.items():
            by_id = {query["Id"]: (resource_id, metric, scale) for query, resource_id, metric, scale in asked}
            for chunk in range(0, len(asked), 500):
                batch = [query for query, *_ in asked[chunk : chunk + 500]]
                for result in self._metric_results(region, batch, first, last):
                    resource_id, metric, scale = by_id[result["Id"]]
                    rows += [
                        (resource_id, metric, moment.astimezone(UTC), float(value) * scale)
                        for moment, value in zip(result["Timestamps"], result["Values"], strict=True)
                    ]
        if not rows:
            return pl.DataFrame(schema=METRICS_SCHEMA)
        frame = pl.DataFrame(rows, schema=["resource_id", "metric", "timestamp", "value"], orient="row")
        # disk operations are reads plus writes: the two queries add up per period
        return frame.group_by("resource_id", "metric", "timestamp").agg(pl.col("value").sum()).cast(METRICS_SCHEMA)

    def _metric_targets(
        self, resource_ids: Sequence[str]
    ) -> Iterator[tuple[str, str, tuple[str, str], tuple[MetricQuery, ...]]]:
        """(id, region, CloudWatch dimension, metrics to ask) for each resource that has metrics."""
        instances = [r for r in resource_ids if _identify(r)[0] == "instance"]
        regions = self._instance_regions(instances) if instances else {}
        for resource_id in resource_ids:
            kind, region, name = _identify(resource_id)
            if kind == "instance" and resource_id in regions:
                yield resource_id, regions[resource_id], ("InstanceId", resource_id), INSTANCE_METRICS
            elif kind == "database":
                yield resource_id, region, ("DBInstanceIdentifier", name), DATABASE_METRICS
            elif kind == "instance_group":
                yield resource_id, region or self.default_region, ("AutoScalingGroupName", name), GROUP_METRICS

    def _instance_regions(self, instance_ids: list[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for region in self.regions:
            wanted = [{"Name": "instance-id", "Values": instance_ids}]
            found |= {resource.id: region for resource in self._instances(region, Filters=wanted)}
        return found

    def _metric_results(
        self, region: str, queries: list[dict[str, Any]], start: datetime, end: datetime
    ) -> Iterator[dict[str, Any]]:
        cloudwatch = self.client("cloudwatch", region)
        arguments = {"MetricDataQueries": queries, "StartTime": start, "EndTime": end}
        try:
            for page in cloudwatch.get_paginator("get_metric_data").paginate(**arguments):
                yield from page["MetricDataResults"]
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc) from exc

    # -- write side ----------------------------------------------------------------------
    def provision(self, request: ProvisionRequest) -> CloudResource:
        subtype = str(request.options.get("subtype", "instance"))
        if problems := self.provision_problems(replace(request, options={**request.options, "subtype": subtype})):
            raise UnsupportedRequest("; ".join(f"{field}: {message}" for field, message in problems))
        token = request.options.get("client_token")
        tags = {"Name": request.name, **request.tags, **({TOKEN_TAG: str(token)} if token else {})}
        make = {
            "instance": self._run_instance,
            "volume": self._create_volume,
            "bucket": self._create_bucket,
            "database": self._create_database,
            "instance_group": self._create_group,
        }.get(subtype)
        if make is None:
            raise UnsupportedRequest(f"the AWS adapter cannot provision a {subtype}")
        return make(request, tags)

    def _run_instance(self, request: ProvisionRequest, tags: dict[str, str]) -> CloudResource:
        arguments: dict[str, Any] = {
            "ImageId": request.image,
            "InstanceType": request.size,
            "MinCount": 1,
            "MaxCount": 1,
            "TagSpecifications": [{"ResourceType": "instance", "Tags": _tag_list(tags)}],
        }
        if token := tags.get(TOKEN_TAG):
            # A retry of the same operation must not make a second instance. EC2 honours
            # ClientToken itself; the tag also lets a reconciler find the instance later.
            existing = list(self._instances(request.region, Filters=[{"Name": f"tag:{TOKEN_TAG}", "Values": [token]}]))
            if existing:
                return existing[0]
            arguments["ClientToken"] = token
        if request.network:
            arguments["SubnetId"] = request.network
        answer = self._call(lambda: self.client("ec2", request.region).run_instances(**arguments))
        return self._instance(answer["Instances"][0], request.region, answer.get("OwnerId"))

    def _create_volume(self, request: ProvisionRequest, tags: dict[str, str]) -> CloudResource:
        ec2 = self.client("ec2", request.region)
        arguments: dict[str, Any] = {
            "AvailabilityZone": str(request.options.get("zone") or f"{request.region}a"),
            "Size": int(str(request.size).removesuffix("GB")),
            "VolumeType": str(request.options.get("volume_type", "gp3")),
            "TagSpecifications": [{"ResourceType": "volume", "Tags": _tag_list(tags)}],
        }
        if token := tags.get(TOKEN_TAG):
            existing = list(self._volumes(request.region, Filters=[{"Name": f"tag:{TOKEN_TAG}", "Values": [token]}]))
            if existing:
                return existing[0]
            arguments["ClientToken"] = token
        created = self._call(lambda: ec2.create_volume(**arguments))
        return next(self._volumes(request.region, VolumeIds=[created["VolumeId"]]))

    def _create_bucket(self, request: ProvisionRequest, tags: dict[str, str]) -> CloudResource:
        """S3 has no client token: the bucket's name is its identity. A bucket of that name this
        account already owns is this operation's if it carries the operation's tag, or if it has
        no tags at all and was made in the last few minutes (a retry after a crash between
        creating and tagging it); an older untagged bucket is someone else's, never taken over."""
        s3 = self.client("s3", request.region)
        arguments: dict[str, Any] = {"Bucket": request.name}
        if request.region != "us-east-1":  # us-east-1 is S3's default and refuses the constraint
            arguments["CreateBucketConfiguration"] = {"LocationConstraint": request.region}
        try:
            s3.create_bucket(**arguments)
        except ClientError as exc:
            if _code(exc) == "BucketAlreadyExists":
                raise UnsupportedRequest(f"the bucket name {request.name!r} is taken by another account") from None
            if _code(exc) != "BucketAlreadyOwnedByYou":
                raise translate(exc) from exc
            owned = self._bucket(request.name)
            ours = (
                owned.tags.get(TOKEN_TAG) == tags.get(TOKEN_TAG, "-") if owned.tags else self._just_made(request.name)
            )
            if not ours:
                raise UnsupportedRequest(f"this account already has a bucket named {request.name!r}") from None
        tag_set = {"TagSet": _tag_list({**tags, STORAGE_CLASS_TAG: request.size})}
        self._call(lambda: s3.put_bucket_tagging(Bucket=request.name, Tagging=tag_set), request.name)
        return self._bucket(request.name)

    def _just_made(self, name: str) -> bool:
        buckets = self._call(self.client("s3").list_buckets).get("Buckets", [])
        made = next((b.get("CreationDate") for b in buckets if b["Name"] == name), None)
        return made is not None and self.clock() - made < ADOPTION_WINDOW

    def _create_database(self, request: ProvisionRequest, tags: dict[str, str]) -> CloudResource:
        """An RDS instance whose master password RDS keeps in Secrets Manager: no password
        passes through WedCloud. The identifier is unique per region, so a retry finds its own."""
        rds = self.client("rds", request.region)
        options = request.options
        try:
            rds.create_db_instance(
                DBInstanceIdentifier=request.name,
                DBInstanceClass=request.size,
                Engine=str(options["engine"]),
                AllocatedStorage=int(options.get("storage_gb", 20)),
                MasterUsername=str(options.get("master_username", "wedcloud")),
                ManageMasterUserPassword=True,
                MultiAZ=bool(options.get("multi_az", False)),
                Tags=_tag_list(tags),
            )
        except ClientError as exc:
            if _code(exc) != "DBInstanceAlreadyExists":
                raise translate(exc) from exc
            existing = self._database(request.region, request.name)
            if TOKEN_TAG not in tags or existing.tags.get(TOKEN_TAG) != tags[TOKEN_TAG]:
                raise UnsupportedRequest(f"a database named {request.name!r} exists in {request.region}") from None
            return existing
        return self._database(request.region, request.name)

    def _create_group(self, request: ProvisionRequest, tags: dict[str, str]) -> CloudResource:
        autoscaling = self.client("autoscaling", request.region)
        low, high = int(request.options.get("min", 1)), int(request.options.get("max", 4))
        template = str(request.options["launch_template"])
        key = "LaunchTemplateId" if template.startswith("lt-") else "LaunchTemplateName"
        placement = (
            {"VPCZoneIdentifier": request.network} if request.network else {"AvailabilityZones": [f"{request.region}a"]}
        )
        try:
            autoscaling.create_auto_scaling_group(
                AutoScalingGroupName=request.name,
                LaunchTemplate={key: template, "Version": "$Default"},
                MinSize=low,
                MaxSize=high,
                DesiredCapacity=int(request.options.get("desired", low)),
                Tags=[{**tag, "PropagateAtLaunch": True} for tag in _tag_list(tags)],
                **placement,
            )
        except ClientError as exc:
            if _code(exc) != "AlreadyExists":
                raise translate(exc) from exc
            existing = next(self._groups(request.region, request.name))
            if TOKEN_TAG not in tags or existing.tags.get(TOKEN_TAG) != tags[TOKEN_TAG]:
                raise UnsupportedRequest(f"an Auto Scaling group named {request.name!r} exists") from None
            return existing
        return next(self._groups(request.region, request.name))

    def describe(self, resource_id: str) -> CloudResource:
        kind, region, name = _identify(resource_id)
        if kind == "bucket":
            return self._bucket(name)
        if kind == "database":
            return self._database(region, name)
        if kind == "instance_group":
            found = list(self._groups(region, name))
            if not found:
                raise ResourceNotFound(resource_id)
            return found[0]
        if kind == "volume":
            for candidate in [region] if region else self.regions:
                try:
                    return next(self._volumes(candidate, VolumeIds=[resource_id]))
                except ResourceNotFound:
                    continue
            raise ResourceNotFound(resource_id)
        if kind == "address":
            for candidate in self.regions:  # an allocation id is unique across regions
                try:
                    return next(self._addresses(candidate, AllocationIds=[resource_id]))
                except (ResourceNotFound, StopIteration):
                    continue
            raise ResourceNotFound(resource_id)
        region = self._find_region(resource_id)
        return next(self._instances(region, InstanceIds=[resource_id]))

    def tag(self, resource_id: str, tags: Mapping[str, str]) -> CloudResource:
        """Replace the resource's own tags; its Name, AWS's ``aws:`` and WedCloud's ``wedcloud:``
        tags are kept."""
        current = self.describe(resource_id)
        kept = {k: v for k, v in current.tags.items() if k.startswith(("Name", "aws:", "wedcloud:"))}
        gone = [k for k in current.tags if k not in tags and k not in kept]
        kind, region, name = _identify(resource_id)
        region = current.region
        if kind == "bucket":
            tag_set = {"TagSet": _tag_list({**kept, **tags})}
            self._call(lambda: self.client("s3").put_bucket_tagging(Bucket=name, Tagging=tag_set), resource_id)
        elif kind == "database":
            rds = self.client("rds", region)
            if gone:
                self._call(lambda: rds.remove_tags_from_resource(ResourceName=resource_id, TagKeys=gone), resource_id)
            if tags:
                new = _tag_list(tags)
                self._call(lambda: rds.add_tags_to_resource(ResourceName=resource_id, Tags=new), resource_id)
        elif kind == "instance_group":
            autoscaling = self.client("autoscaling", region)

            def group_tags(keys: Mapping[str, str]) -> list[dict[str, Any]]:
                return [
                    {"ResourceId": name, "ResourceType": "auto-scaling-group", "Key": k, "Value": v,
                     "PropagateAtLaunch": True}
                    for k, v in keys.items()
                ]  # fmt: skip

            if gone:
                old = group_tags({k: current.tags[k] for k in gone})
                self._call(lambda: autoscaling.delete_tags(Tags=old), resource_id)
            if tags:
                self._call(lambda: autoscaling.create_or_update_tags(Tags=group_tags(tags)), resource_id)
        else:
            ec2 = self.client("ec2", region)
            if gone:
                self._call(lambda: ec2.delete_tags(Resources=[resource_id], Tags=[{"Key": k} for k in gone]))
            if tags:
                self._call(lambda: ec2.create_tags(Resources=[resource_id], Tags=_tag_list(tags)), resource_id)
        return self.describe(resource_id)

    def scale(self, resource_id: str, request: ScaleRequest) -> CloudResource:
        kind, region, name = _identify(resource_id)
        if request.capacity is not None:
            if kind != "instance_group":
                raise UnsupportedRequest("only an Auto Scaling group scales horizontally")
            return self._scale_group(region or self.default_region, name, request.capacity)
        if not request.size:
            raise UnsupportedRequest("scaling needs a new size or a capacity")
        if kind == "database":  # RDS changes the class of a running instance itself
            rds = self.client("rds", region)
            self._call(
                lambda: rds.modify_db_instance(
                    DBInstanceIdentifier=name, DBInstanceClass=request.size, ApplyImmediately=True
                ),
                resource_id,
            )
            return self._database(region, name)
        if kind != "instance":
            raise UnsupportedRequest(f"{_noun(kind)} has no instance type to change")
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

    def _scale_group(self, region: str, name: str, capacity: int) -> CloudResource:
        found = list(self._groups(region, name))
        if not found:
            raise ResourceNotFound(name)
        low, high = found[0].details["min"], found[0].details["max"]
        if not low <= capacity <= high:
            raise UnsupportedRequest(f"capacity {capacity} is outside the group's bounds {low}..{high}")
        autoscaling = self.client("autoscaling", region)
        self._call(lambda: autoscaling.set_desired_capacity(AutoScalingGroupName=name, DesiredCapacity=capacity))
        return next(self._groups(region, name))

    def _lifecycle(self, resource_id: str, action: str) -> CloudResource:
        kind, region, name = _identify(resource_id)
        if kind == "instance":
            region = self._find_region(resource_id)
            ec2 = self.client("ec2", region)
            call = {"start": ec2.start_instances, "stop": ec2.stop_instances, "terminate": ec2.terminate_instances}
            self._call(lambda: call[action](InstanceIds=[resource_id]), resource_id)
            return next(self._instances(region, InstanceIds=[resource_id]))
        if kind == "database" and action in ("start", "stop"):
            rds = self.client("rds", region)
            power = rds.start_db_instance if action == "start" else rds.stop_db_instance
            self._call(lambda: power(DBInstanceIdentifier=name), resource_id)
            return self._database(region, name)
        if action != "terminate":
            hint = "; scale the group to 0 instead" if kind == "instance_group" else ""
            raise UnsupportedRequest(f"{_noun(kind)} cannot {action}{hint}")
        before = self.describe(resource_id)
        if kind == "database":
            # a final snapshot, so that terminating a database is never the end of its data
            final = f"{name}-final-{datetime.now(UTC):%Y%m%d%H%M}"
            rds = self.client("rds", region)
            self._call(
                lambda: rds.delete_db_instance(DBInstanceIdentifier=name, FinalDBSnapshotIdentifier=final), resource_id
            )
        elif kind == "volume":
            ec2 = self.client("ec2", before.region)
            self._call(lambda: ec2.delete_volume(VolumeId=resource_id), resource_id)
        elif kind == "address":
            # EC2 refuses to release an associated address (InvalidIPAddress.InUse): say why first
            if before.attached_to:
                raise InvalidStateTransition(resource_id, f"associated with {before.attached_to}", "release")
            ec2 = self.client("ec2", before.region)
            self._call(lambda: ec2.release_address(AllocationId=resource_id), resource_id)
        elif kind == "bucket":
            try:
                self.client("s3").delete_bucket(Bucket=name)
            except ClientError as exc:
                if _code(exc) == "BucketNotEmpty":
                    raise UnsupportedRequest(f"the bucket {name!r} is not empty; empty it first") from None
                raise translate(exc, resource_id) from exc
        else:
            autoscaling = self.client("autoscaling", region)
            self._call(lambda: autoscaling.delete_auto_scaling_group(AutoScalingGroupName=name, ForceDelete=True))
        return replace(before, state=ResourceState.TERMINATED)

    def start(self, resource_id: str) -> CloudResource:
        return self._lifecycle(resource_id, "start")

    def stop(self, resource_id: str) -> CloudResource:
        return self._lifecycle(resource_id, "stop")

    def terminate(self, resource_id: str) -> CloudResource:
        return self._lifecycle(resource_id, "terminate")


def _identify(resource_id: str) -> tuple[str, str, str]:
    """(subtype, region, name) from an id: EC2 ids by prefix, the rest by ARN. The region of an
    EC2 id is not in it ("")."""
    if resource_id.startswith(BUCKET_ARN):
        return "bucket", "", resource_id.removeprefix(BUCKET_ARN)
    if resource_id.startswith("arn:aws:rds:"):
        parts = resource_id.split(":")
        return "database", parts[3], parts[-1]
    if resource_id.startswith("arn:aws:autoscaling:"):
        return "instance_group", resource_id.split(":")[3], resource_id.rsplit("autoScalingGroupName/", 1)[-1]
    if resource_id.startswith("vol-"):
        return "volume", "", resource_id
    if resource_id.startswith("eipalloc-"):
        return "address", "", resource_id
    if resource_id.startswith("i-"):
        return "instance", "", resource_id
    if resource_id.startswith("arn:"):
        raise ResourceNotFound(resource_id)
    return "instance_group", "", resource_id  # a group's bare name


def _noun(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


def _tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def _address(item: Mapping[str, Any], region: str) -> CloudResource:
    """An Elastic IP: attached to its instance, or to its network interface when that belongs
    to no instance (a NAT gateway's, a load balancer's); EC2 says nothing of when it changed."""
    tags = _tags(item.get("Tags"))
    return CloudResource(
        id=item["AllocationId"],
        name=tags.get("Name", item["PublicIp"]),
        resource_type=ResourceType.NETWORK,
        subtype="address",
        region=region,
        state=ResourceState.AVAILABLE,
        account_id="",
        tags=tags,
        attached_to=item.get("InstanceId") or item.get("NetworkInterfaceId") or None,
        details={
            "ip": item["PublicIp"],
            "allocation": "static",  # an Elastic IP is the account's until released
            "domain": item.get("Domain"),
            "association": item.get("AssociationId"),
            "network_interface": item.get("NetworkInterfaceId") or None,
            "private_ip": item.get("PrivateIpAddress"),
        },
    )


def _group(item: Mapping[str, Any], region: str) -> CloudResource:
    tags = _tags(item.get("Tags"))
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


def _database(item: Mapping[str, Any], region: str) -> CloudResource:
    return CloudResource(
        id=item["DBInstanceArn"],
        name=item["DBInstanceIdentifier"],
        resource_type=ResourceType.DATABASE,
        subtype="database",
        region=region,
        zone=item.get("AvailabilityZone"),
        state=_DB_STATES.get(item["DBInstanceStatus"], ResourceState.RUNNING),
        account_id=item["DBInstanceArn"].split(":")[4],
        size=item.get("DBInstanceClass"),
        tags=_tags(item.get("TagList")),
        created_at=item.get("InstanceCreateTime"),
        details={"engine": item.get("Engine"), "storage_gb": item.get("AllocatedStorage"),
                 "multi_az": item.get("MultiAZ")},
    )  # fmt: skip


def _probe_arguments(operation: str) -> dict[str, Any]:
    """The cheapest arguments for each permission probe (one item where the API allows it)."""
    if operation in ("describe_instances", "describe_volumes"):
        return {"MaxResults": 5}
    if operation in ("describe_db_instances", "describe_auto_scaling_groups"):
        return {"MaxRecords": 20}
    return {}
