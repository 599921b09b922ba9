"""The warehouse's tables: created once, idempotently, by whoever opens it for writing.

With a lake (``analytics.lake``), ``focus_costs`` is a view over its Parquet files and the
warehouse holds only what is derived from them (the daily aggregates, forecasts,
optimisation inputs), written by one process at a time. Without one (tests, benchmarks,
``wedcloud focus``), ``focus_costs`` is a table, as it was before the lake.
"""

from __future__ import annotations

import duckdb

from analytics.focus.schema import MONEY, create_table_sql
from analytics.lake import Lake, typed_select
from analytics.optimisation.inputs import ensure_tables as ensure_optimisation_tables

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


COST_DETAIL_DAILY_SQL = f"""
CREATE TABLE IF NOT EXISTS cost_detail_daily (
    ChargeDate DATE NOT NULL,
    ProviderName VARCHAR NOT NULL,
    BillingAccountId VARCHAR NOT NULL,
    SubAccountId VARCHAR,
    ServiceCategory VARCHAR NOT NULL,
    ServiceName VARCHAR NOT NULL,
    RegionId VARCHAR,
    ResourceId VARCHAR,
    ResourceType VARCHAR,
    ChargeCategory VARCHAR NOT NULL,
    PricingCategory VARCHAR,
    BillingCurrency VARCHAR NOT NULL,
    Tags JSON,
    BilledCost {MONEY} NOT NULL,
    EffectiveCost {MONEY} NOT NULL,
    ListCost {MONEY} NOT NULL,
    LineItems BIGINT NOT NULL,
    x_SourceId VARCHAR NOT NULL,
    x_BillingMonth DATE
)
"""
"""``cost_daily`` one level down, per resource, pricing category and tag set: what breakdowns by
resource, resource type, pricing category or tag read. Larger than ``cost_daily`` (a row per
resource and day), which stays the overview's small table."""

COST_DETAIL_DIMENSIONS = (
    "ProviderName",
    "BillingAccountId",
    "SubAccountId",
    "ServiceCategory",
    "ServiceName",
    "RegionId",
    "ResourceId",
    "ResourceType",
    "ChargeCategory",
    "PricingCategory",
    "BillingCurrency",
    "Tags",
)

_BANDS = ", ".join(f"lo_{level} DOUBLE, hi_{level} DOUBLE" for level in (80, 95, 99))
FORECAST_SQL = f"""
CREATE TABLE IF NOT EXISTS cost_forecast (
    series VARCHAR NOT NULL, value VARCHAR, currency VARCHAR NOT NULL, ds DATE NOT NULL, model VARCHAR NOT NULL,
    mean DOUBLE NOT NULL, {_BANDS}
);
CREATE TABLE IF NOT EXISTS cost_forecast_cumulative (
    series VARCHAR NOT NULL, value VARCHAR, currency VARCHAR NOT NULL, ds DATE NOT NULL, mean DOUBLE NOT NULL, {_BANDS}
);
CREATE TABLE IF NOT EXISTS cost_forecast_models (
    series VARCHAR NOT NULL, value VARCHAR, currency VARCHAR NOT NULL, model VARCHAR,
    mase DOUBLE, mape DOUBLE, seasonal_naive_mape DOUBLE, mase_insample DOUBLE, seasonal_naive_mase_insample DOUBLE,
    history_days BIGINT, yearly BOOLEAN, reason VARCHAR, last_actual DATE
);
ALTER TABLE cost_forecast_models ADD COLUMN IF NOT EXISTS outlier_days BIGINT;
ALTER TABLE cost_forecast_models ADD COLUMN IF NOT EXISTS coverage_80 DOUBLE;
ALTER TABLE cost_forecast_models ADD COLUMN IF NOT EXISTS coverage_95 DOUBLE;
ALTER TABLE cost_forecast_models ADD COLUMN IF NOT EXISTS cv_coverage_80 DOUBLE;
ALTER TABLE cost_forecast_models ADD COLUMN IF NOT EXISTS cv_coverage_95 DOUBLE;
CREATE TABLE IF NOT EXISTS cost_anomalies (
    anomaly_id VARCHAR NOT NULL, series VARCHAR NOT NULL, value VARCHAR, currency VARCHAR NOT NULL,
    direction VARCHAR NOT NULL, start DATE NOT NULL, "end" DATE NOT NULL, days BIGINT NOT NULL,
    actual DOUBLE NOT NULL, expected DOUBLE NOT NULL, impact DOUBLE NOT NULL, peak_day DATE NOT NULL,
    peak_impact DOUBLE NOT NULL, explanation JSON NOT NULL, covered_by VARCHAR
);
"""
"""What the forecasting and anomaly assets write, replaced whole on each run. ``series`` is
total, provider or service and ``value`` the provider's or service's name (null for the total);
one series per billing currency, as currencies are never added together.
``cost_forecast_cumulative`` is the forecast cost from the first forecast day through ``ds``
(a month or quarter end adds it to the actual cost to date). The coverage columns of
``cost_forecast_models`` came later: ``ALTER ... IF NOT EXISTS`` adds them to older warehouses."""

AGGREGATES = {"cost_daily": COST_DAILY_DIMENSIONS, "cost_detail_daily": COST_DETAIL_DIMENSIONS}


def ensure_schema(connection: duckdb.DuckDBPyConnection, lake: Lake | None = None) -> None:
    if lake is None:
        connection.execute(create_table_sql("focus_costs"))
    else:
        lake.attach(connection)
        lake.ensure()
        move_table_to_lake(connection, lake)
        connection.execute(lake.view_sql())
    connection.execute(COST_DAILY_SQL)
    connection.execute(COST_DETAIL_DAILY_SQL)
    connection.execute(FORECAST_SQL)
    ensure_optimisation_tables(connection)


def rebuild_sql(table: str = "cost_daily") -> str:
    """Insert one daily aggregate of one source's month (``$1`` source id, ``$2`` month)."""
    dims = ", ".join(AGGREGATES[table])
    return f"""
INSERT INTO {table}
SELECT CAST(ChargePeriodStart AS DATE) AS ChargeDate, {dims},
       sum(BilledCost), sum(EffectiveCost), sum(ListCost), count(*), x_SourceId, x_BillingMonth
FROM focus_costs
WHERE x_SourceId = $1 AND x_BillingMonth = $2
GROUP BY ALL
"""


def replace_cost_daily(
    connection: duckdb.DuckDBPyConnection, *, source_id: str, month: object, table: str = "cost_daily"
) -> int:
    """Rebuild one source's month of a daily aggregate (``cost_daily`` or ``cost_detail_daily``)
    from ``focus_costs`` in one transaction; returns its rows."""
    connection.execute("BEGIN TRANSACTION")
    try:
        connection.execute(f"DELETE FROM {table} WHERE x_SourceId = $1 AND x_BillingMonth = $2", [source_id, month])
        connection.execute(rebuild_sql(table), [source_id, month])
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    rows: int = connection.execute(
        f"SELECT count(*) FROM {table} WHERE x_SourceId = $1 AND x_BillingMonth = $2", [source_id, month]
    ).fetchall()[0][0]
    return rows


def move_table_to_lake(connection: duckdb.DuckDBPyConnection, lake: Lake) -> int:
    """The upgrade step of a warehouse whose ``focus_costs`` is still a table: write each of its
    (source, month) partitions to the lake, then drop the table (the view takes its name).
    Rows loaded without a month (never by the pipeline) go with their billing period's month,
    keeping their null. Returns the rows moved; 0 when there is no such table."""
    (is_table,) = connection.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'focus_costs' AND table_type = 'BASE TABLE'"
    ).fetchall()[0]
    if not is_table:
        return 0
    partition = "coalesce(x_BillingMonth, CAST(date_trunc('month', BillingPeriodStart) AS DATE))"
    moved = 0
    for source_id, month in connection.execute(
        f"SELECT DISTINCT x_SourceId, {partition} FROM focus_costs ORDER BY ALL"
    ).fetchall():
        moved += lake.write_partition(
            connection,
            f"SELECT {typed_select()} FROM focus_costs WHERE x_SourceId = $1 AND {partition} = $2",
            source_id,
            month,
            [source_id, month],
        )
    connection.execute("DROP TABLE focus_costs")
    return moved
