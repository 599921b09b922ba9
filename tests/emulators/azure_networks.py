"""Virtual networks (with their subnets) and network security groups (``Microsoft.Network``,
api-version 2024-05-01), served by the ARM compute emulator (:mod:`tests.emulators.azure_compute`),
whose network interfaces join their subnets.

What it enforces, as ARM's REST reference has it: a PUT needs a location and a resource group
that exists, and is long-running (``Azure-AsyncOperation``), answering 201 when it creates and
200 when it replaces; a virtual network needs ``addressSpace.addressPrefixes``, each subnet a
name and an ``addressPrefix``, and a subnet's ``networkSecurityGroup`` must exist in the same
location (400 ``InvalidResourceReference``); a security group's ``securityRules`` have a
priority 100..4096, unique per direction (400 ``SecurityRulesInvalidPriority``), a direction
``Inbound`` or ``Outbound`` and an access ``Allow`` or ``Deny``; it reports Azure's six
``defaultSecurityRules`` (priorities 65000-65500). A network interface's subnet, when it names a
virtual network the emulator holds, must be one of its subnets (400 ``InvalidResourceReference``;
other subnets are taken on trust). Deleting a virtual network one of whose subnets an interface
is on answers 400 ``InUseSubnetCannotBeDeleted``; deleting a security group a subnet uses answers
400 ``InUseNetworkSecurityGroupCannotBeDeleted``; deleting what is gone answers 204. Both kinds
are listed per subscription with ``nextLink`` and read; ``deny`` takes
``Microsoft.Network/virtualNetworks/write`` and the like.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tests.emulators.http import HttpError, Reply, Request

if TYPE_CHECKING:
    from tests.emulators.azure_compute import AzureComputeEmulator

SUB = r"/subscriptions/(?P<sub>[^/]+)"
GROUP = SUB + r"/(?i:resourceGroups)/(?P<rg>[^/]+)"
VNET = GROUP + r"/providers/(?i:Microsoft\.Network)/(?i:virtualNetworks)/(?P<name>[^/]+)"
NSG = GROUP + r"/providers/(?i:Microsoft\.Network)/(?i:networkSecurityGroups)/(?P<name>[^/]+)"
DEFAULT_RULES = (
    ("AllowVnetInBound", "Inbound", "Allow", 65000), ("AllowAzureLoadBalancerInBound", "Inbound", "Allow", 65001),
    ("DenyAllInBound", "Inbound", "Deny", 65500), ("AllowVnetOutBound", "Outbound", "Allow", 65000),
    ("AllowInternetOutBound", "Outbound", "Allow", 65001), ("DenyAllOutBound", "Outbound", "Deny", 65500),
)  # fmt: skip


def _error(status: int, code: str, message: str) -> HttpError:
    return HttpError(status, {"error": {"code": code, "message": message}})


@dataclass
class NetworkItem:
    """A virtual network or a network security group: ARM's view of it, as last PUT."""

    subscription: str
    group: str
    kind: str  # virtualNetworks or networkSecurityGroups
    name: str
    location: str
    tags: dict[str, str] = field(default_factory=dict)
    properties: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"/subscriptions/{self.subscription}/resourceGroups/{self.group}/providers/Microsoft.Network/" + (
            f"{self.kind}/{self.name}"
        )

    def subnet_ids(self) -> list[str]:
        return [f"{self.id}/subnets/{s['name']}" for s in self.properties.get("subnets") or []]

    def view(self) -> dict[str, Any]:
        properties: dict[str, Any] = {**self.properties, "provisioningState": "Succeeded"}
        if self.kind == "virtualNetworks":
            properties["subnets"] = [
                {**s, "id": f"{self.id}/subnets/{s['name']}"} for s in properties.get("subnets", [])
            ]
        else:
            properties["defaultSecurityRules"] = [
                {"name": name, "id": f"{self.id}/defaultSecurityRules/{name}",
                 "properties": {"direction": direction, "access": access, "priority": priority, "protocol": "*",
                                "sourceAddressPrefix": "*", "destinationAddressPrefix": "*"}}
                for name, direction, access, priority in DEFAULT_RULES
            ]  # fmt: skip
        return {"id": self.id, "name": self.name, "type": f"Microsoft.Network/{self.kind}",
                "location": self.location, "tags": self.tags, "properties": properties}  # fmt: skip


class AzureNetworks:
    """The virtual network and security group routes, registered on ``host``."""

    def __init__(self, host: AzureComputeEmulator) -> None:
        self.host = host
        self.items: dict[tuple[str, str, str, str], NetworkItem] = {}  # (subscription, kind, group, name) lower
        for kind, item in (("virtualNetworks", VNET), ("networkSecurityGroups", NSG)):
            host.route("GET", SUB + rf"/providers/(?i:Microsoft\.Network)/(?i:{kind})", self._list(kind))
            host.route("GET", item, self._get(kind))
            host.route("PUT", item, self._put(kind))
            host.route("DELETE", item, self._delete(kind))

    def reset(self) -> None:
        with self.host.lock:
            self.items.clear()

    def of(self, kind: str) -> list[NetworkItem]:
        with self.host.lock:
            return sorted((i for i in self.items.values() if i.kind == kind), key=lambda i: i.id.lower())

    def by_id(self, arm_id: str, kind: str) -> NetworkItem | None:
        parts = arm_id.split("/")
        if len(parts) < 9 or parts[7].lower() != kind.lower():
            return None
        with self.host.lock:
            return self.items.get((parts[2], kind, parts[4].lower(), parts[8].lower()))

    def check_subnet(self, subnet_id: str) -> None:
        """A network interface's subnet: one of its virtual network's, when the emulator holds that."""
        network = self.by_id(subnet_id.split("/subnets/")[0], "virtualNetworks")
        if network is not None and subnet_id.lower() not in {s.lower() for s in network.subnet_ids()}:
            raise _error(400, "InvalidResourceReference", f"Resource {subnet_id} referenced by resource was not found.")

    def _key(self, request: Request, kind: str) -> tuple[str, str, str, str]:
        return (request.params["sub"], kind, request.params["rg"].lower(), request.params["name"].lower())

    def _find(self, request: Request, kind: str) -> NetworkItem:
        with self.host.lock:
            found = self.items.get(self._key(request, kind))
        if found is None:
            raise _error(404, "ResourceNotFound", f"The Resource '{request.params['name']}' was not found.")
        return found

    def _list(self, kind: str) -> Callable[[Request], Reply]:
        def handler(request: Request) -> Reply:
            subscription = self.host._check(request, f"Microsoft.Network/{kind}/read")
            return self.host._page(request, [i.view() for i in self.of(kind) if i.subscription == subscription])

        return handler

    def _get(self, kind: str) -> Callable[[Request], Reply]:
        def handler(request: Request) -> Reply:
            self.host._check(request, f"Microsoft.Network/{kind}/read")
            return Reply(200, self._find(request, kind).view())

        return handler

    def _put(self, kind: str) -> Callable[[Request], Reply]:
        def handler(request: Request) -> Reply:
            subscription = self.host._check(request, f"Microsoft.Network/{kind}/write")
            body = request.json() or {}
            if not body.get("location"):
                raise _error(400, "LocationRequired", "The location property is required.")
            self.host._require_group(subscription, request.params["rg"])
            properties = dict(body.get("properties") or {})
            properties.pop("provisioningState", None)
            properties.pop("defaultSecurityRules", None)
            getattr(self, f"_checked_{kind}")(body["location"], properties)
            key = self._key(request, kind)
            with self.host.lock:
                existing = self.items.get(key)
                item = NetworkItem(subscription, request.params["rg"], kind, request.params["name"],
                                   body["location"], dict(body.get("tags") or {}), properties)  # fmt: skip
                self.items[key] = item
            return self.host._long_running(request, item.location, 200 if existing else 201, item.view(),
                                           namespace="Microsoft.Network")  # fmt: skip

        return handler

    def _checked_virtualNetworks(self, location: str, properties: dict[str, Any]) -> None:  # noqa: N802
        if not (properties.get("addressSpace") or {}).get("addressPrefixes"):
            raise _error(400, "InvalidRequestFormat", "properties.addressSpace.addressPrefixes is required.")
        subnets = []
        for subnet in properties.get("subnets") or []:
            inner = dict(subnet.get("properties") or {})
            if not subnet.get("name") or not inner.get("addressPrefix"):
                raise _error(400, "InvalidRequestFormat", "Each subnet needs a name and an addressPrefix.")
            group_id = (inner.get("networkSecurityGroup") or {}).get("id")
            if group_id:
                group = self.by_id(group_id, "networkSecurityGroups")
                if group is None or group.location != location:
                    raise _error(400, "InvalidResourceReference", f"Resource {group_id} referenced by resource "
                                 "was not found or is in another location.")  # fmt: skip
            subnets.append({"name": subnet["name"], "properties": inner})
        properties["subnets"] = subnets

    def _checked_networkSecurityGroups(self, location: str, properties: dict[str, Any]) -> None:  # noqa: N802
        seen: set[tuple[str, int]] = set()
        for rule in properties.get("securityRules") or []:
            inner = rule.get("properties") or {}
            direction, access, priority = inner.get("direction"), inner.get("access"), int(inner.get("priority") or 0)
            if direction not in ("Inbound", "Outbound") or access not in ("Allow", "Deny"):
                raise _error(400, "InvalidRequestFormat", f"Rule {rule.get('name')}: a direction and an access.")
            if not 100 <= priority <= 4096 or (direction, priority) in seen:
                raise _error(400, "SecurityRulesInvalidPriority", f"Rule {rule.get('name')}: priority {priority} is "
                             "outside 100..4096 or taken by another rule of its direction.")  # fmt: skip
            seen.add((direction, priority))

    def _users(self, item: NetworkItem) -> list[str]:
        with self.host.lock:
            if item.kind == "virtualNetworks":
                subnets = {s.lower() for s in item.subnet_ids()}
                return [n.id for n in self.host.nics.values() if (n.subnet or "").lower() in subnets]
            return [f"{n.id}/subnets/{s['name']}" for n in self.items.values() if n.kind == "virtualNetworks"
                    for s in n.properties.get("subnets") or []
                    if ((s["properties"].get("networkSecurityGroup") or {}).get("id") or "").lower()
                    == item.id.lower()]  # fmt: skip

    def _delete(self, kind: str) -> Callable[[Request], Reply]:
        codes = {"virtualNetworks": "InUseSubnetCannotBeDeleted",
                 "networkSecurityGroups": "InUseNetworkSecurityGroupCannotBeDeleted"}  # fmt: skip

        def handler(request: Request) -> Reply:
            self.host._check(request, f"Microsoft.Network/{kind}/delete")
            with self.host.lock:
                item = self.items.get(self._key(request, kind))
            if item is None:
                return Reply(204, None)
            if users := self._users(item):
                raise _error(400, codes[kind], f"{item.id} is in use by {users[0]} and cannot be deleted.")
            with self.host.lock:
                self.items.pop(self._key(request, kind), None)
            return self.host._long_running(request, item.location, 202, namespace="Microsoft.Network")

        return handler
