"""Resources the control plane manages, the long-running operations that change them, and
each provider's last connection test.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# Frozen copies of the column types as they were at this revision.
TS = sa.DateTime(timezone=True)
MONEY = sa.Numeric(18, 6).with_variant(sa.String(24), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("providers") as providers:
        providers.add_column(sa.Column("last_check", sa.JSON()))
        providers.add_column(sa.Column("last_checked_at", TS))
    op.create_table(
        "resources",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("provider_id", sa.Uuid(), sa.ForeignKey("providers.id"), nullable=False),
        sa.Column("cloud_id", sa.String(512), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("resource_type", sa.String(16), nullable=False),
        sa.Column("subtype", sa.String(64), nullable=False),
        sa.Column("region", sa.String(64), nullable=False),
        sa.Column("zone", sa.String(64)),
        sa.Column("size", sa.String(64)),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("account_id", sa.String(64)),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("protected", sa.Boolean(), nullable=False),
        sa.Column("hourly_cost", MONEY),
        sa.Column("cost_currency", sa.String(3)),
        sa.Column("launched_at", TS),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("last_seen_at", TS),
        sa.Column("terminated_at", TS),
        sa.UniqueConstraint("provider_id", "cloud_id", name="uq_resources_provider_cloud_id"),
    )
    op.create_index("ix_resources_provider_state", "resources", ["provider_id", "state"])
    op.create_index("ix_resources_created_at_id", "resources", ["created_at", "id"])
    op.create_table(
        "operations",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("provider_id", sa.Uuid(), sa.ForeignKey("providers.id")),
        sa.Column("resource_id", sa.Uuid()),
        sa.Column("actor", sa.String(160), nullable=False),
        sa.Column("idempotency_key", sa.String(200)),
        sa.Column("request_hash", sa.String(64)),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("result", sa.JSON()),
        sa.Column("error", sa.JSON()),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", TS, nullable=False, index=True),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("started_at", TS),
        sa.Column("finished_at", TS),
        sa.UniqueConstraint("actor", "idempotency_key", name="uq_operations_actor_idempotency_key"),
    )


def downgrade() -> None:
    op.drop_table("operations")
    op.drop_index("ix_resources_created_at_id", table_name="resources")
    op.drop_index("ix_resources_provider_state", table_name="resources")
    op.drop_table("resources")
    with op.batch_alter_table("providers") as providers:
        providers.drop_column("last_checked_at")
        providers.drop_column("last_check")
