"""The cyclic collector is paused around bulk work and always comes back as it was."""

import gc
import threading

import pytest

from ledger.engine import BATCH_REQUESTS_MAX, GC_PAUSE_MIN_REQUESTS
from ledger.errors import LedgerError, ResultCode
from ledger.gc_pause import cyclic_gc_paused
from ledger.importer import import_csv
from tests.ledger_helpers import BOOK, chart, transfer


@pytest.fixture(autouse=True)
def collector_running():
    gc.enable()
    yield
    gc.enable()


def test_overlapping_pauses_resume_the_collector_only_when_the_last_one_ends():
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen = {}

    def second():
        first_in.wait()
        with cyclic_gc_paused():
            second_in.set()
            first_out.wait()
            seen["after the first left"] = gc.isenabled()

    worker = threading.Thread(target=second)
    worker.start()
    with cyclic_gc_paused():
        first_in.set()
        second_in.wait()
        seen["inside"] = gc.isenabled()
    first_out.set()
    worker.join()
    assert seen == {"inside": False, "after the first left": False}
    assert gc.isenabled()


def test_a_collector_disabled_by_the_application_stays_disabled():
    gc.disable()
    with cyclic_gc_paused():
        pass
    assert not gc.isenabled()


def test_a_refused_batch_and_a_failed_import_leave_the_collector_running(ledger):
    chart(ledger)
    batch = [transfer(f"b{n}", "Expenses:Grants", "Assets:Bank", "1.00") for n in range(GC_PAUSE_MIN_REQUESTS)]
    results = ledger.submit(batch)  # the bank holds nothing: every transfer would overdraw it
    assert {result.code for result in results} == {ResultCode.CREDITS_EXCEED_DEBITS}
    assert gc.isenabled()
    with pytest.raises(LedgerError) as refused:
        ledger.submit([batch[0]] * (BATCH_REQUESTS_MAX + 1))
    assert refused.value.code == ResultCode.BATCH_TOO_LARGE
    assert gc.isenabled()
    with pytest.raises(UnicodeDecodeError):
        import_csv(ledger, _Undecodable(), book=BOOK)
    assert gc.isenabled()


class _Undecodable:
    """A stream that fails in the middle of the import, as a file in the wrong encoding does."""

    def __iter__(self):
        yield "tx_id,date,account,amount\n"
        raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")

    def read(self, *_args):
        return ""


def test_large_batches_run_with_the_collector_paused_and_single_posts_without(ledger, monkeypatch):
    from ledger import engine as engine_module

    seen = []
    original = engine_module._Submission.run

    def run(self):
        seen.append((len(self.requests), gc.isenabled()))
        return original(self)

    monkeypatch.setattr(engine_module._Submission, "run", run)
    chart(ledger)
    ledger.submit([transfer("small", "Assets:Bank", "NetAssets:Appropriations", "1.00")])
    batch = [transfer(f"b{n}", "Assets:Bank", "NetAssets:Appropriations", "1.00") for n in range(GC_PAUSE_MIN_REQUESTS)]
    ledger.submit(batch)
    assert seen == [(1, True), (GC_PAUSE_MIN_REQUESTS, False)]
    assert gc.isenabled()


def test_an_import_reads_and_writes_with_the_collector_paused(ledger):
    chart(ledger)
    states = []

    def lines():
        yield "tx_id,date,account,amount\n"
        for n in range(3):
            states.append(gc.isenabled())
            yield f"t{n},2026-01-05,Assets:Bank,1.00\n"
            yield f"t{n},2026-01-05,NetAssets:Appropriations,-1.00\n"

    class Stream:
        def __iter__(self):
            return lines()

        def read(self, *_args):
            return ""

    report = import_csv(ledger, Stream(), book=BOOK)
    assert report.posted == 3 and states == [False, False, False]
    assert gc.isenabled()
    assert ledger.account(BOOK, "Assets:Bank").balance_fen == 300


def test_pauses_that_overlap_for_long_still_collect_now_and_then(monkeypatch):
    """A server taking batch after batch on several threads may never see the pause end: a holder leaving a
    pause older than PAUSE_MAX_S collects once, so cycles other work makes meanwhile are still freed."""
    from ledger import gc_pause

    clock = [1_000.0]
    monkeypatch.setattr(gc_pause.time, "monotonic", lambda: clock[0])
    collections = []
    monkeypatch.setattr(gc_pause.gc, "collect", lambda *args: collections.append(clock[0]) or 0)
    outer = cyclic_gc_paused()
    outer.__enter__()
    with cyclic_gc_paused():
        clock[0] += gc_pause.PAUSE_MAX_S / 2
    assert collections == []  # a short overlap: nothing to do
    with cyclic_gc_paused():
        clock[0] += gc_pause.PAUSE_MAX_S
    assert collections == [clock[0]]  # the pause had lasted too long: one collection
    outer.__exit__(None, None, None)
    assert gc.isenabled()
