"""The ledger reads behind the book pages (SQLite and PostgreSQL): keyed pages of an account's history equal
the whole history with the same running balances, inside date filters too; each day's chain head is its
last sealed link; a sealed transaction has its voucher numbers."""

from __future__ import annotations

from datetime import date, timedelta

from ledger.account_pages import account_page
from ledger.chain import seal
from ledger.engine import today_shanghai
from ledger.queries import history
from ledger.transaction_views import chain_heads_by_day, seal_status
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


def test_the_chain_head_of_each_day_is_its_last_sealed_link(ledger):
    _journal(ledger)
    sealed = seal(ledger.engine)
    heads = chain_heads_by_day(ledger.engine)
    assert sum(head.links for head in heads) == sealed == MOVEMENTS + 1
    newest = heads[0]
    assert newest.seq == sealed and newest.day == today_shanghai() and len(newest.hash) == 64
    assert seal_status(ledger.engine, 1).sealed and seal_status(ledger.engine, 1).voucher_numbers
