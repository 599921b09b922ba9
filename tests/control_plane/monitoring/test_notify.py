"""Grouping and notification on a controlled clock, as Alertmanager does it (group_wait,
group_interval, repeat_interval, silences), plus acknowledgement; every notice goes to a real
HTTP receiver that verifies its signature. On SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from control_plane.crypto import Cipher
from control_plane.monitoring.notify import NotifyReport, notify_round
from control_plane.monitoring.settings import MonitorSettings
from control_plane.monitoring.silences import matches as matcher_matches
from control_plane.store.db import make_sessionmaker
from control_plane.store.monitoring_models import Notification, NotificationGroup, Silence
from tests.control_plane.monitoring.notify_support import FAST, Receiver, add_alert, add_rule, cipher, set_alert

T0 = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
GROUPING = {"group_by": ["resource"], "group_wait": 30, "group_interval": 300, "repeat_interval": 3600}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()


class World:
    def __init__(self, engine: Engine, receiver: Receiver, grouping: dict[str, Any] | None = None) -> None:
        self.sessions: sessionmaker[Session] = make_sessionmaker(engine)
        self.key: Cipher = cipher()
        self.receiver = receiver
        route = [{"type": "webhook", "url": f"{receiver.url}/hook/ops"}]
        self.rule_id, secret = add_rule(self.sessions, self.key, route, grouping=grouping or GROUPING)
        receiver.secret = secret

    def round(self, at: datetime) -> NotifyReport:
        return notify_round(self.sessions, now=at, settings=MonitorSettings(), cipher=self.key, delivery=FAST)

    def alert(self, state: str, at: datetime, **labels: str) -> uuid.UUID:
        return add_alert(self.sessions, self.rule_id, state=state, at=at, **labels)

    def notices(self) -> list[dict[str, Any]]:
        assert self.receiver.rejected == []  # every notice carried a valid signature
        return self.receiver.notices()


@pytest.fixture
def world(engine: Engine, receiver: Receiver) -> World:
    return World(engine, receiver)


def ids(notice: dict[str, Any]) -> list[tuple[str, str]]:
    return sorted((a["id"], a["status"]) for a in notice["alerts"])


def test_two_alerts_of_one_group_make_one_notice_listing_both(world: World) -> None:
    first = world.alert("firing", T0, resource="web-1", zone="a")
    second = world.alert("firing", T0, resource="web-1", zone="b")
    report = world.round(T0 + timedelta(seconds=30))
    assert [reason for _, reason in report.notices] == ["first"]
    [notice] = world.notices()
    assert ids(notice) == sorted([(str(first), "firing"), (str(second), "firing")])
    assert (notice["status"], notice["reason"], notice["groupLabels"]) == ("firing", "first", {"resource": "web-1"})
    assert notice["commonLabels"] == {"alertname": "High CPU", "severity": "critical", "resource": "web-1"}
    assert notice["receiver"] == "High CPU"


def test_group_by_puts_alerts_with_other_label_values_in_separate_groups(world: World) -> None:
    world.alert("firing", T0, resource="web-1")
    world.alert("firing", T0, resource="web-2")
    world.round(T0 + timedelta(seconds=30))
    assert sorted(n["groupLabels"]["resource"] for n in world.notices()) == ["web-1", "web-2"]


def test_group_wait_holds_the_first_notice(world: World) -> None:
    world.round(T0)  # the group is seen at T0
    world.alert("firing", T0)
    world.round(T0)
    world.round(T0 + timedelta(seconds=29))
    assert world.notices() == []
    world.alert("firing", T0 + timedelta(seconds=20), zone="b")  # joins during the wait
    world.round(T0 + timedelta(seconds=30))
    [notice] = world.notices()
    assert len(notice["alerts"]) == 2


def test_a_change_is_notified_after_group_interval_and_not_before(world: World) -> None:
    world.alert("firing", T0)
    world.round(T0 + timedelta(seconds=30))
    late = world.alert("firing", T0 + timedelta(minutes=1), zone="b")
    world.round(T0 + timedelta(minutes=1))
    world.round(T0 + timedelta(seconds=30 + 299))
    assert len(world.notices()) == 1
    world.round(T0 + timedelta(seconds=30 + 300))
    first, changed = world.notices()
    assert changed["reason"] == "changed"
    assert str(late) in {a["id"] for a in changed["alerts"]}
    assert len(changed["alerts"]) == 2
    assert changed["id"] != first["id"]


def test_a_repeat_comes_after_repeat_interval_and_not_before(world: World) -> None:
    world.alert("firing", T0)
    start = T0 + timedelta(seconds=30)
    world.round(start)
    for minutes in (5, 30, 59):
        world.round(start + timedelta(minutes=minutes))
    assert len(world.notices()) == 1
    world.round(start + timedelta(minutes=60))
    assert [n["reason"] for n in world.notices()] == ["first", "repeat"]
    world.round(start + timedelta(minutes=119))
    world.round(start + timedelta(minutes=120))
    assert [n["reason"] for n in world.notices()] == ["first", "repeat", "repeat"]


def test_an_ack_stops_repeats_and_an_expired_ack_resumes_them(world: World) -> None:
    alert = world.alert("firing", T0)
    start = T0 + timedelta(seconds=30)
    world.round(start)
    set_alert(
        world.sessions,
        alert,
        acked_by="ops-key",
        acked_at=start + timedelta(minutes=1),
        ack_note="on it",
        ack_expires_at=start + timedelta(hours=3),
    )
    world.round(start + timedelta(hours=1))
    world.round(start + timedelta(hours=2, minutes=59))
    assert [n["reason"] for n in world.notices()] == ["first"]
    world.round(start + timedelta(hours=3))  # the ack expired: repeats resume
    assert [n["reason"] for n in world.notices()] == ["first", "repeat"]
    assert world.notices()[1]["alerts"][0]["acknowledged"] is None


def test_an_acknowledged_alert_still_lets_a_change_through(world: World) -> None:
    alert = world.alert("firing", T0)
    world.round(T0 + timedelta(seconds=30))
    set_alert(world.sessions, alert, acked_by="ops-key", acked_at=T0 + timedelta(minutes=1))
    world.alert("firing", T0 + timedelta(minutes=2), zone="b")
    world.round(T0 + timedelta(minutes=6))
    changed = world.notices()[1]
    assert changed["reason"] == "changed"
    assert [a["acknowledged"]["by"] for a in changed["alerts"] if a["acknowledged"]] == ["ops-key"]


def test_a_silence_suppresses_matching_alerts_until_it_ends(world: World) -> None:
    with world.sessions.begin() as session:
        session.add(
            Silence(
                matchers=[
                    {"name": "resource", "op": "=~", "value": "web-.*"},
                    {"name": "zone", "op": "!=", "value": "b"},
                ],
                starts_at=T0,
                ends_at=T0 + timedelta(hours=1),
                comment="maintenance",
            )
        )
    world.alert("firing", T0, resource="web-1")  # silenced
    world.alert("firing", T0, resource="db-1")  # the regex is anchored: "web-.*" does not match "db-1"
    report = world.round(T0 + timedelta(seconds=30))
    assert report.silenced == 1
    assert [n["groupLabels"]["resource"] for n in world.notices()] == ["db-1"]
    world.round(T0 + timedelta(minutes=30))
    assert len(world.notices()) == 1
    world.round(T0 + timedelta(hours=1))  # the silence ended: its group is notified
    assert [n["groupLabels"]["resource"] for n in world.notices()] == ["db-1", "web-1"]


@pytest.mark.parametrize(
    ("op", "value", "label", "matches"),
    [
        ("=", "web-1", "web-1", True),
        ("=", "web", "web-1", False),
        ("!=", "web", "web-1", True),
        ("=~", "web-[0-9]", "web-1", True),
        ("=~", "web", "web-1", False),
        ("!~", "db.*", "web-1", True),
        ("!~", "web.*", "web-1", False),
        ("=", "", None, True),
        ("=~", "(", "web-1", False),
    ],
)
def test_silence_matchers_follow_alertmanager(op: str, value: str, label: str | None, matches: bool) -> None:
    labels = {} if label is None else {"resource": label}
    assert matcher_matches({"name": "resource", "op": op, "value": value}, labels) is matches


def test_a_resolved_group_is_notified_once(world: World) -> None:
    alert = world.alert("firing", T0)
    world.round(T0 + timedelta(seconds=30))
    set_alert(world.sessions, alert, state="resolved", resolved_at=T0 + timedelta(minutes=2))
    world.round(T0 + timedelta(minutes=2))  # within group_interval: held
    for minutes in (6, 10, 60, 300):
        world.round(T0 + timedelta(minutes=minutes))
    _, resolved = world.notices()
    assert (resolved["reason"], resolved["status"]) == ("resolved", "resolved")
    assert resolved["alerts"][0]["endsAt"] == (T0 + timedelta(minutes=2)).isoformat()
    with world.sessions() as session:
        assert session.scalars(select(NotificationGroup)).all() == []  # forgotten: a new alert waits again


def test_one_of_two_alerts_resolving_is_listed_as_resolved_once(world: World) -> None:
    going = world.alert("firing", T0, zone="a")
    world.alert("firing", T0, zone="b")
    world.round(T0 + timedelta(seconds=30))
    set_alert(world.sessions, going, state="resolved", resolved_at=T0 + timedelta(minutes=1))
    world.round(T0 + timedelta(minutes=6))
    world.round(T0 + timedelta(minutes=12))
    _, changed = world.notices()
    assert changed["status"] == "firing"
    assert {a["status"] for a in changed["alerts"]} == {"firing", "resolved"}
    world.round(T0 + timedelta(minutes=66))  # an hour after the change
    assert [len(n["alerts"]) for n in world.notices()] == [2, 2, 1]  # the repeat lists the firing one only


def test_an_alert_resolved_before_its_first_notice_is_never_notified(world: World) -> None:
    alert = world.alert("firing", T0)
    world.round(T0)
    set_alert(world.sessions, alert, state="resolved", resolved_at=T0 + timedelta(seconds=10))
    for seconds in (30, 600, 7200):
        world.round(T0 + timedelta(seconds=seconds))
    assert world.notices() == []


def test_pending_alerts_are_never_notified(world: World) -> None:
    world.alert("pending", T0)
    for minutes in (1, 10, 300):
        world.round(T0 + timedelta(minutes=minutes))
    assert world.notices() == []
    with world.sessions() as session:
        assert session.scalars(select(Notification)).all() == []


def test_every_attempt_is_recorded_with_a_masked_target(world: World) -> None:
    world.receiver.failures["/hook/ops"] = 2
    world.alert("firing", T0)
    world.round(T0 + timedelta(seconds=30))
    with world.sessions() as session:
        tries = session.scalars(select(Notification).order_by(Notification.id)).all()
    assert [(t.attempt, t.status_code, t.delivered) for t in tries] == [
        (1, 500, False),
        (2, 500, False),
        (3, 204, True),
    ]
    assert {t.target for t in tries} == {f"{world.receiver.url}/..."}
    assert len({t.notice_id for t in tries}) == 1
    assert len({h["webhook-id"] for _, h, _ in world.receiver.accepted}) == 1


def test_a_route_without_send_resolved_gets_no_resolved_notice(engine: Engine, receiver: Receiver) -> None:
    world = World(engine, receiver)
    # a second rule, whose route does not want resolutions
    quiet_id, _ = add_rule(
        world.sessions,
        world.key,
        [{"type": "slack", "url": f"{receiver.url}/slack/quiet", "send_resolved": False}],
        name="Quiet",
        grouping=GROUPING,
    )
    loud, quiet = world.alert("firing", T0), add_alert(world.sessions, quiet_id, state="firing", at=T0)
    world.round(T0 + timedelta(seconds=30))
    for alert in (loud, quiet):
        set_alert(world.sessions, alert, state="resolved", resolved_at=T0 + timedelta(minutes=1))
    world.round(T0 + timedelta(minutes=6))
    assert [n["status"] for n in receiver.notices("/hook/ops")] == ["firing", "resolved"]
    assert [n["text"].split()[0] for n in receiver.notices("/slack/quiet")] == ["[FIRING:1]"]
