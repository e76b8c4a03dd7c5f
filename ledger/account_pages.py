"""One page of an account's history (明细账) with its running balance, read by key, not by offset.

A page starts after a position (effective date, posting id) and reads the next ``limit`` posted movements
through the (account, date) index, so page 2,000 of a 100k-movement account costs what page 1 costs. The
running balance at the start of a page is recomputed from the ledger, never carried in a link a reader can
edit: the balance as of the day before (month totals, as every as-of balance) plus that day's movements up
to the position."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import func, select, tuple_

from ledger.engine import T_POSTINGS, T_TRANSACTIONS, Ledger
from ledger.queries import balance

ACCOUNT_PAGE_ROWS_MAX = 500


@dataclass(frozen=True, slots=True)
class Movement:
    transaction_id: int
    posting_id: int
    date: date
    amount_fen: int
    balance_fen: int
    memo: str
    kind: str


@dataclass(frozen=True, slots=True)
class AccountPage:
    movements: list[Movement]
    next_after: tuple[date, int] | None  # the position the next page starts after; None on the last page


def _balance_before(ledger: Ledger, book: str, account: str, account_id: int, day: date, posting_id: int) -> int:
    """Posted balance through the day before ``day`` plus ``day``'s postings with an id up to ``posting_id``."""
    opening = balance(ledger, book, account, as_of=day - timedelta(days=1)).balance_fen
    with ledger.reader.connect() as conn:
        same_day = conn.execute(
            select(func.coalesce(func.sum(T_POSTINGS.c.amount_fen), 0)).where(
                T_POSTINGS.c.account_id == account_id,
                T_POSTINGS.c.pending.is_(False),
                T_POSTINGS.c.effective_date == day,
                T_POSTINGS.c.id <= posting_id,
            )
        ).scalar_one()
    return opening + int(same_day)


def account_page(
    ledger: Ledger,
    book: str,
    account: str,
    *,
    limit: int,
    after: tuple[date, int] | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
) -> AccountPage:
    """Posted movements in (date, posting) order after ``after`` (or from ``date_from``), through ``date_to``."""
    limit = max(1, min(limit, ACCOUNT_PAGE_ROWS_MAX))
    info = ledger.account(book, account)
    query = (
        select(
            T_POSTINGS.c.transaction_id,
            T_POSTINGS.c.id,
            T_POSTINGS.c.effective_date,
            T_POSTINGS.c.amount_fen,
            T_TRANSACTIONS.c.memo,
            T_TRANSACTIONS.c.kind,
        )
        .join(T_TRANSACTIONS, T_TRANSACTIONS.c.id == T_POSTINGS.c.transaction_id)
        .where(T_POSTINGS.c.account_id == info.id, T_POSTINGS.c.pending.is_(False))
        .order_by(T_POSTINGS.c.effective_date, T_POSTINGS.c.id)
        .limit(limit + 1)
    )
    if after is not None:
        query = query.where(tuple_(T_POSTINGS.c.effective_date, T_POSTINGS.c.id) > tuple_(*after))
        running = _balance_before(ledger, book, account, info.id, after[0], after[1])
    elif date_from is not None:
        running = balance(ledger, book, account, as_of=date_from - timedelta(days=1)).balance_fen
    else:
        running = 0
    if date_from is not None:
        query = query.where(T_POSTINGS.c.effective_date >= date_from)
    if date_to is not None:
        query = query.where(T_POSTINGS.c.effective_date <= date_to)
    with ledger.reader.connect() as conn:
        rows = conn.execute(query).all()
    movements = []
    for transaction_id, posting_id, day, amount, memo, kind in rows[:limit]:
        running += amount
        movements.append(Movement(transaction_id, posting_id, day, amount, running, memo, kind))
    more = len(rows) > limit
    return AccountPage(movements, (movements[-1].date, movements[-1].posting_id) if more else None)
