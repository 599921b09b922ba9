"""The event log behind the WebSocket stream.

Any process (the collector, a Dagster sensor, an API worker) publishes an event by inserting a
``stream_events`` row in its own transaction, so an event exists exactly when the change it
reports was committed. On PostgreSQL the same transaction runs ``NOTIFY wedcloud_events`` with
the row's id, which PostgreSQL delivers at commit to every listening API worker; on SQLite the
workers poll the log's newest id (one primary-key read) every 50 ms or less. Either way a
worker then reads the rows after the last id it saw and hands them to its clients. The log is
also the replay a reconnecting client asks for with ``since=<id>``; it is pruned after
``replay_minutes``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.orm import Session

from control_plane.store.monitoring_models import StreamEvent
from wedcloud.sqltypes import utcnow

CHANNEL = "wedcloud_events"
TOPICS = ("metrics", "alerts", "operations", "resources", "deployments", "dr")


@dataclass(frozen=True)
class Event:
    id: int
    topic: str
    at: datetime
    payload: dict[str, Any]
    provider_id: str | None = None
    resource_id: str | None = None
    severity: str | None = None

    def message(self) -> dict[str, Any]:
        """The event as a stream client receives it."""
        return {
            "id": self.id,
            "topic": self.topic,
            "at": self.at.isoformat(),
            "provider_id": self.provider_id,
            "resource_id": self.resource_id,
            "severity": self.severity,
            "data": self.payload,
        }


def publish(
    session: Session,
    topic: str,
    payload: dict[str, Any],
    *,
    provider_id: object | None = None,
    resource_id: object | None = None,
    severity: str | None = None,
    at: datetime | None = None,
) -> int:
    """Add an event to the log in ``session``'s transaction; it is seen by stream clients once
    that transaction commits. Returns its id."""
    if topic not in TOPICS:
        raise ValueError(f"unknown stream topic {topic!r}; known: {', '.join(TOPICS)}")
    row = StreamEvent(
        topic=topic,
        at=at or utcnow(),
        provider_id=str(provider_id) if provider_id is not None else None,
        resource_id=str(resource_id) if resource_id is not None else None,
        severity=severity,
        payload=json.loads(json.dumps(payload, default=str)),
    )
    session.add(row)
    session.flush()
    notify(session, row.id)
    return int(row.id)


def publish_many(session: Session, topic: str, events: Sequence[dict[str, Any]], *, at: datetime | None = None) -> int:
    """Many events of one topic in one insert (the collector's metrics); each item holds the
    payload under ``data`` and may name ``provider_id``, ``resource_id`` and ``severity``.
    Returns the highest id written (0 for none)."""
    if topic not in TOPICS:
        raise ValueError(f"unknown stream topic {topic!r}; known: {', '.join(TOPICS)}")
    if not events:
        return 0
    moment = at or utcnow()
    rows = [
        {
            "topic": topic,
            "at": moment,
            "provider_id": str(item["provider_id"]) if item.get("provider_id") is not None else None,
            "resource_id": str(item["resource_id"]) if item.get("resource_id") is not None else None,
            "severity": item.get("severity"),
            "payload": json.loads(json.dumps(item.get("data", {}), default=str)),
        }
        for item in events
    ]
    # one multi-row INSERT ... RETURNING, not an ORM object per event (the collector's 10,000 a cycle)
    newest = max(session.scalars(insert(StreamEvent).returning(StreamEvent.id), rows))
    notify(session, newest)
    return int(newest)


def notify(session: Session, event_id: int) -> None:
    """On PostgreSQL: wake the listening workers when the transaction commits."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_notify(:channel, :id)"), {"channel": CHANNEL, "id": str(event_id)})


def _event(row: StreamEvent) -> Event:
    return Event(
        id=int(row.id),
        topic=row.topic,
        at=row.at,
        payload=row.payload,
        provider_id=row.provider_id,
        resource_id=row.resource_id,
        severity=row.severity,
    )


def newest_id(session: Session) -> int:
    return int(session.scalar(select(func.max(StreamEvent.id))) or 0)


def events_after(
    session: Session, after_id: int, *, limit: int = 1000, not_before: datetime | None = None
) -> list[Event]:
    """Events with an id above ``after_id``, oldest first, at most ``limit``; with
    ``not_before``, only those published since then (a replay's window)."""
    query = select(StreamEvent).where(StreamEvent.id > after_id)
    if not_before is not None:
        query = query.where(StreamEvent.at >= not_before)
    return [_event(row) for row in session.scalars(query.order_by(StreamEvent.id).limit(limit))]


def prune(session: Session, *, keep: timedelta, now: datetime | None = None) -> int:
    """Drop events older than ``keep``; returns how many."""
    cutoff = (now or utcnow()) - keep
    result = session.execute(delete(StreamEvent).where(StreamEvent.at < cutoff))
    return int(getattr(result, "rowcount", 0) or 0)
