"""A stateful property test of the subsidy package on SQLite and PostgreSQL (issue 11).

Hypothesis interleaves applications, approvals (maker-checker: sometimes the maker tries to approve),
payments, clawback requests and approvals, and year-end sweeps, under caps whose enforcement (stop, clip,
warn) is drawn per example, and RETRIES earlier calls with their own keys. After every step: every book
balances and cached balances equal postings (ledger.queries.reconcile), subsidies.controls finds nothing,
no stop or clip cap is exceeded (institution per year, lifetime, awardees per year, program budget), no
constrained account is overdrawn. A retry returned the first result (or the first refusal) and changed
nothing; a refused call changed nothing.

Bounded for the normal suite (``NORMAL_*``, about 20 s per backend); ``FUNDLEDGER_DEEP=1`` runs
``DEEP_*`` examples and steps.
"""

from __future__ import annotations

import os
from collections import defaultdict

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
from sqlalchemy import func, select

from ledger.engine import T_ACCOUNTS, T_TRANSACTIONS, Ledger
from ledger.errors import LedgerError
from ledger.queries import reconcile
from subsidies import books
from subsidies.controls import reconcile_controls
from subsidies.models import GRANTS, SQLModel
from subsidies.service import ACTIVE_GRANT_STATUSES, REFUSAL_CODES, SubsidyService
from tests.subsidies.conftest import CHECKER, MAKER, cap, credit_code, install, program_text

DEEP = os.environ.get("FUNDLEDGER_DEEP") == "1"
NORMAL_EXAMPLES, NORMAL_STEPS = 6, 22
DEEP_EXAMPLES, DEEP_STEPS = 50, 50

WAN = 1_000_000  # fen in 1万元
YEARS = (2019, 2020)
INSTITUTIONS = 3
YEAR_CAP_WAN, LIFETIME_CAP_WAN, AWARDEES_PER_YEAR, BUDGET_WAN = 50, 80, 2, 120
CASHIER, AUDITOR = "cashier-zhao", "auditor-chen"
SUBSIDY_TABLES = sorted(name for name in SQLModel.metadata.tables if name.startswith("subsidies_"))
AMOUNT_CAPS = {"institution_year": YEAR_CAP_WAN * WAN, "lifetime": LIFETIME_CAP_WAN * WAN}


class SubsidiesMachine(RuleBasedStateMachine):
    make_engine = None  # set by the test: the backend's engine factory

    def __init__(self) -> None:
        super().__init__()
        self.engine = type(self).make_engine()
        self.ledger = Ledger(self.engine)
        self.service = SubsidyService(self.ledger)
        self.keys = 0
        self.done: list[tuple] = []  # (label, call, result): retried later with the same key
        self.applications: list[int] = []
        self.grants: list[int] = []
        self.clawbacks: list[int] = []

    def teardown(self) -> None:
        if os.environ.get("FUNDLEDGER_STATEFUL_STATS") == "1":
            print(sorted((label, result[0]) for label, _call, result in self.done))  # noqa: T201
        self.ledger.close()
        self.engine.dispose()

    # ----- helpers ---------------------------------------------------------------------------------------

    def _key(self, prefix: str) -> str:
        self.keys += 1
        return f"{prefix}-{self.keys}"

    def _state(self) -> tuple:
        """What no retry and no refusal may change: every account's totals and every subsidy table's rows."""
        with self.engine.connect() as conn:
            accounts = conn.execute(
                select(
                    T_ACCOUNTS.c.id,
                    T_ACCOUNTS.c.debits_posted,
                    T_ACCOUNTS.c.credits_posted,
                    T_ACCOUNTS.c.debits_pending,
                    T_ACCOUNTS.c.credits_pending,
                ).order_by(T_ACCOUNTS.c.id)
            ).all()
            transactions = conn.execute(select(func.count()).select_from(T_TRANSACTIONS)).scalar_one()
            rows = {
                name: conn.execute(select(func.count()).select_from(SQLModel.metadata.tables[name])).scalar_one()
                for name in SUBSIDY_TABLES
            }
        return tuple(tuple(row) for row in accounts), transactions, rows

    def _run(self, label: str, call, *, retryable_refusal: bool = True):  # noqa: ANN001 - a zero-argument call
        """Run a call; a refusal must change nothing. Successes and cap refusals are kept to be retried."""
        before = self._state()
        try:
            result = ("ok", call())
        except LedgerError as error:
            after = self._state()
            assert after[:2] == before[:2], (label, error.code)  # no balance moved, no transaction recorded
            if error.code not in REFUSAL_CODES:
                assert after == before, (label, error.code)
                return None
            result = ("refused", str(error.code))  # a cap refusal is recorded on the application, once
        if result[0] == "ok" or retryable_refusal:
            self.done.append((label, call, result))
        return result

    # ----- set-up ----------------------------------------------------------------------------------------

    @initialize(
        year_enforcement=st.sampled_from(["stop", "clip", "warn"]),
        lifetime_enforcement=st.sampled_from(["stop", "clip", "warn"]),
        awardee_enforcement=st.sampled_from(["stop", "warn"]),
        budget_enforcement=st.sampled_from(["stop", "clip", "warn"]),
        year_end=st.sampled_from(["carry_over", "recover"]),
    )
    def install(self, year_enforcement, lifetime_enforcement, awardee_enforcement, budget_enforcement, year_end):
        self.ledger.register_region("440100", "广州市")
        self.institutions = [
            self.ledger.register_institution(credit_code(n), f"Institution {n}", "university", region_code="440100")
            for n in range(1, INSTITUTIONS + 1)
        ]
        caps = (
            cap("institution_year", f"{YEAR_CAP_WAN}万", year_enforcement)
            + cap("lifetime", f"{LIFETIME_CAP_WAN}万", lifetime_enforcement)
            + cap("awardees_per_year", str(AWARDEES_PER_YEAR), awardee_enforcement)
        )
        self.program = install(
            self.service,
            program_text(
                "stateful",
                caps=caps,
                budget=f'"{BUDGET_WAN}万"',
                budget_enforcement=budget_enforcement,
                year_end=year_end,
                first_year=YEARS[0],
                last_year=YEARS[-1],
            ),
        )

    # ----- rules -----------------------------------------------------------------------------------------

    @rule(who=st.integers(0, INSTITUTIONS - 1), year=st.sampled_from(YEARS), wan=st.integers(1, 70))
    def submit(self, who, year, wan):
        key = self._key("application")
        institution = self.institutions[who]

        def call():
            return self.service.submit_application(
                self.program.code, institution, year, {"claim": f"{wan}万"}, actor=MAKER, client_id=key
            )

        outcome = self._run("submit", call)
        if outcome is not None and outcome[0] == "ok" and outcome[1] not in self.applications:
            self.applications.append(outcome[1])

    @precondition(lambda self: self.applications)
    @rule(pick=st.integers(0, 1_000), by_maker=st.sampled_from([False, False, False, True]))
    def approve(self, pick, by_maker):
        application = self.applications[pick % len(self.applications)]
        approver = MAKER if by_maker else CHECKER
        outcome = self._run("approve", lambda: self.service.approve(application, approver=approver))
        if outcome is not None and outcome[0] == "ok" and outcome[1].grant_id not in self.grants:
            self.grants.append(outcome[1].grant_id)

    @precondition(lambda self: self.grants)
    @rule(pick=st.integers(0, 1_000))
    def pay(self, pick):
        grant = self.grants[pick % len(self.grants)]
        self._run("pay", lambda: self.service.pay(grant, actor=CASHIER))

    @precondition(lambda self: self.grants)
    @rule(pick=st.integers(0, 1_000))
    def request_clawback(self, pick):
        grant, key = self.grants[pick % len(self.grants)], self._key("clawback")
        outcome = self._run(
            "request_clawback",
            lambda: self.service.request_clawback(grant, reason="申报材料不实", actor=AUDITOR, client_id=key),
        )
        if outcome is not None and outcome[0] == "ok" and outcome[1] not in self.clawbacks:
            self.clawbacks.append(outcome[1])

    @precondition(lambda self: self.clawbacks)
    @rule(pick=st.integers(0, 1_000))
    def approve_clawback(self, pick):
        clawback = self.clawbacks[pick % len(self.clawbacks)]
        self._run("approve_clawback", lambda: self.service.approve_clawback(clawback, approver=CHECKER))

    @precondition(lambda self: len(self.grants) >= 2)  # sweeping an untouched budget early tests little
    @rule(year=st.sampled_from(YEARS))
    def close_year(self, year):
        key = self._key("year-end")
        self._run(
            "close_year", lambda: self.service.close_year(self.program.code, year, actor="finance-admin", client_id=key)
        )

    @precondition(lambda self: self.done)
    @rule(pick=st.integers(0, 1_000))
    def retry(self, pick):
        """The same call with the same key: the first result again, and nothing changes."""
        label, call, first = self.done[pick % len(self.done)]
        before = self._state()
        try:
            again = ("ok", call())
        except LedgerError as error:
            again = ("refused", str(error.code))
        assert again == first, (label, first, again)
        assert self._state() == before, label

    # ----- invariants ------------------------------------------------------------------------------------

    @invariant()
    def books_balance_and_caches_equal_postings(self):
        assert reconcile(self.engine) == []

    @invariant()
    def sub_ledgers_equal_control_accounts(self):
        assert reconcile_controls(self.engine) == []

    @invariant()
    def no_stop_or_clip_cap_is_exceeded(self):
        program = getattr(self, "program", None)
        if program is None:
            return
        year_used, lifetime_used, awardees = defaultdict(int), defaultdict(int), defaultdict(set)
        with self.engine.connect() as conn:
            for row in conn.execute(
                select(
                    GRANTS.c.institution_code,
                    GRANTS.c.program_year,
                    GRANTS.c.amount_fen,
                )
                .where(GRANTS.c.program_code == program.code)
                .where(GRANTS.c.status.in_(ACTIVE_GRANT_STATUSES))
            ):
                year_used[(row[0], row[1])] += row[2]
                lifetime_used[row[0]] += row[2]
                awardees[row[1]].add(row[0])
            room = {year: self.service.budget_room(conn, program, year) for year in program.years}
        for kind, used in (("institution_year", year_used), ("lifetime", lifetime_used)):
            if program.cap(kind).enforcement != "warn":
                assert all(fen <= AMOUNT_CAPS[kind] for fen in used.values()), (kind, dict(used))
        if program.cap("awardees_per_year").enforcement != "warn":
            assert all(len(names) <= AWARDEES_PER_YEAR for names in awardees.values()), dict(awardees)
        if program.budget.enforcement != "warn":
            assert all(fen >= 0 for fen in room.values()), room

    @invariant()
    def no_constrained_account_is_overdrawn(self):
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    T_ACCOUNTS.c.path,
                    T_ACCOUNTS.c.debits_posted,
                    T_ACCOUNTS.c.credits_posted,
                    T_ACCOUNTS.c.debits_pending,
                    T_ACCOUNTS.c.credits_pending,
                    T_ACCOUNTS.c.credits_must_not_exceed_debits,
                    T_ACCOUNTS.c.debits_must_not_exceed_credits,
                )
            ).all()
        for path, debits, credits, debits_pending, credits_pending, credit_guard, debit_guard in rows:
            if credit_guard:
                assert credits + credits_pending <= debits, path
            if debit_guard:
                assert debits + debits_pending <= credits, path
        program = getattr(self, "program", None)
        if program is not None and program.budget.enforcement == "warn":
            # a budget governed by a warn rule carries no overdraft flag (DESIGN, Domain rules)
            flagged = {path for path, *_totals, credit_guard, _debit_guard in rows if credit_guard}
            assert not any(
                path.startswith(books.funds_available_account(program.code, YEARS[0])[:-5]) for path in flagged
            )


def test_subsidies_state_machine(engine_factory):
    SubsidiesMachine.make_engine = staticmethod(engine_factory)
    run_state_machine_as_test(
        SubsidiesMachine,
        settings=settings(
            max_examples=DEEP_EXAMPLES if DEEP else NORMAL_EXAMPLES,
            stateful_step_count=DEEP_STEPS if DEEP else NORMAL_STEPS,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
