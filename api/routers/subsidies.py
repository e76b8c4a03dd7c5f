"""Subsidies: programs from configuration, applications, grants, payments, clawbacks, year-end, and the
institution-year report against the caps (stop / clip / warn).

Approving an application or a clawback is the second person's step and lives in ``/v1/approvals``. Every
money-moving POST needs an ``Idempotency-Key`` and answers ``?dry_run=true`` (``api.writes``)."""

from __future__ import annotations

import csv
import io
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from api.deps import LedgerDep, PageParams, UnitOfWork, paginate, requires
from api.problems import ApiCode, ApiProblem
from api.routers import links
from api.routers.transactions import DryRun, IdempotencyKey
from api.routers.vouchers import XLSX_MEDIA_TYPE, InstitutionFilter, RowId, service_key
from api.schemas.core import page_of
from api.schemas.subsidies import (
    ApplicationIn,
    ApplicationOut,
    CapUsageOut,
    ClawbackFiledOut,
    ClawbackIn,
    InstitutionYearOut,
    PaymentIn,
    PaymentOut,
    SubsidyGrantOut,
    SubsidyProgramIn,
    SubsidyProgramOut,
    YearEndIn,
    YearEndOut,
)
from api.schemas.transactions import check_idempotency_key
from api.schemas.vouchers import WriteDryRunOut
from api.scopes import Principal, Role, institution_regions, program_visible, subsidy_item_visible
from api.writes import Written, keyed_write
from ledger.engine import Ledger
from ledger.errors import LedgerError
from ledger.money import format_fen
from subsidies import listings
from subsidies.audit import institution_year_report
from subsidies.codes import SubsidyCode
from subsidies.config import ProgramConfig, parse_program
from subsidies.service import SubsidyService

router = APIRouter(prefix="/v1", tags=["subsidies"])
SUBSIDY_READ_ROLES = (Role.ADMIN, Role.FINANCE_OFFICE, Role.AUDITOR, Role.ENTERPRISE)
Reader = Annotated[Principal, Depends(requires(*SUBSIDY_READ_ROLES))]
Office = Annotated[Principal, Depends(requires(Role.ADMIN, Role.FINANCE_OFFICE))]
Applicant = Annotated[Principal, Depends(requires(Role.ADMIN, Role.FINANCE_OFFICE, Role.ENTERPRISE))]
ProgramCode = Annotated[str, Path(min_length=1, max_length=64)]
ProgramFilter = Annotated[str | None, Query(min_length=1, max_length=64)]
YearFilter = Annotated[int | None, Query(ge=1900, le=2999)]
CLAWBACK_ITEM = "subsidy_clawback"
REPORT_CSV_HEADER = [
    "项目",
    "区域",
    "单位",
    "年度",
    "已批准(元)",
    "上限规则",
    "执行方式",
    "上限(元)",
    "已用(元)",
    "余额(元)",
    "超限",
]
ProgramPage = page_of(SubsidyProgramOut)
ApplicationPage = page_of(ApplicationOut)
GrantPage = page_of(SubsidyGrantOut)


def _visible_programs(ledger: Ledger, principal: Principal) -> list[ProgramConfig]:
    registered = institution_regions(ledger, principal)
    with ledger.reader.connect() as conn:
        return [
            config for _row, config in listings.programs(conn) if program_visible(principal, config.region, registered)
        ]


def _visible_program(ledger: Ledger, principal: Principal, code: str) -> ProgramConfig:
    found = next((config for config in _visible_programs(ledger, principal) if config.code == code), None)
    if found is None:
        raise LedgerError(SubsidyCode.PROGRAM_NOT_FOUND, f"no subsidy program {code!r}")
    return found


def _write(ledger, uow, principal, key, request, body, produce, response, dry_run=False, status=201):  # noqa: ANN001, PLR0913
    return keyed_write(
        ledger, uow, principal, key, path=request.url.path, content=body.model_dump(mode="json"),
        produce=produce, response=response, dry_run=dry_run, created_status=status,
    )  # fmt: skip


# ----- programs --------------------------------------------------------------------------------------


@router.get(
    "/subsidy-programs",
    response_model=ProgramPage,
    openapi_extra=links.listed(
        program=links.to("/v1/subsidy-programs/{program_code}", program_code=links.first_item("code"))
    ),
)
def list_programs(principal: Reader, ledger: LedgerDep, page: PageParams):
    programs = [SubsidyProgramOut.of(config) for config in _visible_programs(ledger, principal)]
    items, cursor = paginate(programs, lambda p: p.code, page, {})
    return {"items": items, "next_cursor": cursor}


@router.get("/subsidy-programs/{program_code}", response_model=SubsidyProgramOut)
def get_program(program_code: ProgramCode, principal: Reader, ledger: LedgerDep):
    return SubsidyProgramOut.of(_visible_program(ledger, principal, program_code))


@router.post(
    "/subsidy-programs",
    response_model=SubsidyProgramOut | WriteDryRunOut,
    status_code=201,
    responses={409: {}, 422: {}},
    openapi_extra=links.created(
        program=links.to("/v1/subsidy-programs/{program_code}", program_code=links.created_field("code"))
    ),
)
def post_program(
    body: SubsidyProgramIn,
    principal: Office,
    ledger: LedgerDep,
    uow: UnitOfWork,
    request: Request,
    response: Response,
    idempotency_key: IdempotencyKey = None,
    dry_run: DryRun = False,
):
    """Install a program from its TOML definition: its accounts and each year's appropriation (safe to repeat)."""
    key = check_idempotency_key(idempotency_key)
    config = parse_program(body.config)
    if not principal.covers_region(config.region):
        raise ApiProblem(403, ApiCode.ROLE_FORBIDDEN, f"a program of region {config.region}, outside your scope")

    def produce(joined: Ledger) -> Written:
        SubsidyService(joined).install_program(config, body.config, actor=principal.name)
        out = SubsidyProgramOut.of(config)
        return Written(out.model_dump(mode="json"), f"/v1/subsidy-programs/{config.code}")

    return _write(ledger, uow, principal, key, request, body, produce, response, dry_run)


# ----- applications ----------------------------------------------------------------------------------


@router.post(
    "/subsidy-programs/{program_code}/applications",
    response_model=ApplicationOut,
    status_code=201,
    responses={409: {}},
    openapi_extra=links.created(
        application=links.to("/v1/subsidy-applications/{application_id}", application_id=links.created_field("id"))
    ),
)
def post_application(
    program_code: ProgramCode,
    body: ApplicationIn,
    principal: Applicant,
    ledger: LedgerDep,
    uow: UnitOfWork,
    request: Request,
    response: Response,
    idempotency_key: IdempotencyKey = None,
):
    """An institution's application (the maker's step); a finance office decides it in ``/v1/approvals``."""
    key = check_idempotency_key(idempotency_key)
    program = _visible_program(ledger, principal, program_code)
    if not subsidy_item_visible(principal, program.region, body.institution):
        raise LedgerError(
            SubsidyCode.INSTITUTION_MUST_BE_REGISTERED, f"institution {body.institution} is not known here"
        )

    def produce(joined: Ledger) -> Written:
        application_id = SubsidyService(joined).submit_application(
            program_code, body.institution, body.year, body.base_figures, actor=principal.name,
            client_id=service_key(principal, key),
        )  # fmt: skip
        with joined.engine.connect() as conn:
            row = listings.application(conn, application_id)
        return Written(ApplicationOut.of(row).model_dump(mode="json"), f"/v1/subsidy-applications/{application_id}")

    return _write(ledger, uow, principal, key, request, body, produce, response)


def _application_filters(program, institution, status, year) -> dict:  # noqa: ANN001
    return {"program": program, "institution": institution, "status": status, "year": year}


@router.get(
    "/subsidy-applications",
    response_model=ApplicationPage,
    openapi_extra=links.listed(
        application=links.to("/v1/subsidy-applications/{application_id}", application_id=links.first_item("id"))
    ),
)
def list_applications(
    principal: Reader,
    ledger: LedgerDep,
    page: PageParams,
    program: ProgramFilter = None,
    institution: InstitutionFilter = None,
    status: Annotated[str | None, Query(pattern="^(submitted|approved|rejected|refused)$")] = None,
    year: YearFilter = None,
):
    with ledger.reader.connect() as conn:
        rows = listings.applications(conn, program=program, institution=institution, status=status, year=year)
    rows = [row for row in rows if subsidy_item_visible(principal, row["region_code"], row["institution_code"])]
    filters = _application_filters(program, institution, status, year)
    items, cursor = paginate([ApplicationOut.of(row) for row in rows], lambda a: a.id, page, filters)
    return {"items": items, "next_cursor": cursor}


@router.get("/subsidy-applications/{application_id}", response_model=ApplicationOut)
def get_application(application_id: RowId, principal: Reader, ledger: LedgerDep):
    with ledger.reader.connect() as conn:
        row = listings.application(conn, application_id)
    if row is None or not subsidy_item_visible(principal, row["region_code"], row["institution_code"]):
        raise LedgerError(SubsidyCode.APPLICATION_NOT_FOUND, f"application {application_id} does not exist")
    return ApplicationOut.of(row)


# ----- grants, payments, clawbacks ----------------------------------------------------------------------


@router.get(
    "/grants",
    response_model=GrantPage,
    openapi_extra=links.listed(grant=links.to("/v1/grants/{grant_id}", grant_id=links.first_item("id"))),
)
def list_grants(
    principal: Reader,
    ledger: LedgerDep,
    page: PageParams,
    program: ProgramFilter = None,
    institution: InstitutionFilter = None,
    status: Annotated[str | None, Query(pattern="^(approved|paid|clawed_back)$")] = None,
    year: YearFilter = None,
):
    """Subsidy grants (voucher quota grants are ``/v1/vouchers``)."""
    with ledger.reader.connect() as conn:
        rows = listings.grants(conn, program=program, institution=institution, status=status, year=year)
    rows = [row for row in rows if subsidy_item_visible(principal, row["region_code"], row["institution_code"])]
    filters = _application_filters(program, institution, status, year)
    items, cursor = paginate([SubsidyGrantOut.of(row) for row in rows], lambda g: g.id, page, filters)
    return {"items": items, "next_cursor": cursor}


def _visible_grant(conn, principal: Principal, grant_id: int) -> dict:  # noqa: ANN001
    row = listings.grant(conn, grant_id)
    if row is None or not subsidy_item_visible(principal, row["region_code"], row["institution_code"]):
        raise LedgerError(SubsidyCode.GRANT_NOT_FOUND, f"grant {grant_id} does not exist")
    return row


@router.get("/grants/{grant_id}", response_model=SubsidyGrantOut)
def get_grant(grant_id: RowId, principal: Reader, ledger: LedgerDep):
    with ledger.reader.connect() as conn:
        return SubsidyGrantOut.of(_visible_grant(conn, principal, grant_id))


def _office_grant(uow, principal: Principal, grant_id: int) -> dict:  # noqa: ANN001
    """A grant the office may act on: one of its region's programs (an institution's own is not enough)."""
    row = _visible_grant(uow, principal, grant_id)
    if not principal.covers_region(row["region_code"]):
        raise LedgerError(SubsidyCode.GRANT_NOT_FOUND, f"grant {grant_id} does not exist")
    return row


@router.post(
    "/grants/{grant_id}/payments", response_model=PaymentOut | WriteDryRunOut, status_code=201, responses={409: {}}
)
def post_payment(
    grant_id: RowId,
    body: PaymentIn,
    principal: Office,
    ledger: LedgerDep,
    uow: UnitOfWork,
    request: Request,
    response: Response,
    idempotency_key: IdempotencyKey = None,
    dry_run: DryRun = False,
):
    """Pay an approved grant: payable and bank, with its budget expenditure, in one transaction."""
    key = check_idempotency_key(idempotency_key)
    _office_grant(uow, principal, grant_id)

    def produce(joined: Ledger) -> Written:
        outcome = SubsidyService(joined).pay(grant_id, actor=principal.name, on=body.on)
        out = PaymentOut(
            grant_id=grant_id, amount=format_fen(outcome.amount_fen), payment_transaction_id=outcome.payment_tx_id
        )
        return Written(out.model_dump(mode="json"), f"/v1/transactions/{outcome.payment_tx_id}")

    return _write(ledger, uow, principal, key, request, body, produce, response, dry_run)


@router.post("/grants/{grant_id}/clawbacks", response_model=ClawbackFiledOut, status_code=201, responses={409: {}})
def post_clawback(
    grant_id: RowId,
    body: ClawbackIn,
    principal: Office,
    ledger: LedgerDep,
    uow: UnitOfWork,
    request: Request,
    response: Response,
    idempotency_key: IdempotencyKey = None,
):
    """Request a clawback (收回/追回) with a reason; a second person approves it in ``/v1/approvals``."""
    key = check_idempotency_key(idempotency_key)
    _office_grant(uow, principal, grant_id)

    def produce(joined: Ledger) -> Written:
        clawback_id = SubsidyService(joined).request_clawback(
            grant_id, reason=body.reason, actor=principal.name, client_id=service_key(principal, key)
        )
        approval = f"{CLAWBACK_ITEM}:{clawback_id}"
        out = ClawbackFiledOut(clawback_id=clawback_id, approval=approval, grant_id=grant_id, status="requested")
        return Written(out.model_dump(mode="json"), f"/v1/approvals/{approval}")

    return _write(ledger, uow, principal, key, request, body, produce, response)


# ----- year-end --------------------------------------------------------------------------------------


@router.post(
    "/subsidy-programs/{program_code}/year-ends",
    response_model=YearEndOut | WriteDryRunOut,
    status_code=201,
    responses={409: {}},
)
def post_year_end(
    program_code: ProgramCode,
    body: YearEndIn,
    principal: Office,
    ledger: LedgerDep,
    uow: UnitOfWork,
    request: Request,
    response: Response,
    idempotency_key: IdempotencyKey = None,
    dry_run: DryRun = False,
):
    """Sweep a year's unused budget: carried over (结转) or recovered (收回), as the program says."""
    key = check_idempotency_key(idempotency_key)
    program = _visible_program(ledger, principal, program_code)
    if not principal.covers_region(program.region):
        raise LedgerError(SubsidyCode.PROGRAM_NOT_FOUND, f"no subsidy program {program_code!r}")

    def produce(joined: Ledger) -> Written:
        result = SubsidyService(joined).close_year(
            program_code, body.year, actor=principal.name, client_id=service_key(principal, key), on=body.on
        )
        out = YearEndOut(
            program=program_code, year=result["year"], mode=result["mode"], amount=format_fen(result["amount_fen"])
        )
        return Written(out.model_dump(mode="json"), f"/v1/subsidy-programs/{program_code}")

    return _write(ledger, uow, principal, key, request, body, produce, response, dry_run)


# ----- report: institution and year against the caps ----------------------------------------------------


def _report(ledger: Ledger, principal: Principal, program: str | None, year: int | None, institution: str | None):  # noqa: ANN202
    service = SubsidyService(ledger)
    rows = []
    for config in _visible_programs(ledger, principal):
        if program is not None and config.code != program:
            continue
        for row in institution_year_report(service, config.code):
            if (year is not None and row["year"] != year) or (
                institution is not None and row["institution"] != institution
            ):
                continue
            if not subsidy_item_visible(principal, config.region, row["institution"]):
                continue
            rows.append(
                InstitutionYearOut(
                    program=config.code,
                    region=config.region,
                    institution=row["institution"],
                    year=row["year"],
                    granted=format_fen(row["granted_fen"]),
                    caps=[
                        CapUsageOut(
                            rule=cap["rule"],
                            enforcement=cap["enforcement"],
                            limit=format_fen(cap["limit_fen"]),
                            used=format_fen(cap["used_fen"]),
                            room=format_fen(cap["room_fen"]),
                            over=cap["room_fen"] < 0,
                        )
                        for cap in row["caps"]
                    ],
                )
            )
    return rows


@router.get("/reports/subsidies-by-institution", response_model=list[InstitutionYearOut])
def subsidies_by_institution(
    principal: Reader,
    ledger: LedgerDep,
    program: ProgramFilter = None,
    year: YearFilter = None,
    institution: InstitutionFilter = None,
):
    """Per institution and program year: granted, and per cap its limit, use, room and whether it was overrun."""
    return _report(ledger, principal, program, year, institution)


def _flat_rows(report: list[InstitutionYearOut]) -> list[dict]:
    flat = []
    for row in report:
        base = {"program": row.program, "region": row.region, "institution": row.institution, "year": row.year}
        caps = row.caps or [None]
        for cap in caps:
            flat.append(
                base
                | {
                    "granted": row.granted,
                    "rule": cap.rule if cap else "",
                    "enforcement": cap.enforcement if cap else "",
                    "limit": cap.limit if cap else "",
                    "used": cap.used if cap else "",
                    "room": cap.room if cap else "",
                    "over": ("是" if cap.over else "否") if cap else "",
                }
            )
    return flat


@router.get(
    "/reports/subsidies-by-institution.csv", response_class=Response, responses={200: {"content": {"text/csv": {}}}}
)
def subsidies_by_institution_csv(
    principal: Reader,
    ledger: LedgerDep,
    program: ProgramFilter = None,
    year: YearFilter = None,
    institution: InstitutionFilter = None,
):
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(REPORT_CSV_HEADER)
    for row in _flat_rows(_report(ledger, principal, program, year, institution)):
        writer.writerow(list(row.values()))
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8")


@router.get(
    "/reports/subsidies-by-institution.xlsx",
    response_class=Response,
    responses={200: {"content": {XLSX_MEDIA_TYPE: {}}}},
)
def subsidies_by_institution_xlsx(
    principal: Reader,
    ledger: LedgerDep,
    program: ProgramFilter = None,
    year: YearFilter = None,
    institution: InstitutionFilter = None,
    unit: Annotated[str, Query(pattern="^(元|万元)$")] = "元",
):
    from ledger.numbers import parse_amount_fen
    from ledger.spreadsheet import Column, ColumnKind, Sheet, xlsx_bytes

    rows = []
    for row in _flat_rows(_report(ledger, principal, program, year, institution)):
        amounts = {name: parse_amount_fen(row[name]) if row[name] else None for name in ("limit", "used", "room")}
        rows.append(row | amounts | {"granted": parse_amount_fen(row["granted"])})
    sheet = Sheet(
        "单位年度对照上限",
        (
            Column("program", "项目"),
            Column("region", "区域"),
            Column("institution", "单位"),
            Column("year", "年度", ColumnKind.INT),
            Column("granted", "已批准", ColumnKind.FEN),
            Column("rule", "上限规则"),
            Column("enforcement", "执行方式"),
            Column("limit", "上限", ColumnKind.FEN),
            Column("used", "已用", ColumnKind.FEN),
            Column("room", "余额", ColumnKind.FEN),
            Column("over", "超限"),
        ),
        rows,
        totals=False,
    )
    return Response(xlsx_bytes([sheet], unit), media_type=XLSX_MEDIA_TYPE)
