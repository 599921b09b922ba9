"""The planted budget and the GPU incident on the demo's world (tests/demo_world.py, 2026-12-06),
checked against the bills: the development account's December forecast follows its flat daily
spend, not the November incident; the November overrun raises one alert, at the close, and its
webhook delivery is recorded; the GPU anomaly's impact is what the four instances billed and it
names every one of them.

The webhook test changes the budget and raises alerts, so it is the module's last."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import duckdb
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from clouds.sandbox.blueprint import PLANTED_BUDGETS
from control_api.app import create_app
from control_api.settings import ApiSettings
from control_plane.crypto import load_cipher
from control_plane.services.alerts import AlertSettings, run_round
from control_plane.store.db import make_engine, make_sessionmaker
from control_plane.store.models import Alert, Delivery
from tests.demo_world import Demo
from wedcloud.snapshots import current

BUDGETS = "/api/cloud/costs/budgets"


@pytest.fixture
def client(demo: Demo) -> Iterator[TestClient]:
    with TestClient(create_app(ApiSettings(home=demo.layout.root))) as test_client:
        test_client.headers["X-API-Key"] = demo.key
        yield test_client


def _rows(demo: Demo, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    info = current(demo.layout.serving)
    assert info is not None
    with duckdb.connect(str(info.path), read_only=True) as con:
        return con.execute(sql, params).fetchall()


def _planted(client: TestClient) -> dict[str, Any]:
    (budget,) = [b for b in client.get(BUDGETS).json()["items"] if b["name"] == PLANTED_BUDGETS[0].name]
    return dict(budget)


@pytest.mark.slow
def test_the_development_budget_follows_its_flat_daily_spend_in_december(client: TestClient, demo: Demo) -> None:
    budget = _planted(client)
    status = budget["status"]
    start, end = date.fromisoformat(status["period_start"]), date.fromisoformat(status["period_end"])
    through = date.fromisoformat(status["data_through"])
    ((spent,),) = _rows(
        demo, "SELECT sum(BilledCost) FROM cost_detail_daily WHERE SubAccountId = $1 AND BillingCurrency = 'USD' "
        "AND ChargeDate BETWEEN $2 AND $3", [demo.dev_account, start, through],
    )  # fmt: skip
    flat = Decimal(spent) / ((through - start).days + 1)  # the account's daily spend this month: about 8.50
    projected = Decimal(spent) + flat * (end - through).days
    amount = Decimal(budget["amount"])

    assert Decimal(status["spent"]) == Decimal(spent).quantize(Decimal("0.01"))
    assert status["state"] == "ok"  # it was at_risk at 1,137.30 (144%): the GPU days counted in its share
    assert abs(Decimal(status["forecast"]) - projected) <= Decimal("0.1") * projected, (status, projected)
    assert Decimal(status["forecast"]) < amount
    assert set(status["forecast_left_out"]) >= {"2026-11-24", "2026-11-25", "2026-11-26", "2026-11-27"}


@pytest.mark.slow
def test_the_gpu_anomaly_costs_what_the_four_instances_billed_and_names_each(client: TestClient, demo: Demo) -> None:
    gpus = {demo.ids[("aws", f"gpu-experiment-{n}")]: f"gpu-experiment-{n}" for n in range(1, 5)}
    billed = _rows(
        demo, "SELECT ChargeDate, sum(EffectiveCost) FROM cost_detail_daily WHERE ResourceId IN (SELECT unnest($1)) "
        "GROUP BY 1 ORDER BY 1", [list(gpus)],
    )  # fmt: skip
    excess = sum((Decimal(cost) for _, cost in billed), Decimal(0))  # new instances: their usual cost was 0
    items = client.get("/api/cloud/costs/anomalies").json()["items"]
    (gpu,) = [a for a in items if a["direction"] == "spike" and a["start"] <= "2026-11-27" <= a["end"]]

    assert (gpu["start"], gpu["end"]) == (billed[0][0].isoformat(), billed[-1][0].isoformat())
    assert gpu["days"] == len(billed) == 4  # it reported 2 days
    assert abs(Decimal(gpu["impact"]) - excess) <= Decimal("0.05") * excess, (gpu["impact"], excess)  # was 344.02
    steps = [*gpu["explanation"], *gpu["other_contributors"]]
    assert all(0 < step["share"] <= 1 for step in steps)  # one read 102.8%
    assert sum(step["share"] for step in gpu["other_contributors"]) <= 1
    assert {r["resource_id"]: r["name"] for r in gpu["resources"]} == gpus  # all four, by name
    assert abs(sum(Decimal(str(r["excess"])) for r in gpu["resources"]) - excess) <= Decimal("0.05")
    assert sum(r["share"] for r in gpu["resources"]) <= 1


class Receiver(BaseHTTPRequestHandler):
    bodies: list[dict[str, Any]] = []  # noqa: RUF012 - shared by the server's handler instances

    def do_POST(self) -> None:  # http.server's name
        Receiver.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


@pytest.mark.slow
def test_the_november_overrun_alerts_once_at_the_close_and_its_webhook_delivery_is_recorded(
    client: TestClient, demo: Demo
) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    engine = make_engine(demo.layout.default_database_url())
    sessions = make_sessionmaker(engine)
    budget = _planted(client)
    ((november,),) = _rows(
        demo, "SELECT sum(BilledCost) FROM cost_detail_daily WHERE SubAccountId = $1 AND BillingCurrency = 'USD' "
        "AND ChargeDate BETWEEN DATE '2026-11-01' AND DATE '2026-11-30'", [demo.dev_account],
    )  # fmt: skip
    try:
        hook = {"type": "webhook", "url": f"http://127.0.0.1:{server.server_port}/hook"}
        changed = client.put(f"{BUDGETS}/{budget['id']}", json={"targets": [hook]},
                             headers={"X-API-Key": demo.operator_key})  # fmt: skip
        assert changed.status_code == 200, changed.text
        quick = AlertSettings(attempts=2, backoff_seconds=0.01, allow_private_targets=True)
        cipher = load_cipher(demo.layout.root)
        first = run_round(sessions, demo.layout.serving, quick, lambda _: None, cipher)
        again = run_round(sessions, demo.layout.serving, quick, lambda _: None, cipher)
        with Session(engine) as session:
            raised = session.scalars(select(Alert).where(Alert.kind == "budget")).all()
            deliveries = session.scalars(select(Delivery).where(Delivery.alert_id.in_([a.id for a in raised]))).all()
    finally:
        server.shutdown()
        engine.dispose()
    (overrun,) = raised  # and nothing for December: its forecast is well within the amount
    assert overrun.key == f"budget:{budget['id']}:2026-11-01:actual:100"
    assert Decimal(november) > Decimal(budget["amount"])  # 1,282.27 against 790
    assert overrun.detail["closed"] is True
    assert Decimal(overrun.detail["spent"]) == Decimal(november).quantize(Decimal("0.01"))
    assert [key for key in first.raised if key.startswith("budget:")] == [overrun.key]
    assert again.raised == []  # once
    assert overrun.status == "delivered"
    assert [(d.attempt, d.status_code, d.delivered) for d in deliveries] == [(1, 204, True)]
    assert any(body.get("title") == overrun.title for body in Receiver.bodies)
