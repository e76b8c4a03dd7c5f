"""``fundledger jobs list|run|schedule`` and ``fundledger alerts``: the scheduled jobs and what they found."""

from __future__ import annotations

import json
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
from ledger.chain import seal

JOB_NOT_FOUND = "job_not_found"

UnitOption = Annotated[AmountUnit, typer.Option("--unit", help="Amounts in the table: 元 or 万元.")]
FormatOption = Annotated[TableFormat, typer.Option("--format", help="table, csv or json.")]

jobs_app = typer.Typer(help="Scheduled jobs: list, run one now, or run the scheduler.", no_args_is_help=True)

JOB_COLUMNS = [
    Column("job", "job"),
    Column("schedule", "schedule"),
    Column("last_period", "last period"),
    Column("status", "status"),
    Column("counts", "counts"),
    Column("description", "what it does"),
]


@jobs_app.command("list")
def jobs_list(output_format: FormatOption = TableFormat.table, database_url: DatabaseOption = None) -> None:
    """The jobs, their schedule and their last run."""
    from jobs.definitions import CHAINER_INTERVAL_S, JOBS
    from jobs.runs import last_runs

    runs = run_refusable(lambda: last_runs(engine_for(database_url)))
    rows = [
        {
            "job": "seal-chain",
            "schedule": f"every {CHAINER_INTERVAL_S} s",
            "description": "hash chain + voucher numbers (unrecorded)",
        }
    ]
    for name, spec in JOBS.items():
        run = runs.get(name, {})
        schedule = ", ".join(f"{key}={value}" for key, value in spec.trigger.items() if key != "trigger")
        rows.append(
            {
                "job": name,
                "schedule": f"{spec.trigger['trigger']} {schedule}",
                "last_period": run.get("period_key"),
                "status": run.get("status"),
                "counts": run.get("counts_json"),
                "description": spec.description,
            }
        )
    emit_rows(console, rows, JOB_COLUMNS, output_format, title="jobs")


@jobs_app.command("run")
def jobs_run(
    name: Annotated[str, typer.Argument(help="Job name (see 'jobs list').")],
    period: Annotated[str | None, typer.Option(help="Period key; default: the current one.")] = None,
    database_url: DatabaseOption = None,
) -> None:
    """Run one job now, once per period key; exits non-zero if it failed or opened critical alerts."""
    from jobs.definitions import JOBS, run

    if name == "seal-chain":
        sealed = seal(engine_for(database_url))
        console.print(f"seal-chain: sealed {sealed} transactions")
        return
    if name not in JOBS:
        fail(JOB_NOT_FOUND, f"no job {name!r}; known: seal-chain, {', '.join(JOBS)}")
    result = run_refusable(lambda: run(ledger_for(database_url), name, key=period))
    console.print(f"{result.job} [{result.period_key}]: {result.status} {json.dumps(result.counts)}")
    if result.counts.get("findings"):
        raise typer.Exit(1)


@jobs_app.command("schedule")
def jobs_schedule(database_url: DatabaseOption = None) -> None:
    """Run the scheduler in the foreground (on PostgreSQL, only the process holding the leader lock)."""
    from jobs.scheduler import build_scheduler, leadership
    from ledger.db import engine_url_for_workers

    url = engine_url_for_workers(engine_for(database_url))  # a plain path resolved, ?schema= kept
    with leadership(url) as leader:
        if leader:
            console.print("scheduler running; Ctrl-C stops it")
            try:
                build_scheduler(url, blocking=True).start()
            except (KeyboardInterrupt, SystemExit):
                pass


ALERT_COLUMNS = [
    Column("id", "id"),
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
