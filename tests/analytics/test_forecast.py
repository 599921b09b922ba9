"""Cost forecasts on synthetic wedding-supplier spend: weekends, a January bump, a summer plateau."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from analytics.forecast import fill_days, forecast, one_step_intervals, period_end_figures

END = date(2026, 11, 26)


def wedding_spend(uid: str, days: int, *, seed: int = 0, end: date = END, noise: float = 0.05) -> pl.DataFrame:
    """Daily cost: 100 a weekday, x1.3 on weekends, x1.8 June-September, x1.4 in January, noisy."""
    rng = np.random.default_rng(seed)
    ds = pl.date_range(end - timedelta(days=days - 1), end, eager=True)
    month = ds.dt.month().to_numpy()
    weekend = ds.dt.weekday().to_numpy() >= 6
    season = np.where((month >= 6) & (month <= 9), 1.8, 1.0) * np.where(month == 1, 1.4, 1.0)
    y = 100.0 * season * np.where(weekend, 1.3, 1.0) * (1 + rng.normal(0, noise, days))
    return pl.DataFrame({"unique_id": uid, "ds": ds, "y": y})


def monthly_mean(frame: pl.DataFrame, month: int) -> float:
    return float(frame.filter(pl.col("ds").dt.month() == month)["mean"].mean())  # type: ignore[arg-type]


def test_chosen_model_beats_seasonal_naive_on_two_years() -> None:
    result = forecast(wedding_spend("total", 730), horizon=28, n_jobs=1)
    row = result.selection.row(0, named=True)
    assert row["model"] != "SeasonalNaive"
    assert row["mase"] < 1
    assert row["mase_insample"] < row["seasonal_naive_mase_insample"]  # the same, as textbook MASE
    assert row["yearly"] is True


def test_year_ahead_forecast_shows_the_wedding_season_peak() -> None:
    result = forecast(wedding_spend("total", 730), horizon=365, n_jobs=1)
    assert result.future.height == 365
    assert monthly_mean(result.future, 7) > 1.4 * monthly_mean(result.future, 3)
    assert monthly_mean(result.future, 1) > 1.2 * monthly_mean(result.future, 3)
    assert result.selection["model"].to_list() == ["MSTL"]


def test_series_under_two_years_gets_no_yearly_seasonality() -> None:
    result = forecast(wedding_spend("young", 600), horizon=365, n_jobs=1)
    assert result.selection["yearly"].to_list() == [False]
    july, march = monthly_mean(result.future, 7), monthly_mean(result.future, 3)
    assert abs(july / march - 1) < 0.1


def test_intervals_nest_and_cover_roughly_their_level_on_held_out_days() -> None:
    held_out = 56
    full = pl.concat([wedding_spend(f"s{i}", 730 + held_out, seed=i, end=date(2026, 10, 31)) for i in range(4)])
    cut = full["ds"].max() - timedelta(days=held_out)  # type: ignore[operator]
    result = forecast(full.filter(pl.col("ds") <= cut), horizon=held_out, n_jobs=1)
    future = result.future.join(full, on=["unique_id", "ds"])
    assert future.height == 4 * held_out
    order = ["lo_99", "lo_95", "lo_80", "mean", "hi_80", "hi_95", "hi_99"]
    for inner, outer in itertools.pairwise(order):
        assert (future[inner] <= future[outer]).all(), (inner, outer)
    for level, lowest, highest in ((80, 0.65, 0.95), (95, 0.85, 1.0), (99, 0.93, 1.0)):
        inside = future.select(pl.col("y").is_between(pl.col(f"lo_{level}"), pl.col(f"hi_{level}")).mean()).item()
        assert lowest <= inside <= highest, (level, inside)


def test_missing_days_are_filled_with_zero_cost() -> None:
    history = wedding_spend("aws", 120).filter(pl.col("ds") != END - timedelta(days=10))
    late_start = wedding_spend("gcp", 30).filter(pl.col("ds") < END - timedelta(days=5))
    filled = fill_days(pl.concat([history, late_start]))
    assert filled.filter(pl.col("unique_id") == "aws").height == 120
    assert filled.filter(pl.col("ds") == END - timedelta(days=10), pl.col("unique_id") == "aws")["y"].to_list() == [0.0]
    gcp = filled.filter(pl.col("unique_id") == "gcp")
    assert (gcp.height, gcp["ds"].max()) == (30, END)
    assert gcp["y"].tail(5).to_list() == [0.0] * 5
    fitted = one_step_intervals(history, n_jobs=1)
    assert fitted.filter(pl.col("ds") == END - timedelta(days=10))["y"].to_list() == [0.0]


def test_month_and_quarter_end_are_actual_to_date_plus_remaining_forecast() -> None:
    as_of = date(2026, 11, 26)
    history = pl.DataFrame({"unique_id": "total", "ds": pl.date_range(date(2026, 10, 1), as_of, eager=True), "y": 10.0})
    rest = pl.date_range(as_of + timedelta(days=1), date(2026, 12, 31), eager=True)
    future = pl.DataFrame({"unique_id": "total", "ds": rest, "mean": 2.0, "lo_80": 1.0, "hi_80": 3.0})
    figures = {row["period"]: row for row in period_end_figures(history, future, as_of=as_of).iter_rows(named=True)}
    month, quarter = figures["month"], figures["quarter"]
    assert (month["actual_to_date"], month["forecast_rest"], month["mean"]) == (260.0, 8.0, 268.0)
    assert (month["lo_80"], month["hi_80"], month["end"]) == (264.0, 272.0, date(2026, 11, 30))
    assert (quarter["actual_to_date"], quarter["mean"], quarter["start"]) == (
        570.0,
        570.0 + 35 * 2.0,
        date(2026, 10, 1),
    )
    with pytest.raises(ValueError, match="does not cover"):
        period_end_figures(history, future.head(3), as_of=as_of)


def test_fitted_99_interval_flags_an_injected_spike_and_not_ordinary_weekends() -> None:
    spike = [END - timedelta(days=40 + d) for d in range(3)]
    history = wedding_spend("total", 730, seed=3).with_columns(
        pl.when(pl.col("ds").is_in(spike)).then(pl.col("y") * 3).otherwise(pl.col("y")).alias("y")
    )
    fitted = one_step_intervals(history, n_jobs=1)
    flagged = fitted.filter(pl.col("y") > pl.col("hi_99"))
    assert set(spike) <= set(flagged["ds"].to_list())
    weekends = fitted.filter(pl.col("ds").dt.weekday() >= 6, ~pl.col("ds").is_in(spike))
    weekend_flags = weekends.filter(pl.col("y") > pl.col("hi_99")).height
    assert weekend_flags <= 0.01 * weekends.height


def test_forecasts_of_a_shrinking_cost_are_never_negative() -> None:
    ds = pl.date_range(END - timedelta(days=179), END, eager=True)
    history = pl.DataFrame({"unique_id": "winding-down", "ds": ds, "y": np.linspace(50.0, 1.0, ds.len())})
    future = forecast(history, horizon=90, n_jobs=1).future
    assert future.select(pl.min_horizontal(pl.exclude("unique_id", "ds", "model")).min()).item() >= 0.0
    assert (future["mean"] == 0.0).any()  # the fitted trend does go below zero
