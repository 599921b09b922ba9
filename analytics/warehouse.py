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
    LineItems BIGINT NOT NULL
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
    """Insert the daily aggregate of focus_costs for ChargePeriodStart in [$1, $2)."""
    dims = ", ".join(COST_DAILY_DIMENSIONS)
    return f"""
INSERT INTO cost_daily
SELECT CAST(ChargePeriodStart AS DATE) AS ChargeDate, {dims},
       sum(BilledCost), sum(EffectiveCost), sum(ListCost), count(*)
FROM focus_costs
WHERE ChargePeriodStart >= $1 AND ChargePeriodStart < $2
GROUP BY ALL
"""
