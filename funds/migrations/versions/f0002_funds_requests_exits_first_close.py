"""funds: idempotency keys of domain calls, dated investment exits, sub-fund first close, covered loan amount

Revision ID: f0002
Revises: f0001
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "f0002"
down_revision = "f0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "funds_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("operation", sqlmodel.sql.sqltypes.AutoString(length=48), nullable=False),
        sa.Column("content_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("result_json", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("recorded_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("client_id", name="uq_funds_requests_client_id"),
    )
    op.create_table(
        "funds_investment_exits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("investment_id", sa.Integer(), nullable=False),
        sa.Column("cost_fen", sa.BigInteger(), nullable=False),
        sa.Column("proceeds_fen", sa.BigInteger(), nullable=False),
        sa.Column("exited_on", sa.Date(), nullable=False),
        sa.Column("client_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.ForeignKeyConstraint(["investment_id"], ["funds_investments.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_funds_investment_exits_investment_id"), "funds_investment_exits", ["investment_id"], unique=False
    )
    with op.batch_alter_table("funds_subfunds") as batch:
        batch.add_column(sa.Column("first_close_on", sa.Date(), nullable=True))
    with op.batch_alter_table("funds_loans") as batch:
        batch.add_column(sa.Column("covered_fen", sa.BigInteger(), nullable=False, server_default="0"))
    # Loans filed before this revision were covered in full (the cap always refused the excess).
    op.execute("UPDATE funds_loans SET covered_fen = principal_fen")


def downgrade() -> None:
    with op.batch_alter_table("funds_loans") as batch:
        batch.drop_column("covered_fen")
    with op.batch_alter_table("funds_subfunds") as batch:
        batch.drop_column("first_close_on")
    op.drop_index(op.f("ix_funds_investment_exits_investment_id"), table_name="funds_investment_exits")
    op.drop_table("funds_investment_exits")
    op.drop_table("funds_requests")
