"""Billing ingestion: each provider's bills -> FOCUS 1.2 line items in ``focus_costs``.

Partitioned by billing source (a registered provider) and month. A run replaces each of its
partitions whole, as one Parquet file of the lake (``load_partition``,
``analytics.ingest.normalise_partition``): re-running a month never duplicates it, and a
restated month is reloaded by the ``billing_exports`` sensor when its files change. Neither
the asset nor its checks open the warehouse, so they are in no pool: partitions can be
normalised by several workers at once; ``focus_costs`` in the warehouse is a view of the lake.
"""

from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg

from analytics.focus.normalise import open_source
from analytics.focus.schema import ALL_COLUMNS, ALLOWED_VALUES, MANDATORY_NON_NULL
from analytics.ingest import LoadedMonth, normalise_partition, reconcile_file
from analytics.lake import Lake
from analytics.money import format_amount
from assets.checks import per_partition
from assets.partitions import BillingPartition
from assets.resources import BillingSourcesResource, LakeResource

OWNERS = ["team:finops"]
FRESH_WITHIN = timedelta(hours=48)


def partitions_of(context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext) -> list[BillingPartition]:
    return [BillingPartition.parse(key) for key in context.partition_keys]


def load_partition(
    partition: BillingPartition, lake: Lake, billing_sources: BillingSourcesResource
) -> tuple[LoadedMonth, str]:
    """One partition's work, on any worker: fetch the source's files for the month, normalise
    them into the lake's partition. The month and its files' signature (what the sensor compares)."""
    source = billing_sources.source(partition.source)
    files = source.fetch(partition.month)
    signature = source.months().get(partition.month, "")
    month = normalise_partition(
        lake, source_id=partition.source, month=partition.month, files=[(f.path, f.format) for f in files]
    )
    return month, signature


def build_focus_costs_asset(partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:  # type: ignore[type-arg]
    @dg.asset(
        name="focus_costs",
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        group_name="billing",
        owners=OWNERS,
        kinds={"parquet", "aws", "azure", "gcp"},
        description=(
            "FOCUS 1.2 cost and usage line items from every provider's bills (AWS CUR, Azure cost details, "
            "Google Cloud billing export, FOCUS files), one row per provider line item. Costs are "
            "DECIMAL(38,18); times are UTC. Partitioned by billing source and month: one Parquet file each "
            "under WEDCLOUD_LAKE (focus/provider=<id>/month=<YYYY-MM>), read by the warehouse's view."
        ),
        metadata={"focus_version": "1.2", "table": "focus_costs"},
    )
    def focus_costs(
        context: dg.AssetExecutionContext, lake: LakeResource, billing_sources: BillingSourcesResource
    ) -> dg.MaterializeResult:  # type: ignore[type-arg]
        loaded: dict[str, Any] = {}
        signatures: dict[str, str] = {}
        rows = 0
        for partition in partitions_of(context):
            month, signatures[str(partition.key)] = load_partition(partition, lake.lake, billing_sources)
            rows += month.rows
            loaded[str(partition.key)] = {
                "rows": month.rows,
                "files": [f"{f.path.name} ({f.format})" for f in month.files],
                "billed_cost": {c: format_amount(a) for c, a in month.billed.items()},
                "warnings": [str(n) for f in month.files for n in f.notices],
            }
            context.log.info(f"{partition.key}: {month.rows} line items from {len(month.files)} file(s)")
            for file in month.files:
                for notice in file.notices:
                    context.log.warning(f"{partition.key}: {notice}")
        return dg.MaterializeResult(
            metadata={"dagster/row_count": rows, "partitions": loaded, "signatures": signatures}
        )

    return focus_costs


def _where() -> str:
    return "x_SourceId = $1 AND x_BillingMonth = $2"


def build_focus_costs_checks(partitions: dg.PartitionsDefinition) -> list[dg.AssetChecksDefinition]:  # type: ignore[type-arg]
    @dg.asset_check(
        asset="focus_costs",
        name="focus_conformance",
        partitions_def=partitions,
        blocking=True,
        description=(
            "FOCUS 1.2 conformance of each source-month: every column present with its type, no nulls in "
            "mandatory non-nullable columns, only allowed values in closed-list columns, charge periods "
            "that end after they start."
        ),
    )
    def focus_conformance(context: dg.AssetCheckExecutionContext, lake: LakeResource):  # type: ignore[no-untyped-def]
        results = {}
        with lake.read_line_items() as con:
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
            rules = [f"count(*) FILTER (WHERE {c} IS NULL) AS null_{c}" for c in MANDATORY_NON_NULL]
            for column, allowed in ALLOWED_VALUES.items():
                listed = ", ".join("'" + v.replace("'", "''") + "'" for v in allowed)
                rules.append(f"count(*) FILTER (WHERE {column} NOT IN ({listed})) AS invalid_{column}")
            rules.append("count(*) FILTER (WHERE ChargePeriodEnd <= ChargePeriodStart) AS inverted_periods")
            for partition in partitions_of(context):
                cursor = con.execute(
                    f"SELECT count(*) AS line_items, {', '.join(rules)} FROM focus_costs WHERE {_where()}",
                    [partition.source, partition.month],
                )
                names = [d[0] for d in cursor.description]
                counts = dict(zip(names, cursor.fetchall()[0], strict=True))
                violations = {k: int(v) for k, v in counts.items() if k != "line_items" and v}
                results[str(partition.key)] = (
                    not schema_problems and not violations,
                    {
                        "line_items": int(counts["line_items"]),
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
            "For every file of the source-month and every currency, BilledCost and EffectiveCost equal the "
            "file's own figures for them (the invoiced and the amortised cost) plus the differences with a "
            "known cause (e.g. Savings Plan covered usage without its negation line), to the last decimal."
        ),
    )
    def billed_cost_reconciles(  # type: ignore[no-untyped-def]
        context: dg.AssetCheckExecutionContext, lake: LakeResource, billing_sources: BillingSourcesResource
    ):
        results = {}
        with lake.read_line_items() as con:
            for partition in partitions_of(context):
                files = billing_sources.source(partition.source).fetch(partition.month)
                report: dict[str, Any] = {}
                mismatched = False
                for file in files:
                    source = open_source(con, file.path, file.format)
                    check = reconcile_file(con, source, source_id=partition.source, month=partition.month)
                    mismatched |= bool(check.mismatches)
                    report[file.path.name] = {
                        "metrics": {
                            m.metric: {
                                "source": {c: str(a) for c, a in m.source.items()},
                                "explained": {c: str(a) for c, a in m.explained.items()},
                                "focus": {c: str(a) for c, a in m.focus.items()},
                                "mismatches": {c: [str(a), str(b)] for c, (a, b) in m.mismatches.items()},
                            }
                            for m in check.checks
                        },
                        "explained": [notice.message for notice in check.notices],
                    }
                    for notice in check.notices:
                        context.log.info(f"{partition.key}: {notice}")
                results[str(partition.key)] = (not mismatched, {"files": report})
        yield from per_partition("focus_costs", "billed_cost_reconciles", results)

    @dg.asset_check(
        asset="focus_costs",
        name="no_duplicate_line_items",
        partitions_def=partitions,
        blocking=True,
        description="No provider line item appears twice in a source-month (same line id and charge period).",
    )
    def no_duplicate_line_items(context: dg.AssetCheckExecutionContext, lake: LakeResource):  # type: ignore[no-untyped-def]
        results = {}
        with lake.read_line_items() as con:
            for partition in partitions_of(context):
                duplicates, example = con.execute(
                    "SELECT count(*), any_value(x_SourceLineId) FROM (SELECT x_SourceLineId FROM focus_costs "
                    f"WHERE {_where()} GROUP BY x_SourceLineId, ChargePeriodStart, ChargePeriodEnd "
                    "HAVING count(*) > 1)",
                    [partition.source, partition.month],
                ).fetchall()[0]
                results[str(partition.key)] = (
                    duplicates == 0,
                    {"duplicated_line_items": duplicates, "example": example},
                )
        yield from per_partition("focus_costs", "no_duplicate_line_items", results)

    @dg.asset_check(
        asset="focus_costs",
        name="billing_is_fresh",
        partitions_def=partitions,
        blocking=False,
        description=(
            "A closed month has charges up to its last day; the open month has charges from the last "
            f"{FRESH_WITHIN.total_seconds() / 3600:.0f} hours (providers deliver bills a day or so late)."
        ),
    )
    def billing_is_fresh(context: dg.AssetCheckExecutionContext, lake: LakeResource):  # type: ignore[no-untyped-def]
        now = datetime.now(UTC)
        results = {}
        with lake.read_line_items() as con:
            for partition in partitions_of(context):
                (latest,) = con.execute(
                    f"SELECT max(ChargePeriodEnd) FROM focus_costs WHERE {_where()} AND ChargeCategory = 'Usage'",
                    [partition.source, partition.month],
                ).fetchall()[0]
                month_start = datetime(partition.month.year, partition.month.month, 1, tzinfo=UTC)
                month_end = (month_start + timedelta(days=32)).replace(day=1)
                expected = min(now - FRESH_WITHIN, month_end - timedelta(days=1))
                fresh = latest is not None and latest >= expected
                results[str(partition.key)] = (
                    fresh,
                    {
                        "latest_charge_end": latest.isoformat() if latest else "none",
                        "expected_by": expected.isoformat(),
                    },
                )
        yield from per_partition("focus_costs", "billing_is_fresh", results, severity=dg.AssetCheckSeverity.WARN)

    return [focus_conformance, billed_cost_reconciles, no_duplicate_line_items, billing_is_fresh]
