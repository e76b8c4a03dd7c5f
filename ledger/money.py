"""Money: ``decimal.Decimal`` at the edges, integer fen (minor units) in storage.

A float is refused wherever money enters: binary floating point cannot hold 0.1 exactly, and a ledger
that is "correct to the fen" cannot start from an approximation.
"""

from __future__ import annotations

import re
from decimal import Decimal

from ledger.errors import LedgerError, ResultCode

DEFAULT_CURRENCY = "CNY"
# Minor-unit places per ISO 4217 currency. CNY: 1 元 = 100 分 (fen).
CURRENCY_PLACES: dict[str, int] = {"CNY": 2, "USD": 2, "EUR": 2, "HKD": 2, "JPY": 0}
# Storage is a signed 64-bit integer on both SQLite and PostgreSQL; beyond it is an error, not a wrap.
BIGINT_MAX = 2**63 - 1
BIGINT_MIN = -(2**63)
# An amount's text is bounded before any Decimal arithmetic: "1e999997" costs seconds of CPU to scale
# and "1e999999" overflows (defect 15). 64-bit fen have 19 digits; a sign, a point and a few places fit in 40.
AMOUNT_TEXT_MAX_LENGTH = 40
# Significant digits a Decimal amount may carry (a Decimal from code is not bounded by its text).
AMOUNT_DIGITS_MAX = 40
# Largest decimal exponent (Decimal.adjusted) an amount may have: 10**19 exceeds any 64-bit fen count.
AMOUNT_ADJUSTED_MAX = 19
# The one text form of an amount in a request or a file (defect 16): ASCII digits, an optional minus
# sign and an optional fraction. No exponent, no thousands separator, no "+", no other digits.
_AMOUNT_TEXT = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
# With the documented thousands option: groups of exactly three after the first (1,234,567.89).
_AMOUNT_TEXT_GROUPED = re.compile(r"-?[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?")


def currency_places(currency: str) -> int:
    try:
        return CURRENCY_PLACES[currency]
    except KeyError:
        raise LedgerError(ResultCode.CURRENCY_UNKNOWN, f"currency {currency!r} is not configured") from None


def to_decimal(value: object, *, thousands: bool = False) -> Decimal:
    """Turn a str, int or Decimal into a finite, bounded Decimal; refuse floats and anything else.

    A string must be ``-?digits[.digits]`` (ASCII digits); with ``thousands`` its integer part may also
    be grouped by commas in threes. Anything else is refused, never reinterpreted: "1,5" is not 15 and
    "1e3" is not 1000."""
    if isinstance(value, bool):
        raise LedgerError(ResultCode.AMOUNT_INVALID, f"amount {value!r} is not a number")
    if isinstance(value, float):
        raise LedgerError(
            ResultCode.AMOUNT_MUST_NOT_BE_FLOAT,
            f'amount {value!r} is a float; pass a decimal string such as "1234.56"',
        )
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, str):
        result = _parse_amount_text(value, thousands=thousands)
    else:
        raise LedgerError(ResultCode.AMOUNT_INVALID, f"amount {value!r} is not a decimal number")
    if not result.is_finite():
        raise LedgerError(ResultCode.AMOUNT_INVALID, f"amount {value!r} is not finite")
    if len(result.as_tuple().digits) > AMOUNT_DIGITS_MAX:
        raise LedgerError(ResultCode.AMOUNT_INVALID, f"amount has more than {AMOUNT_DIGITS_MAX} digits")
    if not result.is_zero() and result.adjusted() > AMOUNT_ADJUSTED_MAX:
        raise LedgerError(ResultCode.AMOUNT_EXCEEDS_BIGINT, f"amount {_shown(value)} exceeds a 64-bit integer")
    return result


def _shown(value: object) -> str:
    text = str(value)
    return text if len(text) <= AMOUNT_TEXT_MAX_LENGTH else text[:AMOUNT_TEXT_MAX_LENGTH] + "..."


def _parse_amount_text(value: str, *, thousands: bool) -> Decimal:
    text = value.strip()
    if len(text) > AMOUNT_TEXT_MAX_LENGTH:
        raise LedgerError(
            ResultCode.AMOUNT_INVALID, f"amount {_shown(value)!r} is longer than {AMOUNT_TEXT_MAX_LENGTH} characters"
        )
    if _AMOUNT_TEXT.fullmatch(text) is None:
        if not (thousands and _AMOUNT_TEXT_GROUPED.fullmatch(text)):
            raise LedgerError(
                ResultCode.AMOUNT_INVALID,
                f'amount {value!r} is not a decimal number such as "-1234.56" (digits, optional minus and fraction)',
            )
        text = text.replace(",", "")
    return Decimal(text)


def check_bigint(fen: int, currency: str = DEFAULT_CURRENCY) -> int:
    if fen > BIGINT_MAX or fen < BIGINT_MIN:
        # Said in the user's units (issue 16); the limit is the 64-bit integer the amounts are stored in.
        raise LedgerError(
            ResultCode.AMOUNT_EXCEEDS_BIGINT,
            f"amount {format_fen(fen, currency)} {currency} is beyond the largest amount the ledger stores "
            f"({format_fen(BIGINT_MAX, currency)} {currency})",
        )
    return fen


def to_fen(value: object, currency: str = DEFAULT_CURRENCY, *, thousands: bool = False) -> int:
    """Exact conversion to minor units. More places than the currency has is an error, never a rounding."""
    places = currency_places(currency)
    amount = to_decimal(value, thousands=thousands)
    if amount.is_zero():
        return 0
    scaled = amount.scaleb(places)
    if scaled != scaled.to_integral_value():
        raise LedgerError(
            ResultCode.AMOUNT_EXCEEDS_CURRENCY_PLACES,
            f"amount {_shown(value)} has more than {places} decimal places for {currency}",
        )
    return check_bigint(int(scaled), currency)


def from_fen(fen: int, currency: str = DEFAULT_CURRENCY) -> Decimal:
    places = currency_places(currency)
    return Decimal(fen).scaleb(-places).quantize(Decimal(1).scaleb(-places))


def format_fen(fen: int, currency: str = DEFAULT_CURRENCY) -> str:
    """Decimal string with the currency's places, as JSON and exports carry it: "1234.56"."""
    return str(from_fen(fen, currency))
