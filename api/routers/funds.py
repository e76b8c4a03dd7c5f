"""Guidance funds: funds, sub-funds and their establishment, commitments, capital calls and payments,
investments and exits, fees, valuations and distributions (appropriations and remittances, which need two
people, are in api.routers.cash_requests; metrics and the fund-metrics report in api.routers.fund_metrics).

Thin over funds.guidance (commands) and funds.reads (rows), with api.routers.commands: every
command runs in the request's unit of work inside a savepoint (a dry run rolls it back); a money-moving POST
needs ``Idempotency-Key``, the service's own key (``client_id``, within the authenticated client), so a replay
returns the stored result with ``Idempotency-Replayed: true``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response
from sqlalchemy import Connection

from api.deps import LedgerDep, PageParams, UnitOfWork, requires
from api.problems import ApiCode, ApiProblem
from api.routers import links
from api.routers.commands import (
    DRY_RUN_RESPONSES,
    MONEY_REFUSED,
    DryRun,
    IdempotencyKey,
    ObjectId,
    answer,
    client_key,
    not_found,
    page_by_id,
    row_with_id,
    run_command,
)
from api.schemas.core import page_of
from api.schemas.funds import (
    CODE_MAX_LENGTH,
    CallPaymentIn,
    CallPaymentOut,
    CapitalCallIn,
    CapitalCallOut,
    CommitmentIn,
    CommitmentOut,
    DistributionIn,
    DistributionOut,
    DryRunResult,
    EstablishmentIn,
    EstablishmentOut,
    ExitIn,
    ExitOut,
    FeeAccrualIn,
    FeeAccrualOut,
    FlagOut,
    FundDecisionOut,
    GuidanceFundIn,
    GuidanceFundOut,
    InvestmentIn,
    InvestmentOut,
    SubFundIn,
    SubFundOut,
    ValuationIn,
    ValuationOut,
    money,
)
from api.schemas.transactions import check_idempotency_key
from api.scopes import Principal, Role, fund_visible
from funds import reads
from funds.codes import FundsCode
from funds.config import DEFAULT_FUND_POLICY
from funds.guidance import GuidanceFunds, sf_book
from ledger.errors import LedgerError

router = APIRouter(prefix="/v1", tags=["funds"])

FUND_READ_ROLES = (Role.ADMIN, Role.FINANCE_OFFICE, Role.AUDITOR, Role.FUND_MANAGER)
FUND_OFFICE_ROLES = (Role.ADMIN, Role.FINANCE_OFFICE)  # set up funds and sub-funds of their region
MANAGER_ROLES = (Role.ADMIN, Role.FUND_MANAGER)  # record what a sub-fund does
# A second person approves: the region's finance office, or another person of the managing institution.
APPROVER_ROLES = (Role.ADMIN, Role.FINANCE_OFFICE, Role.FUND_MANAGER)

Reader = Annotated[Principal, Depends(requires(*FUND_READ_ROLES))]
Office = Annotated[Principal, Depends(requires(*FUND_OFFICE_ROLES))]
Manager = Annotated[Principal, Depends(requires(*MANAGER_ROLES))]
Approver = Annotated[Principal, Depends(requires(*APPROVER_ROLES))]
FundCode = Annotated[str, Path(min_length=1, max_length=CODE_MAX_LENGTH)]
FilterCode = Annotated[str | None, Query(max_length=CODE_MAX_LENGTH)]
StatusFilter = Annotated[str | None, Query(max_length=16)]

CommitmentPage = page_of(CommitmentOut)
CallPage = page_of(CapitalCallOut)
InvestmentPage = page_of(InvestmentOut)
DistributionPage = page_of(DistributionOut)
FundPage = page_of(GuidanceFundOut)
SubFundPage = page_of(SubFundOut)
ValuationPage = page_of(ValuationOut)


def _funds(ledger) -> GuidanceFunds:  # noqa: ANN001
    return GuidanceFunds(ledger)


# ----- scope: which funds the caller may know exist ---------------------------------------------------------


def _visible_fund(ledger, principal: Principal, code: str) -> dict:  # noqa: ANN001
    row = reads.guidance_fund(ledger, code)
    if row is None or not fund_visible(principal, row["code"], row["region_code"]):
        raise not_found("guidance fund", code)
    return row


def _visible_subfund(ledger, principal: Principal, code: str, conn: Connection | None = None) -> dict:  # noqa: ANN001
    row = reads.subfund(ledger, code, conn=conn)
    if row is None or not _subfund_visible(principal, row):
        raise not_found("sub-fund", code)
    return row


def _subfund_visible(principal: Principal, subfund: dict) -> bool:
    return fund_visible(principal, subfund["guidance_code"], subfund["region_code"], subfund["code"])


def _visible_subfund_codes(ledger, principal: Principal, fund: str | None, subfund: str | None) -> set[str]:  # noqa: ANN001
    return {
        row["code"]
        for row in reads.subfunds(ledger)
        if _subfund_visible(principal, row)
        and (fund is None or row["guidance_code"] == fund)
        and (subfund is None or row["code"] == subfund)
    }


def _visible_row(ledger, principal: Principal, rows: list[dict], object_id: int, what: str) -> dict:  # noqa: ANN001
    row = next((row for row in rows if row["id"] == object_id), None)
    if row is None or row["subfund_code"] not in _visible_subfund_codes(ledger, principal, None, None):
        raise not_found(what, object_id)
    return row


def _scoped_list(ledger, principal, rows, page, fund, subfund, status, out) -> dict:  # noqa: ANN001
    codes = _visible_subfund_codes(ledger, principal, fund, subfund)
    kept = [row for row in rows if row["subfund_code"] in codes and (status is None or row["status"] == status)]
    return page_by_id(kept, page, {"fund": fund, "subfund": subfund, "status": status}, out)


# ----- guidance funds ------------------------------------------------------------------------------------


@router.get(
    "/funds",
    response_model=FundPage,
    openapi_extra=links.listed(
        fund=links.to("/v1/funds/{fund}", fund=links.first_item("code")),
        metrics=links.to("/v1/funds/{fund}/metrics", fund=links.first_item("code")),
    ),
)
def list_funds(principal: Reader, ledger: LedgerDep, page: PageParams, region: FilterCode = None):
    rows = [
        row
        for row in reads.guidance_funds(ledger)
        if fund_visible(principal, row["code"], row["region_code"]) and (region is None or row["region_code"] == region)
    ]
    return page_by_id(rows, page, {"region": region}, GuidanceFundOut.of)


@router.post(
    "/funds",
    response_model=GuidanceFundOut,
    status_code=201,
    openapi_extra=links.created(fund=links.to("/v1/funds/{fund}", fund=links.created_field("code"))),
)
def create_fund(body: GuidanceFundIn, principal: Office, ledger: LedgerDep, uow: UnitOfWork, response: Response):
    """A guidance fund of the caller's region, with the default sub-fund rules (DEFAULT_FUND_POLICY)."""
    if not principal.covers_region(body.region_code):
        raise ApiProblem(403, ApiCode.ROLE_FORBIDDEN, f"region {body.region_code} is outside your scope")
    run_command(
        ledger,
        uow,
        lambda: _funds(ledger).create_guidance_fund(
            body.code, body.name, body.region_code, DEFAULT_FUND_POLICY, conn=uow
        ),
        dry_run=False,
    )
    response.headers["Location"] = f"/v1/funds/{body.code}"
    return GuidanceFundOut(code=body.code, name=body.name, region_code=body.region_code)


@router.get("/funds/{fund}", response_model=GuidanceFundOut)
def get_fund(fund: FundCode, principal: Reader, ledger: LedgerDep):
    return GuidanceFundOut.of(_visible_fund(ledger, principal, fund))


# ----- sub-funds -----------------------------------------------------------------------------------------


@router.get(
    "/sub-funds",
    response_model=SubFundPage,
    openapi_extra=links.listed(
        subfund=links.to("/v1/sub-funds/{subfund}", subfund=links.first_item("code")),
        metrics=links.to("/v1/sub-funds/{subfund}/metrics", subfund=links.first_item("code")),
        valuations=links.to("/v1/sub-funds/{subfund}/valuations", subfund=links.first_item("code")),
    ),
)
def list_subfunds(
    principal: Reader, ledger: LedgerDep, page: PageParams, fund: FilterCode = None, status: StatusFilter = None
):
    rows = [
        row
        for row in reads.subfunds(ledger)
        if _subfund_visible(principal, row)
        and (fund is None or row["guidance_code"] == fund)
        and (status is None or row["status"] == status)
    ]
    return page_by_id(rows, page, {"fund": fund, "status": status}, SubFundOut.of)


@router.post(
    "/funds/{fund}/sub-funds",
    response_model=SubFundOut,
    status_code=201,
    openapi_extra=links.created(subfund=links.to("/v1/sub-funds/{subfund}", subfund=links.created_field("code"))),
)
def create_subfund(
    fund: FundCode, body: SubFundIn, principal: Office, ledger: LedgerDep, uow: UnitOfWork, response: Response
):
    """A sub-fund under a guidance fund of the caller's region; a fee rate above the cap is clipped (flagged)."""
    _visible_fund(ledger, principal, fund)
    if reads.subfund(ledger, body.code, conn=uow) is not None:
        raise LedgerError(FundsCode.ALREADY_EXISTS, f"sub-fund {body.code!r} exists")
    values = body.model_dump(exclude={"code", "name"})

    def command() -> SubFundOut:
        _funds(ledger).create_subfund(fund, body.code, body.name, conn=uow, **values)
        return SubFundOut.of(reads.subfund(ledger, body.code, conn=uow))

    outcome = run_command(ledger, uow, command, dry_run=False)
    response.headers["Location"] = f"/v1/sub-funds/{body.code}"
    return outcome


@router.get("/sub-funds/{subfund}", response_model=SubFundOut)
def get_subfund(subfund: FundCode, principal: Reader, ledger: LedgerDep):
    return SubFundOut.of(_visible_subfund(ledger, principal, subfund))


@router.post("/sub-funds/{subfund}/establishment", response_model=EstablishmentOut)
def establish_subfund(subfund: FundCode, body: EstablishmentIn, principal: Manager, ledger: LedgerDep, uow: UnitOfWork):
    """首次交割: the investor structure becomes final and must keep the guidance share and never-largest rules."""
    _visible_subfund(ledger, principal, subfund, uow)
    structure = run_command(
        ledger,
        uow,
        lambda: _funds(ledger).establish_subfund(subfund, body.on, actor=principal.name, conn=uow),
        dry_run=False,
    )
    return EstablishmentOut(
        subfund=subfund, first_close_on=body.on, commitments={k: money(v) for k, v in structure.items()}
    )


# ----- commitments (认缴) ------------------------------------------------------------------------------------


@router.get(
    "/commitments",
    response_model=CommitmentPage,
    openapi_extra=links.listed(
        commitment=links.to("/v1/commitments/{commitment_id}", commitment_id=links.first_item("id"))
    ),
)
def list_commitments(
    principal: Reader,
    ledger: LedgerDep,
    page: PageParams,
    fund: FilterCode = None,
    subfund: FilterCode = None,
    status: StatusFilter = None,
):
    return _scoped_list(ledger, principal, reads.commitments(ledger), page, fund, subfund, status, CommitmentOut.of)


@router.post(
    "/sub-funds/{subfund}/commitments",
    response_model=CommitmentOut,
    status_code=201,
    responses=MONEY_REFUSED,
    openapi_extra=links.created(
        commitment=links.to("/v1/commitments/{commitment_id}", commitment_id=links.created_field("id")),
        approval=links.to("/v1/commitments/{commitment_id}/approval", "post", commitment_id=links.created_field("id")),
    ),
)
def record_commitment(
    subfund: FundCode,
    body: CommitmentIn,
    principal: Manager,
    ledger: LedgerDep,
    uow: UnitOfWork,
    response: Response,
    idempotency_key: IdempotencyKey = None,
):
    """认缴, submitted for approval by another person."""
    key = client_key(principal, idempotency_key)
    _visible_subfund(ledger, principal, subfund, uow)
    replayed = reads.request_recorded(uow, key)

    def command() -> CommitmentOut:
        commitment_id = _funds(ledger).record_commitment(
            subfund,
            body.investor_code,
            body.amount,
            body.committed_on,
            actor=principal.name,
            client_id=key,
            is_guidance=body.is_guidance,
            conn=uow,
        )
        return CommitmentOut.of(row_with_id(reads.commitments(ledger, conn=uow), commitment_id))

    outcome = run_command(ledger, uow, command, dry_run=False)
    return answer(response, outcome, dry_run=False, replayed=replayed, location=f"/v1/commitments/{outcome.id}")


@router.get("/commitments/{commitment_id}", response_model=CommitmentOut)
def get_commitment(commitment_id: ObjectId, principal: Reader, ledger: LedgerDep):
    return CommitmentOut.of(_visible_row(ledger, principal, reads.commitments(ledger), commitment_id, "commitment"))


@router.post(
    "/commitments/{commitment_id}/approval", response_model=FundDecisionOut | DryRunResult, responses=MONEY_REFUSED
)
def approve_commitment(
    commitment_id: ObjectId,
    principal: Approver,
    ledger: LedgerDep,
    uow: UnitOfWork,
    response: Response,
    dry_run: DryRun = False,
):
    """Approve by a person other than the recorder; the guidance fund's share may be clipped under a clip rule.
    The commitment is the key: its approver repeating the call gets the same decision."""
    before = _visible_row(ledger, principal, reads.commitments(ledger, conn=uow), commitment_id, "commitment")
    replayed = before["status"] == "approved" and before["approved_by"] == principal.name

    def command() -> FundDecisionOut:
        _funds(ledger).approve_commitment(commitment_id, approver=principal.name, conn=uow)
        return FundDecisionOut(
            commitment=CommitmentOut.of(row_with_id(reads.commitments(ledger, conn=uow), commitment_id)),
            flags=_flags(ledger, "commitment", commitment_id, uow),
            dry_run=dry_run,
        )

    outcome = run_command(ledger, uow, command, dry_run=dry_run)
    return answer(response, outcome, dry_run=dry_run, replayed=replayed)


def _flags(ledger, subject_type: str, subject_id: int, uow: Connection) -> list[FlagOut]:  # noqa: ANN001
    return [FlagOut.of(row) for row in reads.flags(ledger, subject_type, subject_id, conn=uow)]


# ----- capital calls (实缴) -----------------------------------------------------------------------------------


@router.get(
    "/capital-calls",
    response_model=CallPage,
    openapi_extra=links.listed(call=links.to("/v1/capital-calls/{call_id}", call_id=links.first_item("id"))),
)
def list_calls(
    principal: Reader,
    ledger: LedgerDep,
    page: PageParams,
    fund: FilterCode = None,
    subfund: FilterCode = None,
    status: StatusFilter = None,
):
    return _scoped_list(ledger, principal, reads.capital_calls(ledger), page, fund, subfund, status, CapitalCallOut.of)


@router.post(
    "/sub-funds/{subfund}/capital-calls",
    response_model=CapitalCallOut,
    status_code=201,
    responses=MONEY_REFUSED,
    openapi_extra=links.created(
        call=links.to("/v1/capital-calls/{call_id}", call_id=links.created_field("id")),
        approval=links.to("/v1/capital-calls/{call_id}/approval", "post", call_id=links.created_field("id")),
        payment=links.to("/v1/capital-calls/{call_id}/payments", "post", call_id=links.created_field("id")),
    ),
)
def record_call(
    subfund: FundCode,
    body: CapitalCallIn,
    principal: Manager,
    ledger: LedgerDep,
    uow: UnitOfWork,
    response: Response,
    idempotency_key: IdempotencyKey = None,
):
    """A call notice for a ratio of every investor's commitment, approved by another person."""
    key = client_key(principal, idempotency_key)
    _visible_subfund(ledger, principal, subfund, uow)
    replayed = reads.request_recorded(uow, key)

    def command() -> CapitalCallOut:
        call_id = _funds(ledger).record_call(
            subfund, body.ratio, body.notice_on, body.due_on, actor=principal.name, client_id=key, conn=uow
        )
        return CapitalCallOut.of(row_with_id(reads.capital_calls(ledger, conn=uow), call_id))

    outcome = run_command(ledger, uow, command, dry_run=False)
    return answer(response, outcome, dry_run=False, replayed=replayed, location=f"/v1/capital-calls/{outcome.id}")


@router.get("/capital-calls/{call_id}", response_model=CapitalCallOut)
def get_call(call_id: ObjectId, principal: Reader, ledger: LedgerDep):
    return CapitalCallOut.of(_visible_row(ledger, principal, reads.capital_calls(ledger), call_id, "capital call"))


@router.post(
    "/capital-calls/{call_id}/approval", response_model=FundDecisionOut | DryRunResult, responses=MONEY_REFUSED
)
def approve_call(
    call_id: ObjectId,
    principal: Approver,
    ledger: LedgerDep,
    uow: UnitOfWork,
    response: Response,
    dry_run: DryRun = False,
):
    """One item per investor; the first call must reach its minimum and no call exceeds the unfunded commitment."""
    before = _visible_row(ledger, principal, reads.capital_calls(ledger, conn=uow), call_id, "capital call")
    replayed = before["status"] in ("approved", "paid") and before["approved_by"] == principal.name

    def command() -> FundDecisionOut:
        _funds(ledger).approve_call(call_id, approver=principal.name, conn=uow)
        return FundDecisionOut(
            capital_call=CapitalCallOut.of(row_with_id(reads.capital_calls(ledger, conn=uow), call_id)),
            flags=_flags(ledger, "capital_call", call_id, uow),
            dry_run=dry_run,
        )

    outcome = run_command(ledger, uow, command, dry_run=dry_run)
    return answer(response, outcome, dry_run=dry_run, replayed=replayed)


@router.post(
    "/capital-calls/{call_id}/payments",
    response_model=CallPaymentOut | DryRunResult,
    status_code=201,
    responses=DRY_RUN_RESPONSES,
)
def pay_call(
    call_id: ObjectId,
    body: CallPaymentIn,
    principal: Manager,
    ledger: LedgerDep,
    uow: UnitOfWork,
    response: Response,
    idempotency_key: IdempotencyKey = None,
    dry_run: DryRun = False,
):
    """An investor's payment on a call (the guidance fund's leaves its own bank account, within appropriations)."""
    key = client_key(principal, idempotency_key)
    _visible_row(ledger, principal, reads.capital_calls(ledger, conn=uow), call_id, "capital call")
    replayed = reads.request_recorded(uow, key)

    def command() -> CallPaymentOut:
        owed_fen = _funds(ledger).pay_call(
            call_id, body.investor_code, body.amount, body.paid_on, actor=principal.name, client_id=key, conn=uow
        )
        return CallPaymentOut(
            call_id=call_id, investor_code=body.investor_code, paid=body.amount, still_owed=money(owed_fen)
        )

    outcome = run_command(ledger, uow, command, dry_run=dry_run)
    return answer(
        response,
        outcome,
        dry_run=dry_run,
        replayed=replayed,
        location=f"/v1/capital-calls/{call_id}",
        room_left=outcome.still_owed,
        binding_limit="call_item",
    )


# ----- investments and exits -----------------------------------------------------------------------------


@router.get(
    "/investments",
    response_model=InvestmentPage,
    openapi_extra=links.listed(
        investment=links.to("/v1/investments/{investment_id}", investment_id=links.first_item("id"))
    ),
)
def list_investments(
    principal: Reader, ledger: LedgerDep, page: PageParams, fund: FilterCode = None, subfund: FilterCode = None
):
    rows = reads.investments(ledger)
    return _scoped_list(ledger, principal, rows, page, fund, subfund, None, InvestmentOut.of)


def _bank_left(ledger, subfund: str, uow: Connection) -> str:  # noqa: ANN001
    return money(ledger.account(sf_book(subfund), "Assets:Bank", conn=uow).balance_fen)


@router.post(
    "/sub-funds/{subfund}/investments",
    response_model=InvestmentOut | DryRunResult,
    status_code=201,
    responses=DRY_RUN_RESPONSES,
    openapi_extra=links.created(
        investment=links.to("/v1/investments/{investment_id}", investment_id=links.created_field("id")),
        exit=links.to("/v1/investments/{investment_id}/exits", "post", investment_id=links.created_field("id")),
    ),
)
def invest(
    subfund: FundCode,
    body: InvestmentIn,
    principal: Manager,
    ledger: LedgerDep,
    uow: UnitOfWork,
    response: Response,
    idempotency_key: IdempotencyKey = None,
    dry_run: DryRun = False,
):
    """An equity investment at cost, paid from the sub-fund's bank account (never overdrawn)."""
    key = client_key(principal, idempotency_key)
    _visible_subfund(ledger, principal, subfund, uow)
    replayed = reads.request_recorded(uow, key)

    def command() -> tuple[InvestmentOut, str]:
        investment_id = _funds(ledger).invest(
            subfund,
            body.enterprise_code,
            body.amount,
            body.invested_on,
            stage=body.stage,
            is_local=body.is_local,
            sector=body.sector,
            hard_tech=body.hard_tech,
            actor=principal.name,
            client_id=key,
            conn=uow,
        )
        row = row_with_id(reads.investments(ledger, conn=uow), investment_id)
        return InvestmentOut.of(row), _bank_left(ledger, subfund, uow)

    outcome, cash_left = run_command(ledger, uow, command, dry_run=dry_run)
    return answer(
        response,
        outcome,
        dry_run=dry_run,
        replayed=replayed,
        location=f"/v1/investments/{outcome.id}",
        room_left=cash_left,
        binding_limit="subfund_cash",
    )


@router.get("/investments/{investment_id}", response_model=InvestmentOut)
def get_investment(investment_id: ObjectId, principal: Reader, ledger: LedgerDep):
    return InvestmentOut.of(_visible_row(ledger, principal, reads.investments(ledger), investment_id, "investment"))


@router.post(
    "/investments/{investment_id}/exits",
    response_model=ExitOut | DryRunResult,
    status_code=201,
    responses=DRY_RUN_RESPONSES,
)
def exit_investment(
    investment_id: ObjectId,
    body: ExitIn,
    principal: Manager,
    ledger: LedgerDep,
    uow: UnitOfWork,
    response: Response,
    idempotency_key: IdempotencyKey = None,
    dry_run: DryRun = False,
):
    """A (partial) exit: cost leaves the books, proceeds reach the bank, the gain or loss is booked."""
    key = client_key(principal, idempotency_key)
    _visible_row(ledger, principal, reads.investments(ledger, conn=uow), investment_id, "investment")
    replayed = reads.request_recorded(uow, key)

    def command() -> ExitOut:
        exit_id = _funds(ledger).exit_investment(
            investment_id, body.cost, body.proceeds, body.exited_on, actor=principal.name, client_id=key, conn=uow
        )
        row = row_with_id(reads.investment_exits(ledger, investment_id, conn=uow), exit_id)
        held = row_with_id(reads.investments(ledger, conn=uow), investment_id)
        return ExitOut(
            id=exit_id,
            investment_id=investment_id,
            cost=money(row["cost_fen"]),
            proceeds=money(row["proceeds_fen"]),
            exited_on=row["exited_on"],
            cost_left=money(held["amount_fen"] - held["exited_cost_fen"]),
        )

    outcome = run_command(ledger, uow, command, dry_run=dry_run)
    return answer(
        response,
        outcome,
        dry_run=dry_run,
        replayed=replayed,
        location=f"/v1/investments/{investment_id}",
        room_left=outcome.cost_left,
        binding_limit="cost_held",
    )


# ----- valuations and fees -------------------------------------------------------------------------------


@router.get("/sub-funds/{subfund}/valuations", response_model=ValuationPage)
def list_valuations(subfund: FundCode, principal: Reader, ledger: LedgerDep, page: PageParams):
    row = _visible_subfund(ledger, principal, subfund)
    return page_by_id(reads.valuations(ledger, row["id"]), page, {}, _valuation_out)


def _valuation_out(row: dict) -> ValuationOut:
    return ValuationOut(
        id=row["id"], subfund=row["subfund_code"], as_of=row["as_of"], nav=money(row["nav_fen"]), source=row["source"]
    )


@router.post("/sub-funds/{subfund}/valuations", response_model=ValuationOut, status_code=201)
def record_valuation(
    subfund: FundCode, body: ValuationIn, principal: Manager, ledger: LedgerDep, uow: UnitOfWork, response: Response
):
    """A dated NAV: kept as a valuation, not as a posting (it moves no money)."""
    found = _visible_subfund(ledger, principal, subfund, uow)

    def command() -> ValuationOut:
        valuation_id = _funds(ledger).record_valuation(subfund, body.as_of, body.nav, source=body.source, conn=uow)
        return _valuation_out(row_with_id(reads.valuations(ledger, found["id"], conn=uow), valuation_id))

    outcome = run_command(ledger, uow, command, dry_run=False)
    response.headers["Location"] = f"/v1/sub-funds/{subfund}/valuations"
    return outcome


@router.post("/sub-funds/{subfund}/fee-accruals", response_model=FeeAccrualOut | DryRunResult, responses=MONEY_REFUSED)
def accrue_fees(
    subfund: FundCode,
    body: FeeAccrualIn,
    principal: Manager,
    ledger: LedgerDep,
    uow: UnitOfWork,
    response: Response,
    idempotency_key: IdempotencyKey = None,
    dry_run: DryRun = False,
):
    """Accrue the management fee through a date (HALF_UP on the cumulative total). The date is the service's
    key: accruing through it again returns the same amount and posts nothing."""
    check_idempotency_key(idempotency_key)
    found = _visible_subfund(ledger, principal, subfund, uow)
    replayed = any(row["through"] == body.through for row in reads.fee_accruals(ledger, found["id"], conn=uow))

    def command() -> FeeAccrualOut:
        amount_fen = _funds(ledger).accrue_fees(subfund, body.through, actor=principal.name, conn=uow)
        accruals = reads.fee_accruals(ledger, found["id"], conn=uow)
        cumulative = max((row["cumulative_fen"] for row in accruals), default=0)
        return FeeAccrualOut(
            subfund=subfund, through=body.through, amount=money(amount_fen), cumulative=money(cumulative)
        )

    outcome = run_command(ledger, uow, command, dry_run=dry_run)
    return answer(response, outcome, dry_run=dry_run, replayed=replayed)


# ----- distributions -------------------------------------------------------------------------------------


@router.get(
    "/distributions",
    response_model=DistributionPage,
    openapi_extra=links.listed(
        distribution=links.to("/v1/distributions/{distribution_id}", distribution_id=links.first_item("id"))
    ),
)
def list_distributions(
    principal: Reader,
    ledger: LedgerDep,
    page: PageParams,
    fund: FilterCode = None,
    subfund: FilterCode = None,
    status: StatusFilter = None,
):
    rows = reads.distributions(ledger)
    return _scoped_list(ledger, principal, rows, page, fund, subfund, status, DistributionOut.of)


@router.post(
    "/sub-funds/{subfund}/distributions",
    response_model=DistributionOut,
    status_code=201,
    responses=MONEY_REFUSED,
    openapi_extra=links.created(
        distribution=links.to("/v1/distributions/{distribution_id}", distribution_id=links.created_field("id")),
        approval=links.to(
            "/v1/distributions/{distribution_id}/approval", "post", distribution_id=links.created_field("id")
        ),
    ),
)
def record_distribution(
    subfund: FundCode,
    body: DistributionIn,
    principal: Manager,
    ledger: LedgerDep,
    uow: UnitOfWork,
    response: Response,
    idempotency_key: IdempotencyKey = None,
):
    """Return of capital and income, submitted for approval by another person."""
    key = client_key(principal, idempotency_key)
    _visible_subfund(ledger, principal, subfund, uow)
    replayed = reads.request_recorded(uow, key)

    def command() -> DistributionOut:
        distribution_id = _funds(ledger).record_distribution(
            subfund,
            body.distributed_on,
            body.capital,
            body.income,
            recallable=body.recallable,
            actor=principal.name,
            client_id=key,
            conn=uow,
        )
        return DistributionOut.of(row_with_id(reads.distributions(ledger, conn=uow), distribution_id))

    outcome = run_command(ledger, uow, command, dry_run=False)
    return answer(response, outcome, dry_run=False, replayed=replayed, location=f"/v1/distributions/{outcome.id}")


@router.get("/distributions/{distribution_id}", response_model=DistributionOut)
def get_distribution(distribution_id: ObjectId, principal: Reader, ledger: LedgerDep):
    return DistributionOut.of(
        _visible_row(ledger, principal, reads.distributions(ledger), distribution_id, "distribution")
    )


@router.post(
    "/distributions/{distribution_id}/approval", response_model=FundDecisionOut | DryRunResult, responses=MONEY_REFUSED
)
def approve_distribution(
    distribution_id: ObjectId,
    principal: Approver,
    ledger: LedgerDep,
    uow: UnitOfWork,
    response: Response,
    idempotency_key: IdempotencyKey = None,
    dry_run: DryRun = False,
):
    """Pay the distribution out, split among investors by paid-in (largest remainder), within the bank balance.
    The distribution is the service's key: its approver repeating the call gets the same split."""
    check_idempotency_key(idempotency_key)
    before = _visible_row(ledger, principal, reads.distributions(ledger, conn=uow), distribution_id, "distribution")
    replayed = before["status"] == "approved" and before["approved_by"] == principal.name

    def command() -> tuple[FundDecisionOut, str]:
        _funds(ledger).approve_distribution(distribution_id, approver=principal.name, conn=uow)
        decision = FundDecisionOut(
            distribution=DistributionOut.of(row_with_id(reads.distributions(ledger, conn=uow), distribution_id)),
            dry_run=dry_run,
        )
        return decision, _bank_left(ledger, before["subfund_code"], uow)

    outcome, cash_left = run_command(ledger, uow, command, dry_run=dry_run)
    return answer(
        response, outcome, dry_run=dry_run, replayed=replayed, room_left=cash_left, binding_limit="subfund_cash"
    )
