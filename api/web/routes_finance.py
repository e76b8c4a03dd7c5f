"""The finance office's dashboard: budget against committed and spent per program (chart), subsidies per
institution per year against each cap (chart and table), open alerts, and the approvals queue, where a
clerk's recorded application is approved or rejected by a second person. Every figure and every decision
comes from the subsidies and jobs services; the scope filter is the principal's region, as in the API."""

from __future__ import annotations

import secrets
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, Form
from fastapi.responses import Response

from api.problems import ApiProblem
from api.scopes import Role
from api.web.rendering import WEB_PREFIX, Page, PageRefusal, chart_json, redirect, refusal_of, render, signed_in
from api.web.routes_session import CsrfField, check_csrf
from jobs.runs import alerts
from ledger.errors import LedgerError
from ledger.money import from_fen
from subsidies.audit import institution_year_report, program_report
from subsidies.service import SubsidyService
from subsidies.views import application, applications_awaiting_approval, program_codes

router = APIRouter(prefix=WEB_PREFIX, include_in_schema=False)
DASHBOARD_READERS = (Role.FINANCE_OFFICE, Role.AUDITOR, Role.ADMIN)
DECIDERS = (Role.FINANCE_OFFICE, Role.ADMIN)
DashboardPage = Annotated[Page, Depends(signed_in(*DASHBOARD_READERS))]
DeciderPage = Annotated[Page, Depends(signed_in(*DECIDERS))]
TextField = Annotated[str, Form(max_length=1_000)]
YUAN_PER_WAN = Decimal(10_000)
CLIENT_ID_BYTES = 12
HTMX_HEADER = "HX-Request"


def _service(page: Page) -> SubsidyService:
    return SubsidyService(page.request.app.state.ledger)


def _programs_in_scope(page: Page, service: SubsidyService) -> list:
    return [
        service.program(code)
        for code in program_codes(service)
        if page.principal.covers_region(service.program(code).region)
    ]


def _chart_value(page: Page, fen: int) -> str:
    """A chart's number as a decimal string in the page's unit (ECharts reads numeric strings; no float)."""
    value = from_fen(fen)
    return str(value / YUAN_PER_WAN if page.unit.value == "wan" else value)


def _budget_rows(service: SubsidyService, programs: list) -> list[dict]:
    rows = []
    for program in programs:
        years = program_report(service, program.code)
        rows.append(
            {
                "code": program.code,
                "name": program.name,
                "budget_fen": sum(year["appropriated_fen"] for year in years),
                "committed_fen": sum(year["granted_fen"] for year in years),
                "spent_fen": sum(year["paid_fen"] for year in years),
            }
        )
    return rows


def _budget_chart(page: Page, rows: list[dict]) -> str:
    series = [("finance.budget", "budget_fen"), ("finance.committed", "committed_fen"), ("finance.spent", "spent_fen")]
    return chart_json(
        {
            "tooltip": {"trigger": "axis"},
            "legend": {"top": 0, "data": [page.t(key) for key, _ in series]},
            "grid": {"left": 90, "right": 20, "top": 50, "bottom": 80},
            "xAxis": {"type": "category", "data": [row["code"] for row in rows], "axisLabel": {"rotate": 20}},
            "yAxis": {"type": "value", "name": "万元" if page.unit.value == "wan" else "元"},
            "series": [
                {"name": page.t(key), "type": "bar", "data": [_chart_value(page, row[field]) for row in rows]}
                for key, field in series
            ],
        }
    )


def _cap_rows(page: Page, service: SubsidyService, programs: list) -> list[dict]:
    ledger = page.request.app.state.ledger
    rows = []
    for program in programs:
        for row in institution_year_report(service, program.code):
            entity = ledger.entity(row["institution"])
            rows.append({**row, "program": program.code, "institution_name": entity["name"] if entity else ""})
    return rows


ENFORCEMENT_COLOURS = {"stop": "#b42318", "clip": "#dc6803", "warn": "#eaaa08"}
CAP_MARK_SIZE = [28, 4]  # a short horizontal bar: the cap drawn across its own column


def _cap_chart(page: Page, rows: list[dict]) -> str:
    """Each institution-year's grant as a bar coloured by its cap's enforcement (stop / clip / warn), with
    the per-year cap drawn across it, where the program has one."""
    capped = [
        (row, cap) for row in rows for cap in row["caps"] if cap["rule"] == "institution_year" and cap["limit_fen"]
    ]
    labels = [f"{row['institution_name']} {row['year']}" for row, _ in capped]
    return chart_json(
        {
            "tooltip": {"trigger": "axis"},
            "legend": {"top": 0, "data": [page.t("enterprise.granted"), page.t("finance.limit")]},
            "grid": {"left": 90, "right": 20, "top": 50, "bottom": 110},
            "xAxis": {"type": "category", "data": labels, "axisLabel": {"rotate": 20, "fontSize": 11}},
            "yAxis": {"type": "value", "name": "万元" if page.unit.value == "wan" else "元"},
            "series": [
                {
                    "name": page.t("enterprise.granted"),
                    "type": "bar",
                    "barMaxWidth": 48,
                    "data": [
                        {
                            "value": _chart_value(page, row["granted_fen"]),
                            "itemStyle": {"color": ENFORCEMENT_COLOURS[cap["enforcement"]]},
                        }
                        for row, cap in capped
                    ],
                },
                {
                    "name": page.t("finance.limit"),
                    "type": "scatter",
                    "symbol": "rect",
                    "symbolSize": CAP_MARK_SIZE,
                    "itemStyle": {"color": "#1f2933"},
                    "data": [_chart_value(page, cap["limit_fen"]) for _, cap in capped],
                },
            ],
        }
    )


def _queue(page: Page, service: SubsidyService) -> list[dict]:
    ledger = page.request.app.state.ledger
    items = []
    for item in applications_awaiting_approval(service):
        if not page.principal.covers_region(item["program_region"]):
            continue
        entity = ledger.entity(item["institution_code"])
        items.append({**item, "institution_name": entity["name"] if entity else item["institution_code"]})
    return items


def _institutions(page: Page, programs: list) -> list[dict]:
    """Institutions a clerk may record an application for: those registered in the office's regions."""
    ledger = page.request.app.state.ledger
    seen = {}
    for row in _cap_rows(page, _service(page), programs):
        seen[row["institution"]] = row["institution_name"]
    for code in page.principal.institutions():
        entity = ledger.entity(code)
        if entity is not None:
            seen[code] = entity["name"]
    return [{"code": code, "name": name} for code, name in sorted(seen.items())]


def _dashboard(page: Page, *, notice: str | None = None, refusal: PageRefusal | None = None, status: int = 200):
    service = _service(page)
    programs = _programs_in_scope(page, service)
    budget_rows = _budget_rows(service, programs)
    cap_rows = _cap_rows(page, service, programs)
    return render(
        page,
        "finance.html",
        status=status,
        programs=programs,
        budget_rows=budget_rows,
        budget_chart=_budget_chart(page, budget_rows),
        cap_rows=cap_rows,
        cap_chart=_cap_chart(page, cap_rows),
        alerts=alerts(page.request.app.state.engine),
        queue=_queue(page, service),
        institutions=_institutions(page, programs),
        may_decide=page.principal.role in DECIDERS,
        new_client_id=secrets.token_urlsafe(CLIENT_ID_BYTES),
        notice=notice,
        refusal=refusal,
    )


@router.get("/finance")
def finance_dashboard(page: DashboardPage):
    return _dashboard(page)


def _queue_response(page: Page, *, notice: str | None = None, refusal: PageRefusal | None = None) -> Response:
    """After a decision: HTMX swaps the queue in place; a plain form post gets the whole page."""
    if page.request.headers.get(HTMX_HEADER):
        return render(
            page,
            "_approvals.html",
            queue=_queue(page, _service(page)),
            may_decide=True,
            notice=notice,
            refusal=refusal,
        )
    if refusal is not None:
        return _dashboard(page, refusal=refusal, status=refusal.status)
    return redirect(f"{WEB_PREFIX}/finance")


def _require_application(page: Page, service: SubsidyService, application_id: int) -> dict:
    found = application(service, application_id)
    if found is None or not page.principal.covers_region(found["program_region"]):
        raise PageRefusal(404, page.t("error.not_found"), "application_not_found")
    return found


@router.post("/approvals/subsidy-applications/{application_id}/approve")
def approve_application(
    page: DeciderPage, application_id: int, csrf: CsrfField, approval_doc: TextField = ""
) -> Response:
    check_csrf(page, csrf)
    service = _service(page)
    _require_application(page, service, application_id)
    try:
        service.approve(application_id, approver=page.principal.name, approval_doc=approval_doc.strip() or None)
    except (LedgerError, ApiProblem) as error:
        return _queue_response(page, refusal=refusal_of(error))
    return _queue_response(page, notice=page.t("finance.decided_approved"))


@router.post("/approvals/subsidy-applications/{application_id}/reject")
def reject_application(page: DeciderPage, application_id: int, csrf: CsrfField, reason: TextField = "") -> Response:
    check_csrf(page, csrf)
    service = _service(page)
    _require_application(page, service, application_id)
    try:
        service.reject(application_id, approver=page.principal.name, reason=reason)
    except (LedgerError, ApiProblem) as error:
        return _queue_response(page, refusal=refusal_of(error))
    return _queue_response(page, notice=page.t("finance.decided_rejected"))


@router.post("/subsidy-applications")
def record_application(
    page: DeciderPage,
    csrf: CsrfField,
    program: Annotated[str, Form(max_length=64)],
    institution: Annotated[str, Form(max_length=18)],
    year: Annotated[int, Form(ge=1900, le=9999)],
    client_id: Annotated[str, Form(min_length=1, max_length=200)],
    figure_name: Annotated[str, Form(max_length=64)] = "",
    figure_amount: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    """The maker's step. The form's own client id makes a resubmitted form record nothing twice."""
    check_csrf(page, csrf)
    service = _service(page)
    try:
        config = service.program(program)
        if not page.principal.covers_region(config.region):
            raise PageRefusal(404, page.t("error.not_found"), "program_not_found")
        figures = {figure_name.strip(): figure_amount.strip()} if figure_name.strip() else {}
        service.submit_application(
            program, institution, year, figures, actor=page.principal.name, client_id=f"web:{client_id}"
        )
    except (LedgerError, ApiProblem) as error:
        return _dashboard(page, refusal=refusal_of(error), status=409)
    return _dashboard(page, notice=page.t("finance.recorded"))
