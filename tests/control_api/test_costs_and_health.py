"""Cost overview and health endpoints around the serving snapshot."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from analytics.warehouse import COST_DAILY_SQL
from clouds.sandbox.world import build_world, save_world
from control_api.security import Role
from tests.control_api.conftest import Api
from wedcloud import snapshots


def _publish(home: Path, rows: list[tuple[str, str, str]]) -> None:
    def build(path: Path) -> dict[str, Any]:
        with duckdb.connect(str(path)) as con:
            con.execute(COST_DAILY_SQL)
            for day, currency, cost in rows:
                con.execute(
                    "INSERT INTO cost_daily VALUES "
                    "(?, 'AWS', 'a', 's', 'Compute', 'EC2', 'eu-west-2', 'Usage', ?, ?, ?, ?, 1, 'src', NULL)",
                    [date.fromisoformat(day), currency, Decimal(cost), Decimal(cost), Decimal(cost)],
                )
        return {"data_through": max(r[0] for r in rows)}

    snapshots.publish(home / "serving", build)


def test_the_overview_without_a_snapshot_is_a_503_that_says_how_to_get_one(api: Api) -> None:
    response = api.client.get("/api/cloud/costs/overview", headers=api.headers(Role.VIEWER))
    assert response.status_code == 503
    assert "wedcloud materialize" in response.json()["detail"]


def test_the_overview_returns_decimal_strings_rounded_to_cents(api: Api) -> None:
    _publish(api.home, [("2026-11-01", "USD", "10.004"), ("2026-11-02", "USD", "0.002"), ("2026-10-05", "USD", "7")])
    body = api.client.get("/api/cloud/costs/overview", headers=api.headers(Role.VIEWER)).json()
    assert body["month_to_date"]["totals"] == [{"currency": "USD", "amount": "10.01"}]
    assert body["last_month"]["totals"] == [{"currency": "USD", "amount": "7.00"}]
    assert body["by_service"] == [{"provider": "AWS", "service": "EC2", "currency": "USD", "amount": "10.01"}]


def test_the_overview_follows_a_newly_published_snapshot(api: Api) -> None:
    _publish(api.home, [("2026-11-01", "USD", "1")])
    first = api.client.get("/api/cloud/costs/overview", headers=api.headers(Role.VIEWER)).json()
    _publish(api.home, [("2026-11-01", "USD", "2")])
    second = api.client.get("/api/cloud/costs/overview", headers=api.headers(Role.VIEWER)).json()
    assert first["month_to_date"]["totals"][0]["amount"] == "1.00"
    assert second["month_to_date"]["totals"][0]["amount"] == "2.00"
    assert first["snapshot"]["version"] != second["snapshot"]["version"]


def test_a_bad_as_of_date_is_a_422(api: Api) -> None:
    response = api.client.get("/api/cloud/costs/overview?as_of=yesterday", headers=api.headers(Role.VIEWER))
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "as_of"


def test_health_reports_the_store_the_snapshot_and_each_provider(api: Api) -> None:
    save_world(api.engine, build_world(1, date(2026, 3, 1), date(2026, 2, 1)))
    body = {"kind": "sandbox", "name": "sandbox-gcp", "flavour": "gcp"}
    api.client.post("/api/cloud/providers", json=body, headers=api.headers(Role.ADMIN))
    degraded = api.client.get("/api/cloud/monitoring/health", headers=api.headers(Role.VIEWER)).json()
    assert degraded["status"] == "degraded"  # nothing published yet
    assert degraded["components"]["state_store"]["status"] == "ok"
    assert [p["status"] for p in degraded["providers"]] == ["ok"]
    _publish(api.home, [("2026-02-27", "USD", "1")])
    healthy = api.client.get("/api/cloud/monitoring/health", headers=api.headers(Role.VIEWER)).json()
    assert healthy["status"] == "ok"
    assert healthy["components"]["serving_snapshot"]["data_through"] == "2026-02-27"


def test_health_needs_a_key_too(api: Api) -> None:
    assert api.client.get("/api/cloud/monitoring/health").status_code == 401
    assert api.client.get("/api/healthz").json() == {"status": "alive"}
