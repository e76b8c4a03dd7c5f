"""Driver-level statements of the posting hot path, shared by the engine and the importer.

SQLAlchemy Core costs more per statement than SQLite takes to run it, so the statements a posting
needs are written once per dialect and run on the driver's own cursor, inside the caller's SQLAlchemy
transaction (the same database connection, so the unit of work still commits or rolls back as one).
Values are converted here to what each driver stores: SQLite gets ISO text for dates, naive-UTC text
for timestamps (SQLAlchemy's own format) and 0/1 for booleans; psycopg gets Python objects.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import nullcontext
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported by ledger.chain_bulk's own process, which loads no SQLAlchemy
    from sqlalchemy import Connection

SQL_IN_CHUNK = 500

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
            self.cursor.execute(
                "SELECT source, client_id, id, request_hash FROM transactions "
                f"WHERE (source, client_id) IN ({self._marks(2, len(chunk))})",
                [value for key in chunk for value in key],
            )
            for source, client_id, tx_id, digest in self.cursor.fetchall():
                found[(source, client_id)] = (tx_id, digest)
        return found

    def request_hashes(self, source: str, client_ids: Sequence[str]) -> dict[str, str]:
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
                f"SELECT {', '.join(ACCOUNT_STATE_COLUMNS)} FROM accounts a JOIN books b ON b.id = a.book_id "
                f"WHERE (b.code, a.path) IN ({self._marks(2, len(chunk))}) ORDER BY a.id"
                + (" FOR UPDATE OF a" if lock else ""),
                [value for ref in chunk for value in ref],
            )
            rows += self.cursor.fetchall()
        return rows

    def account_ids_by_ref(self, refs: Sequence[tuple[str, str]]) -> list[int]:
        ids: list[int] = []
        for chunk in chunks(refs):
            self.cursor.execute(
                "SELECT a.id FROM accounts a JOIN books b ON b.id = a.book_id "
                f"WHERE (b.code, a.path) IN ({self._marks(2, len(chunk))})",
                [value for ref in chunk for value in ref],
            )
            ids += [row[0] for row in self.cursor.fetchall()]
        return ids

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
            self.cursor.execute(
                "SELECT b.code, c.period FROM period_closes c JOIN books b ON b.id = c.book_id "
                f"WHERE b.code IN ({self._marks(1, len(chunk))})",
                list(chunk),
            )
            closed.update(self.cursor.fetchall())
        return closed

    def reserve_transaction_ids(self, count: int) -> list[int]:
        if self.postgres:
            self.cursor.execute(
                "SELECT nextval(pg_get_serial_sequence('transactions', 'id')) FROM generate_series(1, %s)", (count,)
            )
            return [row[0] for row in self.cursor.fetchall()]
        # SQLite: BEGIN IMMEDIATE holds the write lock, so max(id) cannot move under us.
        self.cursor.execute("SELECT COALESCE(MAX(id), 0) FROM transactions")
        start = self.cursor.fetchone()[0]
        return list(range(start + 1, start + count + 1))

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
        head = f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
        if not self.postgres:
            # sqlite3 runs executemany in C, one prepared statement for all rows.
            self.cursor.executemany(head + "(" + ", ".join(["?"] * len(columns)) + ")" + suffix, rows)
            return
        # psycopg sends each executemany row as its own statement: a multi-row VALUES is one.
        for chunk in chunks(rows):
            self.cursor.execute(
                head + self._marks(len(columns), len(chunk)) + suffix, [value for row in chunk for value in row]
            )

    def insert_transactions(self, rows: list[tuple]) -> None:
        """Rows in ``TRANSACTION_COLUMNS`` order, values already converted (``day``, ``moment``, ``flag``)."""
        self._insert("transactions", TRANSACTION_COLUMNS, rows)
        # Every committed transaction waits in the queue until the chainer seals it.
        self._insert("seal_queue", ("transaction_id",), [(row[0],) for row in rows])

    def insert_postings(self, rows: list[tuple]) -> None:
        self._insert("postings", POSTING_COLUMNS, rows)

    def insert_resolutions(self, rows: list[tuple[int, int, str]]) -> None:
        self._insert("transaction_resolutions", ("target_id", "resolver_id", "kind"), rows)

    def insert_chain_links(self, rows: list[tuple[int, int, str, str, object]]) -> None:
        """(seq, transaction id, previous hash, hash, sealed at)."""
        self._insert("chain_links", ("seq", "transaction_id", "prev_hash", "hash", "sealed_at"), rows)

    def insert_voucher_numbers(self, rows: list[tuple[int, str, int, int]]) -> None:
        """(book id, "YYYY-MM", number, transaction id)."""
        self._insert("voucher_numbers", ("book_id", "period", "number", "transaction_id"), rows)

    def remove_from_seal_queue(self, ids: Sequence[int]) -> None:
        for chunk in chunks(ids):
            self.cursor.execute(
                f"DELETE FROM seal_queue WHERE transaction_id IN ({self._marks(1, len(chunk))})", list(chunk)
            )

    def add_month_totals(self, totals: dict[tuple[int, str], list[int]]) -> None:
        """Add posted (debits, credits) per (account id, "YYYY-MM"); rows in sorted order."""
        self._insert(
            "account_month_totals",
            ("account_id", "period", "debits_fen", "credits_fen"),
            [(account_id, period, values[0], values[1]) for (account_id, period), values in sorted(totals.items())],
            " ON CONFLICT (account_id, period) DO UPDATE SET "
            "debits_fen = account_month_totals.debits_fen + excluded.debits_fen, "
            "credits_fen = account_month_totals.credits_fen + excluded.credits_fen",
        )

    def set_account_totals(self, rows: list[tuple[int, int, int, int, int]]) -> None:
        """(debits posted, credits posted, debits pending, credits pending, account id): new absolute totals,
        computed under the writer's lock."""
        if not rows:
            return
        if self.postgres:
            for chunk in chunks(rows):
                self.cursor.execute(
                    "UPDATE accounts AS a SET debits_posted = v.dp, credits_posted = v.cp, debits_pending = v.dq, "
                    f"credits_pending = v.cq, version = a.version + 1 FROM (VALUES {self._marks(5, len(chunk))}) "
                    "AS v(dp, cp, dq, cq, id) WHERE a.id = v.id",
                    [value for row in chunk for value in row],
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
