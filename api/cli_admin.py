"""``fundledger users …``, ``fundledger keys …`` and ``fundledger serve``."""

from __future__ import annotations

from typing import Annotated

import typer

from api.cli_support import DATABASE_URL_ENV

# api.auth (Argon2, JWT, FastAPI problems) and the database load inside each command, not when
# `fundledger --help` starts (api/cli.py, "Start-up"); this default is api.auth.DEFAULT_KEY_DAYS (a test checks).
KEY_DAYS_DEFAULT = 90

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000

users_app = typer.Typer(help="Password users (people).", no_args_is_help=True)
keys_app = typer.Typer(help="API keys (programs).", no_args_is_help=True)
DatabaseOption = Annotated[
    str | None, typer.Option("--database-url", envvar=DATABASE_URL_ENV, help="SQLite file or PostgreSQL URL.")
]
RoleOption = Annotated[
    str, typer.Option("--role", help="admin, finance_office, auditor, fund_manager, enterprise, bank, service_provider")
]
ScopeOption = Annotated[list[str] | None, typer.Option("--scope", help="region:440100, fund:CODE or institution:CODE")]
PasswordOption = Annotated[str, typer.Option("--password", prompt=True, hide_input=True, confirmation_prompt=True)]


def _managed(action) -> None:  # noqa: ANN001
    from api.problems import ApiProblem

    try:
        action()
    except ApiProblem as problem:
        typer.echo(f"error: {problem.code}: {problem.detail}", err=True)
        raise typer.Exit(1) from problem


@users_app.command("add")
def users_add(
    username: str,
    role: RoleOption,
    password: PasswordOption,
    scope: ScopeOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """Add a user who logs in with a password."""
    from api import auth
    from ledger.db import make_engine

    _managed(lambda: auth.add_user(make_engine(database_url), username, password, role, scope or []))
    typer.echo(f"user {username} added ({role})")


@users_app.command("disable")
def users_disable(username: str, database_url: DatabaseOption = None) -> None:
    """Disable a user: its tokens stop working at once."""
    from api import auth
    from ledger.db import make_engine

    _managed(lambda: auth.disable_user(make_engine(database_url), username))
    typer.echo(f"user {username} disabled")


@users_app.command("reset-password")
def users_reset_password(username: str, password: PasswordOption, database_url: DatabaseOption = None) -> None:
    """Set a new password (and enable the user again)."""
    from api import auth
    from ledger.db import make_engine

    _managed(lambda: auth.reset_password(make_engine(database_url), username, password))
    typer.echo(f"password of {username} reset")


@keys_app.command("create")
def keys_create(
    role: RoleOption,
    scope: ScopeOption = None,
    name: Annotated[str, typer.Option(help="who the key is for")] = "",
    days: Annotated[int, typer.Option(help="days until it expires")] = KEY_DAYS_DEFAULT,
    database_url: DatabaseOption = None,
) -> None:
    """Create an API key; it is printed once and never stored."""
    from api import auth
    from ledger.db import make_engine

    made: list[auth.NewKey] = []
    _managed(lambda: made.append(auth.create_key(make_engine(database_url), name, role, scope or [], days=days)))
    key = made[0]
    typer.echo(key.key)
    typer.echo(f"prefix {key.prefix}, expires {key.expires_at.isoformat()} (shown once: store it now)", err=True)


@keys_app.command("revoke")
def keys_revoke(prefix: str, database_url: DatabaseOption = None) -> None:
    """Revoke a key by its prefix (the part after ``fl_``)."""
    from api import auth
    from ledger.db import make_engine

    _managed(lambda: auth.revoke_key(make_engine(database_url), prefix))
    typer.echo(f"key {prefix} revoked")


def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = DEFAULT_HOST,
    port: Annotated[int, typer.Option(help="port")] = DEFAULT_PORT,
    workers: Annotated[int, typer.Option(help="worker processes")] = 1,
    scheduler: Annotated[
        bool, typer.Option("--scheduler/--no-scheduler", help="also run the scheduled jobs (one leader per ledger)")
    ] = True,
    access_log: Annotated[
        bool,
        typer.Option(
            "--access-log/--no-access-log",
            help="a line per request on stderr (leave it out behind a proxy that logs requests: it costs CPU)",
        ),
    ] = True,
    database_url: DatabaseOption = None,
) -> None:
    """Run the HTTP API (uvicorn) and the scheduler: of several serve processes on one ledger exactly one
    schedules the jobs, another takes over when it dies (api.app._lifespan, jobs.scheduler)."""
    import os

    import uvicorn

    from api.cli_database import DatabaseRefusal, open_engine, resolve_url
    from api.settings import SettingsError, settings_from_env
    from jobs.scheduler import SCHEDULER_ENV

    # Refuse here, in one line, what every worker's app factory would otherwise fail on with a traceback:
    # a database that is missing or not initialised (a plain path is a SQLite file, as everywhere in the
    # CLI) and secrets that are empty or default outside development.
    try:
        settings_from_env()
        open_engine(database_url).dispose()
    except DatabaseRefusal as refusal:
        typer.echo(f"error: {refusal.code}: {refusal.message}", err=True)
        raise typer.Exit(1) from None
    except SettingsError as error:
        typer.echo(f"error: settings_invalid: {error}", err=True)
        raise typer.Exit(1) from None
    os.environ[DATABASE_URL_ENV] = resolve_url(database_url)
    os.environ[SCHEDULER_ENV] = "1" if scheduler else "0"  # read by every worker's lifespan
    uvicorn.run("api.app:create_app", factory=True, host=host, port=port, workers=workers, access_log=access_log)


def register(app: typer.Typer) -> None:
    app.add_typer(users_app, name="users")
    app.add_typer(keys_app, name="keys")
    app.command("serve")(serve)
