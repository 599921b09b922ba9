"""Cloud DNS v1 (``/dns/v1/projects/<p>/managedZones``): managed zones, their resource record
sets and the changes that edit them, served by the Compute Engine emulator's server
(:mod:`tests.emulators.google_compute`), whose projects, permission check and lock it shares.

What it enforces, as the Cloud DNS API reference documents it: a change is atomic (every
deletion and addition is checked before any is applied); a deletion must match an existing
record set exactly, name, type, ttl and rrdatas (404 when there is none of that name and type,
412 ``conditionNotMet`` when it differs); an addition of a name and type that exist after the
deletions answers 409 ``alreadyExists``; names are fully qualified (ending with a dot) and inside
the zone's ``dnsName``; A and AAAA data are IPv4 and IPv6 addresses, a CNAME holds one fully
qualified name. A change is ``pending`` when made and ``done`` from its first read on. ``rrsets`` lists page
with ``maxResults`` and ``pageToken`` and filter by ``name`` and ``type`` (``type`` only with
``name``). Tests add zones and record sets with :meth:`GoogleDns.add_zone`.
"""

from __future__ import annotations

import ipaddress
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.emulators.http import HttpError, Reply, Request

ZONE = r"/dns/v1/projects/(?P<project>[^/]+)/managedZones/(?P<zone>[^/]+)"
STATUS = {400: "INVALID_ARGUMENT", 404: "NOT_FOUND", 409: "ALREADY_EXISTS", 412: "FAILED_PRECONDITION"}
RecordKey = tuple[str, str]  # (name, type)


def _error(code: int, message: str, reason: str = "invalid") -> HttpError:
    return HttpError(
        code,
        {"error": {"code": code, "message": message, "status": STATUS.get(code, "UNKNOWN"),
                   "errors": [{"message": message, "domain": "global", "reason": reason}]}},
    )  # fmt: skip


@dataclass
class ManagedZone:
    project: str
    name: str
    dns_name: str  # fully qualified: "wedsync.example."
    rrsets: dict[RecordKey, tuple[int, list[str]]] = field(default_factory=dict)  # -> (ttl, rrdatas)
    changes: dict[str, dict[str, Any]] = field(default_factory=dict)
    id: int = 0

    def view(self) -> dict[str, Any]:
        return {
            "kind": "dns#managedZone", "name": self.name, "dnsName": self.dns_name, "id": str(self.id),
            "description": "", "visibility": "public", "creationTime": "2026-11-01T16:00:00.000Z",
            "nameServers": [f"ns-cloud-a{n}.googledomains.com." for n in range(1, 5)],
        }  # fmt: skip

    def rrset(self, key: RecordKey) -> dict[str, Any]:
        ttl, rrdatas = self.rrsets[key]
        return {"kind": "dns#resourceRecordSet", "name": key[0], "type": key[1], "ttl": ttl, "rrdatas": list(rrdatas)}


Check = Callable[[Request, str], str]  # the host's permission check: the project, or an HttpError


class GoogleDns:
    """The Cloud DNS routes, registered on ``host``."""

    def __init__(self, host: Any, check: Check) -> None:
        self.host, self._check = host, check
        self.zones: dict[tuple[str, str], ManagedZone] = {}  # (project, name)
        self.page_size = 100
        self._ids = itertools.count(1)
        host.route("GET", ZONE, self._get_zone)
        host.route("GET", ZONE + "/rrsets", self._list_rrsets)
        host.route("POST", ZONE + "/changes", self._create_change)
        host.route("GET", ZONE + r"/changes/(?P<change>[^/]+)", self._get_change)

    def add_zone(self, project: str, name: str, dns_name: str) -> ManagedZone:
        with self.host.lock:
            self.host.projects.add(project)
            zone = self.zones[(project, name)] = ManagedZone(project, name, dns_name, id=next(self._ids))
            zone.rrsets[(dns_name, "SOA")] = (
                21600,
                ["ns-cloud-a1.googledomains.com. dns-admin.google.com. 1 21600 3600 259200 300"],
            )
            zone.rrsets[(dns_name, "NS")] = (21600, [f"ns-cloud-a{n}.googledomains.com." for n in range(1, 5)])
        return zone

    def reset(self) -> None:
        with self.host.lock:
            self.zones.clear()
            self.page_size = 100

    def _zone(self, request: Request, permission: str) -> ManagedZone:
        project = self._check(request, permission)
        with self.host.lock:
            found = self.zones.get((project, request.params["zone"]))
        if found is None:
            raise _error(404, f"The 'parameters.managedZone' resource named '{request.params['zone']}' does not exist.",
                         "notFound")  # fmt: skip
        return found

    def _get_zone(self, request: Request) -> Reply:
        return Reply(200, self._zone(request, "dns.managedZones.get").view())

    def _list_rrsets(self, request: Request) -> Reply:
        zone = self._zone(request, "dns.resourceRecordSets.list")
        name, kind = request.query.get("name"), request.query.get("type")
        if kind and not name:
            raise _error(400, "Invalid value for 'parameters.type': the 'name' parameter must also be present.")
        with self.host.lock:
            keys = sorted(k for k in zone.rrsets if (not name or k[0] == name) and (not kind or k[1] == kind))
            items = [zone.rrset(k) for k in keys]
        size = min(int(request.query.get("maxResults") or self.page_size), self.page_size)
        offset = int(request.query.get("pageToken") or 0)
        reply: dict[str, Any] = {"kind": "dns#resourceRecordSetsListResponse", "rrsets": items[offset:][:size]}
        if offset + size < len(items):
            reply["nextPageToken"] = str(offset + size)
        return Reply(200, reply)

    def _record(self, zone: ManagedZone, entry: dict[str, Any], where: str) -> tuple[RecordKey, int, list[str]]:
        """A record set of a change as (key, ttl, rrdatas), or 400 naming what Cloud DNS refuses."""
        name, kind = str(entry.get("name") or ""), str(entry.get("type") or "")
        rrdatas = [str(d) for d in entry.get("rrdatas") or []]
        if not name.endswith(".") or not (name == zone.dns_name or name.endswith("." + zone.dns_name)):
            raise _error(400, f"Invalid value for '{where}.name': '{name}' (a fully qualified name in {zone.dns_name})")
        if not rrdatas:
            raise _error(400, f"The '{where}.rrdata' field is required.", "required")
        try:
            ttl = int(entry.get("ttl", 0))
            for value in rrdatas:
                if kind == "A":
                    ipaddress.IPv4Address(value)
                elif kind == "AAAA":
                    ipaddress.IPv6Address(value)
                elif kind == "CNAME" and (len(rrdatas) != 1 or not value.endswith(".")):
                    raise ValueError(value)
        except ValueError:
            raise _error(400, f"Invalid value for '{where}.rrdata': {rrdatas}") from None
        return (name, kind), ttl, rrdatas

    def _create_change(self, request: Request) -> Reply:
        zone = self._zone(request, "dns.changes.create")
        body = request.json() or {}
        deletions = [
            self._record(zone, e, f"entity.change.deletions[{i}]") for i, e in enumerate(body.get("deletions") or [])
        ]
        additions = [
            self._record(zone, e, f"entity.change.additions[{i}]") for i, e in enumerate(body.get("additions") or [])
        ]
        if not deletions and not additions:
            raise _error(400, "The 'entity.change' resource must have additions or deletions.", "required")
        with self.host.lock:
            after = dict(zone.rrsets)
            for index, (key, ttl, rrdatas) in enumerate(deletions):
                where = f"entity.change.deletions[{index}]"
                if key not in after:
                    raise _error(404, f"The '{where}' resource named '{key[0]} ({key[1]})' does not exist.", "notFound")
                if after.pop(key) != (ttl, rrdatas):
                    raise _error(412, f"Precondition not met for '{where}'", "conditionNotMet")
            for index, (key, ttl, rrdatas) in enumerate(additions):
                if key in after:
                    raise _error(409, f"The resource 'entity.change.additions[{index}]' named '{key[0]} ({key[1]})' "
                                 "already exists", "alreadyExists")  # fmt: skip
                after[key] = (ttl, rrdatas)
            zone.rrsets = after  # all of it or none of it
            change_id = str(len(zone.changes) + 1)
            change = {
                "kind": "dns#change", "id": change_id, "status": "pending", "startTime": "2026-12-07T10:00:00.000Z",
                "additions": body.get("additions") or [], "deletions": body.get("deletions") or [],
            }  # fmt: skip
            zone.changes[change_id] = change
            return Reply(200, dict(change))

    def _get_change(self, request: Request) -> Reply:
        zone = self._zone(request, "dns.changes.get")
        with self.host.lock:
            change = zone.changes.get(request.params["change"])
            if change is None:
                raise _error(404, f"The 'parameters.changeId' resource named '{request.params['change']}' does not "
                             "exist.", "notFound")  # fmt: skip
            change["status"] = "done"  # pending when made, done from the first look on
            return Reply(200, dict(change))
