"""Balance snapshots: each account's closing posted totals of a day, as the books stood when the day was over.

The ``balance-snapshots`` job takes the day before's snapshot every night. A balance as of a date can always be
recomputed from the journal (bi-temporal, append-only), so a snapshot is not a second copy of the truth: it is
what the books said at the close, kept so that the closing balances of any day are one indexed read, and so
that an entry recorded later but dated back into that day shows as a difference
(``changed_since_snapshot``) rather than silently rewriting a figure someone already reported.

Only the accounts whose totals changed since their previous snapshot are stored (a balance as of a snapshot day
is each account's latest row on or before it), so a quiet day costs nothing. A snapshot is one INSERT ... SELECT
in one transaction, computed in the database from the month totals and one month of postings
(``ledger.queries.posted_totals_as_of``'s method); a day already taken is left as it was, and days are taken in
order (an older day after a newer one is refused: it would change what the newer snapshot reads).
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy import Connection, Engine, case, func, literal, select

from ledger.db import read_snapshot
from ledger.engine import T_MONTH_TOTALS, T_POSTINGS
from ledger.errors import LedgerError
from ledger.numbers import period_of
from ledger.queries import posted_totals_as_of


class SnapshotCode(StrEnum):
    SNAPSHOT_DAYS_IN_ORDER = "snapshot_days_in_order"
    SNAPSHOT_NOT_TAKEN = "snapshot_not_taken"


_metadata = sa.MetaData()
# Created by jobs/migrations j0003.
T_SNAPSHOTS = sa.Table(
    "balance_snapshots",
    _metadata,
    sa.Column("snapshot_date", sa.Date, primary_key=True),
    sa.Column("account_id", sa.Integer, primary_key=True),
    sa.Column("debits_fen", sa.BigInteger, nullable=False),
    sa.Column("credits_fen", sa.BigInteger, nullable=False),
)
# The days taken, quiet ones included: "taken" must not depend on whether anything changed.
T_SNAPSHOT_DAYS = sa.Table(
    "balance_snapshot_days",
    _metadata,
    sa.Column("snapshot_date", sa.Date, primary_key=True),
    sa.Column("accounts_changed", sa.Integer, nullable=False),
)


def take_snapshot(engine: Engine, day: date) -> dict[str, int]:
    """Store the closing totals of ``day`` of every account that changed since its last snapshot. Returns
    {"accounts_changed": n, "taken": 1 if taken now, 0 if it was already}."""
    with engine.begin() as conn:
        taken = conn.execute(
            select(T_SNAPSHOT_DAYS.c.accounts_changed).where(T_SNAPSHOT_DAYS.c.snapshot_date == day)
        ).scalar_one_or_none()
        if taken is not None:
            return {"accounts_changed": int(taken), "taken": 0}
        latest_day = conn.execute(select(func.max(T_SNAPSHOT_DAYS.c.snapshot_date))).scalar_one_or_none()
        if latest_day is not None and latest_day > day:
            raise LedgerError(
                SnapshotCode.SNAPSHOT_DAYS_IN_ORDER,
                f"the snapshot of {latest_day} is taken; an earlier day ({day}) can no longer be",
            )
        closing = _closing_totals(day)
        previous = _latest_rows(before=day)
        changed = (
            select(literal(day, sa.Date), closing.c.account_id, closing.c.debits, closing.c.credits)
            .select_from(closing.outerjoin(previous, previous.c.account_id == closing.c.account_id))
            .where(
                previous.c.account_id.is_(None)
                | (previous.c.debits_fen != closing.c.debits)
                | (previous.c.credits_fen != closing.c.credits)
            )
        )
        conn.execute(
            T_SNAPSHOTS.insert().from_select(["snapshot_date", "account_id", "debits_fen", "credits_fen"], changed)
        )
        # Counted, not taken from the cursor's rowcount, which not every driver reports for INSERT ... SELECT.
        inserted = conn.execute(
            select(func.count()).select_from(T_SNAPSHOTS).where(T_SNAPSHOTS.c.snapshot_date == day)
        ).scalar_one()
        conn.execute(T_SNAPSHOT_DAYS.insert().values(snapshot_date=day, accounts_changed=inserted))
        return {"accounts_changed": int(inserted), "taken": 1}


def snapshot_balances(engine: Engine, day: date) -> dict[int, tuple[int, int]]:
    """{account id: (debits, credits)} posted as of ``day`` as the snapshot of that day recorded them."""
    with read_snapshot(engine) as conn:
        _require_taken(conn, day)
        latest = _latest_rows(before=day, inclusive=True)
        return {
            int(account): (int(debits), int(credits))
            for account, debits, credits in conn.execute(
                select(latest.c.account_id, latest.c.debits_fen, latest.c.credits_fen)
            )
        }


def changed_since_snapshot(engine: Engine, day: date) -> dict[int, tuple[tuple[int, int], tuple[int, int]]]:
    """Accounts whose totals as of ``day`` now differ from the day's snapshot (entries recorded later and dated
    into it or before): {account id: ((debits, credits) in the snapshot, (debits, credits) now)}."""
    recorded = snapshot_balances(engine, day)
    with read_snapshot(engine) as conn:
        now = posted_totals_as_of(conn, day)
    return {
        account: (recorded.get(account, (0, 0)), now.get(account, (0, 0)))
        for account in sorted(set(recorded) | set(now))
        if recorded.get(account, (0, 0)) != now.get(account, (0, 0))
    }


def _require_taken(conn: Connection, day: date) -> None:
    taken = conn.execute(select(T_SNAPSHOT_DAYS.c.snapshot_date).where(T_SNAPSHOT_DAYS.c.snapshot_date == day))
    if taken.first() is None:
        raise LedgerError(SnapshotCode.SNAPSHOT_NOT_TAKEN, f"no balance snapshot of {day} was taken")


def _closing_totals(day: date):  # noqa: ANN202 - a subquery
    """Posted (debits, credits) per account as of ``day``: whole months from the month totals, the last
    partial month from the postings."""
    months = select(
        T_MONTH_TOTALS.c.account_id.label("account_id"),
        T_MONTH_TOTALS.c.debits_fen.label("debits"),
        T_MONTH_TOTALS.c.credits_fen.label("credits"),
    ).where(T_MONTH_TOTALS.c.period < period_of(day))
    partial = select(
        T_POSTINGS.c.account_id,
        case((T_POSTINGS.c.amount_fen > 0, T_POSTINGS.c.amount_fen), else_=0),
        case((T_POSTINGS.c.amount_fen < 0, -T_POSTINGS.c.amount_fen), else_=0),
    ).where(
        T_POSTINGS.c.effective_date >= day.replace(day=1),
        T_POSTINGS.c.effective_date <= day,
        T_POSTINGS.c.pending == False,  # noqa: E712 - "= false" keeps the date index usable
    )
    legs = months.union_all(partial).subquery()
    return (
        select(
            legs.c.account_id,
            func.sum(legs.c.debits).label("debits"),
            func.sum(legs.c.credits).label("credits"),
        )
        .group_by(legs.c.account_id)
        .subquery()
    )


def _latest_rows(*, before: date, inclusive: bool = False):  # noqa: ANN202 - a subquery
    """Each account's latest snapshot row before ``before`` (or on it, ``inclusive``)."""
    bound = T_SNAPSHOTS.c.snapshot_date <= before if inclusive else T_SNAPSHOTS.c.snapshot_date < before
    last = (
        select(T_SNAPSHOTS.c.account_id, func.max(T_SNAPSHOTS.c.snapshot_date).label("last_day"))
        .where(bound)
        .group_by(T_SNAPSHOTS.c.account_id)
        .subquery()
    )
    return (
        select(T_SNAPSHOTS.c.account_id, T_SNAPSHOTS.c.debits_fen, T_SNAPSHOTS.c.credits_fen)
        .join(last, (last.c.account_id == T_SNAPSHOTS.c.account_id) & (last.c.last_day == T_SNAPSHOTS.c.snapshot_date))
        .subquery()
    )
