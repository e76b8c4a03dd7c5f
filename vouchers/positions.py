"""An enterprise's voucher positions, per program and year, read in one statement.

granted = used + reserved + available + expired, each figure from its own source: the approved grants, the
enterprise's quota and quota-used memo accounts (their cached counters), the expiry records; paid is the part
of used that the treasury has paid out to providers in an approved payment batch (see ``vouchers.views``).

The HTTP API answers this read for every enterprise that looks at its vouchers, so it is one grouped query
(built once, compiled once by SQLAlchemy's cache) instead of a query per source and program: the memo book
and account paths are matched in SQL by the same formats ``vouchers.books`` writes them with, taken apart
around a marker so the two cannot drift."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, and_, bindparam, func, literal, select

from ledger.db import read_only
from ledger.engine import Ledger
from vouchers import books
from vouchers.models import (
    VoucherGrant,
    VoucherPaymentBatch,
    VoucherPaymentLine,
    VoucherProgram,
    VoucherQuotaExpiry,
    VoucherRedemption,
)

T_GRANTS = VoucherGrant.__table__
T_PROGRAMS = VoucherProgram.__table__
T_EXPIRIES = VoucherQuotaExpiry.__table__
T_REDEMPTIONS = VoucherRedemption.__table__
T_BATCHES = VoucherPaymentBatch.__table__
T_LINES = VoucherPaymentLine.__table__
_MARKERS = ("\x00", "\x01")  # stand for the arguments of a format; never part of a code


@dataclass(frozen=True)
class QuotaPosition:
    program: str
    region: str
    year: int
    granted_fen: int
    available_fen: int
    reserved_fen: int
    used_fen: int
    expired_fen: int
    paid_fen: int = 0  # part of used paid out to providers (not a further part of granted)


def _formatted(format_with, *values: ColumnElement) -> ColumnElement:  # noqa: ANN001 - a code format
    """``format_with(*values)`` as a SQL expression: the format's own text around each argument,
    concatenated (``||`` on SQLite and PostgreSQL)."""
    text = format_with(*_MARKERS[: len(values)])
    parts: list[ColumnElement] = []
    for marker, value in zip(_MARKERS, values, strict=False):
        before, text = text.split(marker)
        parts += [literal(before), value]
    expression = parts[0]
    for part in [*parts[1:], literal(text)]:
        expression = expression + part
    return expression


def _positions_statement() -> Select:
    enterprise = bindparam("enterprise")
    granted = (
        select(T_GRANTS.c.program_code, func.sum(T_GRANTS.c.granted_fen).label("granted_fen"))
        .where(T_GRANTS.c.enterprise_code == enterprise, T_GRANTS.c.status == "approved")
        .group_by(T_GRANTS.c.program_code)
        .subquery("granted")
    )
    memo = books.T_BOOKS.alias("memo")
    quota = books.T_ACCOUNTS.alias("quota")
    used = books.T_ACCOUNTS.alias("quota_used")
    program = T_PROGRAMS.c.code
    quota_path = _formatted(books.enterprise_quota, program, enterprise)
    used_path = _formatted(books.enterprise_quota_used, program, enterprise)
    expired = (
        select(func.coalesce(func.sum(T_EXPIRIES.c.amount_fen), 0))
        .where(T_EXPIRIES.c.program_code == program, T_EXPIRIES.c.enterprise_code == enterprise)
        .scalar_subquery()
    )
    paid = (
        select(func.coalesce(func.sum(T_LINES.c.amount_fen), 0))
        .join(T_BATCHES, T_BATCHES.c.id == T_LINES.c.batch_id)
        .join(T_REDEMPTIONS, T_REDEMPTIONS.c.id == T_LINES.c.redemption_id)
        .where(
            T_BATCHES.c.status == "paid",
            T_REDEMPTIONS.c.program_code == program,
            T_REDEMPTIONS.c.enterprise_code == enterprise,
        )
        .scalar_subquery()
    )
    return (
        select(
            program,
            T_PROGRAMS.c.region_code,
            T_PROGRAMS.c.year,
            granted.c.granted_fen,
            func.coalesce(quota.c.credits_posted, 0),
            func.coalesce(quota.c.debits_posted, 0),
            func.coalesce(quota.c.debits_pending, 0),
            func.coalesce(used.c.credits_posted, 0),
            expired,
            paid,
        )
        .select_from(granted)
        .join(T_PROGRAMS, T_PROGRAMS.c.code == granted.c.program_code)
        .outerjoin(memo, memo.c.code == _formatted(books.memo_book, T_PROGRAMS.c.region_code))
        .outerjoin(quota, and_(quota.c.book_id == memo.c.id, quota.c.path == quota_path))
        .outerjoin(used, and_(used.c.book_id == memo.c.id, used.c.path == used_path))
        .order_by(T_PROGRAMS.c.year, program)
    )


POSITIONS = _positions_statement()


def enterprise_positions(ledger: Ledger, enterprise: str) -> list[QuotaPosition]:
    """Per program and year in which the enterprise holds an approved grant, oldest year first."""
    with read_only(ledger.engine).connect() as conn:
        rows = conn.execute(POSITIONS, positions_parameters(enterprise)).all()
    return positions_of_rows(rows)


def positions_parameters(enterprise: str) -> dict[str, str]:
    """The parameters of ``POSITIONS`` for one enterprise (for a caller that runs the statement itself, such
    as the HTTP API reading on its event loop)."""
    return {"enterprise": enterprise}


def positions_of_rows(rows: Sequence[Sequence]) -> list[QuotaPosition]:
    """The positions in the rows ``POSITIONS`` returned."""
    return [
        QuotaPosition(
            program=program,
            region=region,
            year=year,
            granted_fen=int(granted_fen),
            available_fen=int(credits) - int(debits) - int(pending),
            reserved_fen=int(pending),
            used_fen=int(used_credits),
            expired_fen=int(expired_fen),
            paid_fen=int(paid_fen),
        )
        for program, region, year, granted_fen, credits, debits, pending, used_credits, expired_fen, paid_fen in rows
    ]
