"""Two collectors notifying at once send one notice; a collector that dies while sending leaves
its claim, and the notice is resent after the lease with the same webhook-id, to the routes
that had not taken it. On SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select

from control_plane.monitoring.notify import NotifyReport, notify_round
from control_plane.monitoring.settings import MonitorSettings
from control_plane.store.db import make_sessionmaker
from control_plane.store.monitoring_models import Notification, NotificationGroup
from tests.control_plane.monitoring.notify_support import FAST, Receiver, add_alert, add_rule, cipher

T0 = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
SETTINGS = MonitorSettings(notify_lease_seconds=300)


class Crash(BaseException):
    """The process dying mid-send (not an Exception: nothing in the round catches it)."""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()


def test_two_rounds_at_once_send_one_notice(engine: Engine, receiver: Receiver) -> None:
    sessions, key = make_sessionmaker(engine), cipher()
    rule_id, receiver.secret = add_rule(sessions, key, [{"type": "webhook", "url": f"{receiver.url}/hook/ops"}])
    add_alert(sessions, rule_id, state="firing", at=T0, resource="web-1")
    add_alert(sessions, rule_id, state="firing", at=T0, resource="web-2")
    start = threading.Barrier(2)
    reports: list[NotifyReport] = []
    errors: list[BaseException] = []

    def collector() -> None:
        try:
            start.wait()
            reports.append(notify_round(sessions, now=T0 + timedelta(minutes=1), settings=SETTINGS, cipher=key,
                                        delivery=FAST))  # fmt: skip
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=collector) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert sum(len(r.notices) for r in reports) == 1
    assert len(receiver.accepted) == 1
    assert len(receiver.notices()[0]["alerts"]) == 2


def test_a_notice_claimed_by_a_sender_that_died_is_resent_once_with_the_same_id(
    engine: Engine, receiver: Receiver
) -> None:
    sessions, key = make_sessionmaker(engine), cipher()
    hooks = [{"type": "webhook", "url": f"{receiver.url}/hook/{name}"} for name in ("a", "b")]
    rule_id, receiver.secret = add_rule(sessions, key, hooks)
    add_alert(sessions, rule_id, state="firing", at=T0)
    at = T0 + timedelta(minutes=1)

    def dies(_: float) -> None:
        raise Crash

    receiver.failures["/hook/b"] = 1
    with pytest.raises(Crash):  # /hook/a took it, /hook/b failed, and the process died in its backoff
        notify_round(sessions, now=at, settings=SETTINGS, cipher=key, delivery=FAST, sleep=dies)
    assert [p for p, _, _ in receiver.accepted] == ["/hook/a"]
    with sessions() as session:
        [row] = session.scalars(select(NotificationGroup)).all()
        assert row.claimed_until == at + timedelta(seconds=300)
        assert row.last_notified_at is None

    quiet = notify_round(sessions, now=at + timedelta(seconds=299), settings=SETTINGS, cipher=key, delivery=FAST)
    assert (quiet.notices, len(receiver.accepted)) == ([], 1)  # still the dead sender's: left alone

    later = notify_round(sessions, now=at + timedelta(seconds=300), settings=SETTINGS, cipher=key, delivery=FAST)
    assert (later.resent, later.notices[0][1]) == (1, "first")
    assert [p for p, _, _ in receiver.accepted] == ["/hook/a", "/hook/b"]  # /hook/a is not sent twice
    assert len({h["webhook-id"] for _, h, _ in receiver.accepted}) == 1
    with sessions() as session:
        [row] = session.scalars(select(NotificationGroup)).all()
        assert (row.claimed_until, row.last_notified_at, row.notice) == (None, at + timedelta(seconds=300), {})
        tries = session.scalars(select(Notification).order_by(Notification.id)).all()
    assert [(t.target.endswith("/..."), t.delivered) for t in tries] == [(True, True), (True, False), (True, True)]
    assert len({t.notice_id for t in tries}) == 1

    after = notify_round(sessions, now=at + timedelta(minutes=30), settings=SETTINGS, cipher=key, delivery=FAST)
    assert after.notices == []
