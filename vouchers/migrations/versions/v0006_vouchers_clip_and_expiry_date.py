"""vouchers: the rule that clipped a reservation (clip enforcement of the per-application amount), and one quota
expiry per quota and date, so a retried expiry run for the same date returns nothing twice (issue 11)

Revision ID: v0006
Revises: v0005
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "v0006"
down_revision = "v0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("vouchers_redemptions") as batch:
        batch.add_column(sa.Column("clipped_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
    with op.batch_alter_table("vouchers_quota_expiries") as batch:
        batch.create_unique_constraint(
            "uq_vouchers_quota_expiry_date", ["program_code", "enterprise_code", "expired_on"]
        )


def downgrade() -> None:
    with op.batch_alter_table("vouchers_quota_expiries") as batch:
        batch.drop_constraint("uq_vouchers_quota_expiry_date", type_="unique")
    with op.batch_alter_table("vouchers_redemptions") as batch:
        batch.drop_column("clipped_by")
