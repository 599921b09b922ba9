"""The whole slice: sandbox -> export files -> Dagster assets -> serving snapshot -> API."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from analytics.money import format_amount
from clouds.sandbox.catalog import FlavourKey
from clouds.sandbox.create import create_sandbox
from clouds.sandbox.exports import list_exports
from control_api.app import create_app
from control_api.security import Role
from control_api.services.api_keys import create_key
from control_api.settings import ApiSettings
from control_api.store.db import make_engine
from control_api.store.migrate import upgrade
from pipelines.definitions import build_definitions
from pipelines.materialize import dagster_instance, materialize_history
from pipelines.settings import PipelineSettings
from wedcloud.home import HomeLayout

FIRST, AS_OF = date(2026, 2, 1), date(2026, 3, 10)
CHECKS = [
    ("focus_costs", "focus_conformance"),
    ("focus_costs", "billed_cost_reconciles"),
    ("cost_daily", "cost_daily_matches_line_items"),
    ("serving", "snapshot_matches_warehouse"),
]


def export_totals_by_month(exports_dir: Path) -> dict[date, Decimal]:
    """Sum the AWS export files' own cost column, independently of DuckDB."""
    totals: dict[date, Decimal] = defaultdict(Decimal)
    for export in list_exports(exports_dir, FlavourKey.AWS):
        table = pq.read_table(export.path, columns=["line_item_unblended_cost", "line_item_currency_code"])
        assert set(table.column("line_item_currency_code").to_pylist()) == {"USD"}
        for cost in table.column("line_item_unblended_cost").to_pylist():
            totals[export.billing_period] += Decimal(repr(cost))
    return totals


@pytest.mark.slow
def test_the_overview_equals_the_sandbox_export_files_to_the_cent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout = HomeLayout(tmp_path / "home").ensure()
    monkeypatch.setenv("DAGSTER_HOME", str(layout.dagster_home))
    engine = make_engine(layout.default_database_url())
    upgrade(engine)
    create_sandbox(engine, layout.exports, seed=5, as_of=AS_OF, history_start=FIRST)
    defs = build_definitions(PipelineSettings(home=layout.root, billing_start=FIRST))

    with dagster_instance(layout.dagster_home) as instance:
        materialize_history(defs, instance, FIRST, date(2026, 3, 9))
        for asset, check in CHECKS:
            history = instance.event_log_storage.get_asset_check_execution_history(
                dg.AssetCheckKey(dg.AssetKey(asset), check), limit=1000
            )
            statuses = Counter(record.status.value for record in history)
            assert set(statuses) == {"SUCCEEDED"}, (check, statuses)
        assert len(instance.get_materialized_partitions(dg.AssetKey("focus_costs"))) == 37

    with Session(engine) as session, session.begin():
        _, key = create_key(session, name="e2e", role=Role.VIEWER)
    expected = export_totals_by_month(layout.exports)
    with TestClient(create_app(ApiSettings(home=layout.root))) as client:
        response = client.get("/api/cloud/costs/overview", headers={"X-API-Key": key})
    assert response.status_code == 200, response.text
    overview = response.json()
    assert overview["data_through"] == "2026-03-09"
    assert overview["month_to_date"] == {
        "start": "2026-03-01",
        "end": "2026-03-09",
        "totals": [{"currency": "USD", "amount": format_amount(expected[date(2026, 3, 1)])}],
    }
    assert overview["last_month"]["totals"] == [
        {"currency": "USD", "amount": format_amount(expected[date(2026, 2, 1)])}
    ]
    by_service = sum(Decimal(s["amount"]) for s in overview["by_service"])
    assert abs(by_service - expected[date(2026, 3, 1)]) < Decimal("0.01") * len(overview["by_service"])
    assert {p["provider"] for p in overview["by_provider"]} == {"AWS"}
    engine.dispose()
