"""vouchers: the caller's key of a grant request, so a retried submission returns the same grant (issue 11)

Revision ID: v0005
Revises: v0004
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "v0005"
down_revision = "v0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("vouchers_grants") as batch:
        batch.add_column(sa.Column("client_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True))
        batch.create_unique_constraint("uq_vouchers_grants_client_id", ["client_id"])


def downgrade() -> None:
    with op.batch_alter_table("vouchers_grants") as batch:
        batch.drop_constraint("uq_vouchers_grants_client_id", type_="unique")
        batch.drop_column("client_id")
