"""subsidies: programs, applications, grants, flags, clawbacks, year-ends, cap locks, events

Revision ID: s0001_subsidies
Revises: 0001
"""

import sqlalchemy as sa
import sqlmodel  # noqa: F401 - kept for the project's migration template
from alembic import op

revision = "s0001_subsidies"
down_revision = "0001"
branch_labels = ("subsidies",)
depends_on = None


def _when(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "subsidies_programs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("config_text", sa.Text(), nullable=False),
        sa.Column("installed_by", sa.String(100), nullable=False),
        _when("installed_at"),
    )
    op.create_table(
        "subsidies_applications",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("program_code", sa.String(64), nullable=False, index=True),
        sa.Column("client_id", sa.String(200), nullable=False),
        sa.Column("institution_code", sa.String(18), nullable=False, index=True),
        sa.Column("program_year", sa.Integer(), nullable=False),
        sa.Column("base_figures_json", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("submitted_by", sa.String(100), nullable=False),
        _when("submitted_at"),
        sa.Column("decided_by", sa.String(100), nullable=True),
        _when("decided_at", nullable=True),
        sa.Column("decision_code", sa.String(64), nullable=True),
        sa.Column("decision_reason", sa.String(1000), nullable=True),
        sa.UniqueConstraint("program_code", "client_id", name="uq_subsidies_applications_client"),
    )
    op.create_table(
        "subsidies_grants",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("application_id", sa.Integer(), sa.ForeignKey("subsidies_applications.id"), nullable=False),
        sa.Column("program_code", sa.String(64), nullable=False, index=True),
        sa.Column("institution_code", sa.String(18), nullable=False, index=True),
        sa.Column("program_year", sa.Integer(), nullable=False),
        sa.Column("computed_fen", sa.BigInteger(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("approved_by", sa.String(100), nullable=False),
        sa.Column("approval_doc", sa.String(200), nullable=True),
        _when("approved_at"),
        sa.Column("commitment_tx_id", sa.BigInteger(), nullable=False),
        sa.Column("payable_tx_id", sa.BigInteger(), nullable=False),
        sa.Column("budget_post_tx_id", sa.BigInteger(), nullable=True),
        sa.Column("payment_tx_id", sa.BigInteger(), nullable=True),
        _when("paid_at", nullable=True),
        sa.UniqueConstraint("application_id", name="uq_subsidies_grants_application"),
    )
    op.create_table(
        "subsidies_grant_flags",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("grant_id", sa.Integer(), sa.ForeignKey("subsidies_grants.id"), nullable=False, index=True),
        sa.Column("rule", sa.String(32), nullable=False),
        sa.Column("enforcement", sa.String(8), nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("requested_fen", sa.BigInteger(), nullable=False),
        sa.Column("granted_fen", sa.BigInteger(), nullable=False),
        sa.Column("limit_value", sa.BigInteger(), nullable=False),
        sa.Column("room_value", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "subsidies_clawbacks",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("grant_id", sa.Integer(), sa.ForeignKey("subsidies_grants.id"), nullable=False, index=True),
        sa.Column("reason", sa.String(1000), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("requested_by", sa.String(100), nullable=False),
        _when("requested_at"),
        sa.Column("approved_by", sa.String(100), nullable=True),
        sa.Column("approval_doc", sa.String(200), nullable=True),
        _when("approved_at", nullable=True),
    )
    op.create_table(
        "subsidies_year_ends",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("program_code", sa.String(64), nullable=False),
        sa.Column("program_year", sa.Integer(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("transaction_id", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        _when("recorded_at"),
        sa.UniqueConstraint("program_code", "program_year", "sequence", name="uq_subsidies_year_ends"),
    )
    op.create_table(
        "subsidies_cap_locks",
        sa.Column("scope", sa.String(200), primary_key=True),
    )
    op.create_table(
        "subsidies_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("subject", sa.String(32), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        _when("recorded_at"),
        sa.Column("detail_json", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    for table in (
        "subsidies_events",
        "subsidies_cap_locks",
        "subsidies_year_ends",
        "subsidies_clawbacks",
        "subsidies_grant_flags",
        "subsidies_grants",
        "subsidies_applications",
        "subsidies_programs",
    ):
        op.drop_table(table)
