"""vouchers.controls: clean after 通兑 and 通用 redemptions, payment, reimbursement and settlement; a tampered
redemption row (direct UPDATE of a domain table) is a finding naming its issuing region."""

from __future__ import annotations

from datetime import date

from sqlalchemy import update

from tests.vouchers.conftest import SHANGHAI, SUZHOU
from tests.vouchers.test_vouchers_payments import _redeem, scheme  # noqa: F401 - the fixture
from vouchers.controls import reconcile_controls
from vouchers.models import VoucherRedemption
from vouchers.payments import pay_reimbursement


def _scenario(scheme):  # noqa: F811
    scheme.grant(SHANGHAI, "10万")
    scheme.grant(SUZHOU, "10万")
    _redeem(scheme, SHANGHAI, SHANGHAI, "C-CTL-LOCAL", "5000.00")
    _redeem(scheme, SHANGHAI, SUZHOU, "C-CTL-TD", "9000.00", mode="tongdui")
    tongyong = _redeem(scheme, SUZHOU, SHANGHAI, "C-CTL-TY", "6000.00", mode="tongyong")
    pay_reimbursement(
        scheme.ledger, tongyong["id"], maker="clerk", checker="director", approval_doc="d", on=date(2026, 4, 1)
    )
    return tongyong


def test_controls_are_clean_after_cross_region_redemptions(scheme):  # noqa: F811
    _scenario(scheme)
    assert reconcile_controls(scheme.ledger.engine) == []


def test_tampered_claimed_amount_is_a_finding_naming_the_issuing_region(scheme):  # noqa: F811
    tongyong = _scenario(scheme)
    with scheme.ledger.engine.begin() as conn:
        conn.execute(
            update(VoucherRedemption.__table__)
            .where(VoucherRedemption.__table__.c.id == tongyong["id"])
            .values(claimed_fen=tongyong["claimed_fen"] + 1)
        )
    findings = reconcile_controls(scheme.ledger.engine)
    assert [finding.subject for finding in findings] == [
        f"voucher redemptions claimed ↔ Expenses:Vouchers issuing region {SUZHOU}"
    ]
