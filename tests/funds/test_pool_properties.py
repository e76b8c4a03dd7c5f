"""Property tests: payouts never exceed any cap, recoveries never return more than was paid out, and funders'
portions always sum to the whole. One pool per example, many claims within it."""

import itertools
from datetime import date
from fractions import Fraction

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from funds.codes import FundsCode
from funds.config import GUANGZHOU_POOL_POLICY, BankAgreementTerms
from funds.pools import FunderShare
from ledger.errors import LedgerError
from tests.funds.conftest import build_pool
from tests.funds.keys import new_key

POOL_NUMBERS = itertools.count()
FIRMS = ["FIRM-1", "FIRM-2", "FIRM-3"]

claims_strategy = st.lists(
    st.tuples(
        st.sampled_from(["BANK-A", "BANK-B"]),
        st.sampled_from(FIRMS),
        st.integers(min_value=1, max_value=500),  # principal in 万
        st.integers(min_value=1, max_value=100),  # non-performing share of principal, %
        st.integers(min_value=0, max_value=400),  # recovered gross, 万
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    weights=st.lists(st.integers(min_value=1, max_value=9), min_size=1, max_size=3),
    funding_wan=st.integers(min_value=1, max_value=600),
    per_loan_wan=st.integers(min_value=1, max_value=300),
    annual_wan=st.integers(min_value=1, max_value=500),
    enterprise_wan=st.integers(min_value=1, max_value=300),
    claims=claims_strategy,
)
def test_payouts_respect_every_cap_and_parts_sum_to_the_whole(
    ledger, weights, funding_wan, per_loan_wan, annual_wan, enterprise_wan, claims
):
    code = f"p{next(POOL_NUMBERS)}"
    total = sum(weights)
    funders = [FunderShare(f"44{index:02d}00", "city", f"{weight}/{total}") for index, weight in enumerate(weights)]
    shares = [Fraction(weight, total) for weight in weights]
    funding = [f"{max(1, int(funding_wan * share))}万" for share in shares]
    terms = BankAgreementTerms(
        source="property test",
        per_loan_cap=f"{per_loan_wan}万",
        bank_annual_cap=f"{annual_wan}万",
        enterprise_cumulative_cap=f"{enterprise_wan}万",
    )
    pools = build_pool(
        ledger, code=code, policy=GUANGZHOU_POOL_POLICY, funders=funders, funding=funding, terms_a=terms, terms_b=terms
    )
    entitled_by_bank: dict[str, int] = {}
    entitled_by_firm: dict[str, int] = {}
    claim_ids = []
    for number, (bank, firm, principal_wan, npl_percent, recovered_wan) in enumerate(claims):
        try:
            loan_id = pools.file_loan(
                code,
                bank,
                firm,
                f"L{number}",
                f"{principal_wan}万",
                date(2026, 2, 1),
                12,
                date(2026, 2, 2),
                actor="banker",
                client_id=new_key(),
            )
        except LedgerError as error:
            assert error.code == FundsCode.ENTERPRISE_ANNUAL_FILED_LOANS_CAP_EXCEEDED
            continue
        pools.set_loan_status(loan_id, "overdue", actor="banker")
        pools.set_loan_status(loan_id, "defaulted", actor="banker")
        npl_fen = principal_wan * 1_000_000 * npl_percent // 100
        claim_id = pools.submit_claim(
            loan_id, f"{npl_fen // 100}.{npl_fen % 100:02d}", date(2026, 9, 1), actor="banker", client_id=new_key()
        )
        try:
            decision = pools.approve_claim(claim_id, approver="auditor", paid_on=date(2026, 9, 2))
        except LedgerError as error:
            assert error.code == FundsCode.CLAIM_NOTHING_PAYABLE
            continue
        claim_ids.append(claim_id)
        assert decision.entitled_fen <= npl_fen // 2
        assert decision.entitled_fen <= per_loan_wan * 1_000_000
        entitled_by_bank[bank] = entitled_by_bank.get(bank, 0) + decision.entitled_fen
        entitled_by_firm[firm] = entitled_by_firm.get(firm, 0) + decision.entitled_fen
        assert entitled_by_bank[bank] <= annual_wan * 1_000_000
        assert entitled_by_firm[firm] <= enterprise_wan * 1_000_000
        if decision.payout is not None:
            assert sum(decision.payout.parts.values()) == decision.payout.amount_fen
        assert pools.balance_fen(code) >= 0
        if decision.paid_fen and recovered_wan:
            pools.record_recovery(
                claim_id, f"{recovered_wan}万", "0", date(2027, 1, 1), actor="banker", client_id=new_key()
            )
            pools.record_recovery(
                claim_id,
                f"{recovered_wan}万",
                "1万" if recovered_wan else "0",
                date(2027, 2, 1),
                actor="banker",
                client_id=new_key(),
            )
    for claim_id in claim_ids:
        claim = pools.claim(claim_id)
        assert claim["paid_fen"] <= claim["entitled_fen"]
        assert sum(claim["payment_parts"].values()) == claim["paid_fen"]
        assert sum(claim["recovery_parts"].values()) == claim["recovered_fen"] <= claim["paid_fen"]
        for funder, recovered in claim["recovery_parts"].items():
            assert recovered <= claim["payment_parts"][funder]
    contributed = sum(row["contributed_fen"] for row in pools.funder_statement(code))
    paid = sum(row["compensation_paid_fen"] for row in pools.funder_statement(code))
    recovered = sum(row["recovered_fen"] for row in pools.funder_statement(code))
    assert pools.balance_fen(code) == contributed - paid + recovered >= 0
