"""The cost_report job writes a report the API can then find; the schedules pick the period."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from analytics.reports.model import ReportPeriod
from control_plane.services.reports import list_reports, read_file, reports_dir
from control_plane.store.models import Budget
from pipelines.reports import (
    build_report_job,
    build_report_schedules,
    period_for_tick,
    run_config,
    write_latest_reports,
)
from pipelines.settings import PipelineSettings
from tests.analytics.test_report_data import build_snapshot
from wedcloud import snapshots
from wedcloud.home import HomeLayout

WEEK = ReportPeriod(date(2026, 11, 16), date(2026, 11, 22), "weekly")


def _definitions(settings: PipelineSettings) -> dg.Definitions:
    job = build_report_job(settings)
    return dg.Definitions(jobs=[job], schedules=build_report_schedules(job))


@pytest.fixture
def settings(tmp_path: Path, store_url: str, engine: Engine) -> PipelineSettings:
    return PipelineSettings(home=tmp_path / "home", database_url=store_url, environment="test")


def _publish(layout: HomeLayout) -> str:
    def build(path: Path) -> dict[str, Any]:
        build_snapshot(path)
        return {}

    return snapshots.publish(layout.serving, build).version


def test_the_job_writes_a_report_with_the_budgets_that_the_listing_then_finds(
    settings: PipelineSettings, engine: Engine
) -> None:
    version = _publish(settings.layout)
    with Session(engine) as session, session.begin():
        session.add(Budget(name="Everything", scope={}, amount=Decimal(500), currency="USD", period="month"))
    job = _definitions(settings).resolve_job_def("cost_report")
    result = job.execute_in_process(run_config=run_config(WEEK))
    assert result.success
    folder = reports_dir(settings.layout.root)
    (meta,) = list_reports(folder, kind="weekly", limit=10, cursor=None).items
    assert (meta["kind"], meta["start"], meta["end"], meta["snapshot_version"]) == (
        "weekly", "2026-11-16", "2026-11-22", version,
    )  # fmt: skip
    assert meta["id"].endswith("-weekly-2026-11-16")
    # the budget as it stood on the week's last day: the 1000 USD billed on the 23rd is not in it
    budget = read_file(folder, meta["id"], "budgets.csv").splitlines()[1]
    assert budget.startswith("Everything,November 2026,22 Nov 2026,USD,500.00,1017.94,203.6%,")
    assert budget.endswith(",over by USD 517.94")
    assert "AWS,USD,11.44,7.50,3.94" in read_file(folder, meta["id"], "usd_spend_by_provider.csv")
    assert [p.name for p in folder.iterdir() if p.name.startswith(".")] == []  # no temporary folder left


def test_without_a_snapshot_the_job_fails_and_writes_nothing(settings: PipelineSettings) -> None:
    job = _definitions(settings).resolve_job_def("cost_report")
    result = job.execute_in_process(run_config=run_config(WEEK), raise_on_error=False)
    assert not result.success
    assert not reports_dir(settings.layout.root).exists()


@pytest.mark.parametrize(
    ("name", "cron", "tick", "start", "end"),
    [
        ("weekly_cost_report", "0 6 * * 1", datetime(2026, 11, 23, 6, tzinfo=UTC), "2026-11-16", "2026-11-22"),
        ("monthly_cost_report", "0 6 1 * *", datetime(2026, 12, 1, 6, tzinfo=UTC), "2026-11-01", "2026-11-30"),
        ("monthly_cost_report", "0 6 1 * *", datetime(2024, 3, 1, 6, tzinfo=UTC), "2024-02-01", "2024-02-29"),
    ],
)
def test_each_schedule_reports_the_last_complete_period_before_its_tick(
    tmp_path: Path, name: str, cron: str, tick: datetime, start: str, end: str
) -> None:
    defs = _definitions(PipelineSettings(home=tmp_path / "home"))
    schedule = defs.resolve_schedule_def(name)
    assert (schedule.cron_schedule, schedule.execution_timezone) == (cron, "UTC")
    with dg.build_schedule_context(scheduled_execution_time=tick) as context:
        (request,) = schedule.evaluate_tick(context).run_requests or []
    config = request.run_config["ops"]["write_cost_report"]["config"]
    assert config == {"kind": name.split("_")[0], "start": start}
    assert request.run_key == f"{name.split('_')[0]}-{start}"
    period = period_for_tick(config["kind"], tick.date())
    assert (period.start.isoformat(), period.end.isoformat()) == (start, end)


def test_the_latest_reports_are_written_once_for_the_last_complete_week_and_month(settings: PipelineSettings) -> None:
    _publish(settings.layout)
    wednesday = date(2026, 11, 25)
    written = write_latest_reports(settings, wednesday)
    assert sorted((m["kind"], m["start"], m["end"]) for m in written) == [
        ("monthly", "2026-10-01", "2026-10-31"),
        ("weekly", "2026-11-16", "2026-11-22"),
    ]
    assert write_latest_reports(settings, wednesday) == []  # both exist: nothing more
    (weekly,) = write_latest_reports(settings, date(2026, 11, 30))  # a new week, the same month
    assert (weekly["kind"], weekly["start"]) == ("weekly", "2026-11-23")


def test_without_a_snapshot_no_latest_report_is_written(settings: PipelineSettings) -> None:
    with pytest.raises(LookupError, match="no serving snapshot"):
        write_latest_reports(settings, date(2026, 11, 25))
    assert not reports_dir(settings.layout.root).exists()
