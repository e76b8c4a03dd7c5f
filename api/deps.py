"""Dependencies: the caller (and its role, checked per route), the unit of work, paging."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Connection, Executable, Row
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.concurrency import run_in_threadpool

from api.auth import BEARER_CHALLENGE, authenticate_bearer, remembered_caller
from api.problems import ApiCode, ApiProblem
from api.scopes import Principal, Role, role_holder
from api.writes import arrival_noted, arrival_now
from ledger.db import async_read_engine, is_postgres, read_only
from ledger.engine import Ledger

PAGE_LIMIT_DEFAULT = 50
PAGE_LIMIT_MAX = 500
CURSOR_TEXT_MAX_LENGTH = 2_000
ROLES_ATTRIBUTE = "fundledger_roles"

_bearer = HTTPBearer(auto_error=False, description="An API key (fl_…) or a token from POST /v1/auth/token")


def resource_path(*segments: object) -> str:
    """The path of a created object for its ``Location`` header. Codes and account names are user text (often
    Chinese, sometimes with ``/`` or ``:``); headers carry Latin-1 only, so each segment is percent-encoded."""
    return "/v1/" + "/".join(quote(str(segment), safe="") for segment in segments)


# The dependencies run per request are ``async``: FastAPI runs a plain ``def`` dependency on the thread pool,
# and the hop there and back cost more than the work of these (measured under load, docs/BENCHMARKS.md).
# Only one that must read the database (an unremembered caller) goes to the pool.


async def ledger_of(request: Request) -> Ledger:
    return request.app.state.ledger


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def current_principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise ApiProblem(
            401, ApiCode.CREDENTIALS_REQUIRED, "send Authorization: Bearer <key or token>", headers=BEARER_CHALLENGE
        )
    state = request.app.state
    client = client_address(request)
    remembered = remembered_caller(state.engine, state.limiter, client, credentials.credentials)
    if remembered is not None:
        return remembered
    return await run_in_threadpool(
        authenticate_bearer, state.engine, state.settings, state.limiter, client, credentials.credentials
    )


def requires(*roles: Role) -> Callable[..., Principal]:
    """The explicit role dependency of a route; the role sweep test finds it by its attribute."""

    # The caller is found here rather than through a nested ``Depends(current_principal)``: each level of
    # dependencies costs FastAPI one more resolution per request (seen under py-spy, docs/BENCHMARKS.md).
    async def check(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
    ) -> Principal:
        principal = await current_principal(request, credentials)
        role_holder(principal, roles)
        return principal

    setattr(check, ROLES_ATTRIBUTE, tuple(roles))
    check.__name__ = "requires_" + "_".join(role.value for role in roles)
    return check


def unit_of_work(request: Request) -> Iterator[Connection]:
    """One database transaction per request: committed when the handler returns, rolled back on error.
    Scope "function" (see ``Depends``) so the commit happens before the response is sent."""
    arrived = arrival_now()  # before any wait for the writer turn: a keyed write in flight is told by it
    turn = request.app.state.sqlite_writer_turn
    if turn is None:
        with request.app.state.engine.begin() as conn, arrival_noted(conn, arrived):
            yield conn
        return
    # SQLite has one writer at a time, and a writer that finds the lock taken polls with growing sleeps
    # (busy_timeout), so concurrent requests convoy. Queueing on a lock in the process instead hands the
    # database to the next request the moment the last one commits.
    with turn, request.app.state.engine.begin() as conn, arrival_noted(conn, arrived):
        yield conn


# The asyncio read engine of each ledger (PostgreSQL), with the event loop it belongs to: a server has one loop
# for its life; a test client may start another, which then gets an engine of its own.
_async_readers: weakref.WeakKeyDictionary[Ledger, tuple[asyncio.AbstractEventLoop, AsyncEngine]] = (
    weakref.WeakKeyDictionary()
)


async def read_rows(ledger: Ledger, statement: Executable, parameters: dict[str, Any]) -> list[Row]:
    """The rows of one read-only statement, for an async handler, without the thread pool. On SQLite inline on
    the event loop (an indexed read in the same process costs less than the hop to the pool); on PostgreSQL on
    the loop's asyncio engine (``ledger.db.async_read_engine``: one round trip, awaited, so the loop serves
    others meanwhile). Measured: on the pool with the main engine's connections, PostgreSQL positions at
    500/s had a p99 of 0.7-2.1 s (docs/BENCHMARKS.md, HTTP API)."""
    if not is_postgres(ledger.engine):
        with read_only(ledger.engine).connect() as conn:
            return conn.execute(statement, parameters).all()
    engine = _async_reader(ledger)
    try:
        async with engine.connect() as conn:
            return (await conn.execute(statement, parameters)).all()
    except DBAPIError as error:
        if not error.connection_invalidated:
            raise
    # The connection had died (the server restarted, an idle timeout): the pool has dropped it; once more.
    async with engine.connect() as conn:
        return (await conn.execute(statement, parameters)).all()


def _async_reader(ledger: Ledger) -> AsyncEngine:
    loop = asyncio.get_running_loop()
    held = _async_readers.get(ledger)
    if held is None or held[0] is not loop:
        held = _async_readers[ledger] = (loop, async_read_engine(ledger.engine))
    return held[1]


async def close_async_reader(ledger: Ledger) -> None:
    """Close the asyncio read engine's connections (the app's shutdown, on the loop that used them)."""
    held = _async_readers.pop(ledger, None)
    if held is not None and held[0] is asyncio.get_running_loop():
        await held[1].dispose()


UnitOfWork = Annotated[Connection, Depends(unit_of_work, scope="function")]
LedgerDep = Annotated[Ledger, Depends(ledger_of)]


@dataclass(frozen=True, slots=True)
class PageRequest:
    limit: int
    after: Any
    filters: dict[str, Any]


def page_params(
    # The maximum is documented but checked here, so a larger limit gets its own code (limit_too_large).
    limit: Annotated[
        int, Query(ge=1, description=f"at most {PAGE_LIMIT_MAX}", json_schema_extra={"maximum": PAGE_LIMIT_MAX})
    ] = PAGE_LIMIT_DEFAULT,
    cursor: Annotated[str | None, Query(max_length=CURSOR_TEXT_MAX_LENGTH)] = None,
) -> tuple[int, str | None]:
    if limit > PAGE_LIMIT_MAX:
        raise ApiProblem(
            422,
            ApiCode.LIMIT_TOO_LARGE,
            f"limit is at most {PAGE_LIMIT_MAX}",
            errors=[{"pointer": "/query/limit", "code": ApiCode.LIMIT_TOO_LARGE, "detail": f"max {PAGE_LIMIT_MAX}"}],
        )
    return limit, cursor


PageParams = Annotated[tuple[int, str | None], Depends(page_params)]


def encode_cursor(after: Any, filters: dict[str, Any]) -> str:
    text = json.dumps({"after": after, "filters": filters}, sort_keys=True, separators=(",", ":"), default=str)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, filters: dict[str, Any]) -> Any:
    """The position after which the next page starts. A cursor carries the filters it was made under: a
    request that changes them with the same cursor is refused rather than paging a different list."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        content = json.loads(base64.urlsafe_b64decode(padded.encode()))
        after, made_under = content["after"], content["filters"]
    except (binascii.Error, ValueError, KeyError, TypeError) as error:
        raise ApiProblem(422, ApiCode.CURSOR_INVALID, "the cursor is not one this server made") from error
    current = json.loads(json.dumps(filters, sort_keys=True, default=str))
    if made_under != current:
        raise ApiProblem(422, ApiCode.CURSOR_INVALID, "the cursor was made with other filters; repeat them unchanged")
    return after


def paginate(
    items: Sequence[Any], key: Callable[[Any], Any], page: tuple[int, str | None], filters: dict[str, Any]
) -> tuple[list[Any], str | None]:
    """A page of ``items`` (already in ``key`` order and filtered) and the cursor of the next one."""
    limit, cursor = page
    after = None if cursor is None else decode_cursor(cursor, filters)
    start = 0
    if after is not None:
        start = next((i for i, item in enumerate(items) if _sort_key(key(item)) > _sort_key(after)), len(items))
    chunk = list(items[start : start + limit])
    more = start + limit < len(items)
    return chunk, encode_cursor(key(chunk[-1]), filters) if more and chunk else None


def _sort_key(value: Any) -> Any:
    return list(value) if isinstance(value, list | tuple) else value
