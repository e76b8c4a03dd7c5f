"""The record forms in a real browser (Debian's Chromium through Playwright, against a real ``fundledger
serve`` on the demo data, with tests/web/test_browser.py's server, browser and recorded-requests fixtures):
the clerk previews a subsidy application (each cap's room), records it, the director approves it on the
queue and the enterprise sees the grant; the fund manager records a capital call through HTMX (a double
click records once); a refused record shows the rule's message on the page. Screenshots of the forms in
Chinese and English go to test-artifacts/screenshots/."""

from __future__ import annotations

import httpx

from tests.web import test_browser as shared

# The shared fixtures, under their own names (a real server per module, one browser, a recorded context).
site = shared.site
browser = shared.browser
context = shared.context
GZ_ENTERPRISE = shared.GZ_ENTERPRISE
GZ_ENTERPRISE_NAME = shared.GZ_ENTERPRISE_NAME
SERVICE_PROGRAM = shared.SERVICE_PROGRAM
SERVICE_PROGRAM_NAME = shared.SERVICE_PROGRAM_NAME


def _calls_of(site, username: str, subfund: str, ratio: str) -> int:
    """Capital calls of that ratio, as the HTTP API lists them to the same user."""
    token = httpx.post(
        f"{site.base}/v1/auth/token", data={"username": username, "password": site.passwords[username]}
    ).json()["access_token"]
    listed = httpx.get(
        f"{site.base}/v1/capital-calls", params={"subfund": subfund}, headers={"Authorization": f"Bearer {token}"}
    ).json()["items"]
    return sum(1 for call in listed if call["ratio"] == ratio)


def _form(page, site, slug: str):
    page.goto(f"{site.base}/web/forms/{slug}")
    return page.get_by_test_id(f"form-{slug}")


def _outcome(page):
    outcome = page.get_by_test_id("outcome")
    outcome.wait_for()
    return outcome


def test_clerk_previews_and_records_an_application_the_director_approves_it_and_the_enterprise_sees_it(context, site):
    page = shared._login(context, site, "gz-clerk")
    page.get_by_test_id("nav-forms").click()
    shared._shot(page, "forms-clerk-index-zh")
    page.get_by_test_id("form-link-subsidy-application").click()
    form = page.get_by_test_id("form-subsidy-application")
    form.locator("input[name=program]").fill(SERVICE_PROGRAM)
    form.locator("input[name=institution]").fill(GZ_ENTERPRISE)
    form.locator("input[name=year]").fill("2019")
    form.get_by_test_id("preview-button").click()
    outcome = _outcome(page)
    assert "预览：可以提交" in outcome.inner_text()
    caps = page.get_by_test_id("caps").inner_text()
    assert "每家每年上限" in caps and caps.count("¥500,000.00") == 2  # the per-year cap, all of it left
    shared._shot(page, "forms-clerk-application-preview-zh")
    page.get_by_test_id("record-button").click()
    page.wait_for_selector("[data-testid=outcome][data-code=ok] >> text=已记录")
    assert "已进入审批队列" in page.get_by_test_id("outcome").inner_text()
    shared._shot(page, "forms-clerk-application-recorded-zh")
    shared._logout(page)

    page = shared._login(context, site, "gz-director")
    item = f"{SERVICE_PROGRAM} for 2019"
    row = page.get_by_test_id("approvals").locator("tr", has_text=item).first
    row.locator("input[name=approval_doc]").fill("穗科函〔2019〕3号")
    row.locator("button:has-text('批准')").click()
    page.get_by_test_id("notice").wait_for()
    assert page.get_by_test_id("approvals").locator("tr", has_text=item).count() == 0
    shared._logout(page)

    page = shared._login(context, site, "gz-enterprise")
    granted = page.get_by_test_id("subsidies").locator("tr", has_text=SERVICE_PROGRAM_NAME).inner_text()
    assert "2019" in granted and "¥500,000.00" in granted and "gz-director" in granted
    shared._shot(page, "forms-enterprise-sees-the-approved-grant")


def test_fund_manager_records_a_capital_call_once_even_when_the_button_is_double_clicked(context, site):
    page = shared._login(context, site, "gz-fund-manager")
    form = _form(page, site, "capital-call")
    form.locator("input[name=subfund]").fill("gz-hardtech-3")
    form.locator("input[name=ratio]").fill("15%")
    form.locator("input[name=notice_on]").fill("2026-12-01")
    form.locator("input[name=due_on]").fill("2026-12-31")
    form.get_by_test_id("preview-button").click()
    assert "预览：可以提交" in _outcome(page).inner_text()
    page.get_by_test_id("record-button").dblclick()
    page.wait_for_selector("[data-testid=outcome][data-code=ok] >> text=已记录")
    page.wait_for_load_state("networkidle")
    shared._shot(page, "forms-fund-manager-capital-call-zh")
    assert _calls_of(site, "gz-fund-manager", "gz-hardtech-3", "15%") == 1, "the double click recorded twice"

    page.get_by_test_id("switch-language").click()
    page.wait_for_load_state("networkidle")
    form = _form(page, site, "investment")
    form.locator("input[name=subfund]").fill("gz-seed-1")
    form.locator("input[name=enterprise_code]").fill("91440101MA5DK0001C")
    form.locator("input[name=amount]").fill("2500000.00")
    form.locator("select[name=stage]").select_option("start_up")
    form.locator("input[name=sector]").fill("新材料")
    form.locator("input[name=hard_tech]").check()
    form.get_by_test_id("preview-button").click()
    assert "Preview: this would be accepted" in _outcome(page).inner_text()
    assert "subfund_cash" in page.get_by_test_id("binding").inner_text()  # the cash it leaves, in 元
    shared._shot(page, "forms-fund-manager-investment-preview-en")
    page.goto(f"{site.base}/web/forms")
    assert page.get_by_test_id("form-list").locator("a").count() == 7
    shared._shot(page, "forms-fund-manager-index-en")


def test_a_refused_record_shows_the_rules_message_and_the_form_in_english(context, site):
    page = shared._login(context, site, "gz-bank")
    form = _form(page, site, "loan")
    values = {"pool": "gz-sme-pool", "enterprise_code": "91440101MA5DK0002F", "loan_number": "BROWSER-LATE",
              "principal": "1000000.00", "disbursed_on": "2026-01-01", "term_months": "12",
              "filed_on": "2026-11-20"}  # fmt: skip
    for name, value in values.items():
        form.locator(f"[name={name}]").fill(value)
    form.get_by_test_id("record-button").click()
    outcome = _outcome(page)
    assert "贷款须在放款后规定期限内备案" in outcome.inner_text()
    assert "loan_filing_window_passed" in outcome.inner_text() and "Traceback" not in page.content()
    shared._shot(page, "forms-bank-loan-refused-zh")
    page.get_by_test_id("switch-language").click()
    page.wait_for_load_state("networkidle")
    assert "File a loan" in page.locator("h1").inner_text()
    form = page.get_by_test_id("form-loan")
    for name, value in values.items():
        form.locator(f"[name={name}]").fill(value)
    form.locator("[name=principal]").fill("1,000")
    form.get_by_test_id("preview-button").click()
    page.get_by_test_id("error-principal").wait_for()
    assert "An amount in 元" in page.get_by_test_id("error-principal").inner_text()
    shared._shot(page, "forms-bank-loan-field-error-en")
