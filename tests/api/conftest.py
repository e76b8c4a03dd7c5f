"""An app over the test ``engine`` (SQLite and PostgreSQL), with keys per role and scope."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api import auth
from api.app import create_app
from api.settings import Settings
from ledger.engine import Ledger

TEST_SECRET = "test-secret-that-is-long-enough-for-hs256"
GUANGZHOU = "440100"
SHENZHEN = "440300"
GZ_BOOK = "440100-finance"
SZ_BOOK = "440300-finance"


@pytest.fixture
def settings() -> Settings:
    return Settings(jwt_secret=TEST_SECRET, auth_failure_rate="5/minute")


@pytest.fixture
def app(engine, settings):
    return create_app(engine, settings)


@pytest.fixture
def client(app):
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def books(engine) -> Ledger:
    """Two cities' finance books, each with a treasury (no overdraft) and appropriations."""
    ledger = Ledger(engine)
    for region, name, book in ((GUANGZHOU, "广州市", GZ_BOOK), (SHENZHEN, "深圳市", SZ_BOOK)):
        ledger.register_region(region, name)
        ledger.create_book(book, f"{name}财政局", "financial", entity_code=region)
        ledger.create_account(book, "Assets:Bank:Treasury", debits_must_not_exceed_credits=False)
        ledger.create_account(book, "NetAssets:Appropriations")
        ledger.create_account(book, "Expenses:Grants")
    return ledger


@pytest.fixture
def key_for(engine):
    """``key_for(role, *scopes)`` → Authorization headers of a fresh key."""

    def make(role: str, *scopes: str) -> dict[str, str]:
        new = auth.create_key(engine, f"{role}-test", role, list(scopes))
        return {"Authorization": f"Bearer {new.key}"}

    return make


@pytest.fixture
def admin(key_for) -> dict[str, str]:
    return key_for("admin")


def appropriation(amount: str = "1000.00", book: str = GZ_BOOK, day: str = "2026-01-05") -> dict:
    return {
        "date": day,
        "memo": "appropriation",
        "postings": [
            {"book": book, "account": "Assets:Bank:Treasury", "amount": amount},
            {"book": book, "account": "NetAssets:Appropriations", "amount": f"-{amount}"},
        ],
    }


@pytest.fixture
def person(engine):
    """``person(name, role, *scopes)`` → Authorization headers of a key of its own name: maker-checker is per
    person, and every key of ``key_for`` of one role shares one name."""

    def make(name: str, role: str, *scopes: str) -> dict[str, str]:
        new = auth.create_key(engine, name, role, list(scopes))
        return {"Authorization": f"Bearer {new.key}"}

    return make


def seed_funds_and_pools(ledger: Ledger, tag: str, region: str, bank_code: str, enterprise_code: str) -> dict:
    """A region's guidance fund ``<tag>-TT`` with sub-fund ``<tag>-ANGEL-1`` (commitments approved, a 20% call
    paid, an investment, a submitted distribution) and a pool ``<tag>-pool`` funded by the region with one
    bank, a defaulted loan and a submitted claim, and an appropriation waiting for its second person (a cash
    request), made through the services. Returns the objects' keys."""
    from datetime import date

    from funds.cash_requests import CashRequests
    from funds.config import DEFAULT_FUND_POLICY, GUANGZHOU_POOL_POLICY, BankAgreementTerms
    from funds.guidance import GuidanceFunds
    from funds.pools import FunderShare, RiskPools

    funds, pools = GuidanceFunds(ledger), RiskPools(ledger)
    fund, sub, pool = f"{tag}-TT", f"{tag}-ANGEL-1", f"{tag.lower()}-pool"
    funds.create_guidance_fund(fund, f"{tag} 引导基金", region, DEFAULT_FUND_POLICY)
    funds.create_subfund(
        fund,
        sub,
        f"{tag} 天使子基金",
        manager_code=enterprise_code,
        size="100000000.00",
        established_on=date(2026, 1, 10),
        term_years=8,
        investment_period_end=date(2031, 1, 10),
        fee_basis="paid_in",
        fee_rate="2%",
    )
    funds.appropriate(
        fund, "10000000.00", date(2026, 1, 5), actor="seed-office-a", approver="seed-office-b", client_id=f"{tag}:ap"
    )
    commitments = [
        funds.record_commitment(
            sub, "LP-1", "60000000.00", date(2026, 1, 15), actor="seed-gp-a", client_id=f"{tag}:c1"
        ),
        funds.record_commitment(
            sub, fund, "20000000.00", date(2026, 1, 15), actor="seed-gp-a", client_id=f"{tag}:c2", is_guidance=True
        ),
    ]
    for commitment_id in commitments:
        funds.approve_commitment(commitment_id, approver="seed-gp-b")
    call = funds.record_call(sub, "20%", date(2026, 2, 1), date(2026, 2, 28), actor="seed-gp-a", client_id=f"{tag}:k")
    funds.approve_call(call, approver="seed-gp-b")
    for investor, amount in (("LP-1", "12000000.00"), (fund, "4000000.00")):
        funds.pay_call(call, investor, amount, date(2026, 2, 20), actor="seed-gp-a", client_id=f"{tag}:p:{investor}")
    investment = funds.invest(
        sub,
        enterprise_code,
        "5000000.00",
        date(2026, 3, 1),
        stage="start_up",
        is_local=True,
        sector="新材料",
        hard_tech=True,
        actor="seed-gp-a",
        client_id=f"{tag}:i",
    )
    distribution = funds.record_distribution(
        sub, date(2026, 6, 30), "1000000.00", "500000.00", recallable=False, actor="seed-gp-a", client_id=f"{tag}:d"
    )
    pools.create_pool(pool, f"{tag} 风险补偿资金池", GUANGZHOU_POOL_POLICY, [FunderShare(region, "city", "100%")])
    pools.contribute(
        pool,
        region,
        "10000000.00",
        date(2026, 1, 10),
        actor="seed-office-a",
        approver="seed-office-b",
        client_id=f"{tag}:pc",
    )
    pools.add_bank(pool, bank_code, BankAgreementTerms(source="test agreement"), date(2026, 1, 1), date(2028, 12, 31))
    loan = pools.file_loan(
        pool,
        bank_code,
        enterprise_code,
        f"{tag}-L1",
        "4000000.00",
        date(2026, 3, 1),
        12,
        date(2026, 3, 20),
        actor="seed-bank",
        client_id=f"{tag}:l",
    )
    pools.set_loan_status(loan, "overdue", actor="seed-bank")
    pools.set_loan_status(loan, "defaulted", actor="seed-bank")
    claim = pools.submit_claim(loan, "4000000.00", date(2026, 11, 1), actor="seed-bank", client_id=f"{tag}:cl")
    cash_request = CashRequests(ledger).file(
        "gf_appropriation", fund, date(2026, 4, 1), amount="1000000.00", actor="seed-office-a", client_id=f"{tag}:cr"
    )
    return {
        "fund": fund,
        "subfund": sub,
        "commitment_id": commitments[0],
        "call_id": call,
        "investment_id": investment,
        "distribution_id": distribution,
        "pool": pool,
        "bank_code": bank_code,
        "loan_id": loan,
        "claim_id": claim,
        "cash_request_id": cash_request,
    }


@pytest.fixture(scope="session")
def routes_built_app():
    """One app per test process whose routes are already resolved: this FastAPI builds each app's route table
    lazily on its first request (about 1.5 s for the whole /v1 surface), which a fresh app per test pays again."""
    from sqlalchemy import create_engine

    app = create_app(create_engine("sqlite://"), Settings(jwt_secret=TEST_SECRET, auth_failure_rate="5/minute"))
    with TestClient(app, raise_server_exceptions=False) as warm:
        warm.get("/v1/no-such-route")  # tries, and so resolves, every route before its 404
    return app


@pytest.fixture
def reused_app(routes_built_app, engine, settings):
    """``routes_built_app`` pointed at this test's database (engine, ledger, settings and a fresh rate limiter),
    for modules that override ``app`` with it."""
    from api.auth import FailureLimiter

    state = routes_built_app.state
    state.engine, state.settings = engine, settings
    state.ledger = Ledger(engine)
    state.limiter = FailureLimiter(settings.auth_failure_rate)
    yield routes_built_app
    state.ledger.close()
