"""What an enterprise sees: per program and year, granted = used + reserved + available + expired, and its
redemption history. Each figure comes from its own source (grants, quota accounts, expiry records), so the
identity is a real check, not a tautology. Paid is not a further part of the quota: it is the part of used that the
treasury has paid out to providers in an approved payment batch (paid <= used).

A provider sees its claims with their payment status: ``unpaid`` (claimed, in no batch), ``in_batch`` (in a
prepared batch awaiting approval), ``paid``, or ``paid_by_enterprise`` (通用: the enterprise paid the provider in
full and its region reimburses the enterprise, outside the provider batches)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from ledger.db import read_snapshot
from ledger.engine import Ledger
from vouchers import books
from vouchers.models import (
    VoucherGrant,
    VoucherPaymentBatch,
    VoucherPaymentLine,
    VoucherProgram,
    VoucherQuotaExpiry,
    VoucherRedemption,
)

T_GRANTS = VoucherGrant.__table__
T_PROGRAMS = VoucherProgram.__table__
T_EXPIRIES = VoucherQuotaExpiry.__table__
T_REDEMPTIONS = VoucherRedemption.__table__
T_BATCHES = VoucherPaymentBatch.__table__
T_LINES = VoucherPaymentLine.__table__


@dataclass(frozen=True)
class QuotaPosition:
    program: str
    region: str
    year: int
    granted_fen: int
    available_fen: int
    reserved_fen: int
    used_fen: int
    expired_fen: int
    paid_fen: int = 0  # part of used paid out to providers (not a further part of granted)


def enterprise_positions(ledger: Ledger, enterprise: str) -> list[QuotaPosition]:
    with read_snapshot(ledger.engine) as conn:
        rows = conn.execute(
            select(T_PROGRAMS.c.code, T_PROGRAMS.c.region_code, T_PROGRAMS.c.year, func.sum(T_GRANTS.c.granted_fen))
            .join(T_GRANTS, T_GRANTS.c.program_code == T_PROGRAMS.c.code)
            .where(T_GRANTS.c.enterprise_code == enterprise, T_GRANTS.c.status == "approved")
            .group_by(T_PROGRAMS.c.code, T_PROGRAMS.c.region_code, T_PROGRAMS.c.year)
            .order_by(T_PROGRAMS.c.year, T_PROGRAMS.c.code)
        ).all()
        positions = []
        for program, region, year, granted_fen in rows:
            memo = books.memo_book(region)
            quota = books.account_state(conn, memo, books.enterprise_quota(program, enterprise))
            used = books.account_state(conn, memo, books.enterprise_quota_used(program, enterprise))
            expired_fen = conn.execute(
                select(func.coalesce(func.sum(T_EXPIRIES.c.amount_fen), 0)).where(
                    T_EXPIRIES.c.program_code == program, T_EXPIRIES.c.enterprise_code == enterprise
                )
            ).scalar_one()
            paid_fen = conn.execute(
                select(func.coalesce(func.sum(T_LINES.c.amount_fen), 0))
                .join(T_BATCHES, T_BATCHES.c.id == T_LINES.c.batch_id)
                .join(T_REDEMPTIONS, T_REDEMPTIONS.c.id == T_LINES.c.redemption_id)
                .where(
                    T_BATCHES.c.status == "paid",
                    T_REDEMPTIONS.c.program_code == program,
                    T_REDEMPTIONS.c.enterprise_code == enterprise,
                )
            ).scalar_one()
            positions.append(
                QuotaPosition(
                    program=program,
                    region=region,
                    year=year,
                    granted_fen=int(granted_fen),
                    available_fen=quota["credits_posted"] - quota["debits_posted"] - quota["debits_pending"],
                    reserved_fen=quota["debits_pending"],
                    used_fen=used["credits_posted"],
                    expired_fen=int(expired_fen),
                    paid_fen=int(paid_fen),
                )
            )
        return positions


def redemption_history(ledger: Ledger, enterprise: str, *, limit: int = 200) -> list[dict]:
    """The enterprise's redemptions, oldest first, each with its payment status and batch."""
    return _with_payment(ledger, T_REDEMPTIONS.c.enterprise_code == enterprise, limit)


def provider_payments(ledger: Ledger, provider: str, *, limit: int = 200) -> list[dict]:
    """What a provider sees: its redemptions, oldest first, each with its payment status, batch and paid date."""
    return _with_payment(ledger, T_REDEMPTIONS.c.provider_code == provider, limit)


def payment_status(redemption_status: str, mode: str, batch_status: str | None) -> str | None:
    if redemption_status != "claimed":
        return None  # nothing is owed before a claim, nor after a cancellation or expiry
    if mode == "tongyong":
        return "paid_by_enterprise"
    return {None: "unpaid", "prepared": "in_batch", "paid": "paid"}[batch_status]


def _with_payment(ledger: Ledger, condition, limit: int) -> list[dict]:
    with read_snapshot(ledger.engine) as conn:
        rows = conn.execute(
            select(
                T_REDEMPTIONS,
                T_LINES.c.batch_id.label("payment_batch_id"),
                T_BATCHES.c.status.label("batch_status"),
                T_BATCHES.c.paid_on,
            )
            .outerjoin(T_LINES, T_LINES.c.redemption_id == T_REDEMPTIONS.c.id)
            .outerjoin(T_BATCHES, T_BATCHES.c.id == T_LINES.c.batch_id)
            .where(condition)
            .order_by(T_REDEMPTIONS.c.reserved_on, T_REDEMPTIONS.c.id)
            .limit(limit)
        ).mappings()
        history = []
        for row in rows:
            item = dict(row)
            item["payment_status"] = payment_status(item["status"], item["mode"], item.pop("batch_status"))
            history.append(item)
        return history
