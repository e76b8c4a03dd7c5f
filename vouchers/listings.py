"""Read functions for listings (the HTTP API and pages): programs, grants, redemptions, settlements and payment
batches with their filters, and voucher usage by region and cross-region flow. Amounts are integer fen; each
listing is bounded (``LISTING_ROWS_MAX``) and ordered by id so a cursor can page it."""

from __future__ import annotations

import json
from datetime import date

from sqlalchemy import Connection, func, select

from vouchers.models import VoucherGrant, VoucherPaymentBatch, VoucherProgram, VoucherRedemption, VoucherSettlement

T_PROGRAMS = VoucherProgram.__table__
T_GRANTS = VoucherGrant.__table__
T_REDEMPTIONS = VoucherRedemption.__table__
T_SETTLEMENTS = VoucherSettlement.__table__
T_BATCHES = VoucherPaymentBatch.__table__
LISTING_ROWS_MAX = 10_000


def programs(conn: Connection, *, year: int | None = None) -> list[dict]:
    query = select(T_PROGRAMS).order_by(T_PROGRAMS.c.code).limit(LISTING_ROWS_MAX)
    if year is not None:
        query = query.where(T_PROGRAMS.c.year == year)
    return [_program(row) for row in conn.execute(query).mappings()]


def program(conn: Connection, code: str) -> dict | None:
    row = conn.execute(select(T_PROGRAMS).where(T_PROGRAMS.c.code == code)).mappings().first()
    return None if row is None else _program(row)


def _program(row) -> dict:  # noqa: ANN001 - a row mapping
    item = dict(row)
    item["config"] = json.loads(item.pop("config_json"))
    return item


def grants(
    conn: Connection,
    *,
    program: str | None = None,
    enterprise: str | None = None,
    status: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
) -> list[dict]:
    """Grants with the region of their program, oldest first."""
    query = (
        select(T_GRANTS, T_PROGRAMS.c.region_code, T_PROGRAMS.c.year)
        .join(T_PROGRAMS, T_PROGRAMS.c.code == T_GRANTS.c.program_code)
        .order_by(T_GRANTS.c.id)
        .limit(LISTING_ROWS_MAX)
    )
    for column, value in ((T_GRANTS.c.program_code, program), (T_GRANTS.c.enterprise_code, enterprise)):
        if value is not None:
            query = query.where(column == value)
    if status is not None:
        query = query.where(T_GRANTS.c.status == status)
    if date_from is not None:
        query = query.where(T_GRANTS.c.submitted_on >= date_from)
    if date_to is not None:
        query = query.where(T_GRANTS.c.submitted_on <= date_to)
    return [dict(row) for row in conn.execute(query).mappings()]


def grant(conn: Connection, grant_id: int) -> dict | None:
    row = (
        conn.execute(
            select(T_GRANTS, T_PROGRAMS.c.region_code, T_PROGRAMS.c.year)
            .join(T_PROGRAMS, T_PROGRAMS.c.code == T_GRANTS.c.program_code)
            .where(T_GRANTS.c.id == grant_id)
        )
        .mappings()
        .first()
    )
    return None if row is None else dict(row)


def redemptions(
    conn: Connection,
    *,
    program: str | None = None,
    enterprise: str | None = None,
    provider: str | None = None,
    status: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
) -> list[dict]:
    query = select(T_REDEMPTIONS).order_by(T_REDEMPTIONS.c.id).limit(LISTING_ROWS_MAX)
    for column, value in (
        (T_REDEMPTIONS.c.program_code, program),
        (T_REDEMPTIONS.c.enterprise_code, enterprise),
        (T_REDEMPTIONS.c.provider_code, provider),
        (T_REDEMPTIONS.c.status, status),
    ):
        if value is not None:
            query = query.where(column == value)
    if date_from is not None:
        query = query.where(T_REDEMPTIONS.c.reserved_on >= date_from)
    if date_to is not None:
        query = query.where(T_REDEMPTIONS.c.reserved_on <= date_to)
    return [dict(row) for row in conn.execute(query).mappings()]


def redemption(conn: Connection, redemption_id: int) -> dict | None:
    row = conn.execute(select(T_REDEMPTIONS).where(T_REDEMPTIONS.c.id == redemption_id)).mappings().first()
    return None if row is None else dict(row)


def settlements(conn: Connection) -> list[dict]:
    query = select(T_SETTLEMENTS).order_by(T_SETTLEMENTS.c.id).limit(LISTING_ROWS_MAX)
    return [dict(row) for row in conn.execute(query).mappings()]


def settlement(conn: Connection, settlement_id: int) -> dict | None:
    row = conn.execute(select(T_SETTLEMENTS).where(T_SETTLEMENTS.c.id == settlement_id)).mappings().first()
    return None if row is None else dict(row)


def payment_batches(conn: Connection, *, status: str | None = None) -> list[dict]:
    query = select(T_BATCHES).order_by(T_BATCHES.c.id).limit(LISTING_ROWS_MAX)
    if status is not None:
        query = query.where(T_BATCHES.c.status == status)
    return [dict(row) for row in conn.execute(query).mappings()]


def payment_batch(conn: Connection, batch_id: int) -> dict | None:
    row = conn.execute(select(T_BATCHES).where(T_BATCHES.c.id == batch_id)).mappings().first()
    return None if row is None else dict(row)


def usage_flows(conn: Connection, *, year: int | None = None) -> list[dict]:
    """Claimed redemptions per (enterprise's region, provider's region, mode): count, claimed and each side's
    share. A row whose two regions are equal is local use; the others are the cross-region flows."""
    query = (
        select(
            T_REDEMPTIONS.c.enterprise_region,
            T_REDEMPTIONS.c.provider_region,
            T_REDEMPTIONS.c.mode,
            func.count().label("redemptions"),
            func.coalesce(func.sum(T_REDEMPTIONS.c.claimed_fen), 0).label("claimed_fen"),
            func.coalesce(func.sum(T_REDEMPTIONS.c.enterprise_share_fen), 0).label("enterprise_share_fen"),
            func.coalesce(func.sum(T_REDEMPTIONS.c.provider_share_fen), 0).label("provider_share_fen"),
        )
        .join(T_PROGRAMS, T_PROGRAMS.c.code == T_REDEMPTIONS.c.program_code)
        .where(T_REDEMPTIONS.c.status == "claimed")
        .group_by(T_REDEMPTIONS.c.enterprise_region, T_REDEMPTIONS.c.provider_region, T_REDEMPTIONS.c.mode)
        .order_by(T_REDEMPTIONS.c.enterprise_region, T_REDEMPTIONS.c.provider_region, T_REDEMPTIONS.c.mode)
    )
    if year is not None:
        query = query.where(T_PROGRAMS.c.year == year)
    return [
        {key: (int(value) if key.endswith("_fen") or key == "redemptions" else value) for key, value in row.items()}
        for row in conn.execute(query).mappings()
    ]
