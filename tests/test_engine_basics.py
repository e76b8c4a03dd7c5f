from datetime import date

import pytest

from ledger.chain import seal, verify_chain
from ledger.engine import Ledger, posting_specs
from ledger.entries import TransactionRequest
from ledger.errors import LedgerError, ResultCode
from ledger.queries import reconcile
from tests.ledger_helpers import BOOK, chart, transfer


def test_a_balanced_transaction_is_recorded_and_sealed(ledger):
    ledger.create_book("gz", "Guangzhou finance office", "financial")
    ledger.create_account("gz", "Assets:Bank")
    ledger.create_account("gz", "NetAssets:Appropriations")
    result = ledger.post(
        TransactionRequest(
            "t1",
            posting_specs("gz", [("Assets:Bank", "1000.00"), ("NetAssets:Appropriations", "-1000.00")]),
            date(2026, 1, 5),
        )
    )
    assert result.code == ResultCode.OK
    assert ledger.account("gz", "Assets:Bank").balance_fen == 100_000
    assert seal(ledger.engine) == 1
    report = verify_chain(ledger.engine)
    assert report.intact and report.sealed == 1 and report.unsealed == 0
    assert reconcile(ledger.engine) == []


def test_a_plain_post_on_postgres_is_one_call_of_the_server_function(postgres_engine, monkeypatch):
    """Posted, unlinked transactions take fundledger_post_plain; what it declines takes the general path."""
    from ledger import engine as engine_module

    ledger = Ledger(postgres_engine)
    chart(ledger)
    general_runs = []
    original_run = engine_module._Submission.run

    def counting_run(self):
        general_runs.append(len(self.requests))
        return original_run(self)

    monkeypatch.setattr(engine_module._Submission, "run", counting_run)
    first = ledger.post(transfer("plain-1", "Assets:Bank", "NetAssets:Appropriations", "10.00"))
    assert first.ok and general_runs == []
    assert ledger.account(BOOK, "Assets:Bank").balance_fen == 1_000
    # Declined by the function (the key exists): the general path answers, with the stored id.
    again = ledger.post(transfer("plain-1", "Assets:Bank", "NetAssets:Appropriations", "10.00"))
    assert again.code == ResultCode.EXISTS and again.transaction_id == first.transaction_id
    assert general_runs == [1]
    # A limit flag that would be crossed: declined, then refused by the general path with its code.
    with pytest.raises(LedgerError) as refused:
        ledger.post(transfer("plain-2", "Expenses:Grants", "Assets:Bank", "10.01"))
    assert refused.value.code == ResultCode.CREDITS_EXCEED_DEBITS
    assert ledger.account(BOOK, "Assets:Bank").balance_fen == 1_000
