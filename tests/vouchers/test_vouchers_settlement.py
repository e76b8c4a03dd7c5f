from datetime import date

from tests.vouchers.conftest import HANGZHOU, SHANGHAI, SUZHOU
from vouchers import books
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
