"""The vectorised import gives exactly what the row-by-row import gives: the same journal rows byte for byte
(leaf hashes and digests included), the same balances, the same report and the same refusals (line, tx_id,
code, message) in the same order; it stays resumable, crash-safe with its dropped indexes, and verifiable.

Most comparisons run on SQLite files copied from the migrated template, one per path, with the clock
frozen so recorded_at (and so every leaf) is the same on both; blocks and chunks are made tiny so every
file crosses many block and chunk boundaries.
"""

from __future__ import annotations

import io
import random
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

import ledger.import_columns as import_columns
import ledger.import_vectorised as import_vectorised
import ledger.importer as importer
from ledger import import_indexes
from ledger.chain import seal, verify_chain
from ledger.chain_format import _json_string
from ledger.db import make_engine
from ledger.engine import Ledger
from ledger.importer import CsvImporter, import_csv
from ledger.queries import reconcile

FROZEN = datetime(2026, 11, 22, 8, 30, 0, 123456, tzinfo=UTC)
TABLES = {
    "transactions": "id",
    "postings": "id",
    "accounts": "id",
    "account_month_totals": "account_id, period",
    "seal_queue": "transaction_id",
    "books": "id",
}
HEADER = "tx_id,date,account,amount,currency,memo\n"


@pytest.fixture
def frozen(monkeypatch):
    import ledger.engine

    for module in (importer, import_columns, ledger.engine):
        monkeypatch.setattr(module, "utc_now", lambda: FROZEN)


@pytest.fixture
def tiny_blocks(monkeypatch):
    """Blocks of a few hundred bytes: held-back transactions, exact-path switches and chunk joins galore."""
    monkeypatch.setattr(import_vectorised, "BLOCK_BYTES", 256)
    monkeypatch.setattr(import_columns, "WRITE_SLICE_TRANSACTIONS", 3)


@pytest.fixture
def fresh(sqlite_template, tmp_path):
    counter = iter(range(10_000))

    def make(prepare=None) -> Ledger:
        path = tmp_path / f"ledger-{next(counter)}.db"
        shutil.copy(sqlite_template, path)
        ledger = Ledger(make_engine(f"sqlite:///{path}"), clock=lambda: FROZEN)
        ledger.create_book("main", "main", "financial")
        if prepare is not None:
            prepare(ledger)
        return ledger

    return make


def dump(ledger: Ledger) -> dict:
    path = ledger.engine.url.database
    with sqlite3.connect(path) as conn:
        return {
            table: conn.execute(f"SELECT * FROM {table} ORDER BY {order}").fetchall() for table, order in TABLES.items()
        }


def report_of(report) -> tuple:
    return (
        report.source,
        report.posted,
        report.skipped,
        report.postings,
        report.accounts_created,
        report.refused,
        report.errors_total,
        [(e.line, e.tx_id, e.code, e.message) for e in report.errors],
    )


def both(fresh, tmp_path, content: str, *, prepare=None, expect_vectorised: bool | None = True, **options):
    """Import ``content`` (written to a file) row by row into one fresh ledger and vectorised into another;
    returns (row report, vectorised report, row ledger, vectorised ledger) after asserting equal journals."""
    options.setdefault("create_accounts", True)
    options.setdefault("chunk_transactions", 4)
    path = tmp_path / "journal.csv"
    path.write_bytes(content.encode("utf-8"))
    row_ledger, vec_ledger = fresh(prepare), fresh(prepare)
    row = import_csv(row_ledger, path, book="main", source="import:test", vectorised=False, **options)
    taken = []
    original = CsvImporter._run_vectorised

    def spy(self, *args):
        taken.append(True)
        return original(self, *args)

    CsvImporter._run_vectorised = spy
    try:
        vec = import_csv(vec_ledger, path, book="main", source="import:test", vectorised=True, **options)
    finally:
        CsvImporter._run_vectorised = original
    if expect_vectorised is not None:
        assert bool(taken) == expect_vectorised, (
            "the vectorised reader did not take the file" if expect_vectorised else "it took a file it must leave"
        )
    assert report_of(vec) == report_of(row)
    assert dump(vec_ledger) == dump(row_ledger)
    return row, vec, row_ledger, vec_ledger


# ----- a seeded generator of journals with every kind of refusal -----------------------------------------

ACCOUNTS = ["Assets:Bank:Treasury", "NetAssets:Appropriations", "Expenses:Vouchers:440100", "Liabilities:Payables:P1",
            "Revenue:Grants", "Assets:银行:广州", "Expenses:补助:科技", "Equity:Opening"]  # fmt: skip
MEMOS = [
    "",
    "2026 appropriation",
    "穗财科〔2026〕1号 拨款",
    "创新券·兑付（第一批）",
    "emoji 🧾",
    "tab\tinside",
    "back\\slash",
]


def fen_text(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"


def journal(seed: int, transactions: int = 40, faults: float = 0.0, quoting: bool = False, forced=None) -> str:
    """A journal of balanced transactions; with ``faults`` that share of them carries one defect, and
    ``forced`` ({number: fault}) puts a given defect into a given transaction."""
    rng = random.Random(seed)
    lines = [HEADER.rstrip("\n")]
    used_ids = []
    for number in range(transactions):
        tx_id = f"t{seed}-{number:04d}"
        day = f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        legs = rng.choice([2, 2, 2, 3, 4])
        amounts = [rng.randint(1, 10**9) for _ in range(legs - 1)]
        amounts.append(-sum(amounts))
        memo = rng.choice(MEMOS)
        rows = [[tx_id, day, rng.choice(ACCOUNTS), fen_text(amount), "CNY", memo] for amount in amounts]
        if forced and number in forced:
            forced[number](rng, rows, used_ids)
        elif rng.random() < faults:
            fault = rng.choice(FAULTS)
            fault(rng, rows, used_ids)
        used_ids.append(tx_id)
        for row in rows:
            if isinstance(row, str):
                lines.append(row)
            elif quoting and ("," in row[5] or "\n" in row[5] or '"' in row[5]):
                lines.append(",".join(row[:5]) + ',"' + row[5].replace('"', '""') + '"')
            else:
                lines.append(",".join(row))
    return "\n".join(lines) + "\n"


def _bad_date(rng, rows, used):
    rows[rng.randrange(len(rows))][1] = rng.choice(
        ["2026-13-01", "2026-02-30", "20260105", "2026/01/05", "", "2026-1-5"]
    )


def _bad_amount(rng, rows, used):
    rows[rng.randrange(len(rows))][3] = rng.choice(
        ["abc", "1.234", "1e3", "", "1,000.00", "+5.00", "１.00", "99999999999999999999.00"]
    )


def _zero(rng, rows, used):
    rows[0][3] = "0.00"


def _unbalanced(rng, rows, used):
    rows[0][3] = fen_text(int(rows[0][3].replace(".", "")) + 1)


def _non_contiguous(rng, rows, used):
    if used:
        for row in rows:
            row[0] = rng.choice(used)


def _currency(rng, rows, used):
    code = rng.choice(["XXX", "USD", " CNY ", "JPY", "cny"])
    for row in rows:
        row[4] = code


def _one_posting(rng, rows, used):
    del rows[1:]


def _field_count(rng, rows, used):
    row = rows[rng.randrange(len(rows))]
    rows[rows.index(row)] = ",".join(row[:5]) if rng.random() < 0.5 else ",".join(row) + ",extra"


def _blank_lines(rng, rows, used):
    rows.insert(rng.randrange(len(rows) + 1), rng.choice(["", "   ", ""]))


def _padding(rng, rows, used):
    row = rows[rng.randrange(len(rows))]
    column = rng.choice([0, 1, 2, 3, 4])
    row[column] = rng.choice([" ", "\u3000", "\u00a0", "\t"]) + row[column] + " "


def _date_mismatch(rng, rows, used):
    rows[-1][1] = "2026-12-31" if rows[0][1] != "2026-12-31" else "2026-12-30"


def _empty_id(rng, rows, used):
    rows[rng.randrange(len(rows))][0] = ""


def _long_text(rng, rows, used):
    if rng.random() < 0.5:
        for row in rows:
            row[5] = "长" * 1_001
    else:
        for row in rows:
            row[0] = "x" * 201


def _bad_account(rng, rows, used):
    rows[rng.randrange(len(rows))][2] = rng.choice(
        ["Cash:Drawer", "BudgetRevenue:X", "Assets", " Assets:Bank:Treasury"]
    )


FAULTS = [_bad_date, _bad_amount, _zero, _unbalanced, _non_contiguous, _currency, _one_posting, _field_count,
          _blank_lines, _padding, _date_mismatch, _empty_id, _long_text, _bad_account]  # fmt: skip


# ----- equality on generated files --------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_clean_generated_journals_are_identical_and_take_the_fast_path(fresh, tmp_path, frozen, tiny_blocks, seed):
    path = tmp_path / "journal.csv"
    path.write_text(journal(seed, transactions=60), encoding="utf-8")
    vec_ledger = fresh()
    with pytest.MonkeyPatch.context() as spies:  # neither the exact reader nor the row path's checks run
        spies.setattr(import_vectorised.VectorisedReader, "_grouper", lambda self: pytest.fail("exact path taken"))
        spies.setattr(CsvImporter, "_accept", lambda *args: pytest.fail("a chunk went row by row"))
        vec = import_csv(vec_ledger, path, book="main", source="import:test", vectorised=True, create_accounts=True,
                         chunk_transactions=4)  # fmt: skip
    row, vec_again, _, _ = both(fresh, tmp_path, journal(seed, transactions=60))
    assert report_of(vec_again) == report_of(vec)
    assert row.errors_total == 0 and vec.posted == 60
    assert seal(vec_ledger.engine) == 60
    assert verify_chain(vec_ledger.engine).intact
    assert reconcile(vec_ledger.engine) == []


@pytest.mark.parametrize("seed", range(40))
def test_generated_journals_with_refusals_give_the_same_refusals_and_journal(
    fresh, tmp_path, frozen, tiny_blocks, seed
):
    row, _vec, _, vec_ledger = both(
        fresh, tmp_path, journal(seed, transactions=50, faults=0.15), expect_vectorised=None
    )
    assert row.errors_total > 0 or seed % 7 == 0  # nearly every file refuses something
    seal(vec_ledger.engine)
    assert verify_chain(vec_ledger.engine).intact
    assert reconcile(vec_ledger.engine) == []


@pytest.mark.parametrize("fault", FAULTS, ids=lambda fault: fault.__name__)
def test_each_kind_of_refusal_alone(fresh, tmp_path, frozen, tiny_blocks, fault):
    """The defect in the middle of the file, after clean blocks taken in columns: the exact path takes over
    from there with the same words."""
    row, *_ = both(fresh, tmp_path, journal(3, transactions=30, forced={15: fault}), expect_vectorised=True)
    if fault not in (_padding, _currency, _blank_lines):  # these may be read as valid rows
        assert row.errors_total > 0


def test_quoted_memos_with_commas_and_line_breaks_go_row_by_row_with_physical_line_numbers(fresh, tmp_path, frozen):
    content = HEADER + (
        't1,2026-01-05,Assets:Bank,1.00,CNY,"拨款, 第一批\n续行"\n'
        't1,2026-01-05,Equity:Opening,-1.00,CNY,"拨款, 第一批\n续行"\n'
        "t2,2026-01-06,Assets:Bank,abc,CNY,\n"
    )
    row, *_ = both(fresh, tmp_path, content, expect_vectorised=False)
    # The bad row is on the file's sixth line (records: header, t1 over two lines twice, then t2).
    assert [(e.line, e.code) for e in row.errors] == [(6, "amount_invalid")]


@pytest.mark.parametrize("seed", range(4))
def test_generated_journals_with_quoted_memos_are_identical(fresh, tmp_path, frozen, seed):
    content = journal(seed, transactions=30, faults=0.2, quoting=True).replace("tab\tinside", 'say "hi", then\nmore')
    both(fresh, tmp_path, content, expect_vectorised=None)


def test_crlf_line_ends_and_missing_optional_columns(fresh, tmp_path, frozen, tiny_blocks):
    rows = ["date,amount,tx_id,account"] + [
        f"2026-03-0{n % 9 + 1},{sign}{n}.00,x{n},{account}"
        for n in range(1, 40)
        for sign, account in (("", "Assets:Bank"), ("-", "Equity:Opening"))
    ]
    row, *_ = both(fresh, tmp_path, "\r\n".join(rows) + "\r\n")
    assert row.posted == 39


def test_a_file_without_a_final_line_end_and_a_header_only_file(fresh, tmp_path, frozen):
    both(fresh, tmp_path, journal(5, transactions=10).rstrip("\n"))
    both(fresh, tmp_path, HEADER, expect_vectorised=True)


def test_accounts_with_limits_closed_accounts_and_closed_periods_refuse_alike(fresh, tmp_path, frozen, tiny_blocks):
    def prepare(ledger):
        ledger.create_account("main", "Assets:Bank:Treasury", credits_must_not_exceed_debits=True)
        ledger.create_account("main", "Revenue:Grants")
        ledger.close_account("main", "Revenue:Grants")
        ledger.close_period("main", "2026-02", actor="director")

    both(fresh, tmp_path, journal(11, transactions=60), prepare=prepare)


def test_without_create_accounts_unknown_accounts_are_refused_alike(fresh, tmp_path, frozen, tiny_blocks):
    def prepare(ledger):
        for path in ACCOUNTS[:5]:
            ledger.create_account("main", path)

    row, *_ = both(fresh, tmp_path, journal(12, transactions=40), prepare=prepare, create_accounts=False)
    assert {e.code for e in row.errors} == {"account_not_found"}


def test_a_stream_opened_as_the_cli_opens_it_takes_the_vectorised_reader(fresh, tmp_path, frozen):
    path = tmp_path / "cli.csv"
    path.write_bytes(b"\xef\xbb\xbf" + journal(8, transactions=30).encode())
    expected = import_csv(fresh(), path, book="main", source="s", vectorised=False, create_accounts=True)
    assert expected.posted == 30
    ledger = fresh()
    with path.open(newline="", encoding="utf-8-sig") as stream:
        plan = CsvImporter(ledger, book="main", source="s")._vectorised_plan(stream, True)
        assert plan is not None and plan[1].tx == 0
        plan[0].binary.seek(0)
        stream.seek(0)
        report = import_csv(ledger, stream, book="main", source="s", vectorised=True, create_accounts=True)
    assert report_of(report) == report_of(expected)


# ----- resumable, idempotent, crash-safe ----------------------------------------------------------------


def test_a_rerun_skips_everything_and_a_changed_transaction_is_refused_alike(fresh, tmp_path, frozen, tiny_blocks):
    content = journal(21, transactions=40)
    _row, _vec, row_ledger, vec_ledger = both(fresh, tmp_path, content)
    before = dump(vec_ledger)
    path = tmp_path / "journal.csv"
    again = import_csv(vec_ledger, path, book="main", source="import:test", vectorised=True, chunk_transactions=4)
    assert (again.posted, again.skipped, again.errors_total) == (0, 40, 0)
    assert dump(vec_ledger) == before
    changed = content.replace("t21-0007,", "t21-0007x,", 1)  # one row moves to a new id: two refusals
    changed = changed.replace(fen_text(int(content.splitlines()[30].split(",")[3].replace(".", ""))), "1.00", 1)
    path.write_text(changed, encoding="utf-8")
    row = import_csv(row_ledger, path, book="main", source="import:test", vectorised=False, chunk_transactions=4)
    vec = import_csv(vec_ledger, path, book="main", source="import:test", vectorised=True, chunk_transactions=4)
    assert report_of(vec) == report_of(row) and row.errors_total > 0
    assert dump(vec_ledger) == dump(row_ledger)


def test_an_interrupted_vectorised_import_resumes_to_the_same_ledger(fresh, tmp_path, frozen, tiny_blocks):
    content = journal(31, transactions=40)
    path = tmp_path / "journal.csv"
    path.write_text(content, encoding="utf-8")
    whole = fresh()
    import_csv(
        whole, path, book="main", source="import:test", vectorised=True, chunk_transactions=4, create_accounts=True
    )
    ledger = fresh()

    class Crash(Exception):
        pass

    def crash_after(count):
        def progress(done):
            crash_after.seen = getattr(crash_after, "seen", 0) + done
            if crash_after.seen >= count:
                raise Crash

        return progress

    with pytest.raises(Crash):
        import_csv(ledger, path, book="main", source="import:test", vectorised=True, chunk_transactions=4,
                   create_accounts=True, progress=crash_after(12))  # fmt: skip
    report = import_csv(
        ledger, path, book="main", source="import:test", vectorised=True, chunk_transactions=4, create_accounts=True
    )
    assert (report.posted, report.skipped) == (28, 12)
    assert dump(ledger) == dump(whole)
    seal(ledger.engine)
    assert verify_chain(ledger.engine).intact
    assert reconcile(ledger.engine) == []


KILLED_IMPORT = textwrap.dedent(
    """
    import os, sys
    import ledger.import_indexes as import_indexes
    import ledger.import_vectorised as import_vectorised
    from ledger.db import make_engine
    from ledger.engine import Ledger
    from ledger.importer import import_csv

    import_indexes.INDEX_DROP_MIN_BYTES = 0
    import_vectorised.BLOCK_BYTES = 512
    ledger = Ledger(make_engine("sqlite:///" + sys.argv[1]))
    seen = []

    def progress(done):
        seen.append(done)
        if len(seen) == 2:
            os._exit(9)  # killed: no finally runs, the indexes stay dropped

    import_csv(ledger, sys.argv[2], book="main", source="import:test", vectorised=True, chunk_transactions=5,
               create_accounts=True, progress=progress)
    """
)


def test_a_killed_import_leaves_a_ledger_that_verifies_and_its_rerun_rebuilds_the_indexes(fresh, tmp_path):
    path = tmp_path / "journal.csv"
    path.write_text(journal(41, transactions=30), encoding="utf-8")
    ledger = fresh()
    database = ledger.engine.url.database
    ledger.engine.dispose()
    done = subprocess.run(
        [sys.executable, "-c", KILLED_IMPORT, database, str(path)], cwd=Path(__file__).resolve().parents[1],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 9, done.stderr
    assert sorted(import_indexes.missing_posting_indexes(ledger.engine)) == sorted(import_indexes.DROPPED_WHILE_LOADING)
    assert seal(ledger.engine) == 10
    assert verify_chain(ledger.engine).intact
    assert reconcile(ledger.engine) == []
    report = import_csv(
        ledger, path, book="main", source="import:test", vectorised=True, chunk_transactions=5, create_accounts=True
    )
    assert (report.posted, report.skipped, report.errors_total) == (20, 10, 0)
    assert import_indexes.missing_posting_indexes(ledger.engine) == []
    seal(ledger.engine)
    assert verify_chain(ledger.engine).intact
    assert reconcile(ledger.engine) == []


def test_a_failed_import_rebuilds_the_indexes_it_dropped(fresh, tmp_path, monkeypatch):
    monkeypatch.setattr(import_indexes, "INDEX_DROP_MIN_BYTES", 0)
    path = tmp_path / "journal.csv"
    path.write_text(journal(42, transactions=20), encoding="utf-8")
    ledger = fresh()
    dropped = []
    original = import_indexes.drop_posting_indexes
    monkeypatch.setattr(import_indexes, "drop_posting_indexes", lambda engine: (dropped.append(1), original(engine)))

    def progress(done):
        assert import_indexes.missing_posting_indexes(ledger.engine) != []  # loading without them
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        import_csv(ledger, path, book="main", source="s", vectorised=True, chunk_transactions=5, create_accounts=True,
                   progress=progress)  # fmt: skip
    assert dropped and import_indexes.missing_posting_indexes(ledger.engine) == []


def test_indexes_are_kept_when_the_book_already_has_postings(fresh, tmp_path, monkeypatch):
    monkeypatch.setattr(import_indexes, "INDEX_DROP_MIN_BYTES", 0)
    monkeypatch.setattr(import_indexes, "INDEX_DROP_EXISTING_PER_BYTE", 10**9)
    path = tmp_path / "journal.csv"
    path.write_text(journal(43, transactions=10), encoding="utf-8")
    ledger = fresh()
    assert import_csv(ledger, path, book="main", source="first", vectorised=True, create_accounts=True).posted == 10
    monkeypatch.setattr(import_indexes, "drop_posting_indexes", lambda engine: pytest.fail("dropped indexes"))
    report = import_csv(ledger, path, book="main", source="second", vectorised=True)
    assert report.posted == 10


def test_the_index_definitions_are_the_migrated_ones(fresh):
    ledger = fresh()
    with sqlite3.connect(ledger.engine.url.database) as conn:
        stored = dict(
            conn.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'postings' AND sql IS NOT NULL"
            )
        )
    assert stored == import_indexes.SECONDARY_POSTING_INDEXES


# ----- the column helpers against the row path's functions ---------------------------------------------


def test_json_escaping_in_columns_matches_the_chain_encoder_for_every_code_point():
    texts = [chr(c) for c in range(0x110000) if not 0xD800 <= c < 0xE000]
    texts += ['say "拨款" \\ back', "tab\there", "\u2028", ""]
    encoded = import_columns._json_column(pa.array(texts, pa.string())).to_pylist()
    assert encoded == [_json_string(text) for text in texts]


def test_amount_texts_match_the_chain_encoder():
    from ledger.chain_format import _amount_text

    values = [1, -1, 99, -100, 123456, -987654321012, 10**16 - 1, -(10**16) + 1]
    for code in ("CNY", "JPY"):
        got = import_columns._amount_texts(pa.array(values, pa.int64()), pa.array([code] * len(values))).to_pylist()
        assert got == [_amount_text(value, code) for value in values]


def test_a_json_report_of_both_paths_on_the_postgres_and_sqlite_ledgers(ledger, tmp_path):
    """On each backend: the vectorised reader's import equals the row path's in a second book."""
    ledger.create_book("a", "a", "financial")
    ledger.create_book("b", "b", "financial")
    path = tmp_path / "journal.csv"
    path.write_text(journal(51, transactions=40, faults=0.2), encoding="utf-8")
    row = import_csv(ledger, path, book="a", source="sa", vectorised=False, create_accounts=True, chunk_transactions=6)
    vec = import_csv(ledger, path, book="b", source="sb", vectorised=True, create_accounts=True, chunk_transactions=6)
    assert report_of(vec)[1:7] == report_of(row)[1:7]
    assert [error[:3] for error in report_of(vec)[7]] == [error[:3] for error in report_of(row)[7]]
    balances = {
        book: sorted(
            (info.path, info.debits_posted, info.credits_posted) for info in ledger.accounts() if info.book == book
        )
        for book in ("a", "b")
    }
    assert balances["a"] == balances["b"]
    seal(ledger.engine)
    assert verify_chain(ledger.engine).intact
    assert reconcile(ledger.engine) == []


def test_a_string_stream_is_read_alike(fresh, frozen):
    content = journal(61, transactions=20, faults=0.3)
    options = {"book": "main", "source": "s", "chunk_transactions": 3, "create_accounts": True}
    row = import_csv(fresh(), io.StringIO(content), vectorised=False, **options)
    vec = import_csv(fresh(), io.StringIO(content), vectorised=True, **options)
    assert row.posted > 0 and row.errors_total > 0
    assert report_of(vec) == report_of(row)
