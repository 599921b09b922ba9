"""Deployments: the stacks, their versions, the resources each realises, the journal of every
apply's steps, and their log lines.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MONEY = sa.Numeric(18, 6).with_variant(sa.String(24), "sqlite")


def _deployment_fk() -> sa.Column:
    return sa.Column("deployment_id", sa.Uuid(), sa.ForeignKey("deployments.id", ondelete="CASCADE"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "deployments",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("name", sa.String(120), nullable=False, unique=True),
        sa.Column("environment", sa.String(64), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("on_failure", sa.String(16), nullable=False),
        sa.Column("current_version", sa.Integer(), nullable=True),
        sa.Column("latest_version", sa.Integer(), nullable=False),
        sa.Column("provider_ids", sa.JSON(), nullable=False),
        sa.Column("outputs", sa.JSON(), nullable=False),
        sa.Column("drift", sa.JSON(), nullable=True),
        sa.Column("drift_checked_at", TS, nullable=True),
        sa.Column("created_by", sa.String(160), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_index("ix_deployments_environment", "deployments", ["environment"])
    op.create_index("ix_deployments_status", "deployments", ["status"])
    op.create_index("ix_deployments_created_at", "deployments", ["created_at"])
    op.create_table(
        "deployment_versions",
        sa.Column("id", sa.Uuid(), primary_key=True),
        _deployment_fk(),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("template", sa.JSON(), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("plan", sa.JSON(), nullable=False),
        sa.Column("author", sa.String(160), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("rollback_of", sa.Integer(), nullable=True),
        sa.Column("operation_id", sa.Uuid(), nullable=True),
        sa.Column("error", sa.JSON(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("finished_at", TS, nullable=True),
        sa.UniqueConstraint("deployment_id", "number"),
    )
    op.create_table(
        "deployment_resources",
        sa.Column("id", sa.Uuid(), primary_key=True),
        _deployment_fk(),
        sa.Column("logical_name", sa.String(120), nullable=False),
        sa.Column("provider_id", sa.Uuid(), nullable=False),
        sa.Column("resource_id", sa.Uuid(), nullable=True),
        sa.Column("cloud_id", sa.String(512), nullable=True),
        sa.Column("subtype", sa.String(64), nullable=False),
        sa.Column("region", sa.String(64), nullable=False),
        sa.Column("size", sa.String(64), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("monthly_estimate", MONEY, nullable=True),
        sa.Column("currency", sa.String(3), nullable=True),
        sa.Column("updated_at", TS, nullable=False),
        sa.UniqueConstraint("deployment_id", "logical_name"),
    )
    op.create_table(
        "deployment_steps",
        sa.Column("id", BIGID, primary_key=True, autoincrement=True),
        _deployment_fk(),
        sa.Column("operation_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("logical_name", sa.String(120), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=False),
        sa.Column("depends_on", sa.JSON(), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("error", sa.JSON(), nullable=True),
        sa.Column("started_at", TS, nullable=True),
        sa.Column("finished_at", TS, nullable=True),
        sa.UniqueConstraint("idempotency_key"),
    )
    op.create_index("ix_deployment_steps_operation", "deployment_steps", ["operation_id", "seq"])
    op.create_table(
        "deployment_logs",
        sa.Column("id", BIGID, primary_key=True, autoincrement=True),
        _deployment_fk(),
        sa.Column("operation_id", sa.Uuid(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("step", sa.String(160), nullable=True),
        sa.Column("level", sa.String(8), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("at", TS, nullable=False),
    )
    op.create_index("ix_deployment_logs_deployment", "deployment_logs", ["deployment_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_deployment_logs_deployment", "deployment_logs")
    op.drop_table("deployment_logs")
    op.drop_index("ix_deployment_steps_operation", "deployment_steps")
    op.drop_table("deployment_steps")
    op.drop_table("deployment_resources")
    op.drop_table("deployment_versions")
    for index in ("ix_deployments_created_at", "ix_deployments_status", "ix_deployments_environment"):
        op.drop_index(index, "deployments")
    op.drop_table("deployments")
