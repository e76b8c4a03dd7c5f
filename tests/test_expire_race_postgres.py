"""``expire_pending`` retries a resolution key taken concurrently (issue 11, defect 18, the ledger half).
PostgreSQL only: SQLite's writers take the write lock up front, so no post can land inside an expiry run."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from ledger import engine as engine_module
from ledger.engine import Ledger, posting_specs
from ledger.entries import PostPendingRequest, TransactionRequest
from ledger.errors import ResultCode
from ledger.queries import reconcile

BOOK = "expiry-race"
THREAD_JOIN_SECONDS = 30


def test_defect_18_a_pending_posted_during_expiry_does_not_stop_the_others_expiring(postgres_engine, monkeypatch):
    ledger = Ledger(postgres_engine)
    ledger.create_book(BOOK, "race", "financial")
    ledger.create_account(BOOK, "Assets:Bank")
    ledger.create_account(BOOK, "Expenses:Grants")
    recorded = datetime.now(UTC)
    holds = [
        ledger.post(
            TransactionRequest(
                f"hold-{number}",
                posting_specs(BOOK, [("Expenses:Grants", "8.00"), ("Assets:Bank", "-8.00")]),
                recorded.date(),
                pending=True,
                expires_at=recorded + timedelta(hours=1),
            )
        )
        for number in range(2)
    ]
    original = engine_module._Submission._load_accounts
    posted: list[str] = []

    def post_then_lock(submission) -> None:  # noqa: ANN001
        # The expiry run has read both pendings as open; before it locks, a client posts the first one.
        if not posted and submission.void_kind == "expire":
            posted.append("post")
            poster = threading.Thread(
                target=lambda: ledger.submit([PostPendingRequest("post-0", holds[0].transaction_id)])
            )
            poster.start()
            poster.join(timeout=THREAD_JOIN_SECONDS)
            assert not poster.is_alive()
        original(submission)

    monkeypatch.setattr(engine_module._Submission, "_load_accounts", post_then_lock)
    results = ledger.expire_pending(now=recorded + timedelta(hours=2))
    assert posted == ["post"]
    assert [(result.code, result.transaction_id is not None) for result in results] == [(ResultCode.OK, True)]
    assert ledger.account(BOOK, "Expenses:Grants").debits_posted == 800
    assert ledger.account(BOOK, "Expenses:Grants").debits_pending == 0
    assert ledger.expire_pending(now=recorded + timedelta(hours=2)) == []
    assert reconcile(postgres_engine) == []
