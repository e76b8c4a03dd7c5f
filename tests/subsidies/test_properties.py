"""No sequence of applications, approvals, payments and clawbacks leaves a stop or clip cap exceeded."""

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.errors import LedgerError
from subsidies.audit import institution_year_report, program_report
from subsidies.service import SubsidyService
from tests.subsidies.conftest import CHECKER, MAKER, cap, credit_code, install, program_text

PROGRAM_SERIAL = itertools.count()
YEARS = (2019, 2020)
ENFORCEMENTS = st.sampled_from(["stop", "clip", "warn"])

operations = st.lists(
    st.one_of(
        st.tuples(st.just("grant"), st.integers(0, 2), st.sampled_from(YEARS), st.integers(1, 60)),
        st.tuples(st.just("pay"), st.integers(0, 30)),
        st.tuples(st.just("clawback"), st.integers(0, 30)),
    ),
    min_size=1,
    max_size=12,
)


def _caps(year_enforcement, lifetime_enforcement, awardee_enforcement) -> str:
    count_enforcement = "stop" if awardee_enforcement == "clip" else awardee_enforcement
    return (
        cap("institution_year", "50万", year_enforcement)
        + cap("lifetime", "80万", lifetime_enforcement)
        + cap("awardees_per_year", "2", count_enforcement)
    )


def _check_caps(service: SubsidyService, program) -> None:
    for row in institution_year_report(service, program.code):
        for entry in row["caps"]:
            if entry["enforcement"] != "warn":
                assert entry["used_fen"] <= entry["limit_fen"], (row, entry)
    awardees = program.cap("awardees_per_year")
    for year in program_report(service, program.code):
        if program.budget.enforcement != "warn":
            assert year["available_fen"] >= 0, year
        if awardees.enforcement != "warn":
            assert year["awardees"] <= awardees.count, year


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    enforcements=st.tuples(ENFORCEMENTS, ENFORCEMENTS, ENFORCEMENTS, ENFORCEMENTS),
    steps=operations,
)
def test_no_sequence_exceeds_a_stop_or_clip_cap(ledger, enforcements, steps):
    # One ledger for all examples: each example installs a program of its own, so their caps never meet.
    if ledger.entity("440100") is None:
        ledger.register_region("440100", "广州市")
    institutions = [ledger.register_institution(credit_code(n), f"Institution {n}", "university") for n in range(3)]
    service = SubsidyService(ledger)
    year_enf, lifetime_enf, awardee_enf, budget_enf = enforcements
    program = install(
        service,
        program_text(
            f"prop-{next(PROGRAM_SERIAL)}",
            caps=_caps(year_enf, lifetime_enf, awardee_enf),
            budget='"120万"',
            budget_enforcement=budget_enf,
        ),
    )
    grants: list[int] = []
    for number, step in enumerate(steps):
        try:
            if step[0] == "grant":
                _kind, who, year, wan = step
                application = service.submit_application(
                    program.code, institutions[who], year, {"claim": f"{wan}万"}, actor=MAKER, client_id=f"a{number}"
                )
                grants.append(service.approve(application, approver=CHECKER).grant_id)
            elif grants and step[0] == "pay":
                service.pay(grants[step[1] % len(grants)], actor="cashier")
            elif grants:
                grant_id = grants[step[1] % len(grants)]
                clawback = service.request_clawback(
                    grant_id, reason="audit", actor="auditor", client_id=f"clawback-{number}"
                )
                service.approve_clawback(clawback, approver=CHECKER)
        except LedgerError:
            pass  # refusals are expected; the property is about what was granted
        _check_caps(service, program)
