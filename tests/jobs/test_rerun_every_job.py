"""Every job run again changes nothing: over the demo world of every domain, each job is run for its period
key, then run again (already ran), then run once more after its run records are lost (deleted), when each must
find its work done through the domain's own idempotency (voucher expiry per date, settlement per pair and
month, year-end per program and year, the snapshot per day, the export per period). Runs on both backends."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select, text

from jobs.alerts import T_ALERTS
from jobs.config import Analytics, JobsConfig, Retry, Settlement
from jobs.definitions import JOBS, run
from ledger.engine import T_TRANSACTIONS
from ledger.schema import JobRun
from tests.jobs.test_full_audit import _load_every_demo

# 04:30 on 1 January 2027 in Shanghai: every job has a period with work in it (the year 2026 to close, December
# to settle and export, the last day of 2026 to snapshot, use-by dates passed).
NEW_YEAR = datetime(2026, 12, 31, 20, 30, tzinfo=UTC)  # the demo programs are redeemable until 31 December
DOMAIN_TABLES = (
    "vouchers_year_ends",
    "subsidies_year_ends",
    "vouchers_settlements",
    "vouchers_quota_expiries",
    "balance_snapshots",
    "balance_snapshot_days",
)


def _state(ledger, export_dir) -> dict:
    with ledger.engine.connect() as conn:
        alerts = conn.execute(
            select(
                T_ALERTS.c.id,
                T_ALERTS.c.kind,
                T_ALERTS.c.subject,
                T_ALERTS.c.amount_fen,
                T_ALERTS.c.limit_fen,
                T_ALERTS.c.excess_fen,
                T_ALERTS.c.first_seen,
                T_ALERTS.c.cleared_at.is_(None),
            ).order_by(T_ALERTS.c.id)
        ).all()
        tables = {name: conn.execute(text(f"SELECT COUNT(*) FROM {name}")).scalar_one() for name in DOMAIN_TABLES}
        transactions = conn.execute(select(func.count()).select_from(T_TRANSACTIONS)).scalar_one()
    accounts = {
        (a.book, a.path): (a.debits_posted, a.credits_posted, a.debits_pending, a.credits_pending)
        for a in ledger.accounts()
    }
    files = {
        str(path.relative_to(export_dir)): path.stat().st_mtime_ns for path in export_dir.rglob("*") if path.is_file()
    }
    return {"accounts": accounts, "transactions": transactions, "alerts": alerts, "tables": tables, "files": files}


def test_every_job_run_again_changes_nothing_even_when_its_run_records_are_lost(ledger, tmp_path):
    exports = tmp_path / "exports"
    exports.mkdir()
    _load_every_demo(ledger)
    config = JobsConfig(
        retry=Retry(attempts=1),
        settlement=Settlement(approver="settlement-office"),
        analytics=Analytics(directory=str(exports)),
    )
    first = {name: run(ledger, name, now=NEW_YEAR, config=config) for name in JOBS}
    assert {result.status for result in first.values()} == {"succeeded"}
    did = {name: sum(v for k, v in result.counts.items() if k != "alerts_open") for name, result in first.items()}
    assert all(did[name] > 0 for name in ("voucher-expiry", "year-end", "balance-snapshots", "analytics-export")), first
    after_first = _state(ledger, exports)
    assert after_first["tables"]["balance_snapshot_days"] == 1 and after_first["files"]

    again = {name: run(ledger, name, now=NEW_YEAR, config=config) for name in JOBS}
    assert {result.status for result in again.values()} == {"already_ran"}
    assert _state(ledger, exports) == after_first

    with ledger.engine.begin() as conn:
        conn.execute(JobRun.__table__.delete())
    lost = {name: run(ledger, name, now=NEW_YEAR, config=config) for name in JOBS}
    assert {result.status for result in lost.values()} == {"succeeded"}
    assert _state(ledger, exports) == after_first
