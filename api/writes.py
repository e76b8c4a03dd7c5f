"""Money-moving calls over the domain services: inside the request's unit of work, keyed by ``Idempotency-Key``,
and answerable as a dry run.

The domain services open their own unit (``ledger.engine.begin()``). A route hands them a ledger whose engine
lends the request's connection inside a savepoint instead, so the service's writes, the stored response of the
key and nothing else commit together when the unit of work commits (only the unit of work commits). A dry run
runs the same service in a savepoint that is always rolled back: the would-be outcome, nothing kept.

The stored response is written in the same database transaction as its effect (issue 12): a replay returns it
with ``Idempotency-Replayed: true``; the same key with another body is ``exists_with_different_content``; a
retry that arrives while the first request is in flight is refused as ``request_in_flight`` (409), on both
databases and across worker processes:

- PostgreSQL: the retry's insert of the key waits on the unique index for the first transaction, then fails.
- SQLite: writers are serialized, so the retry only reaches the key once the first has committed and would
  find its stored response. The row says when that response was completed (``completed_at``); a retry that
  arrived before then (noted by the unit of work before it waits for the writer turn) was in flight with it.

A retry after the first response was completed replays it. Nothing here can make a second effect: the key's
unique index holds either way; the two clocks compared are the same machine's wall clock."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from fastapi import Response
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from api.problems import ApiProblem, ledger_error_problem
from api.scopes import Principal
from ledger.engine import Ledger
from ledger.errors import LedgerError, ResultCode

REPLAYED_HEADER = "Idempotency-Replayed"
REQUEST_IN_FLIGHT = "request_in_flight"
API_METADATA = sa.MetaData()  # the HTTP layer's own tables (migration branch "api")
T_KEYED_WRITES = sa.Table(
    "api_keyed_writes",
    API_METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("client", sa.String(100), nullable=False),
    sa.Column("idempotency_key", sa.String(100), nullable=False),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("status", sa.Integer, nullable=False),
    sa.Column("location", sa.String(300)),
    sa.Column("body_json", sa.Text),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("completed_at", sa.DateTime(timezone=True)),  # migration a0003
)


ARRIVED_AT = "fundledger_arrived_at"  # in ``Connection.info`` while a unit of work holds the connection


def arrival_now() -> datetime:
    return datetime.now(UTC)


@contextmanager
def arrival_noted(conn: Connection, arrived: datetime) -> Iterator[None]:
    """Note on the request's connection when the request arrived (api.deps.unit_of_work takes it before the
    request waits for SQLite's writer turn); taken off again when the unit of work ends, so a pooled
    connection never carries one request's arrival into another's."""
    conn.info[ARRIVED_AT] = arrived
    try:
        yield
    finally:
        conn.info.pop(ARRIVED_AT, None)


def _as_utc(moment: datetime) -> datetime:
    # SQLite hands a stored moment back without its offset; it was written in UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class JoinedEngine:
    """Stands in for the engine of a domain service: ``begin()`` and ``connect()`` lend the request's
    connection (``begin()`` inside a savepoint, so a refused call undoes only its own writes)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        with self._conn.begin_nested():
            yield self._conn

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        yield self._conn

    def execution_options(self, **_options: Any) -> JoinedEngine:
        return self

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn.engine, name)  # dialect, url, name: those of the real engine


def joined_ledger(ledger: Ledger, conn: Connection) -> Ledger:
    """The same ledger, its reads and writes on ``conn``."""
    joined = copy.copy(ledger)
    facade = JoinedEngine(conn)
    joined.engine = facade  # type: ignore[assignment]
    joined.reader = facade  # type: ignore[assignment]
    joined._own_connections = None  # noqa: SLF001 - its own driver connections would leave the unit of work
    return joined


@dataclass(frozen=True)
class Written:
    """What a service call produced: the response body, where the object lives, and for a dry run the cap
    that bound and the room it leaves (when the domain tells)."""

    body: dict[str, Any]
    location: str | None = None
    binding_cap: str | None = None
    room_left: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def fingerprint(path: str, content: Any) -> str:
    text = json.dumps({"path": path, "content": content}, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def keyed_write(
    ledger: Ledger,
    uow: Connection,
    principal: Principal,
    key: str,
    *,
    path: str,
    content: Any,
    produce: Callable[[Ledger], Written],
    response: Response,
    dry_run: bool = False,
    created_status: int = 201,
    arrived: datetime | None = None,
) -> dict[str, Any]:
    """Run ``produce`` once per (client, key): the first response, stored with its effect, answers every replay.
    ``arrived`` (by default the one the unit of work noted on ``uow``) tells a retry that came while the first
    was in flight."""
    if dry_run:
        return _dry_run(ledger, uow, produce, response)
    digest = fingerprint(path, content)
    stored = (
        uow.execute(
            sa.select(T_KEYED_WRITES).where(
                T_KEYED_WRITES.c.client == principal.client, T_KEYED_WRITES.c.idempotency_key == key
            )
        )
        .mappings()
        .first()
    )
    if stored is not None:
        return _replay(stored, digest, key, response, arrived or uow.info.get(ARRIVED_AT))
    try:
        with uow.begin_nested():
            row_id = uow.execute(
                T_KEYED_WRITES.insert().values(
                    client=principal.client,
                    idempotency_key=key,
                    fingerprint=digest,
                    status=0,
                    created_at=ledger.clock(),
                )
            ).inserted_primary_key[0]
    except IntegrityError as error:
        raise _in_flight(key) from error
    written = produce(joined_ledger(ledger, uow))
    uow.execute(
        T_KEYED_WRITES.update()
        .where(T_KEYED_WRITES.c.id == row_id)
        .values(
            status=created_status,
            location=written.location,
            body_json=json.dumps(written.body, ensure_ascii=False, default=str),
            completed_at=arrival_now(),
        )
    )
    response.status_code = created_status
    if written.location:
        response.headers["Location"] = written.location
    return written.body


def _in_flight(key: str) -> ApiProblem:
    return ApiProblem(
        409, REQUEST_IN_FLIGHT, f"another request with Idempotency-Key {key!r} was being processed; retry it"
    )


def _replay(stored, digest: str, key: str, response: Response, arrived: datetime | None) -> dict[str, Any]:  # noqa: ANN001 - a row mapping
    if stored["fingerprint"] != digest:
        code = ResultCode.EXISTS_WITH_DIFFERENT_CONTENT.value
        raise ApiProblem(409, code, f"Idempotency-Key {key!r} was already used for another request")
    completed = stored["completed_at"]
    if arrived is not None and completed is not None and _as_utc(completed) > arrived:
        raise _in_flight(key)
    response.headers[REPLAYED_HEADER] = "true"
    response.status_code = stored["status"]
    if stored["location"]:
        response.headers["Location"] = stored["location"]
    return json.loads(stored["body_json"])


def _dry_run(ledger: Ledger, uow: Connection, produce: Callable[[Ledger], Written], response: Response) -> dict:
    savepoint = uow.begin_nested()
    try:
        try:
            written = produce(joined_ledger(ledger, uow))
        except LedgerError as error:
            problem = ledger_error_problem(error)
            values = problem.extra.get("detail_values", {})
            outcome = {
                "dry_run": True,
                "code": problem.code,
                "message": problem.detail,
                "result": None,
                "binding_cap": values.get("rule", problem.code) if "room_left" in values else None,
                "room_left": values.get("room_left"),
                "detail_values": values,
            }
        else:
            outcome = {
                "dry_run": True,
                "code": ResultCode.OK.value,
                "message": "the call would succeed; nothing was written",
                "result": written.body,
                "binding_cap": written.binding_cap,
                "room_left": written.room_left,
                "detail_values": written.extra,
            }
    finally:
        savepoint.rollback()
    response.status_code = 200
    return outcome
