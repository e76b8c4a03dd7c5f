"""Money: ``decimal.Decimal`` at the edges, integer fen (minor units) in storage.

A float is refused wherever money enters: binary floating point cannot hold 0.1 exactly, and a ledger
that is "correct to the fen" cannot start from an approximation.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from ledger.errors import LedgerError, ResultCode

DEFAULT_CURRENCY = "CNY"
# Minor-unit places per ISO 4217 currency. CNY: 1 元 = 100 分 (fen).
CURRENCY_PLACES: dict[str, int] = {"CNY": 2, "USD": 2, "EUR": 2, "HKD": 2, "JPY": 0}
# Storage is a signed 64-bit integer on both SQLite and PostgreSQL; beyond it is an error, not a wrap.
BIGINT_MAX = 2**63 - 1
BIGINT_MIN = -(2**63)


def currency_places(currency: str) -> int:
    try:
        return CURRENCY_PLACES[currency]
    except KeyError:
        raise LedgerError(ResultCode.CURRENCY_UNKNOWN, f"currency {currency!r} is not configured") from None


def to_decimal(value: object) -> Decimal:
    """Turn a str, int or Decimal into a finite Decimal; refuse floats and anything else."""
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
        text = value.strip().replace(",", "")
        try:
            result = Decimal(text)
        except InvalidOperation:
            raise LedgerError(ResultCode.AMOUNT_INVALID, f"amount {value!r} is not a decimal number") from None
    else:
        raise LedgerError(ResultCode.AMOUNT_INVALID, f"amount {value!r} is not a decimal number")
    if not result.is_finite():
        raise LedgerError(ResultCode.AMOUNT_INVALID, f"amount {value!r} is not finite")
    return result


def check_bigint(fen: int) -> int:
    if fen > BIGINT_MAX or fen < BIGINT_MIN:
        raise LedgerError(ResultCode.AMOUNT_EXCEEDS_BIGINT, f"amount of {fen} minor units exceeds a 64-bit integer")
    return fen


def to_fen(value: object, currency: str = DEFAULT_CURRENCY) -> int:
    """Exact conversion to minor units. More places than the currency has is an error, never a rounding."""
    amount = to_decimal(value)
    places = currency_places(currency)
    scaled = amount.scaleb(places)
    if scaled != scaled.to_integral_value():
        raise LedgerError(
            ResultCode.AMOUNT_EXCEEDS_CURRENCY_PLACES,
            f"amount {value} has more than {places} decimal places for {currency}",
        )
    return check_bigint(int(scaled))


def from_fen(fen: int, currency: str = DEFAULT_CURRENCY) -> Decimal:
    places = currency_places(currency)
    return Decimal(fen).scaleb(-places).quantize(Decimal(1).scaleb(-places))


def format_fen(fen: int, currency: str = DEFAULT_CURRENCY) -> str:
    """Decimal string with the currency's places, as JSON and exports carry it: "1234.56"."""
    return str(from_fen(fen, currency))
