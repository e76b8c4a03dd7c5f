"""api: stored responses of keyed writes, and requests waiting for a second person

Revision ID: a0002
Revises: a0001
"""

import sqlalchemy as sa
from alembic import op

revision = "a0002"
down_revision = "a0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_keyed_writes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client", sa.String(length=100), nullable=False),
        sa.Column("idempotency_key", sa.String(length=100), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("location", sa.String(length=300), nullable=True),
        sa.Column("body_json", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("client", "idempotency_key", name="uq_api_keyed_writes_client_key"),
    )
    op.create_table(
        "api_approval_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("subject", sa.String(length=100), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=True),
        sa.Column("other_region_code", sa.String(length=6), nullable=True),
        sa.Column("institution_code", sa.String(length=18), nullable=True),
        sa.Column("payload_json", sa.Text(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("recorded_by", sa.String(length=100), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=100), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.String(length=1000), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_api_approval_requests_status", "api_approval_requests", ["status"])


def downgrade() -> None:
    op.drop_index("ix_api_approval_requests_status", table_name="api_approval_requests")
    op.drop_table("api_approval_requests")
    op.drop_table("api_keyed_writes")
