"""The finance office's dashboard: budget against committed and spent per program (chart), subsidies per
institution per year against each cap (chart and table), risk pools' balance and exposure, open alerts
(resolved with a reason), the approvals queue, where a clerk's recorded application is approved or rejected
by a second person, cross-region settlement statements with both regions' figures side by side, and the
dashboard as a workbook. Every figure and every decision comes from the domain and jobs services; the scope
filter is the principal's region, as in the API. An auditor reads the same page without its forms."""

from __future__ import annotations

import secrets
import threading
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Path, Query
from fastapi.responses import Response
from pydantic import ValidationError

from api import approval_queue
from api.problems import ApiProblem
from api.schemas.approvals import ApprovalIn, RejectionIn
from api.scopes import Role
from api.web.rendering import (
    WEB_PREFIX,
    Page,
    PageRefusal,
    chart_json,
    reading_ledger,
    refusal_of,
    render,
    signed_in,
)
from api.web.routes_session import CsrfField, check_csrf
from api.web.routes_views import (
    ALERT_RESOLVERS,
    alerts_context,
    dashboard_settlements,
    pools_in_scope,
    region_names,
)
from api.writes import Written, keyed_write
from jobs.alerts import REASON_MAX_LENGTH, AlertsCode, get_alert, resolve_alert
from ledger.db import read_snapshot
from ledger.engine import today_shanghai
from ledger.errors import LedgerError
from ledger.money import from_fen
from ledger.spreadsheet import WAN_YUAN, YUAN, Column, ColumnKind, Sheet, xlsx_bytes
from subsidies import listings as subsidy_listings
from subsidies.audit import budget_execution, institution_year_report
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
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# The queue's own decision functions per outcome (api.approval_queue, as the API's): no second copy here.
DECISIONS = {"approved": approval_queue.approve_item, "rejected": approval_queue.reject_item}


def _service(page: Page) -> SubsidyService:
    """The subsidy service for the page's writes (the maker's step)."""
    return SubsidyService(page.request.app.state.ledger)


def _reader(page: Page) -> SubsidyService:
    """The subsidy service over read-only connections, for the dashboard's figures (rendering.reading_ledger)."""
    return SubsidyService(reading_ledger(page))


def _programs_in_scope(page: Page, service: SubsidyService) -> list:
    with read_snapshot(service.engine) as conn:
        programs = [config for _row, config in subsidy_listings.programs(conn)]
    return [program for program in programs if page.principal.covers_region(program.region)]


def _chart_value(page: Page, fen: int) -> str:
    """A chart's number as a decimal string in the page's unit (ECharts reads numeric strings; no float)."""
    value = from_fen(fen)
    return str(value / YUAN_PER_WAN if page.unit.value == "wan" else value)


def _budget_rows(service: SubsidyService, programs: list) -> list[dict]:
    """Each program's budget, committed (granted) and spent (paid) over its years (subsidies.audit)."""
    totals = budget_execution(service, programs)
    return [
        {
            "code": program.code,
            "name": program.name,
            "budget_fen": totals[program.code]["appropriated_fen"],
            "committed_fen": totals[program.code]["granted_fen"],
            "spent_fen": totals[program.code]["paid_fen"],
        }
        for program in programs
    ]


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
    names: dict[str, str] = {}
    rows = []
    for program in programs:
        for row in institution_year_report(service, program.code):
            code = row["institution"]
            if code not in names:  # one read per institution, however many program-years it has
                entity = ledger.entity(code)
                names[code] = entity["name"] if entity else ""
            rows.append({**row, "program": program.code, "institution_name": names[code]})
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


# Listing the queue holds one pooled connection while its reads open others (funds' reads take none of the
# caller's), so a burst of dashboards each holding one and waiting for another could drain the pool and wait
# on each other until its timeout (seen at 20 concurrent users on SQLite's pool of 15). At most this many
# list it at once: each holds at most two, the rest wait here holding none.
QUEUE_LISTINGS_AT_ONCE = 4
_queue_listings = threading.BoundedSemaphore(QUEUE_LISTINGS_AT_ONCE)


def _queue(page: Page) -> list:
    """Everything waiting for a second person in the user's regions: the API's own queue and scope rule."""
    ledger = reading_ledger(page)
    with _queue_listings, ledger.reader.connect() as conn:
        waiting = approval_queue.queue_items(ledger, conn)
    items = [item for item in waiting if approval_queue.item_visible(ledger, page.principal, item)]
    shown = []
    for item in sorted(items, key=approval_queue.queue_order):
        entity = ledger.entity(item.institution) if item.institution else None
        shown.append({"item": item, "institution_name": entity["name"] if entity else (item.institution or "")})
    return shown


def _institutions(page: Page, cap_rows: list[dict]) -> list[dict]:
    """Institutions a clerk may record an application for: those registered in the office's regions."""
    ledger = page.request.app.state.ledger
    seen = {}
    for row in cap_rows:
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
    alert_notice: str | None = None,
    alert_refusal: PageRefusal | None = None,
    caps_after: str | None = None,
    alerts_after: int | None = None,
):
    service = _reader(page)
    programs = _programs_in_scope(page, service)
    budget_rows = _budget_rows(service, programs)
    all_cap_rows = _cap_rows(page, service, programs)
    cap_rows, caps_next = _cap_page(all_cap_rows, caps_after)
    settlements, more_settlements = dashboard_settlements(page)
    sides = {side for item in settlements for side in (item.low.region, item.high.region)}
    return render(
        page,
        "finance.html",
        status=status,
        programs=programs,
        budget_rows=budget_rows,
        budget_chart=_budget_chart(page, budget_rows),
        cap_rows=cap_rows,
        cap_chart=_cap_chart(page, cap_rows),
        pools=pools_in_scope(page),
        settlements=settlements,
        more_settlements=more_settlements,
        names=region_names(page, sides),
        # Alerts carry their region: a finance office sees those of its regions (as over HTTP), admin all.
        caps_next=caps_next,
        caps_paged=bool(caps_after),
        **alerts_context(page, notice=alert_notice, refusal=alert_refusal, after=alerts_after),
        queue=_queue(page),
        today=today_shanghai(),
        institutions=_institutions(page, all_cap_rows) if page.principal.role in DECIDERS else [],
        may_decide=page.principal.role in DECIDERS,
        new_client_id=secrets.token_urlsafe(CLIENT_ID_BYTES),
        notice=notice,
        refusal=refusal,
        preview=preview,
    )


CAP_ROWS_PAGE_SIZE = 50


def _cap_key(row: dict) -> str:
    """An institution-year row's place in the table (program, institution, year), as the URL carries it."""
    return f"{row['program']}~{row['institution']}~{row['year']}"


def _cap_page(rows: list[dict], after: str | None) -> tuple[list[dict], str | None]:
    """A page of the institution-year rows (in program, institution, year order) after the key ``after``, and
    the key the next page starts after (None on the last); the chart draws the same rows."""

    def place(row: dict) -> tuple[str, str, int]:
        return row["program"], row["institution"], row["year"]

    ordered = sorted(rows, key=place)
    program, _, rest = (after or "").partition("~")
    institution, _, year = rest.partition("~")
    if after and year.isdigit():
        ordered = [row for row in ordered if place(row) > (program, institution, int(year))]
    shown = ordered[:CAP_ROWS_PAGE_SIZE]
    return shown, _cap_key(shown[-1]) if len(ordered) > CAP_ROWS_PAGE_SIZE else None


@router.get("/finance")
def finance_dashboard(
    page: DashboardPage,
    caps_after: Annotated[str | None, Query(max_length=120)] = None,
    alerts_after: Annotated[int | None, Query(ge=0, le=2**31 - 1)] = None,
):
    """The dashboard; ``caps_after`` and ``alerts_after`` page its two long tables (bookmarkable)."""
    return _dashboard(page, caps_after=caps_after, alerts_after=alerts_after)


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
        kind, number = approval_queue.locate_item(ledger, uow, page.principal, item_id)

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
        return _queue_response(page, refusal=PageRefusal(422, message, "request_invalid", from_service=True))
    except (LedgerError, ApiProblem) as error:
        return _queue_response(page, refusal=refusal_of(error))
    if preview:
        return _queue_response(page, preview={"item": item_id, **outcome})
    return _queue_response(page, notice=page.t(f"finance.decided_{status}"))


ItemPath = Annotated[str, Path(pattern=approval_queue.ITEM_PATTERN)]
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


# ----- alerts: resolve with a reason ---------------------------------------------------------------------

ResolverPage = Annotated[Page, Depends(signed_in(*ALERT_RESOLVERS))]


@router.post("/alerts/{alert_id}/resolve")
def resolve_alert_form(
    page: ResolverPage,
    alert_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    csrf: CsrfField,
    reason: Annotated[str, Form(max_length=REASON_MAX_LENGTH * 2)] = "",
) -> Response:
    """Resolve one open alert with a reason through jobs.alerts.resolve_alert, the call POST
    /v1/alerts/{id}/resolve makes: an alert outside the office's regions is the same 404 as one that does not
    exist; a blank reason is refused with the rule's message and nothing is written; the same resolution sent
    twice changes nothing. HTMX swaps the alerts card in place; a plain form post gets the whole dashboard."""
    check_csrf(page, csrf)
    engine = page.request.app.state.engine
    notice, refusal = None, None
    try:
        alert = get_alert(engine, alert_id)
        if not page.principal.covers_region(alert["region"]):
            raise LedgerError(AlertsCode.ALERT_NOT_FOUND, f"alert {alert_id} does not exist")
        resolve_alert(engine, alert_id, actor=page.principal.name, reason=reason)
        notice = page.t("views.alert_resolved", id=alert_id)
    except LedgerError as error:
        refusal = refusal_of(error)
    status = refusal.status if refusal is not None else 200
    if page.request.headers.get(HTMX_HEADER):
        # HTMX swaps only a successful response by default: a refusal is a 200 fragment with its code shown.
        return render(page, "_alerts.html", **alerts_context(page, notice=notice, refusal=refusal))
    return _dashboard(page, status=status, alert_notice=notice, alert_refusal=refusal)


# ----- the dashboard as a workbook ------------------------------------------------------------------------


def _money_columns(page: Page, *names: tuple[str, str]) -> list[Column]:
    return [Column(key, page.t(label), ColumnKind.FEN) for key, label in names]


@router.get("/finance/export.xlsx")
def finance_export(page: DashboardPage) -> Response:
    """The dashboard's tables as a workbook (one sheet each), in the page's unit and language, from the same
    reads as the page: budget per program, subsidies per institution-year against each cap, risk pools,
    settlements side by side and the open alerts."""
    t = page.t
    service = _reader(page)
    programs = _programs_in_scope(page, service)
    budget = Sheet(
        t("views.sheet_budget")[:31],
        [Column("code", t("enterprise.program")), Column("name", t("views.name")),
         *_money_columns(page, ("budget_fen", "finance.budget"), ("committed_fen", "finance.committed"),
                         ("spent_fen", "finance.spent"))],
        _budget_rows(service, programs),
    )  # fmt: skip
    cap_rows = []
    for row in _cap_rows(page, service, programs):
        for cap in row["caps"] or [{}]:
            enforcement = cap.get("enforcement")
            cap_rows.append(
                {"program": row["program"], "institution": row["institution"], "name": row["institution_name"],
                 "year": row["year"], "granted_fen": row["granted_fen"], "rule": cap.get("rule", ""),
                 "enforcement": t(f"enforcement.{enforcement}") if enforcement else "",
                 "limit_fen": cap.get("limit_fen"), "room_fen": cap.get("room_fen")}
            )  # fmt: skip
    caps = Sheet(
        t("views.sheet_caps")[:31],
        [Column("program", t("enterprise.program")), Column("institution", t("views.credit_code")),
         Column("name", t("finance.institution")), Column("year", t("enterprise.year"), ColumnKind.INT),
         *_money_columns(page, ("granted_fen", "enterprise.granted")), Column("rule", t("finance.rule")),
         Column("enforcement", t("finance.enforcement")),
         *_money_columns(page, ("limit_fen", "finance.limit"), ("room_fen", "finance.room"))],
        cap_rows,
        totals=False,
    )  # fmt: skip
    pools = Sheet(
        t("views.pools")[:31],
        [Column("code", t("views.pool")), Column("name", t("views.name")),
         *_money_columns(page, ("balance_fen", "views.pool_balance"), ("covered_fen", "views.pool_covered")),
         Column("filed_loans", t("views.filed_loans"), ColumnKind.INT),
         *_money_columns(page, ("entitled_fen", "views.claims_entitled"), ("paid_fen", "views.claims_paid"),
                         ("owed_fen", "views.claims_owed"), ("recovered_fen", "views.recovered"))],
        pools_in_scope(page),
    )  # fmt: skip
    settlements, _more = dashboard_settlements(page)
    names = region_names(page, {side for item in settlements for side in (item.low.region, item.high.region)})
    settlement_rows = [
        {"id": item.settlement["id"], "period": item.settlement["period_label"], "figure": t(f"views.figure.{name}"),
         "low": f"{item.low.region} {names[item.low.region]}", "low_fen": low,
         "high": f"{item.high.region} {names[item.high.region]}", "high_fen": high}
        for item in settlements for name, low, high in item.rows()
    ]  # fmt: skip
    settlement_sheet = Sheet(
        t("views.settlements")[:31],
        [Column("id", t("views.settlement_no"), ColumnKind.INT), Column("period", t("views.period")),
         Column("figure", t("views.figure")), Column("low", t("views.side_low")),
         *_money_columns(page, ("low_fen", "views.side_low_amount")), Column("high", t("views.side_high")),
         *_money_columns(page, ("high_fen", "views.side_high_amount"))],
        settlement_rows,
        totals=False,
    )  # fmt: skip
    alert_rows = [
        {"id": alert["id"], "kind": alert["kind"], "subject": alert["subject"], "severity": alert["severity"],
         "region": alert["region"] or "", "message": alert["message"], "first_seen": alert["first_seen"].date()
         if alert["first_seen"] else None}
        for alert in alerts_context(page)["alerts"]
    ]  # fmt: skip
    alerts = Sheet(
        t("finance.alerts")[:31],
        [Column("id", "#", ColumnKind.INT), Column("kind", t("finance.alert_kind")),
         Column("subject", t("finance.alert_subject")), Column("severity", t("views.severity")),
         Column("region", t("views.region")), Column("message", t("finance.alert_message")),
         Column("first_seen", t("finance.first_seen"), ColumnKind.DATE)],
        alert_rows,
        totals=False,
    )  # fmt: skip
    unit = WAN_YUAN if page.unit.value == "wan" else YUAN
    workbook = xlsx_bytes([budget, caps, pools, settlement_sheet, alerts], unit)
    headers = {"Content-Disposition": f'attachment; filename="finance-{today_shanghai().isoformat()}.xlsx"'}
    return Response(workbook, media_type=XLSX_MEDIA_TYPE, headers=headers)
