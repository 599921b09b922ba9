"""Change counters: one row per watched table, incremented by a trigger in the same transaction
as every insert, update or delete on it, from any process. A reader that sees the same value
twice knows the table did not change in between, so the API can serve a cached answer after
one indexed read (``control_plane.store.changes``).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

WATCHED = ("resources", "api_keys")


def upgrade() -> None:
    counters = op.create_table(
        "change_counters",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.BigInteger(), nullable=False),
    )
    op.bulk_insert(counters, [{"name": table, "value": 0} for table in WATCHED])
    if op.get_bind().dialect.name == "postgresql":
        # Bumped at commit (a deferred constraint trigger), once per transaction (a flag local to
        # it): the counter's row lock is then held only while committing, so two transactions
        # writing resources in different orders cannot deadlock on it.
        op.execute(
            """
            CREATE FUNCTION bump_change_counter() RETURNS trigger AS $$
            BEGIN
                IF current_setting('wedcloud.counted_' || TG_TABLE_NAME, true) IS DISTINCT FROM 'yes' THEN
                    PERFORM set_config('wedcloud.counted_' || TG_TABLE_NAME, 'yes', true);
                    UPDATE change_counters SET value = value + 1 WHERE name = TG_TABLE_NAME;
                END IF;
                RETURN NULL;
            END;
            $$ LANGUAGE plpgsql
            """
        )
        for table in WATCHED:
            op.execute(
                f"CREATE CONSTRAINT TRIGGER {table}_changed AFTER INSERT OR UPDATE OR DELETE ON {table} "
                "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION bump_change_counter()"
            )
    else:  # SQLite has row triggers only
        for table in WATCHED:
            for verb in ("INSERT", "UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_{verb.lower()}_counted AFTER {verb} ON {table} "
                    f"BEGIN UPDATE change_counters SET value = value + 1 WHERE name = '{table}'; END"
                )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in WATCHED:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_changed ON {table}")
        op.execute("DROP FUNCTION IF EXISTS bump_change_counter()")
    else:
        for table in WATCHED:
            for verb in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_{verb}_counted")
    op.drop_table("change_counters")
