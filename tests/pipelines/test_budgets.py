"""The budget_alerts sensor and the round it runs: each threshold raised once per period, and
each alert delivered with retries, every attempt recorded."""

from __future__ import annotations

import json
import socketserver
import threading
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, HTTPServer, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import dagster as dg
import pytest
from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

from control_plane.services.alerts import NO_SMTP, AlertSettings, DeliveryFailed, _post_webhook, run_round
from control_plane.store.db import make_sessionmaker
from control_plane.store.models import Alert, Budget, Delivery
from pipelines.budgets import build_budget_sensor
from pipelines.settings import PipelineSettings
from tests.control_api.test_budgets import daily_forecast, november, publish_costs
from wedcloud.home import HomeLayout

FAST = AlertSettings(attempts=3, backoff_seconds=0.01, timeout_seconds=5, allow_private_targets=True)
LOCAL = AlertSettings(allow_private_targets=True)  # the test receivers listen on 127.0.0.1


@pytest.fixture
def home(tmp_path: Path) -> HomeLayout:
    return HomeLayout(tmp_path / "home").ensure()


def add_budget(engine: Engine, targets: list[dict[str, str]] | None = None, amount: str = "1000",
               forecast: tuple[int, ...] = (100,)) -> Budget:  # fmt: skip
    with Session(engine, expire_on_commit=False) as session, session.begin():
        budget = Budget(name="AWS monthly", scope={"provider": ["AWS"]}, amount=Decimal(amount), currency="USD",
                        period="month", thresholds={"actual": [50, 80, 100], "forecast": list(forecast)},
                        targets=targets or [])  # fmt: skip
        session.add(budget)
    return budget


def alerts(engine: Engine) -> list[Alert]:
    with Session(engine) as session:
        return list(session.scalars(select(Alert).order_by(Alert.key)))


def deliveries(engine: Engine) -> list[Delivery]:
    with Session(engine) as session:
        return list(session.scalars(select(Delivery).order_by(Delivery.id)))


def test_each_threshold_is_raised_once_per_period_even_when_evaluated_twice(engine: Engine, home: HomeLayout) -> None:
    budget = add_budget(engine)
    sessions = make_sessionmaker(engine)
    publish_costs(home.root, november(10))  # 500 of 1000 spent; 1500 at run rate by the 30th
    first = run_round(sessions, home.serving, FAST)
    prefix = f"budget:{budget.id}:2026-11-01"
    assert sorted(first.raised) == [f"{prefix}:actual:50", f"{prefix}:forecast:100"]
    publish_costs(home.root, november(10))  # the same data again
    assert run_round(sessions, home.serving, FAST).raised == []
    publish_costs(home.root, november(17))  # 850: 80% now
    assert run_round(sessions, home.serving, FAST).raised == [f"{prefix}:actual:80"]
    december = [("2026-12-01", "AWS", "EC2", "USD", "600")]
    publish_costs(home.root, november(17) + december)  # a new period: 50% again
    again = sorted(run_round(sessions, home.serving, FAST).raised)
    assert again == [f"budget:{budget.id}:2026-12-01:actual:50", f"budget:{budget.id}:2026-12-01:forecast:100"]
    raised = alerts(engine)
    assert len(raised) == 5
    assert {a.status for a in raised} == {"no_targets"}
    fifty = next(a for a in raised if a.key == f"{prefix}:actual:50")
    assert (fifty.severity, fifty.detail["forecast_method"], fifty.detail["spent"]) == ("info", "run_rate", "500.00")
    assert fifty.created_at.tzinfo is not None


def test_an_empty_forecast_table_falls_back_to_the_run_rate_and_a_filled_one_is_used(
    engine: Engine, home: HomeLayout
) -> None:
    add_budget(engine, amount="900")
    sessions = make_sessionmaker(engine)
    publish_costs(home.root, november(10), forecast=[])
    (forecast_alert,) = [key for key in run_round(sessions, home.serving, FAST).raised if "forecast" in key]
    (alert,) = [a for a in alerts(engine) if a.key == forecast_alert]
    assert (alert.detail["forecast_method"], alert.detail["forecast"]) == ("run_rate", "1500.00")
    with Session(engine) as session, session.begin():
        session.execute(delete(Alert))
    publish_costs(home.root, november(10), forecast=daily_forecast("provider", "AWS", 1.0))  # 520: not 900
    assert [key for key in run_round(sessions, home.serving, FAST).raised if "forecast" in key] == []


class Hook(BaseHTTPRequestHandler):
    """Answers each POST with the next status of ``codes`` (then 200) and keeps the bodies."""

    codes: ClassVar[list[int]] = []
    bodies: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:  # http.server's name
        self.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(self.codes.pop(0) if self.codes else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def hook() -> Iterator[tuple[str, type[Hook]]]:
    handler = type("TestHook", (Hook,), {"codes": [], "bodies": []})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/alerts", handler
    server.shutdown()
    server.server_close()


def test_a_webhook_that_fails_once_gets_the_alert_on_the_second_attempt(
    engine: Engine, home: HomeLayout, hook: tuple[str, type[Hook]]
) -> None:
    url, handler = hook
    handler.codes = [503]
    budget = add_budget(engine, targets=[{"type": "webhook", "url": url}], amount="450")
    publish_costs(home.root, november(10))  # over budget: actual 50, 80, 100 and forecast 100
    sleeps: list[float] = []
    result = run_round(make_sessionmaker(engine), home.serving, FAST, sleep=sleeps.append)
    assert len(result.raised) == 4
    assert sorted(result.delivered.values()) == ["delivered"] * 4
    assert sleeps == [0.01]  # one failure, one wait
    attempts = deliveries(engine)
    assert [(d.attempt, d.status_code, d.delivered) for d in attempts][:2] == [(1, 503, False), (2, 200, True)]
    first, second = attempts[0], attempts[1]
    assert first.alert_id == second.alert_id
    assert first.error == "HTTP 503 Service Unavailable"
    assert first.next_attempt_at is not None
    assert first.next_attempt_at > first.attempted_at
    assert second.next_attempt_at is None
    assert len(attempts) == 5  # the other three alerts went through first time
    assert {a.status for a in alerts(engine)} == {"delivered"}
    keys = Counter(body["key"] for body in handler.bodies)
    assert sorted(keys.values()) == [1, 1, 1, 2]
    assert set(keys) == {a.key for a in alerts(engine)}
    assert handler.bodies[0]["detail"]["budget"]["id"] == str(budget.id)
    assert run_round(make_sessionmaker(engine), home.serving, FAST).delivered == {}  # nothing sent twice


def test_a_webhook_that_keeps_failing_is_tried_three_times_with_backoff(
    engine: Engine, home: HomeLayout, hook: tuple[str, type[Hook]]
) -> None:
    url, handler = hook
    handler.codes = [500, 500, 500]
    add_budget(engine, targets=[{"type": "webhook", "url": url}], amount="990")  # only actual 50 crosses... and
    publish_costs(home.root, november(10))  # ...forecast 100: two alerts
    sleeps: list[float] = []
    result = run_round(make_sessionmaker(engine), home.serving, LOCAL, sleep=sleeps.append)
    assert sorted(result.delivered.values()) == ["delivered", "failed"]
    assert sleeps == [1.0, 2.0]
    failed = [d for d in deliveries(engine) if not d.delivered]
    assert [(d.attempt, d.status_code) for d in failed] == [(1, 500), (2, 500), (3, 500)]
    assert failed[-1].next_attempt_at is None


def test_a_refused_connection_is_recorded_as_an_error(engine: Engine, home: HomeLayout) -> None:
    add_budget(engine, targets=[{"type": "webhook", "url": "http://127.0.0.1:9/nothing-listens"}], amount="100")
    publish_costs(home.root, november(1))
    run_round(
        make_sessionmaker(engine),
        home.serving,
        AlertSettings(attempts=2, allow_private_targets=True),
        sleep=lambda _: None,
    )
    attempts = deliveries(engine)
    assert attempts
    assert all(d.status_code is None and d.error and not d.delivered for d in attempts)


def test_email_without_a_relay_is_recorded_as_not_sent(engine: Engine, home: HomeLayout) -> None:
    add_budget(engine, targets=[{"type": "email", "address": "finops@example.com"}], amount="100", forecast=())
    publish_costs(home.root, november(1))  # 50%: one alert
    run_round(make_sessionmaker(engine), home.serving, FAST)
    (attempt,) = deliveries(engine)
    assert (attempt.channel, attempt.target, attempt.error, attempt.delivered) == (
        "email", "finops@example.com", NO_SMTP, False,
    )  # fmt: skip
    assert [a.status for a in alerts(engine)] == ["failed"]


class SmtpSink(socketserver.StreamRequestHandler):
    """Just enough SMTP for smtplib: every command is accepted, each message is kept."""

    messages: ClassVar[list[str]] = []

    def reply(self, line: str) -> None:
        self.wfile.write(f"{line}\r\n".encode())

    def handle(self) -> None:
        self.reply("220 sink ready")
        while line := self.rfile.readline().decode():
            command = line[:4].upper()
            if command == "DATA":
                self.reply("354 go on")
                data = []
                while (body := self.rfile.readline().decode()) != ".\r\n":
                    data.append(body)
                self.messages.append("".join(data))
                self.reply("250 kept")
            elif command == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("250 ok")


def test_email_goes_through_a_configured_smtp_relay(engine: Engine, home: HomeLayout) -> None:
    sink = socketserver.ThreadingTCPServer(("127.0.0.1", 0), type("Sink", (SmtpSink,), {"messages": []}))
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    try:
        add_budget(engine, targets=[{"type": "email", "address": "finops@example.com"}], amount="100", forecast=())
        publish_costs(home.root, november(1))
        relay = AlertSettings(
            allow_private_targets=True,
            smtp_host="127.0.0.1",
            smtp_port=sink.server_address[1],
            smtp_sender="wedcloud@example.com",
        )
        assert run_round(make_sessionmaker(engine), home.serving, relay).delivered
    finally:
        sink.shutdown()
        sink.server_close()
    (attempt,) = deliveries(engine)
    assert (attempt.delivered, attempt.status_code, attempt.error) == (True, 250, None)
    (message,) = sink.RequestHandlerClass.messages  # type: ignore[attr-defined]
    assert "To: finops@example.com" in message
    assert "AWS monthly: spend reached 50%" in message


def test_the_sensor_evaluates_after_each_serving_materialization(engine: Engine, home: HomeLayout) -> None:
    url = engine.url.render_as_string(hide_password=False)
    add_budget(engine)
    publish_costs(home.root, november(10))

    @dg.asset(name="serving")
    def serving() -> None:  # stands in for assets.serving: the snapshot is published above
        return None

    sensor = build_budget_sensor(PipelineSettings(home=home.root, database_url=url), FAST)
    defs = dg.Definitions(assets=[serving], sensors=[sensor])
    assert defs.resolve_sensor_def("budget_alerts") is sensor
    repository = defs.get_repository_def()
    with dg.DagsterInstance.ephemeral() as instance:
        cursor = None
        for expected in (2, 0):  # the second snapshot raises nothing new
            assert dg.materialize([serving], instance=instance).success
            with dg.build_sensor_context(instance=instance, cursor=cursor, repository_def=repository) as context:
                tick = sensor.evaluate_tick(context)
            cursor = tick.cursor
            assert tick.skip_message is not None
            assert f"{expected} alert(s) raised" in tick.skip_message
        with dg.build_sensor_context(instance=instance, cursor=cursor, repository_def=repository) as context:
            idle = sensor.evaluate_tick(context)
        assert "raised" not in (idle.skip_message or "")  # no new snapshot: not evaluated at all
    assert len(alerts(engine)) == 2


def test_a_webhook_to_this_machine_is_refused_by_default(
    engine: Engine, home: HomeLayout, hook: tuple[str, type[Hook]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Alerts leave for the public internet only: a target on loopback (or a private or
    link-local network, such as a cloud's metadata service) is refused at send time. Each
    refusal is a recorded attempt, not a crash."""
    monkeypatch.setenv("WEDCLOUD_OUTBOUND_ALLOW_PRIVATE", "false")  # the suite turns it on
    url, _ = hook
    add_budget(engine, targets=[{"type": "webhook", "url": url}], amount="100")
    publish_costs(home.root, november(1))
    run_round(make_sessionmaker(engine), home.serving, AlertSettings(attempts=1), sleep=lambda _: None)
    attempts = deliveries(engine)
    assert attempts
    assert all("non-public address" in (d.error or "") and not d.delivered for d in attempts)
    assert all(d.target.endswith("/...") for d in attempts)  # the URL's path is not kept


def test_a_webhook_that_redirects_is_not_followed() -> None:
    """A redirect could turn the alert's POST into a GET of something else: it is an error."""
    followed: list[str] = []

    class Redirecting(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.send_response(302)
            self.send_header("Location", f"http://127.0.0.1:{self.server.server_address[1]}/elsewhere")
            self.end_headers()

        def do_GET(self) -> None:
            followed.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirecting)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(DeliveryFailed, match="redirect"):
            _post_webhook(f"http://127.0.0.1:{server.server_address[1]}/hook", {"title": "t"}, LOCAL)
    finally:
        server.shutdown()
    assert followed == []


def _november_and(december_days: int, amount: str = "50") -> list[tuple[str, str, str, str, str]]:
    return november(30, amount=amount) + [(f"2026-12-{d:02d}", "AWS", "EC2", "USD", "10")
                                          for d in range(1, december_days + 1)]  # fmt: skip


def test_a_period_first_seen_closed_over_its_amount_raises_one_alert_at_the_close(
    engine: Engine, home: HomeLayout
) -> None:
    budget = add_budget(engine, forecast=())  # December's run rate, November's 50 a day, is another matter
    sessions = make_sessionmaker(engine)
    publish_costs(home.root, _november_and(5))  # November's 1500 arrives with December's first days
    first = run_round(sessions, home.serving, FAST)
    assert first.raised == [f"budget:{budget.id}:2026-11-01:actual:100"]  # not 50% and 80% of a closed month
    publish_costs(home.root, _november_and(6))
    assert run_round(sessions, home.serving, FAST).raised == []
    (alert,) = alerts(engine)
    assert (
        alert.title == "AWS monthly: the period 2026-11-01 to 2026-11-30 closed at 1500.00 USD, 150.00% of 1000.00 USD"
    )
    assert (alert.severity, alert.detail["closed"], alert.detail["spent"]) == ("critical", True, "1500.00")
    assert (alert.detail["state"], alert.detail["forecast_method"]) == ("exceeded", "complete")


def test_an_overrun_alerted_during_the_period_is_not_alerted_again_at_the_close(
    engine: Engine, home: HomeLayout
) -> None:
    budget = add_budget(engine, forecast=())
    sessions = make_sessionmaker(engine)
    publish_costs(home.root, november(25, amount="50"))  # 1250 by the 25th: 100% crossed in the period
    during = run_round(sessions, home.serving, FAST).raised
    assert f"budget:{budget.id}:2026-11-01:actual:100" in during
    publish_costs(home.root, _november_and(2))
    assert run_round(sessions, home.serving, FAST).raised == []
    assert [a.detail["closed"] for a in alerts(engine) if a.key.endswith(":actual:100")] == [False]


def test_a_budget_without_a_100_percent_threshold_still_hears_of_the_overrun_once(
    engine: Engine, home: HomeLayout
) -> None:
    budget = add_budget(engine)
    with Session(engine) as session, session.begin():
        session.get_one(Budget, budget.id).thresholds = {"actual": [50], "forecast": []}
    sessions = make_sessionmaker(engine)
    publish_costs(home.root, november(12, amount="50"))  # 600: 50% in the period
    assert run_round(sessions, home.serving, FAST).raised == [f"budget:{budget.id}:2026-11-01:actual:50"]
    publish_costs(home.root, november(30, amount="50"))  # the month's last day: complete, 1500
    assert run_round(sessions, home.serving, FAST).raised == [f"budget:{budget.id}:2026-11-01:actual:100"]
    publish_costs(home.root, _november_and(1))
    assert run_round(sessions, home.serving, FAST).raised == []


def test_a_period_that_closed_within_its_amount_raises_nothing_at_the_close(engine: Engine, home: HomeLayout) -> None:
    add_budget(engine, amount="1600", forecast=())
    sessions = make_sessionmaker(engine)
    publish_costs(home.root, _november_and(3))  # 1500 of 1600
    assert run_round(sessions, home.serving, FAST).raised == []
