"""Initial schema: providers, API keys, the append-only audit log, budgets and the sandbox
cloud's tables.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Frozen copies of the column types as they were at this revision.
TS = sa.DateTime(timezone=True)
BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# SQLite would keep NUMERIC as a 15-digit REAL; money is stored there as text.
MONEY = sa.Numeric(18, 6).with_variant(sa.String(24), "sqlite")


def upgrade() -> None:
    op.create_table(
        "providers",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(120), nullable=False, unique=True),
        sa.Column("default_region", sa.String(64)),
        sa.Column("regions", sa.JSON(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("credentials_ciphertext", sa.LargeBinary()),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False, unique=True),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("last_used_at", TS),
        sa.Column("revoked_at", TS),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", BIGID, primary_key=True, autoincrement=True),
        sa.Column("occurred_at", TS, nullable=False, index=True),
        sa.Column("actor", sa.String(160), nullable=False),
        sa.Column("role", sa.String(16)),
        sa.Column("method", sa.String(8), nullable=False),
        sa.Column("path", sa.String(400), nullable=False),
        sa.Column("action", sa.String(120), nullable=False),
        sa.Column("target", sa.String(200)),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("client", sa.String(64)),
        sa.Column("detail", sa.JSON(), nullable=False),
    )
    _make_append_only("audit_log")
    op.create_table(
        "budgets",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("name", sa.String(120), nullable=False, unique=True),
        sa.Column("scope", sa.JSON(), nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("period", sa.String(16), nullable=False),
        sa.Column("thresholds", sa.JSON(), nullable=False),
        sa.Column("notes", sa.Text()),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "sandbox_worlds",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("history_start", sa.Date(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "sandbox_accounts",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("world", sa.String(64), sa.ForeignKey("sandbox_worlds.name", ondelete="CASCADE"), nullable=False),
        sa.Column("flavour", sa.String(8), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("billing_account_id", sa.String(64), nullable=False),
    )
    op.create_table(
        "sandbox_resources",
        sa.Column("id", sa.String(512), primary_key=True),
        sa.Column("world", sa.String(64), sa.ForeignKey("sandbox_worlds.name", ondelete="CASCADE"), nullable=False),
        sa.Column("flavour", sa.String(8), nullable=False, index=True),
        sa.Column("account_id", sa.String(64), sa.ForeignKey("sandbox_accounts.id"), nullable=False),
        sa.Column("blueprint", sa.String(64), nullable=False),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("region", sa.String(32), nullable=False),
        sa.Column("zone", sa.String(32)),
        sa.Column("size", sa.String(64)),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("terminated_at", TS),
    )
    op.create_table(
        "sandbox_events",
        sa.Column("id", BIGID, primary_key=True, autoincrement=True),
        sa.Column(
            "resource_id",
            sa.String(512),
            sa.ForeignKey("sandbox_resources.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("at", TS, nullable=False),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
    )
    op.create_table(
        "sandbox_dns_records",
        sa.Column("world", sa.String(64), sa.ForeignKey("sandbox_worlds.name", ondelete="CASCADE"), primary_key=True),
        sa.Column("record", sa.String(253), primary_key=True),
        sa.Column("weights", sa.JSON(), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )


def _make_append_only(table: str) -> None:
    """Refuse UPDATE and DELETE on ``table`` in the database itself, not only in code."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"""
            CREATE FUNCTION {table}_append_only() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION '{table} is append-only';
            END;
            $$ LANGUAGE plpgsql
            """
        )
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {table}_append_only()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
            )


def downgrade() -> None:
    for table in (
        "sandbox_dns_records",
        "sandbox_events",
        "sandbox_resources",
        "sandbox_accounts",
        "sandbox_worlds",
        "budgets",
    ):
        op.drop_table(table)
    op.drop_table("audit_log")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    op.drop_table("api_keys")
    op.drop_table("providers")
