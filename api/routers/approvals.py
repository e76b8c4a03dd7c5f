"""The approvals queue: every item waiting for a second person, across the domains.

Items: voucher programs, quota grants (submitted), payment batches (prepared), providers' voucher claims,
settlement runs and 通用 reimbursements (filed through the voucher routes), subsidy applications (submitted),
subsidy clawbacks (requested) and the funds' cash requests (appropriations, remittances, pool contributions and
settlement runs, read through ``funds.cash_requests``). Approving or rejecting calls the owning domain's service
with the caller as the checker; the service refuses the recorder (maker-checker is per person). Guidance-fund
commitments, calls, distributions and risk-pool claims are not listed: funds offers no listing of its waiting
items of those kinds; they are decided on their own routes.

An item's id is ``<kind>:<id>``. Deciding is money-moving: ``Idempotency-Key`` and ``?dry_run=true``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from sqlalchemy import Connection

from api import approval_requests as requests_store
from api.deps import LedgerDep, PageParams, UnitOfWork, paginate, requires
from api.problems import ApiProblem
from api.routers.transactions import DryRun, IdempotencyKey
from api.routers.vouchers import (
    CLAIM_REQUEST,
    PROGRAM_REQUEST,
    REIMBURSEMENT_REQUEST,
    ROW_ID_MAX,
    SETTLEMENT_REQUEST,
    RegionFilter,
)
from api.schemas.approvals import ApprovalIn, ApprovalItemOut, DecisionOut, RejectionIn
from api.schemas.core import page_of
from api.schemas.transactions import check_idempotency_key
from api.schemas.vouchers import WriteDryRunOut
from api.scopes import Principal, Role, fund_visible, pool_visible, region_prefix
from api.writes import Written, keyed_write
from funds import cash_requests as cash
from funds import reads as funds_reads
from ledger.engine import Ledger
from ledger.money import format_fen
from subsidies import listings as subsidy_listings
from subsidies.service import SubsidyService
from vouchers import listings as voucher_listings
from vouchers.config import ProgramConfig
from vouchers.grants import approve_grant, reject_grant
from vouchers.payments import approve_batch, pay_reimbursement
from vouchers.programs import create_program, require_maker_checker
from vouchers.redemptions import claim
from vouchers.settlement import settle

router = APIRouter(prefix="/v1", tags=["approvals"])
QueueReader = Annotated[Principal, Depends(requires(Role.ADMIN, Role.FINANCE_OFFICE, Role.AUDITOR))]
Checker = Annotated[Principal, Depends(requires(Role.ADMIN, Role.FINANCE_OFFICE))]
ITEM_PATTERN = r"^[a-z_]{1,40}:[1-9][0-9]{0,9}$"
ItemId = Annotated[str, Path(pattern=ITEM_PATTERN, examples=["voucher_grant:12"])]
VOUCHER_GRANT = "voucher_grant"
PAYMENT_BATCH = "voucher_payment_batch"
SUBSIDY_APPLICATION = "subsidy_application"
SUBSIDY_CLAWBACK = "subsidy_clawback"
FUNDS_CASH_REQUEST = "funds_cash_request"
STORED_KINDS = (PROGRAM_REQUEST, CLAIM_REQUEST, SETTLEMENT_REQUEST, REIMBURSEMENT_REQUEST)
KINDS = (VOUCHER_GRANT, PAYMENT_BATCH, *STORED_KINDS, SUBSIDY_APPLICATION, SUBSIDY_CLAWBACK, FUNDS_CASH_REQUEST)
APPROVAL_NOT_FOUND = "approval_not_found"
APPROVAL_CANNOT_BE_REJECTED = "approval_cannot_be_rejected"
SETTLEMENT_HAS_NOTHING_DUE = "settlement_has_nothing_due"
APPROVAL_ALREADY_DECIDED = "approval_already_decided"
ItemPage = page_of(ApprovalItemOut)


# ----- the queue ---------------------------------------------------------------------------------------


def _money(fen: int | None) -> str | None:
    return None if fen is None else format_fen(fen)


def _queue(ledger: Ledger, conn: Connection) -> list[ApprovalItemOut]:
    items = [
        ApprovalItemOut(
            id=f"{VOUCHER_GRANT}:{row['id']}",
            kind=VOUCHER_GRANT,
            subject=f"grant {row['id']} of program {row['program_code']}",
            region=row["region_code"],
            institution=row["enterprise_code"],
            amount=_money(row["requested_fen"]),
            recorded_by=row["maker"],
            recorded=row["submitted_on"].isoformat(),
            summary=f"创新券 quota for {row['enterprise_code']}",
        )
        for row in voucher_listings.grants(conn, status="submitted")
    ]
    items += [
        ApprovalItemOut(
            id=f"{PAYMENT_BATCH}:{row['id']}",
            kind=PAYMENT_BATCH,
            subject=f"payment batch {row['id']} ({row['period_label']})",
            region=row["region_code"],
            institution=None,
            amount=_money(row["total_fen"]),
            recorded_by=row["maker"],
            recorded=row["prepared_on"].isoformat(),
            summary=f"{row['line_count']} provider payments",
        )
        for row in voucher_listings.payment_batches(conn, status="prepared")
    ]
    items += [
        ApprovalItemOut(
            id=f"{row['kind']}:{row['id']}",
            kind=row["kind"],
            subject=row["subject"],
            region=row["region_code"],
            other_region=row["other_region_code"],
            institution=row["institution_code"],
            amount=_money(row["amount_fen"]),
            recorded_by=row["recorded_by"],
            recorded=row["recorded_at"].isoformat(),
            summary=_stored_summary(row),
        )
        for row in requests_store.pending_requests(conn)
    ]
    items += [
        ApprovalItemOut(
            id=f"{SUBSIDY_APPLICATION}:{row['id']}",
            kind=SUBSIDY_APPLICATION,
            subject=f"application {row['id']} to {row['program_code']} for {row['program_year']}",
            region=row["region_code"],
            institution=row["institution_code"],
            amount=None,
            recorded_by=row["submitted_by"],
            recorded=row["submitted_at"].isoformat(),
            summary="subsidy application",
        )
        for row in subsidy_listings.applications(conn, status="submitted")
    ]
    items += [
        ApprovalItemOut(
            id=f"{SUBSIDY_CLAWBACK}:{row['id']}",
            kind=SUBSIDY_CLAWBACK,
            subject=f"clawback {row['id']} of grant {row['grant_id']}",
            region=row["region_code"],
            institution=row["institution_code"],
            amount=_money(row["amount_fen"]),
            recorded_by=row["requested_by"],
            recorded=row["requested_at"].isoformat(),
            summary=row["reason"],
        )
        for row in subsidy_listings.clawbacks(conn, status="requested")
    ]
    items += [
        ApprovalItemOut(
            id=f"{FUNDS_CASH_REQUEST}:{row['id']}",
            kind=FUNDS_CASH_REQUEST,
            subject=f"{row['kind']} of {row['subject_code']}",
            region=None,
            institution=None,
            amount=_money(row["amount_fen"]),
            recorded_by=row["recorded_by"],
            recorded=row["recorded_at"].isoformat(),
            summary=row["kind"],
            funds_subject=(row["kind"], row["subject_code"]),
        )
        for row in cash.cash_requests(ledger, conn=conn)
        if row["status"] == cash.SUBMITTED
    ]
    return items


def _funds_subject_visible(ledger: Ledger, principal: Principal, kind: str, subject: str) -> bool:
    """A fund's cash request is its region's; a pool's is each funding level's (as ``/v1/cash-requests``)."""
    if kind in cash.FUND_KINDS:
        fund = funds_reads.guidance_fund(ledger, subject)
        return fund is not None and fund_visible(principal, fund["code"], fund["region_code"])
    pool = funds_reads.pool(ledger, subject)
    return pool is not None and pool_visible(principal, [funder["funder_code"] for funder in pool["funders"]], ())


def _stored_summary(row: dict) -> str:
    payload = row["payload"]
    if row["kind"] == CLAIM_REQUEST:
        return f"provider's claim, invoice {payload['invoice_no']}"
    if row["kind"] == PROGRAM_REQUEST:
        return f"创新券 program {payload['name']} ({payload['year']})"
    if row["kind"] == SETTLEMENT_REQUEST:
        return f"settlement {payload['region_a']}/{payload['region_b']} {payload['period_label']}"
    return "通用 reimbursement of the enterprise"


def _item_visible(ledger: Ledger, principal: Principal, item: ApprovalItemOut) -> bool:
    if item.funds_subject is not None:
        return _funds_subject_visible(ledger, principal, *item.funds_subject)
    return principal.covers_region(item.region) or principal.covers_region(item.other_region)


def _order(item: ApprovalItemOut) -> list:
    kind, _, number = item.id.partition(":")
    return [KINDS.index(kind), int(number)]


@router.get("/approvals", response_model=ItemPage)
def list_approvals(
    principal: QueueReader,
    ledger: LedgerDep,
    page: PageParams,
    kind: Annotated[str | None, Query(pattern="^(" + "|".join(KINDS) + ")$")] = None,
    region: RegionFilter = None,
):
    """Everything waiting for a second person in the caller's regions (an item between two regions shows in both)."""
    with ledger.reader.connect() as conn:
        items = [
            item
            for item in _queue(ledger, conn)
            if _item_visible(ledger, principal, item)
            and (kind is None or item.kind == kind)
            and (
                region is None
                or any((r or "").startswith(region_prefix(region)) for r in (item.region, item.other_region))
            )
        ]
    items.sort(key=_order)
    chunk, cursor = paginate(items, _order, page, {"kind": kind, "region": region})
    return {"items": chunk, "next_cursor": cursor}


def _not_found(item_id: str) -> ApiProblem:
    return ApiProblem(404, APPROVAL_NOT_FOUND, f"no item {item_id} is waiting for approval here")


def _waiting_item(ledger: Ledger, conn: Connection, principal: Principal, item_id: str) -> ApprovalItemOut:
    item = next((item for item in _queue(ledger, conn) if item.id == item_id), None)
    if item is None or not _item_visible(ledger, principal, item):
        raise _not_found(item_id)
    return item


@router.get("/approvals/{item_id}", response_model=ApprovalItemOut)
def get_approval(item_id: ItemId, principal: QueueReader, ledger: LedgerDep):
    with ledger.reader.connect() as conn:
        return _waiting_item(ledger, conn, principal, item_id)


# ----- deciding --------------------------------------------------------------------------------------


def _located_region(conn: Connection, kind: str, number: int) -> tuple[str | None, str | None] | None:
    """The regions of an item whatever its status (a decided item is still found, so that a retried decision
    reaches its service, which answers with the stored outcome or refuses it as already decided)."""
    if kind == VOUCHER_GRANT:
        row = voucher_listings.grant(conn, number)
        return None if row is None else (row["region_code"], None)
    if kind == PAYMENT_BATCH:
        row = voucher_listings.payment_batch(conn, number)
        return None if row is None else (row["region_code"], None)
    if kind in STORED_KINDS:
        row = requests_store.request_for_update(conn, number, postgres=False)
        return None if row is None or row["kind"] != kind else (row["region_code"], row["other_region_code"])
    if kind == SUBSIDY_APPLICATION:
        row = subsidy_listings.application(conn, number)
        return None if row is None else (row["region_code"], None)
    if kind == SUBSIDY_CLAWBACK:
        row = subsidy_listings.clawback(conn, number)
        return None if row is None else (row["region_code"], None)
    return None


def _located(ledger: Ledger, uow: Connection, principal: Principal, item_id: str) -> tuple[str, int]:
    kind, _, number_text = item_id.partition(":")
    number = int(number_text)
    if number > ROW_ID_MAX:
        raise _not_found(item_id)
    if kind == FUNDS_CASH_REQUEST:
        row = next((row for row in cash.cash_requests(ledger, conn=uow) if row["id"] == number), None)
        if row is None or not _funds_subject_visible(ledger, principal, row["kind"], row["subject_code"]):
            raise _not_found(item_id)
        return kind, number
    regions = _located_region(uow, kind, number) if kind in KINDS else None
    if regions is None or not any(principal.covers_region(region) for region in regions):
        raise _not_found(item_id)
    return kind, number


def _stored_pending(ledger: Ledger, conn: Connection, kind: str, number: int) -> dict:
    row = requests_store.request_for_update(conn, number, postgres=ledger.postgres)
    if row["status"] != requests_store.PENDING:
        raise ApiProblem(409, APPROVAL_ALREADY_DECIDED, f"{kind}:{number} was already {row['status']}")
    return row


def _approve(joined: Ledger, principal: Principal, kind: str, number: int, body: ApprovalIn) -> Written:
    checker, doc, on = principal.name, body.approval_doc, body.on
    if kind == VOUCHER_GRANT:
        decision = approve_grant(joined, number, checker=checker, approval_doc=doc, on=on)
        binding = decision.clipped_by or decision.warned_by
        result = {
            "grant_id": decision.grant_id,
            "requested": format_fen(decision.requested_fen),
            "granted": _money(decision.granted_fen),
            "clipped_by": decision.clipped_by,
            "warned_by": decision.warned_by,
        }
        return Written(result, f"/v1/vouchers/{number}", binding, "0.00" if decision.clipped_by else None)
    if kind == PAYMENT_BATCH:
        batch = approve_batch(joined, number, checker=checker, approval_doc=doc, on=on)
        return Written({"batch_id": number, "status": batch["status"], "total": format_fen(batch["total_fen"])})
    if kind == SUBSIDY_APPLICATION:
        outcome = SubsidyService(joined).approve(number, approver=checker, approval_doc=doc, on=on)
        result = {
            "grant_id": outcome.grant_id,
            "computed": format_fen(outcome.computed_fen),
            "granted": format_fen(outcome.granted_fen),
            "flags": [
                {"rule": flag.rule, "enforcement": flag.enforcement, "code": flag.code} for flag in outcome.flags
            ],
        }
        last = outcome.flags[-1] if outcome.flags else None
        room_left = None
        if last is not None and last.rule != "awardees_per_year":
            room_left = format_fen(max(last.room - last.granted_fen, 0))
        return Written(result, f"/v1/grants/{outcome.grant_id}", last.rule if last else None, room_left)
    if kind == SUBSIDY_CLAWBACK:
        SubsidyService(joined).approve_clawback(number, approver=checker, approval_doc=doc, on=on)
        return Written({"clawback_id": number, "status": "approved"})
    if kind == FUNDS_CASH_REQUEST:
        # the request carries its own date and document, as filed; the approval body's are not used
        done = cash.CashRequests(joined).approve(number, approver=checker)
        return Written({"cash_request_id": number, "status": "approved", "result": done}, f"/v1/cash-requests/{number}")
    return _approve_stored(joined, principal, kind, number, body)


def _approve_stored(joined: Ledger, principal: Principal, kind: str, number: int, body: ApprovalIn) -> Written:
    with joined.engine.begin() as conn:
        stored = _stored_pending(joined, conn, kind, number)
    payload, maker = stored["payload"], stored["recorded_by"]
    if kind == PROGRAM_REQUEST:
        config = ProgramConfig.from_dict(payload)
        create_program(joined, config, actor=maker, approver=principal.name, approval_doc=body.approval_doc, on=body.on)
        result: dict[str, Any] = {"program": config.code, "budget": format_fen(config.budget_fen)}
        location = f"/v1/voucher-programs/{config.code}"
    elif kind == CLAIM_REQUEST:
        redemption = claim(
            joined, int(stored["subject"]), invoice_no=payload["invoice_no"],
            invoiced_amount=payload["invoiced_amount"], requested_amount=payload.get("requested_amount"),
            on=body.on, actor=maker, verifier=principal.name,
        )  # fmt: skip
        result = {"redemption_id": redemption["id"], "claimed": _money(redemption["claimed_fen"])}
        location = f"/v1/redemptions/{redemption['id']}"
    elif kind == SETTLEMENT_REQUEST:
        settlement = settle(
            joined, payload["region_a"], payload["region_b"], period_label=payload["period_label"],
            period_start=date.fromisoformat(payload["period_start"]),
            period_end=date.fromisoformat(payload["period_end"]),
            on=body.on, actor=maker, approver=principal.name,
        )  # fmt: skip
        if settlement is None:
            raise ApiProblem(409, SETTLEMENT_HAS_NOTHING_DUE, "no claimed, unsettled redemption is due in this period")
        result = {
            "settlement_id": settlement["id"],
            "low_owes_high": format_fen(settlement["low_owes_high_fen"]),
            "high_owes_low": format_fen(settlement["high_owes_low_fen"]),
        }
        location = f"/v1/settlements/{settlement['id']}"
    else:
        redemption = pay_reimbursement(
            joined, int(stored["subject"]), maker=maker, checker=principal.name,
            approval_doc=body.approval_doc, on=body.on,
        )  # fmt: skip
        result = {"redemption_id": redemption["id"], "reimbursed_on": str(redemption["reimbursed_on"])}
        location = f"/v1/redemptions/{redemption['id']}"
    with joined.engine.begin() as conn:
        requests_store.decide(
            conn, number, status=requests_store.APPROVED, decided_by=principal.name, at=joined.clock(), reason=None
        )
    return Written(result, location)


def _reject(joined: Ledger, principal: Principal, kind: str, number: int, body: RejectionIn) -> Written:
    if kind == VOUCHER_GRANT:
        decision = reject_grant(joined, number, checker=principal.name, reason=body.reason, on=body.on)
        return Written({"grant_id": decision.grant_id, "status": decision.status}, f"/v1/vouchers/{number}")
    if kind == SUBSIDY_APPLICATION:
        SubsidyService(joined).reject(number, approver=principal.name, reason=body.reason)
        return Written({"application_id": number, "status": "rejected"}, f"/v1/subsidy-applications/{number}")
    if kind == FUNDS_CASH_REQUEST:
        cash.CashRequests(joined).reject(number, approver=principal.name, reason=body.reason)
        return Written({"cash_request_id": number, "status": "rejected"}, f"/v1/cash-requests/{number}")
    if kind in STORED_KINDS:
        with joined.engine.begin() as conn:
            stored = _stored_pending(joined, conn, kind, number)
            require_maker_checker(stored["recorded_by"], principal.name)
            requests_store.decide(
                conn, number, status=requests_store.REJECTED, decided_by=principal.name, at=joined.clock(),
                reason=body.reason,
            )  # fmt: skip
        return Written({"id": f"{kind}:{number}", "status": requests_store.REJECTED})
    raise ApiProblem(409, APPROVAL_CANNOT_BE_REJECTED, f"a {kind} is not rejected here: leave it or let it lapse")


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
    kind, number = _located(ledger, uow, principal, item_id)

    def produce(joined: Ledger) -> Written:
        written = decide(joined, principal, kind, number, body)
        out = DecisionOut(id=item_id, kind=kind, status=status, decided_by=principal.name, result=written.body)
        return Written(out.model_dump(mode="json"), written.location, written.binding_cap, written.room_left)

    return keyed_write(
        ledger, uow, principal, key, path=request.url.path, content=body.model_dump(mode="json"),
        produce=produce, response=response, dry_run=dry_run, created_status=200,
    )  # fmt: skip


@router.post(
    "/approvals/{item_id}/approve", response_model=DecisionOut | WriteDryRunOut, responses={404: {}, 409: {}, 422: {}}
)
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
        item_id, body, principal, ledger, uow, request, response, idempotency_key, dry_run, _approve, "approved"
    )


@router.post(
    "/approvals/{item_id}/reject", response_model=DecisionOut | WriteDryRunOut, responses={404: {}, 409: {}, 422: {}}
)
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
        item_id, body, principal, ledger, uow, request, response, idempotency_key, dry_run, _reject, "rejected"
    )
