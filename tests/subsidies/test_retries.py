"""Issue 11: every money-moving subsidy call can be repeated with its key and the repeat changes nothing;
typed fields from requests are refused with named codes; a payment carries its budgetary entry.

Each test here failed before its fix (retries raised or recorded twice; bad years and dates reached the
database; the payment's cash leg was a transaction apart from its budget expenditure)."""

from datetime import date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from ledger.controls import snapshot, transaction_legs
from ledger.errors import LedgerError
from subsidies import books
from subsidies.codes import SubsidyCode
from subsidies.models import CLAWBACKS, EVENTS, YEAR_ENDS
from tests.subsidies.conftest import CHECKER, cap, install, program_text
from tests.subsidies.test_grants import apply, approve, balances, fen

CASHIER = "cashier-zhao"
AUDITOR = "auditor-chen"


def _count(engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def _state(ledger, service, program) -> tuple:
    """Everything a retry must leave alone: balances of both books and the number of audit events."""
    return balances(ledger, program), _count(service.engine, EVENTS)


def test_approving_twice_returns_the_first_grant_and_changes_nothing(service, ledger, institutions):
    """Issue 11 (retry safety): approve is keyed on the application; before the fix a retry raised."""
    program = install(service, program_text(caps=cap("institution_year", "50万", "clip")))
    application = apply(service, program, institutions[0], 2019, claim="80万")
    first = approve(service, application)
    assert first.granted_fen == fen("50万") and first.flags[0].rule == "institution_year"
    before = _state(ledger, service, program)
    assert approve(service, application) == first
    assert _state(ledger, service, program) == before


def test_retrying_a_refused_approval_returns_the_same_refusal(service, ledger, institutions):
    """Issue 11: a stop refusal repeated is the same refusal with its rule, and nothing moves."""
    program = install(service, program_text(caps=cap("per_claim", "20万", "stop")))
    application = apply(service, program, institutions[0], 2019, claim="30万")
    with pytest.raises(LedgerError) as first:
        approve(service, application)
    before = _state(ledger, service, program)
    with pytest.raises(LedgerError) as again:
        approve(service, application)
    assert again.value.code == first.value.code == SubsidyCode.CLAIM_MUST_NOT_EXCEED_PER_CLAIM_CAP
    assert "20" in again.value.message  # the stored message names the cap and the room left
    assert _state(ledger, service, program) == before


def test_paying_twice_returns_the_first_payment_and_changes_nothing(service, ledger, institutions):
    """Issue 11: pay is keyed on the grant; before the fix the retry raised payment_needs_an_approved_grant."""
    program = install(service, program_text())
    grant = approve(service, apply(service, program, institutions[0], 2019, claim="10万"))
    first = service.pay(grant.grant_id, actor=CASHIER)
    before = _state(ledger, service, program)
    assert service.pay(grant.grant_id, actor=CASHIER) == first
    assert first.amount_fen == fen("10万")
    assert _state(ledger, service, program) == before


def test_a_payment_carries_its_budget_expenditure_in_the_same_transaction(service, ledger, institutions):
    """Dual basis (政府会计): the bank leg and the BudgetExpenditure leg of a payment are one transaction."""
    program = install(service, program_text())
    grant = approve(service, apply(service, program, institutions[0], 2019, claim="10万"))
    payment = service.pay(grant.grant_id, actor=CASHIER)
    with snapshot(service.engine) as conn:
        legs = transaction_legs(
            conn,
            {
                "bank": (program.financial_book, books.BANK),
                "expenditure": (program.budget_book, books.budget_expenditure_account(program.code)),
                "funds": (program.budget_book, books.funds_available_account(program.code, 2019)),
            },
        )
    assert legs[payment.payment_tx_id] == {"bank": -fen("10万"), "expenditure": fen("10万"), "funds": -fen("10万")}


def test_a_clawback_request_repeated_with_its_key_is_recorded_once(service, ledger, institutions):
    """Issue 11: before the fix each retry of request_clawback inserted another clawback row."""
    program = install(service, program_text())
    grant = approve(service, apply(service, program, institutions[0], 2019, claim="10万"))
    first = service.request_clawback(grant.grant_id, reason="材料不实", actor=AUDITOR, client_id="cb-7")
    assert service.request_clawback(grant.grant_id, reason="材料不实", actor=AUDITOR, client_id="cb-7") == first
    assert _count(service.engine, CLAWBACKS) == 1
    with pytest.raises(LedgerError) as caught:
        service.request_clawback(grant.grant_id, reason="另一理由", actor=AUDITOR, client_id="cb-7")
    assert caught.value.code == SubsidyCode.CLAWBACK_EXISTS_WITH_DIFFERENT_CONTENT
    with pytest.raises(LedgerError) as caught:
        service.request_clawback(grant.grant_id, reason="材料不实", actor=AUDITOR, client_id=" ")
    assert caught.value.code == "id_must_not_be_empty"


def test_approving_a_clawback_twice_changes_nothing(service, ledger, institutions):
    """Issue 11: approve_clawback is keyed on the clawback; before the fix the retry raised."""
    program = install(service, program_text())
    grant = approve(service, apply(service, program, institutions[0], 2019, claim="10万"))
    service.pay(grant.grant_id, actor=CASHIER)
    clawback = service.request_clawback(grant.grant_id, reason="材料不实", actor=AUDITOR, client_id="cb-1")
    service.approve_clawback(clawback, approver=CHECKER, approval_doc="穗科函〔2020〕9号")
    before = _state(ledger, service, program)
    service.approve_clawback(clawback, approver=CHECKER, approval_doc="穗科函〔2020〕9号")
    # the request retried after approval still answers with the same clawback, and nothing moves
    assert service.request_clawback(grant.grant_id, reason="材料不实", actor=AUDITOR, client_id="cb-1") == clawback
    assert _state(ledger, service, program) == before
    with pytest.raises(LedgerError) as caught:
        service.approve_clawback(clawback, approver="deputy-director-zhou")
    assert caught.value.code == SubsidyCode.CLAWBACK_MUST_BE_REQUESTED


def test_a_year_end_repeated_with_its_key_sweeps_nothing_more(service, ledger, institutions):
    """Issue 11: the year-end key was a row count, so a retry after a clawback swept again; now the key is
    the caller's and the retry returns the first result."""
    program = install(service, program_text(budget='"100万"', year_end="carry_over"))
    grant = approve(service, apply(service, program, institutions[0], 2019, claim="30万"))
    first = service.close_year(program.code, 2019, actor="finance-admin", client_id="year-end-2019")
    assert first["amount_fen"] == fen("70万")
    clawback = service.request_clawback(grant.grant_id, reason="材料不实", actor=AUDITOR, client_id="cb-1")
    service.approve_clawback(clawback, approver=CHECKER)
    before = _state(ledger, service, program)
    assert service.close_year(program.code, 2019, actor="finance-admin", client_id="year-end-2019") == first
    assert _state(ledger, service, program) == before
    with pytest.raises(LedgerError) as caught:
        service.close_year(program.code, 2020, actor="finance-admin", client_id="year-end-2019")
    assert caught.value.code == SubsidyCode.YEAR_END_EXISTS_WITH_DIFFERENT_CONTENT
    # a new run (new key) sweeps the 30万 that came back
    assert service.close_year(program.code, 2019, actor="finance-admin", client_id="after-clawback")["amount_fen"] == (
        fen("30万")
    )


def test_a_year_end_with_nothing_to_sweep_is_remembered(service, ledger, institutions):
    """Issue 11: a first run that swept nothing, repeated after room came back, still sweeps nothing."""
    program = install(service, program_text(budget='"30万"', year_end="carry_over"))
    grant = approve(service, apply(service, program, institutions[0], 2019, claim="30万"))
    first = service.close_year(program.code, 2019, actor="finance-admin", client_id="ye")
    assert (first["mode"], first["amount_fen"]) == (None, 0)
    clawback = service.request_clawback(grant.grant_id, reason="材料不实", actor=AUDITOR, client_id="cb")
    service.approve_clawback(clawback, approver=CHECKER)
    assert service.close_year(program.code, 2019, actor="finance-admin", client_id="ye") == first
    assert _count(service.engine, YEAR_ENDS) == 1


@pytest.mark.parametrize("year", [2019.0, "2019", True, Decimal("2019")])
def test_a_program_year_must_be_a_whole_number(service, ledger, institutions, year):
    """Typed fields: before the fix 2019.0 passed the range check and reached the database."""
    program = install(service, program_text())
    before = balances(ledger, program)
    with pytest.raises(LedgerError) as caught:
        service.submit_application(program.code, institutions[0], year, {"claim": "1万"}, actor="m", client_id="x")
    assert caught.value.code == SubsidyCode.PROGRAM_YEAR_MUST_BE_AN_INTEGER
    with pytest.raises(LedgerError) as caught:
        service.close_year(program.code, year, actor="finance-admin", client_id="ye")
    assert caught.value.code == SubsidyCode.PROGRAM_YEAR_MUST_BE_AN_INTEGER
    assert balances(ledger, program) == before


def test_closing_a_year_outside_the_program_is_refused_by_name(service, ledger):
    """Before the fix close_year(…, 2050) failed inside SQLAlchemy (NoResultFound), not with a rule's code."""
    program = install(service, program_text())
    with pytest.raises(LedgerError) as caught:
        service.close_year(program.code, 2050, actor="finance-admin", client_id="ye")
    assert caught.value.code == SubsidyCode.PROGRAM_YEAR_MUST_BE_WITHIN_PROGRAM


@pytest.mark.parametrize("on", ["2019-05-01", datetime(2019, 5, 1, 9, 0), 20190501])
def test_a_business_date_must_be_a_date(service, ledger, institutions, on):
    """Typed fields: a string or datetime ``on`` is refused by name before anything is posted."""
    program = install(service, program_text())
    application = apply(service, program, institutions[0], 2019, claim="10万")
    before = balances(ledger, program)
    with pytest.raises(LedgerError) as caught:
        service.approve(application, approver=CHECKER, on=on)
    assert caught.value.code == SubsidyCode.DATE_MUST_BE_A_DATE
    grant = service.approve(application, approver=CHECKER, on=date(2019, 5, 1))
    for call in (
        lambda: service.pay(grant.grant_id, actor=CASHIER, on=on),
        lambda: service.close_year(program.code, 2019, actor="finance-admin", client_id="ye", on=on),
    ):
        with pytest.raises(LedgerError) as caught:
            call()
        assert caught.value.code == SubsidyCode.DATE_MUST_BE_A_DATE
    assert balances(ledger, program) != before  # only the valid approval moved money
    assert ledger.account(program.budget_book, books.funds_available_account(program.code, 2019)).credits_posted == 0


@pytest.mark.parametrize(
    ("figure", "code"), [("1.2.3万", "amount_invalid"), ("abc", "amount_invalid"), (0.5, "amount_must_not_be_float")]
)
def test_a_bad_amount_string_is_refused_by_name(service, ledger, institutions, figure, code):
    program = install(service, program_text())
    with pytest.raises(LedgerError) as caught:
        service.submit_application(program.code, institutions[0], 2019, {"claim": figure}, actor="m", client_id="x")
    assert caught.value.code == code


@pytest.mark.parametrize("institution", ["91440101MA59XXXXXX", 91440101, None])
def test_an_unknown_institution_is_refused_by_name(service, institutions, institution):
    program = install(service, program_text())
    with pytest.raises(LedgerError) as caught:
        service.submit_application(program.code, institution, 2019, {"claim": "1万"}, actor="m", client_id="x")
    assert caught.value.code == SubsidyCode.INSTITUTION_MUST_BE_REGISTERED
