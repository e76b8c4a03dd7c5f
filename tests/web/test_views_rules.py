"""Rule messages in the page's language: every code the services raise has its Chinese message in the
catalogue; a Chinese page shows it with the service's own message under it, an English page the service's
message; a code the catalogue does not know shows the service's message in both."""

from __future__ import annotations

import pytest

from api.app import create_app
from api.problems import ApiCode
from api.settings import Settings
from api.web.i18n import MESSAGES, Language
from api.web.rendering import PageRefusal, refusal_of, rule_message, shown_refusal
from funds.codes import FundsCode
from jobs.alerts import AlertsCode
from ledger.errors import LedgerError, ResultCode
from subsidies.codes import SubsidyCode
from tests.web._views_world import SECRET, add_users, build_world, login
from vouchers.codes import VoucherCode

# Codes that are outcomes, not refusals (a replayed call), or the API's auth machinery no page reaches.
NOT_REFUSALS = {"ok", "exists"}
NOT_ON_PAGES = {
    "credentials_required", "credentials_invalid", "auth_rate_limited", "role_invalid", "user_exists",
    "user_not_found", "key_not_found", "password_too_short", "body_names_actor", "method_not_allowed",
    "internal_error",
}  # fmt: skip


def test_every_code_the_services_raise_has_its_chinese_message():
    codes = {member.value for enum in (ResultCode, FundsCode, SubsidyCode, VoucherCode, AlertsCode) for member in enum}
    codes |= {member.value for member in ApiCode} - NOT_ON_PAGES
    missing = sorted(code for code in codes - NOT_REFUSALS if not MESSAGES[Language.zh].get(f"rule.{code}"))
    assert missing == []
    assert all(MESSAGES[Language.en][f"rule.{code}"] == "" for code in codes - NOT_REFUSALS)


def test_a_chinese_page_shows_the_rules_message_and_the_services_under_it():
    error = LedgerError(ResultCode.PERIOD_CLOSED, "period 2026-03 of book gz-finance is closed")
    shown = shown_refusal(Language.zh, refusal_of(error))
    assert (shown.message, shown.detail, shown.code) == (
        "该会计期间已结账，不能再记入。", "period 2026-03 of book gz-finance is closed", "period_closed"
    )  # fmt: skip
    english = shown_refusal(Language.en, refusal_of(error))
    assert (english.message, english.detail) == ("period 2026-03 of book gz-finance is closed", None)


@pytest.mark.parametrize("language", list(Language))
def test_an_unknown_code_falls_back_to_the_services_message(language):
    assert rule_message(language, "a_code_no_catalogue_has", "what the service said") == ("what the service said", None)
    assert rule_message(language, None, "no code at all") == ("no code at all", None)


def test_a_message_the_page_wrote_itself_is_shown_as_written():
    own = PageRefusal(404, "页面不存在，或不在您的权限范围内。", "book_not_found")  # not from a service
    assert shown_refusal(Language.zh, own).message == "页面不存在，或不在您的权限范围内。"
    assert shown_refusal(Language.zh, own).detail is None


@pytest.fixture
def views(engine, ledger):
    build_world(ledger)
    add_users(engine, {"gz-office": ("finance_office", ["region:440100"])})
    return create_app(engine, Settings(jwt_secret=SECRET, auth_failure_rate="50/minute"))


def test_a_refused_page_shows_the_rule_in_chinese_and_the_service_in_english(views):
    client = login(views, "gz-office")
    missing = "/web/books/gz-finance/accounts/Assets:NoSuchAccount"
    chinese = client.get(missing)
    assert chinese.status_code == 404 and "Traceback" not in chinese.text
    assert 'data-testid="refusal">科目不存在。<' in chinese.text
    assert 'data-testid="refusal-detail">' in chinese.text and "account_not_found" in chinese.text
    client.cookies.set("fl_lang", "en")
    english = client.get(missing)
    assert "科目不存在" not in english.text and 'data-testid="refusal-detail"' not in english.text
    assert "account_not_found" in english.text and "Assets:NoSuchAccount" in english.text
