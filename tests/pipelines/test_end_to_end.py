"""The whole slice: sandbox -> export files -> Dagster assets -> serving snapshot -> API."""

from __future__ import annotations

import csv
import json
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
from control_api.settings import ApiSettings
from control_plane.security import Role
from control_plane.services.api_keys import create_key
from control_plane.services.sandbox import register_sandbox_providers
from control_plane.store.db import make_engine
from control_plane.store.migrate import upgrade
from pipelines.definitions import build_definitions
from pipelines.materialize import dagster_instance, materialize_months, register_sources
from pipelines.settings import PipelineSettings
from wedcloud.home import HomeLayout

FIRST, AS_OF = date(2026, 2, 1), date(2026, 3, 10)
CHECKS = [
    ("focus_costs", "focus_conformance"),
    ("focus_costs", "billed_cost_reconciles"),
    ("focus_costs", "no_duplicate_line_items"),
    ("cost_daily", "cost_daily_matches_line_items"),
    ("cost_detail_daily", "cost_detail_daily_matches_line_items"),
    ("serving", "snapshot_matches_warehouse"),
]


def export_totals(exports_dir: Path) -> dict[tuple[date, str], Decimal]:
    """Each flavour's export files summed by month and currency with their own cost columns,
    read with pyarrow, csv and json and added in Python Decimal: independent of DuckDB."""
    totals: dict[tuple[date, str], Decimal] = defaultdict(Decimal)
    for export in list_exports(exports_dir, FlavourKey.AWS):
        table = pq.read_table(export.path, columns=["line_item_unblended_cost", "line_item_currency_code"])
        for cost, currency in zip(*(table.column(i).to_pylist() for i in range(2)), strict=True):
            totals[(export.billing_period, currency)] += Decimal(repr(cost))
    for export in list_exports(exports_dir, FlavourKey.AZURE):
        with open(export.path, encoding="utf-8-sig", newline="") as handle:
            for row in csv.DictReader(handle):
                totals[(export.billing_period, row["BillingCurrencyCode"])] += Decimal(row["CostInBillingCurrency"])
    for export in list_exports(exports_dir, FlavourKey.GCP):
        for line in export.path.read_text().splitlines():
            row = json.loads(line, parse_float=Decimal)
            credits = sum((c["amount"] for c in row["credits"]), Decimal(0))
            totals[(export.billing_period, row["currency"])] += row["cost"] + credits
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
    with Session(engine) as session, session.begin():
        names = [str(provider.id) for provider in register_sandbox_providers(session)]  # partition keys
    defs = build_definitions(PipelineSettings(home=layout.root, billing_start=FIRST))

    with dagster_instance(layout.dagster_home) as instance:
        register_sources(instance, names)
        materialize_months(defs, instance, [FIRST, date(2026, 3, 1)])
        for asset, check in CHECKS:
            history = instance.event_log_storage.get_asset_check_execution_history(
                dg.AssetCheckKey(dg.AssetKey(asset), check), limit=1000
            )
            statuses = Counter(record.status.value for record in history)
            assert set(statuses) == {"SUCCEEDED"}, (check, statuses)
        assert len(instance.get_materialized_partitions(dg.AssetKey("focus_costs"))) == 6  # 3 sources x 2 months
        # February is complete; March stops on the 9th, months ago by the real clock: a (non-blocking) warning
        freshness = instance.event_log_storage.get_asset_check_execution_history(
            dg.AssetCheckKey(dg.AssetKey("focus_costs"), "billing_is_fresh"), limit=100
        )
        by_month = {(r.partition or "")[:7]: r.status.value for r in freshness}
        assert by_month == {"2026-02": "SUCCEEDED", "2026-03": "FAILED"}

    with Session(engine) as session, session.begin():
        _, key = create_key(session, name="e2e", role=Role.VIEWER)
    expected = export_totals(layout.exports)
    with TestClient(create_app(ApiSettings(home=layout.root))) as client:
        response = client.get("/api/cloud/costs/overview", headers={"X-API-Key": key})
    assert response.status_code == 200, response.text
    overview = response.json()
    assert overview["data_through"] == "2026-03-09"
    march, february = date(2026, 3, 1), date(2026, 2, 1)
    assert overview["month_to_date"] == {
        "start": "2026-03-01",
        "end": "2026-03-09",
        "totals": [
            {"currency": "GBP", "amount": format_amount(expected[(march, "GBP")])},
            {"currency": "USD", "amount": format_amount(expected[(march, "USD")])},
        ],
    }
    assert overview["last_month"]["totals"] == [
        {"currency": "GBP", "amount": format_amount(expected[(february, "GBP")])},
        {"currency": "USD", "amount": format_amount(expected[(february, "USD")])},
    ]
    assert {(p["provider"], p["currency"]) for p in overview["by_provider"]} == {
        ("AWS", "USD"),
        ("Microsoft", "GBP"),
        ("Google Cloud", "USD"),
    }
    engine.dispose()
