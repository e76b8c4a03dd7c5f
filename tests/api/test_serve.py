"""A real ``fundledger serve`` process answers over loopback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from api import auth

from .conftest import TEST_SECRET, appropriation

SERVER_START_SECONDS = 20


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_serve_answers_with_problems_and_keys(engine, database_url, books, tmp_path):
    port = _free_port()
    env = os.environ | {"FUNDLEDGER_JWT_SECRET": TEST_SECRET, "FUNDLEDGER_ENV": "production"}
    command = [
        str(Path(sys.executable).parent / "fundledger"),
        "serve",
        "--port",
        str(port),
        "--database-url",
        database_url,
    ]
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=log)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + SERVER_START_SECONDS
        while True:
            try:
                first = httpx.get(f"{base}/v1/books")
                break
            except httpx.TransportError:
                assert server.poll() is None, (tmp_path / "serve.log").read_text()
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.2)
        assert first.status_code == 401 and first.headers["WWW-Authenticate"].startswith("Bearer")
        key = auth.create_key(engine, "served", "admin", []).key
        headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": "served-1"}
        statuses = []

        def post() -> None:
            statuses.append(httpx.post(f"{base}/v1/transactions", headers=headers, json=appropriation()).status_code)

        # Two identical requests at once record one transaction; both see it.
        racers = [threading.Thread(target=post) for _ in range(2)]
        for racer in racers:
            racer.start()
        for racer in racers:
            racer.join()
        assert statuses == [201, 201]
        assert books.account("440100-finance", "Assets:Bank:Treasury").balance_fen == 100_000
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()
