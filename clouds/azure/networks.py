"""Isolated networks on Azure: where a drill's copies of production run without reaching anything.

One is a virtual network of its own (``10.255.0.0/16``, peered with nothing, no gateway) in the
region's recovery group (:func:`clouds.azure.snapshots.recovery_group`), with one subnet
``isolated`` (``10.255.0.0/24``, ``defaultOutboundAccess`` false: no implicit outbound address)
and a network security group ``<name>-nsg`` associated with that subnet, whose two rules deny
everything: ``deny-all-inbound`` and ``deny-all-outbound``, any protocol, port and address, at
priority 100 (the lowest number a rule may have, so they come before any other rule and before
Azure's default rules, which would allow traffic within the virtual network, from the load
balancer and out to the internet). Restored VMs' interfaces go on that subnet with no public IP
address. Made through ARM's generic resources operations (azure-mgmt-resource), as
:mod:`clouds.azure.addresses` does.

Both carry the caller's tags and :data:`ISOLATED_TAG`, so a sweep listing the subscription's
virtual networks by tag finds a network whose maker died part-way. The virtual network is made
first (with its subnet open: nothing is in it yet), then the security group, then the subnet is
associated with it, so a sweep that finds the virtual network also finds its group (by name).
Making one is safe to repeat (a PUT of the same body). Deleting one refuses a virtual network
without :data:`ISOLATED_TAG` (a production network is never deleted here), answers False while a
network interface is still on its subnet, and otherwise deletes the virtual network (its subnet
with it), then the security group.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from clouds.azure.api import NETWORK_API, Arm, ArmId, reported_tags, translate
from clouds.azure.snapshots import recovery_group
from clouds.base import CloudResource, ResourceState, ResourceType
from clouds.errors import ResourceNotFound, UnsupportedRequest

ISOLATED_TAG = "wedcloud:isolated-network"  # value "true": a network this module made and may delete
VNET = "Microsoft.Network/virtualNetworks"
NSG = "Microsoft.Network/networkSecurityGroups"
CIDR, SUBNET_CIDR, SUBNET = "10.255.0.0/16", "10.255.0.0/24", "isolated"
_IN_USE = {"InUseSubnetCannotBeDeleted", "InUseNetworkSecurityGroupCannotBeDeleted", "InUseNetworkSecurityGroup"}


def _deny(direction: str) -> dict[str, Any]:
    return {
        "name": f"deny-all-{direction.lower()}",
        "properties": {
            "direction": direction, "access": "Deny", "priority": 100, "protocol": "*",
            "sourceAddressPrefix": "*", "sourcePortRange": "*", "destinationAddressPrefix": "*",
            "destinationPortRange": "*", "description": "WedCloud drill: nothing in or out",
        },
    }  # fmt: skip


class Networks:
    """The subscription's isolated networks."""

    def __init__(self, arm: Arm, resource_group: str) -> None:
        self.arm, self.resource_group = arm, resource_group

    def isolated(self, region: str, name: str, tags: Mapping[str, str]) -> CloudResource:
        own = {**tags, ISOLATED_TAG: "true"}
        group = recovery_group(self.resource_group, region)
        network_id, nsg_id = self.arm.id_of(ArmId(group, VNET, name)), self.arm.id_of(ArmId(group, NSG, f"{name}-nsg"))
        for resource_id in (network_id, nsg_id):
            found = self._get(resource_id)
            if found is not None and reported_tags(found).get(ISOLATED_TAG) != "true":
                raise UnsupportedRequest(f"{resource_id} exists and is not an isolated network WedCloud made")
        self.arm.ensure_group(group, region)
        subnet: dict[str, Any] = {"addressPrefix": SUBNET_CIDR, "defaultOutboundAccess": False}
        network = {"location": region, "tags": own,
                   "properties": {"addressSpace": {"addressPrefixes": [CIDR]},
                                  "subnets": [{"name": SUBNET, "properties": subnet}]}}  # fmt: skip
        if self._get(network_id) is None:  # a repeated call keeps the association already made
            self._put(network_id, network)
        self._put(nsg_id, {"location": region, "tags": own,
                           "properties": {"securityRules": [_deny("Inbound"), _deny("Outbound")]}})  # fmt: skip
        subnet["networkSecurityGroup"] = {"id": nsg_id}
        self._put(network_id, network)
        return self.describe(network_id)

    def describe(self, network_id: str) -> CloudResource:
        found = self._get(network_id)
        if found is None or reported_tags(found).get(ISOLATED_TAG) != "true":
            raise ResourceNotFound(network_id)
        subnets = (found.get("properties") or {}).get("subnets") or []
        groups = [((s.get("properties") or {}).get("networkSecurityGroup") or {}).get("id") for s in subnets]
        return CloudResource(
            id=str(found["id"]), name=str(found["name"]), resource_type=ResourceType.NETWORK,
            subtype="isolated_network", region=str(found["location"]), state=ResourceState.AVAILABLE,
            account_id=self.arm.subscription_id, tags=reported_tags(found),
            details={"isolated": True, "cidr": CIDR, "subnets": [str(s["id"]) for s in subnets],
                     "subnet": str(subnets[0]["id"]) if subnets else None,
                     "security_group": groups[0] if groups else None},
        )  # fmt: skip

    def listed(self, region: str, tags: Mapping[str, str]) -> list[CloudResource]:
        wanted = {**tags, ISOLATED_TAG: "true"}
        path = f"/subscriptions/{self.arm.subscription_id}/providers/{VNET}"
        try:
            found = [n for n in self.arm.items(path, NETWORK_API)
                     if str(n.get("location")).lower() == region.lower()
                     and all(reported_tags(n).get(k) == v for k, v in wanted.items())]  # fmt: skip
        except Exception as exc:
            raise translate(exc) from exc
        return [self.describe(str(n["id"])) for n in found]

    def delete(self, network_id: str) -> bool:
        """Delete the virtual network, then its security group; False while an interface is on it."""
        nsg_id = network_id.replace(f"/providers/{VNET}/", f"/providers/{NSG}/", 1) + "-nsg"
        found = self._get(network_id)
        if found is not None:
            if reported_tags(found).get(ISOLATED_TAG) != "true":
                raise UnsupportedRequest(f"{network_id} is no isolated network WedCloud made: it is not deleted")
            if not self._delete(network_id):
                return False
        group = self._get(nsg_id)
        if group is None or reported_tags(group).get(ISOLATED_TAG) != "true":
            return True  # none was made (or it is not WedCloud's: left alone)
        return self._delete(nsg_id)

    # -- the parts ---------------------------------------------------------------------------
    def _get(self, resource_id: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = self.arm.resources.resources.get_by_id(
                resource_id, api_version=NETWORK_API
            ).as_dict()
        except ResourceNotFoundError:
            return None
        except Exception as exc:
            raise translate(exc, resource_id) from exc
        return found

    def _put(self, resource_id: str, body: dict[str, Any]) -> None:
        try:
            poller = self.arm.resources.resources.begin_create_or_update_by_id(
                resource_id, api_version=NETWORK_API, parameters=body, **self.arm.polling
            )
        except Exception as exc:
            raise translate(exc, resource_id) from exc
        self.arm.wait(poller, resource_id)

    def _delete(self, resource_id: str) -> bool:
        try:
            poller = self.arm.resources.resources.begin_delete_by_id(
                resource_id, api_version=NETWORK_API, **self.arm.polling
            )
            poller.result()
        except ResourceNotFoundError:
            return True
        except HttpResponseError as exc:
            if (getattr(exc.error, "code", None) or "") in _IN_USE:
                return False
            raise translate(exc, resource_id) from exc
        except Exception as exc:
            raise translate(exc, resource_id) from exc
        return True
