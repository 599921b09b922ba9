"""Shared types of the optimisation engine: what the rules read (inventory, rates, catalogue)
and what they produce (recommendations).

Money is Decimal and times are UTC-aware throughout. A recommendation's saving is priced at the
*effective* rate (what the customer pays after commitments and discounts, from billing), falling
back to the list price only when billing has no rate for the resource; the evidence says which.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from clouds.base import COMPUTE_SERVICE, DATABASE_SERVICE, InstanceType, ResourceState

HOURS_PER_MONTH = Decimal(730)
"""365 days x 24 hours / 12 months = 730: the convention AWS, Azure and Google pricing pages use
for a month, so our monthly figures compare with theirs and do not depend on the calendar."""

Kind = Literal["idle", "rightsize", "unattached_disk", "unattached_ip", "stopped_paying", "schedule", "commitment"]
Action = Literal["stop", "terminate", "resize", "delete", "schedule", "purchase"]
RiskLevel = Literal["low", "medium", "high"]
Subtype = Literal["instance", "volume", "address", "database"]
PriceBasis = Literal["effective", "list"]
SERVICE_OF: Mapping[str, str] = {"instance": COMPUTE_SERVICE, "database": DATABASE_SERVICE}
"""The catalogue a resource's size is read from, by subtype: an RDS database is sized and priced
among RDS classes, never among EC2 types."""


def recommendation_id(kind: str, provider: str, resource_id: str, action: str, target: str | None) -> str:
    """A stable id from what the recommendation *is*, not when it was made: re-running the rules
    on new data yields the same id for the same advice (so the store updates it), and a different
    id when the advice changes (another target type, another schedule)."""
    key = "\x1f".join((kind, provider, resource_id, action, target or ""))
    return hashlib.sha256(key.encode()).hexdigest()[:24]


def monthly(hourly: Decimal) -> Decimal:
    """An hourly amount over a 730-hour month (see HOURS_PER_MONTH)."""
    return hourly * HOURS_PER_MONTH


def json_ready(value: Any) -> Any:
    """Evidence as JSON-safe values: Decimals and datetimes become strings (exact, ISO 8601),
    tuples become lists, mappings are walked."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    return value


@dataclass(frozen=True)
class Recommendation:
    """One piece of advice about one resource. ``target`` is the canonical string of what is
    proposed (a type name, a schedule spec, a commitment spec) or None when the action needs none;
    it is part of the id. ``evidence`` is JSON-ready (build it with :func:`json_ready`)."""

    id: str
    kind: Kind
    provider: str
    account_id: str
    resource_id: str
    region: str
    action: Action
    target: str | None
    monthly_saving: Decimal
    currency: str
    evidence: Mapping[str, Any]
    risk: RiskLevel
    risk_reason: str
    confidence: float
    confidence_reason: str

    @classmethod
    def build(
        cls,
        *,
        kind: Kind,
        provider: str,
        account_id: str,
        resource_id: str,
        region: str,
        action: Action,
        target: str | None,
        monthly_saving: Decimal,
        currency: str,
        evidence: Mapping[str, Any],
        risk: RiskLevel,
        risk_reason: str,
        confidence: float,
        confidence_reason: str,
    ) -> Recommendation:
        """Make a recommendation with its stable id computed and its evidence made JSON-ready."""
        return cls(
            id=recommendation_id(kind, provider, resource_id, action, target),
            kind=kind,
            provider=provider,
            account_id=account_id,
            resource_id=resource_id,
            region=region,
            action=action,
            target=target,
            monthly_saving=monthly_saving,
            currency=currency,
            evidence=json_ready(evidence),
            risk=risk,
            risk_reason=risk_reason,
            confidence=max(0.0, min(1.0, confidence)),
            confidence_reason=confidence_reason,
        )


@dataclass(frozen=True)
class Resource:
    """The inventory row the rules need. ``size`` is the type name for instances and databases
    and ``"<n>GB"`` for volumes; ``state_since`` is when the resource entered ``state`` (UTC),
    which is what "unattached for more than 7 days" and "stopped for a week" are measured from."""

    resource_id: str
    provider: str
    account_id: str
    region: str
    subtype: Subtype
    state: ResourceState
    size: str | None = None
    architecture: str | None = None
    attached_to: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    created_at: datetime | None = None
    state_since: datetime | None = None

    @property
    def environment(self) -> str | None:
        """The environment from the usual tag keys, lower-cased (``prod``, ``dev``...)."""
        for key, value in self.tags.items():
            if key.lower() in ("environment", "env", "stage"):
                return value.lower()
        return None

    @property
    def service(self) -> str | None:
        """The catalogue its size belongs to (``SERVICE_OF``); None for volumes and addresses."""
        return SERVICE_OF.get(self.subtype)

    @property
    def size_gb(self) -> int | None:
        """A volume's size from ``"<n>GB"``; None for anything else."""
        if self.size and self.size.upper().endswith("GB") and self.size[:-2].strip().isdigit():
            return int(self.size[:-2])
        return None


@dataclass(frozen=True)
class PricedHour:
    """An hourly cost and where it came from, so evidence can say which rate a saving uses."""

    amount: Decimal
    currency: str
    basis: PriceBasis


@dataclass(frozen=True)
class Rates:
    """What resources cost per hour. ``effective_hourly`` comes from billing (resource id ->
    amortised cost per hour after commitments and discounts); the list prices are the fallback
    when billing has no line for a resource: instance types from the catalogue, block storage per
    GB-month and a public address per hour from the provider's price list."""

    currency: str
    effective_hourly: Mapping[str, Decimal] = field(default_factory=dict)
    volume_gb_month: Decimal | None = None
    address_hourly: Decimal | None = None
    running_hourly: Mapping[str, Decimal] = field(default_factory=dict)

    def effective(self, resource_id: str) -> PricedHour | None:
        """Everything billed to the resource per hour (its disks included where the provider
        bills them to it), or None when billing has none: what deleting it saves."""
        amount = self.effective_hourly.get(resource_id)
        return None if amount is None else PricedHour(amount, self.currency, "effective")

    def running(self, resource_id: str) -> PricedHour | None:
        """What the resource's running time costs per hour (charges priced in hours), which is
        what stopping, resizing or scheduling it changes; its storage keeps billing. Falls back
        to :meth:`effective` when billing says nothing about units."""
        amount = self.running_hourly.get(resource_id)
        return self.effective(resource_id) if amount is None else PricedHour(amount, self.currency, "effective")

    def volume_list(self, size_gb: int | None) -> PricedHour | None:
        """List price per hour of a volume of ``size_gb``."""
        if self.volume_gb_month is None or size_gb is None:
            return None
        return PricedHour(self.volume_gb_month * size_gb / HOURS_PER_MONTH, self.currency, "list")

    def address_list(self) -> PricedHour | None:
        """List price per hour of an unattached public address."""
        return None if self.address_hourly is None else PricedHour(self.address_hourly, self.currency, "list")


@dataclass(frozen=True)
class Catalogue:
    """Instance types with list prices, per (provider, region): candidates for rightsizing must
    come from the resource's own cloud and region, and list prices differ by region. Each type
    belongs to one service's catalogue (``InstanceType.service``): virtual machines or managed
    databases, which the rules never mix."""

    offers: Mapping[tuple[str, str], Sequence[InstanceType]] = field(default_factory=dict)

    def types(self, provider: str, region: str, service: str | None = None) -> Sequence[InstanceType]:
        """The types offered in a region (empty when unknown); only ``service``'s when given."""
        offered = self.offers.get((provider, region), ())
        return offered if service is None else [t for t in offered if t.service == service]

    def lookup(self, provider: str, region: str, name: str | None, service: str | None = None) -> InstanceType | None:
        """The type named ``name`` in that region (in ``service``'s catalogue when given)."""
        return next((t for t in self.types(provider, region, service) if t.name == name), None)

    def size_of(self, resource: Resource) -> InstanceType | None:
        """The resource's current size in its own service's catalogue (an RDS class among RDS
        classes): None when that catalogue does not list it, or the resource has no service."""
        if resource.service is None:
            return None
        return self.lookup(resource.provider, resource.region, resource.size, resource.service)
