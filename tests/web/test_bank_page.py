"""The partner bank's page over httpx (SQLite and PostgreSQL): its own filed loans with the filing deadline the
filing rule enforces, its claims with what was paid and what is owed, the payouts it still has recoveries to
report against; another bank's page and loans are a 404 (editing the URL), an office of the pool's region
sees them, an office of another region does not, and a role without the page gets a 403."""

from __future__ import annotations

import re

import pytest

from tests.web.partners_support import (
    BANK_A,
    BANK_B,
    GUANGZHOU,
    SHENZHEN,
    add_users,
    build_lending,
    login,
    make_app,
)


@pytest.fixture
def site(engine, ledger):
    lending = build_lending(ledger)
    add_users(
        engine,
        {
            "bank-a": ("bank", [f"institution:{BANK_A}"]),
            "bank-b": ("bank", [f"institution:{BANK_B}"]),
            "gz-office": ("finance_office", [f"region:{GUANGZHOU}"]),
            "sz-office": ("finance_office", [f"region:{SHENZHEN}"]),
            "fund-manager": ("fund_manager", ["fund:gz-tt-gf"]),
        },
    )
    return make_app(engine), lending


def _row(text: str, testid: str) -> str:
    match = re.search(rf'<tr data-testid="{testid}">(.*?)</tr>', text, re.S)
    assert match, f"no row {testid}"
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", match.group(1)))


def test_a_bank_lands_on_its_page_and_sees_its_own_loans_with_their_filing_window(site):
    app, lending = site
    client, home = login(app, "bank-a")
    assert home == f"/web/banks/{BANK_A}"
    page = client.get(home)
    assert page.status_code == 200 and "甲测试银行" in page.text
    defaulted = _row(page.text, f"loan-{lending.defaulted_loan}")
    # disbursed 2026-02-10, filed 2026-03-01: the Guangzhou window (3 months) ends 2026-05-10, 70 days later
    assert "A-0001" in defaulted and "2026-05-10" in defaulted and "截止前 70 天" in defaulted
    assert "¥4,000,000.00" in defaulted and "¥3,000,000.00" not in defaulted and "已违约" in defaulted
    performing = _row(page.text, f"loan-{lending.performing_loan}")
    assert "2026-08-31" in performing and "截止前 62 天" in performing and "正常" in performing  # 31 May + 3 months
    assert "B-0001" not in page.text and "乙测试银行" not in page.text


def test_the_claim_shows_what_was_paid_and_owed_and_the_recovery_room_left(site):
    app, lending = site
    client, home = login(app, "bank-a")
    page = client.get(home).text
    claim = _row(page, f"claim-{lending.claim}")
    # 50% of 400万 is 200万, the per-loan cap 300万 does not bind: entitled 200万, all paid, nothing owed
    assert "¥2,000,000.00" in claim and "补偿比例" in claim and "¥0.00" in claim and "穗科补〔2026〕1号" in claim
    to_recover = re.search(r'data-testid="bank-to-recover">(.*?)</table>', page, re.S).group(1)
    # 90万 net recovered, the pool bore half of the loss: 45万 returned, 155万 may still be returned
    assert "¥450,000.00" in to_recover and "¥1,550,000.00" in to_recover and "2027-03-01" in to_recover


def test_another_banks_page_and_loan_are_a_404_like_one_that_does_not_exist(site):
    app, lending = site
    client, _ = login(app, "bank-a")
    other_page = client.get(f"/web/banks/{BANK_B}")
    other_loan = client.get(f"/web/loans/{lending.other_bank_loan}")
    missing_loan = client.get("/web/loans/99999")
    assert other_page.status_code == other_loan.status_code == missing_loan.status_code == 404
    assert "B-0001" not in other_loan.text and "乙测试银行" not in other_page.text
    own = client.get(f"/web/loans/{lending.defaulted_loan}")
    assert own.status_code == 200 and "A-0001" in own.text and "¥450,000.00" in own.text
    bank_b, _ = login(app, "bank-b")
    assert bank_b.get(f"/web/loans/{lending.defaulted_loan}").status_code == 404
    assert "B-0001" in bank_b.get(f"/web/banks/{BANK_B}").text


def test_the_pools_office_sees_a_banks_page_and_another_regions_office_does_not(site):
    app, lending = site
    guangzhou, _ = login(app, "gz-office")
    page = guangzhou.get(f"/web/banks/{BANK_B}")
    assert page.status_code == 200 and "B-0001" in page.text and "A-0001" not in page.text
    assert guangzhou.get(f"/web/loans/{lending.defaulted_loan}").status_code == 200
    shenzhen, _ = login(app, "sz-office")
    assert shenzhen.get(f"/web/banks/{BANK_A}").status_code == 404
    assert shenzhen.get(f"/web/loans/{lending.defaulted_loan}").status_code == 404


def test_a_role_without_the_page_gets_a_403_and_a_malformed_code_a_404(site):
    app, _ = site
    manager, _ = login(app, "fund-manager")
    refused = manager.get(f"/web/banks/{BANK_A}")
    assert refused.status_code == 403 and "role_forbidden" in refused.text
    bank, _ = login(app, "bank-a")
    assert bank.get("/web/banks/not-a-credit-code").status_code == 404
    assert bank.get("/web/loans/0").status_code == 422 and "Traceback" not in bank.get("/web/loans/0").text


def test_the_page_in_english_and_in_wan(site):
    app, lending = site
    client, home = login(app, "bank-a")
    client.cookies.set("fl_lang", "en")
    client.cookies.set("fl_unit", "wan")
    page = client.get(home).text
    assert "Filed loans" in page and "Recoveries to report" in page
    assert "filed in time (70 days to spare)" in _row(page, f"loan-{lending.defaulted_loan}")
    assert "400.00万元" in _row(page, f"loan-{lending.defaulted_loan}")


def test_the_bank_is_pointed_to_its_record_forms_and_an_office_is_not(site):
    app, _ = site
    client, home = login(app, "bank-a")
    page = client.get(home).text
    links = re.findall(r'href="(/web/(?:forms|uploads)[^"#]*)', page)
    assert {"/web/forms/loan", "/web/forms/pool-claim", "/web/forms/recovery", "/web/uploads"} <= set(links)
    assert all(client.get(link).status_code == 200 for link in set(links))
    office, _ = login(app, "gz-office")
    assert 'data-testid="bank-file-loan"' not in office.get(f"/web/banks/{BANK_A}").text
