"""Cost anomalies: find the days a cost series left its forecast interval, then explain them.

Two pure steps on polars frames, so they can be tested without a warehouse or a forecaster:

- :func:`detect` takes a forecaster's in-sample intervals (one row per series and day:
  ``unique_id, ds, y, mean, lo_99, hi_99``) and returns one row per anomaly: a run of
  consecutive days of one series outside the 99% interval by a material amount.
- :func:`explain` takes one anomaly and the series' daily cost by dimension and drills down
  provider → service → account → region → resource to the values that explain the excess.

Money is ``float`` here: these are statistical estimates (a forecast mean is not an exact
amount), so Decimal would only pretend to a precision the numbers do not have. Round for
display only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

import polars as pl

MIN_ABS = 50.0
"""Smallest impact, in the billing currency, worth an alert. Below this a person looking at
the alert spends more than the anomaly costs; small series (a bucket, a DNS zone) routinely
double without it mattering."""

MIN_REL = 0.2
"""Smallest impact as a fraction of the expected cost. Guards the big series: on a 10,000 a
day total, 50 over is noise the interval may still flag on a very regular bill, while 20%
over is a change someone will want to explain."""

DOMINANCE = 0.5
"""The drill-down follows a value only if it explains more than this share of its parent's
excess. Above one half the chosen value is unambiguous (no sibling can explain as much) and
it is the majority of the story; at or below it the excess is spread (two services at 50%
each) and naming one value would mislead."""

BASELINE_DAYS = 28
"""Days before an anomaly whose average is a dimension value's expected daily cost: four
whole weeks, so each weekday weighs the same, and recent enough to follow growth."""

DIMENSIONS = ("ProviderName", "ServiceName", "BillingAccountId", "SubAccountId", "RegionId", "ResourceId")
"""The drill-down order: from the coarsest FOCUS dimension an owner recognises to the finest.
The billing account is the payer (an AWS organisation's management account, an Azure billing
account); the sub-account is the account, subscription or project that ran the resources,
usually the one an owner means by "which account"."""

ANOMALY_SCHEMA = {
    "anomaly_id": pl.String,
    "unique_id": pl.String,
    "direction": pl.String,
    "start": pl.Date,
    "end": pl.Date,
    "days": pl.UInt32,
    "actual": pl.Float64,
    "expected": pl.Float64,
    "impact": pl.Float64,
    "peak_day": pl.Date,
    "peak_impact": pl.Float64,
}
"""The columns :func:`detect` returns, also when it finds nothing."""

_INTERVAL_COLUMNS = ("unique_id", "ds", "y", "mean", "lo_99", "hi_99")


def anomaly_id(unique_id: str, start: date) -> str:
    """A stable id from the series and the first day, so a re-run updates the same alert.

    An anomaly that grows by a day keeps its start and so its id. The direction is not part
    of it: one series cannot start a spike and a drop on the same day.
    """
    key = f"{unique_id}\x1f{start.isoformat()}".encode()
    return hashlib.sha256(key).hexdigest()[:16]


def detect(intervals: pl.DataFrame, *, min_abs: float = MIN_ABS, min_rel: float = MIN_REL) -> pl.DataFrame:
    """Anomalies in in-sample forecast intervals, one row per run of anomalous days (see ANOMALY_SCHEMA).

    A day is anomalous when ``y`` is above ``hi_99`` (a spike) or below ``lo_99`` (a drop) and
    its impact ``y - mean`` is at least ``min_abs`` and at least ``min_rel`` of ``mean`` (both in
    absolute value). The interval says the day is unusual; the minimums say it matters.

    Impact is measured from the mean, not from the interval's edge: the money an owner cares
    about is what was spent beyond what was expected, and the distance outside the interval
    shrinks as the series gets noisier, which would understate exactly the volatile bills.

    Consecutive days of one series in the same direction make one anomaly (a missing or
    ordinary day in between ends it). Days without an interval (nulls) are not judged.
    """
    missing = [c for c in _INTERVAL_COLUMNS if c not in intervals.columns]
    if missing:
        raise ValueError(f"intervals lack columns {missing}")
    days = _anomalous_days(intervals, min_abs=min_abs, min_rel=min_rel)
    if days.is_empty():
        return pl.DataFrame(schema=ANOMALY_SCHEMA)
    runs = _merge_runs(days)
    ids = [anomaly_id(uid, start) for uid, start in zip(runs["unique_id"], runs["start"], strict=True)]
    return runs.with_columns(anomaly_id=pl.Series(ids, dtype=pl.String)).select(
        [pl.col(name).cast(dtype) for name, dtype in ANOMALY_SCHEMA.items()]
    )


def _anomalous_days(intervals: pl.DataFrame, *, min_abs: float, min_rel: float) -> pl.DataFrame:
    """The days outside the interval whose impact passes both minimums, with direction and impact."""
    impact = pl.col("y") - pl.col("mean")
    # A series expected to cost nothing that costs something is infinitely over, relatively.
    relative = pl.when(pl.col("mean") > 0).then(impact.abs() / pl.col("mean")).otherwise(float("inf"))
    direction = (
        pl.when((pl.col("y") > pl.col("hi_99")) & (impact > 0))
        .then(pl.lit("spike"))
        .when((pl.col("y") < pl.col("lo_99")) & (impact < 0))
        .then(pl.lit("drop"))
    )
    return (
        intervals.drop_nulls(list(_INTERVAL_COLUMNS))
        .with_columns(direction=direction, impact=impact, relative=relative)
        .filter(
            pl.col("direction").is_not_null() & (pl.col("impact").abs() >= min_abs) & (pl.col("relative") >= min_rel)
        )
    )


def _merge_runs(days: pl.DataFrame) -> pl.DataFrame:
    """One row per run of calendar-consecutive anomalous days of one series and direction."""
    gap = pl.col("ds").diff().over("unique_id") != pl.duration(days=1)
    turn = pl.col("direction") != pl.col("direction").shift().over("unique_id")
    signed = pl.when(pl.col("direction") == "spike").then(pl.col("impact")).otherwise(-pl.col("impact"))
    return (
        days.sort("unique_id", "ds")
        .with_columns(run=(gap | turn).fill_null(True).cum_sum())
        .group_by("unique_id", "run")
        .agg(
            direction=pl.col("direction").first(),
            start=pl.col("ds").min(),
            end=pl.col("ds").max(),
            days=pl.len(),
            actual=pl.col("y").sum(),
            expected=pl.col("mean").sum(),
            impact=pl.col("impact").sum(),
            peak_day=pl.col("ds").sort_by(signed).last(),
            peak_impact=pl.col("impact").sort_by(signed).last(),
        )
        .sort("start", "unique_id")
    )


@dataclass(frozen=True)
class Contribution:
    """One dimension value's part in an anomaly, over the anomaly's days.

    ``excess`` is ``actual - expected`` in the billing currency (negative for a drop);
    ``share`` is ``excess`` over the whole scope's excess, so it is positive when the value
    moved the way the anomaly did. ``in_path`` marks the drill-down steps; the others are the
    largest remaining contributors met on the way.
    """

    dimension: str
    value: str | None
    actual: float
    expected: float
    excess: float
    share: float
    in_path: bool


def explain(
    anomaly: Mapping[str, Any],
    detail: pl.DataFrame,
    *,
    baseline_days: int = BASELINE_DAYS,
    dimensions: Sequence[str] = DIMENSIONS,
    top: int = 3,
    dominance: float = DOMINANCE,
) -> list[Contribution]:
    """The drill path explaining ``anomaly`` (a row of :func:`detect`), then the ``top`` other contributors.

    ``detail`` is the series' daily cost by dimension: ``ChargeDate`` (Date), the
    ``dimensions`` and ``cost``. A value's expected cost is its plain daily mean over the
    ``baseline_days`` before the anomaly (days it has no row count as zero), times the
    anomaly's days. Plain mean rather than same weekday: four same-weekday samples make a noisy
    expectation for each small value, a multi-day anomaly spans weekdays anyway, and weekly
    seasonality has already been judged by the forecaster when it decided the day is anomalous.

    The drill starts from everything and, level by level, follows the value with the largest
    excess while it explains more than ``dominance`` of its parent's excess. Shares are of the
    excess seen in ``detail`` (not of the forecast impact), so path and others are measured on
    the same numbers: the values met on the way partition the excess (siblings of each step,
    then the level where the drill stopped, or the last step if it never stopped), so with a
    large ``top`` and no value moving against the anomaly the others' shares sum to 1 with
    it. Returns an empty list when ``detail`` shows no excess in the anomaly's direction.
    """
    missing = [c for c in ("ChargeDate", "cost", *dimensions) if c not in detail.columns]
    if missing:
        raise ValueError(f"detail lacks columns {missing}")
    start, end = _window(anomaly)
    scoped = _periods(detail, start, end, baseline_days).with_columns(pl.col(list(dimensions)).cast(pl.String))
    scale = _expected_scale(scoped, start, end)
    sign = -1.0 if anomaly.get("direction") == "drop" else 1.0
    total = _excess(scoped, scale)
    if total * sign <= 0:
        return []
    path, others = _drill(scoped, dimensions, scale=scale, sign=sign, total=total, dominance=dominance)
    ranked = sorted((c for c in others if c.excess * sign > 0), key=lambda c: c.excess * sign, reverse=True)
    return path + ranked[:top]


def _window(anomaly: Mapping[str, Any]) -> tuple[date, date]:
    """The anomaly's first and last day, checked to be dates (a datetime is refused, not truncated)."""
    start, end = anomaly["start"], anomaly["end"]
    dates = all(isinstance(d, date) and not isinstance(d, datetime) for d in (start, end))
    if not dates or end < start:
        raise ValueError(f"anomaly needs dates start <= end, got {start!r} and {end!r}")
    return start, end


def _periods(detail: pl.DataFrame, start: date, end: date, baseline_days: int) -> pl.DataFrame:
    """The rows of the anomaly and of its baseline, labelled ``period`` ("anomaly" or "baseline")."""
    baseline_start = start - timedelta(days=baseline_days)
    day = pl.col("ChargeDate")
    return detail.filter(day.is_between(baseline_start, end)).with_columns(
        period=pl.when(day >= start).then(pl.lit("anomaly")).otherwise(pl.lit("baseline"))
    )


def _expected_scale(scoped: pl.DataFrame, start: date, end: date) -> float:
    """The factor turning a baseline sum into the anomaly's expected cost: anomaly days / baseline days.

    Baseline days are those with any row, so a series younger than the baseline is averaged
    over the days it existed, not diluted by days before it began.
    """
    observed = scoped.filter(pl.col("period") == "baseline")["ChargeDate"].n_unique()
    anomaly_days = (end - start).days + 1
    return anomaly_days / observed if observed else 0.0


def _excess(rows: pl.DataFrame, scale: float) -> float:
    """Actual minus expected cost of ``rows`` over the anomaly."""
    actual = rows.filter(pl.col("period") == "anomaly")["cost"].sum()
    baseline = rows.filter(pl.col("period") == "baseline")["cost"].sum()
    return float(actual) - float(baseline) * scale


def _by_value(rows: pl.DataFrame, dimension: str, scale: float) -> pl.DataFrame:
    """Actual, expected and excess of each value of ``dimension``, largest excess first."""
    in_anomaly = pl.col("period") == "anomaly"
    return (
        rows.group_by(dimension)
        .agg(
            actual=pl.col("cost").filter(in_anomaly).sum(),
            expected=pl.col("cost").filter(~in_anomaly).sum() * scale,
        )
        .with_columns(excess=pl.col("actual") - pl.col("expected"))
        .sort("excess", descending=True)
    )


def _drill(
    rows: pl.DataFrame,
    dimensions: Sequence[str],
    *,
    scale: float,
    sign: float,
    total: float,
    dominance: float,
) -> tuple[list[Contribution], list[Contribution]]:
    """The drill path and every other value met on the way (siblings of each step, and the last level)."""
    path: list[Contribution] = []
    others: list[Contribution] = []
    parent_excess = total
    for dimension in dimensions:
        values = _by_value(rows, dimension, scale)
        contributions = [_contribution(dimension, row, total) for row in values.iter_rows(named=True)]
        best = max(contributions, key=lambda c: c.excess * sign)
        if best.excess / parent_excess <= dominance:
            others.extend(contributions)
            break
        path.append(replace(best, in_path=True))
        others.extend(c for c in contributions if c is not best)
        rows = rows.filter(pl.col(dimension).eq_missing(best.value))
        parent_excess = best.excess
    return path, others


def _contribution(dimension: str, row: Mapping[str, Any], total: float) -> Contribution:
    """A value's row of :func:`_by_value` as a Contribution outside the path."""
    value = row[dimension]
    excess = float(row["excess"])
    return Contribution(
        dimension=dimension,
        value=None if value is None else str(value),
        actual=float(row["actual"]),
        expected=float(row["expected"]),
        excess=excess,
        share=excess / total,
        in_path=False,
    )
