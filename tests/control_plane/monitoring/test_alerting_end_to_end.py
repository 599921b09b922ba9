"""The whole alerting path on a controlled clock, as `wedcloud monitor` runs it every 30 s:
samples are written, the rule is evaluated (lifecycle), and the notifications go to a real
webhook receiver that verifies every signature. A rule made as the API makes it (routes sealed,
a signing secret), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from control_plane.monitoring import alerts, lifecycle, rules
from control_plane.monitoring.notify import notify_round
from control_plane.monitoring.settings import MonitorSettings
from control_plane.store.db import make_sessionmaker
from control_plane.store.monitoring_models import MonitorAlert
from tests.control_plane.monitoring.helpers import T0, add_provider, add_resource, alerts_of, cpu, history
from tests.control_plane.monitoring.notify_support import FAST, Receiver, cipher


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()


def test_pending_firing_one_notice_a_repeat_an_ack_and_one_resolved_notice(engine: Engine, receiver: Receiver) -> None:
    sessions, key = make_sessionmaker(engine), cipher()
    with sessions.begin() as session:
        web = add_resource(session, add_provider(session), "web-1")
        rule, secret = rules.save_rule(session, {
            "name": "web cpu high", "kind": "threshold", "severity": "critical",
            "spec": {"metric": "cpu", "selector": {}, "aggregation": "avg", "window": 30.0, "comparator": ">",
                     "threshold": 90.0, "for": 60.0},
            "hold": 0, "routes": [{"type": "webhook", "url": f"{receiver.url}/hook/ops"}],
            "grouping": {"group_by": ["alertname"], "group_wait": 30, "group_interval": 60, "repeat_interval": 300},
            "annotations": {"summary": "{resource} CPU at {value}"},
        }, key, actor="test")  # fmt: skip
        rule_id = rule.id
    assert secret is not None
    assert secret.startswith("whsec_")
    receiver.secret = secret
    seen: list[tuple[int, str, str]] = []  # (second, status, reason) of each notice received

    def run(second: int, value: float) -> None:
        now = T0 + timedelta(seconds=second)
        cpu(sessions, web, now, value)
        lifecycle.evaluate(sessions, now=now, settings=MonitorSettings())
        before = len(receiver.accepted)
        notify_round(sessions, now=now, settings=MonitorSettings(), cipher=key, delivery=FAST)
        seen.extend((second, n["status"], n["reason"]) for n in receiver.notices()[before:])

    for second in range(0, 60, 30):  # breaching, but not yet for 60 s: pending, never notified
        run(second, 95)
    [alert] = alerts_of(sessions, rule_id)
    assert alert.state == "pending"
    assert seen == []
    for second in range(60, 420, 30):  # firing at 60 s; the first notice after group_wait; a repeat at 300 s
        run(second, 95)
    assert seen == [(90, "firing", "first"), (390, "firing", "repeat")]
    with sessions.begin() as session:  # acknowledged at 400 s: no more repeats
        row = session.get(MonitorAlert, alert.id)
        assert row is not None
        alerts.acknowledge(session, row, by="ops-key", note="looking", expires_at=None, now=T0 + timedelta(seconds=400))
    for second in range(420, 750, 30):
        run(second, 95)
    assert seen == [(90, "firing", "first"), (390, "firing", "repeat")]  # 690 s would have repeated
    for second in range(750, 900, 30):  # the load drops: resolved (hold 0), one resolved notice
        run(second, 20)
    assert seen == [(90, "firing", "first"), (390, "firing", "repeat"), (750, "resolved", "resolved")]
    assert [to for _, to in history(sessions, alert.id)] == ["pending", "firing", "acknowledged", "resolved"]
    assert receiver.rejected == []  # every notice carried a valid signature
    last: dict[str, Any] = receiver.notices()[-1]
    assert [a["status"] for a in last["alerts"]] == ["resolved"]
