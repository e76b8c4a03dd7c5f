"""``fundledger``: the command line. Thin: parses arguments, calls the ledger and the domain services,
prints results. A refused command prints ``error: <code>: <message>`` and exits non-zero."""

from __future__ import annotations

import csv
import importlib
import json
import sys
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from api.bootstrap import DOMAIN_PACKAGES, migrate
from ledger.chain import CHAINER_BATCH_SIZE, background_chainer, seal
from ledger.db import DATABASE_URL_ENV, make_engine
from ledger.engine import Ledger
from ledger.errors import LedgerError, ResultCode
from ledger.money import format_fen
from ledger.numbers import parse_date

# Files this large are imported with a chainer process sealing alongside (its start-up costs ~1 s).
IMPORT_CONCURRENT_SEAL_MIN_BYTES = 8 * 1024 * 1024

app = typer.Typer(
    help="fundledger: a double-entry ledger for public science-and-technology finance.", no_args_is_help=True
)
console = Console(emoji=False)
errors = Console(stderr=True, emoji=False)

DatabaseOption = Annotated[
    str | None,
    typer.Option("--database-url", envvar=DATABASE_URL_ENV, help="SQLite file or PostgreSQL URL."),
]


class TableFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


class ExportFormat(StrEnum):
    csv = "csv"
    parquet = "parquet"
    beancount = "beancount"
    ledger = "ledger"


def _ledger(database_url: str | None) -> Ledger:
    return Ledger(make_engine(database_url))


def _fail(message: str, code: int = 1) -> None:
    errors.print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(code)


def _run(action):
    try:
        return action()
    except LedgerError as error:
        _fail(f"{error.code.value}: {error.message}")
    except FileNotFoundError as error:
        _fail(f"{ResultCode.FILE_INVALID.value}: {error.filename} does not exist")


def _date(text: str | None) -> date | None:
    return None if text is None else _run(lambda: parse_date(text))


@app.command()
def init(database_url: DatabaseOption = None) -> None:
    """Create or upgrade the database schema (Alembic migrations)."""
    engine = make_engine(database_url)
    migrate(engine)
    console.print(f"database ready: {engine.url.render_as_string(hide_password=True)}")


@app.command()
def demo(database_url: DatabaseOption = None) -> None:
    """Load a realistic sample: Guangzhou programs, a guidance fund, a risk pool, YRD vouchers."""
    engine = make_engine(database_url)
    migrate(engine)
    ledger = Ledger(engine)
    from ledger.sample import load_core_demo

    summaries = {"ledger": _run(lambda: load_core_demo(ledger))}
    for package in DOMAIN_PACKAGES:
        try:
            module = importlib.import_module(f"{package}.demo")
        except ModuleNotFoundError:
            continue
        summaries[package] = _run(lambda module=module: module.load_demo(ledger))
    sealed = seal(engine)
    for name, summary in summaries.items():
        console.print(f"[bold]{name}[/bold]: {json.dumps(summary, ensure_ascii=False, default=str)}")
    console.print(f"sealed {sealed} transactions into the hash chain")
    # Top-level types per book: every account of every book would run to hundreds of rows.
    _print_trial_balance(ledger, None, None, 1, TableFormat.table)
    console.print("next: fundledger trial-balance --book BOOK, fundledger verify, fundledger export --format beancount")


@app.command()
def post(
    file: Annotated[Path, typer.Argument(help="JSON file: one request object or a list (a batch).")],
    source: Annotated[str, typer.Option(help="Idempotency namespace of the ids in the file.")] = "cli",
    database_url: DatabaseOption = None,
) -> None:
    """Post transactions (or pending posts, voids, reversals) from a JSON file, as one batch."""
    from ledger.jsonio import parse_document

    ledger = _ledger(database_url)

    def load():
        try:
            document = json.loads(file.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise LedgerError(ResultCode.FILE_INVALID, f"{file}: line {error.lineno}: {error.msg}") from None
        return parse_document(document, source=source)

    requests = _run(load)
    results = _run(lambda: ledger.submit(requests))
    failed = 0
    for request, result in zip(requests, results):
        if result.ok:
            console.print(f"{request.client_id}: {result.code.value} (transaction {result.transaction_id})")
        else:
            failed += 1
            errors.print(f"{request.client_id}: {result.code.value}: {result.message}", highlight=False)
    seal(ledger.engine)
    if failed:
        raise typer.Exit(1)


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="CSV with columns tx_id,date,account,amount[,currency,memo].")],
    book: Annotated[str, typer.Option(help="Book the accounts belong to (created if --create-accounts).")] = "main",
    create_accounts: Annotated[bool, typer.Option("--create-accounts", help="Open unknown accounts.")] = False,
    source: Annotated[str | None, typer.Option(help="Idempotency namespace; default import:<file name>.")] = None,
    database_url: DatabaseOption = None,
) -> None:
    """Stream a CSV journal in, committed per chunk; re-running skips what is already posted."""
    from ledger.importer import import_csv

    ledger = _ledger(database_url)
    if create_accounts:
        _run(lambda: ledger.create_book(book, book, "financial"))
    # A large file gets a chainer process sealing what each committed chunk wrote, on the other core.
    large = file.exists() and file.stat().st_size >= IMPORT_CONCURRENT_SEAL_MIN_BYTES
    with (
        Progress(
            TextColumn("[bold]{task.description}[/bold]"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=errors,
        ) as progress,
        background_chainer(ledger.engine, enabled=large),
    ):
        task = progress.add_task("import", total=None)
        report = _run(
            lambda: import_csv(
                ledger,
                file,
                book=book,
                source=source,
                create_accounts=create_accounts,
                progress=lambda count: progress.advance(task, count),
            )
        )
    with Progress(
        TextColumn("[bold]seal[/bold]"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=errors
    ) as progress:
        seal_task = progress.add_task("seal", total=None)
        while sealed := seal(ledger.engine, batch_size=CHAINER_BATCH_SIZE, max_batches=1):
            progress.advance(seal_task, sealed)
    console.print(
        f"{report.posted} transactions ({report.postings} postings) posted, {report.skipped} already posted, "
        f"{report.accounts_created} accounts opened, {report.errors_total} refused"
    )
    for error in report.errors:
        errors.print(str(error), highlight=False)
    if report.errors_total:
        raise typer.Exit(1)


def _resolve_account(ledger: Ledger, account: str, book: str | None) -> tuple[str, str]:
    if book is not None:
        return book, account
    matches = [info.book for info in ledger.accounts() if info.path == account]
    if not matches:
        raise LedgerError(ResultCode.ACCOUNT_NOT_FOUND, f"account {account!r} does not exist in any book")
    if len(matches) > 1:
        raise LedgerError(
            ResultCode.ACCOUNT_NOT_FOUND, f"account {account!r} exists in books {', '.join(matches)}: pass --book"
        )
    return matches[0], account


@app.command()
def balance(
    account: Annotated[str, typer.Argument(help="Account path, e.g. Assets:Bank:Treasury.")],
    book: Annotated[str | None, typer.Option(help="Book code (needed when the path exists in several books).")] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Effective date YYYY-MM-DD.")] = None,
    database_url: DatabaseOption = None,
) -> None:
    """Balance of one account, current or as of a date (debit-positive)."""
    from ledger.queries import balance as account_balance

    ledger = _ledger(database_url)
    book_code, path = _run(lambda: _resolve_account(ledger, account, book))
    result = _run(lambda: account_balance(ledger, book_code, path, as_of=_date(as_of)))
    console.print(f"{book_code} {path}: {format_fen(result.balance_fen, result.currency)} {result.currency}")
    console.print(
        f"  debits {format_fen(result.debits_fen)}  credits {format_fen(result.credits_fen)}"
        f"  pending debits {format_fen(result.debits_pending_fen)}"
        f"  pending credits {format_fen(result.credits_pending_fen)}"
    )


def _print_trial_balance(ledger, book, as_of, depth, output_format: TableFormat) -> None:
    from ledger.queries import trial_balance as compute

    rows = _run(lambda: compute(ledger, book=book, as_of=as_of, depth=depth))
    if output_format is TableFormat.json:
        payload = [
            {
                "book": row.book,
                "account": row.account,
                "type": row.type,
                "currency": row.currency,
                "debit": format_fen(row.debit_fen, row.currency),
                "credit": format_fen(row.credit_fen, row.currency),
            }
            for row in rows
        ]
        sys.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2) + "\n")
        return
    if output_format is TableFormat.csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(["book", "account", "type", "debit", "credit"])
        for row in rows:
            writer.writerow([row.book, row.account, row.type, format_fen(row.debit_fen), format_fen(row.credit_fen)])
        return
    table = Table(title="trial balance")
    for column in ("book", "account", "type"):
        table.add_column(column, overflow="fold")
    for column in ("debit", "credit"):
        table.add_column(column, justify="right", no_wrap=True)
    totals: dict[str, list[int]] = {}
    for row in rows:
        table.add_row(row.book, row.account, row.type, format_fen(row.debit_fen), format_fen(row.credit_fen))
        book_total = totals.setdefault(row.book, [0, 0])
        book_total[0] += row.debit_fen
        book_total[1] += row.credit_fen
    for book_code, (debit, credit) in sorted(totals.items()):
        table.add_row(book_code, "[bold]total[/bold]", "", format_fen(debit), format_fen(credit))
    console.print(table)


@app.command("trial-balance")
def trial_balance(
    book: Annotated[str | None, typer.Option(help="Only this book.")] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Effective date YYYY-MM-DD.")] = None,
    depth: Annotated[int | None, typer.Option(help="Roll accounts up to this many path segments.")] = None,
    output_format: Annotated[TableFormat, typer.Option("--format")] = TableFormat.table,
    database_url: DatabaseOption = None,
) -> None:
    """Trial balance per book: columns book, account, type, debit, credit."""
    _print_trial_balance(_ledger(database_url), book, _date(as_of), depth, output_format)


@app.command()
def verify(database_url: DatabaseOption = None) -> None:
    """Check the hash chain, reconcile cached balances with postings, and every domain sub-ledger with its
    control accounts; non-zero exit on any finding."""
    from jobs.audit import audit_all

    engine = make_engine(database_url)
    result = audit_all(engine)
    report, findings = result.core.chain, result.core.findings
    console.print(f"hash chain: {report.sealed} sealed links checked, {report.unsealed} transactions not yet sealed")
    for finding in report.findings:
        errors.print(f"chain: {finding}", highlight=False, markup=False)
    for finding in [*findings, *result.controls]:
        errors.print(f"{finding.kind}: {finding.subject}: {finding.message}", highlight=False, markup=False)
    if not result.clean:
        raise typer.Exit(1)
    console.print("every book balances; cached balances equal their postings; every sub-ledger equals its controls")


@app.command()
def export(
    output_format: Annotated[ExportFormat, typer.Option("--format")],
    book: Annotated[str | None, typer.Option(help="Only this book.")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File to write (stdout if omitted).")] = None,
    database_url: DatabaseOption = None,
) -> None:
    """Export the posted journal as CSV, Parquet, beancount or ledger-cli text."""
    from ledger import exporters

    engine = make_engine(database_url)
    if output_format is ExportFormat.parquet:
        if output is None:
            _fail(f"{ResultCode.FILE_INVALID.value}: --format parquet needs --output FILE")
        count = _run(lambda: exporters.export_parquet(engine, output, book=book))
        errors.print(f"{count} postings written to {output}")
        return
    writer = {
        ExportFormat.csv: exporters.export_csv,
        ExportFormat.beancount: exporters.export_beancount,
        ExportFormat.ledger: exporters.export_ledger,
    }[output_format]
    if output is None:
        count = _run(lambda: writer(engine, sys.stdout, book=book))
    else:
        with output.open("w", encoding="utf-8", newline="") as stream:
            count = _run(lambda: writer(engine, stream, book=book))
    errors.print(f"{count} written")


books_app = typer.Typer(help="Books: accounting entity x basis.", no_args_is_help=True)
accounts_app = typer.Typer(help="Accounts.", no_args_is_help=True)
periods_app = typer.Typer(help="Monthly fiscal periods.", no_args_is_help=True)
app.add_typer(books_app, name="book")
app.add_typer(accounts_app, name="account")
app.add_typer(periods_app, name="period")
jobs_app = typer.Typer(help="Scheduled jobs: list, run one now, or run the scheduler.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")


@books_app.command("create")
def book_create(
    code: str,
    basis: Annotated[str, typer.Option(help="financial | budgetary | memo")] = "financial",
    name: Annotated[str | None, typer.Option()] = None,
    entity: Annotated[str | None, typer.Option(help="Region code or credit code of the entity.")] = None,
    database_url: DatabaseOption = None,
) -> None:
    """Create a book."""
    ledger = _ledger(database_url)
    book_id = _run(lambda: ledger.create_book(code, name or code, basis, entity_code=entity))
    console.print(f"book {code} ({basis}) id {book_id}")


@accounts_app.command("open")
def account_open(
    book: str,
    path: str,
    currency: Annotated[str, typer.Option()] = "CNY",
    normal_side: Annotated[str | None, typer.Option(help="debit | credit (Memo accounts).")] = None,
    no_overdraft: Annotated[
        bool, typer.Option("--no-overdraft", help="Refuse postings that take the balance past zero.")
    ] = False,
    database_url: DatabaseOption = None,
) -> None:
    """Open an account; --no-overdraft sets the flag matching its normal side."""
    from ledger.accounts import account_type

    ledger = _ledger(database_url)
    kind = _run(lambda: account_type(path, normal_side=normal_side))
    account_id = _run(
        lambda: ledger.create_account(
            book,
            path,
            currency=currency,
            normal_side=normal_side,
            # A credit-normal account (a liability, a fund) must not be debited below zero, and vice versa.
            debits_must_not_exceed_credits=no_overdraft and kind.normal_side == "credit",
            credits_must_not_exceed_debits=no_overdraft and kind.normal_side == "debit",
        )
    )
    console.print(f"account {book}/{path} id {account_id}")


@accounts_app.command("list")
def account_list(book: Annotated[str | None, typer.Option()] = None, database_url: DatabaseOption = None) -> None:
    """List accounts with their posted and pending balances."""
    table = Table("book", "account", "type", "balance", "pending debits", "pending credits")
    for info in _run(lambda: _ledger(database_url).accounts(book)):
        table.add_row(
            info.book,
            info.path,
            info.type,
            format_fen(info.balance_fen, info.currency),
            format_fen(info.debits_pending, info.currency),
            format_fen(info.credits_pending, info.currency),
        )
    console.print(table)


@periods_app.command("close")
def period_close(
    book: str,
    period: Annotated[str, typer.Argument(help="YYYY-MM")],
    actor: Annotated[str, typer.Option()] = "cli",
    database_url: DatabaseOption = None,
) -> None:
    """Close a monthly period: postings dated inside it are refused from now on."""
    _run(lambda: _ledger(database_url).close_period(book, period, actor=actor))
    console.print(f"period {period} of {book} closed")


@jobs_app.command("list")
def jobs_list(database_url: DatabaseOption = None) -> None:
    """The jobs, their schedule and their last run."""
    from jobs.definitions import CHAINER_INTERVAL_S, JOBS
    from jobs.runs import last_runs

    runs = last_runs(make_engine(database_url))
    table = Table("job", "schedule", "last period", "status", "counts", "what it does")
    table.add_row(
        "seal-chain", f"every {CHAINER_INTERVAL_S} s", "", "", "", "hash chain + voucher numbers (unrecorded)"
    )
    for name, spec in JOBS.items():
        run = runs.get(name, {})
        schedule = ", ".join(f"{key}={value}" for key, value in spec.trigger.items() if key != "trigger")
        table.add_row(
            name,
            f"{spec.trigger['trigger']} {schedule}",
            run.get("period_key", ""),
            run.get("status", ""),
            run.get("counts_json", ""),
            spec.description,
        )
    console.print(table)


@jobs_app.command("run")
def jobs_run(
    name: Annotated[str, typer.Argument(help="Job name (see 'jobs list').")],
    period: Annotated[str | None, typer.Option(help="Period key; default: the current one.")] = None,
    database_url: DatabaseOption = None,
) -> None:
    """Run one job now, once per period key; exits non-zero if it failed or opened critical alerts."""
    from jobs.definitions import JOBS, run

    if name == "seal-chain":
        sealed = seal(make_engine(database_url))
        console.print(f"seal-chain: sealed {sealed} transactions")
        return
    if name not in JOBS:
        _fail(f"job_not_found: no job {name!r}; known: seal-chain, {', '.join(JOBS)}")
    result = _run(lambda: run(_ledger(database_url), name, key=period))
    console.print(f"{result.job} [{result.period_key}]: {result.status} {json.dumps(result.counts)}")
    if result.counts.get("findings"):
        raise typer.Exit(1)


@jobs_app.command("schedule")
def jobs_schedule(database_url: DatabaseOption = None) -> None:
    """Run the scheduler in the foreground (on PostgreSQL, only the process holding the leader lock)."""
    from jobs.scheduler import build_scheduler, leadership
    from ledger.db import database_url as configured_url

    url = database_url or configured_url()
    with leadership(url) as leader:
        if leader:
            console.print("scheduler running; Ctrl-C stops it")
            try:
                build_scheduler(url, blocking=True).start()
            except (KeyboardInterrupt, SystemExit):
                pass


@app.command("alerts")
def alerts_command(
    all_alerts: Annotated[bool, typer.Option("--all", help="Include resolved alerts.")] = False,
    database_url: DatabaseOption = None,
) -> None:
    """Open alerts raised by the jobs (reconciliation differences, limit breaches)."""
    from jobs.runs import alerts

    rows = alerts(make_engine(database_url), include_resolved=all_alerts)
    table = Table("first seen", "severity", "kind", "subject", "amount", "limit", "resolved", "message")
    for row in rows:
        table.add_row(
            str(row["first_seen"])[:19],
            row["severity"],
            row["kind"],
            row["subject"],
            "" if row["amount_fen"] is None else format_fen(row["amount_fen"]),
            "" if row["limit_fen"] is None else format_fen(row["limit_fen"]),
            "" if row["resolved_at"] is None else str(row["resolved_at"])[:19],
            row["message"],
        )
    console.print(table)
    console.print(f"{len(rows)} alert(s)")


def main() -> None:  # pragma: no cover - console script entry
    app()


from api.cli_admin import register as _register_admin_commands  # noqa: E402 - HTTP API users, keys, serve

_register_admin_commands(app)


if __name__ == "__main__":  # pragma: no cover
    app()
