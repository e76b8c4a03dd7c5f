"""An import's idempotency key names its book (issue 11, defect 10). Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from ledger.errors import ResultCode
from ledger.importer import default_import_source, import_csv
from tests.ledger_helpers import snapshot

JOURNAL = (
    "tx_id,date,account,amount\nt1,2026-01-05,Assets:Bank,1000.00\nt1,2026-01-05,NetAssets:Appropriations,-1000.00\n"
)


@pytest.fixture
def two_regions(ledger, tmp_path):
    ledger.create_book("gz", "Guangzhou", "financial")
    ledger.create_book("sz", "Shenzhen", "financial")
    path = tmp_path / "journal.csv"
    path.write_text(JOURNAL, encoding="utf-8")
    return ledger, path


def test_defect_10_same_source_and_tx_id_into_another_book_is_refused_not_skipped(two_regions):
    ledger, path = two_regions
    first = import_csv(ledger, path, book="gz", source="import:shared", create_accounts=True)
    assert (first.posted, first.errors_total) == (1, 0)
    before = snapshot(ledger)
    second = import_csv(ledger, path, book="sz", source="import:shared", create_accounts=True)
    assert (second.posted, second.skipped) == (0, 0)
    assert [error.code for error in second.errors] == [ResultCode.EXISTS_WITH_DIFFERENT_CONTENT.value]
    after = snapshot(ledger)
    # --create-accounts may open the accounts (empty); nothing is posted to them.
    assert all(totals == (0, 0, 0, 0) for (book, _path), totals in after["accounts"].items() if book == "sz")
    assert after["rows"] == before["rows"]


def test_defect_10_a_re_run_into_the_same_book_is_still_skipped(two_regions):
    ledger, path = two_regions
    import_csv(ledger, path, book="gz", source="import:shared", create_accounts=True)
    again = import_csv(ledger, path, book="gz", source="import:shared", create_accounts=True)
    assert (again.posted, again.skipped, again.errors_total) == (0, 1, 0)


def test_defect_10_default_source_names_the_book_so_same_named_files_do_not_collide(two_regions):
    ledger, path = two_regions
    gz = import_csv(ledger, path, book="gz", create_accounts=True)
    sz = import_csv(ledger, path, book="sz", create_accounts=True)
    assert (gz.source, sz.source) == (default_import_source("gz", "journal.csv"), "import:sz:journal.csv")
    assert (gz.posted, sz.posted, sz.errors_total) == (1, 1, 0)
    assert ledger.account("sz", "Assets:Bank").balance_fen == 100_000
