"""Everything a disaster-recovery drill could leave behind in moto, as plain sorted data.

A drill must leave the cloud holding exactly what it held before; a test proves it by comparing
``moto_inventory(...)`` taken before and after (``assert before == after``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from clouds.aws import credentials as aws_credentials

TEST_KEYS = {"access_key_id": "AKIAIOSFODNN7EXAMPLE", "secret_access_key": "testing-secret-not-real"}


def _tags(items: Sequence[dict[str, str]] | None) -> dict[str, str]:
    return {item["Key"]: item.get("Value", "") for item in items or ()}


def _pages(client: Any, operation: str, key: str, **arguments: Any) -> Iterator[dict[str, Any]]:
    for page in client.get_paginator(operation).paginate(**arguments):
        yield from page.get(key, [])


def moto_inventory(endpoint_url: str, regions: Sequence[str], *, keys: dict[str, str] | None = None) -> dict[str, Any]:
    """What moto holds in ``regions``: EC2 instances, EBS volumes, the account's own EBS snapshots
    and AMIs, RDS DB instances and manual DB snapshots, Auto Scaling groups, VPCs, subnets,
    security groups (with their rules), internet gateways and DB subnet groups; and, being
    global, every Route 53 hosted
    zone with all its record sets, and every Route 53 health check. Each item has its id, its
    tags and its state, each list is sorted.

    Terminated instances are left out: AWS (and moto) keeps listing an instance for a while after
    it is terminated, so a drill that terminated what it started would otherwise seem to leave
    it behind. An instance still ``shutting-down`` is listed: it is not gone yet."""

    def client(service: str, region: str) -> Any:
        return aws_credentials.client(aws_credentials.session_for(keys or TEST_KEYS, region), service, endpoint_url)

    found: dict[str, list[dict[str, Any]]] = {
        "instances": [], "volumes": [], "snapshots": [], "images": [], "db_instances": [], "db_snapshots": [],
        "groups": [], "vpcs": [], "subnets": [], "security_groups": [], "internet_gateways": [],
        "db_subnet_groups": [],
    }  # fmt: skip
    account = client("sts", "us-east-1").get_caller_identity()["Account"]
    for region in regions:
        ec2, rds, autoscaling = client("ec2", region), client("rds", region), client("autoscaling", region)
        for reservation in _pages(ec2, "describe_instances", "Reservations"):
            found["instances"] += [
                {"region": region, "id": i["InstanceId"], "state": i["State"]["Name"], "type": i["InstanceType"],
                 "image": i.get("ImageId"), "tags": _tags(i.get("Tags"))}
                for i in reservation["Instances"]
                if i["State"]["Name"] != "terminated"
            ]  # fmt: skip
        found["volumes"] += [
            {"region": region, "id": v["VolumeId"], "state": v["State"], "size": v["Size"],
             "snapshot": v.get("SnapshotId") or None, "tags": _tags(v.get("Tags"))}
            for v in _pages(ec2, "describe_volumes", "Volumes")
        ]  # fmt: skip
        found["snapshots"] += [
            {"region": region, "id": s["SnapshotId"], "state": s["State"], "volume": s.get("VolumeId"),
             "tags": _tags(s.get("Tags"))}
            # owner-id too: moto ignores OwnerIds and lists the snapshots of Amazon's AMIs as well
            for s in _pages(ec2, "describe_snapshots", "Snapshots", OwnerIds=["self"],
                            Filters=[{"Name": "owner-id", "Values": [account]}])
        ]  # fmt: skip
        found["images"] += [
            {"region": region, "id": i["ImageId"], "name": i.get("Name"), "state": i["State"],
             "disks": sorted(m["Ebs"]["SnapshotId"] for m in i.get("BlockDeviceMappings", []) if "Ebs" in m),
             "tags": _tags(i.get("Tags"))}
            for i in _pages(ec2, "describe_images", "Images", Owners=["self"])
        ]  # fmt: skip
        found["db_instances"] += [
            {"region": region, "id": d["DBInstanceIdentifier"], "state": d["DBInstanceStatus"],
             "class": d["DBInstanceClass"], "tags": _tags(d.get("TagList"))}
            for d in _pages(rds, "describe_db_instances", "DBInstances")
        ]  # fmt: skip
        found["db_snapshots"] += [
            {"region": region, "id": s["DBSnapshotIdentifier"], "state": s["Status"],
             "database": s.get("DBInstanceIdentifier"), "tags": _tags(s.get("TagList"))}
            for s in _pages(rds, "describe_db_snapshots", "DBSnapshots", SnapshotType="manual")
        ]  # fmt: skip
        found["groups"] += [
            {"region": region, "id": g["AutoScalingGroupName"], "min": g["MinSize"], "max": g["MaxSize"],
             "desired": g["DesiredCapacity"], "tags": {t["Key"]: t.get("Value", "") for t in g.get("Tags", [])}}
            for g in _pages(autoscaling, "describe_auto_scaling_groups", "AutoScalingGroups")
        ]  # fmt: skip
        _networks(found, region, ec2, rds)
    route53 = client("route53", "us-east-1")
    zones = [
        {"id": zone["Id"], "name": zone["Name"],
         "record_sets": sorted(
             (_record(r) for r in _pages(route53, "list_resource_record_sets", "ResourceRecordSets",
                                         HostedZoneId=zone["Id"])),
             key=lambda r: (r["name"], r["type"], r["set_identifier"] or ""),
         )}
        for zone in _pages(route53, "list_hosted_zones", "HostedZones")
    ]  # fmt: skip
    checks = [
        {"id": c["Id"], "caller_reference": c["CallerReference"], "config": c["HealthCheckConfig"],
         "tags": _tags(route53.list_tags_for_resource(ResourceType="healthcheck", ResourceId=c["Id"])
                       ["ResourceTagSet"].get("Tags"))}
        for c in _pages(route53, "list_health_checks", "HealthChecks")
    ]  # fmt: skip
    inventory: dict[str, Any] = {
        kind: sorted(items, key=lambda i: (i["region"], i["id"])) for kind, items in found.items()
    }
    inventory["hosted_zones"] = sorted(zones, key=lambda z: z["id"])
    inventory["health_checks"] = sorted(checks, key=lambda c: c["id"])
    return inventory


def _networks(found: dict[str, list[dict[str, Any]]], region: str, ec2: Any, rds: Any) -> None:
    found["vpcs"] += [{"region": region, "id": v["VpcId"], "cidr": v["CidrBlock"], "tags": _tags(v.get("Tags"))}
                      for v in _pages(ec2, "describe_vpcs", "Vpcs")]  # fmt: skip
    found["subnets"] += [
        {"region": region, "id": s["SubnetId"], "vpc": s["VpcId"], "zone": s["AvailabilityZone"],
         "cidr": s["CidrBlock"], "tags": _tags(s.get("Tags"))}
        for s in _pages(ec2, "describe_subnets", "Subnets")
    ]  # fmt: skip
    found["security_groups"] += [
        {"region": region, "id": g["GroupId"], "name": g["GroupName"], "vpc": g.get("VpcId"),
         "ingress": len(g.get("IpPermissions", [])), "egress": len(g.get("IpPermissionsEgress", [])),
         "tags": _tags(g.get("Tags"))}
        for g in _pages(ec2, "describe_security_groups", "SecurityGroups")
    ]  # fmt: skip
    found["internet_gateways"] += [
        {"region": region, "id": g["InternetGatewayId"], "vpcs": sorted(a["VpcId"] for a in g.get("Attachments", [])),
         "tags": _tags(g.get("Tags"))}
        for g in _pages(ec2, "describe_internet_gateways", "InternetGateways")
    ]  # fmt: skip
    found["db_subnet_groups"] += [
        {"region": region, "id": g["DBSubnetGroupName"], "vpc": g.get("VpcId"),
         "subnets": sorted(s["SubnetIdentifier"] for s in g.get("Subnets", []))}
        for g in _pages(rds, "describe_db_subnet_groups", "DBSubnetGroups")
    ]  # fmt: skip


def _record(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": record["Name"],
        "type": record["Type"],
        "set_identifier": record.get("SetIdentifier"),
        "failover": record.get("Failover"),
        "weight": record.get("Weight"),
        "ttl": record.get("TTL"),
        "values": sorted(value["Value"] for value in record.get("ResourceRecords", [])),
        "alias": (record.get("AliasTarget") or {}).get("DNSName"),
        "health_check": record.get("HealthCheckId"),
    }
