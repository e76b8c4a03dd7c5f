"""Issue 11, defect 8 (second half): nothing ever paid a 通用 enterprise's reimbursement payable. A claimed 通用
redemption now has a paid state: ``pay_reimbursement`` (maker-checker, keyed by the redemption's own id) posts
Dr payable / Cr treasury in the issuing region's financial book and the region's own share as budget
expenditure in its budgetary book, in one transaction; a retry changes nothing and returns the same result."""

from __future__ import annotations

from datetime import date

import pytest

from ledger.errors import LedgerError
from ledger.queries import reconcile
from tests.vouchers.conftest import SHANGHAI, SUZHOU, balances
from tests.vouchers.test_vouchers_payments import _redeem, scheme  # noqa: F401 - the fixture
from vouchers import books
from vouchers.codes import VoucherCode
from vouchers.payments import pay_reimbursement

PAY_DAY = date(2026, 4, 20)


def _pay(scheme, redemption_id, **overrides):  # noqa: F811
    values = dict(maker="payout-clerk", checker="director", approval_doc="苏科〔2026〕7号", on=PAY_DAY)
    values.update(overrides)
    return pay_reimbursement(scheme.ledger, redemption_id, **values)


def _counters(ledger, book, path):
    debits, credits, _, _ = balances(ledger).get((book, path), (0, 0, 0, 0))
    return debits - credits


def test_defect_8_tongyong_reimbursement_is_paid_in_both_books_once(scheme):  # noqa: F811
    scheme.grant(SUZHOU, "10万")
    redemption = _redeem(scheme, SUZHOU, SHANGHAI, "C-TY-PAY", "9000.00", mode="tongyong")
    ledger, program, enterprise = scheme.ledger, scheme.programs[SUZHOU], scheme.enterprises[SUZHOU]
    fin, budget = books.financial_book(SUZHOU), books.budget_book(SUZHOU)
    treasury_before = _counters(ledger, fin, books.TREASURY)
    assert _counters(ledger, fin, books.payable_to(enterprise)) == -redemption["claimed_fen"]

    paid = _pay(scheme, redemption["id"])

    assert paid["reimbursed_on"] == PAY_DAY and paid["reimbursed_by"] == "director"
    assert _counters(ledger, fin, books.payable_to(enterprise)) == 0
    assert _counters(ledger, fin, books.TREASURY) == treasury_before - redemption["claimed_fen"]
    own_share = redemption["enterprise_share_fen"]
    assert own_share > 0
    assert _counters(ledger, budget, books.budget_voucher_expenditure(program)) == own_share
    assert not reconcile(ledger.engine)

    after_first = balances(ledger)
    assert _pay(scheme, redemption["id"]) == paid  # a retry returns the stored result ...
    assert balances(ledger) == after_first  # ... and changes nothing


def test_defect_8_reimbursement_refused_for_a_provider_redemption_and_for_its_own_maker(scheme):  # noqa: F811
    scheme.grant(SHANGHAI, "10万")
    scheme.grant(SUZHOU, "10万")
    local = _redeem(scheme, SHANGHAI, SHANGHAI, "C-LOCAL-PAY", "9000.00")
    tongyong = _redeem(scheme, SUZHOU, SHANGHAI, "C-TY-MAKER", "9000.00", mode="tongyong")
    before = balances(scheme.ledger)
    with pytest.raises(LedgerError) as refused:
        _pay(scheme, local["id"])
    assert refused.value.code == VoucherCode.REIMBURSEMENT_MUST_BE_A_CLAIMED_TONGYONG_REDEMPTION
    with pytest.raises(LedgerError) as refused:
        _pay(scheme, tongyong["id"], checker="payout-clerk")
    assert refused.value.code == VoucherCode.APPROVER_MUST_DIFFER_FROM_MAKER
    assert balances(scheme.ledger) == before
