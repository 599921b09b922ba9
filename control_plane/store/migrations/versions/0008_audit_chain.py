"""The audit log as a hash chain: each row carries its place (``seq``), the hash of the row
before it and its own; ``audit_chain`` holds the last link. Rows already written are chained in
id order. On PostgreSQL, TRUNCATE on the audit log is refused as UPDATE and DELETE already are.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

GENESIS = "0" * 64


def upgrade() -> None:
    from control_plane.store.audit_chain import link_hash  # the chain's format is the code's, v1

    postgres = op.get_bind().dialect.name == "postgresql"
    # plain ADD COLUMN and an index: a batch rebuild on SQLite would lose the table's triggers
    op.add_column("audit_log", sa.Column("seq", sa.BigInteger()))
    op.add_column("audit_log", sa.Column("prev_hash", sa.String(64)))
    op.add_column("audit_log", sa.Column("row_hash", sa.String(64)))
    op.create_index("ix_audit_log_seq", "audit_log", ["seq"], unique=True)
    head = op.create_table(
        "audit_chain",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("row_hash", sa.String(64), nullable=False),
    )
    # chain the rows already written; the append-only triggers are lifted for this only
    if postgres:
        op.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
    bind = op.get_bind()
    log = sa.table(
        "audit_log",
        *(sa.column(name) for name in ("id", "seq", "prev_hash", "row_hash")),
    )
    seq, last = 0, GENESIS
    rows = bind.execute(sa.text("SELECT * FROM audit_log ORDER BY id")).mappings().all()
    for row in rows:
        seq += 1
        values = {**row, "seq": seq}
        row_hash = link_hash(last, _decoded(values))
        bind.execute(log.update().where(log.c.id == row["id"]).values(seq=seq, prev_hash=last, row_hash=row_hash))
        last = row_hash
    op.bulk_insert(head, [{"id": 1, "seq": seq, "row_hash": last}])
    if postgres:
        op.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only")
        op.execute(
            "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()"
        )
    else:
        op.execute(
            "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
            "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"
        )


def _decoded(row: dict[str, object]) -> dict[str, object]:
    """A raw row's values as the ORM gives them: detail as JSON, occurred_at as a datetime."""
    import json
    from datetime import UTC, datetime

    values = dict(row)
    if isinstance(values["detail"], str):
        values["detail"] = json.loads(values["detail"])
    occurred = values["occurred_at"]
    if isinstance(occurred, str):
        occurred = datetime.fromisoformat(occurred)
    if isinstance(occurred, datetime) and occurred.tzinfo is None:
        occurred = occurred.replace(tzinfo=UTC)
    values["occurred_at"] = occurred
    return values


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log")
    op.drop_table("audit_chain")
    op.drop_index("ix_audit_log_seq", "audit_log")
    for column in ("row_hash", "prev_hash", "seq"):
        op.drop_column("audit_log", column)
