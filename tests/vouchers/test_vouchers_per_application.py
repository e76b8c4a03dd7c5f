"""Issue 11, vouchers: the per-application amount honours its enforcement (DESIGN "Domain rules"). Under
``stop`` a reservation beyond it used to be clipped silently; now it is refused with its named code and writes
nothing. ``clip`` reserves up to it and records the rule (核减); ``warn`` reserves the whole covered amount and
flags it."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from ledger.errors import LedgerError
from ledger.queries import reconcile
from tests.vouchers.conftest import SHANGHAI, balances, build_scheme
from vouchers.codes import VoucherCode
from vouchers.controls import reconcile_controls
from vouchers.models import VoucherEvent, VoucherRedemption
from vouchers.redemptions import reserve

CONTRACT_BEYOND = "16万"  # the voucher covers 50% = 8万; the per-application amount is 5万


def _reserve(scheme, contract_no: str, amount: str = CONTRACT_BEYOND) -> dict:
    return reserve(
        scheme.ledger,
        scheme.programs[SHANGHAI],
        enterprise=scheme.enterprises[SHANGHAI],
        provider=scheme.providers[SHANGHAI],
        category="testing",
        contract_no=contract_no,
        contract_amount=amount,
        on=date(2026, 2, 1),
        actor="enterprise-user",
    )


def _rows(ledger) -> tuple[int, int]:
    with ledger.engine.connect() as conn:
        return (
            conn.execute(select(func.count()).select_from(VoucherRedemption.__table__)).scalar_one(),
            conn.execute(select(func.count()).select_from(VoucherEvent.__table__)).scalar_one(),
        )


def test_stop_refuses_a_reservation_beyond_the_per_application_amount_and_writes_nothing(ledger):
    """issue 11, vouchers: stop on the per-application amount clipped to 5万 instead of refusing."""
    scheme = build_scheme(ledger, regions=(SHANGHAI,), cap_enforcement="stop")
    scheme.grant(SHANGHAI, "10万")
    before, rows_before = balances(ledger), _rows(ledger)
    with pytest.raises(LedgerError) as refused:
        _reserve(scheme, "C-STOP-1")
    assert refused.value.code == VoucherCode.RESERVATION_WITHIN_PER_APPLICATION_AMOUNT
    assert refused.value.detail["room_left"] == "50000.00"
    assert (balances(ledger), _rows(ledger)) == (before, rows_before)
    # within the amount it is reserved in full, and the refused contract number is still free
    assert _reserve(scheme, "C-STOP-1", "10万")["reserved_fen"] == 5_000_000
    assert not reconcile(ledger.engine) and not reconcile_controls(ledger.engine)


def test_clip_reserves_up_to_the_per_application_amount_and_records_the_rule(ledger):
    """issue 11, vouchers: clip keeps clipping, and the clipping rule is recorded on the redemption."""
    scheme = build_scheme(ledger, regions=(SHANGHAI,), cap_enforcement="clip")
    scheme.grant(SHANGHAI, "10万")
    redemption = _reserve(scheme, "C-CLIP-1")
    assert (redemption["reserved_fen"], redemption["clipped_by"], redemption["warned_by"]) == (
        5_000_000,
        "reservation_within_per_application_amount",
        None,
    )
    assert not reconcile(ledger.engine) and not reconcile_controls(ledger.engine)


def test_warn_reserves_beyond_the_per_application_amount_and_flags_it(ledger):
    """issue 11, vouchers: warn reserves the whole covered amount, flagged, never clipped."""
    scheme = build_scheme(ledger, regions=(SHANGHAI,), cap_enforcement="warn")
    scheme.grant(SHANGHAI, "10万")
    redemption = _reserve(scheme, "C-WARN-PA")
    assert (redemption["reserved_fen"], redemption["clipped_by"], redemption["warned_by"]) == (
        8_000_000,
        None,
        "reservation_within_per_application_amount",
    )
    assert not reconcile(ledger.engine) and not reconcile_controls(ledger.engine)
