"""The rightsizing rule: the cheapest size of the same service and architecture that fits the
measured load plus headroom, never a bigger or pricier one, and never for a resource that is
already busy; the saving is priced at the resource's running rate from billing, the list price
when billing has none. Thresholds and their sources are in docs/optimisation.md."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import polars as pl

from analytics.optimisation.model import Catalogue, PricedHour, Rates, Recommendation, Resource, RiskLevel, monthly
from analytics.optimisation.rules import COMPUTE, Metrics, aware, hourly, keyed_rows, percentile, price_evidence
from clouds.base import DATABASE_SERVICE, InstanceType, ResourceState

RIGHTSIZE_WINDOWS = (14, 32, 93)
RIGHTSIZE_CPU_PERCENTILES = (90.0, 95.0, 99.5)
RIGHTSIZE_MIN_COVERAGE = 0.5  # share of the window's hours with CPU data
MEMORY_UNKNOWN_CONFIDENCE = 0.7  # factor applied when memory is not measured
BUSY_PERCENT = 80.0
"""A resource whose P95 CPU (or the sizing percentile, when higher) or P99 memory reaches this is
busy: it gets no rightsizing at all, whichever percentile sizes the target. Our choice."""
BUSY_CPU_PERCENTILE = 95.0  # the CPU percentile the busy check reads at least
RISK_MEDIUM_ABOVE = 60.0  # projected utilisation on the proposed size (percent) above which risk is medium
RISK_HIGH_ABOVE = 75.0  # ... and high


def _variation(mean: object, std: object) -> float:
    """Coefficient of variation (std / mean): how spiky a load is; 0 for a flat or zero series."""
    if not isinstance(mean, float) or not isinstance(std, float) or mean <= 0 or math.isnan(std):
        return 0.0
    return std / mean


@dataclass(frozen=True)
class _Need:
    """What a resource needs after headroom, from its measured percentiles."""

    vcpus: float
    memory_gib: Decimal
    cpu_p: float
    memory_p: float | None
    cpu_busy: float  # CPU at max(sizing percentile, P95): what the busy check reads

    def busy(self) -> bool:
        """At or above BUSY_PERCENT in CPU or measured memory (NaN, no data, counts as busy)."""
        return not (self.cpu_busy < BUSY_PERCENT and (self.memory_p is None or self.memory_p < BUSY_PERCENT))

    def projected(self, current: InstanceType, target: InstanceType) -> tuple[float, float | None]:
        """The sizing percentiles of CPU and memory as they would read on ``target``."""
        cpu = self.cpu_p * current.vcpus / target.vcpus
        if self.memory_p is None:
            return cpu, None
        return cpu, self.memory_p * float(current.memory_gib / target.memory_gib)


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
    """The cheapest size of the same service (an RDS class for an RDS database, an EC2 type for an
    instance) and architecture, any family, that fits the measured load plus headroom, when it is
    cheaper than the current one. A busy resource (``BUSY_PERCENT``) gets nothing. Memory that is
    not measured is not guessed: the current memory stays the floor and confidence drops."""
    if days not in RIGHTSIZE_WINDOWS:
        raise ValueError(f"days must be one of {RIGHTSIZE_WINDOWS}, got {days}")
    if cpu_percentile not in RIGHTSIZE_CPU_PERCENTILES:
        raise ValueError(f"cpu_percentile must be one of {RIGHTSIZE_CPU_PERCENTILES}, got {cpu_percentile}")
    if not 0 < memory_percentile <= 100 or headroom < 0:
        raise ValueError("memory_percentile must be in (0, 100] and headroom >= 0")
    eligible = [
        (resource, current)
        for resource in resources
        if resource.subtype in COMPUTE and resource.state == ResourceState.RUNNING
        and (current := catalogue.size_of(resource)) is not None
    ]  # fmt: skip
    start = aware(now) - timedelta(days=days)
    stats = _rightsize_stats(metrics, start=start, end=now, cpu_pct=cpu_percentile, mem_pct=memory_percentile)
    found = []
    for resource, current in eligible:
        options = catalogue.types(resource.provider, resource.region, current.service)
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
        hourly(metrics, start=start, end=end, columns=("cpu", "memory"))
        .group_by("resource_id")
        .agg(
            pl.col("cpu").count().alias("cpu_hours"),
            pl.col("memory").count().alias("memory_hours"),
            pl.col("cpu").quantile(cpu_pct / 100, "linear").alias("cpu_p"),
            pl.col("cpu").quantile(max(cpu_pct, BUSY_CPU_PERCENTILE) / 100, "linear").alias("cpu_busy"),
            pl.col("memory").quantile(mem_pct / 100, "linear").alias("memory_p"),
            pl.col("cpu").mean().alias("cpu_mean"),
            pl.col("cpu").std().alias("cpu_std"),
        )
    )
    return keyed_rows(summary, "resource_id")


def _need(current: InstanceType, stats: Mapping[str, Any], headroom: float) -> _Need:
    """Required vCPU = vcpus x Pcpu% x (1 + headroom); memory likewise, or the current memory
    when it is not measured (absent memory is unknown, not zero)."""
    cpu_p, cpu_busy = percentile(stats["cpu_p"]), percentile(stats["cpu_busy"])
    vcpus = current.vcpus * cpu_p / 100 * (1 + headroom)
    if not stats["memory_hours"]:
        return _Need(vcpus, current.memory_gib, cpu_p, None, cpu_busy)
    mem_p = percentile(stats["memory_p"])
    need_mem = current.memory_gib * Decimal(str(mem_p)) / 100 * Decimal(str(1 + headroom))
    return _Need(vcpus, need_mem, cpu_p, mem_p, cpu_busy)


def _cheapest_fit(
    current: InstanceType, arch: str, need: _Need, options: Iterable[InstanceType]
) -> InstanceType | None:
    """Same service's catalogue, same architecture, same currency, no GPU unless the current has
    one (then at least as many), never more vCPU or memory, strictly cheaper, and fitting the
    need; cheapest wins."""
    fits = [
        t
        for t in options
        if t.service == current.service
        and t.architecture == arch
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
    if need.busy():
        return None
    target = _cheapest_fit(current, resource.architecture or current.architecture, need, options)
    if target is None:
        return None
    cpu_on_target, memory_on_target = need.projected(current, target)
    ceiling = 100 / (1 + headroom)
    if cpu_on_target > ceiling or (memory_on_target or 0) > ceiling:  # the fit says no; this says why
        return None
    ratio = target.hourly_price / current.hourly_price
    cost = rates.running(resource.resource_id) or PricedHour(current.hourly_price, current.currency, "list")
    saving = monthly(cost.amount * (1 - ratio))
    variation = _variation(stats["cpu_mean"], stats["cpu_std"])
    confidence, why = _rightsize_confidence(hours, full, variation, need.memory_p is None)
    risk, risk_reason = _rightsize_risk(
        current, target, cpu_on_target, memory_on_target, variation, cpu_percentile, memory_percentile
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
            "service": current.service,
            "busy_check": {
                "cpu_percentile": max(cpu_percentile, BUSY_CPU_PERCENTILE),
                "cpu_percent": round(need.cpu_busy, 3),
                "memory_percent": None if need.memory_p is None else round(need.memory_p, 3),
                "busy_at_percent": BUSY_PERCENT,
            },
            "projected_on_proposed": {
                f"cpu_p{cpu_percentile:g}_percent": round(cpu_on_target, 3),
                f"memory_p{memory_percentile:g}_percent": None
                if memory_on_target is None
                else round(memory_on_target, 3),
                "ceiling_percent": round(ceiling, 3),
            },
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
            **price_evidence(cost),
            "pricing": "saving = current rate x (1 - proposed list / current list) x 730: "
            "the customer's discount on the current type is assumed to carry over",
        },
        risk=risk,
        risk_reason=risk_reason,
        confidence=confidence,
        confidence_reason=why,
    )


def _rightsize_risk(
    current: InstanceType,
    target: InstanceType,
    cpu_on_target: float,
    memory_on_target: float | None,
    variation: float,
    cpu_percentile: float,
    memory_percentile: float,
) -> tuple[RiskLevel, str]:
    """High when the proposed size would run above RISK_HIGH_ABOVE percent at the sizing
    percentiles, medium above RISK_MEDIUM_ABOVE, or when memory is not measured, the CPU is spiky
    or the resource is a database (its clients lose it while it restarts); low otherwise."""
    database = current.service == DATABASE_SERVICE
    reasons = ["a resize restarts the database: its clients lose it meanwhile" if database
               else "a resize restarts the instance"]  # fmt: skip
    projected = [f"P{cpu_percentile:g} CPU {cpu_on_target:.0f}%"]
    if memory_on_target is not None:
        projected.append(f"P{memory_percentile:g} memory {memory_on_target:.0f}%")
    peak = max(cpu_on_target, memory_on_target or 0.0)
    reasons.append(f"on {target.name}: {' and '.join(projected)}")
    risk: RiskLevel = "high" if peak > RISK_HIGH_ABOVE else "medium" if peak > RISK_MEDIUM_ABOVE else "low"
    if memory_on_target is None:
        reasons.append("memory is not measured")
    if variation > 1:
        reasons.append("CPU is spiky")
    if risk == "low" and (database or memory_on_target is None or variation > 1):
        risk = "medium"
    return risk, "; ".join(reasons)


def _rightsize_confidence(hours: int, full: int, variation: float, memory_unknown: bool) -> tuple[float, str]:
    """Coverage of the window x 1 / (1 + CV of hourly CPU) x 0.7 when memory is unknown: few
    samples, a spiky load or an unmeasured dimension all make the fit less certain."""
    coverage = min(1.0, hours / full)
    score = coverage / (1 + variation) * (MEMORY_UNKNOWN_CONFIDENCE if memory_unknown else 1.0)
    why = f"{hours}/{full} hours of CPU data, CPU coefficient of variation {variation:.2f}"
    return score, why + ("; memory not measured" if memory_unknown else "")
