"""Exports: CSV (re-importable), Parquet, beancount v3 and ledger-cli text, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess
import sys
from collections import defaultdict
from datetime import date
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from beancount import loader
from beancount.core import data
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from ledger.engine import T_BOOKS, T_POSTINGS, T_TRANSACTIONS, posting_specs
from ledger.entries import PostPendingRequest, ReversalRequest, TransactionRequest, VoidPendingRequest
from ledger.errors import LedgerError, ResultCode
from ledger.exporters import (
    CSV_COLUMNS,
    ExportAccount,
    ExportCode,
    beancount_account_name,
    export_beancount,
    export_csv,
    export_ledger,
    export_parquet,
    name_component,
    transaction_key,
)
from ledger.money import format_fen

GZ = "gz"
BUDGET = "gz_budget"
QUOTA = "quota"
ACCOUNTS = [
    (GZ, "Assets:Bank", {}),
    (GZ, "Assets:petty cash", {}),
    (GZ, "Assets:Bank-USD", {"currency": "USD"}),
    (GZ, "NetAssets:FX", {"currency": "USD"}),
    (GZ, "Revenue:Grants", {}),
    (GZ, "Expenses:Subsidies:企业补助", {}),
    (GZ, "Expenses:fees & charges", {}),
    (GZ, "Liabilities:Payables:91440101MA59XXXXXX", {}),
    (BUDGET, "BudgetRevenue:Central", {}),
    (BUDGET, "BudgetBalance:Funds", {}),
    (BUDGET, "BudgetExpenditure:Subsidies", {}),
    (QUOTA, "Memo:Quota:Granted", {"normal_side": "debit"}),
    (QUOTA, "Memo:Quota:Available", {"normal_side": "credit"}),
]
GRANT_MEMO = 'Grant "A" \\ 2026\nsecond line'


def _post(ledger, client_id, legs, day, **options):
    return ledger.post(TransactionRequest(client_id, legs, day, **options))


def build_chart(ledger) -> None:
    ledger.create_book(GZ, "Guangzhou finance office", "financial")
    ledger.create_book(BUDGET, "Guangzhou finance office (budget)", "budgetary")
    ledger.create_book(QUOTA, "Voucher quota", "memo")
    for book, path, options in ACCOUNTS:
        ledger.create_account(book, path, **options)


def build_journal(ledger) -> None:
    """Three books; a multi-book grant; a pending payment posted in part; a void; a reversal; USD; an
    unresolved pending; a source with ":" in it; memos with quotes, a backslash, a newline, a "("."""
    build_chart(ledger)
    grant = posting_specs(GZ, [("Assets:Bank", "1000000.00"), ("Revenue:Grants", "-1000000.00")])
    grant += posting_specs(BUDGET, [("BudgetBalance:Funds", "1000000.00"), ("BudgetRevenue:Central", "-1000000.00")])
    _post(ledger, "t-grant", grant, date(2026, 1, 5), memo=GRANT_MEMO)
    _post(
        ledger,
        "t-petty",
        posting_specs(GZ, [("Assets:petty cash", "5000"), ("Assets:Bank", "-5000")]),
        date(2026, 1, 6),
    )
    quota = posting_specs(QUOTA, [("Memo:Quota:Granted", "500000"), ("Memo:Quota:Available", "-500000")])
    _post(ledger, "t-quota", quota, date(2026, 1, 10), source="import:2026-q1", memo="quota")

    subsidy = posting_specs(GZ, [("Expenses:Subsidies:企业补助", "300000"), ("Assets:Bank", "-300000")])
    subsidy += posting_specs(BUDGET, [("BudgetExpenditure:Subsidies", "300000"), ("BudgetBalance:Funds", "-300000")])
    _post(ledger, "t-subsidy", subsidy, date(2026, 2, 1), pending=True, memo="企业补助 reserved")
    part = posting_specs(GZ, [("Expenses:Subsidies:企业补助", "120000.50"), ("Assets:Bank", "-120000.50")])
    part += posting_specs(BUDGET, [("BudgetExpenditure:Subsidies", "120000.50"), ("BudgetBalance:Funds", "-120000.50")])
    ledger.post(
        PostPendingRequest("t-subsidy-post", ("api", "t-subsidy"), postings=part, effective_date=date(2026, 2, 3))
    )

    hold = posting_specs(GZ, [("Expenses:fees & charges", "800"), ("Assets:petty cash", "-800")])
    _post(ledger, "t-fee-hold", hold, date(2026, 2, 5), pending=True)
    ledger.post(VoidPendingRequest("t-fee-hold-void", ("api", "t-fee-hold"), reason="cancelled"))

    fee = posting_specs(
        GZ, [("Expenses:fees & charges", "1234.56"), ("Liabilities:Payables:91440101MA59XXXXXX", "-1234.56")]
    )
    _post(ledger, "t-fee", fee, date(2026, 2, 10), memo="audit fee")
    ledger.post(ReversalRequest("t-fee-reversal", ("api", "t-fee"), "wrong payee", effective_date=date(2026, 2, 12)))

    _post(
        ledger,
        "t-usd",
        posting_specs(GZ, [("Assets:Bank-USD", "100.25"), ("NetAssets:FX", "-100.25")], "USD"),
        date(2026, 3, 1),
    )
    paren = posting_specs(GZ, [("Expenses:fees & charges", "10"), ("Assets:petty cash", "-10")])
    _post(ledger, "t-paren", paren, date(2026, 3, 2), memo="(draft) fee")
    still_pending = posting_specs(GZ, [("Expenses:Subsidies:企业补助", "50"), ("Assets:Bank", "-50")])
    _post(ledger, "t-open-hold", still_pending, date(2026, 3, 5), pending=True)


def posted_postings_count(engine) -> int:
    query = select(func.count()).select_from(T_POSTINGS).where(T_POSTINGS.c.pending.is_(False))
    with engine.connect() as conn:
        return conn.execute(query).scalar_one()


def posted_transaction_keys(engine, book: str | None = None) -> set[str]:
    posted = select(T_POSTINGS.c.transaction_id).where(T_POSTINGS.c.pending.is_(False))
    if book is not None:
        posted = posted.join(T_BOOKS, T_BOOKS.c.id == T_POSTINGS.c.book_id).where(T_BOOKS.c.code == book)
    query = select(T_TRANSACTIONS.c.source, T_TRANSACTIONS.c.client_id).where(T_TRANSACTIONS.c.id.in_(posted))
    with engine.connect() as conn:
        return {transaction_key(source, client_id) for source, client_id in conn.execute(query)}


def export_account(ledger, book: str, path: str) -> ExportAccount:
    info = ledger.account(book, path)
    return ExportAccount(info.id, info.book, info.path, info.type, info.normal_side, info.currency)


BEAN_CHECK = Path(sys.executable).parent / "bean-check"


# ----- CSV -----------------------------------------------------------------------------------------


def _csv_rows(text: str) -> tuple[list[str], list[dict]]:
    reader = csv.DictReader(io.StringIO(text))
    return list(reader.fieldnames), list(reader)


def test_csv_export_has_the_import_header_and_one_row_per_posted_leg(ledger):
    build_journal(ledger)
    out = io.StringIO()
    written = export_csv(ledger.engine, out)
    header, rows = _csv_rows(out.getvalue())
    assert header == list(CSV_COLUMNS) == ["tx_id", "date", "account", "amount", "currency", "memo"]
    assert written == len(rows) == posted_postings_count(ledger.engine)
    assert {row["tx_id"] for row in rows} == posted_transaction_keys(ledger.engine)
    assert "import%3A2026-q1:t-quota" in {row["tx_id"] for row in rows}
    assert all(re.fullmatch(r"-?\d+\.\d{2}", row["amount"]) for row in rows)
    assert {row["memo"] for row in rows if row["tx_id"] == "api:t-grant"} == {GRANT_MEMO}


def test_csv_export_balances_per_transaction_and_matches_account_balances(ledger):
    build_journal(ledger)
    out = io.StringIO()
    export_csv(ledger.engine, out)
    per_transaction: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    per_account: dict[str, Decimal] = defaultdict(Decimal)
    for row in _csv_rows(out.getvalue())[1]:
        per_transaction[(row["tx_id"], row["currency"])] += Decimal(row["amount"])
        per_account[row["account"]] += Decimal(row["amount"])
    assert per_transaction and set(per_transaction.values()) == {Decimal("0.00")}
    for book, path, _options in ACCOUNTS:  # paths are unique across books in this journal
        info = ledger.account(book, path)
        assert per_account[path] == Decimal(format_fen(info.balance_fen, info.currency)), path


def test_csv_export_is_the_same_for_any_page_size_and_for_binary_streams(ledger):
    build_journal(ledger)
    large, small, binary = io.StringIO(), io.StringIO(), io.BytesIO()
    export_csv(ledger.engine, large)
    export_csv(ledger.engine, small, page_rows=2)
    export_csv(ledger.engine, binary, page_rows=3)
    assert large.getvalue() == small.getvalue() == binary.getvalue().decode("utf-8")


def test_csv_export_of_one_book_keeps_its_part_of_multi_book_transactions_balanced(ledger):
    build_journal(ledger)
    out = io.StringIO()
    written = export_csv(ledger.engine, out, book=BUDGET)
    rows = _csv_rows(out.getvalue())[1]
    budget_paths = {path for book, path, _options in ACCOUNTS if book == BUDGET}
    assert written == len(rows) == 4  # the budget legs of the grant and of the partial post
    assert {row["account"] for row in rows} == budget_paths
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for row in rows:
        totals[row["tx_id"]] += Decimal(row["amount"])
    assert set(totals) == {"api:t-grant", "api:t-subsidy-post"}
    assert set(totals.values()) == {Decimal("0.00")}


@pytest.mark.parametrize("exporter", [export_csv, export_parquet, export_beancount, export_ledger])
def test_export_of_an_unknown_book_is_refused_before_a_file_is_written(ledger, tmp_path, exporter):
    build_chart(ledger)
    path = tmp_path / "export.out"
    with pytest.raises(LedgerError) as error:
        exporter(ledger.engine, path, book="no-such-book")
    assert error.value.code == ResultCode.BOOK_NOT_FOUND
    assert not path.exists()


# ----- Parquet -------------------------------------------------------------------------------------


def test_parquet_export_sums_per_account_equal_cached_balances(ledger, tmp_path):
    build_journal(ledger)
    path = tmp_path / "journal.parquet"
    written = export_parquet(ledger.engine, path, page_rows=3, row_group_rows=4)
    table = pq.read_table(path)
    assert written == table.num_rows == posted_postings_count(ledger.engine)
    assert table.schema.field("effective_date").type == pa.date32()
    assert table.schema.field("amount_fen").type == pa.int64()
    assert pa.types.is_decimal(table.schema.field("amount").type)
    metadata = pq.ParquetFile(path).metadata
    assert metadata.num_row_groups > 1
    assert all(metadata.row_group(i).num_rows <= 4 for i in range(metadata.num_row_groups))
    sums: dict[tuple[str, str], int] = defaultdict(int)
    for row in table.to_pylist():
        sums[(row["book"], row["account"])] += row["amount_fen"]
        assert row["amount"] == Decimal(format_fen(row["amount_fen"], row["currency"]))
    for book, path_, _options in ACCOUNTS:
        assert sums[(book, path_)] == ledger.account(book, path_).balance_fen, path_


def test_parquet_export_of_a_book_without_postings_is_an_empty_readable_file(ledger, tmp_path):
    build_journal(ledger)
    ledger.create_book("empty", "No postings yet", "financial")
    path = tmp_path / "empty.parquet"
    assert export_parquet(ledger.engine, path, book="empty") == 0
    table = pq.read_table(path)
    assert table.num_rows == 0 and "amount_fen" in table.column_names


# ----- beancount -----------------------------------------------------------------------------------


def _beancount_totals(entries) -> dict[tuple[str, str], Decimal]:
    totals: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for entry in entries:
        if isinstance(entry, data.Transaction):
            for posting in entry.postings:
                totals[(posting.account, posting.units.currency)] += posting.units.number
    return totals


BOOK_BASES = {GZ: "financial", BUDGET: "budgetary", QUOTA: "memo"}


@pytest.mark.parametrize("basis", ["financial", "budgetary", "memo"])
def test_beancount_export_of_each_basis_passes_bean_check_and_its_balances_equal_ours(ledger, tmp_path, basis):
    build_journal(ledger)
    path = tmp_path / f"{basis}.beancount"
    written = export_beancount(ledger.engine, path, basis=basis)
    command = str(BEAN_CHECK) if BEAN_CHECK.exists() else shutil.which("bean-check")
    assert command is not None, "bean-check is installed with the test extras (beancount)"
    checked = subprocess.run([command, str(path)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    entries, errors, options = loader.load_string(path.read_text(encoding="utf-8"))
    assert errors == []
    assert options["operating_currency"] == ["CNY"]
    books = [book for book, book_basis in BOOK_BASES.items() if book_basis == basis]
    expected_keys = set().union(*(posted_transaction_keys(ledger.engine, book) for book in books))
    transactions = [entry for entry in entries if isinstance(entry, data.Transaction)]
    assert written == len(transactions) == len(expected_keys)
    assert {entry.meta["txn_id"] for entry in transactions} == expected_keys
    totals = _beancount_totals(entries)
    ours = set()
    for book, path, _options in ACCOUNTS:
        if BOOK_BASES[book] != basis:
            continue
        info = ledger.account(book, path)
        name = beancount_account_name(export_account(ledger, book, path))
        ours.add(name)
        assert totals[(name, info.currency)] == Decimal(format_fen(info.balance_fen, info.currency)), name
    assert {account for account, _currency in totals} <= ours


def test_the_financial_beancount_file_keeps_memos_and_the_budgetary_and_memo_files_no_asset_or_income(ledger):
    build_journal(ledger)
    files = {}
    for basis in ("financial", "budgetary", "memo"):
        out = io.StringIO()
        export_beancount(ledger.engine, out, basis=basis)
        files[basis] = out.getvalue()
    entries, _errors, _options = loader.load_string(files["financial"])
    grant = next(e for e in entries if isinstance(e, data.Transaction) and e.meta["txn_id"] == "api:t-grant")
    assert grant.narration == GRANT_MEMO
    roots = {
        basis: {line.split()[2].split(":")[0] for line in text.splitlines() if " open " in line}
        for basis, text in files.items()
    }
    assert roots["financial"] == {"Assets", "Liabilities", "Equity", "Income", "Expenses"}
    assert roots["budgetary"] == {"BudgetRevenue", "BudgetExpenditure", "BudgetBalance"}
    assert roots["memo"] == {"MemoDebit", "MemoCredit"}


def test_a_transaction_without_a_memo_is_narrated_by_its_kind_and_key(ledger):
    build_journal(ledger)
    out = io.StringIO()
    export_beancount(ledger.engine, out)
    entries, errors, _options = loader.load_string(out.getvalue())
    assert errors == []
    petty = next(e for e in entries if isinstance(e, data.Transaction) and e.meta["txn_id"] == "api:t-petty")
    assert petty.narration == "general api:t-petty"
    assert all(entry.narration for entry in entries if isinstance(entry, data.Transaction))


def test_a_book_code_with_levels_is_a_readable_prefix(ledger):
    ledger.create_book("sf:gz-seed-1", "Seed sub-fund", "financial")
    ledger.create_account("sf:gz-seed-1", "Assets:Bank")
    ledger.create_account("sf:gz-seed-1", "NetAssets:PaidIn:LP-A")
    ledger.post(
        TransactionRequest(
            "paid-in",
            posting_specs("sf:gz-seed-1", [("Assets:Bank", "10.00"), ("NetAssets:PaidIn:LP-A", "-10.00")]),
            date(2026, 1, 5),
        )
    )
    assert beancount_account_name(export_account(ledger, "sf:gz-seed-1", "Assets:Bank")) == "Assets:Sf:Gz-seed-1:Bank"
    out = io.StringIO()
    export_beancount(ledger.engine, out)
    assert "open Equity:Sf:Gz-seed-1:PaidIn:LP-A CNY" in out.getvalue()


def test_a_book_exported_with_another_basis_is_refused_and_writes_nothing(ledger):
    build_chart(ledger)
    out = io.StringIO()
    with pytest.raises(LedgerError) as error:
        export_beancount(ledger.engine, out, book=QUOTA, basis="financial")
    assert error.value.code == ExportCode.EXPORT_BASIS_MISMATCH and out.getvalue() == ""


def test_beancount_names_map_types_to_roots_and_keep_books_apart(ledger):
    build_chart(ledger)
    assert beancount_account_name(export_account(ledger, GZ, "Assets:Bank")) == "Assets:Gz:Bank"
    assert beancount_account_name(export_account(ledger, GZ, "NetAssets:FX")) == "Equity:Gz:FX"
    assert beancount_account_name(export_account(ledger, GZ, "Revenue:Grants")) == "Income:Gz:Grants"
    assert (
        beancount_account_name(export_account(ledger, GZ, "Expenses:Subsidies:企业补助"))
        == "Expenses:Gz:Subsidies:企业补助"
    )
    budget = name_component(BUDGET)
    assert beancount_account_name(export_account(ledger, BUDGET, "BudgetRevenue:Central")) == (
        f"BudgetRevenue:{budget}:Central"
    )
    assert beancount_account_name(export_account(ledger, BUDGET, "BudgetBalance:Funds")).startswith("BudgetBalance:")
    assert beancount_account_name(export_account(ledger, BUDGET, "BudgetExpenditure:Subsidies")).startswith(
        "BudgetExpenditure:"
    )
    assert (
        beancount_account_name(export_account(ledger, QUOTA, "Memo:Quota:Granted")) == "MemoDebit:Quota:Quota:Granted"
    )
    assert beancount_account_name(export_account(ledger, QUOTA, "Memo:Quota:Available")).startswith("MemoCredit:")


def test_beancount_export_of_one_book_loads_and_holds_only_that_book(ledger):
    build_journal(ledger)
    out = io.BytesIO()
    written = export_beancount(ledger.engine, out, book=BUDGET)
    entries, errors, _options = loader.load_string(out.getvalue().decode("utf-8"))
    assert errors == []
    assert written == 2
    totals = _beancount_totals(entries)
    assert {account.split(":")[1] for account, _currency in totals} == {name_component(BUDGET)}
    for book, path, _options in ACCOUNTS:
        if book == BUDGET:
            info = ledger.account(book, path)
            name = beancount_account_name(export_account(ledger, book, path))
            assert totals[(name, "CNY")] == Decimal(format_fen(info.balance_fen))


def test_accounts_that_would_share_a_beancount_name_are_refused(ledger):
    ledger.create_book(GZ, "Guangzhou finance office", "financial")
    ledger.create_account(GZ, "Assets:bank")
    ledger.create_account(GZ, "Assets:Bank")
    with pytest.raises(LedgerError) as error:
        export_beancount(ledger.engine, io.StringIO())
    assert error.value.code == ExportCode.EXPORT_ACCOUNT_NAMES_MUST_BE_DISTINCT


def test_name_components_keep_valid_names_and_capitalise_a_lowercase_start():
    assert name_component("Bank") == "Bank"
    assert name_component("GZ-Finance") == "GZ-Finance"
    assert name_component("440100") == "440100"
    assert name_component("企业补助") == "企业补助"
    assert name_component("bank") == "Bank"
    altered = name_component("fees & charges")
    assert altered.startswith("Fees---charges-") and altered != name_component("fees - charges")


# Segments as account paths allow them: no colon, no leading blank.
SEGMENTS = st.text(
    alphabet=st.characters(blacklist_characters=":", blacklist_categories=("Cs",)), min_size=1, max_size=12
).filter(lambda text: not text[0].isspace() and text == text.strip())


@settings(max_examples=40, deadline=None)
@given(st.lists(SEGMENTS, min_size=1, max_size=4, unique=True))
def test_any_segments_become_beancount_names_the_loader_accepts_and_that_stay_distinct(segments):
    names = {segment: name_component(segment) for segment in segments}
    lines = ['option "operating_currency" "CNY"']
    lines += [f"2026-01-01 open Assets:Book:{name}" for name in sorted(set(names.values()))]
    _entries, errors, _options = loader.load_string("\n".join(lines) + "\n")
    assert errors == []
    by_name: dict[str, set[str]] = defaultdict(set)
    for segment, name in names.items():
        by_name[name].add(segment[:1].upper() + segment[1:] if segment[:1].isascii() else segment)
    # Two segments share a name only when they differ by the case of an ASCII first letter.
    assert all(len(originals) == 1 for originals in by_name.values())


# ----- ledger-cli ----------------------------------------------------------------------------------

LEDGER_HEADER = re.compile(r"\d{4}/\d{2}/\d{2} \* \(\d+\)( \S.*)?")
LEDGER_POSTING = re.compile(r" {4}(\S+) {2}(-?\d+\.\d{2}) ([A-Z]{3})")


def test_ledger_export_has_headers_and_balanced_postings(ledger, tmp_path):
    build_journal(ledger)
    path = tmp_path / "journal.ledger"
    written = export_ledger(ledger.engine, path)
    blocks = path.read_text(encoding="utf-8").split("\n\n")[1:]
    assert written == len(blocks) == len(posted_transaction_keys(ledger.engine))
    dates = []
    for block in blocks:
        header, tag, *postings = block.strip("\n").split("\n")
        assert LEDGER_HEADER.fullmatch(header), header
        assert tag.startswith("    ; txn_id: ")
        totals: dict[str, Decimal] = defaultdict(Decimal)
        for line in postings:
            match = LEDGER_POSTING.fullmatch(line)
            assert match, line
            totals[match.group(3)] += Decimal(match.group(2))
        assert len(postings) >= 2 and set(totals.values()) == {Decimal("0.00")}
        dates.append(header[:10])
    assert dates == sorted(dates)
    assert any(block.split("\n")[0].endswith(") (draft) fee") for block in blocks)
    if shutil.which("ledger"):
        result = subprocess.run(["ledger", "-f", str(path), "balance"], capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, result.stderr


def test_csv_export_of_a_book_imports_into_a_copy_with_equal_balances(ledger):
    from ledger.importer import import_csv

    build_journal(ledger)
    out = io.StringIO()
    export_csv(ledger.engine, out, book=GZ)
    ledger.create_book("gz-copy", "Round trip of gz", "financial")
    for book, path, options in ACCOUNTS:
        if book == GZ:
            ledger.create_account("gz-copy", path, currency=options.get("currency", "CNY"))
    out.seek(0)
    report = import_csv(ledger, out, book="gz-copy", source="roundtrip")
    assert report.errors == [] and report.posted == len(posted_transaction_keys(ledger.engine, book=GZ))
    for book, path, _options in ACCOUNTS:
        if book == GZ:
            assert ledger.account("gz-copy", path).balance_fen == ledger.account(GZ, path).balance_fen, path


def test_text_exports_in_date_order_are_the_same_for_any_page_size(ledger):
    build_journal(ledger)
    for exporter in (export_beancount, export_ledger):
        whole, one_row_pages = io.StringIO(), io.StringIO()
        assert exporter(ledger.engine, whole) == exporter(ledger.engine, one_row_pages, page_rows=1)
        assert whole.getvalue() == one_row_pages.getvalue()


class _PostingWhileWritten(io.StringIO):
    """An output that records one more transaction the first time the export writes to it."""

    def __init__(self, ledger) -> None:
        super().__init__()
        self.ledger = ledger
        self.posted = False

    def write(self, text: str) -> int:
        if not self.posted:
            self.posted = True
            legs = posting_specs(GZ, [("Assets:Bank", "1.00"), ("Revenue:Grants", "-1.00")])
            _post(self.ledger, "t-during-export", legs, date(2026, 1, 1))
        return super().write(text)


def test_an_export_reads_one_snapshot_and_does_not_block_writers(ledger):
    build_journal(ledger)
    before = posted_postings_count(ledger.engine)
    out = _PostingWhileWritten(ledger)
    written = export_csv(ledger.engine, out, page_rows=1)
    assert out.posted and posted_postings_count(ledger.engine) == before + 2
    assert written == before and "t-during-export" not in out.getvalue()
