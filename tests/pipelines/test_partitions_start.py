"""The billing partitions start on a fixed month from settings, not on one computed from today."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import pytest

from assets.partitions import MONTH
from pipelines.definitions import build_definitions
from pipelines.settings import DEFAULT_BILLING_START, PipelineSettings


def month_partitions(settings: PipelineSettings) -> dg.TimeWindowPartitionsDefinition:
    partitions = build_definitions(settings).resolve_assets_def("focus_costs").partitions_def
    assert isinstance(partitions, dg.MultiPartitionsDefinition)
    (months,) = [d.partitions_def for d in partitions.partitions_defs if d.name == MONTH]
    assert isinstance(months, dg.TimeWindowPartitionsDefinition)
    return months


def test_two_different_todays_give_the_same_month_partitions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WEDCLOUD_BILLING_START", raising=False)
    months = month_partitions(PipelineSettings(home=tmp_path))
    this_spring = months.get_partition_keys(current_time=datetime(2026, 3, 15, 9, tzinfo=UTC))
    next_autumn = months.get_partition_keys(current_time=datetime(2027, 9, 2, 23, tzinfo=UTC))
    assert this_spring[0] == next_autumn[0] == DEFAULT_BILLING_START.strftime("%Y-%m")
    assert next_autumn[: len(this_spring)] == this_spring  # later days only add months at the end
    assert (this_spring[-1], next_autumn[-1]) == ("2026-03", "2027-09")  # the open month is the last
    # and a code location loaded again (another day, another process) has the same definition
    assert month_partitions(PipelineSettings(home=tmp_path)) == months


def test_the_start_comes_from_wedcloud_billing_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEDCLOUD_BILLING_START", "2022-07-19")
    settings = PipelineSettings(home=tmp_path)
    assert settings.partitions_start == date(2022, 7, 1)
    keys = month_partitions(settings).get_partition_keys(current_time=datetime(2022, 9, 1, tzinfo=UTC))
    assert keys == ["2022-07", "2022-08", "2022-09"]
