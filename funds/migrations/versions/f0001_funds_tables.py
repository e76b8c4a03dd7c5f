"""funds: risk-compensation pools, guidance funds and sub-funds (domain rows; money moves in the ledger)

Revision ID: f0001
Revises: 0001
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "f0001"
down_revision = "0001"
branch_labels = ("funds",)
depends_on = None


def upgrade() -> None:

    op.create_table(
        "funds_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_type", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("detail_json", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("recorded_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "funds_flags",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_type", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("enforcement", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("message", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=True),
        sa.Column("limit_fen", sa.BigInteger(), nullable=True),
        sa.Column("recorded_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "funds_guidance_funds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("region_code", sqlmodel.sql.sqltypes.AutoString(length=6), nullable=False),
        sa.Column("policy_json", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.create_table(
        "funds_pools",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("policy_json", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.create_table(
        "funds_bank_agreements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pool_id", sa.Integer(), nullable=False),
        sa.Column("bank_code", sqlmodel.sql.sqltypes.AutoString(length=18), nullable=False),
        sa.Column("terms_json", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=False),
        sa.Column("suspended", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["pool_id"],
            ["funds_pools.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("pool_id", "bank_code", name="uq_funds_bank_agreements"),
    )
    op.create_index(op.f("ix_funds_bank_agreements_pool_id"), "funds_bank_agreements", ["pool_id"], unique=False)
    op.create_table(
        "funds_loans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pool_id", sa.Integer(), nullable=False),
        sa.Column("bank_code", sqlmodel.sql.sqltypes.AutoString(length=18), nullable=False),
        sa.Column("enterprise_code", sqlmodel.sql.sqltypes.AutoString(length=18), nullable=False),
        sa.Column("loan_number", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("principal_fen", sa.BigInteger(), nullable=False),
        sa.Column("disbursed_on", sa.Date(), nullable=False),
        sa.Column("term_months", sa.Integer(), nullable=False),
        sa.Column("filed_on", sa.Date(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("recorded_by", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["pool_id"],
            ["funds_pools.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("pool_id", "bank_code", "loan_number", name="uq_funds_loans_number"),
    )
    op.create_index(op.f("ix_funds_loans_enterprise_code"), "funds_loans", ["enterprise_code"], unique=False)
    op.create_index(op.f("ix_funds_loans_pool_id"), "funds_loans", ["pool_id"], unique=False)
    op.create_table(
        "funds_pool_funders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pool_id", sa.Integer(), nullable=False),
        sa.Column("funder_code", sqlmodel.sql.sqltypes.AutoString(length=18), nullable=False),
        sa.Column("level", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("share", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["pool_id"],
            ["funds_pools.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("pool_id", "funder_code", name="uq_funds_pool_funders"),
    )
    op.create_index(op.f("ix_funds_pool_funders_pool_id"), "funds_pool_funders", ["pool_id"], unique=False)
    op.create_table(
        "funds_subfunds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("guidance_fund_id", sa.Integer(), nullable=False),
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("manager_code", sqlmodel.sql.sqltypes.AutoString(length=18), nullable=False),
        sa.Column("size_fen", sa.BigInteger(), nullable=False),
        sa.Column("established_on", sa.Date(), nullable=False),
        sa.Column("term_years", sa.Integer(), nullable=False),
        sa.Column("investment_period_end", sa.Date(), nullable=False),
        sa.Column("fee_basis", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("fee_rate", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["guidance_fund_id"],
            ["funds_guidance_funds.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.create_index(op.f("ix_funds_subfunds_guidance_fund_id"), "funds_subfunds", ["guidance_fund_id"], unique=False)
    op.create_table(
        "funds_capital_calls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subfund_id", sa.Integer(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("ratio", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("notice_on", sa.Date(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("recorded_by", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("approved_by", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.ForeignKeyConstraint(
            ["subfund_id"],
            ["funds_subfunds.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_funds_capital_calls_subfund_id"), "funds_capital_calls", ["subfund_id"], unique=False)
    op.create_table(
        "funds_claims",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pool_id", sa.Integer(), nullable=False),
        sa.Column("loan_id", sa.Integer(), nullable=False),
        sa.Column("bank_code", sqlmodel.sql.sqltypes.AutoString(length=18), nullable=False),
        sa.Column("enterprise_code", sqlmodel.sql.sqltypes.AutoString(length=18), nullable=False),
        sa.Column("non_performing_fen", sa.BigInteger(), nullable=False),
        sa.Column("claimed_on", sa.Date(), nullable=False),
        sa.Column("program_year", sa.Integer(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("recorded_by", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("approved_by", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("approval_doc", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
        sa.Column("entitled_fen", sa.BigInteger(), nullable=False),
        sa.Column("binding_limit", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("paid_fen", sa.BigInteger(), nullable=False),
        sa.Column("recovered_fen", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["loan_id"],
            ["funds_loans.id"],
        ),
        sa.ForeignKeyConstraint(
            ["pool_id"],
            ["funds_pools.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_funds_claims_loan_id"), "funds_claims", ["loan_id"], unique=False)
    op.create_index(op.f("ix_funds_claims_pool_id"), "funds_claims", ["pool_id"], unique=False)
    op.create_table(
        "funds_commitments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subfund_id", sa.Integer(), nullable=False),
        sa.Column("investor_code", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("is_guidance", sa.Boolean(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("committed_on", sa.Date(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("recorded_by", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("approved_by", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.ForeignKeyConstraint(
            ["subfund_id"],
            ["funds_subfunds.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_funds_commitments_subfund_id"), "funds_commitments", ["subfund_id"], unique=False)
    op.create_table(
        "funds_distributions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subfund_id", sa.Integer(), nullable=False),
        sa.Column("distributed_on", sa.Date(), nullable=False),
        sa.Column("capital_fen", sa.BigInteger(), nullable=False),
        sa.Column("income_fen", sa.BigInteger(), nullable=False),
        sa.Column("recallable", sa.Boolean(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("recorded_by", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("approved_by", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.ForeignKeyConstraint(
            ["subfund_id"],
            ["funds_subfunds.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_funds_distributions_subfund_id"), "funds_distributions", ["subfund_id"], unique=False)
    op.create_table(
        "funds_fee_accruals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subfund_id", sa.Integer(), nullable=False),
        sa.Column("through", sa.Date(), nullable=False),
        sa.Column("cumulative_fen", sa.BigInteger(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["subfund_id"],
            ["funds_subfunds.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_funds_fee_accruals_subfund_id"), "funds_fee_accruals", ["subfund_id"], unique=False)
    op.create_table(
        "funds_investments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subfund_id", sa.Integer(), nullable=False),
        sa.Column("enterprise_code", sqlmodel.sql.sqltypes.AutoString(length=18), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("invested_on", sa.Date(), nullable=False),
        sa.Column("stage", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("is_local", sa.Boolean(), nullable=False),
        sa.Column("sector", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("hard_tech", sa.Boolean(), nullable=False),
        sa.Column("exited_cost_fen", sa.BigInteger(), nullable=False),
        sa.Column("proceeds_fen", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["subfund_id"],
            ["funds_subfunds.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_funds_investments_subfund_id"), "funds_investments", ["subfund_id"], unique=False)
    op.create_table(
        "funds_valuations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subfund_id", sa.Integer(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("nav_fen", sa.BigInteger(), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["subfund_id"],
            ["funds_subfunds.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_funds_valuations_subfund_id"), "funds_valuations", ["subfund_id"], unique=False)
    op.create_table(
        "funds_call_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.Integer(), nullable=False),
        sa.Column("investor_code", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("paid_fen", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["call_id"],
            ["funds_capital_calls.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_funds_call_items_call_id"), "funds_call_items", ["call_id"], unique=False)
    op.create_table(
        "funds_claim_payments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("claim_id", sa.Integer(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("paid_on", sa.Date(), nullable=False),
        sa.Column("binding_limit", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("client_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["claim_id"],
            ["funds_claims.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_funds_claim_payments_claim_id"), "funds_claim_payments", ["claim_id"], unique=False)
    op.create_table(
        "funds_distribution_parts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("distribution_id", sa.Integer(), nullable=False),
        sa.Column("investor_code", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("capital_fen", sa.BigInteger(), nullable=False),
        sa.Column("income_fen", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["distribution_id"],
            ["funds_distributions.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_funds_distribution_parts_distribution_id"),
        "funds_distribution_parts",
        ["distribution_id"],
        unique=False,
    )
    op.create_table(
        "funds_recoveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("claim_id", sa.Integer(), nullable=False),
        sa.Column("gross_fen", sa.BigInteger(), nullable=False),
        sa.Column("costs_fen", sa.BigInteger(), nullable=False),
        sa.Column("returned_fen", sa.BigInteger(), nullable=False),
        sa.Column("clipped", sa.Boolean(), nullable=False),
        sa.Column("recovered_on", sa.Date(), nullable=False),
        sa.Column("recorded_by", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("client_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["claim_id"],
            ["funds_claims.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_funds_recoveries_claim_id"), "funds_recoveries", ["claim_id"], unique=False)
    op.create_table(
        "funds_call_payments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_item_id", sa.Integer(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("paid_on", sa.Date(), nullable=False),
        sa.Column("client_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["call_item_id"],
            ["funds_call_items.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_funds_call_payments_call_item_id"), "funds_call_payments", ["call_item_id"], unique=False)
    op.create_table(
        "funds_claim_payment_parts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("payment_id", sa.Integer(), nullable=False),
        sa.Column("claim_id", sa.Integer(), nullable=False),
        sa.Column("funder_code", sqlmodel.sql.sqltypes.AutoString(length=18), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["payment_id"],
            ["funds_claim_payments.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_funds_claim_payment_parts_claim_id"), "funds_claim_payment_parts", ["claim_id"], unique=False
    )
    op.create_index(
        op.f("ix_funds_claim_payment_parts_payment_id"), "funds_claim_payment_parts", ["payment_id"], unique=False
    )
    op.create_table(
        "funds_recovery_parts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("recovery_id", sa.Integer(), nullable=False),
        sa.Column("claim_id", sa.Integer(), nullable=False),
        sa.Column("funder_code", sqlmodel.sql.sqltypes.AutoString(length=18), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["recovery_id"],
            ["funds_recoveries.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_funds_recovery_parts_claim_id"), "funds_recovery_parts", ["claim_id"], unique=False)
    op.create_index(op.f("ix_funds_recovery_parts_recovery_id"), "funds_recovery_parts", ["recovery_id"], unique=False)


def downgrade() -> None:

    op.drop_index(op.f("ix_funds_recovery_parts_recovery_id"), table_name="funds_recovery_parts")
    op.drop_index(op.f("ix_funds_recovery_parts_claim_id"), table_name="funds_recovery_parts")
    op.drop_table("funds_recovery_parts")
    op.drop_index(op.f("ix_funds_claim_payment_parts_payment_id"), table_name="funds_claim_payment_parts")
    op.drop_index(op.f("ix_funds_claim_payment_parts_claim_id"), table_name="funds_claim_payment_parts")
    op.drop_table("funds_claim_payment_parts")
    op.drop_index(op.f("ix_funds_call_payments_call_item_id"), table_name="funds_call_payments")
    op.drop_table("funds_call_payments")
    op.drop_index(op.f("ix_funds_recoveries_claim_id"), table_name="funds_recoveries")
    op.drop_table("funds_recoveries")
    op.drop_index(op.f("ix_funds_distribution_parts_distribution_id"), table_name="funds_distribution_parts")
    op.drop_table("funds_distribution_parts")
    op.drop_index(op.f("ix_funds_claim_payments_claim_id"), table_name="funds_claim_payments")
    op.drop_table("funds_claim_payments")
    op.drop_index(op.f("ix_funds_call_items_call_id"), table_name="funds_call_items")
    op.drop_table("funds_call_items")
    op.drop_index(op.f("ix_funds_valuations_subfund_id"), table_name="funds_valuations")
    op.drop_table("funds_valuations")
    op.drop_index(op.f("ix_funds_investments_subfund_id"), table_name="funds_investments")
    op.drop_table("funds_investments")
    op.drop_index(op.f("ix_funds_fee_accruals_subfund_id"), table_name="funds_fee_accruals")
    op.drop_table("funds_fee_accruals")
    op.drop_index(op.f("ix_funds_distributions_subfund_id"), table_name="funds_distributions")
    op.drop_table("funds_distributions")
    op.drop_index(op.f("ix_funds_commitments_subfund_id"), table_name="funds_commitments")
    op.drop_table("funds_commitments")
    op.drop_index(op.f("ix_funds_claims_pool_id"), table_name="funds_claims")
    op.drop_index(op.f("ix_funds_claims_loan_id"), table_name="funds_claims")
    op.drop_table("funds_claims")
    op.drop_index(op.f("ix_funds_capital_calls_subfund_id"), table_name="funds_capital_calls")
    op.drop_table("funds_capital_calls")
    op.drop_index(op.f("ix_funds_subfunds_guidance_fund_id"), table_name="funds_subfunds")
    op.drop_table("funds_subfunds")
    op.drop_index(op.f("ix_funds_pool_funders_pool_id"), table_name="funds_pool_funders")
    op.drop_table("funds_pool_funders")
    op.drop_index(op.f("ix_funds_loans_pool_id"), table_name="funds_loans")
    op.drop_index(op.f("ix_funds_loans_enterprise_code"), table_name="funds_loans")
    op.drop_table("funds_loans")
    op.drop_index(op.f("ix_funds_bank_agreements_pool_id"), table_name="funds_bank_agreements")
    op.drop_table("funds_bank_agreements")
    op.drop_table("funds_pools")
    op.drop_table("funds_guidance_funds")
    op.drop_table("funds_flags")
    op.drop_table("funds_events")
