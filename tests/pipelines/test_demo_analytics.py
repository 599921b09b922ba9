"""The demo's two years of bills, materialized as `./dev demo` does, answer the cost issue's
acceptance: the total's forecast beats seasonal naive on its own backtest and shows the wedding
season; the planted GPU anomaly is listed with its service and account; the planted budget's
overrun raises its alert once and its webhook delivery is recorded."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from clouds.sandbox.blueprint import PLANTED_BUDGETS
from control_api.app import create_app
from control_api.security import Role
from control_api.services.api_keys import create_key
from control_api.services.budgets import AlertSettings, run_round
from control_api.services.sandbox import build_sandbox, register_planted_budgets, register_sandbox_providers
from control_api.settings import ApiSettings
from control_api.store.db import make_engine, make_sessionmaker
from control_api.store.migrate import upgrade
from control_api.store.models import Alert, Budget, Delivery
from pipelines.definitions import build_definitions
from pipelines.materialize import dagster_instance, materialize_months, months_between, register_sources
from pipelines.settings import PipelineSettings
from wedcloud.home import HomeLayout

TODAY = date(2026, 11, 27)  # the sandbox's today: its GPU experiment ran 12 to 9 days before
SEED = 20260214  # the demo's


@dataclass
class Demo:
    layout: HomeLayout
    key: str
    dev_account: str


class Receiver(BaseHTTPRequestHandler):
    bodies: list[dict[str, Any]] = []  # noqa: RUF012 - shared by the server's handler instances

    def do_POST(self) -> None:
        Receiver.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    layout = HomeLayout(tmp_path_factory.mktemp("demo")).ensure()
    engine = make_engine(layout.default_database_url())
    upgrade(engine)
    world = build_sandbox(engine, layout, seed=SEED, as_of=TODAY, months=24)
    with Session(engine) as session, session.begin():
        names = [provider.name for provider in register_sandbox_providers(session)]
        register_planted_budgets(session, world)
        _, key = create_key(session, name="acceptance", role=Role.VIEWER)
    settings = PipelineSettings(home=layout.root, billing_start=world.history_start)
    with pytest.MonkeyPatch.context() as env, dagster_instance(layout.dagster_home) as instance:
        env.setenv("DAGSTER_HOME", str(layout.dagster_home))
        register_sources(instance, names)
        materialize_months(build_definitions(settings), instance, months_between(world.history_start, TODAY))
    spec = PLANTED_BUDGETS[0]
    dev = next(a for a in world.accounts_of(spec.flavour) if a.role == spec.account_role)
    engine.dispose()
    return Demo(layout, key, dev.id)


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
    (gpu,) = [a for a in spikes if date(2026, 11, 15) <= date.fromisoformat(a["start"]) <= date(2026, 11, 18)]
    path = {step["dimension"]: step["value"] for step in gpu["explanation"]}
    assert path["ServiceName"] == "Amazon Elastic Compute Cloud"
    assert path["SubAccountId"] == demo.dev_account
    assert len(items) == 1  # nothing else, and not the same incident again for AWS or for EC2


@pytest.mark.slow
def test_the_planted_budgets_overrun_alerts_once_and_its_webhook_delivery_is_recorded(demo: Demo) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    engine = make_engine(demo.layout.default_database_url())
    sessions = make_sessionmaker(engine)
    try:
        with sessions.begin() as session:
            (budget,) = session.scalars(select(Budget)).all()
            budget.targets = [{"type": "webhook", "url": f"http://127.0.0.1:{server.server_port}/hook"}]
        quick = AlertSettings(attempts=2, backoff_seconds=0.01, allow_private_targets=True)
        first = run_round(sessions, demo.layout.serving, quick, lambda _: None)
        again = run_round(sessions, demo.layout.serving, quick, lambda _: None)
        with Session(engine) as session:
            overrun = session.scalars(
                select(Alert).where(Alert.kind == "budget", Alert.key.endswith(":actual:100"))
            ).one()
            deliveries = session.scalars(select(Delivery).where(Delivery.alert_id == overrun.id)).all()
    finally:
        server.shutdown()
        engine.dispose()
    assert overrun.key in first.raised
    assert again.raised == []  # once per period
    assert overrun.status == "delivered"
    assert [(d.attempt, d.status_code, d.delivered) for d in deliveries] == [(1, 204, True)]
    assert any(body.get("title") == overrun.title for body in Receiver.bodies)
