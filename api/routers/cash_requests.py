"""Cash movements of two people (不相容岗位分离): an appropriation into a guidance fund, its remittance to the
treasury, a funding level's contribution to a pool and a pool's settlement run are filed by one person of the
finance office and carried out when another approves (funds.cash_requests); one queue here decides them all.

The filer's ``Idempotency-Key`` keys the filing; the request keys its approval (its approver repeating the
call gets the same result). ``?dry_run=true`` on the approval reports the movement and the cash left."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response
from sqlalchemy import Connection

from api.deps import LedgerDep, PageParams, UnitOfWork, requires
from api.routers import links
from api.routers.commands import (
    MONEY_REFUSED,
    DryRun,
    IdempotencyKey,
    ObjectId,
    answer,
    client_key,
    not_found,
    page_by_id,
    row_with_id,
    run_command,
)
from api.schemas.core import page_of
from api.schemas.funds import (
    CODE_MAX_LENGTH,
    CashMovementIn,
    CashRejectionIn,
    CashRequestOut,
    ContributionIn,
    DryRunResult,
    PoolSettlementIn,
    money,
)
from api.schemas.transactions import check_idempotency_key
from api.scopes import Principal, Role, fund_visible, pool_visible
from funds import cash_requests as cash
from funds import reads
from funds.guidance import gf_book
from funds.pools import POOL_CASH, financial_book

router = APIRouter(prefix="/v1", tags=["cash requests"])

OFFICE_ROLES = (Role.ADMIN, Role.FINANCE_OFFICE)
Office = Annotated[Principal, Depends(requires(*OFFICE_ROLES))]
SubjectCode = Annotated[str, Path(min_length=1, max_length=CODE_MAX_LENGTH)]
FilterCode = Annotated[str | None, Query(max_length=CODE_MAX_LENGTH)]
StatusFilter = Annotated[str | None, Query(max_length=16)]


def _fund_seen(ledger, principal: Principal, code: str) -> bool:  # noqa: ANN001
    fund = reads.guidance_fund(ledger, code)
    return fund is not None and fund_visible(principal, fund["code"], fund["region_code"])


def _pool_seen(ledger, principal: Principal, code: str) -> bool:  # noqa: ANN001
    """A pool is a funding level's finance office's to move money in (banks never file cash movements)."""
    pool = reads.pool(ledger, code)
    return pool is not None and pool_visible(principal, [funder["funder_code"] for funder in pool["funders"]], ())


def _visible_fund(ledger, principal: Principal, code: str) -> None:  # noqa: ANN001
    if not _fund_seen(ledger, principal, code):
        raise not_found("guidance fund", code)


def _visible_pool(ledger, principal: Principal, code: str) -> None:  # noqa: ANN001
    if not _pool_seen(ledger, principal, code):
        raise not_found("pool", code)


CASH_READ_ROLES = (Role.ADMIN, Role.FINANCE_OFFICE, Role.AUDITOR)
CashReader = Annotated[Principal, Depends(requires(*CASH_READ_ROLES))]
CashRequestPage = page_of(CashRequestOut)


def _cash_request_visible(ledger, principal: Principal, row: dict) -> bool:  # noqa: ANN001
    seen = _fund_seen if row["kind"] in cash.FUND_KINDS else _pool_seen
    return seen(ledger, principal, row["subject_code"])


def _visible_cash_request(ledger, principal: Principal, request_id: int, conn: Connection | None = None) -> dict:  # noqa: ANN001
    row = next((row for row in cash.cash_requests(ledger, conn=conn) if row["id"] == request_id), None)
    if row is None or not _cash_request_visible(ledger, principal, row):
        raise not_found("cash request", request_id)
    return row


def file_cash_request(
    ledger,  # noqa: ANN001
    uow: Connection,
    principal: Principal,
    response: Response,
    idempotency_key: str | None,
    kind: str,
    subject: str,
    on: date,
    **details: Any,
) -> CashRequestOut:
    """File a cash movement for a second person; 201 + Location (a replay of the key returns the same one)."""
    key = client_key(principal, idempotency_key)
    replayed = reads.request_recorded(uow, key)

    def command() -> CashRequestOut:
        request_id = cash.CashRequests(ledger).file(
            kind, subject, on, actor=principal.name, client_id=key, conn=uow, **details
        )
        return CashRequestOut.of(row_with_id(cash.cash_requests(ledger, conn=uow), request_id))

    outcome = run_command(ledger, uow, command, dry_run=False)
    return answer(response, outcome, dry_run=False, replayed=replayed, location=f"/v1/cash-requests/{outcome.id}")


@router.post(
    "/funds/{fund}/appropriations",
    response_model=CashRequestOut,
    status_code=201,
    responses=MONEY_REFUSED,
    openapi_extra=links.created(
        cash_request=links.to("/v1/cash-requests/{cash_request_id}", cash_request_id=links.created_field("id"))
    ),
)
def file_appropriation(
    fund: SubjectCode,
    body: CashMovementIn,
    principal: Office,
    ledger: LedgerDep,
    uow: UnitOfWork,
    response: Response,
    idempotency_key: IdempotencyKey = None,
):
    """财政出资 into the guidance fund, filed for approval by another person of the finance office."""
    _visible_fund(ledger, principal, fund)
    return file_cash_request(
        ledger, uow, principal, response, idempotency_key, cash.GF_APPROPRIATION, fund, body.on,
        amount=body.amount, approval_doc=body.approval_doc,
    )  # fmt: skip


@router.post(
    "/funds/{fund}/remittances",
    response_model=CashRequestOut,
    status_code=201,
    responses=MONEY_REFUSED,
    openapi_extra=links.created(
        cash_request=links.to("/v1/cash-requests/{cash_request_id}", cash_request_id=links.created_field("id"))
    ),
)
def file_remittance(
    fund: SubjectCode,
    body: CashMovementIn,
    principal: Office,
    ledger: LedgerDep,
    uow: UnitOfWork,
    response: Response,
    idempotency_key: IdempotencyKey = None,
):
    """上缴国库 from the guidance fund's bank account, filed for approval by another person."""
    _visible_fund(ledger, principal, fund)
    return file_cash_request(
        ledger, uow, principal, response, idempotency_key, cash.GF_REMITTANCE, fund, body.on, amount=body.amount
    )


@router.post(
    "/risk-pools/{pool}/contributions",
    response_model=CashRequestOut,
    status_code=201,
    responses=MONEY_REFUSED,
    openapi_extra=links.created(
        cash_request=links.to("/v1/cash-requests/{cash_request_id}", cash_request_id=links.created_field("id"))
    ),
)
def file_contribution(
    pool: SubjectCode,
    body: ContributionIn,
    principal: Office,
    ledger: LedgerDep,
    uow: UnitOfWork,
    response: Response,
    idempotency_key: IdempotencyKey = None,
):
    """A funding level's payment into the pool (its appropriation received), filed for a second person."""
    _visible_pool(ledger, principal, pool)
    return file_cash_request(
        ledger, uow, principal, response, idempotency_key, cash.POOL_CONTRIBUTION, pool, body.on,
        amount=body.amount, funder_code=body.funder_code, approval_doc=body.approval_doc,
    )  # fmt: skip


@router.post(
    "/risk-pools/{pool}/settlements",
    response_model=CashRequestOut,
    status_code=201,
    responses=MONEY_REFUSED,
    openapi_extra=links.created(
        cash_request=links.to("/v1/cash-requests/{cash_request_id}", cash_request_id=links.created_field("id"))
    ),
)
def file_settlement(
    pool: SubjectCode,
    body: PoolSettlementIn,
    principal: Office,
    ledger: LedgerDep,
    uow: UnitOfWork,
    response: Response,
    idempotency_key: IdempotencyKey = None,
):
    """A settlement run: pay approved claims still owed, pro rata when the pool is short, once approved."""
    _visible_pool(ledger, principal, pool)
    return file_cash_request(ledger, uow, principal, response, idempotency_key, cash.POOL_SETTLEMENT, pool, body.on)


@router.get(
    "/cash-requests",
    response_model=CashRequestPage,
    openapi_extra=links.listed(
        cash_request=links.to("/v1/cash-requests/{cash_request_id}", cash_request_id=links.first_item("id"))
    ),
)
def list_cash_requests(
    principal: CashReader,
    ledger: LedgerDep,
    page: PageParams,
    kind: Annotated[str | None, Query(pattern="^(" + "|".join(cash.KINDS) + ")$")] = None,
    subject: FilterCode = None,
    status: StatusFilter = None,
):
    rows = [
        row
        for row in cash.cash_requests(ledger)
        if _cash_request_visible(ledger, principal, row)
        and (kind is None or row["kind"] == kind)
        and (subject is None or row["subject_code"] == subject)
        and (status is None or row["status"] == status)
    ]
    return page_by_id(rows, page, {"kind": kind, "subject": subject, "status": status}, CashRequestOut.of)


@router.get("/cash-requests/{cash_request_id}", response_model=CashRequestOut)
def get_cash_request(cash_request_id: ObjectId, principal: CashReader, ledger: LedgerDep):
    return CashRequestOut.of(_visible_cash_request(ledger, principal, cash_request_id))


def _cash_left(ledger, row: dict, uow: Connection) -> str:  # noqa: ANN001
    book, path = gf_book(row["subject_code"]), "Assets:Bank"
    if row["kind"] in cash.POOL_KINDS:
        book, path = financial_book(row["subject_code"]), POOL_CASH
    return money(ledger.account(book, path, conn=uow).balance_fen)


@router.post(
    "/cash-requests/{cash_request_id}/approval", response_model=CashRequestOut | DryRunResult, responses=MONEY_REFUSED
)
def approve_cash_request(
    cash_request_id: ObjectId,
    principal: Office,
    ledger: LedgerDep,
    uow: UnitOfWork,
    response: Response,
    idempotency_key: IdempotencyKey = None,
    dry_run: DryRun = False,
):
    """Carry the movement out with the filer as recorder and the caller as approver (never the same person).
    The request is the service's key: its approver repeating the call gets the same result."""
    check_idempotency_key(idempotency_key)
    before = _visible_cash_request(ledger, principal, cash_request_id, uow)
    replayed = before["status"] == cash.APPROVED and before["approved_by"] == principal.name

    def command() -> tuple[CashRequestOut, str]:
        cash.CashRequests(ledger).approve(cash_request_id, approver=principal.name, conn=uow)
        row = row_with_id(cash.cash_requests(ledger, conn=uow), cash_request_id)
        return CashRequestOut.of(row), _cash_left(ledger, row, uow)

    outcome, cash_left = run_command(ledger, uow, command, dry_run=dry_run)
    binding = "pool_cash" if before["kind"] in cash.POOL_KINDS else "fund_cash"
    return answer(response, outcome, dry_run=dry_run, replayed=replayed, room_left=cash_left, binding_limit=binding)


@router.post("/cash-requests/{cash_request_id}/rejection", response_model=CashRequestOut)
def reject_cash_request(
    cash_request_id: ObjectId, body: CashRejectionIn, principal: Office, ledger: LedgerDep, uow: UnitOfWork
):
    _visible_cash_request(ledger, principal, cash_request_id, uow)

    def command() -> CashRequestOut:
        cash.CashRequests(ledger).reject(cash_request_id, approver=principal.name, reason=body.reason, conn=uow)
        return CashRequestOut.of(row_with_id(cash.cash_requests(ledger, conn=uow), cash_request_id))

    return run_command(ledger, uow, command, dry_run=False)
