"""Bulk CSV import: streamed, validated per transaction, committed per chunk, resumable.

Columns: ``tx_id,date,account,amount[,currency,memo]``; one row per posting, the rows of a transaction
contiguous; amounts debit-positive. Every rule of the posting engine holds (at least two postings, no
zero amounts, balanced per currency, known open accounts, open periods, constraint flags), but the rows
are written with driver-level ``executemany`` rather than through the per-request engine: this is the
path that must carry millions of postings.

Re-running the same file skips what is already posted (same ``source`` + ``tx_id`` and same content) and
reports a transaction whose content changed as ``exists_with_different_content``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TextIO

from sqlalchemy import Connection, select

from ledger.accounts import account_type, check_type_allowed_in_book
from ledger.chain_format import transaction_leaf
from ledger.engine import T_ACCOUNTS, T_PERIOD_CLOSES, T_TRANSACTIONS, Ledger, utc_now
from ledger.entries import CLIENT_ID_MAX_LENGTH, MEMO_MAX_LENGTH, POSTINGS_PER_TRANSACTION_MAX
from ledger.errors import LedgerError, ResultCode
from ledger.gc_pause import cyclic_gc_paused
from ledger.money import BIGINT_MAX, CURRENCY_PLACES, DEFAULT_CURRENCY, format_fen, to_fen
from ledger.store import DriverStatements, chunks

# Larger chunks commit less often: each commit rewrites the index pages its chunk touched, nearly the
# whole (account, date) index for a chunk this size; 50k measured 13% faster than 20k on 1M, +30 MiB.
IMPORT_CHUNK_TRANSACTIONS = 50_000
IMPORT_ERRORS_MAX = 1_000
REQUIRED_COLUMNS = ("tx_id", "date", "account", "amount")
OPTIONAL_COLUMNS = ("currency", "memo")
IMPORT_KIND = "import"
# Imported transactions have no approver, approval document, reason, links, expiry or program year.
_NO_LINKS = (None, None, None, None, None, None, None, None, None)
# Integer yuan digits the fast path accepts; longer values go through to_fen's BIGINT check.
FAST_AMOUNT_DIGITS_MAX = 16


@dataclass(slots=True)
class _Row:
    line: int
    account: str
    amount_fen: int
    currency: str
    account_id: int = 0  # filled in once the account is known


@dataclass(slots=True)
class _Tx:
    tx_id: str
    line: int
    effective_date: date
    memo: str
    rows: list[_Row]
    digest: str = ""


@dataclass
class ImportError_:
    line: int
    tx_id: str
    code: str
    message: str

    def __str__(self) -> str:
        # A row whose tx_id is empty names only its line: "line 6: id_must_not_be_empty: ...".
        transaction = f" (tx {self.tx_id})" if self.tx_id else ""
        return f"line {self.line}{transaction}: {self.code}: {self.message}"


@dataclass
class ImportReport:
    """What an import did. ``refused`` counts transactions (a transaction with three bad rows is one refusal);
    ``errors_total`` counts the messages, one per bad row or refused transaction, of which ``errors`` keeps
    the first ``IMPORT_ERRORS_MAX``."""

    source: str
    posted: int = 0
    skipped: int = 0
    postings: int = 0
    accounts_created: int = 0
    refused: int = 0
    errors: list[ImportError_] = field(default_factory=list)
    errors_total: int = 0

    def add_error(self, error: ImportError_, *, refuses_transaction: bool = True) -> None:
        """Record one message; ``refuses_transaction`` is False for a further bad row of a transaction
        already refused, so it is not counted twice."""
        self.errors_total += 1
        if refuses_transaction:
            self.refused += 1
        if len(self.errors) < IMPORT_ERRORS_MAX:
            self.errors.append(error)


def _fen(text_value: str, currency: str) -> int:
    """Fast exact parse for the common "-1234.56" shape; anything else takes the careful path."""
    if currency == DEFAULT_CURRENCY and len(text_value) > 3 and text_value[-3] == ".":
        head, tail = text_value[:-3], text_value[-2:]
        digits = head[1:] if head[:1] == "-" else head
        # isascii first: str.isdigit is true for "²" and other digits int() refuses (defect 15).
        if (
            head.isascii()
            and tail.isascii()
            and tail.isdigit()
            and digits.isdigit()
            and len(digits) <= FAST_AMOUNT_DIGITS_MAX
        ):
            return int(head + tail)
    return to_fen(text_value, currency)


def _digest(tx: _Tx, book: str) -> str:
    """Content of an imported transaction, to tell a re-run from a changed file. The book is part of it
    (defect 10): the same source and tx_id imported into another book is other content, refused, never
    skipped as already posted."""
    parts = [book, tx.effective_date.isoformat(), tx.memo]
    parts += [f"{row.account}\x1f{row.amount_fen}\x1f{row.currency}" for row in tx.rows]
    return hashlib.sha256("\x1e".join(parts).encode()).hexdigest()


class _Columns:
    """Where each known column sits in a file's header (the first occurrence of a repeated name)."""

    def __init__(self, header: list[str]) -> None:
        columns = [name.strip().lower() for name in header]
        missing = [name for name in REQUIRED_COLUMNS if name not in columns]
        if missing:
            raise LedgerError(
                ResultCode.CSV_HEADER_INVALID,
                f"line 1: header must name {', '.join(REQUIRED_COLUMNS)} (optional: {', '.join(OPTIONAL_COLUMNS)}); "
                f"missing {', '.join(missing)}",
            )
        index = {name: columns.index(name) for name in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS) if name in columns}
        self.tx, self.date, self.account, self.amount = (index[name] for name in REQUIRED_COLUMNS)
        self.currency: int | None = index.get("currency")
        self.memo: int | None = index.get("memo")
        self.width = len(columns)


ErrorSink = Callable[["ImportError_", bool], None]


class _RowGrouper:
    """The per-row rules of a file, record by record: fields, then grouping rows into transactions. Shared
    by the row-by-row reader and the vectorised reader's exact path (``ledger.import_vectorised``), so both
    refuse the same rows with the same messages. ``feed`` returns the transaction a record completes."""

    def __init__(self, columns: _Columns, on_error: ErrorSink, seen_ids: set[str]) -> None:
        self.columns = columns
        self.on_error = on_error
        self.current: _Tx | None = None
        self.current_bad = False
        self.seen_ids = seen_ids
        self.dates: dict[str, date] = {}

    def feed(self, line: int, record: list[str]) -> _Tx | None:
        if not record or (len(record) == 1 and not record[0].strip()):
            return None
        c = self.columns
        done: _Tx | None = None
        tx_id = record[c.tx].strip() if len(record) > c.tx else ""
        current = self.current
        if current is not None and tx_id != current.tx_id:
            if not self.current_bad:
                done = current
            current, self.current_bad = None, False
            self.current = None
        try:
            if len(record) != c.width:
                raise LedgerError(ResultCode.CSV_ROW_INVALID, f"expected {c.width} fields, found {len(record)}")
            if not tx_id:
                raise LedgerError(ResultCode.ID_MUST_NOT_BE_EMPTY, "tx_id is empty")
            if len(tx_id) > CLIENT_ID_MAX_LENGTH:
                raise LedgerError(ResultCode.CSV_ROW_INVALID, f"tx_id longer than {CLIENT_ID_MAX_LENGTH} characters")
            date_text = record[c.date].strip()
            effective_date = self.dates.get(date_text)
            if effective_date is None:
                effective_date = _row_date(date_text)
                self.dates[date_text] = effective_date
            i_currency = c.currency
            currency = record[i_currency].strip() if i_currency is not None and record[i_currency].strip() else "CNY"
            if currency not in CURRENCY_PLACES:
                raise LedgerError(ResultCode.CURRENCY_UNKNOWN, f"currency {currency!r} is not configured")
            amount_fen = _fen(record[c.amount].strip(), currency)
            if amount_fen == 0:
                raise LedgerError(ResultCode.AMOUNT_MUST_NOT_BE_ZERO, "amount is zero")
            account = record[c.account].strip()
            row = _Row(line, account, amount_fen, currency)
        except LedgerError as error:
            # A transaction is refused once, however many of its rows are bad; each bad row is still named.
            self.on_error(ImportError_(line, tx_id, error.code.value, error.message), not self.current_bad)
            if current is None:
                self.current = _Tx(tx_id, line, date.min, "", [])
            self.current_bad = True
            return done
        if current is None:
            if tx_id in self.seen_ids:
                self.on_error(
                    ImportError_(
                        line,
                        tx_id,
                        ResultCode.CSV_ROW_INVALID.value,
                        "rows of a transaction must be contiguous; this tx_id appeared earlier in the file",
                    ),
                    True,
                )
                self.current, self.current_bad = _Tx(tx_id, line, effective_date, "", []), True
                return done
            self.seen_ids.add(tx_id)
            memo = record[c.memo] if c.memo is not None else ""
            current = self.current = _Tx(tx_id, line, effective_date, memo, [])
        elif effective_date != current.effective_date and not self.current_bad:
            self.on_error(
                ImportError_(line, tx_id, ResultCode.CSV_ROW_INVALID.value, "all rows of a transaction need one date"),
                True,
            )
            self.current_bad = True
        current.rows.append(row)
        return done

    def finish(self) -> _Tx | None:
        """The last transaction, complete at the end of the file (None if it was refused)."""
        current, self.current = self.current, None
        return current if current is not None and not self.current_bad else None


def read_header(reader) -> _Columns:
    try:
        header = next(reader)
    except StopIteration:
        raise LedgerError(ResultCode.CSV_HEADER_INVALID, "the CSV file is empty") from None
    return _Columns(header)


def read_transactions(stream: TextIO, report: ImportReport) -> Iterator[_Tx]:
    """Parse and group rows; malformed rows are reported with their line number and their
    transaction is dropped whole (never half-posted). A line number is the physical line a record starts
    on, the header being line 1: a quoted memo holding a line break moves the records after it down."""
    reader = csv.reader(stream)
    columns = read_header(reader)
    # A record that starts a new transaction completes the one before: that one is handed on (and its chunk
    # may commit) before the record's own refusal is reported, so refusals and chunks keep file order.
    held: list[tuple[ImportError_, bool]] = []
    grouper = _RowGrouper(columns, lambda error, refuses: held.append((error, refuses)), set())
    feed = grouper.feed
    ended = reader.line_num
    for record in reader:
        done = feed(ended + 1, record)
        ended = reader.line_num
        if done is not None:
            yield done
        if held:
            for error, refuses in held:
                report.add_error(error, refuses_transaction=refuses)
            held.clear()
    last = grouper.finish()
    if last is not None:
        yield last


# The only date form a row may carry; date.fromisoformat alone would also take "20260105" or "2026-W02-1".
ROW_DATE_LENGTH = len("YYYY-MM-DD")


def _row_date(text_value: str) -> date:
    """A row's date, YYYY-MM-DD; the refusal quotes what was read (the line is named by the caller)."""
    shown = text_value if len(text_value) <= ROW_DATE_LENGTH * 2 else text_value[: ROW_DATE_LENGTH * 2] + "..."
    if len(text_value) == ROW_DATE_LENGTH and text_value[4] == "-" and text_value[7] == "-":
        try:
            return date.fromisoformat(text_value)
        except ValueError:
            raise LedgerError(ResultCode.DATE_INVALID, f"date {shown!r} is not a calendar date") from None
    raise LedgerError(ResultCode.DATE_INVALID, f"date {shown!r} is not YYYY-MM-DD")


def _check_transaction(tx: _Tx) -> None:
    if len(tx.rows) < 2:
        raise LedgerError(ResultCode.ENTRY_MUST_HAVE_TWO_POSTINGS, f"needs at least 2 postings, got {len(tx.rows)}")
    if len(tx.rows) > POSTINGS_PER_TRANSACTION_MAX:
        raise LedgerError(ResultCode.ENTRY_TOO_LARGE, f"more than {POSTINGS_PER_TRANSACTION_MAX} postings")
    if len(tx.memo) > MEMO_MAX_LENGTH:
        raise LedgerError(ResultCode.TEXT_INVALID, f"memo is longer than {MEMO_MAX_LENGTH} characters")
    if "\x00" in tx.memo or "\x00" in tx.tx_id:
        # PostgreSQL cannot store a NUL: refuse it on both databases, as the posting engine does.
        raise LedgerError(ResultCode.TEXT_INVALID, "tx_id or memo contains a NUL character")
    totals: dict[str, int] = {}
    for row in tx.rows:
        totals[row.currency] = totals.get(row.currency, 0) + row.amount_fen
    for currency, total in totals.items():
        if total:
            raise LedgerError(
                ResultCode.ENTRY_MUST_BALANCE,
                f"postings in {currency} are off by {format_fen(total, currency)} {currency} "
                "(debits, positive, must equal credits, negative)",
                difference=format_fen(total, currency),
            )


@dataclass(slots=True)
class _AccountCache:
    id: int
    currency: str
    closed: bool
    flagged: bool


class CsvImporter:
    """Streams one CSV file into one book."""

    def __init__(
        self,
        ledger: Ledger,
        *,
        book: str,
        source: str,
        create_accounts: bool = False,
        actor: str = "import",
        chunk_transactions: int = IMPORT_CHUNK_TRANSACTIONS,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        self.ledger = ledger
        self.book = book
        self.source = source
        self.create_accounts = create_accounts
        self.actor = actor
        self.chunk_transactions = chunk_transactions
        self.progress = progress
        self.report = ImportReport(source)
        self.accounts: dict[str, _AccountCache] = {}
        self.book_id: int | None = None
        self.book_basis = ""
        self.fresh_source = False
        self.postgres = ledger.postgres
        self.indexes_dropped = False

    def _load_book(self) -> None:
        with self.ledger.reader.connect() as conn:
            book_row = Ledger._book(conn, self.book)
            self.book_id, self.book_basis = book_row["id"], book_row["basis"]
            for account_id, path, currency, closed, limit_debits, limit_credits in conn.execute(
                select(
                    T_ACCOUNTS.c.id,
                    T_ACCOUNTS.c.path,
                    T_ACCOUNTS.c.currency,
                    T_ACCOUNTS.c.closed,
                    T_ACCOUNTS.c.debits_must_not_exceed_credits,
                    T_ACCOUNTS.c.credits_must_not_exceed_debits,
                ).where(T_ACCOUNTS.c.book_id == self.book_id)
            ):
                self.accounts[path] = _AccountCache(
                    account_id, currency, bool(closed), bool(limit_debits or limit_credits)
                )
        with self.ledger.reader.connect() as conn:
            self.fresh_source = (
                conn.execute(select(T_TRANSACTIONS.c.id).where(T_TRANSACTIONS.c.source == self.source).limit(1)).first()
                is None
            )

    def run(self, stream: TextIO) -> ImportReport:
        """Row by row from a text stream."""
        self._load_book()
        self._run_rows(stream)
        return self.report

    def run_source(self, source: str | Path | TextIO, *, vectorised: bool | None = None) -> ImportReport:
        """A path or a text stream, through the vectorised reader when it can take the file (``vectorised``
        None: files from ``VECTORISED_MIN_BYTES``; True: any it can take; False: never), else row by row.
        A large file into a book without postings loads with the secondary posting indexes dropped (SQLite,
        ``ledger.import_indexes``); they are rebuilt when the import ends, however it ends."""
        from ledger import import_indexes

        self._load_book()
        if not self.postgres:
            import_indexes.restore_posting_indexes(self.ledger.engine)  # left missing by a killed import
        plan = self._vectorised_plan(source, vectorised)
        try:
            size = plan[0].size if plan else _size_of(source)
            dropped = (
                not self.postgres
                and size is not None
                and import_indexes.may_drop_posting_indexes(
                    self.ledger.engine, sorted(cached.id for cached in self.accounts.values()), size
                )
            )
            if dropped:
                import_indexes.drop_posting_indexes(self.ledger.engine)
                self.indexes_dropped = True
            try:
                if plan:
                    self._run_vectorised(*plan)
                elif isinstance(source, str | Path):
                    with Path(source).open(newline="", encoding="utf-8-sig") as stream:
                        self._run_rows(stream)
                else:
                    self._run_rows(source)
            finally:
                if dropped:
                    self.indexes_dropped = False
                    import_indexes.restore_posting_indexes(self.ledger.engine)
        finally:
            if plan and plan[0].close:
                plan[0].binary.close()
        return self.report

    def _vectorised_plan(self, source, vectorised: bool | None):
        """(source bytes, columns, data offset) if the vectorised reader takes this file, else None; the
        stream is left as it was found."""
        if vectorised is False:
            return None
        from ledger.import_vectorised import VECTORISED_MIN_BYTES, binary_source, plain_layout, read_header_line

        src = binary_source(source)
        if src is None:
            return None
        plan = None
        if vectorised or src.size >= VECTORISED_MIN_BYTES:
            header = read_header_line(src)
            if header is not None and plain_layout(src.binary):
                plan = (src, *header)
        if plan is None:
            if src.close:
                src.binary.close()
            else:
                source.seek(0)  # the CLI's text stream: read row by row from its start
        return plan

    def _run_rows(self, stream: TextIO) -> None:
        chunk: list[_Tx] = []
        with cyclic_gc_paused():
            for tx in read_transactions(stream, self.report):
                chunk.append(tx)
                if len(chunk) >= self.chunk_transactions:
                    self._commit_chunk(chunk)
                    chunk = []
            if chunk:
                self._commit_chunk(chunk)

    def _run_vectorised(self, src, columns: _Columns, data_start: int) -> None:
        from ledger.import_columns import run_vectorised

        run_vectorised(self, src.binary, columns, data_start)

    # -- one chunk, one database transaction -----------------------------------------------------------

    def _commit_chunk(self, chunk: list[_Tx]) -> None:
        with self.ledger.engine.begin() as conn:
            db = DriverStatements(conn)
            try:
                accepted = self._accept(conn, db, chunk)
                if accepted:
                    self._write(conn, db, accepted)
            finally:
                db.close()
        if self.progress is not None:
            self.progress(len(chunk))

    def _reject(self, tx: _Tx, error: LedgerError) -> None:
        # A refusal about one row (an unknown account) names that row's line, else the transaction's first.
        line = error.detail.get("line", tx.line)
        self.report.add_error(ImportError_(line, tx.tx_id, error.code.value, error.message))

    def _accept(self, conn: Connection, db: DriverStatements, chunk: list[_Tx]) -> list[_Tx]:
        # A source with nothing recorded before this run cannot hold these keys (the reader refuses a
        # tx_id repeated within the file); a concurrent import under the same source would still be
        # stopped by the unique index, failing its chunk whole.
        existing = {} if self.fresh_source else db.request_hashes(self.source, [tx.tx_id for tx in chunk])
        self._refused_accounts: dict[str, LedgerError] = {}
        if self.create_accounts:
            self._open_accounts(conn, chunk)
        closed_periods = self._lock_accounts_and_read_closed_periods(
            conn, {self.accounts[row.account].id for tx in chunk for row in tx.rows if row.account in self.accounts}
        )
        balances = self._flagged_balances(conn, chunk)
        accepted = []
        for tx in chunk:
            tx.digest = _digest(tx, self.book)
            if self._decide(tx, existing, closed_periods, balances):
                accepted.append(tx)
        return accepted

    def _decide(self, tx: _Tx, existing: dict[str, str], closed_periods: set[str], balances: dict[int, list]) -> bool:
        """One transaction of a chunk, in file order: True to write it; a skip or a refusal is reported."""
        stored = existing.get(tx.tx_id)
        if stored is not None:
            if stored == tx.digest:
                self.report.skipped += 1
            else:
                self._reject(
                    tx,
                    LedgerError(
                        ResultCode.EXISTS_WITH_DIFFERENT_CONTENT,
                        f"{self.source}/{tx.tx_id} was imported before with different content",
                    ),
                )
            return False
        try:
            _check_transaction(tx)
            for row in tx.rows:
                if row.account in self._refused_accounts:
                    refused = self._refused_accounts[row.account]
                    raise LedgerError(refused.code, refused.message, line=row.line)
            self._check_accounts(tx)
            period = f"{tx.effective_date.year:04d}-{tx.effective_date.month:02d}"
            if period in closed_periods:
                raise LedgerError(ResultCode.PERIOD_CLOSED, f"period {period} of book {self.book!r} is closed")
            self._apply_flags(tx, balances)
        except LedgerError as error:
            self._reject(tx, error)
            return False
        existing[tx.tx_id] = tx.digest
        return True

    def _check_accounts(self, tx: _Tx) -> None:
        for row in tx.rows:
            cached = self.accounts.get(row.account)
            if cached is None:
                raise LedgerError(
                    ResultCode.ACCOUNT_NOT_FOUND,
                    f"account {self.book}/{row.account} does not exist (pass --create-accounts to open it)",
                    line=row.line,
                )
            if cached.closed:
                raise LedgerError(ResultCode.ACCOUNT_CLOSED, f"account {row.account} is closed", line=row.line)
            if cached.currency != row.currency:
                raise LedgerError(
                    ResultCode.ACCOUNT_CURRENCY_MISMATCH,
                    f"account {row.account} is in {cached.currency}, not {row.currency}",
                    line=row.line,
                )
            row.account_id = cached.id

    def _open_accounts(self, conn: Connection, chunk: list[_Tx]) -> set[str]:
        """Open this chunk's unknown accounts in one statement; returns the names that cannot be opened."""
        wanted: dict[str, _Row] = {}
        for tx in chunk:
            for row in tx.rows:
                if row.account not in self.accounts and row.account not in wanted:
                    wanted[row.account] = row
        return self._open_wanted(conn, wanted)

    def _open_wanted(self, conn: Connection, wanted: dict[str, _Row]) -> set[str]:
        """Open the accounts ``wanted`` names (each with the first row naming it, in file order: the ids are
        given in that order) that are not yet known; returns the names that cannot be opened."""
        refused: dict[str, LedgerError] = {}
        rows = []
        now = utc_now()
        for path, row in wanted.items():
            try:
                kind = account_type(path, normal_side="debit")
                check_type_allowed_in_book(kind, path, self.book, self.book_basis)
            except LedgerError as error:
                refused[path] = LedgerError(error.code, error.message, line=row.line)
                continue
            rows.append(
                {
                    "book_id": self.book_id,
                    "path": path,
                    "type": kind.name,
                    "normal_side": kind.normal_side,
                    "currency": row.currency,
                    "metadata_json": "{}",
                    "debits_must_not_exceed_credits": False,
                    "credits_must_not_exceed_debits": False,
                    "closed": False,
                    "created_at": now,
                }
            )
        if rows:
            conn.execute(T_ACCOUNTS.insert(), rows)
            names = [row["path"] for row in rows]
            for part in chunks(names):
                for account_id, path, currency in conn.execute(
                    select(T_ACCOUNTS.c.id, T_ACCOUNTS.c.path, T_ACCOUNTS.c.currency).where(
                        T_ACCOUNTS.c.book_id == self.book_id, T_ACCOUNTS.c.path.in_(part)
                    )
                ):
                    self.accounts[path] = _AccountCache(account_id, currency, False, False)
            self.report.accounts_created += len(rows)
        self._refused_accounts = refused
        return set(refused)

    def _lock_accounts_and_read_closed_periods(self, conn: Connection, account_ids: set[int]) -> set[str]:
        """The book's closed periods, read once this chunk's accounts are locked (defect 11): on PostgreSQL
        ``close_period`` locks every account of its book (in id order, as here), so a close either commits
        before this read or waits for the chunk to commit, as for the engine's posts."""
        if self.postgres:
            ids = sorted(account_ids)
            for id_chunk in chunks(ids):
                conn.execute(
                    select(T_ACCOUNTS.c.id)
                    .where(T_ACCOUNTS.c.id.in_(id_chunk))
                    .order_by(T_ACCOUNTS.c.id)
                    .with_for_update()
                ).all()
        return {
            row[0]
            for row in conn.execute(select(T_PERIOD_CLOSES.c.period).where(T_PERIOD_CLOSES.c.book_id == self.book_id))
        }

    def _flagged_balances(self, conn: Connection, chunk: list[_Tx]) -> dict[int, list]:
        """Current balances of the constrained accounts this chunk touches (we hold the write lock)."""
        return self._balances_of(
            conn,
            {
                self.accounts[row.account].id
                for tx in chunk
                for row in tx.rows
                if row.account in self.accounts and self.accounts[row.account].flagged
            },
        )

    def _balances_of(self, conn: Connection, flagged_ids: set[int]) -> dict[int, list]:
        ids = sorted(flagged_ids)
        if not ids:
            return {}
        query = select(
            T_ACCOUNTS.c.id,
            T_ACCOUNTS.c.path,
            T_ACCOUNTS.c.debits_posted,
            T_ACCOUNTS.c.credits_posted,
            T_ACCOUNTS.c.debits_pending,
            T_ACCOUNTS.c.credits_pending,
            T_ACCOUNTS.c.debits_must_not_exceed_credits,
            T_ACCOUNTS.c.credits_must_not_exceed_debits,
        ).where(T_ACCOUNTS.c.id.in_(ids))
        if self.postgres:
            query = query.order_by(T_ACCOUNTS.c.id).with_for_update()
        return {row[0]: list(row[1:]) for row in conn.execute(query)}

    def _apply_flags(self, tx: _Tx, balances: dict[int, list]) -> None:
        touched: dict[int, list] = {}
        for row in tx.rows:
            account_id = self.accounts[row.account].id
            if account_id not in balances:
                continue
            values = touched.setdefault(account_id, list(balances[account_id]))
            if row.amount_fen > 0:
                values[1] += row.amount_fen
            else:
                values[2] -= row.amount_fen
        for path, debits, credits, debits_pending, credits_pending, limit_debits, limit_credits in touched.values():
            if limit_debits and debits + debits_pending > credits:
                raise LedgerError(
                    ResultCode.DEBITS_EXCEED_CREDITS, f"account {path} would have debits exceeding credits"
                )
            if limit_credits and credits + credits_pending > debits:
                raise LedgerError(
                    ResultCode.CREDITS_EXCEED_DEBITS, f"account {path} would have credits exceeding debits"
                )
        balances.update(touched)

    def _store_balances(
        self, conn: Connection, db: DriverStatements, debits: dict[int, int], credits: dict[int, int]
    ) -> None:
        """Cached totals move by the sum of the accepted postings, one UPDATE per account per chunk."""
        touched = sorted(set(debits) | set(credits))
        if not touched:
            return
        current = {
            row[0]: (row[1], row[2])
            for row in conn.execute(
                select(T_ACCOUNTS.c.id, T_ACCOUNTS.c.debits_posted, T_ACCOUNTS.c.credits_posted).where(
                    T_ACCOUNTS.c.id.in_(touched)
                )
            )
        }
        for account_id in touched:
            # SQLite would silently turn an overflowing integer sum into a REAL: refuse before it can.
            if (
                current[account_id][0] + debits.get(account_id, 0) > BIGINT_MAX
                or current[account_id][1] + credits.get(account_id, 0) > BIGINT_MAX
            ):
                raise LedgerError(ResultCode.AMOUNT_EXCEEDS_BIGINT, "account totals would exceed a 64-bit integer")
        db.add_account_posted(
            [(debits.get(account_id, 0), credits.get(account_id, 0), account_id) for account_id in touched]
        )

    def _write(self, conn: Connection, db: DriverStatements, accepted: list[_Tx]) -> None:
        ids = db.reserve_transaction_ids(len(accepted))
        recorded_at = db.moment(utc_now())
        not_pending = db.flag(False)
        source, actor, book_id = self.source, self.actor, self.book_id
        tx_rows, queued, posting_rows = [], [], []
        books = str(book_id)  # an import posts to one book: every transaction's voucher numbers are there
        month_totals: dict[tuple[int, str], list[int]] = {}
        debits: dict[int, int] = {}
        credits: dict[int, int] = {}
        days: dict[date, tuple[object, str]] = {}
        for tx, tx_id in zip(accepted, ids):
            effective_date = tx.effective_date
            if effective_date not in days:
                days[effective_date] = (db.day(effective_date), f"{effective_date.year:04d}-{effective_date.month:02d}")
            day, period = days[effective_date]
            tx_row = (tx_id, source, tx.tx_id, tx.digest, IMPORT_KIND, not_pending, day, recorded_at, tx.memo, actor)
            tx_row += _NO_LINKS
            tx_rows.append(tx_row)
            # The chain's leaf, from the values stored (ledger.chain_format): the chainer never reads them back.
            legs = [(row.account_id, row.amount_fen, row.currency) for row in tx.rows]
            queued.append((tx_id, transaction_leaf(tx_row, legs), period, books))
            for row in tx.rows:
                account_id, amount = row.account_id, row.amount_fen
                posting_rows.append((tx_id, account_id, book_id, amount, row.currency, day, not_pending))
                totals = month_totals.get((account_id, period))
                if totals is None:
                    totals = month_totals[(account_id, period)] = [0, 0]
                if amount > 0:
                    totals[0] += amount
                    debits[account_id] = debits.get(account_id, 0) + amount
                else:
                    totals[1] -= amount
                    credits[account_id] = credits.get(account_id, 0) - amount
        self._store_balances(conn, db, debits, credits)
        db.insert_transactions(tx_rows, queued)
        db.insert_postings(posting_rows)
        db.add_month_totals(month_totals)
        self.report.posted += len(accepted)
        self.report.postings += len(posting_rows)


def default_import_source(book: str, file_name: str) -> str:
    """``import:<book>:<file name>``: the idempotency namespace of a file imported without ``--source``."""
    return f"import:{book}:{file_name}"


def _size_of(source) -> int | None:
    if isinstance(source, str | Path):
        return Path(source).stat().st_size
    try:
        return os.fstat(source.fileno()).st_size
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return None


def import_csv(
    ledger: Ledger,
    source_file: str | Path | TextIO,
    *,
    book: str,
    source: str | None = None,
    create_accounts: bool = False,
    chunk_transactions: int = IMPORT_CHUNK_TRANSACTIONS,
    progress: Callable[[int], None] | None = None,
    vectorised: bool | None = None,
) -> ImportReport:
    """Import one CSV file into ``book``. ``vectorised``: None picks the vectorised reader for files it can
    take from ``VECTORISED_MIN_BYTES`` on, True for any it can take, False never; the result is the same."""
    if isinstance(source_file, str | Path):
        # The default source names the book too (defect 10): two regions' files of the same name are two
        # sources, not one whose keys collide.
        name = source or default_import_source(book, Path(source_file).name)
    elif isinstance(source_file, io.TextIOBase) or hasattr(source_file, "read"):
        name = source or default_import_source(book, "stream")
    else:
        raise LedgerError(ResultCode.FILE_INVALID, f"cannot read {source_file!r}")
    return CsvImporter(
        ledger,
        book=book,
        source=name,
        create_accounts=create_accounts,
        chunk_transactions=chunk_transactions,
        progress=progress,
    ).run_source(source_file, vectorised=vectorised)
