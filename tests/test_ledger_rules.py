"""Every rule of the posting engine refuses bad input with its named code and leaves balances untouched.
Runs on SQLite and PostgreSQL."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from ledger.chain import seal
from ledger.engine import posting_specs
from ledger.entries import (
    Audit,
    PostingSpec,
    PostPendingRequest,
    ReversalRequest,
    TransactionRequest,
    VoidPendingRequest,
)
from ledger.errors import LedgerError, ResultCode
from ledger.money import BIGINT_MAX
from ledger.queries import balance, history, reconcile, trial_balance
from tests.ledger_helpers import BOOK, BUDGET_BOOK, DAY, chart, fund, snapshot, transfer


@pytest.fixture
def books(ledger):
    chart(ledger)
    return ledger


def assert_refused(ledger, request, code):
    before = snapshot(ledger)
    with pytest.raises(LedgerError) as caught:
        ledger.post(request)
    assert caught.value.code == code, caught.value.message
    assert snapshot(ledger) == before
    return caught.value


# ---- shape of an entry -------------------------------------------------------------------------------


def test_an_unbalanced_entry_is_refused(books):
    request = TransactionRequest(
        "t", posting_specs(BOOK, [("Assets:Bank", "100"), ("NetAssets:Appropriations", "-99.99")]), DAY
    )
    error = assert_refused(books, request, ResultCode.ENTRY_MUST_BALANCE)
    assert error.detail["difference"] == "0.01"


def test_an_entry_must_balance_within_each_book_not_just_overall(books):
    request = TransactionRequest(
        "t",
        (
            PostingSpec(BOOK, "Assets:Bank", "100"),
            PostingSpec(BUDGET_BOOK, "BudgetRevenue:Appropriations", "-100"),
        ),
        DAY,
    )
    assert_refused(books, request, ResultCode.ENTRY_MUST_BALANCE)


def test_one_event_may_post_to_two_books_atomically(books):
    request = TransactionRequest(
        "dual",
        (
            *posting_specs(BOOK, [("Expenses:Grants", "50"), ("Liabilities:Payables", "-50")]),
            *posting_specs(BUDGET_BOOK, [("BudgetExpenditure:Grants", "50"), ("BudgetRevenue:Appropriations", "-50")]),
        ),
        DAY,
    )
    books.post(request)
    assert books.account(BUDGET_BOOK, "BudgetExpenditure:Grants").balance_fen == 5000
    assert books.account(BOOK, "Expenses:Grants").balance_fen == 5000


def test_a_single_posting_is_refused(books):
    request = TransactionRequest("t", (PostingSpec(BOOK, "Assets:Bank", "0.00"),), DAY)
    assert_refused(books, request, ResultCode.ENTRY_MUST_HAVE_TWO_POSTINGS)


def test_a_zero_amount_is_refused(books):
    request = TransactionRequest(
        "t", posting_specs(BOOK, [("Assets:Bank", "0"), ("NetAssets:Appropriations", "0")]), DAY
    )
    assert_refused(books, request, ResultCode.AMOUNT_MUST_NOT_BE_ZERO)


def test_a_float_amount_is_refused(books):
    request = TransactionRequest(
        "t", posting_specs(BOOK, [("Assets:Bank", 0.1), ("NetAssets:Appropriations", "-0.1")]), DAY
    )
    assert_refused(books, request, ResultCode.AMOUNT_MUST_NOT_BE_FLOAT)


def test_more_than_two_places_for_cny_is_refused(books):
    request = transfer("t", "Assets:Bank", "NetAssets:Appropriations", "10.001")
    assert_refused(books, request, ResultCode.AMOUNT_EXCEEDS_CURRENCY_PLACES)


def test_an_amount_beyond_bigint_is_refused(books):
    too_large = str(Decimal(BIGINT_MAX + 1) / 100)
    assert_refused(
        books, transfer("t", "Assets:Bank", "NetAssets:Appropriations", too_large), ResultCode.AMOUNT_EXCEEDS_BIGINT
    )


def test_cached_totals_beyond_bigint_are_refused(books):
    largest = str(Decimal(BIGINT_MAX) / 100)
    books.post(transfer("a", "Assets:Receivable", "NetAssets:Appropriations", largest))
    assert_refused(
        books, transfer("b", "Assets:Receivable", "NetAssets:Appropriations", "0.01"), ResultCode.AMOUNT_EXCEEDS_BIGINT
    )


def test_mixed_currencies_that_do_not_balance_are_refused(books):
    request = TransactionRequest(
        "t",
        (PostingSpec(BOOK, "Assets:Bank:USD", "100", "USD"), PostingSpec(BOOK, "NetAssets:Appropriations", "-100")),
        DAY,
    )
    error = assert_refused(books, request, ResultCode.ENTRY_MUST_BALANCE)
    assert error.detail["currency"] in ("CNY", "USD")


def test_a_posting_in_the_wrong_currency_for_its_account_is_refused(books):
    request = TransactionRequest(
        "t",
        (PostingSpec(BOOK, "Assets:Bank:USD", "100"), PostingSpec(BOOK, "NetAssets:Appropriations", "-100")),
        DAY,
    )
    assert_refused(books, request, ResultCode.ACCOUNT_CURRENCY_MISMATCH)


# ---- accounts and books --------------------------------------------------------------------------------


def test_an_unknown_account_is_refused(books):
    assert_refused(
        books, transfer("t", "Assets:Nowhere", "NetAssets:Appropriations", "1"), ResultCode.ACCOUNT_NOT_FOUND
    )


def test_an_account_of_another_book_is_refused(books):
    request = transfer("t", "BudgetExpenditure:Grants", "BudgetRevenue:Appropriations", "1", book=BOOK)
    assert_refused(books, request, ResultCode.ACCOUNT_NOT_FOUND)


def test_an_unknown_book_is_refused(books):
    assert_refused(
        books, transfer("t", "Assets:Bank", "NetAssets:Appropriations", "1", book="nowhere"), ResultCode.BOOK_NOT_FOUND
    )


def test_a_closed_account_is_refused(books):
    books.close_account(BOOK, "Assets:Receivable")
    assert_refused(
        books, transfer("t", "Assets:Receivable", "NetAssets:Appropriations", "1"), ResultCode.ACCOUNT_CLOSED
    )


def test_an_account_type_must_match_its_book_basis(books):
    with pytest.raises(LedgerError) as caught:
        books.create_account(BUDGET_BOOK, "Assets:Bank")
    assert caught.value.code == ResultCode.ACCOUNT_TYPE_NOT_ALLOWED_IN_BOOK
    with pytest.raises(LedgerError) as caught:
        books.create_account(BOOK, "Cash:Drawer")
    assert caught.value.code == ResultCode.ACCOUNT_NAME_INVALID


@pytest.mark.parametrize("name", ["Assets:Ba\x00nk", "Assets:Bank\tCash", "Assets:Bank\n", "Assets:\x7fBank"])
def test_an_account_name_with_a_control_character_is_refused(books, name):
    """PostgreSQL cannot store a NUL, and a tab or newline would break the beancount and ledger exports."""
    before = snapshot(books)
    with pytest.raises(LedgerError) as caught:
        books.create_account(BOOK, name)
    assert caught.value.code == ResultCode.ACCOUNT_NAME_INVALID
    assert snapshot(books) == before


def test_memo_accounts_declare_their_normal_side(ledger):
    ledger.create_book("memo", "commitments", "memo")
    with pytest.raises(LedgerError) as caught:
        ledger.create_account("memo", "Memo:Commitments:SubFundA")
    assert caught.value.code == ResultCode.MEMO_ACCOUNT_NEEDS_NORMAL_SIDE
    ledger.create_account("memo", "Memo:Commitments:SubFundA", normal_side="credit")
    assert ledger.account("memo", "Memo:Commitments:SubFundA").normal_side == "credit"


def test_an_invalid_credit_code_is_refused(ledger):
    with pytest.raises(LedgerError) as caught:
        ledger.register_institution("91350100M000100Y44", "某科技有限公司", "enterprise")
    assert caught.value.code == ResultCode.CREDIT_CODE_INVALID
    assert ledger.entity("91350100M000100Y44") is None
    ledger.register_institution("91350100M000100Y43", "某科技有限公司", "enterprise", region_code="350100")
    assert ledger.entity("91350100M000100Y43")["name"] == "某科技有限公司"


# ---- constraint flags ------------------------------------------------------------------------------------


def test_an_account_that_must_not_be_overdrawn_refuses_the_overdraft(books):
    fund(books, "100.00")
    error = assert_refused(
        books, transfer("t", "Expenses:Grants", "Assets:Bank", "100.01"), ResultCode.CREDITS_EXCEED_DEBITS
    )
    assert "0.01" in error.message
    books.post(transfer("exact", "Expenses:Grants", "Assets:Bank", "100.00"))
    assert books.account(BOOK, "Assets:Bank").balance_fen == 0


def test_pending_amounts_count_against_the_flags(books):
    fund(books, "100.00")
    books.post(transfer("hold", "Expenses:Grants", "Assets:Bank", "80.00", pending=True))
    assert_refused(books, transfer("t", "Expenses:Grants", "Assets:Bank", "20.01"), ResultCode.CREDITS_EXCEED_DEBITS)


# ---- periods -------------------------------------------------------------------------------------------


def test_a_posting_into_a_closed_period_is_refused(books):
    books.close_period(BOOK, "2026-03", actor="director.wang")
    error = assert_refused(
        books, transfer("t", "Assets:Bank", "NetAssets:Appropriations", "1"), ResultCode.PERIOD_CLOSED
    )
    assert error.detail["period"] == "2026-03"
    books.post(transfer("april", "Assets:Bank", "NetAssets:Appropriations", "1", day=date(2026, 4, 1)))
    assert books.closed_periods(BOOK) == ["2026-03"]


def test_a_period_must_be_named_yyyy_mm(books):
    with pytest.raises(LedgerError) as caught:
        books.close_period(BOOK, "2026-13", actor="x")
    assert caught.value.code == ResultCode.PERIOD_INVALID


# ---- idempotency ----------------------------------------------------------------------------------------


def test_the_same_key_and_content_returns_the_stored_result(books):
    first = books.post(transfer("t1", "Assets:Bank", "NetAssets:Appropriations", "100"))
    before = snapshot(books)
    again = books.post(transfer("t1", "Assets:Bank", "NetAssets:Appropriations", "100.00"))
    assert again.code == ResultCode.EXISTS and again.transaction_id == first.transaction_id
    assert snapshot(books) == before


def test_the_same_key_with_different_content_is_refused(books):
    books.post(transfer("t1", "Assets:Bank", "NetAssets:Appropriations", "100"))
    assert_refused(
        books,
        transfer("t1", "Assets:Bank", "NetAssets:Appropriations", "101"),
        ResultCode.EXISTS_WITH_DIFFERENT_CONTENT,
    )


def test_keys_are_unique_per_source_not_globally(books):
    books.post(transfer("t1", "Assets:Bank", "NetAssets:Appropriations", "100", source="bank-a"))
    result = books.post(transfer("t1", "Assets:Bank", "NetAssets:Appropriations", "5", source="bank-b"))
    assert result.code == ResultCode.OK
    assert books.account(BOOK, "Assets:Bank").balance_fen == 10_500


def test_an_empty_key_is_refused(books):
    assert_refused(
        books, transfer(" ", "Assets:Bank", "NetAssets:Appropriations", "1"), ResultCode.ID_MUST_NOT_BE_EMPTY
    )


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"memo": "拨付\x00"}, "memo"),
        ({"memo": "x" * 1_001}, "memo"),
        ({"audit": Audit("clerk\x00")}, "actor"),
        ({"audit": Audit("clerk", "d" * 101)}, "approver"),
        ({"kind": "k" * 65}, "kind"),
        ({"source": "s" * 101}, "source"),
        ({"link_id": 42}, "link_id"),
    ],
    ids=["nul-memo", "long-memo", "nul-actor", "long-approver", "long-kind", "long-source", "number-as-text"],
)
def test_text_that_a_column_cannot_hold_is_refused_on_every_backend(books, changes, field):
    """PostgreSQL refuses NUL characters and over-long VARCHARs; SQLite would store them: both refuse first."""
    request = transfer("t1", "Assets:Bank", "NetAssets:Appropriations", "1", **changes)
    error = assert_refused(books, request, ResultCode.TEXT_INVALID)
    assert error.detail["field"] == field


# ---- pending, post, void, expiry -------------------------------------------------------------------------


def test_a_pending_transaction_reserves_and_a_partial_post_releases_the_rest(books):
    fund(books)
    books.post(transfer("hold", "Expenses:Grants", "Assets:Bank", "300.00", pending=True, program_year=2026))
    bank = books.account(BOOK, "Assets:Bank")
    assert (bank.credits_pending, bank.balance_fen) == (30_000, 100_000)
    posted = books.post(PostPendingRequest("hold-post", ("api", "hold"), amount="200.00"))
    bank = books.account(BOOK, "Assets:Bank")
    assert (bank.credits_pending, bank.balance_fen) == (0, 80_000)
    stored = books.transaction(posted.transaction_id)
    assert stored["program_year"] == 2026 and stored["resolves_id"] is not None


def test_a_post_larger_than_its_pending_amount_is_refused(books):
    fund(books)
    books.post(transfer("hold", "Expenses:Grants", "Assets:Bank", "300.00", pending=True))
    error = assert_refused(
        books, PostPendingRequest("p", ("api", "hold"), amount="300.01"), ResultCode.POST_EXCEEDS_PENDING_AMOUNT
    )
    assert error.detail["pending_amount"] == "300.00"


def test_a_post_naming_other_accounts_is_refused(books):
    fund(books)
    books.post(transfer("hold", "Expenses:Grants", "Assets:Bank", "300.00", pending=True))
    request = PostPendingRequest(
        "p", ("api", "hold"), postings=posting_specs(BOOK, [("Assets:Receivable", "10"), ("Assets:Bank", "-10")])
    )
    assert_refused(books, request, ResultCode.POST_MUST_MATCH_PENDING_ACCOUNTS)


def test_a_second_post_or_void_of_the_same_pending_is_refused(books):
    fund(books)
    books.post(transfer("hold", "Expenses:Grants", "Assets:Bank", "300.00", pending=True))
    books.post(PostPendingRequest("p1", ("api", "hold")))
    assert_refused(books, PostPendingRequest("p2", ("api", "hold")), ResultCode.PENDING_ALREADY_RESOLVED)
    assert_refused(
        books, VoidPendingRequest("v1", ("api", "hold"), reason="cancelled"), ResultCode.PENDING_ALREADY_RESOLVED
    )


def test_a_void_releases_the_reservation(books):
    fund(books)
    books.post(transfer("hold", "Expenses:Grants", "Assets:Bank", "300.00", pending=True))
    books.post(VoidPendingRequest("void", ("api", "hold"), reason="contract cancelled"))
    bank = books.account(BOOK, "Assets:Bank")
    assert (bank.credits_pending, bank.balance_fen) == (0, 100_000)
    assert books.transaction(("api", "hold"))["resolution"]["kind"] == "void"


def test_posting_an_unknown_or_settled_transaction_is_refused(books):
    fund(books)
    assert_refused(books, PostPendingRequest("p", 999_999), ResultCode.PENDING_NOT_FOUND)
    assert_refused(books, PostPendingRequest("p", ("api", "funding")), ResultCode.PENDING_NOT_FOUND)


def test_an_expired_pending_cannot_be_posted_and_is_voided_by_expiry(books):
    fund(books)
    soon = datetime.now(UTC) + timedelta(seconds=1)
    books.post(transfer("hold", "Expenses:Grants", "Assets:Bank", "300.00", pending=True, expires_at=soon))
    later = soon + timedelta(seconds=5)
    books.clock = lambda: later
    assert_refused(books, PostPendingRequest("p", ("api", "hold")), ResultCode.PENDING_EXPIRED)
    results = books.expire_pending(now=later)
    assert [r.code for r in results] == [ResultCode.OK]
    assert books.expire_pending(now=later) == []
    assert books.account(BOOK, "Assets:Bank").credits_pending == 0
    assert books.transaction(("api", "hold"))["resolution"]["kind"] == "expire"


def test_a_pending_that_would_expire_before_it_is_recorded_is_refused(books):
    past = datetime.now(UTC) - timedelta(minutes=1)
    request = transfer("hold", "Expenses:Grants", "Liabilities:Payables", "3", pending=True, expires_at=past)
    assert_refused(books, request, ResultCode.EXPIRY_MUST_BE_AFTER_RECORDING)


# ---- reversals -----------------------------------------------------------------------------------------


def test_a_reversal_negates_every_leg_and_links_the_original(books):
    fund(books)
    original = books.post(transfer("grant", "Expenses:Grants", "Liabilities:Payables", "40.00"))
    reversal = books.post(ReversalRequest("undo", original.transaction_id, reason="重复批复", effective_date=DAY))
    assert books.account(BOOK, "Expenses:Grants").balance_fen == 0
    assert books.transaction(reversal.transaction_id)["reverses_id"] == original.transaction_id


def test_a_reversal_needs_a_reason(books):
    fund(books)
    assert_refused(books, ReversalRequest("undo", ("api", "funding"), reason=" "), ResultCode.REASON_REQUIRED)


def test_a_transaction_is_reversed_at_most_once(books):
    fund(books)
    books.post(ReversalRequest("undo", ("api", "funding"), reason="wrong amount", effective_date=DAY))
    assert_refused(
        books, ReversalRequest("undo2", ("api", "funding"), reason="again"), ResultCode.TRANSACTION_ALREADY_REVERSED
    )


def test_a_pending_transaction_is_voided_not_reversed(books):
    fund(books)
    books.post(transfer("hold", "Expenses:Grants", "Assets:Bank", "3", pending=True))
    assert_refused(books, ReversalRequest("undo", ("api", "hold"), reason="x"), ResultCode.PENDING_CANNOT_BE_REVERSED)


def test_a_reversal_that_would_overdraw_is_refused(books):
    fund(books, "100.00")
    books.post(transfer("spend", "Expenses:Grants", "Assets:Bank", "100.00"))
    assert_refused(
        books,
        ReversalRequest("undo", ("api", "funding"), reason="x", effective_date=DAY),
        ResultCode.CREDITS_EXCEED_DEBITS,
    )


# ---- batches and linked chains ---------------------------------------------------------------------------


def test_a_batch_reports_each_request_and_keeps_the_good_ones(books):
    results = books.submit(
        [
            transfer("a", "Assets:Bank", "NetAssets:Appropriations", "10"),
            transfer("b", "Assets:Nowhere", "NetAssets:Appropriations", "10"),
            transfer("c", "Assets:Bank", "NetAssets:Appropriations", "5"),
        ]
    )
    assert [r.code for r in results] == [ResultCode.OK, ResultCode.ACCOUNT_NOT_FOUND, ResultCode.OK]
    assert books.account(BOOK, "Assets:Bank").balance_fen == 1_500


def test_a_linked_chain_succeeds_or_fails_as_a_whole(books):
    before = snapshot(books)
    results = books.submit(
        [
            transfer("a", "Assets:Bank", "NetAssets:Appropriations", "10", linked=True),
            transfer("b", "Expenses:Grants", "Assets:Bank", "10", linked=True),
            transfer("c", "Expenses:Grants", "Assets:Bank", "0.01"),  # overdraws: the chain fails
        ]
    )
    assert [r.code for r in results] == [
        ResultCode.LINKED_EVENT_FAILED,
        ResultCode.LINKED_EVENT_FAILED,
        ResultCode.CREDITS_EXCEED_DEBITS,
    ]
    assert snapshot(books) == before


def test_a_chain_left_open_at_the_end_of_a_batch_fails(books):
    results = books.submit([transfer("a", "Assets:Bank", "NetAssets:Appropriations", "10", linked=True)])
    assert results[0].code == ResultCode.LINKED_EVENT_FAILED
    assert books.account(BOOK, "Assets:Bank").balance_fen == 0


def test_a_batch_may_post_a_pending_it_created(books):
    fund(books)
    results = books.submit(
        [
            transfer("hold", "Expenses:Grants", "Assets:Bank", "30", pending=True),
            PostPendingRequest("post", ("api", "hold"), amount="20"),
        ]
    )
    assert [r.code for r in results] == [ResultCode.OK, ResultCode.OK]
    assert books.account(BOOK, "Assets:Bank").balance_fen == 98_000
    assert books.account(BOOK, "Assets:Bank").credits_pending == 0


def test_a_batch_larger_than_the_limit_is_refused(books, monkeypatch):
    import ledger.engine as engine_module

    monkeypatch.setattr(engine_module, "BATCH_REQUESTS_MAX", 2)
    with pytest.raises(LedgerError) as caught:
        books.submit([transfer(str(i), "Assets:Bank", "NetAssets:Appropriations", "1") for i in range(3)])
    assert caught.value.code == ResultCode.BATCH_TOO_LARGE


# ---- append-only storage, chain, voucher numbers, reports -----------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE transactions SET memo = 'edited'",
        "DELETE FROM transactions",
        "UPDATE postings SET amount_fen = amount_fen + 1",
        "DELETE FROM postings",
    ],
)
def test_the_database_refuses_edits_of_the_journal(books, statement):
    fund(books)
    with pytest.raises(DBAPIError) as caught:
        with books.engine.begin() as conn:
            conn.execute(text(statement))
    assert "journal_is_append_only" in str(caught.value)
    assert books.account(BOOK, "Assets:Bank").balance_fen == 100_000
    assert reconcile(books.engine) == []


def test_voucher_numbers_are_gapless_per_book_per_month(books):
    fund(books)
    books.post(transfer("m3b", "Expenses:Grants", "Liabilities:Payables", "1"))
    books.post(transfer("m4a", "Expenses:Grants", "Liabilities:Payables", "1", day=date(2026, 4, 2)))
    books.post(
        TransactionRequest(
            "budget",
            posting_specs(BUDGET_BOOK, [("BudgetExpenditure:Grants", "1"), ("BudgetRevenue:Appropriations", "-1")]),
            DAY,
        )
    )
    assert seal(books.engine) == 4
    with books.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT b.code, v.period, v.number FROM voucher_numbers v JOIN books b ON b.id = v.book_id "
                "ORDER BY b.code, v.period, v.number"
            )
        ).all()
    assert [tuple(row) for row in rows] == [
        ("gz", "2026-03", 1),
        ("gz", "2026-03", 2),
        ("gz", "2026-04", 1),
        ("gz-budget", "2026-03", 1),
    ]


def test_balances_as_of_a_date_and_history(books):
    books.post(transfer("jan", "Assets:Bank", "NetAssets:Appropriations", "100", day=date(2026, 1, 15)))
    books.post(transfer("feb", "Assets:Bank", "NetAssets:Appropriations", "50", day=date(2026, 2, 15)))
    books.post(transfer("mar", "Expenses:Grants", "Assets:Bank", "30", day=date(2026, 3, 15)))
    assert balance(books, BOOK, "Assets:Bank", as_of=date(2026, 1, 31)).balance_fen == 10_000
    assert balance(books, BOOK, "Assets:Bank", as_of=date(2026, 2, 28)).balance_fen == 15_000
    assert balance(books, BOOK, "Assets:Bank").balance_fen == 12_000
    assert [row["balance_fen"] for row in history(books, BOOK, "Assets:Bank")] == [10_000, 15_000, 12_000]


def test_the_trial_balance_puts_each_balance_on_its_side_and_rolls_up_by_depth(books):
    books.post(transfer("jan", "Assets:Bank", "NetAssets:Appropriations", "100", day=date(2026, 1, 15)))
    books.post(transfer("mar", "Expenses:Grants", "Assets:Bank", "30", day=date(2026, 3, 15)))
    rows = {(row.account, row.debit_fen, row.credit_fen) for row in trial_balance(books, book=BOOK)}
    assert rows == {("Assets:Bank", 7_000, 0), ("Expenses:Grants", 3_000, 0), ("NetAssets:Appropriations", 0, 10_000)}
    as_of_january = trial_balance(books, book=BOOK, as_of=date(2026, 1, 31), depth=1)
    assert {(row.account, row.debit_fen, row.credit_fen) for row in as_of_january} == {
        ("Assets", 10_000, 0),
        ("NetAssets", 0, 10_000),
    }
    assert sum(r.debit_fen for r in trial_balance(books)) == sum(r.credit_fen for r in trial_balance(books))


def test_actor_and_approver_are_recorded_and_sealed(books):
    audit = Audit(actor="clerk.li", approver="director.wang", approval_doc="穗财科〔2026〕7号")
    result = books.post(transfer("t", "Assets:Bank", "NetAssets:Appropriations", "1", audit=audit))
    stored = books.transaction(result.transaction_id)
    assert (stored["actor"], stored["approver"], stored["approval_doc"]) == (
        "clerk.li",
        "director.wang",
        "穗财科〔2026〕7号",
    )


def test_reconcile_finds_month_totals_that_differ_from_postings(books):
    fund(books)
    assert reconcile(books.engine) == []
    with books.engine.begin() as conn:
        conn.execute(text("UPDATE account_month_totals SET debits_fen = debits_fen + 1"))
    kinds = {finding.kind for finding in reconcile(books.engine)}
    assert kinds == {"month_totals_differ"}


def test_a_reversal_or_post_dated_in_a_closed_period_is_refused(books):
    fund(books)
    books.post(transfer("hold", "Expenses:Grants", "Assets:Bank", "3", pending=True))
    books.close_period(BOOK, "2026-03", actor="director.wang")
    assert_refused(
        books,
        ReversalRequest("undo", ("api", "funding"), reason="x", effective_date=date(2026, 3, 31)),
        ResultCode.PERIOD_CLOSED,
    )
    assert_refused(
        books, PostPendingRequest("p", ("api", "hold"), effective_date=date(2026, 3, 31)), ResultCode.PERIOD_CLOSED
    )
    books.post(PostPendingRequest("p-april", ("api", "hold"), effective_date=date(2026, 4, 1)))
    assert books.account(BOOK, "Expenses:Grants").balance_fen == 300
