"""HTTP transaction bodies → ledger requests. The body is the ledger's own JSON request document
(``ledger.jsonio``) minus what the server decides: the key comes from the ``Idempotency-Key`` header, the
source is the authenticated client and the actor the authenticated identity."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from api.problems import ApiCode, ApiProblem
from api.scopes import Principal
from ledger.entries import (
    Audit,
    MalformedRequest,
    PostPendingRequest,
    Request,
    ReversalRequest,
    TransactionRequest,
    VoidPendingRequest,
)
from ledger.jsonio import parse_document, parse_request

IDEMPOTENCY_KEY_MAX_LENGTH = 100
IDEMPOTENCY_KEY_PATTERN = re.compile(rf"^[\x21-\x7e]{{1,{IDEMPOTENCY_KEY_MAX_LENGTH}}}$")
# Fields only the server fills in: who acts and under which key.
SERVER_FIELDS = ("actor", "approver", "source")
BATCH_ITEM_SEPARATOR = "#"
BATCH_ITEMS_MAX = 1_000

TRANSACTION_EXAMPLE = {
    "date": "2026-01-05",
    "memo": "2026 appropriation",
    "approval_doc": "穗财科〔2026〕1号",
    "postings": [
        {"book": "440100-finance", "account": "Assets:Bank:Treasury", "amount": "1000.00"},
        {"book": "440100-finance", "account": "NetAssets:Appropriations", "amount": "-1000.00"},
    ],
}


def check_idempotency_key(key: str | None) -> str:
    if key is None or key == "":
        raise ApiProblem(
            422,
            ApiCode.IDEMPOTENCY_KEY_REQUIRED,
            "a POST that moves money needs an Idempotency-Key header",
            errors=[
                {"pointer": "/header/Idempotency-Key", "code": ApiCode.IDEMPOTENCY_KEY_REQUIRED, "detail": "missing"}
            ],
        )
    if not IDEMPOTENCY_KEY_PATTERN.match(key):
        raise ApiProblem(
            422,
            ApiCode.IDEMPOTENCY_KEY_INVALID,
            f"an Idempotency-Key is 1 to {IDEMPOTENCY_KEY_MAX_LENGTH} visible ASCII characters",
        )
    return key


def _refuse_server_fields(document: Any, pointer: str) -> None:
    if not isinstance(document, dict):
        raise ApiProblem(422, ApiCode.REQUEST_INVALID, "a request is a JSON object", errors=[_fault(pointer, "object")])
    for name in SERVER_FIELDS:
        if name in document:
            raise ApiProblem(
                422,
                ApiCode.BODY_NAMES_ACTOR,
                f"{name!r} is the authenticated caller's and cannot be named in a body",
                errors=[_fault(f"{pointer}/{name}", "set by the server")],
            )
    if "id" in document:
        raise ApiProblem(
            422,
            ApiCode.REQUEST_INVALID,
            "a request's id is its Idempotency-Key header, not a body field",
            errors=[_fault(f"{pointer}/id", "use the Idempotency-Key header")],
        )


def _fault(pointer: str, detail: str) -> dict[str, str]:
    return {"pointer": pointer, "code": ApiCode.REQUEST_INVALID, "detail": detail}


def _as_caller(request: Request, principal: Principal) -> Request:
    audit = Audit(actor=principal.name, approval_doc=request.audit.approval_doc)
    return dataclasses.replace(request, audit=audit)


def transaction_request(document: Any, key: str, principal: Principal) -> Request:
    _refuse_server_fields(document, "")
    return _as_caller(parse_request({**document, "id": key}, source=principal.client), principal)


def batch_requests(document: Any, key: str, principal: Principal) -> list[Request]:
    """Item ``i`` of a batch is keyed ``<Idempotency-Key>#i``, so a replayed batch replays item by item."""
    items = document.get("requests") if isinstance(document, dict) else None
    if not isinstance(items, list) or not items or len(items) > BATCH_ITEMS_MAX:
        raise ApiProblem(
            422,
            ApiCode.REQUEST_INVALID,
            f'a batch is {{"requests": [...]}} with 1 to {BATCH_ITEMS_MAX} items',
            errors=[_fault("/requests", "a non-empty list")],
        )
    for index, item in enumerate(items):
        _refuse_server_fields(item, f"/requests/{index}")
    keyed = [{**item, "id": f"{key}{BATCH_ITEM_SEPARATOR}{index}"} for index, item in enumerate(items)]
    return [
        request if isinstance(request, MalformedRequest) else _as_caller(request, principal)
        for request in parse_document(keyed, source=principal.client)
    ]


def books_named(request: Request, ledger) -> set[str]:  # noqa: ANN001 - ledger.engine.Ledger
    """The books a request touches: its postings' books, or those of the transaction it resolves."""
    books: set[str] = set()
    if isinstance(request, TransactionRequest | PostPendingRequest) and request.postings:
        books |= {posting.book for posting in request.postings}
    target = None
    if isinstance(request, PostPendingRequest | VoidPendingRequest):
        target = request.pending
    elif isinstance(request, ReversalRequest):
        target = request.target
    if target is not None:
        found = ledger.transaction(target)
        if found is not None:
            books |= {posting["book"] for posting in found["postings"]}
    return books
