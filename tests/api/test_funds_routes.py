"""Guidance-fund routes over HTTP (both backends): a sub-fund's life from set-up to metrics, maker-checker per
person, scope (404 outside, 403 for an action the role lacks), idempotent replay and dry runs."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from funds.guidance import GuidanceFunds
from funds.models import Investment
from ledger.engine import T_TRANSACTIONS

from .conftest import seed_funds_and_pools

GZ_BANK = "91440101MA5CXXXX1B"
SZ_BANK = "91440300MA5DYYYY2J"
GZ_SUB = "GZ-ANGEL-1"


def _transactions(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(T_TRANSACTIONS)).scalar_one()


def _investments(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(Investment.__table__)).scalar_one()


@pytest.fixture
def people(person):
    """Two people of each side, so that one records and the other approves."""
    return {
        "office_a": person("office-a", "finance_office", "region:440100"),
        "office_b": person("office-b", "finance_office", "region:440100"),
        "gp_a": person("gp-a", "fund_manager", f"fund:{GZ_SUB}"),
        "gp_b": person("gp-b", "fund_manager", f"fund:{GZ_SUB}"),
        "sz_gp": person("sz-gp", "fund_manager", "fund:SZ-ANGEL-1"),
        "auditor": person("gz-auditor", "auditor", "region:440100"),
        "enterprise": person("gz-enterprise", "enterprise", f"institution:{GZ_BANK}"),
    }


def _key(headers: dict, key: str) -> dict:
    return headers | {"Idempotency-Key": key}


def test_a_subfund_from_set_up_to_metrics(client, engine, books, people):
    office, gp, checker = people["office_a"], people["gp_a"], people["gp_b"]
    created = client.post(
        "/v1/funds", headers=office, json={"code": "GZ-TT", "name": "引导基金", "region_code": "440100"}
    )
    assert created.status_code == 201 and created.headers["Location"] == "/v1/funds/GZ-TT"
    sub = {
        "code": GZ_SUB,
        "name": "天使一期",
        "manager_code": GZ_BANK,
        "size": "100000000.00",
        "established_on": "2026-01-10",
        "term_years": 8,
        "investment_period_end": "2031-01-10",
        "fee_basis": "paid_in",
        "fee_rate": "3%",
    }
    made = client.post("/v1/funds/GZ-TT/sub-funds", headers=office, json=sub)
    assert made.status_code == 201 and made.json()["fee_rate"] == "2%", "a fee above the 2% cap is clipped"
    assert made.json()["size"] == "100000000.00" and made.json()["region_code"] == "440100"
    GuidanceFunds(books).appropriate(
        "GZ-TT", "10000000.00", date(2026, 1, 5), actor="office-x", approver="office-y", client_id="ap-1"
    )

    lp = client.post(
        f"/v1/sub-funds/{GZ_SUB}/commitments",
        headers=_key(gp, "c-lp1"),
        json={"investor_code": "LP-1", "amount": "60000000.00", "committed_on": "2026-01-15"},
    )
    assert lp.status_code == 201 and lp.json()["status"] == "submitted" and lp.json()["recorded_by"] == "key:gp-a"
    own = client.post(f"/v1/commitments/{lp.json()['id']}/approval", headers=gp)
    assert own.status_code == 409 and own.json()["code"] == "approver_must_differ_from_recorder"
    guidance = client.post(
        f"/v1/sub-funds/{GZ_SUB}/commitments",
        headers=_key(gp, "c-gf"),
        json={"investor_code": "GZ-TT", "amount": "20000000.00", "committed_on": "2026-01-15", "is_guidance": True},
    )
    for commitment in (lp, guidance):
        approved = client.post(f"/v1/commitments/{commitment.json()['id']}/approval", headers=checker)
        assert approved.status_code == 200 and approved.json()["commitment"]["approved_by"] == "key:gp-b"
    again = client.post(f"/v1/commitments/{lp.json()['id']}/approval", headers=checker)
    assert again.status_code == 200 and again.headers["Idempotency-Replayed"] == "true"
    established = client.post(f"/v1/sub-funds/{GZ_SUB}/establishment", headers=gp, json={"on": "2026-02-01"})
    assert established.json()["commitments"] == {"LP-1": "60000000.00", "GZ-TT": "20000000.00"}

    call = client.post(
        f"/v1/sub-funds/{GZ_SUB}/capital-calls",
        headers=_key(gp, "call-1"),
        json={"ratio": "20%", "notice_on": "2026-02-01", "due_on": "2026-02-28"},
    ).json()
    approved_call = client.post(f"/v1/capital-calls/{call['id']}/approval", headers=checker).json()
    assert {item["investor_code"]: item["amount"] for item in approved_call["capital_call"]["items"]} == {
        "LP-1": "12000000.00",
        "GZ-TT": "4000000.00",
    }
    too_much = client.post(
        f"/v1/capital-calls/{call['id']}/payments",
        headers=_key(gp, "pay-too-much"),
        json={"investor_code": "LP-1", "amount": "12000000.01", "paid_on": "2026-02-20"},
    )
    assert too_much.status_code == 409 and too_much.json()["code"] == "payment_exceeds_call"
    for investor, amount in (("LP-1", "12000000.00"), ("GZ-TT", "4000000.00")):
        paid = client.post(
            f"/v1/capital-calls/{call['id']}/payments",
            headers=_key(gp, f"pay-{investor}"),
            json={"investor_code": investor, "amount": amount, "paid_on": "2026-02-20"},
        )
        assert paid.status_code == 201 and paid.json()["still_owed"] == "0.00"
    assert client.get(f"/v1/capital-calls/{call['id']}", headers=gp).json()["status"] == "paid"

    investment = {
        "enterprise_code": GZ_BANK,
        "amount": "5000000.00",
        "invested_on": "2026-03-01",
        "stage": "start_up",
        "is_local": True,
        "sector": "新材料",
        "hard_tech": True,
    }
    invested = client.post(f"/v1/sub-funds/{GZ_SUB}/investments", headers=_key(gp, "inv-1"), json=investment)
    assert invested.status_code == 201 and invested.headers["Location"] == f"/v1/investments/{invested.json()['id']}"
    broke = client.post(
        f"/v1/sub-funds/{GZ_SUB}/investments", headers=_key(gp, "inv-2"), json=investment | {"amount": "11000000.01"}
    )
    assert broke.status_code == 409 and broke.json()["code"] == "investment_exceeds_cash"
    exited = client.post(
        f"/v1/investments/{invested.json()['id']}/exits",
        headers=_key(gp, "exit-1"),
        json={"cost": "1000000.00", "proceeds": "2500000.00", "exited_on": "2026-06-01"},
    )
    assert exited.status_code == 201 and exited.json()["cost_left"] == "4000000.00"
    valuation = client.post(
        f"/v1/sub-funds/{GZ_SUB}/valuations", headers=gp, json={"as_of": "2026-12-31", "nav": "20000000.00"}
    )
    assert valuation.status_code == 201
    fee = client.post(f"/v1/sub-funds/{GZ_SUB}/fee-accruals", headers=_key(gp, "fee-1"), json={"through": "2026-12-31"})
    assert fee.status_code == 200 and fee.json()["amount"] == fee.json()["cumulative"] != "0.00"

    distribution = client.post(
        f"/v1/sub-funds/{GZ_SUB}/distributions",
        headers=_key(gp, "dist-1"),
        json={"distributed_on": "2026-12-31", "capital": "1000000.00", "income": "600000.00"},
    ).json()
    paid_out = client.post(
        f"/v1/distributions/{distribution['id']}/approval", headers=_key(people["office_b"], "dist-ok")
    )
    assert paid_out.status_code == 200, paid_out.text
    parts = {p["investor_code"]: (p["capital"], p["income"]) for p in paid_out.json()["distribution"]["parts"]}
    assert parts == {"LP-1": ("750000.00", "450000.00"), "GZ-TT": ("250000.00", "150000.00")}

    metrics = client.get("/v1/reports/fund-metrics", headers=office, params={"as_of": "2026-12-31"}).json()
    by_subject = {row["subject"]: row for row in metrics}
    assert by_subject[GZ_SUB]["paid_in"] == "16000000.00" and by_subject[GZ_SUB]["distributed"] == "1600000.00"
    assert by_subject["GZ-TT"]["kind"] == "guidance_fund" and by_subject["GZ-TT"]["paid_in"] == "4000000.00"
    assert by_subject[GZ_SUB]["dpi"] == "0.1000"
    one = client.get(f"/v1/sub-funds/{GZ_SUB}/metrics", headers=gp, params={"as_of": "2026-12-31"}).json()
    assert one == by_subject[GZ_SUB]
    whole = client.get("/v1/funds/GZ-TT/metrics", headers=office, params={"as_of": "2026-12-31"}).json()
    assert whole == by_subject["GZ-TT"] and whole["leverage"] == "5.0000"
    assert client.get("/v1/funds/GZ-TT/metrics", headers=gp).status_code == 404, "a sub-fund's manager: not the whole"
    navs = client.get(f"/v1/sub-funds/{GZ_SUB}/valuations", headers=people["auditor"]).json()["items"]
    assert [(row["as_of"], row["nav"]) for row in navs] == [("2026-12-31", "20000000.00")]
    rows = list(csv.DictReader(io.StringIO(client.get("/v1/reports/fund-metrics.csv", headers=office).text)))
    assert {row["subject"] for row in rows} == {GZ_SUB, "GZ-TT"}
    sheet = load_workbook(
        io.BytesIO(client.get("/v1/reports/fund-metrics.xlsx", headers=office, params={"as_of": "2026-12-31"}).content)
    ).active
    cells = {row[0]: row for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert cells[GZ_SUB][5] == 16000000.00


def test_scope_404_outside_403_for_actions_the_role_lacks(client, books, people, person):
    gz = seed_funds_and_pools(books, "GZ", "440100", GZ_BANK, GZ_BANK)
    sz = seed_funds_and_pools(books, "SZ", "440300", SZ_BANK, SZ_BANK)
    other = people["sz_gp"]
    for path in (
        f"/v1/sub-funds/{gz['subfund']}",
        f"/v1/commitments/{gz['commitment_id']}",
        f"/v1/capital-calls/{gz['call_id']}",
        f"/v1/investments/{gz['investment_id']}",
        f"/v1/distributions/{gz['distribution_id']}",
        "/v1/funds/GZ-TT",
    ):
        seen = client.get(path, headers=other)
        assert seen.status_code == 404 and seen.json()["code"] == "funds_object_not_found", path
    refused = client.post(f"/v1/distributions/{gz['distribution_id']}/approval", headers=_key(other, "x"))
    assert refused.status_code == 404
    for path in ("/v1/commitments", "/v1/capital-calls", "/v1/investments", "/v1/distributions", "/v1/sub-funds"):
        mine = client.get(path, headers=other).json()["items"]
        assert mine and {row.get("subfund", row.get("code")) for row in mine} == {sz["subfund"]}, path
        theirs = client.get(path, headers=people["gp_a"]).json()["items"]
        assert {row.get("subfund", row.get("code")) for row in theirs} == {gz["subfund"]}, path
    assert client.get("/v1/funds", headers=other).json()["items"] == [], "a sub-fund's manager sees no guidance fund"
    assert [row["code"] for row in client.get("/v1/funds", headers=people["auditor"]).json()["items"]] == ["GZ-TT"]
    write = client.post(
        f"/v1/sub-funds/{gz['subfund']}/valuations", headers=people["auditor"], json={"as_of": "2026-12-31", "nav": "1"}
    )
    assert write.status_code == 403 and write.json()["code"] == "role_forbidden"
    assert client.get("/v1/sub-funds", headers=people["enterprise"]).status_code == 403
    foreign = client.post(
        "/v1/funds", headers=people["office_a"], json={"code": "X", "name": "x", "region_code": "440300"}
    )
    assert foreign.status_code == 403
    guidance_manager = person("gf-manager", "fund_manager", "fund:GZ-TT")
    assert client.get(f"/v1/sub-funds/{gz['subfund']}", headers=guidance_manager).status_code == 200
    assert [row["code"] for row in client.get("/v1/funds", headers=guidance_manager).json()["items"]] == ["GZ-TT"]
    metrics = client.get("/v1/reports/fund-metrics.csv", headers=people["office_a"]).text
    assert "SZ-" not in metrics and GZ_SUB in metrics


def test_idempotent_replay_other_body_missing_key_and_named_actor(client, engine, books, people):
    gz = seed_funds_and_pools(books, "GZ", "440100", GZ_BANK, GZ_BANK)
    gp = people["gp_a"]
    body = {"investor_code": "LP-9", "amount": "1000000.00", "committed_on": "2026-03-01"}
    path = f"/v1/sub-funds/{gz['subfund']}/commitments"
    first = client.post(path, headers=_key(gp, "same"), json=body)
    replay = client.post(path, headers=_key(gp, "same"), json=body)
    assert first.status_code == replay.status_code == 201 and replay.json() == first.json()
    assert replay.headers["Idempotency-Replayed"] == "true" and "Idempotency-Replayed" not in first.headers
    other = client.post(path, headers=_key(gp, "same"), json=body | {"amount": "2000000.00"})
    assert other.status_code == 409 and other.json()["code"] == "exists_with_different_content"
    another_client = client.post(path, headers=_key(people["gp_b"], "same"), json=body | {"amount": "2000000.00"})
    assert another_client.status_code == 201, "a key is the client's own: another client's equal key is another call"
    missing = client.post(path, headers=gp, json=body)
    assert missing.status_code == 422 and missing.json()["code"] == "idempotency_key_required"
    named = client.post(path, headers=_key(gp, "named"), json=body | {"actor": "someone-else"})
    assert named.status_code == 422 and named.json()["errors"][0]["code"] == "body_names_actor"
    floating = client.post(path, headers=_key(gp, "float"), json=body | {"amount": 1000000.0})
    assert floating.status_code == 422 and floating.json()["errors"][0]["pointer"] == "/amount"
    listed = client.get("/v1/commitments", headers=gp, params={"status": "submitted", "limit": 1})
    assert len(listed.json()["items"]) == 1 and listed.json()["next_cursor"]
    second = client.get(
        "/v1/commitments",
        headers=gp,
        params={"status": "submitted", "limit": 1, "cursor": listed.json()["next_cursor"]},
    )
    assert second.json()["items"][0]["id"] != listed.json()["items"][0]["id"]
    assert all(row["status"] == "submitted" for row in second.json()["items"]), "the filter survives paging"


def test_dry_run_reports_and_writes_nothing(client, engine, books, people):
    gz = seed_funds_and_pools(books, "GZ", "440100", GZ_BANK, GZ_BANK)
    gp = people["gp_a"]
    before = (_transactions(engine), _investments(engine), books.account("sf:GZ-ANGEL-1", "Assets:Bank").balance_fen)
    investment = {
        "enterprise_code": GZ_BANK,
        "amount": "2000000.00",
        "invested_on": "2026-04-01",
        "stage": "seed",
        "is_local": False,
        "sector": "生物医药",
        "hard_tech": True,
    }
    dry = client.post(
        f"/v1/sub-funds/{gz['subfund']}/investments?dry_run=true", headers=_key(gp, "dry-inv"), json=investment
    )
    assert dry.status_code == 200 and dry.json()["dry_run"] is True
    assert dry.json()["result"]["amount"] == "2000000.00" and dry.json()["room_left"] == "9000000.00"
    approval = client.post(
        f"/v1/distributions/{gz['distribution_id']}/approval?dry_run=true", headers=_key(people["gp_b"], "dry-dist")
    )
    assert approval.status_code == 200 and approval.json()["result"]["distribution"]["status"] == "approved"
    assert before == (
        _transactions(engine),
        _investments(engine),
        books.account("sf:GZ-ANGEL-1", "Assets:Bank").balance_fen,
    ), "a dry run wrote nothing"
    real = client.post(f"/v1/sub-funds/{gz['subfund']}/investments", headers=_key(gp, "dry-inv"), json=investment)
    assert real.status_code == 201 and "Idempotency-Replayed" not in real.headers, "a dry run keeps no key"
    refused = client.post(
        f"/v1/sub-funds/{gz['subfund']}/investments?dry_run=true",
        headers=_key(gp, "dry-big"),
        json=investment | {"amount": "9000000.01"},
    )
    assert refused.status_code == 409 and refused.json()["code"] == "investment_exceeds_cash"


def test_appropriations_and_remittances_need_two_people(client, books, people, person):
    seed_funds_and_pools(books, "GZ", "440100", GZ_BANK, GZ_BANK)
    filer, approver = people["office_a"], people["office_b"]
    bank = lambda: books.account("gf:GZ-TT", "Assets:Bank").balance_fen  # noqa: E731
    assert bank() == 600_000_000
    body = {"amount": "5000000.00", "on": "2026-04-01", "approval_doc": "穗财科〔2026〕7号"}
    filed = client.post("/v1/funds/GZ-TT/appropriations", headers=_key(filer, "ap-2"), json=body)
    assert (
        filed.status_code == 201
        and filed.json()["status"] == "submitted"
        and filed.json()["kind"] == "gf_appropriation"
    )
    request_id = filed.json()["id"]
    assert filed.headers["Location"] == f"/v1/cash-requests/{request_id}"
    replay = client.post("/v1/funds/GZ-TT/appropriations", headers=_key(filer, "ap-2"), json=body)
    assert replay.json()["id"] == request_id and replay.headers["Idempotency-Replayed"] == "true"
    other = client.post("/v1/funds/GZ-TT/appropriations", headers=_key(filer, "ap-2"), json=body | {"amount": "1.00"})
    assert other.status_code == 409 and other.json()["code"] == "exists_with_different_content"
    own = client.post(f"/v1/cash-requests/{request_id}/approval", headers=_key(filer, "self"))
    assert own.status_code == 409 and own.json()["code"] == "approver_must_differ_from_recorder"
    dry = client.post(f"/v1/cash-requests/{request_id}/approval?dry_run=true", headers=_key(approver, "dry"))
    assert dry.status_code == 200 and dry.json()["room_left"] == "11000000.00" and bank() == 600_000_000
    approved = client.post(f"/v1/cash-requests/{request_id}/approval", headers=_key(approver, "go"))
    assert approved.status_code == 200 and approved.json()["status"] == "approved" and bank() == 1_100_000_000
    assert approved.json()["approved_by"] == "key:office-b" and approved.json()["result"]["transaction_id"] > 0
    again = client.post(f"/v1/cash-requests/{request_id}/approval", headers=_key(approver, "go-again"))
    assert again.headers["Idempotency-Replayed"] == "true" and bank() == 1_100_000_000

    too_much = client.post(
        "/v1/funds/GZ-TT/remittances", headers=_key(filer, "rem-1"), json={"amount": "11000000.01", "on": "2026-12-31"}
    ).json()
    refused = client.post(f"/v1/cash-requests/{too_much['id']}/approval", headers=_key(approver, "rem-go"))
    assert refused.status_code == 409 and refused.json()["code"] == "distribution_exceeds_cash"
    assert client.get(f"/v1/cash-requests/{too_much['id']}", headers=filer).json()["status"] == "submitted"
    rejected = client.post(
        f"/v1/cash-requests/{too_much['id']}/rejection", headers=approver, json={"reason": "超出余额"}
    )
    assert rejected.json()["status"] == "rejected" and bank() == 1_100_000_000

    shenzhen = person("sz-office", "finance_office", "region:440300")
    assert client.get(f"/v1/cash-requests/{request_id}", headers=shenzhen).status_code == 404
    assert client.get("/v1/cash-requests", headers=shenzhen).json()["items"] == []
    listed = client.get("/v1/cash-requests", headers=people["auditor"], params={"status": "approved"}).json()
    assert [row["id"] for row in listed["items"]] == [request_id]
    assert client.get("/v1/cash-requests", headers=people["gp_a"]).status_code == 403
    assert (
        client.post("/v1/funds/GZ-TT/appropriations", headers=_key(people["gp_a"], "x"), json=body).status_code == 403
    )


def test_two_identical_requests_at_once_make_one_investment(client, engine, books, people):
    """The second of two racing requests with one key waits for the first: it is refused as in flight
    (PostgreSQL: the key's unique index) or replays the first (SQLite serializes writers); never twice."""
    import threading

    gz = seed_funds_and_pools(books, "GZ", "440100", GZ_BANK, GZ_BANK)
    body = {
        "enterprise_code": GZ_BANK,
        "amount": "1000000.00",
        "invested_on": "2026-04-01",
        "stage": "growth",
        "is_local": True,
        "sector": "集成电路",
        "hard_tech": True,
    }
    before = _investments(engine)
    start = threading.Barrier(2)
    answers = []

    def send() -> None:
        start.wait()
        answers.append(
            client.post(f"/v1/sub-funds/{gz['subfund']}/investments", headers=_key(people["gp_a"], "race"), json=body)
        )

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    outcomes = sorted((answer.status_code, answer.headers.get("Idempotency-Replayed", "")) for answer in answers)
    assert outcomes in ([(201, ""), (201, "true")], [(201, ""), (409, "")]), outcomes
    if outcomes[1][0] == 409:
        assert next(a for a in answers if a.status_code == 409).json()["code"] == "request_in_flight"
    assert _investments(engine) == before + 1
