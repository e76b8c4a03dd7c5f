"""A stateful property test of the funds package on SQLite and PostgreSQL.

Hypothesis interleaves a guidance fund's commitments, calls, payments, investments, exits, fees and
distributions with a risk pool's funding, loans, claims, settlements and recoveries, and RETRIES earlier
calls with their own keys. After every step: every book balances and cached balances equal postings,
funds.controls finds nothing, no ``stop`` cap is exceeded, no constrained account is overdrawn; a retry
returned the first result and changed nothing; a refused call changed nothing.

Bounded for the normal suite (``NORMAL_*``); ``FUNDLEDGER_DEEP=1`` runs ``DEEP_*`` examples and steps.
"""

from __future__ import annotations

import os
from datetime import date, timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select, text

from funds.config import DEFAULT_FUND_POLICY, GUANGZHOU_POOL_POLICY, BankAgreementTerms
from funds.controls import reconcile_controls
from funds.guidance import GuidanceFunds
from funds.models import SQLModel
from funds.pools import FunderShare, RiskPools
from ledger.engine import T_TRANSACTIONS, Ledger
from ledger.errors import LedgerError
from ledger.money import format_fen
from ledger.queries import reconcile

DEEP = os.environ.get("FUNDLEDGER_DEEP") == "1"
NORMAL_EXAMPLES, NORMAL_STEPS = 6, 30
DEEP_EXAMPLES, DEEP_STEPS = 60, 60

WAN = 1_000_000
GF, SF, POOL = "gf", "sf1", "gz"
SIZE_FEN = 10_000 * WAN  # 1亿
INVESTORS = ("LP-A", "LP-B", GF)
FUNDERS = (("440000", "province", "20%"), ("440100", "city", "40%"), ("440106", "district", "40%"))
BANKS = ("BANK-A", "BANK-B")
FIRMS = ("FIRM-1", "FIRM-2")
BANK_ANNUAL_CAP_FEN = 500 * WAN
PER_LOAN_CAP_FEN = 300 * WAN
ENTERPRISE_CUMULATIVE_CAP_FEN = 100 * WAN
START = date(2026, 1, 10)

FUNDS_TABLES = sorted(name for name in SQLModel.metadata.tables if name.startswith("funds_"))


class FundsMachine(RuleBasedStateMachine):
    make_engine = None  # set by the test: the backend's engine factory

    def __init__(self) -> None:
        super().__init__()
        self.engine = type(self).make_engine()
        self.ledger = Ledger(self.engine)
        self.funds = GuidanceFunds(self.ledger)
        self.pools = RiskPools(self.ledger)
        self.day = START
        self.keys = 0
        self.done: list[tuple] = []  # (label, call, args, kwargs, result): retried later with the same key
        self.calls: list[int] = []
        self.investments: list[int] = []
        self.loans: list[int] = []
        self.claims: list[int] = []

    def teardown(self) -> None:
        self.ledger.close()
        self.engine.dispose()

    # ----- helpers ---------------------------------------------------------------------------------------

    def key(self) -> str:
        self.keys += 1
        return f"k{self.keys}"

    def tick(self, days: int) -> date:
        self.day += timedelta(days=days)
        return self.day

    def state(self) -> tuple:
        """Everything a call could change: every account's totals, the journal, every funds table's rows."""
        accounts = {
            (a.book, a.path): (a.debits_posted, a.credits_posted, a.debits_pending, a.credits_pending)
            for a in self.ledger.accounts()
        }
        with self.engine.connect() as c:
            journal = c.execute(select(func.count()).select_from(T_TRANSACTIONS)).scalar()
            tables = {name: c.execute(text(f"SELECT * FROM {name} ORDER BY id")).all() for name in FUNDS_TABLES}
        return accounts, journal, tables

    def attempt(self, label: str, call, *args, retry: bool = True, **kwargs):  # noqa: ANN001
        """Run a domain call; a refusal must leave everything as it was. Kept for a later retry if it worked."""
        before = self.state()
        try:
            result = call(*args, **kwargs)
        except LedgerError as error:
            assert self.state() == before, f"{label} refused ({error.code}) but changed state"
            return None
        if retry:
            self.done.append((label, call, args, kwargs, result))
        return result

    # ----- setup -----------------------------------------------------------------------------------------

    @initialize()
    def setup(self) -> None:
        self.funds.create_guidance_fund(GF, "引导基金", "440100", DEFAULT_FUND_POLICY)
        self.funds.appropriate(GF, "5000万", START, actor="budget", approver="director", client_id="approp-0")
        self.funds.create_subfund(
            GF,
            SF,
            "Sub-fund",
            manager_code="MGR",
            size="1亿",
            established_on=START,
            term_years=8,
            investment_period_end=date(2030, 12, 31),
            fee_basis="invested",
            fee_rate="2%",
        )
        self.pools.create_pool(
            POOL, "pool", GUANGZHOU_POOL_POLICY, [FunderShare(code, level, share) for code, level, share in FUNDERS]
        )
        terms = BankAgreementTerms(
            source="test agreement",
            per_loan_cap=f"{PER_LOAN_CAP_FEN // 100}",
            bank_annual_cap=f"{BANK_ANNUAL_CAP_FEN // 100}",
            enterprise_cumulative_cap=f"{ENTERPRISE_CUMULATIVE_CAP_FEN // 100}",
        )
        for bank in BANKS:
            self.pools.add_bank(POOL, bank, terms, date(2026, 1, 1), date(2030, 12, 31))
        # A first close the random steps build on; later closes come from the ``commit`` rule.
        for investor, amount in (("LP-A", "3000万"), ("LP-B", "2500万"), (GF, "1500万")):
            commitment = self.funds.record_commitment(
                SF, investor, amount, START, actor="gp", is_guidance=investor == GF, client_id=f"first-close-{investor}"
            )
            self.funds.approve_commitment(commitment, approver="reviewer")
        self.funds.establish_subfund(SF, START, actor="reviewer")
        first_call = self.funds.record_call(SF, "40%", START, START, actor="gp", client_id="first-call")
        for investor, amount_fen in self.funds.approve_call(first_call, approver="reviewer").items():
            self.funds.pay_call(
                first_call, investor, format_fen(amount_fen), START, actor="gp", client_id=f"first-call-{investor}"
            )
        self.pools.contribute(POOL, "440100", "200万", START, actor="clerk", approver="chief", client_id="pool-0")

    # ----- guidance fund and sub-fund --------------------------------------------------------------------

    @rule(investor=st.sampled_from(INVESTORS), wan=st.integers(100, 1500))
    def commit(self, investor: str, wan: int) -> None:
        on = self.tick(1)
        commitment = self.attempt(
            "record_commitment", self.funds.record_commitment, SF, investor, f"{wan}万", on,
            actor="gp", is_guidance=investor == GF, client_id=self.key(),
        )  # fmt: skip
        if commitment is not None:
            self.attempt("approve_commitment", self.funds.approve_commitment, commitment, approver="reviewer")

    @rule(ratio=st.sampled_from(["20%", "30%", "50%"]))
    def call(self, ratio: str) -> None:
        on = self.tick(2)
        call_id = self.attempt(
            "record_call", self.funds.record_call, SF, ratio, on, on + timedelta(days=30), actor="gp",
            client_id=self.key(),
        )  # fmt: skip
        if call_id is not None and self.attempt("approve_call", self.funds.approve_call, call_id, approver="reviewer"):
            self.calls.append(call_id)

    @precondition(lambda self: self.calls)
    @rule(data=st.data(), part=st.sampled_from([1, 1, 2, 3]))
    def pay(self, data, part: int) -> None:  # noqa: ANN001
        """Pay what an investor still owes on a call, or a part of it (the last fen of a part may be refused)."""
        call_id = data.draw(st.sampled_from(self.calls))
        with self.engine.connect() as c:
            owed = dict(
                c.execute(
                    text(f"SELECT investor_code, amount_fen - paid_fen FROM funds_call_items WHERE call_id = {call_id}")
                ).all()
            )
        paid_on = self.tick(1)
        for investor in data.draw(st.lists(st.sampled_from(sorted(owed)), min_size=1, unique=True)):
            self.attempt(
                "pay_call", self.funds.pay_call, call_id, investor, format_fen(max(1, owed[investor] // part)),
                paid_on, actor="gp", client_id=self.key(),
            )  # fmt: skip

    @rule(wan=st.integers(50, 1000), stage=st.sampled_from(["seed", "start_up", "growth"]))
    def invest(self, wan: int, stage: str) -> None:
        investment = self.attempt(
            "invest", self.funds.invest, SF, f"ENT-{len(self.investments)}", f"{wan}万", self.tick(3),
            stage=stage, is_local=wan % 2 == 0, sector="ai", hard_tech=stage != "growth", actor="gp",
            client_id=self.key(),
        )  # fmt: skip
        if investment is not None:
            self.investments.append(investment)

    @precondition(lambda self: self.investments)
    @rule(data=st.data(), cost_wan=st.integers(10, 1000), proceeds_wan=st.integers(0, 2000))
    def exit(self, data, cost_wan: int, proceeds_wan: int) -> None:  # noqa: ANN001
        self.attempt(
            "exit_investment", self.funds.exit_investment, data.draw(st.sampled_from(self.investments)),
            f"{cost_wan}万", f"{proceeds_wan}万", self.tick(5), actor="gp", client_id=self.key(),
        )  # fmt: skip

    @rule(days=st.integers(10, 200))
    def fees(self, days: int) -> None:
        self.attempt("accrue_fees", self.funds.accrue_fees, SF, self.tick(days), actor="gp")

    @rule(capital_wan=st.integers(0, 500), income_wan=st.integers(0, 500), recallable=st.booleans())
    def distribute(self, capital_wan: int, income_wan: int, recallable: bool) -> None:
        distribution = self.attempt(
            "record_distribution", self.funds.record_distribution, SF, self.tick(2), f"{capital_wan}万",
            f"{income_wan}万", recallable=recallable, actor="gp", client_id=self.key(),
        )  # fmt: skip
        if distribution is not None:
            self.attempt("approve_distribution", self.funds.approve_distribution, distribution, approver="reviewer")

    # ----- risk pool -------------------------------------------------------------------------------------

    @rule(funder=st.sampled_from([code for code, _, _ in FUNDERS]), wan=st.integers(10, 300))
    def fund_pool(self, funder: str, wan: int) -> None:
        self.attempt(
            "contribute", self.pools.contribute, POOL, funder, f"{wan}万", self.tick(1), actor="clerk",
            approver="chief", client_id=self.key(),
        )  # fmt: skip

    @rule(bank=st.sampled_from(BANKS), firm=st.sampled_from(FIRMS), wan=st.integers(50, 1500))
    def file_loan(self, bank: str, firm: str, wan: int) -> None:
        disbursed = self.tick(1)
        loan = self.attempt(
            "file_loan", self.pools.file_loan, POOL, bank, firm, f"L{self.keys}", f"{wan}万", disbursed, 12,
            disbursed + timedelta(days=10), actor="banker", client_id=self.key(),
        )  # fmt: skip
        if loan is not None:
            self.pools.set_loan_status(loan, "overdue", actor="banker")
            self.pools.set_loan_status(loan, "defaulted", actor="banker")
            self.loans.append(loan)

    @precondition(lambda self: self.loans)
    @rule(data=st.data(), percent=st.integers(10, 100))
    def claim(self, data, percent: int) -> None:  # noqa: ANN001
        loan = data.draw(st.sampled_from(self.loans))
        with self.engine.connect() as c:
            principal = c.execute(text(f"SELECT principal_fen FROM funds_loans WHERE id = {int(loan)}")).scalar()
        claim = self.attempt(
            "submit_claim", self.pools.submit_claim, loan, format_fen(principal * percent // 100), self.tick(2),
            actor="banker", client_id=self.key(),
        )  # fmt: skip
        if claim is not None and self.attempt(
            "approve_claim", self.pools.approve_claim, claim, approver="auditor", paid_on=self.day
        ):
            self.claims.append(claim)

    @rule()
    def settle(self) -> None:
        self.attempt(
            "settle_outstanding", self.pools.settle_outstanding, POOL, self.tick(3), actor="clerk",
            approver="auditor", client_id=self.key(),
        )  # fmt: skip

    @precondition(lambda self: self.claims)
    @rule(data=st.data(), gross_wan=st.integers(1, 300), costs_wan=st.integers(0, 20))
    def recover(self, data, gross_wan: int, costs_wan: int) -> None:  # noqa: ANN001
        self.attempt(
            "record_recovery", self.pools.record_recovery, data.draw(st.sampled_from(self.claims)), f"{gross_wan}万",
            f"{costs_wan}万", self.tick(4), actor="banker", client_id=self.key(),
        )  # fmt: skip

    # ----- retries ---------------------------------------------------------------------------------------

    @precondition(lambda self: self.done)
    @rule(data=st.data())
    def retry(self, data) -> None:  # noqa: ANN001
        label, call, args, kwargs, first = data.draw(st.sampled_from(self.done))
        before = self.state()
        assert call(*args, **kwargs) == first, f"retried {label} returned another result"
        assert self.state() == before, f"retried {label} changed state"

    # ----- invariants ------------------------------------------------------------------------------------

    @invariant()
    def books_balance_and_cache_equals_postings(self) -> None:
        assert reconcile(self.engine) == []

    @invariant()
    def sub_ledgers_equal_control_accounts(self) -> None:
        assert reconcile_controls(self.engine) == []

    @invariant()
    def no_constrained_account_overdrawn(self) -> None:
        for account in self.ledger.accounts():
            if account.credits_must_not_exceed_debits:
                assert account.credits_posted + account.credits_pending <= account.debits_posted, account
            if account.debits_must_not_exceed_credits:
                assert account.debits_posted + account.debits_pending <= account.credits_posted, account

    @invariant()
    def no_stop_cap_exceeded(self) -> None:
        with self.engine.connect() as c:
            committed, guidance = c.execute(
                text(
                    "SELECT COALESCE(SUM(amount_fen), 0), COALESCE(SUM(CASE WHEN is_guidance THEN amount_fen END), 0) "
                    "FROM funds_commitments WHERE status = 'approved'"
                )
            ).one()
            assert committed <= SIZE_FEN
            assert guidance * 10 <= SIZE_FEN * 3  # guidance share ≤ 30% (stop)
            filed: dict[tuple[str, int], int] = {}
            for enterprise, disbursed_on, covered_fen in c.execute(
                text("SELECT enterprise_code, disbursed_on, covered_fen FROM funds_loans WHERE status <> 'revoked'")
            ):
                year = date.fromisoformat(str(disbursed_on)).year
                filed[(enterprise, year)] = filed.get((enterprise, year), 0) + covered_fen
            assert all(fen <= 2000 * WAN for fen in filed.values()), filed  # annual filed-loans cap (stop)
            for (entitled,) in c.execute(
                text(
                    "SELECT SUM(entitled_fen) FROM funds_claims WHERE status IN ('approved', 'paid') "
                    "GROUP BY bank_code, program_year"
                )
            ):
                assert entitled <= BANK_ANNUAL_CAP_FEN
            for (entitled,) in c.execute(
                text(
                    "SELECT SUM(entitled_fen) FROM funds_claims WHERE status IN ('approved', 'paid') "
                    "GROUP BY enterprise_code"
                )
            ):
                assert entitled <= ENTERPRISE_CUMULATIVE_CAP_FEN
            paid_beyond = c.execute(
                text("SELECT COUNT(*) FROM funds_call_items WHERE paid_fen > amount_fen OR paid_fen < 0")
            ).scalar()
            assert paid_beyond == 0


def test_funds_state_machine(engine_factory):
    FundsMachine.make_engine = staticmethod(engine_factory)
    run_state_machine_as_test(
        FundsMachine,
        settings=settings(
            max_examples=DEEP_EXAMPLES if DEEP else NORMAL_EXAMPLES,
            stateful_step_count=DEEP_STEPS if DEEP else NORMAL_STEPS,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
