"""A stateful property test of the voucher package on SQLite and PostgreSQL, across three regions.

Hypothesis interleaves grants (submitted and approved), reservations (local, 通兑 and 通用, at a provider of any of
the three regions), claims, cancellations, quota expiry, provider payment batches, 通用 reimbursements and
settlements of region pairs, and RETRIES an earlier call with its own key. After every step, the pieces of
``jobs.audit.audit_all``: every book balances and cached balances equal postings, the hash chain is intact, and
``vouchers.controls`` (with its settlement, reimbursement and dual-basis checks) is clean; then no stop cap is
exceeded and no account with an overdraft flag is overdrawn. A retry returns the first result and changes nothing;
a refused call changes nothing.

Bounded for the normal suite (``NORMAL_*``); ``FUNDLEDGER_DEEP=1`` runs ``DEEP_*`` examples and steps.
"""

from __future__ import annotations

import os
from datetime import date

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test
from sqlalchemy import func, select

from ledger.chain import seal, verify_chain
from ledger.engine import T_POSTINGS, T_TRANSACTIONS, Ledger
from ledger.errors import LedgerError
from ledger.money import format_fen
from ledger.queries import reconcile
from tests.vouchers.conftest import HANGZHOU, SHANGHAI, START, SUZHOU, balances, build_scheme
from vouchers.controls import reconcile_controls
from vouchers.expiry import run_expiry
from vouchers.grants import grant_approve_in_one
from vouchers.models import SQLModel, VoucherGrant, VoucherRedemption
from vouchers.payments import approve_batch, pay_reimbursement, prepare_batch, quarter
from vouchers.programs import load_program
from vouchers.redemptions import cancel, claim, reserve
from vouchers.settlement import settle

DEEP = os.environ.get("FUNDLEDGER_DEEP") == "1"
NORMAL_EXAMPLES, NORMAL_STEPS = 3, 15
DEEP_EXAMPLES, DEEP_STEPS = 60, 50

REGIONS = (SHANGHAI, SUZHOU, HANGZHOU)
RESERVED_ON, CLAIMED_ON, CANCELLED_ON = date(2026, 2, 1), date(2026, 3, 1), date(2026, 2, 10)
PAY_DAY = date(2026, 4, 20)
OPENING_QUOTA = "6万"  # of the conftest programs' 10万 annual cap per enterprise
EXPIRY_AFTER_CALLS = 8  # expiry ends the use of quota: let a run redeem a little first
EXPIRY_DAYS = (date(2026, 7, 1), date(2026, 10, 1))  # after use-by (quota returns); after redeem-by (voids too)
Q1 = {key: value for key, value in quarter("2026-Q1").items() if key != "period_label"}
VOUCHER_TABLES = sorted(name for name in SQLModel.metadata.tables if name.startswith("vouchers_"))
T_REDEMPTIONS, T_GRANTS = VoucherRedemption.__table__, VoucherGrant.__table__

regions = st.sampled_from(REGIONS)


class VouchersMachine(RuleBasedStateMachine):
    make_engine = None  # set by the test: the backend's engine factory

    def __init__(self) -> None:
        super().__init__()
        self.engine = type(self).make_engine()
        self.ledger = Ledger(self.engine)
        self.scheme = build_scheme(self.ledger)
        for region in REGIONS:  # a first quota each, so that redemptions have something to draw on from step one
            self.scheme.grant(region, OPENING_QUOTA, client_id=f"opening-{region}")
        with self.engine.connect() as conn:
            self.configs = [load_program(conn, self.scheme.programs[region]) for region in REGIONS]
        self.keys = 0
        self.done: list[tuple] = []  # (call, compared part of its result, that part): retried later
        self.reserved: list[int] = []
        self.tongyong_claimed: list[int] = []
        self.unpaid_regions: set[str] = set()  # regions owing providers for claims not yet in a batch
        self.unsettled_pairs: set[tuple[str, str]] = set()  # region pairs with cross-region claims not yet settled

    def teardown(self) -> None:
        self.engine.dispose()

    def _state(self):
        tables = [SQLModel.metadata.tables[name] for name in VOUCHER_TABLES] + [T_TRANSACTIONS, T_POSTINGS]
        counts = select(*(select(func.count()).select_from(table).scalar_subquery() for table in tables))
        with self.engine.connect() as conn:
            return balances(self.ledger), tuple(conn.execute(counts).one())

    def _call(self, call, compared=lambda result: result):
        """Run a call; a refusal must leave everything as it was. Remember an accepted call to retry it."""
        before = self._state()
        try:
            result = call()
        except LedgerError:
            assert self._state() == before
            return None
        self.done.append((call, compared, compared(result)))
        return result

    def _key(self) -> int:
        self.keys += 1
        return self.keys

    @rule(region=regions, fen=st.integers(min_value=1, max_value=60_000).map(lambda yuan: yuan * 100))
    def grant(self, region, fen):
        key = self._key()
        self._call(
            lambda: grant_approve_in_one(
                self.ledger,
                self.scheme.programs[region],
                self.scheme.enterprises[region],
                format_fen(fen),
                maker="clerk",
                checker="director",
                on=START,
                client_id=f"grant-{key}",
            )
        )

    @rule(
        home=regions,
        away=regions,
        mode=st.sampled_from(("tongdui", "tongyong")),
        fen=st.integers(min_value=1, max_value=120_000).map(lambda yuan: yuan * 100),
        then_claim=st.booleans(),
        multiple=st.integers(min_value=1, max_value=3),
    )
    def reserve(self, home, away, mode, fen, then_claim, multiple):
        contract_no = f"C-{self._key()}"
        result = self._call(
            lambda: reserve(
                self.ledger,
                self.scheme.programs[home],
                enterprise=self.scheme.enterprises[home],
                provider=self.scheme.providers[away],
                category="testing",
                contract_no=contract_no,
                contract_amount=format_fen(fen),
                on=RESERVED_ON,
                actor="enterprise-user",
                mode=mode,
            ),
            compared=lambda row: (row["id"], row["mode"], row["contract_fen"], row["reserved_fen"]),
        )
        if result is None:
            return
        if then_claim:
            self._claim(result["id"], multiple)
        else:
            self.reserved.append(result["id"])

    @precondition(lambda self: self.reserved)
    @rule(data=st.data(), multiple=st.integers(min_value=1, max_value=3))
    def claim(self, data, multiple):
        self._claim(self.reserved.pop(data.draw(st.integers(0, len(self.reserved) - 1))), multiple)

    def _claim(self, redemption_id: int, multiple: int) -> None:
        with self.engine.connect() as conn:
            reserved_fen = conn.execute(
                select(T_REDEMPTIONS.c.reserved_fen).where(T_REDEMPTIONS.c.id == redemption_id)
            ).scalar_one()
        invoice = f"INV-{self._key()}"
        result = self._call(
            lambda: claim(
                self.ledger,
                redemption_id,
                invoice_no=invoice,
                invoiced_amount=format_fen(reserved_fen * multiple),
                on=CLAIMED_ON,
                actor="provider-user",
                verifier="officer",
            ),
            # settlement and reimbursement later stamp the row: the claim itself is what must not change
            compared=lambda row: (row["id"], row["status"], row["invoice_no"], row["claimed_fen"]),
        )
        if result is None:
            return
        if result["mode"] == "tongyong":
            self.tongyong_claimed.append(redemption_id)
        else:
            self.unpaid_regions.add(result["provider_region"])
        if result["mode"] != "local":
            self.unsettled_pairs.add(tuple(sorted((result["enterprise_region"], result["provider_region"]))))

    @precondition(lambda self: self.reserved)
    @rule(data=st.data())
    def cancel(self, data):
        redemption_id = self.reserved.pop(data.draw(st.integers(0, len(self.reserved) - 1)))
        self._call(
            lambda: cancel(self.ledger, redemption_id, actor="enterprise-user", reason="withdrawn", on=CANCELLED_ON),
            compared=lambda row: (row["id"], row["status"]),
        )

    @precondition(lambda self: len(self.done) >= EXPIRY_AFTER_CALLS)
    @rule(region=regions, as_of=st.sampled_from(EXPIRY_DAYS))
    def expire(self, region, as_of):
        self._call(
            lambda: run_expiry(self.ledger, self.scheme.programs[region], as_of=as_of),
            # a retry voids nothing more (nothing is left to void); the quotas it returned are the first run's
            compared=lambda result: (result.quotas_returned, result.returned_fen),
        )

    @precondition(lambda self: self.unpaid_regions)
    @rule(data=st.data())
    def pay_providers(self, data):
        region = data.draw(st.sampled_from(sorted(self.unpaid_regions)))
        self.unpaid_regions.discard(region)
        label = f"2026-Q1-{self._key()}"

        def prepare_and_approve():
            batch = prepare_batch(self.ledger, region, period_label=label, maker="payout-clerk", on=PAY_DAY, **Q1)
            return approve_batch(self.ledger, batch["id"], checker="director", approval_doc=label, on=PAY_DAY)

        self._call(prepare_and_approve, compared=lambda batch: (batch["id"], batch["status"], batch["total_fen"]))

    @precondition(lambda self: self.tongyong_claimed)
    @rule(data=st.data())
    def reimburse(self, data):
        redemption_id = self.tongyong_claimed.pop(data.draw(st.integers(0, len(self.tongyong_claimed) - 1)))
        self._call(
            lambda: pay_reimbursement(
                self.ledger, redemption_id, maker="payout-clerk", checker="director", approval_doc="TY", on=PAY_DAY
            ),
            compared=lambda row: (row["id"], row["reimbursed_on"], row["reimbursed_by"]),
        )

    @precondition(lambda self: self.unsettled_pairs)
    @rule(data=st.data())
    def settle(self, data):
        pair = data.draw(st.sampled_from(sorted(self.unsettled_pairs)))
        self.unsettled_pairs.discard(pair)
        label = f"S-{self._key()}"
        self._call(
            lambda: settle(
                self.ledger,
                *pair,
                period_label=label,
                on=PAY_DAY,
                actor="settlement-clerk",
                approver="director",
                **Q1,
            )
        )

    @precondition(lambda self: self.done)
    @rule(data=st.data())
    def retry(self, data):
        call, compared, first = self.done[data.draw(st.integers(0, len(self.done) - 1))]
        before = self._state()
        assert compared(call()) == first
        assert self._state() == before

    @invariant()
    def books_chain_and_controls_reconcile(self):
        """The pieces of ``jobs.audit.audit_all``: the core's reconciliation, the chain checked row by row (its
        definition: the bulk check opens an ADBC connection per call, which costs more than a whole step on a
        journal this small) and the vouchers control accounts (the other domains' tables stay empty here)."""
        seal(self.engine)
        assert reconcile(self.engine) == []
        assert verify_chain(self.engine, bulk=False).intact
        assert reconcile_controls(self.engine) == []

    @invariant()
    def no_stop_cap_is_exceeded(self):
        with self.engine.connect() as conn:
            for config in self.configs:
                granted = conn.execute(
                    select(T_GRANTS.c.enterprise_code, func.sum(T_GRANTS.c.granted_fen))
                    .where(T_GRANTS.c.program_code == config.code, T_GRANTS.c.status == "approved")
                    .group_by(T_GRANTS.c.enterprise_code)
                ).all()
                assert all(total <= config.enterprise_annual_cap_fen for _, total in granted)
                assert sum(total for _, total in granted) <= config.budget_fen
                largest_reservation = conn.execute(
                    select(func.max(T_REDEMPTIONS.c.reserved_fen)).where(T_REDEMPTIONS.c.program_code == config.code)
                ).scalar_one()
                assert (largest_reservation or 0) <= config.per_application_fen

    @invariant()
    def no_constrained_account_is_overdrawn(self):
        for account in self.ledger.accounts():
            if account.debits_must_not_exceed_credits:
                assert account.debits_posted + account.debits_pending <= account.credits_posted, account.path
            if account.credits_must_not_exceed_debits:
                assert account.credits_posted + account.credits_pending <= account.debits_posted, account.path


def test_vouchers_state_machine(engine_factory):
    VouchersMachine.make_engine = staticmethod(engine_factory)
    examples, steps = (DEEP_EXAMPLES, DEEP_STEPS) if DEEP else (NORMAL_EXAMPLES, NORMAL_STEPS)
    run_state_machine_as_test(
        VouchersMachine,
        settings=settings(
            max_examples=examples,
            stateful_step_count=steps,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        ),
    )
