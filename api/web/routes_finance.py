"""The finance office's dashboard: budget against committed and spent per program (chart), subsidies per
institution per year against each cap (chart and table), open alerts, and the approvals queue, where a
clerk's recorded application is approved or rejected by a second person. Every figure and every decision
comes from the subsidies and jobs services; the scope filter is the principal's region, as in the API."""

from __future__ import annotations

import secrets
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Path
from fastapi.responses import Response
from pydantic import ValidationError

from api.problems import ApiProblem
from api.routers import approvals
from api.schemas.approvals import ApprovalIn, RejectionIn
from api.scopes import Role, region_prefix
from api.web.rendering import WEB_PREFIX, Page, PageRefusal, chart_json, refusal_of, render, signed_in
from api.web.routes_session import CsrfField, check_csrf
from api.writes import Written, keyed_write
from jobs.alerts import list_alerts
from ledger.db import read_snapshot
from ledger.engine import today_shanghai
from ledger.errors import LedgerError
from ledger.money import from_fen
from subsidies import listings as subsidy_listings
from subsidies.audit import institution_year_report, program_report
from subsidies.service import SubsidyService

router = APIRouter(prefix=WEB_PREFIX, include_in_schema=False)
DASHBOARD_READERS = (Role.FINANCE_OFFICE, Role.AUDITOR, Role.ADMIN)
DECIDERS = (Role.FINANCE_OFFICE, Role.ADMIN)
DashboardPage = Annotated[Page, Depends(signed_in(*DASHBOARD_READERS))]
DeciderPage = Annotated[Page, Depends(signed_in(*DECIDERS))]
TextField = Annotated[str, Form(max_length=1_000)]
YUAN_PER_WAN = Decimal(10_000)
CLIENT_ID_BYTES = 12
HTMX_HEADER = "HX-Request"
# The API's own decision functions per outcome: the page adds no second copy of how an item is decided.
DECISIONS = {"approved": approvals._approve, "rejected": approvals._reject}


def _service(page: Page) -> SubsidyService:
    return SubsidyService(page.request.app.state.ledger)


def _programs_in_scope(page: Page, service: SubsidyService) -> list:
    with read_snapshot(service.engine) as conn:
        programs = [config for _row, config in subsidy_listings.programs(conn)]
    return [program for program in programs if page.principal.covers_region(program.region)]


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


def _queue(page: Page) -> list:
    """Everything waiting for a second person in the user's regions: the API's own queue and scope rule."""
    ledger = page.request.app.state.ledger
    with ledger.reader.connect() as conn:
        items = [
            item for item in approvals._queue(ledger, conn) if approvals._item_visible(ledger, page.principal, item)
        ]
    shown = []
    for item in sorted(items, key=approvals._order):
        entity = ledger.entity(item.institution) if item.institution else None
        shown.append({"item": item, "institution_name": entity["name"] if entity else (item.institution or "")})
    return shown


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


def _dashboard(
    page: Page,
    *,
    notice: str | None = None,
    refusal: PageRefusal | None = None,
    preview: dict | None = None,
    status: int = 200,
):
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
        # Alerts carry their region: a finance office sees those of its regions (as over HTTP), admin all.
        alerts=list_alerts(
            page.request.app.state.engine,
            region_prefixes=None if page.principal.is_admin else [region_prefix(r) for r in page.principal.regions()],
        ),
        queue=_queue(page),
        today=today_shanghai(),
        institutions=_institutions(page, programs),
        may_decide=page.principal.role in DECIDERS,
        new_client_id=secrets.token_urlsafe(CLIENT_ID_BYTES),
        notice=notice,
        refusal=refusal,
        preview=preview,
    )


@router.get("/finance")
def finance_dashboard(page: DashboardPage):
    return _dashboard(page)


def _queue_response(
    page: Page, *, notice: str | None = None, refusal: PageRefusal | None = None, preview: dict | None = None
) -> Response:
    """After a decision or a preview: HTMX swaps the queue in place; a plain form post gets the whole page."""
    if page.request.headers.get(HTMX_HEADER):
        return render(
            page,
            "_approvals.html",
            queue=_queue(page),
            may_decide=True,
            today=today_shanghai(),
            new_client_id=secrets.token_urlsafe(CLIENT_ID_BYTES),
            notice=notice,
            refusal=refusal,
            preview=preview,
        )
    if refusal is not None:
        return _dashboard(page, refusal=refusal, status=refusal.status)
    return _dashboard(page, notice=notice, preview=preview)


def _decide(page: Page, item_id: str, body, decide, status: str, *, key: str, dry_run: bool) -> dict:  # noqa: ANN001
    """The API's decision on one queue item (api.routers.approvals), in one unit of work: the same scope
    check, the owning domain's service with this user as the checker, the form's key as the idempotency
    key (a form sent twice decides once), and for a preview the dry run that writes nothing."""
    ledger = page.request.app.state.ledger
    with ledger.engine.begin() as uow:
        kind, number = approvals._located(ledger, uow, page.principal, item_id)

        def produce(joined):  # noqa: ANN001, ANN202 - a joined Ledger; returns Written
            written = DECISIONS[status](joined, page.principal, kind, number, body)
            return Written({"id": item_id, "status": status, **written.body}, written.location,
                           written.binding_cap, written.room_left)  # fmt: skip

        return keyed_write(
            ledger, uow, page.principal, f"web:{key}", path=f"/v1/approvals/{item_id}/{decide}",
            content=body.model_dump(mode="json"), produce=produce, response=Response(), dry_run=dry_run,
            created_status=200,
        )  # fmt: skip


def _decision_form(page: Page, item_id: str, model, decide: str, status: str, fields: dict, key: str, preview: bool):  # noqa: ANN001, PLR0913
    try:
        body = model(**fields)
        outcome = _decide(page, item_id, body, decide, status, key=key, dry_run=preview)
    except ValidationError as error:
        message = "; ".join(f"{'.'.join(map(str, item['loc']))}: {item['msg']}" for item in error.errors())
        return _queue_response(page, refusal=PageRefusal(422, message, "request_invalid"))
    except (LedgerError, ApiProblem) as error:
        return _queue_response(page, refusal=refusal_of(error))
    if preview:
        return _queue_response(page, preview={"item": item_id, **outcome})
    return _queue_response(page, notice=page.t(f"finance.decided_{status}"))


ItemPath = Annotated[str, Path(pattern=approvals.ITEM_PATTERN)]
PreviewButton = Annotated[str | None, Form(max_length=8)]
DayField = Annotated[str, Form(max_length=10)]
KeyField = Annotated[str, Form(min_length=1, max_length=200)]


@router.post("/approvals/{item_id}/approve")
def approve_item(
    page: DeciderPage, item_id: ItemPath, csrf: CsrfField, client_id: KeyField, on: DayField = "",
    approval_doc: TextField = "", preview: PreviewButton = None,
) -> Response:  # fmt: skip
    check_csrf(page, csrf)
    fields = {"approval_doc": approval_doc.strip(), "on": on or today_shanghai()}
    return _decision_form(page, item_id, ApprovalIn, "approve", "approved", fields, client_id, bool(preview))


@router.post("/approvals/{item_id}/reject")
def reject_item(
    page: DeciderPage, item_id: ItemPath, csrf: CsrfField, client_id: KeyField, on: DayField = "",
    reason: TextField = "",
) -> Response:  # fmt: skip
    check_csrf(page, csrf)
    fields = {"reason": reason.strip(), "on": on or today_shanghai()}
    return _decision_form(page, item_id, RejectionIn, "reject", "rejected", fields, client_id, False)


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
