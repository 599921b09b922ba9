"""State-store tables of the monitoring engine (migration 0009): metric samples and their
5-minute rollups, alert rules, the alerts they raise with their history, silences,
notification groups and attempts, the collector's view of each provider, and the event log
that the WebSocket stream fans out and replays.

Samples are wide (one row per resource and instant, a column per metric): 10,000 resources
polled every 30 s for 6 hours are 7.2 million rows, not seven times as many.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from control_plane.store.models import AutoIncrementId, Base
from wedcloud.sqltypes import utcnow

# The metrics the collector stores and /monitoring/metrics serves, in the API's vocabulary:
# percentages are the sample's average, bytes and operations its total over the sample's period,
# cost_rate the resource's cost per hour while it runs (its list price; 0 while stopped).
METRICS = ("cpu", "memory", "network_in", "network_out", "disk_read", "disk_write", "cost_rate")
ROLLUP_STATS = ("avg", "min", "max", "p95")


class MetricSample(Base):
    """One raw sample of a resource (kept ``WEDCLOUD_MONITOR_RAW_HOURS``, 6 by default)."""

    __tablename__ = "metric_samples"
    # retention deletes by time: a BRIN index on PostgreSQL (rows arrive in time order), a B-tree on SQLite
    __table_args__ = (Index("ix_metric_samples_at", "at", postgresql_using="brin"),)

    resource_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    at: Mapped[datetime] = mapped_column(primary_key=True)
    provider_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    cpu: Mapped[float | None] = mapped_column(Float, default=None)
    memory: Mapped[float | None] = mapped_column(Float, default=None)
    network_in: Mapped[float | None] = mapped_column(Float, default=None)
    network_out: Mapped[float | None] = mapped_column(Float, default=None)
    disk_read: Mapped[float | None] = mapped_column(Float, default=None)
    disk_write: Mapped[float | None] = mapped_column(Float, default=None)
    cost_rate: Mapped[float | None] = mapped_column(Float, default=None)


class MetricRollup(Base):
    """Five minutes of a resource's samples (kept ``WEDCLOUD_MONITOR_ROLLUP_DAYS``, 35 by
    default): for each metric its average, minimum, maximum and 95th percentile."""

    __tablename__ = "metric_rollups"
    __table_args__ = (Index("ix_metric_rollups_at", "at", postgresql_using="brin"),)

    resource_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    at: Mapped[datetime] = mapped_column(primary_key=True)  # the bucket's start
    provider_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    samples: Mapped[int] = mapped_column(Integer)
    stats: Mapped[dict[str, Any]] = mapped_column(JSON)  # metric -> {avg, min, max, p95}


class AlertRule(Base):
    """A monitoring alert rule. ``spec`` holds the kind's fields (docs/monitoring.md); webhook
    URLs in ``routes`` are sealed as budget webhooks are, bound to the rule's id."""

    __tablename__ = "alert_rules"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    severity: Mapped[str] = mapped_column(String(16))
    labels: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    annotations: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    routes: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    grouping: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # group_by, waits, repeat
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    signing_secret_ciphertext: Mapped[bytes | None] = mapped_column(default=None)
    created_by: Mapped[str | None] = mapped_column(String(120), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class MonitorAlert(Base):
    """One alert: a rule's condition for one set of labels, from its first breach to 15
    minutes after it resolves. ``open_key`` is its fingerprint while it is not resolved (and
    NULL after), so one rule and label set has at most one open alert, whatever raced."""

    __tablename__ = "monitor_alerts"
    __table_args__ = (
        Index("ix_monitor_alerts_state", "state", "updated_at"),
        Index("ix_monitor_alerts_rule", "rule_id", "state"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    rule_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("alert_rules.id", ondelete="CASCADE"))
    fingerprint: Mapped[str] = mapped_column(String(64))
    open_key: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)
    state: Mapped[str] = mapped_column(String(16))  # pending, firing, resolved
    severity: Mapped[str] = mapped_column(String(16))
    labels: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    annotations: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    resource_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    provider_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    value: Mapped[float | None] = mapped_column(Float, default=None)
    active_since: Mapped[datetime] = mapped_column(default=utcnow)  # first breach
    fired_at: Mapped[datetime | None] = mapped_column(default=None)
    cleared_since: Mapped[datetime | None] = mapped_column(default=None)  # the hold against flapping
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    last_evaluated_at: Mapped[datetime | None] = mapped_column(default=None)
    acked_by: Mapped[str | None] = mapped_column(String(120), default=None)
    acked_at: Mapped[datetime | None] = mapped_column(default=None)
    ack_note: Mapped[str | None] = mapped_column(Text, default=None)
    ack_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class AlertTransition(Base):
    """Every change of an alert's state (and every acknowledgement), in order."""

    __tablename__ = "alert_transitions"
    __table_args__ = (Index("ix_alert_transitions_alert", "alert_id", "id"),)

    id: Mapped[int] = mapped_column(AutoIncrementId, primary_key=True, autoincrement=True)
    alert_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("monitor_alerts.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    from_state: Mapped[str | None] = mapped_column(String(16), default=None)
    to_state: Mapped[str] = mapped_column(String(16))  # pending, firing, resolved, acknowledged, unacknowledged
    value: Mapped[float | None] = mapped_column(Float, default=None)
    actor: Mapped[str | None] = mapped_column(String(120), default=None)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Silence(Base):
    """Alertmanager's silence: label matchers (name, op, value) and a window; a matching alert
    still changes state but is not notified."""

    __tablename__ = "silences"
    __table_args__ = (Index("ix_silences_ends_at", "ends_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    matchers: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    starts_at: Mapped[datetime] = mapped_column(default=utcnow)
    ends_at: Mapped[datetime] = mapped_column()
    comment: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str | None] = mapped_column(String(120), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class NotificationGroup(Base):
    """Alertmanager's aggregation group: a rule's alerts with the same ``group_by`` labels,
    notified together after group_wait, again after group_interval when the group changed,
    and after repeat_interval when it did not."""

    __tablename__ = "notification_groups"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    rule_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("alert_rules.id", ondelete="CASCADE"))
    labels: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_notified_at: Mapped[datetime | None] = mapped_column(default=None)
    last_digest: Mapped[str | None] = mapped_column(String(64), default=None)  # what the last notice said
    notified: Mapped[list[str]] = mapped_column(JSON, default=list)  # alert ids last notified as firing
    notice: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # the claimed notice, {} when none
    claimed_until: Mapped[datetime | None] = mapped_column(default=None)  # set while a notice is claimed


class Notification(Base):
    """One attempt to send one group's notice to one route."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_group", "group_key", "id"),)

    id: Mapped[int] = mapped_column(AutoIncrementId, primary_key=True, autoincrement=True)
    group_key: Mapped[str] = mapped_column(String(64))
    notice_id: Mapped[str | None] = mapped_column(String(64), default=None)  # the webhook-id, same on every retry
    rule_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    reason: Mapped[str] = mapped_column(String(16))  # first, changed, repeat, resolved
    channel: Mapped[str] = mapped_column(String(16))  # webhook, slack, email
    target: Mapped[str] = mapped_column(String(512))  # masked
    alert_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    delivered: Mapped[bool] = mapped_column(Boolean, default=False)
    attempted_at: Mapped[datetime] = mapped_column(default=utcnow)


class MonitorStatus(Base):
    """What the collector last saw of one provider (``provider:<id>``) or of itself
    (``collector``): when a call last succeeded, the recent outcomes, the last error."""

    __tablename__ = "monitor_status"

    name: Mapped[str] = mapped_column(String(80), primary_key=True)
    provider_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    ok: Mapped[bool] = mapped_column(Boolean, default=True)
    last_attempt_at: Mapped[datetime | None] = mapped_column(default=None)
    last_success_at: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    recent: Mapped[list[Any]] = mapped_column(JSON, default=list)  # the last outcomes, newest last
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class StreamEvent(Base):
    """An event for the WebSocket stream, from any process. Its id orders the stream and is
    what a reconnecting client resumes from (``since``); ``at`` is the producer's clock, from
    which latency is measured. Kept ``WEDCLOUD_MONITOR_STREAM_REPLAY_MINUTES``."""

    __tablename__ = "stream_events"
    __table_args__ = (Index("ix_stream_events_at", "at"),)

    id: Mapped[int] = mapped_column(AutoIncrementId, primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    provider_id: Mapped[str | None] = mapped_column(String(36), default=None)
    resource_id: Mapped[str | None] = mapped_column(String(36), default=None)
    severity: Mapped[str | None] = mapped_column(String(16), default=None)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
