"""Oversight reads: verify status, alerts and job runs; an enterprise's voucher positions."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel

from api.deps import LedgerDep, PageParams, paginate, requires
from api.routers import WHOLE_LEDGER_ROLES
from api.schemas.core import VerifyOut, page_of
from api.scopes import CREDIT_CODE, Principal, Role
from jobs.runs import alerts, last_runs
from ledger.audit import audit
from ledger.errors import LedgerError, ResultCode
from ledger.money import format_fen
from vouchers.views import enterprise_positions

router = APIRouter(prefix="/v1", tags=["operations"])
# Alerts, job runs and the chain span every region and carry no region of their own yet, so a scoped role
# would see outside its scope: admin only until they are keyed by region.
Overseer = Annotated[Principal, Depends(requires(*WHOLE_LEDGER_ROLES))]
PositionReader = Annotated[Principal, Depends(requires(Role.ADMIN, Role.FINANCE_OFFICE, Role.AUDITOR, Role.ENTERPRISE))]


class AlertOut(BaseModel):
    id: int
    kind: str
    subject: str
    severity: str
    message: str
    amount: str | None
    limit: str | None
    first_seen: Any
    resolved_at: Any


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


@router.get("/alerts", response_model=AlertPage)
def list_alerts(
    principal: Overseer, ledger: LedgerDep, page: PageParams, include_resolved: Annotated[bool, Query()] = False
):
    rows = [
        AlertOut(
            id=row["id"],
            kind=row["kind"],
            subject=row["subject"],
            severity=row["severity"],
            message=row["message"],
            amount=_money(row.get("amount_fen")),
            limit=_money(row.get("limit_fen")),
            first_seen=row["first_seen"],
            resolved_at=row.get("resolved_at"),
        )
        for row in alerts(ledger.engine, include_resolved=include_resolved)
    ]
    items, cursor = paginate(rows, lambda alert: alert.id, page, {"include_resolved": include_resolved})
    return {"items": items, "next_cursor": cursor}


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


@router.get("/enterprises/{credit_code}/voucher-positions", response_model=list[PositionOut])
def voucher_positions(
    credit_code: Annotated[str, Path(pattern=CREDIT_CODE.pattern)], principal: PositionReader, ledger: LedgerDep
):
    entity = ledger.entity(credit_code)
    if not principal.covers_institution(credit_code, entity.get("region_code") if entity else None):
        raise LedgerError(ResultCode.ENTITY_NOT_FOUND, f"enterprise {credit_code} is not known")
    return [
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
        )
        for p in enterprise_positions(ledger, credit_code)
    ]
