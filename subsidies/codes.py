"""Result codes of the subsidy domain: one per rule, phrased as the rule."""

from __future__ import annotations

from enum import StrEnum


class SubsidyCode(StrEnum):
    # configuration
    PROGRAM_CONFIG_INVALID = "program_config_invalid"
    PROGRAM_NOT_FOUND = "program_not_found"
    PROGRAM_EXISTS_WITH_DIFFERENT_CONFIG = "program_exists_with_different_config"
    # applications and the amount formula
    PROGRAM_YEAR_MUST_BE_WITHIN_PROGRAM = "program_year_must_be_within_program"
    PROGRAM_YEAR_MUST_BE_AN_INTEGER = "program_year_must_be_an_integer"
    DATE_MUST_BE_A_DATE = "date_must_be_a_date"
    BASE_FIGURE_REQUIRED = "base_figure_required"
    BASE_FIGURE_MUST_NOT_BE_NEGATIVE = "base_figure_must_not_be_negative"
    SCHEDULE_YEARS_EXHAUSTED = "schedule_years_exhausted"
    COMPUTED_AMOUNT_MUST_BE_POSITIVE = "computed_amount_must_be_positive"
    INSTITUTION_MUST_BE_REGISTERED = "institution_must_be_registered"
    APPLICATION_EXISTS_WITH_DIFFERENT_CONTENT = "application_exists_with_different_content"
    # caps, each with its enforcement (stop / clip / warn)
    CLAIM_MUST_NOT_EXCEED_PER_CLAIM_CAP = "claim_must_not_exceed_per_claim_cap"
    INSTITUTION_YEAR_TOTAL_MUST_NOT_EXCEED_CAP = "institution_year_total_must_not_exceed_cap"
    INSTITUTION_LIFETIME_TOTAL_MUST_NOT_EXCEED_CAP = "institution_lifetime_total_must_not_exceed_cap"
    AWARDEES_PER_YEAR_MUST_NOT_EXCEED_LIMIT = "awardees_per_year_must_not_exceed_limit"
    GRANTS_MUST_NOT_EXCEED_PROGRAM_BUDGET = "grants_must_not_exceed_program_budget"
    # maker-checker and life cycle
    CHECKER_MUST_DIFFER_FROM_MAKER = "checker_must_differ_from_maker"
    APPLICATION_NOT_FOUND = "application_not_found"
    APPLICATION_MUST_BE_SUBMITTED = "application_must_be_submitted"
    REJECTION_NEEDS_A_REASON = "rejection_needs_a_reason"
    GRANT_NOT_FOUND = "grant_not_found"
    PAYMENT_NEEDS_AN_APPROVED_GRANT = "payment_needs_an_approved_grant"
    CLAWBACK_NEEDS_AN_ACTIVE_GRANT = "clawback_needs_an_active_grant"
    CLAWBACK_NEEDS_A_REASON = "clawback_needs_a_reason"
    CLAWBACK_NOT_FOUND = "clawback_not_found"
    CLAWBACK_MUST_BE_REQUESTED = "clawback_must_be_requested"
    # retries: the caller's key with other content
    CLAWBACK_EXISTS_WITH_DIFFERENT_CONTENT = "clawback_exists_with_different_content"
    YEAR_END_EXISTS_WITH_DIFFERENT_CONTENT = "year_end_exists_with_different_content"
