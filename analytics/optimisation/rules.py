"""Optimisation rules: pure functions from inventory, metrics and rates to recommendations.

Every rule errs towards saying nothing: a resource is only called idle when there is enough data
to show it, and a rightsizing never proposes a bigger or pricier type. Savings are priced at the
resource's effective rate from billing (commitments and discounts included), which is what the
customer would stop paying; list prices are only a fallback, and evidence says which was used.
Thresholds and their sources are in docs/optimisation.md.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import polars as pl

from analytics.optimisation.model import (
    Catalogue,
    PricedHour,
    Rates,
    Recommendation,
    Resource,
    RiskLevel,
    monthly,
)
from clouds.base import InstanceType, Metric, ResourceState

IDLE_WINDOW = timedelta(days=7)
IDLE_CPU_P95_BELOW = 3.0  # percent, P95 of the hourly max CPU
IDLE_NETWORK_BELOW = 2.0  # percent of the type's network capacity, P95 of hourly in+out
IDLE_MIN_HOURS = 30
UNATTACHED_AFTER = timedelta(days=7)
STOPPED_AFTER = timedelta(days=7)
RIGHTSIZE_WINDOWS = (14, 32, 93)
RIGHTSIZE_CPU_PERCENTILES = (90.0, 95.0, 99.5)
RIGHTSIZE_MIN_COVERAGE = 0.5  # share of the window's hours with CPU data
MEMORY_UNKNOWN_CONFIDENCE = 0.7  # factor applied when memory is not measured
_COMPUTE = ("instance", "database")
_NETWORK = (Metric.NETWORK_IN_BYTES.value, Metric.NETWORK_OUT_BYTES.value)


# ---------------------------------------------------------------- metric math


def _aware(now: datetime) -> datetime:
    """Windows are UTC instants: a naive ``now`` would silently shift them by the host's offset."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    return now


_CPU = Metric.CPU_PERCENT.value
_MEMORY = Metric.MEMORY_PERCENT.value
_SOURCES = {"cpu": (_CPU,), "memory": (_MEMORY,), "network": _NETWORK}


@dataclass(frozen=True)
class HourlyMetrics:
    """Metrics already summarised per resource and hour (see :func:`hourly_metrics`): every rule
    reads hourly figures, so a caller running several rules over one fleet summarises the raw
    samples once instead of once per rule. The rules accept this or the raw frame."""

    frame: pl.DataFrame  # resource_id, timestamp (the hour), cpu, memory, network, network_rows


def hourly_metrics(metrics: pl.DataFrame, *, start: datetime, end: datetime) -> HourlyMetrics:
    """One streaming pass over raw samples in [start, end): every resource's hours with data."""
    hours = _summarise(metrics, start=start, end=end, columns=("cpu", "memory", "network"))
    return HourlyMetrics(hours.collect(engine="streaming"))


Metrics = pl.DataFrame | HourlyMetrics


def _hourly(metrics: Metrics, *, start: datetime, end: datetime, columns: Iterable[str]) -> pl.LazyFrame:
    """One row per resource and hour of [start, end) with data (see :func:`_summarise`)."""
    if isinstance(metrics, HourlyMetrics):
        wanted = list(columns) + (["network_rows"] if "network" in columns else [])
        return (
            metrics.frame.lazy()
            .filter((pl.col("timestamp") >= start) & (pl.col("timestamp") < end))
            .select("resource_id", "timestamp", *wanted)
        )
    return _summarise(metrics, start=start, end=end, columns=columns)


def _summarise(metrics: pl.DataFrame, *, start: datetime, end: datetime, columns: Iterable[str]) -> pl.LazyFrame:
    """One row per resource and hour of [start, end) with data, in one pass over the whole frame
    (grouping per resource in Python costs a query per resource: minutes at 10,000 instances).
    ``cpu`` and ``memory`` are the hour's max (the busiest moment, so short peaks are not averaged
    away), ``network`` the bytes moved in and out in the hour; each is null when the hour has no
    sample of it, so ``count()`` is its hours with data."""
    is_net = pl.col("metric").is_in(_NETWORK)
    pick = {
        "cpu": pl.when(pl.col("metric") == _CPU).then(pl.col("value")).max().alias("cpu"),
        "memory": pl.when(pl.col("metric") == _MEMORY).then(pl.col("value")).max().alias("memory"),
        "network": pl.when(is_net).then(pl.col("value")).sum().alias("network"),
        "network_rows": is_net.sum().alias("network_rows"),
    }
    columns = list(columns)
    wanted = columns + (["network_rows"] if "network" in columns else [])
    names = [name for column in columns for name in _SOURCES[column]]
    inside = metrics.lazy().filter(
        (pl.col("timestamp") >= start) & (pl.col("timestamp") < end) & pl.col("metric").is_in(names)
    )
    hours = inside.group_by("resource_id", pl.col("timestamp").dt.truncate("1h")).agg(pick[c] for c in wanted)
    if "network" in columns:  # a sum over no rows is 0, not "no data"; null bytes still count as 0
        hours = hours.with_columns(pl.when(pl.col("network_rows") > 0).then(pl.col("network")).alias("network"))
    return hours


def _rows(summary: pl.LazyFrame, *keys: str) -> dict[tuple[Any, ...], dict[str, Any]]:
    """The per-resource summary as a dict keyed by ``keys``, for the per-resource decisions.
    The streaming engine reads the metrics in batches instead of copying the window first: at
    40 million rows that is several times faster and gigabytes lighter."""
    frame = summary.collect(engine="streaming")
    return {tuple(row[k] for k in keys): row for row in frame.iter_rows(named=True)}


def _percentile(value: object) -> float:
    """A percentile from polars (linear interpolation, numpy's default), NaN when there was none."""
    return float(value) if isinstance(value, int | float) else math.nan


def _variation(mean: object, std: object) -> float:
    """Coefficient of variation (std / mean): how spiky a load is; 0 for a flat or zero series."""
    if not isinstance(mean, float) or not isinstance(std, float) or mean <= 0 or math.isnan(std):
        return 0.0
    return std / mean


def _capacity(gbps: Decimal) -> float:
    """What the type's link can move in an hour, in bytes: network percent = bytes / this x 100."""
    return float(gbps) * 1e9 / 8 * 3600


# ---------------------------------------------------------------- pricing


def _hourly_cost(resource: Resource, rates: Rates, list_price: PricedHour | None) -> PricedHour | None:
    """The effective rate when billing has one, else the list price, else None."""
    return rates.effective(resource.resource_id) or list_price


def instance_list_price(itype: InstanceType | None) -> PricedHour | None:
    """A type's on-demand list price per hour, when the catalogue has the type."""
    return None if itype is None else PricedHour(itype.hourly_price, itype.currency, "list")


def _price_evidence(cost: PricedHour) -> dict[str, object]:
    return {"hourly_rate": cost.amount, "rate_basis": cost.basis, "currency": cost.currency}


def _risk_for(resource: Resource, base: RiskLevel, reason: str) -> tuple[RiskLevel, str]:
    """Production raises a stop or delete by one level: an error there costs more than it saves."""
    if resource.environment in ("prod", "production") and base != "high":
        return ("high" if base == "medium" else "medium"), f"{reason}; tagged production"
    return base, reason


# ---------------------------------------------------------------- idle


def idle(
    resources: Iterable[Resource],
    metrics: Metrics,
    catalogue: Catalogue,
    rates: Rates,
    *,
    now: datetime,
) -> list[Recommendation]:
    """Running instances whose P95 of hourly max CPU is below 3% *and* whose P95 hourly network
    (in + out) is below 2% of the type's capacity over the last 7 days, with at least 30 hours of
    both. Missing network data or an unknown type means no recommendation, never an assumption."""
    start = _aware(now) - IDLE_WINDOW
    eligible = [
        (resource, itype)
        for resource in resources
        if resource.subtype in _COMPUTE and resource.state == ResourceState.RUNNING
        and (itype := catalogue.lookup(resource.provider, resource.region, resource.size)) is not None
    ]  # fmt: skip
    links = {(resource.resource_id, _capacity(itype.network_gbps)) for resource, itype in eligible}
    stats = _idle_stats(metrics, start=start, end=now, links=links)
    found = []
    for resource, itype in eligible:
        load = stats.get((resource.resource_id, _capacity(itype.network_gbps)), {})
        rec = _idle_one(resource, load, itype, rates)
        if rec is not None:
            found.append(rec)
    return found


def _idle_stats(
    metrics: Metrics, *, start: datetime, end: datetime, links: set[tuple[str, float]]
) -> dict[tuple[Any, ...], dict[str, Any]]:
    """Per (resource, link capacity in bytes an hour): hours of CPU and of network data, P95 of
    hourly max CPU and of hourly network as a percentage of the link. Keyed by capacity too, so
    one id listed twice with different types is judged against each, as per resource before."""
    capacity = pl.LazyFrame(list(links), schema={"resource_id": pl.String, "capacity": pl.Float64}, orient="row")
    network = pl.col("network") / pl.col("capacity") * 100
    summary = (
        _hourly(metrics, start=start, end=end, columns=("cpu", "network"))
        .join(capacity, on="resource_id")
        .group_by("resource_id", "capacity")
        .agg(
            pl.col("cpu").count().alias("cpu_hours"),
            network.count().alias("network_hours"),
            pl.col("cpu").quantile(0.95, "linear").alias("cpu_p95"),
            network.quantile(0.95, "linear").alias("network_p95"),
        )
    )
    return _rows(summary, "resource_id", "capacity")


def _idle_one(resource: Resource, stats: Mapping[str, Any], itype: InstanceType, rates: Rates) -> Recommendation | None:
    hours = min(stats.get("cpu_hours", 0), stats.get("network_hours", 0))
    if hours < IDLE_MIN_HOURS:
        return None
    cpu_p95, net_p95 = _percentile(stats["cpu_p95"]), _percentile(stats["network_p95"])
    if not (cpu_p95 < IDLE_CPU_P95_BELOW and net_p95 < IDLE_NETWORK_BELOW):
        return None
    cost = rates.running(resource.resource_id) or instance_list_price(itype)
    if cost is None:
        return None
    why = "stopping ends whatever it still does; a job rarer than weekly is unseen"
    risk, reason = _risk_for(resource, "medium", why)
    full = IDLE_WINDOW / timedelta(hours=1)
    return Recommendation.build(
        kind="idle",
        provider=resource.provider,
        account_id=resource.account_id,
        resource_id=resource.resource_id,
        region=resource.region,
        action="stop",
        target=None,
        monthly_saving=monthly(cost.amount),
        currency=cost.currency,
        evidence={
            "window_days": 7,
            "hours_with_data": hours,
            "cpu_p95_of_hourly_max_percent": round(cpu_p95, 3),
            "network_p95_percent_of_capacity": round(net_p95, 4),
            "network_capacity_gbps": itype.network_gbps,
            "type": itype.name,
            **_price_evidence(cost),
        },
        risk=risk,
        risk_reason=reason,
        confidence=min(1.0, hours / full),
        confidence_reason=f"{hours} of {full:.0f} hours in the window have data",
    )


# ---------------------------------------------------------------- unattached and stopped


def _in_state_for(resource: Resource, now: datetime) -> timedelta | None:
    """How long the resource has been in its state; None when the inventory does not know."""
    return None if resource.state_since is None else now - resource.state_since


def unattached(resources: Iterable[Resource], rates: Rates, *, now: datetime) -> list[Recommendation]:
    """Volumes and public addresses attached to nothing for more than 7 days. Without a known
    ``state_since`` we cannot tell a week-old detach from yesterday's, so we say nothing."""
    _aware(now)
    found = []
    for resource in resources:
        if resource.subtype not in ("volume", "address") or resource.attached_to is not None:
            continue
        age = _in_state_for(resource, now)
        if age is None or age <= UNATTACHED_AFTER:
            continue
        is_disk = resource.subtype == "volume"
        list_price = rates.volume_list(resource.size_gb) if is_disk else rates.address_list()
        cost = _hourly_cost(resource, rates, list_price)
        if cost is None:
            continue
        base: RiskLevel = "medium" if is_disk else "low"
        why = "deleting loses its data: snapshot it first" if is_disk else "its address cannot be recovered"
        risk, reason = _risk_for(resource, base, why)
        found.append(
            Recommendation.build(
                kind="unattached_disk" if is_disk else "unattached_ip",
                provider=resource.provider,
                account_id=resource.account_id,
                resource_id=resource.resource_id,
                region=resource.region,
                action="delete",
                target=None,
                monthly_saving=monthly(cost.amount),
                currency=cost.currency,
                evidence={
                    "unattached_days": round(age / timedelta(days=1), 1),
                    "size": resource.size,
                    **_price_evidence(cost),
                },
                risk=risk,
                risk_reason=reason,
                confidence=0.9,
                confidence_reason="inventory shows it attached to nothing since state_since",
            )
        )
    return found


def stopped_paying(resources: Iterable[Resource], rates: Rates, *, now: datetime) -> list[Recommendation]:
    """Instances stopped for more than 7 days that still cost money: their own billed rate (what
    the provider still charges for a stopped instance) plus their attached volumes."""
    _aware(now)
    inventory = list(resources)
    volumes: dict[str, list[Resource]] = {}
    for item in inventory:
        if item.subtype == "volume" and item.attached_to is not None:
            volumes.setdefault(item.attached_to, []).append(item)
    found = []
    for resource in inventory:
        if resource.subtype not in _COMPUTE or resource.state != ResourceState.STOPPED:
            continue
        age = _in_state_for(resource, now)
        if age is None or age <= STOPPED_AFTER:
            continue
        rec = _stopped_one(resource, volumes.get(resource.resource_id, []), rates, age)
        if rec is not None:
            found.append(rec)
    return found


def _stopped_one(resource: Resource, volumes: list[Resource], rates: Rates, age: timedelta) -> Recommendation | None:
    own = rates.effective(resource.resource_id)
    parts: dict[str, PricedHour] = {resource.resource_id: own} if own is not None and own.amount > 0 else {}
    for volume in volumes:
        cost = _hourly_cost(volume, rates, rates.volume_list(volume.size_gb))
        if cost is not None:
            parts[volume.resource_id] = cost
    total = sum((p.amount for p in parts.values()), Decimal(0))
    if total <= 0:
        return None
    risk, reason = _risk_for(resource, "medium", "terminating loses its disks and configuration: snapshot first")
    return Recommendation.build(
        kind="stopped_paying",
        provider=resource.provider,
        account_id=resource.account_id,
        resource_id=resource.resource_id,
        region=resource.region,
        action="terminate",
        target=None,
        monthly_saving=monthly(total),
        currency=rates.currency,
        evidence={
            "stopped_days": round(age / timedelta(days=1), 1),
            "still_paying_hourly": {rid: {"rate": p.amount, "basis": p.basis} for rid, p in parts.items()},
        },
        risk=risk,
        risk_reason=reason,
        confidence=0.8,
        confidence_reason="stopped for over a week; it may be a cold standby kept on purpose",
    )


# ---------------------------------------------------------------- rightsizing


@dataclass(frozen=True)
class _Need:
    """What a resource needs after headroom, from its measured percentiles."""

    vcpus: float
    memory_gib: Decimal
    cpu_p: float
    memory_p: float | None


def rightsize(
    resources: Iterable[Resource],
    metrics: Metrics,
    catalogue: Catalogue,
    rates: Rates,
    *,
    now: datetime,
    days: int = 14,
    cpu_percentile: float = 95,
    memory_percentile: float = 99,
    headroom: float = 0.2,
) -> list[Recommendation]:
    """The cheapest type of the same architecture (any family) that fits the measured load plus
    headroom, when it is cheaper than the current one. Memory that is not measured is not guessed:
    the current memory stays the floor and confidence drops."""
    if days not in RIGHTSIZE_WINDOWS:
        raise ValueError(f"days must be one of {RIGHTSIZE_WINDOWS}, got {days}")
    if cpu_percentile not in RIGHTSIZE_CPU_PERCENTILES:
        raise ValueError(f"cpu_percentile must be one of {RIGHTSIZE_CPU_PERCENTILES}, got {cpu_percentile}")
    if not 0 < memory_percentile <= 100 or headroom < 0:
        raise ValueError("memory_percentile must be in (0, 100] and headroom >= 0")
    eligible = [
        (resource, current)
        for resource in resources
        if resource.subtype in _COMPUTE and resource.state == ResourceState.RUNNING
        and (current := catalogue.lookup(resource.provider, resource.region, resource.size)) is not None
    ]  # fmt: skip
    start = _aware(now) - timedelta(days=days)
    stats = _rightsize_stats(metrics, start=start, end=now, cpu_pct=cpu_percentile, mem_pct=memory_percentile)
    found = []
    for resource, current in eligible:
        options = catalogue.types(resource.provider, resource.region)
        rec = _rightsize_one(
            resource, stats.get((resource.resource_id,), {}), current, options, rates,
            days=days, cpu_percentile=cpu_percentile, memory_percentile=memory_percentile, headroom=headroom,
        )  # fmt: skip
        if rec is not None:
            found.append(rec)
    return found


def _rightsize_stats(
    metrics: Metrics, *, start: datetime, end: datetime, cpu_pct: float, mem_pct: float
) -> dict[tuple[Any, ...], dict[str, Any]]:
    """Per resource: hours of CPU and of memory data, their percentiles, and the mean and
    standard deviation of hourly max CPU (for its coefficient of variation)."""
    summary = (
        _hourly(metrics, start=start, end=end, columns=("cpu", "memory"))
        .group_by("resource_id")
        .agg(
            pl.col("cpu").count().alias("cpu_hours"),
            pl.col("memory").count().alias("memory_hours"),
            pl.col("cpu").quantile(cpu_pct / 100, "linear").alias("cpu_p"),
            pl.col("memory").quantile(mem_pct / 100, "linear").alias("memory_p"),
            pl.col("cpu").mean().alias("cpu_mean"),
            pl.col("cpu").std().alias("cpu_std"),
        )
    )
    return _rows(summary, "resource_id")


def _need(current: InstanceType, stats: Mapping[str, Any], headroom: float) -> _Need:
    """Required vCPU = vcpus x Pcpu% x (1 + headroom); memory likewise, or the current memory
    when it is not measured (absent memory is unknown, not zero)."""
    cpu_p = _percentile(stats["cpu_p"])
    vcpus = current.vcpus * cpu_p / 100 * (1 + headroom)
    if not stats["memory_hours"]:
        return _Need(vcpus, current.memory_gib, cpu_p, None)
    mem_p = _percentile(stats["memory_p"])
    need_mem = current.memory_gib * Decimal(str(mem_p)) / 100 * Decimal(str(1 + headroom))
    return _Need(vcpus, need_mem, cpu_p, mem_p)


def _cheapest_fit(
    current: InstanceType, arch: str, need: _Need, options: Iterable[InstanceType]
) -> InstanceType | None:
    """Same architecture, same currency, no GPU unless the current has one (then at least as
    many), never more vCPU or memory, strictly cheaper, and fitting the need; cheapest wins."""
    fits = [
        t
        for t in options
        if t.architecture == arch
        and t.currency == current.currency
        and (t.gpus >= current.gpus if current.gpus else t.gpus == 0)
        and t.vcpus <= current.vcpus
        and t.memory_gib <= current.memory_gib
        and t.hourly_price < current.hourly_price
        and t.vcpus >= need.vcpus
        and t.memory_gib >= need.memory_gib
    ]
    return min(fits, key=lambda t: (t.hourly_price, t.vcpus, t.memory_gib, t.name), default=None)


def _rightsize_one(
    resource: Resource,
    stats: Mapping[str, Any],
    current: InstanceType,
    options: Iterable[InstanceType],
    rates: Rates,
    *,
    days: int,
    cpu_percentile: float,
    memory_percentile: float,
    headroom: float,
) -> Recommendation | None:
    full = days * 24
    hours = stats.get("cpu_hours", 0)
    if hours < RIGHTSIZE_MIN_COVERAGE * full:
        return None
    need = _need(current, stats, headroom)
    target = _cheapest_fit(current, resource.architecture or current.architecture, need, options)
    if target is None:
        return None
    ratio = target.hourly_price / current.hourly_price
    cost = rates.running(resource.resource_id) or PricedHour(current.hourly_price, current.currency, "list")
    saving = monthly(cost.amount * (1 - ratio))
    variation = _variation(stats["cpu_mean"], stats["cpu_std"])
    confidence, why = _rightsize_confidence(hours, full, variation, need.memory_p is None)
    risk: RiskLevel = "medium" if need.memory_p is None or variation > 1 else "low"
    risk_reason = (
        "a resize restarts the instance"
        + ("; memory is not measured" if need.memory_p is None else "")
        + ("; CPU is spiky" if variation > 1 else "")
    )
    return Recommendation.build(
        kind="rightsize",
        provider=resource.provider,
        account_id=resource.account_id,
        resource_id=resource.resource_id,
        region=resource.region,
        action="resize",
        target=target.name,
        monthly_saving=saving,
        currency=cost.currency,
        evidence={
            "window_days": days,
            "hours_with_data": hours,
            f"cpu_p{cpu_percentile:g}_percent": round(need.cpu_p, 3),
            f"memory_p{memory_percentile:g}_percent": None if need.memory_p is None else round(need.memory_p, 3),
            "memory_measured": need.memory_p is not None,
            "cpu_coefficient_of_variation": round(variation, 3),
            "headroom": headroom,
            "required_vcpus": round(need.vcpus, 3),
            "required_memory_gib": need.memory_gib,
            "current": {
                "type": current.name,
                "vcpus": current.vcpus,
                "memory_gib": current.memory_gib,
                "list_hourly": current.hourly_price,
            },
            "proposed": {
                "type": target.name,
                "vcpus": target.vcpus,
                "memory_gib": target.memory_gib,
                "list_hourly": target.hourly_price,
                "family": target.family,
            },
            **_price_evidence(cost),
            "pricing": "saving = current rate x (1 - proposed list / current list) x 730: "
            "the customer's discount on the current type is assumed to carry over",
        },
        risk=risk,
        risk_reason=risk_reason,
        confidence=confidence,
        confidence_reason=why,
    )


def _rightsize_confidence(hours: int, full: int, variation: float, memory_unknown: bool) -> tuple[float, str]:
    """Coverage of the window x 1 / (1 + CV of hourly CPU) x 0.7 when memory is unknown: few
    samples, a spiky load or an unmeasured dimension all make the fit less certain."""
    coverage = min(1.0, hours / full)
    score = coverage / (1 + variation) * (MEMORY_UNKNOWN_CONFIDENCE if memory_unknown else 1.0)
    why = f"{hours}/{full} hours of CPU data, CPU coefficient of variation {variation:.2f}"
    return score, why + ("; memory not measured" if memory_unknown else "")
