"""Reading alerts (by state, severity, rule, resource and label) and acknowledging them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.orm import Session

from control_plane.monitoring.lifecycle import OPEN, alert_view, record, transition_view
from control_plane.pagination import encode_cursor, page_of, seek
from control_plane.services.errors import Conflict, InvalidRequest, NotFound
from control_plane.store.monitoring_models import AlertRule, AlertTransition, MonitorAlert

STATES = ("pending", "firing", "acknowledged", "resolved")
LAST_TRANSITIONS = 5


def parse_label(value: str) -> tuple[str, str]:
    name, sep, wanted = value.partition("=")
    if not sep or not name:
        raise InvalidRequest(
            f"label: {value!r} is not key=value",
            errors=[{"location": "query", "field": "label", "message": "key=value, such as severity=critical"}],
        )
    return name, wanted


def _state_clause(state: str, now: datetime, keep: timedelta) -> Any:
    acked = and_(MonitorAlert.acked_at.is_not(None),
                 or_(MonitorAlert.ack_expires_at.is_(None), MonitorAlert.ack_expires_at > now))  # fmt: skip
    if state == "pending":
        return MonitorAlert.state == "pending"
    if state == "firing":
        return and_(MonitorAlert.state == "firing", ~acked)
    if state == "acknowledged":
        return and_(MonitorAlert.state == "firing", acked)
    return and_(MonitorAlert.state == "resolved", MonitorAlert.resolved_at >= now - keep)


def list_alerts(
    session: Session,
    *,
    now: datetime,
    keep: timedelta,
    limit: int,
    cursor: str | None = None,
    states: Sequence[str] = (),
    severities: Sequence[str] = (),
    rules: Sequence[str] = (),
    resources: Sequence[uuid.UUID] = (),
    labels: Sequence[tuple[str, str]] = (),
) -> tuple[list[dict[str, Any]], str | None]:
    """The listed alerts, newest change first: pending, firing, acknowledged, and resolved in
    the last ``keep``; ``rules`` by name or id; every label matcher must hold."""
    query: Select[Any] = select(MonitorAlert).join(AlertRule, AlertRule.id == MonitorAlert.rule_id)
    query = query.where(or_(*(_state_clause(s, now, keep) for s in (states or STATES))))
    if severities:
        query = query.where(MonitorAlert.severity.in_(list(severities)))
    if rules:
        ids = []
        for value in rules:
            try:
                ids.append(uuid.UUID(value))
            except ValueError:
                continue
        query = query.where(or_(AlertRule.name.in_(list(rules)), AlertRule.id.in_(ids)))
    if resources:
        query = query.where(MonitorAlert.resource_id.in_(list(resources)))
    if not labels:
        rows = list(session.scalars(seek(query, MonitorAlert.updated_at, MonitorAlert.id, limit=limit, cursor=cursor,
                                         descending=True, decode=datetime.fromisoformat)))  # fmt: skip
    else:  # label values are JSON: matched here, a page at a time
        rows, after = [], cursor
        while len(rows) <= limit:
            found = seek(query, MonitorAlert.updated_at, MonitorAlert.id, limit=200, cursor=after, descending=True,
                         decode=datetime.fromisoformat)  # fmt: skip
            batch = list(session.scalars(found))
            rows += [a for a in batch[:200] if all(str(a.labels.get(k, "")) == v for k, v in labels)]
            if len(batch) <= 200:
                break
            after = _cursor_of(batch[199])
    page, next_cursor = page_of(rows, limit, lambda a: a.updated_at.isoformat())
    names = _rule_names(session, {a.rule_id for a in page})
    history = _last_transitions(session, [a.id for a in page])
    return [
        {**alert_view(a, names.get(a.rule_id, ""), now), "transitions": history.get(a.id, [])} for a in page
    ], next_cursor


def _cursor_of(alert: MonitorAlert) -> str:
    return encode_cursor(alert.updated_at.isoformat(), str(alert.id))


def _rule_names(session: Session, ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not ids:
        return {}
    query = select(AlertRule.id, AlertRule.name).where(AlertRule.id.in_(ids))
    return {row[0]: row[1] for row in session.execute(query)}


def _last_transitions(session: Session, ids: list[uuid.UUID]) -> dict[uuid.UUID, list[dict[str, Any]]]:
    if not ids:
        return {}
    found: dict[uuid.UUID, list[dict[str, Any]]] = {}
    query = select(AlertTransition).where(AlertTransition.alert_id.in_(ids)).order_by(AlertTransition.id.desc())
    for row in session.scalars(query):
        shown = found.setdefault(row.alert_id, [])
        if len(shown) < LAST_TRANSITIONS:
            shown.append(transition_view(row))
    return {k: list(reversed(v)) for k, v in found.items()}


def get_alert(session: Session, alert_id: uuid.UUID, *, lock: bool = False) -> MonitorAlert:
    alert = session.get(MonitorAlert, alert_id, with_for_update=lock)
    if alert is None:
        raise NotFound(f"no alert has the id {alert_id}")
    return alert


def alert_detail(session: Session, alert: MonitorAlert, now: datetime) -> dict[str, Any]:
    """The alert with its whole history, oldest first."""
    name = _rule_names(session, {alert.rule_id}).get(alert.rule_id, "")
    query = select(AlertTransition).where(AlertTransition.alert_id == alert.id).order_by(AlertTransition.id)
    return {**alert_view(alert, name, now), "transitions": [transition_view(t) for t in session.scalars(query)]}


def acknowledge(
    session: Session,
    alert: MonitorAlert,
    *,
    by: str,
    note: str | None,
    expires_at: datetime | None,
    now: datetime,
) -> dict[str, Any]:
    """Acknowledge an open alert (a repeat replaces the earlier ack: who, note and expiry);
    a resolved or dropped one is a 409."""
    if alert.state not in OPEN:
        raise Conflict(f"the alert is {alert.state}; only a pending or firing alert can be acknowledged",
                       state=alert.state)  # fmt: skip
    if expires_at is not None and expires_at <= now:
        message = "must be in the future"
        raise InvalidRequest(f"expires_at: {message}", errors=[{"location": "body", "field": "expires_at",
                                                                "message": message}])  # fmt: skip
    again = alert.acked_at is not None
    alert.acked_by, alert.acked_at, alert.ack_note, alert.ack_expires_at = by, now, note, expires_at
    name = _rule_names(session, {alert.rule_id}).get(alert.rule_id, "")
    detail = {"note": note, "expires_at": expires_at.isoformat() if expires_at else None, "again": again}
    record(session, alert, name, alert.state, "acknowledged", now, actor=by, detail=detail)
    return alert_detail(session, alert, now)
