"""vouchers: the paid state of a 通用 enterprise reimbursement (issue 11, defect 8)

Revision ID: v0004
Revises: v0003
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "v0004"
down_revision = "v0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("vouchers_redemptions") as batch:
        batch.add_column(sa.Column("reimbursed_on", sa.Date(), nullable=True))
        batch.add_column(sa.Column("reimbursed_by", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("vouchers_redemptions") as batch:
        batch.drop_column("reimbursed_by")
        batch.drop_column("reimbursed_on")
