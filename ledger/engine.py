"""The posting engine: one call, one database transaction, every rule checked before anything is written.

How a submission runs (``Ledger.submit``):
1. pure checks per request (amounts exact, at least two legs, balanced per book and currency);
2. in one database transaction: look up idempotency keys, referenced pending/target transactions and
   closed periods, then load and lock the accounts in sorted id order (PostgreSQL ``FOR UPDATE``;
   SQLite already holds the write lock from ``BEGIN IMMEDIATE``), so writers neither deadlock nor
   overdraw;
3. apply each request to in-memory account state in order, each with its own result code; a ``linked``
   chain succeeds or fails as a whole;
4. write the accepted rows with executemany and the new cached balances, and queue them for the hash
   chain. Only the unit of work commits.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import Connection, Engine, Select, select, tuple_
from sqlalchemy.exc import IntegrityError

from ledger import schema
from ledger.accounts import BASES, account_type, check_type_allowed_in_book
from ledger.chain_format import transaction_leaf, voucher_books
from ledger.db import is_postgres, read_only
from ledger.entities import region_parent, validate_credit_code, validate_region_code
from ledger.entries import (
    Audit,
    Posting,
    PostingSpec,
    PostPendingRequest,
    Request,
    ReversalRequest,
    TransactionRef,
    TransactionRequest,
    VoidPendingRequest,
    check_client_id,
    check_fields,
    check_texts,
    normalize_postings,
    request_hash,
)
from ledger.errors import LedgerError, ResultCode
from ledger.gc_pause import cyclic_gc_paused
from ledger.group_commit import GROUP_COMMIT_IN_FLIGHT, GROUP_ITEM_MAX_REQUESTS, GroupCommitter, OwnConnections
from ledger.money import DEFAULT_CURRENCY, check_bigint, currency_places, format_fen, to_decimal, to_fen
from ledger.numbers import SHANGHAI, parse_period, period_of
from ledger.store import DriverStatements, chunks

BATCH_REQUESTS_MAX = 10_000
# Batches this large run with the cyclic garbage collector paused (ledger.gc_pause, docs/BENCHMARKS.md).
GC_PAUSE_MIN_REQUESTS = 100
# One retry covers the races where two writers insert the same idempotency key, or resolve the same pending
# (post/void/expire) or reverse the same transaction, at once on PostgreSQL: both read before locking, the
# unique key stops the second at commit, and its rerun reports exists / pending_already_resolved.
DUPLICATE_KEY_RETRIES = 1
RETRYABLE_UNIQUE_KEYS = ("uq_transactions_source_client_id", "transaction_resolutions_pkey")

T_ACCOUNTS = schema.Account.__table__
T_BOOKS = schema.Book.__table__
T_TRANSACTIONS = schema.Transaction.__table__
T_POSTINGS = schema.Posting.__table__
T_RESOLUTIONS = schema.TransactionResolution.__table__
T_PERIOD_CLOSES = schema.PeriodClose.__table__
T_SEAL_QUEUE = schema.SealQueue.__table__
T_ENTITIES = schema.Entity.__table__
T_MONTH_TOTALS = schema.AccountMonthTotal.__table__


def utc_now() -> datetime:
    return datetime.now(UTC)


def today_shanghai(now: datetime | None = None) -> date:
    return (now or utc_now()).astimezone(SHANGHAI).date()


def request_expiry_utc(moment: datetime | None) -> datetime | None:
    """A request's expiry without a time zone is Shanghai time, as DESIGN says of every local time (defect
    17); stored timestamps are UTC."""
    if moment is None:
        return None
    return (moment.replace(tzinfo=SHANGHAI) if moment.tzinfo is None else moment).astimezone(UTC)


def digest_amount(amount: Decimal) -> int | str:
    """The amount of a post-pending request as its idempotency digest holds it: hundredths when it has at
    most two places (as every digest before defect 9 did), else its normalized text."""
    scaled = amount.scaleb(2)
    if scaled == scaled.to_integral_value():
        return int(scaled)
    return str(amount.normalize())


def as_utc(moment: datetime | None) -> datetime | None:
    """Stored timestamps are UTC; a naive one read back from SQLite is UTC too."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass(slots=True)
class EventResult:
    index: int
    code: ResultCode
    transaction_id: int | None = None
    message: str = ""
    detail: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.code in (ResultCode.OK, ResultCode.EXISTS)

    def raise_for_error(self) -> EventResult:
        if not self.ok:
            raise LedgerError(self.code, self.message, **self.detail)
        return self


@dataclass(slots=True)
class _AccountState:
    id: int
    book_id: int
    book_code: str
    path: str
    currency: str
    debits_must_not_exceed_credits: bool
    credits_must_not_exceed_debits: bool
    closed: bool
    debits_posted: int
    credits_posted: int
    debits_pending: int
    credits_pending: int
    dirty: bool = False

    def snapshot(self) -> tuple[int, int, int, int, bool]:
        return (self.debits_posted, self.credits_posted, self.debits_pending, self.credits_pending, self.dirty)

    def restore(self, values: tuple[int, int, int, int, bool]) -> None:
        (self.debits_posted, self.credits_posted, self.debits_pending, self.credits_pending, self.dirty) = values


@dataclass(slots=True)
class _Target:
    """A transaction referenced by a post, void or reversal."""

    id: int
    source: str
    client_id: str
    kind: str
    pending: bool
    expires_at: datetime | None
    program_year: int | None
    link_type: str | None
    link_id: str | None
    legs: list[tuple[int, int, str]]  # (account id, amount fen, currency)
    resolved: bool
    books: frozenset[str] = frozenset()  # codes of the books its legs post to


@dataclass(slots=True)
class _Planned:
    """A transaction accepted in memory, waiting to be written."""

    id: int
    request: Request
    request_hash: str
    kind: str
    pending: bool
    effective_date: date
    memo: str
    audit: Audit
    reason: str | None
    legs: list[tuple[_AccountState, int]]
    resolves: tuple[int, str] | None = None  # (target id, resolution kind)
    reverses_id: int | None = None
    expires_at: datetime | None = None
    program_year: int | None = None
    link_type: str | None = None
    link_id: str | None = None


@dataclass(slots=True)
class AccountInfo:
    id: int
    book: str
    path: str
    type: str
    normal_side: str
    currency: str
    debits_posted: int
    credits_posted: int
    debits_pending: int
    credits_pending: int
    debits_must_not_exceed_credits: bool
    credits_must_not_exceed_debits: bool
    closed: bool
    owner_code: str | None
    metadata: dict

    @property
    def balance_fen(self) -> int:
        """Debit-positive posted balance."""
        return self.debits_posted - self.credits_posted


class Ledger:
    """Store and posting engine over one SQLAlchemy engine (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine, *, clock=utc_now) -> None:
        self.engine = engine
        self.reader = read_only(engine)
        self.postgres = is_postgres(engine)
        # An in-memory SQLite database lives in one connection: a second one would be another database.
        in_memory = not self.postgres and engine.url.database in (None, "", ":memory:")
        self._own_connections = None if in_memory else OwnConnections(engine)
        # Posts without a unit of work of their own share commits with concurrent ones (ledger.group_commit).
        self.group = (
            None
            if in_memory
            else GroupCommitter(
                self._commit_group,
                self._commit_alone,
                in_flight=GROUP_COMMIT_IN_FLIGHT if self.postgres else 1,
            )
        )
        self.clock = clock

    def close(self) -> None:
        """Close the connections ``post`` opened for itself (they live outside the engine's pool, so
        ``engine.dispose()`` does not reach them); the ledger stays usable and opens new ones if posted to.
        Garbage collection closes them too, but a PostgreSQL server counts them until then."""
        if self._own_connections is not None:
            self._own_connections.close_all()

    # ----- setup: entities, books, accounts, periods ---------------------------------------------------

    def register_region(self, code: str, name: str, *, conn: Connection | None = None) -> None:
        validate_region_code(code)
        with self._unit(conn) as c:
            self._insert_entity(c, kind="region", code=code, name=name, parent_code=region_parent(code))

    def register_institution(
        self,
        credit_code: str,
        name: str,
        institution_kind: str,
        *,
        region_code: str | None = None,
        conn: Connection | None = None,
    ) -> str:
        code = validate_credit_code(credit_code)
        if region_code is not None:
            validate_region_code(region_code)
        with self._unit(conn) as c:
            self._insert_entity(
                c, kind="institution", code=code, name=name, institution_kind=institution_kind, region_code=region_code
            )
        return code

    def _insert_entity(self, c: Connection, **values) -> None:
        existing = c.execute(select(T_ENTITIES.c.id).where(T_ENTITIES.c.code == values["code"])).first()
        if existing is None:
            # Registering is idempotent: a concurrent registration of the same code is the same entity.
            _insert_unless_taken(
                c, T_ENTITIES.insert().values(metadata_json="{}", **values), ("entities_code_key", "entities.code")
            )

    def entity(self, code: str) -> dict | None:
        with self.reader.connect() as c:
            row = c.execute(select(T_ENTITIES).where(T_ENTITIES.c.code == code)).mappings().first()
            return dict(row) if row else None

    def create_book(
        self, code: str, name: str, basis: str, *, entity_code: str | None = None, conn: Connection | None = None
    ) -> int:
        if basis not in BASES:
            raise LedgerError(ResultCode.BOOK_BASIS_INVALID, f"book basis {basis!r} is not one of {', '.join(BASES)}")
        with self._unit(conn) as c:
            existing = c.execute(select(T_BOOKS).where(T_BOOKS.c.code == code)).mappings().first()
            if existing is None:
                new_id = _insert_unless_taken(
                    c,
                    T_BOOKS.insert().values(code=code, name=name, basis=basis, entity_code=entity_code),
                    ("books_code_key", "books.code"),
                )
                if new_id is not None:
                    return new_id
                existing = c.execute(select(T_BOOKS).where(T_BOOKS.c.code == code)).mappings().first()
            if existing["basis"] != basis:
                raise LedgerError(
                    ResultCode.BOOK_EXISTS, f"book {code!r} exists with basis {existing['basis']}, not {basis}"
                )
            return existing["id"]

    def books(self) -> list[dict]:
        with self.reader.connect() as c:
            return [dict(row) for row in c.execute(select(T_BOOKS).order_by(T_BOOKS.c.code)).mappings()]

    def book(self, code: str) -> dict | None:
        """One book by its code (None when there is none): one indexed read, for per-request scope checks."""
        with self.reader.connect() as c:
            row = c.execute(select(T_BOOKS).where(T_BOOKS.c.code == code)).mappings().first()
        return dict(row) if row is not None else None

    def create_account(
        self,
        book: str,
        path: str,
        *,
        currency: str = DEFAULT_CURRENCY,
        normal_side: str | None = None,
        debits_must_not_exceed_credits: bool = False,
        credits_must_not_exceed_debits: bool = False,
        owner_code: str | None = None,
        metadata: dict | None = None,
        exist_ok: bool = False,
        conn: Connection | None = None,
    ) -> int:
        kind = account_type(path, normal_side=normal_side)
        currency_places(currency)
        if debits_must_not_exceed_credits and credits_must_not_exceed_debits:
            raise LedgerError(
                ResultCode.ACCOUNT_FLAGS_MUTUALLY_EXCLUSIVE,
                "an account cannot limit both debits by credits and credits by debits",
            )
        with self._unit(conn) as c:
            book_row = self._book(c, book)
            check_type_allowed_in_book(kind, path, book, book_row["basis"])
            existing = c.execute(
                select(T_ACCOUNTS.c.id).where(T_ACCOUNTS.c.book_id == book_row["id"], T_ACCOUNTS.c.path == path)
            ).first()
            if existing is None:
                new_id = _insert_unless_taken(
                    c,
                    T_ACCOUNTS.insert().values(
                        book_id=book_row["id"],
                        path=path,
                        type=kind.name,
                        normal_side=kind.normal_side,
                        currency=currency,
                        owner_code=owner_code,
                        metadata_json=json.dumps(metadata or {}, ensure_ascii=False, sort_keys=True),
                        debits_must_not_exceed_credits=debits_must_not_exceed_credits,
                        credits_must_not_exceed_debits=credits_must_not_exceed_debits,
                        closed=False,
                        created_at=self.clock(),
                    ),
                    ("uq_accounts_book_path", "accounts.book_id, accounts.path"),
                )
                if new_id is not None:
                    return new_id
                existing = c.execute(
                    select(T_ACCOUNTS.c.id).where(T_ACCOUNTS.c.book_id == book_row["id"], T_ACCOUNTS.c.path == path)
                ).first()
            if exist_ok:
                return existing[0]
            raise LedgerError(ResultCode.ACCOUNT_EXISTS, f"account {book}/{path} exists")

    def close_account(self, book: str, path: str, *, conn: Connection | None = None) -> None:
        with self._unit(conn) as c:
            info = self._account_row(c, book, path)
            c.execute(
                T_ACCOUNTS.update()
                .where(T_ACCOUNTS.c.id == info["id"])
                .values(closed=True, version=T_ACCOUNTS.c.version + 1)
            )

    def close_period(self, book: str, period: str, *, actor: str, conn: Connection | None = None) -> None:
        """Close a monthly period: postings dated inside it are refused from now on."""
        parse_period(period)
        with self._unit(conn) as c:
            book_row = self._book(c, book)
            if self.postgres:
                # Wait for posts in flight on this book and hold back new ones until the close commits: a
                # post reads the closed periods only once it holds its accounts' locks (same id order).
                c.execute(
                    select(T_ACCOUNTS.c.id)
                    .where(T_ACCOUNTS.c.book_id == book_row["id"])
                    .order_by(T_ACCOUNTS.c.id)
                    .with_for_update()
                ).all()
            exists = c.execute(
                select(T_PERIOD_CLOSES.c.period).where(
                    T_PERIOD_CLOSES.c.book_id == book_row["id"], T_PERIOD_CLOSES.c.period == period
                )
            ).first()
            if exists is None:
                # Closing is idempotent: a book without accounts has nothing to lock, so two closes can race.
                _insert_unless_taken(
                    c,
                    T_PERIOD_CLOSES.insert().values(
                        book_id=book_row["id"], period=period, closed_at=self.clock(), actor=actor
                    ),
                    ("period_closes_pkey", "period_closes.book_id, period_closes.period"),
                )

    def closed_periods(self, book: str) -> list[str]:
        with self.reader.connect() as c:
            book_row = self._book(c, book)
            rows = c.execute(
                select(T_PERIOD_CLOSES.c.period)
                .where(T_PERIOD_CLOSES.c.book_id == book_row["id"])
                .order_by(T_PERIOD_CLOSES.c.period)
            )
            return [row[0] for row in rows]

    # ----- posting -----------------------------------------------------------------------------------

    def post(self, request: Request, *, conn: Connection | None = None) -> EventResult:
        """Submit one request; raise ``LedgerError`` with its code if refused. Without ``conn`` it is committed
        durably before this returns, in a commit it may share with concurrent posts (group commit)."""
        if conn is None and self.group is not None:
            return self.group.submit([request])[0].raise_for_error()
        return self.submit([request], conn=conn)[0].raise_for_error()

    def submit(self, requests: Sequence[Request], *, conn: Connection | None = None) -> list[EventResult]:
        """Submit a batch in one database transaction; each request gets its own result code.

        Requests marked ``linked`` chain to the next one: the chain succeeds or fails as a whole. A small
        batch without ``conn`` may share its commit with concurrent callers; its chains stay its own."""
        if len(requests) > BATCH_REQUESTS_MAX:
            raise LedgerError(ResultCode.BATCH_TOO_LARGE, f"a batch may hold at most {BATCH_REQUESTS_MAX} requests")
        if conn is None and self.group is not None and 0 < len(requests) <= GROUP_ITEM_MAX_REQUESTS:
            return self.group.submit(list(requests))
        with cyclic_gc_paused() if len(requests) >= GC_PAUSE_MIN_REQUESTS else nullcontext():
            return self._run_submission(requests, conn)

    def submit_shared(self, requests: Sequence[Request]) -> list[EventResult]:
        """Requests gathered from several callers (the HTTP API's posts of the moment, none ``linked``; a
        chain would be kept whole as in ``submit``): committed through group commit whatever their number, so
        they share the commit path of concurrent ``post`` calls (on PostgreSQL its own connection and two
        round trips) rather than a transaction of their own on a pooled connection, as ``submit`` gives a
        large batch."""
        if len(requests) > BATCH_REQUESTS_MAX:
            raise LedgerError(ResultCode.BATCH_TOO_LARGE, f"a batch may hold at most {BATCH_REQUESTS_MAX} requests")
        if self.group is None or not requests:
            return self.submit(requests)
        return self.group.submit(list(requests))

    def _commit_alone(self, requests: Sequence[Request]) -> list[EventResult]:
        """One caller's requests in a unit of their own: the path of a batch that failed as a whole."""
        if len(requests) == 1 and isinstance(requests[0], TransactionRequest) and not requests[0].linked:
            result = self._post_on_own_connection(requests[0])
            if result is not None:
                return [result]
        return self._run_submission(requests, None)

    def _commit_group(self, groups: list[Sequence[Request]], release=None) -> list[list[EventResult]]:  # noqa: ANN001
        """Several callers' requests in one database transaction, applied in order, one result each, each
        caller's linked chains closed at the end of its own requests; raises having committed nothing.
        ``release`` (PostgreSQL's own-connection path) is called once the batch's locks are held, just before
        its writes go: the next batch may start reading then (``GroupCommitter``'s ``in_flight``)."""
        requests = [request for group in groups for request in group]
        ends, offset = [], 0
        for group in groups:
            offset += len(group)
            ends.append(offset)
        if all(isinstance(request, TransactionRequest) for request in requests):
            results = self._run_on_own_connection(requests, set(index - 1 for index in ends), before_writes=release)
        else:
            with self.engine.begin() as own:
                results = _Submission(self, own, requests, segment_ends={index - 1 for index in ends}).run()
        split, start = [], 0
        for end in ends:
            part = results[start:end]
            for result in part:
                result.index -= start
            split.append(part)
            start = end
        return split

    def _post_on_own_connection(self, request: TransactionRequest) -> EventResult | None:
        """One transaction request alone on this thread's own driver connection. None after any database
        error (rolled back): ``submit`` then runs the request on a pooled connection, retrying a key taken
        concurrently and reporting what persists."""
        try:
            return self._run_on_own_connection([request], {0})[0]
        except LedgerError:
            raise
        except Exception:  # noqa: BLE001 - a driver error, or a period closed meanwhile: the pooled path reruns it
            return None

    def _run_on_own_connection(
        self,
        requests: list[TransactionRequest],
        segment_ends: set[int],
        *,
        before_writes=None,  # noqa: ANN001
    ) -> list[EventResult]:
        """Transaction requests in their own unit of work on this thread's own driver connection
        (``OwnConnections``) instead of a pooled SQLAlchemy one. The same ``_Submission`` runs; only the pool
        checkout (a liveness ping on PostgreSQL), its reset and SQLAlchemy's transaction bookkeeping are
        skipped. Any error is raised with the unit rolled back (a broken connection is dropped)."""
        driver = self._own_connections.get()
        try:
            db = DriverStatements(None, driver_connection=driver, postgres=self.postgres)
            if not self.postgres:
                db.cursor.execute("BEGIN IMMEDIATE")  # psycopg opens its transaction by itself
            submission = _Submission(
                self,
                None,
                requests,
                db=db,
                guard_closed_periods=self.postgres,
                one_round_trip_each=self.postgres,
                segment_ends=segment_ends,
                before_writes=before_writes,
            )
            results = submission.run()
            driver.commit()
            return results
        except (LedgerError, PeriodClosedMeanwhile):
            # The pooled path reads the closed periods under the locks and refuses with period_closed.
            driver.rollback()
            raise
        except Exception:
            self._own_connections.discard(driver)
            raise

    def _run_submission(self, requests: Sequence[Request], conn: Connection | None) -> list[EventResult]:
        if conn is not None:
            return _Submission(self, conn, requests).run()
        # The hot-path writes run on the driver's cursor, so their errors come unwrapped by SQLAlchemy.
        integrity_errors = (IntegrityError, self.engine.dialect.loaded_dbapi.IntegrityError)
        for attempt in range(DUPLICATE_KEY_RETRIES + 1):
            try:
                with self.engine.begin() as own:
                    return _Submission(self, own, requests).run()
            except integrity_errors as error:
                if attempt == DUPLICATE_KEY_RETRIES or not any(key in str(error) for key in RETRYABLE_UNIQUE_KEYS):
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def expire_pending(self, *, now: datetime | None = None, limit: int = 1_000) -> list[EventResult]:
        """Void pending transactions whose expiry has passed. Idempotent: the void's key is the pending id."""
        moment = now or self.clock()
        integrity_errors = (IntegrityError, self.engine.dialect.loaded_dbapi.IntegrityError)
        # As in ``submit`` (defect 18): a pending posted or voided concurrently after the unlocked read takes
        # the resolution key first; the rerun reads the expired pendings again and expires the rest.
        for attempt in range(DUPLICATE_KEY_RETRIES + 1):
            with self.reader.connect() as c:
                rows = c.execute(expired_pending_query(moment, limit)).all()
            requests = [
                VoidPendingRequest(
                    client_id=f"expire:{row[0]}",
                    pending=row[0],
                    source="system:expiry",
                    reason="expired",
                    audit=Audit(actor="system:expiry"),
                )
                for row in rows
            ]
            if not requests:
                return []
            try:
                return _Submission(self, None, requests, void_kind="expire", now=moment).run_in_own_unit()
            except integrity_errors as error:
                if attempt == DUPLICATE_KEY_RETRIES or not any(key in str(error) for key in RETRYABLE_UNIQUE_KEYS):
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    # ----- reading -----------------------------------------------------------------------------------

    def account(self, book: str, path: str, *, conn: Connection | None = None) -> AccountInfo:
        """Cached balances of one account; pass ``conn`` to see the caller's uncommitted unit of work."""
        if conn is not None:
            return _account_info(self._account_row(conn, book, path), book)
        with self.reader.connect() as c:
            return _account_info(self._account_row(c, book, path), book)

    def accounts(self, book: str | None = None) -> list[AccountInfo]:
        query = select(T_ACCOUNTS, T_BOOKS.c.code.label("book_code")).join(
            T_BOOKS, T_BOOKS.c.id == T_ACCOUNTS.c.book_id
        )
        if book is not None:
            query = query.where(T_BOOKS.c.code == book)
        with self.reader.connect() as c:
            rows = c.execute(query.order_by(T_BOOKS.c.code, T_ACCOUNTS.c.path)).mappings().all()
        return [_account_info(row, row["book_code"]) for row in rows]

    def transaction(self, ref: TransactionRef) -> dict | None:
        with self.reader.connect() as c:
            query = select(T_TRANSACTIONS)
            if isinstance(ref, int):
                query = query.where(T_TRANSACTIONS.c.id == ref)
            else:
                query = query.where(T_TRANSACTIONS.c.source == ref[0], T_TRANSACTIONS.c.client_id == ref[1])
            row = c.execute(query).mappings().first()
            if row is None:
                return None
            result = dict(row)
            result["postings"] = [
                dict(p)
                for p in c.execute(
                    select(
                        T_POSTINGS.c.account_id,
                        T_BOOKS.c.code.label("book"),
                        T_ACCOUNTS.c.path.label("account"),
                        T_POSTINGS.c.amount_fen,
                        T_POSTINGS.c.currency,
                    )
                    .join(T_ACCOUNTS, T_ACCOUNTS.c.id == T_POSTINGS.c.account_id)
                    .join(T_BOOKS, T_BOOKS.c.id == T_POSTINGS.c.book_id)
                    .where(T_POSTINGS.c.transaction_id == row["id"])
                    .order_by(T_POSTINGS.c.id)
                ).mappings()
            ]
            resolution = c.execute(
                select(T_RESOLUTIONS.c.kind, T_RESOLUTIONS.c.resolver_id).where(T_RESOLUTIONS.c.target_id == row["id"])
            ).first()
            result["resolution"] = {"kind": resolution[0], "by": resolution[1]} if resolution else None
            return result

    # ----- helpers ----------------------------------------------------------------------------------

    def _unit(self, conn: Connection | None):
        """Join the caller's unit of work, or open (and commit) our own."""
        if conn is not None:
            return _Joined(conn)
        return self.engine.begin()

    @staticmethod
    def _book(c: Connection, code: str):
        row = c.execute(select(T_BOOKS).where(T_BOOKS.c.code == code)).mappings().first()
        if row is None:
            raise LedgerError(ResultCode.BOOK_NOT_FOUND, f"book {code!r} does not exist")
        return row

    def _account_row(self, c: Connection, book: str, path: str):
        book_row = self._book(c, book)
        row = (
            c.execute(select(T_ACCOUNTS).where(T_ACCOUNTS.c.book_id == book_row["id"], T_ACCOUNTS.c.path == path))
            .mappings()
            .first()
        )
        if row is None:
            raise LedgerError(ResultCode.ACCOUNT_NOT_FOUND, f"account {book}/{path} does not exist")
        return row


class _Joined:
    """Context manager that lends an open connection without committing it."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def __enter__(self) -> Connection:
        return self.conn

    def __exit__(self, *exc) -> None:
        return None


def _account_info(row, book_code: str) -> AccountInfo:
    return AccountInfo(
        id=row["id"],
        book=book_code,
        path=row["path"],
        type=row["type"],
        normal_side=row["normal_side"],
        currency=row["currency"],
        debits_posted=row["debits_posted"],
        credits_posted=row["credits_posted"],
        debits_pending=row["debits_pending"],
        credits_pending=row["credits_pending"],
        debits_must_not_exceed_credits=bool(row["debits_must_not_exceed_credits"]),
        credits_must_not_exceed_debits=bool(row["credits_must_not_exceed_debits"]),
        closed=bool(row["closed"]),
        owner_code=row["owner_code"],
        metadata=json.loads(row["metadata_json"] or "{}"),
    )


def _insert_unless_taken(c: Connection, statement, unique_keys: tuple[str, ...]) -> int | None:  # noqa: ANN001
    """Run a checked-then-inserted row's INSERT in a savepoint; None when a concurrent writer took its unique
    key between the check and the insert (PostgreSQL), so the caller reads the winner's row and its unit of
    work stays usable."""
    try:
        with c.begin_nested():
            return c.execute(statement).inserted_primary_key[0]
    except IntegrityError as error:
        if not any(key in str(error) for key in unique_keys):
            raise
        return None


class PeriodClosedMeanwhile(Exception):  # noqa: N818 - a signal, not an error a caller sees
    """A period this unit posts into was closed between its unlocked read and its locks."""


class _Submission:
    """One batch through the engine, inside one database transaction."""

    def __init__(
        self,
        ledger: Ledger,
        conn: Connection | None,
        requests: Sequence[Request],
        *,
        void_kind: str = "void",
        now: datetime | None = None,
        db: DriverStatements | None = None,
        guard_closed_periods: bool = False,
        one_round_trip_each: bool = False,
        segment_ends: set[int] | None = None,
        before_writes=None,  # noqa: ANN001 - a callable: see ``Ledger._commit_group``
    ) -> None:
        self.ledger = ledger
        self.before_writes = before_writes
        # Group commit joins several callers' requests: a linked chain never runs past the last request of
        # its caller's segment (the index of each segment's last request; the batch's last one by default).
        self.segment_ends = segment_ends or {len(requests) - 1}
        # PostgreSQL's own-connection path reads the closed periods before locking and lets the write
        # statement re-check them once the locks are held (``DriverStatements.write_unit``): one round
        # trip less than reading them after the lock, which every other path does.
        self.guard_closed_periods = guard_closed_periods
        # PostgreSQL's own-connection path (its transaction is ours to commit): all reads in one round trip,
        # then the writes with the COMMIT in another (``DriverStatements.read_unit``, ``write_unit``), where
        # the requests allow it; the closed periods are then read under the locks and need no guard.
        self.one_round_trip_each = one_round_trip_each
        self.commit_with_writes = False
        self.conn = conn
        self.own_db = db
        self.requests = list(requests)
        self.void_kind = void_kind
        self.now = as_utc(now) if now else ledger.clock()
        self.today = today_shanghai(self.now)
        self.results: list[EventResult | None] = [None] * len(self.requests)
        self.normalized: list[tuple[Posting, ...] | None] = [None] * len(self.requests)
        self.hashes: list[str | None] = [None] * len(self.requests)
        self.accounts_by_ref: dict[tuple[str, str], _AccountState] = {}
        self.accounts_by_id: dict[int, _AccountState] = {}
        self.books: dict[str, int] = {}
        self.closed_periods: set[tuple[str, str]] = set()
        self.reserved_ids: list[int] = []
        self.existing: dict[tuple[str, str], tuple[int, str]] = {}
        self.targets: dict[object, _Target] = {}
        self.planned: list[_Planned] = []
        self.batch_keys: dict[tuple[str, str], tuple[int, str]] = {}

    def run_in_own_unit(self) -> list[EventResult]:
        with self.ledger.engine.begin() as conn:
            self.conn = conn
            return self.run()

    def run(self) -> list[EventResult]:
        self.db = self.own_db or DriverStatements(self.conn)
        try:
            self._check_pure()
            # Everything that takes no lock comes first, so PostgreSQL row locks are held only from the
            # account read to the commit: the locked read, the closed periods, one round of writes.
            self._load_targets()
            if not (self.one_round_trip_each and self._read_in_one_round_trip()):
                self._load_keys_ids_and_periods()
                self._load_accounts()
                if not self.guard_closed_periods:
                    self._load_closed_periods()
            self._apply_all()
            self._write()
        finally:
            self.db.close()
        return [result for result in self.results if result is not None]

    # -- phase 1: pure --------------------------------------------------------------------------------

    def _check_pure(self) -> None:
        for index, request in enumerate(self.requests):
            try:
                check_fields(request)
                check_client_id(request.client_id)
                check_texts(request)
                postings: tuple[Posting, ...] | None = None
                amount_fen = None
                if isinstance(request, TransactionRequest):
                    postings = normalize_postings(request.postings)
                elif isinstance(request, PostPendingRequest):
                    if request.postings is not None:
                        postings = normalize_postings(request.postings)
                    elif request.amount is not None:
                        # The pending's currency is known only once it is loaded (defect 9): here the
                        # amount is checked for form and sign, and enters the digest in a
                        # currency-independent form.
                        amount = to_decimal(request.amount)
                        amount_fen = digest_amount(amount)
                        if amount <= 0:
                            raise LedgerError(
                                ResultCode.AMOUNT_MUST_BE_POSITIVE, "the amount to post must be greater than zero"
                            )
                elif isinstance(request, ReversalRequest):
                    if not request.reason.strip():
                        raise LedgerError(ResultCode.REASON_REQUIRED, "a reversal (红字冲销) needs a reason")
                self.normalized[index] = postings
                self.hashes[index] = request_hash(request, postings, amount_fen)
            except LedgerError as error:
                self._fail(index, error)

    # -- phase 2: load and lock ----------------------------------------------------------------------

    def _target_refs(self) -> list[TransactionRef]:
        refs = []
        for index, request in enumerate(self.requests):
            if self.results[index] is not None:
                continue
            if isinstance(request, PostPendingRequest | VoidPendingRequest):
                refs.append(request.pending)
            elif isinstance(request, ReversalRequest):
                refs.append(request.target)
        return refs

    def _load_targets(self) -> None:
        refs = self._target_refs()
        ids = sorted({ref for ref in refs if isinstance(ref, int)})
        keys = sorted({tuple(ref) for ref in refs if not isinstance(ref, int)})
        rows = []
        for chunk in chunks(ids):
            rows += self.conn.execute(select(T_TRANSACTIONS).where(T_TRANSACTIONS.c.id.in_(chunk))).mappings().all()
        for chunk in chunks(keys):
            rows += (
                self.conn.execute(
                    select(T_TRANSACTIONS).where(tuple_(T_TRANSACTIONS.c.source, T_TRANSACTIONS.c.client_id).in_(chunk))
                )
                .mappings()
                .all()
            )
        if not rows:
            return
        target_ids = sorted({row["id"] for row in rows})
        legs: dict[int, list[tuple[int, int, str]]] = {tx_id: [] for tx_id in target_ids}
        books: dict[int, set[str]] = {tx_id: set() for tx_id in target_ids}
        resolved: set[int] = set()
        for chunk in chunks(target_ids):
            for tx_id, account_id, amount_fen, currency, book_code in self.conn.execute(
                select(
                    T_POSTINGS.c.transaction_id,
                    T_POSTINGS.c.account_id,
                    T_POSTINGS.c.amount_fen,
                    T_POSTINGS.c.currency,
                    T_BOOKS.c.code,
                )
                .join(T_BOOKS, T_BOOKS.c.id == T_POSTINGS.c.book_id)
                .where(T_POSTINGS.c.transaction_id.in_(chunk))
                .order_by(T_POSTINGS.c.id)
            ):
                legs[tx_id].append((account_id, amount_fen, currency))
                books[tx_id].add(book_code)
            resolved.update(
                row[0]
                for row in self.conn.execute(
                    select(T_RESOLUTIONS.c.target_id).where(T_RESOLUTIONS.c.target_id.in_(chunk))
                )
            )
        for row in rows:
            target = _Target(
                id=row["id"],
                source=row["source"],
                client_id=row["client_id"],
                kind=row["kind"],
                pending=bool(row["pending"]),
                expires_at=as_utc(row["expires_at"]),
                program_year=row["program_year"],
                link_type=row["link_type"],
                link_id=row["link_id"],
                legs=legs[row["id"]],
                resolved=row["id"] in resolved,
                books=frozenset(books[row["id"]]),
            )
            self.targets[target.id] = target
            self.targets[(target.source, target.client_id)] = target

    def _account_refs(self) -> set[tuple[str, str]]:
        refs: set[tuple[str, str]] = set()
        for index, postings in enumerate(self.normalized):
            if postings is not None and self.results[index] is None:
                refs.update((p.book, p.account) for p in postings)
        return refs

    def _read_in_one_round_trip(self) -> bool:
        """Keys, ids, the locked accounts and then the closed periods in one round trip (PostgreSQL's own
        connection); False, having read nothing, where the batch needs the separate reads (it references
        other transactions, or its lists are too long for one statement each)."""
        if self.targets:
            return False
        keys = sorted({(r.source, r.client_id) for i, r in enumerate(self.requests) if self.results[i] is None})
        refs = sorted(self._account_refs())
        books = self._books_involved()
        if not self.db.can_read_in_one_round_trip(len(keys), len(refs), len(books)):
            return False
        wanted = sum(1 for result in self.results if result is None)
        existing, self.reserved_ids, rows, self.closed_periods = self.db.read_unit(keys, wanted, refs, books)
        self.existing.update(existing)
        self._take_accounts(rows)
        self.guard_closed_periods, self.commit_with_writes = False, True
        return True

    def _load_accounts(self) -> None:
        refs = self._account_refs()
        target_account_ids = {leg[0] for target in self.targets.values() for leg in target.legs}
        lock = self.ledger.postgres
        if not target_account_ids:
            rows = self.db.accounts_by_ref(sorted(refs), lock=lock)
        elif lock:
            # Resolve names to ids first, then lock every account in one sorted statement.
            ids = target_account_ids | set(self.db.account_ids_by_ref(sorted(refs)))
            rows = self.db.accounts_by_id(sorted(ids), lock=True)
        else:
            rows = self.db.accounts_by_ref(sorted(refs), lock=False)
            rows += self.db.accounts_by_id(sorted(target_account_ids - {row[0] for row in rows}), lock=False)
        self._take_accounts(rows)

    def _take_accounts(self, rows: list[tuple]) -> None:
        for row in rows:
            state = _AccountState(
                row[0],
                row[1],
                row[2],
                row[3],
                row[4],
                bool(row[5]),
                bool(row[6]),
                bool(row[7]),
                row[8],
                row[9],
                row[10],
                row[11],
            )
            self.accounts_by_id[state.id] = state
            self.accounts_by_ref[(state.book_code, state.path)] = state
            self.books[state.book_code] = state.book_id

    def _load_keys_ids_and_periods(self) -> None:
        """Stored idempotency keys, and ids for every request that may be accepted (those left unused are
        gaps in ``transactions.id``; the hash chain's sequence, not the id, is the gapless one); with
        ``guard_closed_periods``, the closed periods too."""
        keys = sorted({(r.source, r.client_id) for i, r in enumerate(self.requests) if self.results[i] is None})
        wanted = sum(1 for result in self.results if result is None)
        books = self._books_involved() if self.guard_closed_periods else []
        existing, self.reserved_ids, self.closed_periods = self.db.prefetch(keys, wanted, books)
        self.existing.update(existing)

    def _books_involved(self) -> list[str]:
        books = {posting.book for postings in self.normalized if postings for posting in postings}
        books.update(target_book for target in self.targets.values() for target_book in target.books)
        return sorted(books)

    def _load_closed_periods(self) -> None:
        """Read after the accounts are locked: ``close_period`` locks every account of its book on
        PostgreSQL, so a close either commits before this read or waits for this unit to commit."""
        self.closed_periods = self.db.closed_periods(self._books_involved())

    # -- phase 3: apply in memory --------------------------------------------------------------------

    def _apply_all(self) -> None:
        chain_start: int | None = None
        chain_snapshot: dict[int, tuple] = {}
        chain_planned = 0
        chain_keys: list[tuple[str, str]] = []
        chain_resolved: list[_Target] = []
        chain_failed: EventResult | None = None
        for index, request in enumerate(self.requests):
            if chain_start is None and request.linked:
                chain_start, chain_failed = index, None
                chain_snapshot = {i: s.snapshot() for i, s in self.accounts_by_id.items()}
                chain_planned, chain_keys, chain_resolved = len(self.planned), [], []
            if chain_start is not None and chain_failed is not None:
                self.results[index] = EventResult(
                    index, ResultCode.LINKED_EVENT_FAILED, message="a linked request failed"
                )
            elif self.results[index] is None:
                self._apply_one(index, request, chain_keys, chain_resolved)
                if chain_start is not None and not self.results[index].ok:
                    chain_failed = self.results[index]
            elif chain_start is not None:
                chain_failed = self.results[index]
            if chain_start is None:
                continue
            if request.linked and index in self.segment_ends:
                # The segment's last request still says "linked": the chain is never closed, which is an
                # error for all of it.
                if chain_failed is None:
                    chain_failed = self.results[index] = EventResult(
                        index,
                        ResultCode.LINKED_EVENT_FAILED,
                        message="the last request of a batch must not be linked (the chain is never closed)",
                    )
            elif request.linked:
                continue
            if chain_failed is not None:
                self._undo_chain(chain_start, index, chain_snapshot, chain_planned, chain_keys, chain_resolved)
            chain_start = None

    def _undo_chain(self, start, end, snapshot, planned_count, keys, resolved) -> None:
        for account_id, values in snapshot.items():
            self.accounts_by_id[account_id].restore(values)
        del self.planned[planned_count:]
        for key, placeholder_id in keys:
            self.batch_keys.pop(key, None)
            self.targets.pop(key, None)
            self.targets.pop(placeholder_id, None)
        for target in resolved:
            target.resolved = False
        for index in range(start, end + 1):
            result = self.results[index]
            if result is not None and result.code in (ResultCode.OK, ResultCode.EXISTS):
                self.results[index] = EventResult(
                    index, ResultCode.LINKED_EVENT_FAILED, message="a linked request in the same chain failed"
                )

    def _apply_one(self, index: int, request: Request, chain_keys: list, chain_resolved: list) -> None:
        key = (request.source, request.client_id)
        digest = self.hashes[index]
        known = self.existing.get(key) or self.batch_keys.get(key)
        if known is not None:
            tx_id, stored_digest = known
            if stored_digest == digest:
                self.results[index] = EventResult(index, ResultCode.EXISTS, tx_id, "already recorded")
            else:
                self.results[index] = EventResult(
                    index,
                    ResultCode.EXISTS_WITH_DIFFERENT_CONTENT,
                    tx_id,
                    f"{request.source}/{request.client_id} was recorded with different content",
                )
            return
        try:
            if isinstance(request, TransactionRequest):
                planned = self._plan_transaction(request, digest, self.normalized[index])
            elif isinstance(request, PostPendingRequest):
                planned = self._plan_post(request, digest, self.normalized[index], chain_resolved)
            elif isinstance(request, VoidPendingRequest):
                planned = self._plan_void(request, digest, chain_resolved)
            else:
                planned = self._plan_reversal(request, digest, chain_resolved)
        except LedgerError as error:
            self._fail(index, error)
            return
        self.planned.append(planned)
        self.batch_keys[key] = (planned.id, digest)
        chain_keys.append((key, planned.id))
        # Later requests in the same batch may post, void or reverse this one.
        self.targets[planned.id] = self.targets[key] = _Target(
            id=planned.id,
            source=request.source,
            client_id=request.client_id,
            kind=planned.kind,
            pending=planned.pending,
            expires_at=planned.expires_at,
            program_year=planned.program_year,
            link_type=planned.link_type,
            link_id=planned.link_id,
            legs=[(state.id, amount, state.currency) for state, amount in planned.legs],
            resolved=False,
        )
        self.results[index] = EventResult(index, ResultCode.OK, planned.id)

    def _fail(self, index: int, error: LedgerError) -> None:
        self.results[index] = EventResult(index, error.code, None, error.message, dict(error.detail))

    def _next_id(self) -> int:
        # Placeholder until ids are reserved at write time; negative so it never collides with a real id.
        return -(len(self.planned) + 1)

    def _resolve_legs(self, postings: tuple[Posting, ...]) -> list[tuple[_AccountState, int]]:
        legs = []
        for posting in postings:
            state = self.accounts_by_ref.get((posting.book, posting.account))
            if state is None:
                if posting.book not in self.books and not self._book_exists(posting.book):
                    raise LedgerError(ResultCode.BOOK_NOT_FOUND, f"book {posting.book!r} does not exist")
                raise LedgerError(
                    ResultCode.ACCOUNT_NOT_FOUND,
                    f"account {posting.book}/{posting.account} does not exist",
                    book=posting.book,
                    account=posting.account,
                )
            if state.currency != posting.currency:
                raise LedgerError(
                    ResultCode.ACCOUNT_CURRENCY_MISMATCH,
                    f"account {posting.book}/{posting.account} is in {state.currency}, not {posting.currency}",
                )
            legs.append((state, posting.amount_fen))
        return legs

    def _book_exists(self, code: str) -> bool:
        return self.db.book_exists(code)

    def _check_open(self, legs: list[tuple[_AccountState, int]], effective_date: date) -> None:
        period = period_of(effective_date)
        for state, _amount in legs:
            if state.closed:
                raise LedgerError(ResultCode.ACCOUNT_CLOSED, f"account {state.book_code}/{state.path} is closed")
            if (state.book_code, period) in self.closed_periods:
                raise LedgerError(
                    ResultCode.PERIOD_CLOSED,
                    f"period {period} of book {state.book_code!r} is closed; date the entry in an open period",
                    book=state.book_code,
                    period=period,
                )

    def _apply_deltas(
        self,
        posted: list[tuple[_AccountState, int]],
        pending: list[tuple[_AccountState, int]],
        released: list[tuple[_AccountState, int]],
    ) -> None:
        """Check every constraint flag on the tentative balances, then apply (all or nothing)."""
        tentative: dict[int, list[int]] = {}
        for state, _ in [*posted, *pending, *released]:
            tentative.setdefault(
                state.id, [state.debits_posted, state.credits_posted, state.debits_pending, state.credits_pending]
            )
        for state, amount in posted:
            values = tentative[state.id]
            if amount > 0:
                values[0] += amount
            else:
                values[1] -= amount
        for state, amount in pending:
            values = tentative[state.id]
            if amount > 0:
                values[2] += amount
            else:
                values[3] -= amount
        for state, amount in released:
            values = tentative[state.id]
            if amount > 0:
                values[2] -= amount
            else:
                values[3] += amount
        for account_id, (debits_posted, credits_posted, debits_pending, credits_pending) in tentative.items():
            state = self.accounts_by_id[account_id]
            for total in (debits_posted, credits_posted, debits_pending, credits_pending):
                check_bigint(total)
            if state.debits_must_not_exceed_credits and debits_posted + debits_pending > credits_posted:
                raise LedgerError(
                    ResultCode.DEBITS_EXCEED_CREDITS,
                    f"account {state.book_code}/{state.path} would have debits exceeding credits by "
                    f"{format_fen(debits_posted + debits_pending - credits_posted, state.currency)}",
                    book=state.book_code,
                    account=state.path,
                    available=format_fen(
                        max(0, state.credits_posted - state.debits_posted - state.debits_pending), state.currency
                    ),
                )
            if state.credits_must_not_exceed_debits and credits_posted + credits_pending > debits_posted:
                raise LedgerError(
                    ResultCode.CREDITS_EXCEED_DEBITS,
                    f"account {state.book_code}/{state.path} would have credits exceeding debits by "
                    f"{format_fen(credits_posted + credits_pending - debits_posted, state.currency)}",
                    book=state.book_code,
                    account=state.path,
                    available=format_fen(
                        max(0, state.debits_posted - state.credits_posted - state.credits_pending), state.currency
                    ),
                )
        for account_id, values in tentative.items():
            state = self.accounts_by_id[account_id]
            state.debits_posted, state.credits_posted, state.debits_pending, state.credits_pending = values
            state.dirty = True

    def _plan_transaction(self, request: TransactionRequest, digest: str, postings: tuple[Posting, ...]) -> _Planned:
        # Checked after the idempotency lookup: a replay of a recorded pending gets its stored result
        # even once the expiry has passed.
        expires_at = request_expiry_utc(request.expires_at)
        if request.pending and expires_at is not None and expires_at <= self.now:
            raise LedgerError(
                ResultCode.EXPIRY_MUST_BE_AFTER_RECORDING,
                f"pending transaction {request.client_id!r} would expire before it is recorded",
            )
        legs = self._resolve_legs(postings)
        self._check_open(legs, request.effective_date)
        if request.pending:
            self._apply_deltas([], legs, [])
        else:
            self._apply_deltas(legs, [], [])
        return _Planned(
            id=self._next_id(),
            request=request,
            request_hash=digest,
            kind=request.kind,
            pending=request.pending,
            effective_date=request.effective_date,
            memo=request.memo,
            audit=request.audit,
            reason=None,
            legs=legs,
            expires_at=expires_at if request.pending else None,
            program_year=request.program_year,
            link_type=request.link_type,
            link_id=request.link_id,
        )

    def _pending_target(self, ref: TransactionRef, chain_resolved: list) -> _Target:
        target = self.targets.get(ref if isinstance(ref, int) else tuple(ref))
        if target is None or not target.pending:
            raise LedgerError(ResultCode.PENDING_NOT_FOUND, f"no pending transaction {ref!r}")
        if target.resolved:
            raise LedgerError(
                ResultCode.PENDING_ALREADY_RESOLVED,
                f"pending transaction {ref!r} was already posted, voided or expired",
            )
        return target

    def _target_legs(self, target: _Target) -> list[tuple[_AccountState, int]]:
        return [(self.accounts_by_id[account_id], amount) for account_id, amount, _currency in target.legs]

    def _plan_post(self, request: PostPendingRequest, digest: str, postings, chain_resolved: list) -> _Planned:
        target = self._pending_target(request.pending, chain_resolved)
        if target.expires_at is not None and target.expires_at <= self.now:
            raise LedgerError(ResultCode.PENDING_EXPIRED, f"pending transaction {request.pending!r} has expired")
        pending_legs = self._target_legs(target)
        if postings is not None:
            posted_legs = self._resolve_legs(postings)
            self._check_within_pending(posted_legs, pending_legs)
        elif request.amount is not None:
            if len(pending_legs) != 2:
                raise LedgerError(
                    ResultCode.POST_MUST_MATCH_PENDING_ACCOUNTS,
                    "a single amount can post only a two-leg pending transaction; give the postings instead",
                )
            debit_leg = max(pending_legs, key=lambda leg: leg[1])
            credit_leg = min(pending_legs, key=lambda leg: leg[1])
            currency = debit_leg[0].currency
            amount_fen = to_fen(request.amount, currency)
            if amount_fen > debit_leg[1]:
                raise LedgerError(
                    ResultCode.POST_EXCEEDS_PENDING_AMOUNT,
                    f"cannot post {format_fen(amount_fen, currency)}: the pending amount is "
                    f"{format_fen(debit_leg[1], currency)}",
                    pending_amount=format_fen(debit_leg[1], currency),
                )
            posted_legs = [(debit_leg[0], amount_fen), (credit_leg[0], -amount_fen)]
        else:
            posted_legs = pending_legs
        effective_date = request.effective_date or self.today
        self._check_open(posted_legs, effective_date)
        self._apply_deltas(posted_legs, [], pending_legs)
        target.resolved = True
        chain_resolved.append(target)
        return _Planned(
            id=self._next_id(),
            request=request,
            request_hash=digest,
            kind=target.kind,
            pending=False,
            effective_date=effective_date,
            memo=request.memo,
            audit=request.audit,
            reason=None,
            legs=posted_legs,
            resolves=(target.id, "post"),
            program_year=target.program_year,
            link_type=target.link_type,
            link_id=target.link_id,
        )

    @staticmethod
    def _check_within_pending(posted_legs, pending_legs) -> None:
        pending_by_account: dict[int, int] = {}
        for state, amount in pending_legs:
            pending_by_account[state.id] = pending_by_account.get(state.id, 0) + amount
        posted_by_account: dict[int, int] = {}
        for state, amount in posted_legs:
            if state.id not in pending_by_account:
                raise LedgerError(
                    ResultCode.POST_MUST_MATCH_PENDING_ACCOUNTS,
                    f"account {state.book_code}/{state.path} is not a leg of the pending transaction",
                )
            posted_by_account[state.id] = posted_by_account.get(state.id, 0) + amount
        for account_id, amount in posted_by_account.items():
            pending_amount = pending_by_account[account_id]
            if (amount > 0) != (pending_amount > 0) or abs(amount) > abs(pending_amount):
                raise LedgerError(
                    ResultCode.POST_EXCEEDS_PENDING_AMOUNT,
                    f"posting {format_fen(amount)} exceeds the pending {format_fen(pending_amount)} on that account",
                    pending_amount=format_fen(pending_amount),
                )

    def _plan_void(self, request: VoidPendingRequest, digest: str, chain_resolved: list) -> _Planned:
        target = self._pending_target(request.pending, chain_resolved)
        pending_legs = self._target_legs(target)
        self._apply_deltas([], [], pending_legs)
        target.resolved = True
        chain_resolved.append(target)
        return _Planned(
            id=self._next_id(),
            request=request,
            request_hash=digest,
            kind=target.kind,
            pending=False,
            effective_date=request.effective_date or self.today,
            memo="",
            audit=request.audit,
            reason=request.reason or None,
            legs=[],
            resolves=(target.id, self.void_kind),
            program_year=target.program_year,
            link_type=target.link_type,
            link_id=target.link_id,
        )

    def _plan_reversal(self, request: ReversalRequest, digest: str, chain_resolved: list) -> _Planned:
        ref = request.target
        target = self.targets.get(ref if isinstance(ref, int) else tuple(ref))
        if target is None or not target.legs:
            raise LedgerError(ResultCode.TRANSACTION_NOT_FOUND, f"no posted transaction {ref!r} to reverse")
        if target.pending:
            raise LedgerError(
                ResultCode.PENDING_CANNOT_BE_REVERSED, f"transaction {ref!r} is pending: void it instead of reversing"
            )
        if target.resolved:
            raise LedgerError(ResultCode.TRANSACTION_ALREADY_REVERSED, f"transaction {ref!r} was already reversed")
        legs = [(state, -amount) for state, amount in self._target_legs(target)]
        effective_date = request.effective_date or self.today
        self._check_open(legs, effective_date)
        self._apply_deltas(legs, [], [])
        target.resolved = True
        chain_resolved.append(target)
        return _Planned(
            id=self._next_id(),
            request=request,
            request_hash=digest,
            kind=target.kind,
            pending=False,
            effective_date=effective_date,
            memo=f"红字冲销 of transaction {target.id}",
            audit=request.audit,
            reason=request.reason,
            legs=legs,
            resolves=(target.id, "reverse"),
            reverses_id=target.id,
            program_year=target.program_year,
            link_type=target.link_type,
            link_id=target.link_id,
        )

    # -- phase 4: write -------------------------------------------------------------------------------

    def _write(self) -> None:
        if not self.planned:
            return
        db = self.db
        ids = self.reserved_ids[: len(self.planned)]
        placeholder_to_id = {planned.id: real for planned, real in zip(self.planned, ids)}

        def real(tx_id: int | None) -> int | None:
            return placeholder_to_id.get(tx_id, tx_id) if tx_id is not None else None

        recorded_at = db.moment(self.now)
        transactions, queued, postings, resolutions = [], [], [], []
        month_totals: dict[tuple[int, str], list[int]] = {}
        for planned, tx_id in zip(self.planned, ids):
            request = planned.request
            day = db.day(planned.effective_date)
            pending = db.flag(planned.pending)
            resolves = planned.resolves
            row = (
                tx_id,
                request.source,
                request.client_id,
                planned.request_hash,
                planned.kind,
                pending,
                day,
                recorded_at,
                planned.memo,
                planned.audit.actor,
                planned.audit.approver,
                planned.audit.approval_doc,
                planned.reason,
                real(resolves[0]) if resolves and resolves[1] != "reverse" else None,
                real(planned.reverses_id),
                db.moment(planned.expires_at),
                planned.program_year,
                planned.link_type,
                planned.link_id,
            )
            transactions.append(row)
            period = period_of(planned.effective_date)
            # The chain's leaf, from the very values the driver stores (ledger.chain_format): sealing never
            # reads the transaction back.
            legs = [(state.id, amount, state.currency) for state, amount in planned.legs]
            queued.append(
                (tx_id, transaction_leaf(row, legs), period, voucher_books(state.book_id for state, _ in planned.legs))
            )
            for state, amount in planned.legs:
                postings.append((tx_id, state.id, state.book_id, amount, state.currency, day, pending))
                if not planned.pending:
                    totals = month_totals.setdefault((state.id, period), [0, 0])
                    if amount > 0:
                        totals[0] += amount
                    else:
                        totals[1] -= amount
            if resolves is not None:
                resolutions.append((real(resolves[0]), tx_id, resolves[1]))
        # A request repeating a key accepted earlier in this batch (``exists``, or other content) points at
        # that request's placeholder too.
        for result in self.results:
            if result is not None:
                result.transaction_id = real(result.transaction_id)
        guard = (
            sorted(
                {
                    (state.book_id, period_of(planned.effective_date))
                    for planned in self.planned
                    for state, _ in planned.legs
                }
            )
            if self.guard_closed_periods
            else []
        )
        if self.before_writes is not None:
            # Every read is done and every lock held: the next shared commit may start its reads while these
            # writes and their COMMIT are in flight (its locking read waits for our accounts on the server).
            self.before_writes()
        closed_meanwhile = db.write_unit(
            transactions,
            queued,
            postings,
            resolutions,
            month_totals,
            [
                (state.debits_posted, state.credits_posted, state.debits_pending, state.credits_pending, state.id)
                for state in self.accounts_by_id.values()
                if state.dirty
            ],
            guard_periods=guard,
            commit=self.commit_with_writes,
        )
        if closed_meanwhile:
            raise PeriodClosedMeanwhile


def expired_pending_query(moment: datetime, limit: int) -> Select:
    """Ids of open pending transactions whose expiry has passed, oldest first. Only pendings carry an expiry,
    and the partial index on ``expires_at`` holds just those rows: the job never scans the journal."""
    return (
        select(T_TRANSACTIONS.c.id)
        .select_from(T_TRANSACTIONS.outerjoin(T_RESOLUTIONS, T_RESOLUTIONS.c.target_id == T_TRANSACTIONS.c.id))
        .where(
            T_TRANSACTIONS.c.pending.is_(True),
            T_TRANSACTIONS.c.expires_at.is_not(None),
            T_TRANSACTIONS.c.expires_at <= moment,
            T_RESOLUTIONS.c.target_id.is_(None),
        )
        .order_by(T_TRANSACTIONS.c.id)
        .limit(limit)
    )


def posting_specs_fen(
    book: str, legs: Iterable[tuple[str, int]], currency: str = DEFAULT_CURRENCY
) -> tuple[PostingSpec, ...]:
    """Like ``posting_specs`` for code that counts in minor units: ``[("Assets:Bank", 12345)]`` is 123.45."""
    return tuple(PostingSpec(book, account, format_fen(amount_fen, currency), currency) for account, amount_fen in legs)


def posting_specs(
    book: str, legs: Iterable[tuple[str, object]], currency: str = DEFAULT_CURRENCY
) -> tuple[PostingSpec, ...]:
    """Shorthand for domain code: ``posting_specs("gz", [("Assets:Bank", "100"), ("Revenue:Grant", "-100")])``."""
    return tuple(PostingSpec(book, account, amount, currency) for account, amount in legs)
