"""What an enterprise sees: per program and year, granted = used + reserved + available + expired, and its
redemption history. Each figure comes from its own source (grants, quota accounts, expiry records), so the
identity is a real check, not a tautology. Paid is not a further part of the quota: it is the part of used that the
treasury has paid out to providers in an approved payment batch (paid <= used).

A provider sees its claims with their payment status: ``unpaid`` (claimed, in no batch), ``in_batch`` (in a
prepared batch awaiting approval), ``paid``, or ``paid_by_enterprise`` (通用: the enterprise paid the provider in
full and its region reimburses the enterprise, outside the provider batches)."""

from __future__ import annotations

from sqlalchemy import select

from ledger.db import read_snapshot
from ledger.engine import Ledger
from vouchers.models import VoucherPaymentBatch, VoucherPaymentLine, VoucherRedemption
from vouchers.positions import QuotaPosition, enterprise_positions

__all__ = ["QuotaPosition", "enterprise_positions", "payment_status", "provider_payments", "redemption_history"]

T_REDEMPTIONS = VoucherRedemption.__table__
T_BATCHES = VoucherPaymentBatch.__table__
T_LINES = VoucherPaymentLine.__table__


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
