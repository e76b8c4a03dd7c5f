"""Transactions (pending, post, void, reversal) and batches: keyed by ``Idempotency-Key``, dry-runnable."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api.deps import LedgerDep, requires, resource_path
from api.hot_params import RequestParts, openapi_document
from api.known_rows import known_rows
from api.problems import ApiProblem, ledger_error_problem
from api.routers import BOOKKEEPING_ROLES, READ_ROLES
from api.schemas.core import AccountOut, BatchItemOut, BatchOut, DryRunOut, TransactionCreatedOut, TransactionOut
from api.schemas.transactions import (
    TRANSACTION_EXAMPLE,
    batch_requests,
    books_named,
    check_idempotency_key,
    transaction_request,
)
from api.scopes import Principal, book_visible, require_books
from api.submitter import loop_submitter
from ledger.entries import PostPendingRequest, TransactionRequest
from ledger.entries import Request as LedgerRequest
from ledger.errors import LedgerError, ResultCode

router = APIRouter(prefix="/v1", tags=["transactions"])
Reader = Annotated[Principal, Depends(requires(*READ_ROLES))]
Bookkeeper = Annotated[Principal, Depends(requires(*BOOKKEEPING_ROLES))]
IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_DESCRIPTION = "required: the request's key within your client"
DRY_RUN_PARAMETER = "dry_run"
DRY_RUN_DESCRIPTION = "check and report the would-be result; write nothing"
IdempotencyKey = Annotated[str | None, Header(alias=IDEMPOTENCY_HEADER, description=IDEMPOTENCY_DESCRIPTION)]
DryRun = Annotated[bool, Query(description=DRY_RUN_DESCRIPTION)]
REPLAYED_HEADER = "Idempotency-Replayed"


def _created(result_id: int, principal: Principal, key: str) -> dict[str, Any]:
    return {"transaction_id": result_id, "source": principal.client, "client_id": key}


def _accounts_touched(request: LedgerRequest, ledger, conn) -> list[AccountOut]:  # noqa: ANN001
    pairs: set[tuple[str, str]] = set()
    if isinstance(request, TransactionRequest | PostPendingRequest) and request.postings:
        pairs = {(posting.book, posting.account) for posting in request.postings}
    out = []
    for book, path in sorted(pairs):
        try:
            out.append(AccountOut.of(ledger.account(book, path, conn=conn)))
        except LedgerError:
            continue  # an unknown account: the result code already says so
    return out


def _submit(requests: list[LedgerRequest], ledger) -> list:  # noqa: ANN001
    """The engine's own unit of work: concurrent requests of this process share one commit (group commit,
    ledger.group_commit), each answered after the commit that holds it; a key taken by a concurrent writer
    is retried there and found as ``exists``."""
    return ledger.submit(requests)


def _dry_run(requests: list[LedgerRequest], ledger) -> tuple[list, list[AccountOut]]:  # noqa: ANN001
    """Run the engine inside a transaction that is always rolled back: the would-be outcome, nothing kept
    (no transaction, no key, no cached total)."""
    with ledger.engine.connect() as conn:
        trial = conn.begin()
        try:
            results = ledger.submit(requests, conn=conn)
            accounts = [account for request in requests for account in _accounts_touched(request, ledger, conn)]
        finally:
            trial.rollback()
    return results, accounts


@router.post(
    "/transactions",
    name="post_transaction",  # the operation's id stays post_transaction_v1_transactions_post
    status_code=201,
    response_model=TransactionCreatedOut | DryRunOut,
    responses={409: {"description": "a rule refused it"}, 422: {"description": "malformed, or no Idempotency-Key"}},
    # The body, the key and the dry-run flag are read by the handler (api.hot_params) and documented here.
    openapi_extra=openapi_document(
        body_examples=[TRANSACTION_EXAMPLE],
        header=(IDEMPOTENCY_HEADER, IDEMPOTENCY_DESCRIPTION),
        flag=(DRY_RUN_PARAMETER, DRY_RUN_DESCRIPTION),
    ),
)
async def post_transaction_route(principal: Bookkeeper, request: Request) -> Response:
    # The busiest write: on the event loop (async), its parts read here rather than resolved by FastAPI one
    # by one, its answer returned ready-made (the route's model documents it). Parsed and scope-checked here,
    # the request is handed to the ledger with the other requests of the moment (api.submitter); what reads
    # the database goes to the thread pool. (A comment, not a docstring: the docstring would become the
    # operation's OpenAPI description.)
    parts = RequestParts()  # in FastAPI's order: the query's errors listed before the body's
    dry_run = parts.flag(request, DRY_RUN_PARAMETER)
    document = await parts.json_object(request)
    parts.refuse_if_any()
    ledger = request.app.state.ledger
    key = check_idempotency_key(request.headers.get(IDEMPOTENCY_HEADER))
    ledger_request = transaction_request(document, key, principal)
    if isinstance(ledger_request, TransactionRequest):
        # It names its books itself; a book is read once per process (api.known_rows), here on the loop.
        _check_scope(ledger_request, principal, ledger)
    else:  # it resolves another transaction: read that on the pool
        await run_in_threadpool(_check_scope, ledger_request, principal, ledger)
    answered = _Answered(status_code=201)
    if dry_run:
        dry = _dry_run_answer(*await run_in_threadpool(_dry_run, [ledger_request], ledger), answered)
        content = dry.model_dump(mode="json")
    else:
        content = _created_answer(await loop_submitter(ledger).submit(ledger_request), principal, key, answered)
    return JSONResponse(content, status_code=answered.status_code, headers=answered.headers)


@dataclass
class _Answered:
    """The status and headers the answer helpers set (as on FastAPI's ``Response`` parameter), for a route that
    builds its response itself."""

    status_code: int
    headers: dict[str, str] = field(default_factory=dict)


def post_transaction(
    principal: Principal,
    ledger,  # noqa: ANN001 - ledger.engine.Ledger
    response: Response,
    document: dict[str, Any],
    idempotency_key: str | None = None,
    dry_run: bool = False,
):
    """The same post for a caller already on a worker thread (the pages' forms): the same checks and answer,
    the request submitted on the caller's thread."""
    key = check_idempotency_key(idempotency_key)
    request = transaction_request(document, key, principal)
    _check_scope(request, principal, ledger)
    if dry_run:
        return _dry_run_answer(*_dry_run([request], ledger), response)
    return _created_answer(_submit([request], ledger)[0], principal, key, response)


def _check_scope(request: LedgerRequest, principal: Principal, ledger) -> None:  # noqa: ANN001
    require_books(known_rows(ledger), principal, books_named(request, ledger))


def _dry_run_answer(results: list, accounts: list[AccountOut], response: Response) -> DryRunOut:
    (result,) = results
    response.status_code = 200
    return DryRunOut(code=result.code.value, message=result.message, accounts_after=accounts)


def _created_answer(result, principal: Principal, key: str, response: Response) -> dict[str, Any]:  # noqa: ANN001
    if not result.ok:
        raise LedgerError(result.code, result.message, **result.detail)
    if result.code is ResultCode.EXISTS:
        response.headers[REPLAYED_HEADER] = "true"
    response.headers["Location"] = resource_path("transactions", result.transaction_id)
    return _created(result.transaction_id, principal, key)


@router.post("/batches", response_model=BatchOut, responses={422: {"description": "malformed, or no Idempotency-Key"}})
def post_batch(
    principal: Bookkeeper,
    ledger: LedgerDep,
    response: Response,
    document: Annotated[
        dict[str, Any], Body(examples=[{"requests": [TRANSACTION_EXAMPLE | {"linked": True}, TRANSACTION_EXAMPLE]}])
    ],
    idempotency_key: IdempotencyKey = None,
    dry_run: DryRun = False,
):
    """Each item has its own result; items marked ``linked`` succeed or fail with the next one. A replayed
    item reports ``ok`` as it did first; the header says the whole batch was a replay."""
    key = check_idempotency_key(idempotency_key)
    requests = batch_requests(document, key, principal)
    known = known_rows(ledger)
    for request in requests:
        require_books(known, principal, books_named(request, ledger))
    results = _dry_run(requests, ledger)[0] if dry_run else _submit(requests, ledger)
    if not dry_run and all(result.code is ResultCode.EXISTS for result in results):
        response.headers[REPLAYED_HEADER] = "true"
    items = [
        BatchItemOut(
            index=result.index,
            code=ResultCode.OK.value if result.code is ResultCode.EXISTS and not dry_run else result.code.value,
            client_id=requests[result.index].client_id,
            transaction_id=None if dry_run else result.transaction_id,
            message=result.message,
        )
        for result in results
    ]
    return BatchOut(results=items, dry_run=dry_run)


@router.get("/transactions/{transaction_id}", response_model=TransactionOut)
def get_transaction(transaction_id: Annotated[int, Path(ge=1)], principal: Reader, ledger: LedgerDep):
    row = ledger.transaction(transaction_id)
    books = {posting["book"] for posting in row["postings"]} if row else set()
    known = known_rows(ledger)
    if row is None or not all(book_visible(known, principal, known.book(code)) for code in books):
        raise ApiProblem(**_not_found(transaction_id))
    return TransactionOut.of(row)


def _not_found(transaction_id: int) -> dict[str, Any]:
    problem = ledger_error_problem(
        LedgerError(ResultCode.TRANSACTION_NOT_FOUND, f"transaction {transaction_id} does not exist")
    )
    return {"status": problem.status, "code": problem.code, "detail": problem.detail}
