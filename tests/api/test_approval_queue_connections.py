"""Listing the approvals queue reads on the caller's connection only: a second connection taken from the pool
while the first is held let concurrent listings drain the pool and wait on each other (20 dashboards at once
waited 30 s and answered 500)."""

from __future__ import annotations

from sqlalchemy import event

from api.approval_queue import queue_items
from ledger.engine import Ledger
from tests.api.conftest import seed_funds_and_pools


def test_queue_listing_takes_no_second_connection(engine):
    ledger = Ledger(engine)
    ledger.register_region("440100", "广州市")
    seed_funds_and_pools(ledger, "gz", "440100", "91440101MA5BANK01C", "91440101MA59A0023L")
    checkouts: list[object] = []

    def count(*_args: object) -> None:
        checkouts.append(object())

    engines = {ledger.engine, ledger.reader}
    with ledger.reader.connect() as conn:
        for each in engines:
            event.listen(each, "checkout", count)
        try:
            items = queue_items(ledger, conn)
        finally:
            for each in engines:
                event.remove(each, "checkout", count)

    assert checkouts == []
    assert items, "the seeded world has items waiting (a claim or a commitment), so every kind was read"
