"""The Dagster code location loads and describes itself well in the UI."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import dagster as dg

from assets.partitions import BillingPartition
from pipelines.definitions import build_definitions
from pipelines.materialize import months_between
from pipelines.settings import PipelineSettings


def test_every_asset_has_a_group_an_owner_kinds_a_description_and_checks(tmp_path: Path) -> None:
    defs = build_definitions(PipelineSettings(home=tmp_path, billing_start=date(2026, 1, 1)))
    graph = defs.resolve_asset_graph()
    assets = {key.to_user_string(): graph.get(key) for key in graph.get_all_asset_keys()}
    assert set(assets) == {
        "focus_costs",
        "cost_daily",
        "cost_detail_daily",
        "cost_forecast",
        "cost_anomalies",
        "inventory",
        "utilisation",
        "price_catalogue",
        "optimisation",
        "serving",
    }
    for name, node in assets.items():
        assert node.group_name in {"billing", "costs", "forecasts", "optimisation", "serving"}, name
        assert node.owners == ["team:finops"], name
        assert "duckdb" in node.kinds, name
        assert node.description, name
    checks = {key.name for key in graph.asset_check_keys}
    assert checks == {
        "focus_conformance",
        "billed_cost_reconciles",
        "no_duplicate_line_items",
        "billing_is_fresh",
        "cost_daily_matches_line_items",
        "cost_detail_daily_matches_line_items",
        "snapshot_matches_warehouse",
    }
    partitions = assets["focus_costs"].partitions_def
    assert isinstance(partitions, dg.MultiPartitionsDefinition)
    assert {d.name for d in partitions.partitions_defs} == {"source", "month"}
    assert {s.name for s in defs.sensors or []} == {"billing_exports", "budget_alerts"}
    assert {s.name for s in defs.schedules or []} == {
        "billing_daily_refresh",
        "weekly_cost_report",
        "monthly_cost_report",
        "enforce_off_hours",
        "optimisation_inputs_daily",
        "publish_daily",
    }


def test_billing_partitions_are_source_and_month() -> None:
    partition = BillingPartition.parse("2026-02|sandbox-aws")
    assert (partition.source, partition.month) == ("sandbox-aws", date(2026, 2, 1))
    assert str(partition.key) == "2026-02|sandbox-aws"
    assert months_between(date(2025, 12, 20), date(2026, 2, 3)) == [
        date(2025, 12, 1),
        date(2026, 1, 1),
        date(2026, 2, 1),
    ]
