"""One-request posts of concurrent HTTP requests handed to the ledger together, from the event loop.

A plain ``def`` handler costs each request a hop to the thread pool and back (anyio's limiter, a queue, a
condition, the GIL handed over twice), and under load that hop cost more CPU than the post itself
(docs/BENCHMARKS.md, HTTP API). Here the handler stays on the event loop: it queues its request and awaits
its result. Whenever no hand-over is running, the queue is handed to one thread as a single
``Ledger.submit_shared`` (the ledger's group commit, whatever the number), whose requests each keep their own
result code (a refused one costs the others nothing);
requests arriving meanwhile wait for the next hand-over. So a lone request goes at once, and a busy server
pays one thread hop per batch instead of per request (the ledger's group commit then commits the batch).

Only requests that stand alone are combined: a ``linked`` request chains to the next one of the same list,
so it is submitted on its own. If a combined submission fails as a whole (a driver error: nothing of it was
committed), each request is submitted again on its own, so one request's trouble costs the others a retry."""

from __future__ import annotations

import asyncio
import weakref
from concurrent.futures import ThreadPoolExecutor

from ledger.engine import Ledger
from ledger.entries import Request

# Hand-overs under way at once: while one commits, the next carries what arrived meanwhile, and the ledger's
# group commit may join them in one commit (one at a time left the loop idle during each commit).
HAND_OVERS_IN_FLIGHT = 2
# Requests handed over in one ``Ledger.submit_shared``: bounded so one submission's statement size, locks and
# latency stay small (the ledger's own group commit carries up to 1,000 per commit).
SUBMIT_BATCH_MAX_REQUESTS = 500

_submitters: weakref.WeakKeyDictionary[Ledger, LoopSubmitter] = weakref.WeakKeyDictionary()


class LoopSubmitter:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.loop: asyncio.AbstractEventLoop | None = None
        self.executor = ThreadPoolExecutor(max_workers=HAND_OVERS_IN_FLIGHT, thread_name_prefix="fundledger-submit")
        self.queue: list[tuple[Request, asyncio.Future]] = []
        self.in_flight = 0
        # Counters for tests and benchmarks: hand-overs and the requests they carried.
        self.hand_overs = 0
        self.handed_requests = 0

    async def submit(self, request: Request):  # noqa: ANN201 - ledger.entries.EventResult
        loop = asyncio.get_running_loop()
        if self.loop is not loop:  # a new event loop (a test client's): nothing of the old one is pending
            self.loop, self.queue, self.in_flight = loop, [], 0
        if getattr(request, "linked", False):
            return (await loop.run_in_executor(None, self.ledger.submit, [request]))[0]
        result = loop.create_future()
        self.queue.append((request, result))
        if self.in_flight < HAND_OVERS_IN_FLIGHT:
            self.in_flight += 1
            loop.create_task(self._hand_over())
        return await result

    async def _hand_over(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            await asyncio.sleep(0)  # let the requests already parsed on the loop join this hand-over
            while self.queue:
                batch = self.queue[:SUBMIT_BATCH_MAX_REQUESTS]
                del self.queue[:SUBMIT_BATCH_MAX_REQUESTS]
                self.hand_overs += 1
                self.handed_requests += len(batch)
                try:
                    outcomes = await loop.run_in_executor(self.executor, self._submit_all, [req for req, _ in batch])
                except BaseException as error:  # never leave a caller waiting (the server stopping, a bug)
                    outcomes = [error] * len(batch)
                for (_, result), outcome in zip(batch, outcomes, strict=True):
                    if result.done():
                        continue  # its caller went away (a dropped connection)
                    if isinstance(outcome, BaseException):
                        result.set_exception(outcome)
                    else:
                        result.set_result(outcome)
        finally:
            self.in_flight -= 1

    def _submit_all(self, requests: list[Request]) -> list:
        """Each request's result, or the exception its own submission raised (on the hand-over thread)."""
        try:
            results = self.ledger.submit_shared(requests)
        except Exception:  # noqa: BLE001 - nothing was committed: each request runs again on its own
            return [_outcome(self.ledger, request) for request in requests]
        for result in results:
            result.index = 0  # each caller sent one request: its result is item 0 of its own
        return results


def _outcome(ledger: Ledger, request: Request):  # noqa: ANN202
    try:
        return ledger.submit([request])[0]
    except Exception as error:  # noqa: BLE001 - handed to the request's own caller
        return error


def loop_submitter(ledger: Ledger) -> LoopSubmitter:
    """The one ``LoopSubmitter`` of ``ledger`` (the app's), made on first use (on the event loop)."""
    submitter = _submitters.get(ledger)
    if submitter is None:
        submitter = _submitters[ledger] = LoopSubmitter(ledger)
    return submitter
