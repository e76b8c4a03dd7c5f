"""A period closed while an import chunk is in flight receives none of its postings (issue 11, defect 11).
PostgreSQL only: on SQLite the import holds the write lock for the whole chunk, so no close can land inside."""

from __future__ import annotations

import io
import threading

import pytest

from ledger import importer as importer_module
from ledger.engine import Ledger
from ledger.errors import ResultCode
from ledger.importer import import_csv
from ledger.queries import reconcile

BOOK = "import-race"
THREAD_JOIN_SECONDS = 30
JOURNAL = (
    "tx_id,date,account,amount\nlate,2026-05-31,Assets:Bank,5.00\nlate,2026-05-31,NetAssets:Appropriations,-5.00\n"
)


@pytest.mark.parametrize("create_accounts", [True, False])
def test_defect_11_a_period_closed_during_an_import_chunk_refuses_its_postings(
    postgres_engine, monkeypatch, create_accounts
):
    ledger = Ledger(postgres_engine)
    ledger.create_book(BOOK, "race", "financial")
    ledger.create_account(BOOK, "Assets:Bank")
    ledger.create_account(BOOK, "NetAssets:Appropriations")
    closed: list[str] = []

    def close_from_another_connection() -> None:
        closer = threading.Thread(target=lambda: ledger.close_period(BOOK, "2026-05", actor="director.wang"))
        closer.start()
        closer.join(timeout=THREAD_JOIN_SECONDS)
        assert not closer.is_alive(), "the close waited on the import: it must not, before the import locks"
        closed.append("2026-05")

    # The chunk's transaction is open and its unlocked reads are done (the stored keys, the accounts it
    # opens); the close commits now, before the chunk takes its locks.
    if create_accounts:
        original = importer_module.CsvImporter._open_accounts

        def open_then_close(self, conn, chunk):  # noqa: ANN001
            refused = original(self, conn, chunk)
            close_from_another_connection()
            return refused

        monkeypatch.setattr(importer_module.CsvImporter, "_open_accounts", open_then_close)
    else:
        original_lock = importer_module.CsvImporter._lock_accounts_and_read_closed_periods

        def close_then_lock(self, conn, chunk):  # noqa: ANN001
            close_from_another_connection()
            return original_lock(self, conn, chunk)

        monkeypatch.setattr(importer_module.CsvImporter, "_lock_accounts_and_read_closed_periods", close_then_lock)
    report = import_csv(ledger, io.StringIO(JOURNAL), book=BOOK, source="import:race", create_accounts=create_accounts)
    assert closed == ["2026-05"]
    assert report.posted == 0
    assert [error.code for error in report.errors] == [ResultCode.PERIOD_CLOSED.value]
    assert ledger.account(BOOK, "Assets:Bank").balance_fen == 0
    assert reconcile(postgres_engine) == []
