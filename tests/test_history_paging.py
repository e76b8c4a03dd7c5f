"""Keyset paging of an account's history: the pages, read one after another, are the whole history in
(date, posting) order with the same running balances, whatever the page size, and a page deep in the
account opens on the right balance (month totals up to the day before, plus that day's earlier postings)."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest

from ledger.errors import LedgerError
from ledger.queries import HISTORY_ROWS_MAX, history, history_page

from .ledger_helpers import BOOK, chart, transfer

MOVEMENTS = 90
SEED = 20261202


def _busy_account(ledger) -> None:  # noqa: ANN001
    """Ninety movements of both signs over five months, several on one day, posted out of date order."""
    chart(ledger)
    rng = random.Random(SEED)
    requests = []
    for index in range(MOVEMENTS):
        day = date(2026, 1, 1) + timedelta(days=rng.randrange(0, 150, 3))
        amount = f"{rng.randrange(1, 50_000) / 100:.2f}"
        if index % 3 == 2:
            requests.append(transfer(f"out-{index}", "Expenses:Grants", "Assets:Receivable", amount, day=day))
        else:
            requests.append(transfer(f"in-{index}", "Assets:Receivable", "NetAssets:Appropriations", amount, day=day))
    ledger.submit(requests)


def _walk(ledger, size: int, **filters) -> list[dict]:  # noqa: ANN001
    rows, after = [], None
    while True:
        page = history_page(ledger, BOOK, "Assets:Receivable", limit=size, after=after, **filters)
        assert len(page.rows) <= size
        rows.extend(page.rows)
        if page.next_after is None:
            return rows
        after = page.next_after


@pytest.mark.parametrize("size", [1, 7, 90, 500])
def test_pages_read_in_turn_are_the_whole_history_with_its_running_balance(ledger, size):
    _busy_account(ledger)
    whole = history(ledger, BOOK, "Assets:Receivable", limit=HISTORY_ROWS_MAX)
    assert len(whole) == MOVEMENTS
    paged = _walk(ledger, size)
    assert [(row["transaction_id"], row["amount_fen"], row["balance_fen"]) for row in paged] == [
        (row["transaction_id"], row["amount_fen"], row["balance_fen"]) for row in whole
    ]


def test_a_date_window_opens_on_the_balance_before_it(ledger):
    _busy_account(ledger)
    whole = history(ledger, BOOK, "Assets:Receivable", limit=HISTORY_ROWS_MAX)
    start, end = date(2026, 2, 14), date(2026, 4, 2)
    inside = [row for row in whole if start <= row["date"] <= end]
    assert inside and len(inside) < len(whole)
    paged = _walk(ledger, 4, date_from=start, date_to=end)
    assert [(row["transaction_id"], row["balance_fen"]) for row in paged] == [
        (row["transaction_id"], row["balance_fen"]) for row in inside
    ]


def test_a_page_size_outside_the_bounds_is_refused(ledger):
    _busy_account(ledger)
    for size in (0, HISTORY_ROWS_MAX + 1):
        with pytest.raises(LedgerError):
            history_page(ledger, BOOK, "Assets:Receivable", limit=size)
