"""Opening the database for a command: a plain path is a SQLite file; a command that reads never creates
one; a database that is missing, unreachable or never initialised is refused with a code and a hint."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from ledger import db

DATABASE_NOT_INITIALISED = "database_not_initialised"
DATABASE_DIRECTORY_MISSING = "database_directory_missing"
DATABASE_NOT_FOUND = "database_not_found"
DATABASE_UNREACHABLE = "database_unreachable"
DATABASE_URL_INVALID = "database_url_invalid"
# A table every initialised fundledger database has (the core's first migration creates it).
SCHEMA_MARKER_TABLE = "accounts"
INIT_HINT = "run `fundledger init` (or `fundledger demo`) first"


class DatabaseRefusal(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def resolve_url(text: str | None) -> str:
    """The URL of ``--database-url`` (or the environment): a text without ``://`` is a SQLite file path."""
    url = text or db.database_url()
    if "://" not in url:
        return f"sqlite:///{url}"
    return url


def _sqlite_path(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def open_engine(text: str | None, *, create: bool = False) -> Engine:
    """An engine on an initialised database; with ``create`` (init, demo) the database may be new."""
    url = resolve_url(text)
    try:
        sqlite_path = _sqlite_path(db.normalize_url(url))
    except ArgumentError:
        raise DatabaseRefusal(DATABASE_URL_INVALID, f"{url!r} is neither a file path nor a database URL") from None
    if sqlite_path is not None:
        if not sqlite_path.parent.is_dir():
            raise DatabaseRefusal(
                DATABASE_DIRECTORY_MISSING,
                f"directory {sqlite_path.parent} of database {sqlite_path} does not exist: "
                "create it or choose another path",
            )
        if not create and not sqlite_path.exists():
            raise DatabaseRefusal(DATABASE_NOT_INITIALISED, f"no database at {sqlite_path}: {INIT_HINT}")
    try:
        engine = db.make_engine(url)
    except ValueError as error:
        raise DatabaseRefusal(DATABASE_URL_INVALID, str(error)) from None
    _check_reachable(engine, create=create)
    return engine


def _check_reachable(engine: Engine, *, create: bool) -> None:
    shown = engine.url.render_as_string(hide_password=True)
    try:
        with engine.connect() as conn:
            initialised = inspect(conn).has_table(
                SCHEMA_MARKER_TABLE, schema=getattr(engine, "fundledger_schema", None)
            )
    except OperationalError as error:
        engine.dispose()
        reason = str(error.orig).strip().splitlines()[0] if error.orig is not None else str(error)
        name = engine.url.database
        if "does not exist" in reason and name and f'"{name}"' in reason:
            raise DatabaseRefusal(
                DATABASE_NOT_FOUND, f"PostgreSQL database {name} does not exist: createdb {name}, then fundledger init"
            ) from None
        raise DatabaseRefusal(DATABASE_UNREACHABLE, f"cannot open {shown}: {reason}") from None
    if not initialised and not create:
        engine.dispose()
        raise DatabaseRefusal(DATABASE_NOT_INITIALISED, f"{shown} has no fundledger tables: {INIT_HINT}")
