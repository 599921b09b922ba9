"""Commitments: how much to commit, simulated hour by hour over past on-demand usage.

One rule for the three clouds' commitment products (AWS reserved instances and savings plans,
Azure reservations and savings plans, Google committed use discounts): each is a promise to pay
``C`` per hour for one or three years in exchange for a discount on the eligible on-demand usage
it covers. What differs between them is only the *scope* the usage is grouped by, which the
caller chooses when building the input frame.

Input (``USAGE_SCHEMA``), one row per hour and scope (several rows for one hour are summed)::

    hour            Datetime UTC  start of the hour
    provider        String        "aws" | "azure" | "gcp"
    account_id      String        the account / subscription / billing account that would buy
    region          String        the commitment's region ("" for regionless savings plans)
    scope           String        what it covers: "compute" for a savings plan, an instance
                                  family ("m5") for a reserved instance, "n2-cpu" for a CUD...
    on_demand_cost  Float|Decimal on-demand-equivalent cost of the eligible usage that hour
    already_covered Float|Decimal part of on_demand_cost already covered by existing commitments

An hour missing for a scope counts as no usage: nothing ran, so a commitment would have gone
unused. Existing commitments are netted out first: only ``on_demand_cost - already_covered``
is left for a new commitment to cover.

The simulation uses numpy floats: it sums at most 1,440 hours for a few dozen levels, where a
float's relative error (1e-16) stays far below a cent, and it is a what-if over past usage, not
a bill. Amounts become Decimal (rounded to cents) at the edge, and the committed level is
rounded *down* to COMMITMENT_STEP first so the figures describe what one can actually buy.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from typing import Literal

import numpy as np
import polars as pl

from analytics.money import to_cents
from analytics.optimisation.model import HOURS_PER_MONTH, Recommendation, RiskLevel

USAGE_SCHEMA = pl.Schema(
    {
        "hour": pl.Datetime("us", "UTC"),
        "provider": pl.String(),
        "account_id": pl.String(),
        "region": pl.String(),
        "scope": pl.String(),
        "on_demand_cost": pl.Float64(),
        "already_covered": pl.Float64(),
    }
)
"""The input frame's columns; the two costs may also be Decimal columns (cast to float here)."""

LOOKBACKS = (7, 30, 60)
"""Lookback windows in days, as the clouds' own recommenders offer them: 7 follows recent
change, 60 smooths it out; 30 is the usual compromise."""

PERCENTILES = tuple(range(0, 101, 5))
"""Levels tried: these percentiles of the hourly discounted eligible spend. The best level is
always at one of the observed hourly amounts (net saving is piecewise linear in the level), so
5-point steps plus the exact optimum (see :func:`candidate_levels`) lose nothing worth a cent."""

COMMITMENT_STEP = Decimal("0.001")
"""Granularity of an hourly commitment (AWS savings plans take $0.001/hour steps)."""

MIN_MONTHLY_SAVING = Decimal("10")
"""Below this a purchase is not worth the approval it needs and the lock-in it brings."""

UTILISATION_FLOOR = 0.9
"""Expected utilisation below this means the commitment already idles one hour in ten."""

HEADROOM_FLOOR = 0.1
"""If median usage is within 10% of the commitment, any shrinkage leaves part of it unused."""

CONFIDENCE = {7: 0.6, 30: 0.8, 60: 0.9}
"""A longer lookback has seen more of the workload's cycles (month ends, releases)."""

HOURS_PER_YEAR = 12 * int(HOURS_PER_MONTH)


@dataclass(frozen=True)
class CommitmentOffer:
    """What can be bought: ``discount`` is the rate off on-demand (0.3 = 30% cheaper) and
    ``upfront_fraction`` the share of the term's total paid at purchase (0, 0.5 or 1 usually)."""

    kind: Literal["savings_plan", "reserved", "cud"]
    term_years: Literal[1, 3]
    discount: Decimal
    upfront_fraction: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        if self.term_years not in (1, 3):
            raise ValueError(f"term must be 1 or 3 years, not {self.term_years}")
        if not Decimal(0) < self.discount < Decimal(1):
            raise ValueError(f"discount must be between 0 and 1, not {self.discount}")
        if not Decimal(0) <= self.upfront_fraction <= Decimal(1):
            raise ValueError(f"upfront fraction must be between 0 and 1, not {self.upfront_fraction}")

    @property
    def spec(self) -> str:
        """The canonical target string. The hourly amount is *not* part of it: it moves a little
        with every run, and the recommendation's id must stay the same when it does."""
        return f"{self.kind}:{self.term_years}y:upfront={self.upfront_fraction.normalize()}"


@dataclass(frozen=True)
class LevelResult:
    """One commitment level simulated over the lookback (all amounts per lookback, floats)."""

    level: float
    avoided: float
    cost: float
    used: float

    @property
    def net(self) -> float:
        return self.avoided - self.cost


def simulate(eligible: np.ndarray, level: float, discount: float) -> LevelResult:
    """Commit ``level`` per hour: each hour it pays for up to ``level`` of the eligible usage at
    the discounted price and is paid in full whether used or not."""
    discounted = eligible * (1.0 - discount)
    used = np.minimum(discounted, level)
    avoided = float(used.sum()) / (1.0 - discount)
    return LevelResult(level=level, avoided=avoided, cost=level * len(eligible), used=float(used.sum()))


def candidate_levels(eligible: np.ndarray, discount: float) -> list[float]:
    """Percentiles of the discounted hourly spend, plus its ``discount``-quantile: the exact
    optimum, where the share of hours using the next dollar (1 - discount) just pays for it.
    Each is rounded down to COMMITMENT_STEP, as one can buy no finer."""
    discounted = eligible * (1.0 - discount)
    raw = [*np.percentile(discounted, PERCENTILES, method="lower"), np.quantile(discounted, discount, method="lower")]
    return sorted({_buyable(float(x)) for x in raw})


def _buyable(level: float) -> float:
    # Round away float noise (6.000000000000001) before flooring to the step.
    exact = Decimal(repr(level)).quantize(Decimal("1e-9")).quantize(COMMITMENT_STEP, rounding=ROUND_FLOOR)
    return float(max(exact, Decimal(0)))


def hourly_eligible(usage: pl.DataFrame, *, lookback_days: int, end: datetime | None = None) -> pl.DataFrame:
    """Per scope, one row per hour of the lookback (missing hours as 0) with the spend left for a
    new commitment (``eligible``) and the spend existing ones covered (``covered``)."""
    if lookback_days not in LOOKBACKS:
        raise ValueError(f"lookback must be one of {LOOKBACKS} days, not {lookback_days}")
    if usage.is_empty():
        return pl.DataFrame(schema={"provider": pl.String, "account_id": pl.String, "region": pl.String})
    usage = usage.with_columns(
        pl.col("hour").dt.convert_time_zone("UTC").dt.cast_time_unit("us").dt.truncate("1h"),
        pl.col("on_demand_cost", "already_covered").cast(pl.Float64).fill_null(0.0),
    )
    latest = usage["hour"].max()
    assert isinstance(latest, datetime)
    stop = end if end is not None else latest + timedelta(hours=1)
    start = stop - timedelta(days=lookback_days)
    hours = pl.DataFrame({"hour": pl.datetime_range(start, stop, "1h", closed="left", time_zone="UTC", eager=True)})
    keys = ["provider", "account_id", "region", "scope"]
    summed = (
        usage.filter(pl.col("hour").is_between(start, stop, closed="left"))
        .group_by([*keys, "hour"])
        .agg(pl.col("on_demand_cost").sum(), pl.col("already_covered").sum())
    )
    grid = summed.select(keys).unique().join(hours.with_columns(pl.col("hour").dt.cast_time_unit("us")), how="cross")
    return (
        grid.join(summed, on=[*keys, "hour"], how="left")
        .with_columns(pl.col("on_demand_cost", "already_covered").fill_null(0.0))
        .with_columns(
            eligible=(pl.col("on_demand_cost") - pl.col("already_covered")).clip(lower_bound=0.0),
            covered=pl.min_horizontal("already_covered", "on_demand_cost"),
            observed=pl.col("on_demand_cost") > 0,
        )
        .sort([*keys, "hour"])
    )


def recommend_commitments(
    usage: pl.DataFrame,
    offer: CommitmentOffer,
    *,
    lookback_days: int,
    currency: str,
    end: datetime | None = None,
    min_monthly_saving: Decimal = MIN_MONTHLY_SAVING,
) -> list[Recommendation]:
    """One purchase recommendation per scope whose best level saves at least ``min_monthly_saving``
    a month. ``end`` (exclusive) closes the lookback; by default one hour after the last row."""
    hourly = hourly_eligible(usage, lookback_days=lookback_days, end=end)
    if hourly.is_empty():
        return []
    found = []
    for key, rows in hourly.group_by(["provider", "account_id", "region", "scope"], maintain_order=True):
        provider, account_id, region, scope = (str(k) for k in key)
        rec = _recommend_scope(rows, offer, lookback_days, currency, (provider, account_id, region, scope))
        if rec is not None and rec.monthly_saving >= min_monthly_saving:
            found.append(rec)
    return found


def _recommend_scope(
    rows: pl.DataFrame, offer: CommitmentOffer, lookback_days: int, currency: str, key: tuple[str, str, str, str]
) -> Recommendation | None:
    eligible = rows["eligible"].to_numpy()
    discount = float(offer.discount)
    results = [simulate(eligible, level, discount) for level in candidate_levels(eligible, discount)]
    best = max(results, key=lambda r: (round(r.net, 6), -r.level))
    if best.level <= 0 or best.net <= 0:
        return None
    result = outcome(best, eligible, offer)
    provider, account_id, region, scope = key
    risk, risk_reason = _risk(offer, result)
    observed = int(rows["observed"].sum()) / rows.height
    on_demand = float(rows["on_demand_cost"].sum())
    evidence = {
        "lookback_days": lookback_days,
        "hours": len(eligible),
        "hours_with_usage": int(rows["observed"].sum()),  # hours with any eligible or covered spend
        "discount": offer.discount,
        "levels_tried": [{"hourly": _money(r.level, "0.001"), "net_saving": _money(r.net)} for r in results],
        "chosen_hourly_commitment": _money(best.level, "0.001"),
        "on_demand_cost": _money(on_demand),
        "existing_commitment_coverage": round(_share(float(rows["covered"].sum()), on_demand), 4),
        "eligible_cost": _money(float(eligible.sum())),
        "net_saving_over_lookback": _money(best.net),
        **{k: v for k, v in asdict(result).items() if k != "monthly_saving"},
    }
    return Recommendation.build(
        kind="commitment",
        provider=provider,
        account_id=account_id,
        resource_id=f"{account_id}/{region or '*'}/{scope}",
        region=region,
        action="purchase",
        target=offer.spec,
        monthly_saving=result.monthly_saving,
        currency=currency,
        evidence=evidence,
        risk=risk,
        risk_reason=risk_reason,
        confidence=CONFIDENCE[lookback_days] * observed,
        confidence_reason=f"{lookback_days}-day lookback; usage in {observed:.0%} of its hours",
    )


@dataclass(frozen=True)
class Outcome:
    """The chosen level's figures, as the recommendation states them."""

    monthly_saving: Decimal
    coverage: float
    utilisation: float
    headroom: float
    upfront: Decimal
    break_even_month: int
    term_months: int


def outcome(best: LevelResult, eligible: np.ndarray, offer: CommitmentOffer) -> Outcome:
    """Coverage, utilisation, headroom, monthly saving and break-even month of the chosen level.

    Break-even month: the first month at whose end the cash saved (on-demand avoided minus the
    recurring part of the commitment) has paid back the upfront payment; 1 with no upfront."""
    per_month = float(HOURS_PER_MONTH) / len(eligible)
    upfront_share = float(offer.upfront_fraction)
    upfront = upfront_share * best.level * HOURS_PER_YEAR * offer.term_years
    cash_monthly = best.avoided * per_month - (1.0 - upfront_share) * best.level * float(HOURS_PER_MONTH)
    median = float(np.median(eligible * (1.0 - float(offer.discount))))
    return Outcome(
        monthly_saving=_money(best.net * per_month),
        coverage=round(_share(best.avoided, float(eligible.sum())), 4),
        utilisation=round(_share(best.used, best.cost), 4),
        headroom=round(1.0 - best.level / median, 4) if median > 0 else 0.0,
        upfront=_money(upfront),
        break_even_month=max(1, math.ceil(round(upfront / cash_monthly, 9))),
        term_months=12 * offer.term_years,
    )


def _risk(offer: CommitmentOffer, result: Outcome) -> tuple[RiskLevel, str]:
    """High for a 3-year term (it outlives most plans for a workload) or an expected utilisation
    under UTILISATION_FLOOR; medium when median usage is within HEADROOM_FLOOR of the level."""
    reasons = []
    if offer.term_years == 3:
        reasons.append("3-year term")
    if result.utilisation < UTILISATION_FLOOR:
        reasons.append(f"expected utilisation {result.utilisation:.0%} is under {UTILISATION_FLOOR:.0%}")
    if reasons:
        return "high", "; ".join(reasons)
    if result.headroom < HEADROOM_FLOOR:
        return "medium", f"median usage is only {result.headroom:.0%} above the commitment: any shrinkage idles it"
    return "low", f"1-year term, {result.utilisation:.0%} utilisation, median usage {result.headroom:.0%} above it"


def _share(part: float, whole: float) -> float:
    return part / whole if whole > 0 else 0.0


def _money(amount: float, step: str = "0.01") -> Decimal:
    """A float amount as Decimal: shortest repr first (exact for what the float means), then
    rounded; cents for money, the commitment step for an hourly level."""
    exact = Decimal(repr(amount)).quantize(Decimal("1e-9"))
    return to_cents(exact) if step == "0.01" else exact.quantize(Decimal(step))
