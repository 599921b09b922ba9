"""Daily cost forecasts: model choice by backtest, intervals, and period-end figures.

Pure functions on polars frames; no I/O, no global state. Money enters as float (the models
are numerical) and leaves as float; callers convert to Decimal for display.

How a forecast is made, and why:
- Days without a row are filled with 0 from a series' first day to the last day of the whole
  history: a day without charges costs nothing, and the models need a gapless daily series.
- Every series is backtested with a rolling origin (by default 3 windows of 28 days) on all
  candidate models at once, through statsforecast's ``cross_validation``. Models are fitted on
  the first window only and carried forward over the later ones (``refit=False``): the
  parameters barely move in 28 days, and fitting once per model and series is a third of the
  cost of refitting. The model with the lowest MASE wins; SeasonalNaive(7) is the baseline.
- Weekly seasonality (7) always; yearly (365) only for series with at least two years of
  history, through MSTL(season_length=[7, 365]), because a yearly pattern cannot be told from
  a trend with less than two cycles. AutoETS and AutoTheta stay weekly (ETS cannot take a
  365-day season). MSTL forecasts its deseasonalised series with a damped-trend ETS(A,Ad,N)
  rather than searching six ETS models: as accurate in the backtest, a third cheaper, and a
  cost trend that flattens out is the safer assumption a year ahead.
- A backtest window is evidence for horizons up to its own length (28 days), no further. A
  weekly-only model chosen in a flat stretch forecasts the summer level into October, or a
  flat year, and misses the wedding season: on the tests' series such a model was 24% off
  over a 56-day horizon crossing the season's end. So when a series has two years, its last
  year's weekly totals repeat the year before (correlation of at least 0.5) and the horizon
  is longer than a backtest window, only the yearly-aware MSTL may win (only it and the
  baseline are then backtested, for the record); ``selection.reason`` says when this applied.
- Intervals are calibrated on the backtest (analytics/forecast_intervals.py): the model's own
  sigma per day, scaled by a conformal quantile of its backtest misses (a spike that came and
  went inside a window does not set the width), with a separate factor for running totals
  (month and quarter ends) measured on the backtest's sums of consecutive days, and no
  component wider than its parent series. statsforecast's native intervals alone are too narrow
  (MSTL's ignore the error of its seasonal components: its 80% interval covered under half of
  the held-out days in the tests) and its ConformalIntervals would not help, as for MSTL they
  too are computed on the deseasonalised series.
- The in-sample intervals for anomaly detection (``fitted``) come from one model for every
  series, a weekly ETS(A,N,A), not from the forecast model: its fitted values are true
  one-step-ahead forecasts (each day judged only from the days before it), whereas MSTL's and
  Theta's come from a decomposition of the whole history, so a spike leaks into its own
  "prediction" (MSTL flagged two days of an injected 3-day spike; ETS(A,N,A) flags all three).
- Forecasts and bounds are clipped at 0: costs are not negative.

MASE here is "against seasonal naive", as the cost forecasts are judged: the model's mean
absolute backtest error divided by SeasonalNaive(7)'s over the same backtest windows, so below 1
means it beat seasonal naive on its own backtest. ``mase_insample`` is the textbook MASE
(Hyndman and Koehler): the same error divided by the mean absolute in-sample error of the
one-step seasonal naive forecast (``|y[t] - y[t-7]|``) on the history before the first backtest
cut-off; ``seasonal_naive_mase_insample`` is seasonal naive's own. A backtest window holding an
unusual event (a cost spike) pushes both textbook figures above 1 while the ratio stays
meaningful. Models are ranked by either: per series they order the same. MAPE is the mean of
``|error| / |y|`` in percent over backtest days with a non-zero cost (zero-cost days are left
out, as their percentage error is undefined).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np
import polars as pl
from statsforecast import StatsForecast
from statsforecast.models import MSTL, AutoARIMA, AutoETS, AutoTheta, SeasonalNaive

from analytics.forecast_intervals import Calibration, calibrate, widen

WEEK = 7
YEAR = 365
MIN_DAYS = 2 * WEEK  # below this a weekly seasonal naive has nothing to repeat
MAX_HORIZON = 366
BASELINE = "SeasonalNaive"
SCORE_COLUMNS = ("mase", "mape", "seasonal_naive_mape", "mase_insample", "seasonal_naive_mase_insample")
DEFAULT_CANDIDATES = ("SeasonalNaive", "AutoETS", "AutoTheta", "MSTL")
YEARLY_REPEAT_CORRELATION = 0.5
# Interpolating STL's LOESS smoothers every few weeks instead of every ~10% of the window makes
# MSTL with a 365-day season about 8x faster with the same backtest error. The seasonal smoother
# every 14 days; the trend and low-pass smoothers, whose windows span most of a year for the
# yearly season, every 28: that took another quarter off the benchmark (23.4 s to 17.5 s on 150
# of its series) for a median MASE of 0.7321 instead of 0.7306.
_STL_JUMPS = {"seasonal_jump": 2 * WEEK, "trend_jump": 4 * WEEK, "low_pass_jump": 4 * WEEK}
# Below this many series a process pool costs more to start than it saves.
_MIN_SERIES_PER_PROCESS = 10
_Z80 = NormalDist().inv_cdf(0.9)


@dataclass(frozen=True)
class Backtest:
    """Rolling-origin backtest: ``windows`` consecutive windows of ``days`` days each."""

    windows: int = 3
    days: int = 28

    @property
    def span(self) -> int:
        return self.windows * self.days


@dataclass(frozen=True)
class Forecasts:
    """Result of :func:`forecast`.

    - ``future``: unique_id, ds, model, mean, lo_<level>, hi_<level> for each level.
    - ``cumulative``: unique_id, ds, mean, lo_<level>, hi_<level>: the cost from the first
      forecast day through ds (what a month or quarter end adds to its actual cost to date),
      with intervals calibrated on the backtest's running totals.
    - ``selection``: unique_id, model, mase, mape, seasonal_naive_mape, mase_insample,
      seasonal_naive_mase_insample, history_days, yearly, reason, outlier_days, coverage_80,
      coverage_95, cv_coverage_80, cv_coverage_95 (analytics/forecast_intervals.py). ``model``
      is null for series too short to forecast; the last five for series too short to backtest.
    """

    future: pl.DataFrame
    cumulative: pl.DataFrame
    selection: pl.DataFrame


def _build_model(name: str, *, yearly: bool) -> Any:
    """A statsforecast model by name; ``yearly`` only changes MSTL's seasons."""
    builders: dict[str, Callable[[], Any]] = {
        "SeasonalNaive": lambda: SeasonalNaive(season_length=WEEK),
        "AutoETS": lambda: AutoETS(season_length=WEEK),
        "AutoTheta": lambda: AutoTheta(season_length=WEEK),
        "MSTL": lambda: MSTL(
            season_length=[WEEK, YEAR] if yearly else [WEEK],
            trend_forecaster=AutoETS(model="AAN", damped=True),
            stl_kwargs=_STL_JUMPS,
        ),
        "AutoARIMA": lambda: AutoARIMA(season_length=WEEK),
    }
    if name not in builders:
        raise ValueError(f"unknown model {name!r}; choose from {sorted(builders)}")
    return builders[name]()


def _engine(models: list[Any], n_series: int, n_jobs: int) -> StatsForecast:
    jobs = n_jobs if n_series >= _MIN_SERIES_PER_PROCESS * n_jobs else 1
    return StatsForecast(models=models, freq="1d", n_jobs=jobs, fallback_model=SeasonalNaive(season_length=WEEK))


def fill_days(history: pl.DataFrame) -> pl.DataFrame:
    """Gapless daily series: missing days become 0 cost, duplicates of a day are summed.

    Each series runs from its own first day to the last day of the whole frame, so a service
    that stopped billing is forecast from its recent zeros rather than from its last charge.
    """
    daily = history.group_by("unique_id", "ds").agg(pl.col("y").cast(pl.Float64).sum())
    last = daily["ds"].max()
    spans = daily.group_by("unique_id").agg(pl.date_ranges(pl.col("ds").min(), pl.lit(last)).first().alias("ds"))
    grid = spans.explode("ds")
    return (
        grid.join(daily, on=["unique_id", "ds"], how="left")
        .with_columns(pl.col("y").fill_null(0.0))
        .sort("unique_id", "ds")
    )


def _yearly_repeats(y: np.ndarray) -> bool:
    """Whether the last 52 weekly totals correlate with the 52 before them."""
    if y.size < 2 * 52 * WEEK:
        return False
    weeks = y[-2 * 52 * WEEK :].reshape(2 * 52, WEEK).sum(axis=1)
    before, last = weeks[:52], weeks[52:]
    if before.std() == 0 or last.std() == 0:
        return False
    return bool(np.corrcoef(before, last)[0, 1] >= YEARLY_REPEAT_CORRELATION)


def _profile(filled: pl.DataFrame, backtest: Backtest) -> pl.DataFrame:
    """Per series: history length, yearly flags and the seasonal-naive scale for MASE."""
    rows = []
    for (uid,), part in filled.group_by("unique_id", maintain_order=True):
        y = part["y"].to_numpy()
        train = y[: y.size - backtest.span]
        diffs = np.abs(train[WEEK:] - train[:-WEEK]) if train.size > WEEK else np.empty(0)
        rows.append(
            {
                "unique_id": uid,
                "history_days": y.size,
                "yearly": y.size >= 2 * YEAR,
                "yearly_repeats": _yearly_repeats(y),
                "scale": float(diffs.mean()) if diffs.size else math.nan,
            }
        )
    return pl.DataFrame(rows, schema_overrides={"unique_id": pl.String})


def _cross_validate(
    filled: pl.DataFrame, names: Sequence[str], *, yearly: bool, backtest: Backtest, n_jobs: int
) -> pl.DataFrame:
    """Long frame of backtest forecasts: unique_id, cutoff, ds, y, model, forecast, sigma (implied
    by the 80% interval)."""
    n_series = filled["unique_id"].n_unique()
    models = [_build_model(name, yearly=yearly) for name in names]
    cv = _engine(models, n_series, n_jobs).cross_validation(
        df=filled, h=backtest.days, n_windows=backtest.windows, step_size=backtest.days, refit=False, level=[80]
    )
    return pl.concat(
        cv.select(
            "unique_id",
            pl.col("cutoff").cast(pl.Date),
            pl.col("ds").cast(pl.Date),
            "y",
            pl.lit(name).alias("model"),
            pl.col(name).alias("forecast"),
            ((pl.col(f"{name}-hi-80") - pl.col(f"{name}-lo-80")) / (2 * _Z80)).alias("sigma"),
        )
        for name in names
    )


def _scores(cv: pl.DataFrame, profile: pl.DataFrame) -> pl.DataFrame:
    """MASE and MAPE per series and model (definitions in the module docstring)."""
    error = (pl.col("forecast") - pl.col("y")).abs()
    return (
        cv.join(profile.select("unique_id", "scale"), on="unique_id")
        .group_by("unique_id", "model")
        .agg(
            (error.mean() / pl.col("scale").first()).alias("mase"),
            ((error / pl.col("y").abs()).filter(pl.col("y") != 0).mean() * 100).alias("mape"),
        )
        .with_columns(pl.col("mase").fill_nan(None))
    )


def _choose(scores: pl.DataFrame, profile: pl.DataFrame, *, eligible: list[str], reason: str) -> pl.DataFrame:
    """The lowest-MASE eligible model per series, with the baseline's errors beside it."""
    baseline = scores.filter(pl.col("model") == BASELINE).select(
        "unique_id", pl.col("mase").alias("seasonal_naive_mase_insample"), pl.col("mape").alias("seasonal_naive_mape")
    )
    best = (
        scores.filter(pl.col("model").is_in(eligible))
        .sort("mase", nulls_last=True)
        .group_by("unique_id", maintain_order=True)
        .first()
    )
    relative = pl.col("mase_insample") / pl.col("seasonal_naive_mase_insample")
    return (
        best.rename({"mase": "mase_insample"})
        .join(baseline, on="unique_id", how="left")
        .join(profile, on="unique_id")
        .select(
            "unique_id", "model", pl.when(pl.col("seasonal_naive_mase_insample") > 0).then(relative).alias("mase"),
            "mape", "seasonal_naive_mape", "mase_insample", "seasonal_naive_mase_insample",
            "history_days", "yearly", pl.lit(reason).alias("reason"),
        )
    )  # fmt: skip


def _unscored(profile: pl.DataFrame, model: str | None, reason: str) -> pl.DataFrame:
    """Selection rows for series that could not be backtested."""
    return profile.select(
        "unique_id",
        pl.lit(model, pl.String).alias("model"),
        *(pl.lit(None, pl.Float64).alias(c) for c in SCORE_COLUMNS),
        "history_days",
        "yearly",
        pl.lit(reason).alias("reason"),
    )


def _backtest_groups(
    profile: pl.DataFrame, names: Sequence[str], *, horizon: int, backtest: Backtest
) -> list[tuple[pl.DataFrame, list[str], list[str], bool, str]]:
    """Series groups backtested together: (profiles, models backtested, models eligible, yearly, reason).

    Series whose yearly season repeats, forecast beyond one backtest window, must take MSTL
    (see the module docstring); only it and the baseline are backtested for them, so the
    backtest reports their error without paying for models that may not win.
    """
    enough = pl.col("history_days") >= backtest.span + 4 * WEEK
    forced = pl.col("yearly_repeats") & pl.lit(horizon > backtest.days and "MSTL" in names)
    lowest = f"lowest backtest MASE ({backtest.windows} x {backtest.days} days)"
    required = f"yearly season repeats, horizon {horizon} > backtest window {backtest.days} days: MSTL[7,365] required"
    groups = [
        (profile.filter(enough & ~pl.col("yearly")), list(names), list(names), False, lowest),
        (profile.filter(enough & pl.col("yearly") & ~forced), list(names), list(names), True, lowest),
        (profile.filter(enough & pl.col("yearly") & forced), [BASELINE, "MSTL"], ["MSTL"], True, required),
    ]
    return [group for group in groups if group[0].height]


def _select(
    filled: pl.DataFrame,
    profile: pl.DataFrame,
    *,
    names: Sequence[str],
    horizon: int,
    levels: Sequence[int],
    backtest: Backtest,
    n_jobs: int,
) -> tuple[pl.DataFrame, Calibration]:
    """Backtest every long-enough series, choose its model and calibrate its intervals on the
    chosen model's backtest; short series get a fixed model and its own intervals."""
    too_short = backtest.span + 4 * WEEK
    parts = [
        _unscored(profile.filter(pl.col("history_days") < MIN_DAYS), None, f"under {MIN_DAYS} days: not forecast"),
        _unscored(
            profile.filter(pl.col("history_days").is_between(MIN_DAYS, too_short - 1)),
            BASELINE,
            f"under {too_short} days: too short to backtest, seasonal naive",
        ),
    ]
    backtests = []
    for group, models, eligible, yearly, reason in _backtest_groups(profile, names, horizon=horizon, backtest=backtest):
        series = filled.join(group.select("unique_id"), on="unique_id")
        cv = _cross_validate(series, models, yearly=yearly, backtest=backtest, n_jobs=n_jobs)
        chosen = _choose(_scores(cv, group), group, eligible=eligible, reason=reason)
        parts.append(chosen)
        backtests.append(cv.join(chosen.select("unique_id", "model"), on=["unique_id", "model"]))
    calibration = calibrate(pl.concat(backtests), levels) if backtests else Calibration.empty()
    selection = pl.concat(parts).join(calibration.scores, on="unique_id", how="left")
    return selection.sort("unique_id"), calibration


def _bounds(levels: Sequence[int]) -> list[str]:
    return [f"{side}_{level}" for level in levels for side in ("lo", "hi")]


def _fit_chosen(filled: pl.DataFrame, chosen: pl.DataFrame, *, horizon: int, n_jobs: int) -> pl.DataFrame:
    """Fit each series' chosen model on its whole history and forecast ``horizon`` days:
    unique_id, ds, model, mean and sigma (implied by the model's own 80% interval)."""
    futures = []
    for (name, yearly), group in chosen.group_by("model", "yearly", maintain_order=True):
        series = filled.join(group.select("unique_id"), on="unique_id")
        engine = _engine([_build_model(str(name), yearly=bool(yearly))], group.height, n_jobs)
        future = pl.DataFrame(engine.forecast(df=series, h=horizon, level=[80]))
        futures.append(
            future.select(
                "unique_id",
                pl.col("ds").cast(pl.Date),
                pl.lit(name, pl.String).alias("model"),
                pl.col(str(name)).fill_nan(None).alias("mean"),
                ((pl.col(f"{name}-hi-80") - pl.col(f"{name}-lo-80")) / (2 * _Z80)).fill_nan(None).alias("sigma"),
            )
        )
    if not futures:
        return pl.DataFrame(schema=_schema(["unique_id", "ds", "model", "mean", "sigma"]))
    return pl.concat(futures).sort("unique_id", "ds")


def one_step_intervals(history: pl.DataFrame, *, levels: Sequence[int] = (99,), n_jobs: int = 2) -> pl.DataFrame:
    """For anomaly detection: each day of each series (unique_id, ds, y; days filled as for a
    forecast) with the one-step-ahead forecast of a weekly ETS(A,N,A) fitted on the days before
    it (unique_id, ds, y, mean, lo_<level>, hi_<level>). Series under two weeks are left out.
    A separate step from :func:`forecast`, as the anomaly asset is from the forecast asset."""
    filled = fill_days(history)
    long_enough = filled.group_by("unique_id").len().filter(pl.col("len") >= MIN_DAYS).select("unique_id")
    return _one_step_fitted(filled.join(long_enough, on="unique_id"), levels, n_jobs)


def _one_step_fitted(filled: pl.DataFrame, levels: Sequence[int], n_jobs: int) -> pl.DataFrame:
    columns = ["unique_id", "ds", "y", "mean", *_bounds(levels)]
    if filled.height == 0:
        return pl.DataFrame(schema=_schema(columns))
    model = AutoETS(season_length=WEEK, model="ANA", alias="OneStep")
    engine = _engine([model], filled["unique_id"].n_unique(), n_jobs)
    engine.forecast(df=filled, h=1, level=list(levels), fitted=True)
    in_sample: pl.DataFrame = engine.forecast_fitted_values()  # type: ignore[no-untyped-call]
    return _tidy(in_sample, "OneStep", levels).select(columns).drop_nulls("mean").sort("unique_id", "ds")


def _schema(columns: list[str]) -> dict[str, type[pl.DataType]]:
    kinds = {"unique_id": pl.String, "ds": pl.Date, "model": pl.String}
    return {c: kinds.get(c, pl.Float64) for c in columns}


def _tidy(frame: pl.DataFrame, name: str, levels: Sequence[int]) -> pl.DataFrame:
    """Rename statsforecast's ``<model>-lo-80`` columns and clip everything at 0."""
    renames = {name: "mean"} | {f"{name}-{side}-{level}": f"{side}_{level}" for side, level in _split(levels)}
    values = ["mean", *_bounds(levels)]
    return (
        frame.rename(renames)
        .with_columns(pl.col(values).fill_nan(None))
        .with_columns(pl.col(values).clip(lower_bound=0.0), pl.col("ds").cast(pl.Date))
    )


def _split(levels: Sequence[int]) -> list[tuple[str, int]]:
    return [(side, level) for level in levels for side in ("lo", "hi")]


def forecast(
    history: pl.DataFrame,
    *,
    horizon: int,
    levels: Sequence[int] = (80, 95, 99),
    backtest: Backtest = Backtest(),
    candidates: Sequence[str] = DEFAULT_CANDIDATES,
    parents: Mapping[str, str] | None = None,
    n_jobs: int = 2,
) -> Forecasts:
    """Forecast every series of ``history`` (unique_id str, ds pl.Date, y float) ``horizon`` days on.

    ``candidates`` are model names among SeasonalNaive, AutoETS, AutoTheta, MSTL and AutoARIMA;
    SeasonalNaive is always backtested as the baseline. AutoARIMA is not a default: it costs
    about six times AutoETS per series (0.8 s against 0.14 s on a 365-day series); add it
    where a series is worth that.
    ``parents`` maps a series to the series it is part of (a service to its provider, a provider
    to the total): a component's intervals are kept inside its parent's.
    ``n_jobs`` processes are used for groups of at least 10 series per process.
    """
    if not 1 <= horizon <= MAX_HORIZON:
        raise ValueError(f"horizon must be 1..{MAX_HORIZON} days, got {horizon}")
    names = list(dict.fromkeys([BASELINE, *candidates]))
    filled = fill_days(history)
    profile = _profile(filled, backtest)
    selection, calibration = _select(
        filled, profile, names=names, horizon=horizon, levels=levels, backtest=backtest, n_jobs=n_jobs
    )
    chosen = selection.filter(pl.col("model").is_not_null())
    native = _fit_chosen(filled, chosen, horizon=horizon, n_jobs=n_jobs)
    future, cumulative = widen(native, calibration, levels=levels, parents=parents)
    return Forecasts(future=future, cumulative=cumulative, selection=selection)
