"""Region scope of the domain books (SQLite and PostgreSQL): a region's finance office and auditor see the
subsidy, fund and pool books of their region, on the trial-balance page and in the API's books listing and
trial balance, and never another region's; a book outside the scope is the same 404 as one that does not
exist; admin sees every book."""

from __future__ import annotations

import re

import pytest

from api.app import create_app
from api.settings import Settings
from tests.web._views_world import (
    FUND_BOOKS,
    GZ_SUBSIDY_BOOKS,
    NANSHA_BOOKS,
    POOL_BOOKS,
    SECRET,
    ZHONGSHAN_BOOKS,
    add_users,
    api_key,
    build_world,
    login,
)

BOOK_OPTION = re.compile(r'<option value="([^"]+)"')
# Who sees which of the world's domain books: Guangzhou covers Nansha (inside it) and the pool's district
# funder; the province covers everything in Guangdong; Nansha only its own; Shenzhen none of them.
SEEN = {
    ("finance_office", "440100"): GZ_SUBSIDY_BOOKS | NANSHA_BOOKS | FUND_BOOKS | POOL_BOOKS,
    ("auditor", "440100"): GZ_SUBSIDY_BOOKS | NANSHA_BOOKS | FUND_BOOKS | POOL_BOOKS,
    ("auditor", "440000"): GZ_SUBSIDY_BOOKS | NANSHA_BOOKS | FUND_BOOKS | POOL_BOOKS | ZHONGSHAN_BOOKS,
    ("finance_office", "440115"): NANSHA_BOOKS,
    ("auditor", "440106"): POOL_BOOKS,
    ("finance_office", "440300"): set(),
}
ALL_DOMAIN_BOOKS = GZ_SUBSIDY_BOOKS | NANSHA_BOOKS | ZHONGSHAN_BOOKS | FUND_BOOKS | POOL_BOOKS


@pytest.fixture
def views(engine, ledger):
    build_world(ledger)
    add_users(engine, {f"{role}-{region}": (role, [f"region:{region}"]) for role, region in SEEN})
    return create_app(engine, Settings(jwt_secret=SECRET, auth_failure_rate="50/minute"))


@pytest.mark.parametrize(("role", "region"), list(SEEN))
def test_a_region_sees_its_domain_books_and_no_other_regions_over_the_api(views, engine, role, region):
    from fastapi.testclient import TestClient

    headers = api_key(engine, role, f"region:{region}")
    with TestClient(views, raise_server_exceptions=False) as client:
        listed = {book["code"] for book in client.get("/v1/books?limit=200", headers=headers).json()["items"]}
        assert listed & ALL_DOMAIN_BOOKS == SEEN[role, region]
        balanced = {row["book"] for row in client.get("/v1/trial-balance", headers=headers).json()}
        assert balanced <= SEEN[role, region]
        assert ("gz-budget" in balanced) == ("gz-budget" in SEEN[role, region])  # the appropriations show
        for book in sorted(ALL_DOMAIN_BOOKS):
            expected = 200 if book in SEEN[role, region] else 404
            assert client.get(f"/v1/books/{book}", headers=headers).status_code == expected, book


@pytest.mark.parametrize(("role", "region"), list(SEEN))
def test_the_trial_balance_page_shows_the_regions_domain_books_only(views, role, region):
    client = login(views, f"{role}-{region}")
    page = client.get("/web/trial-balance")
    assert page.status_code == 200
    assert set(BOOK_OPTION.findall(page.text)) - {""} & ALL_DOMAIN_BOOKS == SEEN[role, region]
    for book in sorted(ALL_DOMAIN_BOOKS):
        one = client.get("/web/trial-balance", params={"book": book})
        assert one.status_code == (200 if book in SEEN[role, region] else 404), book
        account = client.get(f"/web/books/{book}/accounts/Assets:Bank")
        assert account.status_code != 200 or book in SEEN[role, region], book


def test_the_pages_account_history_of_a_subsidy_book_opens_inside_the_region(views):
    client = login(views, "finance_office-440100")
    page = client.get("/web/books/gz-budget/accounts/BudgetRevenue:Appropriations:gz-service-demonstration")
    assert page.status_code == 200 and 'data-testid="history"' in page.text and "#" in page.text
    outside = login(views, "finance_office-440300")
    hidden = outside.get("/web/books/gz-budget/accounts/BudgetRevenue:Appropriations:gz-service-demonstration")
    assert hidden.status_code == 404 and "book_not_found" in hidden.text


def test_admin_sees_every_domain_book(views, engine):
    from fastapi.testclient import TestClient

    with TestClient(views, raise_server_exceptions=False) as client:
        listed = client.get("/v1/books?limit=200", headers=api_key(engine, "admin")).json()["items"]
    assert ALL_DOMAIN_BOOKS <= {book["code"] for book in listed}
