"""Risk-pool routes over HTTP (both backends): a pool from set-up to statement, claims approved by another
person under the caps, a bank that sees only its own records, idempotent replay and dry runs."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from funds.models import Loan
from ledger.engine import T_TRANSACTIONS

from .conftest import seed_funds_and_pools

GZ_BANK = "91440101MA5CXXXX1B"
OTHER_BANK = "91440101MA5EWWWW4L"
SZ_BANK = "91440300MA5DYYYY2J"
ENTERPRISE = "91440101MA5DZZZZ3K"


def _count(engine, table) -> int:  # noqa: ANN001
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def _key(headers: dict, key: str) -> dict:
    return headers | {"Idempotency-Key": key}


@pytest.fixture
def people(person):
    return {
        "office_a": person("pool-office-a", "finance_office", "region:440100"),
        "office_b": person("pool-office-b", "finance_office", "region:440100"),
        "sz_office": person("sz-office", "finance_office", "region:440300"),
        "bank": person("gz-bank", "bank", f"institution:{GZ_BANK}"),
        "other_bank": person("other-bank", "bank", f"institution:{OTHER_BANK}"),
        "auditor": person("pool-auditor", "auditor", "region:440100"),
        "manager": person("pool-gp", "fund_manager", "fund:GZ-ANGEL-1"),
    }


def _loan(number: str, principal: str = "4000000.00", bank: str = GZ_BANK, pool: str = "gz-city") -> dict:
    return {
        "pool": pool,
        "bank_code": bank,
        "enterprise_code": ENTERPRISE,
        "loan_number": number,
        "principal": principal,
        "disbursed_on": "2026-03-01",
        "term_months": 12,
        "filed_on": "2026-03-20",
    }


@pytest.fixture
def pool(client, books, people):
    """gz-city: funded 40% by the province and 60% by Guangzhou, with two partner banks and 5,000,000 paid in."""
    from datetime import date

    from funds.pools import RiskPools

    office = people["office_a"]
    created = client.post(
        "/v1/risk-pools",
        headers=office,
        json={
            "code": "gz-city",
            "name": "广州市风险补偿资金池",
            "preset": "guangzhou",
            "funders": [
                {"funder_code": "440000", "level": "province", "share": "40%"},
                {"funder_code": "440100", "level": "city", "share": "60%"},
            ],
        },
    )
    assert created.status_code == 201 and created.headers["Location"] == "/v1/risk-pools/gz-city"
    for bank, cap in ((GZ_BANK, "1500000.00"), (OTHER_BANK, None)):
        added = client.post(
            "/v1/risk-pools/gz-city/banks",
            headers=office,
            json={"bank_code": bank, "source": "合作协议", "per_loan_cap": cap, "valid_from": "2026-01-01"}
            | {"valid_to": "2028-12-31"},
        )
        assert added.status_code == 201
    for funder, amount in (("440000", "2000000.00"), ("440100", "3000000.00")):
        RiskPools(books).contribute(
            "gz-city", funder, amount, date(2026, 1, 10), actor="x", approver="y", client_id=f"contribution-{funder}"
        )
    return "gz-city"


def _defaulted_loan(client, bank: dict, number: str, principal: str = "4000000.00") -> int:
    filed = client.post("/v1/loans", headers=_key(bank, f"file-{number}"), json=_loan(number, principal))
    assert filed.status_code == 201, filed.text
    loan_id = filed.json()["id"]
    for status in ("overdue", "defaulted"):
        assert client.post(f"/v1/loans/{loan_id}/status", headers=bank, json={"status": status}).status_code == 200
    return loan_id


def test_a_claim_from_filing_to_statement(client, engine, pool, people):
    bank, office, checker = people["bank"], people["office_a"], people["office_b"]
    late = client.post("/v1/loans", headers=_key(bank, "late"), json=_loan("L-late") | {"filed_on": "2026-06-02"})
    assert late.status_code == 409 and late.json()["code"] == "loan_filing_window_passed"
    loan_id = _defaulted_loan(client, bank, "L-1")
    cured = client.post(f"/v1/loans/{loan_id}/status", headers=bank, json={"status": "performing"})
    assert cured.status_code == 409 and cured.json()["code"] == "loan_status_transition_invalid"
    claim = client.post(
        "/v1/claims",
        headers=_key(bank, "claim-1"),
        json={"loan_id": loan_id, "non_performing": "4000000.00", "claimed_on": "2026-11-01"},
    )
    assert claim.status_code == 201 and claim.json()["status"] == "submitted"
    claim_id = claim.json()["id"]
    assert claim.headers["Location"] == f"/v1/claims/{claim_id}"
    by_bank = client.post(f"/v1/claims/{claim_id}/approval", headers=_key(bank, "a"), json={"paid_on": "2026-11-20"})
    assert by_bank.status_code == 403, "a bank cannot approve"
    approved = client.post(
        f"/v1/claims/{claim_id}/approval",
        headers=_key(checker, "approve-1"),
        json={"paid_on": "2026-11-20", "approval_doc": "穗科补〔2026〕9号"},
    )
    assert approved.status_code == 200, approved.text
    decision = approved.json()
    assert decision["binding_limit"] == "per_loan_cap" and decision["entitled"] == "1500000.00"
    assert decision["limits"]["ratio"] == "2000000.00" and decision["paid_now"] == "1500000.00"
    assert decision["funder_parts"] == {"440000": "600000.00", "440100": "900000.00"}
    replay = client.post(
        f"/v1/claims/{claim_id}/approval",
        headers=_key(checker, "approve-1"),
        json={"paid_on": "2026-11-20", "approval_doc": "穗科补〔2026〕9号"},
    )
    assert replay.status_code == 200 and replay.headers["Idempotency-Replayed"] == "true"
    assert replay.json()["paid_now"] == "1500000.00" and replay.json()["claim"]["paid"] == "1500000.00"
    recovery = client.post(
        "/v1/recoveries",
        headers=_key(bank, "rec-1"),
        json={"claim_id": claim_id, "gross": "1000000.00", "costs": "200000.00", "recovered_on": "2027-05-01"},
    )
    assert recovery.status_code == 201 and recovery.json()["returned"] == "300000.00"
    assert recovery.json()["funder_parts"] == {"440000": "120000.00", "440100": "180000.00"}

    statement = client.get(f"/v1/risk-pools/{pool}/statement", headers=office).json()
    assert statement["balance"] == "3800000.00"
    assert {row["funder"]: row["remaining"] for row in statement["funders"]} == {
        "440000": "1520000.00",
        "440100": "2280000.00",
    }
    banks = {row["bank"]: row for row in statement["banks"]}
    assert banks[GZ_BANK]["paid"] == "1500000.00" and banks[GZ_BANK]["recovered"] == "300000.00"
    rows = list(csv.reader(io.StringIO(client.get(f"/v1/risk-pools/{pool}/statement.csv", headers=office).text)))
    assert ["funder", "440100", "city", "60%", "3000000.00", "900000.00", "180000.00", "2280000.00"] in rows
    book = load_workbook(io.BytesIO(client.get(f"/v1/risk-pools/{pool}/statement.xlsx", headers=office).content))
    assert book.sheetnames == ["出资方", "银行"]
    own = client.get(f"/v1/risk-pools/{pool}/statement", headers=bank).json()
    assert own["balance"] is None and own["funders"] == [] and [row["bank"] for row in own["banks"]] == [GZ_BANK]


def test_maker_checker_and_rejection(client, pool, people, person):
    bank = people["bank"]
    loan_id = _defaulted_loan(client, bank, "L-2")
    claim_id = client.post(
        "/v1/claims",
        headers=_key(bank, "claim-2"),
        json={"loan_id": loan_id, "non_performing": "1000000.00", "claimed_on": "2026-11-01"},
    ).json()["id"]
    admin_named_like_bank = person("gz-bank", "admin")
    same_person = client.post(
        f"/v1/claims/{claim_id}/approval", headers=_key(admin_named_like_bank, "self"), json={"paid_on": "2026-11-20"}
    )
    assert same_person.status_code == 409 and same_person.json()["code"] == "approver_must_differ_from_recorder"
    named = client.post(
        f"/v1/claims/{claim_id}/approval",
        headers=_key(people["office_a"], "named"),
        json={"paid_on": "2026-11-20", "approver": "someone"},
    )
    assert named.status_code == 422 and named.json()["errors"][0]["code"] == "body_names_actor"
    rejected = client.post(f"/v1/claims/{claim_id}/rejection", headers=people["office_a"], json={"reason": "材料不全"})
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    later = client.post(
        f"/v1/claims/{claim_id}/approval", headers=_key(people["office_b"], "late"), json={"paid_on": "2026-11-20"}
    )
    assert later.status_code == 409 and later.json()["code"] == "already_decided"

    kept = client.post(f"/v1/loans/{loan_id}/revocation", headers=people["office_a"], json={"reason": "x"})
    assert kept.status_code == 200 and kept.json()["status"] == "revoked", "a rejected claim no longer holds the filing"
    performing = client.post("/v1/loans", headers=_key(bank, "L-8"), json=_loan("L-8")).json()["id"]
    suspended = client.post(
        f"/v1/risk-pools/{pool}/banks/{GZ_BANK}/suspension", headers=people["office_a"], json={"suspended": True}
    )
    assert suspended.status_code == 200 and suspended.json()["suspended"] is True
    refused = client.post("/v1/loans", headers=_key(bank, "L-9"), json=_loan("L-9"))
    assert refused.status_code == 409 and refused.json()["code"] == "bank_suspended"
    assert client.post(f"/v1/loans/{performing}/revocation", headers=bank, json={"reason": "x"}).status_code == 403


def test_a_bank_sees_only_its_own_and_regions_only_their_pools(client, books, pool, people):
    sz = seed_funds_and_pools(books, "SZ", "440300", SZ_BANK, SZ_BANK)
    mine = _defaulted_loan(client, people["bank"], "L-3")
    theirs = client.post(
        "/v1/loans", headers=_key(people["other_bank"], "other"), json=_loan("L-4", bank=OTHER_BANK)
    ).json()["id"]
    posing = client.post("/v1/loans", headers=_key(people["bank"], "posing"), json=_loan("L-5", bank=OTHER_BANK))
    assert posing.status_code == 403, "a bank files only its own loans"
    assert [row["id"] for row in client.get("/v1/loans", headers=people["bank"]).json()["items"]] == [mine]
    assert client.get(f"/v1/loans/{theirs}", headers=people["bank"]).status_code == 404
    assert client.get(f"/v1/loans/{sz['loan_id']}", headers=people["bank"]).status_code == 404
    assert client.get(f"/v1/claims/{sz['claim_id']}", headers=people["office_a"]).status_code == 404
    pools = [row["code"] for row in client.get("/v1/risk-pools", headers=people["office_a"]).json()["items"]]
    assert pools == [pool]
    seen_by_bank = client.get("/v1/risk-pools", headers=people["bank"]).json()["items"]
    assert [row["code"] for row in seen_by_bank] == [pool] and [b["bank_code"] for b in seen_by_bank[0]["banks"]] == [
        GZ_BANK
    ]
    assert {row["id"] for row in client.get("/v1/loans", headers=people["auditor"]).json()["items"]} == {mine, theirs}
    foreign = client.post(
        f"/v1/claims/{sz['claim_id']}/approval", headers=_key(people["office_a"], "sz"), json={"paid_on": "2026-11-20"}
    )
    assert foreign.status_code == 404
    assert client.get("/v1/loans", headers=people["manager"]).status_code == 403
    statement = client.get(f"/v1/risk-pools/{sz['pool']}/statement", headers=people["office_a"])
    assert statement.status_code == 404
    filtered = client.get("/v1/loans", headers=people["office_a"], params={"bank": OTHER_BANK, "limit": 1}).json()
    assert [row["id"] for row in filtered["items"]] == [theirs] and filtered["next_cursor"] is None


def test_replay_other_body_and_dry_run(client, engine, books, pool, people):
    bank, checker = people["bank"], people["office_b"]
    body = _loan("L-6")
    first = client.post("/v1/loans", headers=_key(bank, "loan-6"), json=body)
    replay = client.post("/v1/loans", headers=_key(bank, "loan-6"), json=body)
    assert replay.status_code == 201 and replay.json() == first.json()
    assert replay.headers["Idempotency-Replayed"] == "true"
    other = client.post("/v1/loans", headers=_key(bank, "loan-6"), json=body | {"principal": "1.00"})
    assert other.status_code == 409 and other.json()["code"] == "exists_with_different_content"
    assert client.post("/v1/loans", headers=bank, json=body).json()["code"] == "idempotency_key_required"

    loan_id = first.json()["id"]
    for status in ("overdue", "defaulted"):
        client.post(f"/v1/loans/{loan_id}/status", headers=bank, json={"status": status})
    claim_id = client.post(
        "/v1/claims",
        headers=_key(bank, "claim-6"),
        json={"loan_id": loan_id, "non_performing": "1000000.00", "claimed_on": "2026-11-01"},
    ).json()["id"]
    before = (_count(engine, T_TRANSACTIONS), books.account("pool:gz-city", "Assets:Bank:Pool").balance_fen)
    dry = client.post(
        f"/v1/claims/{claim_id}/approval?dry_run=true", headers=_key(checker, "dry"), json={"paid_on": "2026-11-20"}
    )
    assert dry.status_code == 200 and dry.json()["dry_run"] is True
    assert dry.json()["binding_limit"] == "ratio" and dry.json()["room_left"] == "4500000.00"
    assert dry.json()["result"]["claim"]["status"] in ("approved", "paid")
    dry_loan = client.post("/v1/loans?dry_run=true", headers=_key(bank, "dry-loan"), json=_loan("L-7"))
    assert dry_loan.status_code == 200 and dry_loan.json()["result"]["covered"] == "4000000.00"
    after = (_count(engine, T_TRANSACTIONS), books.account("pool:gz-city", "Assets:Bank:Pool").balance_fen)
    assert before == after and client.get(f"/v1/claims/{claim_id}", headers=bank).json()["status"] == "submitted"
    assert _count(engine, Loan.__table__) == 1, "the dry-run filing left no loan"


def test_contributions_and_settlements_need_two_people(client, books, pool, people):
    bank, filer, approver = people["other_bank"], people["office_a"], people["office_b"]
    cash = lambda: books.account("pool:gz-city", "Assets:Bank:Pool").balance_fen  # noqa: E731
    filed = client.post("/v1/loans", headers=_key(bank, "big"), json=_loan("L-big", "12000000.00", bank=OTHER_BANK))
    loan_id = filed.json()["id"]
    for status in ("overdue", "defaulted"):
        client.post(f"/v1/loans/{loan_id}/status", headers=bank, json={"status": status})
    claim_id = client.post(
        "/v1/claims",
        headers=_key(bank, "big-claim"),
        json={"loan_id": loan_id, "non_performing": "12000000.00", "claimed_on": "2026-11-01"},
    ).json()["id"]
    short = client.post(f"/v1/claims/{claim_id}/approval", headers=_key(approver, "ok"), json={"paid_on": "2026-11-20"})
    assert short.json()["entitled"] == "6000000.00" and short.json()["paid_now"] == "5000000.00"
    assert short.json()["claim"]["owed"] == "1000000.00" and cash() == 0

    contribution = client.post(
        f"/v1/risk-pools/{pool}/contributions",
        headers=_key(filer, "top-up"),
        json={"funder_code": "440100", "amount": "2000000.00", "on": "2027-01-05"},
    )
    assert contribution.status_code == 201 and contribution.json()["kind"] == "pool_contribution"
    stranger = client.post(
        f"/v1/risk-pools/{pool}/contributions",
        headers=_key(filer, "stranger"),
        json={"funder_code": "440300", "amount": "1.00", "on": "2027-01-05"},
    )
    assert stranger.status_code == 404 and stranger.json()["code"] == "funds_object_not_found"
    paid_in = client.post(f"/v1/cash-requests/{contribution.json()['id']}/approval", headers=_key(approver, "in"))
    assert paid_in.status_code == 200 and cash() == 200_000_000

    settlement = client.post(
        f"/v1/risk-pools/{pool}/settlements", headers=_key(filer, "run"), json={"on": "2027-01-15"}
    )
    assert settlement.status_code == 201 and settlement.json()["amount"] is None
    dry = client.post(f"/v1/cash-requests/{settlement.json()['id']}/approval?dry_run=true", headers=_key(approver, "d"))
    assert dry.json()["result"]["result"]["payouts"][0]["amount"] == "1000000.00" and cash() == 200_000_000
    settled = client.post(f"/v1/cash-requests/{settlement.json()['id']}/approval", headers=_key(approver, "settle"))
    assert settled.status_code == 200 and settled.json()["result"]["payouts"][0]["claim_id"] == claim_id
    assert client.get(f"/v1/claims/{claim_id}", headers=bank).json()["owed"] == "0.00" and cash() == 100_000_000
    assert client.get("/v1/cash-requests", headers=bank).status_code == 403, "a bank never sees the pool's cash moves"
