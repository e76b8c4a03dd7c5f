"""Amounts with units, exact ratios, rounding, splits and calendar arithmetic.

One convention for every module (DESIGN.md "Numbers, dates and rounding"):
- a ratio cap rounds DOWN (a voucher covering "<=50%" never covers more);
- a split among parties uses the largest-remainder method, so the parts sum exactly to the whole;
- accruals round HALF_UP on the cumulative total, not per period.
"""

from __future__ import annotations

import calendar
import re
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

from ledger.errors import LedgerError, ResultCode
from ledger.money import DEFAULT_CURRENCY, check_bigint, to_decimal, to_fen

SHANGHAI = ZoneInfo("Asia/Shanghai")

# Unit suffixes accepted in configuration amounts, as multipliers of 元.
AMOUNT_UNITS: dict[str, int] = {"亿元": 10**8, "亿": 10**8, "万元": 10**4, "万": 10**4, "元": 1, "": 1}
# Configuration may group thousands by commas, in threes only ("1,000万"); "1,5" is refused (defect 16).
_AMOUNT_PATTERN = re.compile(r"^\s*([+-]?(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]+)?)\s*(亿元|亿|万元|万|元)?\s*$")
_FRACTION_PATTERN = re.compile(r"^\s*([0-9]+)\s*/\s*([0-9]+)\s*$")
_PERCENT_PATTERN = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*%\s*$")
_DECIMAL_PATTERN = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*$")


def parse_amount(text: str | int | Decimal) -> Decimal:
    """ "1000万" -> Decimal("10000000"); "0.5万" -> 5000; "2亿"; "500000.00元"; plain numbers are 元."""
    if not isinstance(text, str):
        return to_decimal(text)
    match = _AMOUNT_PATTERN.match(text)
    if match is None:
        raise LedgerError(
            ResultCode.AMOUNT_INVALID,
            f"amount {text!r} is not a number with an optional unit (元, 万, 万元, 亿, 亿元)",
        )
    number, unit = match.group(1).replace(",", "").lstrip("+"), match.group(2) or ""
    return to_decimal(number) * AMOUNT_UNITS[unit]


def parse_amount_fen(text: str | int | Decimal, currency: str = DEFAULT_CURRENCY) -> int:
    return to_fen(parse_amount(text), currency)


def parse_ratio(text: str | Fraction | int) -> Fraction:
    """ "50%" -> 1/2; "2/3" -> 2/3; "0.005%" -> 1/20000; "0.5" -> 1/2. Exact, never a float."""
    if isinstance(text, Fraction):
        return text
    if isinstance(text, float):
        raise LedgerError(ResultCode.AMOUNT_MUST_NOT_BE_FLOAT, f'ratio {text!r} is a float; write "50%" or "1/2"')
    if isinstance(text, int) and not isinstance(text, bool):
        return Fraction(text)
    if not isinstance(text, str):
        raise LedgerError(ResultCode.RATIO_INVALID, f"ratio {text!r} is not a ratio")
    if match := _FRACTION_PATTERN.match(text):
        numerator, denominator = int(match.group(1)), int(match.group(2))
        if denominator == 0:
            raise LedgerError(ResultCode.RATIO_INVALID, f"ratio {text!r} divides by zero")
        return Fraction(numerator, denominator)
    if match := _PERCENT_PATTERN.match(text):
        return Fraction(Decimal(match.group(1))) / 100
    if match := _DECIMAL_PATTERN.match(text):
        return Fraction(Decimal(match.group(1)))
    raise LedgerError(ResultCode.RATIO_INVALID, f"ratio {text!r} is not a percentage, a fraction or a decimal")


def apply_ratio_down(amount_fen: int, ratio: Fraction) -> int:
    """Ratio caps round toward zero: the capped amount never exceeds ratio x amount."""
    product = amount_fen * ratio
    if product >= 0:
        return check_bigint(product.numerator // product.denominator)
    return -apply_ratio_down(-amount_fen, ratio)


def round_half_up(value: Fraction) -> int:
    """Round an exact value to whole fen, halves away from zero (accruals, on the cumulative total)."""
    if value < 0:
        return -round_half_up(-value)
    whole = value.numerator // value.denominator
    if value - whole >= Fraction(1, 2):
        whole += 1
    return check_bigint(whole)


def split_largest_remainder(total_fen: int, weights: list[Fraction | int]) -> list[int]:
    """Split ``total_fen`` in proportion to ``weights`` so the parts sum exactly to the total.

    Each party gets the floor of its exact share; the fen left over go one each to the largest
    fractional remainders, ties to the earlier party (a stable, documented order).
    """
    if not weights:
        raise LedgerError(ResultCode.RATIO_INVALID, "a split needs at least one party")
    exact_weights = [Fraction(weight) for weight in weights]
    if any(weight < 0 for weight in exact_weights):
        raise LedgerError(ResultCode.RATIO_INVALID, "split weights must not be negative")
    weight_sum = sum(exact_weights)
    if weight_sum == 0:
        raise LedgerError(ResultCode.RATIO_INVALID, "split weights must not all be zero")
    sign = -1 if total_fen < 0 else 1
    magnitude = abs(total_fen)
    shares = [magnitude * weight / weight_sum for weight in exact_weights]
    parts = [share.numerator // share.denominator for share in shares]
    leftover = magnitude - sum(parts)
    by_remainder = sorted(range(len(shares)), key=lambda index: (-(shares[index] - parts[index]), index))
    for index in by_remainder[:leftover]:
        parts[index] += 1
    return [sign * part for part in parts]


def quantize_yuan(amount: Decimal, places: int = 2) -> Decimal:
    return amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def add_months_clamped(start: date, months: int) -> date:
    """Calendar months later, the day clamped to the month's end: 31 Jan + 3 months = 30 Apr."""
    month_index = start.year * 12 + (start.month - 1) + months
    year, month = divmod(month_index, 12)
    month += 1
    last_day = calendar.monthrange(year, month)[1]
    return date(year, month, min(start.day, last_day))


def period_of(day: date) -> str:
    """The monthly fiscal period key of a date: "2026-01". The fiscal year is the calendar year."""
    return f"{day.year:04d}-{day.month:02d}"


def parse_period(text: str) -> str:
    if not re.fullmatch(r"[0-9]{4}-(0[1-9]|1[0-2])", text or ""):
        raise LedgerError(ResultCode.PERIOD_INVALID, f"period {text!r} is not YYYY-MM")
    return text


def parse_date(text: str | date) -> date:
    if isinstance(text, date):
        return text
    try:
        return date.fromisoformat(str(text).strip())
    except ValueError:
        raise LedgerError(ResultCode.DATE_INVALID, f"date {text!r} is not YYYY-MM-DD") from None
