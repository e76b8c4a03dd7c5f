"""What the bank, provider and upload page tests share: users with one password hash, a signed-in client,
the CSRF token of a page, and a risk pool in Guangzhou with two partner banks (made through the services)."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import date

from fastapi.testclient import TestClient
from pwdlib import PasswordHash

from api import auth
from api.app import create_app
from api.settings import Settings
from funds.config import GUANGZHOU_POOL_POLICY, BankAgreementTerms
from funds.pools import FunderShare, RiskPools
from ledger.engine import Ledger, utc_now
from ledger.entities import credit_code_check_character

SECRET = "partners-test-secret-that-is-long-enough-for-hs256"
PASSWORD = "partners test password"
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')
GUANGZHOU, SHENZHEN = "440100", "440300"


def credit_code(stem: str) -> str:
    return stem + credit_code_check_character(stem)


BANK_A = credit_code("91440101MA5TBANKA")
BANK_B = credit_code("91440101MA5TBANKB")
BORROWER_1 = credit_code("91440101MA5TDK001")
BORROWER_2 = credit_code("91440101MA5TDK002")
POOL = "gz-test-pool"


@functools.cache
def _password_hash() -> str:
    """One Argon2 hash for every test user: hashing costs most of a second by design, once is enough."""
    return PasswordHash.recommended().hash(PASSWORD)


def add_users(engine, users: dict[str, tuple[str, list[str]]]) -> None:  # noqa: ANN001 - an Engine
    with engine.begin() as conn:
        for name, (role, scopes) in users.items():
            conn.execute(
                auth.T_USERS.insert().values(
                    username=name,
                    password_hash=_password_hash(),
                    role=role,
                    scopes=" ".join(scopes),
                    disabled=False,
                    created_at=utc_now(),
                )
            )


def make_app(engine):  # noqa: ANN001, ANN201 - an Engine; a FastAPI app
    return create_app(engine, Settings(jwt_secret=SECRET, auth_failure_rate="100/minute"))


def login(app, username: str) -> tuple[TestClient, str]:  # noqa: ANN001
    """A client signed in as ``username`` and the page it landed on (the role's home)."""
    client = TestClient(app, raise_server_exceptions=False, follow_redirects=False)
    token = CSRF_INPUT.search(client.get("/web/login").text).group(1)
    response = client.post(
        "/web/login", data={"csrf_token": token, "username": username, "password": PASSWORD, "next_url": ""}
    )
    assert response.status_code == 303, response.text[:500]
    return client, response.headers["location"]


def csrf_of(client: TestClient, path: str) -> str:
    return CSRF_INPUT.search(client.get(path).text).group(1)


@dataclass(frozen=True)
class Lending:
    """A pool funded by Guangzhou with banks A and B: A's defaulted loan with a paid claim and one recovery
    reported, A's performing loan, B's loan."""

    defaulted_loan: int
    performing_loan: int
    other_bank_loan: int
    claim: int


def build_lending(ledger: Ledger) -> Lending:
    ledger.register_region(GUANGZHOU, "广州市")
    for code, name, kind in (
        (BANK_A, "甲测试银行", "bank"),
        (BANK_B, "乙测试银行", "bank"),
        (BORROWER_1, "甲借款科技有限公司", "enterprise"),
        (BORROWER_2, "乙借款科技有限公司", "enterprise"),
    ):
        ledger.register_institution(code, name, kind, region_code=GUANGZHOU)
    pools = RiskPools(ledger)
    pools.create_pool(POOL, "广州测试资金池", GUANGZHOU_POOL_POLICY, [FunderShare(GUANGZHOU, "city", "100%")])
    pools.contribute(
        POOL, GUANGZHOU, "10000000.00", date(2026, 1, 10), actor="clerk", approver="director", client_id="t:fund"
    )
    for bank in (BANK_A, BANK_B):
        terms = BankAgreementTerms(source=f"agreement {bank}", per_loan_cap="3000000.00")
        pools.add_bank(POOL, bank, terms, date(2026, 1, 1), date(2028, 12, 31))
    defaulted = pools.file_loan(
        POOL, BANK_A, BORROWER_1, "A-0001", "4000000.00", date(2026, 2, 10), 12, date(2026, 3, 1),
        actor="bank-a-officer", client_id="t:loan:1",
    )  # fmt: skip
    performing = pools.file_loan(
        POOL, BANK_A, BORROWER_2, "A-0002", "1000000.00", date(2026, 5, 31), 12, date(2026, 6, 30),
        actor="bank-a-officer", client_id="t:loan:2",
    )  # fmt: skip
    other = pools.file_loan(
        POOL, BANK_B, BORROWER_2, "B-0001", "2000000.00", date(2026, 3, 1), 12, date(2026, 3, 5),
        actor="bank-b-officer", client_id="t:loan:3",
    )  # fmt: skip
    pools.set_loan_status(defaulted, "overdue", actor="bank-a-officer")
    pools.set_loan_status(defaulted, "defaulted", actor="bank-a-officer")
    claim = pools.submit_claim(defaulted, "4000000.00", date(2026, 11, 1), actor="bank-a-officer", client_id="t:c")
    pools.approve_claim(claim, approver="director", paid_on=date(2026, 11, 20), approval_doc="穗科补〔2026〕1号")
    pools.record_recovery(claim, "1000000.00", "100000.00", date(2027, 3, 1), actor="bank-a-officer", client_id="t:r")
    return Lending(defaulted, performing, other, claim)
