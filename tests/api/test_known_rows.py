"""api.known_rows: books and entities once read are not read again; codes not found are read every time."""

from __future__ import annotations

from api import known_rows as known_module
from api.known_rows import known_rows

from .conftest import GUANGZHOU, GZ_BOOK


class CountingLedger:
    """A ledger whose book and entity reads are counted."""

    def __init__(self, ledger) -> None:  # noqa: ANN001
        self.ledger, self.reads = ledger, []

    def book(self, code: str):  # noqa: ANN201
        self.reads.append(("book", code))
        return self.ledger.book(code)

    def entity(self, code: str):  # noqa: ANN201
        self.reads.append(("entity", code))
        return self.ledger.entity(code)


def test_a_book_and_an_entity_once_read_are_remembered(books):
    counting = CountingLedger(books)
    known = known_module.KnownRows(counting)
    assert known.book(GZ_BOOK)["entity_code"] == GUANGZHOU
    assert known.book(GZ_BOOK)["code"] == GZ_BOOK
    assert known.entity(GUANGZHOU)["kind"] == "region"
    assert known.entity(GUANGZHOU)["code"] == GUANGZHOU
    assert counting.reads == [("book", GZ_BOOK), ("entity", GUANGZHOU)]


def test_a_code_not_found_is_read_again_and_found_once_created(books):
    counting = CountingLedger(books)
    known = known_module.KnownRows(counting)
    assert known.book("later-book") is None
    books.create_book("later-book", "later", "financial", entity_code=GUANGZHOU)
    assert known.book("later-book")["code"] == "later-book"
    assert counting.reads == [("book", "later-book"), ("book", "later-book")]


def test_what_is_handed_out_is_a_copy(books):
    known = known_module.KnownRows(books)
    known.book(GZ_BOOK)["entity_code"] = "999999"
    assert known.book(GZ_BOOK)["entity_code"] == GUANGZHOU


def test_memory_starts_again_past_its_bound(books, monkeypatch):
    monkeypatch.setattr(known_module, "KNOWN_ROWS_MAX", 1)
    counting = CountingLedger(books)
    known = known_module.KnownRows(counting)
    known.book(GZ_BOOK)
    known.book("440300-finance")  # the second row makes room by forgetting the first
    known.book(GZ_BOOK)
    assert counting.reads == [("book", GZ_BOOK), ("book", "440300-finance"), ("book", GZ_BOOK)]


def test_one_known_rows_per_ledger(books, engine):
    from ledger.engine import Ledger

    assert known_rows(books) is known_rows(books)
    assert known_rows(Ledger(engine)) is not known_rows(books)
