"""The warehouse's tables: created once, idempotently, by whoever opens it for writing."""

from __future__ import annotations

import duckdb

from analytics.focus.schema import MONEY, create_table_sql

COST_DAILY_SQL = f"""
CREATE TABLE IF NOT EXISTS cost_daily (
    ChargeDate DATE NOT NULL,
    ProviderName VARCHAR NOT NULL,
    BillingAccountId VARCHAR NOT NULL,
    SubAccountId VARCHAR,
    ServiceCategory VARCHAR NOT NULL,
    ServiceName VARCHAR NOT NULL,
    RegionId VARCHAR,
    ChargeCategory VARCHAR NOT NULL,
    BillingCurrency VARCHAR NOT NULL,
    BilledCost {MONEY} NOT NULL,
    EffectiveCost {MONEY} NOT NULL,
    ListCost {MONEY} NOT NULL,
    LineItems BIGINT NOT NULL,
    x_SourceId VARCHAR NOT NULL,
    x_BillingMonth DATE
)
"""

COST_DAILY_DIMENSIONS = (
    "ProviderName",
    "BillingAccountId",
    "SubAccountId",
    "ServiceCategory",
    "ServiceName",
    "RegionId",
    "ChargeCategory",
    "BillingCurrency",
)


def ensure_schema(connection: duckdb.DuckDBPyConnection) -> None:
    connection.execute(create_table_sql("focus_costs"))
    connection.execute(COST_DAILY_SQL)


def rebuild_cost_daily_sql() -> str:
    """Insert the daily aggregate of one source's month (``$1`` source id, ``$2`` month)."""
    dims = ", ".join(COST_DAILY_DIMENSIONS)
    return f"""
INSERT INTO cost_daily
SELECT CAST(ChargePeriodStart AS DATE) AS ChargeDate, {dims},
       sum(BilledCost), sum(EffectiveCost), sum(ListCost), count(*), x_SourceId, x_BillingMonth
FROM focus_costs
WHERE x_SourceId = $1 AND x_BillingMonth = $2
GROUP BY ALL
"""


def replace_cost_daily(connection: duckdb.DuckDBPyConnection, *, source_id: str, month: object) -> int:
    """Rebuild one source's month of ``cost_daily`` from ``focus_costs``; returns its rows."""
    connection.execute("BEGIN TRANSACTION")
    try:
        connection.execute("DELETE FROM cost_daily WHERE x_SourceId = $1 AND x_BillingMonth = $2", [source_id, month])
        connection.execute(rebuild_cost_daily_sql(), [source_id, month])
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    rows: int = connection.execute(
        "SELECT count(*) FROM cost_daily WHERE x_SourceId = $1 AND x_BillingMonth = $2", [source_id, month]
    ).fetchall()[0][0]
    return rows
