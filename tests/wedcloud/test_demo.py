"""What the demo leaves in its Dagster instance for the UI it starts: no telemetry, no
first-visit pop-up over the first page, and the daily schedules running."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
from dagster._core.definitions.run_request import InstigatorType
from dagster._core.scheduler.instigation import InstigatorStatus

from pipelines.instance import write_instance_config
from wedcloud.cli.context import CliContext
from wedcloud.cli.demo import DAILY_SCHEDULES, start_daily_schedules


def test_the_demos_instance_sends_no_telemetry_and_shows_no_community_pop_up(tmp_path: Path) -> None:
    write_instance_config(tmp_path)
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert instance.telemetry_enabled is False
        assert instance.nux_enabled is False  # the UI's "join the Dagster community" dialog


def _schedule_states(dagster_home: Path) -> dict[str, InstigatorStatus]:
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        states = instance.all_instigator_state(instigator_type=InstigatorType.SCHEDULE)
        return {state.instigator_name: state.status for state in states}


def test_the_demo_starts_the_daily_billing_inputs_and_publish_schedules_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEDCLOUD_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("WEDCLOUD_DATABASE_URL", raising=False)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "elsewhere"))  # restored after: the demo points it home
    context = CliContext()
    assert set(DAILY_SCHEDULES) == {"billing_daily_refresh", "optimisation_inputs_daily", "publish_daily"}
    assert start_daily_schedules(context) == list(DAILY_SCHEDULES)
    dagster_home = context.settings.layout.dagster_home
    assert _schedule_states(dagster_home) == dict.fromkeys(DAILY_SCHEDULES, InstigatorStatus.RUNNING)
    assert start_daily_schedules(context) == []  # a second demo finds them running
    assert _schedule_states(dagster_home) == dict.fromkeys(DAILY_SCHEDULES, InstigatorStatus.RUNNING)
