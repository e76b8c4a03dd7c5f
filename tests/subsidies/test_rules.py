"""Pure rule pieces and their composition, with the Guangzhou (and Fuqing, Nansha) figures."""

import pytest

from ledger.errors import LedgerError
from ledger.numbers import parse_amount_fen
from subsidies.codes import SubsidyCode
from subsidies.config import example_programs, parse_program
from subsidies.rules import Usage, compute_amount_fen, decide
from tests.subsidies.conftest import cap, program_text

EXAMPLES = {program.code: program for program, _text in example_programs()}
BIG_ROOM = Usage(budget_room_fen=parse_amount_fen("10亿"))


def fen(text: str) -> int:
    return parse_amount_fen(text)


def test_fixed_amount_gives_50_wan_to_each_awardee():
    assert compute_amount_fen(EXAMPLES["gz-service-demonstration"].amount, {}) == fen("50万")


def test_contract_registration_gives_half_wan_per_yi_of_turnover():
    formula = EXAMPLES["gz-contract-registration"].amount
    assert compute_amount_fen(formula, {"registered_contract_turnover": fen("1亿")}) == fen("0.5万")
    assert compute_amount_fen(formula, {"registered_contract_turnover": fen("500亿")}) == fen("250万")


def test_rate_rounds_down_to_the_fen():
    formula = EXAMPLES["gz-contract-registration"].amount
    # 3999.99 元 x 0.005% = 0.1999995 元 -> 0.19 元, never rounded up
    assert compute_amount_fen(formula, {"registered_contract_turnover": fen("3999.99")}) == 19


def test_fuqing_tiers_apply_marginally():
    formula = EXAMPLES["fuqing-tiered-transfer"].amount
    assert compute_amount_fen(formula, {"transfer_turnover": fen("2000万")}) == fen("10万")
    assert compute_amount_fen(formula, {"transfer_turnover": fen("3000万")}) == fen("15万")
    # 0.5% x 3000万 + 0.3% x 2000万 = 15万 + 6万
    assert compute_amount_fen(formula, {"transfer_turnover": fen("5000万")}) == fen("21万")


def test_schedule_pays_50_wan_for_three_consecutive_years_then_stops():
    formula = EXAMPLES["gz-demonstration-plan"].amount
    assert [compute_amount_fen(formula, {}, index) for index in range(3)] == [fen("50万")] * 3
    with pytest.raises(LedgerError) as caught:
        compute_amount_fen(formula, {}, 3)
    assert caught.value.code == SubsidyCode.SCHEDULE_YEARS_EXHAUSTED


def test_a_missing_base_figure_is_refused():
    with pytest.raises(LedgerError) as caught:
        compute_amount_fen(EXAMPLES["nansha-revenue-lifetime"].amount, {})
    assert caught.value.code == SubsidyCode.BASE_FIGURE_REQUIRED


def test_pilot_unit_is_clipped_to_the_1000_wan_left_in_the_year():
    program = EXAMPLES["gz-income-award-pilot"]
    usage = Usage(institution_year_fen=fen("800万"), budget_room_fen=fen("1亿"))
    decision = decide(program, fen("500万"), usage)
    assert decision.granted_fen == fen("200万")
    (flag,) = decision.flags
    assert (flag.rule, flag.enforcement, flag.code) == (
        "institution_year",
        "clip",
        SubsidyCode.INSTITUTION_YEAR_TOTAL_MUST_NOT_EXCEED_CAP,
    )
    assert (flag.requested_fen, flag.room) == (fen("500万"), fen("200万"))


def test_a_clip_cap_with_no_room_left_refuses():
    program = EXAMPLES["gz-income-award-pilot"]
    with pytest.raises(LedgerError) as caught:
        decide(program, fen("1万"), Usage(institution_year_fen=fen("1000万"), budget_room_fen=fen("1亿")))
    assert caught.value.code == SubsidyCode.INSTITUTION_YEAR_TOTAL_MUST_NOT_EXCEED_CAP
    assert caught.value.detail["room_left"] == "0.00"


def test_the_21st_service_demonstration_institution_is_stopped():
    program = EXAMPLES["gz-service-demonstration"]
    with pytest.raises(LedgerError) as caught:
        decide(program, fen("50万"), Usage(awardees_this_year=20, budget_room_fen=fen("1000万")))
    assert caught.value.code == SubsidyCode.AWARDEES_PER_YEAR_MUST_NOT_EXCEED_LIMIT
    assert caught.value.detail["room_left"] == 0
    assert decide(program, fen("50万"), Usage(awardees_this_year=19, budget_room_fen=fen("1000万"))).granted_fen == fen(
        "50万"
    )


def test_nansha_lifetime_cap_clips_across_years():
    program = EXAMPLES["nansha-revenue-lifetime"]
    computed = compute_amount_fen(program.amount, {"revenue": fen("1000万")})  # 5% = 50万
    decision = decide(program, computed, Usage(institution_lifetime_fen=fen("40万"), budget_room_fen=fen("500万")))
    assert decision.granted_fen == fen("10万")
    assert decision.flags[0].rule == "lifetime"


def test_stop_refusal_names_the_room_left():
    program = EXAMPLES["gz-demonstration-plan"]
    with pytest.raises(LedgerError) as caught:
        decide(program, fen("50万"), Usage(institution_lifetime_fen=fen("120万"), budget_room_fen=fen("500万")))
    assert caught.value.code == SubsidyCode.INSTITUTION_LIFETIME_TOTAL_MUST_NOT_EXCEED_CAP
    assert caught.value.detail["room_left"] == "300000.00"


def test_per_claim_cap_clips_before_the_yearly_cap_is_checked():
    program = EXAMPLES["zhongshan-contract-ratio"]
    computed = compute_amount_fen(program.amount, {"contract_amount": fen("2000万")})  # 3% = 60万
    decision = decide(program, computed, Usage(institution_lifetime_fen=fen("60万"), budget_room_fen=fen("800万")))
    assert decision.granted_fen == fen("30万")  # clipped to 30万 per claim, which fits the 40万 lifetime room
    assert [flag.rule for flag in decision.flags] == ["per_claim"]


def test_a_warned_amount_counts_toward_the_caps_after_it():
    program = parse_program(
        program_text(caps=cap("institution_year", "100万", "warn") + cap("lifetime", "120万", "stop"))
    )
    with pytest.raises(LedgerError) as caught:
        decide(program, fen("150万"), BIG_ROOM)
    assert caught.value.code == SubsidyCode.INSTITUTION_LIFETIME_TOTAL_MUST_NOT_EXCEED_CAP
    decision = decide(program, fen("110万"), BIG_ROOM)
    assert decision.granted_fen == fen("110万")
    assert [(flag.rule, flag.enforcement) for flag in decision.flags] == [("institution_year", "warn")]


def test_budget_rule_is_checked_last_with_its_enforcement():
    program = parse_program(program_text(budget_enforcement="clip"))
    decision = decide(program, fen("80万"), Usage(budget_room_fen=fen("30万")))
    assert decision.granted_fen == fen("30万")
    assert decision.flags[0].code == SubsidyCode.GRANTS_MUST_NOT_EXCEED_PROGRAM_BUDGET
