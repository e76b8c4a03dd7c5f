"""The partner pages in a real browser (Debian's Chromium through Playwright) against a real ``fundledger serve``
with the demo data, as tests/web/test_browser.py runs them: the demo bank logs in and sees its own loans only,
and editing the URL to the other bank's loan is a 404; a finance office uploads a file of subsidy
applications, previews it (a refused row shows the rule's code) and records the good rows with one submit;
the provider's page in both languages. Every request stays on the app; screenshots go to
test-artifacts/screenshots/."""

from __future__ import annotations

import httpx

from funds.demo import BANK_GZ_01, BANK_GZ_02
from tests.web import test_browser as browser_tests
from tests.web.test_browser import GZ_ENTERPRISE, SERVICE_PROGRAM, SH_PROVIDER, _login, _logout, _shot

# The browser tests' fixtures: a real serve over a copy of the demo (its own, for this module), Chromium, and
# a fresh profile per test that records every request.
site, browser, context = browser_tests.site, browser_tests.browser, browser_tests.context


def _other_banks_loan(site) -> int:  # noqa: ANN001 - a test_browser.Site
    """The id of the second demo bank's loan, as the API lists it to the admin."""
    token = httpx.post(f"{site.base}/v1/auth/token", data={"username": "admin", "password": site.passwords["admin"]})
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    loans = httpx.get(f"{site.base}/v1/loans", params={"bank": BANK_GZ_02}, headers=headers).json()["items"]
    assert [loan["loan_number"] for loan in loans] == ["GZ02-0001"]
    return loans[0]["id"]


def test_the_bank_sees_its_own_loans_and_another_banks_loan_is_a_404(context, site):
    other_loan = _other_banks_loan(site)
    page = _login(context, site, "gz-bank")
    assert page.url.endswith(f"/web/banks/{BANK_GZ_01}")
    loans = page.get_by_test_id("bank-loans").inner_text()
    assert "GZ01-0001" in loans and "2026-05-10" in loans and "GZ02-0001" not in page.content()
    assert "¥3,000,000.00" in page.get_by_test_id("bank-claims").inner_text()
    assert "¥2,100,000.00" in page.get_by_test_id("bank-to-recover").inner_text()
    _shot(page, "bank-loans-claims-recoveries")
    page.get_by_test_id("bank-loans").get_by_role("link", name="GZ01-0001").click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_test_id("loan-number").inner_text() == "GZ01-0001"
    _shot(page, "bank-own-loan")
    response = page.goto(f"{site.base}/web/loans/{other_loan}")  # editing the URL to the other bank's loan
    assert response.status == 404 and "GZ02-0001" not in page.content()
    assert "不在您的权限范围内" in page.get_by_test_id("refusal").inner_text()
    _shot(page, "bank-other-banks-loan-404")
    assert page.goto(f"{site.base}/web/banks/{BANK_GZ_02}").status == 404
    page.goto(f"{site.base}/web/banks/{BANK_GZ_01}")
    page.get_by_test_id("switch-language").click()
    page.wait_for_load_state("networkidle")
    assert "Filed loans" in page.content() and "filed in time" in page.get_by_test_id("bank-loans").inner_text()
    _shot(page, "bank-loans-english")
    page.get_by_test_id("switch-language").click()
    page.wait_for_load_state("networkidle")
    _logout(page)


def test_a_finance_office_previews_an_upload_then_records_the_good_rows(context, site, tmp_path):
    upload = tmp_path / "补助申请.csv"
    upload.write_text(
        "补助项目代码,单位统一社会信用代码,年度,计算基数名称,计算基数金额（元）\n"
        f"{SERVICE_PROGRAM},{GZ_ENTERPRISE},2018,,\n"
        f"no-such-program,{GZ_ENTERPRISE},2018,,\n"
        f"{SERVICE_PROGRAM},{GZ_ENTERPRISE},二〇一八,,\n",
        encoding="gb18030",
    )
    page = _login(context, site, "gz-clerk")
    page.get_by_test_id("nav-uploads").click()
    page.wait_for_load_state("networkidle")
    _shot(page, "upload-index")
    page.get_by_test_id("file-subsidy-applications").set_input_files(str(upload))
    page.get_by_test_id("preview-subsidy-applications").click()
    page.wait_for_load_state("networkidle")
    rows = page.get_by_test_id("upload-rows")
    assert rows.locator("tr[data-status=ok]").count() == 1 and rows.locator("tr[data-status=refused]").count() == 2
    assert "program_not_found" in page.get_by_test_id("row-3").inner_text()
    assert "“年度”不是整数" in page.get_by_test_id("row-4").inner_text()
    _shot(page, "upload-preview")
    page.get_by_test_id("upload-submit").click()
    page.wait_for_load_state("networkidle")
    assert "已记录 1 行" in page.get_by_test_id("notice").inner_text()
    assert page.get_by_test_id("row-2").get_attribute("data-status") == "ok"
    _shot(page, "upload-recorded")
    page.go_back()  # the same submit again: recorded before, not again
    page.get_by_test_id("upload-submit").click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_test_id("row-2").get_attribute("data-status") == "replayed"
    page.goto(f"{site.base}/web/finance")
    assert page.get_by_test_id("approvals").locator("tr", has_text="广州某科技有限公司").count() >= 1
    _logout(page)


def test_the_providers_page_in_both_languages(context, site):
    page = _login(context, site, "sh-provider")
    assert page.url.endswith(f"/web/providers/{SH_PROVIDER}")
    batches = page.get_by_test_id("provider-batches").inner_text()
    assert "2026-Q1" in batches and "已支付" in batches
    assert page.get_by_test_id("provider-to-claim-none").count() == 1
    _shot(page, "provider-claims-and-batches")
    page.get_by_test_id("switch-language").click()
    page.wait_for_load_state("networkidle")
    assert "Payment batches" in page.content() and "paid" in page.get_by_test_id("provider-batches").inner_text()
    _shot(page, "provider-claims-and-batches-english")
    page.get_by_test_id("switch-language").click()
    page.wait_for_load_state("networkidle")
