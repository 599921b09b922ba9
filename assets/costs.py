"""Daily cost aggregates derived from ``focus_costs``, per billing source and month."""

import dagster as dg

from analytics.warehouse import replace_cost_daily
from assets.billing import OWNERS, partitions_of
from assets.checks import per_partition
from assets.pools import WAREHOUSE_POOL
from assets.resources import WarehouseResource

DESCRIPTIONS = {
    "cost_daily": (
        "Daily BilledCost, EffectiveCost and ListCost by provider, billing account, sub-account, "
        "service, region, charge category and currency: what the cost API reads."
    ),
    "cost_detail_daily": (
        "Daily costs one level below cost_daily: per resource, resource type, pricing category and tag "
        "set. What cost breakdowns by resource, pricing category or tag read."
    ),
}


def build_cost_daily_assets(partitions: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:  # type: ignore[type-arg]
    """The daily aggregates of ``focus_costs``, one asset per table, rebuilt per source-month."""
    return [_daily_aggregate(partitions, table, description) for table, description in DESCRIPTIONS.items()]


def _daily_aggregate(partitions: dg.PartitionsDefinition, table: str, description: str) -> dg.AssetsDefinition:  # type: ignore[type-arg]
    @dg.asset(
        pool=WAREHOUSE_POOL,
        name=table,
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        deps=["focus_costs"],
        group_name="costs",
        owners=OWNERS,
        kinds={"duckdb"},
        description=description,
        metadata={"table": table},
    )
    def aggregate(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:  # type: ignore[type-arg]
        rows = 0
        with warehouse.connect() as con:
            for partition in partitions_of(context):
                rows += replace_cost_daily(con, source_id=partition.source, month=partition.month, table=table)
        return dg.MaterializeResult(metadata={"dagster/row_count": rows})

    return aggregate


def build_cost_daily_checks(partitions: dg.PartitionsDefinition) -> list[dg.AssetChecksDefinition]:  # type: ignore[type-arg]
    return [_matches_line_items(partitions, table) for table in DESCRIPTIONS]


def _matches_line_items(partitions: dg.PartitionsDefinition, table: str) -> dg.AssetChecksDefinition:  # type: ignore[type-arg]
    check_name = f"{table}_matches_line_items"

    @dg.asset_check(
        pool=WAREHOUSE_POOL,
        asset=table,
        name=check_name,
        partitions_def=partitions,
        blocking=True,
        description="Each source-month's aggregate adds up to exactly the line items it was built from, per currency.",
    )
    def matches_line_items(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource):  # type: ignore[no-untyped-def]
        results = {}
        with warehouse.connect() as con:
            for partition in partitions_of(context):
                rows = con.execute(
                    f"""
                    WITH lines AS (
                        SELECT BillingCurrency AS currency, sum(BilledCost) AS billed, count(*) AS n
                        FROM focus_costs WHERE x_SourceId = $1 AND x_BillingMonth = $2 GROUP BY ALL),
                    daily AS (
                        SELECT BillingCurrency AS currency, sum(BilledCost) AS billed, sum(LineItems) AS n
                        FROM {table} WHERE x_SourceId = $1 AND x_BillingMonth = $2 GROUP BY ALL)
                    SELECT coalesce(l.currency, d.currency), l.billed, d.billed, l.n, d.n
                    FROM lines l FULL OUTER JOIN daily d USING (currency)
                    """,
                    [partition.source, partition.month],
                ).fetchall()
                differences = [
                    {"currency": c, "line_items": str(lb), table: str(db)}
                    for c, lb, db, ln, dn in rows
                    if lb != db or ln != dn
                ]
                results[str(partition.key)] = (not differences, {"differences": differences})
        yield from per_partition(table, check_name, results)

    return matches_line_items
