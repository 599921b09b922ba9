"""Budget webhooks sealed and signed: a signing secret per budget, sealed with the credential
cipher. Webhook URLs already stored plain are sealed by the API when it starts
(``services.webhooks.seal_plain_targets``): a migration has no key to seal them with.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("budgets") as budgets:
        budgets.add_column(sa.Column("webhook_secret_ciphertext", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("budgets") as budgets:
        budgets.drop_column("webhook_secret_ciphertext")
