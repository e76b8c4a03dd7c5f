"""The pages in a real browser: Debian's Chromium (headless, through Playwright) against a real
``fundledger serve`` on a loopback port with the demo data and its per-role users.

Each role logs in and sees its own data only; the approvals flow runs end to end (the clerk records, the
clerk's own approval is refused with the rule's message, the director approves, the enterprise sees the
grant); a cap refusal shows its rule's message; the language and unit switches work; and every request
the browser makes goes to the app's own origin. A screenshot of each page per role is saved under
test-artifacts/screenshots/ for a reviewer. A missing browser fails the suite: it is never skipped."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
SERVER_START_SECONDS = 30
DEMO_SECONDS = 180
SECRET = "browser-test-secret-that-is-long-enough-for-hs256"
ROLE_NAMES = "admin|finance_office|auditor|fund_manager|enterprise|bank|service_provider"
DEMO_USER_LINE = re.compile(rf"^\s{{2}}(\S+)\s+(\S+)\s+({ROLE_NAMES})\s")
GZ_ENTERPRISE_NAME = "广州某科技有限公司（演示）"
SH_ENTERPRISE_NAME = "上海市示范科技有限公司"
GZ_ENTERPRISE = "91440101MA59A0023L"
SH_ENTERPRISE = "91310000MA1D0X0K1Y"
SH_PROVIDER = "12310000MB2P0Y0R2N"
SERVICE_PROGRAM = "gz-service-demonstration"
SERVICE_PROGRAM_NAME = "广州市科技服务示范机构建设"
DEMONSTRATION_PLAN = "gz-demonstration-plan"
TRANSFER_CENTRE = "12440101MB2C00013J"  # already at its 2019 per-year cap in the demo
ACTION_TIMEOUT_MS = 15_000


@dataclass
class Site:
    base: str
    passwords: dict[str, str]
    requests: list[str] = field(default_factory=list)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "api.cli", *args]


def _shared_folder(tmp_path_factory) -> Path:
    """The run's temporary folder every xdist worker shares (a worker's own base is one level below)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def _demo_database(tmp_path_factory, env: dict[str, str]) -> tuple[Path, str]:
    """One demo database per test run, built by the first worker that needs it (the demo is the slow
    part), with what ``fundledger demo`` printed: the demo users and their passwords."""
    shared = _shared_folder(tmp_path_factory)
    built = shared / "web-demo.db"
    printed = shared / "web-demo.txt"
    with (shared / "web-demo.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not built.exists():
            building = shared / "web-demo-building.db"
            demo = subprocess.run(
                _cli("demo", "--database-url", f"sqlite:///{building}"),
                env=env,
                capture_output=True,
                text=True,
                timeout=DEMO_SECONDS,
            )
            assert demo.returncode == 0, demo.stderr[-3000:]
            printed.write_text(demo.stdout, encoding="utf-8")
            building.rename(built)
    return built, printed.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("browser")
    env = os.environ | {"FUNDLEDGER_ENV": "development", "FUNDLEDGER_JWT_SECRET": SECRET, "COLUMNS": "200"}
    built, printed = _demo_database(tmp_path_factory, env)
    shutil.copy(built, folder / "demo.db")  # each server writes to its own copy
    database = f"sqlite:///{folder / 'demo.db'}"
    passwords = {m.group(1): m.group(2) for m in map(DEMO_USER_LINE.match, printed.splitlines()) if m}
    assert {"gz-clerk", "gz-director", "gz-enterprise", "sh-enterprise", "gz-auditor", "admin"} <= set(passwords)
    with serving(folder, database, env) as base:
        yield Site(base, passwords)


@contextlib.contextmanager
def serving(folder: Path, database: str, env: dict[str, str]) -> Iterator[str]:
    """A real ``fundledger serve`` (no scheduler) on a free loopback port over ``database``, its output in
    ``folder/serve.log``; yields its base URL once the login page answers, and stops it after."""
    port = _free_port()
    log = (folder / "serve.log").open("wb")
    server = subprocess.Popen(
        _cli("serve", "--no-scheduler", "--port", str(port), "--database-url", database),
        env=env,
        stdout=log,
        stderr=log,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_SECONDS
        while True:
            try:
                if httpx.get(f"{base}/web/login").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, (folder / "serve.log").read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, "fundledger serve did not start"
            time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium fonts-noto-cjk (scripts/test.sh does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield launched
        launched.close()


@pytest.fixture
def context(browser, site):
    """A fresh browser profile per test; every request it makes is recorded, and must stay on the app."""
    made = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    made.set_default_timeout(ACTION_TIMEOUT_MS)
    recorded: list[str] = []
    made.on("request", lambda request: recorded.append(request.url))
    yield made
    made.close()
    outside = [url for url in recorded if not url.startswith(site.base + "/")]
    assert recorded and not outside, f"requests outside the app: {outside}"
    site.requests.extend(recorded)


def _shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def _login(context, site: Site, username: str):
    page = context.new_page()
    page.goto(f"{site.base}/web/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", site.passwords[username])
    page.click("main button[type=submit]")
    page.wait_for_load_state("networkidle")
    shown = page.get_by_test_id("username")
    assert shown.count() == 1, f"{username} is not signed in at {page.url}: {page.locator('main').inner_text()[:500]}"
    assert shown.inner_text() == username
    return page


def _logout(page) -> None:
    page.get_by_test_id("logout").click()
    page.wait_for_url("**/web/login")


def test_each_role_logs_in_and_sees_only_its_own_data(context, site):
    page = _login(context, site, "gz-enterprise")
    assert page.get_by_test_id("enterprise-name").inner_text() == GZ_ENTERPRISE_NAME
    assert "南沙区科技成果转化营收奖励" in page.get_by_test_id("subsidies").inner_text()
    assert SH_ENTERPRISE_NAME not in page.content()
    _shot(page, "enterprise-gz-vouchers-and-subsidies")
    _logout(page)

    page = _login(context, site, "sh-enterprise")
    assert page.get_by_test_id("enterprise-name").inner_text() == SH_ENTERPRISE_NAME
    positions = page.get_by_test_id("positions").inner_text()
    assert "YRD-310000-2026" in positions and "2026-11-30" in positions and "¥" in positions
    assert "上海市科技服务平台" in page.get_by_test_id("redemptions").inner_text()
    _shot(page, "enterprise-sh-vouchers")
    response = page.goto(f"{site.base}/web/enterprises/{GZ_ENTERPRISE}")  # editing the URL to another's page
    assert response.status == 404 and GZ_ENTERPRISE_NAME not in page.content()
    assert "不在您的权限范围内" in page.get_by_test_id("refusal").inner_text()
    _shot(page, "enterprise-sh-other-enterprise-404")
    assert page.goto(f"{site.base}/web/finance").status == 403
    _logout(page)

    page = _login(context, site, "gz-auditor")
    assert page.url.endswith("/web/finance")
    page.wait_for_selector("[data-testid=budget-chart][data-drawn=true] canvas")
    assert page.locator("button:has-text('批准')").count() == 0  # read-only
    assert "gz-income-award-pilot" in page.get_by_test_id("budget").inner_text()
    assert "YRD-310000-2026" not in page.content()  # Shanghai's programs are outside 440100
    _shot(page, "auditor-finance-dashboard")
    page.goto(f"{site.base}/web/trial-balance")
    _shot(page, "auditor-trial-balance")
    page.get_by_test_id("trial-balance").locator("a").first.click()
    page.wait_for_selector("[data-testid=history]")
    _shot(page, "auditor-account-history")
    page.get_by_test_id("history").locator("a").first.click()
    assert "已封存" in page.get_by_test_id("chain-status").inner_text()
    assert page.get_by_test_id("actor").inner_text()
    _shot(page, "auditor-transaction")
    page.goto(f"{site.base}/web/audit")
    assert page.get_by_test_id("chain-heads").locator("tbody tr").count() >= 1
    _shot(page, "auditor-audit")
    _logout(page)

    page = _login(context, site, "gz-fund-manager")
    assert page.url.endswith("/web/funds/gz-tt-gf")
    assert "gz-seed-1" in page.get_by_test_id("subfunds").inner_text()
    page.wait_for_selector("[data-testid=tvpi-chart][data-drawn=true] canvas")
    _shot(page, "fund-manager-guidance-fund")
    assert page.goto(f"{site.base}/web/finance").status == 403
    _logout(page)

    page = _login(context, site, "sh-provider")
    assert page.url.endswith(f"/web/providers/{SH_PROVIDER}")
    claimed = page.get_by_test_id("provider-redemptions").inner_text()
    assert SH_ENTERPRISE_NAME in claimed and "已支付" in claimed
    _shot(page, "provider-redemptions")
    assert page.goto(f"{site.base}/web/enterprises/{SH_ENTERPRISE}").status == 403
    _logout(page)

    page = _login(context, site, "gz-bank")
    assert "/web/banks/" in page.url  # its own page (tests/web/test_browser_partners.py looks inside)
    _shot(page, "bank-home")
    _logout(page)


def _queue_row(page, institution_name: str):
    return page.get_by_test_id("approvals").locator("tr", has_text=institution_name).first


def test_clerk_records_director_approves_and_the_grant_reaches_the_enterprise(context, site):
    page = _login(context, site, "gz-clerk")
    form = page.get_by_test_id("record-form")
    form.locator("select[name=program]").select_option(SERVICE_PROGRAM)
    form.locator("select[name=institution]").select_option(GZ_ENTERPRISE)
    form.locator("input[name=year]").fill("2020")
    form.get_by_test_id("record-submit").click()
    page.wait_for_load_state("networkidle")
    assert "等待另一人审批" in page.get_by_test_id("notice").inner_text()
    row = _queue_row(page, GZ_ENTERPRISE_NAME)
    row.locator("input[name=approval_doc]").fill("穗科函〔2020〕8号")
    row.locator("button:has-text('批准')").click()  # the recorder approving its own record
    refusal = page.get_by_test_id("refusal")
    refusal.wait_for()
    assert "a second person must approve it" in refusal.inner_text()
    assert "checker_must_differ_from_maker" in refusal.inner_text() and "Traceback" not in page.content()
    _shot(page, "clerk-own-approval-refused")
    _logout(page)

    page = _login(context, site, "gz-director")
    row = _queue_row(page, GZ_ENTERPRISE_NAME)
    row.locator("input[name=approval_doc]").fill("穗科函〔2020〕8号")
    row.locator("button:has-text('批准')").click()
    page.get_by_test_id("notice").wait_for()
    assert "已批准" in page.get_by_test_id("notice").inner_text()
    assert GZ_ENTERPRISE_NAME not in page.get_by_test_id("approvals").inner_text()
    _shot(page, "director-approved")
    _logout(page)

    page = _login(context, site, "gz-enterprise")
    subsidies = page.get_by_test_id("subsidies").inner_text()
    assert SERVICE_PROGRAM_NAME in subsidies and "2020" in subsidies and "gz-director" in subsidies
    _shot(page, "enterprise-gz-after-approval")


def test_a_cap_refusal_shows_the_rules_message(context, site):
    page = _login(context, site, "gz-clerk")
    form = page.get_by_test_id("record-form")
    form.locator("select[name=program]").select_option(DEMONSTRATION_PLAN)
    form.locator("select[name=institution]").select_option(TRANSFER_CENTRE)
    form.locator("input[name=year]").fill("2019")
    form.get_by_test_id("record-submit").click()
    page.wait_for_load_state("networkidle")
    _logout(page)
    page = _login(context, site, "gz-director")
    row = page.get_by_test_id("approvals").locator("tr", has_text="广州技术转移服务中心").first
    row.locator("input[name=approval_doc]").fill("穗科函〔2019〕9号")
    row.locator("button:has-text('预览')").click()  # the dry run: which cap binds, nothing written
    preview = page.get_by_test_id("preview")
    preview.wait_for()
    assert "institution_year" in preview.inner_text(), preview.inner_text()
    _shot(page, "director-cap-preview")
    row = page.get_by_test_id("approvals").locator("tr", has_text="广州技术转移服务中心").first
    row.locator("input[name=approval_doc]").fill("穗科函〔2019〕9号")
    row.locator("button:has-text('批准')").click()
    refusal = page.get_by_test_id("refusal")
    refusal.wait_for()
    text = refusal.inner_text()
    assert "institution_year" in text or "cap" in text, text
    assert "Traceback" not in page.content()
    _shot(page, "director-cap-refusal")


def test_the_language_and_unit_switches(context, site):
    page = _login(context, site, "sh-enterprise")
    assert page.locator("h1").inner_text().startswith("我的创新券")
    page.get_by_test_id("switch-language").click()
    page.wait_for_load_state("networkidle")
    assert page.locator("h1").inner_text().startswith("My innovation vouchers")
    assert "Available" in page.get_by_test_id("positions").inner_text()
    page.get_by_test_id("switch-unit").click()
    page.wait_for_load_state("networkidle")
    positions = page.get_by_test_id("positions").inner_text()
    assert "万元" in positions and "¥" not in positions
    _shot(page, "enterprise-sh-english-wan")
    page.get_by_test_id("switch-unit").click()
    page.get_by_test_id("switch-language").click()
    page.wait_for_load_state("networkidle")
    assert page.locator("h1").inner_text().startswith("我的创新券") and "¥" in page.content()
