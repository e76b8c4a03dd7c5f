"""Innovation vouchers: programs, grants (``/vouchers``), reservations, claims, cancellations, expiry, settlements
with statements, payment batches, reimbursements, and the voucher-usage report.

Every money-moving POST needs an ``Idempotency-Key`` and answers ``?dry_run=true``; each runs one voucher service
inside the request's unit of work (``api.writes``). Steps that need a second person (a provider's claim, a
settlement, a 通用 reimbursement) are filed here and decided in ``/v1/approvals``."""

from __future__ import annotations

import csv
import hashlib
import io
from contextlib import nullcontext
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from sqlalchemy import Connection

from api.approval_requests import file_request, pending_for_subject
from api.deps import LedgerDep, PageParams, UnitOfWork, paginate, requires
from api.problems import ApiCode, ApiProblem
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
    PaymentBatchIn,
    PaymentBatchOut,
    ProgramFiledOut,
    ProviderPaymentOut,
    RedemptionOut,
    ReimbursementIn,
    ReservationIn,
    SettlementIn,
    SettlementOut,
    StatementItemOut,
    StatementOut,
    UsageFlowOut,
    UsageRegionOut,
    VoucherGrantIn,
    VoucherGrantOut,
    VoucherProgramIn,
    VoucherProgramOut,
    VoucherUsageOut,
    WriteDryRunOut,
)
from api.scopes import (
    Principal,
    Role,
    institution_regions,
    program_visible,
    redemption_visible,
    region_prefix,
    settlement_visible,
    voucher_grant_visible,
)
from api.writes import Written, keyed_write
from ledger.engine import Ledger
from ledger.errors import LedgerError, ResultCode
from ledger.money import format_fen
from ledger.numbers import parse_amount_fen
from vouchers import listings
from vouchers.codes import VoucherCode
from vouchers.config import ProgramConfig
from vouchers.expiry import run_expiry
from vouchers.payments import get_batch, prepare_batch, quarter
from vouchers.redemptions import cancel, reserve
from vouchers.settlement import statement
from vouchers.views import provider_payments

router = APIRouter(prefix="/v1", tags=["vouchers"])
VOUCHER_READ_ROLES = (Role.ADMIN, Role.FINANCE_OFFICE, Role.AUDITOR, Role.ENTERPRISE, Role.SERVICE_PROVIDER)
Reader = Annotated[Principal, Depends(requires(*VOUCHER_READ_ROLES))]
Office = Annotated[Principal, Depends(requires(Role.ADMIN, Role.FINANCE_OFFICE))]
OfficeReader = Annotated[Principal, Depends(requires(Role.ADMIN, Role.FINANCE_OFFICE, Role.AUDITOR))]
Applicant = Annotated[Principal, Depends(requires(Role.ADMIN, Role.FINANCE_OFFICE, Role.ENTERPRISE))]
Provider = Annotated[Principal, Depends(requires(Role.ADMIN, Role.SERVICE_PROVIDER))]
ProgramCode = Annotated[str, Path(min_length=1, max_length=40)]
RowId = Annotated[int, Path(ge=1, le=2**62)]
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
USAGE_CSV_HEADER = ["区域", "核销笔数", "核销金额(元)", "本地(元)", "跨区域流出(元)", "跨区域流入(元)"]
FLOW_CSV_HEADER = [
    "企业所在区域",
    "服务机构所在区域",
    "模式",
    "笔数",
    "核销金额(元)",
    "企业区域分担(元)",
    "服务区域分担(元)",
]
ProgramPage = page_of(VoucherProgramOut)
GrantPage = page_of(VoucherGrantOut)
RedemptionPage = page_of(RedemptionOut)
SettlementPage = page_of(SettlementOut)
BatchPage = page_of(PaymentBatchOut)


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


@router.get("/voucher-programs", response_model=ProgramPage)
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


@router.get("/vouchers", response_model=GrantPage)
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
    "/vouchers", response_model=VoucherGrantOut | WriteDryRunOut, status_code=201, responses={409: {}, 422: {}}
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
    from vouchers.grants import submit_grant

    key = check_idempotency_key(idempotency_key)
    program = _visible_program(ledger, principal, body.program, uow)
    _require_enterprise_in_scope(ledger, principal, body.enterprise, program["region_code"])

    def produce(joined: Ledger) -> Written:
        grant_id = submit_grant(
            joined, body.program, body.enterprise, body.amount,
            maker=principal.name, on=body.on, client_id=service_key(principal, key),
        )  # fmt: skip
        row = _grant_row(joined, grant_id)
        return Written(VoucherGrantOut.of(row).model_dump(mode="json"), f"/v1/vouchers/{grant_id}")

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


@router.get("/redemptions", response_model=RedemptionPage)
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
    "/redemptions", response_model=RedemptionOut | WriteDryRunOut, status_code=201, responses={409: {}, 422: {}}
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
                institution_code=row["enterprise_code"], amount_fen=row["enterprise_share_fen"],
            )  # fmt: skip
        approval = f"{REIMBURSEMENT_REQUEST}:{request_id}"
        return Written(
            {"approval": approval, "redemption_id": redemption_id, "status": "pending"}, f"/v1/approvals/{approval}"
        )

    return keyed_write(
        ledger, uow, principal, key, path=request.url.path, content=content, produce=produce, response=response
    )


PaymentPage = page_of(ProviderPaymentOut)


@router.get("/providers/{credit_code}/payments", response_model=PaymentPage)
def provider_payment_list(
    credit_code: Annotated[str, Path(pattern=CREDIT_CODE_PATTERN)],
    principal: Reader,
    ledger: LedgerDep,
    page: PageParams,
):
    """A provider's redemptions with their payment status: the provider itself, and the offices and auditors of
    a region on either side of each redemption."""
    rows = provider_payments(ledger, credit_code, limit=listings.LISTING_ROWS_MAX)
    if principal.role is Role.SERVICE_PROVIDER and credit_code not in principal.institutions():
        rows = []
    rows = [row for row in rows if redemption_visible(principal, row)]
    if not rows and not _provider_known(ledger, principal, credit_code):
        raise LedgerError(ResultCode.ENTITY_NOT_FOUND, f"provider {credit_code} is not known")
    items, cursor = paginate([ProviderPaymentOut.of(row) for row in rows], lambda p: p.redemption_id, page, {})
    return {"items": items, "next_cursor": cursor}


def _provider_known(ledger: Ledger, principal: Principal, credit_code: str) -> bool:
    entity = ledger.entity(credit_code)
    return principal.covers_institution(credit_code, entity.get("region_code") if entity else None)


# ----- settlements ---------------------------------------------------------------------------------------


@router.get("/settlements", response_model=SettlementPage)
def list_settlements(principal: OfficeReader, ledger: LedgerDep, page: PageParams, region: RegionFilter = None):
    with ledger.reader.connect() as conn:
        rows = [
            row
            for row in listings.settlements(conn)
            if settlement_visible(principal, row)
            and (region is None or any(row[s].startswith(_prefix(region)) for s in ("region_low", "region_high")))
        ]
    items, cursor = paginate([SettlementOut.of(row) for row in rows], lambda s: s.id, page, {"region": region})
    return {"items": items, "next_cursor": cursor}


def _visible_settlement(ledger: Ledger, principal: Principal, settlement_id: int) -> dict:
    with ledger.reader.connect() as conn:
        row = listings.settlement(conn, settlement_id)
    if row is None or not settlement_visible(principal, row):
        raise not_found(VoucherCode.SETTLEMENT_NOT_FOUND, f"settlement {settlement_id}")
    return row


@router.get("/settlements/{settlement_id}", response_model=SettlementOut)
def get_settlement(settlement_id: RowId, principal: OfficeReader, ledger: LedgerDep):
    return SettlementOut.of(_visible_settlement(ledger, principal, settlement_id))


@router.get("/settlements/{settlement_id}/statement", response_model=StatementOut)
def get_statement(
    settlement_id: RowId,
    principal: OfficeReader,
    ledger: LedgerDep,
    region: Annotated[
        str | None, Query(pattern=REGION_PATTERN, description="the side whose book is read (default: yours)")
    ] = None,
):
    """One side's statement, every figure read from that region's own financial book."""
    settlement = _visible_settlement(ledger, principal, settlement_id)
    if region is None:
        sides = (settlement["region_low"], settlement["region_high"])
        region = next(side for side in sides if principal.covers_region(side))
    if not principal.covers_region(region):
        raise not_found(VoucherCode.SETTLEMENT_NOT_FOUND, f"settlement {settlement_id} for region {region}")
    side = statement(ledger, settlement_id, region)
    return StatementOut(
        settlement_id=settlement_id,
        region=side.region,
        counterparty=side.counterparty,
        period_label=side.period_label,
        items=[
            StatementItemOut(
                redemption=item["redemption"],
                contract_no=item["contract_no"],
                mode=item["mode"],
                payable=format_fen(item["payable_fen"]),
                receivable=format_fen(item["receivable_fen"]),
            )
            for item in side.items
        ],
        payable=format_fen(side.payable_fen),
        receivable=format_fen(side.receivable_fen),
        net_payable=format_fen(side.net_payable_fen),
        settled_payable=format_fen(side.settled_payable_fen),
        settled_receivable=format_fen(side.settled_receivable_fen),
        cash_paid=format_fen(side.cash_paid_fen),
        unsettled=format_fen(side.unsettled_fen),
    )


@router.post("/settlements", status_code=201, responses={409: {}})
def post_settlement(
    body: SettlementIn,
    principal: Office,
    ledger: LedgerDep,
    uow: UnitOfWork,
    request: Request,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """File a settlement run of a region pair and period; a second person approves it in ``/v1/approvals``."""
    key = check_idempotency_key(idempotency_key)
    if not (principal.covers_region(body.region_a) or principal.covers_region(body.region_b)):
        raise _outside_scope("a settlement between two regions outside your scope")
    if body.region_a == body.region_b:
        raise LedgerError(VoucherCode.SETTLEMENT_NEEDS_TWO_REGIONS, "a settlement is between two different regions")
    content = body.model_dump(mode="json")

    def produce(joined: Ledger) -> Written:
        with joined.engine.begin() as conn:
            request_id = file_request(
                conn, kind=SETTLEMENT_REQUEST, subject=f"{body.region_a}/{body.region_b}/{body.period_label}",
                payload=content, recorded_by=principal.name, recorded_at=ledger.clock(),
                region_code=body.region_a, other_region_code=body.region_b,
            )  # fmt: skip
        approval = f"{SETTLEMENT_REQUEST}:{request_id}"
        return Written({"approval": approval, "status": "pending"}, f"/v1/approvals/{approval}")

    return keyed_write(
        ledger, uow, principal, key, path=request.url.path, content=content, produce=produce, response=response
    )


# ----- payment batches -------------------------------------------------------------------------------


@router.get("/payment-batches", response_model=BatchPage)
def list_batches(
    principal: OfficeReader,
    ledger: LedgerDep,
    page: PageParams,
    status: Annotated[str | None, Query(pattern="^(prepared|paid)$")] = None,
):
    with ledger.reader.connect() as conn:
        rows = [
            row for row in listings.payment_batches(conn, status=status) if principal.covers_region(row["region_code"])
        ]
    items, cursor = paginate([PaymentBatchOut.of(row) for row in rows], lambda b: b.id, page, {"status": status})
    return {"items": items, "next_cursor": cursor}


@router.get("/payment-batches/{batch_id}", response_model=PaymentBatchOut)
def get_payment_batch(batch_id: RowId, principal: OfficeReader, ledger: LedgerDep):
    try:
        row = get_batch(ledger, batch_id)
    except LedgerError:
        row = None
    if row is None or not principal.covers_region(row["region_code"]):
        raise not_found(VoucherCode.PAYMENT_BATCH_NOT_FOUND, f"payment batch {batch_id}")
    return PaymentBatchOut.of(row)


@router.post(
    "/payment-batches", response_model=PaymentBatchOut | WriteDryRunOut, status_code=201, responses={409: {}, 422: {}}
)
def post_payment_batch(
    body: PaymentBatchIn,
    principal: Office,
    ledger: LedgerDep,
    uow: UnitOfWork,
    request: Request,
    response: Response,
    idempotency_key: IdempotencyKey = None,
    dry_run: DryRun = False,
):
    """Prepare the quarter's batch of claimed, unpaid provider payables of a region (nothing is paid until a
    second person approves it in ``/v1/approvals``)."""
    key = check_idempotency_key(idempotency_key)
    if not principal.covers_region(body.region):
        raise _outside_scope(f"a payment batch of region {body.region}, outside your scope")

    def produce(joined: Ledger) -> Written:
        batch = prepare_batch(
            joined, body.region, **quarter(body.period_label), maker=principal.name, on=body.on,
            redemption_ids=body.redemption_ids,
        )  # fmt: skip
        return Written(PaymentBatchOut.of(batch).model_dump(mode="json"), f"/v1/payment-batches/{batch['id']}")

    return keyed_write(
        ledger, uow, principal, key, path=request.url.path, content=body.model_dump(mode="json"),
        produce=produce, response=response, dry_run=dry_run,
    )  # fmt: skip


# ----- report: voucher usage by region and cross-region flows -------------------------------------------


def _usage(ledger: Ledger, principal: Principal, year: int | None, region: str | None) -> VoucherUsageOut:
    with ledger.reader.connect() as conn:
        flows = listings.usage_flows(conn, year=year)

    def shown(region_code: str) -> bool:
        wanted = region is None or region_code.startswith(_prefix(region))
        return wanted and principal.covers_region(region_code)

    flows = [flow for flow in flows if shown(flow["enterprise_region"]) or shown(flow["provider_region"])]
    totals: dict[str, dict[str, int]] = {}
    for flow in flows:
        home, away = flow["enterprise_region"], flow["provider_region"]
        for code in {home, away}:
            if shown(code):
                totals.setdefault(code, {"redemptions": 0, "claimed": 0, "local": 0, "out": 0, "in": 0})
        if home == away:
            totals[home]["redemptions"] += flow["redemptions"]
            totals[home]["claimed"] += flow["claimed_fen"]
            totals[home]["local"] += flow["claimed_fen"]
            continue
        if shown(home):
            totals[home]["redemptions"] += flow["redemptions"]
            totals[home]["claimed"] += flow["claimed_fen"]
            totals[home]["out"] += flow["claimed_fen"]
        if shown(away):
            totals[away]["in"] += flow["claimed_fen"]
    return VoucherUsageOut(
        year=year,
        regions=[
            UsageRegionOut(
                region=code,
                redemptions=values["redemptions"],
                claimed=format_fen(values["claimed"]),
                local=format_fen(values["local"]),
                cross_region_out=format_fen(values["out"]),
                cross_region_in=format_fen(values["in"]),
            )
            for code, values in sorted(totals.items())
        ],
        flows=[
            UsageFlowOut(
                enterprise_region=flow["enterprise_region"],
                provider_region=flow["provider_region"],
                mode=flow["mode"],
                redemptions=flow["redemptions"],
                claimed=format_fen(flow["claimed_fen"]),
                enterprise_share=format_fen(flow["enterprise_share_fen"]),
                provider_share=format_fen(flow["provider_share_fen"]),
            )
            for flow in flows
        ],
    )


UsageYear = Annotated[int | None, Query(ge=1900, le=2999)]


@router.get("/reports/voucher-usage", response_model=VoucherUsageOut)
def voucher_usage(principal: OfficeReader, ledger: LedgerDep, year: UsageYear = None, region: RegionFilter = None):
    """Claimed vouchers per region (local, flowing out to other regions' providers, flowing in) and every
    cross-region flow (enterprise's region → provider's region, by mode), each visible to both regions."""
    return _usage(ledger, principal, year, region)


@router.get("/reports/voucher-usage.csv", response_class=Response, responses={200: {"content": {"text/csv": {}}}})
def voucher_usage_csv(principal: OfficeReader, ledger: LedgerDep, year: UsageYear = None, region: RegionFilter = None):
    report = _usage(ledger, principal, year, region)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(USAGE_CSV_HEADER)
    for row in report.regions:
        writer.writerow(
            [row.region, row.redemptions, row.claimed, row.local, row.cross_region_out, row.cross_region_in]
        )
    writer.writerow([])
    writer.writerow(FLOW_CSV_HEADER)
    for flow in report.flows:
        writer.writerow(
            [
                flow.enterprise_region,
                flow.provider_region,
                flow.mode,
                flow.redemptions,
                flow.claimed,
                flow.enterprise_share,
                flow.provider_share,
            ]
        )
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8")


XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@router.get("/reports/voucher-usage.xlsx", response_class=Response, responses={200: {"content": {XLSX_MEDIA_TYPE: {}}}})
def voucher_usage_xlsx(
    principal: OfficeReader,
    ledger: LedgerDep,
    year: UsageYear = None,
    region: RegionFilter = None,
    unit: Annotated[str, Query(pattern="^(元|万元)$")] = "元",
):
    from ledger.spreadsheet import Column, ColumnKind, Sheet, xlsx_bytes

    report = _usage(ledger, principal, year, region)
    fen = parse_amount_fen
    regions = Sheet(
        "按区域",
        (
            Column("region", "区域"),
            Column("redemptions", "核销笔数", ColumnKind.INT),
            Column("claimed", "核销金额", ColumnKind.FEN),
            Column("local", "本地", ColumnKind.FEN),
            Column("out", "跨区域流出", ColumnKind.FEN),
            Column("in", "跨区域流入", ColumnKind.FEN),
        ),
        [
            {
                "region": r.region,
                "redemptions": r.redemptions,
                "claimed": fen(r.claimed),
                "local": fen(r.local),
                "out": fen(r.cross_region_out),
                "in": fen(r.cross_region_in),
            }
            for r in report.regions
        ],
    )
    flows = Sheet(
        "跨区域流向",
        (
            Column("from", "企业所在区域"),
            Column("to", "服务机构所在区域"),
            Column("mode", "模式"),
            Column("redemptions", "笔数", ColumnKind.INT),
            Column("claimed", "核销金额", ColumnKind.FEN),
            Column("home", "企业区域分担", ColumnKind.FEN),
            Column("away", "服务区域分担", ColumnKind.FEN),
        ),
        [
            {
                "from": f.enterprise_region,
                "to": f.provider_region,
                "mode": f.mode,
                "redemptions": f.redemptions,
                "claimed": fen(f.claimed),
                "home": fen(f.enterprise_share),
                "away": fen(f.provider_share),
            }
            for f in report.flows
        ],
    )
    return Response(xlsx_bytes([regions, flows], unit), media_type=XLSX_MEDIA_TYPE)
