"""Every record form, over httpx against the app on the demo world (tests/web/forms_support.py): a preview
says what would happen and writes nothing; a refused record shows the rule's code and writes nothing; a
field naming another region, fund, bank or institution is refused and writes nothing; a record is kept; and
the same form sent again (a double click, a resubmitted page) is answered as recorded and writes nothing more.
"Writes nothing" is checked on the row count of every table."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
import sqlalchemy as sa

from api.web.routes_forms_finance import all_forms
from subsidies.config import EXAMPLES_DIR
from tests.web.forms_support import (
    GZ_BANK,
    GZ_BORROWER,
    GZ_OTHER_BANK,
    NEW_SZ_ENTERPRISE,
    SH_ENTERPRISE,
    SH_PROVIDER,
    SUZHOU_CLERK,
    SZ_ENTERPRISE,
    Extras,
    changed,
    demo_world_fixture,  # noqa: F401 - a fixture
    field_errors,
    forms_site_fixture,  # noqa: F401 - a fixture
    open_form,
    outcome_code,
    send,
)

GZ_TRANSFER_CENTRE = "12440101MB2C00013J"  # at its 2019 per-year cap in the demo
GZ_ENTERPRISE = "91440101MA59A0023L"
SERVICE_TOML = (EXAMPLES_DIR / "gz-service-demonstration.toml").read_text(encoding="utf-8")
PREVIEW_OK = "预览：可以提交，尚未写入任何内容。"
RECORDED = "已记录。"
REPLAYED = "已记录过：同一表单再次提交，未重复记账。"


@dataclass(frozen=True)
class Case:
    """One form: values it records, a change a rule refuses, and a change that names what the user may not."""

    user: str
    slug: str
    good: dict
    refused: dict
    refused_code: str
    outside: dict
    outside_code: str
    writes: frozenset = field(default_factory=frozenset)  # tables a record adds rows to (at least)


def _program(**changes) -> dict:
    values = {
        "code": "GZ-FORMS-2026", "name": "广州测试创新券", "region": "440100", "year": "2026", "budget": "1000000.00",
        "enterprise_annual_cap": "50000.00", "per_application": "20000.00", "copay_ratio": "50%",
        "categories": "testing, rd_design", "use_by": "2026-12-31", "redeem_by": "2027-03-31",
        "cap_enforcement": "stop",
    }  # fmt: skip
    return values | changes


def _toml(code: str, region: str = "440100") -> str:
    return SERVICE_TOML.replace('code = "gz-service-demonstration"', f'code = "{code}"').replace(
        'region = "440100"', f'region = "{region}"'
    )


def _cases(extras: Extras) -> list[Case]:
    other = extras.other
    return [
        Case("gz-clerk", "voucher-program", _program(), _program(code="YRD-310000-2026"), "program_config_invalid",
             _program(code="SH-FORMS-2026", region="310000"), "role_forbidden",
             frozenset({"api_approval_requests", "api_keyed_writes"})),
        Case("gz-clerk", "subsidy-program", {"config": _toml("gz-forms-test")},
             {"config": 'code = "no-name"'}, "program_config_invalid",
             {"config": _toml("sh-forms-test", "310000")}, "role_forbidden", frozenset({"subsidies_programs"})),
        Case(SUZHOU_CLERK, "voucher-grant",
             {"program": "YRD-320500-2026", "enterprise": NEW_SZ_ENTERPRISE, "amount": "1000.00", "on": "2026-06-01"},
             {"enterprise": SZ_ENTERPRISE}, "grant_within_enterprise_annual_cap",
             {"program": "YRD-310000-2026", "enterprise": SH_ENTERPRISE}, "program_not_found",
             frozenset({"vouchers_grants"})),
        Case("gz-enterprise", "subsidy-application",
             {"program": "nansha-revenue-lifetime", "institution": GZ_ENTERPRISE, "year": "2020",
              "figure_name": "revenue", "figure_amount": "1000000.00"},
             {"year": "1999"}, "program_year_must_be_within_program",
             {"institution": GZ_TRANSFER_CENTRE}, "institution_must_be_registered",
             frozenset({"subsidies_applications"})),
        Case("gz-clerk", "subsidy-payment", {"grant_id": "2", "on": "2026-12-01"},
             {"grant_id": str(extras.clawed_back_grant)}, "payment_needs_an_approved_grant",
             {"grant_id": "999999"}, "grant_not_found", frozenset({"transactions"})),
        Case("gz-clerk", "subsidy-clawback", {"grant_id": "3", "reason": "项目未按期验收"},
             {"grant_id": str(extras.clawed_back_grant)}, "clawback_needs_an_active_grant",
             {"grant_id": "999999"}, "grant_not_found", frozenset({"subsidies_clawbacks"})),
        Case("gz-clerk", "period-close", {"book": "440100-finance", "period": "2026-01"},
             {"period": "2026-13"}, "period_invalid", {"book": "vouchers-310000-memo"}, "book_not_found",
             frozenset({"period_closes"})),
        Case("sh-enterprise", "voucher-reservation",
             {"program": "YRD-310000-2026", "enterprise": SH_ENTERPRISE, "provider": SH_PROVIDER,
              "category": "testing", "contract_no": "FORMS-C-0100", "contract_amount": "2000.00", "on": "2026-06-01"},
             {"contract_no": "DEMO-2026-310000-0001"}, "contract_number_redeems_once",
             {"enterprise": SZ_ENTERPRISE}, "enterprise_must_be_eligible", frozenset({"vouchers_redemptions"})),
        Case("gz-fund-manager", "commitment",
             {"subfund": "gz-seed-1", "investor_code": "LP-FORMS", "amount": "1000000.00",
              "committed_on": "2026-06-01"},
             {"amount": "0.00"}, "amount_must_be_positive", {"subfund": other["subfund"]}, "funds_object_not_found",
             frozenset({"funds_commitments"})),
        Case("gz-fund-manager", "capital-call",
             {"subfund": "gz-seed-1", "ratio": "10%", "notice_on": "2026-06-01", "due_on": "2026-06-30"},
             {"ratio": "1/0"}, "ratio_invalid", {"subfund": other["subfund"]}, "funds_object_not_found",
             frozenset({"funds_capital_calls"})),
        Case("gz-fund-manager", "call-payment",
             {"call_id": str(extras.open_call), "investor_code": "LP-INSURER", "amount": "1000000.00",
              "paid_on": "2026-09-10"},
             {"amount": "99999999.00"}, "payment_exceeds_call", {"call_id": str(other["call_id"])},
             "funds_object_not_found", frozenset({"funds_call_payments", "transactions"})),
        Case("gz-fund-manager", "investment",
             {"subfund": "gz-seed-1", "enterprise_code": GZ_BORROWER, "amount": "100000.00",
              "invested_on": "2026-06-01", "stage": "seed", "sector": "新材料", "is_local": "on"},
             {"amount": "999999999.00"}, "investment_exceeds_cash", {"subfund": other["subfund"]},
             "funds_object_not_found", frozenset({"funds_investments", "transactions"})),
        Case("gz-fund-manager", "exit",
             {"investment_id": "1", "cost": "1000000.00", "proceeds": "2000000.00", "exited_on": "2026-10-01"},
             {"cost": "999999999.00"}, "exit_exceeds_cost", {"investment_id": str(other["investment_id"])},
             "funds_object_not_found", frozenset({"funds_investment_exits", "transactions"})),
        Case("gz-fund-manager", "distribution",
             {"subfund": "gz-seed-1", "distributed_on": "2026-10-01", "capital": "100000.00", "income": "50000.00"},
             {"capital": "0.00", "income": "0.00"}, "amount_must_be_positive", {"subfund": other["subfund"]},
             "funds_object_not_found", frozenset({"funds_distributions"})),
        Case("gz-bank", "loan",
             {"pool": "gz-sme-pool", "bank_code": GZ_BANK, "enterprise_code": GZ_BORROWER, "loan_number": "FORMS-L9",
              "principal": "1000000.00", "disbursed_on": "2026-11-01", "term_months": "12", "filed_on": "2026-11-20"},
             {"disbursed_on": "2026-01-01"}, "loan_filing_window_passed", {"bank_code": GZ_OTHER_BANK},
             "role_forbidden", frozenset({"funds_loans"})),
        Case("gz-bank", "pool-claim",
             {"loan_id": str(extras.defaulted_loan), "non_performing": "2000000.00", "claimed_on": "2026-11-01"},
             {"loan_id": "1"}, "funds_object_already_exists", {"loan_id": str(other["loan_id"])},
             "funds_object_not_found", frozenset({"funds_claims"})),
        Case("gz-bank", "recovery",
             {"claim_id": "1", "gross": "10000.00", "costs": "1000.00", "recovered_on": "2026-11-01"},
             {"costs": "20000.00"}, "recovery_costs_exceed_gross", {"claim_id": str(other["claim_id"])},
             "funds_object_not_found", frozenset({"funds_recoveries", "transactions"})),
        Case("sh-provider", "voucher-claim",
             {"redemption_id": str(extras.reserved_redemption), "invoice_no": "INV-FORMS-1",
              "invoiced_amount": "2000.00", "on": "2026-07-01"},
             {"redemption_id": "1"}, "redemption_must_be_reserved", {"redemption_id": "2"}, "redemption_not_found",
             frozenset({"api_approval_requests"})),
    ]  # fmt: skip


CASE_SLUGS = [
    "voucher-program", "subsidy-program", "voucher-grant", "subsidy-application", "subsidy-payment",
    "subsidy-clawback", "period-close", "voucher-reservation", "commitment", "capital-call", "call-payment",
    "investment", "exit", "distribution", "loan", "pool-claim", "recovery", "voucher-claim",
]  # fmt: skip


@pytest.mark.parametrize("slug", CASE_SLUGS)
def test_a_form_previews_refuses_keeps_scope_and_records_once(forms_site, slug):
    case = next(case for case in _cases(forms_site.extras) if case.slug == slug)
    client = forms_site.client(case.user)
    start = forms_site.rows()

    preview = send(client, open_form(client, slug), "preview", case.good)
    assert preview.status_code == 200 and outcome_code(preview.text) == "ok", preview.text[-3000:]
    assert PREVIEW_OK in preview.text
    assert changed(start, forms_site.rows()) == {}

    refused = send(client, open_form(client, slug), "record", case.good | case.refused)
    assert outcome_code(refused.text) == case.refused_code, refused.text[-3000:]
    assert "被拒绝，未写入任何内容" in refused.text
    assert changed(start, forms_site.rows()) == {}

    outside = send(client, open_form(client, slug), "record", case.good | case.outside)
    assert outcome_code(outside.text) == case.outside_code, outside.text[-3000:]
    assert changed(start, forms_site.rows()) == {}

    filled = open_form(client, slug)
    recorded = send(client, filled, "record", case.good)
    assert outcome_code(recorded.text) == "ok" and RECORDED in recorded.text, recorded.text[-3000:]
    after = forms_site.rows()
    assert case.writes <= set(changed(start, after)), changed(start, after)
    assert filled.key not in recorded.text  # the next record gets a fresh key

    again = send(client, filled, "record", case.good)  # a double click, or the page sent again
    assert outcome_code(again.text) == "ok" and REPLAYED in again.text, again.text[-3000:]
    assert changed(after, forms_site.rows()) == {}


def test_every_form_of_every_role_has_a_case_or_its_own_test():
    """A form added without a test fails here (the reversal and valuation have their own tests below)."""
    assert {form.slug for form in all_forms()} == set(CASE_SLUGS) | {"reversal", "valuation"}


def _reversible_transaction(engine) -> int:
    """The newest payment in the 广州 finance office's own book (440100-finance), not yet reversed."""
    with engine.connect() as conn:
        return conn.execute(
            sa.text(
                "SELECT MAX(t.id) FROM transactions t JOIN postings p ON p.transaction_id = t.id "
                "JOIN accounts a ON a.id = p.account_id JOIN books b ON b.id = a.book_id "
                "WHERE b.code = '440100-finance' AND t.kind = 'payment' AND t.pending = 0 AND t.id NOT IN "
                "(SELECT reverses_id FROM transactions WHERE reverses_id IS NOT NULL)"
            )
        ).scalar_one()


def _transaction_of_book(engine, prefix: str) -> int:
    with engine.connect() as conn:
        return conn.execute(
            sa.text(
                "SELECT MIN(p.transaction_id) FROM postings p JOIN accounts a ON a.id = p.account_id "
                "JOIN books b ON b.id = a.book_id WHERE b.code LIKE :prefix"
            ),
            {"prefix": prefix + "%"},
        ).scalar_one()


def test_a_reversal_previews_then_posts_once_and_another_regions_transaction_is_refused(forms_site):
    client = forms_site.client("gz-clerk")
    target = _reversible_transaction(forms_site.engine)
    start = forms_site.rows()
    values = {"target": str(target), "reason": "错账更正", "date": "2026-12-01"}
    preview = send(client, open_form(client, "reversal"), "preview", values)
    assert outcome_code(preview.text) == "ok" and changed(start, forms_site.rows()) == {}

    outside = {"target": str(_transaction_of_book(forms_site.engine, "vouchers-310000"))}
    refused = send(client, open_form(client, "reversal"), "record", values | outside)
    assert outcome_code(refused.text) == "book_not_found" and changed(start, forms_site.rows()) == {}

    filled = open_form(client, "reversal")
    recorded = send(client, filled, "record", values)
    assert outcome_code(recorded.text) == "ok" and RECORDED in recorded.text
    after = forms_site.rows()
    assert changed(start, after)["transactions"] == 1
    again = send(client, filled, "record", values)
    assert REPLAYED in again.text and changed(after, forms_site.rows()) == {}

    twice = send(client, open_form(client, "reversal"), "record", values)  # a new form: the rule refuses it
    assert outcome_code(twice.text) == "transaction_already_reversed" and changed(after, forms_site.rows()) == {}


def test_a_valuation_the_api_does_not_key_is_recorded_once_by_the_forms_key(forms_site):
    client = forms_site.client("gz-fund-manager")
    start = forms_site.rows()
    values = {"subfund": "gz-seed-1", "as_of": "2026-06-30", "nav": "123456789.00", "source": "审计报告"}
    bad = send(client, open_form(client, "valuation"), "record", values | {"nav": "12.345"})
    assert bad.status_code == 200 and "nav" in field_errors(bad.text) and changed(start, forms_site.rows()) == {}
    outside = send(client, open_form(client, "valuation"), "record", values | {"subfund": "SZ-ANGEL-1"})
    assert outcome_code(outside.text) == "funds_object_not_found" and changed(start, forms_site.rows()) == {}
    filled = open_form(client, "valuation")
    recorded = send(client, filled, "record", values)
    assert outcome_code(recorded.text) == "ok" and "¥123,456,789.00" in recorded.text
    after = forms_site.rows()
    assert changed(start, after) == {"funds_valuations": 1, "api_keyed_writes": 1}
    again = send(client, filled, "record", values)
    assert REPLAYED in again.text and changed(after, forms_site.rows()) == {}
