"""The fleet dashboard end to end: served by the API under uvicorn, opened in headless Chromium
with an API key, connected to the real stream, and redrawn when the state store publishes
metrics and alert events (as the collector and the alert engine do)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from control_plane.monitoring.samples import floor_time
from control_plane.security import Role
from control_plane.store.models import Provider
from tests.browser import Chromium, devtools
from tests.control_api.streaming import StreamServer, stream_server
from tests.control_api.test_dashboards import CPU_AVG, FIRING, add_sampled_fleet
from wedcloud.sqltypes import utcnow


@pytest.fixture
def running(tmp_path: Path) -> Iterator[StreamServer]:
    with stream_server(tmp_path / "home", f"sqlite:///{tmp_path / 'state.db'}") as server:
        yield server


def test_the_fleet_page_served_by_the_api_redraws_from_the_real_stream(
    running: StreamServer, chromium: Chromium
) -> None:
    now = utcnow()
    provider, ids = uuid.uuid4(), [uuid.uuid4() for _ in range(3)]
    with Session(running.engine) as session, session.begin():
        session.add(Provider(id=provider, kind="sandbox", name="sandbox-aws", regions=[], tags={}, settings={}))
        session.flush()
        add_sampled_fleet(session, provider, ids, now)  # CPU 20-49%
    key = running.keys[Role.VIEWER]
    origin = running.url.split("/api/")[0].replace("ws://", "http://")
    with devtools(chromium, "about:blank") as page:
        # a browser cannot send a header to open a page: DevTools adds the key, as a proxy would
        page.call("Network.enable")
        page.call("Network.setExtraHTTPHeaders", {"headers": {"X-API-Key": key}})
        page.call("Page.navigate", {"url": f"{origin}/api/cloud/monitoring/dashboards/fleet-health#key={key}"})
        page.wait_for('document.getElementById("stream-status").dataset.state === "live"')
        before = page.evaluate(CPU_AVG)
        assert before.count("L") == 9  # ten 30-second buckets drawn by the server
        assert page.evaluate(FIRING) == "0"
        at = floor_time(now, timedelta(seconds=30)) + timedelta(seconds=30)
        for rid in ids:
            running.publish(
                "metrics",
                {"resource_id": str(rid), "provider_id": str(provider), "at": at.isoformat(), "values": {"cpu": 95.0}},
                resource_id=rid, provider_id=provider, at=at,
            )  # fmt: skip
        running.publish(
            "alerts",
            {"state": "firing", "severity": "critical", "transition": {"from": "pending", "to": "firing"}},
            resource_id=ids[0], provider_id=provider, severity="critical",
        )  # fmt: skip
        page.wait_for(f"{FIRING} === '1' && document.body.dataset.events === '4'")
        after = page.evaluate(CPU_AVG)
    assert after != before
    assert after.count("L") == 10  # one more bucket: the events' own
    assert float(after.split()[-1]) < float(before.split()[-1])  # 95 % is drawn higher than ~40 %
