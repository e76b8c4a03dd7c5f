"""Exports of the posted journal: CSV (re-importable), Parquet (analytics), beancount v3 and ledger-cli text.

What is exported: every posting of a posted (non-pending) transaction. Pending transactions reserve
amounts but are not entries yet; a void has no postings; a post of a pending transaction and a reversal
(红字冲销) are ordinary posted transactions and are exported with their own dates.

A beancount file holds one basis (``--basis financial``, the default, or ``budgetary`` or ``memo``): the
budgetary and memo books keep their own root names (``BudgetRevenue``, ``MemoDebit``, ...) in their own
files, so a quota or a commitment never appears as an asset. Account names start with the book's code as
readable components (``Assets:Gz-finance:Bank``); a transaction without a memo is narrated by its kind and key.

With ``book``, only that book's postings are exported. A transaction posting to several books is then
exported in part, but the part still balances: the engine refuses any transaction that does not balance
per book and per currency.

How: the journal is read in keyset pages (``WHERE (keys) > (last keys) ORDER BY keys LIMIT n``), never all
at once, inside one read snapshot so pages agree with each other; amounts are integer fen turned into
decimal strings by ``ledger.money.format_fen``, never floats. Output is deterministic: the same journal
gives the same bytes.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import os
import re
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from functools import lru_cache
from typing import IO, TYPE_CHECKING

from sqlalchemy import Connection, Engine, bindparam, func, select, tuple_

from ledger.db import read_only
from ledger.engine import T_ACCOUNTS, T_BOOKS, T_POSTINGS, T_TRANSACTIONS, as_utc
from ledger.errors import LedgerError, ResultCode
from ledger.money import DEFAULT_CURRENCY, format_fen, from_fen

if TYPE_CHECKING:
    import pyarrow as pa

# Rows per keyset page: large enough to amortise a query, small enough to bound memory.
EXPORT_PAGE_ROWS = 5_000
PAGE_ROWS_MAX = 100_000
# Parquet row groups of ~100k rows: readers skip whole groups by their statistics.
PARQUET_ROW_GROUP_ROWS = 100_000
CSV_COLUMNS = ("tx_id", "date", "account", "amount", "currency", "memo")
# Holds any BIGINT number of minor units with two places, even for a currency without minor units.
AMOUNT_DECIMAL_PRECISION = 21
AMOUNT_DECIMAL_SCALE = 2
# Characters of the original name kept in the digest that marks an altered beancount name component.
NAME_DIGEST_LENGTH = 8

Destination = str | os.PathLike | IO[str] | IO[bytes]


class ExportCode(StrEnum):
    EXPORT_ACCOUNT_NAMES_MUST_BE_DISTINCT = "export_account_names_must_be_distinct"
    EXPORT_BASIS_MISMATCH = "export_basis_mismatch"
    PAGE_SIZE_INVALID = "page_size_invalid"


# ----- reading the journal -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExportAccount:
    id: int
    book: str
    path: str
    type: str
    normal_side: str
    currency: str
    basis: str = "financial"  # its book's basis: financial | budgetary | memo


@dataclass(frozen=True, slots=True)
class JournalPosting:
    """One posted leg with its transaction's fields, as every export reads it."""

    posting_id: int
    transaction_id: int
    source: str
    client_id: str
    effective_date: date
    recorded_at: datetime
    kind: str
    memo: str
    actor: str
    approver: str | None
    account: ExportAccount
    amount_fen: int
    currency: str

    @property
    def tx_id(self) -> str:
        return transaction_key(self.source, self.client_id)


def transaction_key(source: str, client_id: str) -> str:
    """``<source>:<client_id>``, the CSV ``tx_id`` and beancount ``txn_id``.

    Unique because (source, client_id) is: a ":" or "%" inside the source is percent-escaped, so the
    first ":" always ends the source (``system:expiry`` + ``7`` -> ``system%3Aexpiry:7``)."""
    return f"{source.replace('%', '%25').replace(':', '%3A')}:{client_id}"


@contextmanager
def read_snapshot(engine: Engine) -> Iterator[Connection]:
    """One read-only transaction whose pages all see the same journal.

    PostgreSQL: REPEATABLE READ, read only. SQLite: a deferred BEGIN (``ledger.db.read_only``), which in
    WAL mode reads one snapshot and neither waits for nor blocks writers."""
    with read_only(engine).connect() as conn:
        if engine.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        with conn.begin():
            yield conn


def book_id_of(conn: Connection, book: str) -> int:
    row = conn.execute(select(T_BOOKS.c.id).where(T_BOOKS.c.code == book)).first()
    if row is None:
        raise LedgerError(ResultCode.BOOK_NOT_FOUND, f"book {book!r} does not exist")
    return row[0]


def account_directory(conn: Connection, book_id: int | None = None) -> dict[int, ExportAccount]:
    """Accounts by id (a small table next to the journal: loaded whole)."""
    query = select(
        T_ACCOUNTS.c.id,
        T_BOOKS.c.code,
        T_ACCOUNTS.c.path,
        T_ACCOUNTS.c.type,
        T_ACCOUNTS.c.normal_side,
        T_ACCOUNTS.c.currency,
        T_BOOKS.c.basis,
    ).join(T_BOOKS, T_BOOKS.c.id == T_ACCOUNTS.c.book_id)
    if book_id is not None:
        query = query.where(T_ACCOUNTS.c.book_id == book_id)
    return {row[0]: ExportAccount(*row) for row in conn.execute(query.order_by(T_ACCOUNTS.c.id))}


@dataclass(frozen=True, slots=True)
class JournalScope:
    """What one export reads: a snapshot connection, the book (or all books) and its accounts."""

    conn: Connection
    book_id: int | None
    accounts: dict[int, ExportAccount]
    basis: str = "financial"  # the beancount file's basis (its root names)
    book_ids: tuple[int, ...] | None = None  # the books of that basis, when no single book is chosen


@contextmanager
def journal_scope(engine: Engine, book: str | None) -> Iterator[JournalScope]:
    """Resolve ``book`` (an unknown one is refused) and load the accounts before any output is opened,
    so a refused export leaves no half-written file."""
    with read_snapshot(engine) as conn:
        book_id = book_id_of(conn, book) if book is not None else None
        yield JournalScope(conn, book_id, account_directory(conn, book_id))


def _check_page_rows(page_rows: int) -> None:
    if not 1 <= page_rows <= PAGE_ROWS_MAX:
        raise LedgerError(ExportCode.PAGE_SIZE_INVALID, f"page size must be between 1 and {PAGE_ROWS_MAX} rows")


def posted_postings(
    conn: Connection,
    accounts: dict[int, ExportAccount],
    *,
    book_id: int | None = None,
    book_ids: tuple[int, ...] | None = None,
    date_order: bool = False,
    page_rows: int = EXPORT_PAGE_ROWS,
) -> Iterator[JournalPosting]:
    """Posted legs in keyset pages, ordered by (transaction id, posting id), or by effective date first.

    Either order keeps a transaction's legs next to each other. Each page also bounds the leading key
    with ``>=``, so an index on that column (transaction_id; effective_date) serves the page."""
    _check_page_rows(page_rows)
    if date_order:
        keys = (T_POSTINGS.c.effective_date, T_POSTINGS.c.transaction_id, T_POSTINGS.c.id)
    else:
        keys = (T_POSTINGS.c.transaction_id, T_POSTINGS.c.id)
    query = (
        select(
            T_POSTINGS.c.id,
            T_POSTINGS.c.transaction_id,
            T_POSTINGS.c.account_id,
            T_POSTINGS.c.amount_fen,
            T_POSTINGS.c.currency,
            T_POSTINGS.c.effective_date,
            T_TRANSACTIONS.c.source,
            T_TRANSACTIONS.c.client_id,
            T_TRANSACTIONS.c.recorded_at,
            T_TRANSACTIONS.c.kind,
            T_TRANSACTIONS.c.memo,
            T_TRANSACTIONS.c.actor,
            T_TRANSACTIONS.c.approver,
        )
        .join(T_TRANSACTIONS, T_TRANSACTIONS.c.id == T_POSTINGS.c.transaction_id)
        .where(T_POSTINGS.c.pending.is_(False))
        .order_by(*keys)
        .limit(page_rows)
    )
    if book_id is not None:
        query = query.where(T_POSTINGS.c.book_id == book_id)
    elif book_ids is not None:
        query = query.where(T_POSTINGS.c.book_id.in_(book_ids))
    last: tuple | None = None
    while True:
        page_query = query
        if last is not None:
            bounds = [bindparam(None, value, type_=key.type) for key, value in zip(keys, last)]
            page_query = query.where(keys[0] >= bounds[0], tuple_(*keys) > tuple_(*bounds))
        rows = conn.execute(page_query).all()
        for row in rows:
            (posting_id, tx_id, account_id, amount_fen, currency, effective_date) = row[:6]
            (source, client_id, recorded_at, kind, memo, actor, approver) = row[6:]
            yield JournalPosting(
                posting_id=posting_id,
                transaction_id=tx_id,
                source=source,
                client_id=client_id,
                effective_date=effective_date,
                recorded_at=as_utc(recorded_at).replace(tzinfo=None),
                kind=kind,
                memo=memo or "",
                actor=actor or "",
                approver=approver,
                account=accounts[account_id],
                amount_fen=amount_fen,
                currency=currency,
            )
        if len(rows) < page_rows:
            return
        final = rows[-1]
        last = tuple(getattr(final, key.name) for key in keys)


def _transactions(postings: Iterator[JournalPosting]) -> Iterator[list[JournalPosting]]:
    for _tx_id, legs in itertools.groupby(postings, key=lambda posting: posting.transaction_id):
        yield list(legs)


# ----- destinations --------------------------------------------------------------------------------


@contextmanager
def _text_sink(out: Destination) -> Iterator[IO[str]]:
    """A path, a text stream or a binary stream, written as UTF-8 text."""
    if isinstance(out, str | os.PathLike):
        with open(out, "w", encoding="utf-8", newline="") as handle:
            yield handle
        return
    binary = isinstance(out, io.RawIOBase | io.BufferedIOBase) or "b" in str(getattr(out, "mode", ""))
    if not binary:
        yield out
        return
    wrapper = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
    try:
        yield wrapper
        wrapper.flush()
    finally:
        wrapper.detach()  # the caller owns the binary stream: do not close it


# ----- CSV -----------------------------------------------------------------------------------------


def export_csv(engine: Engine, out: Destination, *, book: str | None = None, page_rows: int = EXPORT_PAGE_ROWS) -> int:
    """One row per posted leg in the import format ``tx_id,date,account,amount,currency,memo``.

    ``tx_id`` is ``transaction_key(source, client_id)``; amounts are debit-positive decimal strings.
    The import format has no book column: a journal whose account paths repeat across books needs one
    export per book. Returns the number of rows written (header excluded)."""
    written = 0
    with journal_scope(engine, book) as scope, _text_sink(out) as sink:
        writer = csv.writer(sink, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for posting in posted_postings(scope.conn, scope.accounts, book_id=scope.book_id, page_rows=page_rows):
            writer.writerow(
                (
                    posting.tx_id,
                    posting.effective_date.isoformat(),
                    posting.account.path,
                    format_fen(posting.amount_fen, posting.currency),
                    posting.currency,
                    posting.memo,
                )
            )
            written += 1
    return written


# ----- Arrow and Parquet ---------------------------------------------------------------------------


@lru_cache(maxsize=1)
def journal_schema() -> pa.Schema:
    import pyarrow as pa

    return pa.schema(
        [
            ("posting_id", pa.int64()),
            ("transaction_id", pa.int64()),
            ("source", pa.string()),
            ("client_id", pa.string()),
            ("effective_date", pa.date32()),
            ("recorded_at", pa.timestamp("us")),  # UTC, naive as the schema stores it
            ("kind", pa.string()),
            ("book", pa.string()),
            ("account_id", pa.int64()),
            ("account", pa.string()),
            ("account_type", pa.string()),
            ("amount_fen", pa.int64()),
            ("amount", pa.decimal128(AMOUNT_DECIMAL_PRECISION, AMOUNT_DECIMAL_SCALE)),
            ("currency", pa.string()),
            ("actor", pa.string()),
            ("approver", pa.string()),
            ("memo", pa.string()),
        ],
        metadata={"amount_fen": "debit-positive minor units", "recorded_at": "UTC"},
    )


def _record_batch(postings: list[JournalPosting]) -> pa.RecordBatch:
    import pyarrow as pa

    columns = {
        "posting_id": [p.posting_id for p in postings],
        "transaction_id": [p.transaction_id for p in postings],
        "source": [p.source for p in postings],
        "client_id": [p.client_id for p in postings],
        "effective_date": [p.effective_date for p in postings],
        "recorded_at": [p.recorded_at for p in postings],
        "kind": [p.kind for p in postings],
        "book": [p.account.book for p in postings],
        "account_id": [p.account.id for p in postings],
        "account": [p.account.path for p in postings],
        "account_type": [p.account.type for p in postings],
        "amount_fen": [p.amount_fen for p in postings],
        "amount": [from_fen(p.amount_fen, p.currency) for p in postings],
        "currency": [p.currency for p in postings],
        "actor": [p.actor for p in postings],
        "approver": [p.approver for p in postings],
        "memo": [p.memo for p in postings],
    }
    return pa.RecordBatch.from_pydict(columns, schema=journal_schema())


def journal_record_batches(scope: JournalScope, *, batch_rows: int = EXPORT_PAGE_ROWS) -> Iterator[pa.RecordBatch]:
    """Posted legs joined with their transaction and account, as Arrow record batches of ``batch_rows``."""
    postings = posted_postings(scope.conn, scope.accounts, book_id=scope.book_id, page_rows=batch_rows)
    while batch := list(itertools.islice(postings, batch_rows)):
        yield _record_batch(batch)


def export_parquet(
    engine: Engine,
    path: str | os.PathLike | IO[bytes],
    *,
    book: str | None = None,
    page_rows: int = EXPORT_PAGE_ROWS,
    row_group_rows: int = PARQUET_ROW_GROUP_ROWS,
) -> int:
    """The posted journal as one Parquet file (schema ``journal_schema()``), written row group by row
    group so memory stays bounded. Returns the number of rows written."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    _check_page_rows(row_group_rows)
    written = 0
    pending: list[pa.RecordBatch] = []
    pending_rows = 0
    with journal_scope(engine, book) as scope, pq.ParquetWriter(path, journal_schema(), compression="zstd") as writer:

        def flush() -> None:
            nonlocal pending, pending_rows
            if pending:
                writer.write_table(pa.Table.from_batches(pending), row_group_size=row_group_rows)
                pending, pending_rows = [], 0

        for batch in journal_record_batches(scope, batch_rows=page_rows):
            pending.append(batch)
            pending_rows += batch.num_rows
            written += batch.num_rows
            if pending_rows >= row_group_rows:
                flush()
        flush()
    return written


# ----- account names for beancount and ledger-cli --------------------------------------------------

# Our type -> its root in beancount and ledger-cli names. The budgetary and memo types keep their own names
# as roots: a beancount file of one basis renames the five roots it needs (``BEANCOUNT_ROOT_OPTIONS``), so a
# quota or a commitment is never exported as an asset, nor a budget revenue as income of the entity.
EXPORT_ROOTS: dict[str, str] = {
    "Assets": "Assets",
    "Liabilities": "Liabilities",
    "NetAssets": "Equity",
    "Revenue": "Income",
    "Expenses": "Expenses",
    "BudgetRevenue": "BudgetRevenue",
    "BudgetExpenditure": "BudgetExpenditure",
    "BudgetBalance": "BudgetBalance",
}
# Memo accounts go under the root named for their declared normal side.
MEMO_ROOTS = {"debit": "MemoDebit", "credit": "MemoCredit"}
BASES = ("financial", "budgetary", "memo")
# Per basis, beancount's root options (name_assets, ...) naming our roots; the financial file keeps the defaults.
BEANCOUNT_ROOT_OPTIONS: dict[str, dict[str, str]] = {
    "financial": {},
    "budgetary": {
        "name_income": "BudgetRevenue",
        "name_expenses": "BudgetExpenditure",
        "name_equity": "BudgetBalance",
    },
    "memo": {"name_assets": MEMO_ROOTS["debit"], "name_liabilities": MEMO_ROOTS["credit"]},
}
_ASCII_NAME_CHARACTER = re.compile(r"[A-Za-z0-9\-]")
_ASCII_NAME_START = re.compile(r"[A-Z0-9]")


def _name_character_allowed(character: str) -> bool:
    """beancount v3's lexer takes ASCII letters, digits and "-", and any non-ASCII character; we keep the
    non-ASCII letters, marks and digits (Chinese names stay readable) and replace the rest."""
    if character.isascii():
        return bool(_ASCII_NAME_CHARACTER.fullmatch(character))
    return unicodedata.category(character)[0] in "LMN"


def _name_start_allowed(character: str) -> bool:
    if character.isascii():
        return bool(_ASCII_NAME_START.fullmatch(character))
    return unicodedata.category(character)[0] in "LN"


def name_component(text: str) -> str:
    """A valid beancount account-name component for ``text``, deterministically.

    A valid component is kept; a lowercase ASCII first letter is capitalised; any other change (a
    replaced character, an added "X" start) appends ``-<digest of the original>``, so two different
    originals do not end up with the same name. Remaining clashes are caught by ``_check_distinct``."""
    if text and _name_start_allowed(text[0]) and all(_name_character_allowed(c) for c in text):
        return text
    replaced = "".join(c if _name_character_allowed(c) else "-" for c in text)
    altered = replaced != text
    if replaced[:1].isascii() and replaced[:1].islower():
        replaced = replaced[0].upper() + replaced[1:]
    if not replaced or not _name_start_allowed(replaced[0]):
        replaced = "X" + replaced
        altered = True
    if altered:
        digest = hashlib.sha256(text.encode()).hexdigest()[:NAME_DIGEST_LENGTH]
        replaced = f"{replaced.rstrip('-')}-{digest}"
    return replaced


def book_components(book: str) -> list[str]:
    """The book's code as readable name components: ``gf:gz-tt-gf`` -> ``Gf:Gz-tt-gf`` (its ":" levels kept
    as levels, not mangled into one slug), ``440100-finance`` -> ``440100-finance``."""
    return [name_component(part) for part in book.split(":")]


def beancount_account_name(account: ExportAccount) -> str:
    """``<Root>:<Book>:<rest of path>``, e.g. ``Assets:Gz-finance:Bank``, ``BudgetRevenue:Gz-budget:Central``
    or ``MemoDebit:Vouchers-310000-memo:Quota:...``. The book components keep books apart."""
    segments = account.path.split(":")
    root = MEMO_ROOTS[account.normal_side] if account.type == "Memo" else EXPORT_ROOTS[account.type]
    components = [root, *book_components(account.book)]
    components.extend(name_component(segment) for segment in segments[1:])
    return ":".join(components)


def _account_names(accounts: dict[int, ExportAccount]) -> dict[int, str]:
    names = {account_id: beancount_account_name(account) for account_id, account in accounts.items()}
    _check_distinct(accounts, names)
    return names


def _check_distinct(accounts: dict[int, ExportAccount], names: dict[int, str]) -> None:
    seen: dict[str, int] = {}
    for account_id in sorted(names):
        name = names[account_id]
        if name in seen:
            first, second = accounts[seen[name]], accounts[account_id]
            raise LedgerError(
                ExportCode.EXPORT_ACCOUNT_NAMES_MUST_BE_DISTINCT,
                f"accounts {first.book}/{first.path} and {second.book}/{second.path} would both be exported "
                f"as {name}; rename one of them",
                name=name,
            )
        seen[name] = account_id


def _first_use_dates(conn: Connection, book_id: int | None) -> dict[int, date]:
    """The earliest posted date per account: its ``open`` directive may not come later."""
    query = (
        select(T_POSTINGS.c.account_id, func.min(T_POSTINGS.c.effective_date))
        .where(T_POSTINGS.c.pending.is_(False))
        .group_by(T_POSTINGS.c.account_id)
    )
    if book_id is not None:
        query = query.where(T_POSTINGS.c.book_id == book_id)
    return {account_id: first for account_id, first in conn.execute(query)}


def _amount_text(posting: JournalPosting) -> str:
    return f"{format_fen(posting.amount_fen, posting.currency)} {posting.currency}"


# ----- beancount -----------------------------------------------------------------------------------


def _beancount_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def narration(posting: JournalPosting) -> str:
    """The transaction's memo; without one, what it is: its kind and its key (``import api:t-7``)."""
    return posting.memo if posting.memo.strip() else f"{posting.kind} {posting.tx_id}"


def export_beancount(
    engine: Engine,
    out: Destination,
    *,
    book: str | None = None,
    basis: str | None = None,
    page_rows: int = EXPORT_PAGE_ROWS,
) -> int:
    """A beancount v3 file of one basis: options (the roots of that basis), an ``open`` per account used
    (dated at its first posting), then the posted transactions in date order with ``txn_id`` metadata.

    ``basis`` (default ``financial``) chooses the books: the financial books' accounting, or the budgetary
    or memo books in their own file, so a quota or commitment never shows as an asset. With ``book``, that
    book alone, in its own basis (another ``basis`` is refused). Returns the transactions written."""
    with read_snapshot(engine) as conn:
        scope = _basis_scope(conn, book, basis)
        names = _account_names(scope.accounts)  # a name clash is refused before the output is opened
        with _text_sink(out) as sink:
            return _write_beancount(scope, names, sink, page_rows)


def _basis_scope(conn: Connection, book: str | None, basis: str | None) -> JournalScope:
    if basis is not None and basis not in BASES:
        raise LedgerError(ResultCode.BOOK_BASIS_INVALID, f"basis {basis!r}: choose one of {', '.join(BASES)}")
    if book is not None:
        book_id = book_id_of(conn, book)
        accounts = account_directory(conn, book_id)
        book_basis = conn.execute(select(T_BOOKS.c.basis).where(T_BOOKS.c.id == book_id)).scalar_one()
        if basis is not None and basis != book_basis:
            raise LedgerError(
                ExportCode.EXPORT_BASIS_MISMATCH, f"book {book!r} is {book_basis}, not {basis}: omit --basis"
            )
        return JournalScope(conn, book_id, accounts, book_basis)
    basis = basis or "financial"
    book_ids = tuple(
        conn.execute(select(T_BOOKS.c.id).where(T_BOOKS.c.basis == basis).order_by(T_BOOKS.c.id)).scalars()
    )
    accounts = {key: account for key, account in account_directory(conn).items() if account.basis == basis}
    return JournalScope(conn, None, accounts, basis, book_ids)


def _write_beancount(scope: JournalScope, names: dict[int, str], sink: IO[str], page_rows: int) -> int:
    written = 0
    accounts = scope.accounts
    sink.write(f"option {_beancount_string('operating_currency')} {_beancount_string(DEFAULT_CURRENCY)}\n")
    for option, root in BEANCOUNT_ROOT_OPTIONS[scope.basis].items():
        sink.write(f"option {_beancount_string(option)} {_beancount_string(root)}\n")
    sink.write(f"; fundledger export of the {scope.basis} books: posted transactions only; amounts debit-positive\n\n")
    first_use = _first_use_dates(scope.conn, scope.book_id)
    used = sorted((first, names[id_], id_) for id_, first in first_use.items() if id_ in accounts)
    for first, name, account_id in used:
        sink.write(f"{first.isoformat()} open {name} {accounts[account_id].currency}\n")
    postings = posted_postings(
        scope.conn, accounts, book_id=scope.book_id, book_ids=scope.book_ids, date_order=True, page_rows=page_rows
    )
    for legs in _transactions(postings):
        head = legs[0]
        sink.write(f"\n{head.effective_date.isoformat()} * {_beancount_string(narration(head))}\n")
        sink.write(f"  txn_id: {_beancount_string(head.tx_id)}\n")
        sink.write(f"  kind: {_beancount_string(head.kind)}\n")
        for leg in legs:
            sink.write(f"  {names[leg.account.id]}  {_amount_text(leg)}\n")
        written += 1
    return written


# ----- ledger-cli ----------------------------------------------------------------------------------

_WHITESPACE_RUN = re.compile(r"\s+")


def export_ledger(
    engine: Engine, out: Destination, *, book: str | None = None, page_rows: int = EXPORT_PAGE_ROWS
) -> int:
    """ledger-cli text: ``2026/01/05 * (42) memo``, a ``; txn_id:`` tag, then ``    Account  1234.56 CNY``.

    The code in parentheses is our transaction id, so a memo that itself starts with "(" stays the payee.
    Account names are the beancount ones (no double spaces, tabs or brackets that ledger-cli would read
    as syntax). Returns the transactions written."""
    with journal_scope(engine, book) as scope:
        names = _account_names(scope.accounts)  # a name clash is refused before the output is opened
        with _text_sink(out) as sink:
            return _write_ledger(scope, names, sink, page_rows)


def _write_ledger(scope: JournalScope, names: dict[int, str], sink: IO[str], page_rows: int) -> int:
    written = 0
    sink.write("; fundledger export: posted transactions only; amounts debit-positive\n")
    postings = posted_postings(scope.conn, scope.accounts, book_id=scope.book_id, date_order=True, page_rows=page_rows)
    for legs in _transactions(postings):
        head = legs[0]
        payee = _WHITESPACE_RUN.sub(" ", narration(head)).strip()
        header = f"{head.effective_date.strftime('%Y/%m/%d')} * ({head.transaction_id}) {payee}".rstrip()
        sink.write(f"\n{header}\n    ; txn_id: {_WHITESPACE_RUN.sub(' ', head.tx_id)}\n")
        for leg in legs:
            sink.write(f"    {names[leg.account.id]}  {_amount_text(leg)}\n")
        written += 1
    return written
