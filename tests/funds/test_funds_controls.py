"""funds.controls: every sub-ledger equals its control accounts, and public cash has its budgetary entry."""

from datetime import date

import pytest
from sqlalchemy import text

from funds.config import DEFAULT_FUND_POLICY
from funds.controls import reconcile_controls
from funds.guidance import GuidanceFunds
from funds.pools import POOL_CASH, financial_book
from ledger.engine import posting_specs
from ledger.entries import TransactionRequest
from ledger.queries import reconcile
from tests.funds.conftest import BANK_A, BANK_B, CITY, FIRM_2, build_pool, defaulted_loan
from tests.funds.keys import new_key

GF = "gzgf"


def realistic_scenario(ledger) -> None:
    """A guidance fund with a sub-fund through calls, investments, a partial exit, fees and a recallable
    distribution; a pool through funding, claims paid in part, a settlement the next year and a recovery."""
    funds = GuidanceFunds(ledger)
    funds.create_guidance_fund(GF, "引导基金", "440100", DEFAULT_FUND_POLICY)
    funds.appropriate(GF, "5000万", date(2026, 1, 2), actor="budget", approver="director", client_id="approp-1")
    funds.create_subfund(
        GF,
        "sf1",
        "Sub-fund 1",
        manager_code="MGR-1",
        size="1亿",
        established_on=date(2026, 1, 1),
        term_years=8,
        investment_period_end=date(2030, 12, 31),
        fee_basis="invested",
        fee_rate="2%",
    )
    for investor, amount, guidance in (("LP-A", "3000万", False), ("LP-A", "2000万", False), ("LP-B", "2500万", False),
                                       (GF, "2000万", True)):  # fmt: skip
        commitment = funds.record_commitment(
            "sf1", investor, amount, date(2026, 1, 5), actor="gp", is_guidance=guidance, client_id=new_key()
        )
        funds.approve_commitment(commitment, approver="reviewer")
    funds.establish_subfund("sf1", date(2026, 1, 20), actor="reviewer")
    call_id = funds.record_call("sf1", "40%", date(2026, 2, 1), date(2026, 3, 1), actor="gp", client_id="call-1")
    for investor, amount_fen in funds.approve_call(call_id, approver="reviewer").items():
        funds.pay_call(call_id, investor, f"{amount_fen // 100}", date(2026, 2, 20), actor="gp", client_id=investor)
    investment = funds.invest(
        "sf1", "ENT-1", "1500万", date(2026, 4, 1), stage="seed", is_local=True, sector="ai", hard_tech=True,
        actor="gp", client_id="inv-1",
    )  # fmt: skip
    funds.invest(
        "sf1", "ENT-2", "800万", date(2026, 5, 1), stage="growth", is_local=False, sector="bio", hard_tech=False,
        actor="gp", client_id="inv-2",
    )  # fmt: skip
    funds.exit_investment(investment, "500万", "900万", date(2027, 3, 1), actor="gp", client_id="exit-1")
    funds.accrue_fees("sf1", date(2027, 12, 31), actor="gp")
    distribution = funds.record_distribution(
        "sf1", date(2028, 1, 10), "500万", "300万", recallable=True, actor="gp", client_id="dist-1"
    )
    funds.approve_distribution(distribution, approver="reviewer")
    funds.remit_to_treasury(GF, "100万", date(2028, 2, 1), actor="budget", approver="director", client_id="remit-1")

    pools = build_pool(ledger, funding=("40万", "80万", "80万"))
    first = pools.submit_claim(defaulted_loan(pools), "400万", date(2026, 9, 1), actor="banker", client_id="claim-1")
    pools.approve_claim(first, approver="auditor", paid_on=date(2026, 9, 2))  # pays 200万 of 200万
    second = pools.submit_claim(
        defaulted_loan(pools, bank=BANK_B, firm=FIRM_2, number="L2", principal="100万"),
        "100万",
        date(2026, 10, 1),
        actor="banker",
        client_id="claim-2",
    )
    pools.approve_claim(second, approver="auditor", paid_on=date(2026, 10, 2))  # the pool is empty: owed
    pools.contribute("gz", CITY, "100万", date(2027, 1, 5), actor="clerk", approver="chief", client_id="top-up")
    pools.settle_outstanding("gz", date(2027, 1, 10), actor="clerk", approver="auditor", client_id="settle-2027")
    pools.record_recovery(first, "100万", "10万", date(2027, 3, 1), actor="banker", client_id="recovery-1")


def test_controls_are_clean_after_a_realistic_scenario(ledger):
    realistic_scenario(ledger)
    assert reconcile(ledger.engine) == []
    assert reconcile_controls(ledger.engine) == []


def _update(ledger, sql: str) -> None:
    with ledger.engine.begin() as conn:
        conn.execute(text(sql))


# (domain table, the UPDATE that tampers with one of its rows, the subject the finding must name)
TAMPERING = [
    ("funds_commitments", "amount_fen = amount_fen + 1 WHERE id = 1", "funds_commitments sf1/LP-A"),
    ("funds_commitments", "amount_fen = amount_fen + 1 WHERE is_guidance", f"funds_commitments guidance {GF}/sf1"),
    ("funds_call_items", "amount_fen = amount_fen + 1 WHERE id = 1", "funds_call_items sf1/LP-A"),
    ("funds_call_items", "paid_fen = paid_fen - 1 WHERE id = 1", "funds_call_items paid sf1/LP-A"),
    ("funds_call_payments", "amount_fen = amount_fen - 1 WHERE id = 1", "funds_call_payments sf1/LP-A"),
    ("funds_investments", "amount_fen = amount_fen + 100 WHERE id = 1", "funds_investments sf1/ENT-1"),
    ("funds_investments", "exited_cost_fen = 0 WHERE id = 1", "funds_investments sf1/ENT-1"),
    ("funds_investment_exits", "cost_fen = cost_fen + 1 WHERE id = 1", "funds_investment_exits sf1/ENT-1"),
    ("funds_distributions", "capital_fen = capital_fen + 1 WHERE id = 1", "funds_distributions sf1"),
    ("funds_distribution_parts", "capital_fen = capital_fen + 1 WHERE id = 1", "funds_distribution_parts capital"),
    ("funds_distribution_parts", "income_fen = income_fen + 1 WHERE id = 1", "funds_distribution_parts income"),
    ("funds_fee_accruals", "amount_fen = amount_fen + 1 WHERE id = 1", "funds_fee_accruals sf1"),
    ("funds_pool_contributions", "amount_fen = amount_fen + 1 WHERE id = 1", "funds_pool_contributions gz/440000"),
    ("funds_claim_payment_parts", "amount_fen = amount_fen + 1 WHERE id = 1", "funds_claim_payment_parts gz/440000"),
    ("funds_claim_payments", "amount_fen = amount_fen + 1 WHERE id = 1", "funds_claim_payments gz/2026"),
    ("funds_claims", "paid_fen = paid_fen + 1 WHERE id = 1", "funds_claims paid gz/2026"),
    ("funds_claims", "recovered_fen = recovered_fen + 1 WHERE id = 1", "funds_claims recovered gz/2026"),
    ("funds_recoveries", "returned_fen = returned_fen + 1 WHERE id = 1", "funds_recoveries gz/2026"),
    ("funds_recovery_parts", "amount_fen = amount_fen + 1 WHERE id = 1", "funds_recovery_parts gz/440000"),
    ("funds_loans", f"covered_fen = covered_fen - 1 WHERE bank_code = '{BANK_A}'", f"funds_loans covered gz/{BANK_A}"),
]


@pytest.mark.parametrize(
    ("table", "change", "subject"), TAMPERING, ids=[f"{t}:{c.split()[0]}" for t, c, _ in TAMPERING]
)
def test_a_tampered_domain_row_is_a_finding_naming_its_table(ledger, table, change, subject):
    realistic_scenario(ledger)
    _update(ledger, f"UPDATE {table} SET {change}")
    findings = reconcile_controls(ledger.engine)
    assert any(finding.subject.startswith(subject) for finding in findings), findings
    finding = next(finding for finding in findings if finding.subject.startswith(subject))
    assert finding.kind == "control" and finding.expected_fen != finding.actual_fen
    assert "off by" in finding.message


def test_public_cash_moved_without_its_budgetary_entry_is_a_finding(ledger):
    realistic_scenario(ledger)
    ledger.post(
        TransactionRequest(
            "no-budget-entry",
            posting_specs(financial_book("gz"), [(POOL_CASH, "-1.00"), (f"Expenses:Compensation:{CITY}", "1.00")]),
            date(2027, 6, 1),
            source="test",
        )
    )
    subjects = [finding.subject for finding in reconcile_controls(ledger.engine)]
    assert any(subject.startswith("dual basis pool:gz transaction") for subject in subjects), subjects
    assert "dual basis pool:gz Assets:Bank:Pool" in subjects
