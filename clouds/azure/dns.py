"""Azure DNS record sets that disaster recovery points at one region or another (azure-mgmt-dns).

A :class:`clouds.base.DnsRecordSet`'s ``zone`` is ``<resource group>/<zone name>``; its ``name``
is the record's name in the zone, relative (``www``, ``@`` for the apex) or whole
(``www.wedsync.example``, with or without the final dot). The zone is the customer's: WedCloud
changes one record set in it and makes no zone.

Azure DNS has no failover routing of its own (Azure Traffic Manager has, and is another
service): switching traffic is an update of the record set, holding ``records.targets[active]``
alone (an A, AAAA or CNAME record) with ``records.ttl``, so resolvers follow within a TTL. The
record set's metadata remembers which target is active (``wedcloud_active``: an underscore, not a
hyphen, so the key is one every Azure metadata store takes); the record set's other metadata is
kept. Azure DNS runs no health checks, so ``health_check_url`` is not used: WedCloud's own checks
decide when to switch. A write is conditional on the ETag read just before it (``If-Match``, or
``If-None-Match: *`` for a new record set), so a change someone makes in between is not
overwritten but refused; a switch to where the record already points writes nothing.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.dns.models import AaaaRecord, ARecord, CnameRecord, RecordSet

from clouds.azure.api import Arm, translate
from clouds.base import DnsRecordSet, DnsRouting
from clouds.errors import UnsupportedRequest

ACTIVE_KEY = "wedcloud_active"  # the record set's metadata: the region whose target it holds
TYPES = ("A", "AAAA", "CNAME")


def zone_of(records: DnsRecordSet) -> tuple[str, str]:
    """The resource group and the zone's name."""
    group, _, zone = records.zone.partition("/")
    if not group or not zone or "/" in zone:
        raise UnsupportedRequest(f"zone {records.zone!r}: an Azure DNS zone is '<resource group>/<zone name>'")
    return group, zone.rstrip(".")


def relative_name(name: str, zone: str) -> str:
    """The record set's name relative to the zone (``@`` for the apex)."""
    whole, zone = name.rstrip(".").lower(), zone.lower()
    if whole == zone or not whole:
        return "@"
    return name.rstrip(".")[: -len(zone) - 1] if whole.endswith(f".{zone}") else name.rstrip(".")


def _values(record: RecordSet, kind: str) -> tuple[str, ...]:
    """The values a record set holds."""
    if kind == "A":
        return tuple(str(r.ipv4_address) for r in record.a_records or ())
    if kind == "AAAA":
        return tuple(str(r.ipv6_address) for r in record.aaaa_records or ())
    cname = record.cname_record
    return (str(cname.cname),) if cname is not None and cname.cname else ()


def _checked(records: DnsRecordSet, active: str) -> str:
    """The value the record is to hold, checked for its type."""
    if records.type not in TYPES:
        raise UnsupportedRequest(f"record type {records.type!r}: WedCloud routes {', '.join(TYPES)} records")
    if active not in records.targets:
        known = ", ".join(sorted(records.targets))
        raise UnsupportedRequest(f"{active!r} is not one of the record's targets ({known})")
    value = records.targets[active]
    if records.type in ("A", "AAAA"):
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            address = None
        version = 4 if records.type == "A" else 6
        if address is None or address.version != version:
            raise UnsupportedRequest(f"target {active}: {value!r} is not an IPv{version} address")
    return value


def routing(records: DnsRecordSet, values: tuple[str, ...], metadata: Mapping[str, str]) -> DnsRouting:
    """Where the record sends its traffic: the target its metadata names, if it holds that
    target's value, else the one target whose value it holds; None when neither."""
    remembered = metadata.get(ACTIVE_KEY)
    holding = [region for region, value in records.targets.items() if (value,) == values]
    if remembered is not None and (records.targets.get(remembered),) == values:
        active: str | None = remembered
    else:
        active = holding[0] if len(holding) == 1 else None
    weights = {region: 100 if region == active else 0 for region in records.targets} if active else {}
    return DnsRouting(record=records.name, weights=weights, active=active, values=values)


class Dns:
    """Record sets of the subscription's Azure DNS zones."""

    def __init__(self, arm: Arm) -> None:
        self.arm = arm

    def _zone_id(self, group: str, zone: str) -> str:
        subscription = self.arm.subscription_id
        return f"/subscriptions/{subscription}/resourceGroups/{group}/providers/Microsoft.Network/dnszones/{zone}"

    def _read(self, records: DnsRecordSet) -> RecordSet | None:
        group, zone = zone_of(records)
        try:
            return self.arm.dns.record_sets.get(group, zone, relative_name(records.name, zone), records.type)
        except ResourceNotFoundError:
            return None
        except HttpResponseError as exc:
            if exc.status_code == 404:
                return None
            raise translate(exc, self._zone_id(group, zone)) from exc
        except Exception as exc:
            raise translate(exc) from exc

    def route(self, records: DnsRecordSet, *, active: str) -> DnsRouting:
        """Point the record set at ``records.targets[active]`` (see the module's doc)."""
        value = _checked(records, active)
        group, zone = zone_of(records)
        current = self._read(records)
        metadata = dict((current.metadata or {}) if current is not None else {})
        if (
            current is not None
            and _values(current, records.type) == (value,)
            and current.ttl == records.ttl
            and metadata.get(ACTIVE_KEY) == active
        ):
            return routing(records, (value,), metadata)
        record = RecordSet(ttl=records.ttl, metadata={**metadata, ACTIVE_KEY: active})
        if records.type == "A":
            record.a_records = [ARecord(ipv4_address=value)]
        elif records.type == "AAAA":
            record.aaaa_records = [AaaaRecord(ipv6_address=value)]
        else:
            record.cname_record = CnameRecord(cname=value)
        condition = {"if_match": current.etag} if current is not None else {"if_none_match": "*"}
        try:
            written = self.arm.dns.record_sets.create_or_update(
                group, zone, relative_name(records.name, zone), records.type, record, **condition
            )
        except Exception as exc:
            raise translate(exc, self._zone_id(group, zone)) from exc
        return routing(records, _values(written, records.type), written.metadata or {})

    def routing(self, records: DnsRecordSet) -> DnsRouting | None:
        """The record set as Azure DNS holds it now, or None when the zone has no such record set."""
        if records.type not in TYPES:
            raise UnsupportedRequest(f"record type {records.type!r}: WedCloud routes {', '.join(TYPES)} records")
        current = self._read(records)
        if current is None:
            return None
        return routing(records, _values(current, records.type), current.metadata or {})
