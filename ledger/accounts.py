"""Account types, the books they may live in, and their normal sides. Pure: no storage here."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ledger.errors import LedgerError, ResultCode

BASES = ("financial", "budgetary", "memo")

# First path segment -> (basis of the books that may hold it, normal side).
ACCOUNT_TYPES: dict[str, tuple[str, str | None]] = {
    "Assets": ("financial", "debit"),
    "Liabilities": ("financial", "credit"),
    "NetAssets": ("financial", "credit"),
    "Revenue": ("financial", "credit"),
    "Expenses": ("financial", "debit"),
    "BudgetRevenue": ("budgetary", "credit"),
    "BudgetExpenditure": ("budgetary", "debit"),
    "BudgetBalance": ("budgetary", "credit"),
    # Memo accounts (commitments, quotas, limits) declare their own normal side.
    "Memo": ("memo", None),
}
# ledger-cli and beancount spell two of the financial types differently; imports accept both.
TYPE_ALIASES = {"Equity": "NetAssets", "Income": "Revenue"}
ACCOUNT_PATH_MAX_LENGTH = 400
# Segments: no colon, no leading blank, no control character anywhere (PostgreSQL cannot store a NUL, and a
# newline or tab would break the beancount and ledger exports).
_SEGMENT = re.compile(r"^[^\s:\x00-\x1f\x7f][^:\x00-\x1f\x7f]*$")


@dataclass(frozen=True, slots=True)
class AccountType:
    name: str
    basis: str
    normal_side: str


def account_type(path: str, *, normal_side: str | None = None) -> AccountType:
    """The type a colon path names by its first segment, e.g. ``Liabilities:Payables:440100``."""
    if not path or len(path) > ACCOUNT_PATH_MAX_LENGTH:
        raise LedgerError(ResultCode.ACCOUNT_NAME_INVALID, f"account name {path!r} is empty or too long")
    segments = path.split(":")
    if any(not _SEGMENT.match(segment) or segment != segment.strip() for segment in segments):
        raise LedgerError(
            ResultCode.ACCOUNT_NAME_INVALID,
            f"account name {path!r} must be colon-separated segments without blank parts or control characters",
        )
    first = TYPE_ALIASES.get(segments[0], segments[0])
    if first not in ACCOUNT_TYPES:
        allowed = ", ".join([*ACCOUNT_TYPES, *TYPE_ALIASES])
        raise LedgerError(ResultCode.ACCOUNT_NAME_INVALID, f"account {path!r} must start with one of: {allowed}")
    basis, default_side = ACCOUNT_TYPES[first]
    side = default_side or normal_side
    if side is None:
        raise LedgerError(
            ResultCode.MEMO_ACCOUNT_NEEDS_NORMAL_SIDE, f"memo account {path!r} needs a normal side: debit or credit"
        )
    if side not in ("debit", "credit"):
        raise LedgerError(ResultCode.ACCOUNT_NAME_INVALID, f"normal side {side!r} is not debit or credit")
    return AccountType(first, basis, side)


def check_type_allowed_in_book(kind: AccountType, path: str, book_code: str, book_basis: str) -> None:
    if kind.basis != book_basis:
        raise LedgerError(
            ResultCode.ACCOUNT_TYPE_NOT_ALLOWED_IN_BOOK,
            f"account {path!r} is a {kind.name} account ({kind.basis}); book {book_code!r} is {book_basis}",
        )


def path_at_depth(path: str, depth: int | None) -> str:
    if depth is None or depth <= 0:
        return path
    return ":".join(path.split(":")[:depth])
