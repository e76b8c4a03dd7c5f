"""Posting-engine throughput, durable: every commit is acknowledged only once it is on disk.

    .venv/bin/python bench/bench_post.py
    .venv/bin/python bench/bench_post.py --postgres-url postgresql://postgres@127.0.0.1:5432/test

On a fresh SQLite file (the engine's own settings: WAL, synchronous=FULL, BEGIN IMMEDIATE):
(a) single: one 2-leg transaction per ``Ledger.post`` call, each its own commit (default N=5,000) -> tx/s,
    p50/p99 latency. Target >= 2,000 tx/s.
(c) threads: ``--threads`` (default 20) threads sharing one ``Ledger``, each posting its share of
    ``--single`` 2-leg transactions with ``Ledger.post``, each acknowledged after its durable commit (a
    commit may hold several threads' posts: group commit) -> tx/s, p50/p99 latency, commits made.
    Target >= 3x the plain-sqlite3 one-commit-per-post peer below.
(b) batched: ``Ledger.submit`` with batches of 1,000 2-leg transactions (default 50 batches) -> tx/s.
    Target >= 30,000 tx/s.
(peers) the database alone: the same rows the posts write (transaction rows, posting rows, seal-queue rows,
    month totals, account totals summed per account), built before the clock starts and inserted with plain
    ``sqlite3`` on the same file with the engine's settings: one post's rows per durable commit
    -> commits/s (the floor under (a)), and ``--batch-size`` posts' rows per commit -> tx/s (under (b)).
With ``--postgres-url`` the same (a) and (b) run on PostgreSQL (synchronous_commit=on) in a schema
``bench_<random>`` created for the run and dropped afterwards. Transfers are seeded random pairs among
``--accounts`` accounts; a few untimed warm-up posts run first. Afterwards the chain is sealed (timed,
reported apart) and ``reconcile`` and ``verify_chain`` must be clean. The SQLite file is removed.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    DEFAULT_SEED,
    emit,
    log,
    machine,
    percentile,
    postgres_schema,
    rate,
    scratch_dir,
    sqlite_url,
)

BOOK = "bench"
TARGET_SINGLE_TX_S = 2_000
TARGET_BATCH_TX_S = 30_000
TARGET_THREADS_OVER_PEER = 3.0
WARMUP = 50


def setup_accounts(ledger, count: int) -> list[str]:
    ledger.create_book(BOOK, BOOK, "financial")
    paths = [f"Assets:Bench:A{n:04d}" for n in range(count)]
    for path in paths:
        ledger.create_account(BOOK, path)
    return paths


def make_requests(rng: random.Random, paths: list[str], prefix: str, count: int):
    from ledger.engine import posting_specs
    from ledger.entries import TransactionRequest

    day = date(2026, 6, 15)
    requests = []
    for number in range(count):
        source, target = rng.sample(paths, 2)
        fen = rng.randint(1, 10_000_000)
        amount = f"{fen // 100}.{fen % 100:02d}"
        requests.append(
            TransactionRequest(
                f"{prefix}-{number}",
                posting_specs(BOOK, [(target, amount), (source, f"-{amount}")]),
                day,
                source="bench",
            )
        )
    return requests


def run_single(ledger, requests) -> dict:
    latencies = []
    clock = time.perf_counter
    started = clock()
    for request in requests:
        t0 = clock()
        ledger.post(request)
        latencies.append(clock() - t0)
    seconds = clock() - started
    latencies.sort()
    return {
        "transactions": len(requests),
        "seconds": round(seconds, 3),
        "tx_per_s": rate(len(requests), seconds),
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 3),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 3),
        "max_ms": round(latencies[-1] * 1000, 3),
        "target_tx_per_s": TARGET_SINGLE_TX_S,
    }


def run_threads(ledger, requests, threads: int) -> dict:
    """``threads`` threads posting their shares of ``requests`` at once, one ``Ledger.post`` per request."""
    import threading

    shares = [requests[n::threads] for n in range(threads)]
    latencies: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(threads + 1)
    clock = time.perf_counter

    def post_share(share) -> None:
        mine = []
        start.wait()
        for request in share:
            t0 = clock()
            ledger.post(request)
            mine.append(clock() - t0)
        with lock:
            latencies.extend(mine)

    writers = [threading.Thread(target=post_share, args=(share,)) for share in shares]
    for writer in writers:
        writer.start()
    group = getattr(ledger, "group", None)  # absent before group commit (a before/after run)
    commits_before = group.batches if group else None
    start.wait()
    started = clock()
    for writer in writers:
        writer.join()
    seconds = clock() - started
    latencies.sort()
    result = {
        "threads": threads,
        "transactions": len(requests),
        "seconds": round(seconds, 3),
        "tx_per_s": rate(len(requests), seconds),
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 3),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 3),
        "max_ms": round(latencies[-1] * 1000, 3),
        "target_over_peer": TARGET_THREADS_OVER_PEER,
    }
    if group:
        commits = group.batches - commits_before
        result["commits"] = commits
        result["mean_posts_per_commit"] = round(len(requests) / commits, 2) if commits else None
    return result


def run_batches(ledger, requests, batch_size: int) -> dict:
    latencies = []
    clock = time.perf_counter
    started = clock()
    for start in range(0, len(requests), batch_size):
        t0 = clock()
        results = ledger.submit(requests[start : start + batch_size])
        latencies.append(clock() - t0)
        bad = [r for r in results if not r.ok]
        if bad:
            raise SystemExit(f"batch refused requests: {bad[:3]}")
    seconds = clock() - started
    latencies.sort()
    return {
        "transactions": len(requests),
        "batch_size": batch_size,
        "batches": len(latencies),
        "seconds": round(seconds, 3),
        "tx_per_s": rate(len(requests), seconds),
        "batch_p50_ms": round(percentile(latencies, 0.50) * 1000, 1),
        "batch_max_ms": round(latencies[-1] * 1000, 1),
        "target_tx_per_s": TARGET_BATCH_TX_S,
    }


def run_sqlite_peer(path: Path, accounts: int, count: int, per_commit: int = 1) -> dict:
    """What SQLite alone takes for the rows ``per_commit`` 2-leg posts write, per durable commit: the
    transaction rows, their seal-queue rows, the postings, the month totals and the account totals (summed
    per account, as the engine writes them). Rows are built before the clock starts: no Python ledger."""
    import sqlite3

    from ledger.db import SQLITE_CACHE_KIB
    from ledger.store import POSTING_COLUMNS, TRANSACTION_COLUMNS

    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=FULL", f"cache_size=-{SQLITE_CACHE_KIB}"):
        conn.execute(f"PRAGMA {pragma}")
    book_id = conn.execute("SELECT id FROM books").fetchone()[0]
    account_ids = [row[0] for row in conn.execute("SELECT id FROM accounts ORDER BY id")][:accounts]
    rng = random.Random(DEFAULT_SEED)
    next_id = conn.execute("SELECT COALESCE(MAX(id), 0) FROM transactions").fetchone()[0] + 1
    insert_tx = (
        f"INSERT INTO transactions ({', '.join(TRANSACTION_COLUMNS)}) "
        f"VALUES ({', '.join('?' * len(TRANSACTION_COLUMNS))})"
    )
    insert_legs = (
        f"INSERT INTO postings ({', '.join(POSTING_COLUMNS)}) VALUES ({', '.join('?' * len(POSTING_COLUMNS))})"
    )
    upsert_month = (
        "INSERT INTO account_month_totals (account_id, period, debits_fen, credits_fen) VALUES (?, '2026-06', ?, ?) "
        "ON CONFLICT (account_id, period) DO UPDATE SET debits_fen = debits_fen + excluded.debits_fen, "
        "credits_fen = credits_fen + excluded.credits_fen"
    )
    update_account = (
        "UPDATE accounts SET debits_posted = debits_posted + ?, credits_posted = credits_posted + ? WHERE id = ?"
    )
    units = []
    for start in range(0, count, per_commit):
        tx_rows, legs, totals = [], [], {}
        for number in range(start, min(start + per_commit, count)):
            tx_id = next_id + number
            source, target = rng.sample(account_ids, 2)
            fen = rng.randint(1, 10_000_000)
            tx_rows.append(
                (tx_id, "peer", f"peer{per_commit}-{number}", "0" * 64, "general", 0, "2026-06-15",
                 "2026-06-15 00:00:00.000000", "", "", None, None, None, None, None, None, None, None, None)
            )  # fmt: skip
            legs += [
                (tx_id, target, book_id, fen, "CNY", "2026-06-15", 0),
                (tx_id, source, book_id, -fen, "CNY", "2026-06-15", 0),
            ]
            totals.setdefault(target, [0, 0])[0] += fen
            totals.setdefault(source, [0, 0])[1] += fen
        account_rows = sorted((account, debit, credit) for account, (debit, credit) in totals.items())
        # The queue rows as the engine writes them: a leaf hash (a stand-in value), the month, the book.
        queue_rows = [(row[0], "0" * 64, "2026-06", str(book_id)) for row in tx_rows]
        units.append((tx_rows, queue_rows, legs, account_rows))
    clock = time.perf_counter
    started = clock()
    for tx_rows, queue_rows, legs, account_rows in units:
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(insert_tx, tx_rows)
        conn.executemany(
            "INSERT INTO seal_queue (transaction_id, leaf_hash, period, book_ids) VALUES (?, ?, ?, ?)", queue_rows
        )
        conn.executemany(insert_legs, legs)
        conn.executemany(upsert_month, account_rows)
        conn.executemany(update_account, [(debit, credit, account) for account, debit, credit in account_rows])
        conn.execute("COMMIT")
    seconds = clock() - started
    conn.close()
    return {
        "transactions": count,
        "per_commit": per_commit,
        "seconds": round(seconds, 3),
        "tx_per_s": rate(count, seconds),
    }


def run_suite(url: str, args, label: str) -> dict:
    from ledger.chain import seal, verify_chain
    from ledger.db import make_engine
    from ledger.engine import Ledger
    from ledger.queries import reconcile

    engine = make_engine(url)
    ledger = Ledger(engine)
    rng = random.Random(args.seed)
    paths = setup_accounts(ledger, args.accounts)
    for request in make_requests(rng, paths, "warmup", WARMUP):
        ledger.post(request)
    result: dict = {}
    if not args.skip_single:
        log(f"{label}: (a) {args.single} single posts, one commit each")
        result["single"] = run_single(ledger, make_requests(rng, paths, "single", args.single))
        log(f"{label}: (a) {result['single']['tx_per_s']:,.0f} tx/s")
    if args.threads:
        log(f"{label}: (c) {args.single} posts from {args.threads} threads, each acknowledged after its commit")
        result["threads"] = run_threads(ledger, make_requests(rng, paths, "threads", args.single), args.threads)
        log(f"{label}: (c) {result['threads']['tx_per_s']:,.0f} tx/s")
    if not args.skip_batch:
        log(f"{label}: (b) {args.batches} batches of {args.batch_size}")
        requests = make_requests(rng, paths, "batch", args.batches * args.batch_size)
        result["batch"] = run_batches(ledger, requests, args.batch_size)
        log(f"{label}: (b) {result['batch']['tx_per_s']:,.0f} tx/s")
    started = time.perf_counter()
    sealed = seal(engine)
    result["seal"] = {"sealed": sealed, "seconds": round(time.perf_counter() - started, 3)}
    report = verify_chain(engine)
    findings = reconcile(engine)
    result["checks"] = {
        "chain_intact": report.intact,
        "unsealed": report.unsealed,
        "reconcile_findings": len(findings),
    }
    engine.dispose()
    if not report.intact or report.unsealed or findings:
        raise SystemExit(f"{label}: checks failed: {result['checks']} {report.findings[:3]} {findings[:3]}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--single", type=int, default=5_000, help="posts in (a), one commit each (default 5,000)")
    parser.add_argument("--batch-size", type=int, default=1_000, help="transactions per submit in (b) (default 1,000)")
    parser.add_argument("--batches", type=int, default=50, help="batches in (b) (default 50 = 50,000 transactions)")
    parser.add_argument("--accounts", type=int, default=200, help="accounts the transfers move between (default 200)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--postgres-url", help="also run on PostgreSQL (a schema bench_<random> is created, dropped)")
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--skip-single", action="store_true")
    parser.add_argument("--skip-batch", action="store_true")
    parser.add_argument("--threads", type=int, default=20, help="writer threads in (c); 0 skips (c) (default 20)")
    parser.add_argument("--workdir", type=Path, help="where the scratch SQLite file goes (default: system temp dir)")
    args = parser.parse_args()

    from api.bootstrap import migrate
    from ledger.db import make_engine

    result: dict = {"benchmark": "post", "machine": machine(), "seed": args.seed, "accounts": args.accounts}
    human = []
    if not args.skip_sqlite:
        with scratch_dir(args.workdir) as scratch:
            url = sqlite_url(scratch / "post.db")
            engine = make_engine(url)
            migrate(engine)
            engine.dispose()
            result["sqlite"] = run_suite(url, args, "sqlite")
            if not args.skip_single or args.threads:
                log("sqlite: (peer) the same rows with plain sqlite3, one durable commit each")
                result["sqlite"]["peer_raw_commit"] = run_sqlite_peer(scratch / "post.db", args.accounts, args.single)
            if not args.skip_batch:
                log(f"sqlite: (peer) the same rows with plain sqlite3, {args.batch_size} per commit")
                result["sqlite"]["peer_raw_batch"] = run_sqlite_peer(
                    scratch / "post.db", args.accounts, args.batches * args.batch_size, args.batch_size
                )
    if args.postgres_url:
        with postgres_schema(args.postgres_url) as url:
            result["postgres"] = run_suite(url, args, "postgres")
    for backend in ("sqlite", "postgres"):
        if backend not in result:
            continue
        part = result[backend]
        pieces = []
        if "single" in part:
            s = part["single"]
            pieces.append(
                f"single {s['tx_per_s']:,.0f} tx/s (p50 {s['p50_ms']} ms, p99 {s['p99_ms']} ms; target 2,000)"
            )
        if "threads" in part:
            t = part["threads"]
            pieces.append(
                f"{t['threads']} threads {t['tx_per_s']:,.0f} tx/s (p50 {t['p50_ms']} ms, p99 {t['p99_ms']} ms)"
            )
            if "peer_raw_commit" in part:
                t["over_peer"] = round(t["tx_per_s"] / part["peer_raw_commit"]["tx_per_s"], 2)
                pieces.append(f"threads/peer {t['over_peer']}x (target {TARGET_THREADS_OVER_PEER:g}x)")
        if "batch" in part:
            b = part["batch"]
            pieces.append(f"batch of {b['batch_size']} {b['tx_per_s']:,.0f} tx/s (target 30,000)")
        if "peer_raw_commit" in part:
            pieces.append(f"peer: plain sqlite3, same rows, {part['peer_raw_commit']['tx_per_s']:,.0f} commits/s")
        if "peer_raw_batch" in part:
            pieces.append(f"batch peer: plain sqlite3, same rows, {part['peer_raw_batch']['tx_per_s']:,.0f} tx/s")
        human.append(f"{backend}: " + ", ".join(pieces))
    emit(result, "post: " + "; ".join(human))


if __name__ == "__main__":
    main()
