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
