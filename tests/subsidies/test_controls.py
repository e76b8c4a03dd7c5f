"""subsidies.controls.reconcile_controls: clean after a realistic scenario, and a finding naming the table
when a domain row is tampered with (direct UPDATE: the domain tables are not append-only, the journal is)."""

from datetime import date

import pytest
from sqlalchemy import select, text

from ledger.engine import posting_specs
from ledger.entries import TransactionRequest
from ledger.queries import reconcile
from subsidies import books
from subsidies.controls import CONTROL_PAIRS, reconcile_controls
from subsidies.demo import load_demo
from subsidies.models import GRANTS
from tests.subsidies.conftest import CHECKER, MAKER, cap, install, program_text

AUDITOR = "auditor-chen"


@pytest.fixture
def scenario(ledger, service, institutions):
    """The demo's Guangzhou programs, then a program of our own through every life-cycle step."""
    load_demo(ledger)
    program = install(
        service,
        program_text("controls", caps=cap("institution_year", "50万", "clip"), budget='"100万"', year_end="carry_over"),
    )
    grants = []
    for number, (who, year, claim) in enumerate(
        [(0, 2019, "30万"), (1, 2019, "80万"), (0, 2020, "20万"), (2, 2019, "9万")]
    ):
        application = service.submit_application(
            program.code, institutions[who], year, {"claim": claim}, actor=MAKER, client_id=f"c{number}"
        )
        grants.append(service.approve(application, approver=CHECKER).grant_id)
    service.pay(grants[0], actor="cashier")
    service.pay(grants[1], actor="cashier")
    paid_clawback = service.request_clawback(grants[1], reason="材料不实", actor=AUDITOR, client_id="cb-paid")
    service.approve_clawback(paid_clawback, approver=CHECKER)
    unpaid_clawback = service.request_clawback(grants[3], reason="重复申报", actor=AUDITOR, client_id="cb-unpaid")
    service.approve_clawback(unpaid_clawback, approver=CHECKER)
    service.close_year(program.code, 2019, actor="finance-admin", client_id="ye-2019")
    service.close_year(program.code, 2020, actor="finance-admin", client_id="ye-2020")  # last year: recovered
    service.close_year("gz-contract-registration", 2019, actor="finance-admin", client_id="ye-gz-2019")
    return program, grants


def test_a_realistic_scenario_reconciles(scenario, engine):
    assert reconcile(engine) == []
    assert reconcile_controls(engine) == []
    assert len(CONTROL_PAIRS) >= 10


def test_no_programs_no_findings(engine):
    assert reconcile_controls(engine) == []


def _tamper(engine, statement: str, **params) -> None:
    with engine.begin() as conn:
        conn.execute(text(statement), params)


def _subjects(engine) -> list[str]:
    return [finding.subject for finding in reconcile_controls(engine)]


def test_a_tampered_grant_amount_is_found(scenario, engine):
    """subsidies_grants ↔ payables, expenses and commitments: an amount edited after approval shows up."""
    _program, grants = scenario
    _tamper(engine, "UPDATE subsidies_grants SET amount_fen = amount_fen + 100 WHERE id = :id", id=grants[2])
    findings = reconcile_controls(engine)
    subjects = [finding.subject for finding in findings]
    assert any(subject.startswith("subsidies_grants payables") for subject in subjects)
    assert any(subject.startswith("subsidies_grants commitments gz-budget controls 2020") for subject in subjects)
    payable = next(finding for finding in findings if finding.subject.startswith("subsidies_grants payables"))
    assert payable.expected_fen - payable.actual_fen == -100
    assert "off by" in payable.message


def test_a_grant_marked_paid_without_payment_is_found(scenario, engine):
    _program, grants = scenario
    _tamper(engine, "UPDATE subsidies_grants SET status = 'paid' WHERE id = :id", id=grants[2])
    subjects = _subjects(engine)
    assert "subsidies_grants payments gz-budget controls 2020" in subjects
    assert "program bank gz-finance Assets:Bank" in subjects


def test_a_tampered_year_end_is_found(scenario, engine):
    _tamper(
        engine,
        "UPDATE subsidies_year_ends SET amount_fen = amount_fen - 1 WHERE program_code = 'controls' "
        "AND program_year = 2019",
    )
    subjects = _subjects(engine)
    assert "program budget and subsidies_year_ends gz-budget controls 2019" in subjects
    assert "program budget and subsidies_year_ends gz-budget controls 2020" in subjects  # carried in


def test_a_clawback_undone_in_the_table_is_found(scenario, engine):
    _tamper(engine, "UPDATE subsidies_clawbacks SET status = 'requested' WHERE client_id = 'cb-paid'")
    subjects = _subjects(engine)
    assert "subsidies_clawbacks gz-finance controls" in subjects
    assert "subsidies_clawbacks of paid grants gz-budget controls" in subjects


def test_a_grant_moved_to_another_year_is_found(scenario, engine):
    _program, grants = scenario
    _tamper(engine, "UPDATE subsidies_grants SET program_year = 2020 WHERE id = :id", id=grants[0])
    subjects = _subjects(engine)
    assert "subsidies_grants payments gz-budget controls 2019" in subjects
    assert "subsidies_grants expenses gz-finance controls 2020" in subjects


def test_cash_without_its_budget_entry_is_found(scenario, engine, ledger):
    """Dual basis: a bank movement posted straight to the journal, without its budgetary entry."""
    result = ledger.post(
        TransactionRequest(
            client_id="stray-cash",
            postings=posting_specs("gz-finance", [(books.BANK, "-5.00"), (books.expense_account("controls"), "5.00")]),
            effective_date=date(2020, 6, 1),
            source="manual",
        )
    )
    findings = reconcile_controls(engine)
    dual = [finding for finding in findings if finding.subject.startswith("dual basis")]
    assert {finding.subject for finding in dual} == {
        f"dual basis of transaction {result.transaction_id}: bank leg against BudgetBalance:FundsAvailable",
        f"dual basis of transaction {result.transaction_id}: bank leg against BudgetRevenue/BudgetExpenditure",
    }
    assert all((finding.expected_fen, finding.actual_fen) == (-500, 0) for finding in dual)


def test_the_demo_alone_reconciles(ledger, engine):
    load_demo(ledger)
    with engine.connect() as conn:
        statuses = set(conn.execute(select(GRANTS.c.status)).scalars())
    assert statuses == {"approved", "paid"}  # both halves of the life cycle are there to reconcile
    assert reconcile(engine) == []
    assert reconcile_controls(engine) == []
