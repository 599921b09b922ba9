"""The ``cost_report`` job and its weekly and monthly schedules.

A report is written by an op job rather than an asset: it is a stored document with its own
id (the API lists and serves every one made, scheduled or on demand), not a table that a
rerun replaces, and one job serves both kinds. The schedule names the period in the run
config and in the run key, so a tick makes its report once however often it is evaluated;
the run reads the *current* serving snapshot, as the API does, never the warehouse.
"""

# No `from __future__ import annotations`: Dagster reads the op's config annotation as a class.
from datetime import UTC, date, datetime
from typing import Any

import dagster as dg
from pydantic import Field
from sqlalchemy.orm import Session

from analytics.reports.data import last_complete_period, period_starting
from analytics.reports.model import Kind, ReportPeriod
from control_plane.services.reports import has_report, reports_dir, snapshot_query, write_report
from control_plane.store.db import make_engine
from pipelines.settings import PipelineSettings
from wedcloud import snapshots

JOB_NAME = "cost_report"
CRONS: dict[Kind, str] = {"weekly": "0 6 * * 1", "monthly": "0 6 1 * *"}
_UNITS: dict[Kind, str] = {"weekly": "week (Monday to Sunday)", "monthly": "month"}


class ReportConfig(dg.Config):
    kind: str = Field(description="weekly or monthly")
    start: str = Field(description="First day of the period (ISO date)")


def run_config(period: ReportPeriod) -> dg.RunConfig:
    return dg.RunConfig(ops={"write_cost_report": ReportConfig(kind=period.kind, start=period.start.isoformat())})


def period_for_tick(kind: Kind, tick: date) -> ReportPeriod:
    """The period a schedule tick reports: the last complete week or month before the tick."""
    return last_complete_period(kind, tick)


def write_period_report(
    settings: PipelineSettings, kind: Kind, period: ReportPeriod, generated_at: datetime | None = None
) -> dict[str, Any]:
    """Write the report of ``period`` from the current serving snapshot; its meta. Raises
    LookupError when no snapshot has been published yet."""
    info = snapshots.current(settings.layout.serving)
    if info is None:
        raise LookupError("no serving snapshot has been published yet: nothing to report on")
    engine = make_engine(settings.resolved_database_url)
    try:
        with snapshot_query(info.path) as query, Session(engine) as session:
            return write_report(reports_dir(settings.layout.root), query, session, kind=kind, period=period,
                                snapshot_version=info.version, generated_at=generated_at)  # fmt: skip
    finally:
        engine.dispose()


def write_latest_reports(settings: PipelineSettings, today: date | None = None) -> list[dict[str, Any]]:
    """The last complete week's and month's reports, unless they were written already: what the
    schedules would have made on their last tick. The demo calls it on start, because a demo
    started on any day but a Monday or the 1st would otherwise show no scheduled report. Returns
    the metas of the reports written (none when both exist)."""
    now = settings.now or datetime.now(UTC)
    today = today or now.date()
    written = []
    for kind in CRONS:
        period = period_for_tick(kind, today)
        if has_report(reports_dir(settings.layout.root), kind, period.start):
            continue
        written.append(write_period_report(settings, kind, period, generated_at=now))
    return written


def build_report_job(settings: PipelineSettings | None = None) -> dg.JobDefinition:
    """The job, for the home and store of ``settings`` (default: the environment's)."""

    @dg.op(name="write_cost_report", description="Render the period's report from the current serving snapshot.")
    def write_cost_report(context: dg.OpExecutionContext, config: ReportConfig) -> dg.Output[str]:
        resolved = settings or PipelineSettings()
        if config.kind not in CRONS:
            raise dg.Failure(f"kind must be weekly or monthly, not {config.kind!r}")
        kind: Kind = "weekly" if config.kind == "weekly" else "monthly"
        period = period_starting(kind, date.fromisoformat(config.start))
        try:
            meta = write_period_report(resolved, kind, period)
        except LookupError as exc:
            raise dg.Failure(str(exc)) from None
        context.log.info(f"report {meta['id']} written ({len(meta['files'])} files)")
        return dg.Output(meta["id"], metadata={"report_id": meta["id"], "snapshot_version": meta["snapshot_version"]})

    @dg.job(name=JOB_NAME, description="Write a weekly or monthly cost report (HTML with charts, CSV per table).")
    def cost_report() -> None:
        write_cost_report()

    return cost_report


def _schedule(job: dg.JobDefinition, kind: Kind) -> dg.ScheduleDefinition:
    @dg.schedule(
        name=f"{kind}_cost_report",
        job=job,
        cron_schedule=CRONS[kind],
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=f"The {kind} cost report of the last complete {_UNITS[kind]}.",
    )
    def report_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        period = period_for_tick(kind, context.scheduled_execution_time.date())
        return dg.RunRequest(run_key=f"{kind}-{period.start.isoformat()}", run_config=run_config(period))

    return report_schedule


def build_report_schedules(job: dg.JobDefinition) -> list[dg.ScheduleDefinition]:
    """Monday 06:00 UTC for the week before; the 1st 06:00 UTC for the month before."""
    return [_schedule(job, "weekly"), _schedule(job, "monthly")]
