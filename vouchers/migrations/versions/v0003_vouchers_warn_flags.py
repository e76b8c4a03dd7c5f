"""vouchers: warn enforcement flags on grants and redemptions (issue 11, defect 6)

Revision ID: v0003
Revises: v0002
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "v0003"
down_revision = "v0002"
branch_labels = None
depends_on = None

FLAGGED_TABLES = ("vouchers_grants", "vouchers_redemptions")


def upgrade() -> None:
    for table in FLAGGED_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("warned_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))


def downgrade() -> None:
    for table in FLAGGED_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("warned_by")
