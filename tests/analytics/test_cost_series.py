"""The series WedCloud forecasts, read from cost_daily, and the anomalies found in them:
explained from cost_detail_daily, and one incident alerting once however many series see it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal

import duckdb
import polars as pl
import pytest

from analytics.cost_series import find_anomalies, load_series, replace_table, with_keys
from analytics.warehouse import ensure_schema

START = date(2026, 9, 1)
SPIKE = (date(2026, 10, 10), date(2026, 10, 12))


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    """Six weeks of two AWS services in USD and one Azure service in GBP, every account under one
    payer; three days of GPU instances in the AWS dev account add 400 a day to EC2."""
    with duckdb.connect() as connection:
        ensure_schema(connection)
        day = START
        while day <= date(2026, 10, 15):
            rows = [
                ("AWS", "prod", "Amazon EC2", "i-web", "USD", 100),
                ("AWS", "prod", "Amazon S3", "photos", "USD", 20),
                ("Microsoft", "sub", "Virtual Machines", "vm-1", "GBP", 70),
            ]
            if SPIKE[0] <= day <= SPIKE[1]:
                rows += [("AWS", "dev", "Amazon EC2", f"i-gpu-{n}", "USD", 100) for n in range(4)]
            for provider, account, service, resource, currency, cost in rows:
                amount = Decimal(cost)
                connection.execute(
                    "INSERT INTO cost_detail_daily VALUES (?, ?, 'payer', ?, 'Compute', ?, 'eu-west-2', ?, 'VM', "
                    "'Usage', 'Standard', ?, '{}', ?, ?, ?, 1, 'src', NULL)",
                    [day, provider, account, service, resource, currency, amount, amount, amount],
                )
            day += timedelta(days=1)
        connection.execute(
            "INSERT INTO cost_daily SELECT ChargeDate, ProviderName, BillingAccountId, SubAccountId, ServiceCategory, "
            "ServiceName, RegionId, ChargeCategory, BillingCurrency, sum(BilledCost), sum(EffectiveCost), "
            "sum(ListCost), sum(LineItems), x_SourceId, x_BillingMonth FROM cost_detail_daily GROUP BY ALL"
        )
        yield connection


def test_each_level_and_currency_is_its_own_series(con: duckdb.DuckDBPyConnection) -> None:
    history, keys = load_series(con)
    named = with_keys(history, keys)
    assert sorted(named.select("series", "value", "currency").unique().rows(), key=str) == sorted([
        ("total", None, "USD"), ("total", None, "GBP"), ("provider", "AWS", "USD"), ("provider", "Microsoft", "GBP"),
        ("service", "Amazon EC2", "USD"), ("service", "Amazon S3", "USD"), ("service", "Virtual Machines", "GBP"),
    ], key=str)  # fmt: skip
    usd_total = named.filter((pl.col("series") == "total") & (pl.col("currency") == "USD"))
    assert usd_total.filter(pl.col("ds") == SPIKE[0])["y"].item() == 520.0  # never added to the GBP series


def _fitted(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Intervals as a forecaster would give them for these steady series: actual within +-10%
    of its usual level, except the spike days."""
    history, keys = load_series(con)
    usual = history.filter(~pl.col("ds").is_between(*SPIKE)).group_by("unique_id").agg(pl.col("y").median().alias("m"))
    frame = history.join(usual, on="unique_id").select(
        "unique_id", "ds", "y", pl.col("m").alias("mean"), (pl.col("m") * 0.9).alias("lo_99"),
        (pl.col("m") * 1.1).alias("hi_99"),
    )  # fmt: skip
    return with_keys(frame, keys)


def test_one_incident_is_explained_and_alerts_once_though_three_series_see_it(con: duckdb.DuckDBPyConnection) -> None:
    found = find_anomalies(con, _fitted(con), min_abs=50, min_rel=0.2)
    assert sorted(zip(found["series"], found["value"], strict=True), key=str) == sorted(
        [("total", None), ("provider", "AWS"), ("service", "Amazon EC2")], key=str
    )
    assert set(found["start"]) == {SPIKE[0]}
    assert set(found["days"]) == {3}
    (alerting,) = found.filter(pl.col("covered_by").is_null()).iter_rows(named=True)
    assert alerting["series"] == "total"
    path = [(step["dimension"], step["value"]) for step in json.loads(alerting["explanation"])["path"]]
    assert path[:4] == [
        ("ProviderName", "AWS"), ("ServiceName", "Amazon EC2"), ("BillingAccountId", "payer"), ("SubAccountId", "dev"),
    ]  # fmt: skip
    assert set(found.filter(pl.col("covered_by").is_not_null())["covered_by"]) == {alerting["anomaly_id"]}


def test_replacing_a_table_keeps_nothing_of_the_previous_run(con: duckdb.DuckDBPyConnection) -> None:
    found = find_anomalies(con, _fitted(con), min_abs=50, min_rel=0.2)
    replace_table(con, "cost_anomalies", found)
    replace_table(con, "cost_anomalies", found.head(1))
    assert con.execute("SELECT count(*) FROM cost_anomalies").fetchall() == [(1,)]
