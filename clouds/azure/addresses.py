"""Public IP addresses and the network interfaces that tell who holds them (Microsoft.Network,
through ARM's REST API and azure-mgmt-resource's generic resources operations).

azure-mgmt-network is not a dependency: public IP addresses are listed by a GET of ARM's REST
list (``Microsoft.Network/publicIPAddresses``, following ``nextLink``) through the compute
client's pipeline (its credential, retries and policies), and read, retagged and deleted by id
through azure-mgmt-resource's generic resources operations (``get_by_id``, ``begin_update_by_id``,
``begin_delete_by_id``). An address is attached to the VM of the network interface whose IP
configuration holds it (to the interface itself when it belongs to no VM or cannot be read), else
to the load balancer, gateway or NAT gateway that uses it. A listing lists the subscription's
network interfaces once, the same way (``Microsoft.Network/networkInterfaces``), for the map of
interface to VM; a describe reads the one interface by id. An address carries no time of its
state, so its ``state_since`` is absent.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from azure.core.exceptions import HttpResponseError

from clouds.azure.api import (
    ADDRESS,
    INTERFACE,
    NETWORK_API,
    Arm,
    parse_id,
    reported_tags,
    settled_state,
    translate,
)
from clouds.base import CloudResource, ResourceState, ResourceType
from clouds.errors import CloudError


def _configuration(properties: Mapping[str, Any]) -> str:
    """The id of the IP configuration holding an address (of its properties); empty without one."""
    return str((properties.get("ipConfiguration") or {}).get("id") or "")


def _is_interface(arm_id: str) -> bool:
    return f"/providers/{INTERFACE.lower()}/" in arm_id.lower()


def _interface_user(interface: Mapping[str, Any]) -> str:
    """What an address on a network interface (ARM's view of it) is attached to: its VM, else the
    interface itself (one of a private endpoint, or not yet given to a VM)."""
    vm = ((interface.get("properties") or {}).get("virtualMachine") or {}).get("id")
    return str(vm or interface["id"])


def _parent(arm_id: str) -> str:
    """The top-level resource of a child resource's id (an IP configuration's interface)."""
    pieces = arm_id.strip("/").split("/")
    lowered = [p.lower() for p in pieces]
    if "providers" not in lowered:
        return arm_id
    at = lowered.index("providers")
    return "/" + "/".join(pieces[: at + 4])


class Addresses:
    """The subscription's public IP addresses."""

    def __init__(self, arm: Arm) -> None:
        self.arm = arm

    def all(self) -> Iterator[dict[str, Any]]:
        """Every public IP address of the subscription, as ARM lists it."""
        yield from self.arm.items(f"/subscriptions/{self.arm.subscription_id}/providers/{ADDRESS}", NETWORK_API)

    def listed(self, wanted: set[str]) -> Iterator[CloudResource]:
        """The addresses in the ``wanted`` regions (every region when empty)."""
        interfaces: dict[str, str] | None = None  # network interface -> its VM, listed once when first needed
        try:
            for raw in self.all():
                if not wanted or raw["location"] in wanted:
                    if interfaces is None and _is_interface(_parent(_configuration(raw.get("properties") or {}))):
                        interfaces = self._interface_users()
                    yield self.to_cloud(raw, {} if interfaces is None else interfaces)
        except CloudError:
            raise
        except Exception as exc:
            raise translate(exc) from exc

    def to_cloud(self, raw: Mapping[str, Any], interfaces: Mapping[str, str] | None = None) -> CloudResource:
        """A public IP address, attached to what uses it (see :meth:`_user`)."""
        properties, zones = raw.get("properties") or {}, raw.get("zones") or []
        allocation = properties.get("publicIPAllocationMethod")
        return CloudResource(
            id=raw["id"], name=raw["name"], resource_type=ResourceType.NETWORK, subtype="address",
            region=raw["location"], zone=zones[0] if zones else None,
            state=settled_state(properties, ResourceState.AVAILABLE), account_id=self.arm.subscription_id,
            tags=reported_tags(raw), attached_to=self._user(raw["id"], properties, interfaces),
            details={
                "resource_group": parse_id(raw["id"]).group, "ip": properties.get("ipAddress"),
                "allocation": allocation.lower() if allocation else None, "sku": (raw.get("sku") or {}).get("name"),
                "ip_configuration": _configuration(properties) or None,
            },
        )  # fmt: skip

    def _user(self, address_id: str, properties: Mapping[str, Any], interfaces: Mapping[str, str] | None) -> str | None:
        """What an address is attached to: the VM of the network interface whose IP configuration
        holds it (the interface when it has no VM, or cannot be read), the resource owning any
        other IP configuration (a load balancer, a gateway), or the NAT gateway using it.

        ``interfaces`` is a listing's map of every interface (see :meth:`_interface_users`); an
        interface it lacks counts as attached to itself. Without one (a describe), the interface
        is read by its id."""
        configuration = _configuration(properties)
        if not configuration:
            return (properties.get("natGateway") or {}).get("id") or None
        owner = _parent(configuration)
        if not _is_interface(owner):
            return owner
        if interfaces is not None:
            return interfaces.get(owner.lower(), owner)
        try:
            found = self.arm.resources.resources.get_by_id(owner, api_version=NETWORK_API).as_dict()
        except HttpResponseError as exc:
            if exc.status_code not in (401, 403, 404):
                raise translate(exc, address_id) from exc
            return owner  # an interface this identity may not read (or gone): the interface is what is known
        except Exception as exc:
            raise translate(exc, address_id) from exc
        return _interface_user(found)

    def _interface_users(self) -> dict[str, str]:
        """Every network interface of the subscription (its id in lower case, as ARM ids are
        case-insensitive) -> what an address on it is attached to (see :func:`_interface_user`),
        from one listing. Interfaces this identity may not list are left out (so count as
        attached to themselves); any other error is the listing's."""
        users: dict[str, str] = {}
        try:
            for found in self.arm.items(
                f"/subscriptions/{self.arm.subscription_id}/providers/{INTERFACE}", NETWORK_API
            ):
                users[found["id"].lower()] = _interface_user(found)
        except HttpResponseError as exc:
            if exc.status_code not in (401, 403):
                raise translate(exc) from exc
        except Exception as exc:
            raise translate(exc) from exc
        return users

    def write(self, resource_id: str, operation: str, **arguments: Any) -> None:
        """A long-running change of an address through the generic resources operations (its
        arguments by keyword: older azure-mgmt-resource takes ``api_version`` second)."""
        try:
            poller = getattr(self.arm.resources.resources, operation)(
                resource_id, api_version=NETWORK_API, **arguments, **self.arm.polling
            )
        except Exception as exc:
            raise translate(exc, resource_id) from exc
        self.arm.wait(poller, resource_id)
