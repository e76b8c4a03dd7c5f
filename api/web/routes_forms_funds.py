"""Record forms of the fund manager: commitments, capital calls and their payments, investments, exits,
valuations and distributions, each through the HTTP API's own handler (api.routers.funds)."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import Connection

from api.routers import funds as fund_routes
from api.schemas.funds import (
    CallPaymentIn,
    CapitalCallIn,
    CommitmentIn,
    DistributionIn,
    ExitIn,
    InvestmentIn,
    ValuationIn,
)
from api.web.forms import Call, Choice, FieldKind, FormField, RecordForm, install_forms, today_text
from api.web.rendering import Page

router = APIRouter(include_in_schema=False)
MANAGER_ROLES = fund_routes.MANAGER_ROLES
STAGES = ("seed", "start_up", "growth")


def _subfunds(page: Page) -> list[Choice]:
    """The sub-funds the manager may record for, as the API's scope rule sees them."""
    ledger = page.request.app.state.ledger
    codes = fund_routes._visible_subfund_codes(ledger, page.principal, None, None)
    return [Choice(code, code) for code in sorted(codes)]


def _stages(page: Page) -> list[Choice]:
    return [Choice(stage, page.label("form.choice", stage)) for stage in STAGES]


def _uow(call: Call) -> Connection:
    assert call.uow is not None  # every fund form runs in the request's unit of work
    return call.uow


def _commitment(call: Call):  # noqa: ANN202 - the handler's answer
    body = call.body(CommitmentIn, "investor_code", "amount", "committed_on", "is_guidance")
    return fund_routes.record_commitment(
        call.values["subfund"], body, call.principal, call.ledger, _uow(call), call.response, idempotency_key=call.key
    )


def _capital_call(call: Call):  # noqa: ANN202
    body = call.body(CapitalCallIn, "ratio", "notice_on", "due_on")
    return fund_routes.record_call(
        call.values["subfund"], body, call.principal, call.ledger, _uow(call), call.response, idempotency_key=call.key
    )


def _call_payment(call: Call):  # noqa: ANN202
    body = call.body(CallPaymentIn, "investor_code", "amount", "paid_on")
    return fund_routes.pay_call(
        call.values["call_id"], body, call.principal, call.ledger, _uow(call), call.response,
        idempotency_key=call.key, dry_run=call.dry_run,
    )  # fmt: skip


def _investment(call: Call):  # noqa: ANN202
    body = call.body(
        InvestmentIn, "enterprise_code", "amount", "invested_on", "stage", "is_local", "sector", "hard_tech"
    )
    return fund_routes.invest(
        call.values["subfund"], body, call.principal, call.ledger, _uow(call), call.response,
        idempotency_key=call.key, dry_run=call.dry_run,
    )  # fmt: skip


def _exit(call: Call):  # noqa: ANN202
    body = call.body(ExitIn, "cost", "proceeds", "exited_on")
    return fund_routes.exit_investment(
        call.values["investment_id"], body, call.principal, call.ledger, _uow(call), call.response,
        idempotency_key=call.key, dry_run=call.dry_run,
    )  # fmt: skip


def _valuation(call: Call):  # noqa: ANN202
    body = call.body(ValuationIn, "as_of", "nav", "source")
    return fund_routes.record_valuation(
        call.values["subfund"], body, call.principal, call.ledger, _uow(call), call.response
    )


def _distribution(call: Call):  # noqa: ANN202
    body = call.body(DistributionIn, "distributed_on", "capital", "income", "recallable")
    return fund_routes.record_distribution(
        call.values["subfund"], body, call.principal, call.ledger, _uow(call), call.response, idempotency_key=call.key
    )


F = FormField
SUBFUND = F("subfund", choices=_subfunds)
FORMS: tuple[RecordForm, ...] = (
    RecordForm(
        "commitment", "fund", MANAGER_ROLES,
        (SUBFUND, F("investor_code"), F("amount", FieldKind.YUAN),
         F("committed_on", FieldKind.DATE, default=today_text), F("is_guidance", FieldKind.FLAG, required=False)),
        _commitment, goes_to_approval=True,
    ),
    RecordForm(
        "capital-call", "fund", MANAGER_ROLES,
        (SUBFUND, F("ratio", FieldKind.RATIO), F("notice_on", FieldKind.DATE, default=today_text),
         F("due_on", FieldKind.DATE)),
        _capital_call, goes_to_approval=True,
    ),
    RecordForm(
        "call-payment", "fund", MANAGER_ROLES,
        (F("call_id", FieldKind.INTEGER), F("investor_code"), F("amount", FieldKind.YUAN),
         F("paid_on", FieldKind.DATE, default=today_text)),
        _call_payment, handler_dry_run=True,
    ),
    RecordForm(
        "investment", "fund", MANAGER_ROLES,
        (SUBFUND, F("enterprise_code", max_length=18), F("amount", FieldKind.YUAN),
         F("invested_on", FieldKind.DATE, default=today_text), F("stage", FieldKind.CHOICE, choices=_stages),
         F("sector", max_length=64), F("is_local", FieldKind.FLAG, required=False),
         F("hard_tech", FieldKind.FLAG, required=False)),
        _investment, handler_dry_run=True,
    ),
    RecordForm(
        "exit", "fund", MANAGER_ROLES,
        (F("investment_id", FieldKind.INTEGER), F("cost", FieldKind.YUAN), F("proceeds", FieldKind.YUAN),
         F("exited_on", FieldKind.DATE, default=today_text)),
        _exit, handler_dry_run=True,
    ),
    RecordForm(
        "valuation", "fund", MANAGER_ROLES,
        (SUBFUND, F("as_of", FieldKind.DATE, default=today_text), F("nav", FieldKind.YUAN),
         F("source", required=False)),
        _valuation, handler_keyed=False,
    ),
    RecordForm(
        "distribution", "fund", MANAGER_ROLES,
        (SUBFUND, F("distributed_on", FieldKind.DATE, default=today_text), F("capital", FieldKind.YUAN),
         F("income", FieldKind.YUAN), F("recallable", FieldKind.FLAG, required=False)),
        _distribution, goes_to_approval=True,
    ),
)  # fmt: skip

install_forms(router, FORMS)
