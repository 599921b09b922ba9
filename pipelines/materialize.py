"""Materialize billing months in process, a month of all sources per run, then publish.

Used by ``wedcloud materialize`` and the demo. Each run is the ``billing_refresh`` job over one
month's partitions of every source (the way a single-run backfill from the UI runs), so the
Dagster UI shows every run, materialization and check result.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from pathlib import Path

import dagster as dg

from assets.partitions import BillingPartition, billing_source_partitions
from pipelines.instance import write_instance_config

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
# In-process runs log every event to the console at DEBUG; the UI keeps the full event log.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def dagster_instance(dagster_home: Path) -> dg.DagsterInstance:
    """The persistent instance under WEDCLOUD_HOME, which the UI started later also reads."""
    write_instance_config(dagster_home)
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    return dg.DagsterInstance.get()


# workspace.yaml's location_name and [tool.dg]'s code_location_name: the UI and the daemon find a
# schedule's state by its selector (code location, repository and schedule name)
CODE_LOCATION = "wedcloud"
PROJECT_ROOT = Path(__file__).resolve().parents[1]


def start_schedules(instance: dg.DagsterInstance, names: Sequence[str]) -> list[str]:
    """Start the named schedules in ``instance`` unless they are running: what the UI's toggle
    (or ``dagster schedule start -w workspace.yaml``) does, without a UI. The code location is
    loaded in this process under the name the UI gives it, so the UI and the daemon started
    later find the same state. Returns the schedules started."""
    # Dagster has no public API that starts a schedule without a loaded code location
    from dagster._core.remote_origin import InProcessCodeLocationOrigin
    from dagster._core.scheduler.instigation import InstigatorStatus
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

    target = LoadableTargetOrigin(
        executable_path=sys.executable, module_name="pipelines.definitions", working_directory=str(PROJECT_ROOT)
    )
    started = []
    with InProcessCodeLocationOrigin(target, location_name=CODE_LOCATION).create_location(instance) as location:
        (repository,) = location.get_repositories().values()
        for name in names:
            schedule = repository.get_schedule(name)
            state = instance.get_instigator_state(schedule.get_remote_origin_id(), schedule.selector_id)
            if state is None or state.status != InstigatorStatus.RUNNING:
                instance.start_schedule(schedule)
                started.append(name)
    return started


class MaterializationFailed(RuntimeError):
    pass


def failure_cause(result: dg.ExecuteInProcessResult) -> str:
    """The first failed step of a run and the error that failed it, on one line."""
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data is not None and event.step_failure_data.error:
            error = event.step_failure_data.error
            while error.cause is not None and error.cls_name and error.cls_name.startswith("Dagster"):
                error = error.cause  # Dagster wraps the asset's own error: name that one
            message = " ".join(error.message.split())
            return f"{event.step_key}: {message}"
    return "a step failed"


def register_sources(instance: dg.DagsterInstance, names: Sequence[str]) -> None:
    name = billing_source_partitions.name or "billing_source"
    missing = [n for n in names if not instance.has_dynamic_partition(name, n)]
    if missing:
        instance.add_dynamic_partitions(name, missing)


def forget_sources(instance: dg.DagsterInstance, keys: Sequence[str]) -> list[str]:
    """Remove the billing-source partitions ``keys`` (providers that are gone), so no run asks
    for them again; their past runs stay in the instance's history. Returns those removed."""
    name = billing_source_partitions.name or "billing_source"
    removed = [key for key in keys if instance.has_dynamic_partition(name, key)]
    for key in removed:
        instance.delete_dynamic_partition(name, key)
    return removed


def months_between(first: date, last: date) -> list[date]:
    months, cursor = [], first.replace(day=1)
    while cursor <= last:
        months.append(cursor)
        cursor = date(cursor.year + cursor.month // 12, cursor.month % 12 + 1, 1)
    return months


def materialize_months(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    months: Sequence[date],
    *,
    on_progress: Callable[[str, int, int], None] | None = None,
    labels: Mapping[str, str] | None = None,
    inputs_for: Sequence[str] | None = None,
) -> list[str]:
    """Load ``months`` of every registered billing source (one run per month: the month's
    partitions are contiguous), read each provider's optimisation inputs, then publish the
    serving snapshot (which refreshes the recommendations first).

    A failed billing or publish run raises :class:`MaterializationFailed` naming the step and
    its error. A provider whose optimisation inputs cannot be read (no credentials for its
    inventory, say) does not stop the others or the publish: the failures are returned, one
    line each, for the caller to report (and fail on). ``labels`` names sources by key;
    ``inputs_for`` limits the optimisation inputs to those sources (default: every one)."""
    named = labels or {}
    partitions = defs.resolve_assets_def("focus_costs").partitions_def
    assert partitions is not None
    keys = partitions.get_partition_keys(dynamic_partitions_store=instance)
    total = len(months) + 1
    billing = defs.resolve_job_def("billing_refresh")
    for done, month in enumerate(months):
        of_month = [k for k in keys if BillingPartition.parse(k).month == month]
        if not of_month:
            raise MaterializationFailed(f"no billing partitions for {month:%Y-%m}: register a billing source first")
        if on_progress:
            on_progress(f"billing {month:%Y-%m} ({len(of_month)} sources)", done, total)
        first, last = of_month[0], of_month[-1]
        result = billing.execute_in_process(
            instance=instance,
            run_config=QUIET,
            tags={RANGE_START_TAG: str(first), RANGE_END_TAG: str(last)},
            raise_on_error=False,
        )
        if not result.success:
            raise MaterializationFailed(
                f"billing_refresh failed for {month:%Y-%m} (run {result.run_id}): {failure_cause(result)}"
            )
    failures = []
    inputs = defs.resolve_job_def("optimisation_inputs")
    sources = instance.get_dynamic_partitions(billing_source_partitions.name or "billing_source")
    for source in [s for s in sources if inputs_for is None or s in inputs_for]:
        label = named.get(source, source)
        if on_progress:
            on_progress(f"inventory, metrics and prices of {label}", len(months), total)
        result = inputs.execute_in_process(
            instance=instance, run_config=QUIET, partition_key=source, raise_on_error=False
        )
        if not result.success:  # its bills are still published; the run in the UI has the details
            failures.append(f"optimisation inputs of {label} failed (run {result.run_id}): {failure_cause(result)}")
    if on_progress:
        on_progress("publishing the serving snapshot", len(months), total)
    result = defs.resolve_job_def("publish_serving_snapshot").execute_in_process(
        instance=instance, run_config=QUIET, raise_on_error=False
    )
    if not result.success:
        raise MaterializationFailed(f"publish_serving_snapshot failed (run {result.run_id}): {failure_cause(result)}")
    if on_progress:
        on_progress(f"done, {len(failures)} failed" if failures else "done", total, total)
    return failures
