"""Helpers shared by the pool and fund services: units of work, audit trail, flags, maker-checker."""

from __future__ import annotations

import json
from contextlib import contextmanager

from sqlalchemy import Connection, select

from funds.codes import FundsCode
from funds.models import FundsEvent, FundsFlag
from ledger.engine import T_ACCOUNTS, T_BOOKS, Ledger, utc_now
from ledger.errors import LedgerError

SOURCE = "funds"  # idempotency namespace of every ledger request this package makes

T_EVENTS = FundsEvent.__table__
T_FLAGS = FundsFlag.__table__


@contextmanager
def unit_of_work(ledger: Ledger, conn: Connection | None):
    """Join the caller's transaction, or open one that commits when the command succeeds."""
    if conn is not None:
        yield conn
        return
    with ledger.engine.begin() as own:
        yield own


def require_maker_checker(recorded_by: str, approver: str) -> None:
    """不相容岗位分离: the person who approves is never the person who recorded."""
    if not approver or not approver.strip():
        raise LedgerError(FundsCode.APPROVER_MUST_DIFFER_FROM_RECORDER, "an approver must be named")
    if approver.strip() == (recorded_by or "").strip():
        raise LedgerError(
            FundsCode.APPROVER_MUST_DIFFER_FROM_RECORDER,
            f"{approver!r} recorded this and cannot approve it; another person must",
            recorded_by=recorded_by,
        )


def record_event(conn: Connection, subject_type: str, subject_id: int, action: str, actor: str, **detail) -> None:
    conn.execute(
        T_EVENTS.insert().values(
            subject_type=subject_type,
            subject_id=subject_id,
            action=action,
            actor=actor,
            detail_json=json.dumps(detail, ensure_ascii=False, sort_keys=True, default=str),
            recorded_at=utc_now(),
        )
    )


def record_flag(
    conn: Connection,
    subject_type: str,
    subject_id: int,
    code: FundsCode,
    enforcement: str,
    message: str,
    *,
    amount_fen: int | None = None,
    limit_fen: int | None = None,
) -> None:
    conn.execute(
        T_FLAGS.insert().values(
            subject_type=subject_type,
            subject_id=subject_id,
            code=str(code),
            enforcement=enforcement,
            message=message,
            amount_fen=amount_fen,
            limit_fen=limit_fen,
            recorded_at=utc_now(),
        )
    )


def flags_for(ledger: Ledger, subject_type: str, subject_id: int) -> list[dict]:
    with ledger.engine.connect() as conn:
        rows = conn.execute(
            select(T_FLAGS)
            .where(T_FLAGS.c.subject_type == subject_type, T_FLAGS.c.subject_id == subject_id)
            .order_by(T_FLAGS.c.id)
        ).mappings()
        return [dict(row) for row in rows]


def available_debit_balance_fen(conn: Connection, book: str, path: str) -> int:
    """Posted debit balance less pending credits, read inside the caller's transaction (sees its own writes)."""
    row = conn.execute(
        select(T_ACCOUNTS.c.debits_posted, T_ACCOUNTS.c.credits_posted, T_ACCOUNTS.c.credits_pending)
        .join(T_BOOKS, T_BOOKS.c.id == T_ACCOUNTS.c.book_id)
        .where(T_BOOKS.c.code == book, T_ACCOUNTS.c.path == path)
    ).one()
    return row.debits_posted - row.credits_posted - row.credits_pending


def fetch_one(conn: Connection, table, what: str, **where) -> dict:
    query = select(table)
    for column, value in where.items():
        query = query.where(table.c[column] == value)
    row = conn.execute(query).mappings().first()
    if row is None:
        raise LedgerError(FundsCode.NOT_FOUND, f"no {what} with {where}")
    return dict(row)


def lock_row(conn: Connection, table, what: str, **where) -> dict:
    """Read a row FOR UPDATE (PostgreSQL); SQLite writers are already serialized by BEGIN IMMEDIATE."""
    query = select(table).with_for_update()
    for column, value in where.items():
        query = query.where(table.c[column] == value)
    row = conn.execute(query).mappings().first()
    if row is None:
        raise LedgerError(FundsCode.NOT_FOUND, f"no {what} with {where}")
    return dict(row)


def balance_in(conn: Connection, book: str, path: str) -> int:
    """Debit-positive posted balance read inside the caller's transaction (SQLite allows one writer, and a
    second connection would wait on it)."""
    row = conn.execute(
        select(T_ACCOUNTS.c.debits_posted, T_ACCOUNTS.c.credits_posted)
        .join(T_BOOKS, T_BOOKS.c.id == T_ACCOUNTS.c.book_id)
        .where(T_BOOKS.c.code == book, T_ACCOUNTS.c.path == path)
    ).one()
    return row.debits_posted - row.credits_posted
