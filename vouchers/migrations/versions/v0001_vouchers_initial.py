"""vouchers: programs, certifications, registrations, grants, redemptions, expiries, settlements, events

Revision ID: v0001
Revises: 0001
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "v0001"
down_revision = "0001"
branch_labels = ("vouchers",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "vouchers_enterprise_registrations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("enterprise_code", sqlmodel.sql.sqltypes.AutoString(length=18), nullable=False),
        sa.Column("registration_no", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("registration_no"),
    )
    op.create_index(
        op.f("ix_vouchers_enterprise_registrations_enterprise_code"),
        "vouchers_enterprise_registrations",
        ["enterprise_code"],
        unique=False,
    )
    op.create_table(
        "vouchers_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_type", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("subject_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("event", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("detail_json", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "vouchers_grants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("program_code", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("enterprise_code", sqlmodel.sql.sqltypes.AutoString(length=18), nullable=False),
        sa.Column("requested_fen", sa.BigInteger(), nullable=False),
        sa.Column("granted_fen", sa.BigInteger(), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("clipped_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("maker", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("checker", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("approval_doc", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
        sa.Column("submitted_on", sa.Date(), nullable=False),
        sa.Column("decided_on", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_vouchers_grants_enterprise_code"), "vouchers_grants", ["enterprise_code"], unique=False)
    op.create_index(op.f("ix_vouchers_grants_program_code"), "vouchers_grants", ["program_code"], unique=False)
    op.create_table(
        "vouchers_programs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("region_code", sqlmodel.sql.sqltypes.AutoString(length=6), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("config_json", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.create_index(op.f("ix_vouchers_programs_region_code"), "vouchers_programs", ["region_code"], unique=False)
    op.create_table(
        "vouchers_provider_certifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider_code", sqlmodel.sql.sqltypes.AutoString(length=18), nullable=False),
        sa.Column("certifying_region", sqlmodel.sql.sqltypes.AutoString(length=6), nullable=False),
        sa.Column("categories_json", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("certified_from", sa.Date(), nullable=False),
        sa.Column("certified_until", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("provider_code", "certifying_region", "certified_from", name="uq_vouchers_certification"),
    )
    op.create_index(
        op.f("ix_vouchers_provider_certifications_provider_code"),
        "vouchers_provider_certifications",
        ["provider_code"],
        unique=False,
    )
    op.create_table(
        "vouchers_quota_expiries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("program_code", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("enterprise_code", sqlmodel.sql.sqltypes.AutoString(length=18), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("expired_on", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("program_code", "enterprise_code", "sequence", name="uq_vouchers_quota_expiry"),
    )
    op.create_table(
        "vouchers_redemptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("program_code", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("enterprise_code", sqlmodel.sql.sqltypes.AutoString(length=18), nullable=False),
        sa.Column("provider_code", sqlmodel.sql.sqltypes.AutoString(length=18), nullable=False),
        sa.Column("category", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("contract_no", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("invoice_no", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("contract_fen", sa.BigInteger(), nullable=False),
        sa.Column("reserved_fen", sa.BigInteger(), nullable=False),
        sa.Column("invoiced_fen", sa.BigInteger(), nullable=True),
        sa.Column("claimed_fen", sa.BigInteger(), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("mode", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("enterprise_region", sqlmodel.sql.sqltypes.AutoString(length=6), nullable=False),
        sa.Column("provider_region", sqlmodel.sql.sqltypes.AutoString(length=6), nullable=False),
        sa.Column("split_ratio", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("enterprise_share_fen", sa.BigInteger(), nullable=True),
        sa.Column("provider_share_fen", sa.BigInteger(), nullable=True),
        sa.Column("reserved_on", sa.Date(), nullable=False),
        sa.Column("claimed_on", sa.Date(), nullable=True),
        sa.Column("settlement_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("contract_no"),
        sa.UniqueConstraint("invoice_no"),
    )
    op.create_index(
        op.f("ix_vouchers_redemptions_enterprise_code"), "vouchers_redemptions", ["enterprise_code"], unique=False
    )
    op.create_index(
        op.f("ix_vouchers_redemptions_program_code"), "vouchers_redemptions", ["program_code"], unique=False
    )
    op.create_index(
        op.f("ix_vouchers_redemptions_provider_code"), "vouchers_redemptions", ["provider_code"], unique=False
    )
    op.create_index(
        op.f("ix_vouchers_redemptions_settlement_id"), "vouchers_redemptions", ["settlement_id"], unique=False
    )
    op.create_table(
        "vouchers_regions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=6), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.create_table(
        "vouchers_related_parties",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("enterprise_code", sqlmodel.sql.sqltypes.AutoString(length=18), nullable=False),
        sa.Column("provider_code", sqlmodel.sql.sqltypes.AutoString(length=18), nullable=False),
        sa.Column("relation", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("enterprise_code", "provider_code", name="uq_vouchers_related_pair"),
    )
    op.create_table(
        "vouchers_settlements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("region_low", sqlmodel.sql.sqltypes.AutoString(length=6), nullable=False),
        sa.Column("region_high", sqlmodel.sql.sqltypes.AutoString(length=6), nullable=False),
        sa.Column("period_label", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("low_owes_high_fen", sa.BigInteger(), nullable=False),
        sa.Column("high_owes_low_fen", sa.BigInteger(), nullable=False),
        sa.Column("settled_on", sa.Date(), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("approver", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("region_low", "region_high", "period_label", name="uq_vouchers_settlement_period"),
    )


def downgrade() -> None:
    op.drop_table("vouchers_settlements")
    op.drop_table("vouchers_related_parties")
    op.drop_table("vouchers_regions")
    op.drop_index(op.f("ix_vouchers_redemptions_settlement_id"), table_name="vouchers_redemptions")
    op.drop_index(op.f("ix_vouchers_redemptions_provider_code"), table_name="vouchers_redemptions")
    op.drop_index(op.f("ix_vouchers_redemptions_program_code"), table_name="vouchers_redemptions")
    op.drop_index(op.f("ix_vouchers_redemptions_enterprise_code"), table_name="vouchers_redemptions")
    op.drop_table("vouchers_redemptions")
    op.drop_table("vouchers_quota_expiries")
    op.drop_index(
        op.f("ix_vouchers_provider_certifications_provider_code"), table_name="vouchers_provider_certifications"
    )
    op.drop_table("vouchers_provider_certifications")
    op.drop_index(op.f("ix_vouchers_programs_region_code"), table_name="vouchers_programs")
    op.drop_table("vouchers_programs")
    op.drop_index(op.f("ix_vouchers_grants_program_code"), table_name="vouchers_grants")
    op.drop_index(op.f("ix_vouchers_grants_enterprise_code"), table_name="vouchers_grants")
    op.drop_table("vouchers_grants")
    op.drop_table("vouchers_events")
    op.drop_index(
        op.f("ix_vouchers_enterprise_registrations_enterprise_code"), table_name="vouchers_enterprise_registrations"
    )
    op.drop_table("vouchers_enterprise_registrations")
