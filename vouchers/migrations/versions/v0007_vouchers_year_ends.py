"""vouchers: the year-end close of a program (结转 / 收回), one row per closed program (vouchers.year_end)

Revision ID: v0007
Revises: v0006
"""

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import UTCDateTime

revision = "v0007"
down_revision = "v0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "vouchers_year_ends",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("program_code", sa.String(length=40), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("carried_to", sa.String(length=40), nullable=True),
        sa.Column("budget_fen", sa.BigInteger(), nullable=False),
        sa.Column("grantable_fen", sa.BigInteger(), nullable=False),
        sa.Column("closed_on", sa.Date(), nullable=False),
        sa.Column("transaction_id", sa.BigInteger(), nullable=True),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        # A program closes once: a second close, even racing the first, finds this row.
        sa.UniqueConstraint("program_code", name="uq_vouchers_year_ends_program"),
    )
    op.create_index("ix_vouchers_year_ends_carried_to", "vouchers_year_ends", ["carried_to"])


def downgrade() -> None:
    op.drop_index("ix_vouchers_year_ends_carried_to", "vouchers_year_ends")
    op.drop_table("vouchers_year_ends")
