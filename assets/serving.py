"""Publish the serving snapshot the API reads (write a new file, then switch the pointer)."""

from pathlib import Path
from typing import Any

import dagster as dg
import duckdb

from assets.billing import OWNERS
from assets.pools import WAREHOUSE_POOL
from assets.resources import ServingResource, WarehouseResource
from wedcloud import snapshots

SERVED_TABLES = (
    "cost_daily", "cost_detail_daily", "cost_forecast", "cost_forecast_cumulative", "cost_forecast_models",
    "cost_anomalies", "inventory", "utilisation", "price_catalogue", "resource_rates", "commitment_usage",
)  # fmt: skip
DERIVED_TABLES = {
    # the accounts' names, so that reports say "account wedsync-dev" rather than its id
    "accounts": "SELECT DISTINCT ProviderName, BillingAccountId, BillingAccountName, SubAccountId, SubAccountName "
    "FROM focus_costs",
}


@dg.asset(
    pool=WAREHOUSE_POOL,
    name="serving",
    deps=["cost_daily", "cost_detail_daily", "cost_forecast", "cost_anomalies", "optimisation"],
    group_name="serving",
    owners=OWNERS,
    kinds={"duckdb"},
    description=(
        "An immutable DuckDB snapshot of the tables the API serves, published atomically under "
        "WEDCLOUD_HOME/serving. The API never opens the warehouse itself."
    ),
)
def serving(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, serving_target: ServingResource
) -> dg.MaterializeResult:  # type: ignore[type-arg]
    with warehouse.connect() as con:

        def build(path: Path) -> dict[str, Any]:
            con.execute(f"ATTACH '{path}' AS snapshot")
            try:
                counts = {}
                for table in SERVED_TABLES:
                    con.execute(f"CREATE TABLE snapshot.{table} AS SELECT * FROM {table} ORDER BY ALL")
                    counts[table] = con.execute(f"SELECT count(*) FROM snapshot.{table}").fetchall()[0][0]
                for table, select in DERIVED_TABLES.items():
                    con.execute(f"CREATE TABLE snapshot.{table} AS {select} ORDER BY ALL")
                (data_through,) = con.execute("SELECT max(ChargeDate) FROM cost_daily").fetchall()[0]
            finally:
                con.execute("DETACH snapshot")
            return {"row_counts": counts, "data_through": data_through.isoformat() if data_through else None}

        info = snapshots.publish(serving_target.folder, build)
    context.log.info(f"published serving snapshot {info.version}")
    return dg.MaterializeResult(
        metadata={
            "version": info.version,
            "path": str(info.path),
            "data_through": info.metadata["data_through"] or "",
            "row_counts": info.metadata["row_counts"],
        }
    )


@dg.asset_check(
    pool=WAREHOUSE_POOL,
    asset=serving,
    name="snapshot_matches_warehouse",
    description="The published snapshot opens read-only and holds exactly the warehouse's rows.",
)
def snapshot_matches_warehouse(warehouse: WarehouseResource, serving_target: ServingResource) -> dg.AssetCheckResult:
    info = snapshots.current(serving_target.folder)
    if info is None:
        return dg.AssetCheckResult(passed=False, metadata={"problem": "no snapshot published"})
    differences = {}
    with duckdb.connect(str(info.path), read_only=True) as snapshot, warehouse.connect() as con:
        for table in SERVED_TABLES:
            published = snapshot.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
            expected = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
            if published != expected:
                differences[table] = {"snapshot": published, "warehouse": expected}
    return dg.AssetCheckResult(passed=not differences, metadata={"version": info.version, "differences": differences})
