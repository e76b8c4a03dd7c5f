"""Cash movements filed by one person and approved by another (不相容岗位分离), for the services that take
both names in one call: an appropriation into a guidance fund (``GuidanceFunds.appropriate``), its remittance
to the treasury (``remit_to_treasury``), a funding level's contribution to a pool (``RiskPools.contribute``)
and a pool's settlement run (``settle_outstanding``).

Filing checks the subject and keeps the request (keyed by the filer's ``client_id``: a retry returns the same
request). Approving runs the service with the filer as actor and the approver as approver, keyed on the
request, so the service's own rules (maker-checker, caps, no overdraft) decide; the request's id is the
approval's key: its approver repeating the call gets the stored result and nothing moves twice."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import date

from sqlalchemy import Connection, select

from funds.codes import FundsCode
from funds.common import (
    fetch_one,
    is_new,
    lock_row,
    record_event,
    remember,
    replayed,
    require_maker_checker,
    unit_of_work,
    utc_now,
)
from funds.guidance import T_GUIDANCE, GuidanceFunds
from funds.models import CashRequest
from funds.pools import T_FUNDERS, T_POOLS, RiskPools
from ledger.engine import Ledger
from ledger.errors import LedgerError
from ledger.numbers import parse_amount_fen

T_CASH_REQUESTS = CashRequest.__table__

GF_APPROPRIATION = "gf_appropriation"
GF_REMITTANCE = "gf_remittance"
POOL_CONTRIBUTION = "pool_contribution"
POOL_SETTLEMENT = "pool_settlement"
FUND_KINDS = (GF_APPROPRIATION, GF_REMITTANCE)
POOL_KINDS = (POOL_CONTRIBUTION, POOL_SETTLEMENT)
KINDS = FUND_KINDS + POOL_KINDS
SUBMITTED, APPROVED, REJECTED = "submitted", "approved", "rejected"


def approval_key(request_id: int) -> str:
    """The service call's key when a request is approved (the filer's key already names the filing)."""
    return f"cash-request:{request_id}"


class CashRequests:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.funds = GuidanceFunds(ledger)
        self.pools = RiskPools(ledger)

    def file(
        self,
        kind: str,
        subject_code: str,
        on: date,
        *,
        actor: str,
        client_id: str,
        amount: str | None = None,
        funder_code: str | None = None,
        approval_doc: str | None = None,
        conn: Connection | None = None,
    ) -> int:
        """File a request; returns its id (the same id on a retry with the key). A settlement has no amount:
        it pays what approved claims are owed, as far as the pool holds money when it is approved."""
        if kind not in KINDS:
            raise LedgerError(FundsCode.CONFIGURATION_INVALID, f"kind {kind!r} is not one of {KINDS}")
        amount_fen = None
        if kind != POOL_SETTLEMENT:
            amount_fen = parse_amount_fen(amount or "0")
            if amount_fen <= 0:
                raise LedgerError(FundsCode.AMOUNT_MUST_BE_POSITIVE, f"the amount must be positive, got {amount!r}")
        payload = {"on": on.isoformat(), "amount": amount, "funder_code": funder_code, "approval_doc": approval_doc}
        content = {"kind": kind, "subject": subject_code, "payload": payload, "actor": actor}
        with unit_of_work(self.ledger, conn) as c:
            if not is_new(stored := replayed(c, "cash_request", client_id, content)):
                return stored
            if kind in FUND_KINDS:
                fetch_one(c, T_GUIDANCE, "guidance fund", code=subject_code)
            else:
                pool = fetch_one(c, T_POOLS, "pool", code=subject_code)
                if kind == POOL_CONTRIBUTION:
                    fetch_one(c, T_FUNDERS, "funder of the pool", pool_id=pool["id"], funder_code=funder_code)
            request_id = c.execute(
                T_CASH_REQUESTS.insert().values(
                    kind=kind,
                    subject_code=subject_code,
                    payload_json=json.dumps(payload, ensure_ascii=False, sort_keys=True),
                    amount_fen=amount_fen,
                    status=SUBMITTED,
                    recorded_by=actor,
                    client_id=client_id,
                    recorded_at=utc_now(),
                )
            ).inserted_primary_key[0]
            record_event(c, "cash_request", request_id, "filed", actor, kind=kind, subject=subject_code)
            return remember(c, "cash_request", client_id, content, request_id)

    def approve(self, request_id: int, *, approver: str, conn: Connection | None = None) -> dict:
        """Carry the request out with both names; returns the service's result (``transaction_id``, or a
        settlement's ``payouts``)."""
        with unit_of_work(self.ledger, conn) as c:
            request = lock_row(c, T_CASH_REQUESTS, "cash request", id=request_id)
            require_maker_checker(request["recorded_by"], approver)
            if request["status"] == APPROVED and request["approved_by"] == approver:
                return json.loads(request["result_json"])
            _require_submitted(request)
            result = self._carry_out(c, request, approver)
            c.execute(
                T_CASH_REQUESTS.update()
                .where(T_CASH_REQUESTS.c.id == request_id)
                .values(status=APPROVED, approved_by=approver, result_json=json.dumps(result, sort_keys=True))
            )
            record_event(c, "cash_request", request_id, "approved", approver)
            return result

    def reject(self, request_id: int, *, approver: str, reason: str, conn: Connection | None = None) -> None:
        with unit_of_work(self.ledger, conn) as c:
            request = lock_row(c, T_CASH_REQUESTS, "cash request", id=request_id)
            require_maker_checker(request["recorded_by"], approver)
            _require_submitted(request)
            c.execute(
                T_CASH_REQUESTS.update()
                .where(T_CASH_REQUESTS.c.id == request_id)
                .values(status=REJECTED, approved_by=approver, reason=reason)
            )
            record_event(c, "cash_request", request_id, "rejected", approver, reason=reason)

    def _carry_out(self, c: Connection, request: dict, approver: str) -> dict:
        payload = json.loads(request["payload_json"])
        on, subject, actor = date.fromisoformat(payload["on"]), request["subject_code"], request["recorded_by"]
        names = {"actor": actor, "approver": approver, "client_id": approval_key(request["id"]), "conn": c}
        kind = request["kind"]
        if kind == GF_APPROPRIATION:
            transaction_id = self.funds.appropriate(
                subject, payload["amount"], on, approval_doc=payload["approval_doc"], **names
            )
        elif kind == GF_REMITTANCE:
            transaction_id = self.funds.remit_to_treasury(subject, payload["amount"], on, **names)
        elif kind == POOL_CONTRIBUTION:
            transaction_id = self.pools.contribute(
                subject, payload["funder_code"], payload["amount"], on, approval_doc=payload["approval_doc"], **names
            )
        else:
            payouts = self.pools.settle_outstanding(subject, on, **names)
            return {"payouts": [asdict(payout) for payout in payouts]}
        return {"transaction_id": transaction_id}


def cash_requests(ledger: Ledger, *, conn: Connection | None = None) -> list[dict]:
    """Every request in id order, its payload decoded (``payload``) and its result (``result``, or None)."""

    def decoded(row) -> dict:  # noqa: ANN001 - a row mapping
        item = dict(row)
        item["payload"] = json.loads(item.pop("payload_json"))
        result = item.pop("result_json")
        item["result"] = None if result is None else json.loads(result)
        return item

    query = select(T_CASH_REQUESTS).order_by(T_CASH_REQUESTS.c.id)
    if conn is not None:
        return [decoded(row) for row in conn.execute(query).mappings()]
    with ledger.reader.connect() as own:
        return [decoded(row) for row in own.execute(query).mappings()]


def _require_submitted(request: dict) -> None:
    if request["status"] != SUBMITTED:
        raise LedgerError(FundsCode.ALREADY_DECIDED, f"cash request {request['id']} is {request['status']}")
