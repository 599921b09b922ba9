"""The cost overview: periods, currencies kept apart, exact sums."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import duckdb
import pytest

from analytics.overview import Money, cost_overview, previous_month, same_days_last_month
from analytics.warehouse import ensure_schema


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect()
    ensure_schema(connection)
    rows = [
        ("2026-10-31", "AWS", "EC2", "USD", "10.005"),
        ("2026-11-01", "AWS", "EC2", "USD", "1.10"),
        ("2026-11-02", "AWS", "S3", "USD", "0.20"),
        ("2026-11-02", "Microsoft", "Virtual Machines", "GBP", "3.333333"),
        ("2026-11-03", "AWS", "EC2", "USD", "0.0000000001"),
    ]
    for day, provider, service, currency, cost in rows:
        connection.execute(
            "INSERT INTO cost_daily VALUES "
            "(?, ?, 'acct', NULL, 'Compute', ?, NULL, 'Usage', ?, ?, ?, ?, 1, 'src', NULL)",
            [date.fromisoformat(day), provider, service, currency, Decimal(cost), Decimal(cost), Decimal(cost)],
        )
    yield connection
    connection.close()


def _query(con: duckdb.DuckDBPyConnection) -> Any:
    return lambda sql, params: con.execute(sql, params).fetchall()


def test_month_to_date_runs_to_the_latest_day_with_data_and_keeps_currencies_apart(
    con: duckdb.DuckDBPyConnection,
) -> None:
    overview = cost_overview(_query(con))
    assert overview.data_through == date(2026, 11, 3)
    assert (overview.month_to_date.start, overview.month_to_date.end) == (date(2026, 11, 1), date(2026, 11, 3))
    assert overview.month_to_date.totals == [
        Money("GBP", Decimal("3.3333330000")),
        Money("USD", Decimal("1.3000000001")),
    ]
    assert overview.last_month.totals == [Money("USD", Decimal("10.005"))]
    assert [(s.provider, s.currency) for s in overview.by_provider] == [("Microsoft", "GBP"), ("AWS", "USD")]


def test_as_of_moves_the_month(con: duckdb.DuckDBPyConnection) -> None:
    overview = cost_overview(_query(con), as_of=date(2026, 10, 31))
    assert overview.month_to_date.totals == [Money("USD", Decimal("10.005"))]
    assert overview.last_month.totals == []


def test_previous_month_handles_january() -> None:
    assert previous_month(date(2026, 1, 15)) == (date(2025, 12, 1), date(2025, 12, 31))


def test_month_to_date_is_compared_with_the_same_days_of_last_month(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        "INSERT INTO cost_daily VALUES ('2026-10-02', 'AWS', 'acct', NULL, 'Storage', 'S3', NULL, 'Usage', 'USD', "
        "0.80, 0.80, 0.80, 1, 'src', NULL)"
    )
    overview = cost_overview(_query(con))
    assert (overview.same_period_last_month.start, overview.same_period_last_month.end) == (
        date(2026, 10, 1), date(2026, 10, 3),
    )  # fmt: skip
    (usd,) = [c for c in overview.change if c.currency == "USD"]
    assert (usd.now, usd.before, usd.amount, usd.percent) == (
        Decimal("1.3000000001"), Decimal("0.80"), Decimal("0.5000000001"), Decimal("62.5"),
    )  # fmt: skip
    (gbp,) = [c for c in overview.change if c.currency == "GBP"]
    assert gbp.percent is None  # nothing to compare with: no percentage, not infinity


def test_the_top_movers_are_the_largest_changes_per_currency(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        "INSERT INTO cost_daily VALUES ('2026-10-02', 'AWS', 'acct', NULL, 'Storage', 'S3', NULL, 'Usage', 'USD', "
        "5, 5, 5, 1, 'src', NULL)"
    )
    movers = cost_overview(_query(con)).top_movers
    assert [(m.service, m.change.currency, m.change.amount) for m in movers] == [
        ("Virtual Machines", "GBP", Decimal("3.333333")),
        ("S3", "USD", Decimal("-4.80")),  # a fall counts as much as a rise
        ("EC2", "USD", Decimal("1.1000000001")),
    ]


def test_the_31st_compares_with_the_last_day_of_a_shorter_month() -> None:
    assert same_days_last_month(date(2026, 12, 1), date(2026, 12, 31)) == (date(2026, 11, 1), date(2026, 11, 30))
