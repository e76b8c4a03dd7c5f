"""Voucher routes over HTTP (both backends): grants through the approvals queue, reservations, a provider's
claim verified by a second person, cancellations, expiry, payment batches, settlements with statements, the
usage report; keys, replays, dry runs, scope (a cross-region redemption is seen by both regions)."""

from __future__ import annotations

import csv
import io

import pytest

from api import auth
from ledger.engine import Ledger
from tests.vouchers.conftest import HANGZHOU, SHANGHAI, SUZHOU, balances, build_scheme

PROGRAM = f"P{SHANGHAI}-2026"


@pytest.fixture
def scheme(engine):
    return build_scheme(Ledger(engine), regions=(SHANGHAI, SUZHOU))


@pytest.fixture
def app(reused_app):
    return reused_app


@pytest.fixture
def person(engine):
    """Headers of a key with a name of its own (maker-checker is per person)."""

    def make(name: str, role: str, *scopes: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {auth.create_key(engine, name, role, list(scopes)).key}"}

    return make


@pytest.fixture
def offices(person):
    return {
        "clerk": person("sh-clerk", "finance_office", f"region:{SHANGHAI}"),
        "director": person("sh-director", "finance_office", f"region:{SHANGHAI}"),
        "suzhou": person("sz-office", "finance_office", f"region:{SUZHOU}"),
        "hangzhou": person("hz-office", "finance_office", f"region:{HANGZHOU}"),
    }


def keyed(headers: dict, key: str) -> dict:
    return headers | {"Idempotency-Key": key}


def grant_body(scheme, amount: str = "60000.00") -> dict:
    return {"program": PROGRAM, "enterprise": scheme.enterprises[SHANGHAI], "amount": amount, "on": "2026-02-02"}


def approve(client, headers, item: str, key: str, doc: str = "沪科券〔2026〕3号", on: str = "2026-02-03", query=""):
    return client.post(
        f"/v1/approvals/{item}/approve{query}", headers=keyed(headers, key), json={"approval_doc": doc, "on": on}
    )


def granted(client, scheme, offices, amount: str = "60000.00") -> int:
    created = client.post(
        "/v1/vouchers", headers=keyed(offices["clerk"], f"grant-{amount}"), json=grant_body(scheme, amount)
    )
    assert created.status_code == 201, created.text
    grant_id = created.json()["id"]
    assert approve(client, offices["director"], f"voucher_grant:{grant_id}", f"ok-{grant_id}").status_code == 200
    return grant_id


def reservation_body(scheme, provider_region: str = SUZHOU, contract: str = "C-2026-1") -> dict:
    return {
        "program": PROGRAM,
        "enterprise": scheme.enterprises[SHANGHAI],
        "provider": scheme.providers[provider_region],
        "category": "testing",
        "contract_no": contract,
        "contract_amount": "40000.00",
        "on": "2026-03-01",
    }


def test_grant_is_submitted_then_approved_by_a_second_person(client, scheme, offices):
    created = client.post("/v1/vouchers", headers=keyed(offices["clerk"], "g1"), json=grant_body(scheme))
    assert created.status_code == 201
    grant = created.json()
    assert created.headers["Location"] == f"/v1/vouchers/{grant['id']}"
    assert (grant["status"], grant["requested"], grant["granted"]) == ("submitted", "60000.00", None)
    own = approve(client, offices["clerk"], f"voucher_grant:{grant['id']}", "self")
    assert own.status_code == 409 and own.json()["code"] == "approver_must_differ_from_maker"
    decided = approve(client, offices["director"], f"voucher_grant:{grant['id']}", "a1")
    assert decided.status_code == 200, decided.text
    assert decided.json()["result"]["granted"] == "60000.00"
    shown = client.get(f"/v1/vouchers/{grant['id']}", headers=offices["clerk"]).json()
    assert (shown["status"], shown["checker"], shown["maker"]) == ("approved", "key:sh-director", "key:sh-clerk")
    positions = client.get(
        f"/v1/enterprises/{scheme.enterprises[SHANGHAI]}/voucher-positions", headers=offices["clerk"]
    )
    assert positions.json()[0]["available"] == "60000.00"


def test_a_replay_returns_the_first_response_and_another_body_is_refused(client, scheme, offices):
    first = client.post("/v1/vouchers", headers=keyed(offices["clerk"], "same"), json=grant_body(scheme))
    again = client.post("/v1/vouchers", headers=keyed(offices["clerk"], "same"), json=grant_body(scheme))
    assert again.status_code == 201 and again.headers["Idempotency-Replayed"] == "true"
    assert again.json() == first.json() and again.headers["Location"] == first.headers["Location"]
    other = client.post("/v1/vouchers", headers=keyed(offices["clerk"], "same"), json=grant_body(scheme, "1.00"))
    assert other.status_code == 409 and other.json()["code"] == "exists_with_different_content"
    listed = client.get("/v1/vouchers", headers=offices["clerk"]).json()["items"]
    assert [item["id"] for item in listed] == [first.json()["id"]]


def test_writes_need_a_key_and_never_name_the_actor(client, scheme, offices):
    missing = client.post("/v1/vouchers", headers=offices["clerk"], json=grant_body(scheme))
    assert missing.status_code == 422 and missing.json()["code"] == "idempotency_key_required"
    named = client.post("/v1/vouchers", headers=keyed(offices["clerk"], "x"), json=grant_body(scheme) | {"maker": "me"})
    assert named.status_code == 422 and named.json()["code"] == "body_names_actor"
    floated = client.post(
        "/v1/vouchers", headers=keyed(offices["clerk"], "y"), json=grant_body(scheme) | {"amount": 5.5}
    )
    assert floated.status_code == 422
    assert client.get("/v1/vouchers", headers=offices["clerk"]).json()["items"] == []


def test_dry_run_tells_the_binding_cap_and_writes_nothing(client, scheme, offices):
    before = balances(scheme.ledger)
    fits = client.post("/v1/vouchers?dry_run=true", headers=keyed(offices["clerk"], "d1"), json=grant_body(scheme))
    assert fits.status_code == 200 and fits.json()["code"] == "ok" and fits.json()["result"]["status"] == "submitted"
    # a request that fits names the tighter limit and what approving it in full would leave under it
    assert (fits.json()["binding_cap"], fits.json()["room_left"]) == ("grant_within_enterprise_annual_cap", "40000.00")
    beyond = client.post(
        "/v1/vouchers?dry_run=true", headers=keyed(offices["clerk"], "d2"), json=grant_body(scheme, "150000.00")
    )
    body = beyond.json()
    assert (body["code"], body["binding_cap"], body["room_left"]) == (
        "grant_within_enterprise_annual_cap",
        "grant_within_enterprise_annual_cap",
        "100000.00",
    )
    assert client.get("/v1/vouchers", headers=offices["clerk"]).json()["items"] == []
    assert balances(scheme.ledger) == before
    # the key of a dry run stays free: the real call under it is recorded
    real = client.post("/v1/vouchers", headers=keyed(offices["clerk"], "d1"), json=grant_body(scheme))
    assert real.status_code == 201 and "Idempotency-Replayed" not in real.headers


def test_an_enterprise_sees_only_its_own_grants(client, scheme, offices, person):
    grant_id = granted(client, scheme, offices)
    own = person("sh-firm", "enterprise", f"institution:{scheme.enterprises[SHANGHAI]}")
    other = person("sz-firm", "enterprise", f"institution:{scheme.enterprises[SUZHOU]}")
    assert client.get(f"/v1/vouchers/{grant_id}", headers=own).status_code == 200
    hidden = client.get(f"/v1/vouchers/{grant_id}", headers=other)
    assert hidden.status_code == 404 and hidden.json()["code"] == "grant_not_found"
    assert client.get("/v1/vouchers", headers=other).json()["items"] == []
    for_another = client.post("/v1/vouchers", headers=keyed(other, "steal"), json=grant_body(scheme))
    assert for_another.status_code == 404
    assert client.get("/v1/vouchers", headers=offices["hangzhou"]).json()["items"] == []
    assert client.get(f"/v1/voucher-programs/{PROGRAM}", headers=offices["hangzhou"]).status_code == 404


def test_a_cross_region_redemption_is_claimed_verified_and_seen_by_both_regions(client, scheme, offices, person):
    granted(client, scheme, offices)
    firm = person("sh-firm", "enterprise", f"institution:{scheme.enterprises[SHANGHAI]}")
    provider = person("sz-lab", "service_provider", f"institution:{scheme.providers[SUZHOU]}")
    reserved = client.post("/v1/redemptions", headers=keyed(firm, "r1"), json=reservation_body(scheme))
    assert reserved.status_code == 201, reserved.text
    redemption = reserved.json()
    assert (redemption["mode"], redemption["reserved"]) == ("tongdui", "20000.00")
    filed = client.post(
        f"/v1/redemptions/{redemption['id']}/claim",
        headers=keyed(provider, "c1"),
        json={"invoice_no": "INV-1", "invoiced_amount": "40000.00", "on": "2026-04-01"},
    )
    assert filed.status_code == 201, filed.text
    item = filed.json()["approval"]
    for office in ("clerk", "suzhou"):
        queue = client.get("/v1/approvals", headers=offices[office]).json()["items"]
        assert item in [entry["id"] for entry in queue]
    assert client.get("/v1/approvals", headers=offices["hangzhou"]).json()["items"] == []
    verified = approve(client, offices["clerk"], item, "v1", doc="INV-1", on="2026-04-02")
    assert verified.status_code == 200 and verified.json()["result"]["claimed"] == "20000.00"
    for headers in (offices["clerk"], offices["suzhou"], firm, provider):
        shown = client.get(f"/v1/redemptions/{redemption['id']}", headers=headers)
        assert shown.status_code == 200 and shown.json()["status"] == "claimed"
        assert [r["id"] for r in client.get("/v1/redemptions", headers=headers).json()["items"]] == [redemption["id"]]
    assert client.get(f"/v1/redemptions/{redemption['id']}", headers=offices["hangzhou"]).status_code == 404
    assert client.get("/v1/redemptions", headers=offices["hangzhou"]).json()["items"] == []
    usage = client.get("/v1/reports/voucher-usage", headers=offices["suzhou"]).json()
    assert usage["flows"] == [
        {
            "enterprise_region": SHANGHAI,
            "provider_region": SUZHOU,
            "mode": "tongdui",
            "redemptions": 1,
            "claimed": "20000.00",
            "enterprise_share": "13333.33",
            "provider_share": "6666.67",
        }
    ]
    assert [(row["region"], row["cross_region_in"]) for row in usage["regions"]] == [(SUZHOU, "20000.00")]
    home = client.get("/v1/reports/voucher-usage", headers=offices["clerk"]).json()["regions"]
    assert [(row["region"], row["cross_region_out"], row["local"]) for row in home] == [(SHANGHAI, "20000.00", "0.00")]
    assert client.get("/v1/reports/voucher-usage", headers=offices["hangzhou"]).json() == {
        "year": None,
        "regions": [],
        "flows": [],
    }
    rows = list(csv.reader(io.StringIO(client.get("/v1/reports/voucher-usage.csv", headers=offices["clerk"]).text)))
    assert rows[1][:3] == [SHANGHAI, "1", "20000.00"]
    sheet = client.get("/v1/reports/voucher-usage.xlsx", headers=offices["clerk"])
    assert sheet.status_code == 200 and sheet.content[:2] == b"PK"


def test_a_provider_claims_only_its_own_redemptions_and_once(client, scheme, offices, person):
    granted(client, scheme, offices)
    firm = person("sh-firm", "enterprise", f"institution:{scheme.enterprises[SHANGHAI]}")
    redemption_id = client.post("/v1/redemptions", headers=keyed(firm, "r1"), json=reservation_body(scheme)).json()[
        "id"
    ]
    stranger = person("sh-lab", "service_provider", f"institution:{scheme.providers[SHANGHAI]}")
    claim = {"invoice_no": "INV-9", "invoiced_amount": "40000.00", "on": "2026-04-01"}
    refused = client.post(f"/v1/redemptions/{redemption_id}/claim", headers=keyed(stranger, "c"), json=claim)
    assert refused.status_code == 404
    provider = person("sz-lab", "service_provider", f"institution:{scheme.providers[SUZHOU]}")
    assert (
        client.post(f"/v1/redemptions/{redemption_id}/claim", headers=keyed(provider, "c1"), json=claim).status_code
        == 201
    )
    twice = client.post(f"/v1/redemptions/{redemption_id}/claim", headers=keyed(provider, "c2"), json=claim)
    assert twice.status_code == 409 and twice.json()["code"] == "redemption_claimed_once"
    assert client.post("/v1/vouchers", headers=keyed(provider, "g"), json=grant_body(scheme)).status_code == 403


def test_cancellation_voids_the_reservation(client, scheme, offices, person):
    granted(client, scheme, offices)
    firm = person("sh-firm", "enterprise", f"institution:{scheme.enterprises[SHANGHAI]}")
    redemption_id = client.post("/v1/redemptions", headers=keyed(firm, "r1"), json=reservation_body(scheme)).json()[
        "id"
    ]
    body = {"reason": "contract withdrawn", "on": "2026-03-05"}
    providers_office = client.post(
        f"/v1/redemptions/{redemption_id}/cancel", headers=keyed(offices["suzhou"], "s"), json=body
    )
    assert providers_office.status_code == 403  # it sees the cross-region redemption; the issuing region cancels
    dry = client.post(f"/v1/redemptions/{redemption_id}/cancel?dry_run=true", headers=keyed(firm, "x1"), json=body)
    assert dry.json()["result"]["status"] == "cancelled"
    assert client.get(f"/v1/redemptions/{redemption_id}", headers=firm).json()["status"] == "reserved"
    done = client.post(f"/v1/redemptions/{redemption_id}/cancel", headers=keyed(firm, "x1"), json=body)
    assert done.status_code == 200 and done.json()["status"] == "cancelled"
    again = client.post(f"/v1/redemptions/{redemption_id}/cancel", headers=keyed(firm, "x2"), json=body)
    assert again.status_code == 200  # the service's own retry: the stored outcome, nothing posted
    positions = client.get(f"/v1/enterprises/{scheme.enterprises[SHANGHAI]}/voucher-positions", headers=firm).json()
    assert (positions[0]["reserved"], positions[0]["available"]) == ("0.00", "60000.00")


def test_expiry_returns_unused_quota_after_use_by(client, scheme, offices):
    granted(client, scheme, offices)
    early = client.post(
        f"/v1/voucher-programs/{PROGRAM}/expiry", headers=keyed(offices["clerk"], "e0"), json={"as_of": "2026-05-01"}
    )
    assert early.status_code == 201 and early.json()["quotas_returned"] == 0
    late = client.post(
        f"/v1/voucher-programs/{PROGRAM}/expiry", headers=keyed(offices["clerk"], "e1"), json={"as_of": "2026-07-01"}
    )
    assert late.json() == {"program": PROGRAM, "reservations_voided": 0, "quotas_returned": 1, "returned": "60000.00"}
    outside = client.post(
        f"/v1/voucher-programs/{PROGRAM}/expiry", headers=keyed(offices["suzhou"], "e2"), json={"as_of": "2026-07-01"}
    )
    assert outside.status_code == 404


def test_payment_batch_is_prepared_then_paid_by_a_second_person_and_settlement_statements_agree(
    client, scheme, offices, person
):
    granted(client, scheme, offices)
    firm = person("sh-firm", "enterprise", f"institution:{scheme.enterprises[SHANGHAI]}")
    provider = person("sz-lab", "service_provider", f"institution:{scheme.providers[SUZHOU]}")
    redemption_id = client.post("/v1/redemptions", headers=keyed(firm, "r1"), json=reservation_body(scheme)).json()[
        "id"
    ]
    item = client.post(
        f"/v1/redemptions/{redemption_id}/claim",
        headers=keyed(provider, "c1"),
        json={"invoice_no": "INV-1", "invoiced_amount": "40000.00", "on": "2026-04-01"},
    ).json()["approval"]
    assert approve(client, offices["clerk"], item, "v1", on="2026-04-02").status_code == 200
    sz_clerk = person("sz-clerk", "finance_office", f"region:{SUZHOU}")
    batch = client.post(
        "/v1/payment-batches",
        headers=keyed(sz_clerk, "b1"),
        json={"region": SUZHOU, "period_label": "2026-Q2", "on": "2026-07-02"},
    )
    assert batch.status_code == 201, batch.text
    assert (batch.json()["status"], batch.json()["total"]) == ("prepared", "20000.00")
    assert client.get(f"/v1/payment-batches/{batch.json()['id']}", headers=offices["clerk"]).status_code == 404
    paid = approve(client, offices["suzhou"], f"voucher_payment_batch:{batch.json()['id']}", "p1", on="2026-07-03")
    assert paid.status_code == 200 and paid.json()["result"]["status"] == "paid"
    payments = client.get(f"/v1/providers/{scheme.providers[SUZHOU]}/payments", headers=provider).json()["items"]
    assert [(p["redemption_id"], p["payment_status"], p["claimed"]) for p in payments] == [
        (redemption_id, "paid", "20000.00")
    ]
    assert (
        client.get(f"/v1/providers/{scheme.providers[SUZHOU]}/payments", headers=offices["hangzhou"]).status_code == 404
    )
    filed = client.post(
        "/v1/settlements",
        headers=keyed(offices["clerk"], "s1"),
        json={
            "region_a": SHANGHAI,
            "region_b": SUZHOU,
            "period_label": "2026-Q2",
            "period_start": "2026-04-01",
            "period_end": "2026-06-30",
            "on": "2026-07-05",
        },
    )
    assert filed.status_code == 201
    own = approve(client, offices["clerk"], filed.json()["approval"], "s-self", on="2026-07-05")
    assert own.status_code == 409 and own.json()["code"] == "approver_must_differ_from_maker"
    settled = approve(client, offices["suzhou"], filed.json()["approval"], "s2", on="2026-07-05")
    assert settled.status_code == 200, settled.text
    settlement_id = settled.json()["result"]["settlement_id"]
    low = client.get(f"/v1/settlements/{settlement_id}/statement?region={SHANGHAI}", headers=offices["clerk"]).json()
    high = client.get(f"/v1/settlements/{settlement_id}/statement?region={SUZHOU}", headers=offices["suzhou"]).json()
    assert (low["payable"], high["receivable"], low["unsettled"], high["unsettled"]) == (
        "13333.33",
        "13333.33",
        "0.00",
        "0.00",
    )
    assert client.get(f"/v1/settlements/{settlement_id}", headers=offices["hangzhou"]).status_code == 404
    assert (
        client.get(f"/v1/settlements/{settlement_id}/statement?region={SUZHOU}", headers=offices["clerk"]).status_code
        == 404
    )


def test_a_program_recorded_by_one_office_member_is_created_when_another_approves(client, scheme, offices):
    body = {
        "code": "sh-extra-2026",
        "name": "上海 extra 创新券",
        "region": SHANGHAI,
        "year": 2026,
        "budget": "200000.00",
        "enterprise_annual_cap": "50000.00",
        "per_application": "20000.00",
        "copay_ratio": "50%",
        "categories": ["testing"],
        "use_by": "2026-06-30",
        "redeem_by": "2026-09-30",
    }
    outside = client.post("/v1/voucher-programs", headers=keyed(offices["suzhou"], "p0"), json=body)
    assert outside.status_code == 403
    bad = client.post(
        "/v1/voucher-programs", headers=keyed(offices["clerk"], "p1"), json=body | {"redeem_by": "2026-01-01"}
    )
    assert bad.status_code == 409 and bad.json()["code"] == "program_config_invalid"
    filed = client.post("/v1/voucher-programs", headers=keyed(offices["clerk"], "p2"), json=body)
    assert filed.status_code == 201, filed.text
    item = filed.json()["approval"]
    assert client.get("/v1/voucher-programs/sh-extra-2026", headers=offices["clerk"]).status_code == 404
    own = approve(client, offices["clerk"], item, "self")
    assert own.status_code == 409 and own.json()["code"] == "approver_must_differ_from_maker"
    before = balances(scheme.ledger)
    dry = approve(client, offices["director"], item, "dry", doc="沪科〔2026〕9号", query="?dry_run=true").json()
    assert (dry["code"], dry["result"]["result"]["budget"]) == ("ok", "200000.00")
    assert balances(scheme.ledger) == before
    created = approve(client, offices["director"], item, "real", doc="沪科〔2026〕9号")
    assert created.status_code == 200, created.text
    program = client.get("/v1/voucher-programs/sh-extra-2026", headers=offices["clerk"]).json()
    assert (program["budget"], program["region"]) == ("200000.00", SHANGHAI)
    assert item not in [entry["id"] for entry in client.get("/v1/approvals", headers=offices["clerk"]).json()["items"]]


def test_list_filters_survive_paging_and_a_changed_filter_is_refused(client, scheme, offices):
    ids = []
    for number in range(3):
        body = grant_body(scheme, f"{number + 1}000.00")
        ids.append(client.post("/v1/vouchers", headers=keyed(offices["clerk"], f"k{number}"), json=body).json()["id"])
    url = f"/v1/vouchers?status=submitted&program={PROGRAM}&limit=2"
    first = client.get(url, headers=offices["clerk"]).json()
    second = client.get(f"{url}&cursor={first['next_cursor']}", headers=offices["clerk"]).json()
    assert [g["id"] for g in first["items"] + second["items"]] == ids and second["next_cursor"] is None
    changed = client.get(
        f"/v1/vouchers?status=approved&limit=2&cursor={first['next_cursor']}", headers=offices["clerk"]
    )
    assert changed.status_code == 422 and changed.json()["code"] == "cursor_invalid"
    too_many = client.get("/v1/vouchers?limit=501", headers=offices["clerk"])
    assert too_many.status_code == 422 and too_many.json()["code"] == "limit_too_large"


def test_a_tongyong_enterprise_is_reimbursed_when_a_second_person_approves(client, scheme, offices, person):
    granted(client, scheme, offices)
    firm = person("sh-firm", "enterprise", f"institution:{scheme.enterprises[SHANGHAI]}")
    provider = person("sz-lab", "service_provider", f"institution:{scheme.providers[SUZHOU]}")
    body = reservation_body(scheme) | {"mode": "tongyong"}
    redemption_id = client.post("/v1/redemptions", headers=keyed(firm, "r1"), json=body).json()["id"]
    reimburse = {"on": "2026-04-10", "approval_doc": "沪科券〔2026〕20号"}
    early = client.post(
        f"/v1/redemptions/{redemption_id}/reimbursement", headers=keyed(offices["clerk"], "e"), json=reimburse
    )
    assert early.status_code == 409 and early.json()["code"] == "reimbursement_must_be_a_claimed_tongyong_redemption"
    claim = {"invoice_no": "INV-T", "invoiced_amount": "40000.00", "on": "2026-04-01"}
    item = client.post(f"/v1/redemptions/{redemption_id}/claim", headers=keyed(provider, "c"), json=claim).json()
    assert approve(client, offices["clerk"], item["approval"], "v", on="2026-04-02").status_code == 200
    filed = client.post(
        f"/v1/redemptions/{redemption_id}/reimbursement", headers=keyed(offices["clerk"], "f"), json=reimburse
    )
    assert filed.status_code == 201
    queued = client.get(f"/v1/approvals/{filed.json()['approval']}", headers=offices["director"]).json()
    assert (queued["amount"], queued["institution"]) == ("20000.00", scheme.enterprises[SHANGHAI])
    own = approve(client, offices["clerk"], filed.json()["approval"], "self", on="2026-04-10")
    assert own.status_code == 409 and own.json()["code"] == "approver_must_differ_from_maker"
    paid = approve(client, offices["director"], filed.json()["approval"], "ok", on="2026-04-10")
    assert paid.status_code == 200 and paid.json()["result"]["reimbursed_on"] == "2026-04-10"
