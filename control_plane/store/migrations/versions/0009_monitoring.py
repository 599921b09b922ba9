"""Monitoring: metric samples and 5-minute rollups (BRIN-indexed by time on PostgreSQL), alert
rules, alerts and their transitions, silences, notification groups and attempts, the
collector's status per provider, the stream's event log, and each resource's desired state.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
METRICS = ("cpu", "memory", "network_in", "network_out", "disk_read", "disk_write", "cost_rate")


def upgrade() -> None:
    # plain ADD COLUMN: a batch rebuild on SQLite would lose the resources table's triggers
    op.add_column("resources", sa.Column("desired_state", sa.String(16), nullable=True))
    # when the sandbox's live 30-second samples start (its planted CPU spike is timed from it)
    op.add_column("sandbox_worlds", sa.Column("live_since", TS, nullable=True))
    op.create_table(
        "metric_samples",
        sa.Column("resource_id", sa.Uuid(), primary_key=True),
        sa.Column("at", TS, primary_key=True),
        sa.Column("provider_id", sa.Uuid(), nullable=False),
        *(sa.Column(metric, sa.Float(), nullable=True) for metric in METRICS),
    )
    op.create_index("ix_metric_samples_at", "metric_samples", ["at"], postgresql_using="brin")
    op.create_table(
        "metric_rollups",
        sa.Column("resource_id", sa.Uuid(), primary_key=True),
        sa.Column("at", TS, primary_key=True),
        sa.Column("provider_id", sa.Uuid(), nullable=False),
        sa.Column("samples", sa.Integer(), nullable=False),
        sa.Column("stats", sa.JSON(), nullable=False),
    )
    op.create_index("ix_metric_rollups_at", "metric_rollups", ["at"], postgresql_using="brin")
    op.create_table(
        "alert_rules",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("name", sa.String(120), nullable=False, unique=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("annotations", sa.JSON(), nullable=False),
        sa.Column("routes", sa.JSON(), nullable=False),
        sa.Column("grouping", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("signing_secret_ciphertext", sa.LargeBinary(), nullable=True),
        sa.Column("created_by", sa.String(120), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "monitor_alerts",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("rule_id", sa.Uuid(), sa.ForeignKey("alert_rules.id", ondelete="CASCADE"), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("open_key", sa.String(64), nullable=True, unique=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("annotations", sa.JSON(), nullable=False),
        sa.Column("resource_id", sa.Uuid(), nullable=True),
        sa.Column("provider_id", sa.Uuid(), nullable=True),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("active_since", TS, nullable=False),
        sa.Column("fired_at", TS, nullable=True),
        sa.Column("cleared_since", TS, nullable=True),
        sa.Column("resolved_at", TS, nullable=True),
        sa.Column("last_evaluated_at", TS, nullable=True),
        sa.Column("acked_by", sa.String(120), nullable=True),
        sa.Column("acked_at", TS, nullable=True),
        sa.Column("ack_note", sa.Text(), nullable=True),
        sa.Column("ack_expires_at", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_index("ix_monitor_alerts_state", "monitor_alerts", ["state", "updated_at"])
    op.create_index("ix_monitor_alerts_rule", "monitor_alerts", ["rule_id", "state"])
    op.create_table(
        "alert_transitions",
        sa.Column("id", BIGID, primary_key=True, autoincrement=True),
        sa.Column("alert_id", sa.Uuid(), sa.ForeignKey("monitor_alerts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("from_state", sa.String(16), nullable=True),
        sa.Column("to_state", sa.String(16), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("actor", sa.String(120), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
    )
    op.create_index("ix_alert_transitions_alert", "alert_transitions", ["alert_id", "id"])
    op.create_table(
        "silences",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("matchers", sa.JSON(), nullable=False),
        sa.Column("starts_at", TS, nullable=False),
        sa.Column("ends_at", TS, nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(120), nullable=True),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_silences_ends_at", "silences", ["ends_at"])
    op.create_table(
        "notification_groups",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("rule_id", sa.Uuid(), sa.ForeignKey("alert_rules.id", ondelete="CASCADE"), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("first_seen_at", TS, nullable=False),
        sa.Column("last_notified_at", TS, nullable=True),
        sa.Column("last_digest", sa.String(64), nullable=True),
        sa.Column("notified", sa.JSON(), nullable=False),
        sa.Column("notice", sa.JSON(), nullable=False),
        sa.Column("claimed_until", TS, nullable=True),
    )
    op.create_table(
        "notifications",
        sa.Column("id", BIGID, primary_key=True, autoincrement=True),
        sa.Column("group_key", sa.String(64), nullable=False),
        sa.Column("notice_id", sa.String(64), nullable=True),
        sa.Column("rule_id", sa.Uuid(), nullable=True),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("target", sa.String(512), nullable=False),
        sa.Column("alert_ids", sa.JSON(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("delivered", sa.Boolean(), nullable=False),
        sa.Column("attempted_at", TS, nullable=False),
    )
    op.create_index("ix_notifications_group", "notifications", ["group_key", "id"])
    op.create_table(
        "monitor_status",
        sa.Column("name", sa.String(80), primary_key=True),
        sa.Column("provider_id", sa.Uuid(), nullable=True),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("last_attempt_at", TS, nullable=True),
        sa.Column("last_success_at", TS, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("recent", sa.JSON(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "stream_events",
        sa.Column("id", BIGID, primary_key=True, autoincrement=True),
        sa.Column("topic", sa.String(16), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("provider_id", sa.String(36), nullable=True),
        sa.Column("resource_id", sa.String(36), nullable=True),
        sa.Column("severity", sa.String(16), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
    )
    op.create_index("ix_stream_events_at", "stream_events", ["at"])


def downgrade() -> None:
    for table in (
        "stream_events",
        "monitor_status",
        "notifications",
        "notification_groups",
        "silences",
        "alert_transitions",
        "monitor_alerts",
        "alert_rules",
        "metric_rollups",
        "metric_samples",
    ):
        op.drop_table(table)
    op.drop_column("sandbox_worlds", "live_since")
    op.drop_column("resources", "desired_state")
