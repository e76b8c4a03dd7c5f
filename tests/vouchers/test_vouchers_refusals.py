"""Every rule refuses with its named code and leaves every balance untouched."""

from datetime import date

import pytest

from ledger.errors import LedgerError
from tests.vouchers.conftest import SHANGHAI, START, SUZHOU, balances, build_scheme, credit_code
from vouchers import programs
from vouchers.codes import VoucherCode
from vouchers.grants import approve_grant, submit_grant
from vouchers.redemptions import cancel, claim, reserve


def refused(ledger, code, action):
    before = balances(ledger)
    with pytest.raises(LedgerError) as caught:
        action()
    assert caught.value.code == code, caught.value.message
    assert balances(ledger) == before
    return caught.value


def _reserve(scheme, contract_no="C-1", region=SHANGHAI, provider_region=SHANGHAI, **overrides):
    values = dict(
        enterprise=scheme.enterprises[region],
        provider=scheme.providers[provider_region],
        category="testing",
        contract_no=contract_no,
        contract_amount="2万",
        on=date(2026, 2, 1),
        actor="enterprise-user",
    )
    values.update(overrides)
    return reserve(scheme.ledger, scheme.programs[region], **values)


def _claim(scheme, redemption_id, invoice_no="INV-1", invoiced="2万", **overrides):
    values = dict(invoice_no=invoice_no, invoiced_amount=invoiced, on=date(2026, 3, 1), actor="p", verifier="o")
    values.update(overrides)
    return claim(scheme.ledger, redemption_id, **values)


def test_grant_over_the_enterprise_annual_cap_is_refused_with_the_room_left(scheme):
    scheme.grant(SHANGHAI, "8万")
    error = refused(
        scheme.ledger, VoucherCode.GRANT_WITHIN_ENTERPRISE_ANNUAL_CAP, lambda: scheme.grant(SHANGHAI, "3万")
    )
    assert error.detail["room_left"] == "20000.00"


def test_grant_over_the_budget_is_refused_with_the_room_left(ledger):
    scheme = build_scheme(ledger, budget="15万")
    other = ledger.register_institution(credit_code(150), "另一家企业", "enterprise", region_code=SHANGHAI)
    programs.register_enterprise(
        ledger, other, registration_no="SH-OTHER", valid_from=date(2025, 1, 1), valid_until=date(2027, 1, 1)
    )
    scheme.grant(SHANGHAI, "10万")
    error = refused(ledger, VoucherCode.GRANT_WITHIN_PROGRAM_BUDGET, lambda: scheme.grant(SHANGHAI, "6万", other))
    assert error.detail["room_left"] == "50000.00"


def test_clip_enforcement_grants_the_room_and_records_the_rule(ledger):
    scheme = build_scheme(ledger, cap_enforcement="clip")
    scheme.grant(SHANGHAI, "8万")
    decision = scheme.grant(SHANGHAI, "5万")
    assert (decision.granted_fen, decision.clipped_by) == (2_000_000, "grant_within_enterprise_annual_cap")


def test_grant_approved_by_its_maker_is_refused(scheme):
    grant_id = submit_grant(
        scheme.ledger,
        scheme.programs[SHANGHAI],
        scheme.enterprises[SHANGHAI],
        "1万",
        maker="clerk",
        on=START,
        client_id="refusal-maker-checker",
    )
    refused(
        scheme.ledger,
        VoucherCode.APPROVER_MUST_DIFFER_FROM_MAKER,
        lambda: approve_grant(scheme.ledger, grant_id, checker="clerk", approval_doc="d", on=START),
    )


def test_grant_to_an_ineligible_enterprise_is_refused(scheme):
    outsider = scheme.ledger.register_institution(credit_code(160), "未入库企业", "enterprise", region_code=SHANGHAI)
    refused(scheme.ledger, VoucherCode.ENTERPRISE_MUST_BE_ELIGIBLE, lambda: scheme.grant(SHANGHAI, "1万", outsider))


def test_enterprise_whose_registration_lapsed_cannot_redeem(scheme):
    lapsed = scheme.ledger.register_institution(credit_code(170), "过期企业", "enterprise", region_code=SHANGHAI)
    programs.register_enterprise(
        scheme.ledger, lapsed, registration_no="SH-LAPSED", valid_from=date(2025, 1, 1), valid_until=date(2026, 1, 31)
    )
    scheme.grant(SHANGHAI, "1万", lapsed)
    refused(scheme.ledger, VoucherCode.ENTERPRISE_MUST_BE_ELIGIBLE, lambda: _reserve(scheme, enterprise=lapsed))


def test_uncertified_provider_is_refused(scheme):
    scheme.grant(SHANGHAI, "10万")
    uncertified = scheme.ledger.register_institution(
        credit_code(180), "无资质机构", "service_provider", region_code=SHANGHAI
    )
    refused(scheme.ledger, VoucherCode.PROVIDER_MUST_BE_CERTIFIED, lambda: _reserve(scheme, provider=uncertified))


def test_provider_certified_for_another_category_is_refused(scheme):
    scheme.grant(SHANGHAI, "10万")
    refused(scheme.ledger, VoucherCode.PROVIDER_MUST_BE_CERTIFIED, lambda: _reserve(scheme, category="tech_transfer"))


def test_related_provider_is_refused(scheme):
    scheme.grant(SHANGHAI, "10万")
    programs.declare_related_parties(
        scheme.ledger, scheme.enterprises[SHANGHAI], scheme.providers[SHANGHAI], "same controlling shareholder"
    )
    refused(scheme.ledger, VoucherCode.RELATED_PARTIES_CANNOT_TRANSACT, lambda: _reserve(scheme))


def test_category_outside_the_program_is_refused(scheme):
    scheme.grant(SHANGHAI, "10万")
    refused(scheme.ledger, VoucherCode.SERVICE_CATEGORY_MUST_BE_COVERED, lambda: _reserve(scheme, category="legal"))


def test_redemption_after_use_by_is_refused(scheme):
    scheme.grant(SHANGHAI, "10万")
    refused(scheme.ledger, VoucherCode.REDEMPTION_BEFORE_USE_BY, lambda: _reserve(scheme, on=date(2026, 7, 1)))


def test_claim_after_redeem_by_is_refused(scheme):
    scheme.grant(SHANGHAI, "10万")
    redemption = _reserve(scheme)
    refused(
        scheme.ledger,
        VoucherCode.CLAIM_BEFORE_REDEEM_BY,
        lambda: _claim(scheme, redemption["id"], on=date(2026, 10, 1)),
    )


def test_contract_number_redeems_once_across_regions(scheme):
    scheme.grant(SHANGHAI, "10万")
    scheme.grant(SUZHOU, "10万")
    _reserve(scheme, contract_no="2026-JS-0001")
    refused(
        scheme.ledger,
        VoucherCode.CONTRACT_NUMBER_REDEEMS_ONCE,
        lambda: _reserve(scheme, contract_no="2026-JS-0001", region=SUZHOU, provider_region=SUZHOU),
    )


def test_invoice_number_redeems_once_across_regions(scheme):
    scheme.grant(SHANGHAI, "10万")
    scheme.grant(SUZHOU, "10万")
    first = _reserve(scheme, contract_no="C-A")
    second = _reserve(scheme, contract_no="C-B", region=SUZHOU, provider_region=SUZHOU)
    _claim(scheme, first["id"], invoice_no="FP-42")
    refused(
        scheme.ledger, VoucherCode.INVOICE_NUMBER_REDEEMS_ONCE, lambda: _claim(scheme, second["id"], invoice_no="FP-42")
    )


def test_claim_above_the_reservation_is_refused(scheme):
    scheme.grant(SHANGHAI, "10万")
    redemption = _reserve(scheme)  # reserves 1万
    refused(
        scheme.ledger,
        VoucherCode.CLAIM_WITHIN_RESERVATION,
        lambda: _claim(scheme, redemption["id"], requested_amount="10000.01"),
    )


def test_double_redemption_is_refused(scheme):
    scheme.grant(SHANGHAI, "10万")
    redemption = _reserve(scheme)
    _claim(scheme, redemption["id"])
    refused(
        scheme.ledger, VoucherCode.REDEMPTION_CLAIMED_ONCE, lambda: _claim(scheme, redemption["id"], invoice_no="X")
    )


def test_cancelling_a_claimed_redemption_is_refused(scheme):
    scheme.grant(SHANGHAI, "10万")
    redemption = _reserve(scheme)
    _claim(scheme, redemption["id"])
    refused(
        scheme.ledger,
        VoucherCode.REDEMPTION_MUST_BE_RESERVED,
        lambda: cancel(scheme.ledger, redemption["id"], actor="u", reason="r", on=START),
    )


def test_reservation_without_quota_is_refused(scheme):
    error = refused(scheme.ledger, VoucherCode.QUOTA_MUST_COVER_RESERVATION, lambda: _reserve(scheme))
    assert error.detail["room_left"] == "0.00"


def test_unknown_cross_region_mode_is_refused(scheme):
    scheme.grant(SHANGHAI, "10万")
    refused(
        scheme.ledger,
        VoucherCode.CROSS_REGION_MODE_INVALID,
        lambda: _reserve(scheme, provider_region=SUZHOU, mode="barter"),
    )
