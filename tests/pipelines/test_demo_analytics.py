"""The demo's two years of bills, materialized as `./dev demo` does, answer the cost and
optimisation issues' acceptance: the total's forecast beats seasonal naive on its own backtest
and shows the wedding season; the planted GPU anomaly is listed with its service and account;
the planted idle, oversized, unattached and stopped resources are recommended at the sandbox's
prices and nothing healthy is recommended for shutdown; a rightsizing applied to the sandbox
shows at the lower rate in the next day's bill, and one that fails its health check is reverted.

The world is the one `tests/demo_world.py` builds, on 2026-12-06. The apply test changes the
sandbox and advances its day, so it is the module's last."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import duckdb
import pytest
from fastapi.testclient import TestClient

from clouds.sandbox.catalog import FLAVOURS, FlavourKey
from clouds.sandbox.create import advance_sandbox
from clouds.sandbox.provider import SandboxCloud
from control_api.app import create_app
from control_api.settings import ApiSettings
from control_plane.store.db import make_engine
from pipelines.definitions import build_definitions
from pipelines.materialize import dagster_instance, materialize_months, months_between
from tests.demo_world import NOW, Demo, pinned_clock, wait_for_operation
from wedcloud.snapshots import current


@pytest.fixture
def client(demo: Demo) -> Iterator[TestClient]:
    with TestClient(create_app(ApiSettings(home=demo.layout.root))) as test_client:
        test_client.headers["X-API-Key"] = demo.key
        yield test_client


@pytest.mark.slow
def test_the_totals_forecast_beats_seasonal_naive_and_shows_the_wedding_season(client: TestClient) -> None:
    body = client.get("/api/cloud/costs/forecast", params={"horizon": 365}).json()
    assert {s["currency"] for s in body["series"]} == {"USD", "GBP"}
    for series in body["series"]:
        assert series["mase"] < 1, series  # against seasonal naive on its own backtest
        by_month: dict[int, list[float]] = {}
        for point in series["points"]:
            by_month.setdefault(date.fromisoformat(point["date"]).month, []).append(float(point["mean"]))
        july, march = (sum(by_month[m]) / len(by_month[m]) for m in (7, 3))
        assert july > 1.1 * march, (series["currency"], july, march)  # the June-September season


@pytest.mark.slow
def test_the_planted_gpu_anomaly_is_listed_with_its_service_and_account(client: TestClient, demo: Demo) -> None:
    items = client.get("/api/cloud/costs/anomalies").json()["items"]
    spikes = [a for a in items if a["direction"] == "spike"]
    (gpu,) = [a for a in spikes if date(2026, 11, 24) <= date.fromisoformat(a["start"]) <= date(2026, 11, 27)]
    path = {step["dimension"]: step["value"] for step in gpu["explanation"]}
    assert path["ServiceName"] == "Amazon Elastic Compute Cloud"
    assert path["SubAccountId"] == demo.dev_account
    assert len(items) == 1  # nothing else, and not the same incident again for AWS or for EC2


# -- optimisation -----------------------------------------------------------------------------


def _recommendations(client: TestClient) -> list[dict[str, Any]]:
    body = client.get("/api/cloud/costs/optimization", params={"limit": 500}).json()
    assert body["next_cursor"] is None
    return list(body["items"])


def _hourly(flavour: str, size: str, region: str) -> Decimal:
    """A type's hourly price as the sandbox bills it: list price x region factor, in the
    flavour's billing currency."""
    spec = FLAVOURS[FlavourKey(flavour)]
    price = next(t.hourly_price for t in (*spec.instance_types, *spec.database_types) if t.name == size)
    return price * spec.region(region).price_factor * spec.usd_to_billing


def _list_price(flavour: str, size: str) -> Decimal:
    spec = FLAVOURS[FlavourKey(flavour)]
    return next(t.hourly_price for t in spec.instance_types if t.name == size)


@pytest.mark.slow
def test_the_planted_idle_and_oversized_machines_are_recommended_at_the_sandboxs_prices(
    client: TestClient, demo: Demo
) -> None:
    found = {(r["resource_id"], r["kind"]): r for r in _recommendations(client)}
    staging = found[(demo.ids[("aws", "staging-old")], "idle")]
    test_vm = found[(demo.ids[("azure", "vm-test-old")], "idle")]
    # idle: stopping saves the running time at the billed rate, 730 hours a month
    assert (staging["action"], staging["currency"]) == ("stop", "USD")
    assert abs(Decimal(staging["monthly_saving"]) - _hourly("aws", "m5.large", "eu-west-2") * 730) < Decimal("0.01")
    assert test_vm["currency"] == "GBP"
    assert abs(Decimal(test_vm["monthly_saving"]) - _hourly("azure", "Standard_D4s_v5", "uksouth") * 730) < Decimal(
        "0.01"
    )
    # oversized: the saving is the billed rate times the list prices' ratio
    for flavour, name, size, region in (
        ("aws", "wedsync-reporting", "m5.4xlarge", "eu-west-2"),
        ("gcp", "wedsync-warehouse-vm", "n2-standard-16", "europe-west2"),
    ):
        rec = found[(demo.ids[(flavour, name)], "rightsize")]
        target = rec["target"]
        expected = (
            _hourly(flavour, size, region) * (1 - _list_price(flavour, target) / _list_price(flavour, size)) * 730
        )
        assert abs(Decimal(rec["monthly_saving"]) - expected) < Decimal("0.01"), (name, target)
        assert rec["evidence"]["rate_basis"] == "effective"
        proposed = rec["evidence"]["proposed"]
        assert Decimal(proposed["list_hourly"]) < Decimal(rec["evidence"]["current"]["list_hourly"])


@pytest.mark.slow
def test_only_the_planted_resources_are_recommended_for_shutdown_or_deletion(client: TestClient, demo: Demo) -> None:
    removals = {r["resource_id"]: r for r in _recommendations(client) if r["action"] in ("stop", "terminate", "delete")}
    planted = {
        demo.ids[("aws", "staging-old")]: "idle",
        demo.ids[("azure", "vm-test-old")]: "idle",
        demo.ids[("aws", "analytics-old")]: "stopped_paying",
        demo.ids[("aws", "dev-box-old-data")]: "unattached_disk",
    }
    assert {rid: rec["kind"] for rid, rec in removals.items()} == planted
    disk = removals[demo.ids[("aws", "dev-box-old-data")]]
    assert disk["evidence"]["unattached_days"] > 7


@pytest.mark.slow
def test_each_cloud_gets_a_compute_commitment_sized_net_of_the_other_advice(client: TestClient) -> None:
    commitments = {r["provider"]: r for r in _recommendations(client) if r["kind"] == "commitment"}
    assert set(commitments) == {"sandbox-aws", "sandbox-azure", "sandbox-gcp"}
    assert commitments["sandbox-azure"]["currency"] == "GBP"
    for rec in commitments.values():
        evidence = rec["evidence"]
        assert rec["action"] == "purchase"
        assert evidence["lookback_days"] == 30
        assert evidence["net_of_recommendations"] > 0  # stops and rightsizings taken out first
        assert 0 < evidence["coverage"] <= 1
        assert evidence["utilisation"] >= 0.9
        assert evidence["break_even_month"] == 1  # no upfront payment
        assert Decimal(rec["monthly_saving"]) > 0


@pytest.mark.slow
def test_running_the_analysis_from_the_api_updates_the_same_recommendations(demo: Demo) -> None:
    with TestClient(create_app(ApiSettings(home=demo.layout.root))) as client:
        client.headers["X-API-Key"] = demo.operator_key
        before = {r["id"] for r in _recommendations(client)}
        response = client.post("/api/cloud/costs/optimize", json={"provider": "sandbox-aws"})
        assert response.status_code in (200, 202), response.text
        operation = response.json()["operation"]
        if response.status_code == 202:  # it took longer than 2 s: poll it
            operation = wait_for_operation(client, response.headers["Location"])
        after = {r["id"] for r in _recommendations(client)}
    assert operation["status"] == "succeeded", operation
    result = operation["result"]
    assert (result["created"], result["obsolete"]) == (0, 0)  # the same advice keeps its ids
    assert result["updated"] == result["recommendations"] > 0
    assert after == before


class Unhealthy(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(503)
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


@pytest.mark.slow
def test_an_applied_rightsizing_bills_at_the_lower_rate_next_day_and_a_failed_health_check_reverts(
    demo: Demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    pinned_clock(monkeypatch, NOW + timedelta(hours=10))  # the demo's day, mid-morning
    engine = make_engine(demo.layout.default_database_url())
    aws = SandboxCloud(engine, flavour="aws", exports_dir=demo.layout.exports)
    gcp = SandboxCloud(engine, flavour="gcp", exports_dir=demo.layout.exports)
    reporting, warehouse = demo.ids[("aws", "wedsync-reporting")], demo.ids[("gcp", "wedsync-warehouse-vm")]
    server = ThreadingHTTPServer(("127.0.0.1", 0), Unhealthy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    health = f"http://127.0.0.1:{server.server_port}/health"
    gcp.tag(warehouse, {**gcp.describe(warehouse).tags, "wedcloud:health-url": health})
    try:
        with TestClient(create_app(ApiSettings(home=demo.layout.root))) as client:
            client.headers["X-API-Key"] = demo.operator_key
            recs = {(r["resource_id"], r["kind"]): r for r in _recommendations(client)}
            resize = recs[(reporting, "rightsize")]
            url = f"/api/cloud/costs/optimization/{resize['id']}/apply"

            plan = client.post(url, json={"dry_run": True})
            assert plan.status_code == 200, plan.text
            assert plan.json()["steps"][1] == f"change type of {reporting} from m5.4xlarge to {resize['target']}"
            assert aws.describe(reporting).size == "m5.4xlarge"  # a dry run changes nothing

            applied = client.post(url, json={})
            assert applied.status_code == 202, applied.text
            assert wait_for_operation(client, applied.headers["Location"])["status"] == "succeeded"
            again = client.post(url, json={})  # harmless: the same operation, nothing redone
            assert again.json()["id"] == applied.json()["id"]
            after = aws.describe(reporting)
            assert (after.size, after.state.value) == (resize["target"], "running")
            done = client.get(f"/api/cloud/costs/optimization/{resize['id']}").json()
            assert done["status"] == "applied"
            assert done["outcome"]["rollback"][1].endswith("back to m5.4xlarge")

            failing = recs[(warehouse, "rightsize")]
            response = client.post(f"/api/cloud/costs/optimization/{failing['id']}/apply", json={})
            assert wait_for_operation(client, response.headers["Location"])["status"] == "succeeded"
            reverted = client.get(f"/api/cloud/costs/optimization/{failing['id']}").json()
            assert reverted["status"] == "reverted"
            assert "503" in reverted["outcome"]["reason"]
            assert gcp.describe(warehouse).size == "n2-standard-16"  # put back

            # the next billing day: advance the sandbox past the day after the change, bill it
            applied_on = datetime.fromisoformat(done["applied_at"]).date()
            next_day = applied_on + timedelta(days=1)
            assert applied_on == demo.as_of
            world = advance_sandbox(engine, demo.layout.exports, days=(next_day - demo.as_of).days + 1)
            with dagster_instance(demo.layout.dagster_home) as instance:
                materialize_months(
                    build_definitions(demo.settings), instance, months_between(demo.as_of.replace(day=1), world.as_of)
                )
            realised = client.get(f"/api/cloud/costs/optimization/{resize['id']}").json()["realised"]
    finally:
        server.shutdown()
        engine.dispose()
    new_rate = _hourly("aws", resize["target"], "eu-west-2")
    old_rate = _hourly("aws", "m5.4xlarge", "eu-west-2")
    daily = _compute_cost(demo, reporting, next_day)
    assert daily == new_rate * 24  # the whole next day at the new type's rate
    assert daily < old_rate * 24
    assert realised is not None
    assert realised["from"] == next_day.isoformat()
    assert Decimal(realised["monthly_saving"]) > 0


def _compute_cost(demo: Demo, resource_id: str, day: date) -> Decimal:
    """The instance's running-time cost on ``day`` from the published snapshot's line items."""
    info = current(demo.layout.serving)
    assert info is not None
    with duckdb.connect(str(info.path), read_only=True) as con:
        (total,) = con.execute(
            "SELECT sum(EffectiveCost) FROM cost_detail_daily WHERE ResourceId = $1 AND ChargeDate = $2 "
            "AND ResourceType = 'Compute Instance'",
            [resource_id, day],
        ).fetchall()[0]
    return Decimal(total)
