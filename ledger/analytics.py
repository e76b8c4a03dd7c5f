"""DuckDB over the journal: analytical queries without loading the operational database.

The posted journal reaches DuckDB as Arrow record batches (the same columns as the Parquet export,
``ledger.exporters.journal_schema``), read in keyset pages inside one snapshot, so DuckDB never sees rows
one by one and the Python side never holds the whole journal. No DuckDB extension is needed (the
sqlite/postgres scanners would have to be downloaded).

Tables in the returned connection:
- ``postings``: one row per posted leg (pending transactions are not entries yet);
- ``accounts``: every account (of the book, if one is given) with its cached balances.
"""

from __future__ import annotations

from datetime import date

import duckdb
import pyarrow as pa
from sqlalchemy import Connection, Engine, select

from ledger.engine import T_ACCOUNTS, T_BOOKS
from ledger.exporters import EXPORT_PAGE_ROWS, JournalScope, journal_record_batches, journal_schema, journal_scope
from ledger.queries import TrialBalanceRow

IN_MEMORY = ":memory:"


def to_duckdb(
    engine: Engine, *, book: str | None = None, database: str = IN_MEMORY, batch_rows: int = EXPORT_PAGE_ROWS
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection holding ``postings`` and ``accounts`` (of ``book``, or of every book).

    ``database`` may name a DuckDB file to keep the copy, or to let DuckDB spill a large journal to disk."""
    connection = duckdb.connect(database)
    try:
        with journal_scope(engine, book) as scope:
            _load_accounts(connection, scope.conn, scope.book_id)
            _load_postings(connection, scope, batch_rows)
    except BaseException:
        connection.close()
        raise
    return connection


def _load_postings(connection: duckdb.DuckDBPyConnection, scope: JournalScope, rows: int) -> None:
    connection.register("journal_empty", pa.Table.from_batches([], schema=journal_schema()))
    connection.execute("CREATE OR REPLACE TABLE postings AS SELECT * FROM journal_empty")
    connection.unregister("journal_empty")
    for batch in journal_record_batches(scope, batch_rows=rows):
        connection.register("journal_batch", batch)
        connection.execute("INSERT INTO postings SELECT * FROM journal_batch")
        connection.unregister("journal_batch")


def _load_accounts(connection: duckdb.DuckDBPyConnection, conn: Connection, book_id: int | None) -> None:
    query = select(
        T_ACCOUNTS.c.id.label("account_id"),
        T_BOOKS.c.code.label("book"),
        T_ACCOUNTS.c.path.label("account"),
        T_ACCOUNTS.c.type,
        T_ACCOUNTS.c.normal_side,
        T_ACCOUNTS.c.currency,
        T_ACCOUNTS.c.debits_posted,
        T_ACCOUNTS.c.credits_posted,
        T_ACCOUNTS.c.debits_pending,
        T_ACCOUNTS.c.credits_pending,
    ).join(T_BOOKS, T_BOOKS.c.id == T_ACCOUNTS.c.book_id)
    if book_id is not None:
        query = query.where(T_ACCOUNTS.c.book_id == book_id)
    rows = conn.execute(query.order_by(T_ACCOUNTS.c.id)).mappings().all()
    schema = pa.schema(
        [
            ("account_id", pa.int64()),
            ("book", pa.string()),
            ("account", pa.string()),
            ("type", pa.string()),
            ("normal_side", pa.string()),
            ("currency", pa.string()),
            ("debits_posted", pa.int64()),
            ("credits_posted", pa.int64()),
            ("debits_pending", pa.int64()),
            ("credits_pending", pa.int64()),
        ]
    )
    connection.register("accounts_arrow", pa.Table.from_pylist([dict(row) for row in rows], schema=schema))
    connection.execute("CREATE OR REPLACE TABLE accounts AS SELECT * FROM accounts_arrow")
    connection.unregister("accounts_arrow")


def _account_expression(depth: int | None) -> str:
    """SQL for ``ledger.accounts.path_at_depth``: the first ``depth`` segments, or the whole path."""
    if depth is None or depth <= 0:
        return "a.account"
    return f"array_to_string(string_split(a.account, ':')[1:{int(depth)}], ':')"


def trial_balance_duckdb(
    engine: Engine,
    as_of: date | None = None,
    book: str | None = None,
    depth: int | None = None,
    *,
    connection: duckdb.DuckDBPyConnection | None = None,
) -> list[TrialBalanceRow]:
    """The rows of ``ledger.queries.trial_balance``, computed by DuckDB from the posted journal.

    As there: accounts and groups with a zero balance are left out; each group's
    balance goes to the debit or the credit column. Pass ``connection`` (from ``to_duckdb``) to reuse a
    loaded copy; otherwise one is loaded and closed."""
    own = connection is None
    if own:
        connection = to_duckdb(engine, book=book)
    elif book is not None:
        with journal_scope(engine, book):
            pass  # an unknown book is refused, as in ledger.queries
    try:
        rows = connection.execute(
            f"""
            WITH per_account AS (
                SELECT account_id, sum(amount_fen) AS amount_fen
                FROM postings
                WHERE $as_of IS NULL OR effective_date <= $as_of
                GROUP BY account_id
                HAVING sum(amount_fen) <> 0
            )
            SELECT a.book, {_account_expression(depth)} AS account, a.type, a.currency,
                   sum(p.amount_fen) AS amount_fen
            FROM per_account p JOIN accounts a USING (account_id)
            WHERE $book IS NULL OR a.book = $book
            GROUP BY ALL
            HAVING sum(p.amount_fen) <> 0
            """,
            {"as_of": as_of, "book": book},
        ).fetchall()
    finally:
        if own:
            connection.close()
    result = []
    for book_code, account, kind, currency, amount in sorted(rows):
        amount = int(amount)
        result.append(TrialBalanceRow(book_code, account, kind, currency, max(amount, 0), max(-amount, 0)))
    return result
