"""Balances (current, as of a date, history), the trial balance, and reconciliation of cached balances.

Signs are debit-positive throughout; reports put each balance in a debit or a credit column.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Engine, case, func, select

from ledger.accounts import path_at_depth
from ledger.db import read_only
from ledger.engine import T_ACCOUNTS, T_BOOKS, T_POSTINGS, T_RESOLUTIONS, T_TRANSACTIONS, Ledger
from ledger.errors import LedgerError, ResultCode

HISTORY_ROWS_MAX = 10_000


@dataclass(frozen=True, slots=True)
class Balance:
    book: str
    account: str
    currency: str
    debits_fen: int
    credits_fen: int
    debits_pending_fen: int = 0
    credits_pending_fen: int = 0

    @property
    def balance_fen(self) -> int:
        return self.debits_fen - self.credits_fen


@dataclass(frozen=True, slots=True)
class TrialBalanceRow:
    book: str
    account: str
    type: str
    currency: str
    debit_fen: int
    credit_fen: int


def balance(ledger: Ledger, book: str, account: str, *, as_of: date | None = None) -> Balance:
    info = ledger.account(book, account)
    if as_of is None:
        return Balance(
            book,
            account,
            info.currency,
            info.debits_posted,
            info.credits_posted,
            info.debits_pending,
            info.credits_pending,
        )
    with ledger.reader.connect() as conn:
        debits, credits = conn.execute(
            select(
                func.coalesce(func.sum(case((T_POSTINGS.c.amount_fen > 0, T_POSTINGS.c.amount_fen), else_=0)), 0),
                func.coalesce(func.sum(case((T_POSTINGS.c.amount_fen < 0, -T_POSTINGS.c.amount_fen), else_=0)), 0),
            ).where(
                T_POSTINGS.c.account_id == info.id,
                T_POSTINGS.c.effective_date <= as_of,
                T_POSTINGS.c.pending.is_(False),
            )
        ).one()
    return Balance(book, account, info.currency, int(debits), int(credits))


def history(ledger: Ledger, book: str, account: str, *, limit: int = 100) -> list[dict]:
    """Posted movements of one account in date order, with the running debit-positive balance."""
    if limit > HISTORY_ROWS_MAX:
        raise LedgerError(ResultCode.BATCH_TOO_LARGE, f"history returns at most {HISTORY_ROWS_MAX} rows")
    info = ledger.account(book, account)
    with ledger.reader.connect() as conn:
        rows = conn.execute(
            select(
                T_POSTINGS.c.transaction_id,
                T_POSTINGS.c.effective_date,
                T_POSTINGS.c.amount_fen,
                T_TRANSACTIONS.c.memo,
                T_TRANSACTIONS.c.kind,
            )
            .join(T_TRANSACTIONS, T_TRANSACTIONS.c.id == T_POSTINGS.c.transaction_id)
            .where(T_POSTINGS.c.account_id == info.id, T_POSTINGS.c.pending.is_(False))
            .order_by(T_POSTINGS.c.effective_date, T_POSTINGS.c.id)
            .limit(limit)
        ).all()
    running = 0
    result = []
    for tx_id, effective_date, amount, memo, kind in rows:
        running += amount
        result.append(
            {
                "transaction_id": tx_id,
                "date": effective_date,
                "amount_fen": amount,
                "balance_fen": running,
                "memo": memo,
                "kind": kind,
            }
        )
    return result


def _account_directory(engine: Engine, book: str | None) -> dict[int, tuple[str, str, str, str]]:
    query = select(T_ACCOUNTS.c.id, T_BOOKS.c.code, T_ACCOUNTS.c.path, T_ACCOUNTS.c.type, T_ACCOUNTS.c.currency).join(
        T_BOOKS, T_BOOKS.c.id == T_ACCOUNTS.c.book_id
    )
    if book is not None:
        query = query.where(T_BOOKS.c.code == book)
    with read_only(engine).connect() as conn:
        return {row[0]: (row[1], row[2], row[3], row[4]) for row in conn.execute(query)}


def trial_balance(
    ledger: Ledger, *, book: str | None = None, as_of: date | None = None, depth: int | None = None
) -> list[TrialBalanceRow]:
    """Posted balances per account (or per account prefix at ``depth``), each on its side."""
    directory = _account_directory(ledger.engine, book)
    if book is not None and not directory:
        with ledger.reader.connect() as conn:
            Ledger._book(conn, book)
    balances: dict[int, int] = {}
    with ledger.reader.connect() as conn:
        if as_of is None:
            query = select(T_ACCOUNTS.c.id, T_ACCOUNTS.c.debits_posted - T_ACCOUNTS.c.credits_posted)
            for account_id, amount in conn.execute(query):
                balances[account_id] = amount
        else:
            query = (
                select(T_POSTINGS.c.account_id, func.sum(T_POSTINGS.c.amount_fen))
                .where(T_POSTINGS.c.effective_date <= as_of, T_POSTINGS.c.pending.is_(False))
                .group_by(T_POSTINGS.c.account_id)
            )
            for account_id, amount in conn.execute(query):
                balances[account_id] = int(amount)
    grouped: dict[tuple[str, str, str, str], int] = defaultdict(int)
    for account_id, (book_code, path, kind, currency) in directory.items():
        amount = balances.get(account_id, 0)
        if amount:
            grouped[(book_code, path_at_depth(path, depth), kind, currency)] += amount
    rows = []
    for (book_code, path, kind, currency), amount in sorted(grouped.items()):
        if amount == 0:
            continue  # a group whose accounts cancel out, as zero-balance accounts, is not listed
        rows.append(
            TrialBalanceRow(book_code, path, kind, currency, amount if amount > 0 else 0, -amount if amount < 0 else 0)
        )
    return rows


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str
    subject: str
    expected_fen: int
    actual_fen: int
    message: str


def reconcile(engine: Engine) -> list[Finding]:
    """Cached balances equal the sum of postings, and every book balances per currency."""
    findings: list[Finding] = []
    directory = _account_directory(engine, None)
    unresolved_pending = T_POSTINGS.c.pending.is_(True) & T_RESOLUTIONS.c.target_id.is_(None)
    posted = T_POSTINGS.c.pending.is_(False)
    sums = (
        select(
            T_POSTINGS.c.account_id,
            func.sum(case((posted & (T_POSTINGS.c.amount_fen > 0), T_POSTINGS.c.amount_fen), else_=0)),
            func.sum(case((posted & (T_POSTINGS.c.amount_fen < 0), -T_POSTINGS.c.amount_fen), else_=0)),
            func.sum(case((unresolved_pending & (T_POSTINGS.c.amount_fen > 0), T_POSTINGS.c.amount_fen), else_=0)),
            func.sum(case((unresolved_pending & (T_POSTINGS.c.amount_fen < 0), -T_POSTINGS.c.amount_fen), else_=0)),
        )
        .select_from(
            T_POSTINGS.outerjoin(
                T_RESOLUTIONS,
                (T_RESOLUTIONS.c.target_id == T_POSTINGS.c.transaction_id) & T_POSTINGS.c.pending.is_(True),
            )
        )
        .group_by(T_POSTINGS.c.account_id)
    )
    with read_only(engine).connect() as conn:
        computed = {row[0]: tuple(int(value or 0) for value in row[1:]) for row in conn.execute(sums)}
        cached = {
            row[0]: tuple(row[1:])
            for row in conn.execute(
                select(
                    T_ACCOUNTS.c.id,
                    T_ACCOUNTS.c.debits_posted,
                    T_ACCOUNTS.c.credits_posted,
                    T_ACCOUNTS.c.debits_pending,
                    T_ACCOUNTS.c.credits_pending,
                )
            )
        }
    names = ("debits_posted", "credits_posted", "debits_pending", "credits_pending")
    book_totals: dict[tuple[str, str], int] = defaultdict(int)
    for account_id, cached_values in cached.items():
        book_code, path, _kind, currency = directory[account_id]
        sums_values = computed.get(account_id, (0, 0, 0, 0))
        book_totals[(book_code, currency)] += sums_values[0] - sums_values[1]
        for name, expected, actual in zip(names, sums_values, cached_values):
            if expected != actual:
                findings.append(
                    Finding(
                        "cached_balance_differs",
                        f"{book_code}/{path}",
                        expected,
                        actual,
                        f"{name} is {actual} fen but its postings sum to {expected} fen",
                    )
                )
    for (book_code, currency), total in sorted(book_totals.items()):
        if total != 0:
            findings.append(
                Finding(
                    "book_does_not_balance", book_code, 0, total, f"book {book_code} ({currency}) is off by {total} fen"
                )
            )
    return findings
