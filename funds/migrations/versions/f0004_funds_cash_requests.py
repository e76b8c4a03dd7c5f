"""funds: cash movements filed by one person and approved by another (funds_cash_requests)

Revision ID: f0004
Revises: f0003
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "f0004"
down_revision = "f0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "funds_cash_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("subject_code", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("payload_json", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("recorded_by", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("approved_by", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
        sa.Column("client_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("result_json", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("recorded_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("client_id", name="uq_funds_cash_requests_client_id"),
    )
    op.create_index(op.f("ix_funds_cash_requests_subject_code"), "funds_cash_requests", ["subject_code"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_funds_cash_requests_subject_code"), table_name="funds_cash_requests")
    op.drop_table("funds_cash_requests")
