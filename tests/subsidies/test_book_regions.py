"""subsidies.listings.book_regions: the books each installed program names, with its region; a book two
regions' programs share belongs to both."""

from __future__ import annotations

from subsidies import listings
from subsidies.config import example_programs, parse_program
from subsidies.service import SubsidyService


def test_each_programs_books_carry_its_region(ledger):
    service = SubsidyService(ledger)
    codes = ("gz-service-demonstration", "nansha-revenue-lifetime")
    chosen = [(p, t) for p, t in example_programs() if p.code in codes]
    for program, text in chosen:
        service.install_program(program, text, actor="setup")
    with ledger.reader.connect() as conn:
        owners = listings.book_regions(conn)
    assert owners == {
        "gz-budget": ("440100",), "gz-finance": ("440100",),
        "nansha-budget": ("440115",), "nansha-finance": ("440115",),
    }  # fmt: skip
    opened = {book["code"] for book in ledger.books()}
    assert set(owners) <= opened


def test_a_book_named_by_programs_of_two_regions_belongs_to_both(ledger):
    service = SubsidyService(ledger)
    program, text = next((p, t) for p, t in example_programs() if p.code == "nansha-revenue-lifetime")
    service.install_program(program, text, actor="setup")
    shared_text = text.replace('code = "nansha-revenue-lifetime"', 'code = "nansha-shared"').replace(
        'region = "440115"', 'region = "440100"'
    )
    shared = parse_program(shared_text)
    assert (shared.code, shared.region, shared.budget_book) == ("nansha-shared", "440100", "nansha-budget")
    service.install_program(shared, shared_text, actor="setup")
    with ledger.reader.connect() as conn:
        assert listings.book_regions(conn)["nansha-budget"] == ("440100", "440115")
