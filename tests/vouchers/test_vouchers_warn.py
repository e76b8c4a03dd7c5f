"""Issue 11, defect 6: vouchers had no ``warn`` enforcement. Under warn a grant beyond the per-enterprise
annual cap or the program budget (and a reservation beyond the per-application amount) is granted, flagged
for audit (``warned_by``) and counted toward later caps; the grantable budget carries no overdraft flag."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from ledger import schema
from ledger.errors import LedgerError
from ledger.queries import reconcile
from tests.vouchers.conftest import SHANGHAI, START, balances, build_scheme
from vouchers import books
from vouchers.codes import VoucherCode
from vouchers.grants import approved_total_fen, warned_grants
from vouchers.redemptions import reserve


def test_defect_6_warn_grants_beyond_the_annual_cap_flags_it_and_counts_it(ledger):
    scheme = build_scheme(ledger, cap_enforcement="warn")
    first = scheme.grant(SHANGHAI, "8万")
    beyond = scheme.grant(SHANGHAI, "5万")  # cap 10万: 3万 beyond
    assert (first.warned_by, first.clipped_by) == (None, None)
    assert (beyond.granted_fen, beyond.clipped_by) == (5_000_000, None)
    assert beyond.warned_by == VoucherCode.GRANT_WITHIN_ENTERPRISE_ANNUAL_CAP
    program, enterprise = scheme.programs[SHANGHAI], scheme.enterprises[SHANGHAI]
    with ledger.engine.connect() as conn:
        assert approved_total_fen(conn, program, enterprise) == 13_000_000  # counted toward later caps
        flagged = warned_grants(conn, program)
    assert [row["id"] for row in flagged] == [beyond.grant_id]
    assert flagged[0]["warned_by"] == "grant_within_enterprise_annual_cap"
    # the next grant is beyond the (already exceeded) cap again, and flagged again
    assert scheme.grant(SHANGHAI, "1万").warned_by == VoucherCode.GRANT_WITHIN_ENTERPRISE_ANNUAL_CAP
    debits, credits, _, _ = balances(ledger)[(books.memo_book(SHANGHAI), books.enterprise_quota(program, enterprise))]
    assert (debits, credits) == (0, 14_000_000)  # the quota holds everything granted, warned grants included
    assert not reconcile(ledger.engine)


def test_defect_6_warn_budget_account_has_no_overdraft_flag_and_grants_beyond_the_budget(ledger):
    scheme = build_scheme(ledger, cap_enforcement="warn", enterprise_annual_cap="200万")
    program = scheme.programs[SHANGHAI]
    with ledger.engine.connect() as conn:
        account = (
            conn.execute(
                select(schema.Account.__table__)
                .join(schema.Book.__table__, schema.Book.__table__.c.id == schema.Account.__table__.c.book_id)
                .where(
                    schema.Book.__table__.c.code == books.memo_book(SHANGHAI),
                    schema.Account.__table__.c.path == books.program_grantable(program),
                )
            )
            .mappings()
            .one()
        )
    assert not account["debits_must_not_exceed_credits"]
    decision = scheme.grant(SHANGHAI, "120万")  # budget 100万
    assert (decision.granted_fen, decision.warned_by) == (120_000_000, VoucherCode.GRANT_WITHIN_PROGRAM_BUDGET)
    with ledger.engine.connect() as conn:
        assert books.credit_room(conn, books.memo_book(SHANGHAI), books.program_grantable(program)) == -20_000_000
    assert not reconcile(ledger.engine)


def test_defect_6_stop_still_refuses_beyond_the_budget(ledger):
    scheme = build_scheme(ledger, enterprise_annual_cap="200万")
    with ledger.engine.connect() as conn:
        assert books.credit_room(conn, books.memo_book(SHANGHAI), books.program_grantable(scheme.programs[SHANGHAI]))
    before = balances(ledger)
    with pytest.raises(LedgerError) as refused:
        scheme.grant(SHANGHAI, "120万")
    assert refused.value.code == VoucherCode.GRANT_WITHIN_PROGRAM_BUDGET
    assert balances(ledger) == before


def test_defect_6_warn_reservation_beyond_the_per_application_amount_is_flagged(ledger):
    scheme = build_scheme(ledger, cap_enforcement="warn")
    scheme.grant(SHANGHAI, "10万")
    program, enterprise = scheme.programs[SHANGHAI], scheme.enterprises[SHANGHAI]
    redemption = reserve(
        ledger,
        program,
        enterprise=enterprise,
        provider=scheme.providers[SHANGHAI],
        category="testing",
        contract_no="C-WARN-1",
        contract_amount="16万",  # 50% = 8万, per application 5万
        on=START,
        actor="clerk",
    )
    assert redemption["reserved_fen"] == 8_000_000
    assert redemption["warned_by"] == "reservation_within_per_application_amount"
    assert not reconcile(ledger.engine)
