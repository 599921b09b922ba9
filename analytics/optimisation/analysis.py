"""The analysis: every rule over the inputs :func:`analytics.optimisation.inputs.load_inputs`
reads, each provider priced at its own rates, and a compute commitment per billing account sized
net of the other advice."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from decimal import Decimal

import polars as pl

from analytics.optimisation.commitments import CommitmentOffer, recommend_commitments
from analytics.optimisation.inputs import Inputs
from analytics.optimisation.model import Recommendation
from analytics.optimisation.rates import bill_id
from analytics.optimisation.rightsizing import rightsize
from analytics.optimisation.rules import IDLE_WINDOW, HourlyMetrics, hourly_metrics, idle, stopped_paying, unattached
from analytics.optimisation.schedules import MIN_LOOKBACK_DAYS, recommend_schedules


@dataclass(frozen=True)
class Settings:
    """The analysis' choices that docs/optimisation.md lets a user make."""

    rightsize_window_days: int = 14
    cpu_percentile: float = 95.0
    commitment_lookback_days: int = 30


COMMITMENT_OFFERS: Mapping[str, CommitmentOffer] = {
    "AWS": CommitmentOffer(kind="savings_plan", term_years=1, discount=Decimal("0.27")),
    "Microsoft": CommitmentOffer(kind="savings_plan", term_years=1, discount=Decimal("0.20")),
    "Google Cloud": CommitmentOffer(kind="cud", term_years=1, discount=Decimal("0.28")),
}
"""What each cloud's default commitment is assumed to save, by FOCUS ProviderName: a 1-year,
no-upfront compute savings plan (AWS, Azure) or flexible committed use discount (Google). The
discounts are our assumptions of typical published rates, not a quote: the evidence states the
discount used, and a customer's own rate changes the level chosen and the saving."""


def compute_commitments(
    usage: pl.DataFrame, provider: str, lookback_days: int, others: Sequence[Recommendation]
) -> list[Recommendation]:
    """One compute commitment per billing account and currency of ``provider``, replayed over the
    last ``lookback_days`` of its hourly usage (the level with the best net saving). Usage is
    taken net of the ``others`` recommendations first: a resource to stop or delete contributes
    nothing, a rightsized one its new type's share, so a commitment is not sized for spend the
    other advice removes."""
    if usage.is_empty():
        return []
    factors = {bill_id(r.resource_id): 0.0 for r in others if r.action in ("stop", "terminate", "delete")}
    for rec in others:
        if rec.action == "resize" and bill_id(rec.resource_id) not in factors:
            current, proposed = rec.evidence["current"]["list_hourly"], rec.evidence["proposed"]["list_hourly"]
            factors[bill_id(rec.resource_id)] = float(Decimal(proposed) / Decimal(current))
    factor = pl.col("bill_id").replace_strict(factors, default=1.0, return_dtype=pl.Float64)
    mine = (  # one row per account and hour from here: the replay needs no more
        usage.lazy()
        .filter(pl.col("provider") == provider)
        .group_by("provider", "cloud", "account_id", "currency", "hour")
        .agg((pl.col("on_demand_cost") * factor).sum(), pl.col("already_covered").sum())
        .collect()
    )
    found: list[Recommendation] = []
    for (cloud, currency), rows in mine.group_by("cloud", "currency", maintain_order=True):
        offer = COMMITMENT_OFFERS.get(str(cloud))
        if offer is None:
            continue
        frame = rows.select(
            "hour", "provider", "account_id", pl.lit("").alias("region"), pl.lit("compute").alias("scope"),
            "on_demand_cost", "already_covered",
        )  # fmt: skip
        for rec in recommend_commitments(frame, offer, lookback_days=lookback_days, currency=str(currency)):
            evidence = {
                **rec.evidence,
                "net_of_recommendations": len(factors),
                "within_day_profile": "flat (daily bills)",
            }
            found.append(replace(rec, evidence=evidence))
    return found


def analyse(inputs: Inputs, settings: Settings = Settings()) -> list[Recommendation]:
    """Every rule over every provider in ``inputs``, each provider priced at its own rates. The
    samples are summarised per resource and hour once, in one pass, for every rule.
    A resource to stop, delete or terminate gets no rightsizing or schedule as well (there would
    be nothing left to resize). One recommendation per id, biggest saving first."""
    found: dict[str, Recommendation] = {}
    longest = max(settings.rightsize_window_days, MIN_LOOKBACK_DAYS, IDLE_WINDOW.days)
    hourly = (
        inputs.metrics
        if isinstance(inputs.metrics, HourlyMetrics)
        else hourly_metrics(inputs.metrics, start=inputs.now - timedelta(days=longest), end=inputs.now)
    )
    for provider, rates in inputs.rates.items():
        resources = [r for r in inputs.resources if r.provider == provider]
        ids = {r.resource_id for r in resources}
        metrics = (
            hourly if len(inputs.rates) == 1 else HourlyMetrics(hourly.frame.filter(pl.col("resource_id").is_in(ids)))
        )
        removals = [
            *idle(resources, metrics, inputs.catalogue, rates, now=inputs.now),
            *unattached(resources, rates, now=inputs.now),
            *stopped_paying(resources, rates, now=inputs.now),
        ]
        going = {rec.resource_id for rec in removals}
        kept = [r for r in resources if r.resource_id not in going]
        for rec in (
            *removals,
            *rightsize(
                kept,
                metrics,
                inputs.catalogue,
                rates,
                now=inputs.now,
                days=settings.rightsize_window_days,
                cpu_percentile=settings.cpu_percentile,
            ),
            *recommend_schedules(metrics, kept, rates, end=inputs.now, catalogue=inputs.catalogue),
        ):
            found.setdefault(rec.id, rec)
        advice = [rec for rec in found.values() if rec.provider == provider]
        for rec in compute_commitments(inputs.commitment_usage, provider, settings.commitment_lookback_days, advice):
            found.setdefault(rec.id, rec)
    return sorted(found.values(), key=lambda r: (-r.monthly_saving, r.id))
