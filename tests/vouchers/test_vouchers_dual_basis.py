"""Issue 11, defect 8 (first half): the issuing region's share of a 通兑 redemption (and the provider region's
share of a 通用 one) never reached its budgetary book. After the claims are paid (provider batch, enterprise
reimbursement) and the pair is settled, each region's budget expenditure equals its financial voucher expense:
its two books agree on every redemption."""

from __future__ import annotations

from datetime import date

from ledger.queries import reconcile
from tests.vouchers.conftest import SHANGHAI, SUZHOU, balances
from tests.vouchers.test_vouchers_payments import _redeem, scheme  # noqa: F401 - the fixture
from vouchers import books
from vouchers.payments import approve_batch, pay_reimbursement, prepare_batch, quarter
from vouchers.settlement import settle

PAY_DAY = date(2026, 4, 20)


def _sum_under(ledger, book: str, prefix: str) -> int:
    return sum(
        debits - credits
        for (account_book, path), (debits, credits, _, _) in balances(ledger).items()
        if account_book == book and (path == prefix or path.startswith(prefix + ":"))
    )


def test_defect_8_each_regions_budgetary_and_financial_books_agree_after_tongdui_and_tongyong(scheme):  # noqa: F811
    ledger = scheme.ledger
    scheme.grant(SHANGHAI, "10万")
    scheme.grant(SUZHOU, "10万")
    tongdui = _redeem(scheme, SHANGHAI, SUZHOU, "C-TD-DUAL", "9000.00", mode="tongdui")
    tongyong = _redeem(scheme, SUZHOU, SHANGHAI, "C-TY-DUAL", "6000.00", mode="tongyong")
    assert tongdui["enterprise_share_fen"] > 0 and tongyong["provider_share_fen"] > 0
    # Suzhou pays its provider in full under 通兑 (Shanghai's enterprise paid nothing to a Shanghai provider)
    batch = prepare_batch(ledger, SUZHOU, maker="payout-clerk", on=date(2026, 4, 10), **quarter("2026-Q1"))
    approve_batch(ledger, batch["id"], checker="director", approval_doc="苏-Q1", on=PAY_DAY)
    pay_reimbursement(
        ledger, tongyong["id"], maker="payout-clerk", checker="director", approval_doc="苏-TY", on=PAY_DAY
    )
    settle(
        ledger,
        SHANGHAI,
        SUZHOU,
        period_label="2026-Q1",
        on=PAY_DAY,
        actor="settlement-clerk",
        approver="director",
        **{key: value for key, value in quarter("2026-Q1").items() if key != "period_label"},
    )
    for region in (SHANGHAI, SUZHOU):
        expense = _sum_under(ledger, books.financial_book(region), "Expenses:Vouchers")
        expenditure = _sum_under(ledger, books.budget_book(region), "BudgetExpenditure:Vouchers")
        assert expense > 0
        assert expenditure == expense, region
    assert not reconcile(ledger.engine)
