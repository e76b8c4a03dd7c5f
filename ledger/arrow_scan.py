"""Whole-journal scans as Arrow tables, read by the ADBC drivers (C for SQLite, libpq COPY for PostgreSQL).

Checks that read every row of the journal (``verify``'s chain check) spend most of their time turning
rows into Python objects. ADBC hands the same rows over as Arrow columns, which DuckDB then works on
without a Python object per value. Only file-backed SQLite databases and PostgreSQL can be reached this
way: another process cannot open an in-memory SQLite database, so callers keep their row-by-row path for it.

The SQLite driver infers each column's type from the values it meets first and refuses a later value of
another type, so a query must not hand it text after a run of NULLs (see ``ledger.chain_bulk``). It also
links its own copy of SQLite: never open it in a process that has the same database open through Python's
``sqlite3`` (``ledger.chain.verify_chain`` explains, and runs it in a worker process).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote

if TYPE_CHECKING:  # the bulk check's own process reads through ADBC only, and imports no SQLAlchemy
    import pyarrow as pa
    from sqlalchemy import Engine


@dataclass(frozen=True)
class ArrowSource:
    """How to open an ADBC connection to the engine's database."""

    postgres: bool
    uri: str


def arrow_source(engine: Engine) -> ArrowSource | None:
    """The ADBC address of ``engine``'s database, or None when ADBC cannot reach it (in-memory SQLite)."""
    url = engine.url
    if engine.dialect.name == "postgresql":
        user = quote(url.username or "", safe="")
        password = f":{quote(url.password, safe='')}" if url.password else ""
        credentials = f"{user}{password}@" if user else ""
        host = url.host or ""
        port = f":{url.port}" if url.port else ""
        uri = f"postgresql://{credentials}{host}{port}/{url.database or ''}"
        schema = getattr(engine, "fundledger_schema", None)
        if schema:
            # libpq passes "options" to the server: the same search_path the engine's connections use.
            uri += "?options=" + quote(f"-csearch_path={schema}", safe="")
        return ArrowSource(True, uri)
    database = url.database
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        return None
    return ArrowSource(False, database)


class ArrowReader:
    def __init__(self, connection) -> None:  # noqa: ANN001 - an ADBC DB-API connection
        self._connection = connection

    def table(self, sql: str) -> pa.Table:
        cursor = self._connection.cursor()
        try:
            cursor.execute(sql)
            return cursor.fetch_arrow_table()
        finally:
            cursor.close()


@contextmanager
def arrow_reader(source: ArrowSource) -> Iterator[ArrowReader]:
    """A read-only ADBC connection; its queries see one snapshot until the block ends (one transaction)."""
    if source.postgres:
        import adbc_driver_postgresql.dbapi as driver
    else:
        import adbc_driver_sqlite.dbapi as driver
    connection = driver.connect(source.uri)
    try:
        if source.postgres:
            cursor = connection.cursor()
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            cursor.close()
        yield ArrowReader(connection)
    finally:
        try:
            connection.rollback()
        finally:
            connection.close()


# Opening an ADBC PostgreSQL connection costs ~0.2 s (libpq, then the driver reads the type catalogue), more
# than a whole report's query: live reports take an idle connection from this small pool instead.
IDLE_CONNECTIONS_MAX = 4
_idle: dict[str, list] = {}
_idle_lock = threading.Lock()


@contextmanager
def pooled_arrow_reader(source: ArrowSource) -> Iterator[ArrowReader]:
    """``arrow_reader`` over a reused PostgreSQL connection (one snapshot per block, as there); a connection
    whose block failed is closed, not returned. SQLite is never pooled: see the module docstring."""
    if not source.postgres:
        with arrow_reader(source) as reader:
            yield reader
        return
    import adbc_driver_postgresql.dbapi as driver

    with _idle_lock:
        idle = _idle.setdefault(source.uri, [])
        connection = idle.pop() if idle else None
    if connection is None:
        connection = driver.connect(source.uri)
    healthy = False
    try:
        cursor = connection.cursor()
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        cursor.close()
        yield ArrowReader(connection)
        connection.rollback()
        healthy = True
    finally:
        with _idle_lock:
            idle = _idle.setdefault(source.uri, [])
            keep = healthy and len(idle) < IDLE_CONNECTIONS_MAX
            if keep:
                idle.append(connection)
        if not keep:
            try:
                connection.rollback()
            except Exception:  # noqa: BLE001 - the connection is being discarded either way
                pass
            connection.close()
