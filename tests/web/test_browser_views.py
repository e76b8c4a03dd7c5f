"""The finance office's and auditor's views in a real browser: Debian's Chromium (headless, through
Playwright) against a real ``fundledger serve`` on the demo data, after the demo's breach scan (an open
Guangzhou alert) and a reconcile run (a recorded result for the audit page).

The office resolves the alert on the page (a blank reason refused with the rule's message in Chinese, then
resolved with a reason), sees its pools and its region's subsidy, fund and pool books; the auditor reads the
dashboard without its forms and the last reconcile run as recorded; admin sees each settlement with both
regions' figures side by side, in both languages. Every request stays on the app's origin (the context
fixture of test_browser records them). Screenshots go to test-artifacts/screenshots/views-*.png."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from tests.web.test_browser import (
    DEMO_USER_LINE,
    SECRET,
    Site,
    _cli,
    _demo_database,
    _login,
    _logout,
    _shot,
    browser,  # noqa: F401 - a fixture this module uses
    context,  # noqa: F401 - a fixture this module uses
    serving,
)

JOB_SECONDS = 120
POOL = "gz-sme-pool"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[Site]:
    """The demo database copied for this module, its breach scan and reconcile run, and a server on it."""
    folder = tmp_path_factory.mktemp("browser-views")
    env = os.environ | {"FUNDLEDGER_ENV": "development", "FUNDLEDGER_JWT_SECRET": SECRET, "COLUMNS": "200"}
    built, printed = _demo_database(tmp_path_factory, env)
    shutil.copy(built, folder / "demo.db")
    database = f"sqlite:///{folder / 'demo.db'}"
    for job in ("breach-scan", "reconcile"):
        ran = subprocess.run(
            _cli("jobs", "run", job, "--database-url", database),
            env=env, capture_output=True, text=True, timeout=JOB_SECONDS,
        )  # fmt: skip
        assert ran.returncode in (0, 1), ran.stderr[-2000:]  # 1: the run left alerts open, as it should here
    passwords = {m.group(1): m.group(2) for m in map(DEMO_USER_LINE.match, printed.splitlines()) if m}
    with serving(folder, database, env) as base:
        yield Site(base, passwords)


def test_the_office_resolves_an_alert_with_a_reason_and_sees_its_regions_books(context, site):  # noqa: F811
    page = _login(context, site, "gz-director")
    page.wait_for_selector("[data-testid=budget-chart][data-drawn=true] canvas")
    pool = page.get_by_test_id(f"pool-{POOL}")
    assert re.search(r"¥[\d,]+\.\d\d", pool.get_by_test_id("pool-balance").inner_text())
    rows = page.get_by_test_id("alerts").locator("tbody tr")
    assert rows.count() == 1 and "grants of 2019" in rows.first.inner_text()
    _shot(page, "views-office-dashboard")

    rows.first.locator("button").click()  # no reason given
    refusal = page.get_by_test_id("alert-refusal")
    refusal.wait_for()
    assert "须填写理由" in refusal.inner_text() and "reason_required" in refusal.inner_text()
    assert page.get_by_test_id("alerts").locator("tbody tr").count() == 1  # nothing written
    _shot(page, "views-office-alert-refused")
    row = page.get_by_test_id("alerts").locator("tbody tr").first
    row.locator("input[name=reason]").fill("预算调剂已批复，穗财预〔2019〕12号")
    row.locator("button").click()
    page.get_by_test_id("alert-notice").wait_for()
    assert "已处理" in page.get_by_test_id("alert-notice").inner_text()
    assert page.get_by_test_id("alerts").count() == 0 and "没有未处理的预警" in page.content()
    _shot(page, "views-office-alert-resolved")

    page.goto(f"{site.base}/web/trial-balance")
    books = set(page.locator("select[name=book] option").all_inner_texts())
    assert {"gz-budget", "gz-finance", f"pool:{POOL}", "gf:gz-tt-gf", "sf:gz-seed-1"} <= books
    assert not any(book.startswith(("zhongshan", "fuqing", "vouchers-310000")) for book in books)
    page.select_option("select[name=book]", f"pool:{POOL}")
    page.click("main form button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert f"book=pool%3A{POOL}" in page.url or f"book=pool:{POOL}" in page.url  # the filter is in the URL
    assert "Assets:Bank:Pool" in page.get_by_test_id("trial-balance").inner_text()
    _shot(page, "views-office-trial-balance-pool")
    with page.expect_download() as download:
        page.goto(f"{site.base}/web/finance")
        page.get_by_test_id("export-xlsx").click()
    assert download.value.suggested_filename.startswith("finance-") and download.value.path().stat().st_size > 0
    _logout(page)


def test_the_auditor_reads_without_forms_and_sees_the_recorded_reconcile(context, site):  # noqa: F811
    page = _login(context, site, "gz-auditor")
    assert page.get_by_test_id("read-only").count() == 1
    assert page.locator("form[action*='/resolve'], form[action*='/approve']").count() == 0
    page.goto(f"{site.base}/web/audit")
    result = page.get_by_test_id("reconcile-result").inner_text()
    assert "对账通过" in result, result
    assert int(page.get_by_test_id("reconcile-sealed_links").inner_text()) > 0
    assert page.get_by_test_id("chain-heads").locator("tbody tr").count() >= 1
    _shot(page, "views-auditor-audit")
    page.goto(f"{site.base}/web/trial-balance?book=gz-finance")
    page.get_by_test_id("trial-balance").locator("a").first.click()
    page.get_by_test_id("history").locator("a").first.click()
    page.get_by_test_id("chain-status").wait_for()
    page.emulate_media(media="print")  # the 记账凭证 as printed: no navigation bar, no forms
    assert not page.locator("header.topbar").is_visible()
    _shot(page, "views-auditor-voucher-print")
    page.emulate_media(media="screen")
    _logout(page)


def test_admin_sees_each_settlement_with_both_regions_side_by_side(context, site):  # noqa: F811
    page = _login(context, site, "admin")
    page.goto(f"{site.base}/web/settlements")
    settlements = page.locator("div.settlement")
    assert settlements.count() == 3
    for index in range(settlements.count()):
        block = settlements.nth(index)
        assert block.get_by_test_id("agrees").count() == 1
        low = block.get_by_test_id("low-payable_fen").inner_text()
        high = block.get_by_test_id("high-receivable_fen").inner_text()
        assert low == high and low.startswith("¥")  # what one side owes, the other is owed
    assert "上海市" in page.content()
    _shot(page, "views-admin-settlements")
    page.goto(f"{site.base}/web/settlements?region=320500")
    assert page.locator("div.settlement").count() == 2
    assert page.locator("input[name=region]").input_value() == "320500"
    page.get_by_test_id("switch-language").click()
    page.wait_for_load_state("networkidle")
    assert "Cross-region settlements" in page.locator("h1").inner_text()
    assert "region=320500" in page.url and page.locator("div.settlement").count() == 2
    _shot(page, "views-admin-settlements-english")
    page.get_by_test_id("switch-language").click()
    page.wait_for_load_state("networkidle")
    _logout(page)
