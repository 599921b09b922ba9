"""Budget alerts: where a budget's alerts go, the alerts raised (budget thresholds now, anomalies
later) and every attempt to deliver one.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# Frozen copies of the column types as they were at this revision.
TS = sa.DateTime(timezone=True)
BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # existing budgets (the sandbox's planted one) get no targets
    op.add_column("budgets", sa.Column("targets", sa.JSON(), nullable=False, server_default=sa.text("'[]'")))
    op.create_table(
        "alerts",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("key", sa.String(200), nullable=False, unique=True),
        sa.Column("budget_id", sa.Uuid(), sa.ForeignKey("budgets.id", ondelete="SET NULL")),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_alerts_budget_created_at", "alerts", ["budget_id", "created_at"])
    op.create_table(
        "deliveries",
        sa.Column("id", BIGID, primary_key=True, autoincrement=True),
        sa.Column("alert_id", sa.Uuid(), sa.ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("target", sa.String(2048), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("status_code", sa.Integer()),
        sa.Column("error", sa.Text()),
        sa.Column("delivered", sa.Boolean(), nullable=False),
        sa.Column("attempted_at", TS, nullable=False),
        sa.Column("next_attempt_at", TS),
    )


def downgrade() -> None:
    op.drop_table("deliveries")
    op.drop_index("ix_alerts_budget_created_at", table_name="alerts")
    op.drop_table("alerts")
    with op.batch_alter_table("budgets") as budgets:
        budgets.drop_column("targets")
