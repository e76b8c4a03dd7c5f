"""``fundledger jobs list|run|schedule`` and ``fundledger alerts``: the scheduled jobs and what they found."""

from __future__ import annotations

import json
import os
from typing import Annotated

import typer

from api.cli_format import AmountUnit, Column, ColumnKind, emit_rows
from api.cli_format import OutputFormat as TableFormat
from api.cli_support import (
    EXIT_USAGE,
    USAGE_ERROR,
    DatabaseOption,
    console,
    engine_for,
    fail,
    ledger_for,
    run_refusable,
)

JOB_NOT_FOUND = "job_not_found"

UnitOption = Annotated[AmountUnit, typer.Option("--unit", help="Amounts in the table: 元 or 万元.")]
FormatOption = Annotated[TableFormat, typer.Option("--format", help="table, csv or json.")]

jobs_app = typer.Typer(help="Scheduled jobs: list, run one now, or run the scheduler.", no_args_is_help=True)

JOB_COLUMNS = [
    Column("job", "job"),
    Column("schedule", "schedule (Asia/Shanghai)"),
    Column("next_run", "next run"),
    Column("last_period", "last period"),
    Column("status", "status"),
    Column("counts", "counts"),
    Column("description", "what it does"),
]
EXIT_SCHEDULER_REFUSED = 1
SCHEDULER_REFUSED = "scheduler_already_running"


def _local(moment) -> str | None:  # noqa: ANN001 - a datetime or None
    from ledger.numbers import SHANGHAI

    return None if moment is None else moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M %z")


@jobs_app.command("list")
def jobs_list(output_format: FormatOption = TableFormat.table, database_url: DatabaseOption = None) -> None:
    """The jobs, their schedule, the next run and the last run."""
    from jobs.config import jobs_config
    from jobs.definitions import CHAINER_INTERVAL_S, JOBS, SEAL_CHAIN
    from jobs.runs import last_runs, utc_now

    config = run_refusable(jobs_config)
    runs = run_refusable(lambda: last_runs(engine_for(database_url)))
    now = utc_now()
    rows = []
    for name, spec in JOBS.items():
        run = runs.get(name, {})
        rows.append(
            {
                "job": name,
                "schedule": config.schedule(name),
                "next_run": _local(config.next_run(name, now)),
                "last_period": run.get("period_key"),
                "status": run.get("status"),
                "counts": run.get("counts_json"),
                "description": spec.description,
            }
        )
    rows.append(
        {
            "job": SEAL_CHAIN,
            "schedule": f"every {CHAINER_INTERVAL_S} s",
            "description": "hash chain + voucher numbers (not recorded: it drains a queue)",
        }
    )
    emit_rows(console, rows, JOB_COLUMNS, output_format, title="jobs")


@jobs_app.command("run")
def jobs_run(
    name: Annotated[str, typer.Argument(help="Job name (see 'jobs list').")],
    period: Annotated[str | None, typer.Option(help="Period key; default: the current one.")] = None,
    database_url: DatabaseOption = None,
) -> None:
    """Run one job now, once per period key; exits non-zero if it failed or found something."""
    from jobs.definitions import JOBS, SEAL_CHAIN, run
    from ledger.chain import seal

    if name == SEAL_CHAIN:
        sealed = seal(engine_for(database_url))
        console.print(f"{SEAL_CHAIN}: sealed {sealed} transactions")
        return
    if name not in JOBS:
        fail(JOB_NOT_FOUND, f"no job {name!r}; known: {', '.join(JOBS)}, {SEAL_CHAIN}")
    result = run_refusable(lambda: run(ledger_for(database_url), name, key=period))
    console.print(f"{result.job} [{result.period_key}]: {result.status} {json.dumps(result.counts)}")
    if result.counts.get("findings") or result.counts.get("alerts_open"):  # like verify: a finding is not a pass
        raise typer.Exit(1)


def print_run(job: str, timed, error: BaseException | None, next_run=None) -> None:  # noqa: ANN001
    """One line per scheduled run: job, period key, status, counts, duration (and when it runs next)."""
    then = f"; next {_local(next_run)}" if next_run is not None else ""
    if timed is None:  # a TimedRun, or None when the run raised past the retries
        console.print(f"{job}: error {type(error).__name__}: {error}{then}")
        return
    result = timed.result
    attempts = f" after {timed.attempts} attempts" if timed.attempts > 1 else ""
    console.print(
        f"{job} [{result.period_key or '-'}]: {result.status}{attempts} {json.dumps(result.counts)} "
        f"in {timed.duration_s:.2f} s" + (f" ({timed.error})" if timed.error else "") + then
    )


@jobs_app.command("schedule")
def jobs_schedule(database_url: DatabaseOption = None) -> None:
    """Run the scheduler in the foreground: one line per run and the next run times. Only one scheduler
    runs per ledger (PostgreSQL: the others wait for the lead; SQLite: a second one refuses)."""
    from jobs.config import jobs_config
    from jobs.definitions import JOBS
    from jobs.runs import utc_now
    from jobs.scheduler import build_scheduler, leadership, sqlite_database
    from ledger.db import engine_url_for_workers

    config = run_refusable(jobs_config)
    url = engine_url_for_workers(engine_for(database_url))  # a plain path resolved, ?schema= kept
    if not sqlite_database(url):
        console.print("waiting for the scheduler lock (another process may lead)")
    with leadership(url) as leader:
        if not leader:
            fail(SCHEDULER_REFUSED, leader.reason, EXIT_SCHEDULER_REFUSED)
        now = utc_now()
        console.print(f"scheduler running in pid {os.getpid()}; Ctrl-C stops it")
        for name in JOBS:
            console.print(f"next {name}: {_local(config.next_run(name, now))} ({config.schedule(name)})")

        def on_run(job: str, timed, error: BaseException | None) -> None:  # noqa: ANN001 - a TimedRun
            print_run(job, timed, error, config.next_run(job, utc_now()))

        try:
            build_scheduler(url, blocking=True, config=config, on_run=on_run).start()
        except (KeyboardInterrupt, SystemExit):
            pass


MONITOR_COLUMNS = [
    Column("name", "monitor"),
    Column("watches", "watches"),
    Column("rule", "rule"),
    Column("severity", "severity"),
    Column("region", "region"),
]
monitors_app = typer.Typer(help="Balance monitors: a rule on an account or a program the breach scan alerts on.")
jobs_app.add_typer(monitors_app, name="monitor")


@monitors_app.command("add")
def monitor_add(
    name: str,
    field: Annotated[
        str,
        typer.Option(
            "--field",
            help="An account's balance, available, debits_posted, ...; a voucher program's budget, granted, "
            "grantable, reserved, used, unused_quota; a subsidy program's appropriated, granted, paid, available "
            "(of the year the scan runs in).",
        ),
    ],
    operator: Annotated[str, typer.Option("--operator", help="<, <=, > or >=")],
    threshold: Annotated[str, typer.Option("--threshold", help='An amount with its unit: "10万", "5000.00元".')],
    book: Annotated[str | None, typer.Option("--book", help="With --account: watch this account.")] = None,
    account: Annotated[str | None, typer.Option("--account")] = None,
    voucher_program: Annotated[str | None, typer.Option("--voucher-program", help="Watch this program.")] = None,
    subsidy_program: Annotated[str | None, typer.Option("--subsidy-program", help="Watch this program.")] = None,
    severity: Annotated[str, typer.Option("--severity")] = "warning",
    actor: Annotated[str, typer.Option("--actor")] = "cli",
    database_url: DatabaseOption = None,
) -> None:
    """Watch an account or a program: one alert when the rule holds, cleared when it no longer does."""
    from jobs.monitors import add_monitor, add_program_monitor

    targets = [bool(book or account), voucher_program is not None, subsidy_program is not None]
    if sum(targets) != 1 or (targets[0] and not (book and account)):
        fail(
            USAGE_ERROR, "watch one thing: --book and --account, or --voucher-program, or --subsidy-program", EXIT_USAGE
        )
    ledger = ledger_for(database_url)
    rule = {"field": field, "operator": operator, "threshold": threshold, "severity": severity, "actor": actor}
    if targets[0]:
        added = run_refusable(lambda: add_monitor(ledger, name, book=book, account=account, **rule))
    else:
        kind, code = ("voucher", voucher_program) if targets[1] else ("subsidy", subsidy_program)
        added = run_refusable(lambda: add_program_monitor(ledger, name, program_kind=kind, program=code, **rule))
    console.print(f"monitor {added['name']}: {_watches(added)} {field} {operator} {threshold}")


def _watches(row: dict) -> str:
    if row["program_kind"] is not None:
        return f"{row['program_kind']} program {row['program_code']}"
    return f"{row['book']}/{row['account']}"


@monitors_app.command("list")
def monitor_list(output_format: FormatOption = TableFormat.table, database_url: DatabaseOption = None) -> None:
    """The balance monitors."""
    from jobs.monitors import monitors
    from ledger.money import format_fen

    rows = [
        {
            **row,
            "watches": _watches(row),
            "rule": f"{row['field']} {row['operator']} {format_fen(row['threshold_fen'])}",
        }
        for row in run_refusable(lambda: monitors(engine_for(database_url)))
    ]
    emit_rows(console, rows, MONITOR_COLUMNS, output_format, title=f"monitors: {len(rows)}")


@monitors_app.command("remove")
def monitor_remove(name: str, database_url: DatabaseOption = None) -> None:
    """Stop watching; its alert clears on the next breach scan."""
    from jobs.monitors import remove_monitor

    run_refusable(lambda: remove_monitor(engine_for(database_url), name))
    console.print(f"monitor {name} removed")


ALERT_COLUMNS = [
    Column("id", "id", ColumnKind.number),  # the handle for "alerts resolve ID"
    Column("first_seen", "first seen"),
    Column("last_seen", "last seen"),
    Column("severity", "severity"),
    Column("kind", "kind"),
    Column("region", "region"),
    Column("subject", "subject"),
    Column("amount_fen", "amount", ColumnKind.amount),
    Column("limit_fen", "limit", ColumnKind.amount),
    Column("excess_fen", "excess", ColumnKind.amount),
    Column("citation", "policy"),
    Column("resolved", "resolved"),
    Column("message", "message"),
]
alerts_app = typer.Typer(help="Alerts raised by the jobs: list them, resolve one with a reason.")


def _moment(value: object) -> str | None:
    return None if value is None else str(value)[:19]


def _resolution(row: dict) -> str | None:
    if row["resolved_at"] is None:
        return None
    return f"{_moment(row['resolved_at'])} by {row['resolved_by']}: {row['resolution_reason']}"


@alerts_app.callback(invoke_without_command=True)
def alerts_command(
    context: typer.Context,
    kind: Annotated[str | None, typer.Option("--kind", help="Only this kind (the rule broken).")] = None,
    region: Annotated[str | None, typer.Option("--region", help="Only this region and those below it.")] = None,
    severity: Annotated[str | None, typer.Option("--severity", help="info, warning or critical.")] = None,
    open_only: Annotated[bool, typer.Option("--open", help="Only open alerts (the default).")] = False,
    resolved_only: Annotated[bool, typer.Option("--resolved", help="Only resolved alerts.")] = False,
    all_alerts: Annotated[bool, typer.Option("--all", help="Open and resolved alerts.")] = False,
    output_format: FormatOption = TableFormat.table,
    unit: UnitOption = AmountUnit.yuan,
    database_url: DatabaseOption = None,
) -> None:
    """Alerts raised by the jobs (reconciliation differences, limit breaches); open ones unless asked."""
    if context.invoked_subcommand is not None:
        return
    from api.scopes import REGION_CODE, region_prefix
    from jobs.alerts import list_alerts

    if sum((open_only, resolved_only, all_alerts)) > 1:
        fail(USAGE_ERROR, "choose one of --open, --resolved and --all", EXIT_USAGE)
    if region is not None and not REGION_CODE.match(region):
        fail(USAGE_ERROR, f"--region {region!r}: a 6-digit region code", EXIT_USAGE)
    status = "resolved" if resolved_only else "all" if all_alerts else "open"
    prefixes = None if region is None else [region_prefix(region)]
    engine = engine_for(database_url)
    rows = run_refusable(
        lambda: list_alerts(engine, status=status, kind=kind, severity=severity, region_prefixes=prefixes)
    )
    shown = [
        {
            **{column.key: row.get(column.key) for column in ALERT_COLUMNS},
            "first_seen": _moment(row["first_seen"]),
            "last_seen": _moment(row["last_seen"]),
            "resolved": _resolution(row),
        }
        for row in rows
    ]
    emit_rows(console, shown, ALERT_COLUMNS, output_format, title=f"alerts: {len(rows)}", unit=unit)


@alerts_app.command("resolve")
def alerts_resolve(
    alert_id: Annotated[int, typer.Argument(help="The alert's id (see 'alerts').")],
    reason: Annotated[str, typer.Option("--reason", help="Why it is resolved: kept with the alert.")],
    actor: Annotated[str, typer.Option("--actor", help="Who resolves it.")] = "cli",
    database_url: DatabaseOption = None,
) -> None:
    """Resolve an open alert with a reason; the same breach is not raised again while it persists."""
    from jobs.alerts import resolve_alert

    engine = engine_for(database_url)
    alert = run_refusable(lambda: resolve_alert(engine, alert_id, actor=actor, reason=reason))
    console.print(f"alert {alert_id} ({alert['kind']} {alert['subject']}) resolved by {alert['resolved_by']}")


def register(app: typer.Typer) -> None:
    app.add_typer(jobs_app, name="jobs")
    app.add_typer(alerts_app, name="alerts")
