"""Innovation vouchers: programs, grants (``/vouchers``), reservations, claims, cancellations, expiry and
reimbursements (settlements, payment batches, providers' payments and the usage report: ``voucher_settlements``).

Every money-moving POST needs an ``Idempotency-Key`` and answers ``?dry_run=true``; each runs one voucher service
inside the request's unit of work (``api.writes``). Steps that need a second person (a provider's claim, a
settlement, a 通用 reimbursement) are filed here and decided in ``/v1/approvals``."""

from __future__ import annotations

import hashlib
from contextlib import nullcontext
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from sqlalchemy import Connection

from api.approval_requests import file_request, pending_for_subject
from api.deps import LedgerDep, PageParams, UnitOfWork, paginate, requires
from api.problems import ApiCode, ApiProblem
from api.routers import links
from api.routers.transactions import DryRun, IdempotencyKey
from api.schemas.core import page_of
from api.schemas.transactions import check_idempotency_key
from api.schemas.vouchers import (
    CREDIT_CODE_PATTERN,
    REGION_PATTERN,
    CancellationIn,
    ClaimFiledOut,
    ClaimIn,
    ExpiryIn,
    ExpiryOut,
    ProgramFiledOut,
    RedemptionOut,
    ReimbursementIn,
    ReservationIn,
    VoucherGrantIn,
    VoucherGrantOut,
    VoucherProgramIn,
    VoucherProgramOut,
    WriteDryRunOut,
)
from api.scopes import (
    Principal,
    Role,
    institution_regions,
    program_visible,
    redemption_visible,
    region_prefix,
    voucher_grant_visible,
)
from api.writes import Written, keyed_write
from ledger.engine import Ledger
from ledger.errors import LedgerError
from ledger.money import format_fen
from ledger.numbers import parse_amount_fen
from vouchers import listings
from vouchers.codes import VoucherCode
from vouchers.config import ProgramConfig
from vouchers.expiry import run_expiry
from vouchers.redemptions import cancel, reserve

router = APIRouter(prefix="/v1", tags=["vouchers"])
VOUCHER_READ_ROLES = (Role.ADMIN, Role.FINANCE_OFFICE, Role.AUDITOR, Role.ENTERPRISE, Role.SERVICE_PROVIDER)
Reader = Annotated[Principal, Depends(requires(*VOUCHER_READ_ROLES))]
Office = Annotated[Principal, Depends(requires(Role.ADMIN, Role.FINANCE_OFFICE))]
OfficeReader = Annotated[Principal, Depends(requires(Role.ADMIN, Role.FINANCE_OFFICE, Role.AUDITOR))]
Applicant = Annotated[Principal, Depends(requires(Role.ADMIN, Role.FINANCE_OFFICE, Role.ENTERPRISE))]
Provider = Annotated[Principal, Depends(requires(Role.ADMIN, Role.SERVICE_PROVIDER))]
ProgramCode = Annotated[str, Path(min_length=1, max_length=40)]
# The domain tables' ids are 32-bit INTEGER columns: a larger id is refused as input, never sent to the database.
ROW_ID_MAX = 2_147_483_647
RowId = Annotated[int, Path(ge=1, le=ROW_ID_MAX)]
RegionFilter = Annotated[str | None, Query(pattern=REGION_PATTERN)]
InstitutionFilter = Annotated[str | None, Query(pattern=CREDIT_CODE_PATTERN)]
TextFilter = Annotated[str | None, Query(min_length=1, max_length=40)]
DateFrom = Annotated[date | None, Query(alias="from")]
DateTo = Annotated[date | None, Query(alias="to")]
SERVICE_KEY_MAX_LENGTH = 100
CLAIM_REQUEST = "voucher_claim"
SETTLEMENT_REQUEST = "voucher_settlement"
REIMBURSEMENT_REQUEST = "voucher_reimbursement"
PROGRAM_REQUEST = "voucher_program"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ProgramPage = page_of(VoucherProgramOut)
GrantPage = page_of(VoucherGrantOut)
RedemptionPage = page_of(RedemptionOut)


def service_key(principal: Principal, key: str) -> str:
    """The domain call's own key: the header within the caller's client (hashed when too long for its column)."""
    text = f"{principal.client}:{key}"
    if len(text) <= SERVICE_KEY_MAX_LENGTH:
        return text
    return "api:" + hashlib.sha256(text.encode()).hexdigest()


def not_found(code: VoucherCode, what: str) -> LedgerError:
    return LedgerError(code, f"{what} does not exist")


def _outside_scope(detail: str) -> ApiProblem:
    """Acting for a region outside the caller's scope (the region itself is no secret), as for books."""
    return ApiProblem(403, ApiCode.ROLE_FORBIDDEN, detail)


# ----- programs --------------------------------------------------------------------------------------


def _visible_program(ledger: Ledger, principal: Principal, code: str, conn: Connection | None = None) -> dict:
    """The program if the caller may know it (read on the request's unit of work when one is given)."""
    with ledger.reader.connect() if conn is None else nullcontext(conn) as c:
        row = listings.program(c, code)
    if row is None or not program_visible(principal, row["region_code"], institution_regions(ledger, principal)):
        raise not_found(VoucherCode.PROGRAM_NOT_FOUND, f"voucher program {code!r}")
    return row


@router.get(
    "/voucher-programs",
    response_model=ProgramPage,
    openapi_extra=links.listed(program=links.to("/v1/voucher-programs/{code}", code=links.first_item("code"))),
)
def list_programs(
    principal: Reader,
    ledger: LedgerDep,
    page: PageParams,
    region: RegionFilter = None,
    year: Annotated[int | None, Query(ge=1900, le=2999)] = None,
):
    registered = institution_regions(ledger, principal)
    with ledger.reader.connect() as conn:
        rows = [
            row
            for row in listings.programs(conn, year=year)
            if program_visible(principal, row["region_code"], registered)
            and (region is None or row["region_code"].startswith(_prefix(region)))
        ]
    items, cursor = paginate(
        [VoucherProgramOut.of(row) for row in rows], lambda p: p.code, page, {"region": region, "year": year}
    )
    return {"items": items, "next_cursor": cursor}


def _prefix(region: str) -> str:
    return region_prefix(region)


@router.get("/voucher-programs/{code}", response_model=VoucherProgramOut)
def get_program(code: ProgramCode, principal: Reader, ledger: LedgerDep):
    return VoucherProgramOut.of(_visible_program(ledger, principal, code))


@router.post("/voucher-programs", response_model=ProgramFiledOut, status_code=201, responses={409: {}, 422: {}})
def post_program(
    body: VoucherProgramIn,
    principal: Office,
    ledger: LedgerDep,
    uow: UnitOfWork,
    request: Request,
    response: Response,
    idempotency_key: IdempotencyKey = None,
):
    """Record a program of the office's region; a second person creates it, with its appropriation in the
    region's three books, by approving the item in ``/v1/approvals``."""
    key = check_idempotency_key(idempotency_key)
    if not principal.covers_region(body.region):
        raise _outside_scope(f"a program of region {body.region}, outside your scope")
    values = body.config_values()
    config = ProgramConfig.from_dict(values)  # refuses a configuration the service would refuse

    def produce(joined: Ledger) -> Written:
        with joined.engine.begin() as conn:
            if listings.program(conn, config.code) is not None or pending_for_subject(
                conn, PROGRAM_REQUEST, config.code
            ):
                raise LedgerError(
                    VoucherCode.PROGRAM_CONFIG_INVALID, f"program {config.code} exists or is awaiting approval"
                )
            request_id = file_request(
                conn, kind=PROGRAM_REQUEST, subject=config.code, payload=values, recorded_by=principal.name,
                recorded_at=ledger.clock(), region_code=config.region_code, amount_fen=config.budget_fen,
            )  # fmt: skip
        out = ProgramFiledOut(approval=f"{PROGRAM_REQUEST}:{request_id}", code=config.code)
        return Written(out.model_dump(mode="json"), f"/v1/approvals/{out.approval}")

    return keyed_write(
        ledger, uow, principal, key, path=request.url.path, content=body.model_dump(mode="json"),
        produce=produce, response=response,
    )  # fmt: skip


@router.post(
    "/voucher-programs/{code}/expiry",
    response_model=ExpiryOut | WriteDryRunOut,
    status_code=201,
    responses={409: {}, 422: {}},
)
def post_expiry(
    code: ProgramCode,
    body: ExpiryIn,
    principal: Office,
    ledger: LedgerDep,
    uow: UnitOfWork,
    request: Request,
    response: Response,
    idempotency_key: IdempotencyKey = None,
    dry_run: DryRun = False,
):
    """Void reservations past redeem-by and return unused quota past use-by to the program's budget."""
    key = check_idempotency_key(idempotency_key)
    _visible_program(ledger, principal, code, uow)

    def produce(joined: Ledger) -> Written:
        result = run_expiry(joined, code, as_of=body.as_of, actor=principal.name)
        out = ExpiryOut(
            program=result.program,
            reservations_voided=result.reservations_voided,
            quotas_returned=result.quotas_returned,
            returned=format_fen(result.returned_fen),
        )
        return Written(out.model_dump(mode="json"), f"/v1/voucher-programs/{code}")

    return keyed_write(
        ledger, uow, principal, key, path=request.url.path, content=body.model_dump(mode="json"),
        produce=produce, response=response, dry_run=dry_run,
    )  # fmt: skip


# ----- grants of quota -------------------------------------------------------------------------------


@router.get(
    "/vouchers",
    response_model=GrantPage,
    openapi_extra=links.listed(voucher=links.to("/v1/vouchers/{voucher_id}", voucher_id=links.first_item("id"))),
)
def list_grants(
    principal: Reader,
    ledger: LedgerDep,
    page: PageParams,
    region: RegionFilter = None,
    program: TextFilter = None,
    institution: InstitutionFilter = None,
    status: Annotated[str | None, Query(pattern="^(submitted|approved|rejected)$")] = None,
    date_from: DateFrom = None,
    date_to: DateTo = None,
):
    with ledger.reader.connect() as conn:
        rows = listings.grants(
            conn, program=program, enterprise=institution, status=status, date_from=date_from, date_to=date_to
        )
    rows = [
        row
        for row in rows
        if voucher_grant_visible(principal, row) and (region is None or row["region_code"].startswith(_prefix(region)))
    ]
    filters = {
        "region": region,
        "program": program,
        "institution": institution,
        "status": status,
        "from": date_from,
        "to": date_to,
    }
    items, cursor = paginate([VoucherGrantOut.of(row) for row in rows], lambda g: g.id, page, filters)
    return {"items": items, "next_cursor": cursor}


@router.get("/vouchers/{voucher_id}", response_model=VoucherGrantOut)
def get_grant(voucher_id: RowId, principal: Reader, ledger: LedgerDep):
    """A quota grant (its id is the grant's)."""
    with ledger.reader.connect() as conn:
        row = listings.grant(conn, voucher_id)
    if row is None or not voucher_grant_visible(principal, row):
        raise not_found(VoucherCode.GRANT_NOT_FOUND, f"grant {voucher_id}")
    return VoucherGrantOut.of(row)


@router.post(
    "/vouchers",
    response_model=VoucherGrantOut | WriteDryRunOut,
    status_code=201,
    responses={409: {}, 422: {}},
    openapi_extra=links.created(voucher=links.to("/v1/vouchers/{voucher_id}", voucher_id=links.created_field("id"))),
)
def post_grant(
    body: VoucherGrantIn,
    principal: Applicant,
    ledger: LedgerDep,
    uow: UnitOfWork,
    request: Request,
    response: Response,
    idempotency_key: IdempotencyKey = None,
    dry_run: DryRun = False,
):
    """Request quota for an enterprise (the maker's step); a finance office decides it in ``/v1/approvals``."""
    from vouchers.grants import grant_room, submit_grant

    key = check_idempotency_key(idempotency_key)
    program = _visible_program(ledger, principal, body.program, uow)
    _require_enterprise_in_scope(ledger, principal, body.enterprise, program["region_code"])

    def produce(joined: Ledger) -> Written:
        grant_id = submit_grant(
            joined, body.program, body.enterprise, body.amount,
            maker=principal.name, on=body.on, client_id=service_key(principal, key),
        )  # fmt: skip
        row = _grant_row(joined, grant_id)
        with joined.engine.connect() as conn:
            room_fen, binding = grant_room(conn, body.program, body.enterprise)
        return Written(
            VoucherGrantOut.of(row).model_dump(mode="json"),
            f"/v1/vouchers/{grant_id}",
            binding_cap=binding,
            # what an approval of this request in full would leave (below zero past a warn cap)
            room_left=format_fen(room_fen - row["requested_fen"]),
        )

    return keyed_write(
        ledger, uow, principal, key, path=request.url.path, content=body.model_dump(mode="json"),
        produce=produce, response=response, dry_run=dry_run,
    )  # fmt: skip


def _grant_row(joined: Ledger, grant_id: int) -> dict:
    with joined.engine.connect() as conn:
        return listings.grant(conn, grant_id)


def _require_enterprise_in_scope(ledger: Ledger, principal: Principal, enterprise: str, program_region: str) -> None:
    """An enterprise acts for itself; an office for enterprises of its region (else: not known to it)."""
    entity = ledger.entity(enterprise)
    region = entity.get("region_code") if entity else None
    if principal.role is Role.ENTERPRISE:
        allowed = enterprise in principal.institutions()
    else:
        allowed = principal.covers_region(region) or principal.covers_region(program_region)
    if not allowed:
        raise LedgerError(VoucherCode.ENTERPRISE_MUST_BE_ELIGIBLE, f"enterprise {enterprise} is not known here")


# ----- redemptions -----------------------------------------------------------------------------------


@router.get(
    "/redemptions",
    response_model=RedemptionPage,
    openapi_extra=links.listed(
        redemption=links.to("/v1/redemptions/{redemption_id}", redemption_id=links.first_item("id"))
    ),
)
def list_redemptions(
    principal: Reader,
    ledger: LedgerDep,
    page: PageParams,
    region: RegionFilter = None,
    program: TextFilter = None,
    institution: InstitutionFilter = None,
    status: Annotated[str | None, Query(pattern="^(reserved|claimed|cancelled|expired)$")] = None,
    date_from: DateFrom = None,
    date_to: DateTo = None,
):
    """``institution`` matches the enterprise or the provider; ``region`` either side of the redemption."""
    with ledger.reader.connect() as conn:
        rows = listings.redemptions(conn, program=program, status=status, date_from=date_from, date_to=date_to)
    rows = [
        row
        for row in rows
        if redemption_visible(principal, row)
        and (institution is None or institution in (row["enterprise_code"], row["provider_code"]))
        and (
            region is None
            or any(row[side].startswith(_prefix(region)) for side in ("enterprise_region", "provider_region"))
        )
    ]
    filters = {
        "region": region,
        "program": program,
        "institution": institution,
        "status": status,
        "from": date_from,
        "to": date_to,
    }
    items, cursor = paginate([RedemptionOut.of(row) for row in rows], lambda r: r.id, page, filters)
    return {"items": items, "next_cursor": cursor}


def _visible_redemption(conn, principal: Principal, redemption_id: int) -> dict:  # noqa: ANN001
    row = listings.redemption(conn, redemption_id)
    if row is None or not redemption_visible(principal, row):
        raise not_found(VoucherCode.REDEMPTION_NOT_FOUND, f"redemption {redemption_id}")
    return row


@router.get("/redemptions/{redemption_id}", response_model=RedemptionOut)
def get_redemption(redemption_id: RowId, principal: Reader, ledger: LedgerDep):
    with ledger.reader.connect() as conn:
        return RedemptionOut.of(_visible_redemption(conn, principal, redemption_id))


@router.post(
    "/redemptions",
    response_model=RedemptionOut | WriteDryRunOut,
    status_code=201,
    responses={409: {}, 422: {}},
    openapi_extra=links.created(
        redemption=links.to("/v1/redemptions/{redemption_id}", redemption_id=links.created_field("id")),
        cancel=links.to("/v1/redemptions/{redemption_id}/cancel", "post", redemption_id=links.created_field("id")),
    ),
)
def post_reservation(
    body: ReservationIn,
    principal: Applicant,
    ledger: LedgerDep,
    uow: UnitOfWork,
    request: Request,
    response: Response,
    idempotency_key: IdempotencyKey = None,
    dry_run: DryRun = False,
):
    """Reserve quota for a service contract: min(co-pay ratio x contract, per-application amount, quota left)."""
    key = check_idempotency_key(idempotency_key)
    program = _visible_program(ledger, principal, body.program, uow)
    _require_enterprise_in_scope(ledger, principal, body.enterprise, program["region_code"])

    def produce(joined: Ledger) -> Written:
        row = reserve(
            joined, body.program, enterprise=body.enterprise, provider=body.provider, category=body.category,
            contract_no=body.contract_no, contract_amount=body.contract_amount, on=body.on,
            actor=principal.name, mode=body.mode,
        )  # fmt: skip
        # warn: the per-application amount was gone beyond (flagged); otherwise nothing reports a binding cap
        return Written(
            RedemptionOut.of(row).model_dump(mode="json"), f"/v1/redemptions/{row['id']}", binding_cap=row["warned_by"]
        )

    return keyed_write(
        ledger, uow, principal, key, path=request.url.path, content=body.model_dump(mode="json"),
        produce=produce, response=response, dry_run=dry_run,
    )  # fmt: skip


@router.post(
    "/redemptions/{redemption_id}/cancel",
    response_model=RedemptionOut | WriteDryRunOut,
    status_code=200,
    responses={409: {}},
)
def post_cancellation(
    redemption_id: RowId,
    body: CancellationIn,
    principal: Applicant,
    ledger: LedgerDep,
    uow: UnitOfWork,
    request: Request,
    response: Response,
    idempotency_key: IdempotencyKey = None,
    dry_run: DryRun = False,
):
    """A cancelled service contract voids its reservation: the quota is available again."""
    key = check_idempotency_key(idempotency_key)
    row = _visible_redemption(uow, principal, redemption_id)
    if principal.role is Role.ENTERPRISE and row["enterprise_code"] not in principal.institutions():
        raise not_found(VoucherCode.REDEMPTION_NOT_FOUND, f"redemption {redemption_id}")
    if principal.role is Role.FINANCE_OFFICE and not principal.covers_region(row["enterprise_region"]):
        raise _outside_scope("only the issuing region's office cancels a reservation (the provider's region sees it)")

    def produce(joined: Ledger) -> Written:
        done = cancel(joined, redemption_id, actor=principal.name, reason=body.reason, on=body.on)
        return Written(RedemptionOut.of(done).model_dump(mode="json"), f"/v1/redemptions/{redemption_id}")

    return keyed_write(
        ledger, uow, principal, key, path=request.url.path, content=body.model_dump(mode="json"),
        produce=produce, response=response, dry_run=dry_run, created_status=200,
    )  # fmt: skip


@router.post("/redemptions/{redemption_id}/claim", response_model=ClaimFiledOut, status_code=201)
def post_claim(
    redemption_id: RowId,
    body: ClaimIn,
    principal: Provider,
    ledger: LedgerDep,
    uow: UnitOfWork,
    request: Request,
    response: Response,
    idempotency_key: IdempotencyKey = None,
):
    """The provider files its invoice against its own redemption. The claim posts when a finance office verifies
    it in ``/v1/approvals`` (the verifier is never the filer)."""
    key = check_idempotency_key(idempotency_key)
    row = _visible_redemption(uow, principal, redemption_id)
    if principal.role is Role.SERVICE_PROVIDER and row["provider_code"] not in principal.institutions():
        raise not_found(VoucherCode.REDEMPTION_NOT_FOUND, f"redemption {redemption_id}")
    content = body.model_dump(mode="json")

    def produce(joined: Ledger) -> Written:
        with joined.engine.begin() as conn:
            _refuse_unclaimable(conn, row)
            request_id = file_request(
                conn, kind=CLAIM_REQUEST, subject=str(redemption_id), payload=content, recorded_by=principal.name,
                recorded_at=ledger.clock(), region_code=row["enterprise_region"],
                other_region_code=row["provider_region"], institution_code=row["provider_code"],
                amount_fen=parse_amount_fen(body.requested_amount or body.invoiced_amount),
            )  # fmt: skip
        out = ClaimFiledOut(
            approval=f"{CLAIM_REQUEST}:{request_id}",
            redemption_id=redemption_id,
            invoice_no=body.invoice_no,
            invoiced=format_fen(parse_amount_fen(body.invoiced_amount)),
        )
        return Written(out.model_dump(mode="json"), f"/v1/approvals/{out.approval}")

    return keyed_write(
        ledger, uow, principal, key, path=request.url.path, content=content, produce=produce, response=response
    )


def _refuse_unclaimable(conn, row: dict) -> None:  # noqa: ANN001
    if row["status"] != "reserved":
        raise LedgerError(
            VoucherCode.REDEMPTION_MUST_BE_RESERVED, f"redemption {row['id']} is {row['status']}, not reserved"
        )
    if pending_for_subject(conn, CLAIM_REQUEST, str(row["id"])) is not None:
        raise LedgerError(
            VoucherCode.REDEMPTION_CLAIMED_ONCE, f"redemption {row['id']} already has a claim awaiting verification"
        )


@router.post("/redemptions/{redemption_id}/reimbursement", status_code=201, responses={409: {}})
def post_reimbursement(
    redemption_id: RowId,
    body: ReimbursementIn,
    principal: Office,
    ledger: LedgerDep,
    uow: UnitOfWork,
    request: Request,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """File the reimbursement of a 通用 enterprise (it paid the provider in full); a second person of the finance
    office pays it by approving the item in ``/v1/approvals``."""
    key = check_idempotency_key(idempotency_key)
    row = _visible_redemption(uow, principal, redemption_id)
    if not principal.covers_region(row["enterprise_region"]):
        raise not_found(VoucherCode.REDEMPTION_NOT_FOUND, f"redemption {redemption_id}")
    content = body.model_dump(mode="json")

    def produce(joined: Ledger) -> Written:
        if row["mode"] != "tongyong" or row["status"] != "claimed":
            raise LedgerError(
                VoucherCode.REIMBURSEMENT_MUST_BE_A_CLAIMED_TONGYONG_REDEMPTION,
                f"redemption {redemption_id} is a {row['status']} {row['mode']} redemption, not a claimed 通用 one",
            )
        with joined.engine.begin() as conn:
            request_id = file_request(
                conn, kind=REIMBURSEMENT_REQUEST, subject=str(redemption_id), payload=content,
                recorded_by=principal.name, recorded_at=ledger.clock(), region_code=row["enterprise_region"],
                institution_code=row["enterprise_code"], amount_fen=row["claimed_fen"],
            )  # fmt: skip
        approval = f"{REIMBURSEMENT_REQUEST}:{request_id}"
        return Written(
            {"approval": approval, "redemption_id": redemption_id, "status": "pending"}, f"/v1/approvals/{approval}"
        )

    return keyed_write(
        ledger, uow, principal, key, path=request.url.path, content=content, produce=produce, response=response
    )
