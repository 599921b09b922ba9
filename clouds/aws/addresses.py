"""Elastic IP addresses of a VPC: listed, described and released, through EC2."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from clouds.aws.api import AwsApi, tag_dict
from clouds.base import CloudResource, ResourceState, ResourceType
from clouds.errors import InvalidStateTransition, ResourceNotFound


def _address(item: Mapping[str, Any], region: str) -> CloudResource:
    """An Elastic IP: attached to its instance, or to its network interface when that belongs
    to no instance (a NAT gateway's, a load balancer's); EC2 says nothing of when it changed."""
    tags = tag_dict(item.get("Tags"))
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


class Addresses:
    """The account's Elastic IP addresses."""

    def __init__(self, api: AwsApi) -> None:
        self.api = api

    def addresses(self, region: str, **filters: Any) -> Iterator[CloudResource]:
        """Elastic IP addresses of a VPC (DescribeAddresses answers them all at once: it has no
        pages); an EC2-Classic one, without an allocation id, is left out."""
        ec2 = self.api.client("ec2", region)
        named = ",".join(filters.get("AllocationIds", [])) or None
        answer = self.api.call(lambda: ec2.describe_addresses(**filters), named)
        for item in answer.get("Addresses", []):
            if item.get("AllocationId"):  # an EC2-Classic address has none, nor an id to act on it by
                yield _address(item, region)

    def describe(self, resource_id: str) -> CloudResource:
        for candidate in self.api.regions:  # an allocation id is unique across regions
            try:
                return next(self.addresses(candidate, AllocationIds=[resource_id]))
            except (ResourceNotFound, StopIteration):
                continue
        raise ResourceNotFound(resource_id)

    def release(self, resource_id: str, before: CloudResource) -> None:
        """Release the address, ``before`` being what it was."""
        # EC2 refuses to release an associated address (InvalidIPAddress.InUse): say why first
        if before.attached_to:
            raise InvalidStateTransition(resource_id, f"associated with {before.attached_to}", "release")
        ec2 = self.api.client("ec2", before.region)
        self.api.call(lambda: ec2.release_address(AllocationId=resource_id), resource_id)
