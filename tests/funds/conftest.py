from datetime import date

import pytest

from funds.config import GUANGZHOU_POOL_POLICY, BankAgreementTerms
from funds.pools import FunderShare, RiskPools
from tests.funds.keys import new_key

PROVINCE, CITY, DISTRICT = "440000", "440100", "440106"
BANK_A, BANK_B = "BANK-A", "BANK-B"
FIRM_1, FIRM_2 = "FIRM-1", "FIRM-2"
GZ_FUNDERS = [
    FunderShare(PROVINCE, "province", "20%"),
    FunderShare(CITY, "city", "40%"),
    FunderShare(DISTRICT, "district", "40%"),
]


def build_pool(
    ledger,
    *,
    code="gz",
    policy=GUANGZHOU_POOL_POLICY,
    funders=GZ_FUNDERS,
    funding=("200万", "400万", "400万"),
    terms_a=None,
    terms_b=None,
) -> RiskPools:
    pools = RiskPools(ledger)
    pools.create_pool(code, "Guangzhou risk pool", policy, list(funders))
    for funder, amount in zip(funders, funding):
        pools.contribute(
            code, funder.funder_code, amount, date(2026, 1, 10), actor="clerk", approver="chief", client_id=new_key()
        )
    pools.add_bank(
        code,
        BANK_A,
        terms_a or BankAgreementTerms(source="agreement GZ-RP-2026-01", per_loan_cap="300万", bank_annual_cap="500万"),
        date(2026, 1, 1),
        date(2028, 12, 31),
    )
    pools.add_bank(
        code,
        BANK_B,
        terms_b or BankAgreementTerms(source="agreement GZ-RP-2026-02", enterprise_cumulative_cap="100万"),
        date(2026, 1, 1),
        date(2028, 12, 31),
    )
    return pools


@pytest.fixture
def pools(ledger) -> RiskPools:
    return build_pool(ledger)


def defaulted_loan(pools, *, bank=BANK_A, firm=FIRM_1, number="L1", principal="400万", code="gz"):
    loan_id = pools.file_loan(
        code, bank, firm, number, principal, date(2026, 2, 1), 12, date(2026, 3, 1), actor="banker", client_id=new_key()
    )
    pools.set_loan_status(loan_id, "overdue", actor="banker")
    pools.set_loan_status(loan_id, "defaulted", actor="banker")
    return loan_id


def pool_balances(ledger, code="gz") -> dict:
    return {
        (info.book, info.path): (info.debits_posted, info.credits_posted)
        for info in ledger.accounts()
        if info.book.startswith(f"pool:{code}")
    }
