"""Settlements found by what people know of them: a region pair and a period ("2026Q1"), in either order.

Read functions only (the command line's ``settlements`` views; the HTTP API reads by id). A settlement is
stored once per pair with the lower region code first (``region_low``); these functions accept the two
regions in any order and say which side is which."""

from __future__ import annotations

from sqlalchemy import and_, or_, select

from ledger.engine import Ledger
from ledger.errors import LedgerError
from vouchers.codes import VoucherCode
from vouchers.settlement import T_SETTLEMENTS

# A region pair settles at most once per period; a listing of one region's settlements stays this short.
SETTLEMENT_LISTING_ROWS_MAX = 1_000


def _pair(region_a: str, region_b: str) -> tuple[str, str]:
    if region_a == region_b:
        raise LedgerError(
            VoucherCode.SETTLEMENT_NEEDS_TWO_REGIONS, f"a settlement is between two regions, not {region_a} alone"
        )
    return (region_a, region_b) if region_a < region_b else (region_b, region_a)


def settlement_id_for(ledger: Ledger, region_a: str, region_b: str, period_label: str) -> int:
    """The id of the settlement of this region pair for this period; refused when there is none, naming the
    periods the pair did settle."""
    low, high = _pair(region_a, region_b)
    pair = and_(T_SETTLEMENTS.c.region_low == low, T_SETTLEMENTS.c.region_high == high)
    with ledger.reader.connect() as conn:
        found = conn.execute(
            select(T_SETTLEMENTS.c.id).where(pair, T_SETTLEMENTS.c.period_label == period_label)
        ).scalar_one_or_none()
        if found is not None:
            return found
        periods = conn.execute(
            select(T_SETTLEMENTS.c.period_label)
            .where(pair)
            .order_by(T_SETTLEMENTS.c.period_start)
            .limit(SETTLEMENT_LISTING_ROWS_MAX)
        ).scalars()
        settled = ", ".join(periods) or "none"
    raise LedgerError(
        VoucherCode.SETTLEMENT_NOT_FOUND,
        f"no settlement between {low} and {high} for period {period_label!r}; settled periods: {settled}",
    )


def settlements_of(ledger: Ledger, region: str | None = None, counterparty: str | None = None) -> list[dict]:
    """Settlements per region pair and period, oldest period first: id, the two regions, the period, its
    dates, what each side owed the other (fen) and who settled and approved it. ``region`` (and
    ``counterparty``) narrow it to the settlements with that side (and that other side)."""
    query = select(T_SETTLEMENTS).order_by(
        T_SETTLEMENTS.c.period_start, T_SETTLEMENTS.c.region_low, T_SETTLEMENTS.c.region_high
    )
    if region is not None and counterparty is not None:
        low, high = _pair(region, counterparty)
        query = query.where(T_SETTLEMENTS.c.region_low == low, T_SETTLEMENTS.c.region_high == high)
    elif region is not None:
        query = query.where(or_(T_SETTLEMENTS.c.region_low == region, T_SETTLEMENTS.c.region_high == region))
    with ledger.reader.connect() as conn:
        rows = conn.execute(query.limit(SETTLEMENT_LISTING_ROWS_MAX)).mappings().all()
    return [
        {
            "settlement": row["id"],
            "region_low": row["region_low"],
            "region_high": row["region_high"],
            "period": row["period_label"],
            "period_start": row["period_start"],
            "period_end": row["period_end"],
            "low_owes_high_fen": row["low_owes_high_fen"],
            "high_owes_low_fen": row["high_owes_low_fen"],
            "net_fen": row["low_owes_high_fen"] - row["high_owes_low_fen"],
            "settled_on": row["settled_on"],
            "actor": row["actor"],
            "approver": row["approver"],
        }
        for row in rows
    ]
