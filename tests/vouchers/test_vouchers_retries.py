"""Retry safety of money-moving voucher calls: a retry of the same call (same key) changes nothing and returns
the same result."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from ledger.engine import T_POSTINGS, T_TRANSACTIONS
from ledger.errors import LedgerError
from tests.vouchers.conftest import SHANGHAI, START, balances, build_scheme
from vouchers.codes import VoucherCode
from vouchers.expiry import run_expiry
from vouchers.grants import approve_grant, submit_grant
from vouchers.models import VoucherEvent, VoucherGrant, VoucherRedemption
from vouchers.redemptions import cancel, claim, reserve


def test_retried_grant_approval_returns_the_stored_decision_and_posts_nothing(scheme):
    ledger = scheme.ledger
    grant_id = submit_grant(
        ledger,
        scheme.programs[SHANGHAI],
        scheme.enterprises[SHANGHAI],
        "3万",
        maker="clerk",
        on=START,
        client_id="retry-approval",
    )
    first = approve_grant(ledger, grant_id, checker="director", approval_doc="沪科〔2026〕1号", on=START)
    after_first = balances(ledger)
    assert approve_grant(ledger, grant_id, checker="director", approval_doc="沪科〔2026〕1号", on=START) == first
    assert balances(ledger) == after_first
    # another approval of an approved grant is still refused
    with pytest.raises(LedgerError) as refused:
        approve_grant(ledger, grant_id, checker="someone-else", approval_doc="other", on=START)
    assert refused.value.code == VoucherCode.GRANT_ALREADY_DECIDED
    assert balances(ledger) == after_first


def _row_counts(ledger) -> dict[str, int]:
    """Rows of every voucher table and of the ledger's transactions and postings: a retry adds none."""
    tables = [VoucherGrant.__table__, VoucherRedemption.__table__, VoucherEvent.__table__, T_TRANSACTIONS, T_POSTINGS]
    with ledger.engine.connect() as conn:
        return {table.name: conn.execute(select(func.count()).select_from(table)).scalar_one() for table in tables}


def _state(ledger):
    return balances(ledger), _row_counts(ledger)


def _submit(scheme, amount="3万", client_id="grant-key-1", **overrides):
    values = dict(maker="clerk", on=START, client_id=client_id)
    values.update(overrides)
    return submit_grant(scheme.ledger, scheme.programs[SHANGHAI], scheme.enterprises[SHANGHAI], amount, **values)


def test_retried_grant_submission_returns_the_same_grant_and_writes_nothing(scheme):
    grant_id = _submit(scheme)
    before = _state(scheme.ledger)
    assert _submit(scheme) == grant_id
    assert _state(scheme.ledger) == before
    for other in (dict(amount="4万"), dict(maker="other-clerk"), dict(on=date(2026, 1, 6))):
        with pytest.raises(LedgerError) as refused:
            _submit(scheme, **other)
        assert refused.value.code == VoucherCode.GRANT_CLIENT_ID_HAS_OTHER_CONTENT
        assert _state(scheme.ledger) == before
    # another key is another grant
    assert _submit(scheme, client_id="grant-key-2") != grant_id


def _reserve(scheme, contract_no="C-RETRY-1", amount="8000.00", **overrides):
    values = dict(
        enterprise=scheme.enterprises[SHANGHAI],
        provider=scheme.providers[SHANGHAI],
        category="testing",
        contract_no=contract_no,
        contract_amount=amount,
        on=date(2026, 2, 1),
        actor="enterprise-user",
    )
    values.update(overrides)
    return reserve(scheme.ledger, scheme.programs[SHANGHAI], **values)


def test_retried_reservation_returns_the_stored_reservation_and_posts_nothing(scheme):
    scheme.grant(SHANGHAI, "10万")
    first = _reserve(scheme)
    before = _state(scheme.ledger)
    assert _reserve(scheme) == first
    assert _state(scheme.ledger) == before
    for other in (dict(amount="9000.00"), dict(on=date(2026, 2, 2)), dict(category="rd_design")):
        with pytest.raises(LedgerError) as refused:
            _reserve(scheme, **other)
        assert refused.value.code == VoucherCode.CONTRACT_NUMBER_REDEEMS_ONCE
        assert _state(scheme.ledger) == before


def _claim(scheme, redemption_id, invoice_no="INV-RETRY-1", amount="8000.00", **overrides):
    values = dict(
        invoice_no=invoice_no, invoiced_amount=amount, on=date(2026, 3, 1), actor="provider-user", verifier="officer"
    )
    values.update(overrides)
    return claim(scheme.ledger, redemption_id, **values)


def test_retried_claim_returns_the_stored_outcome_and_posts_nothing(scheme):
    scheme.grant(SHANGHAI, "10万")
    redemption = _reserve(scheme)
    first = _claim(scheme, redemption["id"])
    before = _state(scheme.ledger)
    assert _claim(scheme, redemption["id"]) == first
    assert _state(scheme.ledger) == before
    others = (
        dict(invoice_no="INV-RETRY-2"),
        dict(amount="7000.00"),
        dict(on=date(2026, 3, 2)),
        dict(verifier="other-officer"),
        dict(requested_amount="1000.00"),
    )
    for other in others:
        with pytest.raises(LedgerError) as refused:
            _claim(scheme, redemption["id"], **other)
        assert refused.value.code == VoucherCode.REDEMPTION_CLAIMED_ONCE
        assert _state(scheme.ledger) == before


def _cancel(scheme, redemption_id, **overrides):
    values = dict(actor="enterprise-user", reason="contract withdrawn", on=date(2026, 2, 10))
    values.update(overrides)
    return cancel(scheme.ledger, redemption_id, **values)


def test_retried_cancellation_returns_the_stored_outcome_and_posts_nothing(scheme):
    scheme.grant(SHANGHAI, "10万")
    redemption = _reserve(scheme)
    first = _cancel(scheme, redemption["id"])
    assert first["status"] == "cancelled"
    before = _state(scheme.ledger)
    assert _cancel(scheme, redemption["id"]) == first
    assert _state(scheme.ledger) == before
    for other in (dict(reason="another reason"), dict(actor="someone-else"), dict(on=date(2026, 2, 11))):
        with pytest.raises(LedgerError) as refused:
            _cancel(scheme, redemption["id"], **other)
        assert refused.value.code == VoucherCode.REDEMPTION_MUST_BE_RESERVED
        assert _state(scheme.ledger) == before


def test_retried_expiry_run_for_the_same_date_returns_nothing_more_after_a_cancellation(ledger):
    """issue 11, vouchers: run_expiry keyed its returns by a row count, so a retry of the same date's run after a
    cancellation released quota returned that quota again (a second expiry on the same date)."""
    scheme = build_scheme(ledger, regions=(SHANGHAI,))
    scheme.grant(SHANGHAI, "10万")
    program = scheme.programs[SHANGHAI]
    open_reservation = reserve(
        ledger,
        program,
        enterprise=scheme.enterprises[SHANGHAI],
        provider=scheme.providers[SHANGHAI],
        category="testing",
        contract_no="C-EXPIRY-RETRY",
        contract_amount="6万",
        on=date(2026, 2, 1),
        actor="enterprise-user",
    )
    first = run_expiry(ledger, program, as_of=date(2026, 7, 1))  # after use-by, before redeem-by
    assert (first.quotas_returned, first.returned_fen) == (1, 7_000_000)
    cancel(ledger, open_reservation["id"], actor="enterprise-user", reason="withdrawn", on=date(2026, 7, 1))
    after_cancel = balances(ledger)
    assert run_expiry(ledger, program, as_of=date(2026, 7, 1)) == first
    assert balances(ledger) == after_cancel
    # the released quota returns with the next day's run
    assert run_expiry(ledger, program, as_of=date(2026, 7, 2)).returned_fen == 3_000_000
