"""The Dagster code location loads and describes itself well in the UI."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import dagster as dg
import yaml

from assets.partitions import BillingPartition
from assets.pools import POOL_LIMIT, WAREHOUSE_POOL
from pipelines.definitions import build_definitions
from pipelines.materialize import dagster_instance, months_between
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
        "deployment_drift",
    }
    drift = assets.pop("deployment_drift")  # the control plane's, not the warehouse's
    assert (drift.group_name, drift.owners, "duckdb" in drift.kinds) == ("deployments", ["team:platform"], False)
    assert drift.description
    for name, node in assets.items():
        assert node.group_name in {"billing", "costs", "forecasts", "optimisation", "serving"}, name
        assert node.owners == ["team:finops"], name
        assert ("parquet" if name == "focus_costs" else "duckdb") in node.kinds, name
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
    assert {s.name for s in defs.sensors or []} == {"billing_exports", "budget_alerts", "dr_schedules", "dr_health"}
    assert {s.name for s in defs.schedules or []} == {
        "billing_daily_refresh",
        "weekly_cost_report",
        "monthly_cost_report",
        "enforce_off_hours",
        "optimisation_inputs_daily",
        "publish_daily",
        "deployment_drift_daily",
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


def _warehouse_nodes(defs: dg.Definitions) -> dict[str, str | None]:
    """Every asset and asset check that opens the warehouse, with its op's pool."""
    nodes: dict[str, str | None] = {}
    for asset in defs.assets or []:
        assert isinstance(asset, dg.AssetsDefinition)
        if "warehouse" in asset.required_resource_keys:
            nodes[asset.node_def.name] = asset.op.pool
    for check in defs.asset_checks or []:
        if "warehouse" in check.required_resource_keys:
            nodes.update({key.name: check.op.pool for key in check.check_keys})
    return nodes


def test_every_warehouse_writer_is_in_the_warehouse_pool(tmp_path: Path) -> None:
    defs = build_definitions(PipelineSettings(home=tmp_path, billing_start=date(2026, 1, 1)))
    nodes = _warehouse_nodes(defs)
    assert {"cost_daily", "cost_forecast", "optimisation", "serving", "cost_daily_matches_line_items"} <= set(nodes)
    assert "deployment_drift" not in nodes  # it never opens the warehouse
    assert {name: pool for name, pool in nodes.items() if pool != WAREHOUSE_POOL} == {}


def test_billing_normalisation_and_its_checks_use_the_lake_and_no_pool(tmp_path: Path) -> None:
    defs = build_definitions(PipelineSettings(home=tmp_path, billing_start=date(2026, 1, 1)))
    assert not {"focus_costs", "focus_conformance", "billed_cost_reconciles"} & set(_warehouse_nodes(defs))
    focus_costs = defs.resolve_assets_def("focus_costs")
    assert "lake" in focus_costs.required_resource_keys
    assert focus_costs.op.pool is None  # partitions are normalised by as many workers as run them
    checks = [c for c in defs.asset_checks or [] if any(k.asset_key.path == ["focus_costs"] for k in c.check_keys)]
    assert len(checks) == 4
    assert all("lake" in c.required_resource_keys and c.op.pool is None for c in checks)


def test_the_instance_gives_each_pool_one_slot_and_keeps_other_settings(tmp_path: Path) -> None:
    home = tmp_path / "dagster"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: true\nconcurrency:\n  pools:\n    default_limit: 4\n")
    with dagster_instance(home) as instance:
        assert instance.global_op_concurrency_default_limit == POOL_LIMIT == 1
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 1
    assert yaml.safe_load((home / "dagster.yaml").read_text())["telemetry"] == {"enabled": True}
