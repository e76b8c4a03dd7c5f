"""subsidies.audit.budget_execution: per program, over all its years, what program_report sums year by
year (appropriated, granted by active grants, paid), in one query for many programs."""

from __future__ import annotations

from subsidies.audit import budget_execution, program_report
from tests.subsidies.conftest import CHECKER, MAKER, example_text, install


def _grant(service, program, institution, year, **figures):  # noqa: ANN001, ANN202
    application = service.submit_application(
        program.code, institution, year, figures, actor=MAKER, client_id=f"{institution}-{year}-{sorted(figures)}"
    )
    return service.approve(application, approver=CHECKER, approval_doc="穗科函〔2019〕1号")


def test_each_programs_totals_equal_the_sum_of_its_yearly_report(service, institutions):
    pilot = install(service, example_text("gz-income-award-pilot"))
    plan = install(service, example_text("gz-demonstration-plan"))
    paid = _grant(service, pilot, institutions[0], 2019, retained_award_income="300万")
    service.pay(paid.grant_id, actor="cashier-zhao")
    _grant(service, pilot, institutions[1], 2020, retained_award_income="200万")
    _grant(service, plan, institutions[2], 2019)

    totals = budget_execution(service, [pilot, plan])

    for program in (pilot, plan):
        years = program_report(service, program.code)
        assert totals[program.code] == {
            "appropriated_fen": sum(year["appropriated_fen"] for year in years),
            "granted_fen": sum(year["granted_fen"] for year in years),
            "paid_fen": sum(year["paid_fen"] for year in years),
        }
    assert totals[pilot.code]["paid_fen"] == paid.granted_fen > 0
    assert totals[pilot.code]["granted_fen"] > totals[pilot.code]["paid_fen"]


def test_no_programs_no_query(service):
    assert budget_execution(service, []) == {}
