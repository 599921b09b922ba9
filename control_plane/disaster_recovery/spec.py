"""What a disaster-recovery plan is made of, as the API receives it.

These are the shapes only: each field's own rules (ranges, formats, a cron that parses, a URL
the outbound guard accepts). Rules that need the state store or a cloud (the provider exists,
its regions, a selector that matches something) are :mod:`control_plane.disaster_recovery.plans`.
"""

from __future__ import annotations

import ipaddress
import itertools
import re
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from croniter import CroniterError, croniter
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from control_plane.outbound import (
    OutboundRefused,
    OutboundSettings,
    check_url,
    literal_addresses,
    refusal,
    unroutable,
)
from control_plane.outbound.addresses import PRIVATE_KINDS
from control_plane.text import Line, Text

DAY = 86_400
LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOSTNAME = re.compile(rf"^(?=.{{1,253}}\.?$){LABEL}(\.{LABEL})*\.?$")
REGION = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
# a zone id or name, Azure's "<resource group>/<zone>" at most: each part starts with a letter or
# digit (so none is "..": no path to walk), no spaces
ZONE = r"^[A-Za-z0-9][A-Za-z0-9_().-]{0,126}(/[A-Za-z0-9][A-Za-z0-9_.-]{0,126})?$"
# each backup is a snapshot and a cross-region copy of every protected data store: not more often
MIN_BACKUP_MINUTES = 15


def _cron(value: str) -> str:
    text = " ".join(value.split())
    if len(text.split(" ")) != 5 or not croniter.is_valid(text):
        raise ValueError("a cron schedule of five fields, minute hour day-of-month month day-of-week (UTC)")
    now = datetime.now(UTC)
    try:  # valid yet never due ("0 0 30 2 *"): the schedules could not compute its times
        croniter(text, now).get_next(datetime)
        croniter(text, now).get_prev(datetime)
    except CroniterError:
        raise ValueError(f"{text!r} never comes: no date matches it (such as 30 February)") from None
    return text


def _backup_cron(text: str) -> str:
    """Refuse backups closer together than MIN_BACKUP_MINUTES. The gap is read from the minutes
    and hours (the days only leave times out, which cannot bring two closer), across midnight."""
    minutes, hours = croniter(text).expanded[:2]
    times = sorted(h * 60 + m for h in (range(24) if hours == ["*"] else hours)
                   for m in (range(60) if minutes == ["*"] else minutes))  # fmt: skip
    gap = min([b - a for a, b in itertools.pairwise(times)] + [times[0] + 1440 - times[-1]])
    if gap < MIN_BACKUP_MINUTES:
        raise ValueError(f"{text!r} has backups {gap} minute{'s' if gap != 1 else ''} apart: each takes a snapshot "
                         f"and a cross-region copy of every data store, so they must be at least "
                         f"{MIN_BACKUP_MINUTES} minutes apart (such as '*/{MIN_BACKUP_MINUTES} * * * *')")  # fmt: skip
    return text


def _health_url(value: str) -> str:
    """A URL the outbound guard would fetch: its shape, and its host when that is an address
    (a name is resolved, and its addresses checked, only when it is fetched)."""
    try:
        target = check_url(value)
    except OutboundRefused as exc:
        raise ValueError(str(exc)) from None
    allow_private = OutboundSettings().allow_private
    for address in literal_addresses(target.host, target.port):
        if why := refusal(address, allow_private=allow_private):
            hint = " (WEDCLOUD_OUTBOUND_ALLOW_PRIVATE lets it through)" if why in PRIVATE_KINDS else ""
            raise ValueError(f"{address} is a non-public address ({why}): the server does not probe it{hint}")
    return value


def _target(value: str) -> str:
    """A DNS value: an address that is somewhere users can be sent (a host name is checked
    against the record's type by :class:`Routing`)."""
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return value
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id is not None:
        raise ValueError(f"{value!r} carries a zone id (%...): a DNS record holds the address alone")
    if why := unroutable(address):
        raise ValueError(f"{value} is not an address to send users to ({why})")
    return value


Cron = Annotated[str, Field(max_length=120, examples=["0 */4 * * *"]), AfterValidator(_cron)]
BackupCron = Annotated[Cron, AfterValidator(_backup_cron)]
Region = Annotated[str, Field(pattern=REGION, examples=["eu-west-1"])]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Target(Strict):
    """Where the plan recovers to: a region of the primary provider (the default), or of another
    provider as a cold standby: only stateless tiers (instances, groups) are made there, from
    their sizes, since the other cloud cannot restore this one's snapshots."""

    provider_id: uuid.UUID | None = Field(default=None, description="Default: the primary provider.")
    region: Region


class Protected(Strict):
    """Which resources the plan protects; every given selector adds to the set. Only resources
    of the primary provider in the primary region are protected."""

    resource_ids: list[uuid.UUID] = Field(default_factory=list, max_length=500)
    tags: dict[Annotated[Line, Field(min_length=1, max_length=128)], Annotated[Line, Field(max_length=256)]] = Field(
        default_factory=dict, max_length=20, description="Resources carrying every one of these tags."
    )
    deployment_id: uuid.UUID | None = Field(default=None, description="Every resource of this deployment.")

    @model_validator(mode="after")
    def _something(self) -> Protected:
        if not (self.resource_ids or self.tags or self.deployment_id):
            raise ValueError("name the protected resources: resource_ids, tags or deployment_id")
        return self


class Backup(Strict):
    schedule: BackupCron = Field(default="0 */4 * * *", description="When backups are taken (cron, UTC; "
                                 f"at least {MIN_BACKUP_MINUTES} minutes apart).")  # fmt: skip
    retention_count: int | None = Field(default=14, ge=1, le=1000, description="Backups kept per resource.")
    retention_days: int | None = Field(default=None, ge=1, le=3650, description="Backups older than this expire.")
    cross_region_copy: bool = Field(default=True, description="Copy each snapshot to the first DR target's region.")

    @model_validator(mode="after")
    def _bounded(self) -> Backup:
        if self.retention_count is None and self.retention_days is None:
            raise ValueError("retention_count or retention_days is needed: without either, snapshots pile up for ever")
        return self


class Routing(Strict):
    """The DNS record set that sends users to the serving region. ``targets`` maps the primary
    region and each DR target's region to the value the record holds while it serves."""

    zone: str = Field(min_length=1, max_length=255, pattern=ZONE, description="Route 53 hosted zone id, Azure "
                      "'<resource group>/<zone>', Cloud DNS managed zone, or any name on the sandbox.")  # fmt: skip
    name: str = Field(min_length=1, max_length=253, examples=["api.wedsync.example."])
    type: Literal["A", "AAAA", "CNAME"] = "A"
    ttl: int = Field(default=60, ge=5, le=DAY)
    targets: dict[Region, Annotated[str, Field(min_length=1, max_length=253), AfterValidator(_target)]] = Field(
        min_length=2,
        max_length=6,
        description="Loopback, link-local (metadata), unspecified, multicast and "
        "broadcast addresses are refused; private networks are allowed (an internal zone).",
    )
    health_check_url: Annotated[str, Field(max_length=2048), AfterValidator(_health_url)] | None = Field(
        default=None,
        description="Probed (through the outbound guard) to judge the serving region's health. A "
        "host written as an address the guard refuses (metadata, link-local; loopback and private unless "
        "WEDCLOUD_OUTBOUND_ALLOW_PRIVATE) is refused here; a name's addresses are checked when it is fetched.",
    )

    @model_validator(mode="after")
    def _values(self) -> Routing:
        if not HOSTNAME.fullmatch(self.name):
            raise ValueError(f"name {self.name!r} is not a DNS name")
        for region, value in self.targets.items():
            if self.type == "CNAME":
                if not HOSTNAME.fullmatch(value):
                    raise ValueError(f"targets.{region}: {value!r} is not a host name (a CNAME holds one)")
                continue
            try:
                address = ipaddress.ip_address(value)
            except ValueError:
                raise ValueError(
                    f"targets.{region}: {value!r} is not an IP address (an {self.type} record holds one)"
                ) from None
            if (address.version == 4) != (self.type == "A"):
                raise ValueError(f"targets.{region}: {value!r} is not an IPv{4 if self.type == 'A' else 6} address")
        return self


class AutoFailover(Strict):
    enabled: bool = False
    failed_checks: int = Field(default=3, ge=1, le=100, description="Consecutive failed health checks.")
    require_approval: bool = Field(default=True, description="Raise an alert and wait for an admin's failover. "
                                   "False (the checks fail the plan over themselves) needs the admin role to "
                                   "create or replace the plan.")  # fmt: skip


class PlanSpec(Strict):
    """A disaster-recovery plan."""

    name: str = Field(min_length=1, max_length=120, pattern=r"^[A-Za-z0-9][A-Za-z0-9 _.-]*$")
    description: Text | None = Field(default=None, max_length=2000)
    primary_provider_id: uuid.UUID
    primary_region: Region
    dr_targets: list[Target] = Field(min_length=1, max_length=5)
    protected: Protected
    rto_seconds: int = Field(gt=0, le=30 * DAY, description="Recovery time objective.")
    rpo_seconds: int = Field(gt=0, le=30 * DAY, description="Recovery point objective.")
    backup: Backup = Field(default_factory=Backup)
    routing: Routing | None = None
    auto_failover: AutoFailover = Field(default_factory=AutoFailover)
    drill_schedule: Cron | None = Field(default=None, description="When drills run (cron, UTC); none: on demand.")

    @property
    def unattended_failover(self) -> bool:
        """Whether the health checks alone fail this plan over (no admin approves it): only an
        admin may write such a plan, since the failover writes its routing into DNS."""
        return self.auto_failover.enabled and not self.auto_failover.require_approval

    def stored(self) -> dict[str, Any]:
        """The plan's columns, as JSON-ready values."""
        return self.model_dump(mode="json")


EXAMPLE: dict[str, Any] = {
    "name": "booking-platform",
    "description": "The booking API and its database: back in another region within an hour.",
    "primary_provider_id": "6f1c2b1e-8a7d-4c3e-9f6a-2b1d0c9e8a7f",
    "primary_region": "eu-west-2",
    "dr_targets": [{"region": "eu-west-1"}],
    "protected": {"tags": {"app": "booking"}},
    "rto_seconds": 3600,
    "rpo_seconds": 14400,
    "backup": {"schedule": "0 */2 * * *", "retention_count": 24, "cross_region_copy": True},
    "routing": {
        "zone": "Z0123456789ABCDEFGHIJ",
        "name": "api.wedsync.example.",
        "type": "A",
        "ttl": 60,
        "targets": {"eu-west-2": "203.0.113.10", "eu-west-1": "198.51.100.20"},
        "health_check_url": "https://api.wedsync.example/healthz",
    },
    "auto_failover": {"enabled": True, "failed_checks": 3, "require_approval": True},
    "drill_schedule": "0 3 * * 1",
}
