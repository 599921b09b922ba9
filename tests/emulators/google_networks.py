"""Compute Engine's VPC networks, subnetworks, firewall rules and routes
(``/compute/v1/projects/<p>/global/{networks,firewalls,routes}`` and
``/regions/<r>/subnetworks``), served by the Compute Engine emulator
(:mod:`tests.emulators.google_compute`), whose instances' network interfaces name them.

What it enforces, as the Compute API reference documents it: names match
``[a-z]([-a-z0-9]{0,61}[a-z0-9])?`` and are unique (409 ``alreadyExists``); a network made
carries, as Compute Engine makes it, a route ``default-route-<n>`` for ``0.0.0.0/0`` to
``default-internet-gateway`` (priority 1000), which may be deleted; there is no way to make a
network without it. A subnetwork, firewall rule or route needs a network that exists (404); a
subnetwork's ``ipCidrRange`` is needed; a firewall rule has a ``direction`` (INGRESS by
default), a priority 0..65535 and either ``allowed`` or ``denied``. A network with subnetworks,
firewall rules or routes cannot be deleted, nor a subnetwork an instance's interface is on (400
``resourceInUseByAnotherResource``). The project's ``default`` network is implied (not listed):
instances may name it. Lists answer every item (no paging, no filter: a filter is refused with
400, so a filter the adapter sent is one this emulator understood). Inserts and deletes take
effect at once and answer a global operation (a region operation for subnetworks), ``RUNNING``
until polled once.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.emulators.http import HttpError, Reply, Request

BASE = "https://www.googleapis.com/compute/v1"
PROJECT = r"/compute/v1/projects/(?P<project>[^/]+)"
NETWORKS, FIREWALLS, ROUTES = (PROJECT + f"/global/{c}" for c in ("networks", "firewalls", "routes"))
SUBNETWORKS = PROJECT + r"/regions/(?P<region>[^/]+)/subnetworks"
ONE = r"/(?P<name>[^/]+)"
_NAME = re.compile(r"[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?")
_LINK = re.compile(
    r"(?:.*/)?projects/(?P<project>[^/]+)/(?P<scope>global|regions/[^/]+)/(?P<kind>[a-zA-Z]+)/(?P<name>[^/]+)"
)
STATUS = {400: "INVALID_ARGUMENT", 404: "NOT_FOUND", 409: "ALREADY_EXISTS"}


def _error(code: int, message: str, reason: str = "invalid") -> HttpError:
    return HttpError(
        code,
        {"error": {"code": code, "message": message, "status": STATUS.get(code, "UNKNOWN"),
                   "errors": [{"message": message, "domain": "global", "reason": reason}]}},
    )  # fmt: skip


def link(project: str, scope: str, kind: str, name: str) -> str:
    return f"{BASE}/projects/{project}/{scope}/{kind}/{name}"


@dataclass
class Item:
    """A network, subnetwork, firewall rule or route: its JSON body as Compute Engine answers it."""

    project: str
    scope: str  # "global" or "regions/<region>"
    kind: str  # networks, subnetworks, firewalls, routes
    name: str
    body: dict[str, Any] = field(default_factory=dict)

    @property
    def self_link(self) -> str:
        return link(self.project, self.scope, self.kind, self.name)

    def view(self) -> dict[str, Any]:
        return {**self.body, "name": self.name, "selfLink": self.self_link,
                "creationTimestamp": "2026-11-01T09:00:00.000-07:00"}  # fmt: skip


class GoogleNetworks:
    """The network routes, registered on ``host`` (the Compute Engine emulator), whose lock,
    permission check, ids and operations they share."""

    def __init__(self, host: Any, check: Callable[[Request, str], str], global_operation: Any) -> None:
        self.host, self._check, self._global_operation = host, check, global_operation
        self.items: dict[tuple[str, str, str, str], Item] = {}  # (project, scope, kind, name)
        for kind, collection in (("networks", NETWORKS), ("firewalls", FIREWALLS), ("routes", ROUTES),
                                 ("subnetworks", SUBNETWORKS)):  # fmt: skip
            host.route("GET", collection, self._list(kind))
            host.route("POST", collection, self._insert(kind))
            host.route("GET", collection + ONE, self._get(kind))
            host.route("DELETE", collection + ONE, self._delete(kind))

    def reset(self) -> None:
        with self.host.lock:
            self.items.clear()

    def of(self, kind: str, project: str | None = None) -> list[Item]:
        """Every item of a kind (a test's listing)."""
        with self.host.lock:
            return sorted((i for i in self.items.values() if i.kind == kind and project in (None, i.project)),
                          key=lambda i: (i.scope, i.name))  # fmt: skip

    def resolve(self, project: str, reference: str, kind: str) -> Item | None:
        """The item a URL or partial URL (``global/networks/x``) names; None for the implied default."""
        found = _LINK.fullmatch(reference) or _LINK.fullmatch(f"projects/{project}/{reference}")
        if found is None or found["kind"] != kind:
            raise _error(400, f"Invalid value for a {kind[:-1]} reference: '{reference}'.")
        if kind == "networks" and found["name"] == "default":
            return None
        with self.host.lock:
            item = self.items.get((found["project"], found["scope"], kind, found["name"]))
        if item is None:
            raise _error(404, f"The resource '{reference}' was not found", "notFound")
        return item

    def interface(self, project: str, nic: dict[str, Any]) -> dict[str, Any]:
        """An instance's network interface as inserted, its network and subnetwork as full URLs:
        they must exist, the subnetwork be of the network, and a custom-mode network's interface
        name a subnetwork (400)."""
        network = self.resolve(project, str(nic.get("network") or "global/networks/default"), "networks")
        shown = {**nic, "network": network.self_link if network else link(project, "global", "networks", "default")}
        if nic.get("subnetwork"):
            subnetwork = self.resolve(project, str(nic["subnetwork"]), "subnetworks")
            if subnetwork is None or subnetwork.body["network"] != shown["network"]:
                raise _error(400, f"Subnetwork '{nic['subnetwork']}' is not in network '{shown['network']}'.")
            shown["subnetwork"] = subnetwork.self_link
        elif network is not None and not network.body.get("autoCreateSubnetworks"):
            raise _error(400, "Invalid value for field 'resource.networkInterfaces[0].subnetwork': a custom-mode "
                         "network's interface needs a subnetwork.")  # fmt: skip
        return shown

    # -- routes ----------------------------------------------------------------------------------
    @staticmethod
    def _scope(request: Request) -> str:
        return f"regions/{request.params['region']}" if "region" in request.params else "global"

    def _operation(self, project: str, scope: str, kind: str, target: str) -> Reply:
        if scope == "global":
            return self._global_operation(project, kind, target, lambda: None)
        return self.host._operation_for(project, "", kind, target, region=scope.removeprefix("regions/"))

    def _find(self, request: Request, kind: str) -> Item:
        key = (request.params["project"], self._scope(request), kind, request.params["name"])
        with self.host.lock:
            found = self.items.get(key)
        if found is None:
            raise _error(404, f"The resource 'projects/{key[0]}/{key[1]}/{kind}/{key[3]}' was not found", "notFound")
        return found

    def _list(self, kind: str) -> Callable[[Request], Reply]:
        def handler(request: Request) -> Reply:
            project = self._check(request, f"compute.{kind}.list")
            if request.query.get("filter"):
                raise _error(400, f"Invalid list filter expression '{request.query['filter']}'.")
            scope = self._scope(request)
            items = [i.view() for i in self.of(kind, project) if i.scope == scope]
            return Reply(200, {"kind": f"compute#{kind[:-1]}List", "items": items})

        return handler

    def _get(self, kind: str) -> Callable[[Request], Reply]:
        def handler(request: Request) -> Reply:
            self._check(request, f"compute.{kind}.get")
            return Reply(200, self._find(request, kind).view())

        return handler

    def _insert(self, kind: str) -> Callable[[Request], Reply]:
        def handler(request: Request) -> Reply:
            project = self._check(request, f"compute.{kind}.create")
            scope = self._scope(request)
            body = dict(request.json() or {})
            name = str(body.pop("name", "") or "")
            if not _NAME.fullmatch(name):
                raise _error(400, f"Invalid value for field 'resource.name': '{name}'. "
                             "Must be a match of regex '(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)'")  # fmt: skip
            body = getattr(self, f"_checked_{kind}")(project, scope, body)
            item = Item(project, scope, kind, name, {"id": str(next(self.host._ids)), **body})
            with self.host.lock:
                if (project, scope, kind, name) in self.items:
                    raise _error(409, f"The resource 'projects/{project}/{scope}/{kind}/{name}' already exists",
                                 "alreadyExists")  # fmt: skip
                self.items[(project, scope, kind, name)] = item
                if kind == "networks":  # Compute Engine adds the route to the internet itself
                    route = Item(project, "global", "routes", f"default-route-{next(self.host._ids)}", {
                        "network": item.self_link, "destRange": "0.0.0.0/0", "priority": 1000,
                        "nextHopGateway": link(project, "global", "gateways", "default-internet-gateway"),
                        "description": "Default route to the Internet."})  # fmt: skip
                    self.items[(project, "global", "routes", route.name)] = route
                if kind == "subnetworks":
                    network = self.resolve(project, body["network"], "networks")
                    if network is not None:
                        network.body.setdefault("subnetworks", []).append(item.self_link)
            return self._operation(project, scope, "insert", item.self_link)

        return handler

    def _network(self, project: str, body: dict[str, Any]) -> dict[str, Any]:
        if not body.get("network"):
            raise _error(400, "Invalid value for field 'resource.network': a network is required.")
        network = self.resolve(project, str(body["network"]), "networks")
        return {**body, "network": network.self_link if network else link(project, "global", "networks", "default")}

    def _checked_networks(self, project: str, scope: str, body: dict[str, Any]) -> dict[str, Any]:
        return {"autoCreateSubnetworks": True, **body, "subnetworks": [], "kind": "compute#network"}

    def _checked_subnetworks(self, project: str, scope: str, body: dict[str, Any]) -> dict[str, Any]:
        if not body.get("ipCidrRange"):
            raise _error(400, "Invalid value for field 'resource.ipCidrRange': a range is required.")
        return {**self._network(project, body), "region": f"{BASE}/projects/{project}/{scope}",
                "kind": "compute#subnetwork"}  # fmt: skip

    def _checked_firewalls(self, project: str, scope: str, body: dict[str, Any]) -> dict[str, Any]:
        body = {"direction": "INGRESS", "priority": 1000, **self._network(project, body), "kind": "compute#firewall"}
        if body["direction"] not in ("INGRESS", "EGRESS"):
            raise _error(400, f"Invalid value for field 'resource.direction': '{body['direction']}'.")
        if not 0 <= int(body["priority"]) <= 65535:
            raise _error(400, f"Invalid value for field 'resource.priority': '{body['priority']}'.")
        if bool(body.get("allowed")) == bool(body.get("denied")):
            raise _error(400, "Exactly one of 'resource.allowed' or 'resource.denied' must be specified.")
        return body

    def _checked_routes(self, project: str, scope: str, body: dict[str, Any]) -> dict[str, Any]:
        if not body.get("destRange"):
            raise _error(400, "Invalid value for field 'resource.destRange': a range is required.")
        return {"priority": 1000, **self._network(project, body), "kind": "compute#route"}

    def _users(self, item: Item) -> list[str]:
        """What keeps ``item`` from being deleted: a network's subnetworks, firewall rules and
        routes; a subnetwork's instances."""
        with self.host.lock:
            if item.kind == "networks":
                return [i.self_link for i in self.items.values()
                        if i.kind != "networks" and i.body.get("network") == item.self_link]  # fmt: skip
            if item.kind == "subnetworks":
                return [i.self_link for i in self.host.instances.values() if any(
                    nic.get("subnetwork") == item.self_link for nic in i.interfaces)]  # fmt: skip
        return []

    def _delete(self, kind: str) -> Callable[[Request], Reply]:
        def handler(request: Request) -> Reply:
            project = self._check(request, f"compute.{kind}.delete")
            item = self._find(request, kind)
            if users := self._users(item):
                raise _error(400, f"The {kind[:-1]} resource '{item.self_link}' is already being used by "
                             f"'{users[0]}'", "resourceInUseByAnotherResource")  # fmt: skip
            with self.host.lock:
                self.items.pop((project, item.scope, kind, item.name), None)
                if kind == "subnetworks":
                    network = self.resolve(project, item.body["network"], "networks")
                    if network is not None and item.self_link in network.body.get("subnetworks", []):
                        network.body["subnetworks"].remove(item.self_link)
            return self._operation(project, item.scope, "delete", item.self_link)

        return handler
