"""Read functions of the funds package: the rows behind guidance funds, sub-funds and risk pools as plain
dicts (money in integer fen), in id order, for the edges (HTTP, pages, CLI) to filter by scope and page.

Each reads through its own connection unless given the caller's (a dry run reads its own would-be rows)."""

from __future__ import annotations

from contextlib import contextmanager

from sqlalchemy import Connection, select

from funds.common import T_FLAGS, T_REQUESTS, budget_book
from funds.guidance import (
    T_CALL_ITEMS,
    T_CALLS,
    T_COMMITMENTS,
    T_DISTRIBUTION_PARTS,
    T_DISTRIBUTIONS,
    T_EXITS,
    T_FEES,
    T_GUIDANCE,
    T_INVESTMENTS,
    T_SUBFUNDS,
    T_VALUATIONS,
    gf_book,
    sf_book,
)
from funds.pools import (
    T_AGREEMENTS,
    T_CLAIMS,
    T_FUNDERS,
    T_LOANS,
    T_PAYMENT_PARTS,
    T_POOLS,
    T_RECOVERIES,
    financial_book,
    memo_book,
)
from ledger.engine import Ledger


@contextmanager
def _reading(ledger: Ledger, conn: Connection | None):
    if conn is not None:
        yield conn
        return
    with ledger.reader.connect() as own:
        yield own


def _rows(conn: Connection, query) -> list[dict]:  # noqa: ANN001 - a SQLAlchemy select
    return [dict(row) for row in conn.execute(query).mappings()]


def request_recorded(conn: Connection, client_id: str) -> bool:
    """Whether a domain call with this key has already been recorded (its retry replays the stored result)."""
    return conn.execute(select(T_REQUESTS.c.id).where(T_REQUESTS.c.client_id == client_id)).first() is not None


def flags(ledger: Ledger, subject_type: str, subject_id: int, *, conn: Connection | None = None) -> list[dict]:
    with _reading(ledger, conn) as c:
        return _rows(
            c,
            select(T_FLAGS)
            .where(T_FLAGS.c.subject_type == subject_type, T_FLAGS.c.subject_id == subject_id)
            .order_by(T_FLAGS.c.id),
        )


# ----- the regions behind each book ------------------------------------------------------------------


def book_regions(ledger: Ledger, *, conn: Connection | None = None) -> dict[str, tuple[str, ...]]:
    """Every book this package opens, with the regions whose finance offices oversee it: a guidance fund's
    three books (financial, commitments memo, budgetary) its region's; a sub-fund's two books its guidance
    fund's region's; a pool's three books every funder's (a pool is funded by several levels, each of
    which oversees it). The books carry no entity of their own, so this is how a scope finds their region."""
    owners: dict[str, tuple[str, ...]] = {}
    with _reading(ledger, conn) as c:
        for code, region in c.execute(select(T_GUIDANCE.c.code, T_GUIDANCE.c.region_code)):
            book = gf_book(code)
            for each in (book, f"{book}:memo", budget_book(book)):
                owners[each] = (region,)
        subfund_regions = select(T_SUBFUNDS.c.code, T_GUIDANCE.c.region_code).join(
            T_GUIDANCE, T_GUIDANCE.c.id == T_SUBFUNDS.c.guidance_fund_id
        )
        for code, region in c.execute(subfund_regions):
            book = sf_book(code)
            for each in (book, f"{book}:memo"):
                owners[each] = (region,)
        funders: dict[str, list[str]] = {}
        pool_funders = (
            select(T_POOLS.c.code, T_FUNDERS.c.funder_code)
            .join(T_FUNDERS, T_FUNDERS.c.pool_id == T_POOLS.c.id)
            .order_by(T_POOLS.c.code, T_FUNDERS.c.position)
        )
        for code, funder in c.execute(pool_funders):
            funders.setdefault(code, []).append(funder)
    for code, regions in funders.items():
        for each in (financial_book(code), memo_book(code), budget_book(financial_book(code))):
            owners[each] = tuple(regions)
    return owners


# ----- guidance funds and sub-funds ------------------------------------------------------------------


def guidance_funds(ledger: Ledger, *, conn: Connection | None = None) -> list[dict]:
    with _reading(ledger, conn) as c:
        return _rows(c, select(T_GUIDANCE).order_by(T_GUIDANCE.c.id))


def guidance_fund(ledger: Ledger, code: str) -> dict | None:
    with _reading(ledger, None) as c:
        return next(iter(_rows(c, select(T_GUIDANCE).where(T_GUIDANCE.c.code == code))), None)


def subfunds(ledger: Ledger, *, conn: Connection | None = None) -> list[dict]:
    """Every sub-fund with its guidance fund's code and region (``guidance_code``, ``region_code``)."""
    query = (
        select(T_SUBFUNDS, T_GUIDANCE.c.code.label("guidance_code"), T_GUIDANCE.c.region_code)
        .join(T_GUIDANCE, T_GUIDANCE.c.id == T_SUBFUNDS.c.guidance_fund_id)
        .order_by(T_SUBFUNDS.c.id)
    )
    with _reading(ledger, conn) as c:
        return _rows(c, query)


def subfund(ledger: Ledger, code: str, *, conn: Connection | None = None) -> dict | None:
    return next((row for row in subfunds(ledger, conn=conn) if row["code"] == code), None)


def _subfund_rows(ledger: Ledger, table, subfund_id: int | None, conn: Connection | None) -> list[dict]:  # noqa: ANN001
    query = select(table, T_SUBFUNDS.c.code.label("subfund_code")).join(
        T_SUBFUNDS, T_SUBFUNDS.c.id == table.c.subfund_id
    )
    if subfund_id is not None:
        query = query.where(table.c.subfund_id == subfund_id)
    with _reading(ledger, conn) as c:
        return _rows(c, query.order_by(table.c.id))


def commitments(ledger: Ledger, subfund_id: int | None = None, *, conn: Connection | None = None) -> list[dict]:
    return _subfund_rows(ledger, T_COMMITMENTS, subfund_id, conn)


def capital_calls(ledger: Ledger, subfund_id: int | None = None, *, conn: Connection | None = None) -> list[dict]:
    """Calls with their items (``items``: investor, amount_fen, paid_fen)."""
    calls = _subfund_rows(ledger, T_CALLS, subfund_id, conn)
    with _reading(ledger, conn) as c:
        items = _rows(c, select(T_CALL_ITEMS).order_by(T_CALL_ITEMS.c.id))
    for call in calls:
        call["items"] = [item for item in items if item["call_id"] == call["id"]]
    return calls


def investments(ledger: Ledger, subfund_id: int | None = None, *, conn: Connection | None = None) -> list[dict]:
    return _subfund_rows(ledger, T_INVESTMENTS, subfund_id, conn)


def investment_exits(ledger: Ledger, investment_id: int, *, conn: Connection | None = None) -> list[dict]:
    with _reading(ledger, conn) as c:
        return _rows(c, select(T_EXITS).where(T_EXITS.c.investment_id == investment_id).order_by(T_EXITS.c.id))


def valuations(ledger: Ledger, subfund_id: int, *, conn: Connection | None = None) -> list[dict]:
    return _subfund_rows(ledger, T_VALUATIONS, subfund_id, conn)


def fee_accruals(ledger: Ledger, subfund_id: int, *, conn: Connection | None = None) -> list[dict]:
    return _subfund_rows(ledger, T_FEES, subfund_id, conn)


def distributions(ledger: Ledger, subfund_id: int | None = None, *, conn: Connection | None = None) -> list[dict]:
    """Distributions with their investors' parts (``parts``: investor, capital_fen, income_fen)."""
    rows = _subfund_rows(ledger, T_DISTRIBUTIONS, subfund_id, conn)
    with _reading(ledger, conn) as c:
        parts = _rows(c, select(T_DISTRIBUTION_PARTS).order_by(T_DISTRIBUTION_PARTS.c.id))
    for row in rows:
        row["parts"] = [part for part in parts if part["distribution_id"] == row["id"]]
    return rows


# ----- risk-compensation pools ---------------------------------------------------------------------------


def pools(ledger: Ledger, *, conn: Connection | None = None) -> list[dict]:
    """Every pool with its funders (``funders``: funder_code, level, share) and partner banks (``banks``)."""
    with _reading(ledger, conn) as c:
        rows = _rows(c, select(T_POOLS).order_by(T_POOLS.c.id))
        funders = _rows(c, select(T_FUNDERS).order_by(T_FUNDERS.c.pool_id, T_FUNDERS.c.position))
        agreements = _rows(c, select(T_AGREEMENTS).order_by(T_AGREEMENTS.c.id))
    for row in rows:
        row["funders"] = [funder for funder in funders if funder["pool_id"] == row["id"]]
        row["banks"] = [agreement for agreement in agreements if agreement["pool_id"] == row["id"]]
    return rows


def pool(ledger: Ledger, code: str) -> dict | None:
    return next((row for row in pools(ledger) if row["code"] == code), None)


def _with_pool_code(table):  # noqa: ANN001, ANN202
    return select(table, T_POOLS.c.code.label("pool_code")).join(T_POOLS, T_POOLS.c.id == table.c.pool_id)


def loans(ledger: Ledger, *, conn: Connection | None = None) -> list[dict]:
    with _reading(ledger, conn) as c:
        return _rows(c, _with_pool_code(T_LOANS).order_by(T_LOANS.c.id))


def loan(ledger: Ledger, loan_id: int, *, conn: Connection | None = None) -> dict | None:
    with _reading(ledger, conn) as c:
        return next(iter(_rows(c, _with_pool_code(T_LOANS).where(T_LOANS.c.id == loan_id))), None)


def claims(ledger: Ledger, *, conn: Connection | None = None) -> list[dict]:
    with _reading(ledger, conn) as c:
        return _rows(c, _with_pool_code(T_CLAIMS).order_by(T_CLAIMS.c.id))


def claim(ledger: Ledger, claim_id: int, *, conn: Connection | None = None) -> dict | None:
    """A claim with each funder's portion of what it paid (``payment_parts``: funder code → fen)."""
    with _reading(ledger, conn) as c:
        row = next(iter(_rows(c, _with_pool_code(T_CLAIMS).where(T_CLAIMS.c.id == claim_id))), None)
        if row is None:
            return None
        parts = c.execute(
            select(T_PAYMENT_PARTS.c.funder_code, T_PAYMENT_PARTS.c.amount_fen).where(
                T_PAYMENT_PARTS.c.claim_id == claim_id
            )
        ).all()
    row["payment_parts"] = {}
    for funder_code, amount_fen in parts:
        row["payment_parts"][funder_code] = row["payment_parts"].get(funder_code, 0) + amount_fen
    return row


def recoveries(ledger: Ledger, claim_id: int | None = None, *, conn: Connection | None = None) -> list[dict]:
    query = select(T_RECOVERIES).order_by(T_RECOVERIES.c.id)
    if claim_id is not None:
        query = query.where(T_RECOVERIES.c.claim_id == claim_id)
    with _reading(ledger, conn) as c:
        return _rows(c, query)
