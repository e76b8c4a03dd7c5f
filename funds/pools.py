"""Loan risk-compensation pools (贷款风险补偿资金池): funders, partner banks, filed loans, default claims,
settlement and recoveries (追偿).

Each pool is its own accounting entity with two books:
- ``pool:<code>`` (financial): ``Assets:Bank:Pool`` (may never go below zero: the ledger refuses any credit
  beyond its debits), ``NetAssets:Contributions:<funder>``, ``Expenses:Compensation:<funder>`` (each
  funder's portion of every payout), ``Revenue:Recoveries:<funder>``;
- ``pool:<code>:memo`` (memo): filed loan exposure per bank, ``Memo:FiledLoans:<bank>`` against
  ``Memo:FiledLoansControl`` (the amount each loan is covered for: its principal, or what a clipping cap left);
- ``pool:<code>:budget`` (budgetary): ``BudgetBalance:Funds`` against ``BudgetRevenue:Contributions:<funder>``,
  ``BudgetExpenditure:Compensation:<funder>`` and ``BudgetRevenue:Recoveries:<funder>``, posted with each cash
  movement of the pool.

A claim pays min(ratio x non-performing principal, per-loan cap, bank's annual cap left, enterprise's
cumulative cap left, pool balance). Everything before the pool balance is the claim's entitlement, consumed
against the caps when approved (pending payment included); what the pool cannot pay now stays outstanding
and is settled later, pro rata when the pool is short. Claims on one pool are serialized by a row lock on
the pool, and the cash account's ledger flag is the last guard against an overdraft.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import date
from fractions import Fraction

from sqlalchemy import Connection, func, select

from funds.codes import FundsCode
from funds.common import (
    BUDGET_CASH,
    SOURCE,
    available_debit_balance_fen,
    budget_book,
    budget_legs,
    fetch_one,
    is_new,
    lock_row,
    record_event,
    record_flag,
    remember,
    replayed,
    require_maker_checker,
    unit_of_work,
    utc_now,
)
from funds.config import BankAgreementTerms, PoolPolicy
from funds.models import (
    BankAgreement,
    Claim,
    ClaimPayment,
    ClaimPaymentPart,
    Loan,
    Pool,
    PoolContribution,
    PoolFunder,
    Recovery,
    RecoveryPart,
)
from ledger.engine import Ledger, posting_specs
from ledger.entries import Audit, ReversalRequest, TransactionRequest
from ledger.errors import LedgerError
from ledger.money import format_fen
from ledger.numbers import add_months_clamped, apply_ratio_down, parse_amount_fen, parse_ratio, split_largest_remainder

T_POOLS = Pool.__table__
T_FUNDERS = PoolFunder.__table__
T_CONTRIBUTIONS = PoolContribution.__table__
T_AGREEMENTS = BankAgreement.__table__
T_LOANS = Loan.__table__
T_CLAIMS = Claim.__table__
T_PAYMENTS = ClaimPayment.__table__
T_PAYMENT_PARTS = ClaimPaymentPart.__table__
T_RECOVERIES = Recovery.__table__
T_RECOVERY_PARTS = RecoveryPart.__table__

POOL_CASH = "Assets:Bank:Pool"
FUNDING_LEVELS = ("province", "city", "district")
# Order in which a binding limit is named when several bind at the same amount.
LIMIT_ORDER = ("ratio", "per_loan_cap", "bank_annual_cap", "enterprise_cumulative_cap", "pool_balance")
ALLOWED_TRANSITIONS = {("performing", "overdue"), ("overdue", "performing"), ("overdue", "defaulted")}
OPEN_CLAIM_STATUSES = ("submitted", "approved", "paid")


def filing_deadline(policy: PoolPolicy, disbursed_on: date) -> date:
    """The last day a loan disbursed on ``disbursed_on`` may be filed into a pool under ``policy``."""
    return add_months_clamped(disbursed_on, policy.filing_window_months.count())


def financial_book(pool_code: str) -> str:
    return f"pool:{pool_code}"


def memo_book(pool_code: str) -> str:
    return f"pool:{pool_code}:memo"


@dataclass(frozen=True, slots=True)
class FunderShare:
    funder_code: str  # the funding level's region code (行政区划代码)
    level: str  # province | city | district
    share: str  # exact ratio text: "20%", "2/5"


@dataclass(frozen=True, slots=True)
class Payout:
    claim_id: int
    amount_fen: int
    binding_limit: str | None
    parts: dict[str, int]


@dataclass(frozen=True, slots=True)
class ClaimDecision:
    claim_id: int
    entitled_fen: int
    binding_limit: str
    limits_fen: dict[str, int]
    payout: Payout | None

    @property
    def paid_fen(self) -> int:
        return self.payout.amount_fen if self.payout else 0

    @property
    def outstanding_fen(self) -> int:
        return self.entitled_fen - self.paid_fen


@dataclass(frozen=True, slots=True)
class RecoveryResult:
    recovery_id: int
    net_fen: int
    returned_fen: int
    clipped: bool
    parts: dict[str, int]


class RiskPools:
    """Commands and reports of risk-compensation pools. Each command is one database transaction."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    # ----- setup ---------------------------------------------------------------------------------------

    def create_pool(
        self, code: str, name: str, policy: PoolPolicy, funders: list[FunderShare], *, conn: Connection | None = None
    ) -> int:
        shares = [parse_ratio(funder.share) for funder in funders]
        if not funders or sum(shares) != 1 or any(share <= 0 for share in shares):
            raise LedgerError(
                FundsCode.FUNDER_SHARES_MUST_SUM_TO_ONE,
                f"funders' shares must be positive and sum to 100%, got {sum(shares, Fraction(0))}",
            )
        for funder in funders:
            if funder.level not in FUNDING_LEVELS:
                raise LedgerError(
                    FundsCode.CONFIGURATION_INVALID, f"funding level {funder.level!r} is not one of {FUNDING_LEVELS}"
                )
        with unit_of_work(self.ledger, conn) as c:
            if c.execute(select(T_POOLS.c.id).where(T_POOLS.c.code == code)).first() is not None:
                raise LedgerError(FundsCode.ALREADY_EXISTS, f"pool {code!r} exists")
            pool_id = c.execute(
                T_POOLS.insert().values(
                    code=code, name=name, policy_json=policy.model_dump_json(), created_at=utc_now()
                )
            ).inserted_primary_key[0]
            book = financial_book(code)
            self.ledger.create_book(book, name, "financial", conn=c)
            self.ledger.create_book(memo_book(code), f"{name} (filed loans)", "memo", conn=c)
            self.ledger.create_account(book, POOL_CASH, credits_must_not_exceed_debits=True, conn=c)
            self.ledger.create_account(memo_book(code), "Memo:FiledLoansControl", normal_side="credit", conn=c)
            budget = budget_book(book)
            self.ledger.create_book(budget, f"{name} (budgetary)", "budgetary", conn=c)
            self.ledger.create_account(budget, BUDGET_CASH, conn=c)
            for position, funder in enumerate(funders):
                c.execute(
                    T_FUNDERS.insert().values(
                        pool_id=pool_id,
                        funder_code=funder.funder_code,
                        level=funder.level,
                        share=funder.share,
                        position=position,
                    )
                )
                for path in (
                    f"NetAssets:Contributions:{funder.funder_code}",
                    f"Expenses:Compensation:{funder.funder_code}",
                    f"Revenue:Recoveries:{funder.funder_code}",
                ):
                    self.ledger.create_account(book, path, owner_code=funder.funder_code, conn=c)
                for path in (
                    f"BudgetRevenue:Contributions:{funder.funder_code}",
                    f"BudgetExpenditure:Compensation:{funder.funder_code}",
                    f"BudgetRevenue:Recoveries:{funder.funder_code}",
                ):
                    self.ledger.create_account(budget, path, owner_code=funder.funder_code, conn=c)
            record_event(c, "pool", pool_id, "created", "system", policy=policy.model_dump())
            return pool_id

    def policy(self, pool_code: str) -> PoolPolicy:
        with self.ledger.reader.connect() as c:
            return PoolPolicy.model_validate_json(fetch_one(c, T_POOLS, "pool", code=pool_code)["policy_json"])

    def contribute(
        self,
        pool_code: str,
        funder_code: str,
        amount: str,
        contributed_on: date,
        *,
        actor: str,
        approver: str,
        client_id: str,
        approval_doc: str | None = None,
        conn: Connection | None = None,
    ) -> int:
        """A funding level pays its share into the pool (appropriation received); returns the transaction's
        id. ``client_id`` is the caller's key: a retry with it records nothing new."""
        require_maker_checker(actor, approver)
        amount_fen = _positive_fen(amount)
        content = {
            "pool": pool_code,
            "funder": funder_code,
            "amount_fen": amount_fen,
            "on": contributed_on,
            "actor": actor,
            "approver": approver,
            "approval_doc": approval_doc,
        }
        with unit_of_work(self.ledger, conn) as c:
            if not is_new(stored := replayed(c, "pool_contribution", client_id, content)):
                return stored
            pool = fetch_one(c, T_POOLS, "pool", code=pool_code)
            self._funder(c, pool["id"], funder_code)
            ledger_id = f"pool:{pool_code}:contribution:{client_id}"
            c.execute(
                T_CONTRIBUTIONS.insert().values(
                    pool_id=pool["id"],
                    funder_code=funder_code,
                    amount_fen=amount_fen,
                    contributed_on=contributed_on,
                    program_year=contributed_on.year,
                    recorded_by=actor,
                    approved_by=approver,
                    client_id=ledger_id,
                )
            )
            result = self.ledger.post(
                TransactionRequest(
                    ledger_id,
                    posting_specs(
                        financial_book(pool_code),
                        [
                            (POOL_CASH, format_fen(amount_fen)),
                            (f"NetAssets:Contributions:{funder_code}", format_fen(-amount_fen)),
                        ],
                    )
                    + tuple(
                        budget_legs(
                            financial_book(pool_code), [(f"BudgetRevenue:Contributions:{funder_code}", amount_fen)]
                        )
                    ),
                    contributed_on,
                    source=SOURCE,
                    kind="pool_contribution",
                    audit=Audit(actor, approver, approval_doc),
                    program_year=contributed_on.year,
                    link_type="pool",
                    link_id=pool_code,
                ),
                conn=c,
            )
            return remember(c, "pool_contribution", client_id, content, result.transaction_id)

    def add_bank(
        self,
        pool_code: str,
        bank_code: str,
        terms: BankAgreementTerms,
        valid_from: date,
        valid_to: date,
        *,
        conn: Connection | None = None,
    ) -> int:
        with unit_of_work(self.ledger, conn) as c:
            pool = fetch_one(c, T_POOLS, "pool", code=pool_code)
            agreement_id = c.execute(
                T_AGREEMENTS.insert().values(
                    pool_id=pool["id"],
                    bank_code=bank_code,
                    terms_json=terms.model_dump_json(),
                    valid_from=valid_from,
                    valid_to=valid_to,
                    suspended=False,
                )
            ).inserted_primary_key[0]
            self.ledger.create_account(
                memo_book(pool_code), f"Memo:FiledLoans:{bank_code}", normal_side="debit", owner_code=bank_code, conn=c
            )
            record_event(c, "bank_agreement", agreement_id, "created", "system", terms=terms.model_dump())
            return agreement_id

    def set_bank_suspended(
        self, pool_code: str, bank_code: str, suspended: bool, *, actor: str, conn: Connection | None = None
    ) -> None:
        with unit_of_work(self.ledger, conn) as c:
            agreement = self._agreement(c, pool_code, bank_code)
            c.execute(T_AGREEMENTS.update().where(T_AGREEMENTS.c.id == agreement["id"]).values(suspended=suspended))
            record_event(c, "bank_agreement", agreement["id"], "suspended" if suspended else "resumed", actor)

    # ----- loans ---------------------------------------------------------------------------------------

    def file_loan(
        self,
        pool_code: str,
        bank_code: str,
        enterprise_code: str,
        loan_number: str,
        principal: str,
        disbursed_on: date,
        term_months: int,
        filed_on: date,
        *,
        actor: str,
        client_id: str,
        conn: Connection | None = None,
    ) -> int:
        """File a loan into the pool; returns its id (the same id on a retry with the key). The amount
        covered is the principal, or the room left under the enterprise's annual cap when that cap clips."""
        principal_fen = parse_amount_fen(principal)
        if principal_fen <= 0:
            raise LedgerError(FundsCode.AMOUNT_MUST_BE_POSITIVE, "a loan's principal must be positive")
        content = {
            "pool": pool_code,
            "bank": bank_code,
            "enterprise": enterprise_code,
            "number": loan_number,
            "principal_fen": principal_fen,
            "disbursed_on": disbursed_on,
            "term_months": term_months,
            "filed_on": filed_on,
            "actor": actor,
        }
        with unit_of_work(self.ledger, conn) as c:
            pool = lock_row(c, T_POOLS, "pool", code=pool_code)
            if not is_new(stored := replayed(c, "pool_loan_filing", client_id, content)):
                return stored
            policy = PoolPolicy.model_validate_json(pool["policy_json"])
            agreement = self._agreement(c, pool_code, bank_code)
            self._check_agreement_usable(agreement, disbursed_on)
            self._check_loan_number_unused(c, pool, bank_code, loan_number)
            self._check_filing_window(policy, disbursed_on, filed_on)
            covered_fen, breach = self._enterprise_annual_cap(
                c, policy, pool["id"], enterprise_code, disbursed_on.year, principal_fen
            )
            loan_id = c.execute(
                T_LOANS.insert().values(
                    pool_id=pool["id"],
                    bank_code=bank_code,
                    enterprise_code=enterprise_code,
                    loan_number=loan_number,
                    principal_fen=principal_fen,
                    disbursed_on=disbursed_on,
                    term_months=term_months,
                    filed_on=filed_on,
                    covered_fen=covered_fen,
                    status="performing",
                    recorded_by=actor,
                )
            ).inserted_primary_key[0]
            if breach is not None:
                enforcement, message, limit_fen = breach
                record_flag(
                    c,
                    "loan",
                    loan_id,
                    FundsCode.ENTERPRISE_ANNUAL_FILED_LOANS_CAP_EXCEEDED
                    if enforcement == "warn"
                    else FundsCode.ENTERPRISE_ANNUAL_FILED_LOANS_CAP_CLIPPED,
                    enforcement,
                    message,
                    amount_fen=principal_fen,
                    limit_fen=limit_fen,
                )
            self.ledger.post(
                TransactionRequest(
                    self._filing_client_id(pool_code, loan_id),
                    posting_specs(
                        memo_book(pool_code),
                        [
                            (f"Memo:FiledLoans:{bank_code}", format_fen(covered_fen)),
                            ("Memo:FiledLoansControl", format_fen(-covered_fen)),
                        ],
                    ),
                    filed_on,
                    source=SOURCE,
                    kind="pool_loan_filing",
                    audit=Audit(actor),
                    program_year=disbursed_on.year,
                    link_type="pool_loan",
                    link_id=str(loan_id),
                ),
                conn=c,
            )
            record_event(c, "loan", loan_id, "filed", actor, principal_fen=principal_fen, covered_fen=covered_fen)
            return remember(c, "pool_loan_filing", client_id, content, loan_id)

    def set_loan_status(self, loan_id: int, status: str, *, actor: str, conn: Connection | None = None) -> None:
        """performing -> overdue -> defaulted (an overdue loan may be cured back to performing)."""
        with unit_of_work(self.ledger, conn) as c:
            loan = lock_row(c, T_LOANS, "loan", id=loan_id)
            if (loan["status"], status) not in ALLOWED_TRANSITIONS:
                raise LedgerError(
                    FundsCode.LOAN_STATUS_TRANSITION_INVALID,
                    f"loan {loan_id} cannot go from {loan['status']} to {status}",
                )
            c.execute(T_LOANS.update().where(T_LOANS.c.id == loan_id).values(status=status))
            record_event(c, "loan", loan_id, f"status:{status}", actor, previous=loan["status"])

    def revoke_filing(
        self, loan_id: int, *, actor: str, reason: str, revoked_on: date | None = None, conn: Connection | None = None
    ) -> None:
        with unit_of_work(self.ledger, conn) as c:
            loan = lock_row(c, T_LOANS, "loan", id=loan_id)
            if loan["status"] == "revoked":
                raise LedgerError(FundsCode.FILING_REVOKED, f"loan {loan_id}'s filing is already revoked")
            open_claims = c.execute(
                select(func.count())
                .select_from(T_CLAIMS)
                .where(T_CLAIMS.c.loan_id == loan_id, T_CLAIMS.c.status.in_(OPEN_CLAIM_STATUSES))
            ).scalar()
            if open_claims:
                raise LedgerError(FundsCode.LOAN_HAS_CLAIM, f"loan {loan_id} has a claim; its filing cannot be revoked")
            pool = fetch_one(c, T_POOLS, "pool", id=loan["pool_id"])
            c.execute(T_LOANS.update().where(T_LOANS.c.id == loan_id).values(status="revoked"))
            self.ledger.post(
                ReversalRequest(
                    f"{self._filing_client_id(pool['code'], loan_id)}:revoke",
                    target=(SOURCE, self._filing_client_id(pool["code"], loan_id)),
                    reason=reason,
                    source=SOURCE,
                    effective_date=revoked_on,
                    audit=Audit(actor),
                ),
                conn=c,
            )
            record_event(c, "loan", loan_id, "revoked", actor, reason=reason)

    # ----- claims --------------------------------------------------------------------------------------

    def submit_claim(
        self,
        loan_id: int,
        non_performing: str,
        claimed_on: date,
        *,
        actor: str,
        client_id: str,
        conn: Connection | None = None,
    ) -> int:
        """A bank's default claim, submitted for approval; returns its id (the same id on a retry with the key)."""
        non_performing_fen = parse_amount_fen(non_performing)
        content = {"loan": loan_id, "non_performing_fen": non_performing_fen, "on": claimed_on, "actor": actor}
        with unit_of_work(self.ledger, conn) as c:
            loan = lock_row(c, T_LOANS, "loan", id=loan_id)
            if not is_new(stored := replayed(c, "pool_claim", client_id, content)):
                return stored
            pool = fetch_one(c, T_POOLS, "pool", id=loan["pool_id"])
            self._check_claimable(c, pool["code"], loan, non_performing_fen)
            existing = c.execute(
                select(T_CLAIMS.c.id).where(T_CLAIMS.c.loan_id == loan_id, T_CLAIMS.c.status.in_(OPEN_CLAIM_STATUSES))
            ).first()
            if existing is not None:
                raise LedgerError(FundsCode.ALREADY_EXISTS, f"loan {loan_id} already has claim {existing[0]}")
            claim_id = c.execute(
                T_CLAIMS.insert().values(
                    pool_id=loan["pool_id"],
                    loan_id=loan_id,
                    bank_code=loan["bank_code"],
                    enterprise_code=loan["enterprise_code"],
                    non_performing_fen=non_performing_fen,
                    claimed_on=claimed_on,
                    program_year=claimed_on.year,
                    status="submitted",
                    recorded_by=actor,
                )
            ).inserted_primary_key[0]
            record_event(c, "claim", claim_id, "submitted", actor, non_performing_fen=non_performing_fen)
            return remember(c, "pool_claim", client_id, content, claim_id)

    def reject_claim(self, claim_id: int, *, approver: str, reason: str, conn: Connection | None = None) -> None:
        with unit_of_work(self.ledger, conn) as c:
            claim = lock_row(c, T_CLAIMS, "claim", id=claim_id)
            require_maker_checker(claim["recorded_by"], approver)
            self._require_status(claim, "submitted")
            c.execute(
                T_CLAIMS.update()
                .where(T_CLAIMS.c.id == claim_id)
                .values(status="rejected", approved_by=approver, reason=reason)
            )
            record_event(c, "claim", claim_id, "rejected", approver, reason=reason)

    def approve_claim(
        self,
        claim_id: int,
        *,
        approver: str,
        paid_on: date,
        approval_doc: str | None = None,
        conn: Connection | None = None,
    ) -> ClaimDecision:
        """Approve a submitted claim: fix its entitlement under the caps and pay what the pool holds now.

        The claim is the key: its approver repeating the call (same date and document) gets the same decision
        back and nothing is written."""
        approval_key = f"pool-claim-approval:{claim_id}"
        content = {"claim": claim_id, "approver": approver, "paid_on": paid_on, "approval_doc": approval_doc}
        with unit_of_work(self.ledger, conn) as c:
            claim = fetch_one(c, T_CLAIMS, "claim", id=claim_id)
            pool = lock_row(c, T_POOLS, "pool", id=claim["pool_id"])
            claim = lock_row(c, T_CLAIMS, "claim", id=claim_id)
            require_maker_checker(claim["recorded_by"], approver)
            if claim["status"] != "submitted":
                try:
                    stored = replayed(c, "pool_claim_approval", approval_key, content)
                except LedgerError:
                    stored = None
                if stored is not None and not is_new(stored):
                    return _decision_from_json(stored)
                self._require_status(claim, "submitted")
            loan = fetch_one(c, T_LOANS, "loan", id=claim["loan_id"])
            self._check_claimable(c, pool["code"], loan, claim["non_performing_fen"])
            limits = self._claim_limits(c, pool, loan, claim)
            entitled_fen = min(value for name, value in limits.items() if name != "pool_balance")
            binding = _binding_limit(limits)
            if entitled_fen <= 0:
                raise LedgerError(
                    FundsCode.CLAIM_NOTHING_PAYABLE,
                    f"claim {claim_id} can be paid nothing: {binding} has no room left",
                    binding_limit=binding,
                    room_left=format_fen(0),
                )
            c.execute(
                T_CLAIMS.update()
                .where(T_CLAIMS.c.id == claim_id)
                .values(
                    status="approved",
                    approved_by=approver,
                    approval_doc=approval_doc,
                    entitled_fen=entitled_fen,
                    binding_limit=binding,
                )
            )
            if binding != "ratio":
                record_flag(
                    c,
                    "claim",
                    claim_id,
                    FundsCode.CLAIM_CLIPPED_BY_CAP,
                    "clip",
                    f"claim clipped by {binding} (核减)",
                    amount_fen=limits["ratio"],
                    limit_fen=limits[binding],
                )
            record_event(c, "claim", claim_id, "approved", approver, entitled_fen=entitled_fen, limits=limits)
            claim = fetch_one(c, T_CLAIMS, "claim", id=claim_id)
            amount_fen = min(entitled_fen, max(0, limits["pool_balance"]))
            payout = None
            if amount_fen > 0:
                payout = self._pay(
                    c,
                    pool,
                    claim,
                    amount_fen,
                    paid_on,
                    Audit(claim["recorded_by"], approver, approval_doc),
                    "pool_balance" if amount_fen < entitled_fen else None,
                    ledger_id=f"pool:{pool['code']}:claim:{claim_id}:payment:approval",
                )
            decision = ClaimDecision(claim_id, entitled_fen, binding, limits, payout)
            remember(c, "pool_claim_approval", approval_key, content, _decision_to_json(decision))
            return decision

    def settle_outstanding(
        self,
        pool_code: str,
        paid_on: date,
        *,
        actor: str,
        approver: str,
        client_id: str,
        conn: Connection | None = None,
    ) -> list[Payout]:
        """Pay approved claims still owed (e.g. settled the next year); pro rata by amount owed when short.

        Recorded by ``actor`` and approved by another person (defect 5); ``client_id`` is the settlement's key:
        a retry returns the same payouts and pays nothing again."""
        require_maker_checker(actor, approver)
        content = {"pool": pool_code, "paid_on": paid_on, "actor": actor, "approver": approver}
        with unit_of_work(self.ledger, conn) as c:
            pool = lock_row(c, T_POOLS, "pool", code=pool_code)
            if not is_new(stored := replayed(c, "pool_settlement", client_id, content)):
                return [_payout_from_json(row) for row in stored]
            claims = [
                dict(row)
                for row in c.execute(
                    select(T_CLAIMS)
                    .where(T_CLAIMS.c.pool_id == pool["id"], T_CLAIMS.c.status == "approved")
                    .order_by(T_CLAIMS.c.id)
                    .with_for_update()
                ).mappings()
            ]
            owed = [claim["entitled_fen"] - claim["paid_fen"] for claim in claims]
            total_owed = sum(owed)
            if total_owed == 0:
                return remember(c, "pool_settlement", client_id, content, [])
            available = available_debit_balance_fen(c, financial_book(pool_code), POOL_CASH)
            if available <= 0:
                raise LedgerError(FundsCode.POOL_BALANCE_EMPTY, f"pool {pool_code} holds nothing to settle with")
            short = available < total_owed
            amounts = split_largest_remainder(available, owed) if short else owed
            payouts = []
            for claim, amount_fen in zip(claims, amounts):
                if amount_fen > 0:
                    payouts.append(
                        self._pay(
                            c,
                            pool,
                            claim,
                            amount_fen,
                            paid_on,
                            Audit(actor, approver),
                            "pool_balance" if short else None,
                            ledger_id=f"pool:{pool_code}:settlement:{client_id}:claim:{claim['id']}",
                        )
                    )
            remember(c, "pool_settlement", client_id, content, [_payout_to_json(payout) for payout in payouts])
            return payouts

    # ----- recoveries ----------------------------------------------------------------------------------

    def record_recovery(
        self,
        claim_id: int,
        gross: str,
        costs: str,
        recovered_on: date,
        *,
        actor: str,
        client_id: str,
        conn: Connection | None = None,
    ) -> RecoveryResult:
        """追偿: what the bank recovered after the payout, net of recovery costs, returns to the pool in the
        share the pool bore, split against each funder's portion still unrecovered, never beyond the payout."""
        gross_fen, costs_fen = parse_amount_fen(gross), parse_amount_fen(costs)
        if costs_fen > gross_fen or gross_fen < 0 or costs_fen < 0:
            raise LedgerError(
                FundsCode.RECOVERY_COSTS_EXCEED_GROSS,
                f"recovery costs {format_fen(costs_fen)} exceed the amount recovered {format_fen(gross_fen)}",
            )
        content = {
            "claim": claim_id,
            "gross_fen": gross_fen,
            "costs_fen": costs_fen,
            "on": recovered_on,
            "actor": actor,
        }
        with unit_of_work(self.ledger, conn) as c:
            claim = fetch_one(c, T_CLAIMS, "claim", id=claim_id)
            pool = lock_row(c, T_POOLS, "pool", id=claim["pool_id"])
            claim = lock_row(c, T_CLAIMS, "claim", id=claim_id)
            if not is_new(stored := replayed(c, "pool_recovery", client_id, content)):
                return RecoveryResult(**stored)
            if claim["paid_fen"] <= 0:
                raise LedgerError(FundsCode.RECOVERY_WITHOUT_PAYOUT, f"claim {claim_id} has paid nothing to recover")
            net_fen = gross_fen - costs_fen
            pool_share = Fraction(claim["paid_fen"], claim["non_performing_fen"])
            returned_fen = apply_ratio_down(net_fen, pool_share)
            room_fen = claim["paid_fen"] - claim["recovered_fen"]
            clipped = returned_fen > room_fen
            returned_fen = min(returned_fen, room_fen)
            parts = self._recovery_parts(c, claim_id, returned_fen)
            ledger_id = f"pool:{pool['code']}:claim:{claim_id}:recovery:{client_id}"
            recovery_id = c.execute(
                T_RECOVERIES.insert().values(
                    claim_id=claim_id,
                    gross_fen=gross_fen,
                    costs_fen=costs_fen,
                    returned_fen=returned_fen,
                    clipped=clipped,
                    recovered_on=recovered_on,
                    recorded_by=actor,
                    client_id=ledger_id,
                )
            ).inserted_primary_key[0]
            for funder_code, amount_fen in parts.items():
                c.execute(
                    T_RECOVERY_PARTS.insert().values(
                        recovery_id=recovery_id, claim_id=claim_id, funder_code=funder_code, amount_fen=amount_fen
                    )
                )
            if clipped:
                record_flag(
                    c,
                    "recovery",
                    recovery_id,
                    FundsCode.RECOVERY_CLIPPED_TO_PAYOUT,
                    "clip",
                    "recovery clipped: the pool never gets back more than it paid out",
                    amount_fen=apply_ratio_down(net_fen, pool_share),
                    limit_fen=room_fen,
                )
            c.execute(
                T_CLAIMS.update()
                .where(T_CLAIMS.c.id == claim_id)
                .values(recovered_fen=claim["recovered_fen"] + returned_fen)
            )
            if returned_fen > 0:
                legs = [(POOL_CASH, format_fen(returned_fen))] + [
                    (f"Revenue:Recoveries:{funder}", format_fen(-amount)) for funder, amount in parts.items() if amount
                ]
                self.ledger.post(
                    TransactionRequest(
                        ledger_id,
                        posting_specs(financial_book(pool["code"]), legs)
                        + tuple(
                            budget_legs(
                                financial_book(pool["code"]),
                                [(f"BudgetRevenue:Recoveries:{funder}", amount) for funder, amount in parts.items()],
                            )
                        ),
                        recovered_on,
                        source=SOURCE,
                        kind="pool_recovery",
                        audit=Audit(actor),
                        program_year=claim["program_year"],
                        link_type="pool_claim",
                        link_id=str(claim_id),
                    ),
                    conn=c,
                )
            record_event(c, "recovery", recovery_id, "recorded", actor, returned_fen=returned_fen)
            result = RecoveryResult(recovery_id, net_fen, returned_fen, clipped, parts)
            remember(c, "pool_recovery", client_id, content, asdict(result))
            return result

    # ----- reports -------------------------------------------------------------------------------------

    def balance_fen(self, pool_code: str) -> int:
        return self.ledger.account(financial_book(pool_code), POOL_CASH).balance_fen

    def claim(self, claim_id: int) -> dict:
        with self.ledger.engine.connect() as c:
            claim = fetch_one(c, T_CLAIMS, "claim", id=claim_id)
            claim["payment_parts"] = self._parts_by_funder(c, T_PAYMENT_PARTS, claim_id)
            claim["recovery_parts"] = self._parts_by_funder(c, T_RECOVERY_PARTS, claim_id)
            return claim

    def funder_statement(self, pool_code: str) -> list[dict]:
        """Per funder: contributed, paid out in compensation, recovered, and what is left of its money."""
        book = financial_book(pool_code)
        with self.ledger.engine.connect() as c:
            pool = fetch_one(c, T_POOLS, "pool", code=pool_code)
            funders = (
                c.execute(select(T_FUNDERS).where(T_FUNDERS.c.pool_id == pool["id"]).order_by(T_FUNDERS.c.position))
                .mappings()
                .all()
            )
        rows = []
        for funder in funders:
            code = funder["funder_code"]
            contributed = -self.ledger.account(book, f"NetAssets:Contributions:{code}").balance_fen
            paid = self.ledger.account(book, f"Expenses:Compensation:{code}").balance_fen
            recovered = -self.ledger.account(book, f"Revenue:Recoveries:{code}").balance_fen
            rows.append(
                {
                    "funder": code,
                    "level": funder["level"],
                    "share": funder["share"],
                    "contributed_fen": contributed,
                    "compensation_paid_fen": paid,
                    "recovered_fen": recovered,
                    "remaining_fen": contributed - paid + recovered,
                }
            )
        return rows

    def bank_statement(self, pool_code: str, year: int | None = None) -> list[dict]:
        """Per bank: filed loans, claims entitled, paid, owed and recovered (optionally one program year)."""
        with self.ledger.engine.connect() as c:
            pool = fetch_one(c, T_POOLS, "pool", code=pool_code)
            agreements = c.execute(select(T_AGREEMENTS).where(T_AGREEMENTS.c.pool_id == pool["id"])).mappings().all()
            rows = []
            for agreement in agreements:
                bank = agreement["bank_code"]
                loans = c.execute(
                    select(func.count(), func.coalesce(func.sum(T_LOANS.c.principal_fen), 0)).where(
                        T_LOANS.c.pool_id == pool["id"], T_LOANS.c.bank_code == bank, T_LOANS.c.status != "revoked"
                    )
                ).one()
                query = select(
                    func.count(),
                    func.coalesce(func.sum(T_CLAIMS.c.entitled_fen), 0),
                    func.coalesce(func.sum(T_CLAIMS.c.paid_fen), 0),
                    func.coalesce(func.sum(T_CLAIMS.c.recovered_fen), 0),
                ).where(
                    T_CLAIMS.c.pool_id == pool["id"],
                    T_CLAIMS.c.bank_code == bank,
                    T_CLAIMS.c.status.in_(("approved", "paid")),
                )
                if year is not None:
                    query = query.where(T_CLAIMS.c.program_year == year)
                claims = c.execute(query).one()
                rows.append(
                    {
                        "bank": bank,
                        "suspended": bool(agreement["suspended"]),
                        "filed_loans": int(loans[0]),
                        "filed_principal_fen": int(loans[1]),
                        "claims": int(claims[0]),
                        "entitled_fen": int(claims[1]),
                        "paid_fen": int(claims[2]),
                        "owed_fen": int(claims[1]) - int(claims[2]),
                        "recovered_fen": int(claims[3]),
                    }
                )
            return rows

    # ----- rules ---------------------------------------------------------------------------------------

    @staticmethod
    def _check_agreement_usable(agreement: dict, on: date) -> None:
        if agreement["suspended"]:
            raise LedgerError(FundsCode.BANK_SUSPENDED, f"bank {agreement['bank_code']} is suspended from the pool")
        if not (agreement["valid_from"] <= on <= agreement["valid_to"]):
            raise LedgerError(
                FundsCode.BANK_AGREEMENT_NOT_VALID,
                f"bank {agreement['bank_code']}'s agreement is valid "
                f"{agreement['valid_from']}–{agreement['valid_to']}, not on {on}",
            )

    @staticmethod
    def _check_loan_number_unused(c: Connection, pool: dict, bank_code: str, loan_number: str) -> None:
        """A bank files a loan into a pool once: its number again under another key is refused by name (the
        unique index would refuse it too, but as an integrity error a caller cannot tell from a race)."""
        existing = c.execute(
            select(T_LOANS.c.id).where(
                T_LOANS.c.pool_id == pool["id"], T_LOANS.c.bank_code == bank_code, T_LOANS.c.loan_number == loan_number
            )
        ).first()
        if existing is not None:
            raise LedgerError(
                FundsCode.ALREADY_EXISTS,
                f"bank {bank_code} already filed loan {loan_number} in pool {pool['code']} (loan {existing[0]})",
            )

    @staticmethod
    def _check_filing_window(policy: PoolPolicy, disbursed_on: date, filed_on: date) -> None:
        months = policy.filing_window_months.count()
        deadline = filing_deadline(policy, disbursed_on)
        if filed_on > deadline or filed_on < disbursed_on:
            raise LedgerError(
                FundsCode.LOAN_FILING_WINDOW_PASSED,
                f"a loan disbursed {disbursed_on} must be filed by {deadline} ({months} months; "
                f"{policy.filing_window_months.source}); filed {filed_on}",
                deadline=deadline,
            )

    @staticmethod
    def _enterprise_annual_cap(
        c: Connection, policy: PoolPolicy, pool_id: int, enterprise_code: str, year: int, principal_fen: int
    ) -> tuple[int, tuple[str, str, int] | None]:
        """(amount covered, breach) under the enterprise's annual filed-loans cap, by its enforcement: ``stop``
        refuses with the room left, ``clip`` covers up to the room (refused when none is left), ``warn`` covers
        it all and flags it. What earlier filings covered, warned excess included, counts toward the cap."""
        rule = policy.enterprise_annual_filed_loans_cap
        if rule is None:
            return principal_fen, None
        filed_fen = c.execute(
            select(func.coalesce(func.sum(T_LOANS.c.covered_fen), 0)).where(
                T_LOANS.c.pool_id == pool_id,
                T_LOANS.c.enterprise_code == enterprise_code,
                T_LOANS.c.status != "revoked",
                T_LOANS.c.disbursed_on >= date(year, 1, 1),
                T_LOANS.c.disbursed_on <= date(year, 12, 31),
            )
        ).scalar()
        cap_fen = rule.fen()
        if filed_fen + principal_fen <= cap_fen:
            return principal_fen, None
        room_fen = max(0, cap_fen - filed_fen)
        message = (
            f"enterprise {enterprise_code} may file at most {rule.value} of loans in {year} ({rule.source}); "
            f"{format_fen(filed_fen)} already filed, room left {format_fen(room_fen)}"
        )
        if rule.enforcement == "stop" or (rule.enforcement == "clip" and room_fen == 0):
            raise LedgerError(
                FundsCode.ENTERPRISE_ANNUAL_FILED_LOANS_CAP_EXCEEDED, message, room_left=format_fen(room_fen)
            )
        if rule.enforcement == "clip":
            return room_fen, ("clip", f"{message}; covered {format_fen(room_fen)} (核减)", cap_fen)
        return principal_fen, ("warn", f"{message}; covered in full and flagged for audit", cap_fen)

    def _check_claimable(self, c: Connection, pool_code: str, loan: dict, non_performing_fen: int) -> None:
        if loan["status"] == "revoked":
            raise LedgerError(FundsCode.FILING_REVOKED, f"loan {loan['id']}'s filing was revoked; it cannot claim")
        agreement = self._agreement(c, pool_code, loan["bank_code"])
        if agreement["suspended"]:
            raise LedgerError(FundsCode.BANK_SUSPENDED, f"bank {loan['bank_code']} is suspended; it cannot claim")
        if loan["status"] != "defaulted":
            raise LedgerError(FundsCode.LOAN_NOT_DEFAULTED, f"loan {loan['id']} is {loan['status']}, not defaulted")
        if not (0 < non_performing_fen <= loan["principal_fen"]):
            raise LedgerError(
                FundsCode.NON_PERFORMING_PRINCIPAL_EXCEEDS_LOAN,
                f"non-performing principal must be positive and at most the loan's {format_fen(loan['principal_fen'])}",
            )

    def _claim_limits(self, c: Connection, pool: dict, loan: dict, claim: dict) -> dict[str, int]:
        """Every limit a payout is the minimum of, in fen (room left for the cumulative ones)."""
        policy = PoolPolicy.model_validate_json(pool["policy_json"])
        agreement = self._agreement(c, pool["code"], loan["bank_code"])
        terms = BankAgreementTerms.model_validate_json(agreement["terms_json"])
        ratio = terms.ratio_or(policy.compensation_ratio.ratio())
        # Only the principal the pool covers is compensated (less than the loan when a cap clipped its filing).
        covered_fen = min(claim["non_performing_fen"], loan["covered_fen"])
        limits = {"ratio": apply_ratio_down(covered_fen, ratio)}
        if (cap := terms.cap_fen(terms.per_loan_cap)) is not None:
            limits["per_loan_cap"] = cap
        if (cap := terms.cap_fen(terms.bank_annual_cap)) is not None:
            used = self._entitled_sum(
                c,
                T_CLAIMS.c.pool_id == pool["id"],
                T_CLAIMS.c.bank_code == loan["bank_code"],
                T_CLAIMS.c.program_year == claim["program_year"],
            )
            limits["bank_annual_cap"] = max(0, cap - used)
        if (cap := terms.cap_fen(terms.enterprise_cumulative_cap)) is not None:
            used = self._entitled_sum(
                c, T_CLAIMS.c.pool_id == pool["id"], T_CLAIMS.c.enterprise_code == loan["enterprise_code"]
            )
            limits["enterprise_cumulative_cap"] = max(0, cap - used)
        limits["pool_balance"] = max(0, available_debit_balance_fen(c, financial_book(pool["code"]), POOL_CASH))
        return limits

    @staticmethod
    def _entitled_sum(c: Connection, *conditions) -> int:
        return int(
            c.execute(
                select(func.coalesce(func.sum(T_CLAIMS.c.entitled_fen), 0)).where(
                    T_CLAIMS.c.status.in_(("approved", "paid")), *conditions
                )
            ).scalar()
        )

    # ----- payouts and splits --------------------------------------------------------------------------

    def _pay(
        self,
        c: Connection,
        pool: dict,
        claim: dict,
        amount_fen: int,
        paid_on: date,
        audit: Audit,
        binding: str | None,
        *,
        ledger_id: str,
    ) -> Payout:
        """One payout of a claim, under the key of the command that pays it (its approval or a settlement)."""
        funders = self._funders(c, pool["id"])
        parts = split_largest_remainder(amount_fen, [parse_ratio(funder["share"]) for funder in funders])
        by_funder = {funder["funder_code"]: part for funder, part in zip(funders, parts)}
        client_id = ledger_id
        payment_id = c.execute(
            T_PAYMENTS.insert().values(
                claim_id=claim["id"], amount_fen=amount_fen, paid_on=paid_on, binding_limit=binding, client_id=client_id
            )
        ).inserted_primary_key[0]
        for funder_code, part in by_funder.items():
            c.execute(
                T_PAYMENT_PARTS.insert().values(
                    payment_id=payment_id, claim_id=claim["id"], funder_code=funder_code, amount_fen=part
                )
            )
        paid_fen = claim["paid_fen"] + amount_fen
        c.execute(
            T_CLAIMS.update()
            .where(T_CLAIMS.c.id == claim["id"])
            .values(paid_fen=paid_fen, status="paid" if paid_fen >= claim["entitled_fen"] else "approved")
        )
        legs = [(f"Expenses:Compensation:{funder}", format_fen(part)) for funder, part in by_funder.items() if part] + [
            (POOL_CASH, format_fen(-amount_fen))
        ]
        self.ledger.post(
            TransactionRequest(
                client_id,
                posting_specs(financial_book(pool["code"]), legs)
                + tuple(
                    budget_legs(
                        financial_book(pool["code"]),
                        [(f"BudgetExpenditure:Compensation:{funder}", -part) for funder, part in by_funder.items()],
                    )
                ),
                paid_on,
                source=SOURCE,
                kind="pool_compensation",
                memo=f"compensation for loan {claim['loan_id']} (bank {claim['bank_code']})",
                audit=audit,
                program_year=claim["program_year"],
                link_type="pool_claim",
                link_id=str(claim["id"]),
            ),
            conn=c,
        )
        record_event(c, "claim", claim["id"], "paid", audit.actor, amount_fen=amount_fen, parts=by_funder)
        return Payout(claim["id"], amount_fen, binding, by_funder)

    def _recovery_parts(self, c: Connection, claim_id: int, returned_fen: int) -> dict[str, int]:
        """Split over each funder's portion not yet recovered, so no funder ever gets back more than it paid."""
        paid = self._parts_by_funder(c, T_PAYMENT_PARTS, claim_id)
        recovered = self._parts_by_funder(c, T_RECOVERY_PARTS, claim_id)
        remaining = {funder: paid[funder] - recovered.get(funder, 0) for funder in paid}
        if returned_fen == 0 or not any(remaining.values()):
            return {funder: 0 for funder in paid}
        parts = split_largest_remainder(returned_fen, list(remaining.values()))
        return dict(zip(remaining, parts))

    @staticmethod
    def _parts_by_funder(c: Connection, table, claim_id: int) -> dict[str, int]:
        totals: dict[str, int] = defaultdict(int)
        rows = c.execute(
            select(table.c.funder_code, table.c.amount_fen).where(table.c.claim_id == claim_id).order_by(table.c.id)
        )
        for funder_code, amount_fen in rows:
            totals[funder_code] += amount_fen
        return dict(totals)

    # ----- lookups -------------------------------------------------------------------------------------

    @staticmethod
    def _funders(c: Connection, pool_id: int) -> list[dict]:
        rows = c.execute(select(T_FUNDERS).where(T_FUNDERS.c.pool_id == pool_id).order_by(T_FUNDERS.c.position))
        return [dict(row) for row in rows.mappings()]

    @staticmethod
    def _funder(c: Connection, pool_id: int, funder_code: str) -> dict:
        row = (
            c.execute(select(T_FUNDERS).where(T_FUNDERS.c.pool_id == pool_id, T_FUNDERS.c.funder_code == funder_code))
            .mappings()
            .first()
        )
        if row is None:
            raise LedgerError(FundsCode.FUNDER_NOT_IN_POOL, f"{funder_code} is not a funder of this pool")
        return dict(row)

    @staticmethod
    def _agreement(c: Connection, pool_code: str, bank_code: str) -> dict:
        pool = fetch_one(c, T_POOLS, "pool", code=pool_code)
        row = (
            c.execute(
                select(T_AGREEMENTS).where(T_AGREEMENTS.c.pool_id == pool["id"], T_AGREEMENTS.c.bank_code == bank_code)
            )
            .mappings()
            .first()
        )
        if row is None:
            raise LedgerError(
                FundsCode.BANK_AGREEMENT_NOT_VALID, f"bank {bank_code} has no agreement with pool {pool_code}"
            )
        return dict(row)

    @staticmethod
    def _require_status(row: dict, status: str) -> None:
        if row["status"] != status:
            raise LedgerError(FundsCode.ALREADY_DECIDED, f"it is {row['status']}, not {status}")

    @staticmethod
    def _filing_client_id(pool_code: str, loan_id: int) -> str:
        return f"pool:{pool_code}:loan:{loan_id}:filing"


def _positive_fen(amount: str) -> int:
    fen = parse_amount_fen(amount)
    if fen <= 0:
        raise LedgerError(FundsCode.AMOUNT_MUST_BE_POSITIVE, f"the amount must be positive, got {amount!r}")
    return fen


def _payout_to_json(payout: Payout) -> dict:
    return asdict(payout)


def _payout_from_json(data: dict) -> Payout:
    return Payout(data["claim_id"], data["amount_fen"], data["binding_limit"], dict(data["parts"]))


def _decision_to_json(decision: ClaimDecision) -> dict:
    return {
        "claim_id": decision.claim_id,
        "entitled_fen": decision.entitled_fen,
        "binding_limit": decision.binding_limit,
        "limits_fen": decision.limits_fen,
        "payout": _payout_to_json(decision.payout) if decision.payout else None,
    }


def _decision_from_json(data: dict) -> ClaimDecision:
    payout = _payout_from_json(data["payout"]) if data["payout"] else None
    return ClaimDecision(
        data["claim_id"], data["entitled_fen"], data["binding_limit"], dict(data["limits_fen"]), payout
    )


def _binding_limit(limits: dict[str, int]) -> str:
    """The limit that bound the entitlement (pool balance aside): the smallest, ties in LIMIT_ORDER."""
    candidates = [name for name in LIMIT_ORDER if name in limits and name != "pool_balance"]
    return min(candidates, key=lambda name: (limits[name], LIMIT_ORDER.index(name)))
