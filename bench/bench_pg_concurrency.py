"""Concurrent writers on PostgreSQL, with the chainer sealing alongside, and pgbench as the pure-SQL peer.

    .venv/bin/python bench/bench_pg_concurrency.py --url postgresql://postgres@127.0.0.1:5432/test

In a schema ``bench_<random>`` created for the run (``?schema=``) and dropped afterwards:
1. fundledger: ``--workers`` (default 20) processes (multiprocessing, spawn) post 2-leg transfers between
   random pairs of ``--accounts`` (default 50) no-overdraft accounts through ``Ledger.post`` for
   ``--duration`` seconds (default 20), while one chainer process runs ``seal(engine)`` in a loop.
   Reported: transfers/s, p50/p99 latency, refused counts by code (and unexpected errors by type), how
   many transactions were still unsealed when the writers stopped; then, after a final seal,
   ``verify_chain`` intact with unsealed == 0, ``reconcile`` == [] and the money supply unchanged.
   With ``--threads N`` the writers are N threads in one process sharing one ``Ledger`` (the shape of one
   API worker), so their posts share commits (group commit); the JSON adds the commits and requests per
   commit, and pgbench runs N clients.
2. pgbench peer: the same number of clients for the same duration running bench/pgbench_transfer.sql
   (two account UPDATEs in id order + two entry INSERTs in one transaction, no hash chain) on its own
   tables ``pgb_accounts`` / ``pgb_entries`` in the same schema. Reported: TPS, p50/p99 latency, and the
   money supply unchanged.
Both commit with synchronous_commit=on.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    BENCH_DIR,
    DEFAULT_SEED,
    emit,
    log,
    machine,
    percentile,
    postgres_schema,
    rate,
)

BOOK = "conc"
SEED_ACCOUNT = "NetAssets:Seed"
STARTING_FEN = 100_000_000  # 1,000,000.00 per account
AMOUNT_FEN_MAX = 10_000  # transfers of 0.01 .. 100.00
PGBENCH_SCRIPT = BENCH_DIR / "pgbench_transfer.sql"
CHAINER_IDLE_S = 0.05


def wallets(count: int) -> list[str]:
    return [f"Assets:Wallet:W{n:03d}" for n in range(count)]


def setup_ledger(url: str, accounts: int) -> None:
    from ledger.db import make_engine
    from ledger.engine import Ledger, posting_specs
    from ledger.entries import TransactionRequest

    ledger = Ledger(make_engine(url))
    ledger.create_book(BOOK, BOOK, "financial")
    ledger.create_account(BOOK, SEED_ACCOUNT)
    amount = f"{STARTING_FEN // 100}.{STARTING_FEN % 100:02d}"
    requests = []
    for path in wallets(accounts):
        ledger.create_account(BOOK, path, credits_must_not_exceed_debits=True)
        requests.append(
            TransactionRequest(
                f"seed-{path}", posting_specs(BOOK, [(path, amount), (SEED_ACCOUNT, f"-{amount}")]), date(2026, 6, 1)
            )
        )
    for result in ledger.submit(requests):
        result.raise_for_error()
    ledger.engine.dispose()


def post_transfers(ledger, number: int, accounts: int, seed: int, duration: float) -> dict:
    """One writer's loop: random 2-leg transfers through ``Ledger.post`` until ``duration`` has passed."""
    from ledger.engine import posting_specs
    from ledger.entries import TransactionRequest
    from ledger.errors import LedgerError

    paths = wallets(accounts)
    rng = random.Random(seed * 1_000 + number)
    day = date(2026, 6, 15)
    codes: dict[str, int] = {}
    latencies: list[float] = []
    clock = time.monotonic
    began = clock()
    deadline = began + duration
    count = 0
    while True:
        now = clock()
        if now >= deadline:
            break
        source, target = rng.sample(paths, 2)
        fen = rng.randint(1, AMOUNT_FEN_MAX)
        amount = f"{fen // 100}.{fen % 100:02d}"
        request = TransactionRequest(
            f"w{number}-{count}", posting_specs(BOOK, [(target, amount), (source, f"-{amount}")]), day, source="bench"
        )
        count += 1
        try:
            ledger.post(request)
            code = "ok"
        except LedgerError as error:
            code = error.code.value
        except Exception as error:  # noqa: BLE001 - counted and reported, the run goes on
            code = f"error:{type(error).__name__}"
        latencies.append(clock() - now)
        codes[code] = codes.get(code, 0) + 1
    return {"worker": number, "began": began, "ended": clock(), "codes": codes, "latencies": latencies}


def worker(url: str, number: int, accounts: int, seed: int, duration: float, ready, start, results) -> None:
    """One writer process (``--workers``)."""
    from ledger.db import make_engine
    from ledger.engine import Ledger

    ledger = Ledger(make_engine(url))
    with ledger.engine.connect():
        pass  # open the pooled connection before the clock starts
    ready.put(number)
    start.wait()
    outcome = post_transfers(ledger, number, accounts, seed, duration)
    ledger.close()
    ledger.engine.dispose()
    results.put(outcome)


def thread_workers(
    url: str, threads: int, accounts: int, seed: int, duration: float, ready, start, results, in_flight: int = 0
) -> None:
    """``--threads`` writers in one process sharing one ``Ledger`` (the shape of one API worker): their posts
    go through group commit (ledger.group_commit). ``in_flight`` > 0 overrides its commits in flight."""
    import threading

    from ledger.db import make_engine
    from ledger.engine import Ledger

    ledger = Ledger(make_engine(url))
    group = getattr(ledger, "group", None)
    if in_flight:
        if group is None or not hasattr(group, "in_flight"):
            raise SystemExit("--in-flight needs a group committer that takes it")
        group.in_flight = in_flight
    with ledger.engine.connect():
        pass
    outcomes: list[dict] = []

    def run(number: int) -> None:
        start.wait()
        outcomes.append(post_transfers(ledger, number, accounts, seed, duration))

    writers = [threading.Thread(target=run, args=(number,)) for number in range(threads)]
    for writer in writers:
        writer.start()
    ready.put("threads")
    for writer in writers:
        writer.join()
    group = getattr(ledger, "group", None)  # absent before group commit (a before/after run)
    batching = group and {
        "commits": group.batches,
        "requests": group.batched_requests,
        "mean_requests_per_commit": round(group.batched_requests / group.batches, 2) if group.batches else None,
        "largest_batch_callers": group.largest_batch,
        "in_flight": getattr(group, "in_flight", 1),
        "most_in_flight": getattr(group, "most_in_flight", 1),
    }
    ledger.close()
    ledger.engine.dispose()
    for outcome in outcomes:
        results.put({**outcome, "group_commit": batching})


def chainer(url: str, ready, start, stop, results) -> None:
    from ledger.chain import seal
    from ledger.db import make_engine

    engine = make_engine(url)
    with engine.connect():
        pass
    ready.put("chainer")
    start.wait()
    sealed = rounds = errors = 0
    largest = 0
    while not stop.is_set():
        try:
            count = seal(engine)
        except Exception as error:  # noqa: BLE001
            errors += 1
            print(f"chainer: {type(error).__name__}: {error}", file=sys.stderr)
            count = 0
        rounds += 1
        sealed += count
        largest = max(largest, count)
        if count == 0:
            time.sleep(CHAINER_IDLE_S)
    engine.dispose()
    results.put({"sealed": sealed, "rounds": rounds, "largest_round": largest, "errors": errors})


def run_fundledger(url: str, args) -> dict:
    from sqlalchemy import text

    from ledger.chain import seal, verify_chain
    from ledger.db import make_engine
    from ledger.engine import Ledger
    from ledger.queries import reconcile

    writers = args.threads or args.workers
    shape = f"{args.threads} threads in one process" if args.threads else f"{args.workers} processes"
    log(f"fundledger: {shape} x {args.duration:g} s, {args.accounts} accounts, chainer sealing")
    setup_ledger(url, args.accounts)
    context = multiprocessing.get_context("spawn")
    ready, results, chain_results = context.Queue(), context.Queue(), context.Queue()
    start, stop = context.Event(), context.Event()
    if args.threads:
        settings = (url, args.threads, args.accounts, args.seed, args.duration, ready, start, results, args.in_flight)
        processes = [context.Process(target=thread_workers, args=settings, daemon=True)]
    else:
        processes = [
            context.Process(
                target=worker,
                args=(url, n, args.accounts, args.seed, args.duration, ready, start, results),
                daemon=True,
            )
            for n in range(args.workers)
        ]
    chain_process = context.Process(target=chainer, args=(url, ready, start, stop, chain_results), daemon=True)
    for process in [*processes, chain_process]:
        process.start()
    for _ in range(len(processes) + 1):
        ready.get(timeout=300)
    start.set()
    outcomes = [results.get(timeout=args.duration + 300) for _ in range(writers)]
    engine = make_engine(url)
    with engine.connect() as conn:
        unsealed_at_stop = conn.execute(text("SELECT COUNT(*) FROM seal_queue")).scalar_one()
    stop.set()
    chain = chain_results.get(timeout=600)
    for process in [*processes, chain_process]:
        process.join(timeout=60)
    exit_codes = [process.exitcode for process in [*processes, chain_process]]

    codes: dict[str, int] = {}
    latencies: list[float] = []
    for outcome in outcomes:
        latencies.extend(outcome["latencies"])
        for code, count in outcome["codes"].items():
            codes[code] = codes.get(code, 0) + count
    window = max(o["ended"] for o in outcomes) - min(o["began"] for o in outcomes)
    latencies.sort()
    ok = codes.get("ok", 0)

    started = time.perf_counter()
    final_sealed = seal(engine)
    final_seal_s = time.perf_counter() - started
    report = verify_chain(engine)
    findings = reconcile(engine)
    ledger = Ledger(engine)
    supply = sum(ledger.account(BOOK, path).balance_fen for path in wallets(args.accounts))
    engine.dispose()
    checks = {
        "chain_intact": report.intact,
        "chain_findings": report.findings[:5],
        "sealed_links": report.sealed,
        "unsealed": report.unsealed,
        "reconcile_findings": [f.message for f in findings[:5]],
        "reconcile_ok": not findings,
        "money_conserved": supply == STARTING_FEN * args.accounts,
        "process_exit_codes_ok": all(code == 0 for code in exit_codes),
    }
    checks["all_ok"] = (
        report.intact
        and report.unsealed == 0
        and not findings
        and checks["money_conserved"]
        and checks["process_exit_codes_ok"]
    )
    return {
        "workers": writers,
        "mode": "threads" if args.threads else "processes",
        "group_commit": outcomes[0].get("group_commit"),
        "window_s": round(window, 3),
        "attempts": sum(codes.values()),
        "transfers_ok": ok,
        "transfers_per_s": rate(ok, window),
        "codes": codes,
        "refused": sum(count for code, count in codes.items() if code != "ok" and not code.startswith("error:")),
        "errors": sum(count for code, count in codes.items() if code.startswith("error:")),
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
        "max_ms": round(latencies[-1] * 1000, 2) if latencies else None,
        "chainer": {**chain, "unsealed_when_writers_stopped": unsealed_at_stop},
        "final_seal": {"sealed": final_sealed, "seconds": round(final_seal_s, 3)},
        "checks": checks,
    }


def pg_connection_env(url: str, schema: str) -> tuple[list[str], dict]:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    arguments = []
    if parsed.host:
        arguments += ["-h", parsed.host]
    if parsed.port:
        arguments += ["-p", str(parsed.port)]
    if parsed.username:
        arguments += ["-U", parsed.username]
    env = {"PGOPTIONS": f"-c search_path={schema} -c synchronous_commit=on"}
    if parsed.password:
        env["PGPASSWORD"] = parsed.password
    return [*arguments, parsed.database or "postgres"], env


def run_pgbench(url: str, schema_url: str, args) -> dict:
    from sqlalchemy import text

    from ledger.db import make_engine

    schema = schema_url.rsplit("schema=", 1)[1]
    engine = make_engine(schema_url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TABLE pgb_accounts (id integer PRIMARY KEY, balance bigint NOT NULL, "
                "version bigint NOT NULL DEFAULT 0)"
            )
        )
        conn.execute(
            text(
                "CREATE TABLE pgb_entries (id bigserial PRIMARY KEY, account_id integer NOT NULL "
                "REFERENCES pgb_accounts (id), amount bigint NOT NULL, balance_after bigint NOT NULL, "
                "created_at timestamptz NOT NULL DEFAULT now())"
            )
        )
        conn.execute(
            text("INSERT INTO pgb_accounts (id, balance) SELECT g, :start FROM generate_series(1, :n) AS g"),
            {"start": STARTING_FEN, "n": args.accounts},
        )
    pgbench = shutil.which("pgbench") or "/usr/bin/pgbench"
    connection, env = pg_connection_env(url, schema)
    log_dir = Path(tempfile.mkdtemp(prefix="fundledger-pgbench-"))
    threads = max(1, min(args.workers, os.cpu_count() or 1))
    command = [
        pgbench,
        "-n",
        "-M",
        "prepared",
        "-c",
        str(args.workers),
        "-j",
        str(threads),
        "-T",
        str(int(round(args.duration))),
        "-D",
        f"accounts={args.accounts}",
        "-f",
        str(PGBENCH_SCRIPT),
        "-l",
        f"--log-prefix={log_dir / 'pgb'}",
        *connection,
    ]
    log("pgbench: " + " ".join(command))
    try:
        completed = subprocess.run(command, env={**os.environ, **env}, capture_output=True, text=True)
        if completed.returncode != 0:
            raise SystemExit(f"pgbench failed:\n{completed.stdout}\n{completed.stderr}")
        latencies = []
        for log_file in log_dir.iterdir():
            for line in log_file.read_text().splitlines():
                fields = line.split()
                if len(fields) >= 3 and fields[2].isdigit():
                    latencies.append(int(fields[2]) / 1_000_000)
    finally:
        shutil.rmtree(log_dir, ignore_errors=True)
    values = {}
    for line in completed.stdout.splitlines():
        if line.startswith("tps = "):
            values["tps"] = float(line.split()[2])
        elif line.startswith("number of transactions actually processed:"):
            values["transactions"] = int(line.split(":")[1].split("/")[0])
        elif line.startswith("number of failed transactions:"):
            values["failed"] = int(line.split(":")[1].split()[0])
        elif line.startswith("latency average"):
            values["latency_avg_ms"] = float(line.split("=")[1].split()[0])
    with engine.connect() as conn:
        supply = conn.execute(text("SELECT SUM(balance) FROM pgb_accounts")).scalar_one()
        entries_sum = conn.execute(text("SELECT COALESCE(SUM(amount), 0) FROM pgb_entries")).scalar_one()
    engine.dispose()
    latencies.sort()
    return {
        "clients": args.workers,
        "threads": threads,
        "protocol": "prepared",
        "script": str(PGBENCH_SCRIPT.relative_to(BENCH_DIR.parent)),
        **values,
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
        "checks": {
            "money_conserved": int(supply) == STARTING_FEN * args.accounts,
            "entries_sum_zero": int(entries_sum) == 0,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="PostgreSQL URL, e.g. postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--workers", type=int, default=20, help="writer processes and pgbench clients (default 20)")
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="instead of --workers processes, this many writer threads in one process (group commit); "
        "pgbench then runs this many clients",
    )
    parser.add_argument(
        "--in-flight",
        type=int,
        default=0,
        help="with --threads: shared commits in flight at once (default: the engine's, "
        "ledger.group_commit.GROUP_COMMIT_IN_FLIGHT; 1 is one commit at a time)",
    )
    parser.add_argument("--accounts", type=int, default=50, help="accounts the transfers move between (default 50)")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per side (default 20)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--skip-pgbench", action="store_true")
    args = parser.parse_args()
    if args.threads:
        args.workers = args.threads  # pgbench's clients
    elif args.in_flight:
        parser.error("--in-flight needs --threads (it sets one process's group committer)")

    result: dict = {"benchmark": "pg_concurrency", "machine": machine(), "seed": args.seed}
    with postgres_schema(args.url) as schema_url:
        result["fundledger"] = run_fundledger(schema_url, args)
        if not args.skip_pgbench:
            result["pgbench"] = run_pgbench(args.url, schema_url, args)
    ours = result["fundledger"]
    human = (
        f"pg concurrency ({args.workers} writer {'threads' if args.threads else 'processes'}, "
        f"{args.accounts} accounts, {args.duration:g} s): fundledger "
        f"{ours['transfers_per_s']:,.0f} transfers/s (p50 {ours['p50_ms']} ms, p99 {ours['p99_ms']} ms, "
        f"refused {ours['refused']}, errors {ours['errors']}, "
        f"checks {'ok' if ours['checks']['all_ok'] else 'FAILED'})"
    )
    if "pgbench" in result:
        peer = result["pgbench"]
        human += f"; pgbench pure SQL {peer['tps']:,.0f} tps (p50 {peer['p50_ms']} ms, p99 {peer['p99_ms']} ms)"
    emit(result, human)
    if not ours["checks"]["all_ok"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
