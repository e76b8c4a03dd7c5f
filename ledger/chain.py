"""Tamper evidence: a hash chain over committed transactions, sealed after commit in batches.

Writers compute each transaction's leaf hash where the data already is (``ledger.chain_format``) and queue
it in ``seal_queue`` with the month and books its voucher numbers need; they never wait on a chain head. The
chainer drains the queue in order under one lock (``BEGIN IMMEDIATE`` on SQLite, an advisory lock on
PostgreSQL), gives each transaction the next gapless sequence number and its voucher number (凭证号, gapless
per book per month), and seals the batch with one link over its leaves in sequence order and the previous
link's hash, without reading a transaction back. ``verify_chain`` recomputes every leaf and every link (both
formats: links sealed per transaction before migration 0005 stay as they are) and counts what is queued.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, func, select, text

from ledger import schema
from ledger.arrow_scan import ArrowSource, arrow_reader, arrow_source
from ledger.chain_format import (  # noqa: F401 - _amount_text, _date_text, _moment_text: tests import them here
    GENESIS_HASH,
    ISSUE_KINDS,
    _amount_text,
    _date_text,
    _moment_text,
    canonical_encoding,
    leaf_hash,
    link_hash,
    parse_voucher_books,
    seal_hash,
    voucher_books,
)
from ledger.db import engine_url_for_workers, is_postgres, make_engine, read_only
from ledger.engine import T_SEAL_QUEUE, T_TRANSACTIONS, utc_now
from ledger.store import TRANSACTION_COLUMNS, DriverStatements

if TYPE_CHECKING:
    from ledger.chain_bulk import BulkRange, LinkIssue

logger = logging.getLogger(__name__)

SEAL_BATCH_SIZE = 5_000
# The background chainer stores a batch per write-lock window. Behind a bulk import, which holds SQLite's write
# lock for a 50k-transaction chunk at a time, it gets a window about once per chunk, so a batch must cover a
# chunk to keep up: with 5,000 the CLI import of 1M took 72-74 s, with 50,000 52-53 s (docs/BENCHMARKS.md).
CHAINER_BATCH_SIZE = 50_000
VERIFY_CHUNK_SIZE = 10_000
# Arbitrary but fixed key of the PostgreSQL advisory lock that makes the chainer single-file.
CHAIN_LOCK_KEY = 0x66756E646C6564  # "fundled"
FINDINGS_MAX = 100
# Below this many links one process verifies faster than starting workers would allow.
PARALLEL_VERIFY_MIN_LINKS = 200_000
VERIFY_WORKERS_MAX = 4

T_CHAIN = schema.ChainLink.__table__
T_SEALS = schema.ChainSeal.__table__
T_VOUCHER_NUMBERS = schema.VoucherNumber.__table__
T_VOUCHER_COUNTERS = schema.VoucherCounter.__table__

_EFFECTIVE_DATE_INDEX = TRANSACTION_COLUMNS.index("effective_date")


def _placeholder(conn: Connection) -> str:
    return "%s" if conn.dialect.name == "postgresql" else "?"


def _load(conn: Connection, ids: list[int]) -> tuple[dict[int, tuple], dict[int, list[tuple[int, int, str, int]]]]:
    """Transactions and their legs for ``ids``, read with the driver (this runs over the whole journal)."""
    transactions: dict[int, tuple] = {}
    legs: dict[int, list[tuple[int, int, str, int]]] = {tx_id: [] for tx_id in ids}
    low, high = min(ids), max(ids)
    wanted = set(ids)
    mark = _placeholder(conn)
    # The driver's own cursor: SQLAlchemy's per-row processing costs more than the hashing here.
    cursor = conn.connection.driver_connection.cursor()
    try:
        # A range scan beats a long IN list; rows outside the wanted set are skipped.
        cursor.execute(
            f"SELECT {', '.join(TRANSACTION_COLUMNS)} FROM transactions WHERE id >= {mark} AND id <= {mark}",
            (low, high),
        )
        for row in cursor.fetchall():
            if row[0] in wanted:
                transactions[row[0]] = row
        cursor.execute(
            "SELECT transaction_id, account_id, amount_fen, currency, book_id FROM postings "
            f"WHERE transaction_id >= {mark} AND transaction_id <= {mark} ORDER BY transaction_id, id",
            (low, high),
        )
        for tx_id, account_id, amount, currency, book_id in cursor.fetchall():
            if tx_id in wanted:
                legs[tx_id].append((account_id, amount, currency, book_id))
    finally:
        cursor.close()
    return transactions, legs


def seal(engine: Engine, *, batch_size: int = SEAL_BATCH_SIZE, max_batches: int | None = None) -> int:
    """Seal queued transactions into the chain; returns how many were sealed."""
    postgres = is_postgres(engine)
    sealed = 0
    batches = 0
    while max_batches is None or batches < max_batches:
        if postgres:
            with engine.begin() as conn:
                count = _seal_batch(conn, batch_size)
        else:
            count = _seal_batch_outside_the_lock(engine, batch_size)
        if count == 0:
            break
        sealed += count
        batches += 1
    return sealed


@dataclass
class _SealPlan:
    """The links, seal and voucher-number claims of one batch, computed from a chain head."""

    head: tuple[int, str] | None
    ids: list[int]
    links: list[tuple[int, int, str, str]] = field(default_factory=list)  # seq, tx id, prev hash, leaf
    seal: tuple[int, int, str, str] | None = None  # last seq, first seq, prev hash, hash
    claims: list[tuple[int, str, int]] = field(default_factory=list)  # book id, "YYYY-MM", tx id


def _plan_batch(conn: Connection, batch_size: int) -> _SealPlan | None:
    """Read the queue (leaves and voucher books as the writers queued them) and the chain head, and seal the
    batch as one link over its leaves. None if nothing is queued."""
    rows = conn.execute(
        select(T_SEAL_QUEUE.c.transaction_id, T_SEAL_QUEUE.c.leaf_hash, T_SEAL_QUEUE.c.period, T_SEAL_QUEUE.c.book_ids)
        .order_by(T_SEAL_QUEUE.c.transaction_id)
        .limit(batch_size)
    ).all()
    if not rows:
        return None
    queued = [tuple(row) for row in rows]
    older = [tx_id for tx_id, leaf, _period, _books in queued if leaf is None]
    if older:
        queued = _with_leaves_read_back(conn, queued, older)
    head = _chain_head(conn)
    seq, prev_hash = head if head else (0, GENESIS_HASH)
    plan = _SealPlan(head, [row[0] for row in queued])
    for tx_id, leaf, period, books in queued:
        seq += 1
        plan.links.append((seq, tx_id, prev_hash, leaf))
        plan.claims += [(book_id, period, tx_id) for book_id in parse_voucher_books(books)]
    plan.seal = (seq, plan.links[0][0], prev_hash, seal_hash(prev_hash, [link[3] for link in plan.links]))
    return plan


def _with_leaves_read_back(conn: Connection, queued: list[tuple], ids: list[int]) -> list[tuple]:
    """Transactions queued before migration 0005 carry no leaf: compute it, and their voucher books, from
    the stored rows (the only case in which the chainer reads a transaction)."""
    transactions, legs = _load(conn, ids)
    known = {}
    for tx_id in ids:
        tx_legs = legs[tx_id]
        encoding = canonical_encoding(transactions[tx_id], [(a, amount, c) for a, amount, c, _b in tx_legs])
        period = _date_text(transactions[tx_id][_EFFECTIVE_DATE_INDEX])[:7]
        known[tx_id] = (tx_id, leaf_hash(encoding), period, voucher_books(leg[3] for leg in tx_legs))
    return [known.get(row[0], row) for row in queued]


def _chain_head(conn: Connection) -> tuple[int, str] | None:
    """(last seq, the hash the next element points at): the last seal's hash, or for a chain that ends in a
    per-transaction link (sealed before migration 0005), that link's."""
    head = conn.execute(
        select(T_CHAIN.c.seq, func.coalesce(T_SEALS.c.hash, T_CHAIN.c.hash))
        .select_from(T_CHAIN.outerjoin(T_SEALS, T_SEALS.c.last_seq == T_CHAIN.c.seq))
        .order_by(T_CHAIN.c.seq.desc())
        .limit(1)
    ).first()
    return (head[0], head[1]) if head else None


def _store_batch(conn: Connection, plan: _SealPlan) -> None:
    """Write a planned batch; the caller holds the chain's lock and has checked the head is unchanged."""
    counters: dict[tuple[int, str], int] = {}
    numbers = []
    for book_id, period, tx_id in plan.claims:
        key = (book_id, period)
        if key not in counters:
            counters[key] = _counter(conn, book_id, period)
        counters[key] += 1
        numbers.append((book_id, period, counters[key], tx_id))
    db = DriverStatements(conn)
    try:
        now = db.moment(utc_now())
        with db.pipeline():
            db.insert_chain_links([(*link, now) for link in plan.links])
            db.insert_chain_seals([(*plan.seal, now)])
            db.insert_voucher_numbers(numbers)
        _store_counters(conn, counters)
        # By id, not by range: on PostgreSQL a lower id may commit later and must wait for the next round.
        db.remove_from_seal_queue(plan.ids)
    finally:
        db.close()


def _seal_batch(conn: Connection, batch_size: int) -> int:
    """PostgreSQL: plan and store under the chain's advisory lock, in one transaction."""
    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHAIN_LOCK_KEY})
    plan = _plan_batch(conn, batch_size)
    if plan is None:
        return 0
    _store_batch(conn, plan)
    return len(plan.ids)


def _seal_batch_outside_the_lock(engine: Engine, batch_size: int) -> int:
    """SQLite: read the queue in a read transaction (WAL readers block no writer), then take the write lock
    only to store, after checking that no other sealer moved the chain head meanwhile (else plan again).
    Ids are taken under the write lock in commit order here, so transactions queued after the read can only
    come after the planned ones."""
    while True:
        with read_only(engine).connect() as reader, reader.begin():
            plan = _plan_batch(reader, batch_size)
        if plan is None:
            return 0
        with engine.begin() as conn:
            if _chain_head(conn) == plan.head:
                _store_batch(conn, plan)
                return len(plan.ids)


def _counter(conn: Connection, book_id: int, period: str) -> int:
    value = conn.execute(
        select(T_VOUCHER_COUNTERS.c.last_number).where(
            T_VOUCHER_COUNTERS.c.book_id == book_id, T_VOUCHER_COUNTERS.c.period == period
        )
    ).scalar()
    if value is None:
        conn.execute(T_VOUCHER_COUNTERS.insert().values(book_id=book_id, period=period, last_number=0))
        return 0
    return value


def _store_counters(conn: Connection, counters: dict[tuple[int, str], int]) -> None:
    for (book_id, period), last_number in counters.items():
        conn.execute(
            T_VOUCHER_COUNTERS.update()
            .where(T_VOUCHER_COUNTERS.c.book_id == book_id, T_VOUCHER_COUNTERS.c.period == period)
            .values(last_number=last_number)
        )


CHAINER_IDLE_S = 0.5


def _chain_until_stopped(url: str, stop) -> None:  # noqa: ANN001 - a multiprocessing Event
    engine = make_engine(url)
    try:
        while not stop.is_set():
            if seal(engine, batch_size=CHAINER_BATCH_SIZE, max_batches=1) == 0:
                stop.wait(CHAINER_IDLE_S)
    finally:
        engine.dispose()


@contextmanager
def background_chainer(engine: Engine, *, enabled: bool = True):
    """Seal in another process while the block writes (a bulk import keeps one core busy itself).

    The chain stays one gapless sequence: sealers take the same lock, whoever runs them."""
    if not enabled:
        yield
        return
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    process = context.Process(target=_chain_until_stopped, args=(engine_url_for_workers(engine), stop), daemon=True)
    process.start()
    try:
        yield
    finally:
        stop.set()
        process.join()


@dataclass
class ChainReport:
    sealed: int = 0
    unsealed: int = 0
    transactions: int = 0
    findings: list[str] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.findings


def _seals_between(cursor, mark: str, low: int, high: int) -> list[tuple[int, int, str, str]]:  # noqa: ANN001
    """(first seq, last seq, previous hash, hash) of the seals ending in [low, high], and of the one seal
    ending after it (it may cover the range's last links), by last seq."""
    columns = "first_seq, last_seq, prev_hash, hash"
    cursor.execute(
        f"SELECT {columns} FROM chain_seals WHERE last_seq >= {mark} AND last_seq <= {mark} ORDER BY last_seq",
        (low, high),
    )
    seals = cursor.fetchall()
    cursor.execute(f"SELECT {columns} FROM chain_seals WHERE last_seq > {mark} ORDER BY last_seq LIMIT 1", (high,))
    after = cursor.fetchone()
    if after is not None and after[0] <= high:
        seals.append(after)
    return [tuple(seal) for seal in seals]


def _chain_chunks(
    conn: Connection, first_seq: int, last_seq: int
) -> Iterator[tuple[list[tuple[int, int, str, str]], list[tuple[int, int, str, str]]]]:
    """Per page of seq in [first_seq, last_seq]: its links (seq, transaction id, previous hash, hash) and
    the seals that cover any of it (``_seals_between``)."""
    mark = _placeholder(conn)
    cursor = conn.connection.driver_connection.cursor()
    try:
        low = first_seq
        while low <= last_seq:
            high = min(low + VERIFY_CHUNK_SIZE - 1, last_seq)
            cursor.execute(
                "SELECT seq, transaction_id, prev_hash, hash FROM chain_links "
                f"WHERE seq >= {mark} AND seq <= {mark} ORDER BY seq",
                (low, high),
            )
            rows = cursor.fetchall()
            seals = _seals_between(cursor, mark, low, high)
            if rows or seals:
                yield rows, seals
            low = high + 1
    finally:
        cursor.close()


@dataclass
class _RangeResult:
    """What one worker saw of the chain between two sequence numbers: its links, the hash its first element
    points at and the hash of its last element (both checked at the seams between ranges)."""

    first_seq: int
    last_seq: int
    links: int = 0
    first_prev_hash: str | None = None
    first_seal: tuple[int, int] | None = None  # (first, last seq) when the range starts with a seal
    last_hash: str | None = None
    findings: list[str] = field(default_factory=list)


class _Walk:
    """The rules of the chain (``ledger.chain_format``), checked link by link in sequence order.

    The chain is a sequence of elements: a per-transaction link (sealed before migration 0005) or a seal
    over a run of links. Each element points at the hash of the element before it, which is the element of
    the last link before it (a link's own, or the seal covering it); a link under a seal holds its
    transaction's leaf and the seal's previous hash; a seal hashes its links' stored leaves. A seal that
    starts inside the seal before it is refused (``seal_overlap``) and its links are checked as if it were
    not there. ``ledger.chain_bulk`` checks the same rules over Arrow columns: findings are compared."""

    def __init__(self, first_seq: int) -> None:
        self.expected_seq = first_seq
        self.before: str | None = None  # the hash of the last link's element
        self.first_prev_hash: str | None = None
        self.first_seal: tuple[int, int] | None = None
        self.started = False
        self.links = 0
        self.last_accepted_seq = first_seq - 1  # last seq of the last seal accepted
        self.seen_seal_end = first_seq - 1  # seals ending at or before this were already taken
        self.pending: list[list] = []  # accepted seals not yet closed: [first, last, prev, hash, opened, leaves]
        self.found: list[tuple[int, int, str]] = []  # (anchor seq, place in ISSUE_KINDS, message)

    def _issue(self, anchor: int, kind: str, message: str) -> None:
        if len(self.found) < FINDINGS_MAX * 4:
            self.found.append((anchor, ISSUE_KINDS.index(kind), message))

    def take_seals(self, seals: list[tuple[int, int, str, str]]) -> None:
        for first, last, prev, hash_ in seals:
            if last <= self.seen_seal_end:
                continue
            self.seen_seal_end = last
            if first <= self.last_accepted_seq or first > last:
                self._issue(first, "seal_overlap", _seal_overlap(first, last))
                continue
            self.last_accepted_seq = last
            self.pending.append([first, last, prev, hash_, False, []])

    def _open(self, seal: list) -> None:
        seal[4] = True
        if not self.started:
            self.first_prev_hash, self.started = seal[2], True
            self.first_seal = (seal[0], seal[1])
        elif seal[2] != self.before:
            self._issue(seal[0], "seal_unlinked", _seal_unlinked(seal[0], seal[1]))

    def _close(self, seal: list) -> None:
        if not seal[4]:
            self._open(seal)
        if seal_hash(seal[2], seal[5]) != seal[3]:
            self._issue(seal[1], "seal_mismatch", _seal_mismatch(seal[0], seal[1]))

    def _advance_to(self, seq: int) -> list | None:
        """Close the seals that end before ``seq``, open those that start by it; the one covering it."""
        while self.pending and self.pending[0][1] < seq:
            self._close(self.pending.pop(0))
        if self.pending and self.pending[0][0] <= seq:
            if not self.pending[0][4]:
                self._open(self.pending[0])
            return self.pending[0]
        return None

    def link(self, seq: int, transaction_id: int, prev_hash: str, stored_hash: str, encoding: bytes | None) -> None:
        """One link; ``encoding`` is its transaction's canonical encoding, None if the transaction is gone."""
        if seq != self.expected_seq:
            self._issue(seq, "jump", _jump(self.expected_seq - 1, seq))
        seal = self._advance_to(seq)
        if seal is not None:
            if prev_hash != seal[2]:
                self._issue(seq, "unlinked", _unlinked(seq))
            expected = leaf_hash(encoding) if encoding is not None else None
            seal[5].append(stored_hash)
            self.before = seal[3]
        else:
            if not self.started:
                self.first_prev_hash, self.started = prev_hash, True
            elif prev_hash != self.before:
                self._issue(seq, "unlinked", _unlinked(seq))
            expected = link_hash(prev_hash, encoding) if encoding is not None else None
            self.before = stored_hash
        if encoding is None:
            self._issue(seq, "missing", _missing(seq, transaction_id))
        elif expected != stored_hash:
            self._issue(seq, "mismatch", _mismatch(transaction_id, seq))
        self.expected_seq = seq + 1
        self.links += 1

    def finish(self, result: _RangeResult) -> None:
        while self.pending:
            self._close(self.pending.pop(0))
        result.links = self.links
        result.first_prev_hash = self.first_prev_hash
        result.first_seal = self.first_seal
        result.last_hash = self.before
        for _anchor, _kind, message in sorted(self.found):
            _add_finding(result.findings, message)


def _verify_range(conn: Connection, first_seq: int, last_seq: int) -> _RangeResult:
    """Every link and seal between two sequence numbers (``_Walk``); the elements are checked against each
    other, and the range's ends at the seams, so ranges can be checked in parallel."""
    result = _RangeResult(first_seq, last_seq)
    walk = _Walk(first_seq)
    for rows, seals in _chain_chunks(conn, first_seq, last_seq):
        walk.take_seals(seals)
        transactions, legs = _load(conn, [row[1] for row in rows]) if rows else ({}, {})
        for seq, transaction_id, link_prev_hash, stored_hash in rows:
            transaction = transactions.get(transaction_id)
            encoding = None
            if transaction is not None:
                encoding = canonical_encoding(
                    transaction, [(a, amount, c) for a, amount, c, _b in legs[transaction_id]]
                )
            walk.link(seq, transaction_id, link_prev_hash, stored_hash, encoding)
    expected_seq = walk.expected_seq
    walk.finish(result)
    if result.links and expected_seq != last_seq + 1:
        _add_finding(result.findings, _ends(expected_seq - 1, last_seq))
    return result


# From this many links a SQLite chain is checked in bulk, in a worker process (see verify_chain): below it,
# starting that process costs more than checking row by row here.
BULK_VERIFY_MIN_LINKS_SQLITE = 100_000
# Processes the SQLite bulk check splits a long chain across (each one also reads on a second thread).
BULK_VERIFY_PROCESSES_MAX = 2
# Links whose transactions the row-by-row check reads at once (bulk checks hand over only odd ones).
REFERENCE_GROUP_LINKS = 10_000
REFERENCE_GROUP_SPAN = 50_000


# ledger.chain_bulk (and with it pyarrow) is imported where the bulk check runs, not with this module:
# every CLI command imports ledger.chain, and only verify needs Arrow.


def _bulk_in_process(source: ArrowSource, first_seq: int, last_seq: int, chunk_links: int) -> BulkRange:
    from ledger.chain_bulk import verify_links

    try:
        with arrow_reader(source) as reader:
            return verify_links(reader, source, first_seq, last_seq, chunk_links=chunk_links)
    except Exception as error:  # noqa: BLE001 - ADBC could not connect or read: the row-by-row check stands in
        raise BulkCheckFailed(f"the bulk chain check could not read the database: {error}") from error


def _bulk_in_subprocess(source: ArrowSource, first_seq: int, last_seq: int, chunk_links: int) -> BulkRange:
    """The bulk check in ``python -m ledger.chain_bulk``: a fresh interpreter that imports only Arrow and
    the ADBC driver (a multiprocessing worker would re-import the caller's whole application first)."""
    from ledger.chain_bulk import read_process_output

    command = [sys.executable, "-m", "ledger.chain_bulk", "--uri", source.uri]
    command += ["--first", str(first_seq), "--last", str(last_seq), "--chunk-links", str(chunk_links)]
    if source.postgres:
        command.append("--postgres")
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, encoding="utf-8") as process:
        try:
            bulk = read_process_output(process.stdout)
        except ValueError:
            bulk = None
        finally:
            process.stdout.close()
    if process.returncode != 0 or bulk is None:
        raise BulkCheckFailed(f"the bulk chain check exited with status {process.returncode}")
    return bulk


class BulkCheckFailed(RuntimeError):
    """The bulk check's own process did not finish; the row-by-row check takes over."""


def _verify_range_bulk(
    engine: Engine, source: ArrowSource, first_seq: int, last_seq: int, chunk_links: int, *, own_process: bool
) -> _RangeResult:
    """``_verify_range`` computed over Arrow columns (``ledger.chain_bulk``); the links it leaves to the
    reference encoding (text that JSON escapes) are checked here, row by row. Findings come out in the
    order the row-by-row check gives them: by sequence number, then in the order of ``ISSUE_KINDS``."""
    run = _bulk_in_subprocess if own_process else _bulk_in_process
    bulk = run(source, first_seq, last_seq, chunk_links)
    result = _RangeResult(
        first_seq,
        last_seq,
        links=bulk.links,
        first_prev_hash=bulk.first_prev_hash,
        first_seal=tuple(bulk.first_seal) if bulk.first_seal else None,
        last_hash=bulk.last_hash,
    )
    found: list[tuple[int, int, str]] = []  # (seq, place in ISSUE_KINDS, message)
    if bulk.links and bulk.first_seq != first_seq:
        found.append((bulk.first_seq, ISSUE_KINDS.index("jump"), _jump(first_seq - 1, bulk.first_seq)))
    left_to_reference = []
    for issue in bulk.issues:
        if issue.kind == "jump":
            message = _jump(issue.before_seq, issue.seq)
        elif issue.kind == "unlinked":
            message = _unlinked(issue.seq)
        elif issue.kind == "missing":
            message = _missing(issue.seq, issue.transaction_id)
        elif issue.kind == "mismatch":
            message = _mismatch(issue.transaction_id, issue.seq)
        elif issue.kind == "seal_overlap":
            message = _seal_overlap(issue.first_seq, issue.last_seq)
        elif issue.kind == "seal_unlinked":
            message = _seal_unlinked(issue.first_seq, issue.last_seq)
        elif issue.kind == "seal_mismatch":
            message = _seal_mismatch(issue.first_seq, issue.last_seq)
        else:
            left_to_reference.append(issue)
            continue
        found.append((issue.seq, ISSUE_KINDS.index(issue.kind), message))
    if left_to_reference:
        with read_only(engine).connect() as conn:
            for group in _reference_groups(left_to_reference):
                transactions, legs = _load(conn, [issue.transaction_id for issue in group])
                for issue in group:
                    tx_legs = [(a, amount, c) for a, amount, c, _b in legs[issue.transaction_id]]
                    encoding = canonical_encoding(transactions[issue.transaction_id], tx_legs)
                    # A link under a seal holds its leaf; one sealed alone, the hash over its previous hash.
                    expected = leaf_hash(encoding) if issue.sealed else link_hash(issue.prev_hash, encoding)
                    if expected != issue.hash:
                        message = _mismatch(issue.transaction_id, issue.seq)
                        found.append((issue.seq, ISSUE_KINDS.index("mismatch"), message))
    for _seq, _kind, message in sorted(found):
        _add_finding(result.findings, message)
    if result.links and bulk.last_seq != last_seq:
        _add_finding(result.findings, _ends(bulk.last_seq, last_seq))
    return result


# The findings' wording, one place for both checks (tests compare their findings verbatim).
def _jump(before_seq: int | None, seq: int) -> str:
    return f"chain sequence jumps from {before_seq} to {seq}"


def _unlinked(seq: int) -> str:
    return f"link {seq} does not point at the previous link's hash"


def _missing(seq: int, transaction_id: int) -> str:
    return f"link {seq} names transaction {transaction_id}, which is missing"


def _mismatch(transaction_id: int, seq: int) -> str:
    return f"transaction {transaction_id} (link {seq}) does not match its hash"


def _ends(last_seq: int | None, expected_last_seq: int) -> str:
    return f"chain sequence ends at {last_seq}, not {expected_last_seq}"


def _seal_overlap(first_seq: int, last_seq: int) -> str:
    return f"seal of links {first_seq} to {last_seq} overlaps the seal before it"


def _seal_unlinked(first_seq: int, last_seq: int) -> str:
    return f"seal of links {first_seq} to {last_seq} does not point at the previous link's hash"


def _seal_mismatch(first_seq: int, last_seq: int) -> str:
    return f"seal of links {first_seq} to {last_seq} does not match its links' hashes"


def _reference_groups(issues: list[LinkIssue]) -> Iterator[list[LinkIssue]]:
    """Issues in groups whose transaction ids lie close together: ``_load`` reads a group as one id range."""
    group: list[LinkIssue] = []
    for issue in sorted(issues, key=lambda issue: issue.transaction_id):
        if group and (
            len(group) >= REFERENCE_GROUP_LINKS or issue.transaction_id - group[0].transaction_id > REFERENCE_GROUP_SPAN
        ):
            yield group
            group = []
        group.append(issue)
    if group:
        yield group


def _verify_range_in_worker(url: str, first_seq: int, last_seq: int) -> _RangeResult:
    engine = make_engine(url)
    try:
        with read_only(engine).connect() as conn:
            return _verify_range(conn, first_seq, last_seq)
    finally:
        engine.dispose()


def verify_chain(engine: Engine, *, workers: int | None = None, bulk: bool | None = None) -> ChainReport:
    """Recompute every sealed link; count transactions not yet sealed; report any that are neither.

    Two ways to check, with the same findings: in bulk (``ledger.chain_bulk``: Arrow columns read by ADBC)
    or row by row. PostgreSQL is checked in bulk here. SQLite is checked in bulk once the chain has
    ``BULK_VERIFY_MIN_LINKS_SQLITE`` links, always in a process of its own: ADBC's driver carries its own
    copy of SQLite, and two copies in one process break each other's POSIX locks (closing one may checkpoint
    and delete the WAL under the other: sqlite.org/howtocorrupt.html, "multiple copies of SQLite"). ``bulk``
    forces the choice. A long chain is split across ``workers`` processes (default from
    ``PARALLEL_VERIFY_MIN_LINKS`` links: one per CPU row by row, up to ``BULK_VERIFY_PROCESSES_MAX`` in bulk on
    SQLite), its ranges ending at seals' ends; the seams between ranges are checked here. If the other
    processes cannot run, the same ranges are checked row by row here."""
    report = ChainReport()
    source = arrow_source(engine)
    from ledger import chain_bulk

    chunk_links = chain_bulk.BULK_VERIFY_CHUNK_LINKS
    with read_only(engine).connect() as conn:
        max_seq = conn.execute(select(func.coalesce(func.max(T_CHAIN.c.seq), 0))).scalar_one()
        if bulk is None:
            bulk = source is not None and (source.postgres or max_seq >= BULK_VERIFY_MIN_LINKS_SQLITE)
        bulk = bulk and source is not None
        if bulk:
            # SQLite: the chain split across processes of their own (each also overlaps its reads with its
            # hashing on a thread). PostgreSQL's check runs in this process, where a second range would only
            # queue for the same interpreter lock: one range.
            processes = 1
            if workers is not None:
                processes = max(workers, 1)
            elif max_seq >= PARALLEL_VERIFY_MIN_LINKS:
                processes = min(os.cpu_count() or 1, BULK_VERIFY_PROCESSES_MAX)
            if source.postgres:
                processes = 1
            bounds = _align_to_seals(conn, _split(max_seq, processes))
            try:
                parts = _bulk_ranges(engine, source, bounds, chunk_links)
            except BulkCheckFailed as error:
                logger.warning("%s; checking the chain row by row", error)
                parts = [_verify_range(conn, first, last) for first, last in bounds]
        else:
            if workers is None:
                workers = min(os.cpu_count() or 1, VERIFY_WORKERS_MAX) if max_seq >= PARALLEL_VERIFY_MIN_LINKS else 1
            bounds = _align_to_seals(conn, _split(max_seq, max(workers, 1)))
            try:
                if len(bounds) <= 1:
                    parts = [_verify_range(conn, first, last) for first, last in bounds]
                else:
                    parts = _verify_in_workers(engine_url_for_workers(engine), bounds)
            except BrokenProcessPool:
                # Workers could not start (e.g. a __main__ read from stdin cannot be re-imported): the same
                # ranges, one after the other, in this process, give the same answer.
                parts = [_verify_range(conn, first, last) for first, last in bounds]
        report.unsealed = conn.execute(select(func.count()).select_from(T_SEAL_QUEUE)).scalar_one()
        report.transactions = conn.execute(select(func.count()).select_from(T_TRANSACTIONS)).scalar_one()
    expected_prev = GENESIS_HASH
    for part in parts:
        for finding in part.findings:
            _finding(report, finding)
        if part.links == 0:
            _finding(report, f"chain links {part.first_seq} to {part.last_seq} are missing")
            continue
        if part.first_prev_hash != expected_prev:
            _finding(report, _seal_unlinked(*part.first_seal) if part.first_seal else _unlinked(part.first_seq))
        expected_prev = part.last_hash
        report.sealed += part.links
    if report.transactions != report.sealed + report.unsealed:
        _finding(
            report,
            f"{report.transactions} transactions but {report.sealed} sealed and {report.unsealed} queued: "
            "some transaction bypassed the chain",
        )
    return report


def _bulk_ranges(
    engine: Engine, source: ArrowSource, bounds: list[tuple[int, int]], chunk_links: int
) -> list[_RangeResult]:
    """Each range checked in bulk, at once (a thread waits on each range's process), in range order."""
    own_process = not source.postgres
    if len(bounds) <= 1 or not own_process:
        return [
            _verify_range_bulk(engine, source, first, last, chunk_links, own_process=own_process)
            for first, last in bounds
        ]
    with ThreadPoolExecutor(max_workers=len(bounds), thread_name_prefix="fundledger-verify") as pool:
        futures = [
            pool.submit(_verify_range_bulk, engine, source, first, last, chunk_links, own_process=True)
            for first, last in bounds
        ]
        return [future.result() for future in futures]


def _verify_in_workers(url: str, bounds: list[tuple[int, int]]) -> list[_RangeResult]:
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=len(bounds), mp_context=context) as pool:
        futures = [pool.submit(_verify_range_in_worker, url, first, last) for first, last in bounds]
        return [future.result() for future in futures]


def _align_to_seals(conn: Connection, bounds: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Move each range's end to the end of the seal covering it, so that no seal is split between workers
    (a seal is checked over all its links at once)."""
    aligned: list[tuple[int, int]] = []
    start = 1
    for index, (_first, last) in enumerate(bounds):
        if index < len(bounds) - 1:
            covering = conn.execute(
                select(T_SEALS.c.first_seq, T_SEALS.c.last_seq)
                .where(T_SEALS.c.last_seq >= last)
                .order_by(T_SEALS.c.last_seq)
                .limit(1)
            ).first()
            if covering is not None and covering[0] <= last:
                last = max(last, min(covering[1], bounds[-1][1]))
        if start <= last:
            aligned.append((start, last))
            start = last + 1
    return aligned


def _split(max_seq: int, parts: int) -> list[tuple[int, int]]:
    if max_seq == 0:
        return []
    size = -(-max_seq // parts)
    return [(first, min(first + size - 1, max_seq)) for first in range(1, max_seq + 1, size)]


def _add_finding(findings: list[str], message: str) -> None:
    if len(findings) < FINDINGS_MAX:
        findings.append(message)


def _finding(report: ChainReport, message: str) -> None:
    _add_finding(report.findings, message)
