"""``fundledger``: the command line. Thin: parses arguments, calls the ledger and the domain services,
prints results. A refused command prints ``error: <code>: <message>`` and exits non-zero."""

from __future__ import annotations

import importlib
import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from api import cli_jobs, cli_views
from api.cli_format import AmountUnit, Column, ColumnKind, amount_text, emit_rows
from api.cli_format import OutputFormat as TableFormat
from api.cli_lang import Language, label, set_language
from api.cli_support import (
    EXIT_USAGE,
    DatabaseOption,
    console,
    engine_for,
    errors,
    fail,
    ledger_for,
    parse_optional_date,
    run_refusable,
)
from ledger.errors import LedgerError, ResultCode
from ledger.money import format_fen

# Start-up: `fundledger --help` and `--version` import no database, web or domain module (SQLAlchemy,
# FastAPI, DuckDB, PyArrow, the domain packages); each command imports what it needs when it runs.
# docs/BENCHMARKS.md ("CLI start-up") has the figures; tests/cli/test_cli_startup.py keeps it so.
if TYPE_CHECKING:
    from ledger.engine import Ledger

# Files this large are imported with a chainer process sealing alongside (its start-up costs ~1 s).
IMPORT_CONCURRENT_SEAL_MIN_BYTES = 8 * 1024 * 1024

# Import file encodings: UTF-8 (with or without BOM) by default, GB18030 (a superset of GBK) on request.
IMPORT_ENCODINGS = {"utf-8": "utf-8-sig", "gb18030": "gb18030"}
IMPORT_DECODE_CHECK_CHARACTERS = 1024 * 1024
ENCODING_INVALID = "file_encoding_invalid"
UNIT_OPTION_HELP = "Amounts in the table: 元 or 万元."


# Typer vendors click and exports BadParameter but not its base class, UsageError (every usage error).
CLICK_USAGE_ERROR = next(base for base in typer.BadParameter.__mro__ if base.__name__ == "UsageError")


class _OneLineErrorsTyper(typer.Typer):
    """Run as a program, a usage error is one line ``error: usage: ...`` with exit code 2, like every refusal."""

    def __call__(self, *args, **kwargs):
        if kwargs.get("standalone_mode", True) is False:
            return super().__call__(*args, **kwargs)
        try:
            exit_code = super().__call__(*args, standalone_mode=False, **kwargs)
        except CLICK_USAGE_ERROR as error:
            if type(error).__name__ == "NoArgsIsHelpError":  # no arguments: the help, as click shows it
                error.show()
                sys.exit(error.exit_code)
            typer.echo(f"error: usage: {' '.join(error.format_message().split())}", err=True)
            sys.exit(EXIT_USAGE)
        except typer.Abort:
            typer.echo("error: aborted: interrupted", err=True)
            sys.exit(1)
        sys.exit(exit_code or 0)


app = _OneLineErrorsTyper(
    help="fundledger: a double-entry ledger for public science-and-technology finance.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
UnitOption = Annotated[AmountUnit, typer.Option("--unit", help=UNIT_OPTION_HELP)]
FormatOption = Annotated[TableFormat, typer.Option("--format", help="table, csv or json.")]


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("fundledger")
    except PackageNotFoundError:  # pragma: no cover - running from a tree that was never installed
        return "unknown"


def _print_version(requested: bool) -> None:
    if requested:
        typer.echo(f"fundledger {_package_version()}")
        raise typer.Exit()


@app.callback()
def _main_options(
    show_version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    language: Annotated[
        Language | None,
        typer.Option(
            "--lang",
            help="Headers and labels: zh or en (before the command). Default: FUNDLEDGER_LANG, else Chinese "
            "when the locale (LC_ALL, LC_MESSAGES, LANG) is zh_*, else English.",
        ),
    ] = None,
) -> None:
    """fundledger: a double-entry ledger for public science-and-technology finance."""
    set_language(language)


class ExportFormat(StrEnum):
    csv = "csv"
    parquet = "parquet"
    beancount = "beancount"
    ledger = "ledger"


_ledger = ledger_for
_run = run_refusable
_date = parse_optional_date


@app.command()
def init(database_url: DatabaseOption = None) -> None:
    """Create or upgrade the database schema (Alembic migrations)."""
    from api.bootstrap import migrate

    engine = engine_for(database_url, create=True)
    _run(lambda: migrate(engine))
    console.print(f"database ready: {engine.url.render_as_string(hide_password=True)}")


@app.command()
def demo(database_url: DatabaseOption = None) -> None:
    """Load a realistic sample: Guangzhou programs, a guidance fund, a risk pool, YRD vouchers."""
    from api.bootstrap import DOMAIN_PACKAGES, migrate
    from ledger.chain import seal
    from ledger.engine import Ledger

    engine = engine_for(database_url, create=True)
    _run(lambda: migrate(engine))
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
        console.print(f"{name}: {_readable_summary(summary)}", markup=False)
    console.print(f"sealed {sealed} transactions into the hash chain")
    from api.demo_users import print_demo_users

    print_demo_users(engine, console)
    # One line per book (its debits equal its credits): every account of every book would run to
    # hundreds of rows and beyond 80 columns; `trial-balance --book B` shows one book's accounts.
    _print_book_totals(ledger)
    console.print("try next:", markup=False)
    for command in DEMO_NEXT_COMMANDS:
        console.print(f"  fundledger {command}", markup=False)


DEMO_NEXT_COMMANDS = (
    "trial-balance --book gz-finance --unit 万元",
    "verify",
    "funds metrics --guidance gz-tt-gf --as-of 2027-12-31",
    "pools statement gz-sme-pool --banks",
    "subsidies report --year 2019",
    "settlements list",
    "settlements statement 310000 320500 2026Q1",
    "vouchers positions CREDIT_CODE   (an enterprise: `fundledger account list --book vouchers-310000-memo`)",
    "export --format beancount -o demo.beancount",
)


BOOK_TOTAL_COLUMNS = [
    Column("book", "book"),
    Column("currency", "currency"),
    Column("debit_fen", "debit", ColumnKind.amount),
    Column("credit_fen", "credit", ColumnKind.amount),
]


def _print_book_totals(ledger) -> None:
    """The demo's summary: each book's total debits and credits (equal, as every book balances)."""
    from ledger.queries import trial_balance as compute

    totals: dict[tuple[str, str], list[int]] = {}
    for row in _run(lambda: compute(ledger, depth=1)):
        total = totals.setdefault((row.book, row.currency), [0, 0])
        total[0] += row.debit_fen
        total[1] += row.credit_fen
    rows = [
        {"book": book, "currency": currency, "debit_fen": debit, "credit_fen": credit}
        for (book, currency), (debit, credit) in sorted(totals.items())
    ]
    emit_rows(console, rows, BOOK_TOTAL_COLUMNS, TableFormat.table, title=label("books of the demo: totals"))


def _readable_summary(summary: object) -> str:
    """A loader's summary for people: amounts (keys ending in _fen) in 元 with separators, the rest as is."""
    if not isinstance(summary, dict):
        return str(summary)
    parts = []
    for key, value in summary.items():
        if key.endswith("_fen") and isinstance(value, int):
            parts.append(f"{key.removesuffix('_fen').replace('_', ' ')} {amount_text(value)} 元")
        else:
            parts.append(f"{key.replace('_', ' ')} {value}")
    return ", ".join(parts)


POST_FILE_HELP = (
    "JSON file: one request object or a list. Without --atomic each item gets its own result and the good ones "
    'are posted (items marked "linked": true chain to the next, as in the engine); with --atomic the whole '
    "file is one linked chain: every item is posted or none."
)


@app.command()
def post(
    file: Annotated[Path, typer.Argument(metavar="FILE.json", help=POST_FILE_HELP)],
    atomic: Annotated[
        bool, typer.Option("--atomic", help="Post the whole file as one unit: all items or none.")
    ] = False,
    source: Annotated[str, typer.Option(help="Idempotency namespace of the ids in the file.")] = "cli",
    database_url: DatabaseOption = None,
) -> None:
    """Post transactions (or pending posts, voids, reversals) from a JSON file in one database transaction.

    Without --atomic the items have their own results (a refused item does not stop the others); with
    --atomic the file is one linked chain that succeeds or fails whole. A retried file changes nothing:
    each id already posted answers "exists"."""
    from ledger.chain import seal
    from ledger.jsonio import link_all, parse_document

    ledger = _ledger(database_url)

    def load():
        try:
            document = json.loads(file.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise LedgerError(ResultCode.FILE_INVALID, f"{file}: line {error.lineno}: {error.msg}") from None
        return parse_document(document, source=source)

    requests = _run(load)
    items = f"{len(requests)} item" + ("" if len(requests) == 1 else "s")
    if atomic:
        requests = link_all(requests)
        console.print(f"{file.name}: {items} as one atomic unit (all posted or none)")
    else:
        console.print(f"{file.name}: {items}, each with its own result (--atomic: all or none)")
    results = _run(lambda: ledger.submit(requests))
    counts = {"posted": 0, "already posted": 0, "refused": 0}
    for number, (request, result) in enumerate(zip(requests, results), start=1):
        label = _item_label(number, request.client_id)
        if result.ok:
            counts["already posted" if result.code is ResultCode.EXISTS else "posted"] += 1
            console.print(f"{label}: {result.code.value} (transaction {result.transaction_id})")
        else:
            counts["refused"] += 1
            errors.print(f"{label}: {result.code.value}: {result.message}")
    seal(ledger.engine)
    summary = ", ".join(f"{count} {name}" for name, count in counts.items())
    if atomic and counts["refused"]:
        summary += ": nothing was posted, the file is one unit"
    console.print(summary)
    if counts["refused"]:
        raise typer.Exit(1)


def _item_label(number: int, client_id: str) -> str:
    """``item 3 (gz-0001)``, or ``item 3 (no id)``: a message never starts with an empty id and a colon."""
    shown = client_id.strip() if isinstance(client_id, str) else ""
    return f"item {number} ({shown or 'no id'})"


@app.command("import")
def import_(
    file: Annotated[
        Path, typer.Argument(metavar="FILE.csv", help="CSV with columns tx_id,date,account,amount[,currency,memo].")
    ],
    book: Annotated[str, typer.Option(help="Book the accounts belong to (created if --create-accounts).")] = "main",
    create_accounts: Annotated[bool, typer.Option("--create-accounts", help="Open unknown accounts.")] = False,
    source: Annotated[
        str | None, typer.Option(help="Idempotency namespace; default import:<book>:<file name>.")
    ] = None,
    encoding: Annotated[
        str, typer.Option(help="File encoding: utf-8 (default, BOM allowed) or gb18030 (GBK files).")
    ] = "utf-8",
    database_url: DatabaseOption = None,
) -> None:
    """Stream a CSV journal in, committed per chunk; re-running skips what is already posted."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ledger.chain import CHAINER_BATCH_SIZE, background_chainer, seal
    from ledger.importer import default_import_source, import_csv

    codec = IMPORT_ENCODINGS.get(encoding.lower())
    if codec is None:
        fail("usage", f"--encoding {encoding!r}: choose one of {', '.join(IMPORT_ENCODINGS)}", EXIT_USAGE)
    if not file.is_file():
        fail(ResultCode.FILE_INVALID.value, f"{file} does not exist or is not a file")
    _check_decodes(file, codec, encoding)
    ledger = _ledger(database_url)
    if create_accounts:
        _run(lambda: ledger.create_book(book, book, "financial"))
    elif book not in {row["code"] for row in _run(ledger.books)}:
        fail(
            ResultCode.BOOK_NOT_FOUND.value,
            f"book {book!r} does not exist: create it with `fundledger book create {book} --basis financial` "
            f"(then its accounts with `account open`), or pass --create-accounts to create the book and the "
            f"accounts the file names; choose another book with --book",
        )
    # A large file gets a chainer process sealing what each committed chunk wrote, on the other core.
    large = file.exists() and file.stat().st_size >= IMPORT_CONCURRENT_SEAL_MIN_BYTES
    with (
        Progress(
            TextColumn("[bold]{task.description}[/bold]"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=errors,
            disable=not errors.is_terminal,  # piped or in a log: the summary line says it all
        ) as progress,
        background_chainer(ledger.engine, enabled=large),
    ):
        task = progress.add_task("import", total=None)
        with file.open(newline="", encoding=codec) as stream:
            report = _run(
                lambda: import_csv(
                    ledger,
                    stream,
                    book=book,
                    source=source or default_import_source(book, file.name),
                    create_accounts=create_accounts,
                    progress=lambda count: progress.advance(task, count),
                )
            )
    with Progress(
        TextColumn("[bold]seal[/bold]"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=errors,
        disable=not errors.is_terminal,
    ) as progress:
        seal_task = progress.add_task("seal", total=None)
        while sealed := seal(ledger.engine, batch_size=CHAINER_BATCH_SIZE, max_batches=1):
            progress.advance(seal_task, sealed)
    console.print(
        f"{report.posted} transactions ({report.postings} postings) posted, {report.skipped} already posted, "
        f"{report.accounts_created} accounts opened, {report.refused} transactions refused",
        markup=False,
    )
    for error in report.errors:
        errors.print(str(error), highlight=False, markup=False)
    if report.errors_total > len(report.errors):
        errors.print(f"... {report.errors_total - len(report.errors)} more messages not shown", markup=False)
    if report.refused:
        raise typer.Exit(1)


def _check_decodes(file: Path, codec: str, encoding: str) -> None:
    """Read the whole file once with ``codec`` before anything is posted: a file in another encoding is
    refused with the line it fails on, and no chunk of it is committed."""
    line = 1
    try:
        with file.open(encoding=codec, newline="") as stream:
            while chunk := stream.read(IMPORT_DECODE_CHECK_CHARACTERS):
                line += chunk.count("\n")
    except UnicodeDecodeError as error:
        other = "gb18030" if encoding.lower() == "utf-8" else "utf-8"
        fail(
            ENCODING_INVALID,
            f"{file}: near line {line}: byte 0x{error.object[error.start]:02x} is not {encoding}; "
            f"if the file is GBK or GB18030, pass --encoding {other}",
        )


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
    account: Annotated[str, typer.Argument(metavar="ACCOUNT", help="Account path, e.g. Assets:Bank:Treasury.")],
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


TRIAL_BALANCE_COLUMNS = [
    Column("book", "book"),
    Column("account", "account"),
    Column("type", "type"),
    Column("currency", "currency"),
    Column("debit_fen", "debit", ColumnKind.amount),
    Column("credit_fen", "credit", ColumnKind.amount),
]


def _print_trial_balance(
    ledger, book, as_of, depth, output_format: TableFormat, unit: AmountUnit = AmountUnit.yuan
) -> None:
    from ledger.queries import trial_balance as compute

    rows = [
        {
            "book": row.book,
            "account": row.account,
            "type": row.type,
            "currency": row.currency,
            "debit_fen": row.debit_fen,
            "credit_fen": row.credit_fen,
        }
        for row in _run(lambda: compute(ledger, book=book, as_of=as_of, depth=depth))
    ]
    if output_format is TableFormat.json:
        payload = [
            {
                **{key: row[key] for key in ("book", "account", "type", "currency")},
                "debit": format_fen(row["debit_fen"], row["currency"]),
                "credit": format_fen(row["credit_fen"], row["currency"]),
            }
            for row in rows
        ]
        typer.echo(json.dumps(payload, ensure_ascii=False, indent=2))
        return
    columns = TRIAL_BALANCE_COLUMNS
    if output_format is TableFormat.csv:
        columns = [Column(c.key.removesuffix("_fen"), c.header, c.kind) for c in TRIAL_BALANCE_COLUMNS]
        rows = [{**row, "debit": row["debit_fen"], "credit": row["credit_fen"]} for row in rows]
        emit_rows(console, rows, columns, output_format, title="")
        return
    totals: dict[tuple[str, str], list[int]] = {}
    for row in rows:
        book_total = totals.setdefault((row["book"], row["currency"]), [0, 0])
        book_total[0] += row["debit_fen"]
        book_total[1] += row["credit_fen"]
    for (book_code, currency), (debit, credit) in sorted(totals.items()):
        rows.append(
            {
                "book": book_code,
                "account": label("total"),
                "type": "",
                "currency": currency,
                "debit_fen": debit,
                "credit_fen": credit,
            }
        )
    title = label(
        "trial balance of {book} as of {as_of}",
        book=book or label("every book"),
        as_of=as_of.isoformat() if as_of else label("today (all postings)"),
    )
    emit_rows(console, rows, columns, output_format, title=title, unit=unit)


@app.command("trial-balance")
def trial_balance(
    book: Annotated[str | None, typer.Option(help="Only this book.")] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Effective date YYYY-MM-DD.")] = None,
    depth: Annotated[int | None, typer.Option(help="Roll accounts up to this many path segments.")] = None,
    output_format: FormatOption = TableFormat.table,
    unit: UnitOption = AmountUnit.yuan,
    database_url: DatabaseOption = None,
) -> None:
    """Trial balance per book: columns book, account, type, currency, debit, credit."""
    on = _date(as_of)
    _print_trial_balance(_ledger(database_url), book, on, depth, output_format, unit)


@app.command()
def verify(database_url: DatabaseOption = None) -> None:
    """Check the hash chain, reconcile cached balances with postings, and every domain sub-ledger with its
    control accounts; non-zero exit on any finding."""
    from jobs.audit import audit_all

    engine = engine_for(database_url)
    result = _run(lambda: audit_all(engine))
    report, findings = result.core.chain, result.core.findings
    console.print(f"hash chain: {report.sealed} sealed links checked, {report.unsealed} transactions not yet sealed")
    for finding in report.findings:
        errors.print(f"chain: {finding}", highlight=False, markup=False)
    for finding in [*findings, *result.controls]:
        errors.print(f"{finding.kind}: {finding.subject}: {finding.message}", highlight=False, markup=False)
    if not result.clean:
        raise typer.Exit(1)
    console.print("every book balances; cached balances equal their postings; every sub-ledger equals its controls")


class ExportBasis(StrEnum):
    financial = "financial"
    budgetary = "budgetary"
    memo = "memo"


@app.command()
def export(
    output_format: Annotated[ExportFormat, typer.Option("--format")],
    book: Annotated[str | None, typer.Option(help="Only this book.")] = None,
    basis: Annotated[
        ExportBasis | None,
        typer.Option(help="beancount: which books, one basis per file (default financial; a --book its own)."),
    ] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File to write (stdout if omitted).")] = None,
    database_url: DatabaseOption = None,
) -> None:
    """Export the posted journal as CSV, Parquet, beancount or ledger-cli text.

    A beancount file holds one basis: the financial books by default, or with --basis budgetary or memo
    those books in their own file, so no quota or commitment appears as an asset."""
    from ledger import exporters

    if output_format is ExportFormat.parquet and output is None:
        fail("usage", "--format parquet needs --output FILE", EXIT_USAGE)
    if basis is not None and output_format is not ExportFormat.beancount:
        fail("usage", "--basis applies to --format beancount (the other formats carry every book)", EXIT_USAGE)
    engine = engine_for(database_url)
    if output_format is ExportFormat.parquet:
        count = _run(lambda: exporters.export_parquet(engine, output, book=book))
        errors.print(f"{count} postings written to {output}")
        return
    if output_format is ExportFormat.beancount:
        chosen = None if basis is None else basis.value

        def writer(engine, stream, book):
            return exporters.export_beancount(engine, stream, book=book, basis=chosen)

    else:
        writer = {ExportFormat.csv: exporters.export_csv, ExportFormat.ledger: exporters.export_ledger}[output_format]
    if output is None:
        count = _run(lambda: writer(engine, sys.stdout, book=book))
    else:
        output_existed = output.exists()
        try:
            with output.open("w", encoding="utf-8", newline="") as stream:
                count = _run(lambda: writer(engine, stream, book=book))
        except typer.Exit:
            if not output_existed:  # a refused export leaves no empty file behind
                output.unlink(missing_ok=True)
            raise
    unit = "postings" if output_format is ExportFormat.csv else "transactions"
    errors.print(f"{count} {unit} written" + (f" to {output}" if output is not None else ""))


books_app = typer.Typer(help="Books: accounting entity x basis.", no_args_is_help=True)
accounts_app = typer.Typer(help="Accounts.", no_args_is_help=True)
periods_app = typer.Typer(help="Monthly fiscal periods.", no_args_is_help=True)
app.add_typer(books_app, name="book")
app.add_typer(accounts_app, name="account")
app.add_typer(periods_app, name="period")


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


ACCOUNT_COLUMNS = [
    Column("book", "book"),
    Column("account", "account"),
    Column("type", "type"),
    Column("currency", "currency"),
    Column("balance_fen", "balance", ColumnKind.amount),
    Column("debits_pending_fen", "pending debits", ColumnKind.amount),
    Column("credits_pending_fen", "pending credits", ColumnKind.amount),
]


@accounts_app.command("list")
def account_list(
    book: Annotated[str | None, typer.Option()] = None,
    output_format: FormatOption = TableFormat.table,
    unit: UnitOption = AmountUnit.yuan,
    database_url: DatabaseOption = None,
) -> None:
    """List accounts with their posted and pending balances."""
    accounts = _run(lambda: _ledger(database_url).accounts(book))
    rows = [
        {
            "book": info.book,
            "account": info.path,
            "type": info.type,
            "currency": info.currency,
            "balance_fen": info.balance_fen,
            "debits_pending_fen": info.debits_pending,
            "credits_pending_fen": info.credits_pending,
        }
        for info in accounts
    ]
    emit_rows(
        console,
        rows,
        ACCOUNT_COLUMNS,
        output_format,
        title=label("accounts of {book}", book=book or label("every book")),
        unit=unit,
    )


@periods_app.command("close")
def period_close(
    book: str,
    period: Annotated[str, typer.Argument(metavar="PERIOD", help="YYYY-MM")],
    actor: Annotated[str, typer.Option()] = "cli",
    database_url: DatabaseOption = None,
) -> None:
    """Close a monthly period: postings dated inside it are refused from now on."""
    _run(lambda: _ledger(database_url).close_period(book, period, actor=actor))
    console.print(f"period {period} of {book} closed")


def main() -> None:  # pragma: no cover - console script entry
    app()


from api.cli_admin import register as _register_admin_commands  # noqa: E402 - HTTP API users, keys, serve

_register_admin_commands(app)
cli_views.register(app)
cli_jobs.register(app)


if __name__ == "__main__":  # pragma: no cover
    app()
