"""Edge fuzzing of the request readers (issue 11): any JSON document through ``parse_document`` +
``Ledger.submit`` and any CSV text through the importer ends in stored results or named refusals, never
another exception, each example in bounded time; a refused request writes nothing.

Bounded for the normal suite (about 20 s per backend); ``FUNDLEDGER_DEEP=1`` runs many more examples."""

from __future__ import annotations

import csv
import io
import os
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.errors import LedgerError, ResultCode
from ledger.importer import import_csv
from ledger.jsonio import parse_document
from tests.ledger_helpers import BOOK, chart, fund, snapshot

DEEP = os.environ.get("FUNDLEDGER_DEEP") == "1"
EXAMPLES = 2_000 if DEEP else 120
# Generous: a well-formed post takes milliseconds; the unbounded Decimal parse took 24 s (defect 15). 2 s was
# exceeded once (3.3 s) by a batch on a CI run sharing the 2 cores; 8 s still fails that defect threefold.
EXAMPLE_SECONDS_MAX = 8.0
settings.register_profile(
    "edge-fuzz",
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
FUZZ = settings.get_profile("edge-fuzz")
RESULT_CODES = set(ResultCode)

# Text that tends to break number and date readers.
EDGE_TEXTS = st.sampled_from(
    [
        "1e5000",
        "1e999999",
        "1e999997",
        "-1E+999999",
        "1,5",
        "1,000.00",
        "1².00",
        "١٢٣",
        "１２３",
        "NaN",
        "-0",
        "Infinity",
        "0x10",
        "1_000",
        "",
        " ",
        "\x00",
        "2026-13-01",
        "2026-02-30",
        "9999-12-31T23:59:59",
        "abc",
        "10.001",
        "-",
        ".",
        "00000000000000000000001",
        "9" * 25,
        "gz/",
        "/",
        "api/x",
        "Assets:Bank",
        BOOK,
    ]
)
JSON_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    EDGE_TEXTS,
)
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)
REQUEST_FIELDS = [
    "id",
    "date",
    "type",
    "source",
    "memo",
    "actor",
    "approver",
    "approval_doc",
    "pending",
    "expires_at",
    "program_year",
    "link_type",
    "link_id",
    "linked",
    "kind",
    "book",
    "reason",
    "target",
    "amount",
    "postings",
]
POSTING_FIELDS = ["book", "account", "amount", "currency"]


def _good_document(client_id: str) -> dict:
    return {
        "id": client_id,
        "date": "2026-03-10",
        "actor": "clerk.li",
        "postings": [
            {"book": BOOK, "account": "Expenses:Grants", "amount": "1.00"},
            {"book": BOOK, "account": "Assets:Bank", "amount": "-1.00"},
        ],
    }


@st.composite
def documents(draw) -> dict:
    """A good request with some of its fields (and its legs' fields) replaced by anything."""
    document = _good_document(draw(st.text(min_size=1, max_size=12)))
    for name in draw(st.lists(st.sampled_from(REQUEST_FIELDS), max_size=4, unique=True)):
        document[name] = draw(JSON_VALUES)
    if isinstance(document.get("postings"), list):
        for leg in document["postings"]:
            if isinstance(leg, dict):
                for name in draw(st.lists(st.sampled_from(POSTING_FIELDS), max_size=2, unique=True)):
                    leg[name] = draw(JSON_VALUES)
    return document


def _assert_only_refusal_codes(results) -> None:
    for result in results:
        assert result.code in RESULT_CODES, result


@FUZZ
@given(batch=st.lists(st.one_of(documents(), JSON_VALUES), min_size=1, max_size=4))
def test_any_json_batch_ends_in_results_or_named_refusals(ledger, batch):
    if not ledger.books():
        chart(ledger)
        fund(ledger, "1000000.00")
    before = snapshot(ledger)
    started = time.perf_counter()
    try:
        results = ledger.submit(parse_document(batch, source="fuzz"))
    except LedgerError as error:
        assert error.code in RESULT_CODES
        results = None
    assert time.perf_counter() - started < EXAMPLE_SECONDS_MAX
    if results is None or not any(result.code == ResultCode.OK for result in results):
        assert snapshot(ledger) == before
    else:
        _assert_only_refusal_codes(results)


CSV_CELLS = st.one_of(st.text(max_size=20), EDGE_TEXTS)


@FUZZ
@given(rows=st.lists(st.lists(CSV_CELLS, min_size=1, max_size=7), min_size=1, max_size=5), good_header=st.booleans())
def test_any_csv_ends_in_a_report_or_a_named_refusal(ledger, rows, good_header):
    if not ledger.books():
        chart(ledger)
        fund(ledger, "1000000.00")
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["tx_id", "date", "account", "amount", "currency", "memo"] if good_header else rows[0])
    writer.writerows(rows)
    before = snapshot(ledger)
    started = time.perf_counter()
    try:
        report = import_csv(ledger, io.StringIO(out.getvalue()), book=BOOK, source="import:fuzz")
    except LedgerError as error:
        assert error.code in RESULT_CODES
        report = None
    assert time.perf_counter() - started < EXAMPLE_SECONDS_MAX
    if report is None or report.posted == 0:
        assert snapshot(ledger) == before
    else:
        assert all(error.code in RESULT_CODES for error in report.errors)
