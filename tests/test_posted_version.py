"""ledger.queries.posted_version: the same while nothing is posted, different after any posting (a
back-dated one and a reversal too) or a new account; a pending amount is not posted and leaves it alone."""

from __future__ import annotations

from datetime import date

from ledger.entries import ReversalRequest
from ledger.queries import posted_version
from tests.ledger_helpers import BOOK, chart, transfer


def test_the_version_moves_with_every_posting_and_only_then(ledger):
    chart(ledger)
    first = posted_version(ledger)
    assert posted_version(ledger) == first
    posted = ledger.post(transfer("t1", "Assets:Bank", "NetAssets:Appropriations", "10.00", day=date(2026, 3, 2)))
    posted.raise_for_error()
    second = posted_version(ledger)
    assert second != first
    ledger.post(
        transfer("t0", "Assets:Bank", "NetAssets:Appropriations", "0.01", day=date(2026, 1, 2))
    ).raise_for_error()
    third = posted_version(ledger)
    assert third not in (first, second)  # a back-dated posting changes an as-of balance: the version too
    reversal = ledger.post(ReversalRequest("r1", posted.transaction_id, reason="wrong amount"))
    reversal.raise_for_error()
    assert posted_version(ledger) not in (first, second, third)
    before_account = posted_version(ledger)
    ledger.create_account(BOOK, "Expenses:Other")
    assert posted_version(ledger)[0] == before_account[0] + 1
