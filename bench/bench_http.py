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
    .venv/bin/python bench/bench_http.py --scenario positions --server-cpus 0 --client-cpus 1

The client is aiohttp by default (``--client httpx`` for the previous one): httpx's async client spends
several times aiohttp's CPU per request, and on a 2-core machine the client's CPU is the server's loss.
``--server-cpus``/``--client-cpus`` pin each side to its own cores (``os.sched_setaffinity``); the peer
then runs on the server's cores, so both sides of the ratio get the same CPU. Each result carries the
server's CPU time per request (``server_cpu_ms_per_request``, from ``/proc``), which the machine's other
load does not inflate the way it does wall-clock figures. ``--profile FILE`` records the server under
load with py-spy (collapsed stacks, GIL holder only) when py-spy is installed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import os
import shutil
import socket
import subprocess
import sys
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
PROFILE_SAMPLES_PER_S = 100
CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


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


def _cpus(text: str | None) -> set[int] | None:
    return None if not text else {int(part) for part in text.split(",")}


def _process_cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and of its waited-for children (uvicorn's workers), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime, cutime, cstime = (int(value) for value in fields[11:15])
    return (utime + stime + cutime + cstime) / CLOCK_TICKS_PER_S


def _tree_cpu_seconds(pid: int) -> float:
    """CPU of the server and its live worker processes (several with ``--workers``)."""
    total = _process_cpu_seconds(pid)
    with contextlib.suppress(OSError):
        for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            with contextlib.suppress(OSError):
                total += _process_cpu_seconds(int(child))
    return total


class Server:
    def __init__(
        self, url: str, workers: int, log_path: Path, cpus: set[int] | None = None, extra: list[str] | None = None
    ) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = os.environ | {"FUNDLEDGER_JWT_SECRET": BENCH_SECRET, "FUNDLEDGER_ENV": "production"}
        command = [*fundledger_command(), "serve", "--port", str(self.port), "--database-url", url]
        if workers > 1:
            command += ["--workers", str(workers)]
        command += extra or []
        self.log_path = log_path
        self.process = subprocess.Popen(
            command,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log_path.open("wb"),
            preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
        )
        deadline = time.monotonic() + SERVER_START_SECONDS
        while True:
            try:
                httpx.get(f"{self.base}/v1/books", timeout=2)
                return
            except httpx.TransportError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"server did not start:\n{log_path.read_text()[-3000:]}") from None
                time.sleep(0.2)

    def cpu_seconds(self) -> float:
        return _tree_cpu_seconds(self.process.pid)

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()


class _Client:
    """One keep-alive pool of ``connections`` to the server, through aiohttp or httpx (``--client``)."""

    def __init__(self, kind: str, base: str, headers: dict, connections: int) -> None:
        self.kind, self.base, self.headers, self.connections = kind, base, headers, connections

    async def __aenter__(self) -> _Client:
        if self.kind == "aiohttp":
            import aiohttp

            self.session = aiohttp.ClientSession(
                base_url=self.base,
                headers=self.headers,
                connector=aiohttp.TCPConnector(limit=self.connections),
                timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS),
            )
        else:
            limits = httpx.Limits(max_connections=self.connections, max_keepalive_connections=self.connections)
            self.session = httpx.AsyncClient(
                base_url=self.base, headers=self.headers, limits=limits, timeout=REQUEST_TIMEOUT_SECONDS
            )
        return self

    async def __aexit__(self, *exc) -> None:  # noqa: ANN002
        if self.kind == "aiohttp":
            await self.session.close()
        else:
            await self.session.aclose()

    @property
    def errors(self) -> tuple[type[Exception], ...]:
        if self.kind == "aiohttp":
            import aiohttp

            return (aiohttp.ClientError, asyncio.TimeoutError)
        return (httpx.HTTPError,)

    async def request(self, method: str, path: str, body: dict | None = None, headers: dict | None = None) -> int:
        """The response's status, its body read in full."""
        if self.kind == "aiohttp":
            async with self.session.request(method, path, json=body, headers=headers) as response:
                await response.read()
                return response.status
        response = await self.session.request(method, path, json=body, headers=headers)
        return response.status_code


async def _open_loop(
    base: str, headers: dict, path: str, request_rate: float, connections: int, duration: float, kind: str = "aiohttp"
):
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors = 0
    async with _Client(kind, base, headers, connections) as client:
        # Warm the pool so connection set-up is not charged to the first requests.
        await asyncio.gather(*(client.request("GET", path) for _ in range(connections)))
        total = int(request_rate * duration)
        start = time.perf_counter() + 0.2

        async def one(index: int) -> None:
            nonlocal errors
            due = start + index / request_rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                status = await client.request("GET", path)
            except client.errors:
                errors += 1
                return
            statuses[status] = statuses.get(status, 0) + 1
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


async def _closed_loop_posts(
    base: str, headers: dict, connections: int, duration: float, path: str, body_of, kind: str = "aiohttp"
):
    counter = iter(range(10**9))
    done = 0
    statuses: dict[int, int] = {}
    async with _Client(kind, base, headers, connections) as client:
        stop_at = time.perf_counter() + duration
        started = time.perf_counter()

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < stop_at:
                index = next(counter)
                status = await client.request(
                    "POST", path, body_of(index), headers={"Idempotency-Key": f"bench-{os.getpid()}-{index}"}
                )
                statuses[status] = statuses.get(status, 0) + 1
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
    parser.add_argument("--client", choices=("aiohttp", "httpx"), default="aiohttp", help="the load client's library")
    parser.add_argument("--server-cpus", help="pin the server (and the peer) to these CPUs, e.g. 0")
    parser.add_argument("--client-cpus", help="pin the load client to these CPUs, e.g. 1")
    parser.add_argument(
        "--serve-args", default="", help="more options for fundledger serve, as --serve-args='--no-access-log'"
    )
    parser.add_argument("--profile", type=Path, help="py-spy collapsed stacks of the server under load (GIL holder)")
    args = parser.parse_args()

    with contextlib.ExitStack() as stack:
        scratch = stack.enter_context(scratch_dir(args.workdir))
        if args.postgres_url:
            url = stack.enter_context(postgres_schema(args.postgres_url, prefix="bench_http"))
        else:
            url = sqlite_url(scratch / "bench-http.db")
        log(f"preparing {url.split('?')[0]}")
        world = _prepare(url)
        server = Server(url, args.workers, scratch / "serve.log", _cpus(args.server_cpus), args.serve_args.split())
        try:
            result = _run(args, server, world, url)
        finally:
            server.stop()
    result |= {"machine": machine(), "database": "postgresql" if args.postgres_url else "sqlite", "args": vars(args)}
    result["args"]["workdir"] = str(args.workdir)
    result["args"]["profile"] = str(args.profile) if args.profile else None
    emit(result, _human(result))


def _loaded(args, server: Server, load) -> dict:  # noqa: ANN001
    """Run the client's coroutine ``load`` against the server (on the client's CPUs, profiled if asked) and add
    the server's and the client's CPU time per completed request to its figures."""
    everywhere = os.sched_getaffinity(0)
    client_cpus = _cpus(args.client_cpus)
    if client_cpus:
        os.sched_setaffinity(0, client_cpus)
    profiler = _start_profile(args, server)
    cpu_before = server.cpu_seconds()
    client_before = time.process_time()
    try:
        measured = asyncio.run(load)
    finally:
        cpu_used = server.cpu_seconds() - cpu_before
        client_used = time.process_time() - client_before
        if profiler is not None:
            profiler.wait()
        os.sched_setaffinity(0, everywhere)
    completed = measured.get("completed", measured.get("requests", 0))
    measured["server_cpu_s"] = round(cpu_used, 2)
    measured["server_cpu_ms_per_request"] = round(1000 * cpu_used / completed, 3) if completed else None
    # The client shares the machine: its CPU per request shows how much of the cores the load itself took.
    measured["client_cpu_ms_per_request"] = round(1000 * client_used / completed, 3) if completed else None
    return measured


def _start_profile(args, server: Server) -> subprocess.Popen | None:  # noqa: ANN001
    if args.profile is None:
        return None
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        raise SystemExit("--profile needs py-spy (.venv/bin/pip install py-spy)")
    command = [py_spy, "record", "--pid", str(server.process.pid), "--subprocesses", "--gil", "--format", "raw"]
    command += ["--rate", str(PROFILE_SAMPLES_PER_S), "--duration", str(int(args.duration))]
    command += ["--output", str(args.profile)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _peer(args, url: str, batch_size: int | None) -> dict:  # noqa: ANN001
    """The in-process peer, on the server's CPUs when the server was pinned (the same CPU for both sides)."""
    everywhere = os.sched_getaffinity(0)
    server_cpus = _cpus(args.server_cpus)
    if server_cpus:
        os.sched_setaffinity(0, server_cpus)
    try:
        return _peer_posts(url, args.peer_threads, args.duration, batch_size)
    finally:
        os.sched_setaffinity(0, everywhere)


def _run(args, server: Server, world: dict, url: str) -> dict:  # noqa: ANN001
    admin = {"Authorization": f"Bearer {world['keys']['admin']}"}
    if args.scenario == "positions":
        enterprise = {"Authorization": f"Bearer {world['keys']['enterprise']}"}
        path = f"/v1/enterprises/{world['enterprise']}/voucher-positions"
        log(f"open loop: {args.rate}/s over {args.connections} connections for {args.duration}s on {path}")
        measured = _loaded(
            args,
            server,
            _open_loop(server.base, enterprise, path, args.rate, args.connections, args.duration, args.client),
        )
        return {"scenario": "positions", "fundledger": measured, "target": {"rate": 500, "p99_ms": 50}}
    if args.scenario == "post":
        log(f"closed loop posts: {args.connections} clients for {args.duration}s")
        measured = _loaded(
            args,
            server,
            _closed_loop_posts(
                server.base, admin, args.connections, args.duration, "/v1/transactions", _transfer_body, args.client
            ),
        )
        server.stop()  # the peer runs alone on the same database
        log(f"peer: Ledger.post from {args.peer_threads} threads for {args.duration}s")
        peer = _peer(args, url, None)
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
    measured = _loaded(
        args,
        server,
        _closed_loop_posts(server.base, admin, args.connections, args.duration, "/v1/batches", batch_body, args.client),
    )
    server.stop()
    log(f"peer: Ledger.submit of {args.batch_size} from {args.peer_threads} threads for {args.duration}s")
    peer = _peer(args, url, args.batch_size)
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
            f"p99 {measured['p99_ms']} ms, errors {measured['errors']}, statuses {measured['statuses']}, "
            f"server CPU {measured['server_cpu_ms_per_request']} ms/request"
        )
    return (
        f"{result['scenario']} on {result['database']}: {measured['per_s']}/s over HTTP, "
        f"peer {result['peer']['per_s']}/s "
        f"in-process, ratio {result['ratio_to_peer']}, statuses {measured['statuses']}, "
        f"server CPU {measured['server_cpu_ms_per_request']} ms/request"
    )


if __name__ == "__main__":
    main()
