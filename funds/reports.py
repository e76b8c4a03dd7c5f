"""Fund and risk-pool reports computed by DuckDB from the journal (live Arrow reads, ``ledger.analytics``).

Which accounts mean what (``funds.guidance``, ``funds.pools``):
- a sub-fund's metrics at each month end, from its books ``sf:<code>`` and ``sf:<code>:memo``: commitment =
  credits less debits of ``Memo:Committed:*``; called = balance of ``Memo:Called:*``; recallable = credit
  balance of ``Memo:Recallable:*``; unfunded = commitment − called + recallable; paid-in = credit balance of
  ``NetAssets:PaidIn:*``; distributed = the debit balances of ``NetAssets:ReturnedCapital:*`` and
  ``NetAssets:DistributedIncome:*``. NAV is a dated valuation, not a posting: the latest one on or before
  the month end. DPI, RVPI, TVPI and leverage (撬动比 = size / the guidance fund's commitment) are exact
  fractions. XIRR is not here: it is an iterative root search over dated flows (``funds.metrics``), not a query.
- a risk pool's statement per funder and month, from ``pool:<code>``: contributed = credits of
  ``NetAssets:Contributions:<funder>``; compensation paid = debits of ``Expenses:Compensation:<funder>``
  (less reversals); recovered = credits of ``Revenue:Recoveries:<funder>``; remaining = the running
  contributed − paid + recovered.

Month totals (one row per account and month) are all either report reads from the journal.
tests/test_reports_funds.py compares each figure with ``funds.metrics.subfund_metrics`` and
``RiskPools.funder_statement``.
"""

from __future__ import annotations

from datetime import date
from fractions import Fraction

import pyarrow as pa
from sqlalchemy import Engine, select

from funds.guidance import T_GUIDANCE, T_SUBFUNDS, T_VALUATIONS
from funds.pools import T_FUNDERS, T_POOLS
from ledger.analytics import (
    ACCOUNT_COLUMNS,
    MONTH_TOTAL_COLUMNS,
    LiveSource,
    accounts_query,
    duckdb_over,
    month_totals_query,
    reading,
)
from ledger.engine import T_ACCOUNTS, T_MONTH_TOTALS
from ledger.spreadsheet import Column, Sheet

REPORT_ROWS_MAX = 100_000
SUBFUND_BOOK_PREFIX = "sf:"
POOL_BOOK_PREFIX = "pool:"
SUBFUND_PREFIXES = (
    "Memo:Committed:",
    "Memo:Called:",
    "Memo:Recallable:",
    "NetAssets:PaidIn:",
    "NetAssets:ReturnedCapital:",
    "NetAssets:DistributedIncome:",
)
POOL_PREFIXES = ("NetAssets:Contributions:", "Expenses:Compensation:", "Revenue:Recoveries:")

SUBFUND_COLUMNS = pa.schema(
    [("subfund", pa.string()), ("guidance_fund", pa.string()), ("size_fen", pa.int64()), ("subfund_id", pa.int64())]
)
VALUATION_COLUMNS = pa.schema(
    [("subfund_id", pa.int64()), ("as_of", pa.date32()), ("valuation_id", pa.int64()), ("nav_fen", pa.int64())]
)
FUNDER_COLUMNS = pa.schema([("pool", pa.string()), ("funder", pa.string()), ("position", pa.int64())])


def _month_totals_of(prefixes: tuple[str, ...], books: list[str]):  # noqa: ANN202 - a Select
    account_ids = accounts_query(prefixes, books=books).with_only_columns(T_ACCOUNTS.c.id)
    return month_totals_query().where(T_MONTH_TOTALS.c.account_id.in_(account_ids))


def _ratio(numerator: int, denominator: int) -> Fraction | None:
    return Fraction(numerator, denominator) if denominator else None


def _month_range(first_period: str | None, last_period: str | None) -> str:
    """SQL: the calendar of months to report, from the given periods or the months with movements."""
    first = f"'{first_period}-01'::DATE" if first_period else "(SELECT min(period) || '-01' FROM month_totals)::DATE"
    last = f"'{last_period}-01'::DATE" if last_period else "(SELECT max(period) || '-01' FROM month_totals)::DATE"
    return f"""
        SELECT strftime(d, '%Y-%m') AS period, last_day(d) AS month_end
        FROM generate_series({first}, {last}, INTERVAL 1 MONTH) AS months(d)
    """


def subfund_metrics_over_time(
    engine: Engine,
    *,
    first_period: str | None = None,
    last_period: str | None = None,
    source: LiveSource | None = None,
) -> list[dict]:
    """Per sub-fund and month end (fen, exact ratios): commitment, called, unfunded, paid-in, distributed,
    NAV, DPI, RVPI, TVPI and leverage, the figures ``funds.metrics.subfund_metrics`` gives for that date."""
    with reading(engine, source) as live:
        subfunds = live.table(
            select(T_SUBFUNDS.c.code, T_GUIDANCE.c.code, T_SUBFUNDS.c.size_fen, T_SUBFUNDS.c.id).join(
                T_GUIDANCE, T_GUIDANCE.c.id == T_SUBFUNDS.c.guidance_fund_id
            ),
            SUBFUND_COLUMNS,
        )
        books = [
            f"{SUBFUND_BOOK_PREFIX}{code}{suffix}"
            for code in subfunds["subfund"].to_pylist()
            for suffix in ("", ":memo")
        ]
        accounts = live.table(accounts_query(SUBFUND_PREFIXES, books=books), ACCOUNT_COLUMNS)
        months = live.table(_month_totals_of(SUBFUND_PREFIXES, books), MONTH_TOTAL_COLUMNS)
        valuations = live.table(
            select(T_VALUATIONS.c.subfund_id, T_VALUATIONS.c.as_of, T_VALUATIONS.c.id, T_VALUATIONS.c.nav_fen),
            VALUATION_COLUMNS,
        )
    if subfunds.num_rows == 0 or months.num_rows == 0:
        return []
    connection = duckdb_over(
        {"subfunds": subfunds, "accounts": accounts, "month_totals": months, "valuations": valuations}
    )
    try:
        rows = connection.execute(
            f"""
            WITH calendar AS ({_month_range(first_period, last_period)}),
            moves AS (
                SELECT split_part(a.book, ':', 2) AS subfund, split_part(a.account, ':', 2) AS measure,
                       split_part(a.account, ':', 3) AS investor, m.period, m.debits_fen - m.credits_fen AS net_fen
                FROM month_totals m JOIN accounts a USING (account_id)
            ),
            positions AS (
                SELECT s.subfund, c.period, c.month_end,
                       coalesce(-sum(net_fen) FILTER (WHERE measure = 'Committed'), 0) AS commitment_fen,
                       coalesce(-sum(net_fen) FILTER (WHERE measure = 'Committed' AND investor = s.guidance_fund), 0)
                           AS guidance_commitment_fen,
                       coalesce(sum(net_fen) FILTER (WHERE measure = 'Called'), 0) AS called_fen,
                       coalesce(-sum(net_fen) FILTER (WHERE measure = 'Recallable'), 0) AS recallable_fen,
                       coalesce(-sum(net_fen) FILTER (WHERE measure = 'PaidIn'), 0) AS paid_in_fen,
                       coalesce(sum(net_fen) FILTER (WHERE measure IN ('ReturnedCapital', 'DistributedIncome')), 0)
                           AS distributed_fen
                FROM calendar c CROSS JOIN subfunds s
                     LEFT JOIN moves v ON v.subfund = s.subfund AND v.period <= c.period
                GROUP BY s.subfund, s.guidance_fund, c.period, c.month_end
            ),
            latest_valuation AS (
                SELECT s.subfund, c.period, arg_max(v.nav_fen, (v.as_of, v.valuation_id)) AS nav_fen
                FROM calendar c CROSS JOIN subfunds s JOIN valuations v
                  ON v.subfund_id = s.subfund_id AND v.as_of <= c.month_end
                GROUP BY ALL
            )
            SELECT p.subfund, p.period, p.month_end, p.commitment_fen, p.called_fen,
                   p.commitment_fen - p.called_fen + p.recallable_fen, p.paid_in_fen, p.distributed_fen,
                   coalesce(l.nav_fen, 0), s.size_fen, p.guidance_commitment_fen
            FROM positions p JOIN subfunds s USING (subfund) LEFT JOIN latest_valuation l USING (subfund, period)
            ORDER BY p.subfund, p.period
            LIMIT $limit
            """,
            {"limit": REPORT_ROWS_MAX},
        ).fetchall()
    finally:
        connection.close()
    report = []
    for subfund, period, month_end, *figures in rows:
        commitment, called, unfunded, paid_in, distributed, nav, size, guidance = (int(value) for value in figures)
        report.append(
            {
                "subfund": subfund,
                "period": period,
                "as_of": month_end,
                "commitment_fen": commitment,
                "called_fen": called,
                "unfunded_fen": unfunded,
                "paid_in_fen": paid_in,
                "distributed_fen": distributed,
                "nav_fen": nav,
                "dpi": _ratio(distributed, paid_in),
                "rvpi": _ratio(nav, paid_in),
                "tvpi": _ratio(distributed + nav, paid_in),
                "leverage": _ratio(size, guidance),
            }
        )
    return report


def pool_statements(engine: Engine, *, through: date | None = None, source: LiveSource | None = None) -> list[dict]:
    """Per pool, funder and month with movements (fen): contributed, compensation paid, recovered, and the
    running remaining (contributed − paid + recovered, from the first month to this one)."""
    with reading(engine, source) as live:
        funders = live.table(
            select(T_POOLS.c.code, T_FUNDERS.c.funder_code, T_FUNDERS.c.position).join(
                T_POOLS, T_POOLS.c.id == T_FUNDERS.c.pool_id
            ),
            FUNDER_COLUMNS,
        )
        books = sorted({f"{POOL_BOOK_PREFIX}{code}" for code in funders["pool"].to_pylist()})
        accounts = live.table(accounts_query(POOL_PREFIXES, books=books), ACCOUNT_COLUMNS)
        months = live.table(_month_totals_of(POOL_PREFIXES, books), MONTH_TOTAL_COLUMNS)
    connection = duckdb_over({"funders": funders, "accounts": accounts, "month_totals": months})
    last_period = f"{through:%Y-%m}" if through else None
    try:
        rows = connection.execute(
            f"""
            WITH moves AS (
                SELECT substr(a.book, {len(POOL_BOOK_PREFIX) + 1}) AS pool, split_part(a.account, ':', 3) AS funder,
                       m.period,
                       sum(m.credits_fen - m.debits_fen) FILTER (WHERE starts_with(a.account, 'NetAssets:'))
                           AS contributed_fen,
                       sum(m.debits_fen - m.credits_fen) FILTER (WHERE starts_with(a.account, 'Expenses:'))
                           AS paid_fen,
                       sum(m.credits_fen - m.debits_fen) FILTER (WHERE starts_with(a.account, 'Revenue:'))
                           AS recovered_fen
                FROM month_totals m JOIN accounts a USING (account_id)
                WHERE $last IS NULL OR m.period <= $last
                GROUP BY ALL
            )
            SELECT v.pool, v.funder, v.period, coalesce(contributed_fen, 0)::BIGINT, coalesce(paid_fen, 0)::BIGINT,
                   coalesce(recovered_fen, 0)::BIGINT,
                   sum(coalesce(contributed_fen, 0) - coalesce(paid_fen, 0) + coalesce(recovered_fen, 0)) OVER (
                       PARTITION BY v.pool, v.funder ORDER BY v.period ROWS UNBOUNDED PRECEDING
                   )::BIGINT
            FROM moves v JOIN funders f ON f.pool = v.pool AND f.funder = v.funder
            ORDER BY v.pool, f.position, v.period
            LIMIT $limit
            """,
            {"last": last_period, "limit": REPORT_ROWS_MAX},
        ).fetchall()
    finally:
        connection.close()
    names = ("contributed_fen", "compensation_paid_fen", "recovered_fen", "remaining_fen")
    return [
        {"pool": pool, "funder": funder, "period": period, **{name: int(value) for name, value in zip(names, figures)}}
        for pool, funder, period, *figures in rows
    ]


def fund_sheets(engine: Engine, *, through: date | None = None, source: LiveSource | None = None) -> list[Sheet]:
    """The fund and pool sections of the analytics workbook (month ends up to ``through``'s month)."""
    last_period = f"{through:%Y-%m}" if through else None
    return [
        Sheet(
            "子基金指标",
            (
                Column("subfund", "子基金", "text"),
                Column("as_of", "月末", "date"),
                Column("commitment_fen", "认缴", "fen"),
                Column("called_fen", "已催缴", "fen"),
                Column("unfunded_fen", "未实缴", "fen"),
                Column("paid_in_fen", "实缴", "fen"),
                Column("distributed_fen", "已分配", "fen"),
                Column("nav_fen", "净值", "fen"),
                Column("dpi", "DPI", "ratio"),
                Column("tvpi", "TVPI", "ratio"),
                Column("leverage", "撬动比", "ratio"),
            ),
            subfund_metrics_over_time(engine, last_period=last_period, source=source),
            totals=False,  # month-end positions do not add up over months
        ),
        Sheet(
            "风险补偿资金池",
            (
                Column("pool", "资金池", "text"),
                Column("funder", "出资方", "text"),
                Column("period", "期间", "text"),
                Column("contributed_fen", "出资", "fen"),
                Column("compensation_paid_fen", "代偿支出", "fen"),
                Column("recovered_fen", "追偿收回", "fen"),
                Column("remaining_fen", "累计余额", "fen"),
            ),
            pool_statements(engine, through=through, source=source),
            totals=False,  # the running remaining does not add up over months
        ),
    ]
