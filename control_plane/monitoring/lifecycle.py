"""The alert lifecycle, as in Prometheus, with Alertmanager-free acknowledgement.

Each round (:func:`evaluate`, after each collection) every enabled rule names the label sets
breaching now (``conditions``), and each alert moves:

- inactive -> pending at its first breach; -> firing at once when the rule's ``for`` is 0;
- pending -> firing once it has breached for ``for``;
- pending that clears -> inactive (dropped silently, as Prometheus does; the row keeps its
  history but is no longer listed);
- firing that clears -> resolved once it has stayed clear for the rule's ``hold`` (flap
  damping); a breach within the hold keeps it firing;
- resolved stays listed ``resolved_keep_minutes`` (15); a new breach is a new alert.

An acknowledgement whose ``ack_expires_at`` has passed is cleared (``unacknowledged``). Every
transition is an ``alert_transitions`` row and an event on the stream's ``alerts`` topic, in
the round's transaction. ``open_key`` (unique while an alert is pending or firing) keeps one
open alert per rule and label set, whichever of two concurrent evaluators inserts first.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from control_plane.monitoring import events
from control_plane.monitoring.conditions import KIND_CHECKS, Breach, Context, opened
from control_plane.monitoring.rules import ensure_builtin, for_of, hold_of
from control_plane.monitoring.settings import MonitorSettings
from control_plane.store.monitoring_models import AlertRule, AlertTransition, MonitorAlert

log = logging.getLogger(__name__)

OPEN = ("pending", "firing")
COST_KINDS = ("budget_forecast", "cost_anomaly")


@dataclass(frozen=True)
class Transition:
    alert_id: uuid.UUID
    rule: str
    labels: dict[str, str]
    from_state: str
    to_state: str
    at: datetime


def fingerprint(rule_id: uuid.UUID, labels: dict[str, str]) -> str:
    return hashlib.sha256(f"{rule_id}|{json.dumps(labels, sort_keys=True)}".encode()).hexdigest()


def _labels(rule: AlertRule, breach: Breach) -> dict[str, str]:
    return {**{k: str(v) for k, v in (rule.labels or {}).items()}, **breach.labels, "alertname": rule.name,
            "severity": rule.severity}  # fmt: skip


FIELD = re.compile(r"\{(\w+)\}")


def _annotations(rule: AlertRule, labels: dict[str, str], value: float | None) -> dict[str, str]:
    """The rule's annotations with ``{label}`` and ``{value}`` filled in where they appear; any
    other braces stay as they are. Plain substitution, not ``str.format``: an operator's text must
    not reach attributes (``{resource.__class__}``) or ask for a gigabyte of padding
    (``{value:>999999999}``) in every evaluation round."""
    fields = {**labels, "value": "" if value is None else f"{value:g}"}
    return {
        key: str(text) if key == "runbook_url" else FIELD.sub(lambda m: fields.get(m.group(1), m.group(0)), str(text))
        for key, text in (rule.annotations or {}).items()
    }


# -- views -----------------------------------------------------------------------------------------
def acknowledged(alert: MonitorAlert, now: datetime) -> bool:
    return alert.acked_at is not None and (alert.ack_expires_at is None or alert.ack_expires_at > now)


def shown_state(alert: MonitorAlert, now: datetime) -> str:
    """pending, firing, acknowledged (firing, acked, not expired), resolved or inactive."""
    if alert.state == "firing" and acknowledged(alert, now):
        return "acknowledged"
    return alert.state


def transition_view(row: AlertTransition) -> dict[str, Any]:
    return {"id": row.id, "at": row.at, "from": row.from_state, "to": row.to_state, "value": row.value,
            "actor": row.actor, "detail": row.detail}  # fmt: skip


def alert_view(alert: MonitorAlert, rule_name: str, now: datetime) -> dict[str, Any]:
    """An alert as GET /monitoring/alerts shows it (and as the stream's ``alerts`` events carry it)."""
    ack = None
    if alert.acked_at is not None:
        ack = {"by": alert.acked_by, "at": alert.acked_at, "note": alert.ack_note, "expires_at": alert.ack_expires_at}
    return {
        "id": alert.id, "rule_id": alert.rule_id, "rule": rule_name, "state": shown_state(alert, now),
        "severity": alert.severity, "labels": alert.labels, "annotations": alert.annotations, "value": alert.value,
        "resource_id": alert.resource_id, "provider_id": alert.provider_id, "fingerprint": alert.fingerprint,
        "active_since": alert.active_since, "fired_at": alert.fired_at, "cleared_since": alert.cleared_since,
        "resolved_at": alert.resolved_at, "last_evaluated_at": alert.last_evaluated_at, "ack": ack,
        "updated_at": alert.updated_at,
    }  # fmt: skip


def record(
    session: Session,
    alert: MonitorAlert,
    rule_name: str,
    from_state: str,
    to_state: str,
    now: datetime,
    *,
    actor: str | None = None,
    detail: dict[str, Any] | None = None,
    outbox: list[dict[str, Any]] | None = None,
) -> Transition:
    """Store a transition and publish the alert with it on the ``alerts`` topic (now, or with
    the round's other events when given its ``outbox``)."""
    session.add(AlertTransition(alert_id=alert.id, at=now, from_state=from_state, to_state=to_state,
                                value=alert.value, actor=actor, detail=detail or {}))  # fmt: skip
    alert.updated_at = now
    payload = {**alert_view(alert, rule_name, now), "transition": {"from": from_state, "to": to_state}}
    event = {"data": payload, "provider_id": alert.provider_id, "resource_id": alert.resource_id,
             "severity": alert.severity}  # fmt: skip
    if outbox is not None:
        outbox.append(event)
    else:
        session.flush()
        events.publish(session, "alerts", payload, provider_id=alert.provider_id, resource_id=alert.resource_id,
                       severity=alert.severity, at=now)  # fmt: skip
    return Transition(alert.id, rule_name, dict(alert.labels), from_state, to_state, now)


# -- a round ----------------------------------------------------------------------------------------
def evaluate(
    sessions: sessionmaker[Session],
    *,
    now: datetime,
    settings: MonitorSettings | None = None,
    serving_dir: Path | None = None,
) -> list[Transition]:
    """Evaluate every enabled rule at ``now`` in one transaction; returns the transitions made."""
    del settings  # the lifecycle's own figures are the rules'; listing uses resolved_keep_minutes
    with sessions.begin() as session:
        ensure_builtin(session)
        rules = list(session.scalars(select(AlertRule).order_by(AlertRule.name)))
        done: list[Transition] = []
        outbox: list[dict[str, Any]] = []  # the round's events, published in one insert
        cost = any(r.enabled and r.kind in COST_KINDS for r in rules)
        with opened(session, now, serving_dir, cost_rules=cost) as ctx:
            for rule in rules:
                queued = len(outbox)
                try:
                    with session.begin_nested():  # one rule that fails leaves the others evaluated
                        done += _rule_round(ctx, rule, outbox)
                except Exception:
                    log.exception("alert rule %s (%s) could not be evaluated", rule.name, rule.id)
                    del outbox[queued:]
        done += _expire_acks(session, now, outbox)
        session.flush()
        events.publish_many(session, "alerts", outbox, at=now)
    return done


def _rule_round(ctx: Context, rule: AlertRule, outbox: list[dict[str, Any]]) -> list[Transition]:
    if not rule.enabled:
        return _close_all(ctx.session, rule, ctx.now, "the rule is disabled", outbox)
    breaches = KIND_CHECKS[rule.kind](ctx, rule)
    if breaches is None:  # its data cannot be read this round: leave its alerts alone
        return []
    return _step(ctx, rule, breaches, outbox)


def _open_alerts(session: Session, rule: AlertRule) -> dict[str, MonitorAlert]:
    # locked (PostgreSQL): a concurrent evaluator waits, then sees what this one made of them
    query = select(MonitorAlert).where(MonitorAlert.rule_id == rule.id, MonitorAlert.state.in_(OPEN))
    query = query.order_by(MonitorAlert.id).with_for_update()
    return {a.fingerprint: a for a in session.scalars(query)}


def _step(ctx: Context, rule: AlertRule, breaches: list[Breach], outbox: list[dict[str, Any]]) -> list[Transition]:
    session, now = ctx.session, ctx.now
    wait, hold = for_of(rule), hold_of(rule)
    current = _open_alerts(session, rule)
    done: list[Transition] = []
    seen: set[str] = set()
    fresh: list[tuple[dict[str, Any], Breach]] = []
    for breach in breaches:
        labels = _labels(rule, breach)
        key = fingerprint(rule.id, labels)
        if key in seen:
            continue
        seen.add(key)
        alert = current.get(key)
        if alert is None:
            fresh.append((_new_alert(rule, breach, labels, key, now, fire=wait <= timedelta(0)), breach))
            continue
        alert.value, alert.last_evaluated_at = breach.value, now
        alert.annotations = _annotations(rule, labels, breach.value)
        if alert.state == "pending" and now - alert.active_since >= wait:
            alert.state, alert.fired_at = "firing", now
            done.append(
                record(session, alert, rule.name, "pending", "firing", now, detail=breach.detail, outbox=outbox)
            )
        elif alert.state == "firing" and alert.cleared_since is not None:
            alert.cleared_since = None  # breached again within the hold: stays firing
    for key, alert in current.items():
        if key in seen:
            continue
        alert.last_evaluated_at = now
        if alert.state == "pending":
            alert.state, alert.open_key = "inactive", None
            done.append(record(session, alert, rule.name, "pending", "inactive", now, outbox=outbox))
            continue
        if alert.cleared_since is None:
            alert.cleared_since = now
        if now - alert.cleared_since >= hold:
            alert.state, alert.resolved_at, alert.open_key = "resolved", now, None
            done.append(record(session, alert, rule.name, "firing", "resolved", now, outbox=outbox))
    for alert, breach in _open_many(session, rule, fresh):
        done.append(
            record(session, alert, rule.name, "inactive", alert.state, now, detail=breach.detail, outbox=outbox)
        )
    return done


def _new_alert(rule: AlertRule, breach: Breach, labels: dict[str, str], key: str, now: datetime,
               *, fire: bool) -> dict[str, Any]:  # fmt: skip
    return {
        "rule_id": rule.id, "fingerprint": key, "open_key": key, "state": "firing" if fire else "pending",
        "severity": rule.severity, "labels": labels, "annotations": _annotations(rule, labels, breach.value),
        "resource_id": breach.resource_id, "provider_id": breach.provider_id, "value": breach.value,
        "active_since": now, "fired_at": now if fire else None, "last_evaluated_at": now, "created_at": now,
        "updated_at": now,
    }  # fmt: skip


def _open_many(
    session: Session, rule: AlertRule, fresh: list[tuple[dict[str, Any], Breach]]
) -> list[tuple[MonitorAlert, Breach]]:
    """Insert the rule's new alerts, all in one flush; when a concurrent evaluator opened one of
    them first (its ``open_key`` is taken), one at a time, leaving out those it opened."""
    if not fresh:
        return []
    made = [(MonitorAlert(id=uuid.uuid4(), **fields), breach) for fields, breach in fresh]
    try:
        with session.begin_nested():
            session.add_all([alert for alert, _ in made])
            session.flush()
        return made
    except IntegrityError:
        pass
    opened = []
    for fields, breach in fresh:
        alert = MonitorAlert(id=uuid.uuid4(), **fields)
        try:
            with session.begin_nested():
                session.add(alert)
                session.flush()
        except IntegrityError:
            log.info("alert %s of rule %s was opened by another evaluator", fields["open_key"][:12], rule.name)
            continue
        opened.append((alert, breach))
    return opened


def _close_all(
    session: Session, rule: AlertRule, now: datetime, reason: str, outbox: list[dict[str, Any]]
) -> list[Transition]:
    done = []
    for alert in _open_alerts(session, rule).values():
        before = alert.state
        alert.open_key, alert.last_evaluated_at = None, now
        if before == "pending":
            alert.state = "inactive"
        else:
            alert.state, alert.resolved_at = "resolved", now
        done.append(
            record(session, alert, rule.name, before, alert.state, now, detail={"reason": reason}, outbox=outbox)
        )
    return done


def _expire_acks(session: Session, now: datetime, outbox: list[dict[str, Any]]) -> list[Transition]:
    query = select(MonitorAlert, AlertRule.name).join(AlertRule, AlertRule.id == MonitorAlert.rule_id).where(
        MonitorAlert.acked_at.is_not(None), MonitorAlert.ack_expires_at.is_not(None),
        MonitorAlert.ack_expires_at <= now, MonitorAlert.state.in_(OPEN),
    ).order_by(MonitorAlert.id).with_for_update(of=MonitorAlert)  # fmt: skip
    done = []
    for alert, name in session.execute(query).all():
        detail = {"acked_by": alert.acked_by, "expired_at": alert.ack_expires_at.isoformat()}  # type: ignore[union-attr]
        alert.acked_by = alert.acked_at = alert.ack_note = alert.ack_expires_at = None
        done.append(record(session, alert, name, alert.state, "unacknowledged", now, detail=detail, outbox=outbox))
    return done
