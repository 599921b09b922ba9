"""report_data on a small snapshot built here: figures equal the inserted rows summed exactly."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from analytics.reports.data import last_complete_period, period_starting, report_data
from analytics.reports.model import Budget, ReportPeriod
from analytics.reports.page import render_html
from analytics.reports.tables import render_csv
from analytics.warehouse import COST_DAILY_SQL, FORECAST_SQL

WEEK = ReportPeriod(date(2026, 11, 16), date(2026, 11, 22), "weekly")
NOW = datetime(2026, 11, 23, 6, tzinfo=UTC)
COSTS = [  # day, provider, service, currency, cost
    ("2026-11-16", "AWS", "EC2", "USD", "10.10"),
    ("2026-11-16", "AWS", "EC2", "USD", "0.005"),
    ("2026-11-17", "AWS", "EC2", "USD", "0.005"),
    ("2026-11-18", "AWS", "S3", "USD", "1.333333"),
    ("2026-11-10", "AWS", "EC2", "USD", "5"),
    ("2026-11-09", "AWS", "Lambda", "USD", "2.5"),
    ("2026-11-20", "GCP", "Compute Engine", "EUR", "7.77"),
    ("2026-11-23", "AWS", "EC2", "USD", "1000"),  # after the period
    ("2026-11-08", "AWS", "EC2", "USD", "999"),  # before the previous period
]


def _insert_costs(con: duckdb.DuckDBPyConnection, rows: list[tuple[str, str, str, str, str]]) -> None:
    for day, provider, service, currency, cost in rows:
        con.execute(
            "INSERT INTO cost_daily VALUES "
            "(?, ?, 'acct', NULL, 'Compute', ?, NULL, 'Usage', ?, ?, ?, ?, 1, 'src', NULL)",
            [date.fromisoformat(day), provider, service, currency, Decimal(cost), Decimal(cost), Decimal(cost)],
        )


def _anomaly(anomaly_id: str, value: str | None, start: str, end: str, covered_by: str | None) -> list[Any]:
    path = [{"dimension": "service", "value": "EC2", "excess": 9.5, "share": 0.9}]
    # a terminated instance: no inventory row names it, the anomaly's own resource list does
    others = [{"dimension": "ResourceId", "value": "i-0gpu", "excess": 5.0, "share": 0.5}]
    resources = [
        {
            "resource_id": "i-0gpu",
            "name": "gpu-experiment-1",
            "actual": 5.0,
            "expected": 0.0,
            "excess": 5.0,
            "share": 0.5,
        }
    ]
    return [anomaly_id, "total" if value is None else "service", value, "USD", "spike", date.fromisoformat(start),
            date.fromisoformat(end), 1, 20.0, 10.0, 10.25, date.fromisoformat(start), 10.25,
            json.dumps({"path": path, "others": others, "resources": resources}), covered_by]  # fmt: skip


def build_snapshot(path: Path, *, forecast: bool = True) -> None:
    """cost_daily with two currencies and rows on both sides of the periods; the forecast and
    anomaly tables as the forecasting assets write them."""
    with duckdb.connect(str(path)) as con:
        con.execute(COST_DAILY_SQL)
        _insert_costs(con, COSTS)
        if not forecast:
            return
        con.execute(FORECAST_SQL)
        for offset in range(40):
            day = date(2026, 11, 23) + timedelta(days=offset)
            con.execute(
                "INSERT INTO cost_forecast VALUES ('total', NULL, 'USD', ?, 'ets', 3.0, 2, 4, 1, 5, 0, 6)", [day]
            )
        con.execute("INSERT INTO cost_forecast VALUES ('total', NULL, 'USD', '2026-11-23', 'zz', 99, 9, 9, 9, 9, 9, 9)")
        con.execute(
            "INSERT INTO cost_forecast (series, value, currency, ds, model, mean) "
            "VALUES ('provider', 'AWS', 'USD', '2026-11-23', 'ets', 5)"
        )
        for row in (_anomaly("a1", None, "2026-11-15", "2026-11-16", None),
                    _anomaly("a2", "EC2", "2026-11-16", "2026-11-16", "a1"),
                    _anomaly("a3", None, "2026-11-01", "2026-11-02", None)):  # fmt: skip
            con.execute(f"INSERT INTO cost_anomalies VALUES ({', '.join('?' * 15)})", row)


@pytest.fixture
def snapshot_query(tmp_path: Path) -> Iterator[Any]:
    path = tmp_path / "snapshot.duckdb"
    build_snapshot(path)
    with duckdb.connect(str(path), read_only=True) as con:
        yield lambda sql, params: con.execute(sql, params).fetchall()


def test_spend_is_the_inserted_rows_summed_exactly_per_currency(snapshot_query: Any) -> None:
    data = report_data(snapshot_query, WEEK, generated_at=NOW)
    usd, eur = {s.currency: s for s in data.spend}["USD"], {s.currency: s for s in data.spend}["EUR"]
    assert [(r.provider, r.service, r.amount, r.previous) for r in usd.providers] == [
        ("AWS", None, Decimal("11.443333"), Decimal("7.5"))
    ]
    assert [(r.service, r.amount, r.previous) for r in usd.services] == [
        ("EC2", Decimal("10.11"), Decimal("5")),
        ("S3", Decimal("1.333333"), Decimal(0)),
        ("Lambda", Decimal(0), Decimal("2.5")),
    ]
    assert all(isinstance(r.amount, Decimal) for r in usd.services)
    assert [(r.provider, r.amount, r.previous) for r in eur.providers] == [("GCP", Decimal("7.77"), Decimal(0))]


def test_daily_series_cover_the_period_and_the_previous_one(snapshot_query: Any) -> None:
    usd = {s.currency: s for s in report_data(snapshot_query, WEEK, generated_at=NOW).spend}["USD"]
    assert usd.daily == {date(2026, 11, 16): Decimal("10.105"), date(2026, 11, 17): Decimal("0.005"),
                         date(2026, 11, 18): Decimal("1.333333")}  # fmt: skip
    assert usd.previous_daily == {date(2026, 11, 9): Decimal("2.5"), date(2026, 11, 10): Decimal("5")}


def test_the_forecast_is_the_totals_30_days_after_the_period_first_model_by_name(snapshot_query: Any) -> None:
    spend = {s.currency: s for s in report_data(snapshot_query, WEEK, generated_at=NOW).spend}
    forecast = spend["USD"].forecast
    assert len(forecast) == 30
    assert (forecast[0].day, forecast[-1].day) == (date(2026, 11, 23), date(2026, 12, 22))
    assert (forecast[0].mean, forecast[0].lo_80, forecast[0].hi_95) == (3.0, 2.0, 5.0)
    assert spend["EUR"].forecast == []


def test_anomalies_overlapping_the_period_without_those_covered_by_another(snapshot_query: Any) -> None:
    anomalies = report_data(snapshot_query, WEEK, generated_at=NOW).anomalies
    assert [(a.series, a.start, a.impact) for a in anomalies] == [("total", date(2026, 11, 15), Decimal("10.25"))]
    assert anomalies[0].explanation == (("service", "EC2", 0.9),)


def test_an_anomalys_resources_are_named_from_its_own_list_when_no_inventory_names_them(
    snapshot_query: Any,
) -> None:
    (anomaly,) = report_data(snapshot_query, WEEK, generated_at=NOW).anomalies
    assert anomaly.others == (("ResourceId", "i-0gpu", 0.5),)
    assert anomaly.names == {"i-0gpu": "gpu-experiment-1"}


def test_without_forecast_tables_the_report_has_no_forecast_nor_anomalies(tmp_path: Path) -> None:
    build_snapshot(tmp_path / "old.duckdb", forecast=False)
    with duckdb.connect(str(tmp_path / "old.duckdb"), read_only=True) as con:
        data = report_data(lambda sql, params: con.execute(sql, params).fetchall(), WEEK, generated_at=NOW)
    assert all(not s.forecast for s in data.spend)
    assert data.anomalies == []


def test_budgets_pass_through_and_the_result_renders(snapshot_query: Any) -> None:
    budget = Budget("Platform", "USD", Decimal(100), Decimal("11.44"), Decimal(40))
    data = report_data(snapshot_query, WEEK, generated_at=NOW, budgets=[budget])
    assert data.budgets == [budget]
    assert "usd_spend_by_service.csv" in render_csv(data)
    assert "Platform" in render_html(data)


def test_periods_last_complete_and_starting() -> None:
    assert last_complete_period("weekly", date(2026, 11, 23)) == WEEK  # a Monday
    assert last_complete_period("weekly", date(2026, 11, 27)) == WEEK  # a Friday
    assert last_complete_period("monthly", date(2026, 12, 1)) == ReportPeriod(
        date(2026, 11, 1), date(2026, 11, 30), "monthly"
    )
    assert period_starting("monthly", date(2024, 2, 10)) == ReportPeriod(date(2024, 2, 1), date(2024, 2, 29), "monthly")
    assert period_starting("weekly", date(2026, 11, 16)) == WEEK
