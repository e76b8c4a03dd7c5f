"""The scheduled jobs. Thin: each calls the ledger or a domain package and turns what it finds into alerts
through ``jobs.runs``. Each job's period key names the work it does (Asia/Shanghai): a minute, a day, the
month before (settlement) or the year before (year-end); one period key is done once.

A failing run is retried with backoff (``jobs.config``); when every attempt failed it leaves a critical
``job_failed`` alert, which its next successful run clears. Every unit a job writes is one transaction of
the domain service, and the run's alerts and success are one more, so a job killed mid-run leaves no half
unit: its run stays marked running (taken over later) and its rerun finishes what is left.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache

from sqlalchemy import select

from jobs.alerts import Finding, record_findings
from jobs.audit import audit_all, domain_control_kinds
from jobs.config import JobsConfig, jobs_config
from jobs.runs import JobOutcome, RunResult, run_job, utc_now
from ledger.chain import seal
from ledger.db import make_engine
from ledger.engine import Ledger
from ledger.errors import LedgerError, ResultCode
from ledger.numbers import SHANGHAI

log = logging.getLogger("fundledger.jobs")

LEDGER_ALERT_KINDS = ("chain_broken", "cached_balance_differs", "month_totals_differ", "book_does_not_balance")
JOB_FAILED = "job_failed"
JOB_ACTOR_PREFIX = "job:"
PERIODS = ("minute", "day", "day_before", "month_before", "year_before")


@dataclass(frozen=True)
class JobSpec:
    name: str
    description: str
    period: str  # one of PERIODS: how the period key is cut (Asia/Shanghai)
    action: Callable[[Ledger, datetime, str, JobsConfig], JobOutcome]  # (ledger, now, period key, config)


@dataclass(frozen=True)
class TimedRun:
    """One scheduled run as ``jobs schedule`` prints it."""

    result: RunResult
    duration_s: float
    attempts: int = 1
    error: str = ""


def period_key(period: str, moment: datetime) -> str:
    local = moment.astimezone(SHANGHAI)
    if period == "minute":
        return local.strftime("%Y-%m-%dT%H:%M")
    if period == "day":
        return local.strftime("%Y-%m-%d")
    if period == "day_before":
        return (local.date() - timedelta(days=1)).isoformat()
    if period == "month_before":
        return (local.date().replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    if period == "year_before":
        return str(local.year - 1)
    raise ValueError(f"period {period!r} is not one of {PERIODS}")


# What a period key of each kind looks like (strptime formats): a key given by hand is checked before anything
# is recorded, so a mistyped one is refused and leaves no run and no alert behind.
PERIOD_KEY_FORMATS = {
    "minute": "%Y-%m-%dT%H:%M",
    "day": "%Y-%m-%d",
    "day_before": "%Y-%m-%d",
    "month_before": "%Y-%m",
    "year_before": "%Y",
}


def check_period_key(period: str, key: str) -> str:
    form = PERIOD_KEY_FORMATS[period]
    try:
        valid = datetime.strptime(key, form).strftime(form) == key
    except (TypeError, ValueError):
        valid = False
    if not valid:
        example = period_key(period, datetime(2026, 1, 31, 16, 0, tzinfo=SHANGHAI))
        raise LedgerError(ResultCode.DATE_INVALID, f"period key {str(key)[:40]!r} is not a {period} key like {example}")
    return key


def _month_bounds(key: str) -> tuple[date, date]:
    first = date.fromisoformat(f"{key}-01")
    next_month = (first + timedelta(days=32)).replace(day=1)
    return first, next_month - timedelta(days=1)


def _expire_pending(ledger: Ledger, now: datetime, key: str, config: JobsConfig) -> JobOutcome:
    results = ledger.expire_pending(now=now)
    return JobOutcome(counts={"voided": sum(1 for result in results if result.ok)})


def _reconcile(ledger: Ledger, now: datetime, key: str, config: JobsConfig) -> JobOutcome:
    result = audit_all(ledger.engine)
    report = result.core.chain
    findings = [
        Finding("chain_broken", "hash chain", message, "critical", rule="chain_broken") for message in report.findings
    ]
    for finding in [*result.core.findings, *result.controls]:
        findings.append(
            Finding(
                finding.kind,
                finding.subject,
                finding.message,
                "critical",
                amount_fen=finding.actual_fen,
                limit_fen=finding.expected_fen,
                rule=finding.kind,
            )
        )
    return JobOutcome(
        counts={
            "sealed_links": report.sealed,
            "unsealed": report.unsealed,
            "findings": len(findings),
            "control_findings": len(result.controls),
        },
        findings=findings,
        alert_kinds=LEDGER_ALERT_KINDS + domain_control_kinds(),
    )


def _breach_scan(ledger: Ledger, now: datetime, key: str, config: JobsConfig) -> JobOutcome:
    from jobs.scan import breach_scan

    return breach_scan(ledger, now, config)


def _voucher_expiry(ledger: Ledger, now: datetime, key: str, config: JobsConfig) -> JobOutcome:
    from vouchers.expiry import run_expiry
    from vouchers.models import VoucherProgram

    table = VoucherProgram.__table__
    with ledger.reader.connect() as conn:
        programs = [row[0] for row in conn.execute(select(table.c.code).order_by(table.c.code))]
    today = date.fromisoformat(key)
    voided = returned = 0
    for program in programs:  # one unit of work per program, keyed by its date: a rerun skips what is done
        result = run_expiry(ledger, program, as_of=today)
        voided += result.reservations_voided
        returned += result.quotas_returned
    return JobOutcome(counts={"programs": len(programs), "reservations_voided": voided, "quotas_returned": returned})


def _settlement(ledger: Ledger, now: datetime, key: str, config: JobsConfig) -> JobOutcome:
    """Settle every region pair's cross-region claims of each month up to the month before, under that
    month's label (when an approver is configured), then compare both regions' statements; a pair left
    unsettled or a disagreement is an alert."""
    from vouchers.scan import (
        SETTLEMENT_DUE,
        SETTLEMENT_KINDS,
        SETTLEMENT_STATEMENTS_DIFFER,
        settlement_disagreement,
        settlement_pairs_due,
    )
    from vouchers.settlement import settle

    approver = config.settlement.approver
    findings, settled = [], 0
    for low, high, month in settlement_pairs_due(ledger, _month_bounds(key)[1]):
        subject = f"{low}/{high}:{month}"
        if approver is None:
            findings.append(
                Finding(
                    SETTLEMENT_DUE,
                    subject,
                    f"claims between {low} and {high} in {month} wait for settlement (no settlement approver "
                    "configured)",
                    "info",
                    region=low,
                    rule=SETTLEMENT_DUE,
                )
            )
            continue
        first, last = _month_bounds(month)
        row = settle(
            ledger,
            low,
            high,
            period_label=month,
            period_start=first,
            period_end=last,
            on=now.astimezone(SHANGHAI).date(),
            actor=f"{JOB_ACTOR_PREFIX}settlement",
            approver=approver,
        )
        if row is None:
            continue
        settled += 1
        problem = settlement_disagreement(ledger, row["id"])
        if problem is not None:
            findings.append(
                Finding(SETTLEMENT_STATEMENTS_DIFFER, subject, problem, "critical", region=low, rule="statements_agree")
            )
    return JobOutcome(
        counts={"settled": settled, "findings": len(findings)}, findings=findings, alert_kinds=SETTLEMENT_KINDS
    )


def _year_end(ledger: Ledger, now: datetime, key: str, config: JobsConfig) -> JobOutcome:
    """Close the year before (结转 / 收回, as each program is configured): every subsidy program that has that
    year, dated its last day (the period key is the close's idempotency key); and every voucher program whose
    redeem-by date fell in that year or before and that is not closed yet (a program closes once), dated today,
    the day after its redemptions ended. A voucher program not ready (claims unpaid or unsettled) is an alert
    and waits for the next year-end."""
    from subsidies.models import PROGRAMS
    from subsidies.service import SubsidyService
    from vouchers.year_end import YearEndCode, close_program, programs_due

    service = SubsidyService(ledger)
    year = int(key)
    closing_day = date(year, 12, 31)
    actor = f"{JOB_ACTOR_PREFIX}year-end"
    with ledger.reader.connect() as conn:
        codes = conn.execute(select(PROGRAMS.c.code).order_by(PROGRAMS.c.code)).scalars().all()
    closed = swept = 0
    for code in codes:
        if year not in service.program(code).years:
            continue
        result = service.close_year(code, year, actor=actor, client_id=f"job-year-end:{key}", on=closing_day)
        closed += 1
        swept += int(result.get("amount_fen") or 0)
    findings: list[Finding] = []
    vouchers = {"vouchers_closed": 0, "vouchers_waiting": 0, "vouchers_recovered_fen": 0, "vouchers_carried_fen": 0}
    today = now.astimezone(SHANGHAI).date()
    for code in programs_due(ledger, min(closing_day + timedelta(days=1), today)):
        try:
            closure = close_program(ledger, code, on=today, actor=actor)
        except LedgerError as error:
            if error.code not in tuple(YearEndCode):
                raise
            vouchers["vouchers_waiting"] += 1
            findings.append(
                Finding(
                    str(error.code),
                    code,
                    error.message,
                    "warning",
                    region=_voucher_region(ledger, code),
                    rule=str(error.code),
                )
            )
            continue
        vouchers["vouchers_closed"] += 1
        vouchers["vouchers_carried_fen" if closure.carried_to else "vouchers_recovered_fen"] += closure.budget_fen
    return JobOutcome(
        counts={"programs_closed": closed, "swept_fen": swept, **vouchers},
        findings=findings,
        alert_kinds=tuple(str(code) for code in YearEndCode),
    )


def _voucher_region(ledger: Ledger, program: str) -> str:
    from vouchers.programs import load_program

    with ledger.reader.connect() as conn:
        return load_program(conn, program).region_code


def _balance_snapshots(ledger: Ledger, now: datetime, key: str, config: JobsConfig) -> JobOutcome:
    """The closing balances of the day before (the period key), stored where they changed (jobs.snapshots)."""
    from jobs.snapshots import take_snapshot

    return JobOutcome(counts=take_snapshot(ledger.engine, date.fromisoformat(key)))


def _analytics_export(ledger: Ledger, now: datetime, key: str, config: JobsConfig) -> JobOutcome:
    """The month before as Parquet, CSV and workbooks (jobs.analytics_export); a period already exported
    is left as it was."""
    from jobs.analytics_export import export_analytics

    result = export_analytics(ledger.engine, key, config.analytics.directory)
    return JobOutcome(counts={"files": len(result.files), "written": int(result.written)})


JOBS: dict[str, JobSpec] = {
    spec.name: spec
    for spec in (
        JobSpec("expire-pending", "void pending transactions whose expiry has passed", "minute", _expire_pending),
        JobSpec(
            "voucher-expiry",
            "unused voucher quota back to the budget after use-by; reservations voided after redeem-by",
            "day",
            _voucher_expiry,
        ),
        JobSpec(
            "reconcile",
            "hash chain intact; cached balances and month totals equal postings; every book balances; "
            "every domain sub-ledger equals its control accounts",
            "day",
            _reconcile,
        ),
        JobSpec(
            "breach-scan",
            "limit-breach scan: subsidy warn caps, awardees and budgets; sub-fund structure, targets, 返投, idle "
            "money, first call, fees; pools and banks near their limits; voucher budgets and unused quota; "
            "balance monitors",
            "day",
            _breach_scan,
        ),
        JobSpec(
            "settlement",
            "inter-region voucher settlement of the month before, both regions' statements compared",
            "month_before",
            _settlement,
        ),
        JobSpec(
            "year-end",
            "unused budget of the year before carried over (结转) or recovered (收回): subsidy programs, and voucher "
            "programs past their redeem-by date",
            "year_before",
            _year_end,
        ),
        JobSpec(
            "balance-snapshots",
            "each account's closing posted totals of the day before, kept where they changed",
            "day_before",
            _balance_snapshots,
        ),
        JobSpec(
            "analytics-export",
            "the month before as Parquet (journal), CSV per report section and .xlsx in 元 and 万元",
            "month_before",
            _analytics_export,
        ),
    )
}
# The chainer is not a recorded job: sealing is idempotent by nature (it drains the queue) and runs
# every few seconds, which would fill job_runs with a row per run.
CHAINER_INTERVAL_S = 2
SEAL_CHAIN = "seal-chain"


def run(
    ledger: Ledger,
    name: str,
    *,
    now: datetime | None = None,
    key: str | None = None,
    config: JobsConfig | None = None,
    alert_on_failure: bool = True,
) -> RunResult:
    """Run one job once for its period key. A failure is recorded (the run, and a ``job_failed`` alert
    unless a retry follows) and raised; a success clears that alert."""
    spec = JOBS[name]
    config = config or jobs_config()
    moment = now or utc_now()
    key = period_key(spec.period, moment) if key is None else check_period_key(spec.period, key)
    try:
        result = run_job(ledger.engine, name, key, lambda: spec.action(ledger, moment, key, config))
    except Exception as error:
        if alert_on_failure:
            _job_failed(ledger, name, key, error)
        raise
    if result.status == "succeeded":
        with ledger.engine.begin() as conn:
            record_findings(conn, name, [], (JOB_FAILED,), subjects=(name,))
    return result


def run_with_retries(
    ledger: Ledger,
    name: str,
    *,
    now: datetime | None = None,
    config: JobsConfig | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> TimedRun:
    """``run``, tried again after each failure with the configured backoff; the last failure is raised."""
    config = config or jobs_config()
    moment = now or utc_now()
    started = time.monotonic()
    delays = config.retry.delays_s()
    for attempt in range(len(delays) + 1):
        try:
            result = run(ledger, name, now=moment, config=config, alert_on_failure=attempt == len(delays))
            return TimedRun(result, time.monotonic() - started, attempt + 1)
        except Exception as error:
            if attempt == len(delays):
                raise
            log.warning("job %s attempt %d failed (%s); again in %s s", name, attempt + 1, error, delays[attempt])
            sleep(delays[attempt])
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


def _job_failed(ledger: Ledger, name: str, key: str, error: Exception) -> None:
    message = f"run {key} failed: {type(error).__name__}: {error}"
    finding = Finding(JOB_FAILED, name, message, "critical", rule=JOB_FAILED)
    try:
        with ledger.engine.begin() as conn:
            record_findings(conn, name, [finding], (JOB_FAILED,), subjects=(name,))
    except Exception:  # noqa: BLE001 - the database itself may be what failed; the run's error is raised
        log.exception("could not record the failure of job %s", name)


@lru_cache(maxsize=4)
def _engine(database_url: str):
    # One pool per database for the life of the scheduler process, not one per run.
    return make_engine(database_url)


def scheduled_run(database_url: str, name: str) -> TimedRun:
    """Entry point the scheduler stores (by reference) for each recorded job."""
    ledger = Ledger(_engine(database_url))
    started = time.monotonic()
    try:
        return run_with_retries(ledger, name)
    except Exception as error:  # noqa: BLE001 - recorded and alerted by run(); the scheduler goes on
        result = RunResult(name, "", "failed", {"error": 1}, str(error))
        return TimedRun(result, time.monotonic() - started, jobs_config().retry.attempts, str(error))


def scheduled_seal(database_url: str) -> None:
    seal(_engine(database_url))
