"""Pure tests: money, units, ratios, rounding, splits, dates, entities."""

from datetime import date
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.entities import region_at_level, region_level, region_parent, validate_credit_code
from ledger.errors import LedgerError, ResultCode
from ledger.money import BIGINT_MAX, format_fen, to_fen
from ledger.numbers import (
    add_months_clamped,
    apply_ratio_down,
    parse_amount,
    parse_amount_fen,
    parse_ratio,
    round_half_up,
    split_largest_remainder,
)


def refused(code, call, *args, **kwargs):
    with pytest.raises(LedgerError) as caught:
        call(*args, **kwargs)
    assert caught.value.code == code
    return caught.value


def test_amounts_convert_to_exact_fen():
    assert to_fen("1234.56") == 123456
    assert to_fen(Decimal("-0.01")) == -1
    assert to_fen(7) == 700
    assert format_fen(123456) == "1234.56"
    assert format_fen(-5) == "-0.05"


def test_float_amounts_are_refused():
    refused(ResultCode.AMOUNT_MUST_NOT_BE_FLOAT, to_fen, 0.1)


def test_more_places_than_the_currency_has_are_refused():
    refused(ResultCode.AMOUNT_EXCEEDS_CURRENCY_PLACES, to_fen, "1.005")


def test_amounts_beyond_bigint_are_refused():
    refused(ResultCode.AMOUNT_EXCEEDS_BIGINT, to_fen, str(Decimal(BIGINT_MAX + 1) / 100))
    assert to_fen(str(Decimal(BIGINT_MAX) / 100)) == BIGINT_MAX


def test_non_numbers_are_refused():
    refused(ResultCode.AMOUNT_INVALID, to_fen, "12a")
    refused(ResultCode.AMOUNT_INVALID, to_fen, "NaN")
    refused(ResultCode.AMOUNT_INVALID, to_fen, True)


def test_configuration_amounts_carry_units():
    assert parse_amount("1000万") == Decimal("10000000")
    assert parse_amount("0.5万") == Decimal("5000")
    assert parse_amount("2亿") == Decimal("200000000")
    assert parse_amount("500000.00元") == Decimal("500000.00")
    assert parse_amount_fen("50万元") == 50_000_000
    refused(ResultCode.AMOUNT_INVALID, parse_amount, "10 million")


def test_ratios_are_exact_fractions():
    assert parse_ratio("50%") == Fraction(1, 2)
    assert parse_ratio("2/3") == Fraction(2, 3)
    assert parse_ratio("0.005%") == Fraction(1, 20000)
    assert parse_ratio("0.3") == Fraction(3, 10)
    refused(ResultCode.AMOUNT_MUST_NOT_BE_FLOAT, parse_ratio, 0.5)
    refused(ResultCode.RATIO_INVALID, parse_ratio, "1/0")
    refused(ResultCode.RATIO_INVALID, parse_ratio, "half")


def test_ratio_caps_round_down():
    assert apply_ratio_down(1001, Fraction(1, 2)) == 500
    assert apply_ratio_down(99_999, parse_ratio("2/3")) == 66_666


def test_accruals_round_half_up():
    assert round_half_up(Fraction(5, 2)) == 3
    assert round_half_up(Fraction(249, 100)) == 2
    assert round_half_up(Fraction(-5, 2)) == -3


def test_largest_remainder_split_of_the_yrd_pilot():
    # 2/3 by the enterprise's region, 1/3 by the provider's: 100.00 splits 66.67 / 33.33.
    assert split_largest_remainder(10_000, [Fraction(2, 3), Fraction(1, 3)]) == [6_667, 3_333]
    assert split_largest_remainder(-10_000, [2, 1]) == [-6_667, -3_333]
    refused(ResultCode.RATIO_INVALID, split_largest_remainder, 100, [])
    refused(ResultCode.RATIO_INVALID, split_largest_remainder, 100, [0, 0])


@given(
    total=st.integers(min_value=-(10**15), max_value=10**15),
    weights=st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=8).filter(any),
)
def test_splits_always_sum_to_the_whole_and_stay_within_one_fen_of_exact(total, weights):
    parts = split_largest_remainder(total, weights)
    assert sum(parts) == total
    weight_sum = sum(weights)
    for part, weight in zip(parts, weights):
        assert abs(Fraction(part) - Fraction(total * weight, weight_sum)) < 1


@given(
    amount=st.integers(min_value=0, max_value=10**15), numerator=st.integers(0, 100), denominator=st.integers(1, 100)
)
def test_a_ratio_cap_never_exceeds_the_exact_share(amount, numerator, denominator):
    ratio = Fraction(numerator, denominator)
    capped = apply_ratio_down(amount, ratio)
    assert capped <= amount * ratio < capped + 1


def test_months_clamp_to_the_end_of_the_month():
    assert add_months_clamped(date(2026, 1, 31), 3) == date(2026, 4, 30)
    assert add_months_clamped(date(2024, 11, 30), 3) == date(2025, 2, 28)
    assert add_months_clamped(date(2023, 11, 30), 3) == date(2024, 2, 29)


def test_valid_credit_codes_pass_the_gb32100_check():
    assert validate_credit_code("91350100M000100Y43") == "91350100M000100Y43"
    assert validate_credit_code(" 91350100m000100y43 ") == "91350100M000100Y43"


def test_invalid_credit_codes_are_refused_with_the_reason():
    assert (
        "check character" in refused(ResultCode.CREDIT_CODE_INVALID, validate_credit_code, "91350100M000100Y44").message
    )
    assert "18 characters" in refused(ResultCode.CREDIT_CODE_INVALID, validate_credit_code, "9135010").message
    assert (
        "character set" in refused(ResultCode.CREDIT_CODE_INVALID, validate_credit_code, "91350100M000100YI3").message
    )


def test_region_codes_know_their_hierarchy():
    assert region_level("440000") == "province"
    assert region_level("440100") == "city"
    assert region_level("440106") == "county"
    assert region_parent("440106") == "440100"
    assert region_parent("440100") == "440000"
    assert region_parent("440000") is None
    assert region_at_level("440106", "province") == "440000"
    refused(ResultCode.REGION_CODE_INVALID, region_level, "44010")


@pytest.mark.parametrize(
    ("value", "currency", "shown"),
    [
        ("99999999999999999999.00", "CNY", "99999999999999999999.00 CNY"),
        ("99999999999999999999", "JPY", "99999999999999999999 JPY"),
    ],
)
def test_an_amount_beyond_storage_is_refused_in_the_users_units(value, currency, shown):
    """Issue 16: the message speaks in the currency's units, never in minor units."""
    from ledger.errors import LedgerError
    from ledger.money import to_fen

    with pytest.raises(LedgerError) as refused_error:
        to_fen(value, currency)
    assert refused_error.value.code == "amount_exceeds_bigint"
    assert shown in str(refused_error.value) and "minor units" not in str(refused_error.value)
