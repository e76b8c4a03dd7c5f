"""jobs: balance monitors on a program (a subsidy or voucher program's figures) beside those on an account

Revision ID: j0002
Revises: j0001
"""

import sqlalchemy as sa
from alembic import op

revision = "j0002"
down_revision = "j0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("balance_monitors") as batch:
        batch.add_column(sa.Column("program_kind", sa.String(length=16), nullable=True))  # subsidy | voucher
        batch.add_column(sa.Column("program_code", sa.String(length=64), nullable=True))
        # A monitor watches an account (book and account) or a program (kind and code), never both.
        batch.alter_column("book", existing_type=sa.String(length=64), nullable=True)
        batch.alter_column("account", existing_type=sa.String(length=400), nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM balance_monitors WHERE program_kind IS NOT NULL")  # they cannot be kept without it
    with op.batch_alter_table("balance_monitors") as batch:
        batch.alter_column("account", existing_type=sa.String(length=400), nullable=False)
        batch.alter_column("book", existing_type=sa.String(length=64), nullable=False)
        batch.drop_column("program_code")
        batch.drop_column("program_kind")
