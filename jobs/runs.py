"""Job runs: each run is recorded once per (job, period key); its findings become alerts (jobs.alerts) in
the same transaction that marks it succeeded.

A run that already succeeded for its period key is not run again (``already_ran``), so a scheduler that
fires twice, or two processes that both fire, do no double work. A run still marked running is left to its
runner (``already_running``) unless it started more than ``RUN_PRESUMED_DEAD_AFTER`` ago: a process that
died mid-run leaves that mark behind for good. A failed run may be retried. Taking a run over is one
conditional UPDATE, so of two processes that both try, exactly one wins.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import Connection, Engine, select, update
from sqlalchemy.exc import IntegrityError

from jobs.alerts import Finding, list_alerts, record_findings
from ledger.engine import utc_now
from ledger.schema import JobRun

__all__ = ["Finding", "JobOutcome", "RunResult", "alerts", "last_runs", "run_job", "utc_now"]

T_RUNS = JobRun.__table__
# Longer than any job takes on a large ledger (verify of 1M transactions: under 10 s; import-sized
# jobs: minutes), short enough that a crashed run's period is retried the same day.
RUN_PRESUMED_DEAD_AFTER = timedelta(hours=1)


@dataclass
class JobOutcome:
    """What a job function returns: counts to record, and its findings (``None``: it raises no alerts)."""

    counts: dict[str, int] = field(default_factory=dict)
    findings: list[Finding] | None = None
    alert_kinds: tuple[str, ...] = ()  # the kinds this job owns: open alerts of them not found again resolve


@dataclass(frozen=True)
class RunResult:
    job: str
    period_key: str
    status: str  # succeeded | failed | already_ran | already_running
    counts: dict[str, int]
    message: str = ""


def run_job(engine: Engine, job: str, period_key: str, action: Callable[[], JobOutcome]) -> RunResult:
    """Run ``action`` once for (job, period key), recording the run and its alerts."""
    started = utc_now()
    with engine.begin() as conn:
        existing = conn.execute(
            select(T_RUNS.c.id, T_RUNS.c.status, T_RUNS.c.counts_json).where(
                T_RUNS.c.job == job, T_RUNS.c.period_key == period_key
            )
        ).first()
        if existing is not None and existing.status == "succeeded":
            return RunResult(job, period_key, "already_ran", json.loads(existing.counts_json))
        if existing is None:
            try:
                with conn.begin_nested():
                    conn.execute(
                        T_RUNS.insert().values(job=job, period_key=period_key, started_at=started, status="running")
                    )
            except IntegrityError:
                return RunResult(job, period_key, "already_running", {}, "another process is running it")
        else:
            # Take the run over only from a failed run or a runner presumed dead, and only if no other
            # process took it first: the WHERE re-checks the status under the row lock.
            claimed = conn.execute(
                update(T_RUNS)
                .where(
                    T_RUNS.c.id == existing.id,
                    (T_RUNS.c.status == "failed")
                    | ((T_RUNS.c.status == "running") & (T_RUNS.c.started_at < started - RUN_PRESUMED_DEAD_AFTER)),
                )
                .values(started_at=started, status="running")
            ).rowcount
            if claimed != 1:
                return RunResult(job, period_key, "already_running", {}, "another process is running it")
    try:
        outcome = action()
    except Exception as error:  # recorded, then re-raised: a failed run stays visible and retryable
        _finish(engine, job, period_key, "failed", {"error": 1})
        raise error
    # The alerts and the run's success are one transaction: a crash between them leaves neither.
    with engine.begin() as conn:
        if outcome.findings is not None:
            outcome.counts["alerts_open"] = record_findings(conn, job, outcome.findings, outcome.alert_kinds)
        _finish_on(conn, job, period_key, "succeeded", outcome.counts)
    return RunResult(job, period_key, "succeeded", outcome.counts)


def _finish(engine: Engine, job: str, period_key: str, status: str, counts: dict[str, int]) -> None:
    with engine.begin() as conn:
        _finish_on(conn, job, period_key, status, counts)


def _finish_on(conn: Connection, job: str, period_key: str, status: str, counts: dict[str, int]) -> None:
    conn.execute(
        update(T_RUNS)
        .where(T_RUNS.c.job == job, T_RUNS.c.period_key == period_key)
        .values(status=status, finished_at=utc_now(), counts_json=json.dumps(counts, sort_keys=True))
    )


def alerts(engine: Engine, *, include_resolved: bool = False) -> list[dict]:
    return list_alerts(engine, status="all" if include_resolved else "open")


def last_runs(engine: Engine) -> dict[str, dict]:
    with engine.connect() as conn:
        rows = conn.execute(select(T_RUNS).order_by(T_RUNS.c.started_at)).mappings().all()
    return {row["job"]: dict(row) for row in rows}
