"""我的创新券: an enterprise's voucher quota per program and year, its redemptions, its subsidies, and a
statement to download. Reached by the enterprise itself, or by a finance office or auditor whose region
covers it; anyone else gets the same 404 as an enterprise that does not exist."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Path
from fastapi.responses import Response

from api.scopes import CREDIT_CODE, Role
from api.web.rendering import WEB_PREFIX, Page, PageRefusal, render, signed_in
from ledger.db import read_snapshot
from ledger.engine import Ledger
from ledger.spreadsheet import WAN_YUAN, YUAN, Column, ColumnKind, Sheet, xlsx_bytes
from subsidies import listings as subsidy_listings
from vouchers.programs import load_program
from vouchers.views import QuotaPosition, enterprise_positions, redemption_history

router = APIRouter(prefix=WEB_PREFIX, include_in_schema=False)
ENTERPRISE_READERS = (Role.ENTERPRISE, Role.FINANCE_OFFICE, Role.AUDITOR, Role.ADMIN)
EnterprisePage = Annotated[Page, Depends(signed_in(*ENTERPRISE_READERS))]
CreditCode = Annotated[str, Path(max_length=18)]  # checked below: a malformed code is a 404 page too
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True, slots=True)
class PositionRow:
    position: QuotaPosition
    use_by: date
    redeem_by: date


def _ledger(page: Page) -> Ledger:
    return page.request.app.state.ledger


def _require_enterprise(page: Page, code: str) -> dict:
    """The institution, if this user may see it; otherwise the same 404 as an unknown one."""
    entity = _ledger(page).entity(code) if CREDIT_CODE.match(code) else None
    region = entity.get("region_code") if entity else None
    if entity is None or entity["kind"] != "institution" or not page.principal.covers_institution(code, region):
        raise PageRefusal(404, page.t("error.not_found"), "entity_not_found")
    return entity


def _positions(ledger: Ledger, code: str) -> list[PositionRow]:
    rows = []
    with read_snapshot(ledger.engine) as conn:
        for position in enterprise_positions(ledger, code):
            config = load_program(conn, position.program)
            rows.append(PositionRow(position, config.use_by, config.redeem_by))
    return rows


def _subsidies(ledger: Ledger, code: str) -> list[dict]:
    """The institution's subsidy grants (the listing the API serves), each with its program's name."""
    with read_snapshot(ledger.engine) as conn:
        names = {row["code"]: row["name"] for row, _config in subsidy_listings.programs(conn)}
        grants = subsidy_listings.grants(conn, institution=code)
    return [{**grant, "program_name": names.get(grant["program_code"], grant["program_code"])} for grant in grants]


def _redemptions(ledger: Ledger, code: str) -> list[dict]:
    items = []
    for row in redemption_history(ledger, code):
        provider = ledger.entity(row["provider_code"])
        items.append({**row, "provider_name": provider["name"] if provider else row["provider_code"]})
    return items


@router.get("/enterprises/{code}")
def enterprise_page(page: EnterprisePage, code: CreditCode):
    entity = _require_enterprise(page, code)
    ledger = _ledger(page)
    return render(
        page,
        "enterprise.html",
        entity=entity,
        positions=_positions(ledger, code),
        redemptions=_redemptions(ledger, code),
        subsidies=_subsidies(ledger, code),
    )


@router.get("/enterprises/{code}/statement.xlsx")
def enterprise_statement(page: EnterprisePage, code: CreditCode) -> Response:
    """The page's three tables as a workbook, in the unit the page shows (the spreadsheet's own rounding)."""
    _require_enterprise(page, code)
    ledger = _ledger(page)
    t = page.t
    positions = [
        {
            "program": row.position.program,
            "year": row.position.year,
            "granted": row.position.granted_fen,
            "reserved": row.position.reserved_fen,
            "used": row.position.used_fen,
            "expired": row.position.expired_fen,
            "available": row.position.available_fen,
            "use_by": row.use_by,
            "redeem_by": row.redeem_by,
        }
        for row in _positions(ledger, code)
    ]
    amount_keys = ("granted", "reserved", "used", "expired", "available")
    position_columns = [
        Column("program", t("enterprise.program")),
        Column("year", t("enterprise.year"), ColumnKind.INT),
        *[Column(key, t(f"enterprise.{key}"), ColumnKind.FEN) for key in amount_keys],
        Column("use_by", t("enterprise.use_by"), ColumnKind.DATE),
        Column("redeem_by", t("enterprise.redeem_by"), ColumnKind.DATE),
    ]
    redemption_columns = [
        Column("contract_no", t("enterprise.contract")),
        Column("provider_name", t("enterprise.provider")),
        Column("claimed_fen", t("enterprise.claimed"), ColumnKind.FEN),
        Column("status", t("enterprise.status")),
        Column("payment_status", t("enterprise.payout")),
    ]
    subsidy_columns = [
        Column("program_name", t("enterprise.program")),
        Column("program_year", t("enterprise.year"), ColumnKind.INT),
        Column("amount_fen", t("enterprise.granted"), ColumnKind.FEN),
        Column("status", t("enterprise.status")),
    ]
    sheets = [
        Sheet(t("enterprise.positions")[:31], position_columns, positions, totals=False),
        Sheet(t("enterprise.redemptions")[:31], redemption_columns, _redemptions(ledger, code)),
        Sheet(t("enterprise.subsidies")[:31], subsidy_columns, _subsidies(ledger, code)),
    ]
    unit = WAN_YUAN if page.unit.value == "wan" else YUAN
    headers = {"Content-Disposition": f'attachment; filename="statement-{code}.xlsx"'}
    return Response(xlsx_bytes(sheets, unit), media_type=XLSX_MEDIA_TYPE, headers=headers)
