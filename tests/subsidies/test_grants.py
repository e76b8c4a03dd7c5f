"""Applications, maker-checker approval, payment, refusals with untouched balances, clawback, year-end."""

import pytest

from ledger.errors import LedgerError
from ledger.numbers import parse_amount_fen
from subsidies import books
from subsidies.audit import flagged_grants, institution_year_report, program_report
from subsidies.codes import SubsidyCode
from tests.subsidies.conftest import CHECKER, MAKER, cap, example_text, install, program_text


def fen(text: str) -> int:
    return parse_amount_fen(text)


def balances(ledger, program) -> dict:
    """Every balance (posted and pending) of the program's books."""
    return {
        (info.book, info.path): (info.debits_posted, info.credits_posted, info.debits_pending, info.credits_pending)
        for book in (program.budget_book, program.financial_book)
        for info in ledger.accounts(book)
    }


def apply(service, program, institution, year, claim=None, client_id=None, **figures):
    if claim is not None:
        figures["claim"] = claim
    return service.submit_application(
        program.code,
        institution,
        year,
        figures,
        actor=MAKER,
        client_id=client_id or f"{institution}-{year}-{sorted(figures.items())}",
    )


def approve(service, application_id):
    return service.approve(application_id, approver=CHECKER, approval_doc="穗科函〔2019〕1号")


def refused(service, ledger, program, application_id, code):
    before = balances(ledger, program)
    with pytest.raises(LedgerError) as caught:
        approve(service, application_id)
    assert caught.value.code == code
    assert balances(ledger, program) == before
    return caught.value


def test_a_grant_moves_budget_to_payable_to_paid(service, ledger, institutions):
    program = install(service, example_text("gz-income-award-pilot"))
    application = apply(service, program, institutions[0], 2019, retained_award_income="300万")
    outcome = approve(service, application)
    assert outcome.granted_fen == fen("300万") and outcome.flags == ()
    available = books.funds_available_account(program.code, 2019)
    assert ledger.account("gz-budget", available).credits_pending == fen("300万")
    assert ledger.account("gz-finance", books.payable_account(institutions[0])).balance_fen == -fen("300万")
    service.pay(outcome.grant_id, actor="cashier-zhao")
    assert ledger.account("gz-budget", available).balance_fen == fen("1亿") - fen("300万")
    assert ledger.account("gz-budget", available).credits_pending == 0
    assert ledger.account("gz-budget", books.budget_expenditure_account(program.code)).balance_fen == fen("300万")
    assert ledger.account("gz-finance", books.payable_account(institutions[0])).balance_fen == 0
    assert ledger.account("gz-finance", books.expense_account(program.code)).balance_fen == fen("300万")


def test_the_maker_cannot_approve_their_own_application(service, ledger, institutions):
    program = install(service, example_text("gz-income-award-pilot"))
    application = apply(service, program, institutions[0], 2019, retained_award_income="300万")
    before = balances(ledger, program)
    with pytest.raises(LedgerError) as caught:
        service.approve(application, approver=MAKER)
    assert caught.value.code == SubsidyCode.CHECKER_MUST_DIFFER_FROM_MAKER
    assert balances(ledger, program) == before
    assert approve(service, application).granted_fen == fen("300万")


def test_pilot_unit_is_clipped_to_1000_wan_a_year_counting_unpaid_grants(service, ledger, institutions):
    program = install(service, example_text("gz-income-award-pilot"))
    first = approve(service, apply(service, program, institutions[0], 2019, retained_award_income="700万"))
    second = approve(service, apply(service, program, institutions[0], 2019, retained_award_income="500万"))
    assert (first.granted_fen, second.granted_fen) == (fen("700万"), fen("300万"))
    (flag,) = flagged_grants(service, program.code)
    assert (flag["grant_id"], flag["rule"], flag["enforcement"]) == (second.grant_id, "institution_year", "clip")
    assert (flag["requested_fen"], flag["granted_fen"]) == (fen("500万"), fen("300万"))
    # another year is another room
    assert approve(service, apply(service, program, institutions[0], 2020, retained_award_income="500万")).flags == ()
    third = apply(service, program, institutions[0], 2019, retained_award_income="1万")
    refused(service, ledger, program, third, SubsidyCode.INSTITUTION_YEAR_TOTAL_MUST_NOT_EXCEED_CAP)


def test_the_21st_demonstration_institution_is_refused(service, ledger, institutions):
    text = example_text("gz-service-demonstration").replace("count = 20", "count = 4")
    program = install(service, text)
    for institution in institutions[:4]:
        approve(service, apply(service, program, institution, 2019))
    error = refused(
        service,
        ledger,
        program,
        apply(service, program, institutions[4], 2019),
        SubsidyCode.AWARDEES_PER_YEAR_MUST_NOT_EXCEED_LIMIT,
    )
    assert error.detail["room_left"] == 0


def test_a_second_award_in_the_same_year_is_stopped(service, ledger, institutions):
    program = install(service, example_text("gz-service-demonstration"))
    approve(service, apply(service, program, institutions[0], 2019, client_id="a"))
    error = refused(
        service,
        ledger,
        program,
        apply(service, program, institutions[0], 2019, client_id="b"),
        SubsidyCode.INSTITUTION_YEAR_TOTAL_MUST_NOT_EXCEED_CAP,
    )
    assert error.detail["room_left"] == "0.00"


def test_demonstration_plan_pays_three_consecutive_years_only(service, ledger, institutions):
    program = install(service, example_text("gz-demonstration-plan").replace("last_year = 2020", "last_year = 2021"))
    for year in (2018, 2019, 2020):
        assert approve(service, apply(service, program, institutions[0], year)).granted_fen == fen("50万")
    refused(
        service, ledger, program, apply(service, program, institutions[0], 2021), SubsidyCode.SCHEDULE_YEARS_EXHAUSTED
    )


def test_per_claim_stop_refuses(service, ledger, institutions):
    program = install(service, program_text(caps=cap("per_claim", "30万", "stop")))
    application = apply(service, program, institutions[0], 2019, claim="31万")
    error = refused(service, ledger, program, application, SubsidyCode.CLAIM_MUST_NOT_EXCEED_PER_CLAIM_CAP)
    assert error.detail["room_left"] == "300000.00"


def test_lifetime_stop_refuses_across_years(service, ledger, institutions):
    program = install(service, example_text("zhongshan-contract-ratio"))
    for year in (2020, 2021):
        approve(service, apply(service, program, institutions[0], year, contract_amount="1500万"))  # 45万 -> 30万
    approve(service, apply(service, program, institutions[0], 2022, contract_amount="1000万"))  # 30万: 90万 in all
    application = apply(service, program, institutions[0], 2022, contract_amount="500万")  # 15万 > 10万 left
    error = refused(service, ledger, program, application, SubsidyCode.INSTITUTION_LIFETIME_TOTAL_MUST_NOT_EXCEED_CAP)
    assert error.detail["room_left"] == "100000.00"


def test_program_budget_stop_refuses_and_the_ledger_flag_agrees(service, ledger, institutions):
    program = install(service, program_text(budget='"100万"'))
    approve(service, apply(service, program, institutions[0], 2019, claim="80万"))
    error = refused(
        service,
        ledger,
        program,
        apply(service, program, institutions[1], 2019, claim="30万"),
        SubsidyCode.GRANTS_MUST_NOT_EXCEED_PROGRAM_BUDGET,
    )
    assert error.detail["room_left"] == "200000.00"
    assert ledger.account("gz-budget", books.funds_available_account(program.code, 2019)).credits_must_not_exceed_debits


def test_a_refusal_is_recorded_on_the_application(service, ledger, institutions):
    program = install(service, program_text(budget='"10万"'))
    application = apply(service, program, institutions[0], 2019, claim="30万")
    refused(service, ledger, program, application, SubsidyCode.GRANTS_MUST_NOT_EXCEED_PROGRAM_BUDGET)
    # the same checker retrying gets the same refusal (issue 11: a retry returns the first result)
    with pytest.raises(LedgerError) as caught:
        approve(service, application)
    assert caught.value.code == SubsidyCode.GRANTS_MUST_NOT_EXCEED_PROGRAM_BUDGET
    # anyone else finds a decided application
    with pytest.raises(LedgerError) as caught:
        service.approve(application, approver="deputy-director-zhou")
    assert caught.value.code == SubsidyCode.APPLICATION_MUST_BE_SUBMITTED
    assert caught.value.detail["status"] == "refused"


def test_warn_budget_grants_flags_and_has_no_overdraft_flag(service, ledger, institutions):
    program = install(service, example_text("gz-contract-registration"))
    outcome = approve(service, apply(service, program, institutions[0], 2019, registered_contract_turnover="600亿"))
    assert outcome.granted_fen == fen("300万")
    assert [(flag.rule, flag.enforcement, flag.room) for flag in outcome.flags] == [
        ("program_budget", "warn", fen("250万"))
    ]
    service.pay(outcome.grant_id, actor="cashier-zhao")
    available = ledger.account("gz-budget", books.funds_available_account(program.code, 2019))
    assert not available.credits_must_not_exceed_debits
    assert available.balance_fen == fen("250万") - fen("300万")
    assert flagged_grants(service)[0]["enforcement"] == "warn"


def test_clawback_of_a_paid_grant_gives_the_room_back_in_its_year(service, ledger, institutions):
    program = install(service, example_text("gz-income-award-pilot"))
    initial = balances(ledger, program)
    outcome = approve(service, apply(service, program, institutions[0], 2019, retained_award_income="1000万"))
    service.pay(outcome.grant_id, actor="cashier-zhao")
    with pytest.raises(LedgerError) as caught:
        service.request_clawback(outcome.grant_id, reason=" ", actor="auditor-chen", client_id="cb-blank")
    assert caught.value.code == SubsidyCode.CLAWBACK_NEEDS_A_REASON
    clawback = service.request_clawback(
        outcome.grant_id, reason="成果转化收益不实，追回", actor="auditor-chen", client_id="cb-1"
    )
    with pytest.raises(LedgerError) as caught:
        service.approve_clawback(clawback, approver="auditor-chen")
    assert caught.value.code == SubsidyCode.CHECKER_MUST_DIFFER_FROM_MAKER
    service.approve_clawback(clawback, approver=CHECKER, approval_doc="穗科函〔2020〕9号")
    net = {key: value[0] - value[1] for key, value in balances(ledger, program).items()}
    assert net.pop(("gz-finance", books.payable_account(institutions[0]))) == 0
    assert net == {key: value[0] - value[1] for key, value in initial.items()}
    assert institution_year_report(service, program.code) == []
    # the 2019 room is whole again
    reapplied = apply(service, program, institutions[0], 2019, client_id="again", retained_award_income="1000万")
    assert approve(service, reapplied).flags == ()
    with pytest.raises(LedgerError) as caught:
        service.request_clawback(outcome.grant_id, reason="again", actor="auditor-chen", client_id="cb-2")
    assert caught.value.code == SubsidyCode.CLAWBACK_NEEDS_AN_ACTIVE_GRANT


def test_clawback_of_an_unpaid_grant_releases_the_reservation(service, ledger, institutions):
    program = install(service, program_text(budget='"100万"'))
    outcome = approve(service, apply(service, program, institutions[0], 2019, claim="100万"))
    clawback = service.request_clawback(outcome.grant_id, reason="申报材料不实", actor="auditor-chen", client_id="cb-1")
    service.approve_clawback(clawback, approver=CHECKER)
    available = ledger.account("gz-budget", books.funds_available_account(program.code, 2019))
    assert (available.credits_pending, available.balance_fen) == (0, fen("100万"))
    with pytest.raises(LedgerError) as caught:
        service.pay(outcome.grant_id, actor="cashier-zhao")
    assert caught.value.code == SubsidyCode.PAYMENT_NEEDS_AN_APPROVED_GRANT


def test_year_end_carries_unused_budget_over(service, ledger, institutions):
    program = install(service, program_text(budget='"100万"', year_end="carry_over"))
    outcome = approve(service, apply(service, program, institutions[0], 2019, claim="30万"))
    result = service.close_year(program.code, 2019, actor="finance-admin", client_id="ye-2019")
    assert (result["mode"], result["amount_fen"]) == ("carry_over", fen("70万"))
    assert service.close_year(program.code, 2019, actor="finance-admin", client_id="ye-2019-again")["amount_fen"] == 0
    assert program_report(service, program.code)[1]["available_fen"] == fen("170万")
    # the reserved 30万 stays committed and is still payable from 2019
    service.pay(outcome.grant_id, actor="cashier-zhao")
    assert ledger.account("gz-budget", books.funds_available_account(program.code, 2019)).balance_fen == 0


def test_year_end_recovers_unused_budget_when_configured(service, ledger, institutions):
    program = install(service, program_text(budget='"100万"', year_end="recover"))
    approve(service, apply(service, program, institutions[0], 2019, claim="40万"))
    bank_before = ledger.account("gz-finance", books.BANK).balance_fen
    result = service.close_year(program.code, 2019, actor="finance-admin", client_id="ye-2019")
    assert (result["mode"], result["amount_fen"]) == ("recover", fen("60万"))
    assert ledger.account("gz-finance", books.BANK).balance_fen == bank_before - fen("60万")
    assert program_report(service, program.code)[0]["swept_at_year_end_fen"] == fen("60万")


def test_a_rejection_needs_a_reason_and_a_second_person(service, ledger, institutions):
    program = install(service, program_text())
    application = apply(service, program, institutions[0], 2019, claim="10万")
    with pytest.raises(LedgerError) as caught:
        service.reject(application, approver=CHECKER, reason="")
    assert caught.value.code == SubsidyCode.REJECTION_NEEDS_A_REASON
    with pytest.raises(LedgerError) as caught:
        service.reject(application, approver=MAKER, reason="材料不全")
    assert caught.value.code == SubsidyCode.CHECKER_MUST_DIFFER_FROM_MAKER
    service.reject(application, approver=CHECKER, reason="材料不全")
    with pytest.raises(LedgerError) as caught:
        approve(service, application)
    assert caught.value.code == SubsidyCode.APPLICATION_MUST_BE_SUBMITTED


def test_applications_are_checked_when_submitted(service, institutions):
    program = install(service, program_text())
    cases = [
        ((institutions[0], 2018, {"claim": "1万"}), SubsidyCode.PROGRAM_YEAR_MUST_BE_WITHIN_PROGRAM),
        ((institutions[0], 2019, {}), SubsidyCode.BASE_FIGURE_REQUIRED),
        (("91440101MA59XXXXX1", 2019, {"claim": "1万"}), SubsidyCode.INSTITUTION_MUST_BE_REGISTERED),
    ]
    for (institution, year, figures), code in cases:
        with pytest.raises(LedgerError) as caught:
            service.submit_application(program.code, institution, year, figures, actor=MAKER, client_id="x")
        assert caught.value.code == code
    first = service.submit_application(
        program.code, institutions[0], 2019, {"claim": "1万"}, actor=MAKER, client_id="c"
    )
    again = service.submit_application(
        program.code, institutions[0], 2019, {"claim": "1万"}, actor=MAKER, client_id="c"
    )
    assert first == again
    with pytest.raises(LedgerError) as caught:
        service.submit_application(program.code, institutions[0], 2019, {"claim": "2万"}, actor=MAKER, client_id="c")
    assert caught.value.code == SubsidyCode.APPLICATION_EXISTS_WITH_DIFFERENT_CONTENT


def test_reinstalling_with_different_rules_is_refused(service):
    install(service, program_text())
    install(service, program_text())
    with pytest.raises(LedgerError) as caught:
        install(service, program_text(budget='"2000万"'))
    assert caught.value.code == SubsidyCode.PROGRAM_EXISTS_WITH_DIFFERENT_CONFIG


def test_institution_year_report_shows_each_cap(service, institutions):
    program = install(service, example_text("gz-demonstration-plan"))
    approve(service, apply(service, program, institutions[0], 2018))
    approve(service, apply(service, program, institutions[0], 2019))
    rows = institution_year_report(service, program.code)
    assert [(row["year"], row["granted_fen"]) for row in rows] == [(2018, fen("50万")), (2019, fen("50万"))]
    lifetime = [entry for entry in rows[1]["caps"] if entry["rule"] == "lifetime"][0]
    assert (lifetime["used_fen"], lifetime["room_fen"]) == (fen("100万"), fen("50万"))
    assert program_report(service, program.code)[0]["awardees"] == 1


def test_a_rejected_clawback_leaves_the_grant_as_it_was(service, ledger, institutions):
    program = install(service, program_text(budget='"100万"'))
    outcome = approve(service, apply(service, program, institutions[0], 2019, claim="100万"))
    before = balances(ledger, program)
    clawback = service.request_clawback(outcome.grant_id, reason="申报材料不实", actor="auditor-chen", client_id="cb-1")
    for approver, reason, code in (
        ("auditor-chen", "self", SubsidyCode.CHECKER_MUST_DIFFER_FROM_MAKER),
        (CHECKER, " ", SubsidyCode.REJECTION_NEEDS_A_REASON),
    ):
        with pytest.raises(LedgerError) as caught:
            service.reject_clawback(clawback, approver=approver, reason=reason)
        assert caught.value.code == code
    service.reject_clawback(clawback, approver=CHECKER, reason="材料已补正")
    service.reject_clawback(clawback, approver=CHECKER, reason="材料已补正")  # its checker again: nothing changes
    assert balances(ledger, program) == before
    with pytest.raises(LedgerError) as caught:
        service.approve_clawback(clawback, approver="another-checker")
    assert caught.value.code == SubsidyCode.CLAWBACK_MUST_BE_REQUESTED
    service.pay(outcome.grant_id, actor="cashier-zhao")  # the grant is still active and payable
