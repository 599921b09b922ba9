"""AWS as a CloudProvider, through boto3: EC2 instances, EBS volumes and Elastic IP addresses,
S3 buckets, RDS databases and Auto Scaling groups.

:class:`AwsCloud` tests the connection, lists regions and services, checks provision requests,
and routes every other call by the resource's kind to the part that talks to its service:
:mod:`~clouds.aws.compute` (EC2 instances, Auto Scaling groups), :mod:`~clouds.aws.storage`
(EBS volumes, S3 buckets), :mod:`~clouds.aws.databases` (RDS), :mod:`~clouds.aws.addresses`
(Elastic IPs) and :mod:`~clouds.aws.metrics` (CloudWatch), all through one
:class:`~clouds.aws.api.AwsApi`. Disaster recovery has its own parts: snapshots
(:mod:`~clouds.aws.snapshots`), their cross-region copies (:mod:`~clouds.aws.snapshot_copies`),
restores (:mod:`~clouds.aws.restores`) and Route 53 failover records (:mod:`~clouds.aws.dns`).

Every list follows its paginator to the end (EC2 pages at 100 items by default), every call
retries throttling with botocore's adaptive mode, and SDK errors leave the adapter as the
errors of :mod:`clouds.errors`. An instance reports when it entered its state where EC2 says
(``details["state_since"]``: a stopped instance's ``StateTransitionReason``, a running one's
``LaunchTime``, an attached volume's ``AttachTime``) and its ``details["architecture"]`` as
``x86_64`` or ``arm64``. Utilisation metrics come from CloudWatch. Billing lives in
:mod:`clouds.aws.billing` (exports and Cost Explorer), list prices in :mod:`clouds.aws.prices`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import boto3
import polars as pl
from botocore.exceptions import BotoCoreError, ClientError

from clouds.aws.addresses import Addresses
from clouds.aws.api import DENIED, TOKEN_TAG, AwsApi, error_code, identify
from clouds.aws.compute import Compute
from clouds.aws.databases import Databases
from clouds.aws.dns import Dns
from clouds.aws.metrics import Metrics
from clouds.aws.networks import Networks
from clouds.aws.restores import Restores
from clouds.aws.snapshot_copies import SnapshotCopies
from clouds.aws.snapshots import Snapshots
from clouds.aws.storage import Storage
from clouds.base import (
    HOUR,
    CloudResource,
    ConnectionCheck,
    DnsRecordSet,
    DnsRouting,
    NotYetAdapted,
    Problem,
    ProvisionRequest,
    Region,
    ResourceState,
    ResourceType,
    ScaleRequest,
    Service,
    Snapshot,
)
from clouds.errors import CloudError, UnsupportedRequest

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
_GEOGRAPHIES = {
    "us": "North America", "ca": "North America", "eu": "Europe", "ap": "Asia Pacific", "sa": "South America",
}  # fmt: skip


def _geography(region: str) -> str:
    return _GEOGRAPHIES.get(region.split("-")[0], "Other")


def _noun(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


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
        self.api = AwsApi(credentials, regions=regions, default_region=default_region, endpoint_url=endpoint_url)
        self.compute = Compute(self.api)
        self.storage = Storage(self.api)
        self.databases = Databases(self.api)
        self.addresses = Addresses(self.api)
        self.metrics = Metrics(self.api, self.compute)
        self.snapshots = Snapshots(self.api, self.storage, self.compute)
        self.copies = SnapshotCopies(self.api, self.snapshots)
        self.networks = Networks(self.api)
        self.restores = Restores(self.api, self.snapshots, self.storage, self.databases, self.compute, self.networks)
        self.dns = Dns(self.api)

    # -- the account, as the parts share it in ``api`` ---------------------------------------
    @property
    def credentials(self) -> dict[str, Any] | None:
        return self.api.credentials

    @property
    def default_region(self) -> str:
        return self.api.default_region

    @property
    def regions(self) -> list[str]:
        return self.api.regions

    @property
    def endpoint_url(self) -> str | None:
        return self.api.endpoint_url

    @property
    def _sessions(self) -> dict[str, boto3.Session]:
        return self.api.sessions

    @property
    def clock(self) -> Callable[[], datetime]:
        return self.api.clock

    @clock.setter
    def clock(self, clock: Callable[[], datetime]) -> None:
        self.api.clock = clock

    def client(self, service: str, region: str | None = None) -> Any:
        return self.api.client(service, region)

    # -- read side -----------------------------------------------------------------------
    def test_connection(self) -> ConnectionCheck:
        try:
            identity = self.client("sts").get_caller_identity()
        except (ClientError, BotoCoreError, CloudError) as exc:  # CloudError: a role that cannot be assumed
            return ConnectionCheck(ok=False, identity="", detail=f"sts:GetCallerIdentity failed: {exc}")
        missing = []
        for permission, operation in PERMISSION_PROBES:
            service = permission.split(":")[0]
            try:
                getattr(self.client(service), operation)(**_probe_arguments(operation))
            except ClientError as exc:
                if error_code(exc) in DENIED:
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
        answer = self.api.call(lambda: self.client("ec2").describe_regions())
        names = sorted(r["RegionName"] for r in answer["Regions"])
        return [Region(name, name, _geography(name)) for name in names]

    def list_services(self) -> list[Service]:
        return list(SERVICES)

    def list_resources(self, *, region: str | None = None) -> Iterator[CloudResource]:
        regions = [region] if region else self.regions
        for name in regions:
            yield from self.compute.instances(name)
            yield from self.storage.volumes(name)
            yield from self.addresses.addresses(name)
            yield from self.databases.databases(name)
            yield from self.compute.groups(name)
        yield from self.storage.buckets(regions)

    def describe(self, resource_id: str) -> CloudResource:
        kind, region, name = identify(resource_id)
        if kind == "bucket":
            return self.storage.bucket(name)
        if kind == "database":
            return self.databases.database(region, name)
        if kind == "instance_group":
            return self.compute.describe_group(resource_id, region, name)
        if kind == "volume":
            return self.storage.describe_volume(resource_id, region)
        if kind == "address":
            return self.addresses.describe(resource_id)
        return self.compute.describe_instance(resource_id)

    def get_metrics(
        self, resource_ids: Sequence[str], *, start: datetime, end: datetime, period: timedelta = HOUR
    ) -> pl.DataFrame:
        """CloudWatch GetMetricData for instances, databases and Auto Scaling groups
        (:meth:`clouds.aws.metrics.Metrics.get_metrics`)."""
        return self.metrics.get_metrics(resource_ids, start=start, end=end, period=period)

    def recent_metrics(self, resource_ids: Sequence[str], *, start: datetime, end: datetime) -> pl.DataFrame:
        """Live samples at CloudWatch's 60 s period (:meth:`clouds.aws.metrics.Metrics.recent_metrics`)."""
        return self.metrics.recent_metrics(resource_ids, start=start, end=end)

    # -- write side ----------------------------------------------------------------------
    def provision(self, request: ProvisionRequest) -> CloudResource:
        subtype = str(request.options.get("subtype", "instance"))
        if problems := self.provision_problems(replace(request, options={**request.options, "subtype": subtype})):
            raise UnsupportedRequest("; ".join(f"{field}: {message}" for field, message in problems))
        token = request.options.get("client_token")
        tags = {"Name": request.name, **request.tags, **({TOKEN_TAG: str(token)} if token else {})}
        make = {
            "instance": self.compute.run_instance,
            "volume": self.storage.create_volume,
            "bucket": self.storage.create_bucket,
            "database": self.databases.create,
            "instance_group": self.compute.create_group,
        }.get(subtype)
        if make is None:
            raise UnsupportedRequest(f"the AWS adapter cannot provision a {subtype}")
        if request.network and request.network.startswith("vpc-"):
            request = self._placed(request, subtype)
        return make(request, tags)

    def _placed(self, request: ProvisionRequest, subtype: str) -> ProvisionRequest:
        """The request with its isolated network (a VPC id) as the subnet(s) and security group
        to launch in: an instance in the first subnet, a group over them all (its instances get
        the VPC's default security group, closed like the network's own, unless its launch
        template names one)."""
        placed = self.networks.describe(request.region, str(request.network)).details
        if subtype == "instance":
            return replace(request, network=placed["subnets"][0],
                           options={**request.options, "security_groups": [placed["security_group"]]})  # fmt: skip
        if subtype == "instance_group":
            return replace(request, network=",".join(placed["subnets"]))
        raise UnsupportedRequest(f"a {subtype} cannot be placed in an isolated network")

    def tag(self, resource_id: str, tags: Mapping[str, str]) -> CloudResource:
        """Replace the resource's own tags; its Name, AWS's ``aws:`` and WedCloud's ``wedcloud:``
        tags are kept."""
        current = self.describe(resource_id)
        kept = {k: v for k, v in current.tags.items() if k.startswith(("Name", "aws:", "wedcloud:"))}
        gone = [k for k in current.tags if k not in tags and k not in kept]
        kind, region, name = identify(resource_id)
        region = current.region
        if kind == "bucket":
            self.storage.tag_bucket(resource_id, name, {**kept, **tags})
        elif kind == "database":
            self.databases.tag(resource_id, region, gone, tags)
        elif kind == "instance_group":
            self.compute.tag_group(resource_id, region, name, current.tags, gone, tags)
        else:  # an instance, a volume or an address: EC2 tags them all
            self.api.tag_ec2(resource_id, region, gone, tags)
        return self.describe(resource_id)

    def scale(self, resource_id: str, request: ScaleRequest) -> CloudResource:
        kind, region, name = identify(resource_id)
        if request.capacity is not None:
            if kind != "instance_group":
                raise UnsupportedRequest("only an Auto Scaling group scales horizontally")
            return self.compute.scale_group(region or self.default_region, name, request.capacity)
        if not request.size:
            raise UnsupportedRequest("scaling needs a new size or a capacity")
        if kind == "database":  # RDS changes the class of a running instance itself
            return self.databases.resize(resource_id, region, name, request.size)
        if kind != "instance":
            raise UnsupportedRequest(f"{_noun(kind)} has no instance type to change")
        return self.compute.resize_instance(resource_id, request.size)

    def _lifecycle(self, resource_id: str, action: str) -> CloudResource:
        kind, region, name = identify(resource_id)
        if kind == "instance":
            return self.compute.power(resource_id, action)
        if kind == "database" and action in ("start", "stop"):
            return self.databases.power(resource_id, region, name, action)
        if action != "terminate":
            hint = "; scale the group to 0 instead" if kind == "instance_group" else ""
            raise UnsupportedRequest(f"{_noun(kind)} cannot {action}{hint}")
        before = self.describe(resource_id)
        if kind == "database":
            self.databases.delete(resource_id, region, name)
        elif kind == "volume":
            self.storage.delete_volume(resource_id, before.region)
        elif kind == "address":
            self.addresses.release(resource_id, before)
        elif kind == "bucket":
            self.storage.delete_bucket(resource_id, name)
        else:
            self.compute.delete_group(region, name)
        return replace(before, state=ResourceState.TERMINATED)

    def start(self, resource_id: str) -> CloudResource:
        return self._lifecycle(resource_id, "start")

    def stop(self, resource_id: str) -> CloudResource:
        return self._lifecycle(resource_id, "stop")

    def terminate(self, resource_id: str) -> CloudResource:
        return self._lifecycle(resource_id, "terminate")

    # -- disaster recovery: every call is safe to repeat -------------------------------------
    def snapshot(self, resource_id: str, *, name: str, tags: Mapping[str, str] | None = None) -> Snapshot:
        """An EBS snapshot of a volume, a manual DB snapshot of an RDS database or an AMI of an
        instance (:mod:`clouds.aws.snapshots`)."""
        return self.snapshots.take(resource_id, name=name, tags=tags)

    def copy_snapshot(
        self, snapshot_id: str, *, region: str, name: str, tags: Mapping[str, str] | None = None
    ) -> Snapshot:
        """A copy stored in ``region`` (:mod:`clouds.aws.snapshot_copies`)."""
        return self.copies.copy(snapshot_id, region=region, name=name, tags=tags)

    def describe_snapshot(self, snapshot_id: str) -> Snapshot:
        return self.snapshots.describe(snapshot_id)

    def list_snapshots(self, *, region: str | None = None, tags: Mapping[str, str] | None = None) -> Iterator[Snapshot]:
        return self.snapshots.list_snapshots(region=region, tags=tags)

    def delete_snapshot(self, snapshot_id: str) -> None:
        self.snapshots.delete(snapshot_id)

    def restore(
        self,
        snapshot_id: str,
        *,
        region: str,
        name: str,
        tags: Mapping[str, str] | None = None,
        size: str | None = None,
        network: str | None = None,
    ) -> CloudResource:
        """A volume, a database or an instance from the snapshot (:mod:`clouds.aws.restores`)."""
        return self.restores.restore(snapshot_id, region=region, name=name, tags=tags, size=size, network=network)

    def isolated_network(self, *, region: str, name: str, tags: Mapping[str, str]) -> CloudResource:
        """A VPC nothing routes out of, with closed security groups (:mod:`clouds.aws.networks`)."""
        return self.networks.isolated(region, name, tags)

    def isolated_networks(self, *, region: str, tags: Mapping[str, str]) -> list[CloudResource]:
        return self.networks.listed(region, tags)

    def delete_network(self, network_id: str, *, region: str) -> bool:
        return self.networks.delete(region, network_id)

    def route_dns(self, records: DnsRecordSet, *, active: str, health_check_url: str | None = None) -> DnsRouting:
        """Route 53 failover records (:mod:`clouds.aws.dns`)."""
        return self.dns.route_dns(records, active=active, health_check_url=health_check_url)

    def dns_routing(self, records: DnsRecordSet) -> DnsRouting | None:
        return self.dns.dns_routing(records)


def _probe_arguments(operation: str) -> dict[str, Any]:
    """The cheapest arguments for each permission probe (one item where the API allows it)."""
    if operation in ("describe_instances", "describe_volumes"):
        return {"MaxResults": 5}
    if operation in ("describe_db_instances", "describe_auto_scaling_groups"):
        return {"MaxRecords": 20}
    return {}
