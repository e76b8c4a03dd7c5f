import io
import sqlite3
from datetime import date

import psycopg
import pytest

from ledger.chain import seal, verify_chain
from ledger.engine import Ledger, posting_specs
from ledger.entries import TransactionRequest
from ledger.errors import ResultCode
from ledger.importer import import_csv
from ledger.queries import reconcile
from tests.ledger_helpers import BOOK, chart, transfer


def test_a_balanced_transaction_is_recorded_and_sealed(ledger):
    ledger.create_book("gz", "Guangzhou finance office", "financial")
    ledger.create_account("gz", "Assets:Bank")
    ledger.create_account("gz", "NetAssets:Appropriations")
    result = ledger.post(
        TransactionRequest(
            "t1",
            posting_specs("gz", [("Assets:Bank", "1000.00"), ("NetAssets:Appropriations", "-1000.00")]),
            date(2026, 1, 5),
        )
    )
    assert result.code == ResultCode.OK
    assert ledger.account("gz", "Assets:Bank").balance_fen == 100_000
    assert seal(ledger.engine) == 1
    report = verify_chain(ledger.engine)
    assert report.intact and report.sealed == 1 and report.unsealed == 0
    assert reconcile(ledger.engine) == []


def test_a_post_whose_own_connection_fails_is_run_again_on_a_pooled_one(ledger, monkeypatch):
    """Ledger.post runs on the thread's own driver connection; a driver error there (a lost connection, a
    key taken concurrently) is rolled back and the request goes through the pooled path instead."""
    from ledger import engine as engine_module

    chart(ledger)

    class Broken:
        def cursor(self):
            raise OSError("connection lost")

        def close(self):
            pass

    monkeypatch.setattr(engine_module.OwnConnections, "get", lambda self: Broken())
    result = ledger.post(transfer("t1", "Assets:Bank", "NetAssets:Appropriations", "12.34"))
    assert result.ok
    assert ledger.account(BOOK, "Assets:Bank").balance_fen == 1_234


def test_posts_on_the_own_connection_are_committed_and_seen_by_pooled_readers(ledger):
    chart(ledger)
    first = ledger.post(transfer("t1", "Assets:Bank", "NetAssets:Appropriations", "5.00"))
    again = ledger.post(transfer("t1", "Assets:Bank", "NetAssets:Appropriations", "5.00"))
    assert again.code == ResultCode.EXISTS and again.transaction_id == first.transaction_id
    with ledger.engine.connect() as conn:  # a pooled connection sees the committed rows
        count = conn.exec_driver_sql("SELECT count(*) FROM transactions").scalar_one()
    assert count == 1 and ledger.account(BOOK, "Assets:Bank").balance_fen == 500


def test_an_in_memory_sqlite_ledger_posts_on_its_one_connection():
    from api.bootstrap import migrate
    from ledger.db import make_engine

    engine = make_engine("sqlite:///:memory:")
    migrate(engine)
    ledger = Ledger(engine)
    chart(ledger)
    ledger.post(transfer("t1", "Assets:Bank", "NetAssets:Appropriations", "1.00"))
    assert ledger.account(BOOK, "Assets:Bank").balance_fen == 100


def test_accounts_are_found_by_name_and_updated_through_the_index_not_by_scanning(ledger):
    """Every post looks its accounts up by (book, path) and writes their totals back. Both databases answer a
    row-value IN list by scanning the whole accounts table (SQLite: 1.4 ms a post with 9k accounts;
    PostgreSQL fell to 196 posts/s with 14k), so lookups and updates must go through an index."""
    from ledger.store import ACCOUNT_STATE_COLUMNS, DriverStatements, _account_totals_update

    ledger.create_book(BOOK, "plan", "financial")
    # Enough accounts that scanning them all costs PostgreSQL more than probing its index.
    import_csv(
        ledger,
        io.StringIO(
            "tx_id,date,account,amount\n"
            + "".join(
                f"t{n},2026-01-05,Assets:Bank:B{n:04d},1.00\nt{n},2026-01-05,NetAssets:Seed,-1.00\n"
                for n in range(3000)
            )
        ),
        book=BOOK,
        create_accounts=True,
    )
    refs = [(BOOK, "Assets:Bank:B0007"), (BOOK, "Assets:Bank:B2500")]
    postgres = ledger.engine.dialect.name == "postgresql"
    with ledger.engine.connect() as conn:
        if postgres:
            conn.exec_driver_sql("ANALYZE accounts")
        db = DriverStatements(conn)
        rows = db.accounts_by_ref(refs, lock=False)
        assert [(row[2], row[3]) for row in rows] == refs
        assert sorted(db.account_ids_by_ref(refs)) == sorted(row[0] for row in rows)
        lookup = db._accounts_by_ref_query(", ".join(ACCOUNT_STATE_COLUMNS), len(refs))
        lookup_params = tuple(value for ref in refs for value in ref)
        if postgres:
            update = _account_totals_update(db._marks(5, 2))
            update_params = (0, 0, 0, 0, rows[0][0], 0, 0, 0, 0, rows[1][0])
            plans = [
                " ".join(row[0] for row in conn.exec_driver_sql("EXPLAIN " + query, params))
                for query, params in ((lookup, lookup_params), (update, update_params))
            ]
            conn.rollback()
        else:
            plans = [" | ".join(row[3] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + lookup, lookup_params))]
        db.close()
    for plan in plans:
        if postgres:
            assert "Seq Scan on accounts" not in plan and "Index Scan" in plan, plan
        else:
            assert "SCAN a" not in plan and "SEARCH a USING INDEX" in plan, plan


@pytest.mark.parametrize("backend", ["sqlite"])
def test_the_expiry_job_reads_the_expiry_index_not_the_whole_journal(ledger):
    """expire_pending runs on a schedule over a journal of millions: it must find pendings through the
    partial index on expires_at (a scan took 0.1-0.5 s per run over 1M transactions)."""
    from datetime import UTC, datetime

    from ledger.engine import expired_pending_query

    chart(ledger)
    query = expired_pending_query(datetime(2026, 6, 1, tzinfo=UTC), 1_000)
    with ledger.engine.connect() as conn:
        compiled = query.compile(conn, compile_kwargs={"literal_binds": True})
        plan = " | ".join(row[3] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}"))
    assert "ix_transactions_expires_at" in plan and "SCAN transactions" not in plan, plan


@pytest.mark.parametrize("backend", ["sqlite"])
def test_the_as_of_report_reads_the_covering_index_whose_new_entries_append(ledger):
    """The partial month of an as-of balance is read from the (date, account, ...) index alone, and that
    index keys on the posting id before the amount: new postings append at the end of their (date, account)
    run instead of landing at random among them (which dirtied a page per posting: batch floor 18-20k ->
    24-28k tx/s, docs/BENCHMARKS.md)."""
    from ledger.queries import posted_totals_as_of

    chart(ledger)
    with ledger.engine.connect() as conn:
        columns = [row[2] for row in conn.exec_driver_sql("PRAGMA index_info(ix_postings_date_account)")]
        statements = []
        conn.connection.set_trace_callback(statements.append)
        posted_totals_as_of(conn, date(2026, 6, 30))
        conn.connection.set_trace_callback(None)
        postings_read = next(statement for statement in statements if "FROM postings" in statement)
        plan = " | ".join(row[3] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + postings_read))
    assert columns == ["effective_date", "account_id", "id", "amount_fen", "pending"]
    assert "USING COVERING INDEX ix_postings_date_account" in plan, plan


def test_close_releases_the_connections_post_opened_and_posting_still_works(ledger):
    """``Ledger.post`` runs on connections outside the engine's pool; ``close`` releases them (a PostgreSQL
    server counts each until then) and the next post opens a fresh one."""
    chart(ledger)
    ledger.post(transfer("c1", "Assets:Bank", "NetAssets:Appropriations", "10.00"))
    opened = list(ledger._own_connections.opened)
    assert len(opened) == 1
    ledger.close()
    assert ledger._own_connections.opened == []
    with pytest.raises((sqlite3.ProgrammingError, psycopg.OperationalError), match="closed"):
        opened[0].cursor().execute("SELECT 1")
    ledger.post(transfer("c2", "Assets:Bank", "NetAssets:Appropriations", "5.00"))
    assert ledger.account(BOOK, "Assets:Bank").balance_fen == 1_500


def test_a_key_repeated_within_one_batch_is_told_the_first_ones_transaction_id(ledger):
    chart(ledger)
    first = transfer("twice", "Assets:Bank", "NetAssets:Appropriations", "5.00")
    other = transfer("twice", "Assets:Bank", "NetAssets:Appropriations", "6.00")
    results = ledger.submit([first, first, other], conn=None)
    assert [result.code for result in results] == [
        ResultCode.OK,
        ResultCode.EXISTS,
        ResultCode.EXISTS_WITH_DIFFERENT_CONTENT,
    ]
    assert results[0].transaction_id > 0
    assert {result.transaction_id for result in results} == {results[0].transaction_id}


def test_one_book_is_read_by_its_code(ledger):
    ledger.create_book("gz", "Guangzhou finance office", "financial")
    found = ledger.book("gz")
    assert found is not None and found["code"] == "gz" and found["basis"] == "financial"
    assert ledger.book("nowhere") is None
