"""Optimisation recommendations: upserted by their stable id, with what became of each.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# Frozen copies of the column types as they were at this revision.
TS = sa.DateTime(timezone=True)
# wedcloud.sqltypes.Money: NUMERIC(18, 6) on PostgreSQL, exact text on SQLite
MONEY = sa.Numeric(18, 6).with_variant(sa.String(24), "sqlite")


def upgrade() -> None:
    op.create_table(
        "recommendations",
        sa.Column("id", sa.String(24), primary_key=True),
        sa.Column("provider", sa.String(120), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("target", sa.String(255)),
        sa.Column("resource_id", sa.String(512), nullable=False),
        sa.Column("account_id", sa.String(64), nullable=False),
        sa.Column("region", sa.String(64), nullable=False),
        sa.Column("monthly_saving", MONEY, nullable=False),
        sa.Column("saving_rank", sa.Float(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("risk", sa.String(8), nullable=False),
        sa.Column("risk_reason", sa.Text(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("confidence_reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("first_seen_at", TS, nullable=False),
        sa.Column("last_seen_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("applied_at", TS),
        sa.Column("applied_by", sa.String(200)),
        sa.Column("operation_id", sa.Uuid()),
        sa.Column("outcome", sa.JSON(), nullable=False),
    )
    op.create_index("ix_recommendations_status_rank", "recommendations", ["status", "saving_rank", "id"])
    op.create_index("ix_recommendations_provider_resource", "recommendations", ["provider", "resource_id"])


def downgrade() -> None:
    op.drop_index("ix_recommendations_provider_resource", table_name="recommendations")
    op.drop_index("ix_recommendations_status_rank", table_name="recommendations")
    op.drop_table("recommendations")
