"""jobs: balance snapshots, each account's closing posted totals of a day when they changed (jobs.snapshots)

Revision ID: j0003
Revises: j0002
"""

import sqlalchemy as sa
from alembic import op

revision = "j0003"
down_revision = "j0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "balance_snapshots",
        sa.Column("snapshot_date", sa.Date(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("debits_fen", sa.BigInteger(), nullable=False),
        sa.Column("credits_fen", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("snapshot_date", "account_id"),
    )
    # Each account's latest row on or before a day: by account, then date.
    op.create_index("ix_balance_snapshots_account_date", "balance_snapshots", ["account_id", "snapshot_date"])
    op.create_table(
        "balance_snapshot_days",
        sa.Column("snapshot_date", sa.Date(), nullable=False),
        sa.Column("accounts_changed", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("snapshot_date"),
    )


def downgrade() -> None:
    op.drop_table("balance_snapshot_days")
    op.drop_index("ix_balance_snapshots_account_date", "balance_snapshots")
    op.drop_table("balance_snapshots")
