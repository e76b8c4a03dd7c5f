"""The partner bank's pages (合作银行): its filed loans with their filing window, its default claims with what
was paid and what is still owed, and the payouts it still has recoveries (追偿) to report against.

Scope is the API's (api.routers.pools): a bank sees its own loans, claims and recoveries; a finance office or
auditor those of a bank in the pools its region funds; another bank's loan is a 404, as over HTTP. Figures are
the funds package's rows (funds.reads) and the filing rule's own deadline (funds.pools.filing_deadline)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from api.routers import pools as pool_routes
from api.schemas.funds import ID_MAX
from api.scopes import CREDIT_CODE, Principal, Role
from api.web import routes_uploads
from api.web.rendering import WEB_PREFIX, Page, PageRefusal, reading_ledger, render, signed_in
from funds import reads
from funds.config import PoolPolicy
from funds.pools import filing_deadline
from ledger.engine import Ledger
from ledger.errors import LedgerError

router = APIRouter(prefix=WEB_PREFIX, include_in_schema=False)
router.include_router(routes_uploads.router)  # the bulk uploads (批量导入), under the same prefix
BANK_READERS = (Role.BANK, Role.FINANCE_OFFICE, Role.AUDITOR, Role.ADMIN)
BankPage = Annotated[Page, Depends(signed_in(*BANK_READERS))]
BankCode = Annotated[str, Path(max_length=18)]
LoanId = Annotated[int, Path(ge=1, le=ID_MAX)]
# Claims whose payout may still see a recovery reported against it (a rejected or pending claim paid nothing).
PAID_CLAIM_STATUSES = ("approved", "paid")


def _not_found(page: Page) -> PageRefusal:
    return PageRefusal(404, page.t("error.not_found"), "not_found")


def _bank_visible(ledger: Ledger, principal: Principal, code: str) -> bool:
    """A bank's page: the bank itself, or a bank with an agreement in a pool the caller oversees."""
    if principal.role is Role.BANK:
        return code in principal.institutions()
    return any(
        pool_routes._pool_seen(principal, pool) and any(bank["bank_code"] == code for bank in pool["banks"])
        for pool in reads.pools(ledger)
    )


class _Names:
    """Entity names for the codes a page shows, each read once."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.known: dict[str, str] = {}

    def __call__(self, code: str) -> str:
        if code not in self.known:
            entity = self.ledger.entity(code) if CREDIT_CODE.match(code) else None
            self.known[code] = entity["name"] if entity else ""
        return self.known[code]


def _filing_windows(ledger: Ledger, loans: list[dict]) -> list[dict]:
    """Each loan with its filing deadline under its pool's policy and the days it was filed before it."""
    policies: dict[str, PoolPolicy] = {}
    pool_rows = {pool["code"]: pool for pool in reads.pools(ledger)} if loans else {}
    shown = []
    for loan in loans:
        code = loan["pool_code"]
        if code not in policies:
            policies[code] = PoolPolicy.model_validate_json(pool_rows[code]["policy_json"])
        deadline = filing_deadline(policies[code], loan["disbursed_on"])
        shown.append({**loan, "deadline": deadline, "days_to_spare": (deadline - loan["filed_on"]).days})
    return shown


def _claims_with_loans(claims: list[dict], loans_by_id: dict[int, dict]) -> list[dict]:
    numbers = {loan_id: loan["loan_number"] for loan_id, loan in loans_by_id.items()}
    return [{**claim, "loan_number": numbers.get(claim["loan_id"], "")} for claim in claims]


def _to_recover(claims: list[dict], recoveries: list[dict]) -> list[dict]:
    """Paid claims against which a recovery may still be reported: what was paid, what came back, the room
    the recovery rule leaves (it never returns more than the payout), and the last recovery's date."""
    last = {}
    for row in recoveries:
        last[row["claim_id"]] = max(last.get(row["claim_id"], row["recovered_on"]), row["recovered_on"])
    return [
        {**claim, "room_fen": claim["paid_fen"] - claim["recovered_fen"], "last_recovered_on": last.get(claim["id"])}
        for claim in claims
        if claim["status"] in PAID_CLAIM_STATUSES and claim["paid_fen"] > claim["recovered_fen"]
    ]


@router.get("/banks/{code}")
def bank_page(page: BankPage, code: BankCode):
    ledger = reading_ledger(page)  # the page only reads: deferred, never queued behind the writer
    principal = page.principal
    if not CREDIT_CODE.match(code) or not _bank_visible(ledger, principal, code):
        raise _not_found(page)
    funders = pool_routes._funders_by_pool(ledger)
    loans = [
        row
        for row in reads.loans(ledger)
        if row["bank_code"] == code and pool_routes._record_seen(principal, row, funders)
    ]
    claims = [
        row
        for row in reads.claims(ledger)
        if row["bank_code"] == code and pool_routes._record_seen(principal, row, funders)
    ]
    claim_ids = {claim["id"] for claim in claims}
    recoveries = [row for row in reads.recoveries(ledger) if row["claim_id"] in claim_ids]
    loans_by_id = {loan["id"]: loan for loan in loans}
    names = _Names(ledger)
    return render(
        page,
        "bank.html",
        code=code,
        bank_name=names(code),
        names=names,
        loans=_filing_windows(ledger, loans),
        claims=_claims_with_loans(claims, loans_by_id),
        to_recover=_claims_with_loans(_to_recover(claims, recoveries), loans_by_id),
        recoveries=recoveries,
    )


@router.get("/loans/{loan_id}")
def loan_page(page: BankPage, loan_id: LoanId):
    """One filed loan with its claims and recoveries; another bank's loan is the same 404 as none."""
    ledger = reading_ledger(page)  # the page only reads: deferred, never queued behind the writer
    try:
        loan = pool_routes._visible_loan(ledger, page.principal, loan_id)
    except LedgerError:
        raise _not_found(page) from None
    claims = [row for row in reads.claims(ledger) if row["loan_id"] == loan_id]
    claim_ids = {claim["id"] for claim in claims}
    recoveries = [row for row in reads.recoveries(ledger) if row["claim_id"] in claim_ids]
    names = _Names(ledger)
    return render(
        page,
        "bank_loan.html",
        loan=_filing_windows(ledger, [loan])[0],
        names=names,
        bank_name=names(loan["bank_code"]),
        claims=_claims_with_loans(claims, {loan_id: loan}),
        to_recover=_claims_with_loans(_to_recover(claims, recoveries), {loan_id: loan}),
        recoveries=recoveries,
    )
