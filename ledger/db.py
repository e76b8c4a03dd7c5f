"""Engines and migrations for SQLite (embedded default) and PostgreSQL.

Durability is part of the contract: a commit is durable when acknowledged.
- SQLite: WAL journal, ``synchronous=FULL``, and every transaction opened with ``BEGIN IMMEDIATE`` so
  writers take the write lock up front instead of failing on lock upgrade halfway through.
- PostgreSQL: ``synchronous_commit=on`` set on every connection.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

DATABASE_URL_ENV = "FUNDLEDGER_DATABASE_URL"
DEFAULT_DATABASE_URL = "sqlite:///fundledger.db"
SQLITE_BUSY_TIMEOUT_MS = 30_000
# Page cache per connection (negative = KiB). The default 2 MiB thrashes once the postings indexes outgrow
# it, which made a 1M-transaction import half as fast as a 100k one.
SQLITE_CACHE_KIB = 131_072
MIGRATIONS_DIR = Path(__file__).parent / "migrations"
READ_ONLY_OPTION = "fundledger_read_only"
READ_ONLY_ENGINE_ATTRIBUTE = "fundledger_read_only_engine"
# Connections of the asyncio read engine (PostgreSQL): a short read holds one for one round trip, so a few
# carry hundreds of reads a second; a read that finds them all busy waits its turn rather than opening more.
ASYNC_READ_POOL_SIZE = 8
ASYNC_READ_POOL_TIMEOUT_S = 10


def database_url() -> str:
    return os.environ.get(DATABASE_URL_ENV, DEFAULT_DATABASE_URL)


def normalize_url(url: str) -> str:
    """Accept plain ``postgresql://`` URLs and route them to psycopg 3."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str | None = None, *, schema: str | None = None) -> Engine:
    url = normalize_url(url or database_url())
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    # "?schema=NAME" selects a PostgreSQL schema (tests, several ledgers in one database).
    schema = schema or parsed.query.get("schema")
    if schema and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", schema):
        raise ValueError(f"schema {schema!r} must be a plain identifier (letters, digits, underscore)")
    url = parsed.difference_update_query(["schema"])
    # Timestamps are stored as naive UTC: the session zone must be UTC whatever the server default is.
    options = "-c synchronous_commit=on -c timezone=UTC"
    if schema:
        options += f" -c search_path={schema}"
    engine = create_engine(url, connect_args={"options": options}, pool_pre_ping=True, pool_size=10, max_overflow=20)
    engine.fundledger_schema = schema  # so worker processes can open the same schema
    return engine


def _sqlite_engine(url: str) -> Engine:
    # isolation_level=None hands transaction control to us, so "begin" can emit BEGIN IMMEDIATE.
    engine = create_engine(url, connect_args={"check_same_thread": False, "isolation_level": None})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # noqa: ANN001
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):  # noqa: ANN001
        # Readers (see ``read_only``) take a deferred BEGIN: they must not queue behind, or block, writers.
        if connection.get_execution_options().get(READ_ONLY_OPTION):
            connection.exec_driver_sql("BEGIN")
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def engine_url_for_workers(engine: Engine) -> str:
    """A URL another process can pass to ``make_engine`` to reach the same database (and schema)."""
    url = engine.url.render_as_string(hide_password=False)
    schema = getattr(engine, "fundledger_schema", None)
    if schema:
        url += ("&" if "?" in url else "?") + f"schema={schema}"
    return url


def read_only(engine: Engine) -> Engine:
    """The same engine and pool, for connections that only read (a deferred BEGIN on SQLite). Made once per
    engine: making the option engine anew was a twentieth of the CPU of a short read (the API's positions)."""
    made = getattr(engine, READ_ONLY_ENGINE_ATTRIBUTE, None)
    if made is None:
        made = engine.execution_options(**{READ_ONLY_OPTION: True})
        setattr(engine, READ_ONLY_ENGINE_ATTRIBUTE, made)
    return made


def async_read_engine(engine: Engine) -> AsyncEngine:
    """For PostgreSQL: an asyncio engine on the same database and schema, for single-statement reads answered
    on an event loop (the HTTP API's hot reads). Its connections are in autocommit: one statement sees one
    committed state by itself, and a read then costs one round trip, where a pooled connection of the main
    engine costs four (the pre-ping, BEGIN, the statement, the ROLLBACK on return). No pre-ping either: the
    caller retries once on a connection found dead (``sqlalchemy.exc.DBAPIError.connection_invalidated``).
    The engine belongs to the event loop that first uses it."""
    from sqlalchemy.ext.asyncio import create_async_engine

    if not is_postgres(engine):
        raise ValueError("the asyncio read engine is for PostgreSQL; SQLite reads in process")
    schema = getattr(engine, "fundledger_schema", None)
    options = "-c timezone=UTC" + (f" -c search_path={schema}" if schema else "")
    return create_async_engine(
        engine.url,
        connect_args={"options": options},
        isolation_level="AUTOCOMMIT",
        pool_pre_ping=False,
        pool_size=ASYNC_READ_POOL_SIZE,
        max_overflow=0,
        pool_timeout=ASYNC_READ_POOL_TIMEOUT_S,
    )


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


@contextmanager
def read_snapshot(engine: Engine) -> Iterator[Connection]:
    """A read-only connection whose reads all see one committed state of the database (defect 14): on
    PostgreSQL a REPEATABLE READ, READ ONLY transaction; on SQLite (WAL) a deferred read transaction,
    whose snapshot is taken at its first read and kept until it ends. Checks that compare two reads (the
    journal against the cached totals) need it, or a write landing between them is a false finding."""
    if is_postgres(engine):
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
            with conn.begin():
                yield conn
    else:
        with read_only(engine).connect() as conn, conn.begin():
            yield conn


def upgrade_database(engine: Engine, version_locations: Sequence[Path] = ()) -> None:
    """Bring the schema to the newest Alembic revisions (``fundledger init``).

    Domain packages keep their own migration branches (down_revision "0001"); the application passes
    their folders in ``version_locations`` so the ledger itself never names them."""
    from alembic import command
    from alembic.config import Config

    schema = getattr(engine, "fundledger_schema", None)
    if schema and is_postgres(engine):
        # A ledger in its own schema (``?schema=NAME``) starts from an empty one.
        with engine.begin() as connection:
            connection.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    locations = [MIGRATIONS_DIR / "versions", *version_locations]
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", os.pathsep.join(str(location) for location in locations))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        # "heads": domain packages (funds, vouchers, subsidies) keep their own migration branches.
        command.upgrade(config, "heads")
