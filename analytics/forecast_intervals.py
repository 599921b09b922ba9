"""Forecast intervals calibrated on the rolling-origin backtest: for each day, for the running
total from the first forecast day (what month and quarter ends need), and kept inside the
interval of the series a component belongs to.

Why not the models' own intervals: MSTL's ignore the error of its seasonal components and
covered under half of the held-out days in the tests. Why not stretch them by the root mean
square of the backtest errors (what this replaced): one incident in a backtest window rules a
root mean square. On the demo's world the GPU experiment (four days, up to 340 USD a day over
the forecast, on a total of about 250 a day) made that factor 37 for the USD total and 63 for
EC2, and summing the stretched daily bounds gave a December range of 1,230 to 45,129 around
8,085. Each step below answers one part of that.

- Scores. In each backtest window and on each day ``j`` after its cut-off the chosen model
  missed by ``e = y - forecast``; its own 80% interval implies a sigma ``s`` (statsforecast's
  intervals are normal: half-width ``z * s``). The score ``|e| / s`` is the miss in the model's
  own sigmas, so a model whose intervals widen with the horizon is judged at every horizon alike.
- Outlier days. A burst of at most ``MAX_BURST_DAYS`` consecutive days, each missed by more
  than ``BURST_SIGMAS`` robust sigmas of the series' backtest errors (1.4826 x their median
  absolute deviation) and by at least ``MIN_REL`` of the forecast (the anomaly detector's
  threshold), that ends before its window does, is an incident (a spike that came and went), not
  the forecast's ordinary error. Its days do not set the width. They still count as misses:
  the daily coverage figures are over every backtest day. A change that lasts to the end of its
  window (a level shift) is not set aside; covering such changes is what intervals are for.
- Daily factor ``k``: split-conformal, the ``ceil(L (n + 1))``-th smallest score of the
  ``n`` backtest days, taken among the ordinary days (the largest of them when there are too
  few: with four outlier days in 84, the 95% band takes in every ordinary day so that 95% of
  all days are still covered). A quantile does not care how far the worst misses went, which
  is what makes it robust.
- Running totals. Daily errors of one series are correlated (a level that is off stays off),
  so neither sqrt(n) nor n times a daily width is right in general: the backtest measures it.
  ``S(k)`` is the sum of a window's first ``k`` errors (outlier days' left out: a period-end
  figure is for a period without such an incident, which the anomaly alerts report), ``B(k)``
  the sum of its sigmas, and ``m`` the same quantile of ``|S| / B`` over every window and
  ``k``. ``m`` is at most ``k``: summing the daily bounds assumes perfectly correlated errors,
  the widest a running total can need.
- Widths. On forecast day ``h`` the half-width is ``k * r(h)`` and the running total's to day
  ``h`` is ``m * (r(1) + ... + r(h))``, where ``r`` is the backtest's own sigma per step
  (averaged over its windows) up to the backtest window's length and, further out, that sigma
  grown as the final model's grows. The final model's own sigma level is not used: fitted on a
  history holding a spike, it is inflated (nine times for the demo's USD total).
- Coverage. ``coverage_<L>`` is the share of the backtest's days inside the intervals so
  calibrated, outlier days counted as misses: the factors are chosen to hold it at 75-85% (80%)
  and 92-98% (95%), so it says that the calibration held, not how it will do. ``cv_coverage_<L>``
  is out of sample: each window's days judged by factors calibrated on the other windows. On the
  demo's 17 series it is 75-83% (80%) and 92-98% (95%), but for Azure's Virtual Machines at 95%
  (91.7%: one of its windows ran above the forecast throughout, by more than the other two ever
  missed). With three windows the running totals' out-of-sample figures rest on two windows
  each and move too much to be worth reporting (65-98% at 80%); the unit tests check running
  totals on held-out periods instead.
- Parents. A component (a service within its provider, a provider within its currency's total)
  is never given a wider half-width than its parent's on the same day, nor a higher upper
  bound: its cost is part of the parent's.

Series too short to backtest keep their model's own intervals (factors ``z``), and their
running totals sum the daily bounds, as before; their coverage is null.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import polars as pl

from analytics.anomalies import MIN_REL

MAX_BURST_DAYS = 7
BURST_SIGMAS = 5.0
_MAD_TO_SIGMA = 1.4826
COVERAGE_LEVELS = (80, 95)


def z(level: int) -> float:
    """The normal quantile of a two-sided ``level``% interval."""
    return NormalDist().inv_cdf(0.5 + level / 200)


@dataclass(frozen=True)
class Calibration:
    """Per backtested series: ``factors`` (unique_id, level, daily, running), ``sigma`` (unique_id,
    step, sigma: the backtest's mean native sigma per step) and ``scores`` (unique_id,
    outlier_days, coverage_<L> and cv_coverage_<L> for L in 80, 95)."""

    factors: pl.DataFrame
    sigma: pl.DataFrame
    scores: pl.DataFrame

    @staticmethod
    def empty() -> Calibration:
        factors = pl.DataFrame(schema={"unique_id": pl.String, "level": pl.Int64, "daily": pl.Float64,
                                       "running": pl.Float64})  # fmt: skip
        sigma = pl.DataFrame(schema={"unique_id": pl.String, "step": pl.Int64, "sigma": pl.Float64})
        return Calibration(factors, sigma, pl.DataFrame(schema=score_schema()))


def score_schema() -> dict[str, type[pl.DataType]]:
    names = [f"{kind}coverage_{level}" for kind in ("", "cv_") for level in COVERAGE_LEVELS]
    return {"unique_id": pl.String, "outlier_days": pl.Int64} | dict.fromkeys(names, pl.Float64)


def outlier_days(errors: np.ndarray, forecasts: np.ndarray) -> np.ndarray:
    """Mask (windows x steps) of the backtest days inside transient bursts (module docstring)."""
    deviation = np.abs(errors - np.median(errors))
    robust_sigma = _MAD_TO_SIGMA * float(np.median(deviation))
    far = (deviation > BURST_SIGMAS * robust_sigma) & (np.abs(errors) >= MIN_REL * np.abs(forecasts))
    mask: np.ndarray = np.zeros(far.shape, dtype=bool)
    for window, row in enumerate(far):
        day = 0
        while day < row.size:
            if not row[day]:
                day += 1
                continue
            end = day
            while end < row.size and row[end]:
                end += 1
            if end - day <= MAX_BURST_DAYS and end < row.size:  # came and went inside the window
                mask[window, day:end] = True
            day = end
    return mask


def conformal_factor(scores: np.ndarray, outliers: np.ndarray, level: int) -> float:
    """The ``ceil(L (n + 1))``-th smallest of ``scores`` (n of them), among the ordinary ones."""
    usable = np.isfinite(scores)
    ordinary = np.sort(scores[usable & ~outliers])
    if ordinary.size == 0:
        ordinary = np.sort(scores[usable])
    if ordinary.size == 0:
        return math.nan
    rank = min(ordinary.size, math.ceil(level / 100 * (int(usable.sum()) + 1)))
    return float(ordinary[rank - 1])


def _factors(daily: np.ndarray, running: np.ndarray, outliers: np.ndarray, level: int) -> tuple[float, float]:
    k = conformal_factor(daily.ravel(), outliers.ravel(), level)
    m = conformal_factor(running.ravel(), np.zeros(running.size, dtype=bool), level)
    return k, min(m, k)


def _series_calibration(
    uid: str, part: pl.DataFrame, levels: Sequence[int]
) -> tuple[list[dict[str, object]], np.ndarray, dict[str, object]]:
    windows = part["cutoff"].n_unique()
    shape = (windows, part.height // windows)
    y = part["y"].to_numpy().reshape(shape)
    forecast = part["forecast"].to_numpy().reshape(shape)
    floor = 1e-6 * float(np.abs(y).mean()) + 1e-9
    sigma = np.maximum(np.nan_to_num(part["sigma"].to_numpy().reshape(shape), nan=0.0), floor)
    errors = y - forecast
    outliers = outlier_days(errors, forecast)
    daily = np.abs(errors) / sigma
    running = np.abs(np.cumsum(np.where(outliers, 0.0, errors), axis=1)) / np.cumsum(sigma, axis=1)
    factors = []
    scores: dict[str, object] = {"unique_id": uid, "outlier_days": int(outliers.sum())}
    for level in sorted(set(levels) | set(COVERAGE_LEVELS)):
        k, m = _factors(daily, running, outliers, level)
        if level in levels:
            factors.append({"unique_id": uid, "level": level, "daily": k, "running": m})
        if level not in COVERAGE_LEVELS:
            continue
        scores[f"coverage_{level}"] = float(np.mean(daily <= k))
        inside = []
        for held_out in range(windows) if windows > 1 else ():
            rest = [w for w in range(windows) if w != held_out]
            inside.append(daily[held_out] <= _factors(daily[rest], running[rest], outliers[rest], level)[0])
        scores[f"cv_coverage_{level}"] = float(np.mean(inside)) if inside else None
    return factors, sigma.mean(axis=0), scores


def calibrate(cv: pl.DataFrame, levels: Sequence[int]) -> Calibration:
    """Calibrate the intervals of each series from its chosen model's backtest: ``cv`` holds
    unique_id, cutoff, ds, y, forecast and sigma (the native sigma) for every window and day."""
    if cv.height == 0:
        return Calibration.empty()
    factors: list[dict[str, object]] = []
    sigmas, scores = [], []
    for (uid,), part in cv.sort("unique_id", "cutoff", "ds").group_by("unique_id", maintain_order=True):
        rows, sigma, score = _series_calibration(str(uid), part, levels)
        factors += rows
        sigmas.append(pl.DataFrame({"unique_id": str(uid), "step": np.arange(1, sigma.size + 1), "sigma": sigma}))
        scores.append(score)
    return Calibration(
        pl.DataFrame(factors, schema=Calibration.empty().factors.schema),
        pl.concat(sigmas),
        pl.DataFrame(scores, schema=score_schema()),
    )


@dataclass
class _Widths:
    mean: np.ndarray  # daily mean, clipped at 0
    daily: dict[int, np.ndarray]  # level -> half-width per day
    running: dict[int, np.ndarray]  # level -> half-width of the running total to each day


def _reference_sigma(native: np.ndarray, backtest: np.ndarray | None) -> np.ndarray:
    """The backtest's sigma per step, extended beyond it as the final model's sigma grows."""
    native = np.nan_to_num(native, nan=0.0)
    if backtest is None or backtest.size == 0:
        return native
    horizon, known = native.size, min(native.size, backtest.size)
    reference = np.empty(horizon)
    reference[:known] = backtest[:known]
    if horizon > known:
        anchor = native[known - 1]
        growth = native[known:] / anchor if anchor > 0 else np.ones(horizon - known)
        reference[known:] = backtest[known - 1] * np.maximum(growth, 1.0)
    return reference


def _widths(
    mean: np.ndarray,
    native_sigma: np.ndarray,
    levels: Sequence[int],
    factors: Mapping[int, tuple[float, float]] | None,
    backtest_sigma: np.ndarray | None,
) -> _Widths:
    reference = _reference_sigma(native_sigma, backtest_sigma if factors else None)
    cumulative = np.cumsum(reference)
    daily, running = {}, {}
    for level in levels:
        k, m = factors[level] if factors else (z(level), z(level))
        daily[level] = k * reference
        running[level] = m * cumulative
    return _Widths(np.clip(np.nan_to_num(mean, nan=0.0), 0.0, None), daily, running)


def _depths(uids: Sequence[str], parents: Mapping[str, str]) -> list[str]:
    """``uids`` ordered so that every parent comes before its children."""

    def depth(uid: str) -> int:
        seen, steps = {uid}, 0
        while (uid := parents.get(uid, "")) and uid not in seen:
            seen.add(uid)
            steps += 1
        return steps

    return sorted(uids, key=lambda uid: (depth(uid), uid))


def _bands(widths: _Widths, levels: Sequence[int], running: bool) -> dict[str, np.ndarray]:
    centre = np.cumsum(widths.mean) if running else widths.mean
    half = widths.running if running else widths.daily
    out = {"mean": centre}
    for level in levels:
        out[f"lo_{level}"] = np.clip(centre - half[level], 0.0, None)
        out[f"hi_{level}"] = centre + half[level]
    return out


def widen(
    native: pl.DataFrame,
    calibration: Calibration,
    *,
    levels: Sequence[int],
    parents: Mapping[str, str] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Daily and running-total intervals from the final forecasts ``native`` (unique_id, ds,
    model, mean, sigma: the model's own): (unique_id, ds, model, mean, lo_<L>, hi_<L>) per day,
    and (unique_id, ds, mean, lo_<L>, hi_<L>) for the total from the first forecast day to ds."""
    bounds = [f"{side}_{level}" for level in levels for side in ("lo", "hi")]
    if native.height == 0:
        schema = {"unique_id": pl.String, "ds": pl.Date, "model": pl.String, "mean": pl.Float64}
        empty = pl.DataFrame(schema=schema | dict.fromkeys(bounds, pl.Float64))
        return empty, empty.drop("model")
    factors: dict[str, dict[int, tuple[float, float]]] = {}
    for row in calibration.factors.iter_rows(named=True):
        factors.setdefault(row["unique_id"], {})[row["level"]] = (row["daily"], row["running"])
    backtest = {str(uid): part.sort("step")["sigma"].to_numpy()
                for (uid,), part in calibration.sigma.group_by("unique_id")}  # fmt: skip
    parts = {str(uid): part.sort("ds") for (uid,), part in native.group_by("unique_id")}
    known = {uid: f for uid, f in factors.items() if all(not math.isnan(f[level][0]) for level in levels)}
    widths = {
        uid: _widths(part["mean"].to_numpy(), part["sigma"].to_numpy(), levels, known.get(uid), backtest.get(uid))
        for uid, part in parts.items()
    }
    parents = parents or {}
    daily_bands: dict[str, dict[str, np.ndarray]] = {}
    running_bands: dict[str, dict[str, np.ndarray]] = {}
    for uid in _depths(list(parts), parents):
        own = widths[uid]
        parent = parents.get(uid)
        if parent in widths and widths[parent].mean.size == own.mean.size:
            for level in levels:
                own.daily[level] = np.minimum(own.daily[level], widths[parent].daily[level])
                own.running[level] = np.minimum(own.running[level], widths[parent].running[level])
        daily_bands[uid] = _bands(own, levels, running=False)
        running_bands[uid] = _bands(own, levels, running=True)
        if parent in daily_bands and widths[parent].mean.size == own.mean.size:
            for level in levels:
                for bands in (daily_bands, running_bands):
                    bands[uid][f"hi_{level}"] = np.minimum(bands[uid][f"hi_{level}"], bands[parent][f"hi_{level}"])
    daily = pl.concat(
        parts[uid].select("unique_id", "ds", "model").with_columns(pl.Series(k, v) for k, v in bands.items())
        for uid, bands in daily_bands.items()
    )
    running = pl.concat(
        parts[uid].select("unique_id", "ds").with_columns(pl.Series(k, v) for k, v in bands.items())
        for uid, bands in running_bands.items()
    )
    return daily.sort("unique_id", "ds"), running.sort("unique_id", "ds")
