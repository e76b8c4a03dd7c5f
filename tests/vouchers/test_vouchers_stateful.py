"""A stateful property test of the voucher package on SQLite and PostgreSQL.

Hypothesis interleaves grants (submitted and approved), reservations, claims and cancellations, and RETRIES an
earlier call with its own key. After every step: every book balances and cached balances equal postings
(``ledger.queries.reconcile``), ``vouchers.controls`` finds nothing; a retry returned the first result and
changed nothing; a refused call changed nothing."""

from __future__ import annotations

from datetime import date

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test
from sqlalchemy import func, select

from ledger.engine import T_POSTINGS, T_TRANSACTIONS, Ledger
from ledger.errors import LedgerError
from ledger.money import format_fen
from ledger.queries import reconcile
from tests.vouchers.conftest import SHANGHAI, START, balances, build_scheme
from vouchers.controls import reconcile_controls
from vouchers.grants import grant_approve_in_one
from vouchers.models import VoucherEvent, VoucherGrant, VoucherRedemption
from vouchers.redemptions import cancel, claim, reserve

TABLES = (VoucherGrant.__table__, VoucherRedemption.__table__, VoucherEvent.__table__, T_TRANSACTIONS, T_POSTINGS)


class VouchersMachine(RuleBasedStateMachine):
    make_engine = None  # set by the test: the backend's engine factory

    def __init__(self) -> None:
        super().__init__()
        self.engine = type(self).make_engine()
        self.ledger = Ledger(self.engine)
        self.scheme = build_scheme(self.ledger, regions=(SHANGHAI,))
        self.keys = 0
        self.done: list[tuple] = []  # (call, compared part of its result): retried later with the same key
        self.reserved: list[int] = []

    def teardown(self) -> None:
        self.engine.dispose()

    def _state(self):
        with self.engine.connect() as conn:
            counts = [conn.execute(select(func.count()).select_from(table)).scalar_one() for table in TABLES]
        return balances(self.ledger), counts

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

    @rule(fen=st.integers(min_value=1, max_value=60_000).map(lambda yuan: yuan * 100))
    def grant(self, fen):
        key = self._key()
        self._call(
            lambda: grant_approve_in_one(
                self.ledger,
                self.scheme.programs[SHANGHAI],
                self.scheme.enterprises[SHANGHAI],
                format_fen(fen),
                maker="clerk",
                checker="director",
                on=START,
                client_id=f"grant-{key}",
            )
        )

    @rule(fen=st.integers(min_value=1, max_value=80_000).map(lambda yuan: yuan * 100))
    def reserve(self, fen):
        contract_no = f"C-{self._key()}"
        result = self._call(
            lambda: reserve(
                self.ledger,
                self.scheme.programs[SHANGHAI],
                enterprise=self.scheme.enterprises[SHANGHAI],
                provider=self.scheme.providers[SHANGHAI],
                category="testing",
                contract_no=contract_no,
                contract_amount=format_fen(fen),
                on=date(2026, 2, 1),
                actor="enterprise-user",
            ),
            compared=lambda row: (row["id"], row["contract_fen"], row["reserved_fen"]),
        )
        if result is not None:
            self.reserved.append(result["id"])

    @precondition(lambda self: self.reserved)
    @rule(data=st.data(), multiple=st.integers(min_value=1, max_value=3))
    def claim(self, data, multiple):
        redemption_id = self.reserved.pop(data.draw(st.integers(0, len(self.reserved) - 1)))
        with self.engine.connect() as conn:
            reserved_fen = conn.execute(
                select(VoucherRedemption.__table__.c.reserved_fen).where(
                    VoucherRedemption.__table__.c.id == redemption_id
                )
            ).scalar_one()
        invoice = f"INV-{self._key()}"
        self._call(
            lambda: claim(
                self.ledger,
                redemption_id,
                invoice_no=invoice,
                invoiced_amount=format_fen(reserved_fen * multiple),
                on=date(2026, 3, 1),
                actor="provider-user",
                verifier="officer",
            )
        )

    @precondition(lambda self: self.reserved)
    @rule(data=st.data())
    def cancel(self, data):
        redemption_id = self.reserved.pop(data.draw(st.integers(0, len(self.reserved) - 1)))
        self._call(
            lambda: cancel(
                self.ledger, redemption_id, actor="enterprise-user", reason="withdrawn", on=date(2026, 2, 10)
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
    def books_and_controls_reconcile(self):
        assert reconcile(self.engine) == []
        assert reconcile_controls(self.engine) == []


def test_vouchers_state_machine(engine_factory):
    VouchersMachine.make_engine = staticmethod(engine_factory)
    run_state_machine_as_test(
        VouchersMachine,
        settings=settings(
            max_examples=5,
            stateful_step_count=15,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        ),
    )
