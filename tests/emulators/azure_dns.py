"""Azure DNS (``Microsoft.Network/dnsZones``, api-version 2018-05-01 as azure-mgmt-dns asks): zones
and their record sets, served by the ARM compute emulator's server.

What it enforces, as the REST reference documents it: a bearer token and an ``api-version``; the
caller's actions (``Microsoft.Network/dnszones/read``, ``Microsoft.Network/dnszones/A/write`` ...,
403 ``AuthorizationFailed`` when a test denies one); a zone's location is ``global``; a record set
belongs to a zone that exists (404 ``ParentResourceNotFound``); its records are those of its type
(``ARecords`` of IPv4 addresses, ``AAAARecords`` of IPv6 ones, one ``CNAMERecord``); SOA record
sets are not created; a write honours ``If-Match`` (the record set's current ETag) and
``If-None-Match: *`` (no record set yet), answering 412 ``PreconditionFailed`` otherwise, and
gives the record set a new ETag. Record set writes and deletes are immediate (200/201, 200/204).
A test adds zones with ``add_zone`` and reads what a record set holds with ``record``.
"""

from __future__ import annotations

import ipaddress
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tests.emulators.http import HttpError, Reply, Request

if TYPE_CHECKING:
    from tests.emulators.azure_compute import AzureComputeEmulator

SUB = r"/subscriptions/(?P<sub>[^/]+)"
ZONE = SUB + r"/(?i:resourceGroups)/(?P<rg>[^/]+)/providers/(?i:Microsoft\.Network)/(?i:dnszones)/(?P<zone>[^/]+)"
TYPES = ("A", "AAAA", "CAA", "CNAME", "MX", "NS", "PTR", "SOA", "SRV", "TXT")
RECORD = ZONE + r"/(?P<type>(?i:" + "|".join(TYPES) + r"))/(?P<name>[^/]+)"
FIELDS = {
    "A": "ARecords", "AAAA": "AAAARecords", "CAA": "caaRecords", "CNAME": "CNAMERecord", "MX": "MXRecords",
    "NS": "NSRecords", "PTR": "PTRRecords", "SOA": "SOARecord", "SRV": "SRVRecords", "TXT": "TXTRecords",
}  # fmt: skip


def _error(status: int, code: str, message: str) -> HttpError:
    return HttpError(status, {"error": {"code": code, "message": message}})


@dataclass
class DnsRecord:
    """One record set: ``records`` is the value of its type's field (a list, or CNAME's object)."""

    name: str
    type: str
    ttl: int
    records: Any
    metadata: dict[str, str] = field(default_factory=dict)
    etag: str = field(default_factory=lambda: str(uuid.uuid4()))

    def values(self) -> list[str]:
        """What the record set points at: its addresses, or its canonical name."""
        if self.type == "CNAME":
            return [self.records["cname"]] if self.records else []
        key = {"A": "ipv4Address", "AAAA": "ipv6Address"}.get(self.type)
        return [r[key] for r in self.records or []] if key else []


@dataclass
class DnsZone:
    subscription: str
    group: str
    name: str
    tags: dict[str, str] = field(default_factory=dict)
    records: dict[tuple[str, str], DnsRecord] = field(default_factory=dict)  # (type, name lower)

    @property
    def id(self) -> str:
        group = f"/subscriptions/{self.subscription}/resourceGroups/{self.group}"
        return f"{group}/providers/Microsoft.Network/dnszones/{self.name}"

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id, "name": self.name, "type": "Microsoft.Network/dnszones", "location": "global",
            "tags": self.tags, "etag": "00000000-0000-0000-0000-000000000000",
            "properties": {
                "maxNumberOfRecordSets": 10000, "numberOfRecordSets": len(self.records), "zoneType": "Public",
                "nameServers": ["ns1-01.azure-dns.com.", "ns2-01.azure-dns.net."],
            },
        }  # fmt: skip

    def record_view(self, record: DnsRecord) -> dict[str, Any]:
        fqdn = f"{self.name}." if record.name == "@" else f"{record.name}.{self.name}."
        return {
            "id": f"{self.id}/{record.type}/{record.name}", "name": record.name,
            "type": f"Microsoft.Network/dnszones/{record.type}", "etag": record.etag,
            "properties": {
                "metadata": record.metadata, "TTL": record.ttl, "fqdn": fqdn, "provisioningState": "Succeeded",
                "targetResource": {}, FIELDS[record.type]: record.records,
            },
        }  # fmt: skip


def _checked_records(kind: str, properties: dict[str, Any]) -> Any:
    """The records of a record set of type ``kind`` from a PUT's properties, checked."""
    others = [name for other, name in FIELDS.items() if other != kind and properties.get(name)]
    if others:
        raise _error(400, "BadRequest", f"A record set of type {kind} cannot hold {', '.join(others)}.")
    records = properties.get(FIELDS[kind])
    versions = {"A": ("ipv4Address", 4), "AAAA": ("ipv6Address", 6)}
    if kind in versions:
        key, version = versions[kind]
        for record in records or []:
            try:
                valid = ipaddress.ip_address(record.get(key) or "").version == version
            except ValueError:
                valid = False
            if not valid:
                raise _error(400, "BadRequest", f"{record.get(key)!r} is not a valid IPv{version} address.")
    if kind == "CNAME" and records is not None and not records.get("cname"):
        raise _error(400, "BadRequest", "A CNAME record needs a cname.")
    return records if records is not None else ([] if kind != "CNAME" else None)


class AzureDns:
    """The Azure DNS routes, registered on ``host``, with the zones they hold."""

    def __init__(self, host: AzureComputeEmulator) -> None:
        self.host = host
        self.zones: dict[tuple[str, str, str], DnsZone] = {}  # (subscription, group lower, zone lower)
        host.route("PUT", ZONE, self._put_zone)
        host.route("GET", ZONE, self._get_zone)
        host.route("PUT", RECORD, self._put_record)
        host.route("GET", RECORD, self._get_record)
        host.route("DELETE", RECORD, self._delete_record)

    def add_zone(self, subscription: str, group: str, name: str) -> DnsZone:
        zone = DnsZone(subscription, group, name)
        with self.host.lock:
            self.host.subscriptions.add(subscription)
            self.zones[(subscription, group.lower(), name.lower())] = zone
        return zone

    def record(self, subscription: str, group: str, zone: str, kind: str, name: str) -> DnsRecord | None:
        with self.host.lock:
            held = self.zones.get((subscription, group.lower(), zone.lower()))
            return None if held is None else held.records.get((kind, name.lower()))

    def reset(self) -> None:
        with self.host.lock:
            self.zones.clear()

    def _zone(self, request: Request) -> DnsZone:
        key = (request.params["sub"], request.params["rg"].lower(), request.params["zone"].lower())
        with self.host.lock:
            zone = self.zones.get(key)
        if zone is None:
            missing = f"Microsoft.Network/dnszones/{request.params['zone']}"
            raise _error(404, "ParentResourceNotFound", "Can not perform requested operation on nested resource. "
                         f"Parent resource '{missing}' not found.")  # fmt: skip
        return zone

    def _put_zone(self, request: Request) -> Reply:
        subscription = self.host._check(request, "Microsoft.Network/dnszones/write")
        body = request.json() or {}
        if str(body.get("location", "")).lower() != "global":
            raise _error(400, "LocationNotAvailableForResourceType", "A DNS zone's location is 'global'.")
        self.host._require_group(subscription, request.params["rg"])
        key = (subscription, request.params["rg"].lower(), request.params["zone"].lower())
        with self.host.lock:
            existing = self.zones.get(key)
            zone = existing or DnsZone(subscription, request.params["rg"], request.params["zone"])
            zone.tags = body.get("tags") or {}
            self.zones[key] = zone
        return Reply(200 if existing else 201, zone.view())

    def _get_zone(self, request: Request) -> Reply:
        self.host._check(request, "Microsoft.Network/dnszones/read")
        key = (request.params["sub"], request.params["rg"].lower(), request.params["zone"].lower())
        with self.host.lock:
            zone = self.zones.get(key)
        if zone is None:
            raise _error(404, "ResourceNotFound", f"The DNS zone '{request.params['zone']}' was not found.")
        return Reply(200, zone.view())

    def _put_record(self, request: Request) -> Reply:
        kind, name = request.params["type"].upper(), request.params["name"]
        self.host._check(request, f"Microsoft.Network/dnszones/{kind}/write")
        zone = self._zone(request)
        if kind == "SOA":
            raise _error(400, "BadRequest", "SOA record sets are created with their zone and cannot be created.")
        properties = (request.json() or {}).get("properties") or {}
        records = _checked_records(kind, properties)
        ttl = properties.get("TTL", 3600)
        if not isinstance(ttl, int) or not 0 <= ttl <= 2147483647:
            raise _error(400, "BadRequest", "TTL must be an integer from 0 to 2147483647.")
        with self.host.lock:
            existing = zone.records.get((kind, name.lower()))
            self._preconditions(request, existing)
            metadata = properties.get("metadata") or {}
            record = DnsRecord(existing.name if existing else name, kind, ttl, records, metadata)
            zone.records[(kind, name.lower())] = record
        return Reply(200 if existing else 201, zone.record_view(record))

    @staticmethod
    def _preconditions(request: Request, existing: DnsRecord | None) -> None:
        headers = {k.lower(): v for k, v in request.headers.items()}
        match, none_match = headers.get("if-match"), headers.get("if-none-match")
        if match is not None and (existing is None or match.strip('"') != existing.etag):
            current = existing.etag if existing else "none"
            raise _error(412, "PreconditionFailed", f"The condition '{match}' in the If-Match header was not "
                         f"satisfied. The current was '{current}'.")  # fmt: skip
        if none_match == "*" and existing is not None:
            raise _error(412, "PreconditionFailed", "The condition '*' in the If-None-Match header was not "
                         "satisfied: the record set exists.")  # fmt: skip

    def _get_record(self, request: Request) -> Reply:
        kind = request.params["type"].upper()
        self.host._check(request, f"Microsoft.Network/dnszones/{kind}/read")
        zone = self._zone(request)
        with self.host.lock:
            record = zone.records.get((kind, request.params["name"].lower()))
        if record is None:
            raise _error(404, "NotFound", f"The resource record '{request.params['name']}' does not exist in "
                         f"resource group '{zone.group}' of subscription '{zone.subscription}'.")  # fmt: skip
        return Reply(200, zone.record_view(record))

    def _delete_record(self, request: Request) -> Reply:
        kind = request.params["type"].upper()
        self.host._check(request, f"Microsoft.Network/dnszones/{kind}/delete")
        zone = self._zone(request)
        with self.host.lock:
            gone = zone.records.pop((kind, request.params["name"].lower()), None)
        return Reply(200 if gone else 204, None)
