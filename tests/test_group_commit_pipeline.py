"""Group commit with more than one shared commit in flight (``GroupCommitter(in_flight=N)``), and the
PostgreSQL own connection's statements (raw cursors, jsonb rows, no sequential scans).

A batch releases the committer role once its reads are done and its locks held (``release``, just before
its writes and COMMIT go): the next batch is taken and reads meanwhile, its locking read waiting on the
server for the accounts the first still holds. Every caller must still get what a serial run gives it."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest
from sqlalchemy import func, select

from ledger import store
from ledger.chain import seal, verify_chain
from ledger.engine import T_POSTINGS, T_TRANSACTIONS, Ledger
from ledger.errors import LedgerError
from ledger.group_commit import GroupCommitter
from ledger.queries import reconcile
from tests.ledger_helpers import BOOK, chart, snapshot, transfer
from tests.test_group_commit import (
    KILL_AFTER_ACKNOWLEDGED,
    KILLED_WRITER,
    THREADS,
    _calls_for,
    _concurrent_run,
    _prepared,
    _serial_run,
)

IN_FLIGHT = 2
# Long enough that the next batch is taken and reads while this one's writes wait (the hook below).
WRITES_HELD_S = 0.02


def _wait_until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def test_the_next_batch_starts_once_the_first_has_released_and_not_before():
    released = threading.Event()
    first_may_finish = threading.Event()
    entered: list[str] = []

    def commit_batch(groups, release):
        names = [group[0] for group in groups]
        entered.append(",".join(names))
        if names == ["a"]:
            time.sleep(0.05)  # "b" queues meanwhile, and must not start: "a" holds the committer role
            assert entered == ["a"]
            release()
            released.set()
            first_may_finish.wait(10)
        else:
            release()
        return [[f"done {name}"] for name in names]

    group = GroupCommitter(commit_batch, lambda requests: ["alone"], in_flight=IN_FLIGHT, wait_s=0)
    answers: dict[str, list] = {}
    callers = {name: threading.Thread(target=lambda n=name: answers.update({n: group.submit([n])})) for name in "ab"}
    callers["a"].start()
    _wait_until(lambda: group.batches == 1)
    callers["b"].start()
    released.wait(10)
    _wait_until(lambda: "done b" in str(answers))  # b committed while a is still in flight
    assert "a" not in answers
    first_may_finish.set()
    for thread in callers.values():
        thread.join()
    assert answers == {"a": ["done a"], "b": ["done b"]}
    assert entered == ["a", "b"] and group.most_in_flight == 2


def test_no_more_than_in_flight_batches_run_at_once():
    running, most = [0], [0]
    lock = threading.Lock()

    def commit_batch(groups, release):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        release()  # at once: only the bound keeps a third batch out
        time.sleep(0.01)
        with lock:
            running[0] -= 1
        return [["ok"] for _ in groups]

    group = GroupCommitter(commit_batch, lambda requests: ["alone"], in_flight=IN_FLIGHT, wait_s=0)
    answers: list = []
    threads = [threading.Thread(target=lambda: answers.append(group.submit(["x"]))) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [["ok"]] * 12
    assert most[0] == IN_FLIGHT == group.most_in_flight


def test_a_batch_that_fails_before_releasing_hands_over_and_its_callers_run_alone():
    calls: list[str] = []

    def commit_batch(groups, release):
        calls.extend(group[0] for group in groups)
        if groups[0][0] == "bad":
            raise OSError("connection lost")  # before release: the role passes on when it ends
        release()
        return [["ok"] for _ in groups]

    group = GroupCommitter(commit_batch, lambda requests: [f"alone {requests[0]}"], in_flight=IN_FLIGHT)
    assert group.submit(["bad"]) == ["alone bad"]
    assert group.submit(["good"]) == ["ok"]
    assert calls == ["bad", "good"]


def test_in_flight_must_allow_one_commit():
    with pytest.raises(ValueError):
        GroupCommitter(lambda groups: [], lambda requests: [], in_flight=0)


def _hold_writes(monkeypatch) -> None:
    """Every unit waits a little before its writes go, after releasing: the next batch reads meanwhile."""
    original = store.DriverStatements.write_unit

    def held(self, *args, **kwargs):
        time.sleep(WRITES_HELD_S)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(store.DriverStatements, "write_unit", held)


def test_two_commits_in_flight_give_each_caller_its_serial_result(engine_factory, monkeypatch):
    """The mixed calls of test_group_commit (refusals, replays, linked chains that hold and that fail, an
    open-ended chain) from many threads, two shared commits in flight: each call's codes equal a serial
    run's, the books equal, the chain intact and reconcile clean."""
    calls = {thread: _calls_for(thread) for thread in range(THREADS)}
    expected, serial_books, stored_id = _serial_run(engine_factory, calls)
    concurrent = Ledger(engine_factory())
    concurrent.group.in_flight = IN_FLIGHT
    assert _prepared(concurrent) == stored_id
    _hold_writes(monkeypatch)
    got = _concurrent_run(concurrent, calls)
    assert got == expected
    group = concurrent.group
    assert group.largest_batch > 1, "nothing was grouped"
    if concurrent.postgres:  # SQLite's engine never releases early: one writer at a time
        assert group.most_in_flight == IN_FLIGHT
    assert snapshot(concurrent) == serial_books
    assert reconcile(concurrent.engine) == []
    seal(concurrent.engine)
    report = verify_chain(concurrent.engine)
    assert report.intact and report.unsealed == 0
    concurrent.close()
    concurrent.engine.dispose()


def test_two_commits_in_flight_never_overdraw_and_lose_no_update(ledger, monkeypatch):
    """Overlapping batches spend from one no-overdraft account and move money around a ring of accounts (so
    batches lock the same rows in every order of arrival): exactly what the balance covers is accepted, no
    deadlock, and the ring's money is conserved."""
    chart(ledger)
    ledger.group.in_flight = IN_FLIGHT
    ledger.post(transfer("funding", "Assets:Bank", "NetAssets:Appropriations", "10.00"))
    ring = ["Assets:Receivable", "Liabilities:Payables", "Expenses:Grants", "NetAssets:Appropriations"]
    _hold_writes(monkeypatch)
    codes: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(THREADS)

    def writer(thread: int) -> None:
        start.wait()
        for n in range(6):
            requests = [transfer(f"s{thread}-{n}", "Expenses:Grants", "Assets:Bank", "1.00")]
            debit, credit = ring[(thread + n) % 4], ring[(thread + n + 1) % 4]
            requests.append(transfer(f"r{thread}-{n}", debit, credit, "3.00"))
            for request in requests:
                try:
                    code = ledger.post(request).code.value
                except LedgerError as error:  # a refusal: count its code
                    code = error.code.value
                with lock:
                    codes.append(f"{request.client_id[0]}:{code}")

    workers = [threading.Thread(target=writer, args=(thread,)) for thread in range(THREADS)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    spent = [code for code in codes if code.startswith("s:")]
    assert sorted(spent) == sorted(["s:ok"] * 10 + ["s:credits_exceed_debits"] * (THREADS * 6 - 10))
    assert [code for code in codes if code.startswith("r:")] == ["r:ok"] * (THREADS * 6)
    assert ledger.account(BOOK, "Assets:Bank").balance_fen == 0
    # The ring moves money only among itself; from outside it got the funding's credit (-10.00 on
    # Appropriations) and the accepted spending's debits (+10.00 on Grants).
    assert sum(ledger.account(BOOK, path).balance_fen for path in ring) == 0
    assert reconcile(ledger.engine) == []
    if ledger.postgres:
        assert ledger.group.most_in_flight == IN_FLIGHT


def test_a_process_killed_with_two_commits_in_flight_loses_nothing_acknowledged(ledger, database_url):
    chart(ledger)
    script = KILLED_WRITER.replace(
        "ledger = Ledger(make_engine(sys.argv[1]))",
        f"ledger = Ledger(make_engine(sys.argv[1]))\nledger.group.in_flight = {IN_FLIGHT}",
    )
    assert script != KILLED_WRITER
    process = subprocess.Popen(
        [sys.executable, "-c", script, database_url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    acknowledged: list[str] = []
    try:
        while len(acknowledged) < KILL_AFTER_ACKNOWLEDGED:
            line = process.stdout.readline()
            assert line, process.stderr.read()
            acknowledged.append(line.strip())
    finally:
        process.kill()  # SIGKILL: both batches in flight die with it
        process.wait()
    with ledger.engine.connect() as conn:
        stored = set(conn.execute(select(T_TRANSACTIONS.c.client_id)).scalars())
        legs = dict(
            conn.execute(select(T_POSTINGS.c.transaction_id, func.count()).group_by(T_POSTINGS.c.transaction_id)).all()
        )
    assert set(acknowledged) <= stored
    assert len(legs) == len(stored) and set(legs.values()) == {2}
    assert ledger.account(BOOK, "Expenses:Grants").balance_fen == 125 * len(stored)
    assert reconcile(ledger.engine) == []
    seal(ledger.engine)
    report = verify_chain(ledger.engine)
    assert report.intact and report.unsealed == 0 and report.sealed == len(stored)


# -- the PostgreSQL own connection's statements ------------------------------------------------------------


def test_numbered_placeholders():
    assert store._numbered("SELECT %s, (%s)::json WHERE a IN (%s)") == "SELECT $1, ($2)::json WHERE a IN ($3)"
    assert store._numbered("SELECT 1") == "SELECT 1"
    with pytest.raises(ValueError):
        store._numbered("SELECT %s WHERE a LIKE 'x%'")


def test_the_own_connection_finds_keys_by_the_index_on_a_new_journal(postgres_engine):
    """Planned once (generic plan) while the journal is empty, the key lookup still probes the unique
    index: a scan planned then would read every transaction on every post as the journal grows."""
    ledger = Ledger(postgres_engine)
    chart(ledger)
    ledger.post(transfer("first", "Expenses:Grants", "Liabilities:Payables", "1.00"))
    conn = ledger._own_connections.get()
    db = store.DriverStatements(None, driver_connection=conn, postgres=True)
    query, params = db._existing_keys_query([("api", f"k{n}") for n in range(20)])
    cursor = conn.cursor()
    assert cursor.execute("SHOW plan_cache_mode").fetchone()[0] == "force_generic_plan"
    assert cursor.execute("SHOW enable_seqscan").fetchone()[0] == "off"
    cursor.execute("PREPARE keys_probe AS " + store._numbered(query))
    literals = ", ".join(f"'{value}'" for value in params)
    plan = "\n".join(row[0] for row in cursor.execute(f"EXPLAIN EXECUTE keys_probe({literals})").fetchall())
    cursor.execute("DEALLOCATE keys_probe")
    conn.rollback()
    assert "uq_transactions_source_client_id" in plan and "Seq Scan" not in plan, plan
    ledger.close()


def test_texts_and_large_amounts_round_trip_through_the_jsonb_rows(ledger):
    """Quotes, backslashes, non-ASCII text and an amount beyond 2^53 fen are stored exactly as sent."""
    chart(ledger)
    memo = 'grant "A\\B" 科技创新券 ✓ {json: [1, 2]}'
    amount = "123456789012345.67"  # 12,345,678,901,234,567 fen
    result = ledger.post(transfer("big", "Expenses:Grants", "Liabilities:Payables", amount, memo=memo))
    with ledger.engine.connect() as conn:
        stored = conn.execute(select(T_TRANSACTIONS.c.memo).where(T_TRANSACTIONS.c.id == result.transaction_id))
        assert stored.scalar_one() == memo
        fen = conn.execute(select(T_POSTINGS.c.amount_fen).where(T_POSTINGS.c.transaction_id == result.transaction_id))
        assert sorted(fen.scalars()) == [-12_345_678_901_234_567, 12_345_678_901_234_567]
    assert ledger.account(BOOK, "Expenses:Grants").balance_fen == 12_345_678_901_234_567
    seal(ledger.engine)
    assert verify_chain(ledger.engine).intact
