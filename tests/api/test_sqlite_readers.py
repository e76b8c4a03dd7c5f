"""On SQLite a request that only reads never waits for the write lock: credentials and an enterprise's
voucher positions are read on deferred (read-only) transactions. Before, every request began with BEGIN
IMMEDIATE to check its key, so one long write stalled every reader, and concurrent requests convoyed on
SQLite's busy-wait sleeps."""

from __future__ import annotations

import sqlite3
import time

import pytest

from ledger.engine import Ledger
from vouchers.demo import load_demo

READ_WHILE_LOCKED_SECONDS = 2.0


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_reads_answer_while_another_connection_holds_the_write_lock(client, key_for, engine):
    load_demo(Ledger(engine))
    with engine.connect() as conn:
        enterprise = conn.exec_driver_sql("SELECT enterprise_code FROM vouchers_grants LIMIT 1").scalar_one()
    admin = key_for("admin")
    own = key_for("enterprise", f"institution:{enterprise}")
    writer = sqlite3.connect(engine.url.database, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        started = time.monotonic()
        books = client.get("/v1/books", headers=admin)
        positions = client.get(f"/v1/enterprises/{enterprise}/voucher-positions", headers=own)
        elapsed = time.monotonic() - started
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert books.status_code == 200 and positions.status_code == 200, (books.text, positions.text)
    assert positions.json() and elapsed < READ_WHILE_LOCKED_SECONDS
