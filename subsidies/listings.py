"""Read functions for listings (the HTTP API and pages): installed programs with their region, applications,
grants (with their flags) and clawbacks, each with the region of its program so a caller can filter by scope.
Amounts are integer fen; each listing is bounded (``LISTING_ROWS_MAX``) and ordered by id."""

from __future__ import annotations

from sqlalchemy import Connection, select

from subsidies.config import ProgramConfig, stored_program
from subsidies.models import APPLICATIONS, CLAWBACKS, FLAGS, GRANTS, PROGRAMS

LISTING_ROWS_MAX = 10_000


def programs(conn: Connection) -> list[tuple[dict, ProgramConfig]]:
    """Each installed program's row (without its text) and its parsed rules."""
    rows = conn.execute(select(PROGRAMS).order_by(PROGRAMS.c.code).limit(LISTING_ROWS_MAX)).mappings()
    out = []
    for row in rows:
        item = dict(row)
        out.append((item, stored_program(item.pop("config_text"))))
    return out


def program_regions(conn: Connection) -> dict[str, str]:
    return {row["code"]: config.region for row, config in programs(conn)}


def book_regions(conn: Connection) -> dict[str, tuple[str, ...]]:
    """The books the installed programs post to (each names its budgetary and financial book), with the
    region of the programs using each: the finance office of that region keeps them. The books carry no
    entity of their own, so this is how a scope finds their region."""
    owners: dict[str, set[str]] = {}
    for _row, config in programs(conn):
        for book in (config.budget_book, config.financial_book):
            owners.setdefault(book, set()).add(config.region)
    return {book: tuple(sorted(regions)) for book, regions in owners.items()}


def applications(
    conn: Connection,
    *,
    program: str | None = None,
    institution: str | None = None,
    status: str | None = None,
    year: int | None = None,
) -> list[dict]:
    query = select(APPLICATIONS).order_by(APPLICATIONS.c.id).limit(LISTING_ROWS_MAX)
    for column, value in (
        (APPLICATIONS.c.program_code, program),
        (APPLICATIONS.c.institution_code, institution),
        (APPLICATIONS.c.status, status),
        (APPLICATIONS.c.program_year, year),
    ):
        if value is not None:
            query = query.where(column == value)
    return _with_region(conn, [dict(row) for row in conn.execute(query).mappings()])


def application(conn: Connection, application_id: int) -> dict | None:
    row = conn.execute(select(APPLICATIONS).where(APPLICATIONS.c.id == application_id)).mappings().first()
    return None if row is None else _with_region(conn, [dict(row)])[0]


def grants(
    conn: Connection,
    *,
    program: str | None = None,
    institution: str | None = None,
    status: str | None = None,
    year: int | None = None,
) -> list[dict]:
    query = select(GRANTS).order_by(GRANTS.c.id).limit(LISTING_ROWS_MAX)
    for column, value in (
        (GRANTS.c.program_code, program),
        (GRANTS.c.institution_code, institution),
        (GRANTS.c.status, status),
        (GRANTS.c.program_year, year),
    ):
        if value is not None:
            query = query.where(column == value)
    rows = [dict(row) for row in conn.execute(query).mappings()]
    flags: dict[int, list[dict]] = {}
    if rows:
        ids = [row["id"] for row in rows]
        for flag in conn.execute(select(FLAGS).where(FLAGS.c.grant_id.in_(ids)).order_by(FLAGS.c.id)).mappings():
            flags.setdefault(flag["grant_id"], []).append(dict(flag))
    for row in rows:
        row["flags"] = flags.get(row["id"], [])
    return _with_region(conn, rows)


def grant(conn: Connection, grant_id: int) -> dict | None:
    row = conn.execute(select(GRANTS).where(GRANTS.c.id == grant_id)).mappings().first()
    if row is None:
        return None
    item = dict(row)
    item["flags"] = [
        dict(flag)
        for flag in conn.execute(select(FLAGS).where(FLAGS.c.grant_id == grant_id).order_by(FLAGS.c.id)).mappings()
    ]
    return _with_region(conn, [item])[0]


def clawbacks(conn: Connection, *, status: str | None = None) -> list[dict]:
    """Clawbacks with their grant's program, institution and amount."""
    query = (
        select(CLAWBACKS, GRANTS.c.program_code, GRANTS.c.institution_code, GRANTS.c.amount_fen)
        .join(GRANTS, GRANTS.c.id == CLAWBACKS.c.grant_id)
        .order_by(CLAWBACKS.c.id)
        .limit(LISTING_ROWS_MAX)
    )
    if status is not None:
        query = query.where(CLAWBACKS.c.status == status)
    return _with_region(conn, [dict(row) for row in conn.execute(query).mappings()])


def clawback(conn: Connection, clawback_id: int) -> dict | None:
    query = (
        select(CLAWBACKS, GRANTS.c.program_code, GRANTS.c.institution_code, GRANTS.c.amount_fen)
        .join(GRANTS, GRANTS.c.id == CLAWBACKS.c.grant_id)
        .where(CLAWBACKS.c.id == clawback_id)
    )
    row = conn.execute(query).mappings().first()
    return None if row is None else _with_region(conn, [dict(row)])[0]


def _with_region(conn: Connection, rows: list[dict]) -> list[dict]:
    if not rows:
        return rows
    regions = program_regions(conn)
    for row in rows:
        row["region_code"] = regions.get(row["program_code"])
    return rows
