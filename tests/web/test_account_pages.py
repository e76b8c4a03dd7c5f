"""ledger.account_pages: keyed pages of an account's history equal the whole history, page by page, with the
same running balances, inside date filters too (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import date, timedelta

from ledger.account_pages import account_page
from ledger.queries import history
from tests.ledger_helpers import BOOK, chart, transfer

FIRST_DAY = date(2026, 1, 5)
MOVEMENTS = 23
PAGE_ROWS = 5


def _journal(ledger) -> None:
    chart(ledger)
    requests = [transfer("funding", "Assets:Bank", "NetAssets:Appropriations", "100000.00", day=FIRST_DAY)]
    for number in range(MOVEMENTS):
        # Several movements a day, and days out of order of recording, so (date, id) order is really tested.
        day = FIRST_DAY + timedelta(days=(number * 7) % 40)
        requests.append(transfer(f"grant-{number}", "Expenses:Grants", "Assets:Bank", f"{number + 1}.25", day=day))
    for request in requests:
        ledger.post(request).raise_for_error()


def _all_pages(ledger, **filters) -> list[tuple]:
    rows, after = [], None
    while True:
        chunk = account_page(ledger, BOOK, "Assets:Bank", limit=PAGE_ROWS, after=after, **filters)
        assert len(chunk.movements) <= PAGE_ROWS
        rows += [(m.transaction_id, m.date, m.amount_fen, m.balance_fen) for m in chunk.movements]
        if chunk.next_after is None:
            return rows
        after = chunk.next_after


def test_keyed_pages_equal_the_whole_history_with_running_balances(ledger):
    _journal(ledger)
    whole = [
        (row["transaction_id"], row["date"], row["amount_fen"], row["balance_fen"])
        for row in history(ledger, BOOK, "Assets:Bank", limit=1_000)
    ]
    assert len(whole) == MOVEMENTS + 1
    assert _all_pages(ledger) == whole


def test_a_date_filter_pages_the_same_rows_with_balances_carried_from_before_it(ledger):
    _journal(ledger)
    date_from, date_to = FIRST_DAY + timedelta(days=10), FIRST_DAY + timedelta(days=30)
    whole = [
        (row["transaction_id"], row["date"], row["amount_fen"], row["balance_fen"])
        for row in history(ledger, BOOK, "Assets:Bank", limit=1_000)
        if date_from <= row["date"] <= date_to
    ]
    assert whole and _all_pages(ledger, date_from=date_from, date_to=date_to) == whole
