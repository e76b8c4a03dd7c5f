"""Several processes post to the same PostgreSQL accounts at once: no deadlock, no lost update, no overdraft."""

import multiprocessing
from datetime import date

import pytest

from ledger.chain import seal, verify_chain
from ledger.db import make_engine
from ledger.engine import Ledger, posting_specs
from ledger.entries import TransactionRequest
from ledger.errors import LedgerError, ResultCode
from ledger.group_commit import GROUP_ITEM_MAX_REQUESTS
from ledger.queries import reconcile

BOOK = "race"
WORKERS = 4
TRANSFERS_PER_WORKER = 60
ACCOUNTS = [f"Assets:Wallet:W{n}" for n in range(6)]
STARTING_FEN = 10_000


def worker(url: str, worker_number: int, results: "multiprocessing.Queue") -> None:
    import random

    ledger = Ledger(make_engine(url))
    rng = random.Random(worker_number)
    codes: dict[str, int] = {}
    for number in range(TRANSFERS_PER_WORKER):
        # Random pairs in random order: without sorted locking this would deadlock.
        source, target = rng.sample(ACCOUNTS, 2)
        fen = rng.randint(1, 4_000)
        amount = f"{fen // 100}.{fen % 100:02d}"
        request = TransactionRequest(
            f"w{worker_number}-{number}",
            posting_specs(BOOK, [(target, amount), (source, f"-{amount}")]),
            date(2026, 5, 1),
        )
        code = ledger.submit([request])[0].code.value
        codes[code] = codes.get(code, 0) + 1
    ledger.engine.dispose()
    results.put(codes)


@pytest.mark.slow
def test_concurrent_writers_neither_deadlock_nor_lose_updates_nor_overdraw(postgres_engine, postgres_url):
    ledger = Ledger(postgres_engine)
    ledger.create_book(BOOK, "race", "financial")
    ledger.create_account(BOOK, "NetAssets:Seed")
    for path in ACCOUNTS:
        ledger.create_account(BOOK, path, credits_must_not_exceed_debits=True)
        ledger.post(
            TransactionRequest(
                f"seed-{path}", posting_specs(BOOK, [(path, "100.00"), ("NetAssets:Seed", "-100.00")]), date(2026, 5, 1)
            )
        )
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    processes = [context.Process(target=worker, args=(postgres_url, n, results)) for n in range(WORKERS)]
    for process in processes:
        process.start()
    codes: dict[str, int] = {}
    for _ in processes:
        for code, count in results.get(timeout=240).items():
            codes[code] = codes.get(code, 0) + count
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    assert sum(codes.values()) == WORKERS * TRANSFERS_PER_WORKER
    assert set(codes) <= {ResultCode.OK.value, ResultCode.CREDITS_EXCEED_DEBITS.value}
    assert codes.get(ResultCode.OK.value, 0) > 0
    balances = [ledger.account(BOOK, path).balance_fen for path in ACCOUNTS]
    assert min(balances) >= 0
    assert sum(balances) == STARTING_FEN * len(ACCOUNTS)
    assert reconcile(postgres_engine) == []
    seal(postgres_engine)
    assert verify_chain(postgres_engine).intact


def _seal_worker(url: str, rounds: int) -> None:
    engine = make_engine(url)
    for _ in range(rounds):
        seal(engine)
    engine.dispose()


@pytest.mark.slow
def test_concurrent_chainers_keep_one_gapless_chain(postgres_engine, postgres_url):
    ledger = Ledger(postgres_engine)
    ledger.create_book(BOOK, "race", "financial")
    ledger.create_account(BOOK, "Assets:Bank")
    ledger.create_account(BOOK, "NetAssets:Seed")
    context = multiprocessing.get_context("spawn")
    chainers = [context.Process(target=_seal_worker, args=(postgres_url, 20)) for _ in range(2)]
    for process in chainers:
        process.start()
    for number in range(150):
        ledger.post(
            TransactionRequest(
                f"t{number}",
                posting_specs(BOOK, [("Assets:Bank", "1.00"), ("NetAssets:Seed", "-1.00")]),
                date(2026, 5, 2),
            )
        )
    for process in chainers:
        process.join(timeout=120)
        assert process.exitcode == 0
    seal(postgres_engine)
    report = verify_chain(postgres_engine)
    assert report.intact and report.sealed == 150 and report.unsealed == 0


def _close_while_posting(ledger: Ledger, monkeypatch, period: str) -> None:
    """Close ``period`` from another connection at the worst moment for a post in flight: on the pooled path
    after its unlocked reads (keys, ids), just before it locks its accounts; on a post's own connection, where
    every read goes in one round trip (``DriverStatements.read_unit``: the closed periods read after the
    locks), just before that round trip."""
    import threading

    from ledger import engine as engine_module
    from ledger import store

    closed: list[bool] = []

    def close_first(original):  # noqa: ANN001, ANN202
        def hooked(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            if not closed:
                closed.append(True)
                closer = threading.Thread(target=lambda: ledger.close_period(BOOK, period, actor="director.wang"))
                closer.start()
                closer.join(timeout=30)
                assert not closer.is_alive(), "close_period waited on the post's transaction"
            return original(*args, **kwargs)

        return hooked

    monkeypatch.setattr(
        engine_module._Submission, "_load_accounts", close_first(engine_module._Submission._load_accounts)
    )
    monkeypatch.setattr(store.DriverStatements, "read_unit", close_first(store.DriverStatements.read_unit))


@pytest.mark.parametrize("path", ["post", "submit"])
def test_a_period_closed_while_a_post_is_in_flight_refuses_it(postgres_engine, monkeypatch, path):
    ledger = Ledger(postgres_engine)
    ledger.create_book(BOOK, "race", "financial")
    ledger.create_account(BOOK, "Assets:Bank")
    ledger.create_account(BOOK, "NetAssets:Appropriations")
    _close_while_posting(ledger, monkeypatch, "2026-05")
    request = TransactionRequest(
        "late", posting_specs(BOOK, [("Assets:Bank", "5.00"), ("NetAssets:Appropriations", "-5.00")]), date(2026, 5, 31)
    )
    if path == "post":
        with pytest.raises(LedgerError) as caught:
            ledger.post(request)
        code = caught.value.code
    else:
        code = ledger.submit([request])[0].code
    assert code == ResultCode.PERIOD_CLOSED
    assert ledger.closed_periods(BOOK) == ["2026-05"]
    assert ledger.account(BOOK, "Assets:Bank").balance_fen == 0
    assert reconcile(postgres_engine) == []


def test_a_close_begun_while_a_post_holds_its_locks_waits_and_comes_after_it(postgres_engine, monkeypatch):
    """A post's own connection reads its closed periods once its accounts are locked (``read_unit``): a close
    of that period begun afterwards waits for the post's commit, which lands before the close."""
    import threading
    import time

    from ledger import store

    ledger = Ledger(postgres_engine)
    ledger.create_book(BOOK, "race", "financial")
    ledger.create_account(BOOK, "Assets:Bank")
    ledger.create_account(BOOK, "NetAssets:Appropriations")
    original = store.DriverStatements.write_unit
    closers: list[threading.Thread] = []

    def close_meanwhile(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        if not closers:
            closers.append(threading.Thread(target=lambda: ledger.close_period(BOOK, "2026-05", actor="director.wang")))
            closers[0].start()
            time.sleep(0.5)
            assert closers[0].is_alive(), "close_period did not wait for the post holding the book's accounts"
        return original(*args, **kwargs)

    monkeypatch.setattr(store.DriverStatements, "write_unit", close_meanwhile)
    request = TransactionRequest(
        "early",
        posting_specs(BOOK, [("Assets:Bank", "5.00"), ("NetAssets:Appropriations", "-5.00")]),
        date(2026, 5, 31),
    )
    assert ledger.post(request).code == ResultCode.OK
    closers[0].join(timeout=30)
    assert ledger.closed_periods(BOOK) == ["2026-05"]
    assert ledger.account(BOOK, "Assets:Bank").balance_fen == 500
    late = TransactionRequest(
        "late", posting_specs(BOOK, [("Assets:Bank", "1.00"), ("NetAssets:Appropriations", "-1.00")]), date(2026, 5, 31)
    )
    assert ledger.submit([late])[0].code == ResultCode.PERIOD_CLOSED
    assert reconcile(postgres_engine) == []


def test_a_pending_voided_while_its_post_is_in_flight_refuses_the_post(postgres_engine, monkeypatch):
    """Post and void of the same pending both read it as open before taking their locks; the one that commits
    second must be told the pending is already resolved (not get a raw unique-key error), and nothing moves.
    The voider is another ``Ledger``: within one, group commit queues the two one behind the other."""
    import threading

    from ledger import engine as engine_module
    from ledger.entries import PostPendingRequest, VoidPendingRequest

    ledger, voiding = Ledger(postgres_engine), Ledger(postgres_engine)
    ledger.create_book(BOOK, "race", "financial")
    ledger.create_account(BOOK, "Assets:Bank")
    ledger.create_account(BOOK, "Expenses:Grants")
    hold = ledger.post(
        TransactionRequest(
            "hold",
            posting_specs(BOOK, [("Expenses:Grants", "8.00"), ("Assets:Bank", "-8.00")]),
            date(2026, 5, 2),
            pending=True,
        )
    )
    original = engine_module._Submission._load_accounts
    voided: list[str] = []

    def void_then_lock(submission) -> None:  # noqa: ANN001
        if not voided:
            voided.append("void")
            voider = threading.Thread(
                target=lambda: voiding.submit([VoidPendingRequest("void", hold.transaction_id, reason="withdrawn")])
            )
            voider.start()
            voider.join(timeout=30)
            assert not voider.is_alive()
        original(submission)

    monkeypatch.setattr(engine_module._Submission, "_load_accounts", void_then_lock)
    result = ledger.submit([PostPendingRequest("post", hold.transaction_id)])[0]
    assert result.code == ResultCode.PENDING_ALREADY_RESOLVED
    for path in ("Assets:Bank", "Expenses:Grants"):
        account = ledger.account(BOOK, path)
        assert (account.balance_fen, account.debits_pending, account.credits_pending) == (0, 0, 0)
    assert reconcile(postgres_engine) == []


def test_the_same_key_posted_twice_at_once_records_it_once(postgres_engine, monkeypatch):
    """Two submits of one request both find its key free before locking; the second to commit must get the
    stored result (exists), not a raw unique-key error, and the money moves once. The racer is another
    ``Ledger`` (another process's shape): within one ``Ledger`` group commit queues the two one behind the other."""
    import threading

    from ledger import engine as engine_module

    ledger, racer = Ledger(postgres_engine), Ledger(postgres_engine)
    ledger.create_book(BOOK, "race", "financial")
    ledger.create_account(BOOK, "Assets:Bank")
    ledger.create_account(BOOK, "NetAssets:Appropriations")
    request = TransactionRequest(
        "twice", posting_specs(BOOK, [("Assets:Bank", "3.00"), ("NetAssets:Appropriations", "-3.00")]), date(2026, 5, 3)
    )
    original = engine_module._Submission._load_accounts
    raced: list[int] = []

    def post_then_lock(submission) -> None:  # noqa: ANN001
        if not raced:
            raced.append(0)
            other = threading.Thread(target=lambda: raced.append(racer.submit([request])[0].transaction_id))
            other.start()
            other.join(timeout=30)
            assert not other.is_alive()
        original(submission)

    monkeypatch.setattr(engine_module._Submission, "_load_accounts", post_then_lock)
    # More requests than group commit takes from one caller: the pooled path, which reads keys before locking.
    others = [
        TransactionRequest(
            f"other{n}",
            posting_specs(BOOK, [("Assets:Bank", "0.01"), ("NetAssets:Appropriations", "-0.01")]),
            date(2026, 5, 3),
        )
        for n in range(GROUP_ITEM_MAX_REQUESTS)
    ]
    results = ledger.submit([request, *others])
    assert results[0].code == ResultCode.EXISTS
    assert results[0].transaction_id == raced[1]
    assert all(result.code == ResultCode.OK for result in results[1:])
    assert ledger.account(BOOK, "Assets:Bank").balance_fen == 300 + GROUP_ITEM_MAX_REQUESTS
    assert reconcile(postgres_engine) == []


def test_the_same_key_posted_twice_at_once_on_own_connections_records_it_once(postgres_engine, monkeypatch):
    """A post's own connection reads the key with its locks (one round trip): a racer in another ``Ledger``
    finds the key free too, then waits for the locks; the first commits, and the racer, whose write then hits
    the unique key, reruns and gets the stored result (exists). The money moves once."""
    import threading
    import time

    from ledger import store

    ledger, racer = Ledger(postgres_engine), Ledger(postgres_engine)
    ledger.create_book(BOOK, "race", "financial")
    ledger.create_account(BOOK, "Assets:Bank")
    ledger.create_account(BOOK, "NetAssets:Appropriations")
    request = TransactionRequest(
        "twice", posting_specs(BOOK, [("Assets:Bank", "3.00"), ("NetAssets:Appropriations", "-3.00")]), date(2026, 5, 3)
    )
    original = store.DriverStatements.write_unit
    racers: list[threading.Thread] = []
    raced: list = []

    def racer_waits_for_our_locks(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        if not racers:
            racers.append(threading.Thread(target=lambda: raced.append(racer.post(request))))
            racers[0].start()
            time.sleep(0.5)  # the racer has read the key (free) and waits for the accounts this unit holds
            assert racers[0].is_alive()
        return original(*args, **kwargs)

    monkeypatch.setattr(store.DriverStatements, "write_unit", racer_waits_for_our_locks)
    result = ledger.post(request)
    racers[0].join(timeout=30)
    assert result.code == ResultCode.OK
    assert raced[0].code == ResultCode.EXISTS and raced[0].transaction_id == result.transaction_id
    assert ledger.account(BOOK, "Assets:Bank").balance_fen == 300
    assert reconcile(postgres_engine) == []


@pytest.mark.parametrize("exist_ok", [True, False])
def test_an_account_created_concurrently_is_reported_not_a_raw_unique_key_error(postgres_engine, monkeypatch, exist_ok):
    """Both creators find the path free before inserting; the second must get the first's id (exist_ok) or
    account_exists, and a caller's unit of work around it must stay usable."""
    import json as real_json
    import threading
    import types

    from ledger import engine as engine_module

    ledger = Ledger(postgres_engine)
    ledger.create_book(BOOK, "race", "financial")
    created: list[int] = []

    def dumps_after_a_rival_creates(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        # Called while building the INSERT, after the existence check: a rival creates the account now.
        if not created:
            created.append(0)
            rival = threading.Thread(
                target=lambda: created.append(Ledger(postgres_engine).create_account(BOOK, "Assets:Bank"))
            )
            rival.start()
            rival.join(timeout=30)
        return real_json.dumps(*args, **kwargs)

    monkeypatch.setattr(
        engine_module, "json", types.SimpleNamespace(dumps=dumps_after_a_rival_creates, loads=real_json.loads)
    )
    with postgres_engine.begin() as conn:
        if exist_ok:
            assert ledger.create_account(BOOK, "Assets:Bank", exist_ok=True, conn=conn) == created[1]
        else:
            with pytest.raises(LedgerError) as caught:
                ledger.create_account(BOOK, "Assets:Bank", conn=conn)
            assert caught.value.code == ResultCode.ACCOUNT_EXISTS
        # The unit of work is still usable after the lost race.
        assert ledger.create_account(BOOK, "Assets:Cash", conn=conn) > 0
    assert ledger.account(BOOK, "Assets:Cash").balance_fen == 0


def _setup_steps() -> dict:
    return {
        "book": ("T_BOOKS", lambda other: other.create_book(BOOK, "race", "financial")),
        "region": ("T_ENTITIES", lambda other: other.register_region("440100", "广州市")),
        "period close": ("T_PERIOD_CLOSES", lambda other: other.close_period(BOOK, "2026-03", actor="director.wang")),
    }


@pytest.mark.parametrize("step", ["book", "region", "period close"])
def test_idempotent_setup_steps_run_twice_at_once_end_as_one(postgres_engine, monkeypatch, step):
    """Creating a book, registering a region and closing a period are idempotent; two at once (both past the
    existence check before either inserts) must end as one row, not a raw unique-key error."""
    import threading

    from ledger import engine as engine_module

    ledger = Ledger(postgres_engine)
    if step == "period close":
        ledger.create_book(BOOK, "race", "financial")  # no accounts: nothing for the closes to lock on
    table_name, action = _setup_steps()[step]
    table = getattr(engine_module, table_name)
    original_insert = table.insert
    raced: list[bool] = []

    def insert_after_a_rival_ran():  # noqa: ANN202
        # Called after the existence check: a rival runs the same step now, on its own connection.
        if not raced:
            raced.append(True)
            rival = threading.Thread(target=lambda: action(Ledger(postgres_engine)))
            rival.start()
            rival.join(timeout=30)
        return original_insert()

    monkeypatch.setattr(table, "insert", insert_after_a_rival_ran)
    action(ledger)
    assert raced == [True]
    with postgres_engine.connect() as conn:
        assert len(conn.execute(table.select()).all()) == 1
