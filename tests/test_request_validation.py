"""Requests are read strictly and bounded: every malformed field is a named refusal that writes nothing
(issue 11, defects 9, 12, 15, 16, 17). Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from ledger.chain import seal, verify_chain
from ledger.engine import Ledger
from ledger.entries import PostPendingRequest, TransactionRequest
from ledger.errors import LedgerError, ResultCode
from ledger.importer import import_csv
from ledger.jsonio import parse_document
from ledger.money import to_decimal, to_fen
from ledger.numbers import parse_amount
from tests.ledger_helpers import BOOK, chart, fund, snapshot

# A refusal of a bounded field must come back at once; the unbounded parse took 24 s (defect 15).
REFUSAL_SECONDS_MAX = 1.0


@pytest.fixture
def books(ledger):
    chart(ledger)
    fund(ledger)
    return ledger


def transaction_document(client_id: str = "t1", amount: object = "10.00", **fields) -> dict:
    return {
        "id": client_id,
        "date": "2026-03-10",
        "actor": "clerk.li",
        "postings": [
            {"book": BOOK, "account": "Expenses:Grants", "amount": amount},
            {"book": BOOK, "account": "Assets:Bank", "amount": f"-{amount}" if isinstance(amount, str) else amount},
        ],
        **fields,
    }


def submit_document(ledger: Ledger, document: object):
    return ledger.submit(parse_document(document, source="test"))


def assert_document_refused(ledger: Ledger, document: object, code: ResultCode, field: str | None = None):
    before = snapshot(ledger)
    started = time.perf_counter()
    results = submit_document(ledger, document)
    assert time.perf_counter() - started < REFUSAL_SECONDS_MAX
    assert [result.code for result in results] == [code], results
    if field is not None:
        assert results[0].detail.get("field") == field, results[0]
    assert snapshot(ledger) == before
    return results[0]


# -- defect 15: bad input is a named refusal, never a crash -------------------------------------------


@pytest.mark.parametrize(
    ("amount", "code"),
    [
        ("1e5000", ResultCode.AMOUNT_INVALID),
        ("1e999999", ResultCode.AMOUNT_INVALID),
        ("1e999997", ResultCode.AMOUNT_INVALID),
        ("1" * 5000, ResultCode.AMOUNT_INVALID),
        ("1².00", ResultCode.AMOUNT_INVALID),
        ("١٢.٠٠", ResultCode.AMOUNT_INVALID),
        ("NaN", ResultCode.AMOUNT_INVALID),
        ("Infinity", ResultCode.AMOUNT_INVALID),
        (None, ResultCode.AMOUNT_INVALID),
        ([1], ResultCode.AMOUNT_INVALID),
        (True, ResultCode.AMOUNT_INVALID),
        ("12345678901234567890", ResultCode.AMOUNT_EXCEEDS_BIGINT),
    ],
)
def test_defect_15_malformed_amount_is_a_named_refusal(books, amount, code):
    assert_document_refused(books, transaction_document(amount=amount), code)


def test_defect_15_decimal_with_huge_exponent_is_refused_quickly():
    started = time.perf_counter()
    for value in (Decimal("1e999997"), Decimal("1e-999997"), Decimal("-1E+999999")):
        with pytest.raises(LedgerError) as caught:
            to_fen(value)
        assert caught.value.code in (ResultCode.AMOUNT_EXCEEDS_BIGINT, ResultCode.AMOUNT_EXCEEDS_CURRENCY_PLACES)
    assert time.perf_counter() - started < REFUSAL_SECONDS_MAX


def test_defect_15_null_actor_is_refused_by_name(books):
    assert_document_refused(books, transaction_document(actor=None), ResultCode.TEXT_INVALID, "actor")


def test_defect_15_book_given_as_a_number_is_refused_by_name(books):
    document = transaction_document()
    document["postings"][0]["book"] = 5
    assert_document_refused(books, document, ResultCode.FIELD_INVALID, "book")


def test_defect_15_book_given_as_a_number_to_the_engine_is_refused_by_name(books):
    request = TransactionRequest(
        "t-book", parse_document(transaction_document(), source="x")[0].postings, datetime(2026, 3, 10).date()
    )
    bad_leg = type(request.postings[0])(5, "Expenses:Grants", "10.00")
    before = snapshot(books)
    with pytest.raises(LedgerError) as caught:
        books.post(TransactionRequest("t-book", (bad_leg, request.postings[1]), request.effective_date))
    assert caught.value.code == ResultCode.FIELD_INVALID
    assert snapshot(books) == before


def test_defect_15_impossible_expiry_date_is_refused_by_name(books):
    document = transaction_document(pending=True, expires_at="2026-13-01")
    assert_document_refused(books, document, ResultCode.DATE_INVALID, "expires_at")


def test_defect_15_one_malformed_item_in_a_batch_is_refused_and_the_good_ones_post(books):
    batch = [
        transaction_document("good-1"),
        transaction_document("bad", amount="1e5000"),
        transaction_document("good-2"),
        transaction_document("good-3"),
    ]
    results = submit_document(books, batch)
    assert [result.code for result in results] == [
        ResultCode.OK,
        ResultCode.AMOUNT_INVALID,
        ResultCode.OK,
        ResultCode.OK,
    ]
    assert books.account(BOOK, "Expenses:Grants").debits_posted == 3000


def test_defect_15_a_malformed_item_fails_its_linked_chain(books):
    batch = [
        transaction_document("chain-1", linked=True),
        {**transaction_document("chain-bad", amount="1,5"), "linked": True},
        transaction_document("chain-3"),
        transaction_document("alone"),
    ]
    results = submit_document(books, batch)
    assert [result.code for result in results] == [
        ResultCode.LINKED_EVENT_FAILED,
        ResultCode.AMOUNT_INVALID,
        ResultCode.LINKED_EVENT_FAILED,
        ResultCode.OK,
    ]
    assert books.account(BOOK, "Expenses:Grants").debits_posted == 1000


@pytest.mark.parametrize("cell", ["1².00", "1e5000", "1e999997", "1,5", "1e3", "+5.00", "5.", ".5", "1 000.00"])
def test_defect_15_16_malformed_csv_amount_is_reported_with_its_line(books, cell):
    before = snapshot(books)
    content = f'tx_id,date,account,amount\nc1,2026-03-10,Expenses:Grants,"{cell}"\nc1,2026-03-10,Assets:Bank,-5.00\n'
    started = time.perf_counter()
    report = import_csv(books, io.StringIO(content), book=BOOK, source="import:bad")
    assert time.perf_counter() - started < REFUSAL_SECONDS_MAX
    assert report.posted == 0
    assert [(error.line, error.code) for error in report.errors] == [(2, ResultCode.AMOUNT_INVALID.value)]
    assert snapshot(books) == before


# -- defect 16: one strict form of an amount ----------------------------------------------------------


@pytest.mark.parametrize("text", ["1,5", "1e3", "1E3", "1,000.00", "+1.00", " 1.00 1", "0x10", "1_000", "--1", "5."])
def test_defect_16_loose_amount_forms_are_refused(text):
    with pytest.raises(LedgerError) as caught:
        to_decimal(text)
    assert caught.value.code == ResultCode.AMOUNT_INVALID


@pytest.mark.parametrize("text", ["1,5", "1e3"])
def test_defect_16_json_amount_1_5_is_not_15(books, text):
    assert_document_refused(books, transaction_document(amount=text), ResultCode.AMOUNT_INVALID)


def test_defect_16_thousands_only_where_asked_and_only_in_threes():
    assert to_decimal("1,234,567.89", thousands=True) == Decimal("1234567.89")
    for text in ("1,5", "12,34", "1,2345", ",123"):
        with pytest.raises(LedgerError):
            to_decimal(text, thousands=True)


def test_defect_16_configuration_keeps_its_unit_forms():
    assert parse_amount("1000万") == Decimal("10000000")
    assert parse_amount("0.5万") == Decimal("5000")
    assert parse_amount("2亿") == Decimal("200000000")
    assert parse_amount("500000.00元") == Decimal("500000.00")
    assert parse_amount("1,000万") == Decimal("10000000")
    with pytest.raises(LedgerError):
        parse_amount("1,5万")


# -- defect 9: a post-pending amount in the pending's currency ----------------------------------------


def test_defect_9_post_pending_amount_uses_the_pendings_currency(books):
    books.create_account(BOOK, "Assets:Bank:JPY", currency="JPY")
    books.create_account(BOOK, "NetAssets:JPY", currency="JPY")
    pending = {
        "id": "jpy-hold",
        "date": "2026-03-10",
        "pending": True,
        "postings": [
            {"book": BOOK, "account": "Assets:Bank:JPY", "amount": "500", "currency": "JPY"},
            {"book": BOOK, "account": "NetAssets:JPY", "amount": "-500", "currency": "JPY"},
        ],
    }
    assert [r.code for r in submit_document(books, pending)] == [ResultCode.OK]
    post = {"type": "post_pending", "id": "jpy-post", "pending": "test/jpy-hold", "amount": "3"}
    assert [r.code for r in submit_document(books, post)] == [ResultCode.OK]
    assert books.account(BOOK, "Assets:Bank:JPY").debits_posted == 3
    # The same key again is a replay, not other content.
    assert [r.code for r in submit_document(books, post)] == [ResultCode.EXISTS]


def test_defect_9_post_pending_amount_with_places_the_currency_lacks_is_refused(books):
    books.create_account(BOOK, "Assets:Bank:JPY", currency="JPY")
    books.create_account(BOOK, "NetAssets:JPY", currency="JPY")
    books.post(
        TransactionRequest(
            "jpy-hold",
            parse_document(
                {
                    "id": "x",
                    "date": "2026-03-10",
                    "postings": [
                        {"book": BOOK, "account": "Assets:Bank:JPY", "amount": "500", "currency": "JPY"},
                        {"book": BOOK, "account": "NetAssets:JPY", "amount": "-500", "currency": "JPY"},
                    ],
                },
                source="x",
            )[0].postings,
            datetime(2026, 3, 10).date(),
            pending=True,
        )
    )
    before = snapshot(books)
    with pytest.raises(LedgerError) as caught:
        books.post(PostPendingRequest("jpy-post", ("api", "jpy-hold"), amount="3.50"))
    assert caught.value.code == ResultCode.AMOUNT_EXCEEDS_CURRENCY_PLACES
    assert snapshot(books) == before


# -- defect 12: typed fields validated up front -------------------------------------------------------


@pytest.mark.parametrize("year", ["abc", "", True, 1.5, [2026], {"y": 1}, -1, 10**30])
def test_defect_12_program_year_is_validated_and_the_chain_still_seals(books, year):
    assert_document_refused(
        books, transaction_document(program_year=year), ResultCode.PROGRAM_YEAR_INVALID, "program_year"
    )
    # The refusal stored nothing, so the chain keeps sealing what comes after it.
    assert [r.code for r in submit_document(books, transaction_document("after"))] == [ResultCode.OK]
    seal(books.engine)
    report = verify_chain(books.engine)
    assert report.intact, report.findings
    assert report.unsealed == 0


def test_defect_12_program_year_as_four_digit_text_is_read_as_the_year(books):
    results = submit_document(books, transaction_document(program_year="2026"))
    assert [result.code for result in results] == [ResultCode.OK]
    assert books.transaction(results[0].transaction_id)["program_year"] == 2026


def test_defect_12_program_year_from_python_is_validated_too(books):
    good = parse_document(transaction_document(), source="x")[0]
    before = snapshot(books)
    with pytest.raises(LedgerError) as caught:
        books.post(TransactionRequest("py", good.postings, good.effective_date, program_year="abc"))
    assert caught.value.code == ResultCode.PROGRAM_YEAR_INVALID
    assert snapshot(books) == before


@pytest.mark.parametrize(
    ("fields", "code", "field"),
    [
        ({"pending": "false"}, ResultCode.FIELD_INVALID, "pending"),
        ({"linked": 1}, ResultCode.FIELD_INVALID, "linked"),
        ({"memo": 5}, ResultCode.TEXT_INVALID, "memo"),
        ({"kind": None}, ResultCode.TEXT_INVALID, "kind"),
        ({"approver": 7}, ResultCode.TEXT_INVALID, "approver"),
        ({"source": ["a"]}, ResultCode.TEXT_INVALID, "source"),
        ({"date": 20260310}, ResultCode.DATE_INVALID, "date"),
        ({"date": "2026-02-30"}, ResultCode.DATE_INVALID, "date"),
        ({"id": {"a": 1}}, ResultCode.FIELD_INVALID, "id"),
        ({"expires_at": 5, "pending": True}, ResultCode.DATE_INVALID, "expires_at"),
        ({"link_id": 5}, ResultCode.TEXT_INVALID, "link_id"),
    ],
)
def test_defect_12_every_typed_field_is_validated_by_name(books, fields, code, field):
    assert_document_refused(books, transaction_document(**fields), code, field)


# -- defect 17: a naive expires_at is Shanghai time ---------------------------------------------------


def test_defect_17_expiry_without_time_zone_is_shanghai_time(books):
    results = submit_document(books, transaction_document(pending=True, expires_at="2030-01-01T08:00:00"))
    assert [result.code for result in results] == [ResultCode.OK]
    stored = books.transaction(results[0].transaction_id)["expires_at"]
    stored = stored.replace(tzinfo=UTC) if stored.tzinfo is None else stored.astimezone(UTC)
    assert stored == datetime(2030, 1, 1, 0, 0, tzinfo=UTC)


def test_defect_9_trial_balance_rows_print_with_their_currencys_places(books):
    from ledger.queries import trial_balance

    books.create_account(BOOK, "Assets:Bank:JPY", currency="JPY")
    books.create_account(BOOK, "NetAssets:JPY", currency="JPY")
    document = {
        "id": "jpy",
        "date": "2026-03-10",
        "postings": [
            {"book": BOOK, "account": "Assets:Bank:JPY", "amount": "1000", "currency": "JPY"},
            {"book": BOOK, "account": "NetAssets:JPY", "amount": "-1000", "currency": "JPY"},
        ],
    }
    assert [r.code for r in submit_document(books, document)] == [ResultCode.OK]
    rows = {row.account: row for row in trial_balance(books, book=BOOK)}
    assert (rows["Assets:Bank:JPY"].debit_text, rows["NetAssets:JPY"].credit_text) == ("1000", "1000")
    assert rows["Assets:Bank"].debit_text.endswith(".00")
