"""subsidies: the caller's key (client_id) on clawback requests and year-end sweeps; a sweep of nothing is kept

A clawback request and a year-end sweep are money-moving calls the caller may repeat: the key is theirs
(issue 11), never a row count. A year-end run that found nothing to sweep is recorded too (no
transaction), so repeating that run later returns "nothing" instead of sweeping what came back since.

Revision ID: s0002_subsidies_request_keys
Revises: s0001_subsidies
"""

import sqlalchemy as sa
from alembic import op

revision = "s0002_subsidies_request_keys"
down_revision = "s0001_subsidies"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("subsidies_clawbacks") as batch:
        batch.add_column(sa.Column("client_id", sa.String(200), nullable=True))
        batch.create_unique_constraint("uq_subsidies_clawbacks_client", ["grant_id", "client_id"])
    with op.batch_alter_table("subsidies_year_ends") as batch:
        batch.add_column(sa.Column("client_id", sa.String(200), nullable=True))
        batch.alter_column("transaction_id", existing_type=sa.BigInteger(), nullable=True)
        batch.create_unique_constraint("uq_subsidies_year_ends_client", ["program_code", "client_id"])


def downgrade() -> None:
    with op.batch_alter_table("subsidies_year_ends") as batch:
        batch.drop_constraint("uq_subsidies_year_ends_client", type_="unique")
        batch.alter_column("transaction_id", existing_type=sa.BigInteger(), nullable=False)
        batch.drop_column("client_id")
    with op.batch_alter_table("subsidies_clawbacks") as batch:
        batch.drop_constraint("uq_subsidies_clawbacks_client", type_="unique")
        batch.drop_column("client_id")
