"""Forecast 1,000 daily cost series of 730 days, model selection included.

Generates the series once (a level per series, weekend spikes, a June-September plateau and a
January bump of random size, a slow trend, multiplicative noise, some days without charges),
then times, in this process, each ``--repeat`` times:
- baseline: SeasonalNaive(7) alone through statsforecast, 365-day horizon with 80/95/99%
  intervals, i.e. the cheapest forecast of the same series;
- forecast: ``analytics.forecast.forecast``: the rolling-origin backtest of SeasonalNaive,
  AutoETS, AutoTheta and MSTL (3 windows of 28 days), the choice per series, and the chosen
  model's 365-day forecast with the same intervals.
The anomaly asset's one-step-ahead intervals (``one_step_intervals``, a separate asset) are
timed once more per run and printed beside, outside the ratio.
Both use ``--jobs`` processes. Medians are printed, and the last line gives the ratio.

    uv run python benchmarks/forecast.py [--series 1000] [--days 730] [--repeat 3] [--jobs 2]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
from datetime import date, timedelta

import numpy as np
import polars as pl
from statsforecast import StatsForecast
from statsforecast.models import SeasonalNaive

from analytics.forecast import forecast, one_step_intervals

LEVELS = (80, 95, 99)
HORIZON = 365


def generate(series: int, days: int, seed: int = 7) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    end = date(2026, 11, 26)
    ds = pl.date_range(end - timedelta(days=days - 1), end, eager=True)
    month = ds.dt.month().to_numpy()
    weekend = ds.dt.weekday().to_numpy() >= 6
    frames = []
    for i in range(series):
        level = rng.lognormal(4, 1.5)
        season = 1 + rng.uniform(0, 1) * ((month >= 6) & (month <= 9)) + rng.uniform(0, 0.6) * (month == 1)
        weekly = 1 + rng.uniform(0, 0.5) * weekend
        trend = 1 + rng.uniform(-0.3, 0.6) * np.arange(days) / days
        y = level * season * weekly * trend * rng.lognormal(0, rng.uniform(0.02, 0.3), days)
        y[rng.random(days) < rng.uniform(0, 0.05)] = 0.0
        frames.append(pl.DataFrame({"unique_id": f"s{i:04}", "ds": ds, "y": y}))
    return pl.concat(frames)


def cpu_seconds() -> float:
    """CPU time of this process and of its finished worker processes."""
    own, workers = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + workers.ru_utime + workers.ru_stime


def baseline(history: pl.DataFrame, jobs: int) -> tuple[float, float]:
    started, cpu = time.perf_counter(), cpu_seconds()
    engine = StatsForecast(models=[SeasonalNaive(season_length=7)], freq="1d", n_jobs=jobs)
    engine.forecast(df=history, h=HORIZON, level=list(LEVELS))
    return time.perf_counter() - started, cpu_seconds() - cpu


def anomaly_intervals(history: pl.DataFrame, jobs: int) -> float:
    started = time.perf_counter()
    one_step_intervals(history, n_jobs=jobs)
    return time.perf_counter() - started


def selected(history: pl.DataFrame, jobs: int) -> tuple[float, float, pl.DataFrame]:
    started, cpu = time.perf_counter(), cpu_seconds()
    result = forecast(history, horizon=HORIZON, levels=LEVELS, n_jobs=jobs)
    return time.perf_counter() - started, cpu_seconds() - cpu, result.selection


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    history = generate(args.series, args.days)
    print(f"{args.series:,} series x {args.days} days, horizon {HORIZON}, {args.jobs} jobs", flush=True)
    times: dict[str, list[float]] = {"baseline": [], "forecast": []}
    cpu: dict[str, list[float]] = {"baseline": [], "forecast": []}
    selection = pl.DataFrame()
    intervals: list[float] = []
    for n in range(args.repeat):
        base_wall, base_cpu = baseline(history, args.jobs)
        wall, used, selection = selected(history, args.jobs)
        intervals.append(anomaly_intervals(history, args.jobs))
        for mode, seconds, cpu_used in (("baseline", base_wall, base_cpu), ("forecast", wall, used)):
            times[mode].append(seconds)
            cpu[mode].append(cpu_used)
        print(
            f"  run {n + 1} baseline {base_wall:6.2f} s (cpu {base_cpu:6.1f} s)"
            f"  forecast {wall:6.2f} s (cpu {used:6.1f} s)  anomaly intervals {intervals[-1]:5.2f} s",
            flush=True,
        )
    chosen = selection.group_by("model").agg(
        pl.len(), pl.col("mase", "mase_insample", "seasonal_naive_mase_insample").median()
    )
    for model, count, mase, insample, naive in chosen.sort("len", descending=True).iter_rows():
        print(
            f"  chosen {model}: {count} series, median MASE against seasonal naive {mase:.3f}; "
            f"textbook MASE {insample:.3f} (seasonal naive's {naive:.3f})"
        )
    base, full = statistics.median(times["baseline"]), statistics.median(times["forecast"])
    print(f"baseline SeasonalNaive alone: median {base:.2f} s, cpu {statistics.median(cpu['baseline']):.1f} s")
    print(f"forecast with model selection: median {full:.2f} s, cpu {statistics.median(cpu['forecast']):.1f} s")
    print(f"(the anomaly asset's one-step intervals of the same series: median {statistics.median(intervals):.2f} s)")
    print(f"forecast with model selection takes {full / base:.1f}x the SeasonalNaive baseline")


if __name__ == "__main__":
    main()
