"""Rule details: durations, selectors and aggregations of threshold rules, disabling a rule,
acknowledging by state, and silences' matchers (on SQLite and PostgreSQL where stored)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine

from control_plane.monitoring import alerts, conditions, lifecycle, silences
from control_plane.monitoring.rules import parse_duration
from control_plane.services.errors import Conflict, InvalidRequest
from control_plane.store.db import make_sessionmaker
from control_plane.store.monitoring_models import AlertRule, MonitorAlert, Silence
from tests.control_plane.monitoring.helpers import T0, add_provider, add_resource, add_rule, alerts_of, cpu, history


@pytest.mark.parametrize(
    ("given", "seconds"),
    [(0, 0.0), (90, 90.0), ("90", 90.0), ("30s", 30.0), ("5m", 300.0), ("1h30m", 5400.0), ("1d", 86400.0),
     ("2.5m", 150.0)],
)  # fmt: skip
def test_a_duration_is_seconds_or_a_unit_string(given: object, seconds: float) -> None:
    assert parse_duration(given) == seconds


@pytest.mark.parametrize("given", [-1, "-5m", "", "5 minutes", "m", True, None, 400 * 86400])
def test_a_negative_or_unreadable_duration_is_refused(given: object) -> None:
    with pytest.raises(ValueError, match=r"\S"):
        parse_duration(given)


@pytest.mark.parametrize("in_limit", [500, 0], ids=["ids-in-sql", "fleet-filtered-in-python"])
def test_a_threshold_rule_watches_only_its_selection_with_its_aggregation(
    engine: Engine, in_limit: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(conditions, "IN_LIMIT", in_limit)
    sessions = make_sessionmaker(engine)
    with sessions.begin() as session:
        aws, gcp = add_provider(session, "sandbox-aws"), add_provider(session, "sandbox-gcp")
        web = add_resource(session, aws, "web-1", tags={"role": "web"})
        db = add_resource(session, aws, "db-1", tags={"role": "db"})
        other = add_resource(session, gcp, "web-9", tags={"role": "web"})
        spec = {"metric": "cpu", "comparator": ">=", "threshold": 90.0, "window": 120.0, "for": 0.0,
                "selector": {"provider": [str(aws.id)], "resources": [], "tags": {"role": "web"}}}  # fmt: skip
        peak = add_rule(session, "peak", "threshold", {**spec, "aggregation": "max"})
        mean = add_rule(session, "mean", "threshold", {**spec, "aggregation": "avg"})
    for resource in (web, db, other):
        cpu(sessions, resource, T0 - timedelta(seconds=60), 95)
        cpu(sessions, resource, T0, 40)
    lifecycle.evaluate(sessions, now=T0)
    (alert,) = alerts_of(sessions, peak.id)  # only web-1: db-1 has the wrong tag, web-9 the wrong provider
    assert alert.labels["resource"] == "web-1"
    assert alert.value == 95.0
    assert alerts_of(sessions, mean.id) == []  # the average over the window is 67.5


def test_disabling_a_rule_resolves_its_firing_alerts_and_drops_its_pending_ones(engine: Engine) -> None:
    sessions = make_sessionmaker(engine)
    with sessions.begin() as session:
        provider = add_provider(session)
        web = add_resource(session, provider, "web-1")
        spec = {"metric": "cpu", "selector": {}, "aggregation": "avg", "window": 30.0, "comparator": ">",
                "threshold": 90.0}  # fmt: skip
        now_rule = add_rule(session, "now", "threshold", {**spec, "for": 0.0})
        later_rule = add_rule(session, "later", "threshold", {**spec, "for": 600.0})
    cpu(sessions, web, T0, 99)
    lifecycle.evaluate(sessions, now=T0)
    with sessions.begin() as session:
        for rule_id in (now_rule.id, later_rule.id):
            row = session.get(AlertRule, rule_id)
            assert row is not None
            row.enabled = False
    lifecycle.evaluate(sessions, now=T0 + timedelta(seconds=30))
    (fired,), (waiting,) = alerts_of(sessions, now_rule.id), alerts_of(sessions, later_rule.id)
    assert (fired.state, waiting.state) == ("resolved", "inactive")
    assert history(sessions, fired.id)[-1] == ("firing", "resolved")


def test_a_rule_that_cannot_be_evaluated_leaves_the_others_evaluated(engine: Engine) -> None:
    sessions = make_sessionmaker(engine)
    with sessions.begin() as session:
        web = add_resource(session, add_provider(session), "web-1")
        good = {"metric": "cpu", "selector": {}, "aggregation": "avg", "window": 30.0, "comparator": ">",
                "threshold": 90.0, "for": 0.0}  # fmt: skip
        add_rule(session, "a broken", "threshold", {**good, "comparator": "~"})  # written around the API
        rule = add_rule(session, "b fine", "threshold", good)
    cpu(sessions, web, T0, 99)
    done = lifecycle.evaluate(sessions, now=T0)
    assert [(t.rule, t.to_state) for t in done] == [("b fine", "firing")]
    assert [a.state for a in alerts_of(sessions, rule.id)] == ["firing"]


def test_a_pending_alert_can_be_acknowledged_and_a_dropped_one_cannot(engine: Engine) -> None:
    sessions = make_sessionmaker(engine)
    with sessions.begin() as session:
        web = add_resource(session, add_provider(session), "web-1")
        rule = add_rule(session, "cpu", "threshold", {"metric": "cpu", "selector": {}, "aggregation": "avg",
                                                      "window": 30.0, "comparator": ">", "threshold": 90.0,
                                                      "for": 600.0})  # fmt: skip
    cpu(sessions, web, T0, 99)
    lifecycle.evaluate(sessions, now=T0)
    (alert,) = alerts_of(sessions, rule.id)
    with sessions.begin() as session:
        row = session.get(MonitorAlert, alert.id)
        assert row is not None
        shown = alerts.acknowledge(session, row, by="ops", note=None, expires_at=None, now=T0)
    assert shown["state"] == "pending"
    assert shown["ack"]["by"] == "ops"
    # no sample in the lookback (the newest is over 5 minutes old): not judged, so dropped
    lifecycle.evaluate(sessions, now=T0 + conditions.LOOKBACK + timedelta(seconds=30))
    with sessions.begin() as session:
        row = session.get(MonitorAlert, alert.id)
        assert row is not None
        with pytest.raises(Conflict, match="inactive"):
            alerts.acknowledge(session, row, by="ops", note=None, expires_at=None, now=T0)


def _silence(*matchers: tuple[str, str, str], hours: int = 1) -> Silence:
    return Silence(matchers=[{"name": n, "op": o, "value": v} for n, o, v in matchers], starts_at=T0,
                   ends_at=T0 + timedelta(hours=hours))  # fmt: skip


LABELS = {"alertname": "web cpu high", "severity": "critical", "resource": "web-12", "provider": "sandbox-aws"}


@pytest.mark.parametrize(
    ("matchers", "silenced"),
    [
        ((("alertname", "=", "web cpu high"),), True),
        ((("alertname", "=", "web cpu"),), False),
        ((("severity", "!=", "info"),), True),
        ((("resource", "=~", "web-[0-9]+"),), True),
        ((("resource", "=~", "web"),), False),  # anchored at both ends
        ((("resource", "=~", "(web|api)-[0-9]{1,3}"),), True),
        ((("provider", "!~", "sandbox-.*"),), False),
        ((("alertname", "=", "web cpu high"), ("resource", "=", "web-1")), False),  # every matcher must hold
        ((("team", "=", ""),), True),  # a missing label is the empty string, as in Alertmanager
    ],
)
def test_an_alert_is_silenced_when_every_matcher_holds(
    matchers: tuple[tuple[str, str, str], ...], silenced: bool
) -> None:
    found = silences.silenced([_silence(*matchers)], LABELS, T0 + timedelta(minutes=1))
    assert (found is not None) is silenced


@pytest.mark.parametrize(
    ("pattern", "accepted"),
    [
        ("web-.*", True),
        ("(web|api)-[0-9]{1,3}", True),
        ("(x{1,3})+", True),
        ("(a+)+$", False),
        ("((ab)*)+", False),
        ("(?:a|b*)*", False),
        ("(a{1,100})*", False),
    ],
)
def test_a_pattern_with_a_repeat_inside_a_repeat_is_refused(pattern: str, accepted: bool) -> None:
    matchers = [{"name": "resource", "op": "=~", "value": pattern}]
    if accepted:
        silences.check_matchers(matchers)
    else:
        with pytest.raises(InvalidRequest, match="repeat inside a repeat"):
            silences.check_matchers(matchers)


def test_a_silence_is_pending_active_then_expired() -> None:
    silence = _silence(("alertname", "=", "web cpu high"))
    assert silences.state_of(silence, T0 - timedelta(minutes=1)) == "pending"
    assert silences.silenced([silence], LABELS, T0 - timedelta(minutes=1)) is None
    assert silences.state_of(silence, T0 + timedelta(minutes=59)) == "active"
    silences.expire(silence, T0 + timedelta(minutes=30))
    assert silences.state_of(silence, T0 + timedelta(minutes=30)) == "expired"
    assert silences.silenced([silence], LABELS, T0 + timedelta(minutes=31)) is None
