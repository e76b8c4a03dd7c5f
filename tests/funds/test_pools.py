"""Loan risk-compensation pools: filing, claims, caps, settlement and recoveries, each rule with its code."""

from datetime import date

import pytest

from funds.codes import FundsCode
from funds.common import flags_for
from funds.config import ANHUI_POOL_POLICY, BankAgreementTerms
from funds.pools import POOL_CASH, FunderShare, RiskPools
from ledger.engine import posting_specs
from ledger.entries import TransactionRequest
from ledger.errors import LedgerError, ResultCode
from tests.funds.conftest import (
    BANK_A,
    BANK_B,
    CITY,
    DISTRICT,
    FIRM_1,
    FIRM_2,
    PROVINCE,
    build_pool,
    defaulted_loan,
    pool_balances,
)
from tests.funds.keys import new_key

WAN = 1_000_000  # fen in 1万元


def refused(code, call, *args, **kwargs) -> LedgerError:
    with pytest.raises(LedgerError) as caught:
        call(*args, **kwargs)
    assert caught.value.code == code, caught.value
    return caught.value


def test_pool_life_cycle_from_filing_to_recovery(ledger, pools):
    assert pools.balance_fen("gz") == 1000 * WAN
    loan_id = defaulted_loan(pools, principal="400万")
    assert ledger.account("pool:gz:memo", f"Memo:FiledLoans:{BANK_A}").balance_fen == 400 * WAN
    claim_id = pools.submit_claim(loan_id, "400万", date(2026, 9, 1), actor="banker", client_id=new_key())
    decision = pools.approve_claim(
        claim_id, approver="auditor", paid_on=date(2026, 9, 15), approval_doc="穗科审〔2026〕7号"
    )
    assert decision.entitled_fen == 200 * WAN and decision.binding_limit == "ratio"
    assert decision.payout.parts == {PROVINCE: 40 * WAN, CITY: 80 * WAN, DISTRICT: 80 * WAN}
    assert pools.balance_fen("gz") == 800 * WAN
    assert ledger.account("pool:gz", f"Expenses:Compensation:{CITY}").balance_fen == 80 * WAN

    recovery = pools.record_recovery(claim_id, "100万", "10万", date(2027, 3, 1), actor="banker", client_id=new_key())
    # The pool bore 200万 of 400万: half of the 90万 net comes back, split against the portions paid.
    assert recovery.returned_fen == 45 * WAN
    assert recovery.parts == {PROVINCE: 9 * WAN, CITY: 18 * WAN, DISTRICT: 18 * WAN}
    assert pools.balance_fen("gz") == 845 * WAN
    claim = pools.claim(claim_id)
    assert claim["status"] == "paid" and claim["recovered_fen"] == 45 * WAN
    assert claim["payment_parts"] == decision.payout.parts

    by_funder = {row["funder"]: row for row in pools.funder_statement("gz")}
    assert by_funder[CITY]["contributed_fen"] == 400 * WAN
    assert by_funder[CITY]["remaining_fen"] == 400 * WAN - 80 * WAN + 18 * WAN
    by_bank = {row["bank"]: row for row in pools.bank_statement("gz")}
    assert by_bank[BANK_A]["paid_fen"] == 200 * WAN and by_bank[BANK_A]["recovered_fen"] == 45 * WAN
    assert by_bank[BANK_B]["claims"] == 0


def test_claim_payout_is_capped_per_loan(pools):
    claim_id = pools.submit_claim(
        defaulted_loan(pools, principal="800万"), "800万", date(2026, 9, 1), actor="banker", client_id=new_key()
    )
    decision = pools.approve_claim(claim_id, approver="auditor", paid_on=date(2026, 9, 2))
    assert decision.entitled_fen == 300 * WAN and decision.binding_limit == "per_loan_cap"
    flags = flags_for(pools.ledger, "claim", claim_id)
    assert [flag["code"] for flag in flags] == [FundsCode.CLAIM_CLIPPED_BY_CAP]
    assert flags[0]["amount_fen"] == 400 * WAN and flags[0]["limit_fen"] == 300 * WAN


def test_claim_payout_is_capped_by_bank_annual_cap_left(pools):
    first = pools.submit_claim(
        defaulted_loan(pools, number="L1", principal="600万"), "600万", date(2026, 9, 1), actor="b", client_id=new_key()
    )
    assert pools.approve_claim(first, approver="auditor", paid_on=date(2026, 9, 2)).entitled_fen == 300 * WAN
    second = pools.submit_claim(
        defaulted_loan(pools, number="L2", firm=FIRM_2, principal="600万"),
        "600万",
        date(2026, 10, 1),
        actor="b",
        client_id=new_key(),
    )
    decision = pools.approve_claim(second, approver="auditor", paid_on=date(2026, 10, 2))
    assert decision.entitled_fen == 200 * WAN and decision.binding_limit == "bank_annual_cap"


def test_claim_refused_when_bank_annual_cap_is_used_up(ledger, pools):
    for number, firm in (("L1", FIRM_1), ("L2", FIRM_2)):
        claim = pools.submit_claim(
            defaulted_loan(pools, number=number, firm=firm, principal="600万"),
            "500万",
            date(2026, 9, 1),
            actor="b",
            client_id=new_key(),
        )
        pools.approve_claim(claim, approver="auditor", paid_on=date(2026, 9, 2))
    third = pools.submit_claim(
        defaulted_loan(pools, number="L3", firm="FIRM-3", principal="100万"),
        "100万",
        date(2026, 11, 1),
        actor="b",
        client_id=new_key(),
    )
    before = pool_balances(ledger)
    error = refused(
        FundsCode.CLAIM_NOTHING_PAYABLE, pools.approve_claim, third, approver="auditor", paid_on=date(2026, 11, 2)
    )
    assert error.detail["binding_limit"] == "bank_annual_cap"
    assert pool_balances(ledger) == before
    assert pools.claim(third)["status"] == "submitted"


def test_claim_payout_is_capped_by_enterprise_cumulative_cap(pools):
    claim_id = pools.submit_claim(
        defaulted_loan(pools, bank=BANK_B, principal="400万"), "400万", date(2026, 9, 1), actor="b", client_id=new_key()
    )
    decision = pools.approve_claim(claim_id, approver="auditor", paid_on=date(2026, 9, 2))
    assert decision.entitled_fen == 100 * WAN and decision.binding_limit == "enterprise_cumulative_cap"


def test_short_pool_pays_what_it_holds_and_settles_the_rest_later_pro_rata(ledger):
    pools = build_pool(ledger, funding=("2万", "4万", "4万"))
    first = pools.submit_claim(
        defaulted_loan(pools, number="L1", principal="40万"), "40万", date(2026, 9, 1), actor="b", client_id=new_key()
    )
    decision = pools.approve_claim(first, approver="auditor", paid_on=date(2026, 9, 2))
    assert decision.entitled_fen == 20 * WAN and decision.paid_fen == 10 * WAN
    assert decision.payout.binding_limit == "pool_balance" and pools.balance_fen("gz") == 0
    second = pools.submit_claim(
        defaulted_loan(pools, number="L2", firm=FIRM_2, principal="60万"),
        "60万",
        date(2026, 9, 3),
        actor="b",
        client_id=new_key(),
    )
    assert pools.approve_claim(second, approver="auditor", paid_on=date(2026, 9, 4)).payout is None
    refused(
        FundsCode.POOL_BALANCE_EMPTY,
        pools.settle_outstanding,
        "gz",
        date(2027, 1, 5),
        approver="auditor",
        actor="clerk",
        client_id=new_key(),
    )

    pools.contribute("gz", CITY, "20万", date(2027, 1, 10), actor="clerk", approver="chief", client_id=new_key())
    payouts = pools.settle_outstanding("gz", date(2027, 1, 15), approver="auditor", actor="clerk", client_id=new_key())
    # Owed 10万 and 30万, 20万 in the pool: paid in proportion to what is owed.
    assert [(p.claim_id, p.amount_fen) for p in payouts] == [(first, 5 * WAN), (second, 15 * WAN)]
    assert pools.balance_fen("gz") == 0
    pools.contribute("gz", PROVINCE, "100万", date(2027, 2, 1), actor="clerk", approver="chief", client_id=new_key())
    payouts = pools.settle_outstanding("gz", date(2027, 2, 2), approver="auditor", actor="clerk", client_id=new_key())
    assert [(p.claim_id, p.amount_fen, p.binding_limit) for p in payouts] == [
        (first, 5 * WAN, None),
        (second, 15 * WAN, None),
    ]
    assert pools.claim(first)["status"] == "paid" and pools.claim(second)["paid_fen"] == 30 * WAN
    assert pools.balance_fen("gz") == 80 * WAN


def test_loan_filed_after_the_window_is_refused(ledger, pools):
    before = pool_balances(ledger)
    error = refused(
        FundsCode.LOAN_FILING_WINDOW_PASSED,
        pools.file_loan,
        "gz",
        BANK_A,
        FIRM_1,
        "L1",
        "100万",
        date(2026, 1, 31),
        12,
        date(2026, 5, 1),
        actor="banker",
        client_id=new_key(),
    )
    assert error.detail["deadline"] == date(2026, 4, 30)  # 31 Jan + 3 months clamps to 30 Apr
    assert pool_balances(ledger) == before
    pools.file_loan(
        "gz",
        BANK_A,
        FIRM_1,
        "L1",
        "100万",
        date(2026, 1, 31),
        12,
        date(2026, 4, 30),
        actor="banker",
        client_id=new_key(),
    )


def test_enterprise_annual_filed_loans_are_capped(ledger, pools):
    pools.file_loan(
        "gz",
        BANK_A,
        FIRM_1,
        "L1",
        "1500万",
        date(2026, 3, 1),
        12,
        date(2026, 3, 2),
        actor="banker",
        client_id=new_key(),
    )
    before = pool_balances(ledger)
    error = refused(
        FundsCode.ENTERPRISE_ANNUAL_FILED_LOANS_CAP_EXCEEDED,
        pools.file_loan,
        "gz",
        BANK_B,
        FIRM_1,
        "L2",
        "600万",
        date(2026, 4, 1),
        12,
        date(2026, 4, 2),
        actor="banker",
        client_id=new_key(),
    )
    assert error.detail["room_left"] == "5000000.00"
    assert pool_balances(ledger) == before
    # A new year has a new cap.
    pools.file_loan(
        "gz", BANK_B, FIRM_1, "L3", "600万", date(2027, 1, 5), 12, date(2027, 1, 6), actor="banker", client_id=new_key()
    )


def test_suspended_bank_cannot_file_or_claim(ledger, pools):
    loan_id = defaulted_loan(pools)
    claim_id = pools.submit_claim(loan_id, "400万", date(2026, 9, 1), actor="banker", client_id=new_key())
    pools.set_bank_suspended("gz", BANK_A, True, actor="finance")
    before = pool_balances(ledger)
    refused(FundsCode.BANK_SUSPENDED, pools.approve_claim, claim_id, approver="auditor", paid_on=date(2026, 9, 2))
    refused(
        FundsCode.BANK_SUSPENDED,
        pools.file_loan,
        "gz",
        BANK_A,
        FIRM_2,
        "L9",
        "10万",
        date(2026, 9, 1),
        12,
        date(2026, 9, 1),
        actor="banker",
        client_id=new_key(),
    )
    assert pool_balances(ledger) == before


def test_loan_outside_the_agreement_validity_cannot_be_filed(pools):
    refused(
        FundsCode.BANK_AGREEMENT_NOT_VALID,
        pools.file_loan,
        "gz",
        BANK_A,
        FIRM_1,
        "L1",
        "10万",
        date(2029, 1, 5),
        12,
        date(2029, 1, 6),
        actor="banker",
        client_id=new_key(),
    )


def test_revoked_filing_cannot_claim_and_its_exposure_is_reversed(ledger, pools):
    loan_id = pools.file_loan(
        "gz", BANK_A, FIRM_1, "L1", "100万", date(2026, 2, 1), 12, date(2026, 2, 5), actor="banker", client_id=new_key()
    )
    pools.revoke_filing(loan_id, actor="banker", reason="loan repaid early")
    assert ledger.account("pool:gz:memo", f"Memo:FiledLoans:{BANK_A}").balance_fen == 0
    before = pool_balances(ledger)
    refused(
        FundsCode.FILING_REVOKED,
        pools.submit_claim,
        loan_id,
        "100万",
        date(2026, 9, 1),
        actor="banker",
        client_id=new_key(),
    )
    assert pool_balances(ledger) == before


def test_filing_with_a_claim_cannot_be_revoked(pools):
    loan_id = defaulted_loan(pools)
    pools.submit_claim(loan_id, "100万", date(2026, 9, 1), actor="banker", client_id=new_key())
    refused(FundsCode.LOAN_HAS_CLAIM, pools.revoke_filing, loan_id, actor="banker", reason="x")


def test_claim_approved_by_its_recorder_is_refused(ledger, pools):
    claim_id = pools.submit_claim(defaulted_loan(pools), "400万", date(2026, 9, 1), actor="banker", client_id=new_key())
    before = pool_balances(ledger)
    refused(
        FundsCode.APPROVER_MUST_DIFFER_FROM_RECORDER,
        pools.approve_claim,
        claim_id,
        approver="banker",
        paid_on=date(2026, 9, 2),
    )
    refused(
        FundsCode.APPROVER_MUST_DIFFER_FROM_RECORDER,
        pools.contribute,
        "gz",
        CITY,
        "1万",
        date(2026, 9, 1),
        actor="clerk",
        approver="clerk",
        client_id=new_key(),
    )
    assert pool_balances(ledger) == before


def test_rejected_claim_pays_nothing_and_cannot_be_approved(ledger, pools):
    claim_id = pools.submit_claim(defaulted_loan(pools), "400万", date(2026, 9, 1), actor="banker", client_id=new_key())
    pools.reject_claim(claim_id, approver="auditor", reason="collateral not enforced")
    before = pool_balances(ledger)
    refused(FundsCode.ALREADY_DECIDED, pools.approve_claim, claim_id, approver="auditor", paid_on=date(2026, 9, 2))
    assert pool_balances(ledger) == before


def test_claim_on_a_loan_not_defaulted_is_refused(pools):
    loan_id = pools.file_loan(
        "gz", BANK_A, FIRM_1, "L1", "100万", date(2026, 2, 1), 12, date(2026, 2, 5), actor="b", client_id=new_key()
    )
    refused(
        FundsCode.LOAN_NOT_DEFAULTED,
        pools.submit_claim,
        loan_id,
        "100万",
        date(2026, 9, 1),
        actor="banker",
        client_id=new_key(),
    )
    refused(FundsCode.LOAN_STATUS_TRANSITION_INVALID, pools.set_loan_status, loan_id, "defaulted", actor="banker")


def test_claim_above_the_loan_principal_is_refused(pools):
    refused(
        FundsCode.NON_PERFORMING_PRINCIPAL_EXCEEDS_LOAN,
        pools.submit_claim,
        defaulted_loan(pools, principal="100万"),
        "101万",
        date(2026, 9, 1),
        actor="banker",
        client_id=new_key(),
    )


def test_recovery_never_returns_more_than_was_paid_out(ledger, pools):
    claim_id = pools.submit_claim(
        defaulted_loan(pools, principal="100万"), "100万", date(2026, 9, 1), actor="b", client_id=new_key()
    )
    pools.approve_claim(claim_id, approver="auditor", paid_on=date(2026, 9, 2))  # paid 50万
    first = pools.record_recovery(claim_id, "80万", "0", date(2027, 1, 1), actor="banker", client_id=new_key())
    assert first.returned_fen == 40 * WAN and not first.clipped
    second = pools.record_recovery(claim_id, "80万", "0", date(2027, 2, 1), actor="banker", client_id=new_key())
    assert second.returned_fen == 10 * WAN and second.clipped
    assert [flag["code"] for flag in flags_for(ledger, "recovery", second.recovery_id)] == [
        FundsCode.RECOVERY_CLIPPED_TO_PAYOUT
    ]
    claim = pools.claim(claim_id)
    assert claim["recovery_parts"] == claim["payment_parts"]
    assert (
        pools.record_recovery(claim_id, "1万", "0", date(2027, 3, 1), actor="banker", client_id=new_key()).returned_fen
        == 0
    )


def test_recovery_costs_above_gross_and_recovery_without_payout_are_refused(ledger, pools):
    claim_id = pools.submit_claim(defaulted_loan(pools), "400万", date(2026, 9, 1), actor="banker", client_id=new_key())
    before = pool_balances(ledger)
    refused(
        FundsCode.RECOVERY_WITHOUT_PAYOUT,
        pools.record_recovery,
        claim_id,
        "10万",
        "0",
        date(2027, 1, 1),
        actor="b",
        client_id=new_key(),
    )
    pools.approve_claim(claim_id, approver="auditor", paid_on=date(2026, 9, 2))
    before = pool_balances(ledger)
    refused(
        FundsCode.RECOVERY_COSTS_EXCEED_GROSS,
        pools.record_recovery,
        claim_id,
        "1万",
        "2万",
        date(2027, 1, 1),
        actor="b",
        client_id=new_key(),
    )
    assert pool_balances(ledger) == before


def test_anhui_variant_pays_thirty_percent_by_configuration_alone(ledger):
    pools = build_pool(ledger, code="ah", policy=ANHUI_POOL_POLICY)
    claim_id = pools.submit_claim(
        defaulted_loan(pools, code="ah", principal="100万"), "100万", date(2026, 9, 1), actor="b", client_id=new_key()
    )
    assert pools.approve_claim(claim_id, approver="auditor", paid_on=date(2026, 9, 2)).entitled_fen == 30 * WAN
    # Anhui has no per-firm filing cap configured: 2500万 in a year is accepted.
    pools.file_loan(
        "ah",
        BANK_A,
        FIRM_2,
        "L2",
        "2500万",
        date(2026, 3, 1),
        12,
        date(2026, 3, 2),
        actor="banker",
        client_id=new_key(),
    )


def test_bank_agreement_ratio_overrides_the_pool_ratio(ledger):
    pools = build_pool(ledger, terms_a=BankAgreementTerms(source="agreement 20% guaranteed", compensation_ratio="20%"))
    claim_id = pools.submit_claim(
        defaulted_loan(pools, principal="100万"), "100万", date(2026, 9, 1), actor="b", client_id=new_key()
    )
    assert pools.approve_claim(claim_id, approver="auditor", paid_on=date(2026, 9, 2)).entitled_fen == 20 * WAN


def test_funders_shares_must_sum_to_one(ledger):
    funders = [FunderShare(PROVINCE, "province", "20%"), FunderShare(CITY, "city", "70%")]
    refused(
        FundsCode.FUNDER_SHARES_MUST_SUM_TO_ONE, RiskPools(ledger).create_pool, "bad", "bad", ANHUI_POOL_POLICY, funders
    )
    assert [book for book in ledger.books() if book["code"].startswith("pool:bad")] == []


def test_pool_cash_account_refuses_an_overdraft_at_the_ledger(ledger, pools):
    before = pool_balances(ledger)
    with pytest.raises(LedgerError) as caught:
        ledger.post(
            TransactionRequest(
                "overdraw",
                posting_specs(
                    "pool:gz", [(f"Expenses:Compensation:{CITY}", "10000000.01"), (POOL_CASH, "-10000000.01")]
                ),
                date(2026, 9, 1),
            )
        )
    assert caught.value.code == ResultCode.CREDITS_EXCEED_DEBITS
    assert pool_balances(ledger) == before
