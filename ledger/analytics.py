"""DuckDB over the journal: analytical queries without loading the operational database.

Two ways in. ``to_duckdb`` copies the whole posted journal (for whole-journal analysis and the Parquet
path). The live reports (``LiveSource`` and below) read only what a report needs from one snapshot of the
database, as Arrow, and let DuckDB join, group and window it: the trial balance as of any date (month
totals plus one month of postings), balance history, and the domain reports built on the same plumbing in
``subsidies.reports``, ``vouchers.analytics`` and ``funds.reports`` (which accounts mean what is theirs to
know, not this module's).

The posted journal reaches DuckDB as Arrow record batches (the same columns as the Parquet export,
``ledger.exporters.journal_schema``), read in keyset pages inside one snapshot, so DuckDB never sees rows
one by one and the Python side never holds the whole journal. No DuckDB extension is needed (the
sqlite/postgres scanners would have to be downloaded).

Tables in the returned connection:
- ``postings``: one row per posted leg (pending transactions are not entries yet);
- ``accounts``: every account (of the book, if one is given) with its cached balances.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from datetime import date

import duckdb
import pyarrow as pa
from sqlalchemy import Connection, Engine, Select, case, func, or_, select

from ledger.arrow_scan import arrow_source, pooled_arrow_reader
from ledger.db import read_snapshot
from ledger.engine import T_ACCOUNTS, T_BOOKS, T_MONTH_TOTALS, T_POSTINGS, T_TRANSACTIONS
from ledger.exporters import EXPORT_PAGE_ROWS, JournalScope, journal_record_batches, journal_schema, journal_scope
from ledger.numbers import period_of
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


# ----- live reports: Arrow read from the database in one snapshot, computed by DuckDB ----------------------------
#
# A report reads only what it needs, grouped in the database where that shrinks the rows (month totals, the
# legs of the accounts it names), as Arrow columns: through ADBC (libpq COPY) on PostgreSQL; on SQLite
# through the engine's own connection, one column array per field, because the ADBC SQLite driver links
# its own copy of SQLite and two copies in one process break each other's POSIX locks (ledger.chain
# explains). DuckDB then joins, groups and windows; no report loops over rows in Python.

ACCOUNT_COLUMNS = pa.schema(
    [
        ("account_id", pa.int64()),
        ("book", pa.string()),
        ("account", pa.string()),
        ("type", pa.string()),
        ("currency", pa.string()),
        ("owner_code", pa.string()),
        ("debits_posted", pa.int64()),
        ("credits_posted", pa.int64()),
        ("debits_pending", pa.int64()),
        ("credits_pending", pa.int64()),
    ]
)
LEG_COLUMNS = pa.schema(
    [
        ("transaction_id", pa.int64()),
        ("account_id", pa.int64()),
        ("effective_date", pa.date32()),
        ("program_year", pa.int64()),
        ("kind", pa.string()),
        ("link_type", pa.string()),
        ("link_id", pa.string()),
        ("amount_fen", pa.int64()),
    ]
)
ACCOUNT_TOTAL_COLUMNS = pa.schema([("account_id", pa.int64()), ("debits_fen", pa.int64()), ("credits_fen", pa.int64())])
MONTH_TOTAL_COLUMNS = pa.schema(
    [("account_id", pa.int64()), ("period", pa.string()), ("debits_fen", pa.int64()), ("credits_fen", pa.int64())]
)


class LiveSource:
    """Reads of one committed state of the database, each handed over as an Arrow table.

    Use as a context manager; every ``table`` inside the block sees the same snapshot."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._stack = contextlib.ExitStack()
        self._reader = None
        self._conn: Connection | None = None

    def __enter__(self) -> LiveSource:
        source = arrow_source(self.engine)
        if source is not None and source.postgres:
            self._reader = self._stack.enter_context(pooled_arrow_reader(source))
        else:
            self._conn = self._stack.enter_context(read_snapshot(self.engine))
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stack.close()

    def table(self, query: Select, schema: pa.Schema) -> pa.Table:
        """The rows of ``query`` (columns in ``schema``'s order) as an Arrow table of that schema."""
        sql = str(query.compile(dialect=self.engine.dialect, compile_kwargs={"literal_binds": True}))
        if self._reader is not None:
            return self._reader.table(sql).rename_columns(schema.names).cast(schema)
        # The driver's own rows, without SQLAlchemy's per-value result processing (it costs more than the
        # read): SQLite hands dates over as ISO text, which Arrow parses column-wise.
        cursor = self._conn.connection.dbapi_connection.cursor()  # the snapshot's own connection
        try:
            cursor.execute(sql)
            rows = cursor.fetchall()
        finally:
            cursor.close()
        columns = list(zip(*rows)) if rows else [() for _ in schema.names]
        return pa.table([_arrow_column(column, field.type) for column, field in zip(columns, schema)], schema=schema)


def _arrow_column(values: tuple, arrow_type: pa.DataType) -> pa.Array:
    if pa.types.is_date(arrow_type):
        return pa.array(values, type=pa.string()).cast(arrow_type)
    return pa.array(values, type=arrow_type)


def reading(engine: Engine, source: LiveSource | None) -> contextlib.AbstractContextManager[LiveSource]:
    """The caller's open ``source`` (several reports in one snapshot, as an export reads them), or a new one."""
    return contextlib.nullcontext(source) if source is not None else LiveSource(engine)


# One in-memory DuckDB database per process; each report works in a connection of its own (``cursor``),
# whose TEMP tables no other report sees and which vanish when it closes. Opening a DuckDB database costs
# ~0.06-0.1 s, a connection to an open one ~0.01 s.
_shared_duckdb: duckdb.DuckDBPyConnection | None = None
_shared_duckdb_lock = threading.Lock()


def _report_connection() -> duckdb.DuckDBPyConnection:
    global _shared_duckdb
    with _shared_duckdb_lock:
        if _shared_duckdb is None:
            _shared_duckdb = duckdb.connect(IN_MEMORY)
        return _shared_duckdb.cursor()


def duckdb_over(tables: dict[str, pa.Table]) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection seeing each Arrow table under its name (registered on this connection only, read
    in place). Tables a report derives must be TEMP (``CREATE TEMP TABLE``): the connection's own."""
    connection = _report_connection()
    try:
        for name, table in tables.items():
            connection.register(name, table)  # a view over the Arrow memory: no copy
    except BaseException:
        connection.close()
        raise
    return connection


def _under_any(prefixes: tuple[str, ...] | None):  # noqa: ANN202 - a SQL condition or None
    if not prefixes:
        return None
    return or_(*(T_ACCOUNTS.c.path.startswith(prefix, autoescape=True) for prefix in prefixes))


def _in_books(books: list[str] | tuple[str, ...] | None):  # noqa: ANN202 - a SQL condition or None
    if books is None:
        return None
    return T_ACCOUNTS.c.book_id.in_(select(T_BOOKS.c.id).where(T_BOOKS.c.code.in_(list(books))))


def accounts_query(
    prefixes: tuple[str, ...] | None = None, book: str | None = None, *, books: list[str] | None = None
) -> Select:
    """Accounts (every one, or those whose path starts with one of ``prefixes``, of ``book`` or ``books``)
    with cached totals."""
    query = select(
        T_ACCOUNTS.c.id,
        T_BOOKS.c.code,
        T_ACCOUNTS.c.path,
        T_ACCOUNTS.c.type,
        T_ACCOUNTS.c.currency,
        T_ACCOUNTS.c.owner_code,
        T_ACCOUNTS.c.debits_posted,
        T_ACCOUNTS.c.credits_posted,
        T_ACCOUNTS.c.debits_pending,
        T_ACCOUNTS.c.credits_pending,
    ).join(T_BOOKS, T_BOOKS.c.id == T_ACCOUNTS.c.book_id)
    if (condition := _under_any(prefixes)) is not None:
        query = query.where(condition)
    if book is not None:
        query = query.where(T_BOOKS.c.code == book)
    if (in_books := _in_books(books)) is not None:
        query = query.where(in_books)
    return query


def legs_query(prefixes: tuple[str, ...], *, books: list[str] | None = None, through: date | None = None) -> Select:
    """Posted legs on the accounts under ``prefixes`` (of ``books``) with their transaction's kind, program
    year and link."""
    account_ids = select(T_ACCOUNTS.c.id).where(_under_any(prefixes))
    if (in_books := _in_books(books)) is not None:
        account_ids = account_ids.where(in_books)
    query = (
        select(
            T_POSTINGS.c.transaction_id,
            T_POSTINGS.c.account_id,
            T_POSTINGS.c.effective_date,
            T_TRANSACTIONS.c.program_year,
            T_TRANSACTIONS.c.kind,
            T_TRANSACTIONS.c.link_type,
            T_TRANSACTIONS.c.link_id,
            T_POSTINGS.c.amount_fen,
        )
        .join(T_TRANSACTIONS, T_TRANSACTIONS.c.id == T_POSTINGS.c.transaction_id)
        .where(T_POSTINGS.c.pending.is_(False), T_POSTINGS.c.account_id.in_(account_ids))
    )
    if through is not None:
        query = query.where(T_POSTINGS.c.effective_date <= through)
    return query


def month_totals_query(*, before_period: str | None = None) -> Select:
    query = select(
        T_MONTH_TOTALS.c.account_id, T_MONTH_TOTALS.c.period, T_MONTH_TOTALS.c.debits_fen, T_MONTH_TOTALS.c.credits_fen
    )
    if before_period is not None:
        query = query.where(T_MONTH_TOTALS.c.period < before_period)
    return query


def month_to_date_query(as_of: date) -> Select:
    """Posted (debits, credits) per account from the first of ``as_of``'s month up to ``as_of``."""
    return (
        select(
            T_POSTINGS.c.account_id,
            func.sum(case((T_POSTINGS.c.amount_fen > 0, T_POSTINGS.c.amount_fen), else_=0)),
            func.sum(case((T_POSTINGS.c.amount_fen < 0, -T_POSTINGS.c.amount_fen), else_=0)),
        )
        .where(
            T_POSTINGS.c.effective_date >= as_of.replace(day=1),
            T_POSTINGS.c.effective_date <= as_of,
            T_POSTINGS.c.pending.is_(False),
        )
        .group_by(T_POSTINGS.c.account_id)
    )


def as_of_tables(source: LiveSource, as_of: date | None, *, book: str | None = None) -> dict[str, pa.Table]:
    """``accounts`` and ``totals`` (posted debits and credits per account up to ``as_of``; the cached totals
    when ``as_of`` is None). Whole months come from the month totals, only the last month from postings."""
    accounts = source.table(accounts_query(book=book), ACCOUNT_COLUMNS)
    if as_of is None:
        totals = accounts.select(["account_id", "debits_posted", "credits_posted"]).rename_columns(
            ACCOUNT_TOTAL_COLUMNS.names
        )
        return {"accounts": accounts, "totals": totals}
    whole_months = (
        select(
            T_MONTH_TOTALS.c.account_id, func.sum(T_MONTH_TOTALS.c.debits_fen), func.sum(T_MONTH_TOTALS.c.credits_fen)
        )
        .where(T_MONTH_TOTALS.c.period < period_of(as_of))
        .group_by(T_MONTH_TOTALS.c.account_id)
    )
    months = source.table(whole_months, ACCOUNT_TOTAL_COLUMNS)
    month_to_date = source.table(month_to_date_query(as_of), ACCOUNT_TOTAL_COLUMNS)
    return {"accounts": accounts, "month_totals": months, "month_to_date": month_to_date}


_AS_OF_TOTALS_SQL = """
    CREATE TEMP TABLE totals AS
    SELECT account_id, sum(debits_fen)::BIGINT AS debits_fen, sum(credits_fen)::BIGINT AS credits_fen
    FROM (SELECT account_id, debits_fen, credits_fen FROM month_totals
          UNION ALL SELECT account_id, debits_fen, credits_fen FROM month_to_date)
    GROUP BY account_id
"""


def open_as_of(
    engine: Engine, as_of: date | None, *, book: str | None = None, source: LiveSource | None = None
) -> duckdb.DuckDBPyConnection:
    """DuckDB holding ``accounts`` and ``totals`` (posted, up to ``as_of``), read live in one snapshot."""
    with reading(engine, source) as live:
        tables = as_of_tables(live, as_of, book=book)
    connection = duckdb_over(tables)
    if as_of is not None:
        connection.execute(_AS_OF_TOTALS_SQL)
    return connection


def trial_balance_live(
    engine: Engine,
    as_of: date | None = None,
    book: str | None = None,
    depth: int | None = None,
    *,
    source: LiveSource | None = None,
) -> list[TrialBalanceRow]:
    """``ledger.queries.trial_balance`` computed by DuckDB from live Arrow reads: cached totals, or month
    totals and one month of postings for an as-of date. Never stale, and its cost follows the number of
    accounts and one month of journal, not the whole journal."""
    if book is not None:
        with journal_scope(engine, book):
            pass  # an unknown book is refused, as in ledger.queries
    connection = open_as_of(engine, as_of, book=book, source=source)
    try:
        rows = connection.execute(
            f"""
            SELECT a.book, {_account_expression(depth)} AS account, a.type, a.currency,
                   sum(t.debits_fen - t.credits_fen) AS amount_fen
            FROM totals t JOIN accounts a USING (account_id)
            WHERE t.debits_fen <> t.credits_fen
            GROUP BY ALL
            HAVING sum(t.debits_fen - t.credits_fen) <> 0
            ORDER BY 1, 2, 3, 4
            """
        ).fetchall()
    finally:
        connection.close()
    return [
        TrialBalanceRow(book_code, account, kind, currency, max(int(amount), 0), max(-int(amount), 0))
        for book_code, account, kind, currency, amount in rows
    ]


@dataclass(frozen=True, slots=True)
class BalanceHistoryRow:
    """One account in one month: opening balance, the month's debits and credits, closing balance (fen)."""

    book: str
    account: str
    period: str
    opening_fen: int
    debits_fen: int
    credits_fen: int
    closing_fen: int


def balance_history(
    engine: Engine,
    *,
    prefix: str,
    book: str | None = None,
    first_period: str | None = None,
    last_period: str | None = None,
    source: LiveSource | None = None,
) -> list[BalanceHistoryRow]:
    """Month by month, for every account under ``prefix`` (of ``book``): opening, debits, credits, closing.

    From the month totals (one row per account and month), windowed by DuckDB; a month without
    movements is not listed (its closing equals the opening of the next listed month)."""
    with reading(engine, source) as live:
        accounts = live.table(accounts_query((prefix,), book=book), ACCOUNT_COLUMNS)
        months = live.table(
            month_totals_query().where(
                T_MONTH_TOTALS.c.account_id.in_(accounts_query((prefix,), book=book).with_only_columns(T_ACCOUNTS.c.id))
            ),
            MONTH_TOTAL_COLUMNS,
        )
    connection = duckdb_over({"accounts": accounts, "month_totals": months})
    try:
        rows = connection.execute(
            """
            WITH running AS (
                SELECT a.book, a.account, m.period, m.debits_fen, m.credits_fen,
                       sum(m.debits_fen - m.credits_fen) OVER (
                           PARTITION BY m.account_id ORDER BY m.period ROWS UNBOUNDED PRECEDING
                       ) AS closing_fen
                FROM month_totals m JOIN accounts a USING (account_id)
                WHERE m.debits_fen <> 0 OR m.credits_fen <> 0
            )
            SELECT book, account, period, closing_fen - debits_fen + credits_fen, debits_fen, credits_fen, closing_fen
            FROM running
            WHERE ($first IS NULL OR period >= $first) AND ($last IS NULL OR period <= $last)
            ORDER BY book, account, period
            """,
            {"first": first_period, "last": last_period},
        ).fetchall()
    finally:
        connection.close()
    return [BalanceHistoryRow(*row[:3], *(int(value) for value in row[3:])) for row in rows]


# ----- the journal of one period, for the per-period Parquet export ---------------------------------------------

PERIOD_JOURNAL_COLUMNS = pa.schema(
    [
        ("posting_id", pa.int64()),
        ("transaction_id", pa.int64()),
        ("effective_date", pa.date32()),
        ("book", pa.string()),
        ("account", pa.string()),
        ("type", pa.string()),
        ("currency", pa.string()),
        ("amount_fen", pa.int64()),
        ("kind", pa.string()),
        ("source", pa.string()),
        ("client_id", pa.string()),
        ("memo", pa.string()),
        ("program_year", pa.int64()),
        ("link_type", pa.string()),
        ("link_id", pa.string()),
    ]
)


def period_journal(source: LiveSource, first_day: date, last_day: date) -> pa.Table:
    """Every posted leg dated in [first_day, last_day], in posting order, debit-positive integer fen."""
    query = (
        select(
            T_POSTINGS.c.id,
            T_POSTINGS.c.transaction_id,
            T_POSTINGS.c.effective_date,
            T_BOOKS.c.code,
            T_ACCOUNTS.c.path,
            T_ACCOUNTS.c.type,
            T_POSTINGS.c.currency,
            T_POSTINGS.c.amount_fen,
            T_TRANSACTIONS.c.kind,
            T_TRANSACTIONS.c.source,
            T_TRANSACTIONS.c.client_id,
            T_TRANSACTIONS.c.memo,
            T_TRANSACTIONS.c.program_year,
            T_TRANSACTIONS.c.link_type,
            T_TRANSACTIONS.c.link_id,
        )
        .join(T_TRANSACTIONS, T_TRANSACTIONS.c.id == T_POSTINGS.c.transaction_id)
        .join(T_ACCOUNTS, T_ACCOUNTS.c.id == T_POSTINGS.c.account_id)
        .join(T_BOOKS, T_BOOKS.c.id == T_ACCOUNTS.c.book_id)
        .where(
            T_POSTINGS.c.pending.is_(False),
            T_POSTINGS.c.effective_date >= first_day,
            T_POSTINGS.c.effective_date <= last_day,
        )
        .order_by(T_POSTINGS.c.id)
    )
    return source.table(query, PERIOD_JOURNAL_COLUMNS)
