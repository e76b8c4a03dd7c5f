"""Concurrent claims on PostgreSQL never overdraw the pool (several processes approving at once)."""

import multiprocessing
from datetime import date

import pytest

from funds.codes import FundsCode
from funds.pools import RiskPools
from ledger.db import make_engine
from ledger.engine import Ledger
from ledger.errors import LedgerError, ResultCode
from tests.funds.conftest import build_pool
from tests.funds.keys import new_key

WORKERS = 4
CLAIMS = 12


def approve_claims(url: str, claim_ids: list[int]) -> list[int]:
    engine = make_engine(url)
    try:
        pools = RiskPools(Ledger(engine))
        return [
            pools.approve_claim(claim_id, approver="auditor", paid_on=date(2026, 9, 2)).paid_fen
            for claim_id in claim_ids
        ]
    finally:
        engine.dispose()


@pytest.mark.slow
def test_concurrent_claims_never_overdraw_the_pool(postgres_engine, postgres_url):
    ledger = Ledger(postgres_engine)
    pools = build_pool(ledger, funding=("6万", "12万", "12万"))  # 30万 in the pool
    claim_ids = []
    for number in range(CLAIMS):
        loan_id = pools.file_loan(
            "gz",
            "BANK-A",
            f"FIRM-{number}",
            f"L{number}",
            "20万",
            date(2026, 2, 1),
            12,
            date(2026, 2, 2),
            actor="banker",
            client_id=new_key(),
        )
        pools.set_loan_status(loan_id, "overdue", actor="banker")
        pools.set_loan_status(loan_id, "defaulted", actor="banker")
        claim_ids.append(pools.submit_claim(loan_id, "20万", date(2026, 9, 1), actor="banker", client_id=new_key()))
    batches = [claim_ids[index::WORKERS] for index in range(WORKERS)]
    with multiprocessing.get_context("spawn").Pool(WORKERS) as workers:
        results = workers.starmap(approve_claims, [(postgres_url, batch) for batch in batches], chunksize=1)
    paid = sum(sum(batch) for batch in results)
    assert paid == 30 * 1_000_000  # 12 claims of 10万 each, the pool holds 30万: exactly the pool is paid out
    assert pools.balance_fen("gz") == 0
    cash = ledger.account("pool:gz", "Assets:Bank:Pool")
    assert cash.credits_posted <= cash.debits_posted
    owed = sum(pools.claim(claim_id)["entitled_fen"] - pools.claim(claim_id)["paid_fen"] for claim_id in claim_ids)
    assert owed == CLAIMS * 10 * 1_000_000 - paid


def contribute_once(url: str, key: str) -> str:
    engine = make_engine(url)
    try:
        pools = RiskPools(Ledger(engine))
        try:
            return str(pools.contribute("gz", "440100", "5万", date(2026, 3, 1), actor="clerk", approver="chief",
                                        client_id=key))  # fmt: skip
        except LedgerError as error:
            return str(error.code)
    finally:
        engine.dispose()


@pytest.mark.slow
def test_concurrent_calls_with_one_key_record_it_once(postgres_engine, postgres_url):
    """Issue 11, defect 4 under concurrency: processes racing with one key never record the payment twice;
    a loser is refused with request_in_flight (or gets the stored result) and its retry gets the result."""
    ledger = Ledger(postgres_engine)
    pools = build_pool(ledger)
    before = pools.balance_fen("gz")
    with multiprocessing.get_context("spawn").Pool(WORKERS) as workers:
        results = workers.starmap(contribute_once, [(postgres_url, "race-key")] * WORKERS, chunksize=1)
    winners = {result for result in results if result.isdigit()}
    assert len(winners) == 1, results
    assert set(results) - winners <= {str(FundsCode.REQUEST_IN_FLIGHT), str(ResultCode.EXISTS_WITH_DIFFERENT_CONTENT)}
    assert pools.balance_fen("gz") == before + 5 * 1_000_000
    assert contribute_once(postgres_url, "race-key") in winners
