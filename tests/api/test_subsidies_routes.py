"""Subsidy routes over HTTP (both backends): a program installed from its configuration, applications decided
in the approvals queue against the caps (clip / stop / warn), payments, clawbacks, year-end, and the
institution-year report as JSON, CSV and .xlsx; keys, replays, dry runs, scope (Shenzhen sees nothing of
Guangzhou's; an enterprise only its own)."""

from __future__ import annotations

import csv
import io

import pytest

from api import auth
from ledger.engine import Ledger
from tests.subsidies.conftest import cap, credit_code, program_text

GUANGZHOU, SHENZHEN = "440100", "440300"
PROGRAM = "gz-api-test"
FIRM, OTHER_FIRM = credit_code(1), credit_code(2)


@pytest.fixture
def app(reused_app):
    return reused_app


@pytest.fixture
def person(engine):
    def make(name: str, role: str, *scopes: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {auth.create_key(engine, name, role, list(scopes)).key}"}

    return make


@pytest.fixture
def people(engine, person):
    ledger = Ledger(engine)
    for code, name in ((FIRM, "广州某研究院"), (OTHER_FIRM, "广州另一研究院")):
        ledger.register_institution(code, name, "research_institute", region_code=GUANGZHOU)
    return {
        "clerk": person("gz-clerk", "finance_office", f"region:{GUANGZHOU}"),
        "director": person("gz-director", "finance_office", f"region:{GUANGZHOU}"),
        "shenzhen": person("sz-office", "finance_office", f"region:{SHENZHEN}"),
        "auditor": person("gz-auditor", "auditor", f"region:{GUANGZHOU}"),
        "firm": person("gz-firm", "enterprise", f"institution:{FIRM}"),
        "other_firm": person("gz-other", "enterprise", f"institution:{OTHER_FIRM}"),
    }


def keyed(headers: dict, key: str) -> dict:
    return headers | {"Idempotency-Key": key}


def install(client, people, enforcement: str = "clip") -> dict:
    text = program_text(PROGRAM, caps=cap("institution_year", "50万", enforcement))
    response = client.post("/v1/subsidy-programs", headers=keyed(people["clerk"], "install"), json={"config": text})
    assert response.status_code == 201, response.text
    return response.json()


def apply(client, headers, claim: str = "800000.00", key: str = "app-1", institution: str = FIRM):
    body = {"institution": institution, "year": 2019, "base_figures": {"claim": claim}}
    return client.post(f"/v1/subsidy-programs/{PROGRAM}/applications", headers=keyed(headers, key), json=body)


def approve(client, headers, item: str, key: str, query: str = ""):
    body = {"approval_doc": "穗科〔2019〕7号", "on": "2019-03-01"}
    return client.post(f"/v1/approvals/{item}/approve{query}", headers=keyed(headers, key), json=body)


def granted(client, people, claim: str = "800000.00") -> int:
    install(client, people)
    application = apply(client, people["firm"], claim).json()
    decided = approve(client, people["director"], f"subsidy_application:{application['id']}", "ok")
    assert decided.status_code == 200, decided.text
    return decided.json()["result"]["grant_id"]


def test_an_office_installs_a_program_only_in_its_region(client, people):
    program = install(client, people)
    assert (program["code"], program["region"], program["caps"][0]["limit"]) == (PROGRAM, GUANGZHOU, "500000.00")
    replay = client.post(
        "/v1/subsidy-programs",
        headers=keyed(people["clerk"], "install"),
        json={"config": program_text(PROGRAM, caps=cap("institution_year", "50万", "clip"))},
    )
    assert replay.status_code == 201 and replay.headers["Idempotency-Replayed"] == "true"
    outside = client.post(
        "/v1/subsidy-programs",
        headers=keyed(people["shenzhen"], "sz"),
        json={"config": program_text("gz-other")},
    )
    assert outside.status_code == 403
    bad = client.post("/v1/subsidy-programs", headers=keyed(people["clerk"], "bad"), json={"config": "code = 1"})
    assert bad.status_code == 422 or bad.json()["code"] == "program_config_invalid"
    assert [p["code"] for p in client.get("/v1/subsidy-programs", headers=people["firm"]).json()["items"]] == [PROGRAM]
    assert client.get("/v1/subsidy-programs", headers=people["shenzhen"]).json()["items"] == []
    assert client.get(f"/v1/subsidy-programs/{PROGRAM}", headers=people["shenzhen"]).status_code == 404


def test_an_approval_clips_at_the_institution_year_cap_and_a_dry_run_says_so(client, people):
    install(client, people)
    application = apply(client, people["firm"])
    assert application.status_code == 201 and application.json()["status"] == "submitted"
    item = f"subsidy_application:{application.json()['id']}"
    dry = approve(client, people["director"], item, "dry", "?dry_run=true").json()
    assert (dry["code"], dry["binding_cap"], dry["room_left"]) == ("ok", "institution_year", "0.00")
    assert dry["result"]["result"]["granted"] == "500000.00"
    assert item in [entry["id"] for entry in client.get("/v1/approvals", headers=people["clerk"]).json()["items"]]
    assert client.get("/v1/grants", headers=people["clerk"]).json()["items"] == []
    decided = approve(client, people["director"], item, "real")
    assert decided.json()["result"]["granted"] == "500000.00"
    grant = client.get(f"/v1/grants/{decided.json()['result']['grant_id']}", headers=people["firm"]).json()
    assert (grant["computed"], grant["amount"], grant["flags"][0]["rule"]) == (
        "800000.00",
        "500000.00",
        "institution_year",
    )


def test_a_stop_cap_refuses_and_the_dry_run_names_the_room(client, people):
    install(client, people, enforcement="stop")
    application_id = apply(client, people["firm"]).json()["id"]
    dry = approve(client, people["director"], f"subsidy_application:{application_id}", "d", "?dry_run=true").json()
    assert (dry["code"], dry["binding_cap"], dry["room_left"]) == (
        "institution_year_total_must_not_exceed_cap",
        "institution_year",
        "500000.00",
    )
    refused = approve(client, people["director"], f"subsidy_application:{application_id}", "r")
    assert refused.status_code == 409 and refused.json()["code"] == "institution_year_total_must_not_exceed_cap"


def test_the_recorder_cannot_approve_its_own_application(client, people):
    install(client, people)
    application_id = apply(client, people["clerk"]).json()["id"]
    own = approve(client, people["clerk"], f"subsidy_application:{application_id}", "self")
    assert own.status_code == 409 and own.json()["code"] == "checker_must_differ_from_maker"


def test_an_enterprise_applies_only_for_itself_and_sees_only_its_own(client, people):
    install(client, people)
    application_id = apply(client, people["firm"]).json()["id"]
    assert apply(client, people["other_firm"], institution=FIRM, key="x").status_code == 409
    hidden = client.get(f"/v1/subsidy-applications/{application_id}", headers=people["other_firm"])
    assert hidden.status_code == 404 and hidden.json()["code"] == "application_not_found"
    assert client.get("/v1/subsidy-applications", headers=people["other_firm"]).json()["items"] == []
    assert client.get("/v1/subsidy-applications", headers=people["shenzhen"]).json()["items"] == []
    mine = client.get("/v1/subsidy-applications", headers=people["firm"]).json()["items"]
    assert [row["id"] for row in mine] == [application_id]
    assert apply(client, people["firm"], key="bad").status_code == 201  # a new key is a new application
    named = client.post(
        f"/v1/subsidy-programs/{PROGRAM}/applications",
        headers=keyed(people["firm"], "named"),
        json={"institution": FIRM, "year": 2019, "actor": "someone"},
    )
    assert named.status_code == 422 and named.json()["code"] == "body_names_actor"


def test_payment_is_keyed_and_its_dry_run_pays_nothing(client, people):
    grant_id = granted(client, people)
    dry = client.post(
        f"/v1/grants/{grant_id}/payments?dry_run=true", headers=keyed(people["clerk"], "p"), json={"on": "2019-06-30"}
    )
    assert dry.status_code == 200 and dry.json()["result"]["amount"] == "500000.00"
    assert client.get(f"/v1/grants/{grant_id}", headers=people["clerk"]).json()["status"] == "approved"
    paid = client.post(
        f"/v1/grants/{grant_id}/payments", headers=keyed(people["clerk"], "p"), json={"on": "2019-06-30"}
    )
    assert paid.status_code == 201 and paid.headers["Location"].startswith("/v1/transactions/")
    again = client.post(
        f"/v1/grants/{grant_id}/payments", headers=keyed(people["clerk"], "p"), json={"on": "2019-06-30"}
    )
    assert again.headers["Idempotency-Replayed"] == "true" and again.json() == paid.json()
    other = client.post(
        f"/v1/grants/{grant_id}/payments", headers=keyed(people["clerk"], "p"), json={"on": "2019-07-01"}
    )
    assert other.status_code == 409 and other.json()["code"] == "exists_with_different_content"
    assert client.get(f"/v1/grants/{grant_id}", headers=people["clerk"]).json()["status"] == "paid"
    outside = client.post(
        f"/v1/grants/{grant_id}/payments", headers=keyed(people["shenzhen"], "p"), json={"on": "2019-06-30"}
    )
    assert outside.status_code == 404
    assert (
        client.post(
            f"/v1/grants/{grant_id}/payments", headers=keyed(people["firm"], "p"), json={"on": "2019-06-30"}
        ).status_code
        == 403
    )


def test_a_clawback_is_requested_then_approved_by_another_person(client, people):
    grant_id = granted(client, people)
    filed = client.post(
        f"/v1/grants/{grant_id}/clawbacks", headers=keyed(people["clerk"], "c"), json={"reason": "未按期验收"}
    )
    assert filed.status_code == 201
    item = filed.json()["approval"]
    own = approve(client, people["clerk"], item, "self")
    assert own.status_code == 409 and own.json()["code"] == "checker_must_differ_from_maker"
    assert approve(client, people["director"], item, "ok-c").status_code == 200
    assert client.get(f"/v1/grants/{grant_id}", headers=people["clerk"]).json()["status"] == "clawed_back"


def test_year_end_sweeps_the_unused_budget(client, people):
    granted(client, people)
    swept = client.post(
        f"/v1/subsidy-programs/{PROGRAM}/year-ends",
        headers=keyed(people["clerk"], "y"),
        json={"year": 2019, "on": "2019-12-31"},
    )
    assert swept.status_code == 201, swept.text
    assert swept.json() == {"program": PROGRAM, "year": 2019, "mode": "carry_over", "amount": "9500000.00"}


def test_the_institution_year_report_against_the_caps_is_scoped(client, people):
    granted(client, people)
    rows = client.get("/v1/reports/subsidies-by-institution", headers=people["auditor"]).json()
    assert rows == [
        {
            "program": PROGRAM,
            "region": GUANGZHOU,
            "institution": FIRM,
            "year": 2019,
            "granted": "500000.00",
            "caps": [
                {
                    "rule": "institution_year",
                    "enforcement": "clip",
                    "limit": "500000.00",
                    "used": "500000.00",
                    "room": "0.00",
                    "over": False,
                }
            ],
        }
    ]
    assert client.get("/v1/reports/subsidies-by-institution", headers=people["firm"]).json() == rows
    assert client.get("/v1/reports/subsidies-by-institution", headers=people["other_firm"]).json() == []
    assert client.get("/v1/reports/subsidies-by-institution", headers=people["shenzhen"]).json() == []
    text = client.get("/v1/reports/subsidies-by-institution.csv", headers=people["clerk"]).text
    assert list(csv.reader(io.StringIO(text)))[1] == [
        PROGRAM,
        GUANGZHOU,
        FIRM,
        "2019",
        "500000.00",
        "institution_year",
        "clip",
        "500000.00",
        "500000.00",
        "0.00",
        "否",
    ]
    sheet = client.get("/v1/reports/subsidies-by-institution.xlsx?unit=万元", headers=people["clerk"])
    assert sheet.status_code == 200 and sheet.content[:2] == b"PK"
