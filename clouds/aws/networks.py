"""Isolated networks: where a drill's copies of production run without reaching anything.

One is a VPC with no internet gateway (and no NAT gateway, peering or endpoint: nothing routes
out of it), two subnets in the region's first two availability zones (RDS wants a DB subnet
group over two), a security group with no ingress rule and its default egress rule revoked,
the VPC's default security group emptied the same way (an Auto Scaling group's instances get it
when their launch template names none), and a DB subnet group over the subnets.

Everything carries the caller's tags and :data:`ISOLATED_TAG`, so a sweep by tag finds a network
whose maker died part-way. Making one is safe to repeat (each part is found by its name or its
VPC before it is made); deleting one deletes, in dependency order, the DB subnet groups, the
security groups and the subnets in it, then the VPC, and refuses a VPC without
:data:`ISOLATED_TAG` (a production network is never deleted here).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from clouds.aws.api import AwsApi, error_code, tag_dict, tag_list, translate
from clouds.base import CloudResource, ResourceState, ResourceType
from clouds.errors import ResourceNotFound, UnsupportedRequest

ISOLATED_TAG = "wedcloud:isolated-network"  # value "true": a VPC this module made and may delete
CIDR = "10.255.0.0/16"  # nothing is peered with it, so it may overlap production's
_SUBNETS = ("10.255.0.0/24", "10.255.1.0/24")
_IN_USE = {"DependencyViolation", "InvalidDBSubnetGroupStateFault", "InvalidGroup.InUse"}
_GONE = {"InvalidVpcID.NotFound", "InvalidSubnetID.NotFound", "InvalidGroup.NotFound", "DBSubnetGroupNotFoundFault"}


def subnet_group_name(name: str) -> str:
    """RDS's rules for a DB subnet group's name: lower case, at most 255 characters."""
    return name.lower()[:255]


class Networks:
    """The account's isolated networks, region by region."""

    def __init__(self, api: AwsApi) -> None:
        self.api = api

    def isolated(self, region: str, name: str, tags: Mapping[str, str]) -> CloudResource:
        """The isolated network named ``name`` in ``region``, made (or completed) if needed."""
        own = {"Name": name, **tags, ISOLATED_TAG: "true"}
        ec2 = self.api.client("ec2", region)
        found = self._vpcs(region, {"Name": name, ISOLATED_TAG: "true"})
        if found:
            vpc = str(found[0]["VpcId"])
        else:
            made = self.api.call(lambda: ec2.create_vpc(
                CidrBlock=CIDR, TagSpecifications=[{"ResourceType": "vpc", "Tags": tag_list(own)}]))  # fmt: skip
            vpc = str(made["Vpc"]["VpcId"])
        subnets = self._subnets(region, vpc, own)
        group = self._security_group(region, vpc, name, own)
        for default in self._groups(region, vpc, [{"Name": "group-name", "Values": ["default"]}]):
            self._close(region, default)
        self._subnet_group(region, name, subnets, own)
        return self.describe(region, vpc, expected_group=group)

    def describe(self, region: str, vpc: str, *, expected_group: str | None = None) -> CloudResource:
        """The isolated network of VPC ``vpc``: its subnets, security group and DB subnet group."""
        found = self._vpcs(region, {ISOLATED_TAG: "true"}, VpcIds=[vpc])
        if not found:
            raise ResourceNotFound(vpc)
        item = found[0]
        tags = tag_dict(item.get("Tags"))
        name = tags.get("Name", vpc)
        subnets = sorted(str(s["SubnetId"]) for s in self._subnet_items(region, vpc))
        groups = [g for g in self._groups(region, vpc, []) if g["GroupName"] != "default"]
        group = expected_group or (str(groups[0]["GroupId"]) if groups else None)
        gateways = self.api.call(lambda: self.api.client("ec2", region).describe_internet_gateways(
            Filters=[{"Name": "attachment.vpc-id", "Values": [vpc]}]))["InternetGateways"]  # fmt: skip
        return CloudResource(
            id=vpc, name=name, resource_type=ResourceType.NETWORK, subtype="isolated_network", region=region,
            state=ResourceState.AVAILABLE, account_id=str(item.get("OwnerId", "")), tags=tags,
            details={"isolated": True, "cidr": item.get("CidrBlock"), "subnets": subnets, "security_group": group,
                     "db_subnet_group": subnet_group_name(name),
                     "internet_gateways": [str(g["InternetGatewayId"]) for g in gateways]},
        )  # fmt: skip

    def listed(self, region: str, tags: Mapping[str, str]) -> list[CloudResource]:
        return [self.describe(region, str(v["VpcId"])) for v in self._vpcs(region, {**tags, ISOLATED_TAG: "true"})]

    def delete(self, region: str, vpc: str) -> bool:
        """Delete the isolated network and what is in it; False while something still uses it
        (a copy's network interface outlives the copy for a while): call again later."""
        try:
            found = self._vpcs(region, {}, VpcIds=[vpc])
        except ResourceNotFound:
            return True
        if not found:
            return True
        if tag_dict(found[0].get("Tags")).get(ISOLATED_TAG) != "true":
            raise UnsupportedRequest(f"{vpc} is no isolated network WedCloud made: it is not deleted")
        ec2, rds = self.api.client("ec2", region), self.api.client("rds", region)
        steps: list[Any] = [
            lambda g=g: rds.delete_db_subnet_group(DBSubnetGroupName=g["DBSubnetGroupName"])
            for g in self.api.pages("rds", region, "describe_db_subnet_groups", "DBSubnetGroups")
            if g.get("VpcId") == vpc
        ]
        steps += [lambda g=g: ec2.delete_security_group(GroupId=g["GroupId"])
                  for g in self._groups(region, vpc, []) if g["GroupName"] != "default"]  # fmt: skip
        steps += [lambda s=s: ec2.delete_subnet(SubnetId=s["SubnetId"]) for s in self._subnet_items(region, vpc)]
        steps.append(lambda: ec2.delete_vpc(VpcId=vpc))
        for step in steps:
            try:
                step()
            except ClientError as exc:
                if error_code(exc) in _IN_USE:
                    return False
                if error_code(exc) not in _GONE:
                    raise translate(exc, vpc) from exc
            except BotoCoreError as exc:
                raise translate(exc, vpc) from exc
        return True

    # -- the parts ---------------------------------------------------------------------------
    def _vpcs(self, region: str, tags: Mapping[str, str], **kwargs: Any) -> list[dict[str, Any]]:
        filters = [{"Name": f"tag:{k}", "Values": [v]} for k, v in tags.items()]
        ec2 = self.api.client("ec2", region)
        try:
            return list(ec2.describe_vpcs(Filters=filters, **kwargs)["Vpcs"])
        except ClientError as exc:
            if error_code(exc) == "InvalidVpcID.NotFound":
                return []
            raise translate(exc) from exc
        except BotoCoreError as exc:
            raise translate(exc) from exc

    def _subnet_items(self, region: str, vpc: str) -> Iterator[dict[str, Any]]:
        return self.api.pages("ec2", region, "describe_subnets", "Subnets",
                              Filters=[{"Name": "vpc-id", "Values": [vpc]}])  # fmt: skip

    def _subnets(self, region: str, vpc: str, tags: Mapping[str, str]) -> list[str]:
        ec2 = self.api.client("ec2", region)
        zones = sorted(str(z["ZoneName"]) for z in self.api.call(lambda: ec2.describe_availability_zones(
            Filters=[{"Name": "state", "Values": ["available"]}]))["AvailabilityZones"])[:2]  # fmt: skip
        if len(zones) < 2:
            raise UnsupportedRequest(f"{region} has fewer than two availability zones: RDS needs two")
        have = {str(s["AvailabilityZone"]): str(s["SubnetId"]) for s in self._subnet_items(region, vpc)}
        for zone, cidr in zip(zones, _SUBNETS, strict=True):
            if zone not in have:
                have[zone] = self._subnet(ec2, vpc, zone, cidr, tags)
        return [have[zone] for zone in zones]

    def _subnet(self, ec2: Any, vpc: str, zone: str, cidr: str, tags: Mapping[str, str]) -> str:
        specification = [{"ResourceType": "subnet", "Tags": tag_list(tags)}]
        made = self.api.call(lambda: ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=zone,
                                                       TagSpecifications=specification))  # fmt: skip
        return str(made["Subnet"]["SubnetId"])

    def _groups(self, region: str, vpc: str, filters: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return list(self.api.pages("ec2", region, "describe_security_groups", "SecurityGroups",
                                   Filters=[{"Name": "vpc-id", "Values": [vpc]}, *filters]))  # fmt: skip

    def _security_group(self, region: str, vpc: str, name: str, tags: Mapping[str, str]) -> str:
        found = self._groups(region, vpc, [{"Name": "group-name", "Values": [name]}])
        if found:
            group = found[0]
        else:
            ec2 = self.api.client("ec2", region)
            made = self.api.call(lambda: ec2.create_security_group(
                GroupName=name, VpcId=vpc, Description="WedCloud drill: no ingress, no egress",
                TagSpecifications=[{"ResourceType": "security-group", "Tags": tag_list(tags)}]))  # fmt: skip
            group = self._groups(region, vpc, [{"Name": "group-id", "Values": [made["GroupId"]]}])[0]
        self._close(region, group)
        return str(group["GroupId"])

    def _close(self, region: str, group: Mapping[str, Any]) -> None:
        """Revoke every ingress and egress rule of the security group."""
        ec2 = self.api.client("ec2", region)
        if rules := group.get("IpPermissions"):
            self.api.call(lambda: ec2.revoke_security_group_ingress(GroupId=group["GroupId"], IpPermissions=rules))
        if rules := group.get("IpPermissionsEgress"):
            self.api.call(lambda: ec2.revoke_security_group_egress(GroupId=group["GroupId"], IpPermissions=rules))

    def _subnet_group(self, region: str, name: str, subnets: list[str], tags: Mapping[str, str]) -> None:
        rds = self.api.client("rds", region)
        try:
            rds.create_db_subnet_group(
                DBSubnetGroupName=subnet_group_name(name), SubnetIds=subnets, Tags=tag_list(tags),
                DBSubnetGroupDescription="WedCloud drill: an isolated network's subnets",
            )  # fmt: skip
        except ClientError as exc:
            if error_code(exc) != "DBSubnetGroupAlreadyExists":
                raise translate(exc) from exc
        except BotoCoreError as exc:
            raise translate(exc) from exc
