"""Balances (current, as of a date, history), the trial balance, and reconciliation of cached balances.

Signs are debit-positive throughout; reports put each balance in a debit or a credit column.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Connection, Date, Engine, and_, bindparam, case, func, or_, select, text

from ledger.accounts import path_at_depth
from ledger.db import read_only, read_snapshot
from ledger.engine import T_ACCOUNTS, T_BOOKS, T_MONTH_TOTALS, T_POSTINGS, T_RESOLUTIONS, T_TRANSACTIONS, Ledger
from ledger.errors import LedgerError, ResultCode
from ledger.money import format_fen
from ledger.numbers import SHANGHAI, add_months_clamped, parse_date, period_of

HISTORY_ROWS_MAX = 10_000


@dataclass(frozen=True, slots=True)
class Balance:
    book: str
    account: str
    currency: str
    debits_fen: int
    credits_fen: int
    debits_pending_fen: int = 0
    credits_pending_fen: int = 0

    @property
    def balance_fen(self) -> int:
        return self.debits_fen - self.credits_fen


@dataclass(frozen=True, slots=True)
class TrialBalanceRow:
    book: str
    account: str
    type: str
    currency: str
    debit_fen: int
    credit_fen: int

    @property
    def debit_text(self) -> str:
        """The debit as printed, with the row's currency's places ("1000" JPY, "1000.00" CNY; defect 9)."""
        return format_fen(self.debit_fen, self.currency)

    @property
    def credit_text(self) -> str:
        return format_fen(self.credit_fen, self.currency)


def balance(
    ledger: Ledger, book: str, account: str, *, as_of: date | None = None, recorded_before: datetime | None = None
) -> Balance:
    """The account's balance: current, as of an effective date, and/or as the journal stood before a moment
    of recording (bi-temporal: what a report printed then would have said)."""
    info = ledger.account(book, account)
    if recorded_before is not None:
        with ledger.reader.connect() as conn:
            totals = posted_totals_recorded_before(conn, recorded_before, as_of=as_of, account_id=info.id)
        debits, credits = totals.get(info.id, (0, 0))
        return Balance(book, account, info.currency, int(debits), int(credits))
    if as_of is None:
        return Balance(
            book,
            account,
            info.currency,
            info.debits_posted,
            info.credits_posted,
            info.debits_pending,
            info.credits_pending,
        )
    with ledger.reader.connect() as conn:
        debits, credits = posted_totals_as_of(conn, as_of, account_id=info.id).get(info.id, (0, 0))
    return Balance(book, account, info.currency, int(debits), int(credits))


def posted_totals_as_of(conn, as_of: date, *, account_id: int | None = None) -> dict[int, tuple[int, int]]:
    """Posted (debits, credits) per account up to and including ``as_of``.

    Whole months come from ``account_month_totals``; only the last, partial month reads postings, so the
    cost follows the number of accounts and one month of journal, not the whole journal."""
    period = period_of(as_of)
    month_start = as_of.replace(day=1)
    totals_query = (
        select(
            T_MONTH_TOTALS.c.account_id, func.sum(T_MONTH_TOTALS.c.debits_fen), func.sum(T_MONTH_TOTALS.c.credits_fen)
        )
        .where(T_MONTH_TOTALS.c.period < period)
        .group_by(T_MONTH_TOTALS.c.account_id)
    )
    postings_query = (
        select(
            T_POSTINGS.c.account_id,
            func.sum(case((T_POSTINGS.c.amount_fen > 0, T_POSTINGS.c.amount_fen), else_=0)),
            func.sum(case((T_POSTINGS.c.amount_fen < 0, -T_POSTINGS.c.amount_fen), else_=0)),
        )
        .where(
            T_POSTINGS.c.effective_date >= month_start,
            T_POSTINGS.c.effective_date <= as_of,
            T_POSTINGS.c.pending.is_(False),
        )
        .group_by(T_POSTINGS.c.account_id)
    )
    if account_id is not None:
        totals_query = totals_query.where(T_MONTH_TOTALS.c.account_id == account_id)
        postings_query = postings_query.where(T_POSTINGS.c.account_id == account_id)
    result: dict[int, tuple[int, int]] = {}
    for query in (totals_query, postings_query):
        for account, debits, credits in conn.execute(query):
            previous = result.get(account, (0, 0))
            result[account] = (previous[0] + int(debits or 0), previous[1] + int(credits or 0))
    return result


def history(ledger: Ledger, book: str, account: str, *, limit: int = 100) -> list[dict]:
    """Posted movements of one account in date order, with the running debit-positive balance."""
    if limit > HISTORY_ROWS_MAX:
        raise LedgerError(ResultCode.BATCH_TOO_LARGE, f"history returns at most {HISTORY_ROWS_MAX} rows")
    info = ledger.account(book, account)
    with ledger.reader.connect() as conn:
        rows = conn.execute(
            select(
                T_POSTINGS.c.transaction_id,
                T_POSTINGS.c.effective_date,
                T_POSTINGS.c.amount_fen,
                T_TRANSACTIONS.c.memo,
                T_TRANSACTIONS.c.kind,
            )
            .join(T_TRANSACTIONS, T_TRANSACTIONS.c.id == T_POSTINGS.c.transaction_id)
            .where(T_POSTINGS.c.account_id == info.id, T_POSTINGS.c.pending.is_(False))
            .order_by(T_POSTINGS.c.effective_date, T_POSTINGS.c.id)
            .limit(limit)
        ).all()
    running = 0
    result = []
    for tx_id, effective_date, amount, memo, kind in rows:
        running += amount
        result.append(
            {
                "transaction_id": tx_id,
                "date": effective_date,
                "amount_fen": amount,
                "balance_fen": running,
                "memo": memo,
                "kind": kind,
            }
        )
    return result


@dataclass(frozen=True, slots=True)
class HistoryPage:
    """One page of an account's posted movements; ``next_after`` is the (date, posting id) the next page
    starts after, or None on the last page."""

    rows: list[dict]
    next_after: tuple[date, int] | None


def history_page(
    ledger: Ledger,
    book: str,
    account: str,
    *,
    limit: int,
    after: tuple[date, int] | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
) -> HistoryPage:
    """A page of an account's posted movements in (date, posting) order with the running balance, read by
    keyset: the cost follows the page, not the account's journal. The opening balance of the page comes from
    the month totals up to the day before plus that day's earlier postings."""
    if limit > HISTORY_ROWS_MAX or limit < 1:
        raise LedgerError(ResultCode.BATCH_TOO_LARGE, f"a history page holds 1 to {HISTORY_ROWS_MAX} rows")
    info = ledger.account(book, account)
    movements = T_POSTINGS.c
    where = [movements.account_id == info.id, movements.pending.is_(False)]
    if date_from is not None:
        where.append(movements.effective_date >= date_from)
    if date_to is not None:
        where.append(movements.effective_date <= date_to)
    if after is not None:
        after_day, after_id = after
        where.append(
            or_(
                movements.effective_date > after_day,
                and_(movements.effective_date == after_day, movements.id > after_id),
            )
        )
    with read_snapshot(ledger.engine) as conn:
        rows = conn.execute(
            select(
                movements.id,
                movements.transaction_id,
                movements.effective_date,
                movements.amount_fen,
                T_TRANSACTIONS.c.memo,
                T_TRANSACTIONS.c.kind,
            )
            .join(T_TRANSACTIONS, T_TRANSACTIONS.c.id == movements.transaction_id)
            .where(*where)
            .order_by(movements.effective_date, movements.id)
            .limit(limit + 1)
        ).all()
        more = len(rows) > limit
        rows = rows[:limit]
        running = _opening_balance(conn, info.id, rows[0]) if rows else 0
    result = []
    for posting_id, tx_id, effective_date, amount, memo, kind in rows:
        running += amount
        result.append(
            {
                "posting_id": posting_id,
                "transaction_id": tx_id,
                "date": effective_date,
                "amount_fen": amount,
                "balance_fen": running,
                "memo": memo,
                "kind": kind,
            }
        )
    last = result[-1] if result else None
    return HistoryPage(result, (last["date"], last["posting_id"]) if more and last else None)


def _opening_balance(conn: Connection, account_id: int, first_row) -> int:  # noqa: ANN001 - a result row
    """The account's posted balance just before ``first_row`` (its posting id and date are columns 0 and 2)."""
    first_id, first_day = first_row[0], first_row[2]
    debits, credits = posted_totals_as_of(conn, first_day - timedelta(days=1), account_id=account_id).get(
        account_id, (0, 0)
    )
    same_day_before = conn.execute(
        select(func.coalesce(func.sum(T_POSTINGS.c.amount_fen), 0)).where(
            T_POSTINGS.c.account_id == account_id,
            T_POSTINGS.c.pending.is_(False),
            T_POSTINGS.c.effective_date == first_day,
            T_POSTINGS.c.id < first_id,
        )
    ).scalar_one()
    return debits - credits + int(same_day_before)


def _account_directory(engine: Engine, book: str | None) -> dict[int, tuple[str, str, str, str]]:
    with read_only(engine).connect() as conn:
        return _account_directory_in(conn, book)


def _account_directory_in(conn: Connection, book: str | None) -> dict[int, tuple[str, str, str, str]]:
    query = select(T_ACCOUNTS.c.id, T_BOOKS.c.code, T_ACCOUNTS.c.path, T_ACCOUNTS.c.type, T_ACCOUNTS.c.currency).join(
        T_BOOKS, T_BOOKS.c.id == T_ACCOUNTS.c.book_id
    )
    if book is not None:
        query = query.where(T_BOOKS.c.code == book)
    return {row[0]: (row[1], row[2], row[3], row[4]) for row in conn.execute(query)}


def posted_totals_recorded_before(
    conn, recorded_before: datetime, *, as_of: date | None = None, account_id: int | None = None
) -> dict[int, tuple[int, int]]:
    """Posted (debits, credits) per account of the transactions recorded before ``recorded_before`` (and, with
    ``as_of``, effective up to that date). Month totals carry no recording time, so this reads the postings:
    an auditor's question, not the hot path. A moment without a time zone is Shanghai time."""
    if recorded_before.tzinfo is None:
        recorded_before = recorded_before.replace(tzinfo=SHANGHAI)
    query = (
        select(
            T_POSTINGS.c.account_id,
            func.sum(case((T_POSTINGS.c.amount_fen > 0, T_POSTINGS.c.amount_fen), else_=0)),
            func.sum(case((T_POSTINGS.c.amount_fen < 0, -T_POSTINGS.c.amount_fen), else_=0)),
        )
        .join(T_TRANSACTIONS, T_TRANSACTIONS.c.id == T_POSTINGS.c.transaction_id)
        .where(T_TRANSACTIONS.c.recorded_at < recorded_before.astimezone(UTC), T_POSTINGS.c.pending.is_(False))
        .group_by(T_POSTINGS.c.account_id)
    )
    if as_of is not None:
        query = query.where(T_POSTINGS.c.effective_date <= as_of)
    if account_id is not None:
        query = query.where(T_POSTINGS.c.account_id == account_id)
    return {account: (int(debits or 0), int(credits or 0)) for account, debits, credits in conn.execute(query)}


def posted_version(ledger: Ledger) -> tuple[int, int]:
    """A version of the posted journal: (accounts opened, every account's posted debits summed). It changes
    with every posted transaction, back-dated ones too (an amount is never zero, and the posted totals only
    grow: the journal is append-only, a correction is a new entry), so a trial balance computed at one
    version is the trial balance of every moment at which the version is the same. One aggregate over the
    accounts' cached totals, not the journal."""
    with ledger.reader.connect() as conn:
        accounts, debits = conn.execute(
            select(func.count(), func.coalesce(func.sum(T_ACCOUNTS.c.debits_posted), 0)).select_from(T_ACCOUNTS)
        ).one()
    return int(accounts), int(debits)


def trial_balance(
    ledger: Ledger,
    *,
    book: str | None = None,
    as_of: date | None = None,
    depth: int | None = None,
    recorded_before: datetime | None = None,
) -> list[TrialBalanceRow]:
    """Posted balances per account (or per account prefix at ``depth``), each on its side; as of an effective
    date and/or as recorded before a moment."""
    directory = _account_directory(ledger.engine, book)
    if book is not None and not directory:
        with ledger.reader.connect() as conn:
            Ledger._book(conn, book)
    balances: dict[int, int] = {}
    with ledger.reader.connect() as conn:
        if recorded_before is not None:
            for account_id, (debits, credits) in posted_totals_recorded_before(
                conn, recorded_before, as_of=as_of
            ).items():
                balances[account_id] = debits - credits
        elif as_of is None:
            query = select(T_ACCOUNTS.c.id, T_ACCOUNTS.c.debits_posted - T_ACCOUNTS.c.credits_posted)
            for account_id, amount in conn.execute(query):
                balances[account_id] = amount
        else:
            for account_id, (debits, credits) in posted_totals_as_of(conn, as_of).items():
                balances[account_id] = debits - credits
    grouped: dict[tuple[str, str, str, str], int] = defaultdict(int)
    for account_id, (book_code, path, kind, currency) in directory.items():
        amount = balances.get(account_id, 0)
        if amount:
            grouped[(book_code, path_at_depth(path, depth), kind, currency)] += amount
    rows = []
    for (book_code, path, kind, currency), amount in sorted(grouped.items()):
        if amount == 0:
            continue  # a group whose accounts cancel out, as zero-balance accounts, is not listed
        rows.append(
            TrialBalanceRow(book_code, path, kind, currency, amount if amount > 0 else 0, -amount if amount < 0 else 0)
        )
    return rows


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str
    subject: str
    expected_fen: int
    actual_fen: int
    message: str


def reconcile(engine: Engine) -> list[Finding]:
    """Cached balances and month totals equal the sums of postings, and every book balances per currency.

    Set-based: the database groups the posted journal per account and month and compares each group with its
    stored month total itself, returning only the groups that differ (none, in a sound ledger); then each
    account's cached totals are compared with the sum of its stored month totals, corrected by those
    differences, which is the sum of its postings. So Python reads one row per account, not one per account
    and month. The pending legs still open are few and are read through their partial index. Every read is in
    one snapshot (``read_snapshot``), so concurrent writers cause no false finding (defect 14)."""
    with read_snapshot(engine) as conn:
        directory = _account_directory_in(conn, None)
        month_differences = _month_total_differences(conn)
        open_pending = _open_pending_by_account(conn)
        stored_months = (
            select(
                T_MONTH_TOTALS.c.account_id,
                func.sum(T_MONTH_TOTALS.c.debits_fen).label("debits"),
                func.sum(T_MONTH_TOTALS.c.credits_fen).label("credits"),
            )
            .group_by(T_MONTH_TOTALS.c.account_id)
            .subquery()
        )
        accounts = conn.execute(
            select(
                T_ACCOUNTS.c.id,
                T_ACCOUNTS.c.debits_posted,
                T_ACCOUNTS.c.credits_posted,
                T_ACCOUNTS.c.debits_pending,
                T_ACCOUNTS.c.credits_pending,
                func.coalesce(stored_months.c.debits, 0),
                func.coalesce(stored_months.c.credits, 0),
            ).outerjoin(stored_months, stored_months.c.account_id == T_ACCOUNTS.c.id)
        ).all()
    findings = _month_total_findings(month_differences, directory)
    # The postings' sum per account = its stored month totals + (postings - stored) of its differing months.
    correction: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for (account_id, _period), (computed, stored) in month_differences.items():
        correction[account_id][0] += computed[0] - stored[0]
        correction[account_id][1] += computed[1] - stored[1]
    names = ("debits_posted", "credits_posted", "debits_pending", "credits_pending")
    book_totals: dict[tuple[str, str], int] = defaultdict(int)
    for account_id, *cached_and_stored in accounts:
        cached_values = tuple(int(value) for value in cached_and_stored[:4])
        stored_debits, stored_credits = (int(value) for value in cached_and_stored[4:])
        fix = correction.get(account_id, (0, 0))
        posted = (stored_debits + fix[0], stored_credits + fix[1])
        book_code, path, _kind, currency = directory[account_id]
        expected_values = (*posted, *open_pending.get(account_id, (0, 0)))
        book_totals[(book_code, currency)] += expected_values[0] - expected_values[1]
        for name, expected, actual in zip(names, expected_values, cached_values):
            if expected != actual:
                findings.append(
                    Finding(
                        "cached_balance_differs",
                        f"{book_code}/{path}",
                        expected,
                        actual,
                        f"{name} is {format_fen(actual, currency)} {currency} but its postings sum to "
                        f"{format_fen(expected, currency)} {currency}",
                    )
                )
    for (book_code, currency), total in sorted(book_totals.items()):
        if total != 0:
            findings.append(
                Finding(
                    "book_does_not_balance",
                    book_code,
                    0,
                    total,
                    f"book {book_code} is off by {format_fen(total, currency)} {currency}",
                )
            )
    return findings


MonthDifferences = dict[tuple[int, str], tuple[tuple[int, int], tuple[int, int]]]

# One month of the posted journal grouped per account (a range of the (date, account, amount, pending) index,
# so no table row is read) beside its stored month totals. Only the groups that differ come back, and one row
# (account NULL) with how many stored month totals were matched: fewer than the month holds means some stored
# month total has no postings at all (then ``_stored_months_without_postings`` finds which). MATERIALIZED: both
# selects read one grouping.
_MONTH_AGAINST_STORED = text(
    f"""
    WITH posted AS MATERIALIZED (
        SELECT account_id,
               SUM(CASE WHEN amount_fen > 0 THEN amount_fen ELSE 0 END) AS debits,
               SUM(CASE WHEN amount_fen < 0 THEN -amount_fen ELSE 0 END) AS credits
        FROM {T_POSTINGS.name}
        WHERE effective_date >= :month_start AND effective_date < :next_month AND pending = false
        GROUP BY account_id
    ), joined AS MATERIALIZED (
        SELECT posted.account_id, posted.debits, posted.credits, stored.account_id AS stored_id,
               stored.debits_fen AS stored_debits, stored.credits_fen AS stored_credits
        FROM posted LEFT JOIN {T_MONTH_TOTALS.name} AS stored
             ON stored.account_id = posted.account_id AND stored.period = :period
    )
    SELECT account_id, debits, credits, stored_debits, stored_credits FROM joined
    WHERE stored_id IS NULL OR stored_debits <> debits OR stored_credits <> credits
    UNION ALL
    SELECT NULL, COUNT(stored_id), 0, 0, 0 FROM joined
    """
).bindparams(bindparam("month_start", type_=Date), bindparam("next_month", type_=Date))


def _month_total_differences(conn) -> MonthDifferences:
    """{(account, month): ((debits, credits) of its postings, (debits, credits) stored)} for every account and
    month where the two differ (a missing side counts as zero), month by month in the database."""
    first, last = conn.execute(
        select(func.min(T_POSTINGS.c.effective_date), func.max(T_POSTINGS.c.effective_date))
    ).one()
    stored_per_period = dict(
        conn.execute(select(T_MONTH_TOTALS.c.period, func.count()).group_by(T_MONTH_TOTALS.c.period)).all()
    )
    differences: MonthDifferences = {}
    matched: dict[str, int] = {}
    if first is not None:
        month_start = parse_date(first).replace(day=1)
        last = parse_date(last)
        while month_start <= last:
            next_month = add_months_clamped(month_start, 1)
            period = period_of(month_start)
            rows = conn.execute(
                _MONTH_AGAINST_STORED, {"month_start": month_start, "next_month": next_month, "period": period}
            ).all()
            for account_id, debits, credits, stored_debits, stored_credits in rows:
                if account_id is None:
                    matched[period] = int(debits)
                    continue
                computed, stored = (int(debits), int(credits)), (int(stored_debits or 0), int(stored_credits or 0))
                if computed != stored:
                    differences[(account_id, period)] = (computed, stored)
            month_start = next_month
    for period, count in stored_per_period.items():
        if count != matched.get(period, 0):
            differences.update(_stored_months_without_postings(conn, period))
    return differences


def _stored_months_without_postings(conn, period: str) -> MonthDifferences:
    """Stored month totals of ``period`` (not zero) for accounts with no posted posting in that month."""
    month_start = date.fromisoformat(f"{period}-01")
    posted = (
        select(T_POSTINGS.c.id)
        .where(
            T_POSTINGS.c.account_id == T_MONTH_TOTALS.c.account_id,
            T_POSTINGS.c.effective_date >= month_start,
            T_POSTINGS.c.effective_date < add_months_clamped(month_start, 1),
            T_POSTINGS.c.pending.is_(False),
        )
        .exists()
    )
    rows = conn.execute(
        select(T_MONTH_TOTALS.c.account_id, T_MONTH_TOTALS.c.debits_fen, T_MONTH_TOTALS.c.credits_fen).where(
            T_MONTH_TOTALS.c.period == period,
            (T_MONTH_TOTALS.c.debits_fen != 0) | (T_MONTH_TOTALS.c.credits_fen != 0),
            ~posted,
        )
    ).all()
    return {(account_id, period): ((0, 0), (int(debits), int(credits))) for account_id, debits, credits in rows}


def _open_pending_by_account(conn) -> dict[int, tuple[int, int]]:
    """(debits, credits) reserved by pending transactions not yet posted, voided or expired.

    Summed here rather than with GROUP BY: grouping lets SQLite prefer walking the (account, date) index
    over the whole journal to the partial index that holds only the pending legs (3.4 s against
    milliseconds over 2.2M postings)."""
    query = (
        select(T_POSTINGS.c.account_id, T_POSTINGS.c.amount_fen)
        .select_from(T_POSTINGS.outerjoin(T_RESOLUTIONS, T_RESOLUTIONS.c.target_id == T_POSTINGS.c.transaction_id))
        # "= true" (not "IS true") so both databases match the partial index ix_postings_pending.
        .where(T_POSTINGS.c.pending == True, T_RESOLUTIONS.c.target_id.is_(None))  # noqa: E712
    )
    totals: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for account_id, amount in conn.execute(query):
        if amount > 0:
            totals[account_id][0] += amount
        else:
            totals[account_id][1] -= amount
    return {account_id: (debits, credits) for account_id, (debits, credits) in totals.items()}


def _month_total_findings(
    differences: MonthDifferences, directory: dict[int, tuple[str, str, str, str]]
) -> list[Finding]:
    """``account_month_totals`` must equal the posted postings grouped by account and month."""
    findings: list[Finding] = []
    for key in sorted(differences):
        expected, actual = differences[key]
        book_code, path = directory.get(key[0], ("?", f"account {key[0]}"))[:2]
        findings.append(
            Finding(
                "month_totals_differ",
                f"{book_code}/{path} {key[1]}",
                expected[0] - expected[1],
                actual[0] - actual[1],
                f"month totals {actual} differ from the postings' {expected} (debits, credits in fen)",
            )
        )
    return findings
