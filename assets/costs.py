"""Daily cost aggregates derived from ``focus_costs``, per billing source and month."""

import dagster as dg

from analytics.warehouse import replace_cost_daily
from assets.billing import OWNERS, partitions_of
from assets.checks import per_partition
from pipelines.resources import WarehouseResource


def build_cost_daily_asset(partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:  # type: ignore[type-arg]
    @dg.asset(
        name="cost_daily",
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        deps=["focus_costs"],
        group_name="costs",
        owners=OWNERS,
        kinds={"duckdb"},
        description=(
            "Daily BilledCost, EffectiveCost and ListCost by provider, billing account, sub-account, "
            "service, region, charge category and currency: what the cost API reads."
        ),
        metadata={"table": "cost_daily"},
    )
    def cost_daily(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:  # type: ignore[type-arg]
        rows = 0
        with warehouse.connect() as con:
            for partition in partitions_of(context):
                rows += replace_cost_daily(con, source_id=partition.source, month=partition.month)
        return dg.MaterializeResult(metadata={"dagster/row_count": rows})

    return cost_daily


def build_cost_daily_checks(partitions: dg.PartitionsDefinition) -> list[dg.AssetChecksDefinition]:  # type: ignore[type-arg]
    @dg.asset_check(
        asset="cost_daily",
        name="cost_daily_matches_line_items",
        partitions_def=partitions,
        blocking=True,
        description="Each source-month's aggregate adds up to exactly the line items it was built from, per currency.",
    )
    def cost_daily_matches_line_items(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource):  # type: ignore[no-untyped-def]
        results = {}
        with warehouse.connect() as con:
            for partition in partitions_of(context):
                rows = con.execute(
                    """
                    WITH lines AS (
                        SELECT BillingCurrency AS currency, sum(BilledCost) AS billed, count(*) AS n
                        FROM focus_costs WHERE x_SourceId = $1 AND x_BillingMonth = $2 GROUP BY ALL),
                    daily AS (
                        SELECT BillingCurrency AS currency, sum(BilledCost) AS billed, sum(LineItems) AS n
                        FROM cost_daily WHERE x_SourceId = $1 AND x_BillingMonth = $2 GROUP BY ALL)
                    SELECT coalesce(l.currency, d.currency), l.billed, d.billed, l.n, d.n
                    FROM lines l FULL OUTER JOIN daily d USING (currency)
                    """,
                    [partition.source, partition.month],
                ).fetchall()
                differences = [
                    {"currency": c, "line_items": str(lb), "cost_daily": str(db)}
                    for c, lb, db, ln, dn in rows
                    if lb != db or ln != dn
                ]
                results[str(partition.key)] = (not differences, {"differences": differences})
        yield from per_partition("cost_daily", "cost_daily_matches_line_items", results)

    return [cost_daily_matches_line_items]
