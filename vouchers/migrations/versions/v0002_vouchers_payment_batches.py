"""vouchers: provider payment batches and their lines

Revision ID: v0002
Revises: v0001
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "v0002"
down_revision = "v0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "vouchers_payment_batches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("region_code", sqlmodel.sql.sqltypes.AutoString(length=6), nullable=False),
        sa.Column("period_label", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("total_fen", sa.BigInteger(), nullable=False),
        sa.Column("line_count", sa.Integer(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("maker", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("prepared_on", sa.Date(), nullable=False),
        sa.Column("checker", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("approval_doc", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("paid_on", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("region_code", "period_label", name="uq_vouchers_payment_batch_period"),
    )
    op.create_table(
        "vouchers_payment_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("redemption_id", sa.Integer(), nullable=False),
        sa.Column("program_code", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("provider_code", sqlmodel.sql.sqltypes.AutoString(length=18), nullable=False),
        sa.Column("mode", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("issuing_region", sqlmodel.sql.sqltypes.AutoString(length=6), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("budget_expenditure_fen", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("redemption_id", name="uq_vouchers_payment_line_redemption"),
    )
    op.create_index(op.f("ix_vouchers_payment_lines_batch_id"), "vouchers_payment_lines", ["batch_id"], unique=False)
    op.create_index(
        op.f("ix_vouchers_payment_lines_provider_code"), "vouchers_payment_lines", ["provider_code"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_vouchers_payment_lines_provider_code"), table_name="vouchers_payment_lines")
    op.drop_index(op.f("ix_vouchers_payment_lines_batch_id"), table_name="vouchers_payment_lines")
    op.drop_table("vouchers_payment_lines")
    op.drop_table("vouchers_payment_batches")
