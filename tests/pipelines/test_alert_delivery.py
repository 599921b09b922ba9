"""The budget sensor only enqueues alerts; the deliver_alerts job sends them, with retries."""

from __future__ import annotations

import socket
import threading
import time
from http.server import HTTPServer

import dagster as dg
from sqlalchemy import Engine

from assets.pools import ALERTS_POOL
from control_plane.services.alerts import AlertSettings
from pipelines.budgets import build_alert_delivery_job, build_budget_sensor
from pipelines.settings import PipelineSettings
from tests.control_api.test_budgets import november, publish_costs
from tests.pipelines.test_budgets import Hook, add_budget, alerts, deliveries
from tests.pipelines.test_budgets import home as home  # the fixture
from wedcloud.home import HomeLayout

# a long backoff: a sensor tick that still delivered would wait it out between tries
PATIENT = AlertSettings(attempts=3, backoff_seconds=30, timeout_seconds=5, allow_private_targets=True)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_sensor_tick_with_an_unreachable_webhook_enqueues_fast_and_the_job_delivers_later(
    engine: Engine, home: HomeLayout
) -> None:
    port = _free_port()  # nothing listens there yet: every POST is refused
    add_budget(engine, targets=[{"type": "webhook", "url": f"http://127.0.0.1:{port}/alerts"}], amount="100")
    publish_costs(home.root, november(1))
    settings = PipelineSettings(home=home.root, database_url=engine.url.render_as_string(hide_password=False))
    sleeps: list[float] = []
    job = build_alert_delivery_job(settings, PATIENT, sleep=sleeps.append)
    sensor = build_budget_sensor(settings, job=job)
    assert job.graph.node_defs[0].pool == ALERTS_POOL

    @dg.asset(name="serving")
    def serving() -> None:  # stands in for assets.serving: the snapshot is published above
        return None

    repository = dg.Definitions(assets=[serving], sensors=[sensor], jobs=[job]).get_repository_def()
    with dg.DagsterInstance.ephemeral() as instance:
        assert dg.materialize([serving], instance=instance).success
        started = time.monotonic()
        with dg.build_sensor_context(instance=instance, repository_def=repository) as context:
            tick = sensor.evaluate_tick(context)
        assert time.monotonic() - started < 10  # one retry wait alone would be 30 s
        (request,) = tick.run_requests or []
        raised = alerts(engine)
        assert raised
        assert {a.status for a in raised} == {"pending"}
        assert deliveries(engine) == []  # the tick sent nothing
        assert request.tags["wedcloud/pending_alerts"] == str(len(raised))

        handler = type("LateHook", (Hook,), {"codes": [503], "bodies": []})
        server = HTTPServer(("127.0.0.1", port), handler)  # the receiver is back, busy at first
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            assert job.execute_in_process(instance=instance, tags=request.tags).success
        finally:
            server.shutdown()
            server.server_close()
    assert {a.status for a in alerts(engine)} == {"delivered"}
    attempts = [(d.attempt, d.status_code, d.delivered) for d in deliveries(engine)]
    # the first alert met the busy receiver once and was retried; the others went through at once
    assert attempts == [(1, 503, False), (2, 200, True)] + [(1, 200, True)] * (len(raised) - 1)
    assert sleeps == [30.0]  # the job waited between tries, not the sensor
    assert len(handler.bodies) == len(raised) + 1
