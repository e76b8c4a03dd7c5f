"""CSV import: malformed rows are reported with their line numbers, nothing is half-posted, re-runs skip."""

import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.chain import seal, verify_chain
from ledger.errors import LedgerError, ResultCode
from ledger.importer import import_csv
from ledger.queries import reconcile
from tests.ledger_helpers import snapshot

HEADER = "tx_id,date,account,amount,currency,memo\n"
GOOD = (
    "t1,2026-01-05,Assets:Bank,1000.00,CNY,appropriation\n"
    "t1,2026-01-05,Equity:Appropriations,-1000.00,CNY,appropriation\n"
    "t2,2026-01-06,Expenses:Grants,250.50,CNY,grant\n"
    "t2,2026-01-06,Assets:Bank,-250.50,CNY,grant\n"
)


@pytest.fixture
def book(ledger):
    ledger.create_book("main", "main", "financial")
    return ledger


def run(ledger, content, **options):
    options.setdefault("create_accounts", True)
    return import_csv(ledger, io.StringIO(content), book="main", source="import:test", **options)


def test_a_journal_imports_with_equity_and_income_accepted_as_types(book):
    report = run(book, HEADER + GOOD)
    assert (report.posted, report.postings, report.errors_total) == (2, 4, 0)
    assert book.account("main", "Assets:Bank").balance_fen == 74_950
    assert book.account("main", "Equity:Appropriations").type == "NetAssets"
    assert seal(book.engine) == 2
    assert verify_chain(book.engine).intact
    assert reconcile(book.engine) == []


def test_re_running_an_import_skips_what_is_already_posted(book):
    run(book, HEADER + GOOD, chunk_transactions=1)
    before = snapshot(book)
    report = run(book, HEADER + GOOD, chunk_transactions=1)
    assert (report.posted, report.skipped) == (0, 2)
    assert snapshot(book) == before


def test_an_interrupted_import_resumes_where_it_stopped(book):
    run(book, HEADER + GOOD.splitlines(keepends=True)[0] + GOOD.splitlines(keepends=True)[1])
    report = run(book, HEADER + GOOD)
    assert (report.posted, report.skipped) == (1, 1)
    assert book.account("main", "Assets:Bank").balance_fen == 74_950


def test_a_changed_transaction_under_the_same_id_is_refused(book):
    run(book, HEADER + GOOD)
    before = snapshot(book)
    report = run(book, HEADER + GOOD.replace("250.50", "250.51"))
    assert [error.code for error in report.errors] == [ResultCode.EXISTS_WITH_DIFFERENT_CONTENT.value]
    assert snapshot(book) == before


@pytest.mark.parametrize(
    "bad_rows, code, line",
    [
        (
            "t3,2026-01-07,Assets:Bank,12.345,CNY,\nt3,2026-01-07,Equity:X,-12.345,CNY,\n",
            "amount_exceeds_currency_places",
            6,
        ),
        ("t3,2026-13-07,Assets:Bank,1.00,CNY,\nt3,2026-13-07,Equity:X,-1.00,CNY,\n", "date_invalid", 6),
        ("t3,2026-01-07,Assets:Bank,abc,CNY,\nt3,2026-01-07,Equity:X,-1.00,CNY,\n", "amount_invalid", 6),
        ("t3,2026-01-07,Assets:Bank,1.00,CNY\n", "csv_row_invalid", 6),
        ("t3,2026-01-07,Assets:Bank,0.00,CNY,\nt3,2026-01-07,Equity:X,0.00,CNY,\n", "amount_must_not_be_zero", 6),
        (",2026-01-07,Assets:Bank,1.00,CNY,\n", "id_must_not_be_empty", 6),
        ("t3,2026-01-07,Assets:Bank,1.00,XXX,\nt3,2026-01-07,Equity:X,-1.00,XXX,\n", "currency_unknown", 6),
        (
            "t3,2026-01-07,Assets:Bank,99999999999999999999.00,CNY,\nt3,2026-01-07,Equity:X,-1.00,CNY,\n",
            "amount_exceeds_bigint",
            6,
        ),
    ],
)
def test_malformed_rows_are_reported_with_their_line_number_and_their_transaction_dropped(book, bad_rows, code, line):
    report = run(book, HEADER + GOOD + bad_rows)
    assert report.posted == 2
    assert [(error.code, error.line) for error in report.errors][:1] == [(code, line)]
    assert f"line {line}" in str(report.errors[0])
    assert book.account("main", "Assets:Bank").balance_fen == 74_950


@pytest.mark.parametrize(
    "rows, code",
    [
        ("t3,2026-01-07,Assets:Bank,1.00,CNY,\nt3,2026-01-07,Equity:X,-0.99,CNY,\n", "entry_must_balance"),
        ("t3,2026-01-07,Assets:Bank,1.00,CNY,\n", "entry_must_have_two_postings"),
        ("t3,2026-01-07,Assets:Bank,1.00,CNY,\nt3,2026-01-07,Cash:Drawer,-1.00,CNY,\n", "account_name_invalid"),
        (
            "t3,2026-01-07,Assets:Bank,1.00,CNY,\nt3,2026-01-07,BudgetRevenue:X,-1.00,CNY,\n",
            "account_type_not_allowed_in_book",
        ),
        ("t3,2026-01-07,Assets:Bank,1.00,CNY,\nt3,2026-01-08,Equity:X,-1.00,CNY,\n", "csv_row_invalid"),
    ],
)
def test_transactions_breaking_a_ledger_rule_are_refused_whole(book, rows, code):
    report = run(book, HEADER + GOOD + rows)
    assert report.posted == 2
    assert [error.code for error in report.errors] == [code]
    assert book.account("main", "Assets:Bank").balance_fen == 74_950


def test_unknown_accounts_are_refused_without_create_accounts(book):
    book.create_account("main", "Assets:Bank")
    report = run(book, HEADER + GOOD, create_accounts=False)
    assert report.posted == 0
    assert {error.code for error in report.errors} == {ResultCode.ACCOUNT_NOT_FOUND.value}
    assert book.account("main", "Assets:Bank").balance_fen == 0


def test_non_contiguous_rows_of_one_transaction_are_refused(book):
    rows = GOOD + "t1,2026-01-05,Assets:Bank,1.00,CNY,\nt1,2026-01-05,Equity:Appropriations,-1.00,CNY,\n"
    report = run(book, HEADER + rows)
    assert report.posted == 2
    assert [(error.code, error.line) for error in report.errors] == [("csv_row_invalid", 6)]


def test_a_closed_period_refuses_imported_postings(book):
    book.close_period("main", "2026-01", actor="director")
    report = run(book, HEADER + GOOD)
    assert report.posted == 0
    assert {error.code for error in report.errors} == {ResultCode.PERIOD_CLOSED.value}


def test_constraint_flags_hold_during_import(book):
    book.create_account("main", "Assets:Bank", credits_must_not_exceed_debits=True)
    rows = HEADER + GOOD + "t3,2026-01-07,Expenses:Grants,800.00,CNY,\nt3,2026-01-07,Assets:Bank,-800.00,CNY,\n"
    report = run(book, rows)
    assert report.posted == 2
    assert [error.code for error in report.errors] == [ResultCode.CREDITS_EXCEED_DEBITS.value]
    assert book.account("main", "Assets:Bank").balance_fen == 74_950


def test_a_file_without_the_required_header_is_refused(book):
    with pytest.raises(LedgerError) as caught:
        run(book, "id,when,what\n1,2,3\n")
    assert caught.value.code == ResultCode.CSV_HEADER_INVALID
    assert "line 1" in caught.value.message


def test_memos_are_stored_exactly_whatever_characters_they_hold(book):
    """The rows reach PostgreSQL as JSON text: quotes, backslashes, tabs, CJK, emoji and line separators must
    come back byte for byte, and the chain must seal over exactly what was stored."""
    from sqlalchemy import text

    memos = ['say "拨款" \\ back', "tab\there", "emoji 🧾 and \u2028 separator", "  padded  ", "单引号 ' 和 ,逗号"]
    rows = "".join(
        f'm{n},2026-02-0{n + 1},Assets:Bank,1.00,CNY,"{memo.replace(chr(34), chr(34) * 2)}"\n'
        f'm{n},2026-02-0{n + 1},Equity:Appropriations,-1.00,CNY,"{memo.replace(chr(34), chr(34) * 2)}"\n'
        for n, memo in enumerate(memos)
    )
    report = run(book, HEADER + rows)
    assert (report.posted, report.errors_total) == (len(memos), 0), report.errors
    with book.engine.connect() as conn:
        stored = dict(conn.execute(text("SELECT client_id, memo FROM transactions")).all())
    assert stored == {f"m{n}": memo for n, memo in enumerate(memos)}
    assert seal(book.engine) == len(memos)
    assert verify_chain(book.engine).intact


def test_a_nul_character_in_a_memo_or_account_is_refused_with_its_line_and_nothing_moves(book):
    """PostgreSQL cannot store a NUL; SQLite could. Both refuse it, per transaction, and import the rest."""
    rows = (
        "n1,2026-02-01,Assets:Bank,1.00,CNY,a\x00b\n"
        "n1,2026-02-01,Equity:Appropriations,-1.00,CNY,a\x00b\n"
        "n2,2026-02-02,Assets:Ba\x00nk,2.00,CNY,\n"
        "n2,2026-02-02,Equity:Appropriations,-2.00,CNY,\n"
        "n3,2026-02-03,Assets:Bank,3.00,CNY,fine\n"
        "n3,2026-02-03,Equity:Appropriations,-3.00,CNY,fine\n"
    )
    report = run(book, HEADER + rows)
    assert report.posted == 1
    assert [(error.line, error.tx_id, error.code) for error in report.errors] == [
        (2, "n1", ResultCode.TEXT_INVALID.value),
        (4, "n2", ResultCode.ACCOUNT_NAME_INVALID.value),
    ]
    assert book.account("main", "Assets:Bank").balance_fen == 300
    assert reconcile(book.engine) == []


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    memos=st.lists(
        st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40),
        min_size=1,
        max_size=5,
    )
)
def test_any_memo_text_is_imported_exactly(book, memos):
    """Whatever a memo holds (quotes, commas, newlines, control characters, any script), the CSV importer
    stores it as written: on PostgreSQL the rows travel as JSON, on SQLite as parameters."""
    import csv
    import itertools

    from sqlalchemy import text

    start = next(_memo_batches)
    stream = io.StringIO()
    # Quote every field: with a "\n" line end, the csv module leaves a lone "\r" unquoted.
    writer = csv.writer(stream, lineterminator="\n", quoting=csv.QUOTE_ALL)
    writer.writerow(["tx_id", "date", "account", "amount", "currency", "memo"])
    for number, memo in zip(itertools.count(start), memos):
        writer.writerow([f"memo{number}", "2026-03-01", "Assets:Bank", "1.00", "CNY", memo])
        writer.writerow([f"memo{number}", "2026-03-01", "Equity:Appropriations", "-1.00", "CNY", memo])
    report = run(book, stream.getvalue())
    assert report.errors == [] and report.posted == len(memos)
    expected = {f"memo{number}": memo for number, memo in zip(itertools.count(start), memos)}
    with book.engine.connect() as conn:
        stored = dict(
            (client_id, memo)
            for client_id, memo in conn.execute(text("SELECT client_id, memo FROM transactions"))
            if client_id in expected
        )
    assert stored == expected


_memo_batches = iter(range(0, 10**9, 100))
