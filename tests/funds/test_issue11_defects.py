"""Issue 11, defects 1-7 of the funds package: each test fails on the code before its fix."""

from datetime import date

import pytest
from sqlalchemy import func, select

from funds.checks import check_pool, check_subfund
from funds.codes import FundsCode
from funds.common import flags_for
from funds.config import DEFAULT_FUND_POLICY, GUANGZHOU_POOL_POLICY, PolicyValue
from funds.guidance import T_CALL_ITEMS, T_CALLS, T_INVESTMENTS, GuidanceFunds, sf_book
from funds.pools import POOL_CASH, T_LOANS, financial_book
from ledger.engine import T_TRANSACTIONS
from ledger.errors import LedgerError, ResultCode
from tests.funds.conftest import BANK_A, CITY, FIRM_1, build_pool, defaulted_loan
from tests.funds.keys import new_key

WAN = 1_000_000  # fen in 1万元
GF = "gzgf"


def refused(code, call, *args, **kwargs) -> LedgerError:
    with pytest.raises(LedgerError) as caught:
        call(*args, **kwargs)
    assert caught.value.code == code, caught.value
    return caught.value


def balances(ledger) -> dict:
    return {(a.book, a.path): (a.debits_posted, a.credits_posted) for a in ledger.accounts()}


def journal_size(ledger) -> int:
    with ledger.engine.connect() as c:
        return c.execute(select(func.count()).select_from(T_TRANSACTIONS)).scalar()


def guidance_service(ledger, policy=DEFAULT_FUND_POLICY) -> GuidanceFunds:
    service = GuidanceFunds(ledger)
    service.create_guidance_fund(GF, "广州科技成果转化引导基金", "440100", policy)
    service.appropriate(GF, "1亿", date(2026, 1, 2), actor="budget", approver="director", client_id="gf-approp-1")
    return service


def subfund(funds, code="sf1", *, size="1亿", fee_basis="paid_in", fee_rate="2%") -> None:
    funds.create_subfund(
        GF,
        code,
        f"Sub-fund {code}",
        manager_code="MGR-1",
        size=size,
        established_on=date(2026, 1, 1),
        term_years=8,
        investment_period_end=date(2030, 12, 31),
        fee_basis=fee_basis,
        fee_rate=fee_rate,
    )


def commit(funds, code, investor, amount, *, guidance=False) -> int:
    commitment_id = funds.record_commitment(
        code, investor, amount, date(2026, 1, 5), actor="manager", is_guidance=guidance, client_id=new_key()
    )
    funds.approve_commitment(commitment_id, approver="reviewer")
    return commitment_id


def funded_subfund(ledger, *, fee_basis="paid_in"):
    """sf1 of 1亿: LP-SOCIAL 5000万, LP-BANK 2500万, the guidance fund 2000万, all paid in full."""
    funds = guidance_service(ledger)
    subfund(funds, fee_basis=fee_basis)
    commit(funds, "sf1", "LP-SOCIAL", "5000万")
    commit(funds, "sf1", "LP-BANK", "2500万")
    commit(funds, "sf1", GF, "2000万", guidance=True)
    call_id = funds.record_call("sf1", "100%", date(2026, 1, 10), date(2026, 2, 1), actor="m", client_id="call-1")
    for investor, amount_fen in funds.approve_call(call_id, approver="r").items():
        funds.pay_call(call_id, investor, f"{amount_fen // 100}", date(2026, 1, 1), actor="m", client_id=investor)
    return funds


def test_defect_1_two_equal_partial_exits_on_one_day_both_reach_the_ledger(ledger):
    funds = funded_subfund(ledger)
    investment = funds.invest(
        "sf1", "ENT-1", "1000万", date(2026, 3, 1), stage="seed", is_local=True, sector="ai", hard_tech=True,
        actor="m", client_id="inv-1",
    )  # fmt: skip
    bank_before = ledger.account(sf_book("sf1"), "Assets:Bank").balance_fen
    for receipt in ("exit-receipt-1", "exit-receipt-2"):
        funds.exit_investment(investment, "300万", "500万", date(2027, 6, 1), actor="m", client_id=receipt)
    assert ledger.account(sf_book("sf1"), "Assets:EquityInvestments:ENT-1").balance_fen == 400 * WAN
    assert ledger.account(sf_book("sf1"), "Assets:Bank").balance_fen == bank_before + 1000 * WAN
    assert ledger.account(sf_book("sf1"), "Revenue:ExitGains").balance_fen == -400 * WAN
    with ledger.engine.connect() as c:
        row = c.execute(select(T_INVESTMENTS).where(T_INVESTMENTS.c.id == investment)).mappings().one()
    assert (row["exited_cost_fen"], row["proceeds_fen"]) == (600 * WAN, 1000 * WAN)


def test_defect_2_an_investor_with_two_commitments_gets_its_share_once_and_can_pay_its_call(ledger):
    funds = guidance_service(ledger)
    subfund(funds, size="1000万")
    commit(funds, "sf1", "LP-A", "200万")
    commit(funds, "sf1", "LP-A", "200万")  # a second close: the same investor commits again
    commit(funds, "sf1", "LP-B", "400万")
    call_id = funds.record_call("sf1", "50%", date(2026, 2, 1), date(2026, 3, 1), actor="m", client_id="call-1")
    assert funds.approve_call(call_id, approver="r") == {"LP-A": 200 * WAN, "LP-B": 200 * WAN}
    with ledger.engine.connect() as c:
        items = c.execute(select(func.count()).select_from(T_CALL_ITEMS).where(T_CALL_ITEMS.c.call_id == call_id))
        assert items.scalar() == 2
    funds.pay_call(call_id, "LP-A", "200万", date(2026, 2, 10), actor="m", client_id="rcpt-a")
    funds.pay_call(call_id, "LP-B", "200万", date(2026, 2, 10), actor="m", client_id="rcpt-b")
    with ledger.engine.connect() as c:
        assert c.execute(select(T_CALLS.c.status).where(T_CALLS.c.id == call_id)).scalar() == "paid"
    distribution = funds.record_distribution(
        "sf1", date(2027, 1, 1), "90000", "0", recallable=False, actor="m", client_id="dist-1"
    )
    assert funds.approve_distribution(distribution, approver="r") == {"LP-A": (4_500_000, 0), "LP-B": (4_500_000, 0)}
    assert ledger.account(sf_book("sf1"), "NetAssets:ReturnedCapital:LP-A").balance_fen == 4_500_000


def test_defect_3_guidance_share_counts_all_its_commitments_in_the_subfund(ledger):
    funds = guidance_service(ledger)
    subfund(funds, size="1000万")
    commit(funds, "sf1", "LP-SOCIAL", "500万")
    commit(funds, "sf1", GF, "200万", guidance=True)
    second = funds.record_commitment(
        "sf1", GF, "200万", date(2026, 1, 6), actor="manager", is_guidance=True, client_id="gf-2"
    )
    before = balances(ledger)
    error = refused(FundsCode.GUIDANCE_SHARE_OUT_OF_BOUNDS, funds.approve_commitment, second, approver="reviewer")
    assert error.detail["room_left"] == "1000000.00"  # 30% of 1000万 less the 200万 approved
    assert balances(ledger) == before


def test_defect_3_guidance_committing_first_is_not_refused_against_nobody(ledger):
    funds = guidance_service(ledger)
    subfund(funds, size="2000万")
    commit(funds, "sf1", GF, "200万", guidance=True)  # before the fix: "largest investor" against 0
    assert ledger.account(f"{sf_book('sf1')}:memo", f"Memo:Unfunded:{GF}").balance_fen == 200 * WAN
    # The structure is not final yet; establishing it now is refused, after others commit it is fine.
    refused(
        FundsCode.GUIDANCE_MUST_NOT_BE_LARGEST_INVESTOR, funds.establish_subfund, "sf1", date(2026, 2, 1), actor="g"
    )
    commit(funds, "sf1", "LP-SOCIAL", "500万")
    funds.establish_subfund("sf1", date(2026, 2, 1), actor="g")
    assert funds.establish_subfund("sf1", date(2026, 2, 1), actor="g") == {GF: 200 * WAN, "LP-SOCIAL": 500 * WAN}
    refused(FundsCode.SUBFUND_ALREADY_ESTABLISHED, funds.establish_subfund, "sf1", date(2026, 3, 1), actor="g")
    # After the first close, a guidance commitment that would make it the largest is refused at approval
    # (200万 + 300万 = 25% of the fund, within the share, but level with LP-SOCIAL's 500万).
    late = funds.record_commitment("sf1", GF, "300万", date(2026, 4, 1), actor="m", is_guidance=True, client_id="l")
    refused(FundsCode.GUIDANCE_MUST_NOT_BE_LARGEST_INVESTOR, funds.approve_commitment, late, approver="reviewer")


def test_defect_3_breach_scan_reports_structure_let_through_by_warn(ledger):
    warn = DEFAULT_FUND_POLICY.model_copy(
        update={
            "guidance_never_largest": PolicyValue(value="yes", source="test: warn only", enforcement="warn"),
        }
    )
    funds = guidance_service(ledger, warn)
    subfund(funds, size="1000万")
    commit(funds, "sf1", "LP-SOCIAL", "200万")
    commit(funds, "sf1", GF, "250万", guidance=True)
    funds.establish_subfund("sf1", date(2026, 2, 1), actor="g")  # warn: established, flagged
    assert [flag["code"] for flag in flags_for(ledger, "subfund", 1)] == [
        FundsCode.GUIDANCE_MUST_NOT_BE_LARGEST_INVESTOR
    ]
    findings = [f for f in check_subfund(ledger, "sf1", date(2026, 3, 1)) if f.code != FundsCode.MONEY_IDLE_TOO_LONG]
    assert [(f.code, f.amount_fen, f.limit_fen) for f in findings] == [
        (FundsCode.GUIDANCE_MUST_NOT_BE_LARGEST_INVESTOR, 250 * WAN, 200 * WAN)
    ]
    assert check_subfund(ledger, "sf1", date(2026, 1, 31)) == []  # not final before its first close


def test_defect_4_retried_payment_and_recovery_change_nothing(ledger):
    funds = guidance_service(ledger)
    subfund(funds)
    commit(funds, "sf1", "LP-SOCIAL", "5000万")
    call_id = funds.record_call("sf1", "20%", date(2026, 2, 1), date(2026, 3, 1), actor="m", client_id="call-1")
    funds.approve_call(call_id, approver="r")
    owed = funds.pay_call(call_id, "LP-SOCIAL", "100万", date(2026, 2, 5), actor="m", client_id="receipt-0001")
    before, journal = balances(ledger), journal_size(ledger)
    assert funds.pay_call(call_id, "LP-SOCIAL", "100万", date(2026, 2, 5), actor="m", client_id="receipt-0001") == owed
    assert balances(ledger) == before and journal_size(ledger) == journal
    assert ledger.account(sf_book("sf1"), "NetAssets:PaidIn:LP-SOCIAL").balance_fen == -100 * WAN
    refused(
        ResultCode.EXISTS_WITH_DIFFERENT_CONTENT,
        funds.pay_call, call_id, "LP-SOCIAL", "200万", date(2026, 2, 5), actor="m", client_id="receipt-0001",
    )  # fmt: skip

    pools = build_pool(ledger)
    claim_id = pools.submit_claim(defaulted_loan(pools), "400万", date(2026, 9, 1), actor="banker", client_id="c-1")
    pools.approve_claim(claim_id, approver="auditor", paid_on=date(2026, 9, 2))
    first = pools.record_recovery(claim_id, "100万", "10万", date(2027, 3, 1), actor="banker", client_id="rec-1")
    before, journal = balances(ledger), journal_size(ledger)
    assert (
        pools.record_recovery(claim_id, "100万", "10万", date(2027, 3, 1), actor="banker", client_id="rec-1") == first
    )
    assert balances(ledger) == before and journal_size(ledger) == journal
    assert pools.claim(claim_id)["recovered_fen"] == 45 * WAN


def test_defect_4_a_missing_key_is_refused(ledger):
    funds = guidance_service(ledger)
    refused(
        FundsCode.CLIENT_ID_INVALID,
        funds.appropriate, GF, "1万", date(2026, 1, 3), actor="budget", approver="director", client_id=" ",
    )  # fmt: skip


def test_defect_5_settlement_needs_an_approver_other_than_its_recorder(ledger):
    pools = build_pool(ledger, funding=("20万", "40万", "40万"))
    claim_id = pools.submit_claim(defaulted_loan(pools), "400万", date(2026, 9, 1), actor="banker", client_id="c-1")
    assert pools.approve_claim(claim_id, approver="auditor", paid_on=date(2026, 9, 2)).outstanding_fen == 100 * WAN
    pools.contribute("gz", CITY, "500万", date(2027, 1, 2), actor="clerk", approver="chief", client_id="top-up")
    before = balances(ledger)
    refused(
        FundsCode.APPROVER_MUST_DIFFER_FROM_RECORDER,
        pools.settle_outstanding, "gz", date(2027, 1, 15), actor="auditor", approver="auditor", client_id="s-1",
    )  # fmt: skip
    assert balances(ledger) == before
    payouts = pools.settle_outstanding("gz", date(2027, 1, 15), actor="clerk", approver="auditor", client_id="s-1")
    assert [payout.amount_fen for payout in payouts] == [100 * WAN]
    with ledger.engine.connect() as c:
        actor, approver = c.execute(
            select(T_TRANSACTIONS.c.actor, T_TRANSACTIONS.c.approver).where(
                T_TRANSACTIONS.c.client_id == f"pool:gz:settlement:s-1:claim:{claim_id}"
            )
        ).one()
    assert (actor, approver) == ("clerk", "auditor")


def _pool_with_filing_cap(ledger, enforcement: str):
    rule = GUANGZHOU_POOL_POLICY.enterprise_annual_filed_loans_cap.model_copy(update={"enforcement": enforcement})
    return build_pool(
        ledger, policy=GUANGZHOU_POOL_POLICY.model_copy(update={"enterprise_annual_filed_loans_cap": rule})
    )


def file(pools, number, principal, key=None):
    return pools.file_loan(
        "gz", BANK_A, FIRM_1, number, principal, date(2026, 3, 1), 12, date(2026, 3, 2), actor="banker",
        client_id=key or new_key(),
    )  # fmt: skip


def test_defect_6_a_warn_cap_files_flags_and_counts_toward_later_caps(ledger):
    pools = _pool_with_filing_cap(ledger, "warn")
    file(pools, "L1", "1500万")
    warned = file(pools, "L2", "800万")  # 2300万 > 2000万: filed, flagged
    assert ledger.account("pool:gz:memo", f"Memo:FiledLoans:{BANK_A}").balance_fen == 2300 * WAN
    flags = flags_for(ledger, "loan", warned)
    assert [(f["code"], f["enforcement"], f["limit_fen"]) for f in flags] == [
        (FundsCode.ENTERPRISE_ANNUAL_FILED_LOANS_CAP_EXCEEDED, "warn", 2000 * WAN)
    ]
    assert [(f.subject, f.amount_fen) for f in check_pool(ledger, "gz")] == [(f"gz:{FIRM_1}:2026", 2300 * WAN)]


def test_defect_6_a_clip_cap_covers_up_to_the_room_and_pays_on_what_it_covers(ledger):
    pools = _pool_with_filing_cap(ledger, "clip")
    file(pools, "L1", "1500万")
    clipped = file(pools, "L2", "800万")
    with ledger.engine.connect() as c:
        assert c.execute(select(T_LOANS.c.covered_fen).where(T_LOANS.c.id == clipped)).scalar() == 500 * WAN
    assert ledger.account("pool:gz:memo", f"Memo:FiledLoans:{BANK_A}").balance_fen == 2000 * WAN
    before = balances(ledger)
    refused(FundsCode.ENTERPRISE_ANNUAL_FILED_LOANS_CAP_EXCEEDED, file, pools, "L3", "1万")  # no room left
    assert balances(ledger) == before
    pools.set_loan_status(clipped, "overdue", actor="banker")
    pools.set_loan_status(clipped, "defaulted", actor="banker")
    claim_id = pools.submit_claim(clipped, "800万", date(2026, 9, 1), actor="banker", client_id="c")
    assert pools.approve_claim(claim_id, approver="auditor", paid_on=date(2026, 9, 2)).entitled_fen == 250 * WAN


def test_defect_6_a_stop_cap_still_refuses_with_the_room_left(ledger):
    pools = _pool_with_filing_cap(ledger, "stop")
    file(pools, "L1", "1500万")
    before = balances(ledger)
    error = refused(FundsCode.ENTERPRISE_ANNUAL_FILED_LOANS_CAP_EXCEEDED, file, pools, "L2", "800万")
    assert error.detail["room_left"] == "5000000.00"
    assert balances(ledger) == before and ledger.account(financial_book("gz"), POOL_CASH).balance_fen == 1000 * WAN


def test_defect_7_invested_fee_basis_falls_with_exits(ledger):
    funds = funded_subfund(ledger, fee_basis="invested")
    investment = funds.invest(
        "sf1", "ENT-1", "1000万", date(2026, 1, 1), stage="seed", is_local=True, sector="ai", hard_tech=True,
        actor="m", client_id="inv-1",
    )  # fmt: skip
    funds.exit_investment(investment, "1000万", "1000万", date(2027, 1, 1), actor="m", client_id="exit-1")
    # 2% of 1000万 for the 365 days it was held, and nothing after the full exit.
    assert funds.accrue_fees("sf1", date(2028, 1, 1), actor="m") == 20 * 10_000 * 100
    assert funds.accrue_fees("sf1", date(2029, 1, 1), actor="m") == 0
    assert ledger.account(sf_book("sf1"), "Liabilities:FeesPayable").balance_fen == -20 * 10_000 * 100


def test_invested_fee_rounds_half_up_on_the_cumulative_total(ledger):
    funds = funded_subfund(ledger, fee_basis="invested")
    funds.invest(
        "sf1", "ENT-1", "0.01", date(2026, 1, 1), stage="seed", is_local=True, sector="ai", hard_tech=True,
        actor="m", client_id="inv-1",
    )  # fmt: skip
    funds.invest(
        "sf1", "ENT-2", "1825", date(2026, 1, 1), stage="seed", is_local=True, sector="ai", hard_tech=True,
        actor="m", client_id="inv-2",
    )  # fmt: skip
    # 182501 fen x 2% x 1/365 = 10.0000548 fen per day; per-day rounding would give 10 a day, but the
    # cumulative total over 365 days is 3650.02 fen -> 3650, and over 183 days 1830.01 -> 1830.
    assert funds.accrue_fees("sf1", date(2026, 7, 3), actor="m") == 1830
    assert funds.accrue_fees("sf1", date(2027, 1, 1), actor="m") == 3650 - 1830


def _policy(**rules) -> object:
    return DEFAULT_FUND_POLICY.model_copy(
        update={name: getattr(DEFAULT_FUND_POLICY, name).model_copy(update={"enforcement": how})
                for name, how in rules.items()}
    )  # fmt: skip


def test_defect_6_guidance_share_cap_clips_to_the_room_under_clip(ledger):
    funds = guidance_service(ledger, _policy(guidance_share_max="clip"))
    subfund(funds, size="1000万")
    commit(funds, "sf1", "LP-SOCIAL", "500万")
    commit(funds, "sf1", GF, "200万", guidance=True)
    second = funds.record_commitment("sf1", GF, "200万", date(2026, 1, 6), actor="m", is_guidance=True, client_id="g2")
    assert funds.approve_commitment(second, approver="reviewer") == 100 * WAN  # 核减 to 30% of the fund
    assert ledger.account(f"{sf_book('sf1')}:memo", f"Memo:Committed:{GF}").balance_fen == -300 * WAN
    assert [f["enforcement"] for f in flags_for(ledger, "commitment", second)] == ["clip"]


def test_defect_6_guidance_share_cap_grants_and_flags_under_warn_and_the_scan_sees_it(ledger):
    funds = guidance_service(ledger, _policy(guidance_share_max="warn"))
    subfund(funds, size="1000万")
    commit(funds, "sf1", "LP-SOCIAL", "500万")
    commit(funds, "sf1", GF, "200万", guidance=True)
    second = commit(funds, "sf1", GF, "200万", guidance=True)  # 40%: granted, flagged, counted
    assert [f["enforcement"] for f in flags_for(ledger, "commitment", second)] == ["warn"]
    funds.establish_subfund("sf1", date(2026, 2, 1), actor="g")  # warn again: established
    codes = {f.code for f in check_subfund(ledger, "sf1", date(2026, 3, 1))}
    assert FundsCode.GUIDANCE_SHARE_OUT_OF_BOUNDS in codes
    third = funds.record_commitment("sf1", GF, "1万", date(2026, 3, 1), actor="m", is_guidance=True, client_id="g3")
    funds.approve_commitment(third, approver="reviewer")  # counted toward later caps: flagged again
    assert flags_for(ledger, "commitment", third)[0]["amount_fen"] == 401 * WAN


def test_defect_6_first_call_minimum_warns_and_fee_cap_warns(ledger):
    funds = guidance_service(ledger, _policy(first_call_min="warn", fee_rate_cap="warn"))
    subfund(funds, size="1000万", fee_rate="2.5%")
    assert [(f["code"], f["enforcement"]) for f in flags_for(ledger, "subfund", 1)] == [
        (FundsCode.FEE_RATE_ABOVE_CAP, "warn")
    ]
    commit(funds, "sf1", "LP-SOCIAL", "500万")
    call_id = funds.record_call("sf1", "10%", date(2026, 2, 1), date(2026, 3, 1), actor="m", client_id="c1")
    assert funds.approve_call(call_id, approver="r") == {"LP-SOCIAL": 50 * WAN}
    assert [f["code"] for f in flags_for(ledger, "capital_call", call_id)] == [FundsCode.FIRST_CALL_BELOW_MINIMUM]


def test_defect_6_rules_that_cannot_be_clipped_refuse_a_clip_configuration():
    for name in ("guidance_share_min", "guidance_never_largest", "first_call_min"):
        with pytest.raises(LedgerError) as caught:
            DEFAULT_FUND_POLICY.model_validate({**DEFAULT_FUND_POLICY.model_dump(), name: {
                **getattr(DEFAULT_FUND_POLICY, name).model_dump(), "enforcement": "clip"}})  # fmt: skip
        assert caught.value.code == FundsCode.CONFIGURATION_INVALID


def test_a_guidance_commitment_is_the_guidance_funds_own(ledger):
    """Its cash moves in the guidance fund's books under the fund's code only: the control check relies on it."""
    funds = guidance_service(ledger)
    subfund(funds)
    for investor, is_guidance in (("LP-X", True), (GF, False)):
        refused(
            FundsCode.GUIDANCE_COMMITMENT_MUST_BE_THE_FUNDS_OWN,
            funds.record_commitment, "sf1", investor, "100万", date(2026, 1, 5), actor="m", is_guidance=is_guidance,
            client_id=new_key(),
        )  # fmt: skip
