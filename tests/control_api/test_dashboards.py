"""GET /monitoring/dashboards and /dashboards/{id}: the JSON definitions, the HTML page with its
server-drawn SVG charts and strict CSP, and, in headless Chromium, the page updating its charts
from stream events. The stream is a small WebSocket server in the test speaking the stream's
protocol (subprotocols ``wedcloud.v1`` and ``key.<key>``, hello, events), which also serves the
page on the same origin, as the API does, so the page's ``connect-src 'self'`` holds."""

from __future__ import annotations

import http
import json
import queue
import re
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session
from websockets.sync.server import Request, ServerConnection, serve

from clouds.sandbox.world import build_world, save_world
from control_plane.monitoring.samples import floor_time, write_samples
from control_plane.security import Role
from control_plane.store.models import Resource
from control_plane.store.monitoring_models import AlertRule, MonitorAlert
from tests.browser import Chromium, devtools
from tests.control_api.conftest import Api
from tests.control_api.test_monitoring_health import _provider
from wedcloud.sqltypes import utcnow

URL = "/api/cloud/monitoring/dashboards"
HTML = {"Accept": "text/html"}


def _fleet(api: Api) -> dict[str, Any]:
    """One provider, three running resources sampled every 30 s for the last five minutes, one
    firing critical alert."""
    save_world(api.engine, build_world(1, date(2026, 3, 1), date(2026, 2, 1)))
    provider = uuid.UUID(_provider(api, "aws"))
    now = utcnow()
    ids = [uuid.uuid4() for _ in range(3)]
    with Session(api.engine) as session, session.begin():
        add_sampled_fleet(session, provider, ids, now)
        rule = AlertRule(name="cpu-hot", kind="threshold", spec={}, severity="critical")
        session.add(rule)
        session.flush()
        labels = {
            "alertname": "cpu-hot",
            "severity": "critical",
            "resource": "web-0",
            "resource_id": str(ids[0]),
            "provider": "aws",
            "provider_id": str(provider),
        }  # as the engine labels an alert
        session.add(MonitorAlert(rule_id=rule.id, fingerprint="a", open_key="a", state="firing", severity="critical",
                                 resource_id=ids[0], provider_id=provider, labels=labels))  # fmt: skip
    return {"provider": str(provider), "ids": [str(i) for i in ids], "now": now}


def add_sampled_fleet(session: Session, provider: uuid.UUID, ids: list[uuid.UUID], now: datetime) -> None:
    """Running machines web-0, web-1... sampled every 30 s for the five minutes before ``now``:
    CPU 20 + 10 x index + step, memory 50%, 0.1 an hour."""
    for index, rid in enumerate(ids):
        session.add(Resource(
            id=rid, provider_id=provider, cloud_id=f"i-{index}", name=f"web-{index}", resource_type="compute",
            subtype="instance", region="eu-west-2", state="running", desired_state="running",
        ))  # fmt: skip
    session.flush()
    start = floor_time(now, timedelta(seconds=30)) - timedelta(minutes=5)
    write_samples(session, [
        {"resource_id": rid, "provider_id": provider, "at": start + timedelta(seconds=30 * step),
         "cpu": 20.0 + 10 * index + step, "memory": 50.0, "cost_rate": 0.1}
        for step in range(10) for index, rid in enumerate(ids)
    ])  # fmt: skip


def _get(api: Api, path: str, role: Role = Role.VIEWER, **headers: str) -> Any:
    return api.client.get(f"{URL}{path}", headers={**api.headers(role), **headers})


def test_the_list_has_fleet_cost_and_one_dashboard_per_provider_with_queries(api: Api) -> None:
    world = _fleet(api)
    response = _get(api, "")
    assert response.status_code == 200
    items = {d["id"]: d for d in response.json()["items"]}
    assert set(items) == {"fleet-health", "cost", f"provider-{world['provider']}"}
    cpu = next(p for p in items["fleet-health"]["panels"] if p["id"] == "cpu")
    assert cpu["query"]["path"] == "/api/cloud/monitoring/metrics"
    assert cpu["query"]["params"]["metric"] == "cpu"
    assert (cpu["unit"], cpu["kind"]) == ("%", "line")
    assert any(p["query"]["path"].startswith("/api/cloud/costs/") for p in items["cost"]["panels"])
    mine = items[f"provider-{world['provider']}"]
    assert all(
        world["provider"]
        in (p["query"]["params"].get("provider"), p["query"]["params"].get("label", "").split("=")[-1])
        for p in mine["panels"]
    )
    assert all(p["title"] and p["unit"] and p["kind"] in ("line", "stat") for d in items.values() for p in d["panels"])


def test_every_panel_query_is_one_the_api_answers(api: Api) -> None:
    """A panel's query is what a client runs: each must be accepted as it stands (the cost
    panels' answer needs a serving snapshot, which this world has not published)."""
    world = _fleet(api)
    for dashboard in _get(api, "").json()["items"]:
        for panel in dashboard["panels"]:
            query = panel["query"]
            response = api.client.get(query["path"], params=query["params"], headers=api.headers(Role.VIEWER))
            if query["path"].startswith("/api/cloud/costs/"):
                assert response.status_code in (200, 503), (panel["id"], response.text)
                continue
            assert response.status_code == 200, (dashboard["id"], panel["id"], response.text)
            if panel["id"] == "cpu":
                assert response.json()["data"]["result"], "the CPU panel's query finds the sampled resources"
            if panel["id"] == "firing-alerts":
                assert [a["labels"]["provider_id"] for a in response.json()["items"]] == [world["provider"]]


def test_one_dashboard_is_its_json_definition_by_default(api: Api) -> None:
    _fleet(api)
    response = _get(api, "/fleet-health")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert [p["id"] for p in response.json()["panels"]] == ["cpu", "memory", "firing-alerts", "resources"]


def test_an_unknown_dashboard_is_a_404_problem(api: Api) -> None:
    for name in ("nope", "provider-not-a-uuid", f"provider-{uuid.uuid4()}"):
        response = _get(api, f"/{name}", **HTML)
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
    too_long = _get(api, "/" + "x" * 200)
    assert too_long.status_code == 422
    assert too_long.json()["errors"][0]["field"] == "dashboard_id"


def test_the_page_draws_its_charts_from_the_store_under_a_strict_policy(api: Api) -> None:
    _fleet(api)
    response = _get(api, "/fleet-health", **HTML)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    policy = response.headers["content-security-policy"]
    nonce = re.search(r"'nonce-([^']+)'", policy)
    assert nonce is not None
    assert policy.startswith("default-src 'none'; script-src 'nonce-")
    assert "connect-src 'self'" in policy
    page = response.text
    assert page.count(f'nonce="{nonce.group(1)}"') == 2  # the style and the script, nothing else
    assert re.search(r"<script(?![^>]*(nonce=|application/json))", page) is None
    assert "src=" not in page
    assert "href=" not in page
    assert api.keys[Role.VIEWER] not in page
    cpu = re.search(r'<svg data-chart="fleet-health-cpu".*?</svg>', page, re.S)
    assert cpu is not None
    paths = dict(re.findall(r'data-series="(\w+)" d="([^"]+)"', cpu.group(0)))
    assert set(paths) == {"avg", "max"}
    assert all(d.count("L") == 9 for d in paths.values())  # ten 30-second buckets
    assert re.search(r'data-stat="firing-alerts">1<', page)
    second = _get(api, "/fleet-health", **HTML).headers["content-security-policy"]
    assert second != policy  # a nonce per answer


# -- the page in a browser --------------------------------------------------------------------
@dataclass
class FakeStream:
    """The stream's protocol, for one page: serves the page at /dash and the WebSocket at the
    stream's path; the test puts events in ``outbox``."""

    page: str
    policy: str
    key: str
    offered: list[list[str]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    outbox: queue.Queue[dict[str, Any]] = field(default_factory=queue.Queue)
    stopped: threading.Event = field(default_factory=threading.Event)

    def process_request(self, connection: ServerConnection, request: Request) -> Any:
        if request.path.startswith("/dash"):
            response = connection.respond(http.HTTPStatus.OK, self.page)
            del response.headers["Content-Type"]
            response.headers["Content-Type"] = "text/html; charset=utf-8"
            response.headers["Content-Security-Policy"] = self.policy
            return response
        return None

    def select(self, connection: ServerConnection, subprotocols: Any) -> Any:
        self.offered.append(list(subprotocols))
        return "wedcloud.v1" if f"key.{self.key}" in subprotocols else None

    def handle(self, connection: ServerConnection) -> None:
        assert connection.request is not None
        self.paths.append(connection.request.path)
        if connection.subprotocol != "wedcloud.v1":
            connection.close(1008, "no valid key")
            return
        connection.send(json.dumps({"type": "hello", "subscription": {}, "last_event_id": 0}))
        while not self.stopped.is_set():
            try:
                message = self.outbox.get(timeout=0.05)
            except queue.Empty:
                continue
            connection.send(json.dumps(message))


@pytest.fixture
def stream_for(api: Api) -> Iterator[Any]:
    servers: list[Any] = []
    fakes: list[FakeStream] = []

    def start(page: str, policy: str) -> tuple[FakeStream, int]:
        fake = FakeStream(page, policy, api.keys[Role.VIEWER])
        fakes.append(fake)
        server = serve(fake.handle, "127.0.0.1", 0, process_request=fake.process_request,
                       select_subprotocol=fake.select)  # fmt: skip
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return fake, server.socket.getsockname()[1]

    yield start
    for fake in fakes:
        fake.stopped.set()
    for server in servers:
        server.shutdown()


CPU_AVG = 'document.querySelector(\'[data-chart="fleet-health-cpu"] path[data-series="avg"]\').getAttribute("d")'
FIRING = "document.querySelector('[data-stat=\"firing-alerts\"]').textContent"


def test_the_page_connects_with_its_key_and_redraws_when_events_arrive(
    api: Api, chromium: Chromium, stream_for: Any
) -> None:
    world = _fleet(api)
    response = _get(api, "/fleet-health", **HTML)
    fake, port = stream_for(response.text, response.headers["content-security-policy"])
    key = api.keys[Role.VIEWER]
    with devtools(chromium, f"http://127.0.0.1:{port}/dash#key={key}") as page:
        page.wait_for('document.getElementById("stream-status").dataset.state === "live"')
        assert fake.offered == [["wedcloud.v1", f"key.{key}"]]
        assert key not in fake.paths[0]
        assert fake.paths[0].startswith("/api/cloud/monitoring/stream?topics=metrics%2Calerts&since=")
        assert page.evaluate("location.hash") == ""  # the key left the address bar...
        assert page.evaluate('sessionStorage.getItem("wedcloud.key")') == key  # ...for this tab's storage
        before = page.evaluate(CPU_AVG)
        assert before.count("L") == 9
        assert page.evaluate(FIRING) == "1"
        at = (world["now"] + timedelta(seconds=60)).isoformat()
        for index, rid in enumerate(world["ids"]):
            fake.outbox.put({
                "type": "event", "id": 100 + index, "topic": "metrics", "at": at, "provider_id": world["provider"],
                "resource_id": rid, "severity": None,
                "data": {"resource_id": rid, "provider_id": world["provider"], "at": at, "values": {"cpu": 90.0}},
            })  # fmt: skip
        fake.outbox.put({
            "type": "event", "id": 200, "topic": "alerts", "at": at, "provider_id": world["provider"],
            "resource_id": world["ids"][1], "severity": "critical",
            "data": {"state": "firing", "severity": "critical", "transition": {"from": "pending", "to": "firing"}},
        })  # fmt: skip
        page.wait_for(f"{FIRING} === '2' && document.body.dataset.events === '4'")
        after = page.evaluate(CPU_AVG)
        assert after != before
        assert after.count("L") == 10  # one more 30-second bucket: the events' own
        last_y = float(after.split()[-1])
        top = page.evaluate("document.querySelector('[data-chart=\"fleet-health-cpu\"] text.tick').textContent")
        assert top == "0"  # ticks are redrawn from zero up
        assert last_y < float(before.split()[-1])  # 90 % sits higher than the earlier ~30 %


def test_a_page_without_a_key_says_so_and_does_not_connect(api: Api, chromium: Chromium, stream_for: Any) -> None:
    _fleet(api)
    response = _get(api, "/fleet-health", **HTML)
    fake, port = stream_for(response.text, response.headers["content-security-policy"])
    with devtools(chromium, f"http://127.0.0.1:{port}/dash") as page:
        # The server draws the status "idle"; the script replaces it once it has run.
        state = page.wait_for('(s => s !== "idle" && s)(document.getElementById("stream-status").dataset.state)')
        assert state == "no-key"
        assert page.evaluate(CPU_AVG).count("L") == 9  # the server's drawing stays
    assert fake.offered == []
