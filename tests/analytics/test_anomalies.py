"""Cost anomalies: detection from forecast intervals, and the drill-down that explains them."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from analytics.anomalies import (
    ANOMALY_SCHEMA,
    MAX_EPISODE_DAYS,
    Contribution,
    contributing_resources,
    detect,
    explain,
    weekday_expectation,
)
from analytics.forecast import one_step_intervals

FIRST_DAY = date(2026, 10, 1)
SPIKE_START = date(2026, 11, 15)

# provider, service, account, region, resource, daily cost: a small two-cloud estate.
ESTATE = [
    ("AWS", "Amazon EC2", "dev", "eu-west-2", "dev-box-1", 20.0),
    ("AWS", "Amazon EC2", "dev", "us-east-1", "dev-box-2", 15.0),
    ("AWS", "Amazon EC2", "prod", "eu-west-2", "web-1", 80.0),
    ("AWS", "Amazon S3", "prod", "eu-west-2", "bucket-logs", 10.0),
    ("AWS", "Amazon S3", "dev", "eu-west-2", "bucket-scratch", 5.0),
    ("Google", "Compute Engine", "proj-a", "europe-west2", "vm-1", 60.0),
    ("Google", "Cloud Storage", "proj-a", "europe-west2", "bucket-a", 8.0),
]
DETAIL_COLUMNS = ["ProviderName", "ServiceName", "BillingAccountId", "SubAccountId", "RegionId", "ResourceId", "cost"]
PAYER = "payer"  # one billing account above every account, as an AWS organisation has


def _intervals(
    costs: list[float], *, unique_id: str = "total", mean: float = 100.0, band: float = 10.0
) -> pl.DataFrame:
    """One series of daily costs from FIRST_DAY with a constant mean and interval mean ± band."""
    return pl.DataFrame(
        {
            "unique_id": [unique_id] * len(costs),
            "ds": [FIRST_DAY + timedelta(days=i) for i in range(len(costs))],
            "y": costs,
            "mean": [mean] * len(costs),
            "lo_99": [mean - band] * len(costs),
            "hi_99": [mean + band] * len(costs),
        },
        schema_overrides={"ds": pl.Date},
    )


def _detail(extra: list[tuple[str, str, str, str, str, float]], *, days: int = 3) -> pl.DataFrame:
    """ESTATE every day of a 28-day baseline and ``days`` anomaly days, plus ``extra`` on the anomaly days."""
    rows: list[tuple[object, ...]] = []
    for offset in range(-28, days):
        day = SPIKE_START + timedelta(days=offset)
        todays = ESTATE + extra if offset >= 0 else ESTATE
        rows.extend((day, *row[:2], PAYER, *row[2:]) for row in todays)
    return pl.DataFrame(rows, schema=["ChargeDate", *DETAIL_COLUMNS], orient="row").with_columns(
        pl.col("ChargeDate").cast(pl.Date)
    )


def _spike(days: int = 3) -> dict[str, object]:
    return {"start": SPIKE_START, "end": SPIKE_START + timedelta(days=days - 1), "direction": "spike"}


def _path(contributions: list[Contribution]) -> list[tuple[str, str | None]]:
    return [(c.dimension, c.value) for c in contributions if c.in_path]


# detect


def test_three_consecutive_spike_days_are_one_anomaly_of_three_days() -> None:
    found = detect(_intervals([100.0] * 10 + [400.0] * 3 + [100.0] * 5), min_abs=50, min_rel=0.2)

    assert found.height == 1
    row = found.row(0, named=True)
    assert row["direction"] == "spike"
    assert (row["start"], row["end"], row["days"]) == (date(2026, 10, 11), date(2026, 10, 13), 3)
    assert row["impact"] == pytest.approx(900.0)
    assert (row["actual"], row["expected"]) == (pytest.approx(1200.0), pytest.approx(300.0))


def test_peak_day_is_the_day_furthest_from_the_mean() -> None:
    found = detect(_intervals([100.0] * 5 + [300.0, 500.0, 200.0]), min_abs=50, min_rel=0.2)

    assert found.row(0, named=True)["peak_day"] == date(2026, 10, 7)
    assert found.row(0, named=True)["peak_impact"] == pytest.approx(400.0)


def test_spike_below_the_absolute_minimum_is_not_an_anomaly() -> None:
    intervals = _intervals([100.0] * 5 + [140.0])  # outside the interval, 40% over, but only 40 in money

    assert detect(intervals, min_abs=50, min_rel=0.2).is_empty()
    assert detect(intervals, min_abs=40, min_rel=0.2).height == 1


def test_spike_below_the_relative_minimum_is_not_an_anomaly() -> None:
    intervals = _intervals([1000.0] * 5 + [1100.0], mean=1000.0, band=20.0)  # 100 over, but only 10%

    assert detect(intervals, min_abs=50, min_rel=0.2).is_empty()
    assert detect(intervals, min_abs=50, min_rel=0.1).height == 1


def test_drop_below_the_interval_is_flagged_as_a_drop() -> None:
    found = detect(_intervals([100.0] * 5 + [20.0, 10.0]), min_abs=50, min_rel=0.2)

    assert found.height == 1
    row = found.row(0, named=True)
    assert (row["direction"], row["days"]) == ("drop", 2)
    assert row["impact"] == pytest.approx(-170.0)
    assert row["peak_day"] == date(2026, 10, 7)


def test_large_deviation_inside_a_wide_interval_is_not_flagged() -> None:
    intervals = _intervals([100.0, 350.0, 20.0, 390.0], band=300.0)  # big moves, all within mean ± 300

    assert detect(intervals, min_abs=50, min_rel=0.2).is_empty()


def test_nothing_found_is_an_empty_frame_with_the_anomaly_columns() -> None:
    found = detect(_intervals([100.0] * 5), min_abs=50, min_rel=0.2)

    assert found.is_empty()
    assert found.schema == pl.Schema(ANOMALY_SCHEMA)


def test_an_ordinary_day_between_spikes_makes_two_anomalies() -> None:
    found = detect(_intervals([100.0, 400.0, 400.0, 100.0, 400.0]), min_abs=50, min_rel=0.2)

    assert found["days"].to_list() == [2, 1]
    assert found["anomaly_id"].n_unique() == 2


def test_a_spike_straight_into_a_drop_is_two_anomalies() -> None:
    found = detect(_intervals([100.0, 400.0, 10.0]), min_abs=50, min_rel=0.2)

    assert found["direction"].to_list() == ["spike", "drop"]


def test_days_without_an_interval_are_not_judged() -> None:
    intervals = _intervals([100.0, 400.0, 400.0]).with_columns(
        hi_99=pl.when(pl.col("ds") == FIRST_DAY + timedelta(days=1)).then(None).otherwise(pl.col("hi_99"))
    )

    found = detect(intervals, min_abs=50, min_rel=0.2)

    assert found["start"].to_list() == [FIRST_DAY + timedelta(days=2)]


def test_anomaly_id_is_stable_across_runs_and_differs_between_series() -> None:
    costs = [100.0] * 5 + [400.0] * 3
    intervals = pl.concat([_intervals(costs, unique_id="total"), _intervals(costs, unique_id="provider=AWS")])

    first = detect(intervals, min_abs=50, min_rel=0.2).sort("unique_id")
    second = detect(intervals, min_abs=50, min_rel=0.2).sort("unique_id")

    assert first["anomaly_id"].to_list() == second["anomaly_id"].to_list()
    assert first["anomaly_id"].n_unique() == 2


def test_anomaly_that_grows_by_a_day_keeps_its_id() -> None:
    before = detect(_intervals([100.0] * 5 + [400.0] * 2), min_abs=50, min_rel=0.2)
    after = detect(_intervals([100.0] * 5 + [400.0] * 3), min_abs=50, min_rel=0.2)

    assert after["days"].to_list() == [3]
    assert after["anomaly_id"].to_list() == before["anomaly_id"].to_list()


def test_missing_interval_column_is_refused() -> None:
    with pytest.raises(ValueError, match="hi_99"):
        detect(_intervals([100.0]).drop("hi_99"), min_abs=50, min_rel=0.2)


# explain

GPUS = [("AWS", "Amazon EC2", "dev", "eu-west-2", f"gpu-experiment-{i}", 73.44) for i in range(4)]


def test_gpu_spike_is_explained_by_its_provider_service_and_account() -> None:
    detail = _detail([*GPUS, ("Google", "Compute Engine", "proj-a", "europe-west2", "vm-2", 10.0)])
    totals = detail.group_by("ChargeDate").agg(pl.col("cost").sum()).sort("ChargeDate")
    intervals = totals.select(
        unique_id=pl.lit("total"), ds="ChargeDate", y="cost", mean=pl.lit(198.0), lo_99=190.0, hi_99=206.0
    )
    anomaly = detect(intervals, min_abs=50, min_rel=0.2).row(0, named=True)

    contributions = explain(anomaly, detail, top=10)

    path = [c for c in contributions if c.in_path]
    assert _path(contributions)[:4] == [
        ("ProviderName", "AWS"),
        ("ServiceName", "Amazon EC2"),
        ("BillingAccountId", PAYER),
        ("SubAccountId", "dev"),
    ]
    assert path[0].excess == pytest.approx(3 * 4 * 73.44)
    assert [c.share for c in path] == sorted((c.share for c in path), reverse=True)
    assert 0.9 < path[0].share <= 1.0
    others = [c for c in contributions if not c.in_path]
    assert [c.dimension for c in others].count("ResourceId") == 4  # four GPUs at 25% each: the drill stopped
    assert sum(c.share for c in others) == pytest.approx(1.0)


def test_spike_spread_evenly_over_many_resources_stops_above_the_resource_level() -> None:
    spread = [("AWS", "Amazon EC2", "prod", "eu-west-2", f"worker-{i}", 30.0) for i in range(10)]

    contributions = explain(_spike(), _detail(spread), top=3)

    assert _path(contributions) == [
        ("ProviderName", "AWS"),
        ("ServiceName", "Amazon EC2"),
        ("BillingAccountId", PAYER),
        ("SubAccountId", "prod"),
        ("RegionId", "eu-west-2"),
    ]
    others = [c for c in contributions if not c.in_path]
    assert [c.dimension for c in others] == ["ResourceId"] * 3
    assert all(c.share == pytest.approx(0.1) for c in others)


def test_spike_split_between_two_services_stops_at_the_provider() -> None:
    split = [
        ("AWS", "Amazon EC2", "prod", "eu-west-2", "batch-1", 100.0),
        ("AWS", "Amazon S3", "prod", "eu-west-2", "bucket-exports", 100.0),
    ]

    contributions = explain(_spike(), _detail(split))

    assert _path(contributions) == [("ProviderName", "AWS")]
    assert {c.value for c in contributions if not c.in_path} == {"Amazon EC2", "Amazon S3"}


def test_drop_is_explained_by_the_value_that_fell() -> None:
    detail = _detail([]).filter(~((pl.col("ResourceId") == "web-1") & (pl.col("ChargeDate") >= SPIKE_START)))

    contributions = explain({**_spike(), "direction": "drop"}, detail)

    assert _path(contributions) == [
        ("ProviderName", "AWS"),
        ("ServiceName", "Amazon EC2"),
        ("BillingAccountId", PAYER),
        ("SubAccountId", "prod"),
        ("RegionId", "eu-west-2"),
        ("ResourceId", "web-1"),
    ]
    assert contributions[0].excess == pytest.approx(-240.0)
    assert contributions[0].share == pytest.approx(1.0)


def test_no_excess_in_detail_explains_nothing() -> None:
    assert explain(_spike(), _detail([])) == []


def test_expected_cost_is_averaged_over_the_days_the_series_existed() -> None:
    young = _detail(GPUS).filter(pl.col("ChargeDate") >= SPIKE_START - timedelta(days=7))

    contributions = explain(_spike(), young)

    assert contributions[0].excess == pytest.approx(3 * 4 * 73.44)


def test_anomaly_window_given_as_datetimes_is_refused() -> None:
    naive = {"start": datetime(2026, 11, 15), "end": datetime(2026, 11, 17)}

    with pytest.raises(ValueError, match="dates"):
        explain(naive, _detail(GPUS))


# realistic shapes: a weekly-seasonal bill with noise, through the one-step forecaster itself

BILL_START = date(2026, 7, 1)
GPU_DAYS = [213.75, 342.0, 342.0, 128.25]  # four p3.2xlarge from 09:00 on day one to 09:00 on day four


def _bill(days: int, *, seed: int = 14) -> list[float]:
    """A total like the demo's: about 240 on weekdays and 265 at weekends, a slow drift, 1% noise."""
    rng = np.random.default_rng(seed)
    weekly = {0: 235.0, 1: 236.0, 2: 238.0, 3: 241.0, 4: 248.0, 5: 267.0, 6: 257.0}
    return [
        weekly[(BILL_START + timedelta(days=i)).weekday()] * (1 + 0.0004 * i) * (1 + rng.normal(0, 0.01))
        for i in range(days)
    ]


def _one_step(costs: list[float]) -> pl.DataFrame:
    history = pl.DataFrame(
        {"unique_id": "total", "ds": [BILL_START + timedelta(days=i) for i in range(len(costs))], "y": costs},
        schema_overrides={"ds": pl.Date},
    )
    return one_step_intervals(history, n_jobs=1)


def _with(costs: list[float], first: int, extra: list[float]) -> list[float]:
    return [c + (extra[i - first] if 0 <= i - first < len(extra) else 0.0) for i, c in enumerate(costs)]


def test_a_four_day_spike_is_one_anomaly_of_four_days_with_all_its_excess() -> None:
    first = 120  # a Tuesday, as 2026-11-24 was
    costs = _with(_bill(150), first, GPU_DAYS)

    found = detect(_one_step(costs))

    assert found["direction"].to_list() == ["spike"]  # and no drop the day it ends
    row = found.row(0, named=True)
    assert (row["start"], row["end"], row["days"]) == (
        BILL_START + timedelta(days=first), BILL_START + timedelta(days=first + 3), 4,
    )  # fmt: skip
    assert abs(row["impact"] - sum(GPU_DAYS)) <= 0.05 * sum(GPU_DAYS)
    assert row["peak_day"] in (BILL_START + timedelta(days=first + 1), BILL_START + timedelta(days=first + 2))
    assert row["actual"] == pytest.approx(sum(costs[first : first + 4]))


def test_a_step_up_that_lasts_is_one_anomaly_until_the_data_ends_with_the_steps_whole_cost() -> None:
    first, days = 100, 120
    costs = _with(_bill(days), first, [90.0] * (days - first))  # a new 90-a-day workload, still running

    found = detect(_one_step(costs))

    (row,) = found.iter_rows(named=True)
    assert (row["direction"], row["start"], row["days"]) == ("spike", BILL_START + timedelta(days=first), days - first)
    assert abs(row["impact"] - 90.0 * (days - first)) <= 0.1 * 90.0 * (days - first)


def test_a_step_up_older_than_four_weeks_is_reported_for_four_weeks_and_not_again() -> None:
    first, days = 90, 150
    costs = _with(_bill(days), first, [90.0] * (days - first))

    found = detect(_one_step(costs))

    (row,) = found.iter_rows(named=True)
    assert (row["start"], row["days"]) == (BILL_START + timedelta(days=first), MAX_EPISODE_DAYS)
    assert abs(row["impact"] - 90.0 * MAX_EPISODE_DAYS) <= 0.1 * 90.0 * MAX_EPISODE_DAYS


def test_a_one_day_outlier_is_a_one_day_anomaly_of_its_size() -> None:
    costs = _with(_bill(120), 110, [400.0])

    (row,) = detect(_one_step(costs)).iter_rows(named=True)

    assert (row["start"], row["days"]) == (BILL_START + timedelta(days=110), 1)
    assert abs(row["impact"] - 400.0) <= 0.05 * 400.0


def test_a_second_spike_is_measured_against_the_days_before_the_first() -> None:
    costs = _with(_with(_bill(150), 110, GPU_DAYS), 120, [300.0, 300.0])

    found = detect(_one_step(costs))

    assert found["days"].to_list() == [4, 2]
    assert found["impact"].to_list()[1] == pytest.approx(600.0, rel=0.05)  # the first spike left out of its baseline


def test_a_saturday_is_expected_at_a_saturdays_cost() -> None:
    expect = weekday_expectation({SPIKE_START - timedelta(days=n): 100.0 + 50.0 * (n % 7 == 0) for n in range(1, 29)})

    assert expect is not None
    assert expect(SPIKE_START) == pytest.approx(150.0)  # the same weekday as the four 150s
    assert expect(SPIKE_START + timedelta(days=1)) == pytest.approx(100.0)
    assert weekday_expectation({}) is None


def _seasonal_detail(extra: list[tuple[str, str, str, str, str, float]], extra_days: list[float]) -> pl.DataFrame:
    """ESTATE with weekend-heavy web traffic over 28 days, then four days on which ``extra`` runs
    at the fractions ``extra_days`` of a full day (the GPU experiment's 15, 24, 24 and 9 hours)."""
    rows: list[tuple[object, ...]] = []
    for offset in range(-28, len(extra_days)):
        day = SPIKE_START + timedelta(days=offset)
        weekend = 1.3 if day.weekday() >= 5 else 1.0
        todays = [(*row[:5], row[5] * (weekend if row[4] == "web-1" else 1.0)) for row in ESTATE]
        if offset >= 0:
            todays += [(*row[:5], row[5] * extra_days[offset]) for row in extra]
        rows.extend((day, *row[:2], PAYER, *row[2:]) for row in todays)
    return pl.DataFrame(rows, schema=["ChargeDate", *DETAIL_COLUMNS], orient="row").with_columns(
        pl.col("ChargeDate").cast(pl.Date)
    )


def test_every_gpu_is_listed_and_no_share_is_above_the_whole() -> None:
    # web-1 is quieter on these days than its usual: moving against the spike, it made shares read over 100%
    gpus = [("AWS", "Amazon EC2", "dev", "eu-west-2", f"gpu-experiment-{i}", 85.5) for i in range(4)]
    detail = _seasonal_detail(gpus, [15 / 24, 1.0, 1.0, 9 / 24]).with_columns(
        cost=pl.when((pl.col("ResourceId") == "web-1") & (pl.col("ChargeDate") >= SPIKE_START))
        .then(pl.col("cost") - 10.0)
        .otherwise(pl.col("cost"))
    )
    anomaly = {**_spike(4)}

    contributions = explain(anomaly, detail, top=10)
    resources = contributing_resources(anomaly, detail)

    billed = 4 * 85.5 * (15 + 24 + 24 + 9) / 24
    assert [c.value for c in resources] == [f"gpu-experiment-{i}" for i in range(4)]
    assert sum(c.excess for c in resources) == pytest.approx(billed)
    assert all(0 < c.share <= 1 for c in contributions + resources)
    assert sum(c.share for c in resources) <= 1.0
    assert sum(c.share for c in contributions if not c.in_path) <= 1.0 + 1e-9
    aws = contributions[0]
    assert (aws.value, aws.excess) == ("AWS", pytest.approx(billed - 40.0))  # less web-1's four quieter days
    assert aws.share == pytest.approx((billed - 40.0) / billed)  # of the gross excess: the GPUs' alone


def test_a_weekend_anomaly_in_a_weekend_heavy_bill_counts_only_what_is_beyond_a_weekend() -> None:
    saturday = SPIKE_START + timedelta(days=(5 - SPIKE_START.weekday()) % 7)
    detail = _seasonal_detail([], [1.0] * 7).filter(pl.col("ChargeDate") <= saturday)
    detail = pl.concat([detail, pl.DataFrame(
        [(saturday, "AWS", "Amazon EC2", PAYER, "dev", "eu-west-2", "batch-1", 100.0)],
        schema=["ChargeDate", *DETAIL_COLUMNS], orient="row",
    ).with_columns(pl.col("ChargeDate").cast(pl.Date))])  # fmt: skip
    anomaly = {"start": saturday, "end": saturday, "direction": "spike"}

    contributions = explain(anomaly, detail, baseline_days=28 + (saturday - SPIKE_START).days)

    assert contributions[0].excess == pytest.approx(100.0)  # web-1's weekend rise is expected on a Saturday
