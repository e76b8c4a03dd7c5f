import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import pytest

from ledger.errors import LedgerError
from tests.vouchers.conftest import HANGZHOU, SHANGHAI, SUZHOU, balances
from vouchers import books
from vouchers.codes import VoucherCode
from vouchers.controls import reconcile_controls
from vouchers.redemptions import claim, reserve
from vouchers.settlement import settle, statement

Q1 = dict(period_label="2026Q1", period_start=date(2026, 1, 1), period_end=date(2026, 3, 31))


def _redeem(scheme, home, away, mode, contract_no, amount):
    redemption = reserve(
        scheme.ledger,
        scheme.programs[home],
        enterprise=scheme.enterprises[home],
        provider=scheme.providers[away],
        category="testing",
        contract_no=contract_no,
        contract_amount=amount,
        on=date(2026, 2, 1),
        actor="u",
        mode=mode,
    )
    return claim(
        scheme.ledger,
        redemption["id"],
        invoice_no=f"INV-{contract_no}",
        invoiced_amount=amount,
        on=date(2026, 3, 1),
        actor="p",
        verifier="o",
    )


def test_settlement_nets_a_region_pair_and_both_statements_agree_to_the_fen(scheme):
    ledger = scheme.ledger
    scheme.grant(SHANGHAI, "10万")
    scheme.grant(SUZHOU, "10万")
    _redeem(scheme, SHANGHAI, SUZHOU, "tongdui", "C1", "30001.00")  # SH owes SZ 10000.33
    _redeem(scheme, SUZHOU, SHANGHAI, "tongdui", "C2", "12345.67")  # SZ owes SH 2/3 of 6172.83
    _redeem(scheme, SUZHOU, SHANGHAI, "tongyong", "C3", "9999.99")  # SH owes SZ 1/3 of 4999.99
    _redeem(scheme, SHANGHAI, HANGZHOU, "tongdui", "C4", "5000")  # another pair: not in this settlement
    sh_treasury = ledger.account(books.financial_book(SHANGHAI), books.TREASURY).balance_fen
    settlement = settle(ledger, SUZHOU, SHANGHAI, on=date(2026, 4, 10), actor="clerk", approver="director", **Q1)
    sh, sz = statement(ledger, settlement["id"], SHANGHAI), statement(ledger, settlement["id"], SUZHOU)
    assert len(sh.items) == 3 and [i["redemption"] for i in sh.items] == [i["redemption"] for i in sz.items]
    assert (sh.payable_fen, sh.receivable_fen) == (sz.receivable_fen, sz.payable_fen)
    assert sh.net_payable_fen == -sz.net_payable_fen == sh.cash_paid_fen == -sz.cash_paid_fen
    assert sh.unsettled_fen == sz.unsettled_fen == 0
    # 10000.33 + 1/3 of 4999.99: 166666.33 vs 333332.67 fen, the spare fen goes to the 2/3 part
    assert sh.payable_fen == 1_000_033 + 166_666
    assert ledger.account(books.financial_book(SHANGHAI), books.TREASURY).balance_fen == sh_treasury - sh.cash_paid_fen
    # the pair's inter-region accounts are square; the Hangzhou pair is untouched
    for region, other in ((SHANGHAI, SUZHOU), (SUZHOU, SHANGHAI)):
        fin = books.financial_book(region)
        assert ledger.account(fin, books.payable_to_region(other)).balance_fen == 0
        assert ledger.account(fin, books.receivable_from_region(other)).balance_fen == 0
    assert ledger.account(books.financial_book(SHANGHAI), books.payable_to_region(HANGZHOU)).balance_fen != 0
    transaction = ledger.transaction(("vouchers", f"settle-offset:{settlement['id']}"))
    assert all(str(i["redemption"]) in transaction["memo"] for i in sh.items)


def test_settling_the_same_period_twice_changes_nothing(scheme):
    ledger = scheme.ledger
    scheme.grant(SHANGHAI, "10万")
    _redeem(scheme, SHANGHAI, SUZHOU, "tongdui", "C1", "3000")
    first = settle(ledger, SHANGHAI, SUZHOU, on=date(2026, 4, 10), actor="clerk", approver="director", **Q1)
    before = {(a.book, a.path): a.balance_fen for a in ledger.accounts()}
    second = settle(ledger, SHANGHAI, SUZHOU, on=date(2026, 4, 11), actor="clerk", approver="director", **Q1)
    assert first["id"] == second["id"]
    assert {(a.book, a.path): a.balance_fen for a in ledger.accounts()} == before


def test_settling_a_period_label_again_over_other_dates_is_refused_and_writes_nothing(scheme):
    """issue 11, vouchers: a retried settlement returned the stored one whatever dates it named; the same key
    over other dates is now refused (settlement_key_has_another_period), as a payment batch's is."""
    ledger = scheme.ledger
    scheme.grant(SHANGHAI, "10万")
    _redeem(scheme, SHANGHAI, SUZHOU, "tongdui", "C1", "3000")
    first = settle(ledger, SHANGHAI, SUZHOU, on=date(2026, 4, 10), actor="clerk", approver="director", **Q1)
    before = balances(ledger)
    other_dates = dict(Q1, period_end=date(2026, 6, 30))
    with pytest.raises(LedgerError) as refused:
        settle(ledger, SHANGHAI, SUZHOU, on=date(2026, 7, 10), actor="clerk", approver="director", **other_dates)
    assert refused.value.code == VoucherCode.SETTLEMENT_KEY_HAS_ANOTHER_PERIOD
    assert refused.value.detail["settlement"] == str(first["id"])
    assert balances(ledger) == before


def test_two_runs_of_one_settlement_at_once_settle_it_once_and_both_return_it(scheme):
    """issue 11, vouchers: on PostgreSQL the run that waited on the redemptions' locks could find nothing left to
    settle and answer None while the other settled them (or hit the unique key and raise); both now return the
    one settlement."""
    ledger = scheme.ledger
    scheme.grant(SHANGHAI, "10万")
    _redeem(scheme, SHANGHAI, SUZHOU, "tongdui", "C1", "3000")
    _redeem(scheme, SHANGHAI, SUZHOU, "tongdui", "C2", "5000")
    barrier = threading.Barrier(2)

    def run() -> dict | None:
        barrier.wait()
        return settle(ledger, SHANGHAI, SUZHOU, on=date(2026, 4, 10), actor="clerk", approver="director", **Q1)

    with ThreadPoolExecutor(max_workers=2) as pool:
        first, second = (future.result() for future in [pool.submit(run), pool.submit(run)])
    assert first is not None and second is not None and first["id"] == second["id"]
    assert ledger.transaction(("vouchers", f"settle-net:{first['id']}")) is not None
    assert reconcile_controls(ledger.engine) == []
