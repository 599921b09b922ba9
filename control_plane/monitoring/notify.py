"""Grouping alerts and deciding when to notify, as Alertmanager does, plus acknowledgement.

A rule's alerts with the same values of its ``grouping.group_by`` labels form a group (a
:class:`NotificationGroup`, keyed by a hash of the rule's id and those values; ``["..."]``
groups by every label, ``[]``, the default, puts all of a rule's alerts in one group). Each
round (the collector runs one after each evaluation) looks at every group and sends a notice,
listing all its firing alerts and those resolved since the last notice, when:

- **first**: the group has firing alerts and none was notified yet, ``group_wait`` (30 s) after
  the group appeared (when the earliest of its alerts started firing);
- **changed** / **resolved**: an alert started firing that the last notice did not list, or a
  listed one resolved, and ``group_interval`` (5 min) has passed since the last notice
  (``resolved`` when nothing fires any more: one such notice, then the group is forgotten);
- **repeat**: nothing changed, something still fires, and ``repeat_interval`` (4 h) has passed.

Pending alerts are never notified. A silenced alert (every matcher of an active silence matches
its labels) is left out as if it did not exist. An acknowledged alert (``acked_at`` set, its
expiry not passed) is listed in first and changed notices but causes no repeat: a group whose
firing alerts are all acknowledged is not repeated until one of them is no longer acknowledged.
A route ``{"send_resolved": false}`` gets no resolved alerts and no ``resolved`` notice.

**Two collectors, crashes.** A notice is claimed before it is sent: a conditional UPDATE stores
it in the group row with ``claimed_until`` (now + ``notify_lease_seconds``) only where the row
is unclaimed and ``last_notified_at`` is what the decision read, so one process sends it. After
each route takes it, that is written to the row; when all are done the claim is released and
``last_notified_at`` set. A process that dies after claiming leaves the claim to expire: the
next round after it re-sends the stored notice (same id, so the same ``webhook-id`` and e-mail
Message-ID) to the routes not yet marked done. Delivery is therefore at least once: a receiver
that answered but whose answer was not recorded gets the notice again with the same id, by which
it drops the duplicate (as Standard Webhooks receivers do). Failed routes are not retried past
their attempts; the next change or repeat notifies again.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, false, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from control_plane.crypto import Cipher
from control_plane.monitoring import channels, routes, silences
from control_plane.monitoring.lifecycle import acknowledged
from control_plane.monitoring.settings import MonitorSettings
from control_plane.services.alerts import AlertSettings
from control_plane.store.monitoring_models import AlertRule, MonitorAlert, NotificationGroup

DEFAULTS = {"group_wait": 30.0, "group_interval": 300.0, "repeat_interval": 14400.0}
ALL_LABELS = "..."


@dataclass(frozen=True)
class Grouping:
    group_by: tuple[str, ...] = ()
    group_wait: timedelta = timedelta(seconds=DEFAULTS["group_wait"])
    group_interval: timedelta = timedelta(seconds=DEFAULTS["group_interval"])
    repeat_interval: timedelta = timedelta(seconds=DEFAULTS["repeat_interval"])

    @classmethod
    def of(cls, rule: AlertRule) -> Grouping:
        spec = rule.grouping or {}
        seconds = {name: float(spec.get(name, default)) for name, default in DEFAULTS.items()}
        return cls(tuple(spec.get("group_by") or ()), **{k: timedelta(seconds=v) for k, v in seconds.items()})

    def labels(self, labels: dict[str, Any]) -> dict[str, str]:
        if ALL_LABELS in self.group_by:
            return {k: str(v) for k, v in labels.items()}
        return {name: str(labels.get(name, "")) for name in self.group_by}


@dataclass
class NotifyReport:
    groups: int = 0  # groups looked at
    notices: list[tuple[str, str]] = field(default_factory=list)  # (group key, reason) sent or re-sent
    delivered: int = 0  # route deliveries taken
    failed: int = 0  # route deliveries that failed every attempt
    resent: int = 0  # notices re-sent after an expired claim
    silenced: int = 0  # alerts left out because a silence matched


def group_key(rule_id: uuid.UUID, labels: dict[str, str]) -> str:
    return hashlib.sha256(f"{rule_id}\n{json.dumps(labels, sort_keys=True)}".encode()).hexdigest()


# -- silences and acknowledgements --------------------------------------------------------------
def alert_view(alert: MonitorAlert, now: datetime) -> dict[str, Any]:
    """An alert as a notice lists it (Alertmanager's field names where it has one)."""
    ack = None
    if acknowledged(alert, now):
        ack = {
            "by": alert.acked_by,
            "at": alert.acked_at.isoformat() if alert.acked_at else None,
            "note": alert.ack_note,
            "expires_at": alert.ack_expires_at.isoformat() if alert.ack_expires_at else None,
        }
    return {
        "id": str(alert.id),
        "status": "firing" if alert.state == "firing" else "resolved",
        "severity": alert.severity,
        "labels": dict(alert.labels or {}),
        "annotations": dict(alert.annotations or {}),
        "startsAt": (alert.fired_at or alert.active_since).isoformat(),
        "endsAt": alert.resolved_at.isoformat() if alert.resolved_at else None,
        "fingerprint": alert.fingerprint,
        "value": alert.value,
        "resource_id": str(alert.resource_id) if alert.resource_id else None,
        "provider_id": str(alert.provider_id) if alert.provider_id else None,
        "acknowledged": ack,
    }


def _common(dicts: list[dict[str, Any]]) -> dict[str, Any]:
    if not dicts:
        return {}
    return {k: v for k, v in dicts[0].items() if all(d.get(k) == v for d in dicts[1:])}


# -- deciding ------------------------------------------------------------------------------------
@dataclass
class _Group:
    rule: AlertRule
    labels: dict[str, str]
    alerts: list[MonitorAlert] = field(default_factory=list)  # unsilenced firing and resolved


@dataclass
class _Work:
    rule: AlertRule
    notice: dict[str, Any]
    lease: datetime
    resent: bool = False


def _wants_resolved(route: dict[str, Any]) -> bool:
    return route.get("send_resolved", True) is not False


def decide(group: _Group, row: NotificationGroup, now: datetime) -> str | None:
    """Why the group is notified now (first, changed, resolved, repeat), or None."""
    grouping = Grouping.of(group.rule)
    notified = set(row.notified or [])
    firing = [a for a in group.alerts if a.state == "firing"]
    resolved = [a for a in group.alerts if a.state == "resolved" and str(a.id) in notified]
    if not any(_wants_resolved(r) for r in group.rule.routes):
        resolved = []  # nobody is told about resolutions: they change nothing
    if not notified:
        return "first" if firing and now >= row.first_seen_at + grouping.group_wait else None
    last = row.last_notified_at or row.first_seen_at
    if any(str(a.id) not in notified for a in firing) or resolved:
        return ("changed" if firing else "resolved") if now >= last + grouping.group_interval else None
    if any(not acknowledged(a, now) for a in firing) and now >= last + grouping.repeat_interval:
        return "repeat"
    return None


def build_notice(
    group: _Group, row: NotificationGroup, reason: str, now: datetime, settings: MonitorSettings
) -> dict[str, Any]:
    notified = set(row.notified or [])
    listed = [a for a in group.alerts if a.state == "firing" or str(a.id) in notified]
    listed.sort(key=lambda a: (a.state != "firing", a.fired_at or a.active_since, str(a.id)))
    views = [alert_view(a, now) for a in listed]
    firing = sorted(v["id"] for v in views if v["status"] == "firing")
    resolved = sorted(v["id"] for v in views if v["status"] == "resolved")
    return {
        "id": f"msg_{uuid.uuid4().hex}",
        "group_key": row.key,
        "reason": reason,
        "status": "firing" if firing else "resolved",
        "rule": {"id": str(group.rule.id), "name": group.rule.name},
        "group_labels": group.labels,
        "common_labels": _common([v["labels"] for v in views]),
        "common_annotations": _common([v["annotations"] for v in views]),
        "external_url": settings.external_url,
        "created_at": now.isoformat(),
        "alerts": views,
        "firing": firing,
        "resolved": resolved,
        "done": [],
    }


def _digest(notice: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps([notice["firing"], notice["resolved"]]).encode()).hexdigest()


# -- the round -------------------------------------------------------------------------------------
def _load(
    session: Session, now: datetime, report: NotifyReport
) -> tuple[dict[str, _Group], dict[str, NotificationGroup]]:
    rules = {r.id: r for r in session.scalars(select(AlertRule).where(AlertRule.enabled.is_(True))) if r.routes}
    rows = {g.key: g for g in session.scalars(select(NotificationGroup).where(NotificationGroup.rule_id.in_(rules)))}
    active = silences.active(session, now)
    notified = {uuid.UUID(i) for row in rows.values() for i in (row.notified or [])}
    query = select(MonitorAlert).where(
        MonitorAlert.rule_id.in_(rules),
        or_(MonitorAlert.state == "firing", MonitorAlert.id.in_(notified) if notified else false()),
    )
    groups: dict[str, _Group] = {}
    for alert in session.scalars(query):
        if silences.silenced(active, alert.labels or {}, now) is not None:
            report.silenced += 1
            continue
        rule = rules[alert.rule_id]
        labels = Grouping.of(rule).labels(alert.labels or {})
        key = group_key(rule.id, labels)
        groups.setdefault(key, _Group(rule, labels)).alerts.append(alert)
    for key, row in rows.items():  # groups whose alerts all went (resolved unnotified, silenced)
        groups.setdefault(key, _Group(rules[row.rule_id], dict(row.labels or {})))
    session.expunge_all()
    return groups, rows


def _created(sessions: sessionmaker[Session], key: str, group: _Group, now: datetime) -> NotificationGroup | None:
    """The group's row, made now (or by another process first); it counts from the first firing
    of its alerts, as Alertmanager's group starts when the first alert reaches it."""
    try:
        with sessions.begin() as session:
            seen = min([now, *(a.fired_at for a in group.alerts if a.fired_at is not None)])
            session.add(
                NotificationGroup(
                    key=key,
                    rule_id=group.rule.id,
                    labels=group.labels,
                    first_seen_at=seen,
                    notified=[],
                    notice={},
                    claimed_until=None,
                )
            )
    except IntegrityError:
        pass
    with sessions() as session:
        row = session.get(NotificationGroup, key)
        session.expunge_all()
        return row


def _claim(sessions: sessionmaker[Session], row: NotificationGroup, **values: Any) -> bool:
    """Set ``values`` on the row only if nobody changed it since it was read: the claim."""
    where = [NotificationGroup.key == row.key]
    where.append(
        NotificationGroup.claimed_until.is_(None)
        if row.claimed_until is None
        else NotificationGroup.claimed_until == row.claimed_until
    )
    where.append(
        NotificationGroup.last_notified_at.is_(None)
        if row.last_notified_at is None
        else NotificationGroup.last_notified_at == row.last_notified_at
    )
    with sessions.begin() as session:
        statement = update(NotificationGroup).where(*where).values(**values) if values else None
        result = session.execute(statement if statement is not None else delete(NotificationGroup).where(*where))
        return int(getattr(result, "rowcount", 0) or 0) == 1


def _plan(
    sessions: sessionmaker[Session],
    group: _Group,
    row: NotificationGroup | None,
    key: str,
    now: datetime,
    settings: MonitorSettings,
) -> _Work | None:
    lease = now + timedelta(seconds=settings.notify_lease_seconds)
    if row is None:
        if not any(a.state == "firing" for a in group.alerts):
            return None
        row = _created(sessions, key, group, now)
        if row is None:
            return None
    if row.claimed_until is not None:
        if row.claimed_until > now or not row.notice:
            return None  # another process is sending it
        if _claim(sessions, row, claimed_until=lease):
            return _Work(group.rule, dict(row.notice), lease, resent=True)
        return None
    reason = decide(group, row, now)
    if reason is None:
        still = {str(a.id) for a in group.alerts if a.state == "firing"}
        if not still and not _resolved_to_say(group, row):
            _claim(sessions, row)  # nothing fires or is left to say: forget the group
        return None
    notice = build_notice(group, row, reason, now, settings)
    return _Work(group.rule, notice, lease) if _claim(sessions, row, notice=notice, claimed_until=lease) else None


def _resolved_to_say(group: _Group, row: NotificationGroup) -> bool:
    notified = set(row.notified or [])
    return any(a.state == "resolved" and str(a.id) in notified for a in group.alerts) and any(
        _wants_resolved(r) for r in group.rule.routes
    )


def _route_id(route: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(route, sort_keys=True).encode()).hexdigest()[:16]


def _for_route(notice: dict[str, Any], route: dict[str, Any]) -> dict[str, Any] | None:
    if _wants_resolved(route):
        return notice
    if not notice["firing"]:
        return None
    return {**notice, "alerts": [a for a in notice["alerts"] if a["status"] == "firing"]}


def _send(
    sessions: sessionmaker[Session],
    work: _Work,
    *,
    now: datetime,
    cipher: Cipher | None,
    delivery: AlertSettings,
    sleep: Callable[[float], None],
    report: NotifyReport,
) -> None:
    rule, notice = work.rule, work.notice
    secret = routes.open_secret(rule.id, rule.signing_secret_ciphertext, cipher)
    done = list(notice.get("done", []))
    for route in rule.routes:
        route_id = _route_id(route)
        if route_id in done or (shown := _for_route(notice, route)) is None:
            continue
        if channels.deliver(
            sessions,
            shown,
            route,
            rule_id=rule.id,
            settings=delivery,
            cipher=cipher,
            secret=secret,
            now=now,
            sleep=sleep,
        ):
            report.delivered += 1
            done.append(route_id)
            with sessions.begin() as session:  # remembered, so a resend skips this route
                session.execute(
                    update(NotificationGroup)
                    .where(NotificationGroup.key == notice["group_key"], NotificationGroup.claimed_until == work.lease)
                    .values(notice={**notice, "done": done})
                )
        else:
            report.failed += 1
    mine = [NotificationGroup.key == notice["group_key"], NotificationGroup.claimed_until == work.lease]
    with sessions.begin() as session:
        if notice["firing"]:
            session.execute(
                update(NotificationGroup)
                .where(*mine)
                .values(
                    last_notified_at=now,
                    notified=notice["firing"],
                    last_digest=_digest(notice),
                    notice={},
                    claimed_until=None,
                )
            )
        else:  # the group's last word: a new alert later starts a new group, with group_wait
            session.execute(delete(NotificationGroup).where(*mine))
    report.notices.append((notice["group_key"], notice["reason"]))


def notify_round(
    sessions: sessionmaker[Session],
    *,
    now: datetime,
    settings: MonitorSettings,
    cipher: Cipher | None,
    sleep: Callable[[float], None] = time.sleep,
    delivery: AlertSettings | None = None,
) -> NotifyReport:
    """Decide, claim and send every notice due at ``now``. Reads in one short transaction, claims
    each notice in its own, and sends with no transaction open. ``delivery`` (attempts, backoff,
    SMTP, private targets) defaults to ``AlertSettings()`` from the environment."""
    delivery = delivery or AlertSettings()
    report = NotifyReport()
    with sessions() as session:
        groups, rows = _load(session, now, report)
    report.groups = len(groups)
    for key, group in sorted(groups.items()):
        work = _plan(sessions, group, rows.get(key), key, now, settings)
        if work is not None:
            report.resent += work.resent
            _send(sessions, work, now=now, cipher=cipher, delivery=delivery, sleep=sleep, report=report)
    return report
