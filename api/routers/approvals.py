"""The approvals queue over HTTP: list the items waiting for a second person, read one, approve or reject it.

The queue, its scope and the decisions live in api.approval_queue (shared with the finance pages). Deciding is
money-moving: ``Idempotency-Key`` (the decision's response is stored with its effect, api.writes) and
``?dry_run=true`` (the would-be outcome, the binding cap and the room left; nothing written)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from sqlalchemy import Connection

from api import approval_queue as queue
from api.deps import LedgerDep, PageParams, UnitOfWork, paginate, requires
from api.routers import links
from api.routers.transactions import DryRun, IdempotencyKey
from api.routers.vouchers import RegionFilter
from api.schemas.approvals import ApprovalIn, ApprovalItemOut, DecisionOut, RejectionIn
from api.schemas.core import page_of
from api.schemas.transactions import check_idempotency_key
from api.schemas.vouchers import WriteDryRunOut
from api.scopes import Principal
from api.writes import Written, keyed_write
from ledger.engine import Ledger

router = APIRouter(prefix="/v1", tags=["approvals"])
QueueReader = Annotated[Principal, Depends(requires(*queue.QUEUE_READER_ROLES))]
Checker = Annotated[Principal, Depends(requires(*queue.QUEUE_DECIDER_ROLES))]
ItemId = Annotated[str, Path(pattern=queue.ITEM_PATTERN, examples=["voucher_grant:12"])]
KindFilter = Annotated[str | None, Query(pattern="^(" + "|".join(queue.KINDS) + ")$")]
ItemPage = page_of(ApprovalItemOut)

# The names api.web.routes_finance imported before the queue had a public module; kept until it moves to
# api.approval_queue's public names.
ITEM_PATTERN = queue.ITEM_PATTERN
KINDS = queue.KINDS
_queue = queue.queue_items
_item_visible = queue.item_visible
_order = queue.queue_order
_located = queue.locate_item
_approve = queue.approve_item
_reject = queue.reject_item


@router.get(
    "/approvals",
    response_model=ItemPage,
    openapi_extra=links.listed(item=links.to("/v1/approvals/{item_id}", item_id=links.first_item("id"))),
)
def list_approvals(
    principal: QueueReader, ledger: LedgerDep, page: PageParams, kind: KindFilter = None, region: RegionFilter = None
):
    """Everything waiting for a second person in the caller's scope (an item between two regions shows in both)."""
    with ledger.reader.connect() as conn:
        items = [
            item
            for item in queue.visible_queue(ledger, conn, principal)
            if (kind is None or item.kind == kind) and (region is None or queue.item_in_region(item, region))
        ]
    chunk, cursor = paginate(items, queue.queue_order, page, {"kind": kind, "region": region})
    return {"items": chunk, "next_cursor": cursor}


@router.get("/approvals/{item_id}", response_model=ApprovalItemOut)
def get_approval(item_id: ItemId, principal: QueueReader, ledger: LedgerDep):
    with ledger.reader.connect() as conn:
        return queue.waiting_item(ledger, conn, principal, item_id)


def _decision(
    item_id: str,
    body: ApprovalIn | RejectionIn,
    principal: Principal,
    ledger: Ledger,
    uow: Connection,
    request: Request,
    response: Response,
    idempotency_key: str | None,
    dry_run: bool,
    decide: Callable[[Ledger, Principal, str, int, Any], Written],
    status: str,
) -> dict[str, Any]:
    key = check_idempotency_key(idempotency_key)
    kind, number = queue.locate_item(ledger, uow, principal, item_id)

    def produce(joined: Ledger) -> Written:
        written = decide(joined, principal, kind, number, body)
        out = DecisionOut(id=item_id, kind=kind, status=status, decided_by=principal.name, result=written.body)
        return Written(out.model_dump(mode="json"), written.location, written.binding_cap, written.room_left)

    return keyed_write(
        ledger, uow, principal, key, path=request.url.path, content=body.model_dump(mode="json"),
        produce=produce, response=response, dry_run=dry_run, created_status=200,
    )  # fmt: skip


DECISION_RESPONSES = {404: {}, 409: {}, 422: {}}


@router.post("/approvals/{item_id}/approve", response_model=DecisionOut | WriteDryRunOut, responses=DECISION_RESPONSES)
def approve(
    item_id: ItemId,
    body: ApprovalIn,
    principal: Checker,
    ledger: LedgerDep,
    uow: UnitOfWork,
    request: Request,
    response: Response,
    idempotency_key: IdempotencyKey = None,
    dry_run: DryRun = False,
):
    """Approve through the owning domain's service, the caller as checker (never the item's recorder)."""
    return _decision(
        item_id, body, principal, ledger, uow, request, response, idempotency_key, dry_run,
        queue.approve_item, "approved",
    )  # fmt: skip


@router.post("/approvals/{item_id}/reject", response_model=DecisionOut | WriteDryRunOut, responses=DECISION_RESPONSES)
def reject(
    item_id: ItemId,
    body: RejectionIn,
    principal: Checker,
    ledger: LedgerDep,
    uow: UnitOfWork,
    request: Request,
    response: Response,
    idempotency_key: IdempotencyKey = None,
    dry_run: DryRun = False,
):
    """Reject with a reason through the owning domain's service (the recorder cannot reject its own item)."""
    return _decision(
        item_id, body, principal, ledger, uow, request, response, idempotency_key, dry_run,
        queue.reject_item, "rejected",
    )  # fmt: skip
