"""api.submitter: one-request posts of concurrent HTTP requests go to the ledger together, each with its own
outcome; a linked request goes alone; a combined submission that fails is retried request by request."""

from __future__ import annotations

import asyncio
import threading

import httpx

from api import submitter as submitter_module
from api.submitter import LoopSubmitter
from ledger.engine import EventResult
from ledger.errors import ResultCode

from .conftest import GZ_BOOK, appropriation

CONCURRENT_POSTS = 30


class RecordingLedger:
    """Stands in for ``Ledger.submit`` and ``Ledger.submit_shared``: records each call's requests;
    ``fail_combined`` raises on a list of more than one (as a driver error would), ``refuse`` names requests to
    refuse."""

    def __init__(self, *, fail_combined: bool = False, refuse: frozenset = frozenset()) -> None:
        self.calls: list[list] = []
        self.fail_combined, self.refuse = fail_combined, refuse
        self.gate = threading.Event()
        self.gate.set()

    def submit(self, requests):  # noqa: ANN001, ANN201
        self.gate.wait()
        self.calls.append(list(requests))
        if self.fail_combined and len(requests) > 1:
            raise RuntimeError("driver error")
        return [
            EventResult(
                index, ResultCode.DEBITS_EXCEED_CREDITS if request.name in self.refuse else ResultCode.OK, index + 1
            )
            for index, request in enumerate(requests)
        ]

    def submit_shared(self, requests):  # noqa: ANN001, ANN201
        return self.submit(requests)


class FakeRequest:
    def __init__(self, name: str, linked: bool = False) -> None:
        self.name, self.linked = name, linked


def _run(ledger, requests):  # noqa: ANN001, ANN202
    async def main():
        submitter = LoopSubmitter(ledger)
        ledger.gate.clear()  # the first hand-over waits, so the rest queue behind it
        tasks = [asyncio.ensure_future(submitter.submit(request)) for request in requests]
        await asyncio.sleep(0.05)
        ledger.gate.set()
        return await asyncio.gather(*tasks, return_exceptions=True), submitter

    return asyncio.run(main())


def test_requests_queued_during_a_hand_over_go_together_each_with_its_own_result():
    ledger = RecordingLedger(refuse=frozenset({"r3"}))
    requests = [FakeRequest(f"r{index}") for index in range(10)]
    results, submitter = _run(ledger, requests)
    assert sorted(request.name for call in ledger.calls for request in call) == sorted(r.name for r in requests)
    assert len(ledger.calls) < len(requests)  # some went together
    assert submitter.handed_requests == len(requests) and submitter.hand_overs == len(ledger.calls)
    codes = {request.name: result.code for request, result in zip(requests, results, strict=True)}
    assert codes["r3"] is ResultCode.DEBITS_EXCEED_CREDITS
    assert all(code is ResultCode.OK for name, code in codes.items() if name != "r3")
    assert all(result.index == 0 for result in results)  # each caller sent one request


def test_a_linked_request_goes_alone():
    ledger = RecordingLedger()
    linked = FakeRequest("chained", linked=True)
    results, _ = _run(ledger, [FakeRequest("a"), linked, FakeRequest("b")])
    assert [linked] in ledger.calls
    assert all(result.code is ResultCode.OK for result in results)


def test_a_combined_submission_that_fails_is_retried_request_by_request():
    ledger = RecordingLedger(fail_combined=True)
    requests = [FakeRequest(f"r{index}") for index in range(6)]
    results, _ = _run(ledger, requests)
    assert all(result.code is ResultCode.OK for result in results)
    alone = [call for call in ledger.calls if len(call) == 1]
    assert sorted(call[0].name for call in alone) == sorted(request.name for request in requests)


def test_a_submission_error_reaches_only_its_own_caller(monkeypatch):
    class Exploding(RecordingLedger):
        def submit(self, requests):  # noqa: ANN001, ANN201
            if any(request.name == "bad" for request in requests):
                if len(requests) > 1:
                    raise RuntimeError("driver error")
                raise ValueError("this one is broken")
            return super().submit(requests)

    ledger = Exploding()
    results, _ = _run(ledger, [FakeRequest("good"), FakeRequest("bad"), FakeRequest("fine")])
    assert isinstance(results[1], ValueError)
    assert results[0].code is ResultCode.OK and results[2].code is ResultCode.OK


def test_concurrent_http_posts_each_record_one_transaction(app, books, key_for):
    headers = key_for("admin")

    async def main():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test", headers=headers) as client:
            bodies = [appropriation(f"{index + 1}.00") for index in range(CONCURRENT_POSTS)]
            bodies.append(appropriation("1.00") | {"postings": [{"book": GZ_BOOK, "account": "Nope", "amount": "1"}]})
            return await asyncio.gather(
                *(
                    client.post("/v1/transactions", json=body, headers={"Idempotency-Key": f"together-{index}"})
                    for index, body in enumerate(bodies)
                )
            )

    responses = asyncio.run(main())
    assert [response.status_code for response in responses[:-1]] == [201] * CONCURRENT_POSTS
    assert responses[-1].status_code in (409, 422)  # the malformed one is refused alone
    ids = {response.json()["transaction_id"] for response in responses[:-1]}
    assert len(ids) == CONCURRENT_POSTS
    treasury = books.account(GZ_BOOK, "Assets:Bank:Treasury").balance_fen
    assert treasury == sum((index + 1) * 100 for index in range(CONCURRENT_POSTS))
    submitter = submitter_module.loop_submitter(app.state.ledger)
    assert submitter.handed_requests == CONCURRENT_POSTS + 1 and submitter.hand_overs <= CONCURRENT_POSTS + 1
