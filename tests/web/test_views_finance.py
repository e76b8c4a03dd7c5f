"""The finance office's and auditor's views over httpx (SQLite and PostgreSQL): alerts resolved with a reason
on the page (a blank reason refused with the rule's message in the page's language, another region's alert
a 404, an auditor only reads), pools' balance and exposure as the pool service reports them, settlements
with both regions' statements side by side and paged by key with the filter in the URL, the dashboard
workbook, and the audit page's last reconcile result as the job recorded it."""

from __future__ import annotations

import io
import re
from datetime import date

import openpyxl
import pytest

from api.app import create_app
from api.settings import Settings
from api.web import routes_views
from funds.config import BankAgreementTerms
from funds.pools import RiskPools
from jobs.alerts import Finding, list_alerts, record_findings
from jobs.definitions import run as run_job_now
from jobs.runs import JobOutcome, run_job
from ledger.engine import today_shanghai
from tests.web._views_world import MANAGER_CODE, POOL, SECRET, add_users, build_world, csrf_of, login
from vouchers import demo as voucher_demo
from vouchers import listings as voucher_listings
from vouchers.settlement import statement

BANK = "91440101MA5CBANK0H"
ALERT_ROW = re.compile(r'data-testid="alert-(\d+)"')


def _app(engine):  # noqa: ANN001, ANN202
    return create_app(engine, Settings(jwt_secret=SECRET, auth_failure_rate="50/minute"))


@pytest.fixture
def office(engine, ledger):
    """The small world, a pool with money and a filed loan, alerts in Guangzhou and Shenzhen, and users."""
    build_world(ledger)
    ledger.register_institution(BANK, "广州某银行", "bank", region_code="440100")
    ledger.register_institution(MANAGER_CODE, "广州某科技公司", "enterprise", region_code="440100")
    pools = RiskPools(ledger)
    pools.contribute(POOL, "440000", "3000000.00", date(2026, 1, 10), actor="a", approver="b", client_id="c1")
    pools.contribute(POOL, "440106", "4500000.00", date(2026, 1, 10), actor="a", approver="b", client_id="c2")
    pools.add_bank(POOL, BANK, BankAgreementTerms(source="test agreement"), date(2026, 1, 1), date(2028, 12, 31))
    pools.file_loan(
        POOL, BANK, MANAGER_CODE, "L-1", "2000000.00", date(2026, 3, 1), 12, date(2026, 3, 20),
        actor="bank-clerk", client_id="l1",
    )  # fmt: skip
    with ledger.engine.begin() as conn:
        record_findings(
            conn,
            "breach-scan",
            [
                Finding(
                    "subsidy_cap",
                    "gz:institution-a",
                    "grant above the per-year cap",
                    region="440100",
                    amount_fen=12_000_000_00,
                    limit_fen=10_000_000_00,
                ),
                Finding(
                    "subsidy_cap",
                    "sz:institution-b",
                    "shenzhen grant above the cap",
                    region="440300",
                    amount_fen=3_00,
                    limit_fen=2_00,
                ),
            ],  # fmt: skip
            ["subsidy_cap"],
        )
    add_users(
        engine,
        {
            "gz-office": ("finance_office", ["region:440100"]),
            "gz-auditor": ("auditor", ["region:440100"]),
            "sz-office": ("finance_office", ["region:440300"]),
        },
    )
    return _app(engine)


def _alert_id(engine, region: str) -> int:  # noqa: ANN001
    return next(alert["id"] for alert in list_alerts(engine) if alert["region"] == region)


def test_the_office_sees_its_regions_alerts_and_resolves_one_with_a_reason(office, engine):
    client = login(office, "gz-office")
    page = client.get("/web/finance")
    gz, sz = _alert_id(engine, "440100"), _alert_id(engine, "440300")
    assert ALERT_ROW.findall(page.text) == [str(gz)] and "shenzhen grant" not in page.text
    token = csrf_of(client, "/web/finance")
    resolved = client.post(
        f"/web/alerts/{gz}/resolve", data={"csrf_token": token, "reason": "  exception approved  by the bureau "}
    )
    assert resolved.status_code == 200 and f"预警 {gz} 已处理" in resolved.text
    assert ALERT_ROW.findall(resolved.text) == []
    alert = next(alert for alert in list_alerts(engine, status="all") if alert["id"] == gz)
    assert (alert["resolved_by"], alert["resolution_reason"]) == ("gz-office", "exception approved by the bureau")
    again = client.post(
        f"/web/alerts/{gz}/resolve", data={"csrf_token": token, "reason": "exception approved by the bureau"}
    )
    assert again.status_code == 200  # the same resolution sent twice changes nothing
    other = client.post(f"/web/alerts/{sz}/resolve", data={"csrf_token": token, "reason": "not mine"})
    assert other.status_code == 404 and "alert_not_found" in other.text
    assert next(alert for alert in list_alerts(engine) if alert["id"] == sz)["resolved_at"] is None


def test_a_resolve_without_a_reason_is_refused_with_the_rules_message_in_the_pages_language(office, engine):
    client = login(office, "gz-office")
    gz = _alert_id(engine, "440100")
    token = csrf_of(client, "/web/finance")
    refused = client.post(f"/web/alerts/{gz}/resolve", data={"csrf_token": token, "reason": "   "})
    assert refused.status_code == 409
    card = refused.text[refused.text.index('data-testid="alert-refusal"') :]
    assert card.index("须填写理由。") < card.index("reason_required") < card.index("resolving an alert needs a reason")
    assert ALERT_ROW.findall(refused.text) == [str(gz)]  # still open: nothing written
    client.cookies.set("fl_lang", "en")
    english = client.post(
        f"/web/alerts/{gz}/resolve", data={"csrf_token": token, "reason": ""}, headers={"HX-Request": "true"}
    )
    assert english.status_code == 200 and english.text.lstrip().startswith('<section class="card" id="alerts"')
    assert "resolving an alert needs a reason" in english.text and "须填写理由" not in english.text
    assert list_alerts(engine, status="resolved") == []


def test_an_auditor_reads_the_dashboard_without_its_forms_and_cannot_resolve(office, engine):
    client = login(office, "gz-auditor")
    page = client.get("/web/finance")
    assert page.status_code == 200 and 'data-testid="read-only"' in page.text
    assert ALERT_ROW.findall(page.text) == [str(_alert_id(engine, "440100"))]
    assert "/resolve" not in page.text and 'data-testid="record-form"' not in page.text
    token = csrf_of(client, "/web/finance")
    refused = client.post(
        f"/web/alerts/{_alert_id(engine, '440100')}/resolve", data={"csrf_token": token, "reason": "x"}
    )
    assert refused.status_code == 403 and "role_forbidden" in refused.text
    assert list_alerts(engine, status="resolved") == []


def test_pools_show_the_services_balance_and_exposure_to_their_funders_regions_only(office, ledger):
    service = RiskPools(ledger)
    page = login(office, "gz-office").get("/web/finance").text
    row = page[page.index(f'data-testid="pool-{POOL}"') :]
    assert service.balance_fen(POOL) == 7_500_000_00
    assert re.search(r'data-testid="pool-balance">¥7,500,000.00<', row)
    assert re.search(r'data-testid="pool-covered">¥2,000,000.00<', row)  # the one filed loan's principal
    assert f'data-testid="pool-{POOL}"' not in login(office, "sz-office").get("/web/finance").text


def test_the_dashboard_workbook_holds_the_pages_tables(office):
    client = login(office, "gz-office")
    response = client.get("/web/finance/export.xlsx")
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/vnd.openxml")
    workbook = openpyxl.load_workbook(io.BytesIO(response.content))
    assert workbook.sheetnames == ["项目预算执行", "单位年度对照上限", "风险补偿资金池", "跨区域结算单", "未处理的预警"]
    pools = list(workbook["风险补偿资金池"].iter_rows(values_only=True))
    assert pools[1][:4] == (POOL, "广东中小企业风险补偿资金池", 7_500_000, 2_000_000)
    alerts = list(workbook["未处理的预警"].iter_rows(values_only=True))
    assert [row[2] for row in alerts[1:]] == ["gz:institution-a"]


# ----- settlements side by side ------------------------------------------------------------------------


@pytest.fixture
def yrd(engine, ledger):
    """The Yangtze River Delta voucher demo: a settlement between each two of 310000, 320500 and 330100."""
    voucher_demo.load_demo(ledger)
    add_users(
        engine,
        {
            "sh-auditor": ("auditor", ["region:310000"]),
            "sz-office": ("finance_office", ["region:320500"]),
            "gz-office": ("finance_office", ["region:440100"]),
        },
    )
    return _app(engine)


def _settlements(ledger) -> list[dict]:  # noqa: ANN001
    with ledger.reader.connect() as conn:
        return voucher_listings.settlements(conn)


def _figure(text: str, settlement_id: int, side: str, name: str) -> str:
    block = text[text.index(f'data-testid="settlement-{settlement_id}"') :]
    return re.search(rf'data-testid="{side}-{name}">([^<]+)<', block).group(1)


def test_each_settlement_shows_both_regions_statements_from_their_own_books(yrd, ledger):
    rows = _settlements(ledger)
    pairs = {(row["region_low"], row["region_high"]): row["id"] for row in rows}
    assert set(pairs) == {("310000", "320500"), ("310000", "330100"), ("320500", "330100")}
    suzhou_pair = next(row for row in rows if (row["region_low"], row["region_high"]) == ("310000", "320500"))
    page = login(yrd, "sz-office").get("/web/finance").text
    shown = {int(found) for found in re.findall(r'data-testid="settlement-(\d+)"', page)}
    assert shown == {pairs["310000", "320500"], pairs["320500", "330100"]}  # the pairs Suzhou is a side of
    low, high = statement(ledger, suzhou_pair["id"], "310000"), statement(ledger, suzhou_pair["id"], "320500")
    for name in routes_views.STATEMENT_FIGURES:
        for side, figures in (("low", low), ("high", high)):
            fen = getattr(figures, name)
            shown = f"{'-' if fen < 0 else ''}¥{abs(fen) // 100:,}.{abs(fen) % 100:02d}"
            assert _figure(page, suzhou_pair["id"], side, name) == shown, (side, name)
    assert low.payable_fen == high.receivable_fen and 'data-testid="agrees"' in page
    assert "没有跨区域结算单" in login(yrd, "gz-office").get("/web/finance").text


def test_the_settlements_page_pages_by_key_and_keeps_its_region_filter_in_the_url(yrd, ledger, monkeypatch):
    monkeypatch.setattr(routes_views, "SETTLEMENTS_PAGE_SIZE", 1)
    shanghai = [row["id"] for row in _settlements(ledger) if "310000" in (row["region_low"], row["region_high"])]
    newest, older = sorted(shanghai, reverse=True)
    client = login(yrd, "sh-auditor")
    first = client.get("/web/settlements").text
    assert re.findall(r'data-testid="settlement-(\d+)"', first) == [str(newest)]
    next_url = re.search(r'href="([^"]+)" data-testid="next-page"', first).group(1).replace("&amp;", "&")
    assert next_url == f"/web/settlements?before={newest}"
    second = client.get(next_url).text
    assert re.findall(r'data-testid="settlement-(\d+)"', second) == [str(older)]
    assert 'data-testid="next-page"' not in second
    suzhou = next(
        row["id"] for row in _settlements(ledger) if (row["region_low"], row["region_high"]) == ("310000", "320500")
    )
    filtered = client.get("/web/settlements?region=320500").text
    assert re.findall(r'data-testid="settlement-(\d+)"', filtered) == [str(suzhou)]
    assert 'value="320500"' in filtered
    assert client.get("/web/settlements?region=not-a-region").status_code == 422


# ----- the audit page: the last reconcile run as recorded -------------------------------------------------


def test_the_audit_page_shows_the_last_reconcile_run_as_the_job_recorded_it(office, engine, ledger):
    client = login(office, "gz-auditor")
    assert 'data-testid="reconcile-none"' in client.get("/web/audit").text
    run_job_now(ledger, "reconcile")
    clean = client.get("/web/audit").text
    assert "对账通过" in clean and re.search(r'data-testid="reconcile-findings">0<', clean)
    # A later recorded run with findings is what the page shows: it reads the runs table, it verifies nothing.
    later = f"{today_shanghai().isoformat()}-later"
    run_job(engine, "reconcile", later, lambda: JobOutcome(counts={"findings": 2, "control_findings": 1}))
    found = client.get("/web/audit").text
    assert "对账发现 2 项问题" in found and later in found


def test_the_dashboards_long_tables_page_by_key_in_the_url(office, engine, monkeypatch):
    with engine.begin() as conn:
        record_findings(
            conn, "breach-scan",
            [Finding("subsidy_cap", f"gz:institution-{n}", f"finding {n}", region="440100") for n in range(5)],
            ["subsidy_cap"],
        )  # fmt: skip
    monkeypatch.setattr(routes_views, "ALERTS_PAGE_SIZE", 2)
    client = login(office, "gz-office")
    seen, url = [], "/web/finance"
    while url:
        page = client.get(url).text
        seen += ALERT_ROW.findall(page)
        found = re.search(r'href="([^"]+)#alerts" data-testid="alerts-next"', page)
        url = found.group(1) if found else None
    gz = [str(alert["id"]) for alert in list_alerts(engine) if alert["region"] == "440100"]
    assert seen == gz and len(gz) == 5  # each open alert of the region once, in order, two a page


def test_the_institution_year_table_pages_in_program_institution_year_order(monkeypatch):
    from api.web import routes_finance

    monkeypatch.setattr(routes_finance, "CAP_ROWS_PAGE_SIZE", 2)
    rows = [
        {"program": program, "institution": institution, "year": year}
        for program in ("gz-a", "gz-a-b")  # "gz-a" before "gz-a-b" as tuples, whatever the key's separator
        for institution in ("91440101MA5CXXXX1B",)
        for year in (2019, 2020)
    ]
    seen, after = [], None
    while True:
        shown, after = routes_finance._cap_page(list(reversed(rows)), after)
        seen += shown
        if after is None:
            break
    assert seen == rows
