"""The scheduled jobs. Thin: each calls the ledger or a domain package and turns what it finds into
alerts through ``jobs.runs``. Period keys are Asia/Shanghai dates or minutes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from sqlalchemy import select

from jobs.audit import audit_all, domain_control_kinds
from jobs.runs import Finding, JobOutcome, RunResult, run_job, utc_now
from ledger.chain import seal
from ledger.db import make_engine
from ledger.engine import Ledger
from ledger.numbers import SHANGHAI

LEDGER_ALERT_KINDS = ("chain_broken", "cached_balance_differs", "month_totals_differ", "book_does_not_balance")


@dataclass(frozen=True)
class JobSpec:
    name: str
    description: str
    period: str  # "minute" or "day": how the period key is cut (Asia/Shanghai)
    trigger: dict  # APScheduler trigger arguments
    action: Callable[[Ledger, datetime], JobOutcome]


def period_key(period: str, moment: datetime) -> str:
    local = moment.astimezone(SHANGHAI)
    return local.strftime("%Y-%m-%dT%H:%M") if period == "minute" else local.strftime("%Y-%m-%d")


def _expire_pending(ledger: Ledger, now: datetime) -> JobOutcome:
    results = ledger.expire_pending(now=now)
    return JobOutcome(counts={"voided": sum(1 for result in results if result.ok)})


def _reconcile(ledger: Ledger, now: datetime) -> JobOutcome:
    result = audit_all(ledger.engine)
    report = result.core.chain
    findings = [Finding("chain_broken", "hash chain", message, "critical") for message in report.findings]
    for finding in [*result.core.findings, *result.controls]:
        findings.append(
            Finding(
                finding.kind,
                finding.subject,
                finding.message,
                "critical",
                amount_fen=finding.actual_fen,
                limit_fen=finding.expected_fen,
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


def _voucher_expiry(ledger: Ledger, now: datetime) -> JobOutcome:
    from vouchers.expiry import run_expiry
    from vouchers.models import VoucherProgram

    table = VoucherProgram.__table__
    with ledger.reader.connect() as conn:
        programs = [row[0] for row in conn.execute(select(table.c.code).order_by(table.c.code))]
    today = now.astimezone(SHANGHAI).date()
    for program in programs:
        run_expiry(ledger, program, as_of=today)
    return JobOutcome(counts={"programs": len(programs)})


def _fund_checks(ledger: Ledger, now: datetime) -> JobOutcome:
    from funds.checks import check_pool, check_subfund
    from funds.codes import FundsCode
    from funds.models import Pool, SubFund

    with ledger.reader.connect() as conn:
        subfunds = [row[0] for row in conn.execute(select(SubFund.__table__.c.code).order_by("code"))]
        pools = [row[0] for row in conn.execute(select(Pool.__table__.c.code).order_by("code"))]
    today = now.astimezone(SHANGHAI).date()
    found = [finding for code in subfunds for finding in check_subfund(ledger, code, today)]
    found += [finding for code in pools for finding in check_pool(ledger, code)]
    findings = [
        Finding(
            str(finding.code),
            finding.subject,
            finding.message,
            "warning",
            amount_fen=finding.amount_fen,
            limit_fen=finding.limit_fen,
        )
        for finding in found
    ]
    # The job owns every funds code as an alert kind, so a breach that is gone resolves on the next run.
    kinds = tuple(sorted(str(code) for code in FundsCode))
    return JobOutcome(counts={"subfunds": len(subfunds), "pools": len(pools)}, findings=findings, alert_kinds=kinds)


JOBS: dict[str, JobSpec] = {
    spec.name: spec
    for spec in (
        JobSpec(
            "expire-pending",
            "void pending transactions whose expiry has passed",
            "minute",
            {"trigger": "interval", "minutes": 1},
            _expire_pending,
        ),
        JobSpec(
            "reconcile",
            "hash chain intact; cached balances and month totals equal postings; every book balances; "
            "every domain sub-ledger equals its control accounts",
            "day",
            {"trigger": "cron", "hour": 2, "minute": 0},
            _reconcile,
        ),
        JobSpec(
            "voucher-expiry",
            "unused voucher quota back to the budget after use-by; reservations voided after redeem-by",
            "day",
            {"trigger": "cron", "hour": 0, "minute": 30},
            _voucher_expiry,
        ),
        JobSpec(
            "fund-checks",
            "limit-breach scan of sub-funds (guidance share and largest stake, target investment, local "
            "re-investment, idle money) and pools (filing caps let through by warn)",
            "day",
            {"trigger": "cron", "hour": 3, "minute": 0},
            _fund_checks,
        ),
    )
}
# The chainer is not a recorded job: sealing is idempotent by nature (it drains the queue) and runs
# every few seconds, which would fill job_runs with a row per run.
CHAINER_INTERVAL_S = 2


def run(ledger: Ledger, name: str, *, now: datetime | None = None, key: str | None = None) -> RunResult:
    spec = JOBS[name]
    moment = now or utc_now()
    return run_job(ledger.engine, name, key or period_key(spec.period, moment), lambda: spec.action(ledger, moment))


@lru_cache(maxsize=4)
def _engine(database_url: str):
    # One pool per database for the life of the scheduler process, not one per run.
    return make_engine(database_url)


def scheduled_run(database_url: str, name: str) -> None:
    """Entry point the scheduler stores (by reference) for each recorded job."""
    run(Ledger(_engine(database_url)), name)


def scheduled_seal(database_url: str) -> None:
    seal(_engine(database_url))
