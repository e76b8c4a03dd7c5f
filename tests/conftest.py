"""Test backends: every ``ledger`` test runs on SQLite and on a real PostgreSQL.

PostgreSQL comes from FUNDLEDGER_TEST_POSTGRES_URL (default: the local server CI uses). Each test session
creates its own schema, migrated once with Alembic, and drops it at the end; each test starts from empty
tables. An unreachable server is an error, never a skip. ``FUNDLEDGER_TEST_BACKENDS=sqlite`` narrows a
local run on purpose.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from api.bootstrap import migrate
from ledger.db import make_engine, normalize_url
from ledger.engine import Ledger

DEFAULT_TEST_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
POSTGRES_URL = os.environ.get("FUNDLEDGER_TEST_POSTGRES_URL", DEFAULT_TEST_POSTGRES_URL)
BACKENDS = [name.strip() for name in os.environ.get("FUNDLEDGER_TEST_BACKENDS", "sqlite,postgres").split(",")]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_schema() -> Iterator[tuple[str, str]]:
    """One migrated schema per test process; dropped when the session ends."""
    schema = f"fl_test_{uuid.uuid4().hex[:12]}"
    admin = make_engine(POSTGRES_URL)
    try:
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
    except Exception as error:  # noqa: BLE001 - we re-raise as a clear failure
        pytest.fail(f"PostgreSQL at {POSTGRES_URL} is unreachable: {error}", pytrace=False)
    engine = make_engine(POSTGRES_URL, schema=schema)
    migrate(engine)
    engine.dispose()
    yield POSTGRES_URL, schema
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


# Empties every table of the test schema (domain packages add their own) except Alembic's, and restarts the
# sequences that were used, in one round trip. DELETE rather than TRUNCATE: on tables holding a test's few
# rows, TRUNCATE of 65 tables costs 0.4-1.5 s (it swaps every table's files) against about 0.04 s here, and
# the suite runs it before each of its ~550 PostgreSQL tests. Replica role silences the append-only and
# foreign-key triggers for this cleanup only.
_EMPTY_POSTGRES_SCHEMA = """
DO $$
DECLARE item record;
BEGIN
  SET LOCAL session_replication_role = replica;
  FOR item IN SELECT tablename FROM pg_tables
              WHERE schemaname = current_schema() AND tablename <> 'alembic_version' LOOP
    EXECUTE format('DELETE FROM %I', item.tablename);
  END LOOP;
  FOR item IN SELECT sequencename FROM pg_sequences
              WHERE schemaname = current_schema() AND last_value IS NOT NULL LOOP
    PERFORM setval(format('%I', item.sequencename), 1, false);
  END LOOP;
END $$
"""


def _empty_postgres_tables(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text(_EMPTY_POSTGRES_SCHEMA))


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def engine(backend, request, tmp_path) -> Iterator[Engine]:
    if backend == "sqlite":
        path = tmp_path / "ledger.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        engine = make_engine(f"sqlite:///{path}")
    elif backend == "postgres":
        url, schema = request.getfixturevalue("postgres_schema")
        engine = make_engine(url, schema=schema)
        _empty_postgres_tables(engine)
    else:
        raise pytest.UsageError(f"unknown backend {backend!r}")
    yield engine
    engine.dispose()


@pytest.fixture
def engine_factory(backend, request, tmp_path):
    """Make further empty engines of the current backend (property tests need one per example)."""
    counter = iter(range(1_000_000))

    def make() -> Engine:
        if backend == "sqlite":
            path = tmp_path / f"example-{next(counter)}.db"
            shutil.copy(request.getfixturevalue("sqlite_template"), path)
            return make_engine(f"sqlite:///{path}")
        url, schema = request.getfixturevalue("postgres_schema")
        engine = make_engine(url, schema=schema)
        _empty_postgres_tables(engine)
        return engine

    return make


@pytest.fixture
def database_url(engine, request) -> str:
    """A URL other processes (CLI, workers) can open; PostgreSQL carries the schema as search_path."""
    url = normalize_url(engine.url.render_as_string(hide_password=False))
    if engine.dialect.name == "postgresql":
        _url, schema = request.getfixturevalue("postgres_schema")
        url += f"?schema={schema}"
    return url


@pytest.fixture
def ledger(engine) -> Ledger:
    return Ledger(engine)


@pytest.fixture
def postgres_engine(request) -> Iterator[Engine]:
    """PostgreSQL only, for concurrency tests that need real row locks and several processes."""
    url, schema = request.getfixturevalue("postgres_schema")
    engine = make_engine(url, schema=schema)
    _empty_postgres_tables(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def postgres_url(postgres_engine, postgres_schema) -> str:
    """URL of the empty PostgreSQL test schema, to open from other processes (``make_engine(url)``)."""
    url, schema = postgres_schema
    return f"{normalize_url(url)}?schema={schema}"
