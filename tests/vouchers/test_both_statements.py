"""vouchers.settlement.both_statements: each side's statement as ``statement`` reads it from that side's
own book, reading the settlement's transactions once for both."""

from __future__ import annotations

import pytest

from ledger.errors import LedgerError
from vouchers import demo, listings
from vouchers.codes import VoucherCode
from vouchers.settlement import both_statements, statement


def test_both_statements_equal_each_sides_own_statement(ledger):
    demo.load_demo(ledger)
    with ledger.reader.connect() as conn:
        settlements = listings.settlements(conn)
    assert len(settlements) == 3
    for row in settlements:
        low, high = both_statements(ledger, row["id"])
        assert low == statement(ledger, row["id"], row["region_low"])
        assert high == statement(ledger, row["id"], row["region_high"])
        assert (low.region, high.region) == (row["region_low"], row["region_high"])
        assert low.items and (low.payable_fen, low.receivable_fen) == (high.receivable_fen, high.payable_fen)


def test_an_unknown_settlement_is_refused(ledger):
    with pytest.raises(LedgerError) as caught:
        both_statements(ledger, 999)
    assert caught.value.code == VoucherCode.SETTLEMENT_NOT_FOUND
