"""Group commit (ledger.group_commit): concurrent posts share commits, each caller gets what a serial run
would have given it, and a committer killed mid-batch loses nothing it acknowledged and writes nothing half."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time

import pytest
from sqlalchemy import func, select

from ledger.chain import seal, verify_chain
from ledger.engine import BATCH_REQUESTS_MAX, T_POSTINGS, T_TRANSACTIONS, Ledger
from ledger.errors import LedgerError, ResultCode
from ledger.group_commit import GroupCommitter
from ledger.queries import reconcile
from tests.ledger_helpers import BOOK, chart, snapshot, transfer

THREADS = 6
CALLS_PER_THREAD = 12
KILL_AFTER_ACKNOWLEDGED = 40


def _calls_for(thread: int) -> list[tuple[str, list]]:
    """One thread's calls, each ("post", [request]) or ("submit", requests). Every outcome here is the same
    whatever the interleaving, so a serial run in any order gives each call the same codes."""
    calls: list[tuple[str, list]] = []
    for n in range(CALLS_PER_THREAD):
        key = f"t{thread}-{n}"
        shape = n % 6
        if shape == 0:
            calls.append(("post", [transfer(key, "Expenses:Grants", "Liabilities:Payables", f"{thread + 1}.{n:02d}")]))
        elif shape == 1:  # unknown account: refused, nothing written
            calls.append(("post", [transfer(key, "Expenses:Nowhere", "Liabilities:Payables", "1.00")]))
        elif shape == 2:  # a replay of a stored key, and the same key with other content
            calls.append(("post", [transfer("stored", "Expenses:Grants", "Liabilities:Payables", "7.00")]))
            calls.append(("post", [transfer("stored", "Expenses:Grants", "Liabilities:Payables", "8.00")]))
        elif shape == 3:  # a linked chain that holds
            calls.append(
                (
                    "submit",
                    [
                        transfer(f"{key}a", "Expenses:Grants", "Liabilities:Payables", "2.00", linked=True),
                        transfer(f"{key}b", "Assets:Receivable", "NetAssets:Appropriations", "2.00"),
                    ],
                )
            )
        elif shape == 4:  # a linked chain with a refused member fails whole
            calls.append(
                (
                    "submit",
                    [
                        transfer(f"{key}a", "Expenses:Grants", "Liabilities:Payables", "3.00", linked=True),
                        transfer(f"{key}b", "Expenses:Grants", "Liabilities:Payables", "3.00", book="nobook"),
                    ],
                )
            )
        else:  # an open-ended chain: its caller's last request says linked
            calls.append(("submit", [transfer(key, "Expenses:Grants", "Liabilities:Payables", "4.00", linked=True)]))
    return calls


def _run(ledger: Ledger, kind: str, requests: list) -> list[tuple[str, int | None]]:
    if kind == "post":
        try:
            result = ledger.post(requests[0])
        except LedgerError as error:  # a refusal: record its code
            return [(error.code.value, None)]
        return [(result.code.value, result.transaction_id if result.code == ResultCode.EXISTS else None)]
    return [
        (result.code.value, result.transaction_id if result.code == ResultCode.EXISTS else None)
        for result in ledger.submit(requests)
    ]


def _prepared(ledger: Ledger) -> int:
    chart(ledger)
    return ledger.post(transfer("stored", "Expenses:Grants", "Liabilities:Payables", "7.00")).transaction_id


def _serial_run(engine_factory, calls: dict[int, list]) -> tuple[dict, dict, int]:  # noqa: ANN001
    """Each thread's calls run one after another on a ledger of their own: (each call's results by thread, the
    books after, the prepared transaction's id), the answers a concurrent run must give."""
    serial = Ledger(engine_factory())
    stored_id = _prepared(serial)
    expected = {thread: [_run(serial, kind, requests) for kind, requests in calls[thread]] for thread in calls}
    books = snapshot(serial)
    serial.close()
    serial.engine.dispose()
    return expected, books, stored_id


def _concurrent_run(ledger: Ledger, calls: dict[int, list]) -> dict[int, list]:
    """Each thread's calls on its own thread, all started at once: each call's results by thread."""
    got: dict[int, list] = {}
    start = threading.Barrier(len(calls))

    def caller(thread: int) -> None:
        start.wait()
        got[thread] = [_run(ledger, kind, requests) for kind, requests in calls[thread]]

    workers = [threading.Thread(target=caller, args=(thread,)) for thread in calls]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return got


def test_concurrent_callers_share_commits_and_each_gets_its_serial_result(engine_factory):
    calls = {thread: _calls_for(thread) for thread in range(THREADS)}
    # The serial run first: on PostgreSQL each engine_factory() empties the same test schema.
    expected, serial_books, stored_id = _serial_run(engine_factory, calls)
    concurrent = Ledger(engine_factory())
    assert _prepared(concurrent) == stored_id
    got = _concurrent_run(concurrent, calls)
    assert got == expected
    assert ("exists", stored_id) in {result for thread in got.values() for call in thread for result in call}
    group = concurrent.group
    assert group.largest_batch > 1 and group.batches < sum(len(c) for c in calls.values()), "nothing was grouped"
    assert snapshot(concurrent) == serial_books
    assert reconcile(concurrent.engine) == []
    seal(concurrent.engine)
    report = verify_chain(concurrent.engine)
    assert report.intact and report.unsealed == 0
    concurrent.close()
    concurrent.engine.dispose()


def test_concurrent_spending_accepts_exactly_what_the_balance_covers(ledger):
    """No overdraft under any interleaving: 30 posts of 1.00 against 10.00 give 10 accepted, 20 refused."""
    chart(ledger)
    ledger.post(transfer("funding", "Assets:Bank", "NetAssets:Appropriations", "10.00"))
    codes: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(THREADS)

    def spender(thread: int) -> None:
        start.wait()
        for n in range(5):
            try:
                code = ledger.post(transfer(f"s{thread}-{n}", "Expenses:Grants", "Assets:Bank", "1.00")).code.value
            except LedgerError as error:  # a refusal: count its code
                code = error.code.value
            with lock:
                codes.append(code)

    workers = [threading.Thread(target=spender, args=(thread,)) for thread in range(THREADS)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert sorted(codes) == sorted(["ok"] * 10 + ["credits_exceed_debits"] * 20)
    assert ledger.account(BOOK, "Assets:Bank").balance_fen == 0
    assert reconcile(ledger.engine) == []


def test_a_linked_chain_never_runs_into_the_next_callers_requests(ledger):
    """Two callers in one shared commit: the first's open-ended chain fails on its own, the second posts."""
    chart(ledger)
    first = [transfer("open", "Expenses:Grants", "Liabilities:Payables", "1.00", linked=True)]
    second = [transfer("next", "Expenses:Grants", "Liabilities:Payables", "2.00")]
    results = ledger._commit_group([first, second])
    assert [(r.index, r.code) for r in results[0]] == [(0, ResultCode.LINKED_EVENT_FAILED)]
    assert [(r.index, r.code) for r in results[1]] == [(0, ResultCode.OK)]
    assert ledger.account(BOOK, "Expenses:Grants").balance_fen == 200


def test_a_batch_that_fails_whole_has_each_caller_run_alone():
    """A database error in the shared commit: every caller of that batch reruns its own requests alone."""
    gate = threading.Event()
    alone: list[str] = []

    def commit_batch(groups):
        gate.wait(5)  # hold the first caller's commit until the others have queued behind it
        if len(groups) > 1:
            raise OSError("connection lost")
        return [[f"batched {group[0]}"] for group in groups]

    def commit_alone(requests):
        alone.append(requests[0])
        return [f"alone {requests[0]}"]

    group = GroupCommitter(commit_batch, commit_alone)
    answers: dict[str, list] = {}

    def caller(name: str) -> None:
        answers[name] = group.submit([name])

    callers = [threading.Thread(target=caller, args=(name,)) for name in "abc"]
    callers[0].start()
    while group.batches < 1:  # "a" has taken its batch and waits at the gate
        time.sleep(0.001)
    for thread in callers[1:]:
        thread.start()
    while len(group._queue) < 2:
        time.sleep(0.001)
    gate.set()
    for thread in callers:
        thread.join()
    assert answers == {"a": ["batched a"], "b": ["alone b"], "c": ["alone c"]}
    assert sorted(alone) == ["b", "c"] and group.largest_batch == 2


def test_a_lone_caller_never_waits_for_company():
    group = GroupCommitter(lambda groups: [["done"] for _ in groups], lambda requests: ["alone"], wait_s=30)
    began = time.monotonic()
    assert [group.submit(["x"]) for _ in range(3)] == [["done"]] * 3
    assert time.monotonic() - began < 5


KILLED_WRITER = textwrap.dedent(
    """
    import sys, threading
    from datetime import date
    from ledger.db import make_engine
    from ledger.engine import Ledger, posting_specs
    from ledger.entries import TransactionRequest

    ledger = Ledger(make_engine(sys.argv[1]))
    printing = threading.Lock()

    def writer(thread):
        for n in range(100_000):
            key = f"k{thread}-{n}"
            request = TransactionRequest(
                key, posting_specs("gz", [("Expenses:Grants", "1.25"), ("Liabilities:Payables", "-1.25")]),
                date(2026, 3, 10),
            )
            ledger.post(request)
            with printing:  # acknowledged: the commit holding it has returned
                sys.stdout.write(key + "\\n")
                sys.stdout.flush()

    for thread in range(8):
        threading.Thread(target=writer, args=(thread,), daemon=True).start()
    threading.Event().wait()
    """
)


def test_a_committer_killed_mid_batch_loses_nothing_acknowledged_and_writes_nothing_half(ledger, database_url):
    chart(ledger)
    process = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, database_url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    acknowledged: list[str] = []
    try:
        while len(acknowledged) < KILL_AFTER_ACKNOWLEDGED:
            line = process.stdout.readline()
            assert line, process.stderr.read()
            acknowledged.append(line.strip())
    finally:
        process.kill()  # SIGKILL: batches in flight die with it
        process.wait()
    with ledger.engine.connect() as conn:
        stored = set(conn.execute(select(T_TRANSACTIONS.c.client_id)).scalars())
        legs = dict(
            conn.execute(select(T_POSTINGS.c.transaction_id, func.count()).group_by(T_POSTINGS.c.transaction_id)).all()
        )
    assert set(acknowledged) <= stored
    assert len(legs) == len(stored) and set(legs.values()) == {2}
    info = ledger.account(BOOK, "Expenses:Grants")
    assert info.balance_fen == 125 * len(stored)
    assert reconcile(ledger.engine) == []
    seal(ledger.engine)
    report = verify_chain(ledger.engine)
    assert report.intact and report.unsealed == 0 and report.sealed == len(stored)


RACING_WRITER = textwrap.dedent(
    """
    import json, random, sys, threading
    from datetime import date
    from ledger.db import make_engine
    from ledger.engine import Ledger, posting_specs
    from ledger.entries import TransactionRequest

    ledger = Ledger(make_engine(sys.argv[1]))
    keys = int(sys.argv[2])
    start = threading.Barrier(4)
    lines, lock = [], threading.Lock()

    def writer(thread):
        order = list(range(keys))
        random.Random(f"{sys.argv[3]}-{thread}").shuffle(order)
        start.wait()
        for n in order:
            request = TransactionRequest(
                f"shared-{n}",
                posting_specs("gz", [("Expenses:Grants", f"{n + 1}.00"), ("Liabilities:Payables", f"-{n + 1}.00")]),
                date(2026, 3, 10),
            )
            result = ledger.post(request)
            with lock:
                lines.append(json.dumps([request.client_id, result.code.value, result.transaction_id]))

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("\\n".join(lines))
    """
)
RACED_KEYS = 20


def test_two_processes_posting_the_same_keys_record_each_once(ledger, database_url):
    """Two processes of four threads each post the same 20 keys (same content) at once: each process groups
    its own callers, and a batch that meets a key the other process committed first reruns its callers alone,
    who get ``exists``. Each key is recorded once, its every caller told the one transaction id."""
    import json

    chart(ledger)
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", RACING_WRITER, database_url, str(RACED_KEYS), str(number)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for number in range(2)
    ]
    outcomes: dict[str, list[tuple[str, int]]] = {}
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        for line in out.splitlines():
            key, code, tx_id = json.loads(line)
            outcomes.setdefault(key, []).append((code, tx_id))
    assert len(outcomes) == RACED_KEYS
    for key, answers in outcomes.items():
        assert len(answers) == 8, key
        assert sorted(code for code, _ in answers) == ["exists"] * 7 + ["ok"], key
        assert len({tx_id for _, tx_id in answers}) == 1, key
    with ledger.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(T_TRANSACTIONS)).scalar_one() == RACED_KEYS
    assert ledger.account(BOOK, "Expenses:Grants").balance_fen == sum((n + 1) * 100 for n in range(RACED_KEYS))
    assert reconcile(ledger.engine) == []


def test_shared_submissions_of_any_size_go_through_group_commit_with_their_own_results(ledger):
    """``Ledger.submit_shared`` (the HTTP API's posts of the moment): more requests than ``submit`` would share
    still go through group commit, each with the result a serial run gives it."""
    chart(ledger)
    ledger.post(transfer("fund", "Assets:Bank", "NetAssets:Appropriations", "10.00"))
    requests = [transfer(f"s{n}", "Expenses:Grants", "Assets:Bank", "1.00") for n in range(12)]
    requests += [transfer(f"s{n}", "Expenses:Grants", "Assets:Bank", "2.00") for n in range(3)]  # changed content
    requests += [transfer(f"s{n}", "Expenses:Grants", "Assets:Bank", "1.00") for n in range(12, 20)]
    batches_before, requests_before = ledger.group.batches, ledger.group.batched_requests
    results = ledger.submit_shared(requests)
    assert ledger.group.batches == batches_before + 1
    assert ledger.group.batched_requests == requests_before + len(requests)
    codes = [result.code for result in results]
    # 10.00 pays ten grants of 1.00: the rest are refused for the balance, the reused keys for their content.
    assert codes[:10] == [ResultCode.OK] * 10
    assert codes[10:12] == [ResultCode.CREDITS_EXCEED_DEBITS] * 2
    assert codes[12:15] == [ResultCode.EXISTS_WITH_DIFFERENT_CONTENT] * 3
    assert codes[15:] == [ResultCode.CREDITS_EXCEED_DEBITS] * 8
    assert ledger.account(BOOK, "Assets:Bank").balance_fen == 0
    # Retried with the same keys: each posted one is found as it was, nothing changes.
    books = snapshot(ledger)
    again = [result.code for result in ledger.submit_shared(requests[:10])]
    assert again == [ResultCode.EXISTS] * 10 and snapshot(ledger) == books
    with pytest.raises(LedgerError) as refused:
        ledger.submit_shared(
            [
                transfer(f"big{n}", "Assets:Bank", "NetAssets:Appropriations", "1.00")
                for n in range(BATCH_REQUESTS_MAX + 1)
            ]
        )
    assert refused.value.code is ResultCode.BATCH_TOO_LARGE and snapshot(ledger) == books
    # A linked chain handed over the same way stays whole (the item is one caller's, as in ``submit``).
    ledger.post(transfer("more", "Assets:Bank", "NetAssets:Appropriations", "1.00"))
    linked = [
        transfer("l1", "Expenses:Grants", "Assets:Bank", "1.00", linked=True),
        transfer("l2", "Expenses:Grants", "Assets:Bank", "1.00"),
    ]
    assert [result.ok for result in ledger.submit_shared(linked)] == [False, False]
    assert ledger.account(BOOK, "Assets:Bank").balance_fen == 100
