"""The machinery of a domain command over HTTP, shared by the guidance-fund, risk-pool and cash-request
routes: the service's key from ``Idempotency-Key``, the command in a savepoint of the request's unit of work
(a dry run rolls it back), and the HTTP shape of its outcome."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Header, Path, Query, Response
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from api.deps import PageParams, paginate
from api.routers.transactions import REPLAYED_HEADER
from api.schemas.funds import ID_MAX, DryRunResult
from api.schemas.transactions import check_idempotency_key
from api.scopes import Principal
from funds.codes import FundsCode
from ledger.errors import LedgerError

# A larger id than the database's INTEGER is refused as malformed input, never sent to the database.
ObjectId = Annotated[int, Path(ge=1, le=ID_MAX)]
IdempotencyKey = Annotated[
    str | None, Header(alias="Idempotency-Key", description="required: the request's key within your client")
]
DryRun = Annotated[bool, Query(description="report the would-be result, the binding limit and room; write nothing")]
MONEY_REFUSED = {409: {"description": "a rule refused it"}, 422: {"description": "malformed, or no Idempotency-Key"}}
# A dry run of a call that creates an object answers 200 (nothing was created) with the would-be result.
DRY_RUN_RESPONSES = {
    200: {"model": DryRunResult, "description": "dry_run=true: the would-be result; nothing written"},
    **MONEY_REFUSED,
}
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def client_key(principal: Principal, idempotency_key: str | None) -> str:
    """The service's ``client_id``: the header, within the authenticated client (two clients never collide)."""
    return f"{principal.client}/{check_idempotency_key(idempotency_key)}"


def run_command(ledger, uow: Connection, command: Callable[[], Any], *, dry_run: bool) -> Any:  # noqa: ANN001
    """Run ``command`` (a service call joined to ``uow`` and the reads that build its response) in a
    savepoint: kept for a real call, rolled back for a dry run or a refusal. A unique key taken meanwhile by a
    concurrent call with the same key is that call in flight: 409, and the retry gets its stored result."""
    integrity_errors = (IntegrityError, ledger.engine.dialect.loaded_dbapi.IntegrityError)
    savepoint = uow.begin_nested()
    try:
        outcome = command()
    except integrity_errors:
        savepoint.rollback()
        raise LedgerError(
            FundsCode.REQUEST_IN_FLIGHT, "another call with this key is being recorded; retry to get its result"
        ) from None
    except BaseException:
        savepoint.rollback()
        raise
    if dry_run:
        savepoint.rollback()
    else:
        savepoint.commit()
    return outcome


def answer(
    response: Response,
    outcome: Any,
    *,
    dry_run: bool,
    replayed: bool,
    location: str | None = None,
    room_left: str | None = None,
    binding_limit: str | None = None,
) -> Any:
    """The HTTP shape of a command's outcome: 201 + Location for a new object (200 for a dry run)."""
    if dry_run:
        response.status_code = 200
        return DryRunResult(result=outcome.model_dump(mode="json"), room_left=room_left, binding_limit=binding_limit)
    if replayed:
        response.headers[REPLAYED_HEADER] = "true"
    if location is not None:
        response.headers["Location"] = location
    return outcome


def row_with_id(rows: list[dict], object_id: int) -> dict:
    return next(row for row in rows if row["id"] == object_id)


def page_by_id(rows: list[dict], page: PageParams, filters: dict[str, Any], out: Callable[[dict], Any]) -> dict:
    """A page of rows in id order; the cursor carries the filters, so they survive paging."""
    chunk, cursor = paginate(rows, lambda row: row["id"], page, filters)
    return {"items": [out(row) for row in chunk], "next_cursor": cursor}


def not_found(what: str, key: object) -> LedgerError:
    """The same 404 for an object that does not exist and one outside the caller's scope."""
    return LedgerError(FundsCode.NOT_FOUND, f"no {what} {key!r}")
