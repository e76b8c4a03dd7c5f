"""Domain tables of the funds package (SQLModel). Money is BIGINT fen; every money movement is a ledger
posting, these rows only describe it. Status columns change; the audit trail (funds_events) keeps who
did what and when. Parts of a split (funders' portions, investors' distributions) are stored, never
recomputed."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, UniqueConstraint
from sqlmodel import Field, SQLModel


def _money(default: int = 0):
    return Field(default=default, sa_type=BigInteger)


class FundsEvent(SQLModel, table=True):
    """Audit trail of domain commands: who recorded, approved or rejected what."""

    __tablename__ = "funds_events"
    id: int | None = Field(default=None, primary_key=True)
    subject_type: str = Field(max_length=32)
    subject_id: int
    action: str = Field(max_length=32)
    actor: str = Field(max_length=100)
    detail_json: str = Field(default="{}")
    recorded_at: datetime


class FundsFlag(SQLModel, table=True):
    """A rule that clipped or warned (核减 / flagged for audit), kept with its subject."""

    __tablename__ = "funds_flags"
    id: int | None = Field(default=None, primary_key=True)
    subject_type: str = Field(max_length=32)
    subject_id: int
    code: str = Field(max_length=64)
    enforcement: str = Field(max_length=8)
    message: str = Field(default="", max_length=1000)
    amount_fen: int | None = Field(default=None, sa_type=BigInteger)
    limit_fen: int | None = Field(default=None, sa_type=BigInteger)
    recorded_at: datetime


class FundsRequest(SQLModel, table=True):
    """The idempotency key of a domain call: a retry with the same key and content returns the stored
    result and writes nothing; the same key with other content is refused."""

    __tablename__ = "funds_requests"
    __table_args__ = (UniqueConstraint("client_id", name="uq_funds_requests_client_id"),)
    id: int | None = Field(default=None, primary_key=True)
    client_id: str = Field(max_length=200)
    operation: str = Field(max_length=48)
    content_hash: str = Field(max_length=64)
    result_json: str
    recorded_at: datetime


# ----- risk-compensation pools ----------------------------------------------------------------------


class Pool(SQLModel, table=True):
    __tablename__ = "funds_pools"
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=32, unique=True)
    name: str = Field(max_length=200)
    policy_json: str
    created_at: datetime


class PoolFunder(SQLModel, table=True):
    __tablename__ = "funds_pool_funders"
    __table_args__ = (UniqueConstraint("pool_id", "funder_code", name="uq_funds_pool_funders"),)
    id: int | None = Field(default=None, primary_key=True)
    pool_id: int = Field(foreign_key="funds_pools.id", index=True)
    funder_code: str = Field(max_length=18)  # region code of the funding level
    level: str = Field(max_length=16)  # province | city | district
    share: str = Field(max_length=32)  # exact ratio text, e.g. "2/5"
    position: int  # order of the split's tie-break


class PoolContribution(SQLModel, table=True):
    """A funding level's payment into a pool (its appropriation received)."""

    __tablename__ = "funds_pool_contributions"
    id: int | None = Field(default=None, primary_key=True)
    pool_id: int = Field(foreign_key="funds_pools.id", index=True)
    funder_code: str = Field(max_length=18)
    amount_fen: int = _money()
    contributed_on: date
    program_year: int
    recorded_by: str = Field(max_length=100)
    approved_by: str = Field(max_length=100)
    client_id: str = Field(max_length=200)


class BankAgreement(SQLModel, table=True):
    __tablename__ = "funds_bank_agreements"
    __table_args__ = (UniqueConstraint("pool_id", "bank_code", name="uq_funds_bank_agreements"),)
    id: int | None = Field(default=None, primary_key=True)
    pool_id: int = Field(foreign_key="funds_pools.id", index=True)
    bank_code: str = Field(max_length=18)
    terms_json: str
    valid_from: date
    valid_to: date
    suspended: bool = Field(default=False)


class Loan(SQLModel, table=True):
    __tablename__ = "funds_loans"
    __table_args__ = (UniqueConstraint("pool_id", "bank_code", "loan_number", name="uq_funds_loans_number"),)
    id: int | None = Field(default=None, primary_key=True)
    pool_id: int = Field(foreign_key="funds_pools.id", index=True)
    bank_code: str = Field(max_length=18)
    enterprise_code: str = Field(max_length=18, index=True)
    loan_number: str = Field(max_length=64)
    principal_fen: int = _money()
    disbursed_on: date
    term_months: int
    filed_on: date
    covered_fen: int = _money()  # principal counted into the pool (less than principal when a cap clipped it)
    status: str = Field(max_length=16)  # performing | overdue | defaulted | revoked
    recorded_by: str = Field(max_length=100)


class Claim(SQLModel, table=True):
    __tablename__ = "funds_claims"
    id: int | None = Field(default=None, primary_key=True)
    pool_id: int = Field(foreign_key="funds_pools.id", index=True)
    loan_id: int = Field(foreign_key="funds_loans.id", index=True)
    bank_code: str = Field(max_length=18)
    enterprise_code: str = Field(max_length=18)
    non_performing_fen: int = _money()
    claimed_on: date
    program_year: int
    status: str = Field(max_length=16)  # submitted | rejected | approved | paid
    recorded_by: str = Field(max_length=100)
    approved_by: str | None = Field(default=None, max_length=100)
    approval_doc: str | None = Field(default=None, max_length=200)
    reason: str | None = Field(default=None, max_length=1000)
    entitled_fen: int = _money()
    binding_limit: str | None = Field(default=None, max_length=32)
    paid_fen: int = _money()
    recovered_fen: int = _money()


class ClaimPayment(SQLModel, table=True):
    __tablename__ = "funds_claim_payments"
    id: int | None = Field(default=None, primary_key=True)
    claim_id: int = Field(foreign_key="funds_claims.id", index=True)
    amount_fen: int = _money()
    paid_on: date
    binding_limit: str | None = Field(default=None, max_length=32)
    client_id: str = Field(max_length=200)


class ClaimPaymentPart(SQLModel, table=True):
    """Each funder's portion of a payout, split by largest remainder over the recorded shares."""

    __tablename__ = "funds_claim_payment_parts"
    id: int | None = Field(default=None, primary_key=True)
    payment_id: int = Field(foreign_key="funds_claim_payments.id", index=True)
    claim_id: int = Field(index=True)
    funder_code: str = Field(max_length=18)
    amount_fen: int = _money()


class Recovery(SQLModel, table=True):
    __tablename__ = "funds_recoveries"
    id: int | None = Field(default=None, primary_key=True)
    claim_id: int = Field(foreign_key="funds_claims.id", index=True)
    gross_fen: int = _money()
    costs_fen: int = _money()
    returned_fen: int = _money()
    clipped: bool = Field(default=False)
    recovered_on: date
    recorded_by: str = Field(max_length=100)
    client_id: str = Field(max_length=200)


class RecoveryPart(SQLModel, table=True):
    __tablename__ = "funds_recovery_parts"
    id: int | None = Field(default=None, primary_key=True)
    recovery_id: int = Field(foreign_key="funds_recoveries.id", index=True)
    claim_id: int = Field(index=True)
    funder_code: str = Field(max_length=18)
    amount_fen: int = _money()


# ----- guidance funds and sub-funds -----------------------------------------------------------------


class GuidanceFund(SQLModel, table=True):
    __tablename__ = "funds_guidance_funds"
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=32, unique=True)
    name: str = Field(max_length=200)
    region_code: str = Field(max_length=6)
    policy_json: str
    created_at: datetime


class SubFund(SQLModel, table=True):
    __tablename__ = "funds_subfunds"
    id: int | None = Field(default=None, primary_key=True)
    guidance_fund_id: int = Field(foreign_key="funds_guidance_funds.id", index=True)
    code: str = Field(max_length=32, unique=True)
    name: str = Field(max_length=200)
    manager_code: str = Field(max_length=18)
    size_fen: int = _money()
    established_on: date
    term_years: int
    investment_period_end: date
    fee_basis: str = Field(max_length=16)  # paid_in | invested
    fee_rate: str = Field(max_length=16)  # exact ratio text per year, after the cap
    status: str = Field(default="active", max_length=16)  # active | wound_up
    first_close_on: date | None = None  # establishment (首次交割): the investor structure is final


class Commitment(SQLModel, table=True):
    __tablename__ = "funds_commitments"
    id: int | None = Field(default=None, primary_key=True)
    subfund_id: int = Field(foreign_key="funds_subfunds.id", index=True)
    investor_code: str = Field(max_length=32)
    is_guidance: bool = Field(default=False)
    amount_fen: int = _money()
    committed_on: date
    status: str = Field(max_length=16)  # submitted | approved | rejected
    recorded_by: str = Field(max_length=100)
    approved_by: str | None = Field(default=None, max_length=100)


class CapitalCall(SQLModel, table=True):
    __tablename__ = "funds_capital_calls"
    id: int | None = Field(default=None, primary_key=True)
    subfund_id: int = Field(foreign_key="funds_subfunds.id", index=True)
    sequence: int
    ratio: str = Field(max_length=32)  # of each investor's commitment
    notice_on: date
    due_on: date
    status: str = Field(max_length=16)  # submitted | approved (pending payment) | paid | rejected
    recorded_by: str = Field(max_length=100)
    approved_by: str | None = Field(default=None, max_length=100)


class CallItem(SQLModel, table=True):
    __tablename__ = "funds_call_items"
    id: int | None = Field(default=None, primary_key=True)
    call_id: int = Field(foreign_key="funds_capital_calls.id", index=True)
    investor_code: str = Field(max_length=32)
    amount_fen: int = _money()
    paid_fen: int = _money()


class CallPayment(SQLModel, table=True):
    __tablename__ = "funds_call_payments"
    id: int | None = Field(default=None, primary_key=True)
    call_item_id: int = Field(foreign_key="funds_call_items.id", index=True)
    amount_fen: int = _money()
    paid_on: date
    client_id: str = Field(max_length=200)


class Investment(SQLModel, table=True):
    __tablename__ = "funds_investments"
    id: int | None = Field(default=None, primary_key=True)
    subfund_id: int = Field(foreign_key="funds_subfunds.id", index=True)
    enterprise_code: str = Field(max_length=18)
    amount_fen: int = _money()
    invested_on: date
    stage: str = Field(max_length=16)  # seed | start_up | growth
    is_local: bool
    sector: str = Field(max_length=64)
    hard_tech: bool
    exited_cost_fen: int = _money()
    proceeds_fen: int = _money()


class InvestmentExit(SQLModel, table=True):
    """One (partial) exit of an investment, dated: the invested-capital fee basis falls on that date."""

    __tablename__ = "funds_investment_exits"
    id: int | None = Field(default=None, primary_key=True)
    investment_id: int = Field(foreign_key="funds_investments.id", index=True)
    cost_fen: int = _money()
    proceeds_fen: int = _money()
    exited_on: date
    client_id: str = Field(max_length=200)


class Valuation(SQLModel, table=True):
    __tablename__ = "funds_valuations"
    id: int | None = Field(default=None, primary_key=True)
    subfund_id: int = Field(foreign_key="funds_subfunds.id", index=True)
    as_of: date
    nav_fen: int = _money()
    source: str = Field(default="", max_length=200)


class Distribution(SQLModel, table=True):
    __tablename__ = "funds_distributions"
    id: int | None = Field(default=None, primary_key=True)
    subfund_id: int = Field(foreign_key="funds_subfunds.id", index=True)
    distributed_on: date
    capital_fen: int = _money()
    income_fen: int = _money()
    recallable: bool = Field(default=False)
    status: str = Field(max_length=16)
    recorded_by: str = Field(max_length=100)
    approved_by: str | None = Field(default=None, max_length=100)


class DistributionPart(SQLModel, table=True):
    __tablename__ = "funds_distribution_parts"
    id: int | None = Field(default=None, primary_key=True)
    distribution_id: int = Field(foreign_key="funds_distributions.id", index=True)
    investor_code: str = Field(max_length=32)
    capital_fen: int = _money()
    income_fen: int = _money()


class FeeAccrual(SQLModel, table=True):
    __tablename__ = "funds_fee_accruals"
    id: int | None = Field(default=None, primary_key=True)
    subfund_id: int = Field(foreign_key="funds_subfunds.id", index=True)
    through: date
    cumulative_fen: int = _money()
    amount_fen: int = _money()


class CashRequest(SQLModel, table=True):
    """A cash movement its service takes from two people at once (an appropriation into a guidance fund, its
    remittance to the treasury, a funding level's contribution to a pool, a pool's settlement run): one
    person files it here, another approves it, and only then does the service record it with both names."""

    __tablename__ = "funds_cash_requests"
    __table_args__ = (UniqueConstraint("client_id", name="uq_funds_cash_requests_client_id"),)
    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=32)  # gf_appropriation | gf_remittance | pool_contribution | pool_settlement
    subject_code: str = Field(max_length=32, index=True)  # the guidance fund's or the pool's code
    payload_json: str
    amount_fen: int | None = Field(default=None, sa_type=BigInteger)
    status: str = Field(max_length=16)  # submitted | approved | rejected
    recorded_by: str = Field(max_length=100)
    approved_by: str | None = Field(default=None, max_length=100)
    reason: str | None = Field(default=None, max_length=1000)
    client_id: str = Field(max_length=200)  # the filer's key; the approved service call is keyed on it too
    result_json: str | None = None
    recorded_at: datetime
