"""Subsidy reports computed by DuckDB from the journal (live Arrow reads, ``ledger.analytics``).

Which accounts mean what (``subsidies.books``):
- granted to an institution in a program year: the legs on ``Expenses:Subsidies:<program>`` (financial
  book) of the transactions that also move ``Liabilities:Payables:<统一社会信用代码>``, by the transaction's
  program year (approval debits it, a clawback's reversal credits it back in the same year);
- budget execution (预算执行) per program year, in the budgetary book: appropriated = credits on
  ``BudgetRevenue:Appropriations:<program>`` of that year; carried in = debits on
  ``BudgetBalance:FundsAvailable:<program>:<year>`` by a carry-over (结转); expended = the net of
  ``BudgetExpenditure:Subsidies:<program>`` in that year (payments less clawed-back payments); committed =
  the pending credits on the year's funds-available account (approved, not yet paid); swept = that
  account's credits at year-end (carried over or recovered, 收回); available = its posted balance less
  what is committed.

The caps come from each installed program's configuration, never from the journal. Every figure here is
compared, in tests/test_reports_subsidies.py, with ``subsidies.audit``'s figures from the grant records.
"""

from __future__ import annotations

from datetime import date
from fractions import Fraction

import pyarrow as pa
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
from subsidies import books
from subsidies.config import ProgramConfig, parse_program
from subsidies.models import PROGRAMS

# Rows a report returns at most (a program has at most a few thousand awardees a year).
REPORT_ROWS_MAX = 100_000
CAP_RULES_BY_INSTITUTION = ("institution_year", "lifetime")
CARRY_OVER_KIND = "subsidy_carry_over"
YEAR_END_KINDS = ("subsidy_carry_over", "subsidy_recover")

PROGRAM_COLUMNS = pa.schema(
    [("program", pa.string()), ("name", pa.string()), ("budget_book", pa.string()), ("financial_book", pa.string())]
)
CAP_COLUMNS = pa.schema(
    [
        ("program", pa.string()),
        ("position", pa.int64()),
        ("rule", pa.string()),
        ("enforcement", pa.string()),
        ("limit_fen", pa.int64()),
    ]
)


def installed_programs(engine: Engine, program_code: str | None = None) -> list[ProgramConfig]:
    """The installed programs' rules, as the service applies them (the stored TOML, parsed)."""
    query = select(PROGRAMS.c.config_text).order_by(PROGRAMS.c.code)
    if program_code is not None:
        query = query.where(PROGRAMS.c.code == program_code)
    with engine.connect() as conn:
        return [parse_program(text) for text in conn.execute(query).scalars()]


def _program_tables(programs: list[ProgramConfig]) -> dict[str, pa.Table]:
    program_rows = [
        {"program": p.code, "name": p.name, "budget_book": p.budget_book, "financial_book": p.financial_book}
        for p in programs
    ]
    cap_rows = [
        {
            "program": p.code,
            "position": position,
            "rule": cap.kind,
            "enforcement": cap.enforcement,
            "limit_fen": cap.amount,
        }
        for p in programs
        for position, cap in enumerate(p.caps)
        if cap.kind in CAP_RULES_BY_INSTITUTION
    ]
    return {
        "programs": pa.Table.from_pylist(program_rows, schema=PROGRAM_COLUMNS),
        "caps": pa.Table.from_pylist(cap_rows, schema=CAP_COLUMNS),
    }


GRANT_PREFIXES = (books.expense_account(""), books.payable_account(""))
BUDGET_PREFIXES = (
    books.appropriation_budget_account(""),
    books.budget_expenditure_account(""),
    "BudgetBalance:FundsAvailable:",
)


def _open(  # noqa: ANN202 - a DuckDB connection
    engine: Engine, programs: list[ProgramConfig], through: date | None, source: LiveSource | None, *, budget: bool
):
    """DuckDB over the programs' grant legs (financial books) and, with ``budget``, their budget legs."""
    prefixes = GRANT_PREFIXES + (BUDGET_PREFIXES if budget else ())
    program_books = sorted(
        {book for p in programs for book in ((p.budget_book, p.financial_book) if budget else (p.financial_book,))}
    )
    with reading(engine, source) as live:
        accounts = live.table(accounts_query(prefixes, books=program_books), ACCOUNT_COLUMNS)
        legs = live.table(legs_query(prefixes, books=program_books, through=through), LEG_COLUMNS)
    return duckdb_over({"accounts": accounts, "legs": legs, **_program_tables(programs)})


_GRANTED_SQL = f"""
    CREATE TEMP TABLE granted AS
    WITH expense AS (
        SELECT l.transaction_id, p.program, p.financial_book, l.program_year AS year, sum(l.amount_fen) AS amount_fen
        FROM legs l JOIN accounts a USING (account_id)
             JOIN programs p ON a.book = p.financial_book AND a.account = '{books.expense_account("")}' || p.program
        GROUP BY ALL
    ), payee AS (
        SELECT DISTINCT l.transaction_id, a.book,
               substr(a.account, {len(books.payable_account("")) + 1}) AS institution
        FROM legs l JOIN accounts a USING (account_id)
        WHERE starts_with(a.account, '{books.payable_account("")}')
    )
    SELECT e.program, y.institution, e.year, sum(e.amount_fen)::BIGINT AS granted_fen
    FROM expense e JOIN payee y ON y.transaction_id = e.transaction_id AND y.book = e.financial_book
    GROUP BY ALL
    HAVING sum(e.amount_fen) <> 0
"""


def subsidies_by_institution(
    engine: Engine, program_code: str | None = None, *, through: date | None = None, source: LiveSource | None = None
) -> list[dict]:
    """Per program, institution and program year: granted (by entries dated up to ``through``), and per
    institution cap its limit, used, room and excess (the amount over a ``warn`` cap; 0 under it). The
    shape of ``subsidies.audit``'s ``institution_year_report`` plus ``program`` and ``excess_fen``."""
    programs = installed_programs(engine, program_code)
    connection = _open(engine, programs, through, source, budget=False)
    try:
        connection.execute(_GRANTED_SQL)
        rows = connection.execute(
            """
            WITH used AS (
                SELECT program, institution, year, granted_fen,
                       sum(granted_fen) OVER (PARTITION BY program, institution) AS lifetime_fen
                FROM granted
            ), measured AS (
                SELECT u.*, c.position, c.rule, c.enforcement, c.limit_fen,
                       CASE c.rule WHEN 'lifetime' THEN u.lifetime_fen ELSE u.granted_fen END AS used_fen
                FROM used u LEFT JOIN caps c USING (program)
            )
            SELECT program, institution, year, granted_fen,
                   coalesce(list({
                       'rule': rule, 'enforcement': enforcement, 'limit_fen': limit_fen, 'used_fen': used_fen,
                       'room_fen': limit_fen - used_fen, 'excess_fen': greatest(used_fen - limit_fen, 0)
                   } ORDER BY position) FILTER (WHERE rule IS NOT NULL), []) AS caps
            FROM measured
            GROUP BY program, institution, year, granted_fen
            ORDER BY program, institution, year
            LIMIT $limit
            """,
            {"limit": REPORT_ROWS_MAX},
        ).fetchall()
    finally:
        connection.close()
    # caps come in their configured order, as the audit view lists them
    keys = ("program", "institution", "year", "granted_fen", "caps")
    return [dict(zip(keys, row)) for row in rows]


def budget_execution(
    engine: Engine, program_code: str | None = None, *, through: date | None = None, source: LiveSource | None = None
) -> list[dict]:
    """预算执行 per program and program year (fen): appropriated, carried in, expended, committed, swept,
    available, awardees, and the execution ratio expended / (appropriated + carried in) as a Fraction.

    ``through`` bounds the entries read (appropriated, carried in, expended, swept, awardees); committed
    and available are the accounts' cached totals, the state now."""
    programs = installed_programs(engine, program_code)
    connection = _open(engine, programs, through, source, budget=True)
    try:
        connection.execute(_GRANTED_SQL)
        funds_prefix = "BudgetBalance:FundsAvailable:"
        kinds = ", ".join(f"'{kind}'" for kind in YEAR_END_KINDS)
        rows = connection.execute(
            f"""
            WITH years AS (
                SELECT p.program, a.account_id,
                       CAST(split_part(a.account, ':', 4) AS INTEGER) AS year,
                       a.credits_pending AS committed_fen,
                       a.debits_posted - a.credits_posted - a.credits_pending AS available_fen
                FROM accounts a JOIN programs p
                  ON a.book = p.budget_book AND starts_with(a.account, '{funds_prefix}' || p.program || ':')
            ), funds_moves AS (
                SELECT y.program, y.year,
                       sum(CASE WHEN l.kind = '{CARRY_OVER_KIND}' AND l.amount_fen > 0 THEN l.amount_fen ELSE 0 END)
                           AS carried_in_fen,
                       sum(CASE WHEN l.kind IN ({kinds}) AND l.amount_fen < 0 THEN -l.amount_fen ELSE 0 END)
                           AS swept_fen
                FROM years y JOIN legs l USING (account_id)
                GROUP BY ALL
            ), program_legs AS (
                SELECT p.program, l.program_year AS year,
                       sum(CASE WHEN a.account = '{books.appropriation_budget_account("")}' || p.program
                                 AND l.amount_fen < 0 THEN -l.amount_fen ELSE 0 END) AS appropriated_fen,
                       sum(CASE WHEN a.account = '{books.budget_expenditure_account("")}' || p.program
                                THEN l.amount_fen ELSE 0 END) AS expended_fen
                FROM legs l JOIN accounts a USING (account_id) JOIN programs p ON a.book = p.budget_book
                GROUP BY ALL
            ), awardees AS (
                SELECT program, year, count(DISTINCT institution) AS awardees FROM granted GROUP BY ALL
            )
            SELECT y.program, y.year,
                   coalesce(g.appropriated_fen, 0)::BIGINT, coalesce(m.carried_in_fen, 0)::BIGINT,
                   coalesce(g.expended_fen, 0)::BIGINT, y.committed_fen, coalesce(m.swept_fen, 0)::BIGINT,
                   y.available_fen, coalesce(w.awardees, 0)
            FROM years y
                 LEFT JOIN funds_moves m USING (program, year)
                 LEFT JOIN program_legs g USING (program, year)
                 LEFT JOIN awardees w USING (program, year)
            ORDER BY y.program, y.year
            """
        ).fetchall()
    finally:
        connection.close()
    report = []
    for program, year, appropriated, carried_in, expended, committed, swept, available, awardees in rows:
        budget = int(appropriated) + int(carried_in)
        report.append(
            {
                "program": program,
                "year": int(year),
                "appropriated_fen": int(appropriated),
                "carried_in_fen": int(carried_in),
                "expended_fen": int(expended),
                "committed_fen": int(committed),
                "swept_fen": int(swept),
                "available_fen": int(available),
                "awardees": int(awardees),
                "execution_ratio": Fraction(int(expended), budget) if budget else None,
            }
        )
    return report


def subsidy_sheets(engine: Engine, *, through: date | None = None, source: LiveSource | None = None) -> list[Sheet]:
    """The two subsidy sections of the analytics workbook: by institution against caps, budget execution."""
    by_institution = []
    for entry in subsidies_by_institution(engine, through=through, source=source):
        caps = {cap["rule"]: cap for cap in entry["caps"]}
        year_cap, lifetime_cap = caps.get("institution_year"), caps.get("lifetime")
        by_institution.append(
            {
                "program": entry["program"],
                "institution": entry["institution"],
                "year": str(entry["year"]),
                "granted": entry["granted_fen"],
                "year_limit": year_cap["limit_fen"] if year_cap else None,
                "lifetime_used": lifetime_cap["used_fen"] if lifetime_cap else None,
                "lifetime_limit": lifetime_cap["limit_fen"] if lifetime_cap else None,
                "excess": sum(cap["excess_fen"] for cap in entry["caps"]),
            }
        )
    execution = [{**row, "year": str(row["year"])} for row in budget_execution(engine, through=through, source=source)]
    return [
        Sheet(
            "补贴按单位年度",
            (
                Column("program", "项目", "text"),
                Column("institution", "统一社会信用代码", "text"),
                Column("year", "年度", "text"),
                Column("granted", "核定补贴", "fen"),
                Column("year_limit", "年度上限", "fen"),
                Column("lifetime_used", "累计已获", "fen"),
                Column("lifetime_limit", "累计上限", "fen"),
                Column("excess", "超出上限", "fen"),
            ),
            by_institution,
            totals=False,  # caps and lifetime figures do not add up across rows
        ),
        Sheet(
            "预算执行",
            (
                Column("program", "项目", "text"),
                Column("year", "年度", "text"),
                Column("appropriated_fen", "预算批复", "fen"),
                Column("carried_in_fen", "上年结转", "fen"),
                Column("expended_fen", "已支出", "fen"),
                Column("committed_fen", "已承诺未支付", "fen"),
                Column("swept_fen", "年末结转收回", "fen"),
                Column("available_fen", "可用余额", "fen"),
                Column("awardees", "获补单位数", "int"),
                Column("execution_ratio", "执行率", "ratio"),
            ),
            execution,
        ),
    ]
