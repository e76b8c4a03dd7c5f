"""Voucher reports computed by DuckDB from the journal (live Arrow reads, ``ledger.analytics``).

Which accounts mean what (``vouchers.books``), per region's three books ``vouchers-<region>-…``:
- usage per region and program, from the memo book: granted = credits on ``Memo:Quota:<program>:<enterprise>``;
  reserved = its pending debits; used = credits on ``Memo:QuotaUsed:<program>:<enterprise>``; expired = the
  quota's posted debits less what was used (a claim and an expiry are its only posted debits); available =
  credits less posted and pending debits. Expensed = the balance of ``Expenses:Vouchers:<program>`` in the
  region's financial book (its own share of claimed redemptions).
- budget execution (预算执行) of each program, from the region's budgetary book: appropriated = the credit
  balance of ``BudgetRevenue:Appropriation:<program>``; expended = the balance of
  ``BudgetExpenditure:Vouchers:<program>`` (recorded when the treasury pays, not when a claim is booked).
- cross-region flows per (payer, payee) region pair and month, from the payer's financial book: owed = the
  credits that claims (``voucher_expense_*``) put on ``Liabilities:Payable:InterRegion:<payee>``; settled =
  the debits settlements put on it; open = owed less settled, the account's balance.

tests/test_reports_vouchers.py compares every figure with the voucher services' own records
(``vouchers.views.enterprise_positions``, the redemptions and ``vouchers.settlement.owed_direction``).
"""

from __future__ import annotations

from datetime import date
from fractions import Fraction

from sqlalchemy import Engine, select

from ledger.analytics import (
    ACCOUNT_COLUMNS,
    LEG_COLUMNS,
    LiveSource,
    accounts_query,
    duckdb_over,
    legs_query,
    reading,
)
from ledger.spreadsheet import Column, Sheet
from vouchers import books
from vouchers.models import VoucherProgram

T_PROGRAMS = VoucherProgram.__table__
REPORT_ROWS_MAX = 100_000
QUOTA_PREFIX = "Memo:Quota:"
QUOTA_USED_PREFIX = "Memo:QuotaUsed:"
EXPENSE_PREFIX = books.voucher_expense("")
BUDGET_APPROPRIATION_PREFIX = books.budget_appropriation("")
BUDGET_EXPENDITURE_PREFIX = books.budget_voucher_expenditure("")
INTER_REGION_PAYABLE_PREFIX = books.payable_to_region("")
CLAIM_KIND_PREFIX = "voucher_expense_"


def _regions(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.execute(select(T_PROGRAMS.c.region_code).distinct().order_by(T_PROGRAMS.c.region_code)).scalars()
        )


def _region_of_book(column: str) -> str:
    """SQL: the region code inside a voucher book's name, vouchers-<region>-<basis>."""
    return f"split_part({column}, '-', 2)"


def voucher_usage(engine: Engine, *, source: LiveSource | None = None) -> list[dict]:
    """Per region and program (fen): granted, reserved, used, expired, available, expensed, the number of
    enterprises holding a quota, and budget execution: appropriated, expended and their ratio (a Fraction)."""
    regions = _regions(engine)
    region_books = [
        book(region) for region in regions for book in (books.memo_book, books.financial_book, books.budget_book)
    ]
    prefixes = (QUOTA_PREFIX, QUOTA_USED_PREFIX, EXPENSE_PREFIX, BUDGET_APPROPRIATION_PREFIX, BUDGET_EXPENDITURE_PREFIX)
    with reading(engine, source) as live:
        accounts = live.table(accounts_query(prefixes, books=region_books), ACCOUNT_COLUMNS)
    connection = duckdb_over({"accounts": accounts})
    try:
        rows = connection.execute(
            f"""
            WITH quota AS (
                SELECT {_region_of_book("book")} AS region, split_part(account, ':', 3) AS program,
                       split_part(account, ':', 4) AS enterprise,
                       credits_posted AS granted_fen, debits_pending AS reserved_fen, debits_posted AS consumed_fen,
                       credits_posted - debits_posted - debits_pending AS available_fen
                FROM accounts WHERE starts_with(account, '{QUOTA_PREFIX}') AND book LIKE '%-memo'
            ), used AS (
                SELECT {_region_of_book("book")} AS region, split_part(account, ':', 3) AS program,
                       split_part(account, ':', 4) AS enterprise, credits_posted AS used_fen
                FROM accounts WHERE starts_with(account, '{QUOTA_USED_PREFIX}') AND book LIKE '%-memo'
            ), expensed AS (
                SELECT {_region_of_book("book")} AS region, split_part(account, ':', 3) AS program,
                       debits_posted - credits_posted AS expensed_fen
                FROM accounts
                WHERE starts_with(account, '{EXPENSE_PREFIX}') AND book LIKE '%-financial'
                  AND length(string_split(account, ':')) = 3
            ), budget AS (
                SELECT {_region_of_book("book")} AS region, split_part(account, ':', 3) AS program,
                       sum(credits_posted - debits_posted) FILTER (
                           WHERE starts_with(account, '{BUDGET_APPROPRIATION_PREFIX}')) AS appropriated_fen,
                       sum(debits_posted - credits_posted) FILTER (
                           WHERE starts_with(account, '{BUDGET_EXPENDITURE_PREFIX}')) AS budget_expended_fen
                FROM accounts
                WHERE book LIKE '%-budget' AND length(string_split(account, ':')) = 3
                GROUP BY ALL
            )
            SELECT q.region, q.program, sum(q.granted_fen)::BIGINT, sum(q.reserved_fen)::BIGINT,
                   sum(coalesce(u.used_fen, 0))::BIGINT, sum(q.consumed_fen - coalesce(u.used_fen, 0))::BIGINT,
                   sum(q.available_fen)::BIGINT, coalesce(any_value(e.expensed_fen), 0)::BIGINT,
                   count(*) FILTER (WHERE q.granted_fen <> 0),
                   coalesce(any_value(b.appropriated_fen), 0)::BIGINT,
                   coalesce(any_value(b.budget_expended_fen), 0)::BIGINT
            FROM quota q LEFT JOIN used u USING (region, program, enterprise)
                 LEFT JOIN expensed e USING (region, program)
                 LEFT JOIN budget b USING (region, program)
            GROUP BY q.region, q.program
            ORDER BY q.region, q.program
            LIMIT $limit
            """,
            {"limit": REPORT_ROWS_MAX},
        ).fetchall()
    finally:
        connection.close()
    names = (
        "granted_fen",
        "reserved_fen",
        "used_fen",
        "expired_fen",
        "available_fen",
        "expensed_fen",
        "enterprises",
        "appropriated_fen",
        "budget_expended_fen",
    )
    report = []
    for region, program, *figures in rows:
        row = {"region": region, "program": program, **{name: int(value) for name, value in zip(names, figures)}}
        appropriated = row["appropriated_fen"]
        row["execution_ratio"] = Fraction(row["budget_expended_fen"], appropriated) if appropriated else None
        report.append(row)
    return report


def cross_region_flows(engine: Engine, *, through: date | None = None, source: LiveSource | None = None) -> list[dict]:
    """Per payer region, payee region and month (YYYY-MM, by the claim's or settlement's date, up to
    ``through``), in fen: owed by claims, settled, and open (owed less settled)."""
    regions = _regions(engine)
    financial_books = [books.financial_book(region) for region in regions]
    with reading(engine, source) as live:
        accounts = live.table(accounts_query((INTER_REGION_PAYABLE_PREFIX,), books=financial_books), ACCOUNT_COLUMNS)
        legs = live.table(
            legs_query((INTER_REGION_PAYABLE_PREFIX,), books=financial_books, through=through), LEG_COLUMNS
        )
    connection = duckdb_over({"accounts": accounts, "legs": legs})
    try:
        rows = connection.execute(
            f"""
            SELECT {_region_of_book("a.book")} AS payer,
                   substr(a.account, {len(INTER_REGION_PAYABLE_PREFIX) + 1}) AS payee,
                   strftime(l.effective_date, '%Y-%m') AS period,
                   sum(CASE WHEN starts_with(l.kind, '{CLAIM_KIND_PREFIX}') THEN -l.amount_fen ELSE 0 END)::BIGINT,
                   sum(CASE WHEN starts_with(l.kind, '{CLAIM_KIND_PREFIX}') THEN 0 ELSE l.amount_fen END)::BIGINT
            FROM legs l JOIN accounts a USING (account_id)
            GROUP BY ALL
            ORDER BY payer, payee, period
            LIMIT $limit
            """,
            {"limit": REPORT_ROWS_MAX},
        ).fetchall()
    finally:
        connection.close()
    return [
        {
            "payer": payer,
            "payee": payee,
            "period": period,
            "owed_fen": int(owed),
            "settled_fen": int(settled),
            "open_fen": int(owed) - int(settled),
        }
        for payer, payee, period, owed, settled in rows
    ]


def voucher_sheets(engine: Engine, *, through: date | None = None, source: LiveSource | None = None) -> list[Sheet]:
    """The voucher sections of the analytics workbook: usage (the quotas now) and flows up to ``through``."""
    return [
        Sheet(
            "创新券使用",
            (
                Column("region", "地区", "text"),
                Column("program", "项目", "text"),
                Column("granted_fen", "已发放额度", "fen"),
                Column("reserved_fen", "已预约", "fen"),
                Column("used_fen", "已使用", "fen"),
                Column("expired_fen", "已过期", "fen"),
                Column("available_fen", "可用额度", "fen"),
                Column("expensed_fen", "本地区支出", "fen"),
                Column("enterprises", "企业数", "int"),
                Column("appropriated_fen", "预算批复", "fen"),
                Column("budget_expended_fen", "预算支出", "fen"),
                Column("execution_ratio", "预算执行率", "ratio"),
            ),
            voucher_usage(engine, source=source),
        ),
        Sheet(
            "跨区域结算",
            (
                Column("payer", "付款地区", "text"),
                Column("payee", "收款地区", "text"),
                Column("period", "期间", "text"),
                Column("owed_fen", "应付", "fen"),
                Column("settled_fen", "已结算", "fen"),
                Column("open_fen", "未结算", "fen"),
            ),
            cross_region_flows(engine, through=through, source=source),
        ),
    ]
