"""The balance-snapshots job: the day before's closing totals of every account that changed, equal to the
ledger's own as-of totals; once per day (a rerun changes nothing); days in order; a failure mid-snapshot leaves
no rows; an entry dated back into a snapshot day shows as a difference."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select

from jobs.config import JobsConfig, Retry
from jobs.definitions import period_key, run
from jobs.snapshots import T_SNAPSHOTS, SnapshotCode, changed_since_snapshot, snapshot_balances, take_snapshot
from ledger.db import read_snapshot
from ledger.errors import LedgerError
from ledger.queries import posted_totals_as_of
from tests.ledger_helpers import chart, fund, transfer

NO_RETRY = JobsConfig(retry=Retry(attempts=1))
MARCH_11_AT_00_15 = datetime(2026, 3, 10, 16, 15, tzinfo=UTC)  # Shanghai: 11 March, 00:15; the day before: 10 March


def _rows(ledger) -> int:
    with ledger.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(T_SNAPSHOTS)).scalar_one()


def _as_of(ledger, day: date) -> dict:
    with read_snapshot(ledger.engine) as conn:
        return posted_totals_as_of(conn, day)


def test_the_job_snapshots_the_day_before_equal_to_the_ledgers_as_of_totals_once(ledger):
    chart(ledger)
    fund(ledger)  # 10 March
    ledger.post(transfer("later", "Expenses:Grants", "Assets:Bank", "5.00", day=date(2026, 3, 20)))
    assert period_key("day_before", MARCH_11_AT_00_15) == "2026-03-10"

    result = run(ledger, "balance-snapshots", now=MARCH_11_AT_00_15, config=NO_RETRY)

    assert (result.period_key, result.counts) == ("2026-03-10", {"accounts_changed": 2, "taken": 1})
    assert snapshot_balances(ledger.engine, date(2026, 3, 10)) == _as_of(ledger, date(2026, 3, 10))
    assert run(ledger, "balance-snapshots", now=MARCH_11_AT_00_15, config=NO_RETRY).status == "already_ran"
    assert take_snapshot(ledger.engine, date(2026, 3, 10)) == {"accounts_changed": 2, "taken": 0}
    assert _rows(ledger) == 2

    # The next days: a quiet one stores nothing, the 20th stores the two accounts that moved.
    for day in (date(2026, 3, 11), date(2026, 3, 20)):
        take_snapshot(ledger.engine, day)
    assert _rows(ledger) == 4
    for day in (date(2026, 3, 11), date(2026, 3, 20)):
        assert snapshot_balances(ledger.engine, day) == _as_of(ledger, day)


def test_days_are_taken_in_order_and_an_untaken_day_is_refused(ledger):
    chart(ledger)
    fund(ledger)
    take_snapshot(ledger.engine, date(2026, 3, 12))
    with pytest.raises(LedgerError) as refused:
        take_snapshot(ledger.engine, date(2026, 3, 11))
    assert refused.value.code == SnapshotCode.SNAPSHOT_DAYS_IN_ORDER
    with pytest.raises(LedgerError) as refused:
        snapshot_balances(ledger.engine, date(2026, 3, 13))
    assert refused.value.code == SnapshotCode.SNAPSHOT_NOT_TAKEN
    assert _rows(ledger) == 2


def test_an_entry_dated_back_into_a_snapshot_day_shows_as_a_difference(ledger):
    chart(ledger)
    fund(ledger)
    day = date(2026, 3, 15)
    take_snapshot(ledger.engine, day)
    assert changed_since_snapshot(ledger.engine, day) == {}
    ledger.post(transfer("back-dated", "Expenses:Grants", "Assets:Bank", "1.00", day=date(2026, 3, 14)))
    changed = changed_since_snapshot(ledger.engine, day)
    assert sorted(changed.values()) == [((0, 0), (100, 0)), ((100_000, 0), (100_000, 100))]
    assert snapshot_balances(ledger.engine, day) != _as_of(ledger, day)  # the snapshot keeps what the close said


def test_a_snapshot_that_fails_midway_leaves_no_rows_and_its_rerun_takes_it(ledger, monkeypatch):
    import jobs.snapshots

    chart(ledger)
    fund(ledger)
    original = jobs.snapshots.T_SNAPSHOT_DAYS

    class Broken:  # the day's record cannot be written: the INSERT of the rows before it must roll back too
        c = original.c

        def insert(self):
            raise RuntimeError("disk full")

    monkeypatch.setattr(jobs.snapshots, "T_SNAPSHOT_DAYS", Broken())
    with pytest.raises(RuntimeError):
        run(ledger, "balance-snapshots", now=MARCH_11_AT_00_15, config=NO_RETRY)
    assert _rows(ledger) == 0
    monkeypatch.undo()
    rerun = run(ledger, "balance-snapshots", now=MARCH_11_AT_00_15, config=NO_RETRY)
    assert (rerun.status, rerun.counts) == ("succeeded", {"accounts_changed": 2, "taken": 1})
