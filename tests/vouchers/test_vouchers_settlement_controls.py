"""Issue 11, vouchers: settlements, 通用 reimbursements and the dual basis joined the control-account check.
Before, ``vouchers.controls.reconcile_controls`` read none of them: a settlement row, a reimbursement row or a
one-sided treasury entry could disagree with the journal unseen. Each test below tampers with one thing (a
direct UPDATE of a domain row, or a planted ledger entry) and expects the finding that names it."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import update

from ledger.engine import posting_specs_fen
from ledger.entries import Audit, TransactionRequest
from ledger.queries import reconcile
from tests.vouchers.conftest import SHANGHAI, SUZHOU, build_scheme
from tests.vouchers.test_vouchers_payments import _approve, _prepare, _redeem
from vouchers import books
from vouchers.controls import (
    DUAL_BASIS_ACCOUNTS,
    SUBJECT_DUAL_BASIS,
    SUBJECT_ENTERPRISE_PAYABLES,
    SUBJECT_INTER_REGION_OPEN,
    SUBJECT_REIMBURSEMENTS,
    SUBJECT_SETTLED_REDEMPTIONS,
    SUBJECT_SETTLEMENTS,
    reconcile_controls,
)
from vouchers.models import VoucherRedemption, VoucherSettlement
from vouchers.payments import pay_reimbursement, quarter
from vouchers.settlement import settle

Q1 = quarter("2026-Q1")
PAY_DAY = date(2026, 4, 20)
T_REDEMPTIONS, T_SETTLEMENTS = VoucherRedemption.__table__, VoucherSettlement.__table__
PAIR_Q1 = f"{SHANGHAI}/{SUZHOU} 2026-Q1"


@pytest.fixture
def scheme(ledger):
    return build_scheme(ledger, regions=(SHANGHAI, SUZHOU))


def _redemptions(scheme):
    scheme.grant(SHANGHAI, "10万")
    scheme.grant(SUZHOU, "10万")
    tongdui = _redeem(scheme, SHANGHAI, SUZHOU, "C-SC-TD", "9000.00", mode="tongdui")  # Shanghai owes 3000.00
    tongyong = _redeem(scheme, SUZHOU, SHANGHAI, "C-SC-TY", "6000.00", mode="tongyong")  # Shanghai owes 1000.00
    back = _redeem(scheme, SUZHOU, SHANGHAI, "C-SC-TD2", "3000.00", mode="tongdui")  # Suzhou owes 1000.00
    return tongdui, tongyong, back


def _settle(scheme):
    return settle(
        scheme.ledger,
        SHANGHAI,
        SUZHOU,
        on=PAY_DAY,
        actor="settlement-clerk",
        approver="director",
        **Q1,
    )


def _whole_cycle(scheme):
    """通兑 both ways and 通用, both provider batches, the reimbursement, then the pair's settlement."""
    tongdui, tongyong, back = _redemptions(scheme)
    for region in (SHANGHAI, SUZHOU):
        _approve(scheme, _prepare(scheme, region)["id"])
    pay_reimbursement(scheme.ledger, tongyong["id"], maker="clerk", checker="director", approval_doc="d", on=PAY_DAY)
    settlement = _settle(scheme)
    assert (settlement["low_owes_high_fen"], settlement["high_owes_low_fen"]) == (400_000, 100_000)
    return settlement, tongyong


def _subjects(scheme) -> list[str]:
    return [finding.subject for finding in reconcile_controls(scheme.ledger.engine)]


def _tamper(scheme, table, where, **values) -> list[str]:
    with scheme.ledger.engine.begin() as conn:
        conn.execute(update(table).where(where).values(**values))
    return _subjects(scheme)


def test_controls_are_clean_before_and_after_settlement_payments_and_reimbursement(scheme):
    _redemptions(scheme)
    assert _subjects(scheme) == []  # open inter-region balances and the unpaid 通用 payable agree
    _settle(scheme)
    assert _subjects(scheme) == []


def test_whole_cycle_is_clean(scheme):
    _whole_cycle(scheme)
    assert _subjects(scheme) == []
    assert reconcile(scheme.ledger.engine) == []


def test_tampered_settlement_amount_is_a_finding_against_its_entries_and_its_redemptions(scheme):
    """issue 11, vouchers: a settlement row no longer matching what its entries cleared went unseen."""
    settlement, _ = _whole_cycle(scheme)
    subjects = _tamper(scheme, T_SETTLEMENTS, T_SETTLEMENTS.c.id == settlement["id"], low_owes_high_fen=400_001)
    assert subjects == [
        f"{SUBJECT_SETTLEMENTS} {PAIR_Q1} vouchers-{SHANGHAI}-financial {books.payable_to_region(SUZHOU)}",
        f"{SUBJECT_SETTLEMENTS} {PAIR_Q1} vouchers-{SUZHOU}-financial {books.receivable_from_region(SHANGHAI)}",
        f"{SUBJECT_SETTLED_REDEMPTIONS} {PAIR_Q1} {SHANGHAI} owes {SUZHOU}",
    ]


def test_a_settled_redemption_unlinked_from_its_settlement_is_a_finding_on_the_open_balances(scheme):
    """issue 11, vouchers: a redemption whose settlement link was lost still counted as settled in the ledger."""
    _redemptions(scheme)
    _settle(scheme)
    back = T_REDEMPTIONS.c.contract_no == "C-SC-TD2"
    subjects = _tamper(scheme, T_REDEMPTIONS, back, settlement_id=None)
    assert subjects == [
        f"{SUBJECT_SETTLED_REDEMPTIONS} {PAIR_Q1} {SUZHOU} owes {SHANGHAI}",
        f"{SUBJECT_INTER_REGION_OPEN} vouchers-{SHANGHAI}-financial {books.receivable_from_region(SUZHOU)}",
        f"{SUBJECT_INTER_REGION_OPEN} vouchers-{SUZHOU}-financial {books.payable_to_region(SHANGHAI)}",
    ]


def test_tampered_share_of_an_unsettled_redemption_is_a_finding_on_both_regions_books(scheme):
    """issue 11, vouchers: the open inter-region receivables and payables were not reconciled."""
    _redemptions(scheme)
    subjects = _tamper(
        scheme,
        T_REDEMPTIONS,
        T_REDEMPTIONS.c.contract_no == "C-SC-TD",
        enterprise_share_fen=T_REDEMPTIONS.c.enterprise_share_fen + 1,
    )
    assert subjects == [
        f"{SUBJECT_INTER_REGION_OPEN} vouchers-{SHANGHAI}-financial {books.payable_to_region(SUZHOU)}",
        f"{SUBJECT_INTER_REGION_OPEN} vouchers-{SUZHOU}-financial {books.receivable_from_region(SHANGHAI)}",
    ]


def test_a_reimbursement_marked_unpaid_is_a_finding_against_the_enterprise_payable(scheme):
    """issue 11, vouchers: 通用 reimbursement rows were not reconciled with the enterprise's payable."""
    _, tongyong = _whole_cycle(scheme)
    payable = f"vouchers-{SUZHOU}-financial {books.payable_to(tongyong['enterprise_code'])}"
    subjects = _tamper(scheme, T_REDEMPTIONS, T_REDEMPTIONS.c.id == tongyong["id"], reimbursed_on=None)
    assert subjects == [f"{SUBJECT_REIMBURSEMENTS} {payable}", f"{SUBJECT_ENTERPRISE_PAYABLES} {payable}"]


def _plant(scheme, client_id: str, legs, kind: str = "voucher_program_appropriation", **links) -> int:
    """A one-sided entry posted straight to the ledger, as a faulty integration could."""
    request = TransactionRequest(
        client_id=client_id,
        postings=tuple(legs),
        effective_date=PAY_DAY,
        source=books.LEDGER_SOURCE,
        kind=kind,
        memo="planted",
        audit=Audit("intruder"),
        **links,
    )
    return scheme.ledger.post(request).transaction_id


def test_a_treasury_receipt_without_its_budget_revenue_is_a_dual_basis_finding(scheme):
    """issue 11, vouchers: nothing checked that each treasury movement has its budgetary entry."""
    _whole_cycle(scheme)
    program = scheme.programs[SHANGHAI]
    tx = _plant(
        scheme,
        "planted-appropriation",
        posting_specs_fen(
            books.financial_book(SHANGHAI),
            [(books.TREASURY, 100_000), (books.appropriation_revenue(program), -100_000)],
        ),
    )
    findings = reconcile_controls(scheme.ledger.engine)
    assert [(f.subject, f.expected_fen, f.actual_fen) for f in findings] == [
        (f"{SUBJECT_DUAL_BASIS} transaction {tx} region {SHANGHAI} {DUAL_BASIS_ACCOUNTS}", 100_000, 0)
    ]


def test_a_budget_expenditure_without_its_treasury_payment_is_a_dual_basis_finding(scheme):
    """issue 11, vouchers: a one-sided budgetary entry went unseen as well."""
    _whole_cycle(scheme)
    program = scheme.programs[SUZHOU]
    tx = _plant(
        scheme,
        "planted-expenditure",
        posting_specs_fen(
            books.budget_book(SUZHOU),
            [(books.budget_voucher_expenditure(program), 5_000), (books.budget_funds_held(program), -5_000)],
        ),
    )
    assert _subjects(scheme) == [f"{SUBJECT_DUAL_BASIS} transaction {tx} region {SUZHOU} {DUAL_BASIS_ACCOUNTS}"]


def test_a_settlement_receipt_booked_as_budget_revenue_or_a_payment_without_budget_is_a_finding(scheme):
    """issue 11, vouchers: the payee's receipt in a settlement is a clearing between treasuries (暂付/暂收), never
    budget revenue, and the payer's payment carries its budget expenditure. A planted settlement entry breaking
    either side is a finding on that side only."""
    _redemptions(scheme)
    # a net entry in which Shanghai pays 300.00 without its budget expenditure, and Suzhou books the receipt as
    # budget revenue
    sh, sz = books.financial_book(SHANGHAI), books.financial_book(SUZHOU)
    program = scheme.programs[SUZHOU]
    legs = [
        *posting_specs_fen(sh, [(books.payable_to_region(SUZHOU), 30_000), (books.TREASURY, -30_000)]),
        *posting_specs_fen(sz, [(books.TREASURY, 30_000), (books.receivable_from_region(SHANGHAI), -30_000)]),
        *posting_specs_fen(
            books.budget_book(SUZHOU),
            [(books.budget_funds_held(program), 30_000), (books.budget_appropriation(program), -30_000)],
        ),
    ]
    _plant(
        scheme, "planted-settle-net", legs, kind="voucher_settlement_net", link_type="voucher_settlement", link_id="999"
    )
    dual = [s for s in _subjects(scheme) if s.startswith(SUBJECT_DUAL_BASIS)]
    assert dual == [
        f"{SUBJECT_DUAL_BASIS} settlement 999 region {SHANGHAI} {DUAL_BASIS_ACCOUNTS}",
        f"{SUBJECT_DUAL_BASIS} settlement 999 region {SUZHOU} {DUAL_BASIS_ACCOUNTS}",
    ]
