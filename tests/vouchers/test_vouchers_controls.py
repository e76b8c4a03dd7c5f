"""vouchers.controls: clean after 通兑 and 通用 redemptions, payment, reimbursement and settlement; a tampered
redemption row (direct UPDATE of a domain table) is a finding naming its issuing region."""

from __future__ import annotations

from datetime import date

from sqlalchemy import update

from tests.vouchers.conftest import SHANGHAI, SUZHOU
from tests.vouchers.test_vouchers_payments import _approve, _prepare, _redeem, scheme  # noqa: F401 - the fixture
from vouchers.controls import (
    CONTROL_PAIRS,
    DUAL_BASIS_ACCOUNTS,
    SUBJECT_DUAL_BASIS,
    SUBJECT_EXPIRIES,
    SUBJECT_GRANTS,
    SUBJECT_PAYMENTS,
    SUBJECT_REIMBURSEMENTS,
    SUBJECT_RESERVATIONS,
    reconcile_controls,
)
from vouchers.expiry import run_expiry
from vouchers.models import VoucherGrant, VoucherPaymentLine, VoucherQuotaExpiry, VoucherRedemption
from vouchers.payments import pay_reimbursement
from vouchers.redemptions import reserve


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
    subjects = [finding.subject for finding in reconcile_controls(scheme.ledger.engine)]
    enterprise_payable = f"vouchers-{SUZHOU}-financial Liabilities:Payables:{tongyong['enterprise_code']}"
    assert subjects[:2] == [
        f"voucher redemptions claimed ↔ Expenses:Vouchers issuing region {SUZHOU}",
        f"{SUBJECT_REIMBURSEMENTS} {enterprise_payable}",
    ]
    # the reimbursement's advance (claim less the enterprise's share) is read from the row: its dual basis is off too
    assert len(subjects) == 3 and subjects[2].startswith(f"{SUBJECT_DUAL_BASIS} transaction ")


def _full_scenario(scheme):  # noqa: F811
    """The cross-region scenario plus an open reservation, a paid provider batch and a quota expiry."""
    _scenario(scheme)
    open_reservation = reserve(
        scheme.ledger,
        scheme.programs[SHANGHAI],
        enterprise=scheme.enterprises[SHANGHAI],
        provider=scheme.providers[SHANGHAI],
        category="testing",
        contract_no="C-CTL-OPEN",
        contract_amount="4000.00",
        on=date(2026, 3, 5),
        actor="enterprise-user",
    )
    batch = _approve(scheme, _prepare(scheme, SHANGHAI)["id"])
    assert batch["status"] == "paid"
    expiry = run_expiry(scheme.ledger, scheme.programs[SHANGHAI], as_of=date(2026, 7, 1))
    assert expiry.quotas_returned == 1
    return open_reservation, batch


def test_every_control_pair_is_clean_after_grants_reservations_payments_and_expiry(scheme):  # noqa: F811
    _full_scenario(scheme)
    assert reconcile_controls(scheme.ledger.engine) == []
    assert len(CONTROL_PAIRS) == 11


def _tamper(scheme, table, column, where, delta=1):  # noqa: F811
    with scheme.ledger.engine.begin() as conn:
        conn.execute(update(table).where(where).values({column: table.c[column] + delta}))
    return [finding.subject for finding in reconcile_controls(scheme.ledger.engine)]


def test_tampered_granted_amount_is_a_finding_naming_the_grants_table(scheme):  # noqa: F811
    _full_scenario(scheme)
    table = VoucherGrant.__table__
    program, enterprise = scheme.programs[SUZHOU], scheme.enterprises[SUZHOU]
    where = (table.c.program_code == program) & (table.c.enterprise_code == enterprise)
    assert _tamper(scheme, table, "granted_fen", where) == [
        f"{SUBJECT_GRANTS} vouchers-{SUZHOU}-memo Memo:Quota:{program}:{enterprise}"
    ]


def test_tampered_open_reservation_is_a_finding_naming_the_redemptions_table(scheme):  # noqa: F811
    open_reservation, _ = _full_scenario(scheme)
    table = VoucherRedemption.__table__
    program, enterprise = scheme.programs[SHANGHAI], scheme.enterprises[SHANGHAI]
    assert _tamper(scheme, table, "reserved_fen", table.c.id == open_reservation["id"]) == [
        f"{SUBJECT_RESERVATIONS} vouchers-{SHANGHAI}-memo Memo:Quota:{program}:{enterprise}"
    ]


def test_tampered_quota_expiry_is_a_finding_naming_the_expiries_table(scheme):  # noqa: F811
    _full_scenario(scheme)
    table = VoucherQuotaExpiry.__table__
    program, enterprise = scheme.programs[SHANGHAI], scheme.enterprises[SHANGHAI]
    assert _tamper(scheme, table, "amount_fen", table.c.program_code == program) == [
        f"{SUBJECT_EXPIRIES} vouchers-{SHANGHAI}-memo Memo:Quota:{program}:{enterprise}"
    ]


def test_tampered_payment_line_is_a_finding_naming_the_payment_lines_table(scheme):  # noqa: F811
    _, batch = _full_scenario(scheme)
    table = VoucherPaymentLine.__table__
    provider = scheme.providers[SHANGHAI]
    where = (table.c.batch_id == batch["id"]) & (table.c.provider_code == provider)
    subjects = _tamper(scheme, table, "amount_fen", where)
    assert subjects[0] == f"{SUBJECT_PAYMENTS} vouchers-{SHANGHAI}-financial Liabilities:Payables:{provider}"
    # the batch's advance (lines less their budget expenditure) is read from the lines: its dual basis is off too
    assert subjects[1:] == [
        f"{SUBJECT_DUAL_BASIS} transaction {_payment_transaction(scheme, batch)} region {SHANGHAI} "
        f"{DUAL_BASIS_ACCOUNTS}"
    ]


def _payment_transaction(scheme, batch) -> int:  # noqa: F811
    return scheme.ledger.transaction(("vouchers", f"payment-batch:{batch['id']}"))["id"]
