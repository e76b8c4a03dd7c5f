"""jobs: alerts a finance office can act on (region, excess, rule and citation, last seen, who resolved
and why, cleared) and balance monitors

Revision ID: j0001
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import UTCDateTime

revision = "j0001"
down_revision = "0001"
branch_labels = ("jobs",)
depends_on = None

ALERT_COLUMNS = (
    ("region", sa.String(length=6)),
    ("excess_fen", sa.BigInteger()),
    ("rule", sa.String(length=64)),
    ("citation", sa.String(length=400)),
    ("job", sa.String(length=64)),
    ("last_seen", UTCDateTime()),
    ("resolved_by", sa.String(length=100)),
    ("resolution_reason", sa.String(length=1000)),
    ("cleared_at", UTCDateTime()),
)


def upgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        for name, column_type in ALERT_COLUMNS:
            batch.add_column(sa.Column(name, column_type, nullable=True))
    # At most one active alert (not yet cleared by its job) per kind and subject: two scans that race
    # cannot open the same alert twice.
    op.create_index(
        "uq_alerts_active_subject",
        "alerts",
        ["kind", "subject"],
        unique=True,
        sqlite_where=sa.text("cleared_at IS NULL"),
        postgresql_where=sa.text("cleared_at IS NULL"),
    )
    op.create_index("ix_alerts_region", "alerts", ["region"])
    op.create_table(
        "balance_monitors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("book", sa.String(length=64), nullable=False),
        sa.Column("account", sa.String(length=400), nullable=False),
        sa.Column("field", sa.String(length=32), nullable=False),
        sa.Column("operator", sa.String(length=2), nullable=False),
        sa.Column("threshold_fen", sa.BigInteger(), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("region", sa.String(length=6), nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name", name="uq_balance_monitors_name"),
    )


def downgrade() -> None:
    op.drop_table("balance_monitors")
    op.drop_index("ix_alerts_region", "alerts")
    op.drop_index("uq_alerts_active_subject", "alerts")
    with op.batch_alter_table("alerts") as batch:
        for name, _type in reversed(ALERT_COLUMNS):
            batch.drop_column(name)
