"""Helpers shared by the pool and fund services: units of work, audit trail, flags, maker-checker."""

from __future__ import annotations

import hashlib
import json
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, select, text
from sqlalchemy.exc import IntegrityError

from funds.codes import FundsCode
from funds.models import FundsEvent, FundsFlag, FundsRequest
from ledger.engine import T_ACCOUNTS, T_BOOKS, Ledger, utc_now
from ledger.entries import PostingSpec
from ledger.errors import LedgerError, ResultCode
from ledger.money import format_fen

SOURCE = "funds"  # idempotency namespace of every ledger request this package makes

T_EVENTS = FundsEvent.__table__
T_FLAGS = FundsFlag.__table__
T_REQUESTS = FundsRequest.__table__

# 政府会计制度's dual function: every receipt or payment of public money in a fund's or pool's financial book
# has its budgetary entry in the same transaction, against the cash it moves (资金结存).
BUDGET_CASH = "BudgetBalance:Funds"
CLIENT_ID_MAX_LENGTH = 200

_NOT_SEEN = object()


def _content_hash(operation: str, content: dict[str, Any]) -> str:
    canonical = json.dumps({"operation": operation, **content}, ensure_ascii=False, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def budget_book(financial_book: str) -> str:
    return f"{financial_book}:budget"


def budget_legs(financial_book: str, counter_legs: list[tuple[str, int]]) -> list[PostingSpec]:
    """Budgetary entry of a cash movement: each ``(path, cash_fen)`` is debit-positive cash moved (a receipt is
    positive, booked to a ``BudgetRevenue`` path; a payment negative, to a ``BudgetExpenditure`` path), and
    ``BUDGET_CASH`` takes the total, so the budgetary cash always equals the bank account it mirrors."""
    book = budget_book(financial_book)
    legs = [PostingSpec(book, path, format_fen(-cash_fen)) for path, cash_fen in counter_legs if cash_fen]
    total_fen = sum(cash_fen for _, cash_fen in counter_legs)
    if total_fen or legs:
        legs.append(PostingSpec(book, BUDGET_CASH, format_fen(total_fen)))
    return legs


def require_client_id(client_id: str) -> str:
    if not isinstance(client_id, str) or not client_id.strip() or len(client_id) > CLIENT_ID_MAX_LENGTH:
        raise LedgerError(
            FundsCode.CLIENT_ID_INVALID,
            f"a money-moving call needs the caller's own key (client_id), 1-{CLIENT_ID_MAX_LENGTH} characters",
        )
    return client_id


def replayed(conn: Connection, operation: str, client_id: str, content: dict[str, Any]) -> Any:
    """The stored result of an earlier call with this key and content (``NOT_SEEN`` when there was none).

    The same key with other content (or for another operation) is refused: a caller's key names one call."""
    require_client_id(client_id)
    _hold_key(conn, client_id)
    row = conn.execute(
        select(T_REQUESTS.c.operation, T_REQUESTS.c.content_hash, T_REQUESTS.c.result_json).where(
            T_REQUESTS.c.client_id == client_id
        )
    ).first()
    if row is None:
        return _NOT_SEEN
    if row.operation != operation or row.content_hash != _content_hash(operation, content):
        raise LedgerError(
            ResultCode.EXISTS_WITH_DIFFERENT_CONTENT,
            f"key {client_id!r} was used for another {row.operation} call; a retry must repeat it exactly",
            client_id=client_id,
        )
    return json.loads(row.result_json)


def _hold_key(conn: Connection, client_id: str) -> None:
    """On PostgreSQL a key is held for its call's transaction (a transaction-scoped advisory lock): a second
    call with the key while the first is in flight is refused at once as ``request_in_flight`` (its retry
    after the first commits gets the stored result). Without it both pass the lookup and the loser fails on
    whichever unique row it writes first: a domain row, a ledger posting or the stored result, and not always
    as a named refusal. SQLite writers already take turns for the whole unit of work."""
    if conn.dialect.name != "postgresql":
        return
    held = conn.execute(
        # advisory locks are shared by the whole database: the schema keeps two ledgers in it apart
        text("SELECT pg_try_advisory_xact_lock(hashtextextended(current_schema() || ':' || :key, 0))"),
        {"key": f"funds-request:{client_id}"},
    ).scalar_one()
    if not held:
        raise LedgerError(
            FundsCode.REQUEST_IN_FLIGHT,
            f"another call with key {client_id!r} is being recorded; retry to get its result",
            client_id=client_id,
        )


def is_new(result: Any) -> bool:
    return result is _NOT_SEEN


def remember(conn: Connection, operation: str, client_id: str, content: dict[str, Any], result: Any) -> Any:
    """Keep this call's result under its key (in the command's own transaction: both commit or neither).

    Two concurrent calls with one key both pass ``replayed``; the second one's insert waits on the unique key
    and fails once the first commits. It is refused whole (its transaction rolls back) with a named code, and
    the caller's retry then gets the first call's stored result."""
    try:
        with conn.begin_nested():
            conn.execute(
                T_REQUESTS.insert().values(
                    client_id=client_id,
                    operation=operation,
                    content_hash=_content_hash(operation, content),
                    result_json=json.dumps(result, ensure_ascii=False, sort_keys=True),
                    recorded_at=utc_now(),
                )
            )
    except IntegrityError:
        raise LedgerError(
            FundsCode.REQUEST_IN_FLIGHT,
            f"another call with key {client_id!r} was recorded meanwhile; retry to get its result",
            client_id=client_id,
        ) from None
    return result


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
