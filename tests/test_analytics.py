"""DuckDB over the journal: the same trial balance as the database computes, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from ledger.analytics import balance_history, to_duckdb, trial_balance_duckdb, trial_balance_live
from ledger.engine import T_ACCOUNTS, T_POSTINGS, posting_specs
from ledger.entries import PostPendingRequest, ReversalRequest, TransactionRequest
from ledger.errors import LedgerError, ResultCode
from ledger.numbers import add_months_clamped
from ledger.queries import balance, trial_balance

CITY = "city"
CITY_BUDGET = "city-budget"
QUOTA = "quota"


def _post(ledger, client_id, legs, day, **options):
    ledger.post(TransactionRequest(client_id, legs, day, **options))


def build_journal(ledger) -> None:
    """Financial, budgetary and memo books over three months; a pending posted in part; a reversal;
    a memo pair that nets to zero at depth 1."""
    ledger.create_book(CITY, "City finance", "financial")
    ledger.create_book(CITY_BUDGET, "City finance (budget)", "budgetary")
    ledger.create_book(QUOTA, "Voucher quota", "memo")
    for path in ("Assets:Bank:Main", "Assets:Bank:Payroll", "NetAssets:Appropriations", "Expenses:Grants:Seed"):
        ledger.create_account(CITY, path)
    ledger.create_account(CITY, "Liabilities:Payables")
    for path in ("BudgetRevenue:Appropriations", "BudgetExpenditure:Grants", "BudgetBalance:Funds"):
        ledger.create_account(CITY_BUDGET, path)
    ledger.create_account(QUOTA, "Memo:Granted", normal_side="debit")
    ledger.create_account(QUOTA, "Memo:Available", normal_side="credit")

    funding = posting_specs(CITY, [("Assets:Bank:Main", "800000"), ("NetAssets:Appropriations", "-800000")])
    funding += posting_specs(
        CITY_BUDGET, [("BudgetBalance:Funds", "800000"), ("BudgetRevenue:Appropriations", "-800000")]
    )
    _post(ledger, "funding", funding, date(2026, 1, 3))
    payroll = posting_specs(CITY, [("Assets:Bank:Payroll", "20000.10"), ("Assets:Bank:Main", "-20000.10")])
    _post(ledger, "payroll", payroll, date(2026, 1, 20))
    quota = posting_specs(QUOTA, [("Memo:Granted", "100000"), ("Memo:Available", "-100000")])
    _post(ledger, "quota", quota, date(2026, 2, 1))
    grant = posting_specs(CITY, [("Expenses:Grants:Seed", "50000"), ("Liabilities:Payables", "-50000")])
    _post(ledger, "grant", grant, date(2026, 2, 14), pending=True)
    ledger.post(PostPendingRequest("grant-post", ("api", "grant"), amount="30000.05", effective_date=date(2026, 2, 20)))
    wrong = posting_specs(CITY, [("Expenses:Grants:Seed", "999"), ("Assets:Bank:Main", "-999")])
    _post(ledger, "wrong", wrong, date(2026, 3, 2))
    ledger.post(ReversalRequest("wrong-reversal", ("api", "wrong"), "duplicate", effective_date=date(2026, 3, 9)))
    spend = posting_specs(CITY_BUDGET, [("BudgetExpenditure:Grants", "30000.05"), ("BudgetBalance:Funds", "-30000.05")])
    _post(ledger, "spend", spend, date(2026, 3, 15))


AS_OF_DATES = [None, date(2026, 1, 2), date(2026, 1, 20), date(2026, 2, 19), date(2026, 3, 5), date(2026, 12, 31)]


def test_duckdb_trial_balance_equals_the_database_one_for_every_as_of_date(ledger):
    build_journal(ledger)
    connection = to_duckdb(ledger.engine)
    try:
        for as_of in AS_OF_DATES:
            expected = trial_balance(ledger, as_of=as_of)
            assert trial_balance_duckdb(ledger.engine, as_of, connection=connection) == expected, as_of
        assert trial_balance(ledger, as_of=date(2026, 3, 5))  # the comparison is not between empty lists
    finally:
        connection.close()


def test_duckdb_trial_balance_equals_the_database_one_by_depth_and_book(ledger):
    build_journal(ledger)
    connection = to_duckdb(ledger.engine)
    try:
        for depth in (1, 2):
            for book in (None, CITY, CITY_BUDGET, QUOTA):
                for as_of in (None, date(2026, 2, 19)):
                    expected = trial_balance(ledger, book=book, as_of=as_of, depth=depth)
                    actual = trial_balance_duckdb(ledger.engine, as_of, book=book, depth=depth, connection=connection)
                    assert actual == expected, (depth, book, as_of)
    finally:
        connection.close()
    top_level = trial_balance_duckdb(ledger.engine, None, depth=1)
    accounts = {(row.book, row.account) for row in top_level}
    assert (CITY, "Assets") in accounts
    # The memo book's accounts cancel out at depth 1: a zero group is not listed, as zero accounts are not.
    assert (QUOTA, "Memo") not in accounts


def test_duckdb_trial_balance_of_one_book_loads_only_that_book(ledger):
    build_journal(ledger)
    rows = trial_balance_duckdb(ledger.engine, None, book=CITY_BUDGET)
    assert rows == trial_balance(ledger, book=CITY_BUDGET)
    assert {row.book for row in rows} == {CITY_BUDGET}


def test_duckdb_holds_every_posted_leg_and_every_account(ledger):
    build_journal(ledger)
    with ledger.engine.connect() as conn:
        posted = conn.execute(
            select(func.count()).select_from(T_POSTINGS).where(T_POSTINGS.c.pending.is_(False))
        ).scalar_one()
        accounts = conn.execute(select(func.count()).select_from(T_ACCOUNTS)).scalar_one()
        balance = conn.execute(select(func.sum(T_POSTINGS.c.amount_fen)).where(T_POSTINGS.c.pending.is_(False)))
        total = balance.scalar_one()
    connection = to_duckdb(ledger.engine, batch_rows=4)
    try:
        assert connection.execute("SELECT count(*), sum(amount_fen) FROM postings").fetchone() == (posted, total)
        assert connection.execute("SELECT count(*) FROM accounts").fetchone() == (accounts,)
        pending_rows = connection.execute("SELECT count(*) FROM postings WHERE client_id = 'grant'").fetchone()
        assert pending_rows == (0,)  # the pending transaction itself is not an entry; its post is
    finally:
        connection.close()


def test_duckdb_of_an_unknown_book_is_refused(ledger):
    ledger.create_book(CITY, "City finance", "financial")
    with pytest.raises(LedgerError) as error:
        to_duckdb(ledger.engine, book="no-such-book")
    assert error.value.code == ResultCode.BOOK_NOT_FOUND


# ----- live reports (Arrow reads of one snapshot, DuckDB computing) ---------------------------------------


def test_live_trial_balance_equals_the_database_one_for_every_as_of_date_depth_and_book(ledger):
    build_journal(ledger)
    for as_of in AS_OF_DATES:
        assert trial_balance_live(ledger.engine, as_of) == trial_balance(ledger, as_of=as_of), as_of
    for as_of in (None, date(2026, 2, 19)):
        for depth, book in ((1, None), (None, CITY), (1, QUOTA)):
            expected = trial_balance(ledger, book=book, as_of=as_of, depth=depth)
            assert trial_balance_live(ledger.engine, as_of, book=book, depth=depth) == expected, (as_of, depth, book)
    assert trial_balance_live(ledger.engine, date(2026, 3, 5))  # not a comparison of empty lists


def test_live_trial_balance_of_an_unknown_book_is_refused(ledger):
    build_journal(ledger)
    with pytest.raises(LedgerError) as error:
        trial_balance_live(ledger.engine, None, book="no-such-book")
    assert error.value.code == ResultCode.BOOK_NOT_FOUND


def _month_end(period: str) -> date:
    year, month = (int(part) for part in period.split("-"))
    return add_months_clamped(date(year, month, 1), 1) - timedelta(days=1)


def test_balance_history_agrees_with_the_balance_as_of_each_month_end(ledger):
    build_journal(ledger)
    rows = balance_history(ledger.engine, prefix="Assets:Bank")
    assert {(row.account, row.period) for row in rows} == {
        ("Assets:Bank:Main", "2026-01"),
        ("Assets:Bank:Main", "2026-03"),
        ("Assets:Bank:Payroll", "2026-01"),
    }
    for row in rows:
        closing = balance(ledger, row.book, row.account, as_of=_month_end(row.period))
        opening = balance(
            ledger, row.book, row.account, as_of=date.fromisoformat(row.period + "-01") - timedelta(days=1)
        )
        assert row.closing_fen == closing.balance_fen
        assert row.opening_fen == opening.balance_fen
        assert (row.debits_fen, row.credits_fen) == (
            closing.debits_fen - opening.debits_fen,
            closing.credits_fen - opening.credits_fen,
        )
    march = balance_history(ledger.engine, prefix="Assets:Bank", book=CITY, first_period="2026-02")
    assert [(row.account, row.period) for row in march] == [("Assets:Bank:Main", "2026-03")]
    # the March reversal is a debit and a credit of 999.00, the balance back where it was
    assert (march[0].debits_fen, march[0].credits_fen) == (99_900, 99_900)
    assert march[0].opening_fen == march[0].closing_fen == 80_000_000 - 2_000_010
