"""Scheduled jobs: recorded once per period key, findings become alerts that resolve when fixed."""

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from api.cli import app
from jobs.definitions import JOBS, period_key, run
from jobs.runs import RUN_PRESUMED_DEAD_AFTER, JobOutcome, alerts, last_runs, run_job
from jobs.scheduler import build_scheduler, leadership
from ledger.chain import seal
from ledger.db import make_engine
from ledger.engine import utc_now
from ledger.schema import JobRun
from tests.ledger_helpers import BOOK, chart, fund, transfer

NOW = datetime(2026, 3, 10, 1, 30, tzinfo=UTC)


def test_a_job_runs_once_per_period_key(ledger):
    calls = []

    def action():
        calls.append(1)
        return JobOutcome(counts={"done": len(calls)})

    first = run_job(ledger.engine, "probe", "2026-03-10", action)
    again = run_job(ledger.engine, "probe", "2026-03-10", action)
    later = run_job(ledger.engine, "probe", "2026-03-11", action)
    assert (first.status, again.status, later.status) == ("succeeded", "already_ran", "succeeded")
    assert len(calls) == 2
    assert again.counts == {"done": 1}


def test_a_failed_run_is_recorded_and_may_be_retried(ledger):
    def failing():
        raise RuntimeError("database went away")

    with pytest.raises(RuntimeError):
        run_job(ledger.engine, "probe", "k", failing)
    assert last_runs(ledger.engine)["probe"]["status"] == "failed"
    assert run_job(ledger.engine, "probe", "k", lambda: JobOutcome()).status == "succeeded"


def test_period_keys_are_shanghai_dates_and_minutes():
    late_utc = datetime(2026, 3, 10, 17, 5, tzinfo=UTC)  # 01:05 on 11 March in Shanghai
    assert period_key("day", late_utc) == "2026-03-11"
    assert period_key("minute", late_utc) == "2026-03-11T01:05"


def test_reconcile_raises_an_alert_and_resolves_it_once_fixed(ledger):
    chart(ledger)
    fund(ledger)
    seal(ledger.engine)
    assert run(ledger, "reconcile", now=NOW).counts["findings"] == 0
    assert alerts(ledger.engine) == []
    with ledger.engine.begin() as conn:
        conn.execute(text("UPDATE accounts SET debits_posted = debits_posted + 1 WHERE path = 'Assets:Bank'"))
    result = run(ledger, "reconcile", now=NOW + timedelta(days=1))
    assert result.counts["findings"] >= 1
    open_alerts = alerts(ledger.engine)
    assert {(alert["kind"], alert["subject"]) for alert in open_alerts} == {
        ("cached_balance_differs", f"{BOOK}/Assets:Bank"),
    }
    first_seen = {alert["kind"]: alert["first_seen"] for alert in open_alerts}
    run(ledger, "reconcile", now=NOW + timedelta(days=2))
    assert {alert["kind"]: alert["first_seen"] for alert in alerts(ledger.engine)} == first_seen
    with ledger.engine.begin() as conn:
        conn.execute(text("UPDATE accounts SET debits_posted = debits_posted - 1 WHERE path = 'Assets:Bank'"))
    run(ledger, "reconcile", now=NOW + timedelta(days=3))
    assert alerts(ledger.engine) == []
    assert len(alerts(ledger.engine, include_resolved=True)) == 1


def test_expire_pending_job_voids_what_expired(ledger):
    chart(ledger)
    fund(ledger)
    expires = datetime.now(UTC) + timedelta(minutes=5)
    ledger.post(transfer("hold", "Expenses:Grants", "Assets:Bank", "10", pending=True, expires_at=expires))
    result = run(ledger, "expire-pending", now=expires + timedelta(minutes=1))
    assert result.counts == {"voided": 1}
    assert ledger.account(BOOK, "Assets:Bank").credits_pending == 0


def test_every_job_runs_on_an_empty_ledger_and_finds_nothing(ledger):
    expected = {
        "voucher-expiry": {"programs": 0, "reservations_voided": 0, "quotas_returned": 0},
        "breach-scan": {"subsidies": 0, "funds": 0, "vouchers": 0, "monitors": 0, "alerts_open": 0},
        "settlement": {"settled": 0, "findings": 0, "alerts_open": 0},
        "year-end": {
            "programs_closed": 0,
            "swept_fen": 0,
            "vouchers_closed": 0,
            "vouchers_waiting": 0,
            "vouchers_recovered_fen": 0,
            "vouchers_carried_fen": 0,
            "alerts_open": 0,
        },
        "expire-pending": {"voided": 0},
        "balance-snapshots": {"accounts_changed": 0, "taken": 1},
    }
    for name, counts in expected.items():
        assert run(ledger, name, now=NOW).counts == counts, name
    assert alerts(ledger.engine) == []


def test_the_scheduler_stores_every_job_and_forgets_retired_ones(database_url):
    scheduler = build_scheduler(database_url, blocking=False)
    scheduler.start(paused=True)
    try:
        assert {job.id for job in scheduler.get_jobs()} == {"seal-chain", *JOBS}
        scheduler.add_job(
            "jobs.definitions:scheduled_run", "interval", args=[database_url, "fund-checks"], id="fund-checks"
        )
        with make_engine(database_url).connect() as conn:  # stored, as a retired job of an older version is
            assert conn.execute(text("SELECT id FROM apscheduler_jobs WHERE id = 'fund-checks'")).scalar()
    finally:
        scheduler.shutdown(wait=False)
    again = build_scheduler(database_url, blocking=False)  # a later version no longer has "fund-checks"
    again.start(paused=True)
    try:
        assert {job.id for job in again.get_jobs()} == {"seal-chain", *JOBS}
    finally:
        again.shutdown(wait=False)
    with leadership(database_url, wait=False) as leader:
        assert leader


def test_cli_jobs_run_and_alerts(database_url, ledger):
    chart(ledger)
    runner = CliRunner()
    env = {"FUNDLEDGER_DATABASE_URL": database_url, "COLUMNS": "200"}
    result = runner.invoke(app, ["jobs", "run", "reconcile", "--period", "2026-03-10"], env=env)
    assert result.exit_code == 0, result.output
    assert "succeeded" in result.output
    assert "already_ran" in runner.invoke(app, ["jobs", "run", "reconcile", "--period", "2026-03-10"], env=env).output
    assert runner.invoke(app, ["jobs", "run", "nope"], env=env).exit_code == 1
    assert "alerts: 0" in runner.invoke(app, ["alerts"], env=env).output
    assert json.loads(runner.invoke(app, ["alerts", "--format", "json"], env=env).output) == []
    assert "reconcile" in runner.invoke(app, ["jobs", "list"], env=env).output


def test_only_one_process_leads_the_scheduler_on_postgres(postgres_url):
    with leadership(postgres_url) as first:
        with leadership(postgres_url, wait=False) as second:
            assert first and not second
    with leadership(postgres_url, wait=False) as after_release:
        assert after_release


def test_a_run_still_marked_running_is_not_run_again_defect_18(ledger):
    """Defect 18 (issue 11): a period key whose run is still marked running was run again, so two
    schedulers both acted. Now the second gets ``already_running`` and the job is not called."""
    calls = []
    with ledger.engine.begin() as conn:
        conn.execute(
            JobRun.__table__.insert().values(job="probe", period_key="k", started_at=utc_now(), status="running")
        )
    result = run_job(ledger.engine, "probe", "k", lambda: calls.append(1) or JobOutcome())
    assert result.status == "already_running"
    assert calls == []
    assert last_runs(ledger.engine)["probe"]["status"] == "running"


def test_a_run_whose_runner_died_is_taken_over_after_the_presumed_dead_window(ledger):
    calls = []
    with ledger.engine.begin() as conn:
        conn.execute(
            JobRun.__table__.insert().values(
                job="probe",
                period_key="k",
                started_at=utc_now() - RUN_PRESUMED_DEAD_AFTER - timedelta(minutes=1),
                status="running",
            )
        )
    result = run_job(ledger.engine, "probe", "k", lambda: calls.append(1) or JobOutcome())
    assert result.status == "succeeded"
    assert calls == [1]


def test_two_processes_retrying_one_failed_run_run_it_once_defect_18(ledger):
    """Both see the failed run; the conditional take-over lets exactly one of them act."""

    def failing():
        raise RuntimeError("first attempt failed")

    with pytest.raises(RuntimeError):
        run_job(ledger.engine, "probe", "k", failing)
    calls = []
    start = threading.Barrier(2)

    def slow_action():
        calls.append(1)
        time.sleep(0.3)
        return JobOutcome()

    def attempt():
        start.wait()
        return run_job(ledger.engine, "probe", "k", slow_action).status

    with ThreadPoolExecutor(max_workers=2) as pool:
        statuses = sorted(pool.map(lambda _: attempt(), range(2)))
    assert calls == [1]
    assert statuses == ["already_running", "succeeded"]


def test_a_mistyped_period_key_is_refused_and_records_no_run_and_no_alert(ledger, database_url):
    from jobs.runs import last_runs
    from ledger.errors import LedgerError, ResultCode

    for name, key in (
        ("balance-snapshots", "nonsense"),
        ("voucher-expiry", "2026-13-01"),
        ("settlement", "2026-3"),
        ("year-end", "26"),
        ("expire-pending", "2026-03-01"),
    ):
        with pytest.raises(LedgerError) as refused:
            run(ledger, name, key=key)
        assert refused.value.code == ResultCode.DATE_INVALID, name
    result = CliRunner().invoke(
        app, ["jobs", "run", "reconcile", "--period", "yesterday"], env={"FUNDLEDGER_DATABASE_URL": database_url}
    )
    assert result.exit_code == 1 and "date_invalid" in result.output
    assert last_runs(ledger.engine) == {} and alerts(ledger.engine) == []
    assert run(ledger, "settlement", key="2026-03").status == "succeeded"  # a well-formed key runs
