"""A posting that names a book without an entity (a domain's book) is scope-checked through the domains'
book owners even on the post path's remembered rows; a book no domain owns is outside every region."""

from __future__ import annotations

from tests.api.conftest import GZ_BOOK, appropriation

ENTITYLESS_BOOK = "orphan-book"


def test_entityless_book_outside_the_office_scope_is_a_404_not_a_500(client, books, key_for):
    books.create_book(ENTITYLESS_BOOK, "a book no domain owns", "financial")
    books.create_account(ENTITYLESS_BOOK, "Assets:Bank:Treasury", debits_must_not_exceed_credits=False)
    books.create_account(ENTITYLESS_BOOK, "NetAssets:Appropriations")
    office = key_for("finance_office", "region:440100")

    refused = client.post(
        "/v1/transactions",
        json=appropriation(book=ENTITYLESS_BOOK),
        headers={**office, "Idempotency-Key": "orphan-1"},
    )

    assert refused.status_code == 404, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert [account.balance_fen for account in books.accounts(ENTITYLESS_BOOK)] == [0, 0]
    inside = client.post(
        "/v1/transactions", json=appropriation(book=GZ_BOOK), headers={**office, "Idempotency-Key": "gz-1"}
    )
    assert inside.status_code == 201, inside.text
