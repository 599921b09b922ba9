"""Operation leases: one executor at a time, the real request sealed, one change per target.

``lease_owner`` and ``lease_expires_at`` say which process runs an operation and until when
(renewed while it runs; the reconciler takes over only an expired lease). ``sealed_request``
is the request as asked, encrypted with the credentials cipher (``request`` is the redacted
copy shown to readers). ``target`` names what the operation changes; a partial unique index
lets at most one operation per target be pending or running.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
IN_FLIGHT = "status IN ('pending', 'running')"


def upgrade() -> None:
    with op.batch_alter_table("operations") as operations:
        operations.add_column(sa.Column("lease_owner", sa.String(120)))
        operations.add_column(sa.Column("lease_expires_at", TS))
        operations.add_column(sa.Column("sealed_request", sa.LargeBinary()))
        operations.add_column(sa.Column("target", sa.String(600)))
    op.create_index(
        "uq_operations_target_in_flight", "operations", ["target"], unique=True,
        sqlite_where=sa.text(IN_FLIGHT), postgresql_where=sa.text(IN_FLIGHT),
    )  # fmt: skip
    op.create_index("ix_operations_lease", "operations", ["status", "lease_expires_at"])


def downgrade() -> None:
    op.drop_index("ix_operations_lease", table_name="operations")
    op.drop_index("uq_operations_target_in_flight", table_name="operations")
    with op.batch_alter_table("operations") as operations:
        operations.drop_column("target")
        operations.drop_column("sealed_request")
        operations.drop_column("lease_expires_at")
        operations.drop_column("lease_owner")
