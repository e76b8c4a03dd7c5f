"""HTTP API against a real ``fundledger serve`` on loopback, with an open-loop client.

Open loop: request *i* is due at ``start + i / rate`` whatever happened to the ones before it, and its
latency is timed from that due moment, so a server that falls behind shows the queueing in its latency
instead of slowing the client down (the coordinated-omission trap of closed-loop load generators; wrk2 and
oha are not installable here).

Scenarios (issue 12):
- ``positions``: an enterprise's voucher positions, at ``--rate`` requests/s over ``--connections``
  connections; p50/p95/p99 from the due moment. Target: 500/s from 200 connections, p99 under 50 ms.
- ``post``: one 2-leg transaction per request (its own Idempotency-Key), as fast as ``--connections``
  clients can go (closed loop: throughput is the question), beside the peer measured in the same run:
  the same posts made in-process through ``Ledger.post`` from ``--peer-threads`` threads. Target: at least
  1,000 requests/s and at least 0.5x the peer.
- ``batch``: the batch endpoint (``--batch-size`` transfers per request) beside ``Ledger.submit``
  in-process with the same batches. Target: at least 0.5x the peer.

    .venv/bin/python bench/bench_http.py --scenario positions --rate 500 --connections 200 --duration 20
    .venv/bin/python bench/bench_http.py --scenario post --connections 20 --duration 20 \\
        --postgres-url postgresql://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import os
import socket
import subprocess
import threading
import time
from datetime import date
from pathlib import Path

import httpx
from _common import (
    emit,
    fundledger_command,
    log,
    machine,
    percentile,
    postgres_schema,
    rate,
    scratch_dir,
    sqlite_url,
)

SERVER_START_SECONDS = 60
BENCH_SECRET = "bench-secret-that-is-long-enough-for-hs256"
BOOK = "bench-finance"
TRANSFER_ACCOUNTS = 200  # spread the posts so they do not all queue on one account's row lock
REQUEST_TIMEOUT_SECONDS = 30


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _prepare(url: str) -> dict:
    """Schema, demo world, a chart to post to, and keys: an admin and the demo's first enterprise."""
    from sqlalchemy import text

    from api import auth
    from api.bootstrap import DOMAIN_PACKAGES, migrate
    from ledger.db import make_engine
    from ledger.engine import Ledger
    from ledger.sample import load_core_demo

    engine = make_engine(url)
    migrate(engine)
    ledger = Ledger(engine)
    load_core_demo(ledger)
    for package in DOMAIN_PACKAGES:
        importlib.import_module(f"{package}.demo").load_demo(ledger)
    ledger.create_book(BOOK, "bench finance office", "financial")
    ledger.create_account(BOOK, "NetAssets:Appropriations")
    for index in range(TRANSFER_ACCOUNTS):
        ledger.create_account(BOOK, f"Expenses:Grants:{index:03d}")
    with engine.connect() as conn:
        enterprise = conn.execute(
            text("SELECT enterprise_code FROM vouchers_grants ORDER BY enterprise_code LIMIT 1")
        ).scalar_one()
    keys = {
        "admin": auth.create_key(engine, "bench-admin", "admin", []).key,
        "enterprise": auth.create_key(engine, "bench-enterprise", "enterprise", [f"institution:{enterprise}"]).key,
    }
    ledger.close()
    engine.dispose()
    return {"enterprise": enterprise, "keys": keys}


def _transfer_body(index: int) -> dict:
    return {
        "date": date(2026, 6, 1).isoformat(),
        "memo": f"bench {index}",
        "postings": [
            {"book": BOOK, "account": f"Expenses:Grants:{index % TRANSFER_ACCOUNTS:03d}", "amount": "1.00"},
            {"book": BOOK, "account": "NetAssets:Appropriations", "amount": "-1.00"},
        ],
    }


class Server:
    def __init__(self, url: str, workers: int, log_path: Path) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = os.environ | {"FUNDLEDGER_JWT_SECRET": BENCH_SECRET, "FUNDLEDGER_ENV": "production"}
        command = [*fundledger_command(), "serve", "--port", str(self.port), "--database-url", url]
        if workers > 1:
            command += ["--workers", str(workers)]
        self.log_path = log_path
        self.process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=log_path.open("wb"))
        deadline = time.monotonic() + SERVER_START_SECONDS
        while True:
            try:
                httpx.get(f"{self.base}/v1/books", timeout=2)
                return
            except httpx.TransportError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"server did not start:\n{log_path.read_text()[-3000:]}") from None
                time.sleep(0.2)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()


async def _open_loop(base: str, headers: dict, path: str, request_rate: float, connections: int, duration: float):
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors = 0
    async with httpx.AsyncClient(
        base_url=base, headers=headers, limits=limits, timeout=REQUEST_TIMEOUT_SECONDS
    ) as client:
        # Warm the pool so connection set-up is not charged to the first requests.
        await asyncio.gather(*(client.get(path) for _ in range(min(connections, 50))))
        total = int(request_rate * duration)
        start = time.perf_counter() + 0.2

        async def one(index: int) -> None:
            nonlocal errors
            due = start + index / request_rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                response = await client.get(path)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            except httpx.HTTPError:
                errors += 1
                return
            latencies.append(time.perf_counter() - due)

        await asyncio.gather(*(one(index) for index in range(total)))
        elapsed = time.perf_counter() - start
    latencies.sort()
    return {
        "requests": total,
        "completed": len(latencies),
        "errors": errors,
        "statuses": statuses,
        "achieved_per_s": rate(len(latencies), elapsed),
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
        "p95_ms": round(percentile(latencies, 0.95) * 1000, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
        "max_ms": round(latencies[-1] * 1000, 2) if latencies else None,
    }


async def _closed_loop_posts(base: str, headers: dict, connections: int, duration: float, path: str, body_of):
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    counter = iter(range(10**9))
    done = 0
    statuses: dict[int, int] = {}
    async with httpx.AsyncClient(
        base_url=base, headers=headers, limits=limits, timeout=REQUEST_TIMEOUT_SECONDS
    ) as client:
        stop_at = time.perf_counter() + duration
        started = time.perf_counter()

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < stop_at:
                index = next(counter)
                response = await client.post(
                    path, json=body_of(index), headers={"Idempotency-Key": f"bench-{os.getpid()}-{index}"}
                )
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                done += 1

        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - started
    return {"requests": done, "statuses": statuses, "per_s": rate(done, elapsed), "seconds": round(elapsed, 2)}


def _peer_posts(url: str, threads: int, duration: float, batch_size: int | None) -> dict:
    """The same transfers in-process: ``Ledger.post`` (or ``Ledger.submit`` of ``batch_size``) per thread."""
    from ledger.db import make_engine
    from ledger.engine import Ledger, posting_specs
    from ledger.entries import TransactionRequest

    engine = make_engine(url)
    ledger = Ledger(engine)
    counter = iter(range(10**9))
    lock = threading.Lock()
    done = [0]
    stop_at = time.perf_counter() + duration

    def request(index: int) -> TransactionRequest:
        debit = f"Expenses:Grants:{index % TRANSFER_ACCOUNTS:03d}"
        specs = posting_specs(BOOK, [(debit, "1.00"), ("NetAssets:Appropriations", "-1.00")])
        return TransactionRequest(f"peer-{index}", specs, date(2026, 6, 1), memo=f"peer {index}")

    def work() -> None:
        while time.perf_counter() < stop_at:
            with lock:
                first = next(counter)
                indexes = [first] if batch_size is None else [first] + [next(counter) for _ in range(batch_size - 1)]
            if batch_size is None:
                ledger.post(request(first))
            else:
                ledger.submit([request(index) for index in indexes])
            with lock:
                done[0] += 1

    started = time.perf_counter()
    pool = [threading.Thread(target=work) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    elapsed = time.perf_counter() - started
    ledger.close()
    engine.dispose()
    return {"requests": done[0], "per_s": rate(done[0], elapsed), "seconds": round(elapsed, 2), "threads": threads}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", choices=("positions", "post", "batch"), default="positions")
    parser.add_argument("--rate", type=float, default=500.0, help="positions: requests per second")
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of load")
    parser.add_argument("--workers", type=int, default=1, help="server worker processes")
    parser.add_argument("--peer-threads", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--postgres-url", help="run on PostgreSQL (a throw-away schema) instead of SQLite")
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()

    with contextlib.ExitStack() as stack:
        scratch = stack.enter_context(scratch_dir(args.workdir))
        if args.postgres_url:
            url = stack.enter_context(postgres_schema(args.postgres_url, prefix="bench_http"))
        else:
            url = sqlite_url(scratch / "bench-http.db")
        log(f"preparing {url.split('?')[0]}")
        world = _prepare(url)
        server = Server(url, args.workers, scratch / "serve.log")
        try:
            result = _run(args, server, world, url)
        finally:
            server.stop()
    result |= {"machine": machine(), "database": "postgresql" if args.postgres_url else "sqlite", "args": vars(args)}
    result["args"]["workdir"] = str(args.workdir)
    emit(result, _human(result))


def _run(args, server: Server, world: dict, url: str) -> dict:  # noqa: ANN001
    admin = {"Authorization": f"Bearer {world['keys']['admin']}"}
    if args.scenario == "positions":
        enterprise = {"Authorization": f"Bearer {world['keys']['enterprise']}"}
        path = f"/v1/enterprises/{world['enterprise']}/voucher-positions"
        log(f"open loop: {args.rate}/s over {args.connections} connections for {args.duration}s on {path}")
        measured = asyncio.run(_open_loop(server.base, enterprise, path, args.rate, args.connections, args.duration))
        return {"scenario": "positions", "fundledger": measured, "target": {"rate": 500, "p99_ms": 50}}
    if args.scenario == "post":
        log(f"closed loop posts: {args.connections} clients for {args.duration}s")
        measured = asyncio.run(
            _closed_loop_posts(server.base, admin, args.connections, args.duration, "/v1/transactions", _transfer_body)
        )
        server.stop()  # the peer runs alone on the same database
        log(f"peer: Ledger.post from {args.peer_threads} threads for {args.duration}s")
        peer = _peer_posts(url, args.peer_threads, args.duration, None)
        return {
            "scenario": "post",
            "fundledger": measured,
            "peer": peer,
            "ratio_to_peer": round(measured["per_s"] / peer["per_s"], 3) if peer["per_s"] else None,
            "target": {"per_s": 1000, "ratio_to_peer": 0.5},
        }

    def batch_body(index: int) -> dict:
        first = index * args.batch_size
        return {"requests": [_transfer_body(first + offset) for offset in range(args.batch_size)]}

    log(f"closed loop batches of {args.batch_size}: {args.connections} clients for {args.duration}s")
    measured = asyncio.run(
        _closed_loop_posts(server.base, admin, args.connections, args.duration, "/v1/batches", batch_body)
    )
    server.stop()
    peer = _peer_posts(url, args.peer_threads, args.duration, args.batch_size)
    return {
        "scenario": "batch",
        "batch_size": args.batch_size,
        "fundledger": measured,
        "peer": peer,
        "ratio_to_peer": round(measured["per_s"] / peer["per_s"], 3) if peer["per_s"] else None,
        "target": {"ratio_to_peer": 0.5},
    }


def _human(result: dict) -> str:
    measured = result["fundledger"]
    if result["scenario"] == "positions":
        return (
            f"positions on {result['database']}: {measured['achieved_per_s']}/s achieved, p50 {measured['p50_ms']} ms, "
            f"p99 {measured['p99_ms']} ms, errors {measured['errors']}, statuses {measured['statuses']}"
        )
    return (
        f"{result['scenario']} on {result['database']}: {measured['per_s']}/s over HTTP, "
        f"peer {result['peer']['per_s']}/s "
        f"in-process, ratio {result['ratio_to_peer']}, statuses {measured['statuses']}"
    )


if __name__ == "__main__":
    main()
