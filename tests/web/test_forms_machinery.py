"""The form machinery itself (api.web.forms) over httpx on the demo world: CSRF, the form's key, roles,
field checks in the page's language, the unit switch, whole pages without HTMX, the preview's binding cap
and room, and the maker-checker rule between a form and the approvals queue."""

from __future__ import annotations

import re
from pathlib import Path

from api.web.i18n import MESSAGES, Language
from api.web.rendering import TEMPLATES_DIR
from tests.web.forms_support import (
    SUZHOU_CLERK,
    SZ_ENTERPRISE,
    changed,
    demo_world_fixture,  # noqa: F401 - a fixture
    field_errors,
    forms_site_fixture,  # noqa: F401 - a fixture
    open_form,
    outcome_code,
    send,
)

GZ_TRANSFER_CENTRE = "12440101MB2C00013J"  # at its 2019 per-year cap (50万, stop) in the demo
TEMPLATE_KEY = re.compile(r"""\bt\(\s*["']([a-z0-9_.]+)["']""")


def _application(year: str = "2019") -> dict:
    return {"program": "gz-service-demonstration", "institution": GZ_TRANSFER_CENTRE, "year": year}


def test_a_form_without_the_sessions_csrf_token_is_refused_and_writes_nothing(forms_site):
    client = forms_site.client("gz-clerk")
    filled = open_form(client, "subsidy-application")
    start = forms_site.rows()
    response = client.post(filled.path, data=filled.data("record", **_application()) | {"csrf_token": "forged"})
    assert response.status_code == 403 and "csrf_token_invalid" in response.text
    assert changed(start, forms_site.rows()) == {}


def test_a_tampered_form_key_is_refused_before_anything_runs(forms_site):
    client = forms_site.client("gz-clerk")
    filled = open_form(client, "subsidy-application")
    start = forms_site.rows()
    response = client.post(filled.path, data=filled.data("record", **_application()) | {"form_key": "x'; drop"})
    assert response.status_code == 422 and MESSAGES[Language.zh]["form.error.key"] in response.text
    assert changed(start, forms_site.rows()) == {}


def test_a_form_is_for_its_roles_only_and_the_index_lists_the_users_own(forms_site):
    bank = forms_site.client("gz-bank")
    assert bank.get("/web/forms/commitment").status_code == 403
    filled = open_form(forms_site.client("gz-fund-manager"), "commitment")
    start = forms_site.rows()
    posted = bank.post(filled.path, data=filled.data("record", subfund="gz-seed-1"))
    assert posted.status_code == 403 and changed(start, forms_site.rows()) == {}
    index = bank.get("/web/forms").text
    assert set(re.findall(r'data-testid="form-link-([^"]+)"', index)) == {"loan", "pool-claim", "recovery"}
    assert 'data-testid="nav-forms"' in index
    anonymous = forms_site.client("gz-bank")
    anonymous.cookies.clear()
    assert anonymous.get("/web/forms/loan").headers["location"].startswith("/web/login?next=")


def test_fields_are_checked_in_the_pages_language_and_typed_values_are_kept(forms_site):
    client = forms_site.client("gz-bank")
    start = forms_site.rows()
    values = {"pool": "gz-sme-pool", "principal": "1,234", "disbursed_on": "2026-02-30", "term_months": "twelve"}
    response = send(client, open_form(client, "loan"), "preview", values)
    errors = field_errors(response.text)
    assert errors["principal"] == MESSAGES[Language.zh]["form.error.yuan"]
    assert errors["disbursed_on"] == MESSAGES[Language.zh]["form.error.date"]
    assert errors["term_months"] == MESSAGES[Language.zh]["form.error.integer"]
    assert errors["loan_number"] == MESSAGES[Language.zh]["form.error.required"]
    assert 'value="1,234"' in response.text  # what was typed stays in the field
    client.cookies.set("fl_lang", "en")
    english = send(client, open_form(client, "loan"), "preview", values | {"loan_number": "x" * 65})
    assert field_errors(english.text)["principal"] == MESSAGES[Language.en]["form.error.yuan"]
    assert field_errors(english.text)["loan_number"] == "At most 64 characters."
    assert "Files a loan within the filing window" in english.text and "Loan number" in english.text
    assert changed(start, forms_site.rows()) == {}


def test_a_refusal_is_a_whole_page_with_its_status_without_htmx_and_in_english_on_an_english_page(forms_site):
    client = forms_site.client("gz-clerk")
    client.cookies.set("fl_lang", "en")
    response = send(client, open_form(client, "subsidy-application"), "record", _application("1999"), htmx=False)
    assert response.status_code == 409 and response.text.startswith("<!doctype html>")
    assert outcome_code(response.text) == "program_year_must_be_within_program"
    assert MESSAGES[Language.en]["form.refused"] in response.text and "Traceback" not in response.text


def test_the_application_preview_shows_each_cap_with_its_room_and_the_unit_switch_shows_wan(forms_site):
    client = forms_site.client("gz-clerk")
    client.cookies.set("fl_unit", "wan")
    response = send(client, open_form(client, "subsidy-application"), "preview", _application())
    caps = re.search(r'<table class="caps" data-testid="caps">(.*?)</table>', response.text, re.S).group(1)
    # the demo's transfer centre already holds 50万 of its 50万 per-year cap: an approval has no room left
    assert "每家每年上限" in caps and "50.00万元" in caps and "0.00万元" in caps and "enforcement-stop" in caps


def test_a_preview_names_the_binding_cap_and_the_room_left(forms_site):
    client = forms_site.client(SUZHOU_CLERK)
    values = {"program": "YRD-320500-2026", "enterprise": SZ_ENTERPRISE, "amount": "1000.00", "on": "2026-06-01"}
    response = send(client, open_form(client, "voucher-grant"), "preview", values)
    assert outcome_code(response.text) == "grant_within_enterprise_annual_cap"
    binding = re.search(r'data-testid="binding">(.*?)</p>', response.text, re.S).group(1)
    assert "grant_within_enterprise_annual_cap" in binding and "¥0.00" in binding


def test_the_recorder_cannot_approve_what_it_recorded_and_another_person_can(forms_site):
    clerk = forms_site.client("gz-clerk")
    values = {"program": "nansha-revenue-lifetime", "institution": "91440101MA59A0023L", "year": "2020",
              "figure_name": "revenue", "figure_amount": "1000000.00"}  # fmt: skip
    recorded = send(clerk, open_form(clerk, "subsidy-application"), "record", values)
    assert MESSAGES[Language.zh]["form.to_approval"] in recorded.text
    application = re.search(r"<dt>编号</dt><dd>(\d+)</dd>", recorded.text).group(1)
    item = f"subsidy_application:{application}"
    queue = clerk.get("/web/finance").text
    assert f'data-testid="item-{item}"' in queue
    token = re.search(r'name="csrf_token" value="([^"]+)"', queue).group(1)
    decision = {"approval_doc": "穗科〔2026〕9号", "on": "2026-12-01"}
    own = clerk.post(f"/web/approvals/{item}/approve", data={"csrf_token": token, "client_id": "own-1", **decision})
    assert "checker_must_differ_from_maker" in own.text and f'data-testid="item-{item}"' in own.text
    director = forms_site.client("gz-director")
    token = re.search(r'name="csrf_token" value="([^"]+)"', director.get("/web/finance").text).group(1)
    approved = director.post(
        f"/web/approvals/{item}/approve", data={"csrf_token": token, "client_id": "dir-1", **decision}
    )
    assert approved.status_code == 200 and f'data-testid="item-{item}"' not in approved.text


def test_every_key_the_form_templates_use_is_in_both_catalogues():
    paths = [*Path(TEMPLATES_DIR, "forms").glob("*.html"), Path(TEMPLATES_DIR, "_nav_forms_finance.html")]
    used = {key for path in paths for key in TEMPLATE_KEY.findall(path.read_text(encoding="utf-8"))}
    assert used and used <= set(MESSAGES[Language.zh]) and used <= set(MESSAGES[Language.en])
    from api.web.routes_forms_finance import all_forms

    for form in all_forms():
        needed = {form.title_key, form.help_key} | {item.label_key for item in form.fields}
        assert needed <= set(MESSAGES[Language.zh]) & set(MESSAGES[Language.en]), form.slug


def test_a_refusal_on_a_chinese_page_shows_the_rules_chinese_message_with_the_services_own_under_it(forms_site):
    client = forms_site.client("gz-bank")
    values = {"pool": "gz-sme-pool", "bank_code": "91440101MA5BANK01C", "enterprise_code": "91440101MA5DK0002F",
              "loan_number": "FORMS-LATE", "principal": "1000000.00", "disbursed_on": "2026-01-01", "term_months": "12",
              "filed_on": "2026-11-20"}  # fmt: skip
    response = send(client, open_form(client, "loan"), "record", values)
    shown = re.search(r'data-testid="outcome-message">([^<]*)<', response.text).group(1)
    assert shown == MESSAGES[Language.zh]["rule.loan_filing_window_passed"]
    assert "must be filed by 2026-04-01" in re.search(r'data-testid="outcome-detail">([^<]*)<', response.text).group(1)


def test_a_result_is_shown_in_the_pages_words_and_a_preview_names_no_id_it_did_not_keep(forms_site):
    client = forms_site.client("gz-fund-manager")
    values = {"subfund": "gz-seed-1", "ratio": "10%", "notice_on": "2026-06-01", "due_on": "2026-06-30"}
    preview = send(client, open_form(client, "capital-call"), "preview", values)
    assert "<dt>编号</dt>" not in preview.text
    assert "<dt>状态</dt><dd>待审批</dd>" in preview.text and "<dt>缴款截止日</dt><dd>2026-06-30</dd>" in preview.text
    recorded = send(client, open_form(client, "capital-call"), "record", values)
    assert re.search(r"<dt>编号</dt><dd>\d+</dd>", recorded.text)


def test_a_post_with_more_fields_than_any_form_has_is_refused_before_it_is_read(forms_site):
    client = forms_site.client("gz-bank")
    filled = open_form(client, "loan")
    start = forms_site.rows()
    flood = filled.data("record") | {f"extra{index}": "x" for index in range(200)}
    response = client.post(filled.path, data=flood)
    assert response.status_code == 400 and "request_invalid" in response.text and "最多 40 个字段" in response.text
    assert changed(start, forms_site.rows()) == {}


def test_a_body_larger_than_any_form_is_refused_without_being_held(forms_site):
    client = forms_site.client("gz-clerk")
    filled = open_form(client, "subsidy-program")
    start = forms_site.rows()
    response = client.post(filled.path, data=filled.data("record", config="x" * (300 * 1024)))
    assert response.status_code == 413 and "request_too_large" in response.text and "最多 256 KB" in response.text
    assert changed(start, forms_site.rows()) == {}
