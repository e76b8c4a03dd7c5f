"""The journal stays append-only against REPLACE and UPSERT too (issue 11, defect 13).

SQLite's INSERT OR REPLACE deletes the row holding the key without firing DELETE triggers; migration 0004
refuses such an insert. An UPSERT (ON CONFLICT DO UPDATE) fires the UPDATE triggers on both databases.
Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from ledger.chain import seal, verify_chain
from ledger.engine import posting_specs
from ledger.entries import PostPendingRequest, TransactionRequest
from tests.ledger_helpers import BOOK, DAY, chart, fund, transfer

# Per append-only table: its primary key, and a column outside every key whose value a rewrite changes.
APPEND_ONLY_TABLES = {
    "transactions": (("id",), "memo"),
    "postings": (("id",), "amount_fen"),
    "transaction_resolutions": (("target_id",), "kind"),
    "chain_links": (("seq",), "hash"),
    "voucher_numbers": (("book_id", "period", "number"), "transaction_id"),
    "period_closes": (("book_id", "period"), "actor"),
}


@pytest.fixture
def journal(ledger):
    """At least one row in every append-only table."""
    chart(ledger)
    fund(ledger)
    ledger.post(
        TransactionRequest(
            "hold", posting_specs(BOOK, [("Expenses:Grants", "5.00"), ("Assets:Bank", "-5.00")]), DAY, pending=True
        )
    )
    ledger.post(PostPendingRequest("hold-post", ("api", "hold")))
    ledger.post(transfer("spend", "Expenses:Grants", "Assets:Bank", "1.00"))
    ledger.close_period(BOOK, "2026-01", actor="director.wang")
    seal(ledger.engine)
    return ledger


def _first_row(conn, table: str) -> dict:
    row = conn.execute(text(f"SELECT * FROM {table} ORDER BY 1 LIMIT 1")).mappings().first()
    assert row is not None, f"the fixture left {table} empty"
    return dict(row)


def _rewritten(row: dict, column: str) -> dict:
    value = row[column]
    if column == "kind":
        changed = "void" if value != "void" else "post"
    elif column == "hash":
        changed = "f" * 64
    elif isinstance(value, int):
        changed = value + 1_000_000
    else:
        changed = "rewritten"
    return {**row, column: changed}


def _insert_sql(table: str, row: dict, verb: str = "INSERT", suffix: str = "") -> str:
    columns = ", ".join(row)
    values = ", ".join(f":{name}" for name in row)
    return f"{verb} INTO {table} ({columns}) VALUES ({values}){suffix}"


def _assert_refused_and_unchanged(engine, table: str, statement: str, row: dict) -> None:
    with engine.connect() as conn:
        before = conn.execute(text(f"SELECT * FROM {table} ORDER BY 1")).all()
    with pytest.raises(DBAPIError) as caught, engine.begin() as conn:
        conn.execute(text(statement), row)
    assert "journal_is_append_only" in str(caught.value)
    with engine.connect() as conn:
        assert conn.execute(text(f"SELECT * FROM {table} ORDER BY 1")).all() == before


@pytest.mark.parametrize("table", sorted(APPEND_ONLY_TABLES))
def test_defect_13_insert_or_replace_cannot_rewrite_an_append_only_row(journal, backend, table):
    if backend != "sqlite":
        pytest.skip("REPLACE is SQLite's; PostgreSQL has no such statement")
    _key, column = APPEND_ONLY_TABLES[table]
    with journal.engine.connect() as conn:
        row = _first_row(conn, table)
    rewritten = _rewritten(row, column)
    _assert_refused_and_unchanged(journal.engine, table, _insert_sql(table, rewritten, "INSERT OR REPLACE"), rewritten)
    _assert_refused_and_unchanged(journal.engine, table, _insert_sql(table, rewritten, "REPLACE"), rewritten)
    assert verify_chain(journal.engine).intact


def test_defect_13_replace_by_unique_key_cannot_rewrite_a_transaction(journal, backend):
    """The idempotency key (source, client_id) is a unique key: REPLACE by it would drop the row too."""
    if backend != "sqlite":
        pytest.skip("REPLACE is SQLite's")
    with journal.engine.connect() as conn:
        row = _first_row(conn, "transactions")
        next_id = conn.execute(text("SELECT max(id) + 1 FROM transactions")).scalar_one()
    rewritten = {**row, "id": next_id, "memo": "rewritten"}
    statement = _insert_sql("transactions", rewritten, "INSERT OR REPLACE")
    _assert_refused_and_unchanged(journal.engine, "transactions", statement, rewritten)


@pytest.mark.parametrize("table", sorted(APPEND_ONLY_TABLES))
def test_defect_13_upsert_fires_the_update_trigger(journal, table):
    """ON CONFLICT DO UPDATE is an UPDATE of the existing row: the UPDATE trigger refuses it on both."""
    key, column = APPEND_ONLY_TABLES[table]
    with journal.engine.connect() as conn:
        row = _first_row(conn, table)
    rewritten = _rewritten(row, column)
    suffix = f" ON CONFLICT ({', '.join(key)}) DO UPDATE SET {column} = excluded.{column}"
    _assert_refused_and_unchanged(journal.engine, table, _insert_sql(table, rewritten, suffix=suffix), rewritten)


def test_defect_13_new_rows_still_append(journal):
    """The guard refuses only a taken key: posting, resolving, closing and sealing go on."""
    journal.post(transfer("after-guard", "Expenses:Grants", "Assets:Bank", "2.00"))
    journal.close_period(BOOK, "2026-02", actor="director.wang")
    assert seal(journal.engine) >= 1
    assert verify_chain(journal.engine).intact
