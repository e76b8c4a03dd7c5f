"""Property tests: a stateful machine interleaves postings, pending/post/void/expiry, reversals, replays and
linked pairs against a simple model, through both ways in (``Ledger.submit`` on a pooled connection and
``Ledger.post``, the API's path on the thread's own connection), and after every step checks conservation,
cached balances = postings, and that no constrained account is overdrawn. Runs on SQLite and PostgreSQL."""

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from ledger.chain import seal, verify_chain
from ledger.engine import EventResult, Ledger, posting_specs
from ledger.entries import PostPendingRequest, ReversalRequest, TransactionRequest, VoidPendingRequest
from ledger.errors import LedgerError, ResultCode
from ledger.queries import reconcile, trial_balance

BOOK = "prop"
# (path, flags): Bank and Quota may never go below zero on their normal side.
ACCOUNTS = {
    "Assets:Bank": {"credits_must_not_exceed_debits": True},
    "NetAssets:Appropriations": {},
    "Expenses:Grants": {},
    "Liabilities:Payables": {"debits_must_not_exceed_credits": True},
}
NAMES = list(ACCOUNTS)
amounts = st.integers(min_value=1, max_value=50_000).map(lambda fen: f"{fen // 100}.{fen % 100:02d}")
START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


class LedgerMachine(RuleBasedStateMachine):
    make_engine = None  # set by the test: a callable returning an empty, migrated engine

    def __init__(self):
        super().__init__()
        self.now = START
        self.ledger = Ledger(type(self).make_engine(), clock=lambda: self.now)
        self.ledger.create_book(BOOK, "property book", "financial")
        for path, flags in ACCOUNTS.items():
            self.ledger.create_account(BOOK, path, **flags)
        self.posted = {name: 0 for name in NAMES}  # debit-positive posted balance per account
        self.pending = {}  # client id -> (debit, credit, fen, expires_at)
        self.reservations = {name: [0, 0] for name in NAMES}  # pending debits, pending credits
        self.reversible = {}  # client id -> (debit, credit, fen)
        self.sent = []  # (requests of one batch, their transaction ids) for replays
        self.counter = 0

    def _key(self) -> str:
        self.counter += 1
        return f"k{self.counter}"

    def _would_overdraw(self, deltas: dict[str, int], releases: dict[str, tuple[int, int]] | None = None) -> bool:
        for name, flags in ACCOUNTS.items():
            debits_pending, credits_pending = self.reservations[name]
            if releases and name in releases:
                debits_pending -= releases[name][0]
                credits_pending -= releases[name][1]
            balance = self.posted[name] + deltas.get(name, 0)
            if flags.get("credits_must_not_exceed_debits") and balance - credits_pending < 0:
                return True
            if flags.get("debits_must_not_exceed_credits") and balance + debits_pending > 0:
                return True
        return False

    def _submit(self, request, *, via_post: bool = False):
        """One request through ``submit`` or, with ``via_post``, through ``Ledger.post`` (which raises its
        refusal as a LedgerError; the code is what the model checks either way)."""
        if via_post:
            try:
                result = self.ledger.post(request)
            except LedgerError as error:
                result = EventResult(0, error.code, message=error.message)
        else:
            result = self.ledger.submit([request])[0]
        if result.ok:
            self.sent.append(([request], [result.transaction_id]))
        return result

    @initialize()
    def appropriate(self):
        result = self._submit(
            TransactionRequest(
                "seed",
                posting_specs(BOOK, [("Assets:Bank", "300.00"), ("NetAssets:Appropriations", "-300.00")]),
                date(2026, 3, 1),
            )
        )
        assert result.code == ResultCode.OK
        self.posted["Assets:Bank"] += 30_000
        self.posted["NetAssets:Appropriations"] -= 30_000

    @rule(
        debit=st.sampled_from(NAMES),
        credit=st.sampled_from(NAMES),
        amount=amounts,
        pending=st.booleans(),
        expires_in=st.one_of(st.none(), st.integers(min_value=1, max_value=120)),
        via_post=st.booleans(),
    )
    def transfer(self, debit, credit, amount, pending, expires_in, via_post):
        if debit == credit:
            return
        fen = int(amount.replace(".", ""))
        key = self._key()
        expires_at = self.now + timedelta(minutes=expires_in) if pending and expires_in else None
        request = TransactionRequest(
            key,
            posting_specs(BOOK, [(debit, amount), (credit, f"-{amount}")]),
            date(2026, 3, 2),
            pending=pending,
            expires_at=expires_at,
        )
        if pending:
            self.reservations[debit][0] += fen
            self.reservations[credit][1] += fen
            expected_refusal = self._would_overdraw({})
            self.reservations[debit][0] -= fen
            self.reservations[credit][1] -= fen
        else:
            expected_refusal = self._would_overdraw({debit: fen, credit: -fen})
        result = self._submit(request, via_post=via_post)
        if expected_refusal:
            assert result.code in (ResultCode.DEBITS_EXCEED_CREDITS, ResultCode.CREDITS_EXCEED_DEBITS), result
            return
        assert result.code == ResultCode.OK, result
        if pending:
            self.reservations[debit][0] += fen
            self.reservations[credit][1] += fen
            self.pending[key] = (debit, credit, fen, expires_at)
        else:
            self.posted[debit] += fen
            self.posted[credit] -= fen
            self.reversible[key] = (debit, credit, fen)

    @rule(
        first=st.tuples(st.sampled_from(NAMES), st.sampled_from(NAMES), amounts),
        second=st.tuples(st.sampled_from(NAMES), st.sampled_from(NAMES), amounts),
    )
    def linked_pair(self, first, second):
        """Two transfers linked in one batch: both are recorded, or neither (the one that would overdraw
        says why, the other ``linked_event_failed``); the second sees the first's effect."""
        if first[0] == first[1] or second[0] == second[1]:
            return
        legs = [(debit, credit, int(amount.replace(".", "")), amount) for debit, credit, amount in (first, second)]
        requests = [
            TransactionRequest(
                self._key(),
                posting_specs(BOOK, [(debit, amount), (credit, f"-{amount}")]),
                date(2026, 3, 2),
                linked=index == 0,
            )
            for index, (debit, credit, _fen, amount) in enumerate(legs)
        ]
        deltas: dict[str, int] = {}
        failing = None
        for index, (debit, credit, fen, _amount) in enumerate(legs):
            deltas[debit] = deltas.get(debit, 0) + fen
            deltas[credit] = deltas.get(credit, 0) - fen
            if self._would_overdraw(deltas):
                failing = index
                break
        results = self.ledger.submit(requests)
        if failing is None:
            assert [result.code for result in results] == [ResultCode.OK, ResultCode.OK], results
            for (debit, credit, fen, _amount), request in zip(legs, requests):
                self.posted[debit] += fen
                self.posted[credit] -= fen
                self.reversible[request.client_id] = (debit, credit, fen)
            # Replayed as the batch it was: a linked request alone would leave its chain open.
            self.sent.append((requests, [result.transaction_id for result in results]))
            return
        overdrawn = (ResultCode.DEBITS_EXCEED_CREDITS, ResultCode.CREDITS_EXCEED_DEBITS)
        assert results[failing].code in overdrawn, results
        assert results[1 - failing].code == ResultCode.LINKED_EVENT_FAILED, results

    @rule(data=st.data(), share=st.integers(min_value=1, max_value=100))
    def post_pending(self, data, share):
        if not self.pending:
            return
        key = data.draw(st.sampled_from(sorted(self.pending)))
        debit, credit, fen, expires_at = self.pending[key]
        amount_fen = max(1, fen * share // 100)
        result = self._submit(
            PostPendingRequest(self._key(), ("api", key), amount=f"{amount_fen // 100}.{amount_fen % 100:02d}")
        )
        if expires_at is not None and expires_at <= self.now:
            assert result.code == ResultCode.PENDING_EXPIRED
            return
        assert result.code == ResultCode.OK, result
        del self.pending[key]
        self.reservations[debit][0] -= fen
        self.reservations[credit][1] -= fen
        self.posted[debit] += amount_fen
        self.posted[credit] -= amount_fen

    @rule(data=st.data())
    def void_pending(self, data):
        if not self.pending:
            return
        key = data.draw(st.sampled_from(sorted(self.pending)))
        debit, credit, fen, _expires_at = self.pending.pop(key)
        result = self._submit(VoidPendingRequest(self._key(), ("api", key), reason="cancelled"))
        assert result.code == ResultCode.OK, result
        self.reservations[debit][0] -= fen
        self.reservations[credit][1] -= fen

    @rule(minutes=st.integers(min_value=1, max_value=90))
    def time_passes_and_expiry_runs(self, minutes):
        self.now += timedelta(minutes=minutes)
        self.ledger.expire_pending(now=self.now)
        for key, (debit, credit, fen, expires_at) in list(self.pending.items()):
            if expires_at is not None and expires_at <= self.now:
                del self.pending[key]
                self.reservations[debit][0] -= fen
                self.reservations[credit][1] -= fen

    @rule(data=st.data())
    def reverse(self, data):
        if not self.reversible:
            return
        key = data.draw(st.sampled_from(sorted(self.reversible)))
        debit, credit, fen = self.reversible[key]
        expected_refusal = self._would_overdraw({debit: -fen, credit: fen})
        result = self._submit(
            ReversalRequest(self._key(), ("api", key), reason="correction", effective_date=date(2026, 3, 3))
        )
        if expected_refusal:
            assert result.code in (ResultCode.DEBITS_EXCEED_CREDITS, ResultCode.CREDITS_EXCEED_DEBITS), result
            return
        assert result.code == ResultCode.OK, result
        del self.reversible[key]
        self.posted[debit] -= fen
        self.posted[credit] += fen

    @rule(data=st.data())
    def replay(self, data):
        if not self.sent:
            return
        requests, transaction_ids = data.draw(st.sampled_from(self.sent))
        results = self.ledger.submit(requests)
        assert [(result.code, result.transaction_id) for result in results] == [
            (ResultCode.EXISTS, transaction_id) for transaction_id in transaction_ids
        ]

    @invariant()
    def cached_balances_equal_postings_and_books_balance(self):
        assert reconcile(self.ledger.engine) == []

    @invariant()
    def ledger_agrees_with_the_model_and_nothing_is_overdrawn(self):
        for name, flags in ACCOUNTS.items():
            info = self.ledger.account(BOOK, name)
            assert info.balance_fen == self.posted[name]
            assert [info.debits_pending, info.credits_pending] == self.reservations[name]
            if flags.get("credits_must_not_exceed_debits"):
                assert info.credits_posted + info.credits_pending <= info.debits_posted
            if flags.get("debits_must_not_exceed_credits"):
                assert info.debits_posted + info.debits_pending <= info.credits_posted
        rows = trial_balance(self.ledger, book=BOOK)
        assert sum(row.debit_fen for row in rows) == sum(row.credit_fen for row in rows)

    def teardown(self):
        self.ledger.close()
        seal(self.ledger.engine)
        report = verify_chain(self.ledger.engine)
        # Each example has an engine of its own: release its pool now, not when the test ends (hundreds of
        # examples would hold more connections than a PostgreSQL server admits).
        self.ledger.engine.dispose()
        assert report.intact and report.unsealed == 0


@pytest.fixture
def fresh_engines(backend, request, tmp_path):
    """A factory of empty, migrated engines of the current backend (one per hypothesis example)."""
    engines = []

    def make():
        engine_factory = request.getfixturevalue("engine_factory")
        engine = engine_factory()
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.dispose()


def test_the_ledger_keeps_its_invariants_under_any_interleaving(fresh_engines):
    LedgerMachine.make_engine = staticmethod(fresh_engines)
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=25, stateful_step_count=20, deadline=None, suppress_health_check=list(HealthCheck)
        ),
    )
