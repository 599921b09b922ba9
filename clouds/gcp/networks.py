"""Isolated networks on Google Cloud: where a drill's copies of production run without reaching
anything.

One is a custom-mode VPC network (``autoCreateSubnetworks`` false) with one subnetwork in the DR
region (``10.255.0.0/24``, no Private Google Access), two firewall rules of priority 0 denying
all protocols, one for all ingress (from ``0.0.0.0/0``) and one for all egress (to
``0.0.0.0/0``), overriding the implied and any other rule, and no route to the internet gateway:
Compute Engine gives every new network a route ``0.0.0.0/0`` to ``default-internet-gateway`` and
its API has no way to make a network without it, so the adapter deletes it once the network is
made (and again on a repeated call). Nothing is peered with it. Restored instances get an
interface on the subnetwork with no access config (no external address).

Marking. A network carries no labels, so one of these is known by its name (the caller's, a
drill's ``wedcloud-drill-<short id>``) and its ``description``: :data:`MARKER` followed by the
region and the caller's tags as JSON. The subnetwork and firewall rules are named after the
network (``<name>``, ``<name>-deny-ingress``, ``<name>-deny-egress``). A sweep lists the
project's networks and keeps those whose description is marked and carries the tags asked for.

Safe to repeat: each part is found by its name before it is made. Deleting one refuses a network
without the marker (a production network is never deleted here), answers False while an
instance still has an interface on it, and otherwise deletes, in dependency order, its firewall
rules, its routes (subnetwork routes go with their subnetworks), its subnetworks, then the network.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from google.api_core import exceptions as google_errors

from clouds.base import CloudResource, ResourceState, ResourceType
from clouds.errors import ResourceNotFound, UnsupportedRequest
from clouds.gcp.api import GCE_NAME, GcpApi, last, translate

MARKER = "wedcloud:isolated-network "  # a description starting so: a network this module made
CIDR = "10.255.0.0/24"  # nothing is peered with it, so it may overlap production's
EVERYWHERE = "0.0.0.0/0"
INTERNET = "default-internet-gateway"
_NETWORK_ID = re.compile(r"projects/(?P<project>[^/]+)/global/networks/(?P<name>[^/]+)$")
_IN_USE = "resourceInUseByAnotherResource"


def network_name(network_id: str) -> str:
    found = _NETWORK_ID.search(network_id)
    if found is None:
        raise ResourceNotFound(network_id)
    return found["name"]


def _path(url: str) -> str:
    return url[url.index("projects/") :] if "projects/" in url else url


def _marked(description: str) -> dict[str, Any] | None:
    """The region and tags a marked description holds; None for a network not made here."""
    if not description.startswith(MARKER):
        return None
    try:
        found = json.loads(description.removeprefix(MARKER))
    except ValueError:
        return None
    return found if isinstance(found, dict) else None


class Networks:
    """The project's isolated networks."""

    def __init__(self, api: GcpApi) -> None:
        self._api = api

    def network_id(self, name: str) -> str:
        return f"projects/{self._api.project}/global/networks/{name}"

    def isolated(self, region: str, name: str, tags: Mapping[str, str]) -> CloudResource:
        """The isolated network named ``name`` with its subnetwork in ``region``, made (or
        completed) if needed."""
        if not GCE_NAME.fullmatch(name) or len(name) > 48:  # its firewall rules' names add 15
            raise UnsupportedRequest("name: an isolated network's name is 1-48 lowercase letters, digits and dashes")
        description = MARKER + json.dumps({"region": region, "tags": dict(tags)}, sort_keys=True)
        project, v1 = self._api.project, self._api.compute_v1
        network = self._found(lambda: self._api.networks.get(project=project, network=name))
        if network is None:
            body = v1.Network(name=name, auto_create_subnetworks=False, description=description)
            self._insert(lambda: self._api.networks.insert_unary(project=project, network_resource=body), name)
        elif _marked(str(network.description)) is None:
            raise UnsupportedRequest(f"a network named {name!r} exists and is not an isolated network WedCloud made")
        link = f"global/networks/{name}"
        for suffix, direction, ranges in (("deny-ingress", "INGRESS", "source_ranges"),
                                          ("deny-egress", "EGRESS", "destination_ranges")):  # fmt: skip
            rule = v1.Firewall(
                name=f"{name}-{suffix}", network=link, direction=direction, priority=0, description=description,
                denied=[v1.Denied(I_p_protocol="all")], **{ranges: [EVERYWHERE]},
            )  # fmt: skip
            if self._found(partial(self._api.firewalls.get, project=project, firewall=rule.name)) is None:
                self._insert(partial(self._api.firewalls.insert_unary, project=project, firewall_resource=rule), name)
        for route in self._internet_routes(name):
            self._delete(partial(self._api.routes.delete_unary, project=project, route=route.name), name)
        if self._found(lambda: self._api.subnetworks.get(project=project, region=region, subnetwork=name)) is None:
            subnet = v1.Subnetwork(name=name, network=link, ip_cidr_range=CIDR, private_ip_google_access=False,
                                   description=description)  # fmt: skip
            self._insert(lambda: self._api.subnetworks.insert_unary(
                project=project, region=region, subnetwork_resource=subnet), name)  # fmt: skip
        return self.describe(self.network_id(name))

    def describe(self, network_id: str) -> CloudResource:
        """The isolated network: its subnetworks, firewall rules and any route to the internet."""
        name = network_name(network_id)
        project = self._api.project
        network = self._found(lambda: self._api.networks.get(project=project, network=name))
        marked = _marked(str(network.description)) if network is not None else None
        if network is None or marked is None:
            raise ResourceNotFound(network_id)
        subnetworks = sorted(_path(str(s)) for s in network.subnetworks)
        return CloudResource(
            id=network_id, name=name, resource_type=ResourceType.NETWORK, subtype="isolated_network",
            region=str(marked.get("region") or ""), state=ResourceState.AVAILABLE, account_id=project,
            tags=dict(marked.get("tags") or {}),
            details={"isolated": True, "cidr": CIDR, "subnetworks": subnetworks,
                     "subnetwork": subnetworks[0] if subnetworks else None,
                     "firewalls": [f.name for f in self._of(self._api.firewalls, name)],
                     "internet_routes": [r.name for r in self._internet_routes(name)]},
        )  # fmt: skip

    def listed(self, region: str, tags: Mapping[str, str]) -> list[CloudResource]:
        """The marked networks of ``region`` carrying every tag of ``tags``."""
        found: list[CloudResource] = []
        try:
            networks = list(self._api.networks.list(request={"project": self._api.project, "max_results": 500}))
        except google_errors.GoogleAPICallError as exc:
            raise translate(exc) from exc
        for network in networks:
            marked = _marked(str(network.description))
            if marked is None or marked.get("region") != region:
                continue
            if all((marked.get("tags") or {}).get(k) == v for k, v in tags.items()):
                found.append(self.describe(self.network_id(network.name)))
        return found

    def delete(self, network_id: str) -> bool:
        """Delete the isolated network and what it holds; False while an instance still has an
        interface on it (call again later)."""
        name = network_name(network_id)
        project = self._api.project
        network = self._found(lambda: self._api.networks.get(project=project, network=name))
        if network is None:
            return True
        if _marked(str(network.description)) is None:
            raise UnsupportedRequest(f"{network_id} is no isolated network WedCloud made: it is not deleted")
        link = str(network.self_link)
        instances = self._api.aggregated(self._api.instances, "instances")
        if any(_path(str(nic.network)) == _path(link) for instance in instances for nic in instance.network_interfaces):
            return False
        steps: list[Callable[[], Any]] = [
            partial(self._api.firewalls.delete_unary, project=project, firewall=f.name)
            for f in self._of(self._api.firewalls, name)
        ]
        steps += [partial(self._api.routes.delete_unary, project=project, route=r.name)
                  for r in self._of(self._api.routes, name) if not r.next_hop_network]  # fmt: skip
        steps += [partial(self._api.subnetworks.delete_unary, project=project, region=s.split("/")[3],
                          subnetwork=last(s))
                  for s in (_path(str(s)) for s in network.subnetworks)]  # fmt: skip
        steps.append(lambda: self._api.networks.delete_unary(project=project, network=name))
        return all(self._delete(step, network_id) for step in steps)

    # -- the parts ---------------------------------------------------------------------------
    def _found(self, get: Callable[[], Any]) -> Any:
        try:
            return get()
        except google_errors.NotFound:
            return None
        except google_errors.GoogleAPICallError as exc:
            raise translate(exc) from exc

    def _insert(self, insert: Callable[[], Any], resource_id: str) -> None:
        try:
            operation = insert()
        except google_errors.Conflict:
            return  # made meanwhile
        except google_errors.GoogleAPICallError as exc:
            raise translate(exc, resource_id) from exc
        self._api.wait(operation, resource_id)

    def _delete(self, delete: Callable[[], Any], resource_id: str) -> bool:
        """Run a delete and wait; False when Compute Engine says the thing is still in use."""
        try:
            operation = delete()
        except google_errors.NotFound:
            return True
        except google_errors.BadRequest as exc:
            if _IN_USE in str(exc.errors) or "being used by" in str(exc.message):
                return False
            raise translate(exc, resource_id) from exc
        except google_errors.GoogleAPICallError as exc:
            raise translate(exc, resource_id) from exc
        self._api.wait(operation, resource_id)
        return True

    def _of(self, client: Any, name: str) -> list[Any]:
        """The firewall rules or routes of the network ``name``."""
        try:
            everything = list(client.list(request={"project": self._api.project, "max_results": 500}))
        except google_errors.GoogleAPICallError as exc:
            raise translate(exc) from exc
        return [item for item in everything if last(str(item.network)) == name]

    def _internet_routes(self, name: str) -> list[Any]:
        return [r for r in self._of(self._api.routes, name) if last(str(r.next_hop_gateway)) == INTERNET]
