"""transactions: partial index on expires_at, so expire_pending stops scanning the whole journal

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 08:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_transactions_expires_at",
        "transactions",
        ["expires_at"],
        unique=False,
        sqlite_where=sa.text("expires_at IS NOT NULL"),
        postgresql_where=sa.text("expires_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_transactions_expires_at", table_name="transactions")
