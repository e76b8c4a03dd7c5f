"""What every command shares: the consoles, the database option, and turning a refusal into one line
``error: CODE: message`` on stderr with exit code 1 (2 for usage), never a traceback."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console

from ledger.errors import LedgerError, ResultCode

if TYPE_CHECKING:  # SQLAlchemy and the engine load only inside the commands that open a database
    from sqlalchemy import Engine

    from ledger.engine import Ledger

# ledger.db.DATABASE_URL_ENV, written out here so that ``--help`` does not import SQLAlchemy
# (tests/cli/test_cli_startup.py checks that the two agree).
DATABASE_URL_ENV = "FUNDLEDGER_DATABASE_URL"

EXIT_REFUSED = 1
EXIT_USAGE = 2
DATABASE_ERROR = "database_error"
USAGE_ERROR = "usage"

# Message lines are never wrapped (soft_wrap), so a copied line or a grep finds the whole message, nor read as
# Rich markup ("[bold]" in a name stays as typed); cli_format prints tables unwrapped-off, folding text columns.
console = Console(emoji=False, highlight=False, markup=False, soft_wrap=True)
errors = Console(stderr=True, emoji=False, highlight=False, markup=False, soft_wrap=True)

DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar=DATABASE_URL_ENV,
        help="SQLite file path (plain.db) or URL (sqlite:///x.db, postgresql://user@host/name).",
    ),
]


def fail(code: str, message: str, exit_code: int = EXIT_REFUSED) -> NoReturn:
    """One line on stderr, whatever the message holds (no markup, no wrapping), and a non-zero exit."""
    single_line = " ".join(str(message).split())
    typer.echo(f"error: {code}: {single_line}", err=True)
    raise typer.Exit(exit_code)


def run_refusable(action):
    """Run ``action``; a refusal of any layer ends the command with its code."""
    try:
        return action()
    except LedgerError as error:
        fail(str(error.code.value if hasattr(error.code, "value") else error.code), error.message)
    except FileNotFoundError as error:
        fail(ResultCode.FILE_INVALID.value, f"{error.filename} does not exist")
    except Exception as error:
        # Imported here, not at start-up: an action that raised one of these has loaded them already.
        from sqlalchemy.exc import SQLAlchemyError

        from api.cli_database import DatabaseRefusal

        if isinstance(error, DatabaseRefusal):
            fail(error.code, error.message)
        if isinstance(error, SQLAlchemyError):
            reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
            fail(DATABASE_ERROR, reason)
        raise


def engine_for(database_url: str | None, *, create: bool = False) -> Engine:
    from api.cli_database import open_engine

    return run_refusable(lambda: open_engine(database_url, create=create))


def ledger_for(database_url: str | None) -> Ledger:
    from ledger.engine import Ledger

    return Ledger(engine_for(database_url))


def parse_optional_date(text: str | None) -> date | None:
    from ledger.numbers import parse_date

    return None if text is None else run_refusable(lambda: parse_date(text))
