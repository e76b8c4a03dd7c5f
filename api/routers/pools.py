"""Risk-compensation pools: pools, funders, banks, loans, claims with approval, recoveries, statements.

Thin over funds.pools (commands) and funds.reads (rows), with api.routers.commands: commands in a savepoint
of the request's unit of work (dry runs roll it back), ``Idempotency-Key`` as the service's own key. A bank
sees only its own loans, claims and recoveries; each funding level's finance office sees the pools it pays
into and approves their claims. Contributions and settlement runs need two people: api.routers.cash_requests."""

from __future__ import annotations

import csv
import io
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Response

from api.deps import LedgerDep, PageParams, UnitOfWork, requires
from api.problems import ApiCode, ApiProblem
from api.routers import links
from api.routers.commands import (
    DRY_RUN_RESPONSES,
    MONEY_REFUSED,
    XLSX_MEDIA_TYPE,
    DryRun,
    IdempotencyKey,
    ObjectId,
    answer,
    client_key,
    not_found,
    page_by_id,
    run_command,
)
from api.schemas.core import page_of
from api.schemas.funds import CODE_MAX_LENGTH, ID_MAX, DryRunResult, money
from api.schemas.pools import (
    BankIn,
    BankOut,
    BankStatementOut,
    ClaimApprovalIn,
    ClaimDecisionOut,
    ClaimOut,
    ClaimRejectionIn,
    FunderStatementOut,
    LoanIn,
    LoanOut,
    LoanStatusIn,
    PoolClaimIn,
    PoolIn,
    PoolOut,
    PoolStatementOut,
    RecoveryIn,
    RecoveryOut,
    RevocationIn,
    SuspensionIn,
)
from api.scopes import Principal, Role, bank_record_visible, pool_visible
from funds import reads
from funds.codes import FundsCode
from funds.config import ANHUI_POOL_POLICY, GUANGZHOU_POOL_POLICY, BankAgreementTerms
from funds.pools import FunderShare, RiskPools
from ledger.errors import LedgerError
from ledger.numbers import parse_amount_fen
from ledger.spreadsheet import WAN_YUAN, YUAN, Column, ColumnKind, Sheet, xlsx_bytes

router = APIRouter(prefix="/v1", tags=["risk pools"])

POOL_READ_ROLES = (Role.ADMIN, Role.FINANCE_OFFICE, Role.AUDITOR, Role.BANK)
POOL_OFFICE_ROLES = (Role.ADMIN, Role.FINANCE_OFFICE)  # set up pools, approve claims
BANK_ROLES = (Role.ADMIN, Role.BANK)  # file loans, claims and recoveries
PRESET_POLICIES = {"guangzhou": GUANGZHOU_POOL_POLICY, "anhui": ANHUI_POOL_POLICY}

Reader = Annotated[Principal, Depends(requires(*POOL_READ_ROLES))]
Office = Annotated[Principal, Depends(requires(*POOL_OFFICE_ROLES))]
Bank = Annotated[Principal, Depends(requires(*BANK_ROLES))]
PoolCode = Annotated[str, Path(min_length=1, max_length=CODE_MAX_LENGTH)]
CreditCode = Annotated[str, Path(min_length=18, max_length=18)]
FilterCode = Annotated[str | None, Query(max_length=CODE_MAX_LENGTH)]
StatusFilter = Annotated[str | None, Query(max_length=16)]
YearFilter = Annotated[int | None, Query(ge=1900, le=9999)]
Unit = Annotated[Literal["元", "万元"], Query(description="amounts of the .xlsx in 元 or 万元")]

PoolPage = page_of(PoolOut)
LoanPage = page_of(LoanOut)
ClaimPage = page_of(ClaimOut)
RecoveryPage = page_of(RecoveryOut)


def _pools(ledger) -> RiskPools:  # noqa: ANN001
    return RiskPools(ledger)


def _funder_codes(pool: dict) -> list[str]:
    return [funder["funder_code"] for funder in pool["funders"]]


def _pool_seen(principal: Principal, pool: dict) -> bool:
    return pool_visible(principal, _funder_codes(pool), [bank["bank_code"] for bank in pool["banks"]])


def _visible_pool(ledger, principal: Principal, code: str) -> dict:  # noqa: ANN001
    pool = reads.pool(ledger, code)
    if pool is None or not _pool_seen(principal, pool):
        raise not_found("pool", code)
    return pool


def _bank_view(principal: Principal) -> set[str] | None:
    """The banks whose rows a caller may see inside a pool it sees: a bank only its own; others all."""
    return set(principal.institutions()) if principal.role is Role.BANK else None


def _funders_by_pool(ledger) -> dict[str, list[str]]:  # noqa: ANN001
    return {pool["code"]: _funder_codes(pool) for pool in reads.pools(ledger)}


def _record_seen(principal: Principal, row: dict, funders: dict[str, list[str]]) -> bool:
    return bank_record_visible(principal, row["bank_code"], funders.get(row["pool_code"], []))


def _visible_loan(ledger, principal: Principal, loan_id: int, conn=None) -> dict:  # noqa: ANN001
    row = reads.loan(ledger, loan_id, conn=conn)
    if row is None or not _record_seen(principal, row, _funders_by_pool(ledger)):
        raise not_found("loan", loan_id)
    return row


def _visible_claim(ledger, principal: Principal, claim_id: int, conn=None) -> dict:  # noqa: ANN001
    row = reads.claim(ledger, claim_id, conn=conn)
    if row is None or not _record_seen(principal, row, _funders_by_pool(ledger)):
        raise not_found("claim", claim_id)
    return row


def _own_bank(principal: Principal, bank_code: str) -> None:
    """A bank acts only for itself (403: the action is not its to take); admin for any bank."""
    if not principal.is_admin and bank_code not in principal.institutions():
        raise ApiProblem(403, ApiCode.ROLE_FORBIDDEN, f"a bank files only its own records, not {bank_code}'s")


# ----- pools and banks -----------------------------------------------------------------------------------


@router.get(
    "/risk-pools",
    response_model=PoolPage,
    openapi_extra=links.listed(
        pool=links.to("/v1/risk-pools/{pool}", pool=links.first_item("code")),
        statement=links.to("/v1/risk-pools/{pool}/statement", pool=links.first_item("code")),
    ),
)
def list_pools(principal: Reader, ledger: LedgerDep, page: PageParams):
    rows = [pool for pool in reads.pools(ledger) if _pool_seen(principal, pool)]
    return page_by_id(rows, page, {}, lambda pool: PoolOut.of(pool, _bank_view(principal)))


@router.post(
    "/risk-pools",
    response_model=PoolOut,
    status_code=201,
    openapi_extra=links.created(
        pool=links.to("/v1/risk-pools/{pool}", pool=links.created_field("code")),
        statement=links.to("/v1/risk-pools/{pool}/statement", pool=links.created_field("code")),
    ),
)
def create_pool(body: PoolIn, principal: Office, ledger: LedgerDep, uow: UnitOfWork, response: Response):
    """A pool funded by several levels with exact shares summing to 100%, under a policy preset."""
    if not pool_visible(principal, [funder.funder_code for funder in body.funders], ()):
        raise ApiProblem(403, ApiCode.ROLE_FORBIDDEN, "none of the pool's funders is in your region")
    funders = [FunderShare(funder.funder_code, funder.level, funder.share) for funder in body.funders]
    run_command(
        ledger,
        uow,
        lambda: _pools(ledger).create_pool(body.code, body.name, PRESET_POLICIES[body.preset], funders, conn=uow),
        dry_run=False,
    )
    response.headers["Location"] = f"/v1/risk-pools/{body.code}"
    return PoolOut(code=body.code, name=body.name, funders=[funder.model_dump() for funder in body.funders], banks=[])


@router.get("/risk-pools/{pool}", response_model=PoolOut)
def get_pool(pool: PoolCode, principal: Reader, ledger: LedgerDep):
    return PoolOut.of(_visible_pool(ledger, principal, pool), _bank_view(principal))


@router.post("/risk-pools/{pool}/banks", response_model=BankOut, status_code=201)
def add_bank(pool: PoolCode, body: BankIn, principal: Office, ledger: LedgerDep, uow: UnitOfWork, response: Response):
    """A partner bank's agreement: its caps (absent ones do not bind) and validity."""
    found = _visible_pool(ledger, principal, pool)
    if any(bank["bank_code"] == body.bank_code for bank in found["banks"]):
        raise LedgerError(FundsCode.ALREADY_EXISTS, f"bank {body.bank_code} already has an agreement with {pool}")
    terms = BankAgreementTerms(**body.model_dump(exclude={"bank_code", "valid_from", "valid_to"}))
    run_command(
        ledger,
        uow,
        lambda: _pools(ledger).add_bank(pool, body.bank_code, terms, body.valid_from, body.valid_to, conn=uow),
        dry_run=False,
    )
    response.headers["Location"] = f"/v1/risk-pools/{pool}"
    return BankOut(bank_code=body.bank_code, valid_from=body.valid_from, valid_to=body.valid_to, suspended=False)


@router.post("/risk-pools/{pool}/banks/{bank_code}/suspension", response_model=BankOut)
def suspend_bank(
    pool: PoolCode, bank_code: CreditCode, body: SuspensionIn, principal: Office, ledger: LedgerDep, uow: UnitOfWork
):
    """Suspend (or resume) a bank: a suspended bank can neither file nor claim."""
    found = _visible_pool(ledger, principal, pool)
    agreement = next((bank for bank in found["banks"] if bank["bank_code"] == bank_code), None)
    if agreement is None:
        raise not_found("bank agreement", bank_code)
    run_command(
        ledger,
        uow,
        lambda: _pools(ledger).set_bank_suspended(pool, bank_code, body.suspended, actor=principal.name, conn=uow),
        dry_run=False,
    )
    return BankOut(
        bank_code=bank_code,
        valid_from=agreement["valid_from"],
        valid_to=agreement["valid_to"],
        suspended=body.suspended,
    )


# ----- loans ----------------------------------------------------------------------------------------------


@router.get(
    "/loans",
    response_model=LoanPage,
    openapi_extra=links.listed(loan=links.to("/v1/loans/{loan_id}", loan_id=links.first_item("id"))),
)
def list_loans(
    principal: Reader,
    ledger: LedgerDep,
    page: PageParams,
    pool: FilterCode = None,
    bank: FilterCode = None,
    status: StatusFilter = None,
):
    funders = _funders_by_pool(ledger)
    rows = [
        row
        for row in reads.loans(ledger)
        if _record_seen(principal, row, funders)
        and (pool is None or row["pool_code"] == pool)
        and (bank is None or row["bank_code"] == bank)
        and (status is None or row["status"] == status)
    ]
    return page_by_id(rows, page, {"pool": pool, "bank": bank, "status": status}, LoanOut.of)


@router.post(
    "/loans",
    response_model=LoanOut | DryRunResult,
    status_code=201,
    responses=DRY_RUN_RESPONSES,
    openapi_extra=links.created(loan=links.to("/v1/loans/{loan_id}", loan_id=links.created_field("id"))),
)
def file_loan(
    body: LoanIn,
    principal: Bank,
    ledger: LedgerDep,
    uow: UnitOfWork,
    response: Response,
    idempotency_key: IdempotencyKey = None,
    dry_run: DryRun = False,
):
    """File a loan within the filing window; the enterprise's annual cap may clip what the pool covers."""
    key = client_key(principal, idempotency_key)
    _visible_pool(ledger, principal, body.pool)
    _own_bank(principal, body.bank_code)
    replayed = reads.request_recorded(uow, key)

    def command() -> tuple[LoanOut, list[dict]]:
        loan_id = _pools(ledger).file_loan(
            body.pool,
            body.bank_code,
            body.enterprise_code,
            body.loan_number,
            body.principal,
            body.disbursed_on,
            body.term_months,
            body.filed_on,
            actor=principal.name,
            client_id=key,
            conn=uow,
        )
        return LoanOut.of(reads.loan(ledger, loan_id, conn=uow)), reads.flags(ledger, "loan", loan_id, conn=uow)

    outcome, flags = run_command(ledger, uow, command, dry_run=dry_run)
    binding = flags[0] if flags else None
    return answer(
        response,
        outcome,
        dry_run=dry_run,
        replayed=replayed,
        location=f"/v1/loans/{outcome.id}",
        binding_limit=binding["code"] if binding else None,
        room_left=outcome.covered if binding else None,
    )


@router.get("/loans/{loan_id}", response_model=LoanOut)
def get_loan(loan_id: ObjectId, principal: Reader, ledger: LedgerDep):
    return LoanOut.of(_visible_loan(ledger, principal, loan_id))


@router.post("/loans/{loan_id}/status", response_model=LoanOut)
def set_loan_status(loan_id: ObjectId, body: LoanStatusIn, principal: Bank, ledger: LedgerDep, uow: UnitOfWork):
    """performing → overdue → defaulted (an overdue loan may be cured back to performing)."""
    _visible_loan(ledger, principal, loan_id, uow)

    def command() -> LoanOut:
        _pools(ledger).set_loan_status(loan_id, body.status, actor=principal.name, conn=uow)
        return LoanOut.of(reads.loan(ledger, loan_id, conn=uow))

    return run_command(ledger, uow, command, dry_run=False)


@router.post("/loans/{loan_id}/revocation", response_model=LoanOut)
def revoke_filing(loan_id: ObjectId, body: RevocationIn, principal: Office, ledger: LedgerDep, uow: UnitOfWork):
    """Revoke a filing (reversed in the memo book); a loan with a claim keeps its filing."""
    _visible_loan(ledger, principal, loan_id, uow)

    def command() -> LoanOut:
        _pools(ledger).revoke_filing(
            loan_id, actor=principal.name, reason=body.reason, revoked_on=body.revoked_on, conn=uow
        )
        return LoanOut.of(reads.loan(ledger, loan_id, conn=uow))

    return run_command(ledger, uow, command, dry_run=False)


# ----- claims --------------------------------------------------------------------------------------------


@router.get(
    "/claims",
    response_model=ClaimPage,
    openapi_extra=links.listed(claim=links.to("/v1/claims/{claim_id}", claim_id=links.first_item("id"))),
)
def list_claims(
    principal: Reader,
    ledger: LedgerDep,
    page: PageParams,
    pool: FilterCode = None,
    bank: FilterCode = None,
    status: StatusFilter = None,
    year: YearFilter = None,
):
    funders = _funders_by_pool(ledger)
    rows = [
        row
        for row in reads.claims(ledger)
        if _record_seen(principal, row, funders)
        and (pool is None or row["pool_code"] == pool)
        and (bank is None or row["bank_code"] == bank)
        and (status is None or row["status"] == status)
        and (year is None or row["program_year"] == year)
    ]
    return page_by_id(rows, page, {"pool": pool, "bank": bank, "status": status, "year": year}, ClaimOut.of)


@router.post(
    "/claims",
    response_model=ClaimOut,
    status_code=201,
    responses=MONEY_REFUSED,
    openapi_extra=links.created(
        claim=links.to("/v1/claims/{claim_id}", claim_id=links.created_field("id")),
        approval=links.to("/v1/claims/{claim_id}/approval", "post", claim_id=links.created_field("id")),
        rejection=links.to("/v1/claims/{claim_id}/rejection", "post", claim_id=links.created_field("id")),
    ),
)
def submit_claim(
    body: PoolClaimIn,
    principal: Bank,
    ledger: LedgerDep,
    uow: UnitOfWork,
    response: Response,
    idempotency_key: IdempotencyKey = None,
):
    """A bank's default claim on its own defaulted loan, submitted for the finance office's approval."""
    key = client_key(principal, idempotency_key)
    loan = _visible_loan(ledger, principal, body.loan_id, uow)
    _own_bank(principal, loan["bank_code"])
    replayed = reads.request_recorded(uow, key)

    def command() -> ClaimOut:
        claim_id = _pools(ledger).submit_claim(
            body.loan_id, body.non_performing, body.claimed_on, actor=principal.name, client_id=key, conn=uow
        )
        return ClaimOut.of(reads.claim(ledger, claim_id, conn=uow))

    outcome = run_command(ledger, uow, command, dry_run=False)
    return answer(response, outcome, dry_run=False, replayed=replayed, location=f"/v1/claims/{outcome.id}")


@router.get("/claims/{claim_id}", response_model=ClaimOut)
def get_claim(claim_id: ObjectId, principal: Reader, ledger: LedgerDep):
    return ClaimOut.of(_visible_claim(ledger, principal, claim_id))


@router.post("/claims/{claim_id}/approval", response_model=ClaimDecisionOut | DryRunResult, responses=MONEY_REFUSED)
def approve_claim(
    claim_id: ObjectId,
    body: ClaimApprovalIn,
    principal: Office,
    ledger: LedgerDep,
    uow: UnitOfWork,
    response: Response,
    idempotency_key: IdempotencyKey = None,
    dry_run: DryRun = False,
):
    """Fix the claim's entitlement = min(ratio × non-performing, per-loan cap, bank's annual cap left,
    enterprise's cumulative cap left) and pay what the pool holds now (the rest stays owed). The claim is the
    service's key: its approver repeating the call gets the same decision and nothing is paid twice."""
    client_key(principal, idempotency_key)
    before = _visible_claim(ledger, principal, claim_id, uow)
    replayed = before["status"] in ("approved", "paid") and before["approved_by"] == principal.name

    def command() -> ClaimDecisionOut:
        decision = _pools(ledger).approve_claim(
            claim_id, approver=principal.name, paid_on=body.paid_on, approval_doc=body.approval_doc, conn=uow
        )
        payout = decision.payout
        return ClaimDecisionOut(
            claim=ClaimOut.of(reads.claim(ledger, claim_id, conn=uow)),
            entitled=money(decision.entitled_fen),
            binding_limit=decision.binding_limit,
            limits={name: money(fen) for name, fen in decision.limits_fen.items()},
            paid_now=money(decision.paid_fen),
            funder_parts={code: money(fen) for code, fen in (payout.parts if payout else {}).items()},
        )

    outcome = run_command(ledger, uow, command, dry_run=dry_run)
    pool_left = outcome.limits.get("pool_balance")
    return answer(
        response,
        outcome,
        dry_run=dry_run,
        replayed=replayed,
        binding_limit=outcome.binding_limit,
        room_left=None if pool_left is None else money(_fen(pool_left) - _fen(outcome.paid_now)),
    )


def _fen(amount: str) -> int:
    return parse_amount_fen(amount)


@router.post("/claims/{claim_id}/rejection", response_model=ClaimOut)
def reject_claim(claim_id: ObjectId, body: ClaimRejectionIn, principal: Office, ledger: LedgerDep, uow: UnitOfWork):
    _visible_claim(ledger, principal, claim_id, uow)

    def command() -> ClaimOut:
        _pools(ledger).reject_claim(claim_id, approver=principal.name, reason=body.reason, conn=uow)
        return ClaimOut.of(reads.claim(ledger, claim_id, conn=uow))

    return run_command(ledger, uow, command, dry_run=False)


# ----- recoveries ----------------------------------------------------------------------------------------


def _recovery_out(row: dict, parts: dict[str, int]) -> RecoveryOut:
    return RecoveryOut(
        id=row["id"],
        claim_id=row["claim_id"],
        net=money(row["gross_fen"] - row["costs_fen"]),
        returned=money(row["returned_fen"]),
        clipped=bool(row["clipped"]),
        funder_parts={code: money(fen) for code, fen in parts.items()},
    )


@router.get("/recoveries", response_model=RecoveryPage)
def list_recoveries(
    principal: Reader, ledger: LedgerDep, page: PageParams, claim: Annotated[int | None, Query(ge=1, le=ID_MAX)] = None
):
    funders = _funders_by_pool(ledger)
    claims = {row["id"]: row for row in reads.claims(ledger) if _record_seen(principal, row, funders)}
    rows = [
        row
        for row in reads.recoveries(ledger)
        if row["claim_id"] in claims and (claim is None or row["claim_id"] == claim)
    ]
    return page_by_id(rows, page, {"claim": claim}, lambda row: _recovery_out(row, {}))


@router.post("/recoveries", response_model=RecoveryOut | DryRunResult, status_code=201, responses=DRY_RUN_RESPONSES)
def record_recovery(
    body: RecoveryIn,
    principal: Bank,
    ledger: LedgerDep,
    uow: UnitOfWork,
    response: Response,
    idempotency_key: IdempotencyKey = None,
    dry_run: DryRun = False,
):
    """追偿: what the bank recovered, net of costs, returns in the pool's share, never beyond its payout."""
    key = client_key(principal, idempotency_key)
    claim = _visible_claim(ledger, principal, body.claim_id, uow)
    _own_bank(principal, claim["bank_code"])
    replayed = reads.request_recorded(uow, key)

    def command() -> tuple[RecoveryOut, dict]:
        result = _pools(ledger).record_recovery(
            body.claim_id, body.gross, body.costs, body.recovered_on, actor=principal.name, client_id=key, conn=uow
        )
        row = next(row for row in reads.recoveries(ledger, body.claim_id, conn=uow) if row["id"] == result.recovery_id)
        return _recovery_out(row, result.parts), reads.claim(ledger, body.claim_id, conn=uow)

    outcome, after = run_command(ledger, uow, command, dry_run=dry_run)
    return answer(
        response,
        outcome,
        dry_run=dry_run,
        replayed=replayed,
        location=f"/v1/claims/{body.claim_id}",
        binding_limit="payout_not_yet_recovered",
        room_left=money(after["paid_fen"] - after["recovered_fen"]),
    )


# ----- statements (JSON, CSV, .xlsx) -----------------------------------------------------------------------


def _statement(ledger, principal: Principal, pool: str, year: int | None) -> PoolStatementOut:  # noqa: ANN001
    """Funders' and banks' positions in a pool. A bank sees its own row only, and not the funders' money."""
    found = _visible_pool(ledger, principal, pool)
    banks = _bank_view(principal)
    service = _pools(ledger)
    funders = [] if banks is not None else service.funder_statement(found["code"])
    return PoolStatementOut(
        pool=found["code"],
        year=year,
        balance=None if banks is not None else money(service.balance_fen(found["code"])),
        funders=[
            FunderStatementOut(
                funder=row["funder"],
                level=row["level"],
                share=row["share"],
                contributed=money(row["contributed_fen"]),
                compensation_paid=money(row["compensation_paid_fen"]),
                recovered=money(row["recovered_fen"]),
                remaining=money(row["remaining_fen"]),
            )
            for row in funders
        ],
        banks=[
            BankStatementOut(
                bank=row["bank"],
                suspended=row["suspended"],
                filed_loans=row["filed_loans"],
                claims=row["claims"],
                **{
                    name: money(row[f"{name}_fen"])
                    for name in ("filed_principal", "entitled", "paid", "owed", "recovered")
                },
            )
            for row in service.bank_statement(found["code"], year)
            if banks is None or row["bank"] in banks
        ],
    )


@router.get("/risk-pools/{pool}/statement", response_model=PoolStatementOut)
def pool_statement(pool: PoolCode, principal: Reader, ledger: LedgerDep, year: YearFilter = None):
    return _statement(ledger, principal, pool, year)


@router.get("/risk-pools/{pool}/statement.csv", response_class=Response, responses={200: {"content": {"text/csv": {}}}})
def pool_statement_csv(pool: PoolCode, principal: Reader, ledger: LedgerDep, year: YearFilter = None):
    """Two sections, funders then banks, each with its header row."""
    statement = _statement(ledger, principal, pool, year)
    out = io.StringIO()
    writer = csv.writer(out)
    for rows, model in ((statement.funders, FunderStatementOut), (statement.banks, BankStatementOut)):
        writer.writerow(["section", *model.model_fields])
        section = "funder" if model is FunderStatementOut else "bank"
        for row in rows:
            writer.writerow([section, *row.model_dump(mode="json").values()])
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8")


FUNDER_COLUMNS = (
    Column("funder", "出资方"),
    Column("level", "层级"),
    Column("share", "份额"),
    Column("contributed", "出资", ColumnKind.FEN),
    Column("compensation_paid", "已代偿", ColumnKind.FEN),
    Column("recovered", "已追回", ColumnKind.FEN),
    Column("remaining", "结余", ColumnKind.FEN),
)
BANK_COLUMNS = (
    Column("bank", "合作银行"),
    Column("filed_loans", "备案笔数", ColumnKind.INT),
    Column("filed_principal", "备案本金", ColumnKind.FEN),
    Column("claims", "代偿笔数", ColumnKind.INT),
    Column("entitled", "核定代偿", ColumnKind.FEN),
    Column("paid", "已代偿", ColumnKind.FEN),
    Column("owed", "待代偿", ColumnKind.FEN),
    Column("recovered", "已追回", ColumnKind.FEN),
)


@router.get(
    "/risk-pools/{pool}/statement.xlsx", response_class=Response, responses={200: {"content": {XLSX_MEDIA_TYPE: {}}}}
)
def pool_statement_xlsx(
    pool: PoolCode, principal: Reader, ledger: LedgerDep, year: YearFilter = None, unit: Unit = YUAN
):
    statement = _statement(ledger, principal, pool, year)

    def fen_rows(rows, columns) -> list[dict]:  # noqa: ANN001
        data = [row.model_dump() for row in rows]
        fen_keys = {column.key for column in columns if column.kind == ColumnKind.FEN}
        return [{key: _fen(value) if key in fen_keys else value for key, value in row.items()} for row in data]

    sheets = [Sheet("银行", BANK_COLUMNS, fen_rows(statement.banks, BANK_COLUMNS))]
    if _bank_view(principal) is None:
        sheets.insert(0, Sheet("出资方", FUNDER_COLUMNS, fen_rows(statement.funders, FUNDER_COLUMNS)))
    return Response(
        xlsx_bytes(sheets, unit=WAN_YUAN if unit == WAN_YUAN else YUAN),
        media_type=XLSX_MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="risk-pool-{statement.pool}.xlsx"'},
    )
