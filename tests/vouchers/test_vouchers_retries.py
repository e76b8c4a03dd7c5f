"""Retry safety of money-moving voucher calls: a retry of the same call (same key) changes nothing and returns
the same result."""

from __future__ import annotations

import pytest

from ledger.errors import LedgerError
from tests.vouchers.conftest import SHANGHAI, START, balances
from vouchers.codes import VoucherCode
from vouchers.grants import approve_grant, submit_grant


def test_retried_grant_approval_returns_the_stored_decision_and_posts_nothing(scheme):
    ledger = scheme.ledger
    grant_id = submit_grant(
        ledger, scheme.programs[SHANGHAI], scheme.enterprises[SHANGHAI], "3万", maker="clerk", on=START
    )
    first = approve_grant(ledger, grant_id, checker="director", approval_doc="沪科〔2026〕1号", on=START)
    after_first = balances(ledger)
    assert approve_grant(ledger, grant_id, checker="director", approval_doc="沪科〔2026〕1号", on=START) == first
    assert balances(ledger) == after_first
    # another approval of an approved grant is still refused
    with pytest.raises(LedgerError) as refused:
        approve_grant(ledger, grant_id, checker="someone-else", approval_doc="other", on=START)
    assert refused.value.code == VoucherCode.GRANT_ALREADY_DECIDED
    assert balances(ledger) == after_first
