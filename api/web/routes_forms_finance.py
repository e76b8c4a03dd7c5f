"""Record forms of the finance office's clerk (programs, grants, payments, clawbacks, period close, reversals)
and of the enterprise (its applications and service contracts), plus the page listing a user's forms.

Each form's ``record`` calls the HTTP API's own handler (api.routers.*) with the form's values as the API's
body: the same scope checks, services, approvals filing and idempotency as over HTTP (api.web.forms)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends
from sqlalchemy import Connection

from api.routers import books as book_routes
from api.routers import subsidies as subsidy_routes
from api.routers import transactions as transaction_routes
from api.routers import vouchers as voucher_routes
from api.schemas.subsidies import ApplicationIn, ClawbackIn, PaymentIn, SubsidyProgramIn
from api.schemas.vouchers import ReservationIn, VoucherGrantIn, VoucherProgramIn
from api.scopes import ALL_ROLES, Role, institution_regions, program_visible, visible_books
from api.web.forms import (
    FORMS_PREFIX,
    Call,
    Choice,
    FieldKind,
    FormField,
    RecordForm,
    forms_for,
    install_forms,
    today_text,
)
from api.web.rendering import Page, render, signed_in
from api.writes import joined_ledger
from subsidies.audit import institution_year_report
from subsidies.service import SubsidyService
from vouchers import listings as voucher_listings

router = APIRouter(prefix="", include_in_schema=False)
CLERK_ROLES = (Role.FINANCE_OFFICE, Role.ADMIN)
APPLICANT_ROLES = (Role.FINANCE_OFFICE, Role.ADMIN, Role.ENTERPRISE)
CAP_ENFORCEMENTS = ("stop", "clip", "warn")
CONTRACT_MODES = ("", "tongdui", "tongyong")


# ----- defaults and suggestions: what the user may pick, read as the API lists it ------------------------------


def _own_region(page: Page) -> str:
    regions = page.principal.regions()
    return regions[0] if regions else ""


def _own_institution(page: Page) -> str:
    institutions = page.principal.institutions() if page.principal.role is Role.ENTERPRISE else []
    return institutions[0] if institutions else ""


def _voucher_programs(page: Page) -> list[Choice]:
    ledger = page.request.app.state.ledger
    registered = institution_regions(ledger, page.principal)
    with ledger.reader.connect() as conn:
        rows = voucher_listings.programs(conn)
    return [
        Choice(row["code"], row["config"].get("name", row["code"]))
        for row in rows
        if program_visible(page.principal, row["region_code"], registered)
    ]


def _subsidy_programs(page: Page) -> list[Choice]:
    ledger = page.request.app.state.ledger
    return [Choice(config.code, config.name) for config in subsidy_routes._visible_programs(ledger, page.principal)]


def _books(page: Page) -> list[Choice]:
    ledger = page.request.app.state.ledger
    return [Choice(book["code"], book["name"]) for book in visible_books(ledger, page.principal)]


def _fixed(*values: str) -> Callable[[Page], list[Choice]]:
    def choices(page: Page) -> list[Choice]:
        return [Choice(value, page.label("form.choice", value or "none")) for value in values]

    return choices


# ----- the calls ---------------------------------------------------------------------------------------------


def _uow(call: Call) -> Connection:
    assert call.uow is not None  # every form here runs in the request's unit of work
    return call.uow


def _voucher_program(call: Call):  # noqa: ANN202 - the handler's answer
    body = call.body(VoucherProgramIn, *(name for name in VOUCHER_PROGRAM_FIELDS))
    return voucher_routes.post_program(
        body, call.principal, call.ledger, _uow(call), call.request, call.response, idempotency_key=call.key
    )


def _subsidy_program(call: Call):  # noqa: ANN202
    body = call.body(SubsidyProgramIn, "config")
    return subsidy_routes.post_program(
        body, call.principal, call.ledger, _uow(call), call.request, call.response,
        idempotency_key=call.key, dry_run=call.dry_run,
    )  # fmt: skip


def _voucher_grant(call: Call):  # noqa: ANN202
    body = call.body(VoucherGrantIn, "program", "enterprise", "amount", "on")
    return voucher_routes.post_grant(
        body, call.principal, call.ledger, _uow(call), call.request, call.response,
        idempotency_key=call.key, dry_run=call.dry_run,
    )  # fmt: skip


def _subsidy_application(call: Call):  # noqa: ANN202
    figures = {}
    if call.values.get("figure_name"):
        figures[call.values["figure_name"]] = call.values.get("figure_amount", "")
    body = ApplicationIn.model_validate(
        {"institution": call.values["institution"], "year": call.values["year"], "base_figures": figures}
    )
    answer = subsidy_routes.post_application(
        call.values["program"], body, call.principal, call.ledger, _uow(call), call.request, call.response,
        idempotency_key=call.key,
    )  # fmt: skip
    return {**answer, "caps_now": _caps_now(call, call.values["program"], body.institution, body.year)}


def _caps_now(call: Call, program: str, institution: str, year: int) -> list[dict]:
    """The program's amount caps with what the subsidies report says is used of them now for this
    institution: the room an approval will have (the application consumes nothing; a cap binds when a
    second person approves). Without a grant in that year, the year's cap is untouched; the lifetime cap
    is the report's for the institution in any year."""
    service = SubsidyService(joined_ledger(call.ledger, _uow(call)))  # read inside this unit of work
    rows = [row for row in institution_year_report(service, program) if row["institution"] == institution]
    this_year = next((row for row in rows if row["year"] == year), None)
    reported = {cap["rule"]: cap for cap in (this_year or {}).get("caps", [])}
    if this_year is None and rows:
        reported = {cap["rule"]: cap for cap in rows[0]["caps"] if cap["rule"] == "lifetime"}
    caps = []
    for cap in service.program(program).caps:
        if cap.amount is None:
            continue
        seen = reported.get(cap.kind)
        room = seen["room_fen"] if seen else cap.amount
        caps.append({"rule": cap.kind, "enforcement": str(cap.enforcement), "limit_fen": cap.amount, "room_fen": room})
    return caps


def _subsidy_payment(call: Call):  # noqa: ANN202
    body = call.body(PaymentIn, "on")
    return subsidy_routes.post_payment(
        call.values["grant_id"], body, call.principal, call.ledger, _uow(call), call.request, call.response,
        idempotency_key=call.key, dry_run=call.dry_run,
    )  # fmt: skip


def _subsidy_clawback(call: Call):  # noqa: ANN202
    body = call.body(ClawbackIn, "reason")
    return subsidy_routes.post_clawback(
        call.values["grant_id"], body, call.principal, call.ledger, _uow(call), call.request, call.response,
        idempotency_key=call.key,
    )  # fmt: skip


def _period_close(call: Call):  # noqa: ANN202
    return book_routes.close_period(call.values["book"], call.values["period"], call.principal, call.ledger, _uow(call))


def _reversal(call: Call):  # noqa: ANN202
    document = {
        "type": "reversal",
        "target": call.values["target"],
        "reason": call.values["reason"],
        "date": call.values["date"],
    }
    return transaction_routes.post_transaction(
        call.principal, call.ledger, call.response, document, idempotency_key=call.key, dry_run=call.dry_run
    )


def _reservation(call: Call):  # noqa: ANN202
    values = dict(call.values)
    if not values.get("mode"):
        values.pop("mode", None)
    body = ReservationIn.model_validate({name: values[name] for name in RESERVATION_FIELDS if name in values})
    return voucher_routes.post_reservation(
        body, call.principal, call.ledger, _uow(call), call.request, call.response,
        idempotency_key=call.key, dry_run=call.dry_run,
    )  # fmt: skip


# ----- the forms ---------------------------------------------------------------------------------------------

VOUCHER_PROGRAM_FIELDS = (
    "code", "name", "region", "year", "budget", "enterprise_annual_cap", "per_application", "copay_ratio",
    "categories", "use_by", "redeem_by", "cap_enforcement",
)  # fmt: skip
RESERVATION_FIELDS = ("program", "enterprise", "provider", "category", "contract_no", "contract_amount", "on", "mode")

F = FormField
FORMS: tuple[RecordForm, ...] = (
    RecordForm(
        "voucher-program", "finance", CLERK_ROLES,
        (
            F("code"), F("name"), F("region", default=_own_region), F("year", FieldKind.INTEGER),
            F("budget", FieldKind.YUAN), F("enterprise_annual_cap", FieldKind.YUAN),
            F("per_application", FieldKind.YUAN), F("copay_ratio", FieldKind.RATIO), F("categories", FieldKind.LIST),
            F("use_by", FieldKind.DATE), F("redeem_by", FieldKind.DATE),
            F("cap_enforcement", FieldKind.CHOICE, choices=_fixed(*CAP_ENFORCEMENTS)),
        ),
        _voucher_program, goes_to_approval=True,
    ),
    RecordForm(
        "subsidy-program", "finance", CLERK_ROLES, (F("config", FieldKind.LONG_TEXT),), _subsidy_program,
        handler_dry_run=True,
    ),
    RecordForm(
        "voucher-grant", "finance", APPLICANT_ROLES,
        (
            F("program", choices=_voucher_programs), F("enterprise", default=_own_institution),
            F("amount", FieldKind.YUAN), F("on", FieldKind.DATE, default=today_text),
        ),
        _voucher_grant, handler_dry_run=True, goes_to_approval=True,
    ),
    RecordForm(
        "subsidy-application", "finance", APPLICANT_ROLES,
        (
            F("program", choices=_subsidy_programs), F("institution", default=_own_institution),
            F("year", FieldKind.INTEGER), F("figure_name", required=False, max_length=64),
            F("figure_amount", FieldKind.YUAN, required=False),
        ),
        _subsidy_application, goes_to_approval=True,
    ),
    RecordForm(
        "subsidy-payment", "finance", CLERK_ROLES,
        (F("grant_id", FieldKind.INTEGER), F("on", FieldKind.DATE, default=today_text)),
        _subsidy_payment, handler_dry_run=True,
    ),
    RecordForm(
        "subsidy-clawback", "finance", CLERK_ROLES,
        (F("grant_id", FieldKind.INTEGER), F("reason", max_length=500)),
        _subsidy_clawback, goes_to_approval=True,
    ),
    RecordForm(
        "period-close", "finance", CLERK_ROLES, (F("book", choices=_books), F("period", max_length=7)),
        _period_close, handler_keyed=False,
    ),
    RecordForm(
        "reversal", "finance", CLERK_ROLES,
        (F("target", FieldKind.INTEGER), F("reason", max_length=500), F("date", FieldKind.DATE, default=today_text)),
        _reversal, handler_dry_run=True, own_transaction=True,
    ),
    RecordForm(
        "voucher-reservation", "enterprise", APPLICANT_ROLES,
        (
            F("program", choices=_voucher_programs), F("enterprise", default=_own_institution), F("provider"),
            F("category", max_length=40), F("contract_no", max_length=40), F("contract_amount", FieldKind.YUAN),
            F("on", FieldKind.DATE, default=today_text),
            F("mode", FieldKind.CHOICE, required=False, choices=_fixed(*CONTRACT_MODES)),
        ),
        _reservation, handler_dry_run=True,
    ),
)  # fmt: skip

install_forms(router, FORMS)


def all_forms() -> tuple[RecordForm, ...]:
    """Every page form of every role (the index lists those of the user's role)."""
    from api.web import routes_forms_funds, routes_forms_lending

    return FORMS + routes_forms_funds.FORMS + routes_forms_lending.FORMS


AnyRolePage = Annotated[Page, Depends(signed_in(*ALL_ROLES))]


@router.get(FORMS_PREFIX)
def forms_index(page: AnyRolePage):
    groups: dict[str, list[RecordForm]] = {}
    for form in forms_for(page.principal, all_forms()):
        groups.setdefault(form.group, []).append(form)  # in the order the forms are declared
    return render(page, "forms/index.html", groups=list(groups.items()))
