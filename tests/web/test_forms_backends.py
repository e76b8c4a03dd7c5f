"""The form machinery on both backends (SQLite and PostgreSQL, tests/conftest.py's ``engine``): a preview's
savepoint leaves nothing behind, a record is kept once under the form's key (the handler's own key, and the
forms' keyed write for a call the API does not key), and a sub-fund of another fund is refused."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import add_user
from api.settings import Settings
from ledger.entities import credit_code_check_character
from tests.api.conftest import seed_funds_and_pools

SECRET = "forms-backend-secret-that-is-long-enough-for-hs256"
PASSWORD = "forms backend password"
ENTERPRISE = "91440101MA5FRM001" + credit_code_check_character("91440101MA5FRM001")
BANK = "91440101MA5FRMBK1" + credit_code_check_character("91440101MA5FRMBK1")
OTHER_ENTERPRISE = "91440300MA5FRM002" + credit_code_check_character("91440300MA5FRM002")
OTHER_BANK = "91440300MA5FRMBK2" + credit_code_check_character("91440300MA5FRMBK2")
TABLES = ("transactions", "funds_investments", "funds_valuations", "api_keyed_writes")
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')
KEY_INPUT = re.compile(r'name="form_key" value="([^"]+)"')
OUTCOME = re.compile(r'data-testid="outcome" data-code="([^"]+)"')


@pytest.fixture
def manager(engine, ledger):
    for region, name in (("440100", "广州市"), ("440300", "深圳市")):
        ledger.register_region(region, name)
    for code, kind, region in ((ENTERPRISE, "enterprise", "440100"), (BANK, "bank", "440100"),
                               (OTHER_ENTERPRISE, "enterprise", "440300"), (OTHER_BANK, "bank", "440300")):  # fmt: skip
        ledger.register_institution(code, f"测试 {code}", kind, region_code=region)
    own = seed_funds_and_pools(ledger, "GZ", "440100", BANK, ENTERPRISE)
    other = seed_funds_and_pools(ledger, "SZ", "440300", OTHER_BANK, OTHER_ENTERPRISE)
    add_user(engine, "gp", PASSWORD, "fund_manager", [f"fund:{own['fund']}"])
    app = create_app(engine, Settings(jwt_secret=SECRET, auth_failure_rate="50/minute"))
    client = TestClient(app, raise_server_exceptions=False, follow_redirects=False)
    token = CSRF_INPUT.search(client.get("/web/login").text).group(1)
    signed_in = client.post(
        "/web/login", data={"csrf_token": token, "username": "gp", "password": PASSWORD, "next_url": ""}
    )
    assert signed_in.status_code == 303
    return client, own, other


def _counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {name: conn.execute(sa.text(f"SELECT COUNT(*) FROM {name}")).scalar_one() for name in TABLES}


def _post(client, slug: str, intent: str, values: dict, key: str | None = None):
    page = client.get(f"/web/forms/{slug}").text
    data = {"csrf_token": CSRF_INPUT.search(page).group(1), "form_key": key or KEY_INPUT.search(page).group(1)}
    response = client.post(f"/web/forms/{slug}", data=data | {"intent": intent} | values, headers={"HX-Request": "1"})
    found = OUTCOME.search(response.text)
    return response, found.group(1) if found else None, data["form_key"]


def test_an_investment_previews_records_once_and_another_funds_sub_fund_is_refused(engine, manager):
    client, own, other = manager
    values = {"subfund": own["subfund"], "enterprise_code": ENTERPRISE, "amount": "100000.00",
              "invested_on": "2026-06-01", "stage": "seed", "sector": "新材料", "hard_tech": "on"}  # fmt: skip
    start = _counts(engine)
    response, code, _ = _post(client, "investment", "preview", values)
    assert code == "ok" and "subfund_cash" in response.text and _counts(engine) == start
    _, code, _ = _post(client, "investment", "record", values | {"subfund": other["subfund"]})
    assert code == "funds_object_not_found" and _counts(engine) == start
    _, code, _ = _post(client, "investment", "record", values | {"amount": "999999999.00"})
    assert code == "investment_exceeds_cash" and _counts(engine) == start
    _, code, key = _post(client, "investment", "record", values)
    recorded = _counts(engine)
    assert code == "ok" and recorded["funds_investments"] == start["funds_investments"] + 1
    again, code, _ = _post(client, "investment", "record", values, key)
    assert code == "ok" and "已记录过" in again.text and _counts(engine) == recorded


def test_a_valuation_is_kept_once_under_the_forms_key_on_either_backend(engine, manager):
    client, own, _other = manager
    values = {"subfund": own["subfund"], "as_of": "2026-06-30", "nav": "80000000.00"}
    start = _counts(engine)
    _, code, _ = _post(client, "valuation", "preview", values)
    assert code == "ok" and _counts(engine) == start
    _, code, key = _post(client, "valuation", "record", values)
    recorded = _counts(engine)
    assert code == "ok" and recorded["funds_valuations"] == start["funds_valuations"] + 1
    assert recorded["api_keyed_writes"] == start["api_keyed_writes"] + 1
    _, code, _ = _post(client, "valuation", "record", values, key)
    assert code == "ok" and _counts(engine) == recorded
    _, code, _ = _post(client, "valuation", "record", values | {"nav": "1.00"}, key)  # the same key, other values
    assert code == "exists_with_different_content" and _counts(engine) == recorded
