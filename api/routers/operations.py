"""Oversight reads: verify status, alerts and job runs; an enterprise's voucher positions."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.deps import LedgerDep, PageParams, paginate, read_rows, requires
from api.known_rows import known_rows
from api.routers import OVERSIGHT_ROLES, WHOLE_LEDGER_ROLES
from api.schemas.core import VerifyOut, page_of
from api.scopes import CREDIT_CODE, Principal, Role, region_prefix
from jobs.alerts import ALERT_SEVERITIES, REASON_MAX_LENGTH, AlertsCode, get_alert, list_alerts, resolve_alert
from jobs.runs import last_runs
from ledger.audit import audit
from ledger.errors import LedgerError, ResultCode
from ledger.money import format_fen
from vouchers.positions import POSITIONS, positions_of_rows, positions_parameters

router = APIRouter(prefix="/v1", tags=["operations"])
# Job runs and the chain span every region: admin only. Alerts carry the region of what they are about, so
# a finance office or an auditor sees those of its regions (an alert without a region only admin sees).
Overseer = Annotated[Principal, Depends(requires(*WHOLE_LEDGER_ROLES))]
AlertReader = Annotated[Principal, Depends(requires(*OVERSIGHT_ROLES))]
AlertResolver = Annotated[Principal, Depends(requires(Role.ADMIN, Role.FINANCE_OFFICE))]
PositionReader = Annotated[Principal, Depends(requires(Role.ADMIN, Role.FINANCE_OFFICE, Role.AUDITOR, Role.ENTERPRISE))]


class AlertOut(BaseModel):
    id: int
    kind: str
    subject: str
    region: str | None
    severity: str
    rule: str | None
    citation: str | None
    message: str
    amount: str | None
    limit: str | None
    excess: str | None
    job: str | None
    first_seen: Any
    last_seen: Any
    resolved_at: Any
    resolved_by: str | None
    resolution_reason: str | None


class AlertResolveIn(BaseModel):
    reason: str = Field(min_length=1, max_length=REASON_MAX_LENGTH)


class JobRunOut(BaseModel):
    job: str
    period_key: str | None
    status: str | None
    started_at: Any
    finished_at: Any


class PositionOut(BaseModel):
    program: str
    region: str
    year: int
    granted: str
    available: str
    reserved: str
    used: str
    expired: str
    paid: str


AlertPage = page_of(AlertOut)


def _money(fen: int | None) -> str | None:
    return None if fen is None else format_fen(fen)


@router.get("/verify", response_model=VerifyOut)
def verify_status(principal: Overseer, ledger: LedgerDep):
    report = audit(ledger.engine)
    return VerifyOut(
        clean=report.clean,
        sealed=report.chain.sealed,
        unsealed=report.chain.unsealed,
        transactions=report.chain.transactions,
        chain_findings=report.chain.findings,
        reconciliation_findings=[
            {"kind": finding.kind, "subject": finding.subject, "message": finding.message}
            for finding in report.findings
        ],
    )


def _alert_out(row: dict) -> AlertOut:
    return AlertOut(
        **{key: row.get(key) for key in AlertOut.model_fields if key in row},
        amount=_money(row.get("amount_fen")),
        limit=_money(row.get("limit_fen")),
        excess=_money(row.get("excess_fen")),
    )


def _visible_prefixes(principal: Principal, region: str | None) -> list[str] | None:
    """The region prefixes the caller sees, narrowed to ``region`` if asked (``None``: everything)."""
    asked = None if region is None else region_prefix(region)
    if principal.is_admin:
        return None if asked is None else [asked]
    mine = [region_prefix(scope) for scope in principal.regions()]
    if asked is None:
        return mine
    # Asked for a region inside a scope: that region; asked for a wider one: the caller's scopes inside it.
    return [asked if asked.startswith(own) else own for own in mine if asked.startswith(own) or own.startswith(asked)]


@router.get("/alerts", response_model=AlertPage)
def list_alerts_route(
    principal: AlertReader,
    ledger: LedgerDep,
    page: PageParams,
    status: Annotated[Literal["open", "resolved", "all"], Query()] = "open",
    kind: Annotated[str | None, Query(max_length=64)] = None,
    severity: Annotated[Literal[ALERT_SEVERITIES] | None, Query()] = None,
    region: Annotated[str | None, Query(pattern=r"^\d{6}$")] = None,
    include_resolved: Annotated[bool, Query(description="Same as status=all (kept for older callers).")] = False,
):
    if include_resolved:
        status = "all"
    rows = list_alerts(
        ledger.engine,
        status=status,
        kind=kind,
        severity=severity,
        region_prefixes=_visible_prefixes(principal, region),
    )
    filters = {"status": status, "kind": kind, "severity": severity, "region": region}
    items, cursor = paginate([_alert_out(row) for row in rows], lambda alert: alert.id, page, filters)
    return {"items": items, "next_cursor": cursor}


@router.post("/alerts/{alert_id}/resolve", response_model=AlertOut)
def resolve_alert_route(
    alert_id: Annotated[int, Path(ge=1)],
    body: Annotated[AlertResolveIn, Body()],
    principal: AlertResolver,
    ledger: LedgerDep,
):
    alert = get_alert(ledger.engine, alert_id)
    if not principal.covers_region(alert["region"]):  # an alert outside the caller's regions does not exist
        raise LedgerError(AlertsCode.ALERT_NOT_FOUND, f"alert {alert_id} does not exist")
    return _alert_out(resolve_alert(ledger.engine, alert_id, actor=principal.name, reason=body.reason))


@router.get("/job-runs", response_model=list[JobRunOut])
def list_job_runs(principal: Overseer, ledger: LedgerDep):
    return [
        JobRunOut(
            job=job,
            period_key=row.get("period_key"),
            status=row.get("status"),
            started_at=row.get("started_at"),
            finished_at=row.get("finished_at"),
        )
        for job, row in sorted(last_runs(ledger.engine).items())
    ]


# async: answered on the event loop (one grouped statement, vouchers.positions; api.deps.read_rows), without
# the thread-pool hop that cost more than the read itself under load (docs/BENCHMARKS.md, HTTP API). The
# answer is returned as a ready response: the route's model documents it, and validating what was just built
# from it again was a tenth of the request's CPU; the ledger comes from the app rather than a dependency.
@router.get("/enterprises/{credit_code}/voucher-positions", response_model=list[PositionOut])
async def voucher_positions(
    credit_code: Annotated[str, Path(pattern=CREDIT_CODE.pattern)], principal: PositionReader, request: Request
) -> JSONResponse:
    ledger = request.app.state.ledger
    entity = known_rows(ledger).entity(credit_code)  # entities never change: read once per process
    if not principal.covers_institution(credit_code, entity.get("region_code") if entity else None):
        raise LedgerError(ResultCode.ENTITY_NOT_FOUND, f"enterprise {credit_code} is not known")
    rows = await read_rows(ledger, POSITIONS, positions_parameters(credit_code))
    return JSONResponse(
        [
            PositionOut(
                program=p.program,
                region=p.region,
                year=p.year,
                granted=format_fen(p.granted_fen),
                available=format_fen(p.available_fen),
                reserved=format_fen(p.reserved_fen),
                used=format_fen(p.used_fen),
                expired=format_fen(p.expired_fen),
                paid=format_fen(p.paid_fen),
            ).model_dump()
            for p in positions_of_rows(rows)
        ]
    )
