"""The reconcile job's core check is set-based (the database compares each account's month of postings with its
stored month total and returns only the differences): every kind of difference is still found, with its exact
figures, and nothing else is. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date

from sqlalchemy import text

from ledger.queries import reconcile
from tests.ledger_helpers import BOOK, chart, fund, transfer

ACCOUNT_ID = "(SELECT a.id FROM accounts a JOIN books b ON b.id = a.book_id WHERE b.code = 'gz' AND a.path = :path)"


def _findings(ledger) -> list[tuple]:
    return [(f.kind, f.subject, f.expected_fen, f.actual_fen) for f in reconcile(ledger.engine)]


def _seeded(ledger):
    chart(ledger)
    fund(ledger)  # March: 1000.00 into the bank
    ledger.post(transfer("april", "Expenses:Grants", "Assets:Bank", "250.00", day=date(2026, 4, 2)))
    assert _findings(ledger) == []


def test_a_stored_month_total_of_a_month_without_postings_is_found(ledger):
    _seeded(ledger)
    with ledger.engine.begin() as conn:
        conn.execute(
            text(f"INSERT INTO account_month_totals VALUES ({ACCOUNT_ID}, '2030-01', 500, 0)"),
            {"path": "Assets:Bank"},
        )
    assert _findings(ledger) == [("month_totals_differ", f"{BOOK}/Assets:Bank 2030-01", 0, 500)]


def test_a_missing_or_altered_month_total_is_found_and_the_cached_totals_still_checked(ledger):
    _seeded(ledger)
    with ledger.engine.begin() as conn:
        conn.execute(
            text(f"DELETE FROM account_month_totals WHERE account_id = {ACCOUNT_ID} AND period = '2026-04'"),
            {"path": "Expenses:Grants"},
        )
        conn.execute(
            text(
                "UPDATE account_month_totals SET credits_fen = 1"
                f" WHERE account_id = {ACCOUNT_ID} AND period = '2026-03'"
            ),
            {"path": "NetAssets:Appropriations"},
        )
        conn.execute(text("UPDATE accounts SET debits_posted = 99 WHERE path = 'Assets:Receivable'"))
    assert sorted(_findings(ledger)) == [
        ("cached_balance_differs", f"{BOOK}/Assets:Receivable", 0, 99),
        ("month_totals_differ", f"{BOOK}/Expenses:Grants 2026-04", 25_000, 0),
        ("month_totals_differ", f"{BOOK}/NetAssets:Appropriations 2026-03", -100_000, -1),
    ]  # the books still balance: they are summed from the postings, not from the altered rows


def test_a_cached_total_that_differs_from_the_postings_unbalances_nothing_else(ledger):
    _seeded(ledger)
    with ledger.engine.begin() as conn:
        conn.execute(text("UPDATE accounts SET credits_posted = credits_posted + 7 WHERE path = 'Assets:Bank'"))
    assert _findings(ledger) == [("cached_balance_differs", f"{BOOK}/Assets:Bank", 25_000, 25_007)]
