"""The HTTP API's hot reads answered on the event loop (api.deps.read_rows): the same rows as the engine's own
read, on PostgreSQL through the asyncio read engine (one round trip, autocommit), which survives its
connections being killed under it."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select, text

from api.deps import _async_readers, close_async_reader, read_rows
from ledger.engine import T_BOOKS, Ledger


def make_books(ledger: Ledger, *codes: str) -> None:
    for code in codes:
        ledger.create_book(code, f"book {code}", "budgetary")


def _ledger(engine) -> Ledger:  # noqa: ANN001
    ledger = Ledger(engine)
    make_books(ledger, "GZ", "SH")
    return ledger


def test_read_rows_returns_what_a_connection_of_the_engine_reads(engine):
    ledger = _ledger(engine)
    statement = select(T_BOOKS.c.code, T_BOOKS.c.basis).order_by(T_BOOKS.c.code)
    with engine.connect() as conn:
        expected = conn.execute(statement).all()

    async def read():  # noqa: ANN202
        try:
            return await read_rows(ledger, statement, {})
        finally:
            await close_async_reader(ledger)

    rows = asyncio.run(read())
    assert [tuple(row) for row in rows] == [tuple(row) for row in expected]
    assert [row.code for row in rows] == ["GZ", "SH"]


@pytest.mark.postgres
def test_postgres_reads_see_committed_writes_at_once_and_survive_killed_connections(backend, engine):
    if backend != "postgres":
        pytest.skip("the asyncio read engine is PostgreSQL's")
    ledger = _ledger(engine)
    books = select(T_BOOKS.c.code).order_by(T_BOOKS.c.code)
    backend_pid = text("SELECT pg_backend_pid()")

    async def scenario() -> tuple[list, int, list, int, bool]:
        try:
            before = [row.code for row in await read_rows(ledger, books, {})]
            first_pid = (await read_rows(ledger, backend_pid, {}))[0][0]
            # Autocommit: a book created by another connection is seen by the very next read.
            make_books(ledger, "TJ")
            # The server ends the pooled connection (a restart, an idle timeout): the next read reconnects.
            with engine.begin() as conn:
                conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first_pid})
            after = [row.code for row in await read_rows(ledger, books, {})]
            second_pid = (await read_rows(ledger, backend_pid, {}))[0][0]
            return before, first_pid, after, second_pid, ledger in _async_readers
        finally:
            await close_async_reader(ledger)

    before, first_pid, after, second_pid, engine_held = asyncio.run(scenario())
    assert before == ["GZ", "SH"]
    assert after == ["GZ", "SH", "TJ"]
    assert second_pid != first_pid
    assert engine_held
    assert ledger not in _async_readers  # closed with the app
