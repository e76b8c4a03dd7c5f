"""Two identical requests at once (issue 12, Idempotency-Key), on both backends: one effect, and the second
either replays the first (``Idempotency-Replayed: true``) or is refused as ``request_in_flight``; never a
second effect, never another answer.

The core transaction route keys on the ledger's own key (source = the client, client id = the header), whose
unique index decides the race inside the engine's group commit: the later request is answered ``exists``,
i.e. a replay (docs/API.md "Idempotency"). A decision of the approvals queue keys on a stored response written
with its effect (api.writes): a retry that arrives while the first is in flight is refused."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from ledger.engine import T_TRANSACTIONS

from .conftest import appropriation

ROUNDS = 4
RACERS = 3


def _count_transactions(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(T_TRANSACTIONS)).scalar_one()


def _at_once(send, count: int) -> list:  # noqa: ANN001
    start = threading.Barrier(count)
    answers = []
    lock = threading.Lock()

    def racer() -> None:
        start.wait()
        answer = send()
        with lock:
            answers.append(answer)

    threads = [threading.Thread(target=racer) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return answers


def _check_one_effect(answers: list) -> dict:  # noqa: ANN001
    firsts = [a for a in answers if a.status_code in (200, 201) and "Idempotency-Replayed" not in a.headers]
    assert len(firsts) == 1, [(a.status_code, dict(a.headers), a.text) for a in answers]
    for answer in answers:
        if answer is firsts[0]:
            continue
        if answer.status_code == 409:
            assert answer.json()["code"] == "request_in_flight", answer.text
        else:
            assert answer.headers.get("Idempotency-Replayed") == "true", answer.text
            assert answer.json() == firsts[0].json()
    return firsts[0].json()


def test_identical_transactions_at_once_make_one_transaction(client, admin, books, engine):
    before = _count_transactions(engine)
    ids = set()
    for round_number in range(ROUNDS):
        headers = admin | {"Idempotency-Key": f"race-{round_number}"}
        answers = _at_once(lambda h=headers: client.post("/v1/transactions", headers=h, json=appropriation()), RACERS)
        ids.add(_check_one_effect(answers)["transaction_id"])
    assert len(ids) == ROUNDS
    assert _count_transactions(engine) == before + ROUNDS


def test_identical_decisions_at_once_decide_once(client, engine, books, person):
    from datetime import date

    from funds.cash_requests import GF_APPROPRIATION, CashRequests
    from funds.config import DEFAULT_FUND_POLICY
    from funds.guidance import GuidanceFunds

    GuidanceFunds(books).create_guidance_fund("GZ-RACE", "广州 引导基金", "440100", DEFAULT_FUND_POLICY)
    director = person("race-director", "finance_office", "region:440100")
    requests = CashRequests(books)
    body = {"approval_doc": "穗财〔2026〕1号", "on": "2026-01-06"}
    before = _count_transactions(engine)
    for round_number in range(ROUNDS):
        request_id = requests.file(
            GF_APPROPRIATION, "GZ-RACE", date(2026, 1, 5), actor="race-clerk", client_id=f"r{round_number}",
            amount="1000.00",
        )  # fmt: skip
        headers = director | {"Idempotency-Key": f"decide-{round_number}"}
        path = f"/v1/approvals/funds_cash_request:{request_id}/approve"
        answers = _at_once(lambda p=path, h=headers: client.post(p, headers=h, json=body), RACERS)
        assert _check_one_effect(answers)["status"] == "approved"
    assert _count_transactions(engine) == before + ROUNDS


def test_a_decision_retried_while_the_first_is_in_flight_is_refused_then_replayed(
    client, engine, books, person, monkeypatch
):
    """End to end over HTTP: the first decision is held inside its service while the retry arrives; the retry
    is refused as request_in_flight on both backends (the unit of work noted its arrival before it waited),
    and a retry after the first answered gets the first response."""
    from datetime import date

    from funds import cash_requests
    from funds.cash_requests import GF_APPROPRIATION, CashRequests
    from funds.config import DEFAULT_FUND_POLICY
    from funds.guidance import GuidanceFunds

    GuidanceFunds(books).create_guidance_fund("GZ-HOLD", "广州 引导基金", "440100", DEFAULT_FUND_POLICY)
    request_id = CashRequests(books).file(
        GF_APPROPRIATION, "GZ-HOLD", date(2026, 1, 5), actor="hold-clerk", client_id="hold", amount="1000.00"
    )
    director = person("hold-director", "finance_office", "region:440100") | {"Idempotency-Key": "hold"}
    path = f"/v1/approvals/funds_cash_request:{request_id}/approve"
    body = {"approval_doc": "穗财〔2026〕2号", "on": "2026-01-06"}
    inside, release = threading.Event(), threading.Event()
    approve = cash_requests.CashRequests.approve

    def held(self, *args, **kwargs):  # noqa: ANN001, ANN202
        inside.set()
        assert release.wait(30)
        return approve(self, *args, **kwargs)

    monkeypatch.setattr(cash_requests.CashRequests, "approve", held)
    answers: dict = {}
    first = threading.Thread(target=lambda: answers.update(first=client.post(path, headers=director, json=body)))
    first.start()
    assert inside.wait(30), "the first decision reached its service"
    retry = threading.Thread(target=lambda: answers.update(retry=client.post(path, headers=director, json=body)))
    retry.start()
    retry.join(0.5)
    release.set()
    first.join(30)
    retry.join(30)
    assert answers["first"].status_code == 200, answers["first"].text
    assert answers["retry"].status_code == 409 and answers["retry"].json()["code"] == "request_in_flight"
    later = client.post(path, headers=director, json=body)
    assert later.headers.get("Idempotency-Replayed") == "true" and later.json() == answers["first"].json()
