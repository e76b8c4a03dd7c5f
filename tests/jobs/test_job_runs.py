"""The jobs by name: settlement of the month before, year-end, the analytics export; each run once per
period key (a rerun changes nothing); a failing job retried with backoff then alerted; a job killed
mid-run leaves no half result; schedules from configuration with their next run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app as cli_app
from jobs.alerts import list_alerts
from jobs.config import JOBS_CONFIG_ENV, JobsConfig, Retry, Settlement, parse_jobs_config
from jobs.definitions import JOBS, JobSpec, run, run_with_retries
from jobs.runs import JobOutcome, last_runs
from ledger.errors import LedgerError
from ledger.schema import JobRun
from tests.jobs.kill_helpers import READY_SUFFIX
from tests.subsidies.conftest import credit_code, install, program_text
from tests.vouchers.conftest import SHANGHAI, SUZHOU, build_scheme
from tests.vouchers.test_vouchers_settlement import _redeem
from vouchers.settlement import statement

APRIL_FIRST = datetime(2026, 3, 31, 21, 0, tzinfo=UTC)  # 05:00 on 1 April in Shanghai: the month before is March
NO_RETRY = JobsConfig(retry=Retry(attempts=1))


def test_settlement_of_the_month_before_waits_for_an_approver_then_settles_once(ledger):
    scheme = build_scheme(ledger, regions=(SHANGHAI, SUZHOU))
    scheme.grant(SHANGHAI, "10万")
    _redeem(scheme, SHANGHAI, SUZHOU, "tongdui", "C1", "30001.00")  # claimed on 1 March
    waiting = run(ledger, "settlement", now=APRIL_FIRST, config=NO_RETRY)
    assert (waiting.period_key, waiting.counts["settled"]) == ("2026-03", 0)
    [due] = list_alerts(ledger.engine)
    assert (due["kind"], due["subject"], due["severity"]) == ("voucher_settlement_due", "310000/320500:2026-03", "info")

    assert run(ledger, "settlement", now=APRIL_FIRST + timedelta(days=1), config=NO_RETRY).status == "already_ran"

    approved = JobsConfig(retry=Retry(attempts=1), settlement=Settlement(approver="settlement-office"))
    may_first = datetime(2026, 4, 30, 21, 0, tzinfo=UTC)  # the next month's run settles what March left
    settled = run(ledger, "settlement", now=may_first, config=approved)
    assert (settled.period_key, settled.counts) == ("2026-04", {"settled": 1, "findings": 0, "alerts_open": 0})
    assert list_alerts(ledger.engine) == []  # settled, and both regions' statements agree
    with ledger.engine.connect() as conn:
        settlement_id = conn.exec_driver_sql("SELECT id FROM vouchers_settlements").scalar_one()
    low, high = statement(ledger, settlement_id, SHANGHAI), statement(ledger, settlement_id, SUZHOU)
    assert low.payable_fen == high.receivable_fen == 1_000_033 and low.unsettled_fen == high.unsettled_fen == 0
    assert low.period_label == "2026-03"  # settled under the month of its claims
    assert run(ledger, "settlement", now=may_first, config=approved).status == "already_ran"
    june_first = datetime(2026, 5, 31, 21, 0, tzinfo=UTC)
    assert run(ledger, "settlement", now=june_first, config=approved).counts["settled"] == 0  # nothing twice


def test_year_end_closes_the_year_before_in_every_program_once(ledger):
    ledger.register_region("440100", "广州市")
    from subsidies.service import SubsidyService

    service = SubsidyService(ledger)
    program = install(service, program_text("ye", budget='"100万"', first_year=2019, last_year=2020))
    institution = ledger.register_institution(credit_code(1), "Institution 1", "university", region_code="440100")
    application = service.submit_application(
        program.code, institution, 2019, {"claim": "30万"}, actor="clerk", client_id="a1"
    )
    service.approve(application, approver="director")
    new_year = datetime(2019, 12, 31, 21, 0, tzinfo=UTC)  # 1 January 2020 in Shanghai
    result = run(ledger, "year-end", now=new_year, config=NO_RETRY)
    assert (result.period_key, result.counts) == (
        "2019",
        {"programs_closed": 1, "swept_fen": 70 * 1_000_000, **NO_VOUCHERS_CLOSED, "alerts_open": 0},
    )
    with ledger.engine.connect() as conn:
        assert service.budget_room(conn, program, 2019) == 0
    assert run(ledger, "year-end", now=new_year, config=NO_RETRY).status == "already_ran"


NO_VOUCHERS_CLOSED = {
    "vouchers_closed": 0,
    "vouchers_waiting": 0,
    "vouchers_recovered_fen": 0,
    "vouchers_carried_fen": 0,
}


def test_year_end_closes_voucher_programs_past_redeem_by_and_alerts_on_one_not_ready(ledger):
    """Shanghai's program is spent 1.5万 and paid: 98.5万 recovered (收回). Suzhou's has a claim not yet paid: it
    stays open, one alert naming why, cleared by the next year-end that closes it. Reruns change nothing."""
    from tests.vouchers.test_vouchers_payments import _approve, _prepare
    from tests.vouchers.test_vouchers_payments import _redeem as redeem_local
    from vouchers import books

    scheme = build_scheme(ledger, regions=(SHANGHAI, SUZHOU))
    scheme.grant(SHANGHAI, "10万")
    scheme.grant(SUZHOU, "10万")
    redeem_local(scheme, SHANGHAI, SHANGHAI, "C1", "30000.00")
    redeem_local(scheme, SUZHOU, SUZHOU, "C2", "30000.00")
    _approve(scheme, _prepare(scheme)["id"])  # Shanghai pays its provider; Suzhou does not (yet)
    new_year = datetime(2026, 12, 31, 21, 0, tzinfo=UTC)  # 1 January 2027 in Shanghai: closes 2026

    result = run(ledger, "year-end", now=new_year, config=NO_RETRY)

    assert (result.period_key, result.counts) == (
        "2026",
        {
            "programs_closed": 0,
            "swept_fen": 0,
            "vouchers_closed": 1,
            "vouchers_waiting": 1,
            "vouchers_recovered_fen": 98_500_000,
            "vouchers_carried_fen": 0,
            "alerts_open": 1,
        },
    )
    [waiting] = list_alerts(ledger.engine)
    assert (waiting["kind"], waiting["subject"], waiting["region"]) == (
        "voucher_program_not_ready_to_close",
        scheme.programs[SUZHOU],
        SUZHOU,
    )
    assert "1 claims not yet paid" in waiting["message"]
    shanghai_funds = books.budget_book(SHANGHAI), books.budget_funds_held(scheme.programs[SHANGHAI])
    assert ledger.account(*shanghai_funds).balance_fen == 0
    accounts = [(a.book, a.path, a.debits_posted, a.credits_posted) for a in ledger.accounts()]
    assert run(ledger, "year-end", now=new_year, config=NO_RETRY).status == "already_ran"
    assert [(a.book, a.path, a.debits_posted, a.credits_posted) for a in ledger.accounts()] == accounts

    _approve(scheme, _prepare(scheme, region=SUZHOU)["id"])
    following = run(ledger, "year-end", now=new_year.replace(year=2027), config=NO_RETRY)
    assert (following.counts["vouchers_closed"], following.counts["vouchers_waiting"]) == (1, 0)
    assert list_alerts(ledger.engine) == []  # cleared: the program closed


def test_the_analytics_export_writes_the_month_before_once(ledger, tmp_path):
    config = parse_jobs_config(f'[analytics]\ndirectory = "{tmp_path}"\n[retry]\nattempts = 1\n')
    first = run(ledger, "analytics-export", now=APRIL_FIRST, config=config)
    assert first.period_key == "2026-03" and first.counts["written"] == 1
    manifest = json.loads((tmp_path / "2026-03" / "manifest.json").read_text(encoding="utf-8"))
    assert len(manifest["files"]) == first.counts["files"]
    again = run(ledger, "analytics-export", now=APRIL_FIRST, key="2026-03", config=config)
    assert again.status == "already_ran"


def _failing_spec(monkeypatch, name: str, outcomes: list) -> list:
    """Replace job ``name``'s action by one that raises or returns each of ``outcomes`` in turn."""
    calls = []

    def action(ledger, now, key, config):
        calls.append(key)
        outcome = outcomes[len(calls) - 1]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    spec = JOBS[name]
    monkeypatch.setitem(JOBS, name, JobSpec(spec.name, spec.description, spec.period, action))
    return calls


def test_a_failing_job_is_retried_with_backoff_and_then_leaves_an_alert(ledger, monkeypatch):
    calls = _failing_spec(monkeypatch, "reconcile", [RuntimeError("disk full")] * 3 + [JobOutcome()])
    slept = []
    config = JobsConfig(retry=Retry(attempts=3, backoff_s=10))
    with pytest.raises(RuntimeError):
        run_with_retries(ledger, "reconcile", now=APRIL_FIRST, config=config, sleep=slept.append)
    assert slept == [10, 20] and len(calls) == 3
    assert last_runs(ledger.engine)["reconcile"]["status"] == "failed"
    [alert] = list_alerts(ledger.engine)
    assert (alert["kind"], alert["subject"], alert["severity"]) == ("job_failed", "reconcile", "critical")
    assert "disk full" in alert["message"]
    recovered = run_with_retries(ledger, "reconcile", now=APRIL_FIRST, config=config, sleep=slept.append)
    assert recovered.result.status == "succeeded" and recovered.attempts == 1
    assert list_alerts(ledger.engine) == []
    assert list_alerts(ledger.engine, status="resolved")[0]["resolved_by"] == "job:reconcile"


def test_a_job_that_fails_once_and_then_succeeds_leaves_no_alert(ledger, monkeypatch):
    _failing_spec(monkeypatch, "reconcile", [RuntimeError("deadlock"), JobOutcome(counts={"ok": 1})])
    timed = run_with_retries(ledger, "reconcile", now=APRIL_FIRST, config=JobsConfig(), sleep=lambda _s: None)
    assert (timed.result.status, timed.attempts, timed.result.counts) == ("succeeded", 2, {"ok": 1})
    assert list_alerts(ledger.engine, status="all") == []


def test_a_job_killed_mid_run_leaves_no_half_result_and_is_run_again(ledger, database_url, tmp_path, monkeypatch):
    """A breach scan killed (SIGKILL) after finding its breaches, before it recorded them: no alert and no
    success are written; once its runner is presumed dead the rerun records everything."""
    from tests.ledger_helpers import BOOK, chart, fund

    chart(ledger)
    fund(ledger)
    from jobs.monitors import add_monitor

    add_monitor(
        ledger,
        "bank-low",
        book=BOOK,
        account="Assets:Bank",
        field="balance",
        operator="<",
        threshold="2000元",
        actor="t",
    )
    marker = tmp_path / "scan"
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.jobs.kill_helpers", database_url, str(marker)],
        cwd=Path(__file__).resolve().parents[2],
        env=os.environ | {JOBS_CONFIG_ENV: ""},
    )
    try:
        deadline = time.monotonic() + 30
        ready = marker.with_name(marker.name + READY_SUFFIX)
        while not ready.exists():
            assert process.poll() is None, "the job process ended before it was killed"
            assert time.monotonic() < deadline, "the job never reached its findings"
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
    killed = last_runs(ledger.engine)["breach-scan"]
    assert killed["status"] == "running"
    assert list_alerts(ledger.engine, status="all") == []
    # Still running as far as anyone can tell: not run twice.
    assert run(ledger, "breach-scan", key=killed["period_key"], config=NO_RETRY).status == "already_running"
    with ledger.engine.begin() as conn:  # an hour later the runner is presumed dead
        conn.execute(JobRun.__table__.update().values(started_at=datetime.now(UTC) - timedelta(hours=2)))
    rerun = run(ledger, "breach-scan", key=killed["period_key"], config=NO_RETRY)
    assert (rerun.status, rerun.counts["monitors"], rerun.counts["alerts_open"]) == ("succeeded", 1, 1)
    assert [alert["kind"] for alert in list_alerts(ledger.engine)] == ["balance_monitor_crossed"]


def test_schedules_come_from_configuration_with_defaults_and_next_runs(tmp_path, database_url):
    config = parse_jobs_config('[schedules]\nbreach-scan = "15 4 * * 1"\n')
    assert config.schedule("breach-scan") == "15 4 * * 1" and config.schedule("reconcile") == "0 2 * * *"
    wednesday = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    # cron's weekday 1 is Monday (APScheduler's own numbering starts at Monday = 0: translated)
    assert config.next_run("breach-scan", wednesday).isoformat() == "2026-12-07T04:15:00+08:00"
    sundays = parse_jobs_config('[schedules]\nreconcile = "0 2 * * 0,7"\n')
    assert sundays.next_run("reconcile", wednesday).isoformat() == "2026-12-06T02:00:00+08:00"
    weekdays = parse_jobs_config('[schedules]\nreconcile = "0 2 * * 1-5"\n')
    saturday = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
    assert weekdays.next_run("reconcile", saturday).isoformat() == "2026-12-07T02:00:00+08:00"
    with pytest.raises(LedgerError) as unknown:
        parse_jobs_config('[schedules]\nnightly = "0 1 * * *"\n')
    assert "no job 'nightly'" in unknown.value.message
    with pytest.raises(LedgerError):
        parse_jobs_config('[schedules]\nreconcile = "0 25 * * *"\n')
    file = tmp_path / "jobs.toml"
    file.write_text('[schedules]\nreconcile = "45 1 * * *"\n', encoding="utf-8")
    env = {"FUNDLEDGER_DATABASE_URL": database_url, JOBS_CONFIG_ENV: str(file), "COLUMNS": "250"}
    listed = CliRunner().invoke(cli_app, ["jobs", "list", "--format", "json"], env=env)
    assert listed.exit_code == 0, listed.output
    rows = {row["job"]: row for row in json.loads(listed.output)}
    assert set(rows) == {*JOBS, "seal-chain"}
    assert rows["reconcile"]["schedule"] == "45 1 * * *" and rows["reconcile"]["next_run"].endswith(":45 +0800")
    assert rows["breach-scan"]["schedule"] == "0 3 * * *"


def test_a_run_prints_one_line_with_its_period_status_counts_and_duration(ledger, capsys):
    from api.cli_jobs import print_run

    timed = run_with_retries(ledger, "expire-pending", now=APRIL_FIRST, config=NO_RETRY)
    print_run("expire-pending", timed, None, datetime(2026, 3, 31, 21, 1, tzinfo=UTC))
    line = capsys.readouterr().out.strip()
    assert line.startswith('expire-pending [2026-04-01T05:00]: succeeded {"voided": 0} in ')
    assert line.endswith(" s; next 2026-04-01 05:01 +0800")
