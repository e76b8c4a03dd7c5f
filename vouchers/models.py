"""Voucher domain tables (SQLModel). Money is integer fen (BIGINT); every money movement is also a ledger
posting, so these rows describe *why* and the ledger holds *how much*. Status fields change, and each
change is written to ``vouchers_events`` (the audit trail)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Column, DateTime, UniqueConstraint
from sqlmodel import Field, SQLModel


def _fen(nullable: bool = False) -> Column:
    return Column(BigInteger, nullable=nullable)


def _moment() -> Column:
    return Column(DateTime(timezone=True), nullable=False)


class VoucherRegion(SQLModel, table=True):
    """A region taking part in the scheme: its own accounting entity with three books."""

    __tablename__ = "vouchers_regions"
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=6, unique=True)
    name: str = Field(max_length=200)


class VoucherProgram(SQLModel, table=True):
    __tablename__ = "vouchers_programs"
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=40, unique=True)
    region_code: str = Field(max_length=6, index=True)
    year: int
    config_json: str
    created_by: str = Field(max_length=100)
    created_at: datetime = Field(sa_column=_moment())


class VoucherProviderCertification(SQLModel, table=True):
    """A service provider certified by a region for some categories, from a date (until a date)."""

    __tablename__ = "vouchers_provider_certifications"
    __table_args__ = (
        UniqueConstraint("provider_code", "certifying_region", "certified_from", name="uq_vouchers_certification"),
    )
    id: int | None = Field(default=None, primary_key=True)
    provider_code: str = Field(max_length=18, index=True)
    certifying_region: str = Field(max_length=6)
    categories_json: str
    certified_from: date
    certified_until: date | None = None


class VoucherEnterpriseRegistration(SQLModel, table=True):
    """科技型中小企业 入库编号 and the dates it is valid."""

    __tablename__ = "vouchers_enterprise_registrations"
    id: int | None = Field(default=None, primary_key=True)
    enterprise_code: str = Field(max_length=18, index=True)
    registration_no: str = Field(max_length=40, unique=True)
    valid_from: date
    valid_until: date


class VoucherRelatedParty(SQLModel, table=True):
    __tablename__ = "vouchers_related_parties"
    __table_args__ = (UniqueConstraint("enterprise_code", "provider_code", name="uq_vouchers_related_pair"),)
    id: int | None = Field(default=None, primary_key=True)
    enterprise_code: str = Field(max_length=18)
    provider_code: str = Field(max_length=18)
    relation: str = Field(default="", max_length=200)


class VoucherGrant(SQLModel, table=True):
    """A quota grant: submitted by one user, approved (or rejected) by another."""

    __tablename__ = "vouchers_grants"
    __table_args__ = (UniqueConstraint("client_id", name="uq_vouchers_grants_client_id"),)
    id: int | None = Field(default=None, primary_key=True)
    program_code: str = Field(max_length=40, index=True)
    enterprise_code: str = Field(max_length=18, index=True)
    requested_fen: int = Field(sa_column=_fen())
    granted_fen: int | None = Field(default=None, sa_column=_fen(nullable=True))
    status: str = Field(max_length=16)  # submitted | approved | rejected
    clipped_by: str | None = Field(default=None, max_length=64)  # the rule that clipped it (核减)
    warned_by: str | None = Field(default=None, max_length=64)  # the warn rule it went beyond (flagged for audit)
    maker: str = Field(max_length=100)
    checker: str | None = Field(default=None, max_length=100)
    approval_doc: str | None = Field(default=None, max_length=200)
    reason: str | None = Field(default=None, max_length=1000)
    submitted_on: date
    decided_on: date | None = None
    client_id: str | None = Field(default=None, max_length=100)  # the caller's key: a retry returns this grant


class VoucherRedemption(SQLModel, table=True):
    """A service contract redeeming a voucher. Contract and invoice numbers are unique across ALL regions:
    the database refuses a second use even when two regions try at the same instant."""

    __tablename__ = "vouchers_redemptions"
    id: int | None = Field(default=None, primary_key=True)
    program_code: str = Field(max_length=40, index=True)
    enterprise_code: str = Field(max_length=18, index=True)
    provider_code: str = Field(max_length=18, index=True)
    category: str = Field(max_length=64)
    contract_no: str = Field(max_length=64, unique=True)  # 技术合同登记号 / service contract number
    invoice_no: str | None = Field(default=None, max_length=64, unique=True)
    contract_fen: int = Field(sa_column=_fen())
    reserved_fen: int = Field(sa_column=_fen())
    invoiced_fen: int | None = Field(default=None, sa_column=_fen(nullable=True))
    claimed_fen: int | None = Field(default=None, sa_column=_fen(nullable=True))
    status: str = Field(max_length=16)  # reserved | claimed | cancelled | expired
    mode: str = Field(max_length=16)  # local | tongdui | tongyong
    enterprise_region: str = Field(max_length=6)
    provider_region: str = Field(max_length=6)  # the scheme region that settles for the provider
    split_ratio: str = Field(max_length=16)  # the enterprise's region's share, as configured
    clipped_by: str | None = Field(default=None, max_length=64)  # the rule that clipped it (核减, clip enforcement)
    warned_by: str | None = Field(default=None, max_length=64)  # the warn rule it went beyond (flagged for audit)
    enterprise_share_fen: int | None = Field(default=None, sa_column=_fen(nullable=True))
    provider_share_fen: int | None = Field(default=None, sa_column=_fen(nullable=True))
    reserved_on: date
    claimed_on: date | None = None
    settlement_id: int | None = Field(default=None, index=True)
    reimbursed_on: date | None = None  # 通用: the day the enterprise's reimbursement was paid
    reimbursed_by: str | None = Field(default=None, max_length=100)  # its checker (maker-checker)


class VoucherQuotaExpiry(SQLModel, table=True):
    """Unused quota returned to the program budget after the use-by date (one row per return)."""

    __tablename__ = "vouchers_quota_expiries"
    __table_args__ = (
        UniqueConstraint("program_code", "enterprise_code", "sequence", name="uq_vouchers_quota_expiry"),
        # one return per quota and expiry date: a retried run for the same date finds it and returns nothing more
        UniqueConstraint("program_code", "enterprise_code", "expired_on", name="uq_vouchers_quota_expiry_date"),
    )
    id: int | None = Field(default=None, primary_key=True)
    program_code: str = Field(max_length=40)
    enterprise_code: str = Field(max_length=18)
    sequence: int
    amount_fen: int = Field(sa_column=_fen())
    expired_on: date


class VoucherSettlement(SQLModel, table=True):
    """Netting of one region pair for one period. ``region_low`` < ``region_high`` by code."""

    __tablename__ = "vouchers_settlements"
    __table_args__ = (
        UniqueConstraint("region_low", "region_high", "period_label", name="uq_vouchers_settlement_period"),
    )
    id: int | None = Field(default=None, primary_key=True)
    region_low: str = Field(max_length=6)
    region_high: str = Field(max_length=6)
    period_label: str = Field(max_length=16)
    period_start: date
    period_end: date
    low_owes_high_fen: int = Field(sa_column=_fen())
    high_owes_low_fen: int = Field(sa_column=_fen())
    settled_on: date
    actor: str = Field(max_length=100)
    approver: str = Field(max_length=100)


class VoucherPaymentBatch(SQLModel, table=True):
    """Provider payout of one paying region for one period (e.g. "2026-Q1"): prepared by one user, approved and
    paid by another. The region and period label are the idempotency key."""

    __tablename__ = "vouchers_payment_batches"
    __table_args__ = (UniqueConstraint("region_code", "period_label", name="uq_vouchers_payment_batch_period"),)
    id: int | None = Field(default=None, primary_key=True)
    region_code: str = Field(max_length=6)  # the region whose financial book holds the payables
    period_label: str = Field(max_length=16)
    period_start: date
    period_end: date
    total_fen: int = Field(sa_column=_fen())
    line_count: int
    status: str = Field(max_length=16)  # prepared | paid | rejected
    maker: str = Field(max_length=100)
    prepared_on: date
    checker: str | None = Field(default=None, max_length=100)
    approval_doc: str | None = Field(default=None, max_length=200)
    paid_on: date | None = None


class VoucherPaymentLine(SQLModel, table=True):
    """One redemption in a payment batch, with the amounts as stored at preparation. The unique redemption id
    is the guarantee that a redemption is paid at most once, even when two batches are prepared at once."""

    __tablename__ = "vouchers_payment_lines"
    __table_args__ = (UniqueConstraint("redemption_id", name="uq_vouchers_payment_line_redemption"),)
    id: int | None = Field(default=None, primary_key=True)
    batch_id: int = Field(index=True)
    redemption_id: int
    program_code: str = Field(max_length=40)
    provider_code: str = Field(max_length=18, index=True)
    mode: str = Field(max_length=16)
    issuing_region: str = Field(max_length=6)
    amount_fen: int = Field(sa_column=_fen())  # paid to the provider out of the paying region's treasury
    budget_expenditure_fen: int = Field(sa_column=_fen())  # the paying region's own budget expenditure


class VoucherEvent(SQLModel, table=True):
    """Audit trail of every status change: who did what, when."""

    __tablename__ = "vouchers_events"
    id: int | None = Field(default=None, primary_key=True)
    subject_type: str = Field(max_length=32)
    subject_id: str = Field(max_length=64)
    event: str = Field(max_length=32)
    actor: str = Field(max_length=100)
    recorded_at: datetime = Field(sa_column=_moment())
    detail_json: str = Field(default="{}")
