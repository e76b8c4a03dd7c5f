"""One scheduler per ledger: on PostgreSQL the advisory-lock leader, taken over by a waiting process within a
bounded time when the leader is killed (two real processes, SIGKILL); on SQLite a second scheduler on the
same file refuses, saying why; ``fundledger serve`` runs the scheduler in its lifespan."""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app as cli_app
from api.settings import Settings
from jobs.scheduler import LEADER_RETRY_ENV, SCHEDULER_ENV, leadership

TAKEOVER_RETRY_S = 0.3
TAKEOVER_BOUND_S = 5.0  # the retry interval, a process start-up's worth of slack, and the server's cleanup
START_TIMEOUT_S = 30
LEADING = re.compile(r"scheduler running in pid (\d+)")
WAITING = "waiting for the scheduler lock"


def test_a_second_scheduler_on_the_same_sqlite_file_refuses_saying_why(tmp_path, sqlite_template):
    path = tmp_path / "ledger.db"
    shutil.copy(sqlite_template, path)
    url = f"sqlite:///{path}"
    with leadership(url) as first:
        assert first
        with leadership(url) as second:
            assert not second
            assert f"pid {os.getpid()}" in second.reason and str(path) in second.reason
        refused = CliRunner().invoke(cli_app, ["jobs", "schedule"], env={"FUNDLEDGER_DATABASE_URL": url})
        assert refused.exit_code == 1
        assert "error: scheduler_already_running: a scheduler is already running on" in refused.output
    with leadership(url) as after:  # released with its holder
        assert after


def _start_scheduler(database_url: str, lines: queue.Queue) -> subprocess.Popen:
    """``fundledger jobs schedule`` in its own process; its output lines go to ``lines`` as (pid, line)."""
    env = os.environ | {"PYTHONUNBUFFERED": "1", LEADER_RETRY_ENV: str(TAKEOVER_RETRY_S), "COLUMNS": "200"}
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "fundledger"), "jobs", "schedule", "--database-url", database_url],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    threading.Thread(target=lambda: [lines.put((process.pid, line)) for line in process.stdout], daemon=True).start()
    return process


def _next_leader(lines: queue.Queue, timeout_s: float, waiting: set[int] | None = None) -> int | None:
    """The pid of the next process to say it leads within ``timeout_s``, or None. The pids of processes
    that said they wait for the lock are added to ``waiting``."""
    deadline = time.monotonic() + timeout_s
    while (left := deadline - time.monotonic()) > 0:
        try:
            pid, line = lines.get(timeout=left)
        except queue.Empty:
            return None
        if WAITING in line and waiting is not None:
            waiting.add(pid)
        if match := LEADING.search(line):
            assert int(match.group(1)) == pid
            return pid
    return None


def test_on_postgres_one_process_leads_and_another_takes_over_when_it_is_killed(postgres_url):
    lines: queue.Queue = queue.Queue()
    processes = {process.pid: process for process in (_start_scheduler(postgres_url, lines) for _ in range(2))}
    try:
        waiting: set[int] = set()
        leader = _next_leader(lines, START_TIMEOUT_S, waiting)
        assert leader in processes
        deadline = time.monotonic() + START_TIMEOUT_S
        while waiting != set(processes):  # both are up and trying the lock
            pid, line = lines.get(timeout=max(0.01, deadline - time.monotonic()))  # queue.Empty: never started
            assert not LEADING.search(line), f"a second leader: {line}"
            if WAITING in line:
                waiting.add(pid)
        # The other waits: it does not lead while the leader lives (several tries of the lock).
        assert _next_leader(lines, 5 * TAKEOVER_RETRY_S) is None
        assert all(process.poll() is None for process in processes.values())
        os.kill(leader, signal.SIGKILL)
        killed_at = time.monotonic()
        [follower] = set(processes) - {leader}
        assert _next_leader(lines, TAKEOVER_BOUND_S) == follower
        assert time.monotonic() - killed_at < TAKEOVER_BOUND_S
        assert processes[leader].wait(10) == -signal.SIGKILL
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()


def test_serve_runs_the_scheduler_in_its_lifespan_and_releases_the_lead(engine, database_url, monkeypatch):
    monkeypatch.setenv(SCHEDULER_ENV, "1")
    monkeypatch.setenv(LEADER_RETRY_ENV, str(TAKEOVER_RETRY_S))
    app = create_app(engine, Settings(jwt_secret="x" * 40))
    with TestClient(app):
        assert app.state.scheduler.leading.wait(START_TIMEOUT_S)
        with leadership(database_url, wait=False) as other:
            assert not other
    assert not app.state.scheduler.leading.is_set()
    with leadership(database_url, wait=False) as after:
        assert after


def test_an_app_without_the_serve_flag_runs_no_scheduler(engine, monkeypatch):
    monkeypatch.delenv(SCHEDULER_ENV, raising=False)
    app = create_app(engine, Settings(jwt_secret="x" * 40))
    with TestClient(app):
        assert app.state.scheduler is None
