"""A bank files a loan into a pool once: the same loan number under another key is refused by its rule
(funds_object_already_exists) and writes nothing; another bank may use the same number."""

from datetime import date

import pytest

from funds import reads
from funds.codes import FundsCode
from ledger.errors import LedgerError
from tests.funds.conftest import BANK_A, BANK_B, FIRM_1, pool_balances
from tests.funds.keys import new_key


def _file(pools, bank: str, key: str):
    return pools.file_loan(
        "gz", bank, FIRM_1, "L-0001", "100万", date(2026, 3, 1), 12, date(2026, 3, 10), actor="banker", client_id=key
    )


def test_the_same_loan_number_again_is_refused_by_name_and_writes_nothing(ledger, pools):
    key = new_key()
    first = _file(pools, BANK_A, key)
    assert _file(pools, BANK_A, key) == first  # the same key: the same loan (a retry)
    before = (pool_balances(ledger), len(reads.loans(ledger)))
    with pytest.raises(LedgerError) as caught:
        _file(pools, BANK_A, new_key())
    assert caught.value.code == FundsCode.ALREADY_EXISTS and "L-0001" in caught.value.message
    assert (pool_balances(ledger), len(reads.loans(ledger))) == before
    assert _file(pools, BANK_B, new_key()) != first  # numbers are the bank's own
