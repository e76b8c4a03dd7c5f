"""Program definitions: shipped Guangzhou figures parse exactly; bad files are refused naming the field."""

from fractions import Fraction

import pytest

from ledger.errors import LedgerError
from ledger.numbers import parse_ratio
from subsidies.codes import SubsidyCode
from subsidies.config import example_programs, parse_program
from tests.subsidies.conftest import cap, program_text

WAN_FEN = 10_000 * 100


def _examples():
    return {program.code: program for program, _text in example_programs()}


def test_pilot_unit_cap_is_1000_wan_per_year():
    program = _examples()["gz-income-award-pilot"]
    assert program.cap("institution_year").amount == 1000 * WAN_FEN
    assert program.cap("institution_year").source.article == "二(一)2"


def test_service_demonstration_is_20_awardees_of_50_wan():
    program = _examples()["gz-service-demonstration"]
    assert program.cap("awardees_per_year").count == 20
    assert program.amount.amount == 50 * WAN_FEN


def test_demonstration_plan_is_50_wan_for_three_consecutive_years():
    program = _examples()["gz-demonstration-plan"]
    assert program.amount.amounts == [50 * WAN_FEN] * 3


def test_contract_registration_rate_is_half_wan_per_yi_exactly():
    program = _examples()["gz-contract-registration"]
    assert program.amount.exact_ratio == parse_ratio("0.005%") == Fraction(1, 20_000)


def test_fuqing_tiers_and_nansha_lifetime_cap():
    examples = _examples()
    tiers = examples["fuqing-tiered-transfer"].amount.tiers
    assert [(tier.up_to, tier.ratio) for tier in tiers] == [
        (3000 * WAN_FEN, Fraction(1, 200)),
        (None, Fraction(3, 1000)),
    ]
    assert examples["nansha-revenue-lifetime"].cap("lifetime").amount == 50 * WAN_FEN


def _refusal(text: str) -> LedgerError:
    with pytest.raises(LedgerError) as caught:
        parse_program(text)
    assert caught.value.code == SubsidyCode.PROGRAM_CONFIG_INVALID
    return caught.value


def test_an_amount_without_a_valid_unit_is_refused_naming_the_field():
    error = _refusal(program_text(caps=cap("institution_year", "1000x", "stop")))
    assert "caps.0.amount" in error.message


def test_a_float_ratio_is_refused_naming_the_field():
    error = _refusal(program_text(amount='kind = "rate"\nbase = "revenue"\nratio = 0.05'))
    assert "amount.rate.ratio" in error.message


def test_a_rule_without_its_source_is_refused():
    text = program_text(caps=cap("institution_year", "1000万", "stop")).replace(
        'source = { document = "test", article = "cap" }', ""
    )
    error = _refusal(text)
    assert "caps.0.source" in error.message


def test_an_awardee_count_cannot_be_clipped():
    error = _refusal(program_text(caps=cap("awardees_per_year", "20", "clip")))
    assert "caps.0" in error.message and "stop or warn" in error.message


def test_tiers_must_ascend_and_end_open():
    tiers = 'kind = "tiered"\nbase = "turnover"\ntiers = [{ up_to = "3000万", ratio = "0.5%" }]'
    assert "amount.tiered" in _refusal(program_text(amount=tiers)).message


def test_unknown_fields_are_refused():
    assert "budget.overdraft" in _refusal(program_text().replace("[budget]", "[budget]\noverdraft = true")).message
