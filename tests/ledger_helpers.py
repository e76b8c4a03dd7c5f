"""Shared helpers for ledger tests: a small chart of accounts and balance snapshots."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from ledger.engine import T_POSTINGS, T_TRANSACTIONS, Ledger, posting_specs
from ledger.entries import TransactionRequest

BOOK = "gz"
BUDGET_BOOK = "gz-budget"
DAY = date(2026, 3, 10)


def chart(ledger: Ledger) -> None:
    """A finance office: a financial book and a budgetary book."""
    ledger.create_book(BOOK, "Guangzhou finance (financial)", "financial")
    ledger.create_book(BUDGET_BOOK, "Guangzhou finance (budgetary)", "budgetary")
    ledger.create_account(BOOK, "Assets:Bank", credits_must_not_exceed_debits=True)
    ledger.create_account(BOOK, "Assets:Receivable")
    ledger.create_account(BOOK, "NetAssets:Appropriations")
    ledger.create_account(BOOK, "Liabilities:Payables")
    ledger.create_account(BOOK, "Expenses:Grants")
    ledger.create_account(BOOK, "Assets:Bank:USD", currency="USD")
    ledger.create_account(BUDGET_BOOK, "BudgetRevenue:Appropriations")
    ledger.create_account(BUDGET_BOOK, "BudgetExpenditure:Grants")


def transfer(client_id: str, debit: str, credit: str, amount: str, *, book: str = BOOK, day: date = DAY, **kwargs):
    return TransactionRequest(client_id, posting_specs(book, [(debit, amount), (credit, f"-{amount}")]), day, **kwargs)


def fund(ledger: Ledger, amount: str = "1000.00") -> None:
    ledger.post(transfer("funding", "Assets:Bank", "NetAssets:Appropriations", amount))


def snapshot(ledger: Ledger) -> dict:
    """Every account's cached totals plus the journal's row counts: equal snapshots mean nothing moved."""
    accounts = {
        (info.book, info.path): (info.debits_posted, info.credits_posted, info.debits_pending, info.credits_pending)
        for info in ledger.accounts()
    }
    with ledger.engine.connect() as conn:
        counts = (
            conn.execute(select(func.count()).select_from(T_TRANSACTIONS)).scalar_one(),
            conn.execute(select(func.count()).select_from(T_POSTINGS)).scalar_one(),
        )
    return {"accounts": accounts, "rows": counts}
