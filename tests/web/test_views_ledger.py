"""The trial balance page (SQLite and PostgreSQL): a page of rows at a time by key with the whole
selection's totals and its filters in the URL; a new posting shows at once (the cache follows the posted
version); an empty date field is no filter; the CSV and workbook exports hold the whole selection, in the
reader's scope only."""

from __future__ import annotations

import csv
import io
import re
from datetime import date

import openpyxl
import pytest

from api.app import create_app
from api.settings import Settings
from api.web import routes_ledger
from ledger.engine import posting_specs
from ledger.entries import TransactionRequest
from ledger.queries import trial_balance
from tests.web._views_world import (
    FUND_BOOKS,
    GZ_SUBSIDY_BOOKS,
    NANSHA_BOOKS,
    POOL_BOOKS,
    SECRET,
    add_users,
    build_world,
    login,
)

GZ_OFFICE_BOOKS = GZ_SUBSIDY_BOOKS | NANSHA_BOOKS | FUND_BOOKS | POOL_BOOKS
ROW = re.compile(r'<tr>\s*<td>([^<]+)</td>\s*<td><a href="[^"]+">([^<]+)</a></td>')
NEXT = re.compile(r'href="([^"]+)" data-testid="next-page"')


@pytest.fixture
def views(engine, ledger):
    build_world(ledger)
    add_users(
        engine, {"gz-office": ("finance_office", ["region:440100"]), "sz-office": ("finance_office", ["region:440300"])}
    )
    return create_app(engine, Settings(jwt_secret=SECRET, auth_failure_rate="50/minute"))


def _rows(text: str) -> list[tuple[str, str]]:
    return [(book, account.replace("&amp;", "&")) for book, account in ROW.findall(text)]


def test_pages_by_key_cover_the_whole_trial_balance_once_with_its_totals(views, ledger, monkeypatch):
    monkeypatch.setattr(routes_ledger, "TRIAL_BALANCE_PAGE_ROWS", 3)
    whole = [(row.book, row.account) for row in trial_balance(ledger, book="gz-budget")]
    assert len(whole) > 3
    client = login(views, "gz-office")
    url, seen = "/web/trial-balance?book=gz-budget&as_of=", []
    while url:
        page = client.get(url.replace("&amp;", "&"))
        assert page.status_code == 200
        seen += _rows(page.text)
        found = NEXT.search(page.text)
        url = found.group(1) if found else None
        if url:
            assert "book=gz-budget" in url and "after_account=" in url  # the filter stays in the URL
    assert seen == whole
    debit = sum(row.debit_fen for row in trial_balance(ledger, book="gz-budget"))
    totals = page.text[page.text.index('data-testid="totals"') :]
    assert f"¥{debit // 100:,}.{debit % 100:02d}" in totals and f"全部 {len(whole)} 行" in totals


def test_a_new_posting_shows_at_once(views, ledger):
    client = login(views, "gz-office")
    before = client.get("/web/trial-balance?book=gz-finance").text
    assert "Expenses:Other" not in _rows_accounts(before)
    ledger.create_account("gz-finance", "Expenses:Other")
    legs = [("Expenses:Other", "12.34"), ("Revenue:Appropriations:gz-service-demonstration", "-12.34")]
    request = TransactionRequest("views-new", posting_specs("gz-finance", legs), date(2026, 5, 1))
    ledger.post(request).raise_for_error()
    after = client.get("/web/trial-balance?book=gz-finance").text
    assert "Expenses:Other" in _rows_accounts(after) and "¥12.34" in after


def _rows_accounts(text: str) -> set[str]:
    return {account for _book, account in _rows(text)}


def test_exports_hold_the_whole_selection_in_the_readers_scope(views, ledger):
    client = login(views, "gz-office")
    exported = client.get("/web/trial-balance.csv?book=gz-budget&as_of=")
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    lines = list(csv.reader(io.StringIO(exported.text)))
    assert lines[0] == list(routes_ledger.TRIAL_BALANCE_COLUMNS)
    assert [(line[0], line[1]) for line in lines[1:]] == [
        (r.book, r.account) for r in trial_balance(ledger, book="gz-budget")
    ]
    workbook = openpyxl.load_workbook(io.BytesIO(client.get("/web/trial-balance.xlsx?book=gz-budget").content))
    assert workbook.active.max_row == len(lines) + 1  # the header row, each row, and the totals row
    everything = list(csv.reader(io.StringIO(client.get("/web/trial-balance.csv").text)))
    assert {line[0] for line in everything[1:]} <= GZ_OFFICE_BOOKS
    outside = login(views, "sz-office").get("/web/trial-balance.csv?book=gz-budget")
    assert outside.status_code == 404 and "book_not_found" in outside.text
    assert login(views, "sz-office").get("/web/trial-balance.csv").text.strip() == ",".join(
        routes_ledger.TRIAL_BALANCE_COLUMNS
    )


def test_an_empty_date_field_is_no_filter(views):
    client = login(views, "gz-office")
    assert client.get("/web/trial-balance?as_of=&book=").status_code == 200
    assert (
        client.get(
            "/web/books/gz-budget/accounts/BudgetRevenue:Appropriations:gz-service-demonstration?from=&to="
        ).status_code
        == 200
    )
    assert client.get("/web/trial-balance?as_of=not-a-date").status_code == 422
