"""Sensors that keep the billing partitions in step with the providers and their files.

``billing_exports`` looks at every registered provider's billing source: a provider without
a partition gets one (keyed by the provider's id, so a rename changes no partition; the name is
the run's ``wedcloud/provider`` tag), the partition of a provider removed since is removed (so
the daily schedules stop asking for it), and a month whose files are new or changed since they
were last loaded (a late restatement of a closed month, or today's delivery for the open one)
is reloaded.
What was loaded is read from the last materialization's ``signatures`` metadata, so nothing
loaded already is loaded again.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import dagster as dg

from assets.partitions import MONTH_FORMAT, BillingPartition, billing_source_partitions
from assets.resources import BillingSourcesResource

PROVIDER_TAG = "wedcloud/provider"  # the provider's name, a label: partitions are keyed by its id


def _loaded_signatures(instance: dg.DagsterInstance, limit: int = 200) -> dict[str, str]:
    """Partition key -> export signature of its last load (newest materialization wins)."""
    seen: dict[str, str] = {}
    records = instance.fetch_materializations(dg.AssetKey("focus_costs"), limit=limit).records
    for record in records:  # newest first
        materialization = record.asset_materialization
        if materialization is None or materialization.partition is None:
            continue
        entry = materialization.metadata.get("signatures")
        signatures: dict[str, Any] = entry.value if entry is not None else {}  # type: ignore[assignment]
        key = str(materialization.partition)
        if key not in seen and key in signatures:
            seen[key] = str(signatures[key])
    return seen


def build_billing_exports_sensor(job: dg.UnresolvedAssetJobDefinition, start: date) -> dg.SensorDefinition:
    """``start``: the partitions' first month; a source's older months have no partition and are skipped."""

    @dg.sensor(
        name="billing_exports",
        job=job,
        minimum_interval_seconds=300,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "Adds a partition for each new provider, removes those of removed providers, and reloads every month "
            "whose bills are new or changed."
        ),
    )
    def billing_exports(
        context: dg.SensorEvaluationContext, billing_sources: BillingSourcesResource
    ) -> dg.SensorResult:
        known = set(context.instance.get_dynamic_partitions(billing_source_partitions.name or "billing_source"))
        sources = billing_sources.sources()
        names = billing_sources.labels()
        new_sources = [s.source_id for s in sources if s.source_id not in known]
        loaded = _loaded_signatures(context.instance)
        requests, too_old = [], 0
        for source in sources:
            label = {PROVIDER_TAG: names.get(source.source_id, source.source_id)}
            for month, signature in sorted(source.months().items()):
                if month < start:
                    too_old += 1
                    continue
                key = str(BillingPartition(source.source_id, month).key)
                if loaded.get(key) != signature:
                    requests.append(dg.RunRequest(run_key=f"{key}:{signature}", partition_key=key, tags=label))
        partition_requests = [billing_source_partitions.build_add_request(new_sources)] if new_sources else []
        if gone := billing_sources.unregistered(sorted(known)):  # removed providers: no run asks for them again
            partition_requests.append(billing_source_partitions.build_delete_request(gone))
        context.log.info(f"{len(new_sources)} new source(s), {len(gone)} removed, {len(requests)} month(s) to load")
        if too_old:
            context.log.warning(f"{too_old} source-month(s) before WEDCLOUD_BILLING_START ({start:%Y-%m}) skipped")
        return dg.SensorResult(run_requests=requests, dynamic_partitions_requests=partition_requests)

    return billing_exports


def build_daily_refresh_schedule(job: dg.UnresolvedAssetJobDefinition) -> dg.ScheduleDefinition:
    @dg.schedule(
        name="billing_daily_refresh",
        job=job,
        cron_schedule="0 6 * * *",
        execution_timezone="UTC",
        description="Reload every billing source's open month each morning (and last month in its first days).",
    )
    def billing_daily_refresh(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest]:
        now = context.scheduled_execution_time
        months = [now.strftime(MONTH_FORMAT)]
        if now.day <= 5:  # providers finalise last month's bill in the first days of this one
            months.append((now.replace(day=1) - timedelta(days=1)).strftime(MONTH_FORMAT))
        sources = context.instance.get_dynamic_partitions(billing_source_partitions.name or "billing_source")
        return [
            dg.RunRequest(partition_key=f"{month}|{source}", run_key=f"{month}|{source}|{now.date()}")
            for month in months
            for source in sources
        ]

    return billing_daily_refresh


def build_optimisation_inputs_schedule(job: dg.UnresolvedAssetJobDefinition) -> dg.ScheduleDefinition:
    @dg.schedule(
        name="optimisation_inputs_daily",
        job=job,
        cron_schedule="0 5 * * *",
        execution_timezone="UTC",
        description="Each morning, read every provider's inventory, new utilisation samples and price catalogue.",
    )
    def optimisation_inputs_daily(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest]:
        day = context.scheduled_execution_time.date()
        sources = context.instance.get_dynamic_partitions(billing_source_partitions.name or "billing_source")
        return [dg.RunRequest(partition_key=source, run_key=f"{source}|{day}") for source in sources]

    return optimisation_inputs_daily


def build_publish_schedule(job: dg.UnresolvedAssetJobDefinition) -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(
        name="publish_daily",
        job=job,
        cron_schedule="0 7 * * *",
        execution_timezone="UTC",
        description=(
            "After the morning's billing refresh (06:00) and optimisation inputs (05:00): forecast, find anomalies, "
            "refresh the recommendations and publish a new serving snapshot."
        ),
    )
