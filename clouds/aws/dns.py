"""DNS failover on Route 53: a name's FAILOVER record pair in a hosted zone, and the health check
that lets Route 53 itself fail over to the standby.

:meth:`Dns.route_dns` writes the PRIMARY record (set identifier ``wedcloud-primary``) with the
active region's value and the SECONDARY (``wedcloud-secondary``) with the standby's, in one
ChangeResourceRecordSets batch of UPSERTs, so that a switch is atomic. The standby is the first
other target in the record set's ``targets`` order (the plan's primary region comes first, so a
failed-over name keeps its way back): Route 53 allows one PRIMARY and one SECONDARY per name and
type, so with more than two targets the rest stay out of DNS until a failover names one active.
Other record sets of the same name and type (a simple record, or records of other routing
policies) cannot stand beside failover records, so the same batch deletes them. A batch is sent
only when something differs: repeating the call changes nothing. Route 53 takes about a minute
to apply a change everywhere (GetChange reports INSYNC); the call does not wait for it.

With a health-check URL, an HTTP or HTTPS health check of its host, port and path is attached to
the PRIMARY record. It is created once: its CallerReference is derived from the record's name and
the URL, and an existing check with that reference is reused. Route 53 refuses a reference of a
deleted check for some days, so after a deletion the next numbered reference is used.

:meth:`Dns.dns_routing` reads the records back: the active region is the target whose value the
PRIMARY record (or a plain record) holds. It reports the configuration, not Route 53's view of
the health check: while the PRIMARY is unhealthy Route 53 answers with the SECONDARY.
Route 53 is global; its API is called in us-east-1.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from botocore.exceptions import BotoCoreError, ClientError

from clouds.aws.api import AwsApi, error_code, translate
from clouds.base import DnsRecordSet, DnsRouting
from clouds.errors import ResourceNotFound, UnsupportedRequest

PRIMARY, SECONDARY = "wedcloud-primary", "wedcloud-secondary"  # the failover records' set identifiers
RECORD_TYPES = ("A", "AAAA", "CNAME")
HEALTH_CHECK_INTERVAL, HEALTH_CHECK_FAILURES = 30, 3  # seconds between checks; failures before unhealthy
_REFERENCE_GENERATIONS = 5  # numbered CallerReferences tried after a deleted health check's


def _fqdn(name: str) -> str:
    """A DNS name as Route 53 answers it: lowercase, with its final dot, ``*`` as ``\\052``."""
    return name.lower().rstrip(".").replace("*", "\\052") + "."


def _zone_id(zone: str) -> str:
    return zone.removeprefix("/hostedzone/")


def _values(record: Mapping[str, Any]) -> tuple[str, ...]:
    if "AliasTarget" in record:
        return (str(record["AliasTarget"]["DNSName"]),)
    return tuple(str(value["Value"]) for value in record.get("ResourceRecords", ()))


def _shape(record: Mapping[str, Any]) -> tuple[Any, ...]:
    """What makes two failover records the same for our purpose."""
    return (record.get("SetIdentifier"), record.get("Failover"), record.get("TTL"), sorted(_values(record)),
            record.get("HealthCheckId"))  # fmt: skip


def health_check_config(url: str) -> dict[str, Any]:
    """A Route 53 health check of ``url``: its scheme, host (a name or an address), port and path."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsupportedRequest(f"a health-check URL is http:// or https:// with a host, not {url!r}")
    config: dict[str, Any] = {
        "Type": parts.scheme.upper(),
        "Port": parts.port or (443 if parts.scheme == "https" else 80),
        "ResourcePath": (parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
        "RequestInterval": HEALTH_CHECK_INTERVAL,
        "FailureThreshold": HEALTH_CHECK_FAILURES,
    }
    try:
        config["IPAddress"] = str(ipaddress.ip_address(parts.hostname))
    except ValueError:
        config["FullyQualifiedDomainName"] = parts.hostname
        if parts.scheme == "https":
            config["EnableSNI"] = True  # the host's certificate is the one for its name
    return config


class Dns:
    """Failover record pairs and their health checks in the account's Route 53 hosted zones."""

    def __init__(self, api: AwsApi) -> None:
        self.api = api

    def _route53(self) -> Any:
        return self.api.client("route53", "us-east-1")

    def _call(self, call: Callable[[], Any], zone: str) -> Any:
        try:
            return call()
        except ClientError as exc:
            if error_code(exc) == "NoSuchHostedZone":
                raise ResourceNotFound(zone) from exc
            raise translate(exc) from exc
        except BotoCoreError as exc:
            raise translate(exc) from exc

    def record_sets(self, records: DnsRecordSet) -> list[dict[str, Any]]:
        """Every record set of the name and type (Route 53 lists a zone in name order)."""
        name, found = _fqdn(records.name), []
        paginator = self._route53().get_paginator("list_resource_record_sets")
        pages = paginator.paginate(HostedZoneId=_zone_id(records.zone), StartRecordName=name,
                                   StartRecordType=records.type)  # fmt: skip

        def read() -> None:
            for page in pages:
                for record in page["ResourceRecordSets"]:
                    if record["Name"].lower() != name or record["Type"] != records.type:
                        return
                    found.append(record)

        self._call(read, records.zone)
        return found

    def route_dns(self, records: DnsRecordSet, *, active: str, health_check_url: str | None = None) -> DnsRouting:
        if active not in records.targets:
            raise UnsupportedRequest(f"{active!r} is none of the record's targets ({', '.join(records.targets)})")
        if records.type not in RECORD_TYPES:
            raise UnsupportedRequest(f"a failover record is of type {', '.join(RECORD_TYPES)}, not {records.type}")
        standby = [region for region in records.targets if region != active]
        base = {"Name": _fqdn(records.name), "Type": records.type, "TTL": records.ttl}
        wanted = [{**base, "SetIdentifier": PRIMARY, "Failover": "PRIMARY",
                   "ResourceRecords": [{"Value": records.targets[active]}]}]  # fmt: skip
        if health_check_url:
            wanted[0]["HealthCheckId"] = self.health_check(records.name, health_check_url)
        if standby:
            wanted.append({**base, "SetIdentifier": SECONDARY, "Failover": "SECONDARY",
                           "ResourceRecords": [{"Value": records.targets[standby[0]]}]})  # fmt: skip
        current = self.record_sets(records)
        keep = {record["SetIdentifier"] for record in wanted}
        changes = [{"Action": "DELETE", "ResourceRecordSet": r} for r in current if r.get("SetIdentifier") not in keep]
        changes += [
            {"Action": "UPSERT", "ResourceRecordSet": record}
            for record in wanted
            if not any(_shape(record) == _shape(existing) for existing in current)
        ]
        if changes:
            batch = {"Comment": f"WedCloud: {records.name} served from {active}", "Changes": changes}
            route53 = self._route53()
            self._call(
                lambda: route53.change_resource_record_sets(HostedZoneId=_zone_id(records.zone), ChangeBatch=batch),
                records.zone,
            )
        return DnsRouting(
            record=records.name,
            weights={region: 100 if region == active else 0 for region in records.targets},
            active=active,
            values=(records.targets[active],),
        )

    def dns_routing(self, records: DnsRecordSet) -> DnsRouting | None:
        current = self.record_sets(records)
        if not current:
            return None
        serving = next((r for r in current if r.get("Failover") == "PRIMARY"), current[0])
        values = _values(serving)
        active = next((region for region, value in records.targets.items() if value in values), None)
        weights = {region: 100 if region == active else 0 for region in records.targets} if active else {}
        return DnsRouting(record=records.name, weights=weights, active=active, values=values)

    def health_check(self, name: str, url: str) -> str:
        """The id of the health check of ``url`` for the record ``name``, created once."""
        config = health_check_config(url)
        base = "wedcloud-" + hashlib.sha256(f"{_fqdn(name)}\x1f{url}".encode()).hexdigest()[:40]
        references = [base] + [f"{base}-{n}" for n in range(1, _REFERENCE_GENERATIONS)]
        route53 = self._route53()

        def existing() -> dict[str, str]:
            checks = route53.get_paginator("list_health_checks").paginate()
            return {c["CallerReference"]: c["Id"] for page in checks for c in page["HealthChecks"]}

        known = self._call(existing, name)
        for reference in references:
            if reference in known:
                return str(known[reference])
        for reference in references:
            try:
                made = route53.create_health_check(CallerReference=reference, HealthCheckConfig=config)
            except ClientError as exc:
                if error_code(exc) == "HealthCheckAlreadyExists":  # a deleted check's reference, for a while
                    continue
                raise translate(exc) from exc
            except BotoCoreError as exc:
                raise translate(exc) from exc
            check = str(made["HealthCheck"]["Id"])
            label = [{"Key": "Name", "Value": f"WedCloud {name} {url}"[:256]}]
            tag = partial(route53.change_tags_for_resource, ResourceType="healthcheck", ResourceId=check, AddTags=label)
            self._call(tag, name)
            return check
        raise UnsupportedRequest(f"Route 53 refused every health-check reference for {url}; try again in a few days")
