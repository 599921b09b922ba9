"""Cloud DNS for the Google Cloud adapter: where a disaster-recovery record set sends its traffic,
through google-cloud-dns (the JSON API), pointed at the adapter's endpoint when it has one
(``client_options`` ``api_endpoint``) with the adapter's credentials.

``DnsRecordSet.zone`` is the Cloud DNS managed zone's name (``wedsync-prod``, not its DNS name)
and ``name`` the record's name, fully qualified or not (``www.wedsync.example``; Cloud DNS names
end with a dot, which is added). ``route_dns`` replaces the record set by one holding
``targets[active]`` with the set's ``ttl``, in one change that deletes the current record set
(exactly as it reads, as Cloud DNS requires) and adds the new one: Cloud DNS applies a change's
deletions and additions together or not at all, so resolvers never see the name missing. It
waits until the change is ``done`` (sent to Cloud DNS's authoritative servers). When the record
set already holds that value with that ttl, nothing is sent. A CNAME's value is written fully
qualified. The other targets are not kept anywhere: Cloud DNS has routing policies with health
checks, but those health checks probe internal load balancers' backends only, never a public
URL, so ``health_check_url`` is not used here; WedCloud's own health checks decide when to
switch.

``dns_routing`` reads the record set back: ``active`` is the target whose value it holds (all of
the traffic); a record set holding several targets' values splits the weights evenly between
them, with no active target.
"""

from __future__ import annotations

import time
from functools import cached_property
from typing import Any

from google.api_core import exceptions as google_errors

from clouds.base import DnsRecordSet, DnsRouting
from clouds.errors import CloudError, UnsupportedRequest
from clouds.gcp.api import GcpApi, translate
from clouds.gcp.credentials import client_options

RECORD_TYPES = ("A", "AAAA", "CNAME")
CHANGE_TIMEOUT = 300.0  # seconds a change may stay pending before route_dns gives up


def _absolute(name: str) -> str:
    return name if name.endswith(".") else f"{name}."


def _same(a: str, b: str) -> bool:
    """Whether two names or values are the same, fully qualified or not, in any case."""
    return a.rstrip(".").lower() == b.rstrip(".").lower()


class CloudDns:
    """The project's Cloud DNS managed zones."""

    def __init__(self, api: GcpApi) -> None:
        self._api = api

    @cached_property
    def client(self) -> Any:
        """The Cloud DNS client, made when first used."""
        from google.cloud.dns import Client

        return Client(
            project=self._api.project,
            credentials=self._api.credentials,
            client_options=client_options(self._api.endpoint_url),
        )

    def _call(self, records: DnsRecordSet, call: Any) -> Any:
        """``call()`` retried while Google is busy, its errors as :mod:`clouds.errors` (a missing
        zone is ResourceNotFound naming it)."""
        try:
            return self._api.retry(call)()
        except google_errors.GoogleAPICallError as exc:
            raise translate(exc, records.zone) from exc

    def _current(self, records: DnsRecordSet) -> Any:
        """The zone's record set of the name and type, or None (every page of the zone's list,
        asked for that name and type as the rrsets list allows)."""
        zone = self.client.zone(records.zone)
        name = _absolute(records.name)

        def find() -> Any:
            listing = zone.list_resource_record_sets()
            listing.extra_params = {"name": name, "type": records.type}
            return next((r for r in listing if _same(r.name, name) and r.record_type == records.type), None)

        return self._call(records, find)

    def _value(self, records: DnsRecordSet, region: str) -> str:
        value = records.targets[region]
        return _absolute(value) if records.type == "CNAME" else value

    def route(self, records: DnsRecordSet, *, active: str) -> DnsRouting:
        if records.type not in RECORD_TYPES:
            raise UnsupportedRequest(f"type: a record set routed by WedCloud is one of {', '.join(RECORD_TYPES)}")
        if active not in records.targets:
            raise UnsupportedRequest(f"active: {active!r} is none of the record set's targets")
        value = self._value(records, active)
        current = self._current(records)
        if current is not None and current.ttl == records.ttl and [_same(v, value) for v in current.rrdatas] == [True]:
            return self._routing(records, current.rrdatas)  # routed there already
        zone = self.client.zone(records.zone)
        change = zone.changes()
        if current is not None:
            change.delete_record_set(current)
        change.add_record_set(zone.resource_record_set(_absolute(records.name), records.type, records.ttl, [value]))
        self._call(records, change.create)
        self._wait(records, change)
        return self._routing(records, [value])

    def _wait(self, records: DnsRecordSet, change: Any) -> None:
        """Until Cloud DNS reports the change ``done``: read at once, then every 0.5 s to 5 s."""
        deadline, pause = time.monotonic() + CHANGE_TIMEOUT, 0.0
        while change.status != "done":
            if time.monotonic() > deadline:
                raise CloudError(f"Cloud DNS change {change.name} to {records.name} is still pending after 5 minutes")
            time.sleep(pause)
            self._call(records, change.reload)
            pause = min(max(pause * 2, 0.5), 5.0)

    def routing(self, records: DnsRecordSet) -> DnsRouting | None:
        current = self._current(records)
        return None if current is None else self._routing(records, current.rrdatas)

    def _routing(self, records: DnsRecordSet, rrdatas: list[str]) -> DnsRouting:
        serving = [r for r in records.targets if any(_same(self._value(records, r), v) for v in rrdatas)]
        share, extra = divmod(100, len(serving)) if serving else (0, 0)
        weights = {r: (share + (1 if serving.index(r) < extra else 0) if r in serving else 0) for r in records.targets}
        return DnsRouting(
            record=records.name,
            weights=weights,
            active=serving[0] if len(serving) == 1 else None,
            values=tuple(rrdatas),
        )
