"""Disaster recovery: plans, runs and their journalled steps, backups; the sandbox cloud's
snapshots and the values of its DNS records.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _plan_fk() -> sa.Column:
    return sa.Column("plan_id", sa.Uuid(), sa.ForeignKey("dr_plans.id", ondelete="CASCADE"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "dr_plans",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("name", sa.String(120), nullable=False, unique=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("primary_provider_id", sa.Uuid(), sa.ForeignKey("providers.id"), nullable=False),
        sa.Column("primary_region", sa.String(64), nullable=False),
        sa.Column("dr_targets", sa.JSON(), nullable=False),
        sa.Column("protected", sa.JSON(), nullable=False),
        sa.Column("rto_seconds", sa.Integer(), nullable=False),
        sa.Column("rpo_seconds", sa.Integer(), nullable=False),
        sa.Column("backup", sa.JSON(), nullable=False),
        sa.Column("routing", sa.JSON(), nullable=True),
        sa.Column("auto_failover", sa.JSON(), nullable=False),
        sa.Column("drill_schedule", sa.String(120), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("active_provider_id", sa.Uuid(), nullable=False),
        sa.Column("active_region", sa.String(64), nullable=False),
        sa.Column("serving", sa.JSON(), nullable=False),
        sa.Column("failed_checks", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(160), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_index("ix_dr_plans_status", "dr_plans", ["status"])
    op.create_index("ix_dr_plans_created_at", "dr_plans", ["created_at"])
    op.create_table(
        "dr_runs",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("plan_id", sa.Uuid(), sa.ForeignKey("dr_plans.id", ondelete="CASCADE"), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("operation_id", sa.Uuid(), nullable=True),
        sa.Column("actor", sa.String(160), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("source", sa.JSON(), nullable=False),
        sa.Column("target", sa.JSON(), nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS, nullable=True),
        sa.Column("rto_seconds", sa.Float(), nullable=True),
        sa.Column("rpo_seconds", sa.Float(), nullable=True),
        sa.Column("passed", sa.Boolean(), nullable=True),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.Column("error", sa.JSON(), nullable=True),
    )
    op.create_index("ix_dr_runs_plan_kind", "dr_runs", ["plan_id", "kind", "started_at"])
    op.create_index("ix_dr_runs_status", "dr_runs", ["status"])
    op.create_index("ix_dr_runs_operation_id", "dr_runs", ["operation_id"])
    op.create_table(
        "dr_steps",
        sa.Column("id", BIGID, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.Uuid(), sa.ForeignKey("dr_runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("cloud_seconds", sa.Float(), nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS, nullable=True),
        sa.Column("error", sa.JSON(), nullable=True),
    )
    op.create_index("ix_dr_steps_run", "dr_steps", ["run_id", "seq"])
    op.create_table(
        "dr_backups",
        sa.Column("id", sa.Uuid(), primary_key=True),
        _plan_fk(),
        sa.Column("run_id", sa.Uuid(), nullable=True),
        sa.Column("provider_id", sa.Uuid(), nullable=False),
        sa.Column("resource_id", sa.Uuid(), nullable=True),
        sa.Column("cloud_id", sa.String(512), nullable=False),
        sa.Column("resource_name", sa.String(255), nullable=False),
        sa.Column("subtype", sa.String(64), nullable=False),
        sa.Column("size", sa.String(64), nullable=True),
        sa.Column("region", sa.String(64), nullable=False),
        sa.Column("snapshot_name", sa.String(255), nullable=False),
        sa.Column("snapshot_id", sa.String(512), nullable=True),
        sa.Column("size_gb", sa.Integer(), nullable=True),
        sa.Column("copies", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("taken_at", TS, nullable=False),
        sa.Column("completed_at", TS, nullable=True),
        sa.Column("copied_at", TS, nullable=True),
        sa.Column("expired_at", TS, nullable=True),
        sa.Column("error", sa.JSON(), nullable=True),
    )
    op.create_index("ix_dr_backups_plan_taken", "dr_backups", ["plan_id", "taken_at"])
    op.create_index("ix_dr_backups_resource_id", "dr_backups", ["resource_id"])
    op.create_index("ix_dr_backups_status", "dr_backups", ["status"])
    op.create_table(
        "sandbox_snapshots",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("world", sa.String(64), sa.ForeignKey("sandbox_worlds.name", ondelete="CASCADE"), nullable=False),
        sa.Column("flavour", sa.String(8), nullable=False),
        sa.Column("resource_id", sa.String(512), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("region", sa.String(32), nullable=False),
        sa.Column("size_gb", sa.Integer(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("source", sa.JSON(), nullable=False),
        sa.Column("copied_from", sa.String(64), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("completed_at", TS, nullable=False),
    )
    op.create_index("ix_sandbox_snapshots_resource_id", "sandbox_snapshots", ["resource_id"])
    with op.batch_alter_table("sandbox_dns_records") as batch:
        batch.add_column(sa.Column("dns_values", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sandbox_dns_records") as batch:
        batch.drop_column("dns_values")
    op.drop_index("ix_sandbox_snapshots_resource_id", "sandbox_snapshots")
    op.drop_table("sandbox_snapshots")
    for index in ("ix_dr_backups_status", "ix_dr_backups_resource_id", "ix_dr_backups_plan_taken"):
        op.drop_index(index, "dr_backups")
    op.drop_table("dr_backups")
    op.drop_index("ix_dr_steps_run", "dr_steps")
    op.drop_table("dr_steps")
    for index in ("ix_dr_runs_operation_id", "ix_dr_runs_status", "ix_dr_runs_plan_kind"):
        op.drop_index(index, "dr_runs")
    op.drop_table("dr_runs")
    op.drop_index("ix_dr_plans_created_at", "dr_plans")
    op.drop_index("ix_dr_plans_status", "dr_plans")
    op.drop_table("dr_plans")
