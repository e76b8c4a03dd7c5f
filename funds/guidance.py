"""Guidance funds (引导基金) and their sub-funds (子基金): appropriations, commitments, capital calls,
investments, fees, valuations, distributions, exits and remittance to the treasury.

Books:
- ``gf:<code>`` (financial): ``Assets:Bank`` (never overdrawn: appropriations bound what it pays),
  ``NetAssets:Appropriations`` (财政出资), ``Assets:Investments:SubFunds:<sub-fund>`` (paid-in, at cost),
  ``Revenue:DistributionIncome:<sub-fund>``, ``NetAssets:RemittedToTreasury`` (上缴国库).
- ``gf:<code>:memo``: ``Memo:Commitments:<sub-fund>`` against ``Memo:CommitmentControl``.
- ``gf:<code>:budget`` (budgetary): ``BudgetBalance:Funds`` (资金结存) against ``BudgetRevenue:Appropriations``,
  ``BudgetRevenue:SubFundDistributions:<sub-fund>``, ``BudgetExpenditure:SubFundContributions:<sub-fund>`` and
  ``BudgetExpenditure:RemittedToTreasury``: every movement of the fund's bank account, in the same transaction.
- ``sf:<code>`` (financial): ``Assets:Bank`` (never overdrawn), ``NetAssets:PaidIn:<investor>``,
  ``NetAssets:ReturnedCapital:<investor>``, ``NetAssets:DistributedIncome:<investor>``,
  ``Assets:EquityInvestments:<enterprise>`` (at cost), ``Expenses:ManagementFees``, ``Liabilities:FeesPayable``,
  ``Revenue:ExitGains`` / ``Expenses:ExitLosses``.
- ``sf:<code>:memo``: ``Memo:Committed:<investor>`` (认缴), ``Memo:Unfunded:<investor>`` (its credits may never
  exceed its debits: a call beyond the unfunded commitment is refused by the ledger too),
  ``Memo:Called:<investor>``, ``Memo:Recallable:<investor>``.
Commitments, calls and distributions are recorded by one person and approved by another. Every call that
moves money takes the caller's key (``client_id``) or is keyed on its own object (approvals, accruals): a
retry returns the first result and writes nothing (funds_requests keeps each key's content and result).
"""

from __future__ import annotations

from datetime import date
from fractions import Fraction

from sqlalchemy import Connection, func, select

from funds.codes import FundsCode
from funds.common import (
    BUDGET_CASH,
    SOURCE,
    balance_in,
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
    InvestmentExit,
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
T_EXITS = InvestmentExit.__table__
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

    def create_guidance_fund(
        self, code: str, name: str, region_code: str, policy: FundPolicy, *, conn: Connection | None = None
    ) -> int:
        with unit_of_work(self.ledger, conn) as c:
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
            budget = budget_book(gf_book(code))
            self.ledger.create_book(budget, f"{name} (budgetary)", "budgetary", conn=c)
            for path in (BUDGET_CASH, "BudgetRevenue:Appropriations", "BudgetExpenditure:RemittedToTreasury"):
                self.ledger.create_account(budget, path, conn=c)
            record_event(c, "guidance_fund", fund_id, "created", "system")
            return fund_id

    def policy(self, guidance_code: str) -> FundPolicy:
        with self.ledger.reader.connect() as c:
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
        client_id: str,
        approval_doc: str | None = None,
        conn: Connection | None = None,
    ) -> int:
        """财政出资: the budget appropriation paid into the guidance fund. ``client_id`` is the caller's key: a
        retry with it records nothing new; returns the journal transaction's id."""
        require_maker_checker(actor, approver)
        fen = _positive_fen(amount)
        content = {
            "fund": guidance_code,
            "amount_fen": fen,
            "on": on,
            "actor": actor,
            "approver": approver,
            "approval_doc": approval_doc,
        }
        with unit_of_work(self.ledger, conn) as c:
            if not is_new(stored := replayed(c, "gf_appropriation", client_id, content)):
                return stored
            fetch_one(c, T_GUIDANCE, "guidance fund", code=guidance_code)
            result = self._post(
                f"gf:{guidance_code}:appropriation:{client_id}",
                posting_specs(
                    gf_book(guidance_code), [("Assets:Bank", _money(fen)), ("NetAssets:Appropriations", _money(-fen))]
                )
                + tuple(budget_legs(gf_book(guidance_code), [("BudgetRevenue:Appropriations", fen)])),
                on,
                "gf_appropriation",
                Audit(actor, approver, approval_doc),
                conn=c,
            )
            return remember(c, "gf_appropriation", client_id, content, result.transaction_id)

    def remit_to_treasury(
        self,
        guidance_code: str,
        amount: str,
        on: date,
        *,
        actor: str,
        approver: str,
        client_id: str,
        conn: Connection | None = None,
    ) -> int:
        """上缴国库 at wind-up: principal and returns go back to the treasury; returns the transaction's id."""
        require_maker_checker(actor, approver)
        fen = _positive_fen(amount)
        content = {"fund": guidance_code, "amount_fen": fen, "on": on, "actor": actor, "approver": approver}
        with unit_of_work(self.ledger, conn) as c:
            if not is_new(stored := replayed(c, "gf_remittance", client_id, content)):
                return stored
            fetch_one(c, T_GUIDANCE, "guidance fund", code=guidance_code)
            result = self._post(
                f"gf:{guidance_code}:remittance:{client_id}",
                posting_specs(
                    gf_book(guidance_code),
                    [("NetAssets:RemittedToTreasury", _money(fen)), ("Assets:Bank", _money(-fen))],
                )
                + tuple(budget_legs(gf_book(guidance_code), [("BudgetExpenditure:RemittedToTreasury", -fen)])),
                on,
                "gf_treasury_remittance",
                Audit(actor, approver),
                conn=c,
                overdraft_code=FundsCode.DISTRIBUTION_EXCEEDS_CASH,
            )
            return remember(c, "gf_remittance", client_id, content, result.transaction_id)

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
        conn: Connection | None = None,
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
        with unit_of_work(self.ledger, conn) as c:
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
            for path in (
                f"BudgetExpenditure:SubFundContributions:{code}",
                f"BudgetRevenue:SubFundDistributions:{code}",
            ):
                self.ledger.create_account(budget_book(gf_book(guidance_code)), path, conn=c)
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
        client_id: str,
        is_guidance: bool = False,
        conn: Connection | None = None,
    ) -> int:
        """认缴, submitted for approval; returns the commitment's id (the same id on a retry with the key)."""
        amount_fen = _positive_fen(amount)
        content = {
            "subfund": subfund_code,
            "investor": investor_code,
            "amount_fen": amount_fen,
            "on": committed_on,
            "actor": actor,
            "is_guidance": is_guidance,
        }
        with unit_of_work(self.ledger, conn) as c:
            if not is_new(stored := replayed(c, "sf_commitment", client_id, content)):
                return stored
            subfund = fetch_one(c, T_SUBFUNDS, "sub-fund", code=subfund_code)
            fund = fetch_one(c, T_GUIDANCE, "guidance fund", id=subfund["guidance_fund_id"])
            if is_guidance != (investor_code == fund["code"]):
                # The guidance fund's money moves in its own books only under its own code.
                raise LedgerError(
                    FundsCode.GUIDANCE_COMMITMENT_MUST_BE_THE_FUNDS_OWN,
                    f"the guidance fund commits as {fund['code']!r} with is_guidance=True, and only it does",
                )
            commitment_id = c.execute(
                T_COMMITMENTS.insert().values(
                    subfund_id=subfund["id"],
                    investor_code=investor_code,
                    is_guidance=is_guidance,
                    amount_fen=amount_fen,
                    committed_on=committed_on,
                    status="submitted",
                    recorded_by=actor,
                )
            ).inserted_primary_key[0]
            record_event(c, "commitment", commitment_id, "recorded", actor)
            return remember(c, "sf_commitment", client_id, content, commitment_id)

    def approve_commitment(self, commitment_id: int, *, approver: str, conn: Connection | None = None) -> int:
        """Approve a commitment; returns the amount approved (less than recorded when a clip rule bound).

        The commitment's id is the key: its approver repeating the call changes nothing."""
        with unit_of_work(self.ledger, conn) as c:
            commitment = lock_row(c, T_COMMITMENTS, "commitment", id=commitment_id)
            require_maker_checker(commitment["recorded_by"], approver)
            if commitment["status"] == "approved" and commitment["approved_by"] == approver:
                return commitment["amount_fen"]
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
            structure = [*others, {**commitment, "status": "approved"}]
            if commitment["is_guidance"]:
                amount_fen = self._enforce_guidance_share(c, policy, subfund, commitment, structure)
                structure[-1]["amount_fen"] = amount_fen
            if subfund["first_close_on"] is not None:
                # After the first close the structure is final: a later close keeps the rule too.
                self._enforce_never_largest(c, policy, subfund, structure, "commitment", commitment_id)
            c.execute(
                T_COMMITMENTS.update()
                .where(T_COMMITMENTS.c.id == commitment_id)
                .values(status="approved", approved_by=approver, amount_fen=amount_fen)
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
            record_event(c, "commitment", commitment_id, "approved", approver, amount_fen=amount_fen)
            return amount_fen

    def establish_subfund(
        self, subfund_code: str, on: date, *, actor: str, conn: Connection | None = None
    ) -> dict[str, int]:
        """首次交割 (first close): the investor structure becomes final and must keep the guidance rules —
        share of the fund within bounds and never the largest investor, both over the guidance fund's total.

        Returns each investor's approved commitment. The sub-fund is the key: repeating the call with the same
        date changes nothing; another date is refused (it is already established)."""
        with unit_of_work(self.ledger, conn) as c:
            subfund = lock_row(c, T_SUBFUNDS, "sub-fund", code=subfund_code)
            structure = self._approved_commitments(c, subfund["id"])
            if subfund["first_close_on"] is not None:
                if subfund["first_close_on"] != on:
                    raise LedgerError(
                        FundsCode.SUBFUND_ALREADY_ESTABLISHED,
                        f"sub-fund {subfund_code} was established on {subfund['first_close_on']}",
                    )
                return _by_investor(structure)
            fund = fetch_one(c, T_GUIDANCE, "guidance fund", id=subfund["guidance_fund_id"])
            policy = FundPolicy.model_validate_json(fund["policy_json"])
            guidance_fen = sum(row["amount_fen"] for row in structure if row["is_guidance"])
            if guidance_fen:
                self._enforce_share_bounds(c, policy, subfund, guidance_fen, "subfund", subfund["id"])
            self._enforce_never_largest(c, policy, subfund, structure, "subfund", subfund["id"])
            c.execute(T_SUBFUNDS.update().where(T_SUBFUNDS.c.id == subfund["id"]).values(first_close_on=on))
            record_event(c, "subfund", subfund["id"], "established", actor, on=on)
            return _by_investor(structure)

    def _enforce_guidance_share(
        self, c: Connection, policy: FundPolicy, subfund: dict, commitment: dict, structure: list[dict]
    ) -> int:
        """The guidance fund's share over ALL its approved commitments in the sub-fund (this one included);
        returns the amount to approve (clipped to the room under a ``clip`` maximum)."""
        rule = policy.guidance_share_max
        earlier_fen = sum(row["amount_fen"] for row in structure[:-1] if row["is_guidance"])
        amount_fen = commitment["amount_fen"]
        max_fen = apply_ratio_down(subfund["size_fen"], rule.ratio())
        if earlier_fen + amount_fen > max_fen:
            room_fen = max(0, max_fen - earlier_fen)
            message = (
                f"the guidance fund's commitments would be {_money(earlier_fen + amount_fen)}, "
                f"{Fraction(earlier_fen + amount_fen, subfund['size_fen'])} of the fund; at most {rule.value} "
                f"({rule.source}); room left {_money(room_fen)}"
            )
            if rule.enforcement == "stop" or (rule.enforcement == "clip" and room_fen == 0):
                raise LedgerError(FundsCode.GUIDANCE_SHARE_OUT_OF_BOUNDS, message, room_left=_money(room_fen))
            if rule.enforcement == "clip":
                amount_fen = room_fen
            record_flag(
                c,
                "commitment",
                commitment["id"],
                FundsCode.GUIDANCE_SHARE_OUT_OF_BOUNDS,
                rule.enforcement,
                message,
                amount_fen=earlier_fen + commitment["amount_fen"],
                limit_fen=max_fen,
            )
        self._enforce_share_minimum(c, policy, subfund, earlier_fen + amount_fen, "commitment", commitment["id"])
        return amount_fen

    def _enforce_share_bounds(
        self, c: Connection, policy: FundPolicy, subfund: dict, guidance_fen: int, subject_type: str, subject_id: int
    ) -> None:
        rule = policy.guidance_share_max
        max_fen = apply_ratio_down(subfund["size_fen"], rule.ratio())
        if guidance_fen > max_fen:
            message = (
                f"the guidance fund's {_money(guidance_fen)} is {Fraction(guidance_fen, subfund['size_fen'])} of "
                f"the fund; at most {rule.value} ({rule.source})"
            )
            _stop_or_flag(
                c,
                rule,
                FundsCode.GUIDANCE_SHARE_OUT_OF_BOUNDS,
                message,
                subject_type,
                subject_id,
                guidance_fen,
                max_fen,
            )
        self._enforce_share_minimum(c, policy, subfund, guidance_fen, subject_type, subject_id)

    @staticmethod
    def _enforce_share_minimum(
        c: Connection, policy: FundPolicy, subfund: dict, guidance_fen: int, subject_type: str, subject_id: int
    ) -> None:
        rule = policy.guidance_share_min
        share = Fraction(guidance_fen, subfund["size_fen"])
        if share < rule.ratio():
            message = (
                f"the guidance fund's {_money(guidance_fen)} is {share} of the fund; at least {rule.value} "
                f"({rule.source})"
            )
            _stop_or_flag(
                c,
                rule,
                FundsCode.GUIDANCE_SHARE_OUT_OF_BOUNDS,
                message,
                subject_type,
                subject_id,
                guidance_fen,
                apply_ratio_down(subfund["size_fen"], rule.ratio()),
            )

    @staticmethod
    def _enforce_never_largest(
        c: Connection, policy: FundPolicy, subfund: dict, structure: list[dict], subject_type: str, subject_id: int
    ) -> None:
        breach = never_largest_breach(policy, structure)
        if breach is not None:
            guidance_fen, largest_other_fen = breach
            rule = policy.guidance_never_largest
            message = (
                f"the guidance fund's {_money(guidance_fen)} in {subfund['code']} is not below the largest other "
                f"investor's {_money(largest_other_fen)} ({rule.source})"
            )
            _stop_or_flag(
                c,
                rule,
                FundsCode.GUIDANCE_MUST_NOT_BE_LARGEST_INVESTOR,
                message,
                subject_type,
                subject_id,
                guidance_fen,
                largest_other_fen,
            )

    # ----- capital calls (实缴) ------------------------------------------------------------------------

    def record_call(
        self,
        subfund_code: str,
        ratio: str,
        notice_on: date,
        due_on: date,
        *,
        actor: str,
        client_id: str,
        conn: Connection | None = None,
    ) -> int:
        """A call notice for ``ratio`` of every investor's commitment; pending until paid."""
        parse_ratio(ratio)
        content = {"subfund": subfund_code, "ratio": ratio, "notice_on": notice_on, "due_on": due_on, "actor": actor}
        with unit_of_work(self.ledger, conn) as c:
            if not is_new(stored := replayed(c, "sf_call", client_id, content)):
                return stored
            subfund = lock_row(c, T_SUBFUNDS, "sub-fund", code=subfund_code)
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
            return remember(c, "sf_call", client_id, content, call_id)

    def approve_call(self, call_id: int, *, approver: str, conn: Connection | None = None) -> dict[str, int]:
        """Approve a call: one item per investor, ``ratio`` of its commitments added up (an investor with two
        commitments owes one item). The call's id is the key: its approver repeating the call changes nothing."""
        with unit_of_work(self.ledger, conn) as c:
            call = lock_row(c, T_CALLS, "capital call", id=call_id)
            require_maker_checker(call["recorded_by"], approver)
            if call["status"] in ("approved", "paid") and call["approved_by"] == approver:
                return self._call_amounts(c, call_id)
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
            rule = policy.first_call_min
            if first_call and ratio < rule.ratio():
                _stop_or_flag(
                    c,
                    rule,
                    FundsCode.FIRST_CALL_BELOW_MINIMUM,
                    f"the first call is {call['ratio']} of commitments; at least {rule.value} ({rule.source})",
                    "capital_call",
                    call_id,
                    0,
                    0,
                )
            memo = f"{sf_book(subfund['code'])}:memo"
            amounts: dict[str, int] = {}
            postings = []
            for investor, committed_fen in _by_investor(self._approved_commitments(c, subfund["id"])).items():
                amount_fen = apply_ratio_down(committed_fen, ratio)
                unfunded_fen = balance_in(c, memo, f"Memo:Unfunded:{investor}")
                if amount_fen > unfunded_fen:
                    raise LedgerError(
                        FundsCode.CALL_EXCEEDS_UNFUNDED_COMMITMENT,
                        f"{investor} would be called {_money(amount_fen)}; its unfunded commitment is "
                        f"{_money(unfunded_fen)}",
                        room_left=_money(unfunded_fen),
                    )
                if amount_fen == 0:
                    continue
                amounts[investor] = amount_fen
                c.execute(T_CALL_ITEMS.insert().values(call_id=call_id, investor_code=investor, amount_fen=amount_fen))
                postings += [
                    PostingSpec(memo, f"Memo:Called:{investor}", _money(amount_fen)),
                    PostingSpec(memo, f"Memo:Unfunded:{investor}", _money(-amount_fen)),
                ]
            if not postings:
                raise LedgerError(FundsCode.AMOUNT_MUST_BE_POSITIVE, f"call {call_id} would call nothing")
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

    @staticmethod
    def _call_amounts(c: Connection, call_id: int) -> dict[str, int]:
        rows = c.execute(
            select(T_CALL_ITEMS.c.investor_code, T_CALL_ITEMS.c.amount_fen)
            .where(T_CALL_ITEMS.c.call_id == call_id)
            .order_by(T_CALL_ITEMS.c.id)
        )
        return {investor: amount_fen for investor, amount_fen in rows}

    def pay_call(
        self,
        call_id: int,
        investor_code: str,
        amount: str,
        paid_on: date,
        *,
        actor: str,
        client_id: str,
        conn: Connection | None = None,
    ) -> int:
        """An investor pays (part of) its call; returns what it still owes on the call. The guidance fund's
        payment leaves its own bank account too. ``client_id`` (e.g. the bank receipt's number) is the key."""
        amount_fen = _positive_fen(amount)
        content = {"call": call_id, "investor": investor_code, "amount_fen": amount_fen, "on": paid_on, "actor": actor}
        with unit_of_work(self.ledger, conn) as c:
            call = lock_row(c, T_CALLS, "capital call", id=call_id)
            if not is_new(stored := replayed(c, "sf_call_payment", client_id, content)):
                return stored
            if call["status"] not in ("approved",):
                raise LedgerError(
                    FundsCode.ALREADY_DECIDED, f"call {call_id} is {call['status']}, not awaiting payment"
                )
            item = lock_row(c, T_CALL_ITEMS, "call item", call_id=call_id, investor_code=investor_code)
            if item["paid_fen"] + amount_fen > item["amount_fen"]:
                raise LedgerError(
                    FundsCode.PAYMENT_EXCEEDS_CALL,
                    f"{investor_code} owes {_money(item['amount_fen'] - item['paid_fen'])} on call {call_id}",
                    room_left=_money(item["amount_fen"] - item["paid_fen"]),
                )
            subfund = fetch_one(c, T_SUBFUNDS, "sub-fund", id=call["subfund_id"])
            fund = fetch_one(c, T_GUIDANCE, "guidance fund", id=subfund["guidance_fund_id"])
            ledger_id = f"sf:{subfund['code']}:call:{call_id}:payment:{client_id}"
            c.execute(
                T_CALL_PAYMENTS.insert().values(
                    call_item_id=item["id"], amount_fen=amount_fen, paid_on=paid_on, client_id=ledger_id
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
                    *budget_legs(
                        gf_book(fund["code"]),
                        [(f"BudgetExpenditure:SubFundContributions:{subfund['code']}", -amount_fen)],
                    ),
                ]
            self._post(
                ledger_id,
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
            return remember(
                c, "sf_call_payment", client_id, content, item["amount_fen"] - item["paid_fen"] - amount_fen
            )

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
        client_id: str,
        conn: Connection | None = None,
    ) -> int:
        """An equity investment at cost; returns its id (the same id on a retry with the key)."""
        if stage not in STAGES:
            raise LedgerError(FundsCode.CONFIGURATION_INVALID, f"stage {stage!r} is not one of {STAGES}")
        amount_fen = _positive_fen(amount)
        content = {
            "subfund": subfund_code,
            "enterprise": enterprise_code,
            "amount_fen": amount_fen,
            "on": invested_on,
            "stage": stage,
            "is_local": is_local,
            "sector": sector,
            "hard_tech": hard_tech,
            "actor": actor,
        }
        with unit_of_work(self.ledger, conn) as c:
            if not is_new(stored := replayed(c, "sf_investment", client_id, content)):
                return stored
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
            return remember(c, "sf_investment", client_id, content, investment_id)

    def exit_investment(
        self,
        investment_id: int,
        cost: str,
        proceeds: str,
        exited_on: date,
        *,
        actor: str,
        client_id: str,
        conn: Connection | None = None,
    ) -> int:
        """A (partial) exit: ``cost`` leaves the books at cost, ``proceeds`` reach the bank; returns the exit's
        id. Two equal exits on one day are two exits: each has its own key (defect 1)."""
        cost_fen, proceeds_fen = parse_amount_fen(cost), parse_amount_fen(proceeds)
        if proceeds_fen < 0:
            raise LedgerError(FundsCode.AMOUNT_MUST_BE_POSITIVE, "exit proceeds cannot be negative")
        content = {
            "investment": investment_id,
            "cost_fen": cost_fen,
            "proceeds_fen": proceeds_fen,
            "on": exited_on,
            "actor": actor,
        }
        with unit_of_work(self.ledger, conn) as c:
            investment = lock_row(c, T_INVESTMENTS, "investment", id=investment_id)
            if not is_new(stored := replayed(c, "sf_exit", client_id, content)):
                return stored
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
            ledger_id = f"{book}:investment:{investment_id}:exit:{client_id}"
            exit_id = c.execute(
                T_EXITS.insert().values(
                    investment_id=investment_id,
                    cost_fen=cost_fen,
                    proceeds_fen=proceeds_fen,
                    exited_on=exited_on,
                    client_id=ledger_id,
                )
            ).inserted_primary_key[0]
            c.execute(
                T_INVESTMENTS.update()
                .where(T_INVESTMENTS.c.id == investment_id)
                .values(
                    exited_cost_fen=investment["exited_cost_fen"] + cost_fen,
                    proceeds_fen=investment["proceeds_fen"] + proceeds_fen,
                )
            )
            self._post(
                ledger_id,
                posting_specs(book, [leg for leg in legs if leg]),
                exited_on,
                "sf_exit",
                Audit(actor),
                conn=c,
            )
            record_event(c, "investment", investment_id, "exited", actor, cost_fen=cost_fen, proceeds_fen=proceeds_fen)
            return remember(c, "sf_exit", client_id, content, exit_id)

    def record_valuation(
        self, subfund_code: str, as_of: date, nav: str, *, source: str, conn: Connection | None = None
    ) -> int:
        """A dated NAV: kept as a valuation, not as a posting."""
        with unit_of_work(self.ledger, conn) as c:
            subfund = fetch_one(c, T_SUBFUNDS, "sub-fund", code=subfund_code)
            return c.execute(
                T_VALUATIONS.insert().values(
                    subfund_id=subfund["id"], as_of=as_of, nav_fen=parse_amount_fen(nav), source=source
                )
            ).inserted_primary_key[0]

    # ----- management fees ------------------------------------------------------------------------------

    def accrue_fees(self, subfund_code: str, through: date, *, actor: str, conn: Connection | None = None) -> int:
        """Accrue the management fee through a date: rate x basis x days / 365, rounded HALF_UP on the
        cumulative total (never per period); returns this accrual's amount.

        The accrual through a date is its own key: repeating it returns the same amount and posts nothing."""
        with unit_of_work(self.ledger, conn) as c:
            subfund = lock_row(c, T_SUBFUNDS, "sub-fund", code=subfund_code)
            done = c.execute(
                select(T_FEES.c.amount_fen).where(T_FEES.c.subfund_id == subfund["id"], T_FEES.c.through == through)
            ).first()
            if done is not None:
                return done.amount_fen
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
        """Exact fee from establishment through ``through``: the basis changes on dated events. The invested
        basis is the cost of investments still held: each exit's cost leaves it on the exit's date (defect 7)."""
        if subfund["fee_basis"] == "paid_in":
            events = c.execute(
                select(T_CALL_PAYMENTS.c.paid_on, T_CALL_PAYMENTS.c.amount_fen)
                .join(T_CALL_ITEMS, T_CALL_ITEMS.c.id == T_CALL_PAYMENTS.c.call_item_id)
                .join(T_CALLS, T_CALLS.c.id == T_CALL_ITEMS.c.call_id)
                .where(T_CALLS.c.subfund_id == subfund["id"])
            ).all()
        else:
            events = (
                c.execute(
                    select(T_INVESTMENTS.c.invested_on, T_INVESTMENTS.c.amount_fen).where(
                        T_INVESTMENTS.c.subfund_id == subfund["id"]
                    )
                ).all()
                + c.execute(
                    select(T_EXITS.c.exited_on, -T_EXITS.c.cost_fen)
                    .join(T_INVESTMENTS, T_INVESTMENTS.c.id == T_EXITS.c.investment_id)
                    .where(T_INVESTMENTS.c.subfund_id == subfund["id"])
                ).all()
            )
        rate = parse_ratio(subfund["fee_rate"])
        total = Fraction(0)
        for on, amount_fen in events:
            if on < through:
                total += amount_fen * rate * (through - on).days / DAYS_PER_FEE_YEAR
        return total

    # ----- distributions ---------------------------------------------------------------------------------

    def record_distribution(
        self,
        subfund_code: str,
        distributed_on: date,
        capital: str,
        income: str,
        *,
        recallable: bool,
        actor: str,
        client_id: str,
        conn: Connection | None = None,
    ) -> int:
        """A distribution submitted for approval; returns its id (the same id on a retry with the key)."""
        capital_fen, income_fen = parse_amount_fen(capital), parse_amount_fen(income)
        if capital_fen < 0 or income_fen < 0 or capital_fen + income_fen == 0:
            raise LedgerError(FundsCode.AMOUNT_MUST_BE_POSITIVE, "a distribution needs a positive capital or income")
        content = {
            "subfund": subfund_code,
            "on": distributed_on,
            "capital_fen": capital_fen,
            "income_fen": income_fen,
            "recallable": recallable,
            "actor": actor,
        }
        with unit_of_work(self.ledger, conn) as c:
            if not is_new(stored := replayed(c, "sf_distribution", client_id, content)):
                return stored
            subfund = fetch_one(c, T_SUBFUNDS, "sub-fund", code=subfund_code)
            distribution_id = c.execute(
                T_DISTRIBUTIONS.insert().values(
                    subfund_id=subfund["id"],
                    distributed_on=distributed_on,
                    capital_fen=capital_fen,
                    income_fen=income_fen,
                    recallable=recallable,
                    status="submitted",
                    recorded_by=actor,
                )
            ).inserted_primary_key[0]
            record_event(c, "distribution", distribution_id, "recorded", actor)
            return remember(c, "sf_distribution", client_id, content, distribution_id)

    def approve_distribution(
        self, distribution_id: int, *, approver: str, conn: Connection | None = None
    ) -> dict[str, tuple[int, int]]:
        """Split return of capital and income among investors in proportion to paid-in (largest remainder)."""
        with unit_of_work(self.ledger, conn) as c:
            distribution = lock_row(c, T_DISTRIBUTIONS, "distribution", id=distribution_id)
            require_maker_checker(distribution["recorded_by"], approver)
            if distribution["status"] == "approved" and distribution["approved_by"] == approver:
                return self._distribution_parts(c, distribution_id)
            _require_status(distribution, "submitted")
            subfund = lock_row(c, T_SUBFUNDS, "sub-fund", id=distribution["subfund_id"])
            fund = fetch_one(c, T_GUIDANCE, "guidance fund", id=subfund["guidance_fund_id"])
            book, memo = sf_book(subfund["code"]), f"{sf_book(subfund['code'])}:memo"
            # Each investor once, however many commitments it holds (defect 2).
            investors = list(_by_investor(self._approved_commitments(c, subfund["id"])))
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
                    postings += budget_legs(
                        gf, [(f"BudgetRevenue:SubFundDistributions:{subfund['code']}", capital_fen + income_fen)]
                    )
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

    @staticmethod
    def _distribution_parts(c: Connection, distribution_id: int) -> dict[str, tuple[int, int]]:
        rows = c.execute(
            select(
                T_DISTRIBUTION_PARTS.c.investor_code,
                T_DISTRIBUTION_PARTS.c.capital_fen,
                T_DISTRIBUTION_PARTS.c.income_fen,
            )
            .where(T_DISTRIBUTION_PARTS.c.distribution_id == distribution_id)
            .order_by(T_DISTRIBUTION_PARTS.c.id)
        )
        return {investor: (capital_fen, income_fen) for investor, capital_fen, income_fen in rows}

    # ----- rejections (submitted -> rejected, with a reason) ---------------------------------------------

    def reject_commitment(
        self, commitment_id: int, *, approver: str, reason: str, conn: Connection | None = None
    ) -> None:
        """The checker refuses a submitted commitment: nothing is posted, the reason is in its events."""
        self._reject(T_COMMITMENTS, "commitment", "commitment", commitment_id, approver, reason, conn)

    def reject_call(self, call_id: int, *, approver: str, reason: str, conn: Connection | None = None) -> None:
        """The checker refuses a submitted call notice: no investor owes anything on it."""
        self._reject(T_CALLS, "capital call", "capital_call", call_id, approver, reason, conn)

    def reject_distribution(
        self, distribution_id: int, *, approver: str, reason: str, conn: Connection | None = None
    ) -> None:
        """The checker refuses a submitted distribution: no money leaves the sub-fund."""
        self._reject(T_DISTRIBUTIONS, "distribution", "distribution", distribution_id, approver, reason, conn)

    def _reject(self, table, what: str, subject_type: str, subject_id: int, approver: str, reason: str, conn) -> None:  # noqa: ANN001
        """Maker-checker holds for a refusal too (the recorder cannot reject its own item). The item is the key:
        the checker who rejected it rejecting it again changes nothing; a decided item is not rejected."""
        if not isinstance(reason, str) or not reason.strip():
            raise LedgerError(ResultCode.REASON_REQUIRED, f"rejecting a {what} needs a reason")
        with unit_of_work(self.ledger, conn) as c:
            row = lock_row(c, table, what, id=subject_id)
            require_maker_checker(row["recorded_by"], approver)
            if row["status"] == "rejected" and row["approved_by"] == approver:
                return
            _require_status(row, "submitted")
            c.execute(table.update().where(table.c.id == subject_id).values(status="rejected", approved_by=approver))
            record_event(c, subject_type, subject_id, "rejected", approver, reason=reason)

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


def never_largest_breach(policy: FundPolicy, structure: list[dict]) -> tuple[int, int] | None:
    """(guidance total, largest other investor's total) when the guidance fund is not strictly the smaller,
    each investor's commitments added up (one investor may commit twice)."""
    if policy.guidance_never_largest.value != "yes":
        return None
    totals = _by_investor(structure)
    guidance_investors = {row["investor_code"] for row in structure if row["is_guidance"]}
    guidance_fen = sum(totals[code] for code in guidance_investors)
    if not guidance_fen:
        return None
    largest_other_fen = max((fen for code, fen in totals.items() if code not in guidance_investors), default=0)
    return (guidance_fen, largest_other_fen) if guidance_fen >= largest_other_fen else None


def _by_investor(commitments: list[dict]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for row in commitments:
        totals[row["investor_code"]] = totals.get(row["investor_code"], 0) + row["amount_fen"]
    return totals


def _positive_fen(amount: str) -> int:
    fen = parse_amount_fen(amount)
    if fen <= 0:
        raise LedgerError(FundsCode.AMOUNT_MUST_BE_POSITIVE, f"the amount must be positive, got {amount!r}")
    return fen


def _stop_or_flag(
    c: Connection,
    rule,
    code: FundsCode,
    message: str,
    subject_type: str,
    subject_id: int,
    amount_fen: int,
    limit_fen: int,
) -> None:
    """A rule whose breach cannot be clipped (a structure): ``stop`` refuses, ``warn`` records and flags."""
    if rule.enforcement != "warn":
        raise LedgerError(code, message, amount=_money(amount_fen), limit=_money(limit_fen))
    record_flag(c, subject_type, subject_id, code, "warn", message, amount_fen=amount_fen, limit_fen=limit_fen)


def _require_status(row: dict, status: str) -> None:
    if row["status"] != status:
        raise LedgerError(FundsCode.ALREADY_DECIDED, f"it is {row['status']}, not {status}")
