"""Concurrent reservations on PostgreSQL never overspend an enterprise's quota."""

import multiprocessing
from datetime import date

import pytest

from ledger.db import make_engine
from ledger.engine import Ledger
from ledger.errors import LedgerError
from tests.vouchers.conftest import SHANGHAI, build_scheme
from vouchers import books
from vouchers.codes import VoucherCode
from vouchers.redemptions import reserve

WORKERS = 3
ATTEMPTS_PER_WORKER = 5


def reserve_many(url: str, program: str, enterprise: str, provider: str, worker: int) -> list[tuple[str, int]]:
    engine = make_engine(url)
    ledger = Ledger(engine)
    outcomes = []
    try:
        for attempt in range(ATTEMPTS_PER_WORKER):
            try:
                redemption = reserve(
                    ledger,
                    program,
                    enterprise=enterprise,
                    provider=provider,
                    category="testing",
                    contract_no=f"W{worker}-{attempt}",
                    contract_amount="3万",
                    on=date(2026, 2, 1),
                    actor=f"w{worker}",
                )
                outcomes.append(("ok", redemption["reserved_fen"]))
            except LedgerError as error:
                outcomes.append((str(error.code), 0))
    finally:
        engine.dispose()
    return outcomes


@pytest.mark.slow
def test_concurrent_reservations_never_overspend_a_quota(postgres_engine, postgres_url):
    ledger = Ledger(postgres_engine)
    scheme = build_scheme(ledger)
    scheme.grant(SHANGHAI, "10万")
    program, enterprise = scheme.programs[SHANGHAI], scheme.enterprises[SHANGHAI]
    context = multiprocessing.get_context("spawn")
    with context.Pool(WORKERS) as pool:
        results = pool.starmap(
            reserve_many,
            [(postgres_url, program, enterprise, scheme.providers[SHANGHAI], worker) for worker in range(WORKERS)],
        )
    outcomes = [outcome for worker in results for outcome in worker]
    reserved_total = sum(amount for code, amount in outcomes if code == "ok")
    assert {code for code, _ in outcomes} <= {"ok", str(VoucherCode.QUOTA_MUST_COVER_RESERVATION)}
    # 15 attempts x 1.5万 against 10万: six full reservations and one of the last 1万, never more
    assert reserved_total == 10_000_000
    quota = ledger.account(books.memo_book(SHANGHAI), books.enterprise_quota(program, enterprise))
    assert quota.debits_pending == reserved_total
    assert quota.debits_posted + quota.debits_pending <= quota.credits_posted
