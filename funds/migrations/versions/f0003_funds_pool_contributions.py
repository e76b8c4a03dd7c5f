"""funds: pool contributions as domain rows (each funding level's payment into a pool), for the control check

Revision ID: f0003
Revises: f0002
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "f0003"
down_revision = "f0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "funds_pool_contributions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pool_id", sa.Integer(), nullable=False),
        sa.Column("funder_code", sqlmodel.sql.sqltypes.AutoString(length=18), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("contributed_on", sa.Date(), nullable=False),
        sa.Column("program_year", sa.Integer(), nullable=False),
        sa.Column("recorded_by", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("approved_by", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("client_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.ForeignKeyConstraint(["pool_id"], ["funds_pools.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_funds_pool_contributions_pool_id"), "funds_pool_contributions", ["pool_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_funds_pool_contributions_pool_id"), table_name="funds_pool_contributions")
    op.drop_table("funds_pool_contributions")
