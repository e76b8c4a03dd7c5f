"""Driver-level statements of the posting hot path, shared by the engine and the importer.

SQLAlchemy Core costs more per statement than SQLite takes to run it, so the statements a posting
needs are written once per dialect and run on the driver's own cursor, inside the caller's SQLAlchemy
transaction (the same database connection, so the unit of work still commits or rolls back as one).
Values are converted here to what each driver stores: SQLite gets ISO text for dates, naive-UTC text
for timestamps (SQLAlchemy's own format) and 0/1 for booleans; psycopg gets Python objects.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from contextlib import nullcontext
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported by ledger.chain_bulk's own process, which loads no SQLAlchemy
    from sqlalchemy import Connection

SQL_IN_CHUNK = 500
# Statement texts whose ``$n`` form is kept (``_numbered``): one per distinct text of the hot path (they vary
# with the number of accounts a unit touches, up to ``SQL_IN_CHUNK``), bounded so no caller's texts can grow
# the process without limit.
NUMBERED_TEXTS_MAX = 2_048

TRANSACTION_COLUMNS = (  # the order the writers insert, the chain reads and the hash covers
    "id",
    "source",
    "client_id",
    "request_hash",
    "kind",
    "pending",
    "effective_date",
    "recorded_at",
    "memo",
    "actor",
    "approver",
    "approval_doc",
    "reason",
    "resolves_id",
    "reverses_id",
    "expires_at",
    "program_year",
    "link_type",
    "link_id",
)
# What the writer queues for the chainer (ledger.chain_format): the leaf, and where its voucher numbers go.
SEAL_QUEUE_COLUMNS = ("transaction_id", "leaf_hash", "period", "book_ids")
POSTING_COLUMNS = ("transaction_id", "account_id", "book_id", "amount_fen", "currency", "effective_date", "pending")
ACCOUNT_STATE_COLUMNS = (
    "a.id",
    "a.book_id",
    "b.code",
    "a.path",
    "a.currency",
    "a.debits_must_not_exceed_credits",
    "a.credits_must_not_exceed_debits",
    "a.closed",
    "a.debits_posted",
    "a.credits_posted",
    "a.debits_pending",
    "a.credits_pending",
)


_RESERVE_IDS_POSTGRES = "SELECT nextval(pg_get_serial_sequence('transactions', 'id')) FROM generate_series(1, %s)"


RESOLUTION_COLUMNS = ("target_id", "resolver_id", "kind")
MONTH_TOTAL_COLUMNS = ("account_id", "period", "debits_fen", "credits_fen")
_MONTH_TOTAL_UPSERT = (
    " ON CONFLICT (account_id, period) DO UPDATE SET "
    "debits_fen = account_month_totals.debits_fen + excluded.debits_fen, "
    "credits_fen = account_month_totals.credits_fen + excluded.credits_fen"
)


def _rows_from_json(types: Sequence[str]) -> str:
    """PostgreSQL: the rows of one JSON array of arrays parameter, each element cast to its column's type.

    As ``jsonb``, parsed once: ``e->>n`` on a ``json`` value re-parses the element's text up to its n-th
    field, so a row of 19 columns was read 19 times (20 transactions: 0.46 ms as json, 0.05 ms as jsonb)."""
    columns = ", ".join(f"(e->>{index})::{kind}" for index, kind in enumerate(types))
    return f"SELECT {columns} FROM jsonb_array_elements(%s::jsonb) AS e"


def _json_value(value: object) -> str:
    """Dates and instants for ``_rows_from_json``: ISO text, instants as naive UTC (the columns' convention)."""
    if isinstance(value, datetime):
        return (value if value.tzinfo is None else value.astimezone(UTC).replace(tzinfo=None)).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"cannot send {type(value).__name__} as JSON")


def _json_dumps(rows: Sequence[tuple]) -> str:
    return json.dumps(rows, default=_json_value, ensure_ascii=False, separators=(",", ":"))


# PostgreSQL types of the columns above, for the statements fed by JSON rows (``write_unit``, ``_insert``).
_TRANSACTION_TYPES = (
    "bigint", "text", "text", "text", "text", "boolean", "date", "timestamp", "text", "text",
    "text", "text", "text", "bigint", "bigint", "timestamp", "integer", "text", "text",
)  # fmt: skip
_POSTING_TYPES = ("bigint", "integer", "integer", "bigint", "text", "date", "boolean")
_RESOLUTION_TYPES = ("bigint", "bigint", "text")
_MONTH_TOTAL_TYPES = ("integer", "text", "bigint", "bigint")
_SEAL_QUEUE_TYPES = ("bigint", "text", "text", "text")
assert len(_TRANSACTION_TYPES) == len(TRANSACTION_COLUMNS) and len(_POSTING_TYPES) == len(POSTING_COLUMNS)
_POSTGRES_TYPES = {  # per table, in the column order its writers use
    "transactions": _TRANSACTION_TYPES,
    "seal_queue": _SEAL_QUEUE_TYPES,
    "postings": _POSTING_TYPES,
    "transaction_resolutions": _RESOLUTION_TYPES,
    "account_month_totals": _MONTH_TOTAL_TYPES,
    "chain_links": ("bigint", "bigint", "text", "text", "timestamp"),
    "chain_seals": ("bigint", "bigint", "text", "text", "timestamp"),
    "voucher_numbers": ("integer", "text", "integer", "bigint"),
}
# ``{account_totals_update}``: a VALUES list, so the planner knows how few accounts it updates (a JSON
# array looks like 100 rows, enough for it to scan every account instead of probing the primary key).
_WRITE_UNIT_POSTGRES_TEMPLATE = (
    f"WITH inserted AS (INSERT INTO transactions ({', '.join(TRANSACTION_COLUMNS)}) "
    f"{_rows_from_json(_TRANSACTION_TYPES)}), "
    # Every committed transaction waits in the queue, with its leaf, until the chainer seals it.
    f"queued AS (INSERT INTO seal_queue ({', '.join(SEAL_QUEUE_COLUMNS)}) {_rows_from_json(_SEAL_QUEUE_TYPES)}), "
    f"legs AS (INSERT INTO postings ({', '.join(POSTING_COLUMNS)}) {_rows_from_json(_POSTING_TYPES)}), "
    f"resolved AS (INSERT INTO transaction_resolutions ({', '.join(RESOLUTION_COLUMNS)}) "
    f"{_rows_from_json(_RESOLUTION_TYPES)}), "
    f"months AS (INSERT INTO account_month_totals ({', '.join(MONTH_TOTAL_COLUMNS)}) "
    f"{_rows_from_json(_MONTH_TOTAL_TYPES)}{_MONTH_TOTAL_UPSERT}), "
    "balances AS ({account_totals_update}) "
    "SELECT EXISTS (SELECT 1 FROM period_closes c JOIN jsonb_array_elements(%s::jsonb) AS e "
    "ON c.book_id = (e->>0)::integer AND c.period = e->>1)"
)


_numbered_texts: dict[str, str] = {}


def _numbered(query: str) -> str:
    """PostgreSQL: ``query`` with its ``%s`` placeholders numbered ``$1``, ``$2``, ... for a raw cursor.

    psycopg parses a statement's ``%s`` placeholders on every call once it has more than 50 parameters (its
    cache stops there), and the hot path's account lists have more: a batch of 20 transfers spent about a
    fifth of its Python there (_split_query, measured with cProfile). A raw cursor takes PostgreSQL's own
    ``$n`` placeholders as they are, so the text is converted once here."""
    numbered = _numbered_texts.get(query)
    if numbered is None:
        parts = query.split("%s")
        if any("%" in part for part in parts):
            raise ValueError("only %s placeholders can be numbered")
        numbered = parts[0] + "".join(f"${number}{part}" for number, part in enumerate(parts[1:], 1))
        if len(_numbered_texts) < NUMBERED_TEXTS_MAX:
            _numbered_texts[query] = numbered
    return numbered


def _raw_cursor(connection):  # noqa: ANN001, ANN202 - a psycopg connection and its RawCursor
    from psycopg import RawCursor  # here: SQLite processes never import psycopg

    return RawCursor(connection)


def _month_rows(totals: dict[tuple[int, str], list[int]]) -> list[tuple[int, str, int, int]]:
    return [(account_id, period, values[0], values[1]) for (account_id, period), values in sorted(totals.items())]


def _account_totals_update(value_rows: str) -> str:
    """PostgreSQL: new absolute totals for many accounts in one UPDATE."""
    return (
        "UPDATE accounts AS a SET debits_posted = v.dp, credits_posted = v.cp, debits_pending = v.dq, "
        f"credits_pending = v.cq, version = a.version + 1 FROM (VALUES {value_rows}) AS v(dp, cp, dq, cq, id) "
        "WHERE a.id = v.id"
    )


def _json_values(kind: str) -> str:
    """PostgreSQL: ``(SELECT ...)`` over the elements of one JSON array parameter, cast to ``kind``, for an
    ``IN`` whose statement text stays the same whatever the number of values."""
    return f"(SELECT (json_array_elements_text(%s::json))::{kind})"


def _json_rows(columns: str) -> str:
    """PostgreSQL: all rows of a query as one JSON array of arrays, so several reads fit in one statement."""
    return f"json_agg(json_build_array({columns}))"


def _keys_found(rows: Iterable[tuple]) -> dict[tuple[str, str], tuple[int, str]]:
    return {(source, client_id): (tx_id, digest) for source, client_id, tx_id, digest in rows}


def chunks(items: Sequence, size: int = SQL_IN_CHUNK) -> Iterable[Sequence]:
    """Slices of ``items`` short enough for one IN list."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


class DriverStatements:
    """The hot-path statements for one open SQLAlchemy connection (SQLite or PostgreSQL)."""

    def __init__(self, conn: Connection | None, *, driver_connection=None, postgres: bool | None = None) -> None:  # noqa: ANN001
        """On ``conn``'s driver connection, or on ``driver_connection`` (with ``postgres`` saying which driver)
        for a caller that runs its own transaction on a connection outside the pool."""
        self.conn = conn
        self.postgres = conn.dialect.name == "postgresql" if conn is not None else bool(postgres)
        self.driver_connection = conn.connection.driver_connection if conn is not None else driver_connection
        self.mark = "%s" if self.postgres else "?"
        self.cursor = self.driver_connection.cursor()

    def close(self) -> None:
        self.cursor.close()

    # -- value conversion -----------------------------------------------------------------------------

    def day(self, value: date):
        return value if self.postgres else value.isoformat()

    def moment(self, value: datetime | None):
        if value is None or self.postgres:
            return value
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")

    def flag(self, value: bool):
        return bool(value) if self.postgres else int(bool(value))

    def _marks(self, width: int, count: int) -> str:
        row = "(" + ", ".join([self.mark] * width) + ")"
        rows = ", ".join([row] * count)
        # SQLite compares row values only against a VALUES list or a subquery.
        return rows if self.postgres or width == 1 else f"VALUES {rows}"

    # -- reads ----------------------------------------------------------------------------------------

    def existing_keys(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], tuple[int, str]]:
        """(source, client id) -> (transaction id, request hash) for the keys already recorded."""
        found: dict[tuple[str, str], tuple[int, str]] = {}
        for chunk in chunks(keys):
            self.cursor.execute(*self._existing_keys_query(chunk))
            found.update(_keys_found(self.cursor.fetchall()))
        return found

    def _existing_keys_query(self, keys: Sequence[tuple[str, str]], *, as_json: bool = False) -> tuple[str, list]:
        columns = "source, client_id, id, request_hash"
        return (
            f"SELECT {_json_rows(columns) if as_json else columns} FROM transactions "
            f"WHERE (source, client_id) IN ({self._marks(2, len(keys))})",
            [value for key in keys for value in key],
        )

    def request_hashes(self, source: str, client_ids: Sequence[str]) -> dict[str, str]:
        """client id -> request hash of those already recorded under ``source`` (an import's re-run)."""
        if self.postgres:
            # All ids as one JSON parameter of a constant statement (see ``_insert``).
            self.cursor.execute(
                "SELECT client_id, request_hash FROM transactions "
                f"WHERE source = %s AND client_id IN {_json_values('text')}",
                (source, _json_dumps(list(client_ids))),
            )
            return dict(self.cursor.fetchall())
        found: dict[str, str] = {}
        for chunk in chunks(client_ids):
            self.cursor.execute(
                "SELECT client_id, request_hash FROM transactions "
                f"WHERE source = {self.mark} AND client_id IN ({self._marks(1, len(chunk))})",
                (source, *chunk),
            )
            found.update(self.cursor.fetchall())
        return found

    def accounts_by_ref(self, refs: Sequence[tuple[str, str]], *, lock: bool) -> list[tuple]:
        """Account state rows (``ACCOUNT_STATE_COLUMNS``) by (book code, path), in id order.

        With ``lock`` (PostgreSQL) the rows are locked in that order: writers queue alike, never deadlock."""
        rows: list[tuple] = []
        for chunk in chunks(refs):
            self.cursor.execute(
                self._accounts_by_ref_query(", ".join(ACCOUNT_STATE_COLUMNS), len(chunk))
                + " ORDER BY a.id"
                + (" FOR UPDATE OF a" if lock else ""),
                [value for ref in chunk for value in ref],
            )
            rows += self.cursor.fetchall()
        return rows

    def account_ids_by_ref(self, refs: Sequence[tuple[str, str]]) -> list[int]:
        ids: list[int] = []
        for chunk in chunks(refs):
            self.cursor.execute(
                self._accounts_by_ref_query("a.id", len(chunk)), [value for ref in chunk for value in ref]
            )
            ids += [row[0] for row in self.cursor.fetchall()]
        return ids

    def _accounts_by_ref_query(self, columns: str, count: int) -> str:
        # Both databases answer "(b.code, a.path) IN (...)" by scanning every account (SQLite: 1.4 ms a post
        # with 9k accounts; PostgreSQL: a hash join over all of them). Joining the wanted pairs as a VALUES
        # list, whose length the planner knows, drives both through the (book_id, path) index instead.
        rows = self._marks(2, count)
        return (
            f"WITH wanted(code, path) AS ({rows if not self.postgres else 'VALUES ' + rows}) SELECT {columns} "
            "FROM wanted w JOIN books b ON b.code = w.code JOIN accounts a ON a.book_id = b.id AND a.path = w.path"
        )

    def accounts_by_id(self, ids: Sequence[int], *, lock: bool) -> list[tuple]:
        rows: list[tuple] = []
        for chunk in chunks(sorted(ids)):
            self.cursor.execute(
                f"SELECT {', '.join(ACCOUNT_STATE_COLUMNS)} FROM accounts a JOIN books b ON b.id = a.book_id "
                f"WHERE a.id IN ({self._marks(1, len(chunk))}) ORDER BY a.id" + (" FOR UPDATE OF a" if lock else ""),
                list(chunk),
            )
            rows += self.cursor.fetchall()
        return rows

    def book_exists(self, code: str) -> bool:
        self.cursor.execute(f"SELECT 1 FROM books WHERE code = {self.mark}", (code,))
        return self.cursor.fetchone() is not None

    def closed_periods(self, book_codes: Sequence[str]) -> set[tuple[str, str]]:
        """(book code, "YYYY-MM") of the closed periods of these books."""
        closed: set[tuple[str, str]] = set()
        for chunk in chunks(sorted(book_codes)):
            self.cursor.execute(*self._closed_periods_query(chunk))
            closed.update(self.cursor.fetchall())
        return closed

    def _closed_periods_query(self, book_codes: Sequence[str], *, as_json: bool = False) -> tuple[str, list]:
        columns = "b.code, c.period"
        return (
            f"SELECT {_json_rows(columns) if as_json else columns} "
            "FROM period_closes c JOIN books b ON b.id = c.book_id "
            f"WHERE b.code IN ({self._marks(1, len(book_codes))})",
            list(book_codes),
        )

    def reserve_transaction_ids(self, count: int) -> list[int]:
        if self.postgres:
            self.cursor.execute(_RESERVE_IDS_POSTGRES, (count,))
            return [row[0] for row in self.cursor.fetchall()]
        # SQLite: BEGIN IMMEDIATE holds the write lock, so max(id) cannot move under us.
        self.cursor.execute("SELECT COALESCE(MAX(id), 0) FROM transactions")
        start = self.cursor.fetchone()[0]
        return list(range(start + 1, start + count + 1))

    def prefetch(
        self, keys: Sequence[tuple[str, str]], id_count: int, book_codes: Sequence[str] = ()
    ) -> tuple[dict[tuple[str, str], tuple[int, str]], list[int], set[tuple[str, str]]]:
        """``existing_keys``, ``reserve_transaction_ids`` and (for ``book_codes``) ``closed_periods`` at once.
        None of them locks anything, so on PostgreSQL they are one statement of scalar subqueries: psycopg
        spends more Python per statement than the server takes to run these."""
        book_codes = sorted(book_codes)
        if not self.postgres or not keys or not id_count or len(keys) + len(book_codes) > SQL_IN_CHUNK:
            ids = self.reserve_transaction_ids(id_count) if id_count else []
            return self.existing_keys(keys), ids, self.closed_periods(book_codes) if book_codes else set()
        keys_query, params = self._existing_keys_query(keys, as_json=True)
        columns = [keys_query, f"SELECT array_agg(n) FROM ({_RESERVE_IDS_POSTGRES}) AS ids(n)"]
        params.append(id_count)
        if book_codes:
            periods_query, periods_params = self._closed_periods_query(book_codes, as_json=True)
            columns.append(periods_query)
            params += periods_params
        self.cursor.execute("SELECT " + ", ".join(f"({column})" for column in columns), params)
        found, ids, *closed = self.cursor.fetchone()
        return _keys_found(found or []), sorted(ids), {tuple(pair) for pair in (closed[0] or [])} if closed else set()

    def can_read_in_one_round_trip(self, keys: int, refs: int, book_codes: int) -> bool:
        """Whether ``read_unit`` takes these in one round trip (PostgreSQL, each list within one statement)."""
        return self.postgres and 0 < keys and keys + book_codes <= SQL_IN_CHUNK and 0 < refs <= SQL_IN_CHUNK

    def read_unit(
        self,
        keys: Sequence[tuple[str, str]],
        id_count: int,
        refs: Sequence[tuple[str, str]],
        book_codes: Sequence[str],
    ) -> tuple[dict[tuple[str, str], tuple[int, str]], list[int], list[tuple], set[tuple[str, str]]]:
        """PostgreSQL, every read of a posting unit in one round trip (psycopg's pipeline mode; BEGIN goes with
        them): the stored keys and the reserved ids (``prefetch``), the accounts locked in id order
        (``accounts_by_ref``), then the closed periods of ``book_codes``. The server runs them in that order,
        so the periods are read once the locks are held, as ``close_period`` requires (it locks every account
        of its book first): a close either committed before this read or waits for this unit.
        Check ``can_read_in_one_round_trip`` first."""
        keys_query, keys_params = self._existing_keys_query(keys, as_json=True)
        prefetch = f"SELECT ({keys_query}), (SELECT array_agg(n) FROM ({_RESERVE_IDS_POSTGRES}) AS ids(n))"
        locked = (
            self._accounts_by_ref_query(", ".join(ACCOUNT_STATE_COLUMNS), len(refs)) + " ORDER BY a.id FOR UPDATE OF a"
        )
        connection = self.driver_connection
        cursors = [_raw_cursor(connection) for _ in range(3)]
        try:
            with connection.pipeline():
                cursors[0].execute(_numbered(prefetch), [*keys_params, id_count])
                cursors[1].execute(_numbered(locked), [value for ref in refs for value in ref])
                if book_codes:
                    periods_query, periods_params = self._closed_periods_query(sorted(book_codes))
                    cursors[2].execute(_numbered(periods_query), periods_params)
            found, ids = cursors[0].fetchone()
            accounts = cursors[1].fetchall()
            closed = set(cursors[2].fetchall()) if book_codes else set()
        finally:
            for cursor in cursors:
                cursor.close()
        return _keys_found(found or []), sorted(ids or []), accounts, closed

    # -- writes ---------------------------------------------------------------------------------------

    def pipeline(self):
        """On PostgreSQL, send the writes that follow without waiting for each reply (psycopg pipeline
        mode): one round trip while the account locks are held instead of one per statement."""
        if self.postgres:
            return self.driver_connection.pipeline()
        return nullcontext()

    def _insert(self, table: str, columns: Sequence[str], rows: list[tuple], suffix: str = "") -> None:
        if not rows:
            return
        if not self.postgres:
            # sqlite3 runs executemany in C, one prepared statement for all rows.
            head = f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
            self.cursor.executemany(head + "(" + ", ".join(["?"] * len(columns)) + ")" + suffix, rows)
            return
        # psycopg sends each executemany row as its own statement, and re-parses the text of any statement
        # over 50 parameters on every call (80% of a PostgreSQL import went there): all rows go as one JSON
        # parameter of a statement whose text never changes.
        types = _POSTGRES_TYPES[table]
        self.cursor.execute(
            f"INSERT INTO {table} ({', '.join(columns)}) {_rows_from_json(types)}{suffix}", [_json_dumps(rows)]
        )

    def write_unit(
        self,
        transactions: list[tuple],
        queued: list[tuple[int, str, str, str]],
        postings: list[tuple],
        resolutions: list[tuple[int, int, str]],
        month_totals: dict[tuple[int, str], list[int]],
        account_totals: list[tuple[int, int, int, int, int]],
        *,
        guard_periods: Sequence[tuple[int, str]] = (),
        commit: bool = False,
    ) -> bool:
        """Every write of one posting unit: ``insert_transactions`` (with its ``queued`` seal-queue rows),
        ``insert_postings``,
        ``insert_resolutions``, ``add_month_totals`` and ``set_account_totals``.

        On PostgreSQL they are one statement of data-modifying CTEs, each part's rows sent as one JSON
        array of arrays, whatever the row counts: its text never changes, so psycopg converts it once
        and the server prepares it once per connection, while separate multi-row statements cost psycopg
        more Python each than the server takes to run them (and adapting Python lists to PostgreSQL
        arrays costs more still). Constraints are checked at the statement's end.

        ``guard_periods`` (book id, "YYYY-MM"), PostgreSQL only: the same statement also tells whether any
        of them has been closed, as seen once the accounts are locked (the statement's snapshot is taken
        after the locking read). True means the caller must roll back.

        ``commit`` (PostgreSQL, a connection outside the pool whose transaction the caller owns): the COMMIT
        goes in the same round trip (pipeline mode); with it, ``guard_periods`` must be empty (the caller read
        the closed periods under its locks, ``read_unit``)."""
        if not self.postgres:
            self.insert_transactions(transactions, queued)
            self.insert_postings(postings)
            self.insert_resolutions(resolutions)
            self.add_month_totals(month_totals)
            self.set_account_totals(account_totals)
            return False
        parts = (transactions, queued, postings, resolutions, _month_rows(month_totals))
        params = [_json_dumps(rows) for rows in parts]
        in_statement = 0 < len(account_totals) <= SQL_IN_CHUNK
        if in_statement:
            balances = _account_totals_update(self._marks(5, len(account_totals)))
            params += [value for row in account_totals for value in row]
        else:
            balances = "SELECT 1"
        params.append(_json_dumps(guard_periods))
        statement = _numbered(_WRITE_UNIT_POSTGRES_TEMPLATE.replace("{account_totals_update}", balances))
        cursor = _raw_cursor(self.driver_connection)
        try:
            if commit:
                if guard_periods:
                    raise ValueError("a unit committed with its writes cannot re-check closed periods")
                with self.driver_connection.pipeline():
                    cursor.execute(statement, params)
                    if not in_statement:
                        self.set_account_totals(account_totals)
                    self.driver_connection.commit()
                return False
            cursor.execute(statement, params)
            closed_meanwhile = bool(cursor.fetchone()[0])
        finally:
            cursor.close()
        if not in_statement:
            self.set_account_totals(account_totals)
        return closed_meanwhile

    def insert_transactions(self, rows: list[tuple], queued: list[tuple[int, str, str, str]]) -> None:
        """Rows in ``TRANSACTION_COLUMNS`` order, values already converted (``day``, ``moment``, ``flag``), and
        their seal-queue rows (``SEAL_QUEUE_COLUMNS``: every committed transaction waits there, with its leaf
        hash, until the chainer seals it)."""
        self._insert("transactions", TRANSACTION_COLUMNS, rows)
        self._insert("seal_queue", SEAL_QUEUE_COLUMNS, queued)

    def insert_postings(self, rows: list[tuple]) -> None:
        self._insert("postings", POSTING_COLUMNS, rows)

    def insert_resolutions(self, rows: list[tuple[int, int, str]]) -> None:
        self._insert("transaction_resolutions", RESOLUTION_COLUMNS, rows)

    def insert_chain_links(self, rows: list[tuple[int, int, str, str, object]]) -> None:
        """(seq, transaction id, previous hash, hash, sealed at)."""
        self._insert("chain_links", ("seq", "transaction_id", "prev_hash", "hash", "sealed_at"), rows)

    def insert_chain_seals(self, rows: list[tuple[int, int, str, str, object]]) -> None:
        """(last seq, first seq, previous hash, hash, sealed at)."""
        self._insert("chain_seals", ("last_seq", "first_seq", "prev_hash", "hash", "sealed_at"), rows)

    def insert_voucher_numbers(self, rows: list[tuple[int, str, int, int]]) -> None:
        """(book id, "YYYY-MM", number, transaction id)."""
        self._insert("voucher_numbers", ("book_id", "period", "number", "transaction_id"), rows)

    def remove_from_seal_queue(self, ids: Sequence[int]) -> None:
        if self.postgres:
            # One statement per sealed batch, the ids as one JSON parameter (see ``_insert``).
            self.cursor.execute(
                f"DELETE FROM seal_queue WHERE transaction_id IN {_json_values('bigint')}", (_json_dumps(list(ids)),)
            )
            return
        for chunk in chunks(ids):
            self.cursor.execute(
                f"DELETE FROM seal_queue WHERE transaction_id IN ({self._marks(1, len(chunk))})", list(chunk)
            )

    def add_month_totals(self, totals: dict[tuple[int, str], list[int]]) -> None:
        """Add posted (debits, credits) per (account id, "YYYY-MM"); rows in sorted order."""
        self._insert("account_month_totals", MONTH_TOTAL_COLUMNS, _month_rows(totals), _MONTH_TOTAL_UPSERT)

    def set_account_totals(self, rows: list[tuple[int, int, int, int, int]]) -> None:
        """(debits posted, credits posted, debits pending, credits pending, account id): new absolute totals,
        computed under the writer's lock."""
        if not rows:
            return
        if self.postgres:
            for chunk in chunks(rows):
                self.cursor.execute(
                    _account_totals_update(self._marks(5, len(chunk))), [value for row in chunk for value in row]
                )
            return
        self.cursor.executemany(
            "UPDATE accounts SET debits_posted = ?, credits_posted = ?, debits_pending = ?, credits_pending = ?, "
            "version = version + 1 WHERE id = ?",
            rows,
        )

    def add_account_posted(self, rows: list[tuple[int, int, int]]) -> None:
        """(debits, credits, account id): increments, for writers that never read the totals (imports)."""
        if rows:
            m = self.mark
            self.cursor.executemany(
                f"UPDATE accounts SET debits_posted = debits_posted + {m}, credits_posted = credits_posted + {m}, "
                f"version = version + 1 WHERE id = {m}",
                rows,
            )
