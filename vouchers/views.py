"""What an enterprise sees: per program and year, granted = used + reserved + available + expired, and its
redemption history. Each figure comes from its own source (grants, quota accounts, expiry records), so the
identity is a real check, not a tautology."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from ledger.engine import Ledger
from vouchers import books
from vouchers.models import VoucherGrant, VoucherProgram, VoucherQuotaExpiry, VoucherRedemption

T_GRANTS = VoucherGrant.__table__
T_PROGRAMS = VoucherProgram.__table__
T_EXPIRIES = VoucherQuotaExpiry.__table__
T_REDEMPTIONS = VoucherRedemption.__table__


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


def enterprise_positions(ledger: Ledger, enterprise: str) -> list[QuotaPosition]:
    with ledger.engine.connect() as conn:
        rows = conn.execute(
            select(T_PROGRAMS.c.code, T_PROGRAMS.c.region_code, T_PROGRAMS.c.year, func.sum(T_GRANTS.c.granted_fen))
            .join(T_GRANTS, T_GRANTS.c.program_code == T_PROGRAMS.c.code)
            .where(T_GRANTS.c.enterprise_code == enterprise, T_GRANTS.c.status == "approved")
            .group_by(T_PROGRAMS.c.code, T_PROGRAMS.c.region_code, T_PROGRAMS.c.year)
            .order_by(T_PROGRAMS.c.year, T_PROGRAMS.c.code)
        ).all()
        positions = []
        for program, region, year, granted_fen in rows:
            memo = books.memo_book(region)
            quota = books.account_state(conn, memo, books.enterprise_quota(program, enterprise))
            used = books.account_state(conn, memo, books.enterprise_quota_used(program, enterprise))
            expired_fen = conn.execute(
                select(func.coalesce(func.sum(T_EXPIRIES.c.amount_fen), 0)).where(
                    T_EXPIRIES.c.program_code == program, T_EXPIRIES.c.enterprise_code == enterprise
                )
            ).scalar_one()
            positions.append(
                QuotaPosition(
                    program=program,
                    region=region,
                    year=year,
                    granted_fen=int(granted_fen),
                    available_fen=quota["credits_posted"] - quota["debits_posted"] - quota["debits_pending"],
                    reserved_fen=quota["debits_pending"],
                    used_fen=used["credits_posted"],
                    expired_fen=int(expired_fen),
                )
            )
        return positions


def redemption_history(ledger: Ledger, enterprise: str, *, limit: int = 200) -> list[dict]:
    with ledger.engine.connect() as conn:
        rows = conn.execute(
            select(T_REDEMPTIONS)
            .where(T_REDEMPTIONS.c.enterprise_code == enterprise)
            .order_by(T_REDEMPTIONS.c.reserved_on, T_REDEMPTIONS.c.id)
            .limit(limit)
        ).mappings()
        return [dict(row) for row in rows]
