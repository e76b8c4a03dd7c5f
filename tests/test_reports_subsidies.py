"""DuckDB subsidy reports equal the subsidy service's own figures (grant records) and the ledger balances."""

from __future__ import annotations

from fractions import Fraction

from sqlalchemy import select

from ledger.numbers import parse_amount_fen
from subsidies import books
from subsidies.audit import institution_year_report, program_report
from subsidies.demo import DEMO_CHECKER, load_demo
from subsidies.models import GRANTS
from subsidies.reports import budget_execution, installed_programs, subsidies_by_institution, subsidy_sheets
from subsidies.service import SubsidyService
from tests.subsidies.conftest import CHECKER, MAKER, cap, credit_code, install, program_text


def _world(ledger) -> SubsidyService:
    """The demo's programs and grants, then a clawback of a paid grant, two year-ends (one carrying over,
    one recovering) and a program whose institution cap only warns, granted over it."""
    load_demo(ledger)
    service = SubsidyService(ledger)
    with ledger.engine.connect() as conn:
        paid = conn.execute(
            select(GRANTS.c.id).where(GRANTS.c.program_code == "gz-demonstration-plan", GRANTS.c.status == "paid")
        ).first()
    clawback = service.request_clawback(paid.id, reason="材料不实", actor="auditor-chen", client_id="cb-report")
    service.approve_clawback(clawback, approver=DEMO_CHECKER)
    service.close_year("gz-income-award-pilot", 2019, actor="finance-admin", client_id="ye-report")
    service.close_year("gz-service-demonstration", 2019, actor="finance-admin", client_id="ye-report")
    warn = install(
        service,
        program_text("warn-cap", caps=cap("institution_year", "100万", "warn"), first_year=2019, last_year=2019),
    )
    institution = ledger.register_institution(credit_code(7), "Institution 7", "university", region_code="440100")
    for number, claim in enumerate(("80万", "70万")):
        application = service.submit_application(
            warn.code, institution, 2019, {"claim": claim}, actor=MAKER, client_id=f"warn-{number}"
        )
        service.approve(application, approver=CHECKER)
    return service


def test_subsidies_by_institution_equal_the_audit_view_and_show_the_excess_over_a_warn_cap(ledger):
    service = _world(ledger)
    report = subsidies_by_institution(ledger.engine)
    programs = installed_programs(ledger.engine)
    assert len(programs) >= 7 and report
    for program in programs:
        expected = institution_year_report(service, program.code)
        actual = [
            {
                "institution": row["institution"],
                "year": row["year"],
                "granted_fen": row["granted_fen"],
                "caps": [{key: value for key, value in cap.items() if key != "excess_fen"} for cap in row["caps"]],
            }
            for row in report
            if row["program"] == program.code
        ]
        assert actual == expected, program.code
    assert subsidies_by_institution(ledger.engine, "gz-demonstration-plan") == [
        row for row in report if row["program"] == "gz-demonstration-plan"
    ]
    # an institution granted over a warn cap: the excess is shown
    (row,) = subsidies_by_institution(ledger.engine, "warn-cap")
    assert row["granted_fen"] == parse_amount_fen("150万")
    assert row["caps"] == [
        {
            "rule": "institution_year",
            "enforcement": "warn",
            "limit_fen": parse_amount_fen("100万"),
            "used_fen": parse_amount_fen("150万"),
            "room_fen": -parse_amount_fen("50万"),
            "excess_fen": parse_amount_fen("50万"),
        }
    ]


def test_budget_execution_equals_the_program_report_and_the_ledger_balances_and_fills_its_sheet(ledger):
    service = _world(ledger)
    execution = budget_execution(ledger.engine)
    by_key = {(row["program"], row["year"]): row for row in execution}
    for program in installed_programs(ledger.engine):
        for expected in program_report(service, program.code):
            row = by_key[(program.code, expected["year"])]
            assert row["appropriated_fen"] == expected["appropriated_fen"]
            assert row["expended_fen"] == expected["paid_fen"]
            assert row["committed_fen"] == expected["granted_fen"] - expected["paid_fen"]
            assert row["swept_fen"] == expected["swept_at_year_end_fen"]
            assert row["available_fen"] == expected["available_fen"]
            assert row["awardees"] == expected["awardees"]
            spent = ledger.account(program.budget_book, books.budget_expenditure_account(program.code))
            assert sum(r["expended_fen"] for r in execution if r["program"] == program.code) == spent.balance_fen
    pilot_2019, pilot_2020 = by_key[("gz-income-award-pilot", 2019)], by_key[("gz-income-award-pilot", 2020)]
    assert pilot_2019["swept_fen"] > 0 and pilot_2020["carried_in_fen"] == pilot_2019["swept_fen"]
    assert pilot_2020["execution_ratio"] == Fraction(0)
    assert pilot_2019["execution_ratio"] == Fraction(
        pilot_2019["expended_fen"], pilot_2019["appropriated_fen"] + pilot_2019["carried_in_fen"]
    )
    assert by_key[("gz-service-demonstration", 2019)]["swept_fen"] > 0  # recovered (收回)
    # the workbook's sections carry the same figures
    by_institution, execution_sheet = subsidy_sheets(ledger.engine)
    assert [row["granted"] for row in by_institution.rows] == [
        row["granted_fen"] for row in subsidies_by_institution(ledger.engine)
    ]
    assert execution_sheet.total_fen("expended_fen") == sum(row["expended_fen"] for row in execution)
