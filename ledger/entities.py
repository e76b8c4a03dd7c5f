"""Entities: regions by 6-digit 行政区划 code and institutions by 统一社会信用代码 (GB 32100-2015)."""

from __future__ import annotations

import re

from ledger.errors import LedgerError, ResultCode

# GB 32100-2015: 31 characters (digits and capitals without I, O, S, V, Z) and the weights of positions 1-17.
CREDIT_CODE_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_CODE_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
CREDIT_CODE_LENGTH = 18
REGION_CODE_LENGTH = 6

INSTITUTION_KINDS = (
    "enterprise",
    "university",
    "research_institute",
    "bank",
    "service_provider",
    "fund_manager",
    "government",
    "other",
)


def credit_code_check_character(first_seventeen: str) -> str:
    total = sum(CREDIT_CODE_CHARSET.index(char) * weight for char, weight in zip(first_seventeen, CREDIT_CODE_WEIGHTS))
    return CREDIT_CODE_CHARSET[(31 - total % 31) % 31]


def validate_credit_code(code: str) -> str:
    """Return the code upper-cased if it is a valid 统一社会信用代码; refuse it with the reason otherwise."""
    normalized = (code or "").strip().upper()
    if len(normalized) != CREDIT_CODE_LENGTH:
        raise LedgerError(
            ResultCode.CREDIT_CODE_INVALID,
            f"统一社会信用代码 {code!r} must have {CREDIT_CODE_LENGTH} characters, not {len(normalized)}",
        )
    bad = [char for char in normalized if char not in CREDIT_CODE_CHARSET]
    if bad:
        raise LedgerError(
            ResultCode.CREDIT_CODE_INVALID,
            f"统一社会信用代码 {code!r} contains {''.join(bad)!r}, outside the GB 32100 character set",
        )
    expected = credit_code_check_character(normalized[:17])
    if normalized[17] != expected:
        raise LedgerError(
            ResultCode.CREDIT_CODE_INVALID,
            f"统一社会信用代码 {code!r} fails its GB 32100 check character: "
            f"expected {expected!r}, got {normalized[17]!r}",
        )
    return normalized


def validate_region_code(code: str) -> str:
    if not re.fullmatch(r"[1-9][0-9]{5}", code or ""):
        raise LedgerError(ResultCode.REGION_CODE_INVALID, f"region code {code!r} must be 6 digits (行政区划代码)")
    return code


def region_level(code: str) -> str:
    """province (xx0000), city (xxxx00) or county: the level a 6-digit code names."""
    validate_region_code(code)
    if code.endswith("0000"):
        return "province"
    if code.endswith("00"):
        return "city"
    return "county"


def region_parent(code: str) -> str | None:
    level = region_level(code)
    if level == "province":
        return None
    if level == "city":
        return code[:2] + "0000"
    # Municipalities' counties (e.g. 310101) belong to the 3101 "city" code.
    return code[:4] + "00"


def region_at_level(code: str, level: str) -> str:
    """The ancestor code at ``level``: region_at_level("440106", "city") == "440100"."""
    validate_region_code(code)
    prefix = {"province": 2, "city": 4, "county": 6}[level]
    return code[:prefix].ljust(REGION_CODE_LENGTH, "0")
