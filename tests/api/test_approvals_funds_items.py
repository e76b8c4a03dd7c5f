"""Guidance-fund commitments, capital calls and distributions and risk-pool claims in the approvals queue (both
backends): listed in scope, approved or rejected with a reason through the funds services, never by their
recorder, a dry run writing nothing; and the public queue module the pages use."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from api import approval_queue
from api.routers import approvals as approval_routes
from ledger.engine import T_TRANSACTIONS

from .conftest import seed_funds_and_pools

GZ_FIRM = "91440101MA5CXXXX1B"
SZ_FIRM = "91440300MA5DYYYY2J"
GZ_SUB = "GZ-ANGEL-1"
DAY = "2026-12-01"


@pytest.fixture
def app(reused_app):
    return reused_app


@pytest.fixture
def world(books, person):
    return {
        "gz": seed_funds_and_pools(books, "GZ", "440100", GZ_FIRM, GZ_FIRM),
        "sz": seed_funds_and_pools(books, "SZ", "440300", SZ_FIRM, SZ_FIRM),
        "office": person("gz-office", "finance_office", "region:440100"),
        "sz_office": person("sz-office", "finance_office", "region:440300"),
        "auditor": person("gz-auditor", "auditor", "region:440100"),
        "gp_a": person("gp-a", "fund_manager", f"fund:{GZ_SUB}"),
        "gp_b": person("gp-b", "fund_manager", f"fund:{GZ_SUB}"),
        "bank": person("gz-bank", "bank", f"institution:{GZ_FIRM}"),
    }


def _transactions(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(T_TRANSACTIONS)).scalar_one()


def listed(client, headers, **params) -> list[str]:
    response = client.get("/v1/approvals", headers=headers, params=params)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def decide(client, headers, item: str, verb: str, key: str, *, dry_run: bool = False, **body):
    values = {"approval_doc": "穗财〔2026〕9号", "on": DAY} if verb == "approve" else {"reason": "材料不全", "on": DAY}
    return client.post(
        f"/v1/approvals/{item}/{verb}",
        headers=headers | {"Idempotency-Key": key},
        params={"dry_run": "true"} if dry_run else None,
        json=values | body,
    )


def test_fund_and_pool_items_wait_in_the_queue_of_their_scope(client, world):
    gz, sz = world["gz"], world["sz"]
    gz_items = {
        f"fund_distribution:{gz['distribution_id']}",
        f"pool_claim:{gz['claim_id']}",
        f"funds_cash_request:{gz['cash_request_id']}",
    }
    sz_items = {f"fund_distribution:{sz['distribution_id']}", f"pool_claim:{sz['claim_id']}"}
    assert gz_items <= set(listed(client, world["office"]))
    assert not sz_items & set(listed(client, world["office"]))
    assert set(listed(client, world["auditor"])) == set(listed(client, world["office"]))
    assert set(listed(client, world["office"], region="440100")) == set(listed(client, world["office"]))
    # a fund manager sees its own sub-fund's items only (not the pool's, nor the guidance fund's cash requests)
    assert listed(client, world["gp_a"]) == [f"fund_distribution:{gz['distribution_id']}"]
    assert client.get("/v1/approvals", headers=world["bank"]).status_code == 403
    for item in sz_items:
        assert client.get(f"/v1/approvals/{item}", headers=world["office"]).status_code == 404
        assert decide(client, world["office"], item, "approve", f"x-{item}").status_code == 404
    item = client.get(f"/v1/approvals/fund_distribution:{gz['distribution_id']}", headers=world["gp_a"]).json()
    assert (item["kind"], item["region"], item["amount"], item["recorded_by"]) == (
        "fund_distribution",
        "440100",
        "1500000.00",
        "seed-gp-a",
    )
    assert "fund_scope" not in item and "pool_funders" not in item


def test_a_commitment_is_never_decided_by_its_recorder_and_is_rejected_with_a_reason(client, world, engine):
    body = {"investor_code": "LP-NEW", "amount": "1000000.00", "committed_on": "2026-05-01"}
    recorded = client.post(
        f"/v1/sub-funds/{GZ_SUB}/commitments", headers=world["gp_a"] | {"Idempotency-Key": "c"}, json=body
    )
    assert recorded.status_code == 201, recorded.text
    item = f"fund_commitment:{recorded.json()['id']}"
    assert item in listed(client, world["gp_b"])
    before = _transactions(engine)
    for verb in ("approve", "reject"):
        own = decide(client, world["gp_a"], item, verb, f"own-{verb}")
        assert own.status_code == 409 and own.json()["code"] == "approver_must_differ_from_recorder"
    blank = decide(client, world["gp_b"], item, "reject", "blank", reason="")
    assert blank.status_code == 422
    rejected = decide(client, world["gp_b"], item, "reject", "no")
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["status"] == "rejected" and rejected.headers["Location"] == f"/v1/commitments/{item[16:]}"
    assert client.get(f"/v1/commitments/{item[16:]}", headers=world["gp_b"]).json()["status"] == "rejected"
    assert item not in listed(client, world["gp_b"])
    assert _transactions(engine) == before
    late = decide(client, world["office"], item, "approve", "late")
    assert late.status_code == 409 and late.json()["code"] == "already_decided"


def test_a_capital_call_and_a_distribution_are_approved_through_the_funds_service(client, world, engine):
    gz = world["gz"]
    body = {"ratio": "10%", "notice_on": "2026-07-01", "due_on": "2026-07-31"}
    call = client.post(
        f"/v1/sub-funds/{GZ_SUB}/capital-calls", headers=world["gp_a"] | {"Idempotency-Key": "k"}, json=body
    )
    assert call.status_code == 201, call.text
    item = f"capital_call:{call.json()['id']}"
    approved = decide(client, world["office"], item, "approve", "call")
    assert approved.status_code == 200, approved.text
    assert approved.json()["result"]["called"] == {"LP-1": "6000000.00", "GZ-TT": "2000000.00"}
    assert client.get(f"/v1/capital-calls/{call.json()['id']}", headers=world["gp_a"]).json()["status"] == "approved"
    before = _transactions(engine)
    distribution = f"fund_distribution:{gz['distribution_id']}"
    tried = decide(client, world["gp_b"], distribution, "approve", "d-dry", dry_run=True)
    assert tried.status_code == 200 and tried.json()["dry_run"] is True and tried.json()["code"] == "ok"
    assert _transactions(engine) == before and distribution in listed(client, world["gp_b"])
    paid = decide(client, world["gp_b"], distribution, "approve", "d")
    assert paid.status_code == 200, paid.text
    assert set(paid.json()["result"]["parts"]) == {"LP-1", "GZ-TT"}
    assert _transactions(engine) == before + 1
    again = decide(client, world["gp_b"], distribution, "approve", "d")
    assert again.headers["Idempotency-Replayed"] == "true" and again.json() == paid.json()
    assert _transactions(engine) == before + 1


def test_a_pool_claim_is_tried_approved_or_rejected_in_the_queue(client, world, engine):
    gz = world["gz"]
    item = f"pool_claim:{gz['claim_id']}"
    assert client.get(f"/v1/approvals/{item}", headers=world["gp_a"]).status_code == 404
    before = _transactions(engine)
    tried = decide(client, world["office"], item, "approve", "p-dry", dry_run=True)
    assert tried.status_code == 200, tried.text
    outcome = tried.json()
    assert outcome["result"]["result"]["entitled"] == "2000000.00"
    assert outcome["binding_cap"] == "ratio" and outcome["room_left"] == "8000000.00"
    assert _transactions(engine) == before
    rejected = decide(client, world["office"], item, "reject", "p-no")
    assert rejected.status_code == 200, rejected.text
    assert client.get(f"/v1/claims/{gz['claim_id']}", headers=world["office"]).json()["status"] == "rejected"
    assert _transactions(engine) == before


def test_the_pages_find_the_queue_under_its_public_names_and_the_old_ones(world):
    assert approval_routes._queue is approval_queue.queue_items
    assert approval_routes._item_visible is approval_queue.item_visible
    assert approval_routes._order is approval_queue.queue_order
    assert approval_routes._located is approval_queue.locate_item
    assert approval_routes._approve is approval_queue.approve_item
    assert approval_routes._reject is approval_queue.reject_item
    assert approval_routes.ITEM_PATTERN == approval_queue.ITEM_PATTERN
