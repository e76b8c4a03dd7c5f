from datetime import date

from ledger.chain import seal, verify_chain
from ledger.engine import posting_specs
from ledger.entries import TransactionRequest
from ledger.errors import ResultCode
from ledger.queries import reconcile


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
