"""Record forms of the partner bank (loans filed with a risk pool, default claims, recoveries) and of the
service provider (its claim on a voucher redemption), each through the HTTP API's own handler
(api.routers.pools, api.routers.vouchers). The bank's and provider's pages themselves are
api.web.routes_forms_partners and api.web.routes_roles."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import Connection

from api.routers import pools as pool_routes
from api.routers import vouchers as voucher_routes
from api.schemas.pools import LoanIn, PoolClaimIn, RecoveryIn
from api.schemas.vouchers import ClaimIn
from api.scopes import Role
from api.web.forms import Call, Choice, FieldKind, FormField, RecordForm, install_forms, today_text
from api.web.rendering import Page
from funds import reads

router = APIRouter(include_in_schema=False)
BANK_ROLES = pool_routes.BANK_ROLES
PROVIDER_ROLES = (Role.ADMIN, Role.SERVICE_PROVIDER)


def _own_bank(page: Page) -> str:
    institutions = page.principal.institutions() if page.principal.role is Role.BANK else []
    return institutions[0] if institutions else ""


def _pools(page: Page) -> list[Choice]:
    """The pools the bank has an agreement with (the API's own visibility rule)."""
    ledger = page.request.app.state.ledger
    return [
        Choice(pool["code"], pool["name"])
        for pool in reads.pools(ledger)
        if pool_routes._pool_seen(page.principal, pool)
    ]


def _uow(call: Call) -> Connection:
    assert call.uow is not None  # every form here runs in the request's unit of work
    return call.uow


def _loan(call: Call):  # noqa: ANN202 - the handler's answer
    body = call.body(
        LoanIn, "pool", "bank_code", "enterprise_code", "loan_number", "principal", "disbursed_on", "term_months",
        "filed_on",
    )  # fmt: skip
    return pool_routes.file_loan(
        body, call.principal, call.ledger, _uow(call), call.response, idempotency_key=call.key, dry_run=call.dry_run
    )


def _pool_claim(call: Call):  # noqa: ANN202
    body = call.body(PoolClaimIn, "loan_id", "non_performing", "claimed_on")
    return pool_routes.submit_claim(
        body, call.principal, call.ledger, _uow(call), call.response, idempotency_key=call.key
    )


def _recovery(call: Call):  # noqa: ANN202
    body = call.body(RecoveryIn, "claim_id", "gross", "costs", "recovered_on")
    return pool_routes.record_recovery(
        body, call.principal, call.ledger, _uow(call), call.response, idempotency_key=call.key, dry_run=call.dry_run
    )


def _voucher_claim(call: Call):  # noqa: ANN202
    body = call.body(ClaimIn, "invoice_no", "invoiced_amount", "requested_amount", "on")
    return voucher_routes.post_claim(
        call.values["redemption_id"], body, call.principal, call.ledger, _uow(call), call.request, call.response,
        idempotency_key=call.key,
    )  # fmt: skip


F = FormField
FORMS: tuple[RecordForm, ...] = (
    RecordForm(
        "loan", "bank", BANK_ROLES,
        (F("pool", choices=_pools), F("bank_code", max_length=18, default=_own_bank),
         F("enterprise_code", max_length=18), F("loan_number", max_length=64), F("principal", FieldKind.YUAN),
         F("disbursed_on", FieldKind.DATE), F("term_months", FieldKind.INTEGER),
         F("filed_on", FieldKind.DATE, default=today_text)),
        _loan, handler_dry_run=True,
    ),
    RecordForm(
        "pool-claim", "bank", BANK_ROLES,
        (F("loan_id", FieldKind.INTEGER), F("non_performing", FieldKind.YUAN),
         F("claimed_on", FieldKind.DATE, default=today_text)),
        _pool_claim, goes_to_approval=True,
    ),
    RecordForm(
        "recovery", "bank", BANK_ROLES,
        (F("claim_id", FieldKind.INTEGER), F("gross", FieldKind.YUAN), F("costs", FieldKind.YUAN),
         F("recovered_on", FieldKind.DATE, default=today_text)),
        _recovery, handler_dry_run=True,
    ),
    RecordForm(
        "voucher-claim", "provider", PROVIDER_ROLES,
        (F("redemption_id", FieldKind.INTEGER), F("invoice_no", max_length=40),
         F("invoiced_amount", FieldKind.YUAN), F("requested_amount", FieldKind.YUAN, required=False),
         F("on", FieldKind.DATE, default=today_text)),
        _voucher_claim, goes_to_approval=True,
    ),
)  # fmt: skip

install_forms(router, FORMS)
