"""The CloudProvider protocol and the value types every adapter speaks.

Read side: regions, services, inventory, metrics, billing exports, price catalogue.
Write side: provision, scale, start, stop, terminate, snapshot, restore, DNS routing.
Adapters translate their SDK's shapes into these types and their errors into
:mod:`clouds.errors`; nothing above this layer sees an SDK object.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import polars as pl

from clouds.errors import UnsupportedRequest


class ResourceType(StrEnum):
    COMPUTE = "compute"
    STORAGE = "storage"
    DATABASE = "database"
    NETWORK = "network"


class ResourceState(StrEnum):
    PROVISIONING = "provisioning"
    RUNNING = "running"
    STOPPED = "stopped"
    AVAILABLE = "available"  # storage and addresses: exists, has no power state
    TERMINATED = "terminated"
    FAILED = "failed"


HOUR = timedelta(hours=1)
LIVE_METRICS = ("cpu", "memory", "network_in", "network_out", "disk_read", "disk_write")
"""The monitoring vocabulary (:meth:`CloudProvider.recent_metrics`, the collector's samples)."""
LIVE_UNITS = {
    "cpu": "percent",  # average over the sample's period
    "memory": "percent",  # of the size's memory in use, average over the period
    "network_in": "bytes",  # received in the period
    "network_out": "bytes",  # sent in the period
    "disk_read": "operations",  # read operations in the period
    "disk_write": "operations",  # write operations in the period
}


class Metric(StrEnum):
    """Utilisation metrics, named by what they measure and in which unit. A sample covers one
    period: percentages are its average, bytes and operations its total."""

    CPU_PERCENT = "cpu_percent"
    MEMORY_PERCENT = "memory_percent"
    NETWORK_IN_BYTES = "network_in_bytes"
    NETWORK_OUT_BYTES = "network_out_bytes"
    DISK_IO_OPS = "disk_io_ops"


@dataclass(frozen=True)
class Region:
    id: str
    name: str
    geography: str


@dataclass(frozen=True)
class Service:
    """A service the provider bills for, with its FOCUS ServiceCategory."""

    id: str
    name: str
    category: str
    resource_types: tuple[ResourceType, ...] = ()


COMPUTE_SERVICE, DATABASE_SERVICE = "compute", "database"
"""The catalogues a size belongs to (:attr:`InstanceType.service`): virtual machines (EC2, Azure
Virtual Machines, Compute Engine) and managed databases (RDS, Azure SQL Database, Cloud SQL).
A size is priced by its service: ``db.r5.xlarge`` (RDS) and ``r5.xlarge`` (EC2) are the same
hardware at different prices, and one cannot be resized into the other."""


@dataclass(frozen=True)
class InstanceType:
    """A compute or database size with its on-demand list price per hour. ``service`` is the
    catalogue it belongs to (``COMPUTE_SERVICE`` or ``DATABASE_SERVICE``), or None when unknown
    (a catalogue stored before the column existed): nothing is resized into or out of such a size."""

    name: str
    family: str
    vcpus: int
    memory_gib: Decimal
    hourly_price: Decimal
    currency: str = "USD"
    architecture: str = "x86_64"
    gpus: int = 0
    network_gbps: Decimal = Decimal("10")
    service: str | None = COMPUTE_SERVICE


@dataclass(frozen=True)
class CloudResource:
    """A resource as the provider reports it."""

    id: str
    name: str
    resource_type: ResourceType
    subtype: str
    region: str
    state: ResourceState
    account_id: str
    size: str | None = None
    zone: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    created_at: datetime | None = None
    attached_to: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ProvisionRequest:
    name: str
    resource_type: ResourceType
    region: str
    size: str
    account_id: str | None = None
    image: str | None = None
    network: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ScaleRequest:
    """Vertical (a new ``size``) or horizontal (a new ``capacity`` of a group) scaling."""

    size: str | None = None
    capacity: int | None = None


@dataclass(frozen=True)
class BillingExport:
    """One billing export file the provider delivered."""

    format: str
    path: Path
    billing_period: date
    size_bytes: int
    account_id: str


@dataclass(frozen=True)
class Snapshot:
    """A point-in-time copy of a data store (a disk, a database, an instance's disks).

    ``region`` is where it is stored: a region, or a multi-region location (Google Cloud's
    ``eu``, ``us``) from which it can be restored in any of that location's regions.
    ``completed_at`` is when its data was whole (None while the cloud is still copying it);
    ``source_snapshot_id`` is the snapshot it was copied from, for a cross-region copy."""

    id: str
    resource_id: str
    created_at: datetime
    size_gb: int | None = None
    region: str | None = None
    completed_at: datetime | None = None
    state: str = "completed"  # pending | completed | failed
    name: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    source_snapshot_id: str | None = None
    kind: str | None = None  # what it restores into: volume | database | instance


SNAPSHOT_STATES = ("pending", "completed", "failed")


@dataclass(frozen=True)
class DnsRecordSet:
    """A DNS name that disaster recovery points at one region or another.

    ``zone`` is the provider's zone: a Route 53 hosted zone id, Azure's
    ``<resource group>/<zone name>``, a Cloud DNS managed zone name, or any name on the
    sandbox. ``targets`` maps each region (or ``<provider>:<region>`` for a cold standby on
    another cloud) to the value the record holds while that region serves: an address for A
    and AAAA records, a host name for CNAME."""

    zone: str
    name: str
    targets: Mapping[str, str]
    type: str = "A"
    ttl: int = 60


@dataclass(frozen=True)
class DnsRouting:
    """Where a DNS name sends its traffic: weights by region (summing to 100); ``active`` is
    the region that takes it all, when one does."""

    record: str
    weights: Mapping[str, int]
    active: str | None = None
    values: tuple[str, ...] = ()


@dataclass(frozen=True)
class ConnectionCheck:
    ok: bool
    identity: str
    detail: str = ""
    missing_permissions: Sequence[str] = ()


Problem = tuple[str, str]
"""A reason a request cannot work: (the request field at fault, what it needs)."""


@runtime_checkable
class CloudProvider(Protocol):
    """What WedCloud needs from a cloud. Every call is blocking; callers run it in a thread."""

    kind: str

    # checked before anything is recorded or sent (the API answers 422 listing each problem);
    # ``request.options["subtype"]`` is set and is one of the type's subtypes
    @classmethod
    def provision_problems(cls, request: ProvisionRequest) -> list[Problem]: ...

    # read side
    def test_connection(self) -> ConnectionCheck: ...
    def list_regions(self) -> list[Region]: ...
    def list_services(self) -> list[Service]: ...
    def list_resources(self, *, region: str | None = None) -> Iterator[CloudResource]: ...
    def describe(self, resource_id: str) -> CloudResource: ...
    def tag(self, resource_id: str, tags: Mapping[str, str]) -> CloudResource: ...
    def get_metrics(
        self, resource_ids: Sequence[str], *, start: datetime, end: datetime, period: timedelta = HOUR
    ) -> pl.DataFrame: ...
    def recent_metrics(self, resource_ids: Sequence[str], *, start: datetime, end: datetime) -> pl.DataFrame:
        """Live samples for the monitoring collector: :data:`LIVE_METRICS` of each resource in
        [start, end) at the finest grain the cloud offers for its standard metrics, in the long
        :data:`METRICS_SCHEMA` (``resource_id`` as asked, ``metric`` one of :data:`LIVE_METRICS`,
        ``timestamp`` the UTC start of the sample's period, ``value``). Units are
        :data:`LIVE_UNITS`: percentages are the period's average; bytes and disk operations the
        period's total. A metric the cloud does not report (memory without an agent) is absent,
        never zero; a resource with no metrics (a bucket, a disk) has no rows.

        Grains, as each cloud documents them:

        - AWS CloudWatch: asked with a 60 s period. EC2 sends its metrics every 5 minutes with
          basic monitoring and every minute with detailed monitoring, so basic monitoring gives
          one sample per 5 minutes holding that period's total; RDS sends every minute. Data at
          a 60 s period is kept 15 days.
        - Azure Monitor: ``PT1M``, the finest time grain of virtual machines' platform metrics.
        - Google Cloud Monitoring: aligned to 60 s; Compute Engine samples its instance metrics
          every 60 s (and the Ops Agent its memory too).

        Throttling leaves as :class:`clouds.errors.Throttled` (after the SDK's own short retry), so
        that the caller can back off and try again."""
        ...

    def list_billing_exports(self, *, since: date | None = None) -> list[BillingExport]: ...
    def price_catalogue(self, *, region: str) -> list[InstanceType]: ...

    # write side
    def provision(self, request: ProvisionRequest) -> CloudResource: ...
    def scale(self, resource_id: str, request: ScaleRequest) -> CloudResource: ...
    def start(self, resource_id: str) -> CloudResource: ...
    def stop(self, resource_id: str) -> CloudResource: ...
    def terminate(self, resource_id: str) -> CloudResource: ...

    # disaster recovery. Every call is safe to repeat: a name (snapshots, restored
    # resources) or a client token identifies what an earlier call made.
    def snapshot(self, resource_id: str, *, name: str, tags: Mapping[str, str] | None = None) -> Snapshot:
        """Take a snapshot of a disk, a database or an instance (its disks), in its region."""
        ...

    def copy_snapshot(
        self, snapshot_id: str, *, region: str, name: str, tags: Mapping[str, str] | None = None
    ) -> Snapshot:
        """A copy of the snapshot stored in ``region`` (a cross-region backup). Where the cloud
        stores a snapshot in a multi-region location that already serves ``region`` (Google
        Cloud), the snapshot itself is the answer."""
        ...

    def describe_snapshot(self, snapshot_id: str) -> Snapshot: ...
    def list_snapshots(self, *, region: str | None = None, tags: Mapping[str, str] | None = None) -> Iterator[Snapshot]:
        """The account's own snapshots (in ``region``, carrying every tag of ``tags``)."""
        ...

    def delete_snapshot(self, snapshot_id: str) -> None:
        """Delete a snapshot (and what only it uses, such as an AMI's disk snapshots); one that
        is gone already is not an error."""
        ...

    def restore(
        self,
        snapshot_id: str,
        *,
        region: str,
        name: str,
        tags: Mapping[str, str] | None = None,
        size: str | None = None,
        network: str | None = None,
    ) -> CloudResource:
        """A new resource made from the snapshot in ``region``: a disk, a database or an
        instance, by what the snapshot holds. ``size`` overrides the source's size (an instance
        or database class); the new resource carries ``tags``. ``network``: the id of an
        :meth:`isolated_network` to place it in (a drill's), closed to and from everything;
        None: the region's default network (a failover's copies, meant to serve). It may still
        be provisioning: callers wait for it with :meth:`describe`. Sandbox resources report how
        long the cloud takes to make them ready in ``details["ready_after_seconds"]``."""
        ...

    def isolated_network(self, *, region: str, name: str, tags: Mapping[str, str]) -> CloudResource:
        """A network in ``region`` that nothing routes into or out of (no internet gateway, no
        peering, deny-all firewall rules), carrying ``tags``: where a drill puts its copies of
        production so that they cannot reach real services. Safe to repeat: the same name finds
        what the first call made. A :class:`ProvisionRequest` places what it makes there when
        its ``network`` is the answer's id. UnsupportedRequest where the adapter cannot make one."""
        ...

    def isolated_networks(self, *, region: str, tags: Mapping[str, str]) -> list[CloudResource]:
        """The isolated networks in ``region`` carrying every tag of ``tags`` (a sweep's)."""
        ...

    def delete_network(self, network_id: str, *, region: str) -> bool:
        """Delete an isolated network and what the network itself holds (subnets, firewall
        rules); True when it is gone (or was), False while a resource still uses it (call again
        later). Refuses a network :meth:`isolated_network` did not make."""
        ...

    def route_dns(self, records: DnsRecordSet, *, active: str, health_check_url: str | None = None) -> DnsRouting:
        """Send the name's traffic to ``records.targets[active]``, with the other targets as
        standby where the cloud's DNS has failover routing (Route 53 failover records, with a
        health check on ``health_check_url``). Repeating it changes nothing."""
        ...

    def dns_routing(self, records: DnsRecordSet) -> DnsRouting | None:
        """Where the name sends its traffic now, or None if it has no record."""
        ...


class NotYetAdapted:
    """The parts of :class:`CloudProvider` a real cloud's adapter leaves to other modules or to
    later work; each refuses with UnsupportedRequest (the API answers 422 with the reason)."""

    kind: str

    def get_metrics(
        self, resource_ids: Sequence[str], *, start: datetime, end: datetime, period: timedelta = HOUR
    ) -> pl.DataFrame:
        raise UnsupportedRequest(
            f"{self.kind}: utilisation metrics are read by the optimisation pipeline, not here yet"
        )

    def recent_metrics(self, resource_ids: Sequence[str], *, start: datetime, end: datetime) -> pl.DataFrame:
        raise UnsupportedRequest(f"{self.kind}: live metrics for monitoring are not read from this cloud yet")

    def list_billing_exports(self, *, since: date | None = None) -> list[BillingExport]:
        raise UnsupportedRequest(f"{self.kind}: bills are read by the billing sources (clouds.{self.kind}), not here")

    def price_catalogue(self, *, region: str) -> list[InstanceType]:
        raise UnsupportedRequest(f"{self.kind}: the price catalogue is not part of this adapter yet")

    def isolated_network(self, *, region: str, name: str, tags: Mapping[str, str]) -> CloudResource:
        raise UnsupportedRequest(f"{self.kind}: the adapter cannot make an isolated network for a drill yet")

    def isolated_networks(self, *, region: str, tags: Mapping[str, str]) -> list[CloudResource]:
        return []

    def delete_network(self, network_id: str, *, region: str) -> bool:
        raise UnsupportedRequest(f"{self.kind}: the adapter makes no isolated networks")


METRICS_SCHEMA = pl.Schema(
    {
        "resource_id": pl.String(),
        "metric": pl.String(),
        "timestamp": pl.Datetime("us", "UTC"),
        "value": pl.Float64(),
    }
)
"""Long format returned by :meth:`CloudProvider.get_metrics`: one row per sample, stamped with
the start of its period (UTC), ``resource_id`` being the id the caller asked with. A metric the
provider does not report (memory without an agent) is absent, never zero."""
