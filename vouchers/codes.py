"""Result codes of the voucher rules: one per rule, phrased as the rule (DESIGN.md "Result codes")."""

from __future__ import annotations

from enum import StrEnum


class VoucherCode(StrEnum):
    # configuration and lookups
    PROGRAM_CONFIG_INVALID = "program_config_invalid"
    PROGRAM_NOT_FOUND = "program_not_found"
    REGION_NOT_IN_SCHEME = "region_not_in_scheme"
    GRANT_NOT_FOUND = "grant_not_found"
    REDEMPTION_NOT_FOUND = "redemption_not_found"
    SETTLEMENT_NOT_FOUND = "settlement_not_found"
    # maker-checker (不相容岗位分离)
    APPROVER_MUST_DIFFER_FROM_MAKER = "approver_must_differ_from_maker"
    GRANT_ALREADY_DECIDED = "grant_already_decided"
    REJECTION_NEEDS_REASON = "rejection_needs_reason"
    # grants
    GRANT_WITHIN_ENTERPRISE_ANNUAL_CAP = "grant_within_enterprise_annual_cap"
    GRANT_WITHIN_PROGRAM_BUDGET = "grant_within_program_budget"
    GRANT_BEFORE_USE_BY = "grant_before_use_by"
    GRANT_CLIENT_ID_HAS_OTHER_CONTENT = "grant_client_id_has_other_content"
    # eligibility of the parties
    ENTERPRISE_MUST_BE_ELIGIBLE = "enterprise_must_be_eligible"
    PROVIDER_MUST_BE_CERTIFIED = "provider_must_be_certified"
    RELATED_PARTIES_CANNOT_TRANSACT = "related_parties_cannot_transact"
    SERVICE_CATEGORY_MUST_BE_COVERED = "service_category_must_be_covered"
    # redemptions
    REDEMPTION_BEFORE_USE_BY = "redemption_before_use_by"
    CLAIM_BEFORE_REDEEM_BY = "claim_before_redeem_by"
    CONTRACT_NUMBER_REDEEMS_ONCE = "contract_number_redeems_once"
    INVOICE_NUMBER_REDEEMS_ONCE = "invoice_number_redeems_once"
    QUOTA_MUST_COVER_RESERVATION = "quota_must_cover_reservation"
    RESERVATION_MUST_BE_POSITIVE = "reservation_must_be_positive"
    RESERVATION_WITHIN_PER_APPLICATION_AMOUNT = "reservation_within_per_application_amount"
    CLAIM_WITHIN_RESERVATION = "claim_within_reservation"
    CLAIM_MUST_BE_POSITIVE = "claim_must_be_positive"
    REDEMPTION_CLAIMED_ONCE = "redemption_claimed_once"
    REDEMPTION_MUST_BE_RESERVED = "redemption_must_be_reserved"
    CROSS_REGION_MODE_INVALID = "cross_region_mode_invalid"
    # settlement
    SETTLEMENT_NEEDS_TWO_REGIONS = "settlement_needs_two_regions"
    SETTLEMENT_KEY_HAS_ANOTHER_PERIOD = "settlement_key_has_another_period"
    # provider payment batches (quarterly payout)
    PAYMENT_BATCH_NOT_FOUND = "payment_batch_not_found"
    PAYMENT_BATCH_ALREADY_DECIDED = "payment_batch_already_decided"
    PAYMENT_PERIOD_INVALID = "payment_period_invalid"
    PAYMENT_BATCH_KEY_HAS_ANOTHER_PERIOD = "payment_batch_key_has_another_period"
    PAYMENT_BATCH_MUST_NOT_BE_EMPTY = "payment_batch_must_not_be_empty"
    REDEMPTION_MUST_BE_PAYABLE_IN_BATCH = "redemption_must_be_payable_in_batch"
    REDEMPTION_PAID_ONCE = "redemption_paid_once"
    TREASURY_MUST_COVER_PAYMENT_BATCH = "treasury_must_cover_payment_batch"
    # 通用 reimbursements to enterprises
    REIMBURSEMENT_MUST_BE_A_CLAIMED_TONGYONG_REDEMPTION = "reimbursement_must_be_a_claimed_tongyong_redemption"
