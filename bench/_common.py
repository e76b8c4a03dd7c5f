"""Shared helpers of the benchmark scripts: machine facts, result output, measured subprocesses,
scratch directories and throw-away PostgreSQL schemas.

Every script prints its progress on stderr and, on stdout, one human line followed by one JSON line
(the last line of stdout), so ``... | tail -1 | jq`` picks the result.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = BENCH_DIR.parent
if str(PROJECT_ROOT) not in sys.path:  # run as "python bench/x.py" from anywhere
    sys.path.insert(0, str(PROJECT_ROOT))

DEFAULT_SEED = 20261122
GNU_TIME = "/usr/bin/time"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def machine() -> dict:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model or platform.processor(),
        "mem_total_gib": round(mem_kb / 1024 / 1024, 1),
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(),
        "date_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def emit(result: dict, human: str) -> None:
    """The human line, then the one-line JSON result as the last line of stdout."""
    print(human, flush=True)
    print(json.dumps(result, sort_keys=True, ensure_ascii=False, default=str), flush=True)


def rate(count: float, seconds: float) -> float:
    return round(count / seconds, 1) if seconds > 0 else float("nan")


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of an already sorted sequence."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(fraction * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


def fundledger_command() -> list[str]:
    """The ``fundledger`` console script of this interpreter's environment (or ``python -m api.cli``)."""
    script = Path(sys.executable).parent / "fundledger"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "api.cli"]


def run_measured(command: Sequence[str], *, env: dict | None = None, cwd: Path | None = None) -> dict:
    """Run ``command`` to completion; wall time, exit code, output and the child's peak RSS.

    Peak RSS comes from GNU ``/usr/bin/time -v`` when present (exactly this child), else from
    ``getrusage(RUSAGE_CHILDREN)``, which is the largest of all children waited for so far."""
    full_env = {**os.environ, **(env or {})}
    use_time = os.access(GNU_TIME, os.X_OK)
    with tempfile.NamedTemporaryFile("r", suffix=".time", delete=False) as handle:
        time_file = handle.name
    try:
        full = [GNU_TIME, "-v", "-o", time_file, *command] if use_time else list(command)
        started = time.perf_counter()
        completed = subprocess.run(full, env=full_env, cwd=cwd, capture_output=True, text=True)
        wall = time.perf_counter() - started
        peak_kb = None
        source = "getrusage(RUSAGE_CHILDREN)"
        if use_time:
            text = Path(time_file).read_text()
            match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
            if match:
                peak_kb = int(match.group(1))
                source = "/usr/bin/time -v"
        if peak_kb is None:
            peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    finally:
        os.unlink(time_file)
    return {
        "returncode": completed.returncode,
        "wall_s": wall,
        "stdout": completed.stdout,
        "stderr": completed.stderr,
        "peak_rss_mib": round(peak_kb / 1024, 1),
        "rss_source": source,
    }


def last_json_line(stdout: str) -> dict:
    for line in reversed(stdout.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise ValueError(f"no JSON line in output:\n{stdout}")


@contextlib.contextmanager
def scratch_dir(workdir: Path | None, keep: bool = False) -> Iterator[Path]:
    """A fresh directory (under ``workdir``, default the system temp dir) removed afterwards."""
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix="fundledger-bench-", dir=workdir))
    try:
        yield path
    finally:
        if keep:
            log(f"kept {path}")
        else:
            shutil.rmtree(path, ignore_errors=True)


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def remove_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{path}{suffix}")


def file_size_mib(path: Path) -> float:
    total = 0
    for suffix in ("", "-wal"):
        with contextlib.suppress(FileNotFoundError):
            total += os.path.getsize(f"{path}{suffix}")
    return round(total / 1024 / 1024, 1)


def with_schema(url: str, schema: str) -> str:
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}schema={schema}"


@contextlib.contextmanager
def postgres_schema(url: str, prefix: str = "bench") -> Iterator[str]:
    """Create ``<prefix>_<random>`` in the database at ``url``, migrate it, yield its ``?schema=`` URL,
    and drop it (CASCADE) afterwards whatever happened."""
    from sqlalchemy import text

    from api.bootstrap import migrate
    from ledger.db import make_engine

    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = make_engine(url)
    try:
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        log(f"created PostgreSQL schema {schema}")
        try:
            engine = make_engine(url, schema=schema)
            migrate(engine)
            engine.dispose()
            yield with_schema(url, schema)
        finally:
            with admin.begin() as conn:
                conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
            log(f"dropped PostgreSQL schema {schema}")
    finally:
        admin.dispose()
