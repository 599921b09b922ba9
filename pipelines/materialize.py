"""Materialize the billing history in process, a month per run, then publish a snapshot.

Used by ``wedcloud materialize`` and the demo. Each month is one run of the
``billing_refresh`` job over that month's daily partitions (the way a single-run backfill
from the UI runs), so the Dagster UI shows every run, materialization and check result.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import dagster as dg

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
# In-process runs log every event to the console at DEBUG; the UI keeps the full event log.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@dataclass(frozen=True)
class Chunk:
    first: date
    last: date  # inclusive

    @property
    def label(self) -> str:
        return f"{self.first:%Y-%m-%d} .. {self.last:%Y-%m-%d}"


def month_chunks(first: date, last: date) -> list[Chunk]:
    """Calendar-month pieces of the inclusive day range [first, last]."""
    chunks = []
    cursor = first
    while cursor <= last:
        next_month = date(cursor.year + cursor.month // 12, cursor.month % 12 + 1, 1)
        chunks.append(Chunk(cursor, min(last, next_month - timedelta(days=1))))
        cursor = next_month
    return chunks


def dagster_instance(dagster_home: Path) -> dg.DagsterInstance:
    """The persistent instance under WEDCLOUD_HOME, which the UI started later also reads."""
    dagster_home.mkdir(parents=True, exist_ok=True)
    config = dagster_home / "dagster.yaml"
    if not config.exists():
        config.write_text("telemetry:\n  enabled: false\n")
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    return dg.DagsterInstance.get()


class MaterializationFailed(RuntimeError):
    pass


def materialize_history(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    first: date,
    last: date,
    *,
    on_progress: Callable[[str, int, int], None] | None = None,
) -> None:
    """Ingest and aggregate every day in [first, last], then publish the serving snapshot."""
    chunks = month_chunks(first, last)
    total = len(chunks) + 1
    billing = defs.resolve_job_def("billing_refresh")
    for done, chunk in enumerate(chunks):
        if on_progress:
            on_progress(f"billing {chunk.label}", done, total)
        result = billing.execute_in_process(
            instance=instance,
            run_config=QUIET,
            tags={RANGE_START_TAG: chunk.first.isoformat(), RANGE_END_TAG: chunk.last.isoformat()},
            raise_on_error=False,
        )
        if not result.success:
            raise MaterializationFailed(f"billing_refresh failed for {chunk.label} (run {result.run_id})")
    if on_progress:
        on_progress("publishing the serving snapshot", len(chunks), total)
    result = defs.resolve_job_def("publish_serving_snapshot").execute_in_process(
        instance=instance, run_config=QUIET, raise_on_error=False
    )
    if not result.success:
        raise MaterializationFailed(f"publish_serving_snapshot failed (run {result.run_id})")
    if on_progress:
        on_progress("done", total, total)
