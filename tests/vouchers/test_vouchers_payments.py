"""Provider payment batches: grant -> reserve -> claim -> batch -> approve/pay, and every refusal."""

from datetime import date

import pytest
from sqlalchemy import func, select

from ledger.engine import posting_specs_fen
from ledger.entries import TransactionRequest
from ledger.errors import LedgerError
from tests.vouchers.conftest import SHANGHAI, SUZHOU, balances, build_scheme
from vouchers import books, payments
from vouchers.codes import VoucherCode
from vouchers.models import VoucherPaymentBatch
from vouchers.payments import approve_batch, get_batch, prepare_batch, quarter
from vouchers.redemptions import claim, reserve
from vouchers.settlement import settle
from vouchers.views import enterprise_positions, provider_payments, redemption_history

Q1 = quarter("2026-Q1")
PAY_DAY = date(2026, 4, 20)
BUDGET_FEN = 100_000_000  # the conftest programs' 100万 appropriation, all in each region's treasury


@pytest.fixture
def scheme(ledger):
    """Shanghai and Suzhou are enough for local, 通兑 and 通用 payouts (and quicker to build than three regions)."""
    return build_scheme(ledger, regions=(SHANGHAI, SUZHOU))


def _redeem(scheme, home, away, contract_no, amount, mode=None, invoiced=None, on=date(2026, 3, 1)):
    redemption = reserve(
        scheme.ledger,
        scheme.programs[home],
        enterprise=scheme.enterprises[home],
        provider=scheme.providers[away],
        category="testing",
        contract_no=contract_no,
        contract_amount=amount,
        on=date(2026, 2, 1),
        actor="enterprise-user",
        mode=mode,
    )
    return claim(
        scheme.ledger,
        redemption["id"],
        invoice_no=f"INV-{contract_no}",
        invoiced_amount=invoiced or amount,
        on=on,
        actor="provider-user",
        verifier="officer",
    )


def _prepare(scheme, region=SHANGHAI, period=Q1, **overrides):
    values = dict(maker="payout-clerk", on=date(2026, 4, 10), **period)
    values.update(overrides)
    return prepare_batch(scheme.ledger, region, **values)


def _approve(scheme, batch_id, checker="finance-director"):
    return approve_batch(scheme.ledger, batch_id, checker=checker, approval_doc="沪科财〔2026〕7号", on=PAY_DAY)


def _fen(ledger, book, path):
    return ledger.account(book, path).balance_fen


def refused(ledger, code, action):
    before = balances(ledger)
    with pytest.raises(LedgerError) as caught:
        action()
    assert caught.value.code == code, caught.value.message
    assert balances(ledger) == before
    return caught.value


def _batch_count(ledger) -> int:
    with ledger.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(VoucherPaymentBatch.__table__)).scalar_one()


def test_quarterly_batches_pay_local_and_tongdui_providers_with_budget_execution(scheme):
    ledger = scheme.ledger
    scheme.grant(SHANGHAI, "10万")
    scheme.grant(SUZHOU, "10万")
    program_sh = scheme.programs[SHANGHAI]
    provider_sh, provider_sz = scheme.providers[SHANGHAI], scheme.providers[SUZHOU]
    local = _redeem(scheme, SHANGHAI, SHANGHAI, "C-LOCAL", "60000.00", invoiced="50000.01")
    tongdui = _redeem(scheme, SHANGHAI, SUZHOU, "C-TD", "30001.00", mode="tongdui")
    tongyong = _redeem(scheme, SUZHOU, SHANGHAI, "C-TY", "9000.00", mode="tongyong")
    _redeem(scheme, SHANGHAI, SHANGHAI, "C-APRIL", "2000.00", on=date(2026, 4, 2))  # next quarter
    assert (local["claimed_fen"], tongdui["claimed_fen"]) == (2_500_000, 1_500_050)
    assert (tongdui["enterprise_share_fen"], tongdui["provider_share_fen"]) == (1_000_033, 500_017)

    sh_batch = _prepare(scheme, SHANGHAI)
    sz_batch = _prepare(scheme, SUZHOU)
    # Shanghai pays its local provider; Suzhou pays its provider for the 通兑 voucher; the 通用 claim owes an
    # enterprise (a reimbursement), not a provider, and the April claim is in the next quarter.
    assert [(line["redemption_id"], line["amount_fen"]) for line in sh_batch["lines"]] == [(local["id"], 2_500_000)]
    assert [
        (line["redemption_id"], line["amount_fen"], line["budget_expenditure_fen"]) for line in sz_batch["lines"]
    ] == [(tongdui["id"], 1_500_050, 500_017)]
    assert tongyong["id"] not in {line["redemption_id"] for line in sh_batch["lines"] + sz_batch["lines"]}
    assert (sh_batch["status"], sh_batch["total_fen"], sh_batch["line_count"]) == ("prepared", 2_500_000, 1)
    assert {row["contract_no"]: row["payment_status"] for row in provider_payments(ledger, provider_sh)} == {
        "C-LOCAL": "in_batch",
        "C-APRIL": "unpaid",
        "C-TY": "paid_by_enterprise",  # 通用: the enterprise paid in full and its region reimburses it
    }

    paid_sh = _approve(scheme, sh_batch["id"])
    paid_sz = _approve(scheme, sz_batch["id"])
    assert (paid_sh["status"], paid_sh["checker"], paid_sh["paid_on"]) == ("paid", "finance-director", PAY_DAY)
    assert paid_sz["status"] == "paid"

    sh_fin, sh_budget = books.financial_book(SHANGHAI), books.budget_book(SHANGHAI)
    assert _fen(ledger, sh_fin, books.payable_to(provider_sh)) == -100_000  # only the April claim (1000.00) is left
    assert _fen(ledger, sh_fin, books.TREASURY) == BUDGET_FEN - 2_500_000
    assert _fen(ledger, sh_fin, books.voucher_expense(program_sh)) == 2_500_000 + 1_000_033 + 100_000
    assert _fen(ledger, sh_budget, books.budget_voucher_expenditure(program_sh)) == 2_500_000
    assert _fen(ledger, sh_budget, books.budget_funds_held(program_sh)) == BUDGET_FEN - 2_500_000
    assert _fen(ledger, sh_budget, books.budget_appropriation(program_sh)) == -BUDGET_FEN

    sz_fin, sz_budget = books.financial_book(SUZHOU), books.budget_book(SUZHOU)
    assert _fen(ledger, sz_fin, books.payable_to(provider_sz)) == 0
    assert _fen(ledger, sz_fin, books.TREASURY) == BUDGET_FEN - 1_500_050
    # the 通兑 advance and the 通用 share stay receivable until the settlement
    assert _fen(ledger, sz_fin, books.receivable_from_region(SHANGHAI)) == 1_000_033 + 150_000
    assert _fen(ledger, sz_budget, books.budget_inter_region_expenditure(SHANGHAI)) == 500_017
    assert _fen(ledger, sz_budget, books.budget_inter_region_funds_held(SHANGHAI)) == -500_017

    # one ledger transaction per batch, in the financial and the budgetary book, with maker and checker
    transaction = ledger.transaction(("vouchers", f"payment-batch:{sz_batch['id']}"))
    assert {posting["book"] for posting in transaction["postings"]} == {sz_fin, sz_budget}
    assert sum(posting["amount_fen"] for posting in transaction["postings"]) == 0

    history = {row["contract_no"]: row for row in redemption_history(ledger, scheme.enterprises[SHANGHAI])}
    assert {contract: row["payment_status"] for contract, row in history.items()} == {
        "C-LOCAL": "paid",
        "C-TD": "paid",
        "C-APRIL": "unpaid",
    }
    assert history["C-TD"]["payment_batch_id"] == sz_batch["id"] and history["C-TD"]["paid_on"] == PAY_DAY
    [position] = enterprise_positions(ledger, scheme.enterprises[SHANGHAI])
    assert (position.used_fen, position.paid_fen) == (2_500_000 + 1_500_050 + 100_000, 2_500_000 + 1_500_050)

    # paying the provider does not settle the regions: the settlement still squares the 通兑 receivable
    settle(ledger, SHANGHAI, SUZHOU, on=date(2026, 4, 25), actor="clerk", approver="director", **Q1)
    assert _fen(ledger, sz_fin, books.receivable_from_region(SHANGHAI)) == 0
    # Shanghai (the 通兑 issuer and the 通用 provider's region) owes Suzhou 1 000 033 + 150 000
    assert _fen(ledger, sz_fin, books.TREASURY) == BUDGET_FEN - 1_500_050 + 1_150_033


def test_preparing_and_approving_twice_returns_the_same_batch_and_posts_once(scheme):
    ledger = scheme.ledger
    scheme.grant(SHANGHAI, "10万")
    _redeem(scheme, SHANGHAI, SHANGHAI, "C-1", "2000.00")
    first = _prepare(scheme)
    _redeem(scheme, SHANGHAI, SHANGHAI, "C-2", "4000.00")  # claimed after the batch was prepared
    again = _prepare(scheme, maker="someone-else")
    assert again == first  # stored lines, not recomputed
    paid = _approve(scheme, first["id"])
    after_payment = balances(ledger)
    assert _approve(scheme, first["id"], checker="another-director") == paid
    assert _prepare(scheme) == paid
    assert balances(ledger) == after_payment and _batch_count(ledger) == 1
    refused(
        ledger,
        VoucherCode.PAYMENT_BATCH_KEY_HAS_ANOTHER_PERIOD,
        lambda: _prepare(scheme, period=dict(Q1, period_end=date(2026, 4, 30))),
    )


def test_batch_approved_by_its_maker_is_refused(scheme):
    scheme.grant(SHANGHAI, "10万")
    _redeem(scheme, SHANGHAI, SHANGHAI, "C-1", "2000.00")
    batch = _prepare(scheme)
    refused(
        scheme.ledger,
        VoucherCode.APPROVER_MUST_DIFFER_FROM_MAKER,
        lambda: _approve(scheme, batch["id"], checker="payout-clerk"),
    )
    assert get_batch(scheme.ledger, batch["id"])["status"] == "prepared"


def test_redemption_already_in_a_batch_is_refused_in_another(scheme, monkeypatch):
    ledger = scheme.ledger
    scheme.grant(SHANGHAI, "10万")
    first = _redeem(scheme, SHANGHAI, SHANGHAI, "C-1", "2000.00")
    _approve(scheme, _prepare(scheme)["id"])
    march = dict(period_label="2026-03", period_start=date(2026, 3, 1), period_end=date(2026, 3, 31))
    error = refused(
        ledger, VoucherCode.REDEMPTION_PAID_ONCE, lambda: _prepare(scheme, period=march, redemption_ids=[first["id"]])
    )
    assert error.detail["redemption"] == str(first["id"])
    # a concurrent batch that checked before the first committed is stopped by the unique constraint
    monkeypatch.setattr(payments, "_check_chosen_redemptions", lambda *args: None)
    refused(
        ledger, VoucherCode.REDEMPTION_PAID_ONCE, lambda: _prepare(scheme, period=march, redemption_ids=[first["id"]])
    )
    assert _batch_count(ledger) == 1


def test_batch_with_nothing_to_pay_is_refused(scheme):
    ledger = scheme.ledger
    scheme.grant(SHANGHAI, "10万")
    scheme.grant(SUZHOU, "10万")
    reserve(
        ledger,
        scheme.programs[SHANGHAI],
        enterprise=scheme.enterprises[SHANGHAI],
        provider=scheme.providers[SHANGHAI],
        category="testing",
        contract_no="C-RESERVED",
        contract_amount="2000",
        on=date(2026, 2, 1),
        actor="u",
    )  # reserved, never claimed
    _redeem(scheme, SUZHOU, SHANGHAI, "C-TY", "2000.00", mode="tongyong")  # owes the enterprise, not a provider
    refused(ledger, VoucherCode.PAYMENT_BATCH_MUST_NOT_BE_EMPTY, lambda: _prepare(scheme))
    assert _batch_count(ledger) == 0


def test_redemption_payable_by_another_region_cannot_be_chosen(scheme):
    scheme.grant(SHANGHAI, "10万")
    tongdui = _redeem(scheme, SHANGHAI, SUZHOU, "C-TD", "2000.00", mode="tongdui")  # Suzhou pays its provider
    refused(
        scheme.ledger,
        VoucherCode.REDEMPTION_MUST_BE_PAYABLE_IN_BATCH,
        lambda: _prepare(scheme, SHANGHAI, redemption_ids=[tongdui["id"]]),
    )


def _drain_treasury(ledger, region, leave_fen):
    fin = books.financial_book(region)
    ledger.create_account(fin, "Expenses:Other:Test", exist_ok=True)
    amount = _fen(ledger, fin, books.TREASURY) - leave_fen
    ledger.post(
        TransactionRequest(
            client_id=f"drain-{region}-{leave_fen}",
            postings=posting_specs_fen(fin, [("Expenses:Other:Test", amount), (books.TREASURY, -amount)]),
            effective_date=date(2026, 4, 1),
            source="test",
        )
    )


def test_batch_that_would_overdraw_the_treasury_is_refused(scheme):
    ledger = scheme.ledger
    scheme.grant(SHANGHAI, "10万")
    _redeem(scheme, SHANGHAI, SHANGHAI, "C-1", "2000.00")  # 1000.00 owed
    batch = _prepare(scheme)
    _drain_treasury(ledger, SHANGHAI, leave_fen=99_999)
    error = refused(ledger, VoucherCode.TREASURY_MUST_COVER_PAYMENT_BATCH, lambda: _approve(scheme, batch["id"]))
    assert (error.detail["room_left"], error.detail["total"]) == ("999.99", "1000.00")
    assert get_batch(ledger, batch["id"])["status"] == "prepared"
    _redeem(scheme, SHANGHAI, SHANGHAI, "C-2", "2000.00", on=date(2026, 5, 1))
    refused(ledger, VoucherCode.TREASURY_MUST_COVER_PAYMENT_BATCH, lambda: _prepare(scheme, period=quarter("2026-Q2")))
    assert _batch_count(ledger) == 1


def test_quarter_labels_give_the_claim_dates():
    assert quarter("2026-Q4") == dict(
        period_label="2026-Q4", period_start=date(2026, 10, 1), period_end=date(2026, 12, 31)
    )
    with pytest.raises(LedgerError) as caught:
        quarter("2026Q5")
    assert caught.value.code == VoucherCode.PAYMENT_PERIOD_INVALID


def test_a_rejected_batch_pays_nothing_and_frees_its_redemptions_for_another_batch(scheme):
    from vouchers.payments import reject_batch

    ledger = scheme.ledger
    scheme.grant(SHANGHAI, "10万")
    redemption = _redeem(scheme, SHANGHAI, SHANGHAI, "C-1", "2000.00")
    batch = _prepare(scheme)
    before = balances(ledger)
    refused(
        ledger,
        VoucherCode.APPROVER_MUST_DIFFER_FROM_MAKER,
        lambda: reject_batch(ledger, batch["id"], checker="payout-clerk", reason="x", on=PAY_DAY),
    )
    refused(
        ledger,
        VoucherCode.REJECTION_NEEDS_REASON,
        lambda: reject_batch(ledger, batch["id"], checker="finance-director", reason=" ", on=PAY_DAY),
    )
    rejected = reject_batch(ledger, batch["id"], checker="finance-director", reason="金额有误", on=PAY_DAY)
    assert (rejected["status"], rejected["lines"]) == ("rejected", [])
    assert reject_batch(ledger, batch["id"], checker="finance-director", reason="金额有误", on=PAY_DAY) == rejected
    assert balances(ledger) == before
    refused(ledger, VoucherCode.PAYMENT_BATCH_ALREADY_DECIDED, lambda: _approve(scheme, batch["id"]))
    again = _prepare(scheme, period=dict(Q1, period_label="2026-Q1-b"))
    assert [line["redemption_id"] for line in again["lines"]] == [redemption["id"]]
    _approve(scheme, again["id"])
    refused(
        ledger,
        VoucherCode.PAYMENT_BATCH_ALREADY_DECIDED,
        lambda: reject_batch(ledger, again["id"], checker="another-director", reason="late", on=PAY_DAY),
    )
