"""Billing ingestion: native export files -> FOCUS 1.2 line items in ``focus_costs``.

Partitioned by UTC day of ChargePeriodStart. A run over a range of days reads each export
file that covers those days once, and replaces the range whole for its source: re-running a
day never duplicates it.
"""

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import dagster as dg

from analytics.focus.normalise import focus_sql, open_source, source_totals_sql
from analytics.focus.schema import ALL_COLUMNS, ALLOWED_VALUES, MANDATORY_NON_NULL
from analytics.money import format_amount, to_cents
from assets.checks import per_partition
from clouds.base import BillingExport
from clouds.sandbox.catalog import FlavourKey
from pipelines.resources import SandboxExportsResource, WarehouseResource

SANDBOX_AWS_SOURCE = "sandbox-aws"
OWNERS = ["team:finops"]


def _month(day: date) -> date:
    return day.replace(day=1)


def exports_for_window(exports: list[BillingExport], start: datetime, end: datetime) -> list[BillingExport]:
    """The monthly export files whose billing period overlaps [start, end)."""
    if end <= start:
        return []
    first, last = _month(start.date()), _month((end - timedelta(microseconds=1)).date())
    return [e for e in exports if first <= e.billing_period <= last]


def partition_window(context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext) -> tuple[datetime, datetime]:
    window = context.partition_time_window
    return window.start.astimezone(UTC), window.end.astimezone(UTC)


def build_focus_costs_asset(partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        name="focus_costs",
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        group_name="billing",
        owners=OWNERS,
        kinds={"duckdb", "aws"},
        description=(
            "FOCUS 1.2 cost and usage line items, one row per provider line item, normalised from "
            "the sandbox's AWS CUR 2.0 export. Money is DECIMAL(38,10); times are UTC."
        ),
        metadata={"focus_version": "1.2", "table": "focus_costs"},
    )
    def focus_costs(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, sandbox_exports: SandboxExportsResource
    ) -> dg.MaterializeResult:  # type: ignore[type-arg]
        start, end = partition_window(context)
        files = exports_for_window(sandbox_exports.exports(FlavourKey.AWS), start, end)
        with warehouse.connect() as con:
            sources = [open_source(con, export.path) for export in files]
            con.execute("BEGIN TRANSACTION")
            con.execute(
                "DELETE FROM focus_costs WHERE x_SourceId = $1 AND ChargePeriodStart >= $2 AND ChargePeriodStart < $3",
                [SANDBOX_AWS_SOURCE, start, end],
            )
            for source in sources:
                rows_sql = focus_sql(source, source_id=SANDBOX_AWS_SOURCE)
                con.execute(
                    f"INSERT INTO focus_costs BY NAME SELECT * FROM ({rows_sql}) "
                    "WHERE ChargePeriodStart >= $1 AND ChargePeriodStart < $2",
                    [start, end],
                )
            con.execute("COMMIT")
            totals = con.execute(
                "SELECT BillingCurrency, sum(BilledCost), count(*) FROM focus_costs "
                "WHERE x_SourceId = $1 AND ChargePeriodStart >= $2 AND ChargePeriodStart < $3 GROUP BY ALL ORDER BY 1",
                [SANDBOX_AWS_SOURCE, start, end],
            ).fetchall()
        rows = sum(count for _, _, count in totals)
        context.log.info(
            f"focus_costs: {rows} line items for {start:%Y-%m-%d}..{end:%Y-%m-%d} from {len(files)} file(s)"
        )
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": rows,
                "billed_cost": {currency: format_amount(amount) for currency, amount, _ in totals},
                "source_files": [str(f.path) for f in files],
                "days": len(context.partition_keys),
            }
        )

    return focus_costs


def build_focus_costs_checks(partitions: dg.PartitionsDefinition) -> list[dg.AssetChecksDefinition]:
    @dg.asset_check(
        asset="focus_costs",
        name="focus_conformance",
        partitions_def=partitions,
        blocking=True,
        description=(
            "FOCUS 1.2 conformance of each day: every column present with its type, no nulls in "
            "mandatory non-nullable columns, only allowed values in closed-list columns, charge "
            "periods that end after they start."
        ),
    )
    def focus_conformance(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource):  # type: ignore[no-untyped-def]
        start, end = partition_window(context)
        with warehouse.connect() as con:
            table_types = dict(
                con.execute(
                    "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'focus_costs'"
                ).fetchall()
            )
            schema_problems = [
                f"{c.name}: expected {c.sql_type}, found {table_types.get(c.name, 'nothing')}"
                for c in ALL_COLUMNS
                if table_types.get(c.name, "").replace(" ", "") != c.sql_type.replace(" ", "")
            ]
            rules = [f"sum(CASE WHEN {c} IS NULL THEN 1 ELSE 0 END) AS null_{c}" for c in MANDATORY_NON_NULL]
            for column, allowed in ALLOWED_VALUES.items():
                listed = ", ".join("'" + v.replace("'", "''") + "'" for v in allowed)
                rules.append(f"sum(CASE WHEN {column} NOT IN ({listed}) THEN 1 ELSE 0 END) AS invalid_{column}")
            rules.append("sum(CASE WHEN ChargePeriodEnd <= ChargePeriodStart THEN 1 ELSE 0 END) AS inverted_periods")
            rows = con.execute(
                f"SELECT CAST(ChargePeriodStart AS DATE) AS day, count(*) AS line_items, {', '.join(rules)} "
                "FROM focus_costs WHERE ChargePeriodStart >= $1 AND ChargePeriodStart < $2 GROUP BY ALL",
                [start, end],
            )
            names = [d[0] for d in rows.description]
            per_day = {row[0].isoformat(): dict(zip(names[1:], row[1:], strict=True)) for row in rows.fetchall()}
        results = {}
        for key in context.partition_keys:
            counts = per_day.get(key, {"line_items": 0})
            violations = {name: int(value) for name, value in counts.items() if name != "line_items" and value}
            results[key] = (
                not schema_problems and not violations,
                {
                    "line_items": int(counts["line_items"] or 0),
                    "violations": violations,
                    "schema_problems": schema_problems,
                },
            )
        yield from per_partition("focus_costs", "focus_conformance", results)

    @dg.asset_check(
        asset="focus_costs",
        name="billed_cost_reconciles",
        partitions_def=partitions,
        blocking=True,
        description=(
            "Each day's BilledCost per currency equals the export file's own cost column "
            "(line_item_unblended_cost) for that day, to the cent."
        ),
    )
    def billed_cost_reconciles(  # type: ignore[no-untyped-def]
        context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource, sandbox_exports: SandboxExportsResource
    ):
        start, end = partition_window(context)
        files = exports_for_window(sandbox_exports.exports(FlavourKey.AWS), start, end)
        expected: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
        actual: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
        with warehouse.connect() as con:
            for export in files:
                source = open_source(con, export.path)
                for day, currency, cost, _ in con.execute(
                    f"SELECT * FROM ({source_totals_sql(source)}) WHERE day >= $1 AND day < $2",
                    [start.date(), end.date()],
                ).fetchall():
                    expected[(day.isoformat(), currency)] += cost
            for day, currency, cost in con.execute(
                "SELECT CAST(ChargePeriodStart AS DATE), BillingCurrency, sum(BilledCost) FROM focus_costs "
                "WHERE x_SourceId = $1 AND ChargePeriodStart >= $2 AND ChargePeriodStart < $3 GROUP BY ALL",
                [SANDBOX_AWS_SOURCE, start, end],
            ).fetchall():
                actual[(day.isoformat(), currency)] += cost
        results = {}
        for key in context.partition_keys:
            currencies = sorted({c for d, c in (*expected, *actual) if d == key})
            mismatches = {
                c: {"export": str(expected[(key, c)]), "focus": str(actual[(key, c)])}
                for c in currencies
                if to_cents(expected[(key, c)]) != to_cents(actual[(key, c)])
            }
            results[key] = (
                not mismatches,
                {
                    "export_total": {c: format_amount(expected[(key, c)]) for c in currencies},
                    "focus_total": {c: format_amount(actual[(key, c)]) for c in currencies},
                    "mismatches": mismatches,
                },
            )
        yield from per_partition("focus_costs", "billed_cost_reconciles", results)

    return [focus_conformance, billed_cost_reconciles]
