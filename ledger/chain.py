"""Tamper evidence: a hash chain over each transaction's canonical encoding, sealed after commit.

Writers only append their transaction id to ``seal_queue``; the chainer drains the queue in order under
one lock (``BEGIN IMMEDIATE`` on SQLite, an advisory lock on PostgreSQL), gives each transaction the
next gapless sequence number and its voucher number (凭证号, gapless per book per month), and links
``hash = sha256(previous hash || canonical encoding)``. So writers never queue on a chain-head lock, and
the chain runs seconds behind at most. ``verify_chain`` recomputes every sealed link and counts the rest.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, func, select, text

from ledger import schema
from ledger.db import is_postgres, read_only
from ledger.engine import T_POSTINGS, T_SEAL_QUEUE, T_TRANSACTIONS, as_utc, utc_now
from ledger.money import format_fen
from ledger.numbers import period_of

GENESIS_HASH = "0" * 64
SEAL_BATCH_SIZE = 5_000
VERIFY_CHUNK_SIZE = 10_000
# Arbitrary but fixed key of the PostgreSQL advisory lock that makes the chainer single-file.
CHAIN_LOCK_KEY = 0x66756E646C6564  # "fundled"
FINDINGS_MAX = 100

T_CHAIN = schema.ChainLink.__table__
T_VOUCHER_NUMBERS = schema.VoucherNumber.__table__
T_VOUCHER_COUNTERS = schema.VoucherCounter.__table__

_TX_COLUMNS = (
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


def _timestamp(moment) -> str | None:
    moment = as_utc(moment)
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_encoding(transaction, legs: list[tuple[int, int, str]]) -> bytes:
    """Sorted keys, decimal strings, actor and approver included: the bytes the chain hashes."""
    content = {name: transaction[name] for name in _TX_COLUMNS}
    content["pending"] = bool(content["pending"])
    content["effective_date"] = content["effective_date"].isoformat()
    content["recorded_at"] = _timestamp(content["recorded_at"])
    content["expires_at"] = _timestamp(content["expires_at"])
    content["postings"] = [
        [account_id, format_fen(amount, currency), currency] for account_id, amount, currency in legs
    ]
    return json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def link_hash(prev_hash: str, encoding: bytes) -> str:
    digest = hashlib.sha256(prev_hash.encode())
    digest.update(encoding)
    return digest.hexdigest()


def _load(conn: Connection, ids: list[int]) -> tuple[dict[int, dict], dict[int, list[tuple[int, int, str, int]]]]:
    transactions: dict[int, dict] = {}
    legs: dict[int, list[tuple[int, int, str, int]]] = {tx_id: [] for tx_id in ids}
    low, high = min(ids), max(ids)
    wanted = set(ids)
    # A range scan beats a long IN list; rows outside the wanted set are skipped.
    for row in conn.execute(
        select(T_TRANSACTIONS).where(T_TRANSACTIONS.c.id >= low, T_TRANSACTIONS.c.id <= high)
    ).mappings():
        if row["id"] in wanted:
            transactions[row["id"]] = row
    for tx_id, account_id, amount, currency, book_id in conn.execute(
        select(
            T_POSTINGS.c.transaction_id,
            T_POSTINGS.c.account_id,
            T_POSTINGS.c.amount_fen,
            T_POSTINGS.c.currency,
            T_POSTINGS.c.book_id,
        )
        .where(T_POSTINGS.c.transaction_id >= low, T_POSTINGS.c.transaction_id <= high)
        .order_by(T_POSTINGS.c.id)
    ):
        if tx_id in wanted:
            legs[tx_id].append((account_id, amount, currency, book_id))
    return transactions, legs


def seal(engine: Engine, *, batch_size: int = SEAL_BATCH_SIZE, max_batches: int | None = None) -> int:
    """Seal queued transactions into the chain; returns how many were sealed."""
    sealed = 0
    batches = 0
    while max_batches is None or batches < max_batches:
        with engine.begin() as conn:
            count = _seal_batch(conn, batch_size, postgres=is_postgres(engine))
        if count == 0:
            break
        sealed += count
        batches += 1
    return sealed


def _seal_batch(conn: Connection, batch_size: int, *, postgres: bool) -> int:
    if postgres:
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHAIN_LOCK_KEY})
    ids = list(
        conn.execute(
            select(T_SEAL_QUEUE.c.transaction_id).order_by(T_SEAL_QUEUE.c.transaction_id).limit(batch_size)
        ).scalars()
    )
    if not ids:
        return 0
    head = conn.execute(select(T_CHAIN.c.seq, T_CHAIN.c.hash).order_by(T_CHAIN.c.seq.desc()).limit(1)).first()
    seq, prev_hash = (head[0], head[1]) if head else (0, GENESIS_HASH)
    transactions, legs = _load(conn, ids)
    now = utc_now()
    counters: dict[tuple[int, str], int] = {}
    links, numbers = [], []
    for tx_id in ids:
        transaction = transactions[tx_id]
        tx_legs = legs[tx_id]
        encoding = canonical_encoding(transaction, [(a, amount, c) for a, amount, c, _b in tx_legs])
        seq += 1
        current = link_hash(prev_hash, encoding)
        links.append({"seq": seq, "transaction_id": tx_id, "prev_hash": prev_hash, "hash": current, "sealed_at": now})
        prev_hash = current
        period = period_of(transaction["effective_date"])
        for book_id in sorted({leg[3] for leg in tx_legs}):
            key = (book_id, period)
            if key not in counters:
                counters[key] = _counter(conn, book_id, period)
            counters[key] += 1
            numbers.append({"book_id": book_id, "period": period, "number": counters[key], "transaction_id": tx_id})
    conn.execute(T_CHAIN.insert(), links)
    if numbers:
        conn.execute(T_VOUCHER_NUMBERS.insert(), numbers)
    _store_counters(conn, counters)
    conn.execute(T_SEAL_QUEUE.delete().where(T_SEAL_QUEUE.c.transaction_id.in_(ids)))
    return len(ids)


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


@dataclass
class ChainReport:
    sealed: int = 0
    unsealed: int = 0
    transactions: int = 0
    findings: list[str] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.findings


def _chain_chunks(conn: Connection) -> Iterator[list]:
    last_seq = 0
    while True:
        rows = conn.execute(
            select(T_CHAIN).where(T_CHAIN.c.seq > last_seq).order_by(T_CHAIN.c.seq).limit(VERIFY_CHUNK_SIZE)
        ).all()
        if not rows:
            return
        yield rows
        last_seq = rows[-1].seq


def verify_chain(engine: Engine) -> ChainReport:
    """Recompute every sealed link; count transactions not yet sealed; report any that are neither."""
    report = ChainReport()
    with read_only(engine).connect() as conn:
        expected_seq, prev_hash = 1, GENESIS_HASH
        for rows in _chain_chunks(conn):
            transactions, legs = _load(conn, [row.transaction_id for row in rows])
            for row in rows:
                if row.seq != expected_seq:
                    _finding(report, f"chain sequence jumps from {expected_seq - 1} to {row.seq}")
                    expected_seq = row.seq
                if row.prev_hash != prev_hash:
                    _finding(report, f"link {row.seq} does not point at the previous link's hash")
                transaction = transactions.get(row.transaction_id)
                if transaction is None:
                    _finding(report, f"link {row.seq} names transaction {row.transaction_id}, which is missing")
                else:
                    tx_legs = [(a, amount, c) for a, amount, c, _b in legs[row.transaction_id]]
                    if link_hash(row.prev_hash, canonical_encoding(transaction, tx_legs)) != row.hash:
                        _finding(report, f"transaction {row.transaction_id} (link {row.seq}) does not match its hash")
                prev_hash = row.hash
                expected_seq += 1
                report.sealed += 1
        report.unsealed = conn.execute(select(func.count()).select_from(T_SEAL_QUEUE)).scalar_one()
        report.transactions = conn.execute(select(func.count()).select_from(T_TRANSACTIONS)).scalar_one()
    if report.transactions != report.sealed + report.unsealed:
        _finding(
            report,
            f"{report.transactions} transactions but {report.sealed} sealed and {report.unsealed} queued: "
            "some transaction bypassed the chain",
        )
    return report


def _finding(report: ChainReport, message: str) -> None:
    if len(report.findings) < FINDINGS_MAX:
        report.findings.append(message)
