"""Daily cost aggregates derived from ``focus_costs``."""

import dagster as dg

from analytics.warehouse import rebuild_cost_daily_sql
from assets.billing import OWNERS, partition_window
from assets.checks import per_partition
from pipelines.resources import WarehouseResource


def build_cost_daily_asset(partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
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
        start, end = partition_window(context)
        with warehouse.connect() as con:
            con.execute("BEGIN TRANSACTION")
            con.execute("DELETE FROM cost_daily WHERE ChargeDate >= $1 AND ChargeDate < $2", [start.date(), end.date()])
            con.execute(rebuild_cost_daily_sql(), [start, end])
            con.execute("COMMIT")
            (rows,) = con.execute(
                "SELECT count(*) FROM cost_daily WHERE ChargeDate >= $1 AND ChargeDate < $2", [start.date(), end.date()]
            ).fetchall()[0]
        return dg.MaterializeResult(metadata={"dagster/row_count": rows})

    return cost_daily


def build_cost_daily_checks(partitions: dg.PartitionsDefinition) -> list[dg.AssetChecksDefinition]:
    @dg.asset_check(
        asset="cost_daily",
        name="cost_daily_matches_line_items",
        partitions_def=partitions,
        blocking=True,
        description="Each day's aggregate adds up to exactly the line items it was built from, per currency.",
    )
    def cost_daily_matches_line_items(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource):  # type: ignore[no-untyped-def]
        start, end = partition_window(context)
        with warehouse.connect() as con:
            rows = con.execute(
                """
                WITH lines AS (
                    SELECT CAST(ChargePeriodStart AS DATE) AS day, BillingCurrency AS currency,
                           sum(BilledCost) AS billed, count(*) AS n
                    FROM focus_costs WHERE ChargePeriodStart >= $1 AND ChargePeriodStart < $2 GROUP BY ALL),
                daily AS (
                    SELECT ChargeDate AS day, BillingCurrency AS currency,
                           sum(BilledCost) AS billed, sum(LineItems) AS n
                    FROM cost_daily WHERE ChargeDate >= $3 AND ChargeDate < $4 GROUP BY ALL)
                SELECT coalesce(l.day, d.day), coalesce(l.currency, d.currency), l.billed, d.billed, l.n, d.n
                FROM lines l FULL OUTER JOIN daily d USING (day, currency)
                """,
                [start, end, start.date(), end.date()],
            ).fetchall()
        by_day: dict[str, list[dict[str, object]]] = {}
        for day, currency, line_billed, daily_billed, line_n, daily_n in rows:
            if line_billed != daily_billed or line_n != daily_n:
                by_day.setdefault(day.isoformat(), []).append(
                    {"currency": currency, "line_items": str(line_billed), "cost_daily": str(daily_billed)}
                )
        results = {key: (key not in by_day, {"differences": by_day.get(key, [])}) for key in context.partition_keys}
        yield from per_partition("cost_daily", "cost_daily_matches_line_items", results)

    return [cost_daily_matches_line_items]
