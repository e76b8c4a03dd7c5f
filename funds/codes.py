"""Result codes of the funds package: one named code per rule, phrased as the rule."""

from __future__ import annotations

from enum import StrEnum


class FundsCode(StrEnum):
    # approvals (不相容岗位分离)
    APPROVER_MUST_DIFFER_FROM_RECORDER = "approver_must_differ_from_recorder"
    ALREADY_DECIDED = "already_decided"
    NOT_FOUND = "funds_object_not_found"
    ALREADY_EXISTS = "funds_object_already_exists"
    CONFIGURATION_INVALID = "funds_configuration_invalid"
    CLIENT_ID_INVALID = "client_id_invalid"
    REQUEST_IN_FLIGHT = "request_in_flight"
    AMOUNT_MUST_BE_POSITIVE = "amount_must_be_positive"
    # risk-compensation pools
    FUNDER_SHARES_MUST_SUM_TO_ONE = "funder_shares_must_sum_to_one"
    FUNDER_NOT_IN_POOL = "funder_not_in_pool"
    BANK_AGREEMENT_NOT_VALID = "bank_agreement_not_valid"
    BANK_SUSPENDED = "bank_suspended"
    LOAN_FILING_WINDOW_PASSED = "loan_filing_window_passed"
    ENTERPRISE_ANNUAL_FILED_LOANS_CAP_EXCEEDED = "enterprise_annual_filed_loans_cap_exceeded"
    LOAN_STATUS_TRANSITION_INVALID = "loan_status_transition_invalid"
    FILING_REVOKED = "filing_revoked"
    LOAN_HAS_CLAIM = "loan_has_claim"
    LOAN_NOT_DEFAULTED = "loan_not_defaulted"
    NON_PERFORMING_PRINCIPAL_EXCEEDS_LOAN = "non_performing_principal_exceeds_loan"
    CLAIM_NOTHING_PAYABLE = "claim_nothing_payable"
    CLAIM_CLIPPED_BY_CAP = "claim_clipped_by_cap"
    POOL_BALANCE_EMPTY = "pool_balance_empty"
    RECOVERY_WITHOUT_PAYOUT = "recovery_without_payout"
    RECOVERY_COSTS_EXCEED_GROSS = "recovery_costs_exceed_gross"
    RECOVERY_CLIPPED_TO_PAYOUT = "recovery_clipped_to_payout"
    # guidance funds and sub-funds
    GUIDANCE_SHARE_OUT_OF_BOUNDS = "guidance_share_out_of_bounds"
    GUIDANCE_MUST_NOT_BE_LARGEST_INVESTOR = "guidance_must_not_be_largest_investor"
    GUIDANCE_COMMITMENT_MUST_BE_THE_FUNDS_OWN = "guidance_commitment_must_be_the_funds_own"
    COMMITMENTS_EXCEED_FUND_SIZE = "commitments_exceed_fund_size"
    FIRST_CALL_BELOW_MINIMUM = "first_call_below_minimum"
    CALL_EXCEEDS_UNFUNDED_COMMITMENT = "call_exceeds_unfunded_commitment"
    PAYMENT_EXCEEDS_CALL = "payment_exceeds_call"
    FEE_RATE_ABOVE_CAP = "fee_rate_above_cap"
    APPROPRIATION_INSUFFICIENT = "appropriation_insufficient"
    INVESTMENT_EXCEEDS_CASH = "investment_exceeds_cash"
    DISTRIBUTION_EXCEEDS_CASH = "distribution_exceeds_cash"
    EXIT_EXCEEDS_COST = "exit_exceeds_cost"
    SUBFUND_ALREADY_ESTABLISHED = "subfund_already_established"
    ENTERPRISE_ANNUAL_FILED_LOANS_CAP_CLIPPED = "enterprise_annual_filed_loans_cap_clipped"
    # checks over time (scheduled breach scan)
    TARGET_INVESTMENT_BELOW_FUND_SHARE = "target_investment_below_fund_share"
    TARGET_INVESTMENT_BELOW_GUIDANCE_MULTIPLE = "target_investment_below_guidance_multiple"
    LOCAL_REINVESTMENT_BELOW_MULTIPLE = "local_reinvestment_below_multiple"
    MONEY_IDLE_TOO_LONG = "money_idle_too_long"
