"""Cost anomalies: find the days a cost series left its forecast interval, then explain them.

Two pure steps on polars frames, so they can be tested without a warehouse or a forecaster:

- :func:`detect` takes a forecaster's in-sample intervals (one row per series and day:
  ``unique_id, ds, y, mean, lo_99, hi_99``) and returns one row per anomaly: an episode of one
  series that starts on a day outside the 99% interval by a material amount and lasts while the
  series stays away from what it cost before the episode.
- :func:`explain` takes one anomaly and the series' daily cost by dimension and drills down
  provider → service → account → region → resource to the values that explain the excess;
  :func:`contributing_resources` lists every resource that took part.

Both measure an episode against the same expectation: each day at the average of the same
weekday over the four weeks before the episode (:func:`weekday_expectation`), so the impact of
an anomaly and the excess its explanation shares out are one figure.

Money is ``float`` here: these are statistical estimates (a forecast mean is not an exact
amount), so Decimal would only pretend to a precision the numbers do not have. Round for
display only.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
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

MAX_EPISODE_DAYS = 28
"""Longest episode. A lasting step up (a new workload) stays away from the level before it for
good; after four weeks the new level is what the baseline of anything later is made of, so
the episode that reports the step ends there."""

MIN_RESOURCE_SHARE = 0.01
"""Smallest share of an anomaly's excess for a resource to be listed as contributing: every
resource that explains at least 1%, so nothing material is left out and the many resources
whose daily cost wobbles by cents are."""

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


def detect(
    intervals: pl.DataFrame,
    *,
    min_abs: float = MIN_ABS,
    min_rel: float = MIN_REL,
    baseline_days: int = BASELINE_DAYS,
    max_days: int = MAX_EPISODE_DAYS,
) -> pl.DataFrame:
    """Anomalies in in-sample forecast intervals, one row per episode (see ANOMALY_SCHEMA).

    A day is anomalous when ``y`` is above ``hi_99`` (a spike) or below ``lo_99`` (a drop) and
    its impact ``y - mean`` is at least ``min_abs`` and at least ``min_rel`` of ``mean`` (both in
    absolute value). The interval says the day is unusual; the minimums say it matters.
    Consecutive anomalous days of one series in the same direction start one episode.

    A one-step-ahead forecast learns from each day it has seen, so by the second day of a
    four-day spike it expects the spike and stops flagging it (and flags the day the spike ends
    as a drop). An episode is therefore measured against what the series cost before it: each
    day's expected cost is the average of the same weekday over the ``baseline_days`` before the
    episode (:func:`weekday_expectation`; days of earlier episodes of the series left out). It
    lasts while the day stays beyond that expectation by more than the first day's 99% interval
    half-width, up to ``max_days``; runs that start inside it are part of it, and an episode
    whose whole impact against that expectation misses either minimum is not one (the echo of
    an earlier one).

    Impact is ``actual - expected`` over the episode's days, measured from the expectation, not
    from the interval's edge: the money an owner cares about is what was spent beyond what was
    expected. A series without days before the episode falls back on the forecast's means.
    Days without an interval (nulls) are not judged.
    """
    missing = [c for c in _INTERVAL_COLUMNS if c not in intervals.columns]
    if missing:
        raise ValueError(f"intervals lack columns {missing}")
    days = _anomalous_days(intervals, min_abs=min_abs, min_rel=min_rel)
    if days.is_empty():
        return pl.DataFrame(schema=ANOMALY_SCHEMA)
    seeds = _merge_runs(days)
    rows: list[dict[str, Any]] = []
    for uid in seeds["unique_id"].unique(maintain_order=True):
        series = intervals.filter((pl.col("unique_id") == uid) & pl.col("y").is_not_null()).sort("ds")
        runs = seeds.filter(pl.col("unique_id") == uid).sort("start")
        rows += _episodes(series, runs, min_abs=min_abs, min_rel=min_rel, baseline_days=baseline_days,
                          max_days=max_days)  # fmt: skip
    if not rows:
        return pl.DataFrame(schema=ANOMALY_SCHEMA)
    frame = pl.DataFrame(rows).sort("start", "unique_id")
    ids = [anomaly_id(uid, start) for uid, start in zip(frame["unique_id"], frame["start"], strict=True)]
    return frame.with_columns(anomaly_id=pl.Series(ids, dtype=pl.String)).select(
        [pl.col(name).cast(dtype) for name, dtype in ANOMALY_SCHEMA.items()]
    )


def weekday_expectation(baseline: Mapping[date, float]) -> Callable[[date], float] | None:
    """Each day's expected cost from ``baseline`` (day -> cost): the average of the baseline's
    days of the same weekday, or of all its days for a weekday it lacks. None without days.

    Four weeks give four samples of each weekday, so a Saturday is expected at a Saturday's
    cost: a plain mean would call every weekend of a weekend-heavy bill a spike's worth of
    excess and every weekday a saving."""
    if not baseline:
        return None
    overall = sum(baseline.values()) / len(baseline)
    sums: dict[int, float] = {}
    counts: Counter[int] = Counter()
    for day, cost in baseline.items():
        sums[day.weekday()] = sums.get(day.weekday(), 0.0) + cost
        counts[day.weekday()] += 1
    means = {weekday: sums[weekday] / counts[weekday] for weekday in counts}
    return lambda day: means.get(day.weekday(), overall)


def _episodes(
    series: pl.DataFrame, runs: pl.DataFrame, *, min_abs: float, min_rel: float, baseline_days: int, max_days: int
) -> list[dict[str, Any]]:
    """One series' runs of anomalous days (oldest first) grown into episodes (see :func:`detect`)."""
    cost = dict(zip(series["ds"], series["y"], strict=True))
    means = dict(zip(series["ds"], series["mean"], strict=True))
    half_widths = {
        "spike": dict(zip(series["ds"], series["hi_99"] - series["mean"], strict=True)),
        "drop": dict(zip(series["ds"], series["mean"] - series["lo_99"], strict=True)),
    }
    taken: set[date] = set()
    found = []
    for run in runs.iter_rows(named=True):
        first, last = run["start"], run["end"]
        if any(first + timedelta(days=i) in taken for i in range((last - first).days + 1)):
            continue  # it started inside an earlier episode: part of it
        sign = 1.0 if run["direction"] == "spike" else -1.0
        baseline = {
            d: cost[d]
            for d in (first - timedelta(days=n) for n in range(1, baseline_days + 1))
            if d in cost and d not in taken
        }
        expect = weekday_expectation(baseline)
        if expect is not None:
            band = half_widths[run["direction"]].get(first) or 0.0
            while (
                (following := last + timedelta(days=1)) in cost
                and (following - first).days < max_days
                and sign * (cost[following] - expect(following)) > band
            ):
                last = following
        episode = [
            first + timedelta(days=i) for i in range((last - first).days + 1) if first + timedelta(days=i) in cost
        ]
        expected = {d: expect(d) if expect is not None else float(means[d] or 0.0) for d in episode}
        actual = sum(cost[d] for d in episode)
        impact = actual - sum(expected.values())
        relative = sign * impact / sum(expected.values()) if sum(expected.values()) > 0 else float("inf")
        if sign * impact < min_abs or relative < min_rel:
            continue  # against the cost before it, nothing material: an echo of an earlier episode
        taken.update(episode)
        peak = max(episode, key=lambda d: sign * (cost[d] - expected[d]))
        found.append({
            "unique_id": run["unique_id"], "direction": run["direction"], "start": first, "end": last,
            "days": len(episode), "actual": actual, "expected": actual - impact, "impact": impact,
            "peak_day": peak, "peak_impact": cost[peak] - expected[peak],
        })  # fmt: skip
    return found


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
    return (
        days.sort("unique_id", "ds")
        .with_columns(run=(gap | turn).fill_null(True).cum_sum())
        .group_by("unique_id", "run")
        .agg(direction=pl.col("direction").first(), start=pl.col("ds").min(), end=pl.col("ds").max())
        .sort("start", "unique_id")
    )


@dataclass(frozen=True)
class Contribution:
    """One dimension value's part in an anomaly, over the anomaly's days.

    ``excess`` is ``actual - expected`` in the billing currency (negative for a drop).
    ``share`` is the value's excess in the anomaly's direction over the anomaly's gross excess:
    the sum of every finest cell's (one value of each dimension) excess in that direction. A
    value's excess is at most the sum of its cells', so a share is never above 1, and the
    values of one level, or any values that do not overlap, share at most 1 between them, even
    when some moved against the anomaly (which the net excess would not guarantee: a service up
    by 556 inside a total up by 541 would read 103%). ``in_path`` marks the drill-down steps;
    the others are the largest remaining contributors met on the way.
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
    exclude: Collection[date] = (),
) -> list[Contribution]:
    """The drill path explaining ``anomaly`` (a row of :func:`detect`), then the ``top`` other contributors.

    ``detail`` is the series' daily cost by dimension: ``ChargeDate`` (Date), the
    ``dimensions`` and ``cost``. A value's expected cost on each of the anomaly's days is its
    average on the same weekday over the ``baseline_days`` before the anomaly (days it has no
    row count as zero; days in ``exclude``, such as an earlier anomaly's, are left out), as
    :func:`detect` expects the series: summed over the values, the expectation is the
    series', so the excess the explanation shares out is the anomaly's impact.

    The drill starts from everything and, level by level, follows the value with the largest
    excess while it explains more than ``dominance`` of its parent's excess. Shares are of the
    gross excess seen in ``detail`` (see :class:`Contribution`), so path and others are measured
    on the same numbers: the values met on the way partition the excess (siblings of each step,
    then the level where the drill stopped, or the last step if it never stopped), so with a
    large ``top`` and no value moving against the anomaly the others' shares sum to 1 with
    it. Returns an empty list when ``detail`` shows no excess in the anomaly's direction.
    """
    scoped, sign = _scoped(anomaly, detail, dimensions, baseline_days, exclude)
    total = _excess(scoped)
    if total * sign <= 0:
        return []
    gross = _gross(scoped, dimensions, sign)
    path, others = _drill(scoped, dimensions, sign=sign, total=total, gross=gross, dominance=dominance)
    ranked = sorted((c for c in others if c.excess * sign > 0), key=lambda c: c.excess * sign, reverse=True)
    return path + ranked[:top]


def contributing_resources(
    anomaly: Mapping[str, Any],
    detail: pl.DataFrame,
    *,
    baseline_days: int = BASELINE_DAYS,
    dimensions: Sequence[str] = DIMENSIONS,
    min_share: float = MIN_RESOURCE_SHARE,
    exclude: Collection[date] = (),
) -> list[Contribution]:
    """Every resource (the last of ``dimensions``) whose share of the anomaly is at least
    ``min_share``, largest first (ties by id), measured as :func:`explain` measures. The drill names a
    resource only when one dominates; four instances at a quarter each are all listed here."""
    scoped, sign = _scoped(anomaly, detail, dimensions, baseline_days, exclude)
    if _excess(scoped) * sign <= 0:
        return []
    gross = _gross(scoped, dimensions, sign)
    resource = dimensions[-1]
    found = [_contribution(resource, row, sign, gross) for row in _by_value(scoped, resource).iter_rows(named=True)]
    listed = [c for c in found if c.value is not None and c.share >= min_share]
    return sorted(listed, key=lambda c: (-round(c.share, 6), c.value or ""))  # equal shares in id order


def _scoped(
    anomaly: Mapping[str, Any], detail: pl.DataFrame, dimensions: Sequence[str], baseline_days: int,
    exclude: Collection[date],
) -> tuple[pl.DataFrame, float]:  # fmt: skip
    """The anomaly's and its baseline's rows, each with its ``weight`` (see :func:`_weights`), and
    the anomaly's sign (1 spike, -1 drop)."""
    missing = [c for c in ("ChargeDate", "cost", *dimensions) if c not in detail.columns]
    if missing:
        raise ValueError(f"detail lacks columns {missing}")
    start, end = _window(anomaly)
    scoped = _periods(detail, start, end, baseline_days, exclude).with_columns(pl.col(list(dimensions)).cast(pl.String))
    sign = -1.0 if anomaly.get("direction") == "drop" else 1.0
    return _weights(scoped, start, end), sign


def _window(anomaly: Mapping[str, Any]) -> tuple[date, date]:
    """The anomaly's first and last day, checked to be dates (a datetime is refused, not truncated)."""
    start, end = anomaly["start"], anomaly["end"]
    dates = all(isinstance(d, date) and not isinstance(d, datetime) for d in (start, end))
    if not dates or end < start:
        raise ValueError(f"anomaly needs dates start <= end, got {start!r} and {end!r}")
    return start, end


def _periods(detail: pl.DataFrame, start: date, end: date, baseline_days: int,
             exclude: Collection[date]) -> pl.DataFrame:  # fmt: skip
    """The rows of the anomaly and of its baseline, labelled ``period`` ("anomaly" or "baseline")."""
    baseline_start = start - timedelta(days=baseline_days)
    day = pl.col("ChargeDate")
    kept = day.is_between(baseline_start, end) & ~(day.is_in(list(exclude)) & (day < start))
    return detail.filter(kept).with_columns(
        period=pl.when(day >= start).then(pl.lit("anomaly")).otherwise(pl.lit("baseline"))
    )


def _weights(scoped: pl.DataFrame, start: date, end: date) -> pl.DataFrame:
    """``scoped`` with ``weight``: 1 on the anomaly's rows; on a baseline row, how many of the
    anomaly's days it stands for, so that the weighted baseline sum is the expected cost.

    A baseline day stands for the anomaly's days of its weekday, shared with the baseline's
    other days of that weekday; the anomaly's days of a weekday the baseline lacks are shared
    by all its days (a plain mean). Baseline days are those with any row, so a series younger
    than the baseline is averaged over the days it existed, not diluted by days before it began.
    """
    observed = scoped.filter(pl.col("period") == "baseline")["ChargeDate"].unique().to_list()
    per_weekday = Counter(day.weekday() for day in observed)
    wanted = Counter((start + timedelta(days=i)).weekday() for i in range((end - start).days + 1))
    uncovered = sum(n for weekday, n in wanted.items() if not per_weekday[weekday])
    spread = uncovered / len(observed) if observed else 0.0
    weight = {weekday: wanted[weekday] / count + spread for weekday, count in per_weekday.items()}
    weekday = pl.col("ChargeDate").dt.weekday() - 1  # polars counts Monday as 1, Python as 0
    of_baseline = weekday.replace_strict(weight, default=0.0, return_dtype=pl.Float64)
    return scoped.with_columns(weight=pl.when(pl.col("period") == "anomaly").then(1.0).otherwise(of_baseline))


def _excess(rows: pl.DataFrame) -> float:
    """Actual minus expected cost of ``rows`` over the anomaly."""
    actual = rows.filter(pl.col("period") == "anomaly")["cost"].sum()
    baseline = rows.filter(pl.col("period") == "baseline").select((pl.col("cost") * pl.col("weight")).sum()).item()
    return float(actual) - float(baseline or 0.0)


def _by_value(rows: pl.DataFrame, *dimension: str) -> pl.DataFrame:
    """Actual, expected and excess of each value of ``dimension`` (or combination), largest excess first."""
    in_anomaly = pl.col("period") == "anomaly"
    return (
        rows.group_by(*dimension)
        .agg(
            actual=pl.col("cost").filter(in_anomaly).sum(),
            expected=(pl.col("cost") * pl.col("weight")).filter(~in_anomaly).sum(),
        )
        .with_columns(excess=pl.col("actual") - pl.col("expected"))
        .sort("excess", descending=True)
    )


def _gross(rows: pl.DataFrame, dimensions: Sequence[str], sign: float) -> float:
    """The anomaly's gross excess: the sum, over the finest cells (a value of every dimension),
    of each cell's excess in the anomaly's direction."""
    cells = _by_value(rows, *dimensions)
    return float((cells["excess"] * sign).clip(lower_bound=0.0).sum())


def _drill(
    rows: pl.DataFrame,
    dimensions: Sequence[str],
    *,
    sign: float,
    total: float,
    gross: float,
    dominance: float,
) -> tuple[list[Contribution], list[Contribution]]:
    """The drill path and every other value met on the way (siblings of each step, and the last level)."""
    path: list[Contribution] = []
    others: list[Contribution] = []
    parent_excess = total
    for dimension in dimensions:
        values = _by_value(rows, dimension)
        contributions = [_contribution(dimension, row, sign, gross) for row in values.iter_rows(named=True)]
        best = max(contributions, key=lambda c: c.excess * sign)
        if best.excess / parent_excess <= dominance:
            others.extend(contributions)
            break
        path.append(replace(best, in_path=True))
        others.extend(c for c in contributions if c is not best)
        rows = rows.filter(pl.col(dimension).eq_missing(best.value))
        parent_excess = best.excess
    return path, others


def _contribution(dimension: str, row: Mapping[str, Any], sign: float, gross: float) -> Contribution:
    """A value's row of :func:`_by_value` as a Contribution outside the path."""
    value = row[dimension]
    excess = float(row["excess"])
    return Contribution(
        dimension=dimension,
        value=None if value is None else str(value),
        actual=float(row["actual"]),
        expected=float(row["expected"]),
        excess=excess,
        share=sign * excess / gross if gross > 0 else 0.0,
        in_path=False,
    )
