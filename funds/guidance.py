"""Guidance funds (引导基金) and their sub-funds (子基金): appropriations, commitments, capital calls,
investments, fees, valuations, distributions, exits and remittance to the treasury.

Books:
- ``gf:<code>`` (financial): ``Assets:Bank`` (never overdrawn: appropriations bound what it pays),
  ``NetAssets:Appropriations`` (财政出资), ``Assets:Investments:SubFunds:<sub-fund>`` (paid-in, at cost),
  ``Revenue:DistributionIncome:<sub-fund>``, ``NetAssets:RemittedToTreasury`` (上缴国库).
- ``gf:<code>:memo``: ``Memo:Commitments:<sub-fund>`` against ``Memo:CommitmentControl``.
- ``sf:<code>`` (financial): ``Assets:Bank`` (never overdrawn), ``NetAssets:PaidIn:<investor>``,
  ``NetAssets:ReturnedCapital:<investor>``, ``NetAssets:DistributedIncome:<investor>``,
  ``Assets:EquityInvestments:<enterprise>`` (at cost), ``Expenses:ManagementFees``, ``Liabilities:FeesPayable``,
  ``Revenue:ExitGains`` / ``Expenses:ExitLosses``.
- ``sf:<code>:memo``: ``Memo:Committed:<investor>`` (认缴), ``Memo:Unfunded:<investor>`` (its credits may never
  exceed its debits: a call beyond the unfunded commitment is refused by the ledger too),
  ``Memo:Called:<investor>``, ``Memo:Recallable:<investor>``.
Commitments, calls and distributions are recorded by one person and approved by another.
"""

from __future__ import annotations

from datetime import date
from fractions import Fraction

from sqlalchemy import Connection, func, select

from funds.codes import FundsCode
from funds.common import (
    SOURCE,
    balance_in,
    fetch_one,
    lock_row,
    record_event,
    record_flag,
    require_maker_checker,
    utc_now,
)
from funds.config import FundPolicy
from funds.models import (
    CallItem,
    CallPayment,
    CapitalCall,
    Commitment,
    Distribution,
    DistributionPart,
    FeeAccrual,
    GuidanceFund,
    Investment,
    SubFund,
    Valuation,
)
from ledger.engine import Ledger, posting_specs
from ledger.entries import Audit, PostingSpec, TransactionRequest
from ledger.errors import LedgerError, ResultCode
from ledger.money import format_fen
from ledger.numbers import apply_ratio_down, parse_amount_fen, parse_ratio, round_half_up, split_largest_remainder

T_GUIDANCE = GuidanceFund.__table__
T_SUBFUNDS = SubFund.__table__
T_COMMITMENTS = Commitment.__table__
T_CALLS = CapitalCall.__table__
T_CALL_ITEMS = CallItem.__table__
T_CALL_PAYMENTS = CallPayment.__table__
T_INVESTMENTS = Investment.__table__
T_VALUATIONS = Valuation.__table__
T_DISTRIBUTIONS = Distribution.__table__
T_DISTRIBUTION_PARTS = DistributionPart.__table__
T_FEES = FeeAccrual.__table__

STAGES = ("seed", "start_up", "growth")
FEE_BASES = ("paid_in", "invested")
DAYS_PER_FEE_YEAR = 365


def gf_book(code: str) -> str:
    return f"gf:{code}"


def sf_book(code: str) -> str:
    return f"sf:{code}"


def _money(fen: int) -> str:
    return format_fen(fen)


class GuidanceFunds:
    """Commands of guidance funds and sub-funds. Each command is one database transaction."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    # ----- guidance fund -------------------------------------------------------------------------------

    def create_guidance_fund(self, code: str, name: str, region_code: str, policy: FundPolicy) -> int:
        with self.ledger.engine.begin() as c:
            if c.execute(select(T_GUIDANCE.c.id).where(T_GUIDANCE.c.code == code)).first():
                raise LedgerError(FundsCode.ALREADY_EXISTS, f"guidance fund {code!r} exists")
            fund_id = c.execute(
                T_GUIDANCE.insert().values(
                    code=code,
                    name=name,
                    region_code=region_code,
                    policy_json=policy.model_dump_json(),
                    created_at=utc_now(),
                )
            ).inserted_primary_key[0]
            self.ledger.create_book(gf_book(code), name, "financial", conn=c)
            self.ledger.create_book(f"{gf_book(code)}:memo", f"{name} (commitments)", "memo", conn=c)
            self.ledger.create_account(gf_book(code), "Assets:Bank", credits_must_not_exceed_debits=True, conn=c)
            for path in ("NetAssets:Appropriations", "NetAssets:RemittedToTreasury"):
                self.ledger.create_account(gf_book(code), path, conn=c)
            self.ledger.create_account(f"{gf_book(code)}:memo", "Memo:CommitmentControl", normal_side="credit", conn=c)
            record_event(c, "guidance_fund", fund_id, "created", "system")
            return fund_id

    def policy(self, guidance_code: str) -> FundPolicy:
        with self.ledger.engine.connect() as c:
            return FundPolicy.model_validate_json(
                fetch_one(c, T_GUIDANCE, "guidance fund", code=guidance_code)["policy_json"]
            )

    def appropriate(
        self,
        guidance_code: str,
        amount: str,
        on: date,
        *,
        actor: str,
        approver: str,
        approval_doc: str | None = None,
        client_id: str | None = None,
    ) -> None:
        """财政出资: the budget appropriation paid into the guidance fund.

        Its idempotency key is ``client_id``, else the approval document (one 批复 is one appropriation),
        else the date and amount — so two equal appropriations on one day need a document or an id."""
        require_maker_checker(actor, approver)
        fen = parse_amount_fen(amount)
        self._post(
            client_id
            or (f"gf:{guidance_code}:appropriation:{approval_doc}" if approval_doc else None)
            or f"gf:{guidance_code}:appropriation:{on}:{fen}",
            posting_specs(
                gf_book(guidance_code), [("Assets:Bank", _money(fen)), ("NetAssets:Appropriations", _money(-fen))]
            ),
            on,
            "gf_appropriation",
            Audit(actor, approver, approval_doc),
        )

    def remit_to_treasury(
        self, guidance_code: str, amount: str, on: date, *, actor: str, approver: str, client_id: str | None = None
    ) -> None:
        """上缴国库 at wind-up: principal and returns go back to the treasury (key: ``client_id``, else date
        and amount)."""
        require_maker_checker(actor, approver)
        fen = parse_amount_fen(amount)
        self._post(
            client_id or f"gf:{guidance_code}:remittance:{on}:{fen}",
            posting_specs(
                gf_book(guidance_code), [("NetAssets:RemittedToTreasury", _money(fen)), ("Assets:Bank", _money(-fen))]
            ),
            on,
            "gf_treasury_remittance",
            Audit(actor, approver),
            overdraft_code=FundsCode.DISTRIBUTION_EXCEEDS_CASH,
        )

    # ----- sub-funds -----------------------------------------------------------------------------------

    def create_subfund(
        self,
        guidance_code: str,
        code: str,
        name: str,
        *,
        manager_code: str,
        size: str,
        established_on: date,
        term_years: int,
        investment_period_end: date,
        fee_basis: str,
        fee_rate: str,
    ) -> int:
        if fee_basis not in FEE_BASES:
            raise LedgerError(FundsCode.CONFIGURATION_INVALID, f"fee basis {fee_basis!r} is not one of {FEE_BASES}")
        policy = self.policy(guidance_code)
        rate = parse_ratio(fee_rate)
        cap = policy.fee_rate_cap
        clipped = rate > cap.ratio()
        if clipped and cap.enforcement == "stop":
            raise LedgerError(
                FundsCode.FEE_RATE_ABOVE_CAP, f"fee rate {fee_rate} is above the cap {cap.value} ({cap.source})"
            )
        stored_rate = cap.value if clipped and cap.enforcement == "clip" else fee_rate
        with self.ledger.engine.begin() as c:
            fund = fetch_one(c, T_GUIDANCE, "guidance fund", code=guidance_code)
            subfund_id = c.execute(
                T_SUBFUNDS.insert().values(
                    guidance_fund_id=fund["id"],
                    code=code,
                    name=name,
                    manager_code=manager_code,
                    size_fen=parse_amount_fen(size),
                    established_on=established_on,
                    term_years=term_years,
                    investment_period_end=investment_period_end,
                    fee_basis=fee_basis,
                    fee_rate=stored_rate,
                    status="active",
                )
            ).inserted_primary_key[0]
            if clipped:
                record_flag(
                    c,
                    "subfund",
                    subfund_id,
                    FundsCode.FEE_RATE_ABOVE_CAP,
                    cap.enforcement,
                    f"fee rate {fee_rate} above {cap.value}; accrued at {stored_rate}",
                )
            book, memo = sf_book(code), f"{sf_book(code)}:memo"
            self.ledger.create_book(book, name, "financial", conn=c)
            self.ledger.create_book(memo, f"{name} (commitments)", "memo", conn=c)
            self.ledger.create_account(book, "Assets:Bank", credits_must_not_exceed_debits=True, conn=c)
            for path in (
                "Expenses:ManagementFees",
                "Liabilities:FeesPayable",
                "Revenue:ExitGains",
                "Expenses:ExitLosses",
            ):
                self.ledger.create_account(book, path, conn=c)
            self.ledger.create_account(gf_book(guidance_code), f"Assets:Investments:SubFunds:{code}", conn=c)
            self.ledger.create_account(gf_book(guidance_code), f"Revenue:DistributionIncome:{code}", conn=c)
            self.ledger.create_account(
                f"{gf_book(guidance_code)}:memo", f"Memo:Commitments:{code}", normal_side="debit", conn=c
            )
            record_event(c, "subfund", subfund_id, "created", "system", fee_rate=stored_rate)
            return subfund_id

    # ----- commitments (认缴) --------------------------------------------------------------------------

    def record_commitment(
        self,
        subfund_code: str,
        investor_code: str,
        amount: str,
        committed_on: date,
        *,
        actor: str,
        is_guidance: bool = False,
    ) -> int:
        with self.ledger.engine.begin() as c:
            subfund = fetch_one(c, T_SUBFUNDS, "sub-fund", code=subfund_code)
            commitment_id = c.execute(
                T_COMMITMENTS.insert().values(
                    subfund_id=subfund["id"],
                    investor_code=investor_code,
                    is_guidance=is_guidance,
                    amount_fen=parse_amount_fen(amount),
                    committed_on=committed_on,
                    status="submitted",
                    recorded_by=actor,
                )
            ).inserted_primary_key[0]
            record_event(c, "commitment", commitment_id, "recorded", actor)
            return commitment_id

    def approve_commitment(self, commitment_id: int, *, approver: str) -> None:
        with self.ledger.engine.begin() as c:
            commitment = lock_row(c, T_COMMITMENTS, "commitment", id=commitment_id)
            require_maker_checker(commitment["recorded_by"], approver)
            _require_status(commitment, "submitted")
            subfund = lock_row(c, T_SUBFUNDS, "sub-fund", id=commitment["subfund_id"])
            fund = fetch_one(c, T_GUIDANCE, "guidance fund", id=subfund["guidance_fund_id"])
            policy = FundPolicy.model_validate_json(fund["policy_json"])
            others = self._approved_commitments(c, subfund["id"])
            amount_fen = commitment["amount_fen"]
            total_fen = sum(row["amount_fen"] for row in others) + amount_fen
            if total_fen > subfund["size_fen"]:
                raise LedgerError(
                    FundsCode.COMMITMENTS_EXCEED_FUND_SIZE,
                    f"commitments would reach {_money(total_fen)}, above the fund size {_money(subfund['size_fen'])}",
                    room_left=_money(subfund["size_fen"] - total_fen + amount_fen),
                )
            if commitment["is_guidance"]:
                self._check_guidance_share(policy, subfund, amount_fen, others)
            c.execute(
                T_COMMITMENTS.update()
                .where(T_COMMITMENTS.c.id == commitment_id)
                .values(status="approved", approved_by=approver)
            )
            investor = commitment["investor_code"]
            memo = f"{sf_book(subfund['code'])}:memo"
            self.ledger.create_account(memo, f"Memo:Committed:{investor}", normal_side="credit", exist_ok=True, conn=c)
            self.ledger.create_account(
                memo,
                f"Memo:Unfunded:{investor}",
                normal_side="debit",
                exist_ok=True,
                credits_must_not_exceed_debits=True,
                conn=c,
            )
            self.ledger.create_account(memo, f"Memo:Called:{investor}", normal_side="debit", exist_ok=True, conn=c)
            self.ledger.create_account(memo, f"Memo:Recallable:{investor}", normal_side="credit", exist_ok=True, conn=c)
            book = sf_book(subfund["code"])
            for path in (
                f"NetAssets:PaidIn:{investor}",
                f"NetAssets:ReturnedCapital:{investor}",
                f"NetAssets:DistributedIncome:{investor}",
            ):
                self.ledger.create_account(book, path, exist_ok=True, conn=c)
            postings = [
                PostingSpec(memo, f"Memo:Unfunded:{investor}", _money(amount_fen)),
                PostingSpec(memo, f"Memo:Committed:{investor}", _money(-amount_fen)),
            ]
            if commitment["is_guidance"]:
                gf_memo = f"{gf_book(fund['code'])}:memo"
                postings += [
                    PostingSpec(gf_memo, f"Memo:Commitments:{subfund['code']}", _money(amount_fen)),
                    PostingSpec(gf_memo, "Memo:CommitmentControl", _money(-amount_fen)),
                ]
            self._post(
                f"sf:{subfund['code']}:commitment:{commitment_id}",
                tuple(postings),
                commitment["committed_on"],
                "sf_commitment",
                Audit(commitment["recorded_by"], approver),
                conn=c,
            )
            record_event(c, "commitment", commitment_id, "approved", approver)

    @staticmethod
    def _check_guidance_share(policy: FundPolicy, subfund: dict, amount_fen: int, others: list[dict]) -> None:
        share = Fraction(amount_fen, subfund["size_fen"])
        low, high = policy.guidance_share_min.ratio(), policy.guidance_share_max.ratio()
        if not (low <= share <= high):
            raise LedgerError(
                FundsCode.GUIDANCE_SHARE_OUT_OF_BOUNDS,
                f"the guidance share would be {share} of the fund; it must be within "
                f"{policy.guidance_share_min.value}–{policy.guidance_share_max.value} "
                f"({policy.guidance_share_max.source})",
            )
        largest_other = max((row["amount_fen"] for row in others if not row["is_guidance"]), default=0)
        if policy.guidance_never_largest.value == "yes" and amount_fen >= largest_other:
            raise LedgerError(
                FundsCode.GUIDANCE_MUST_NOT_BE_LARGEST_INVESTOR,
                f"the guidance fund's {_money(amount_fen)} would not be below the largest other investor's "
                f"{_money(largest_other)} ({policy.guidance_never_largest.source})",
            )

    # ----- capital calls (实缴) ------------------------------------------------------------------------

    def record_call(self, subfund_code: str, ratio: str, notice_on: date, due_on: date, *, actor: str) -> int:
        """A call notice for ``ratio`` of every investor's commitment; pending until paid."""
        parse_ratio(ratio)
        with self.ledger.engine.begin() as c:
            subfund = fetch_one(c, T_SUBFUNDS, "sub-fund", code=subfund_code)
            sequence = c.execute(
                select(func.count()).select_from(T_CALLS).where(T_CALLS.c.subfund_id == subfund["id"])
            ).scalar()
            call_id = c.execute(
                T_CALLS.insert().values(
                    subfund_id=subfund["id"],
                    sequence=sequence + 1,
                    ratio=ratio,
                    notice_on=notice_on,
                    due_on=due_on,
                    status="submitted",
                    recorded_by=actor,
                )
            ).inserted_primary_key[0]
            record_event(c, "capital_call", call_id, "recorded", actor, ratio=ratio)
            return call_id

    def approve_call(self, call_id: int, *, approver: str) -> dict[str, int]:
        with self.ledger.engine.begin() as c:
            call = lock_row(c, T_CALLS, "capital call", id=call_id)
            require_maker_checker(call["recorded_by"], approver)
            _require_status(call, "submitted")
            subfund = lock_row(c, T_SUBFUNDS, "sub-fund", id=call["subfund_id"])
            fund = fetch_one(c, T_GUIDANCE, "guidance fund", id=subfund["guidance_fund_id"])
            policy = FundPolicy.model_validate_json(fund["policy_json"])
            ratio = parse_ratio(call["ratio"])
            first_call = not c.execute(
                select(T_CALLS.c.id).where(
                    T_CALLS.c.subfund_id == subfund["id"], T_CALLS.c.status.in_(("approved", "paid"))
                )
            ).first()
            if first_call and ratio < policy.first_call_min.ratio():
                raise LedgerError(
                    FundsCode.FIRST_CALL_BELOW_MINIMUM,
                    f"the first call is {call['ratio']} of commitments; at least {policy.first_call_min.value} "
                    f"({policy.first_call_min.source})",
                )
            memo = f"{sf_book(subfund['code'])}:memo"
            amounts: dict[str, int] = {}
            postings = []
            for commitment in self._approved_commitments(c, subfund["id"]):
                investor = commitment["investor_code"]
                amount_fen = apply_ratio_down(commitment["amount_fen"], ratio)
                unfunded_fen = balance_in(c, memo, f"Memo:Unfunded:{investor}")
                if amount_fen > unfunded_fen:
                    raise LedgerError(
                        FundsCode.CALL_EXCEEDS_UNFUNDED_COMMITMENT,
                        f"{investor} would be called {_money(amount_fen)}; its unfunded commitment is "
                        f"{_money(unfunded_fen)}",
                        room_left=_money(unfunded_fen),
                    )
                amounts[investor] = amounts.get(investor, 0) + amount_fen
                c.execute(T_CALL_ITEMS.insert().values(call_id=call_id, investor_code=investor, amount_fen=amount_fen))
                postings += [
                    PostingSpec(memo, f"Memo:Called:{investor}", _money(amount_fen)),
                    PostingSpec(memo, f"Memo:Unfunded:{investor}", _money(-amount_fen)),
                ]
            c.execute(T_CALLS.update().where(T_CALLS.c.id == call_id).values(status="approved", approved_by=approver))
            self._post(
                f"sf:{subfund['code']}:call:{call_id}",
                tuple(postings),
                call["notice_on"],
                "sf_capital_call",
                Audit(call["recorded_by"], approver),
                conn=c,
                overdraft_code=FundsCode.CALL_EXCEEDS_UNFUNDED_COMMITMENT,
            )
            record_event(c, "capital_call", call_id, "approved", approver, amounts=amounts)
            return amounts

    def pay_call(self, call_id: int, investor_code: str, amount: str, paid_on: date, *, actor: str) -> int:
        """An investor pays (part of) its call. The guidance fund's payment leaves its own bank account too."""
        amount_fen = parse_amount_fen(amount)
        with self.ledger.engine.begin() as c:
            call = lock_row(c, T_CALLS, "capital call", id=call_id)
            if call["status"] not in ("approved",):
                raise LedgerError(
                    FundsCode.ALREADY_DECIDED, f"call {call_id} is {call['status']}, not awaiting payment"
                )
            item = lock_row(c, T_CALL_ITEMS, "call item", call_id=call_id, investor_code=investor_code)
            if amount_fen <= 0 or item["paid_fen"] + amount_fen > item["amount_fen"]:
                raise LedgerError(
                    FundsCode.PAYMENT_EXCEEDS_CALL,
                    f"{investor_code} owes {_money(item['amount_fen'] - item['paid_fen'])} on call {call_id}",
                    room_left=_money(item["amount_fen"] - item["paid_fen"]),
                )
            subfund = fetch_one(c, T_SUBFUNDS, "sub-fund", id=call["subfund_id"])
            fund = fetch_one(c, T_GUIDANCE, "guidance fund", id=subfund["guidance_fund_id"])
            count = c.execute(
                select(func.count()).select_from(T_CALL_PAYMENTS).where(T_CALL_PAYMENTS.c.call_item_id == item["id"])
            ).scalar()
            client_id = f"sf:{subfund['code']}:call:{call_id}:{investor_code}:payment:{count + 1}"
            c.execute(
                T_CALL_PAYMENTS.insert().values(
                    call_item_id=item["id"], amount_fen=amount_fen, paid_on=paid_on, client_id=client_id
                )
            )
            c.execute(
                T_CALL_ITEMS.update()
                .where(T_CALL_ITEMS.c.id == item["id"])
                .values(paid_fen=item["paid_fen"] + amount_fen)
            )
            postings = [
                PostingSpec(sf_book(subfund["code"]), "Assets:Bank", _money(amount_fen)),
                PostingSpec(sf_book(subfund["code"]), f"NetAssets:PaidIn:{investor_code}", _money(-amount_fen)),
            ]
            if investor_code == fund["code"]:
                postings += [
                    PostingSpec(
                        gf_book(fund["code"]), f"Assets:Investments:SubFunds:{subfund['code']}", _money(amount_fen)
                    ),
                    PostingSpec(gf_book(fund["code"]), "Assets:Bank", _money(-amount_fen)),
                ]
            self._post(
                client_id,
                tuple(postings),
                paid_on,
                "sf_call_payment",
                Audit(actor),
                conn=c,
                overdraft_code=FundsCode.APPROPRIATION_INSUFFICIENT,
            )
            owed = c.execute(
                select(func.coalesce(func.sum(T_CALL_ITEMS.c.amount_fen - T_CALL_ITEMS.c.paid_fen), 0)).where(
                    T_CALL_ITEMS.c.call_id == call_id
                )
            ).scalar()
            if owed == 0:
                c.execute(T_CALLS.update().where(T_CALLS.c.id == call_id).values(status="paid"))
            record_event(c, "capital_call", call_id, "paid", actor, investor=investor_code, amount_fen=amount_fen)
            return item["amount_fen"] - item["paid_fen"] - amount_fen

    # ----- investments, valuations, exits --------------------------------------------------------------

    def invest(
        self,
        subfund_code: str,
        enterprise_code: str,
        amount: str,
        invested_on: date,
        *,
        stage: str,
        is_local: bool,
        sector: str,
        hard_tech: bool,
        actor: str,
    ) -> int:
        if stage not in STAGES:
            raise LedgerError(FundsCode.CONFIGURATION_INVALID, f"stage {stage!r} is not one of {STAGES}")
        amount_fen = parse_amount_fen(amount)
        with self.ledger.engine.begin() as c:
            subfund = fetch_one(c, T_SUBFUNDS, "sub-fund", code=subfund_code)
            investment_id = c.execute(
                T_INVESTMENTS.insert().values(
                    subfund_id=subfund["id"],
                    enterprise_code=enterprise_code,
                    amount_fen=amount_fen,
                    invested_on=invested_on,
                    stage=stage,
                    is_local=is_local,
                    sector=sector,
                    hard_tech=hard_tech,
                )
            ).inserted_primary_key[0]
            book = sf_book(subfund_code)
            path = f"Assets:EquityInvestments:{enterprise_code}"
            self.ledger.create_account(book, path, exist_ok=True, conn=c)
            self._post(
                f"{book}:investment:{investment_id}",
                posting_specs(book, [(path, _money(amount_fen)), ("Assets:Bank", _money(-amount_fen))]),
                invested_on,
                "sf_investment",
                Audit(actor),
                conn=c,
                overdraft_code=FundsCode.INVESTMENT_EXCEEDS_CASH,
            )
            record_event(c, "investment", investment_id, "recorded", actor, stage=stage, is_local=is_local)
            return investment_id

    def exit_investment(self, investment_id: int, cost: str, proceeds: str, exited_on: date, *, actor: str) -> None:
        cost_fen, proceeds_fen = parse_amount_fen(cost), parse_amount_fen(proceeds)
        with self.ledger.engine.begin() as c:
            investment = lock_row(c, T_INVESTMENTS, "investment", id=investment_id)
            left = investment["amount_fen"] - investment["exited_cost_fen"]
            if not (0 < cost_fen <= left):
                raise LedgerError(
                    FundsCode.EXIT_EXCEEDS_COST,
                    f"at most {_money(left)} of cost is left to exit",
                    room_left=_money(left),
                )
            subfund = fetch_one(c, T_SUBFUNDS, "sub-fund", id=investment["subfund_id"])
            book = sf_book(subfund["code"])
            legs = [
                ("Assets:Bank", _money(proceeds_fen)) if proceeds_fen else None,
                (f"Assets:EquityInvestments:{investment['enterprise_code']}", _money(-cost_fen)),
            ]
            gain = proceeds_fen - cost_fen
            if gain > 0:
                legs.append(("Revenue:ExitGains", _money(-gain)))
            elif gain < 0:
                legs.append(("Expenses:ExitLosses", _money(-gain)))
            c.execute(
                T_INVESTMENTS.update()
                .where(T_INVESTMENTS.c.id == investment_id)
                .values(
                    exited_cost_fen=investment["exited_cost_fen"] + cost_fen,
                    proceeds_fen=investment["proceeds_fen"] + proceeds_fen,
                )
            )
            self._post(
                f"{book}:investment:{investment_id}:exit:{exited_on}:{cost_fen}",
                posting_specs(book, [leg for leg in legs if leg]),
                exited_on,
                "sf_exit",
                Audit(actor),
                conn=c,
            )
            record_event(c, "investment", investment_id, "exited", actor, cost_fen=cost_fen, proceeds_fen=proceeds_fen)

    def record_valuation(self, subfund_code: str, as_of: date, nav: str, *, source: str) -> int:
        """A dated NAV: kept as a valuation, not as a posting."""
        with self.ledger.engine.begin() as c:
            subfund = fetch_one(c, T_SUBFUNDS, "sub-fund", code=subfund_code)
            return c.execute(
                T_VALUATIONS.insert().values(
                    subfund_id=subfund["id"], as_of=as_of, nav_fen=parse_amount_fen(nav), source=source
                )
            ).inserted_primary_key[0]

    # ----- management fees ------------------------------------------------------------------------------

    def accrue_fees(self, subfund_code: str, through: date, *, actor: str) -> int:
        """Accrue the management fee through a date: rate x basis x days / 365, rounded HALF_UP on the
        cumulative total (never per period); returns this accrual's amount."""
        with self.ledger.engine.begin() as c:
            subfund = lock_row(c, T_SUBFUNDS, "sub-fund", code=subfund_code)
            cumulative_fen = round_half_up(self._fee_exact(c, subfund, through))
            previous = c.execute(
                select(func.coalesce(func.max(T_FEES.c.cumulative_fen), 0)).where(T_FEES.c.subfund_id == subfund["id"])
            ).scalar()
            amount_fen = cumulative_fen - previous
            if amount_fen <= 0:
                return 0
            c.execute(
                T_FEES.insert().values(
                    subfund_id=subfund["id"], through=through, cumulative_fen=cumulative_fen, amount_fen=amount_fen
                )
            )
            book = sf_book(subfund_code)
            self._post(
                f"{book}:fees:{through}",
                posting_specs(
                    book,
                    [("Expenses:ManagementFees", _money(amount_fen)), ("Liabilities:FeesPayable", _money(-amount_fen))],
                ),
                through,
                "sf_management_fee",
                Audit(actor),
                conn=c,
            )
            return amount_fen

    def _fee_exact(self, c: Connection, subfund: dict, through: date) -> Fraction:
        """Exact fee from establishment through ``through``: the basis changes on dated events."""
        if subfund["fee_basis"] == "paid_in":
            events = c.execute(
                select(T_CALL_PAYMENTS.c.paid_on, T_CALL_PAYMENTS.c.amount_fen)
                .join(T_CALL_ITEMS, T_CALL_ITEMS.c.id == T_CALL_PAYMENTS.c.call_item_id)
                .join(T_CALLS, T_CALLS.c.id == T_CALL_ITEMS.c.call_id)
                .where(T_CALLS.c.subfund_id == subfund["id"])
            ).all()
        else:
            events = [
                (row.invested_on, row.amount_fen)
                for row in c.execute(select(T_INVESTMENTS).where(T_INVESTMENTS.c.subfund_id == subfund["id"])).all()
            ]
        rate = parse_ratio(subfund["fee_rate"])
        total = Fraction(0)
        for on, amount_fen in events:
            if on < through:
                total += amount_fen * rate * (through - on).days / DAYS_PER_FEE_YEAR
        return total

    # ----- distributions ---------------------------------------------------------------------------------

    def record_distribution(
        self, subfund_code: str, distributed_on: date, capital: str, income: str, *, recallable: bool, actor: str
    ) -> int:
        with self.ledger.engine.begin() as c:
            subfund = fetch_one(c, T_SUBFUNDS, "sub-fund", code=subfund_code)
            distribution_id = c.execute(
                T_DISTRIBUTIONS.insert().values(
                    subfund_id=subfund["id"],
                    distributed_on=distributed_on,
                    capital_fen=parse_amount_fen(capital),
                    income_fen=parse_amount_fen(income),
                    recallable=recallable,
                    status="submitted",
                    recorded_by=actor,
                )
            ).inserted_primary_key[0]
            record_event(c, "distribution", distribution_id, "recorded", actor)
            return distribution_id

    def approve_distribution(self, distribution_id: int, *, approver: str) -> dict[str, tuple[int, int]]:
        """Split return of capital and income among investors in proportion to paid-in (largest remainder)."""
        with self.ledger.engine.begin() as c:
            distribution = lock_row(c, T_DISTRIBUTIONS, "distribution", id=distribution_id)
            require_maker_checker(distribution["recorded_by"], approver)
            _require_status(distribution, "submitted")
            subfund = lock_row(c, T_SUBFUNDS, "sub-fund", id=distribution["subfund_id"])
            fund = fetch_one(c, T_GUIDANCE, "guidance fund", id=subfund["guidance_fund_id"])
            book, memo = sf_book(subfund["code"]), f"{sf_book(subfund['code'])}:memo"
            investors = [row["investor_code"] for row in self._approved_commitments(c, subfund["id"])]
            paid_in = [-balance_in(c, book, f"NetAssets:PaidIn:{investor}") for investor in investors]
            if sum(paid_in) <= 0:
                raise LedgerError(FundsCode.DISTRIBUTION_EXCEEDS_CASH, "nothing has been paid in to distribute against")
            capital = split_largest_remainder(distribution["capital_fen"], paid_in)
            income = split_largest_remainder(distribution["income_fen"], paid_in)
            total = distribution["capital_fen"] + distribution["income_fen"]
            postings = [PostingSpec(book, "Assets:Bank", _money(-total))]
            parts = {}
            for investor, capital_fen, income_fen in zip(investors, capital, income):
                parts[investor] = (capital_fen, income_fen)
                c.execute(
                    T_DISTRIBUTION_PARTS.insert().values(
                        distribution_id=distribution_id,
                        investor_code=investor,
                        capital_fen=capital_fen,
                        income_fen=income_fen,
                    )
                )
                if capital_fen:
                    postings.append(PostingSpec(book, f"NetAssets:ReturnedCapital:{investor}", _money(capital_fen)))
                if income_fen:
                    postings.append(PostingSpec(book, f"NetAssets:DistributedIncome:{investor}", _money(income_fen)))
                if distribution["recallable"] and capital_fen:
                    postings += [
                        PostingSpec(memo, f"Memo:Unfunded:{investor}", _money(capital_fen)),
                        PostingSpec(memo, f"Memo:Recallable:{investor}", _money(-capital_fen)),
                    ]
                if investor == fund["code"]:
                    gf = gf_book(fund["code"])
                    postings.append(PostingSpec(gf, "Assets:Bank", _money(capital_fen + income_fen)))
                    if capital_fen:
                        postings.append(
                            PostingSpec(gf, f"Assets:Investments:SubFunds:{subfund['code']}", _money(-capital_fen))
                        )
                    if income_fen:
                        postings.append(
                            PostingSpec(gf, f"Revenue:DistributionIncome:{subfund['code']}", _money(-income_fen))
                        )
            c.execute(
                T_DISTRIBUTIONS.update()
                .where(T_DISTRIBUTIONS.c.id == distribution_id)
                .values(status="approved", approved_by=approver)
            )
            self._post(
                f"{book}:distribution:{distribution_id}",
                tuple(postings),
                distribution["distributed_on"],
                "sf_distribution",
                Audit(distribution["recorded_by"], approver),
                conn=c,
                overdraft_code=FundsCode.DISTRIBUTION_EXCEEDS_CASH,
            )
            record_event(c, "distribution", distribution_id, "approved", approver)
            return parts

    # ----- helpers --------------------------------------------------------------------------------------

    @staticmethod
    def _approved_commitments(c: Connection, subfund_id: int) -> list[dict]:
        rows = c.execute(
            select(T_COMMITMENTS)
            .where(T_COMMITMENTS.c.subfund_id == subfund_id, T_COMMITMENTS.c.status == "approved")
            .order_by(T_COMMITMENTS.c.id)
        ).mappings()
        return [dict(row) for row in rows]

    def _post(self, client_id, postings, on, kind, audit, *, conn=None, overdraft_code: FundsCode | None = None):
        request = TransactionRequest(
            client_id, tuple(postings), on, source=SOURCE, kind=kind, audit=audit, program_year=on.year
        )
        try:
            return self.ledger.post(request, conn=conn)
        except LedgerError as error:
            if overdraft_code and error.code in (ResultCode.CREDITS_EXCEED_DEBITS, ResultCode.DEBITS_EXCEED_CREDITS):
                raise LedgerError(overdraft_code, error.message, **error.detail) from error
            raise


def _require_status(row: dict, status: str) -> None:
    if row["status"] != status:
        raise LedgerError(FundsCode.ALREADY_DECIDED, f"it is {row['status']}, not {status}")
