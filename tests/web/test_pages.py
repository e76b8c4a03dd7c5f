"""The page handlers over httpx (SQLite and PostgreSQL): login and its cookie, CSRF refusal, scope 404s,
role refusals, logout; and the catalogue and amount display rules the pages share."""

from __future__ import annotations

import functools
import re
from datetime import timedelta
from pathlib import Path
from typing import get_args

import jwt
import pytest
from fastapi.testclient import TestClient
from pwdlib import PasswordHash

from api import auth
from api.app import create_app
from api.scopes import Role
from api.settings import Settings
from api.web.i18n import MESSAGES, Language, Unit, money_text, recorded_text
from api.web.rendering import TEMPLATES_DIR
from api.web.session import SESSION_AUDIENCE
from ledger.engine import utc_now
from ledger.entities import credit_code_check_character
from subsidies import listings as subsidy_listings
from subsidies.config import Enforcement, example_programs
from subsidies.service import SubsidyService

SECRET = "web-test-secret-that-is-long-enough-for-hs256"
PASSWORD = "correct horse battery"
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


def _code(stem: str) -> str:
    return stem + credit_code_check_character(stem)


GZ_ENTERPRISE = _code("91440101MA59W0001")
GZ_OTHER = _code("91440101MA59W0002")
UNKNOWN = _code("91440101MA59W0009")


@functools.cache
def _password_hash() -> str:
    """One Argon2 hash for every test user: hashing costs most of a second by design, once is enough."""
    return PasswordHash.recommended().hash(PASSWORD)


@pytest.fixture
def site(engine, ledger):
    ledger.register_region("440100", "广州市")
    ledger.register_region("440300", "深圳市")
    ledger.register_institution(GZ_ENTERPRISE, "广州甲科技有限公司", "enterprise", region_code="440100")
    ledger.register_institution(GZ_OTHER, "广州乙科技有限公司", "enterprise", region_code="440100")
    users = {
        "ent": ("enterprise", [f"institution:{GZ_ENTERPRISE}"]),
        "gz-office": ("finance_office", ["region:440100"]),
        "sz-office": ("finance_office", ["region:440300"]),
    }
    with engine.begin() as conn:
        for name, (role, scopes) in users.items():
            conn.execute(
                auth.T_USERS.insert().values(
                    username=name,
                    password_hash=_password_hash(),
                    role=role,
                    scopes=" ".join(scopes),
                    disabled=False,
                    created_at=utc_now(),
                )
            )
    app = create_app(engine, Settings(jwt_secret=SECRET, auth_failure_rate="50/minute"))
    return app


def _client(app) -> TestClient:
    return TestClient(app, raise_server_exceptions=False, follow_redirects=False)


def _login(app, username: str, password: str = PASSWORD) -> tuple[TestClient, object]:
    client = _client(app)
    token = CSRF_INPUT.search(client.get("/web/login").text).group(1)
    response = client.post(
        "/web/login", data={"csrf_token": token, "username": username, "password": password, "next_url": ""}
    )
    return client, response


def test_login_sets_a_signed_httponly_lax_session_cookie_and_goes_to_the_roles_page(site):
    client, response = _login(site, "ent")
    assert response.status_code == 303
    assert response.headers["location"] == f"/web/enterprises/{GZ_ENTERPRISE}"
    cookie = next(value for value in response.headers.get_list("set-cookie") if value.startswith("fl_session="))
    assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower() and "Max-Age=" in cookie
    page = client.get(response.headers["location"])
    assert page.status_code == 200 and "广州甲科技有限公司" in page.text


def test_a_wrong_password_shows_the_login_page_again_without_a_session(site):
    client, response = _login(site, "ent", "not the password at all")
    assert response.status_code == 401
    assert "用户名或密码不正确" in response.text
    assert not any(value.startswith("fl_session=") for value in response.headers.get_list("set-cookie"))


def test_a_form_without_the_sessions_csrf_token_is_refused_and_changes_nothing(site):
    client = _client(site)
    client.get("/web/login")
    response = client.post(
        "/web/login", data={"csrf_token": "forged", "username": "ent", "password": PASSWORD, "next_url": ""}
    )
    assert response.status_code == 403 and "csrf_token_invalid" in response.text
    assert not any(value.startswith("fl_session=") for value in response.headers.get_list("set-cookie"))
    signed_in, _ = _login(site, "gz-office")
    refused = signed_in.post("/web/preferences", data={"csrf_token": "forged", "language": "en", "next_url": ""})
    assert refused.status_code == 403 and "fl_lang" not in refused.headers.get("set-cookie", "")


def test_pages_send_an_anonymous_visitor_to_login_and_back(site):
    response = _client(site).get("/web/finance")
    assert response.status_code == 303 and response.headers["location"] == "/web/login?next=%2Fweb%2Ffinance"


def test_a_tampered_session_cookie_is_no_session(site):
    client, _ = _login(site, "ent")
    value = client.cookies.get("fl_session")
    client.cookies.set("fl_session", value[:-3] + ("AAA" if not value.endswith("AAA") else "BBB"))
    assert client.get(f"/web/enterprises/{GZ_ENTERPRISE}").status_code == 303


def test_an_enterprise_reaches_another_enterprises_page_only_as_a_404(site):
    client, _ = _login(site, "ent")
    other = client.get(f"/web/enterprises/{GZ_OTHER}")
    unknown = client.get(f"/web/enterprises/{UNKNOWN}")
    assert other.status_code == unknown.status_code == 404
    assert "广州乙科技有限公司" not in other.text
    assert client.get(f"/web/enterprises/{GZ_OTHER}/statement.xlsx").status_code == 404


def test_a_finance_office_sees_enterprises_in_its_region_only(site):
    guangzhou, _ = _login(site, "gz-office")
    shenzhen, _ = _login(site, "sz-office")
    assert guangzhou.get(f"/web/enterprises/{GZ_OTHER}").status_code == 200
    assert shenzhen.get(f"/web/enterprises/{GZ_OTHER}").status_code == 404


def test_a_role_without_the_page_gets_a_403_page_with_the_reason(site):
    client, _ = _login(site, "ent")
    response = client.get("/web/finance")
    assert response.status_code == 403 and "role_forbidden" in response.text and "Traceback" not in response.text


def test_logout_ends_the_session(site):
    client, _ = _login(site, "ent")
    token = CSRF_INPUT.search(client.get(f"/web/enterprises/{GZ_ENTERPRISE}").text).group(1)
    response = client.post("/web/logout", data={"csrf_token": token})
    assert response.status_code == 303 and 'fl_session=""' in response.headers["set-cookie"]
    client.cookies.delete("fl_session")
    assert client.get(f"/web/enterprises/{GZ_ENTERPRISE}").status_code == 303


def test_a_redirect_after_login_stays_inside_the_pages(site):
    client = _client(site)
    token = CSRF_INPUT.search(client.get("/web/login").text).group(1)
    response = client.post(
        "/web/login",
        data={"csrf_token": token, "username": "ent", "password": PASSWORD, "next_url": "https://elsewhere.example/"},
    )
    assert response.headers["location"] == f"/web/enterprises/{GZ_ENTERPRISE}"


# ----- catalogue and display rules (pure) ----------------------------------------------------------

TEMPLATE_KEY = re.compile(r"""\bt\(\s*["']([a-z_.]+)["']""")


def _template_keys() -> set[str]:
    keys = set()
    for path in Path(TEMPLATES_DIR).glob("*.html"):
        keys |= set(TEMPLATE_KEY.findall(path.read_text(encoding="utf-8")))
    return keys


def test_both_languages_have_the_same_keys_and_every_key_a_template_uses():
    assert set(MESSAGES[Language.zh]) == set(MESSAGES[Language.en])
    used = {key for key in _template_keys() if not key.endswith(".")}  # "role." ~ role: checked below
    assert used and used <= set(MESSAGES[Language.zh]), sorted(used - set(MESSAGES[Language.zh]))
    assert {f"role.{role.value}" for role in Role} <= set(MESSAGES[Language.zh])
    assert {f"enforcement.{name}" for name in get_args(Enforcement)} <= set(MESSAGES[Language.zh])


@pytest.mark.parametrize(
    ("fen", "unit", "shown"),
    [
        (123_456_789, Unit.yuan, "¥1,234,567.89"),
        (-5, Unit.yuan, "-¥0.05"),
        (123_456_789, Unit.wan, "123.46万元"),
        (1_000_000_000, Unit.wan, "1,000.00万元"),
        (49_99, Unit.wan, "0.00万元"),  # 0.004999万 rounds down
        (50_00, Unit.wan, "0.01万元"),  # 0.005万 rounds half up, for display only
    ],
)
def test_amounts_show_in_yuan_with_the_sign_or_in_wan_with_two_places(fen, unit, shown):
    assert money_text(fen, unit) == shown


def test_recorded_moments_show_in_shanghai_time():
    assert recorded_text("2026-12-02T18:04:42.056418+00:00") == "2026-12-03 02:04"
    assert recorded_text("2026-03-10") == "2026-03-10"


# ----- the approvals queue over the API's decisions ------------------------------------------------

SERVICE_PROGRAM = "gz-service-demonstration"
ITEM_ROW = re.compile(r'data-testid="item-(subsidy_application:\d+)"')


def _form_token(client: TestClient) -> str:
    return CSRF_INPUT.search(client.get("/web/finance").text).group(1)


@pytest.fixture
def queue_site(site, engine, ledger):
    program, text = next((p, t) for p, t in example_programs() if p.code == SERVICE_PROGRAM)
    SubsidyService(ledger).install_program(program, text, actor="setup")
    with engine.begin() as conn:
        for name in ("gz-clerk", "gz-director"):
            conn.execute(
                auth.T_USERS.insert().values(
                    username=name,
                    password_hash=_password_hash(),
                    role="finance_office",
                    scopes="region:440100",
                    disabled=False,
                    created_at=utc_now(),
                )
            )
    return site


def test_the_clerk_records_cannot_approve_and_the_director_approves_once(queue_site, engine):
    clerk, _ = _login(queue_site, "gz-clerk")
    token = _form_token(clerk)
    form = {"csrf_token": token, "program": SERVICE_PROGRAM, "institution": GZ_ENTERPRISE, "year": "2019"}
    recorded = clerk.post("/web/subsidy-applications", data=form | {"client_id": "form-1"})
    assert recorded.status_code == 200 and "等待另一人审批" in recorded.text
    again = clerk.post("/web/subsidy-applications", data=form | {"client_id": "form-1"})  # the form sent twice
    assert ITEM_ROW.findall(again.text) == ITEM_ROW.findall(recorded.text) and len(ITEM_ROW.findall(again.text)) == 1
    item = ITEM_ROW.findall(recorded.text)[0]
    decision = {"csrf_token": token, "client_id": "clerk-1", "approval_doc": "穗科函〔2019〕1号", "on": "2019-06-01"}
    own = clerk.post(f"/web/approvals/{item}/approve", data=decision, headers={"HX-Request": "true"})
    assert "checker_must_differ_from_maker" in own.text and "Traceback" not in own.text

    director, _ = _login(queue_site, "gz-director")
    token = _form_token(director)
    decision = decision | {"csrf_token": token, "client_id": "director-1"}
    forged = director.post(f"/web/approvals/{item}/approve", data=decision | {"csrf_token": "forged"})
    assert forged.status_code == 403
    preview = director.post(f"/web/approvals/{item}/approve", data=decision | {"preview": "1"})
    assert 'data-testid="preview"' in preview.text and item in ITEM_ROW.findall(preview.text)  # nothing written
    approved = director.post(f"/web/approvals/{item}/approve", data=decision)
    assert "已批准" in approved.text and item not in ITEM_ROW.findall(approved.text)
    replayed = director.post(f"/web/approvals/{item}/approve", data=decision)  # the same form again
    assert replayed.status_code == 200 and "已批准" in replayed.text
    with engine.connect() as conn:
        grants = subsidy_listings.grants(conn, institution=GZ_ENTERPRISE)
    assert [(grant["amount_fen"], grant["approved_by"]) for grant in grants] == [(50_000_000, "gz-director")]
    enterprise, _ = _login(queue_site, "ent")
    assert "广州市科技服务示范机构建设" in enterprise.get(f"/web/enterprises/{GZ_ENTERPRISE}").text


def test_another_regions_office_cannot_decide_the_item(queue_site, engine):
    clerk, _ = _login(queue_site, "gz-clerk")
    form = {"csrf_token": _form_token(clerk), "program": SERVICE_PROGRAM, "institution": GZ_ENTERPRISE, "year": "2019"}
    item = ITEM_ROW.findall(clerk.post("/web/subsidy-applications", data=form | {"client_id": "f"}).text)[0]
    shenzhen, _ = _login(queue_site, "sz-office")
    assert item not in shenzhen.get("/web/finance").text
    decision = {"csrf_token": _form_token(shenzhen), "client_id": "sz-1", "approval_doc": "x", "on": "2019-06-01"}
    refused = shenzhen.post(f"/web/approvals/{item}/approve", data=decision)
    assert refused.status_code == 404 and "approval_not_found" in refused.text
    with engine.connect() as conn:
        assert subsidy_listings.grants(conn, institution=GZ_ENTERPRISE) == []


def test_a_malformed_query_on_a_page_is_a_page_and_the_api_keeps_its_problem(site):
    client, _ = _login(site, "gz-office")
    page = client.get("/web/trial-balance?as_of=not-a-date")
    assert page.status_code == 422 and page.headers["content-type"].startswith("text/html")
    assert "as_of" in page.text and "request_invalid" in page.text
    api = client.get("/v1/trial-balance?as_of=not-a-date", headers={"Authorization": "Bearer x"})
    assert api.headers["content-type"].startswith("application/problem+json")


def test_an_expired_session_is_no_session(site):
    client, _ = _login(site, "ent")
    now = utc_now()
    expired = jwt.encode(
        {
            "aud": SESSION_AUDIENCE,
            "sub": "ent",
            "csrf": "t",
            "iat": now - timedelta(hours=9),
            "exp": now - timedelta(hours=1),
        },
        SECRET,
        algorithm="HS256",
    )
    client.cookies.set("fl_session", expired)
    response = client.get(f"/web/enterprises/{GZ_ENTERPRISE}")
    assert response.status_code == 303 and response.headers["location"].startswith("/web/login")
