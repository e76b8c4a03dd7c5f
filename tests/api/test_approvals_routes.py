"""The approvals queue over HTTP (both backends): items of both domains in one list, scoped by region; approve
and reject through the owning service with the caller as checker (never the recorder); replays; a retry while
the first is in flight is refused as request_in_flight on both backends."""

from __future__ import annotations

import threading

import pytest
from fastapi import Response

from api import auth
from api.problems import ApiProblem
from api.scopes import Principal, Role
from api.writes import REQUEST_IN_FLIGHT, Written, arrival_noted, arrival_now, keyed_write
from ledger.engine import Ledger
from tests.subsidies.conftest import credit_code, program_text
from tests.vouchers.conftest import SHANGHAI, build_scheme

PROGRAM = f"P{SHANGHAI}-2026"
SUBSIDY_PROGRAM = "gz-queue-test"
GUANGZHOU = "440100"
INSTITUTE = credit_code(7)


@pytest.fixture
def app(reused_app):
    return reused_app


@pytest.fixture
def person(engine):
    def make(name: str, role: str, *scopes: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {auth.create_key(engine, name, role, list(scopes)).key}"}

    return make


@pytest.fixture
def world(engine, person):
    ledger = Ledger(engine)
    scheme = build_scheme(ledger, regions=(SHANGHAI,))
    ledger.register_institution(INSTITUTE, "广州某研究院", "research_institute", region_code=GUANGZHOU)
    return {
        "scheme": scheme,
        "sh_clerk": person("sh-clerk", "finance_office", f"region:{SHANGHAI}"),
        "sh_director": person("sh-director", "finance_office", f"region:{SHANGHAI}"),
        "sh_auditor": person("sh-auditor", "auditor", f"region:{SHANGHAI}"),
        "gz_clerk": person("gz-clerk", "finance_office", f"region:{GUANGZHOU}"),
        "gz_director": person("gz-director", "finance_office", f"region:{GUANGZHOU}"),
        "province": person("east-office", "finance_office", "region:310000", f"region:{GUANGZHOU}"),
        "firm": person("sh-firm", "enterprise", f"institution:{scheme.enterprises[SHANGHAI]}"),
    }


def keyed(headers: dict, key: str) -> dict:
    return headers | {"Idempotency-Key": key}


def voucher_item(client, world) -> str:
    body = {
        "program": PROGRAM,
        "enterprise": world["scheme"].enterprises[SHANGHAI],
        "amount": "1000.00",
        "on": "2026-02-02",
    }
    created = client.post("/v1/vouchers", headers=keyed(world["sh_clerk"], "g"), json=body)
    return f"voucher_grant:{created.json()['id']}"


def subsidy_item(client, world) -> str:
    text = program_text(SUBSIDY_PROGRAM)
    assert (
        client.post("/v1/subsidy-programs", headers=keyed(world["gz_clerk"], "i"), json={"config": text}).status_code
        == 201
    )
    body = {"institution": INSTITUTE, "year": 2019, "base_figures": {"claim": "1000.00"}}
    created = client.post(
        f"/v1/subsidy-programs/{SUBSIDY_PROGRAM}/applications", headers=keyed(world["gz_clerk"], "a"), json=body
    )
    return f"subsidy_application:{created.json()['id']}"


def decide(client, headers, item: str, verb: str, key: str, **body):
    values = (
        {"approval_doc": "doc-1", "on": "2026-02-03"}
        if verb == "approve"
        else {"reason": "材料不全", "on": "2026-02-03"}
    )
    return client.post(f"/v1/approvals/{item}/{verb}", headers=keyed(headers, key), json=values | body)


def listed(client, headers) -> list[str]:
    return [item["id"] for item in client.get("/v1/approvals", headers=headers).json()["items"]]


def test_the_queue_holds_both_domains_and_each_region_sees_its_own(client, world):
    voucher, subsidy = voucher_item(client, world), subsidy_item(client, world)
    assert listed(client, world["sh_clerk"]) == [voucher]
    assert listed(client, world["gz_clerk"]) == [subsidy]
    assert listed(client, world["province"]) == [voucher, subsidy]
    assert listed(client, world["sh_auditor"]) == [voucher]
    shown = client.get(f"/v1/approvals/{voucher}", headers=world["sh_clerk"]).json()
    assert (shown["kind"], shown["amount"], shown["recorded_by"]) == ("voucher_grant", "1000.00", "key:sh-clerk")
    assert client.get(f"/v1/approvals/{voucher}", headers=world["gz_clerk"]).status_code == 404
    assert client.get("/v1/approvals", headers=world["firm"]).status_code == 403
    page = client.get("/v1/approvals?limit=1", headers=world["province"]).json()
    rest = client.get(f"/v1/approvals?limit=1&cursor={page['next_cursor']}", headers=world["province"]).json()
    assert [item["id"] for item in page["items"] + rest["items"]] == [voucher, subsidy] and rest["next_cursor"] is None
    only = client.get("/v1/approvals?kind=subsidy_application", headers=world["province"]).json()["items"]
    assert [item["id"] for item in only] == [subsidy]


def test_an_auditor_reads_the_queue_but_cannot_decide(client, world):
    item = voucher_item(client, world)
    refused = decide(client, world["sh_auditor"], item, "approve", "a")
    assert refused.status_code == 403 and refused.json()["code"] == "role_forbidden"
    assert listed(client, world["sh_clerk"]) == [item]


def test_outside_its_region_an_item_is_not_found(client, world):
    item = voucher_item(client, world)
    outside = decide(client, world["gz_director"], item, "approve", "o")
    assert outside.status_code == 404 and outside.json()["code"] == "approval_not_found"
    malformed = client.post("/v1/approvals/nothing/approve", headers=keyed(world["sh_director"], "m"), json={})
    assert malformed.status_code == 422


def test_rejection_needs_another_person_and_a_reason(client, world):
    voucher, subsidy = voucher_item(client, world), subsidy_item(client, world)
    own = decide(client, world["sh_clerk"], voucher, "reject", "r0")
    assert own.status_code == 409 and own.json()["code"] == "approver_must_differ_from_maker"
    no_reason = decide(client, world["sh_director"], voucher, "reject", "r1", reason="")
    assert no_reason.status_code == 422
    rejected = decide(client, world["sh_director"], voucher, "reject", "r2")
    assert rejected.status_code == 200 and rejected.json()["result"]["status"] == "rejected"
    grant = client.get(f"/v1/vouchers/{voucher.split(':')[1]}", headers=world["sh_clerk"]).json()
    assert (grant["status"], grant["reason"], grant["checker"]) == ("rejected", "材料不全", "key:sh-director")
    assert decide(client, world["gz_director"], subsidy, "reject", "r3").status_code == 200
    assert listed(client, world["province"]) == []
    late = decide(client, world["sh_director"], voucher, "approve", "late")
    assert late.status_code == 409 and late.json()["code"] == "grant_already_decided"


def test_an_approval_replays_and_refuses_another_body_under_its_key(client, world):
    item = voucher_item(client, world)
    first = decide(client, world["sh_director"], item, "approve", "k")
    assert first.status_code == 200 and first.json()["result"]["granted"] == "1000.00"
    again = decide(client, world["sh_director"], item, "approve", "k")
    assert again.headers["Idempotency-Replayed"] == "true" and again.json() == first.json()
    other = decide(client, world["sh_director"], item, "approve", "k", approval_doc="doc-2")
    assert other.status_code == 409 and other.json()["code"] == "exists_with_different_content"
    named = decide(client, world["sh_director"], item, "approve", "k2", approver="me")
    assert named.status_code == 422 and named.json()["code"] == "body_names_actor"


def test_a_payment_batch_is_rejected_with_a_reason_and_pays_nothing(client, world, person):
    scheme = world["scheme"]
    body = {"program": PROGRAM, "enterprise": scheme.enterprises[SHANGHAI], "amount": "20000.00", "on": "2026-02-02"}
    grant = client.post("/v1/vouchers", headers=keyed(world["sh_clerk"], "g"), json=body).json()["id"]
    assert decide(client, world["sh_director"], f"voucher_grant:{grant}", "approve", "a").status_code == 200
    reservation = {
        "program": PROGRAM,
        "enterprise": scheme.enterprises[SHANGHAI],
        "provider": scheme.providers[SHANGHAI],
        "category": "testing",
        "contract_no": "C-1",
        "contract_amount": "10000.00",
        "on": "2026-03-01",
    }
    redemption = client.post("/v1/redemptions", headers=keyed(world["firm"], "r"), json=reservation).json()["id"]
    lab = person("sh-lab", "service_provider", f"institution:{scheme.providers[SHANGHAI]}")
    claim = {"invoice_no": "INV-1", "invoiced_amount": "10000.00", "on": "2026-04-01"}
    filed = client.post(f"/v1/redemptions/{redemption}/claim", headers=keyed(lab, "c"), json=claim).json()["approval"]
    assert decide(client, world["sh_director"], filed, "approve", "v", on="2026-04-02").status_code == 200
    batch = client.post(
        "/v1/payment-batches",
        headers=keyed(world["sh_clerk"], "b"),
        json={"region": SHANGHAI, "period_label": "2026-Q2", "on": "2026-07-01"},
    ).json()
    item = f"voucher_payment_batch:{batch['id']}"
    own = decide(client, world["sh_clerk"], item, "reject", "own")
    assert own.status_code == 409 and own.json()["code"] == "approver_must_differ_from_maker"
    rejected = decide(client, world["sh_director"], item, "reject", "x")
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["result"] == {"batch_id": batch["id"], "status": "rejected"}
    assert client.get(f"/v1/payment-batches/{batch['id']}", headers=world["sh_director"]).json()["status"] == "rejected"
    assert listed(client, world["sh_director"]) == []
    late = decide(client, world["sh_director"], item, "approve", "late")
    assert late.status_code == 409 and late.json()["code"] == "payment_batch_already_decided"


def _racing_writes(engine, while_producing=None):  # noqa: ANN001, ANN202
    ledger = Ledger(engine)
    principal = Principal(name="key:racer", client="key:race", role=Role.ADMIN, scopes=())
    calls = []

    def produce(_joined: Ledger) -> Written:
        calls.append(1)
        if while_producing is not None and len(calls) == 1:
            while_producing()
        return Written({"n": len(calls)}, "/v1/somewhere")

    def write(uow, response: Response):  # noqa: ANN001
        return keyed_write(ledger, uow, principal, "same", path="/v1/x", content={}, produce=produce, response=response)

    def attempt(outcome: dict, arrived_event: threading.Event | None = None) -> None:
        """A request's unit of work as api.deps makes it: its arrival noted before it waits for its turn."""
        response = Response()
        arrived = arrival_now()
        if arrived_event is not None:
            arrived_event.set()
        try:
            with engine.begin() as uow, arrival_noted(uow, arrived):
                outcome["body"] = write(uow, response)
                outcome["replayed"] = response.headers.get("Idempotency-Replayed")
        except ApiProblem as problem:
            outcome["problem"] = (problem.status, problem.code)

    return write, attempt, calls


def test_a_retry_while_the_first_is_in_flight_is_refused_as_in_flight(engine):
    """The retry arrives while the first request is still producing its response: refused as request_in_flight
    on both databases (PostgreSQL: it waits on the key's unique index, then fails; SQLite, where it reaches
    the key only after the first committed: it arrived before the first's response was completed)."""
    outcome: dict = {}
    arrived = threading.Event()
    racer = threading.Thread(target=lambda: attempt(outcome, arrived))

    def start_the_retry() -> None:
        racer.start()
        assert arrived.wait(10)
        racer.join(0.3)
        assert racer.is_alive(), "the retry waits while the first holds the key"

    write, attempt, calls = _racing_writes(engine, while_producing=start_the_retry)
    with engine.connect() as first_uow:
        with first_uow.begin():
            assert write(first_uow, Response()) == {"n": 1}
        racer.join(30)
    assert outcome == {"problem": (409, REQUEST_IN_FLIGHT)}
    assert calls == [1]
    retried: dict = {}
    attempt(retried)  # the client's retry, once the first is done: its response
    assert retried == {"body": {"n": 1}, "replayed": "true"} and calls == [1]


def test_a_retry_of_a_rolled_back_request_runs_it(engine):
    """The first request was refused (its unit of work rolled back, the key with it): the retry is a new request."""
    write, attempt, calls = _racing_writes(engine)
    with engine.connect() as first_uow:
        with first_uow.begin():
            write(first_uow, Response())
            first_uow.rollback()
    outcome: dict = {}
    attempt(outcome)
    assert outcome == {"body": {"n": 2}, "replayed": None} and calls == [1, 1]


def test_a_funds_cash_request_waits_in_the_queue_of_its_region(client, world, engine):
    from datetime import date

    from funds.cash_requests import GF_APPROPRIATION, CashRequests
    from funds.config import DEFAULT_FUND_POLICY
    from funds.guidance import GuidanceFunds

    ledger = Ledger(engine)
    ledger.register_region(GUANGZHOU, "广州市")
    GuidanceFunds(ledger).create_guidance_fund("GZ-QUEUE", "广州 引导基金", GUANGZHOU, DEFAULT_FUND_POLICY)
    request_id = CashRequests(ledger).file(
        GF_APPROPRIATION, "GZ-QUEUE", date(2026, 1, 5), actor="key:gz-clerk", client_id="q1", amount="1000.00"
    )
    item = f"funds_cash_request:{request_id}"
    assert listed(client, world["gz_clerk"]) == [item]
    assert listed(client, world["sh_clerk"]) == []
    assert decide(client, world["sh_director"], item, "approve", "o").status_code == 404
    own = decide(client, world["gz_clerk"], item, "approve", "self")
    assert own.status_code == 409
    approved = decide(client, world["gz_director"], item, "approve", "ok")
    assert approved.status_code == 200, approved.text
    assert approved.json()["result"]["status"] == "approved"
    assert listed(client, world["gz_clerk"]) == []
