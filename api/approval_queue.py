"""The approvals queue: every item waiting for a second person, across the domains, and its decision.

Items: voucher programs, quota grants (submitted), payment batches (prepared), providers' voucher claims,
settlement runs and 通用 reimbursements (filed through the voucher routes), subsidy applications (submitted),
subsidy clawbacks (requested), the funds' cash requests (appropriations, remittances, pool contributions and
settlement runs), guidance-fund commitments, capital calls and distributions (submitted) and risk-pool claims
(submitted). Approving or rejecting calls the owning domain's service with the caller as the checker; the
service refuses the recorder (maker-checker is per person) and keeps its own rules.

An item's id is ``<kind>:<id>``. Who sees an item: the roles that may decide it (a guidance fund's items also
its fund managers, as on the funds routes) and auditors, each within its scope (a region item in the caller's
regions, or either region of a cross-region one; a fund's item where the fund is visible; a pool's where the
caller's region funds it). The HTTP routes (api.routers.approvals) and the finance pages (api.web) both use
this module: the same queue, scope and decisions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Connection

from api import approval_requests as requests_store
from api.problems import ApiProblem
from api.routers.vouchers import CLAIM_REQUEST, PROGRAM_REQUEST, REIMBURSEMENT_REQUEST, ROW_ID_MAX, SETTLEMENT_REQUEST
from api.schemas.approvals import ApprovalIn, ApprovalItemOut, RejectionIn
from api.scopes import Principal, Role, fund_visible, pool_visible, region_prefix
from api.writes import Written
from funds import cash_requests as cash
from funds import reads as funds_reads
from funds.guidance import GuidanceFunds
from funds.pools import RiskPools
from ledger.engine import Ledger
from ledger.money import format_fen
from subsidies import listings as subsidy_listings
from subsidies.service import SubsidyService
from vouchers import listings as voucher_listings
from vouchers.config import ProgramConfig
from vouchers.grants import approve_grant, reject_grant
from vouchers.payments import approve_batch, pay_reimbursement, reject_batch
from vouchers.programs import create_program, require_maker_checker
from vouchers.redemptions import claim
from vouchers.settlement import settle

ITEM_PATTERN = r"^[a-z_]{1,40}:[1-9][0-9]{0,9}$"
VOUCHER_GRANT = "voucher_grant"
PAYMENT_BATCH = "voucher_payment_batch"
SUBSIDY_APPLICATION = "subsidy_application"
SUBSIDY_CLAWBACK = "subsidy_clawback"
FUNDS_CASH_REQUEST = "funds_cash_request"
FUND_COMMITMENT = "fund_commitment"
CAPITAL_CALL = "capital_call"
FUND_DISTRIBUTION = "fund_distribution"
POOL_CLAIM = "pool_claim"
STORED_KINDS = (PROGRAM_REQUEST, CLAIM_REQUEST, SETTLEMENT_REQUEST, REIMBURSEMENT_REQUEST)
FUND_KINDS = (FUND_COMMITMENT, CAPITAL_CALL, FUND_DISTRIBUTION)
KINDS = (
    VOUCHER_GRANT,
    PAYMENT_BATCH,
    *STORED_KINDS,
    SUBSIDY_APPLICATION,
    SUBSIDY_CLAWBACK,
    FUNDS_CASH_REQUEST,
    *FUND_KINDS,
    POOL_CLAIM,
)
OFFICE_DECIDERS = (Role.ADMIN, Role.FINANCE_OFFICE)
# A sub-fund's commitment, call or distribution is approved by the region's finance office or by another
# person of the managing institution (as on /v1/commitments/{id}/approval and the like).
FUND_DECIDERS = (Role.ADMIN, Role.FINANCE_OFFICE, Role.FUND_MANAGER)
DECIDER_ROLES = {kind: FUND_DECIDERS if kind in FUND_KINDS else OFFICE_DECIDERS for kind in KINDS}
QUEUE_READER_ROLES = (Role.ADMIN, Role.FINANCE_OFFICE, Role.AUDITOR, Role.FUND_MANAGER)
QUEUE_DECIDER_ROLES = FUND_DECIDERS
APPROVAL_NOT_FOUND = "approval_not_found"
APPROVAL_CANNOT_BE_REJECTED = "approval_cannot_be_rejected"
SETTLEMENT_HAS_NOTHING_DUE = "settlement_has_nothing_due"
APPROVAL_ALREADY_DECIDED = "approval_already_decided"


@dataclass(frozen=True)
class _Subfunds:
    """Each sub-fund's (guidance fund, region) by id and by code, read once per queue."""

    by_code: dict[str, tuple[str, str]]

    @classmethod
    def read(cls, ledger: Ledger, conn: Connection) -> _Subfunds:
        rows = funds_reads.subfunds(ledger, conn=conn)
        return cls({row["code"]: (row["guidance_code"], row["region_code"]) for row in rows})

    def scope(self, subfund_code: str) -> tuple[str, str, str]:
        guidance, region = self.by_code[subfund_code]
        return guidance, region, subfund_code


def _money(fen: int | None) -> str | None:
    return None if fen is None else format_fen(fen)


# ----- the queue ---------------------------------------------------------------------------------------


def queue_items(ledger: Ledger, conn: Connection) -> list[ApprovalItemOut]:
    """Every waiting item, unscoped (filter with ``item_visible``), in no particular order (``queue_order``)."""
    return [
        *_voucher_items(conn),
        *_subsidy_items(conn),
        *_cash_request_items(ledger, conn),
        *_fund_items(ledger, conn),
        *_pool_claim_items(ledger, conn),
    ]


def _voucher_items(conn: Connection) -> list[ApprovalItemOut]:
    items = [
        ApprovalItemOut(
            id=f"{VOUCHER_GRANT}:{row['id']}",
            kind=VOUCHER_GRANT,
            subject=f"grant {row['id']} of program {row['program_code']}",
            region=row["region_code"],
            institution=row["enterprise_code"],
            amount=_money(row["requested_fen"]),
            recorded_by=row["maker"],
            recorded=row["submitted_on"].isoformat(),
            summary=f"创新券 quota for {row['enterprise_code']}",
        )
        for row in voucher_listings.grants(conn, status="submitted")
    ]
    items += [
        ApprovalItemOut(
            id=f"{PAYMENT_BATCH}:{row['id']}",
            kind=PAYMENT_BATCH,
            subject=f"payment batch {row['id']} ({row['period_label']})",
            region=row["region_code"],
            institution=None,
            amount=_money(row["total_fen"]),
            recorded_by=row["maker"],
            recorded=row["prepared_on"].isoformat(),
            summary=f"{row['line_count']} provider payments",
        )
        for row in voucher_listings.payment_batches(conn, status="prepared")
    ]
    items += [
        ApprovalItemOut(
            id=f"{row['kind']}:{row['id']}",
            kind=row["kind"],
            subject=row["subject"],
            region=row["region_code"],
            other_region=row["other_region_code"],
            institution=row["institution_code"],
            amount=_money(row["amount_fen"]),
            recorded_by=row["recorded_by"],
            recorded=row["recorded_at"].isoformat(),
            summary=_stored_summary(row),
        )
        for row in requests_store.pending_requests(conn)
    ]
    return items


def _subsidy_items(conn: Connection) -> list[ApprovalItemOut]:
    items = [
        ApprovalItemOut(
            id=f"{SUBSIDY_APPLICATION}:{row['id']}",
            kind=SUBSIDY_APPLICATION,
            subject=f"application {row['id']} to {row['program_code']} for {row['program_year']}",
            region=row["region_code"],
            institution=row["institution_code"],
            amount=None,
            recorded_by=row["submitted_by"],
            recorded=row["submitted_at"].isoformat(),
            summary="subsidy application",
        )
        for row in subsidy_listings.applications(conn, status="submitted")
    ]
    items += [
        ApprovalItemOut(
            id=f"{SUBSIDY_CLAWBACK}:{row['id']}",
            kind=SUBSIDY_CLAWBACK,
            subject=f"clawback {row['id']} of grant {row['grant_id']}",
            region=row["region_code"],
            institution=row["institution_code"],
            amount=_money(row["amount_fen"]),
            recorded_by=row["requested_by"],
            recorded=row["requested_at"].isoformat(),
            summary=row["reason"],
        )
        for row in subsidy_listings.clawbacks(conn, status="requested")
    ]
    return items


def _pool_funders(ledger: Ledger, conn: Connection) -> dict[str, tuple[str, ...]]:
    # On the caller's connection: a second one taken from the pool while the first is held lets concurrent
    # queue reads drain the pool and wait on each other.
    pools = funds_reads.pools(ledger, conn=conn)
    return {pool["code"]: tuple(f["funder_code"] for f in pool["funders"]) for pool in pools}


def _cash_request_items(ledger: Ledger, conn: Connection) -> list[ApprovalItemOut]:
    """A fund's request shows its fund's region, a pool's its funding levels (for the queue's region filter)."""
    fund_regions = {row["code"]: row["region_code"] for row in funds_reads.guidance_funds(ledger, conn=conn)}
    pool_funders = _pool_funders(ledger, conn)
    return [
        ApprovalItemOut(
            id=f"{FUNDS_CASH_REQUEST}:{row['id']}",
            kind=FUNDS_CASH_REQUEST,
            subject=f"{row['kind']} of {row['subject_code']}",
            region=fund_regions.get(row["subject_code"]) if row["kind"] in cash.FUND_KINDS else None,
            pool_funders=() if row["kind"] in cash.FUND_KINDS else pool_funders.get(row["subject_code"], ()),
            institution=None,
            amount=_money(row["amount_fen"]),
            recorded_by=row["recorded_by"],
            recorded=row["recorded_at"].isoformat(),
            summary=row["kind"],
            funds_subject=(row["kind"], row["subject_code"]),
        )
        for row in cash.cash_requests(ledger, conn=conn)
        if row["status"] == cash.SUBMITTED
    ]


def _fund_items(ledger: Ledger, conn: Connection) -> list[ApprovalItemOut]:
    subfunds = _Subfunds.read(ledger, conn)

    def item(kind: str, row: dict, subject: str, amount_fen: int | None, on: date, summary: str) -> ApprovalItemOut:
        scope = subfunds.scope(row["subfund_code"])
        return ApprovalItemOut(
            id=f"{kind}:{row['id']}",
            kind=kind,
            subject=subject,
            region=scope[1],
            institution=None,
            amount=_money(amount_fen),
            recorded_by=row["recorded_by"],
            recorded=on.isoformat(),
            summary=summary,
            fund_scope=scope,
        )

    items = [
        item(
            FUND_COMMITMENT,
            row,
            f"commitment {row['id']} of {row['investor_code']} to {row['subfund_code']}",
            row["amount_fen"],
            row["committed_on"],
            "认缴 (guidance fund)" if row["is_guidance"] else "认缴",
        )
        for row in funds_reads.commitments(ledger, conn=conn)
        if row["status"] == "submitted"
    ]
    items += [
        item(
            CAPITAL_CALL,
            row,
            f"capital call {row['sequence']} of {row['subfund_code']}",
            None,
            row["notice_on"],
            f"实缴 call of {row['ratio']} of commitments, due {row['due_on'].isoformat()}",
        )
        for row in funds_reads.capital_calls(ledger, conn=conn)
        if row["status"] == "submitted"
    ]
    items += [
        item(
            FUND_DISTRIBUTION,
            row,
            f"distribution {row['id']} of {row['subfund_code']}",
            row["capital_fen"] + row["income_fen"],
            row["distributed_on"],
            f"capital {format_fen(row['capital_fen'])}, income {format_fen(row['income_fen'])}"
            + (", recallable" if row["recallable"] else ""),
        )
        for row in funds_reads.distributions(ledger, conn=conn)
        if row["status"] == "submitted"
    ]
    return items


def _pool_claim_items(ledger: Ledger, conn: Connection) -> list[ApprovalItemOut]:
    funders = _pool_funders(ledger, conn)
    return [
        ApprovalItemOut(
            id=f"{POOL_CLAIM}:{row['id']}",
            kind=POOL_CLAIM,
            subject=f"claim {row['id']} on loan {row['loan_id']} in pool {row['pool_code']}",
            region=None,
            institution=row["enterprise_code"],
            amount=_money(row["non_performing_fen"]),
            recorded_by=row["recorded_by"],
            recorded=row["claimed_on"].isoformat(),
            summary=f"default claim of bank {row['bank_code']} (non-performing principal)",
            pool_funders=funders.get(row["pool_code"], ()),
        )
        for row in funds_reads.claims(ledger, conn=conn)
        if row["status"] == "submitted"
    ]


def _stored_summary(row: dict) -> str:
    payload = row["payload"]
    if row["kind"] == CLAIM_REQUEST:
        return f"provider's claim, invoice {payload['invoice_no']}"
    if row["kind"] == PROGRAM_REQUEST:
        return f"创新券 program {payload['name']} ({payload['year']})"
    if row["kind"] == SETTLEMENT_REQUEST:
        return f"settlement {payload['region_a']}/{payload['region_b']} {payload['period_label']}"
    return "通用 reimbursement of the enterprise"


def _funds_subject_visible(ledger: Ledger, principal: Principal, kind: str, subject: str) -> bool:
    """A fund's cash request is its region's; a pool's is each funding level's (as ``/v1/cash-requests``)."""
    if kind in cash.FUND_KINDS:
        fund = funds_reads.guidance_fund(ledger, subject)
        return fund is not None and fund_visible(principal, fund["code"], fund["region_code"])
    pool = funds_reads.pool(ledger, subject)
    return pool is not None and pool_visible(principal, [funder["funder_code"] for funder in pool["funders"]], ())


def item_visible(ledger: Ledger, principal: Principal, item: ApprovalItemOut) -> bool:
    """May the caller know the item exists: its role decides or audits such items, and it is in scope."""
    if principal.role is not Role.AUDITOR and principal.role not in DECIDER_ROLES.get(item.kind, ()):
        return False
    if item.funds_subject is not None:
        return _funds_subject_visible(ledger, principal, *item.funds_subject)
    if item.fund_scope is not None:
        return fund_visible(principal, *item.fund_scope)
    if item.kind == POOL_CLAIM:
        return pool_visible(principal, item.pool_funders, ())
    return principal.covers_region(item.region) or principal.covers_region(item.other_region)


def item_in_region(item: ApprovalItemOut, region: str) -> bool:
    """The ``region`` filter of the queue: either region of the item, or one of a pool's funding levels."""
    prefix = region_prefix(region)
    return any((code or "").startswith(prefix) for code in (item.region, item.other_region, *item.pool_funders))


def queue_order(item: ApprovalItemOut) -> list:
    kind, _, number = item.id.partition(":")
    return [KINDS.index(kind), int(number)]


def visible_queue(ledger: Ledger, conn: Connection, principal: Principal) -> list[ApprovalItemOut]:
    """The caller's queue in ``queue_order``."""
    items = [item for item in queue_items(ledger, conn) if item_visible(ledger, principal, item)]
    return sorted(items, key=queue_order)


def not_found(item_id: str) -> ApiProblem:
    return ApiProblem(404, APPROVAL_NOT_FOUND, f"no item {item_id} is waiting for approval here")


def waiting_item(ledger: Ledger, conn: Connection, principal: Principal, item_id: str) -> ApprovalItemOut:
    item = next((item for item in queue_items(ledger, conn) if item.id == item_id), None)
    if item is None or not item_visible(ledger, principal, item):
        raise not_found(item_id)
    return item


# ----- finding an item to decide (whatever its status) --------------------------------------------------


def _region_item(conn: Connection, kind: str, number: int) -> ApprovalItemOut | None:
    """A region item as the scope check needs it, whatever its status (a decided item is still found, so
    that a retried decision reaches its service, which answers with the stored outcome or refuses it)."""
    row, other = None, None
    if kind == VOUCHER_GRANT:
        row = voucher_listings.grant(conn, number)
    elif kind == PAYMENT_BATCH:
        row = voucher_listings.payment_batch(conn, number)
    elif kind in STORED_KINDS:
        row = requests_store.request_for_update(conn, number, postgres=False)
        if row is not None and row["kind"] != kind:
            row = None
        other = None if row is None else row["other_region_code"]
    elif kind == SUBSIDY_APPLICATION:
        row = subsidy_listings.application(conn, number)
    elif kind == SUBSIDY_CLAWBACK:
        row = subsidy_listings.clawback(conn, number)
    if row is None:
        return None
    return _scope_only(kind, number, region=row["region_code"], other_region=other)


def _scope_only(kind: str, number: int, **scope: Any) -> ApprovalItemOut:
    fields: dict[str, Any] = {"region": None, "institution": None, "amount": None} | scope
    return ApprovalItemOut(
        id=f"{kind}:{number}", kind=kind, subject="", recorded_by="", recorded="", summary="", **fields
    )


def _fund_item(ledger: Ledger, conn: Connection, kind: str, number: int) -> ApprovalItemOut | None:
    rows = {
        FUND_COMMITMENT: funds_reads.commitments,
        CAPITAL_CALL: funds_reads.capital_calls,
        FUND_DISTRIBUTION: funds_reads.distributions,
    }[kind](ledger, conn=conn)
    row = next((row for row in rows if row["id"] == number), None)
    if row is None:
        return None
    return _scope_only(kind, number, fund_scope=_Subfunds.read(ledger, conn).scope(row["subfund_code"]))


def _pool_claim_item(ledger: Ledger, conn: Connection, number: int) -> ApprovalItemOut | None:
    row = funds_reads.claim(ledger, number, conn=conn)
    pool = None if row is None else funds_reads.pool(ledger, row["pool_code"])
    if pool is None:
        return None
    return _scope_only(POOL_CLAIM, number, pool_funders=tuple(f["funder_code"] for f in pool["funders"]))


def _cash_request_item(ledger: Ledger, conn: Connection, number: int) -> ApprovalItemOut | None:
    row = next((row for row in cash.cash_requests(ledger, conn=conn) if row["id"] == number), None)
    if row is None:
        return None
    return _scope_only(FUNDS_CASH_REQUEST, number, funds_subject=(row["kind"], row["subject_code"]))


def locate_item(ledger: Ledger, uow: Connection, principal: Principal, item_id: str) -> tuple[str, int]:
    """The item's kind and number, if the caller may know it exists (else the same 404 as an unknown one)."""
    kind, _, number_text = item_id.partition(":")
    number = int(number_text)
    if number > ROW_ID_MAX or kind not in KINDS:
        raise not_found(item_id)
    if kind == FUNDS_CASH_REQUEST:
        found = _cash_request_item(ledger, uow, number)
    elif kind in FUND_KINDS:
        found = _fund_item(ledger, uow, kind, number)
    elif kind == POOL_CLAIM:
        found = _pool_claim_item(ledger, uow, number)
    else:
        found = _region_item(uow, kind, number)
    if found is None or not item_visible(ledger, principal, found):
        raise not_found(item_id)
    return kind, number


# ----- deciding ----------------------------------------------------------------------------------------


def _stored_pending(ledger: Ledger, conn: Connection, kind: str, number: int) -> dict:
    row = requests_store.request_for_update(conn, number, postgres=ledger.postgres)
    if row["status"] != requests_store.PENDING:
        raise ApiProblem(409, APPROVAL_ALREADY_DECIDED, f"{kind}:{number} was already {row['status']}")
    return row


def approve_item(joined: Ledger, principal: Principal, kind: str, number: int, body: ApprovalIn) -> Written:
    """Approve through the owning domain's service on ``joined`` (the request's unit of work)."""
    checker, doc, on = principal.name, body.approval_doc, body.on
    if kind == VOUCHER_GRANT:
        decision = approve_grant(joined, number, checker=checker, approval_doc=doc, on=on)
        binding = decision.clipped_by or decision.warned_by
        result = {
            "grant_id": decision.grant_id,
            "requested": format_fen(decision.requested_fen),
            "granted": _money(decision.granted_fen),
            "clipped_by": decision.clipped_by,
            "warned_by": decision.warned_by,
        }
        return Written(result, f"/v1/vouchers/{number}", binding, "0.00" if decision.clipped_by else None)
    if kind == PAYMENT_BATCH:
        batch = approve_batch(joined, number, checker=checker, approval_doc=doc, on=on)
        return Written({"batch_id": number, "status": batch["status"], "total": format_fen(batch["total_fen"])})
    if kind == SUBSIDY_APPLICATION:
        return _approve_application(joined, checker, number, body)
    if kind == SUBSIDY_CLAWBACK:
        SubsidyService(joined).approve_clawback(number, approver=checker, approval_doc=doc, on=on)
        return Written({"clawback_id": number, "status": "approved"})
    if kind == FUNDS_CASH_REQUEST:
        # the request carries its own date and document, as filed; the approval body's are not used
        done = cash.CashRequests(joined).approve(number, approver=checker)
        return Written({"cash_request_id": number, "status": "approved", "result": done}, f"/v1/cash-requests/{number}")
    if kind in FUND_KINDS:
        return _approve_fund_item(joined, checker, kind, number)
    if kind == POOL_CLAIM:
        return _approve_pool_claim(joined, checker, number, body)
    return _approve_stored(joined, principal, kind, number, body)


def _approve_application(joined: Ledger, checker: str, number: int, body: ApprovalIn) -> Written:
    outcome = SubsidyService(joined).approve(number, approver=checker, approval_doc=body.approval_doc, on=body.on)
    result = {
        "grant_id": outcome.grant_id,
        "computed": format_fen(outcome.computed_fen),
        "granted": format_fen(outcome.granted_fen),
        "flags": [{"rule": flag.rule, "enforcement": flag.enforcement, "code": flag.code} for flag in outcome.flags],
    }
    last = outcome.flags[-1] if outcome.flags else None
    room_left = None
    if last is not None and last.rule != "awardees_per_year":
        room_left = format_fen(max(last.room - last.granted_fen, 0))
    return Written(result, f"/v1/grants/{outcome.grant_id}", last.rule if last else None, room_left)


def _approve_fund_item(joined: Ledger, checker: str, kind: str, number: int) -> Written:
    """The funds services take no approval document or date: a commitment, call or distribution keeps the
    date it was recorded with (its effective date), and its approver is the caller."""
    funds = GuidanceFunds(joined)
    if kind == FUND_COMMITMENT:
        approved_fen = funds.approve_commitment(number, approver=checker)
        result: dict[str, Any] = {"commitment_id": number, "approved": format_fen(approved_fen)}
        return Written(result, f"/v1/commitments/{number}")
    if kind == CAPITAL_CALL:
        amounts = funds.approve_call(number, approver=checker)
        result = {"call_id": number, "called": {investor: format_fen(fen) for investor, fen in amounts.items()}}
        return Written(result, f"/v1/capital-calls/{number}")
    parts = funds.approve_distribution(number, approver=checker)
    result = {
        "distribution_id": number,
        "parts": {
            investor: {"capital": format_fen(capital_fen), "income": format_fen(income_fen)}
            for investor, (capital_fen, income_fen) in parts.items()
        },
    }
    return Written(result, f"/v1/distributions/{number}")


def _approve_pool_claim(joined: Ledger, checker: str, number: int, body: ApprovalIn) -> Written:
    decision = RiskPools(joined).approve_claim(
        number, approver=checker, paid_on=body.on, approval_doc=body.approval_doc
    )
    result = {
        "claim_id": number,
        "entitled": format_fen(decision.entitled_fen),
        "binding_limit": decision.binding_limit,
        "limits": {name: format_fen(fen) for name, fen in decision.limits_fen.items()},
        "paid_now": format_fen(decision.paid_fen),
        "outstanding": format_fen(decision.outstanding_fen),
    }
    # as on /v1/claims/{id}/approval: what the pool holds after paying what it can now
    pool_left_fen = decision.limits_fen.get("pool_balance", 0) - decision.paid_fen
    return Written(result, f"/v1/claims/{number}", decision.binding_limit, format_fen(max(pool_left_fen, 0)))


def _approve_stored(joined: Ledger, principal: Principal, kind: str, number: int, body: ApprovalIn) -> Written:
    with joined.engine.begin() as conn:
        stored = _stored_pending(joined, conn, kind, number)
    payload, maker = stored["payload"], stored["recorded_by"]
    if kind == PROGRAM_REQUEST:
        config = ProgramConfig.from_dict(payload)
        create_program(joined, config, actor=maker, approver=principal.name, approval_doc=body.approval_doc, on=body.on)
        result: dict[str, Any] = {"program": config.code, "budget": format_fen(config.budget_fen)}
        location = f"/v1/voucher-programs/{config.code}"
    elif kind == CLAIM_REQUEST:
        redemption = claim(
            joined, int(stored["subject"]), invoice_no=payload["invoice_no"],
            invoiced_amount=payload["invoiced_amount"], requested_amount=payload.get("requested_amount"),
            on=body.on, actor=maker, verifier=principal.name,
        )  # fmt: skip
        result = {"redemption_id": redemption["id"], "claimed": _money(redemption["claimed_fen"])}
        location = f"/v1/redemptions/{redemption['id']}"
    elif kind == SETTLEMENT_REQUEST:
        settlement = settle(
            joined, payload["region_a"], payload["region_b"], period_label=payload["period_label"],
            period_start=date.fromisoformat(payload["period_start"]),
            period_end=date.fromisoformat(payload["period_end"]),
            on=body.on, actor=maker, approver=principal.name,
        )  # fmt: skip
        if settlement is None:
            raise ApiProblem(409, SETTLEMENT_HAS_NOTHING_DUE, "no claimed, unsettled redemption is due in this period")
        result = {
            "settlement_id": settlement["id"],
            "low_owes_high": format_fen(settlement["low_owes_high_fen"]),
            "high_owes_low": format_fen(settlement["high_owes_low_fen"]),
        }
        location = f"/v1/settlements/{settlement['id']}"
    else:
        redemption = pay_reimbursement(
            joined, int(stored["subject"]), maker=maker, checker=principal.name,
            approval_doc=body.approval_doc, on=body.on,
        )  # fmt: skip
        result = {"redemption_id": redemption["id"], "reimbursed_on": str(redemption["reimbursed_on"])}
        location = f"/v1/redemptions/{redemption['id']}"
    with joined.engine.begin() as conn:
        requests_store.decide(
            conn, number, status=requests_store.APPROVED, decided_by=principal.name, at=joined.clock(), reason=None
        )
    return Written(result, location)


def reject_item(joined: Ledger, principal: Principal, kind: str, number: int, body: RejectionIn) -> Written:
    """Reject with a reason through the owning domain's service (the recorder cannot reject its own item)."""
    checker, reason = principal.name, body.reason
    rejected = {"status": "rejected"}
    if kind == VOUCHER_GRANT:
        decision = reject_grant(joined, number, checker=checker, reason=reason, on=body.on)
        return Written({"grant_id": decision.grant_id, "status": decision.status}, f"/v1/vouchers/{number}")
    if kind == PAYMENT_BATCH:
        batch = reject_batch(joined, number, checker=checker, reason=reason, on=body.on)
        return Written({"batch_id": number, "status": batch["status"]}, f"/v1/payment-batches/{number}")
    if kind == SUBSIDY_APPLICATION:
        SubsidyService(joined).reject(number, approver=checker, reason=reason)
        return Written({"application_id": number, **rejected}, f"/v1/subsidy-applications/{number}")
    if kind == SUBSIDY_CLAWBACK:
        SubsidyService(joined).reject_clawback(number, approver=checker, reason=reason)
        return Written({"clawback_id": number, **rejected})
    if kind == FUNDS_CASH_REQUEST:
        cash.CashRequests(joined).reject(number, approver=checker, reason=reason)
        return Written({"cash_request_id": number, **rejected}, f"/v1/cash-requests/{number}")
    if kind == FUND_COMMITMENT:
        GuidanceFunds(joined).reject_commitment(number, approver=checker, reason=reason)
        return Written({"commitment_id": number, **rejected}, f"/v1/commitments/{number}")
    if kind == CAPITAL_CALL:
        GuidanceFunds(joined).reject_call(number, approver=checker, reason=reason)
        return Written({"call_id": number, **rejected}, f"/v1/capital-calls/{number}")
    if kind == FUND_DISTRIBUTION:
        GuidanceFunds(joined).reject_distribution(number, approver=checker, reason=reason)
        return Written({"distribution_id": number, **rejected}, f"/v1/distributions/{number}")
    if kind == POOL_CLAIM:
        RiskPools(joined).reject_claim(number, approver=checker, reason=reason)
        return Written({"claim_id": number, **rejected}, f"/v1/claims/{number}")
    if kind in STORED_KINDS:
        with joined.engine.begin() as conn:
            stored = _stored_pending(joined, conn, kind, number)
            require_maker_checker(stored["recorded_by"], checker)
            requests_store.decide(
                conn, number, status=requests_store.REJECTED, decided_by=checker, at=joined.clock(), reason=reason
            )
        return Written({"id": f"{kind}:{number}", "status": requests_store.REJECTED})
    raise ApiProblem(409, APPROVAL_CANNOT_BE_REJECTED, f"a {kind} is not rejected here")
