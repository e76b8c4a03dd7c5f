"""Result codes and the one exception type the ledger raises.

Every rule has one named code, phrased as the rule (TigerBeetle style). Callers branch on ``code``;
``message`` is for people; ``detail`` carries the numbers (room left, line number, ...).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ResultCode(StrEnum):
    OK = "ok"
    EXISTS = "exists"
    EXISTS_WITH_DIFFERENT_CONTENT = "exists_with_different_content"
    LINKED_EVENT_FAILED = "linked_event_failed"
    # amounts and numbers
    AMOUNT_MUST_NOT_BE_FLOAT = "amount_must_not_be_float"
    AMOUNT_MUST_NOT_BE_ZERO = "amount_must_not_be_zero"
    AMOUNT_MUST_BE_POSITIVE = "amount_must_be_positive"
    AMOUNT_EXCEEDS_CURRENCY_PLACES = "amount_exceeds_currency_places"
    AMOUNT_EXCEEDS_BIGINT = "amount_exceeds_bigint"
    AMOUNT_INVALID = "amount_invalid"
    RATIO_INVALID = "ratio_invalid"
    CURRENCY_UNKNOWN = "currency_unknown"
    # entries
    ENTRY_MUST_HAVE_TWO_POSTINGS = "entry_must_have_two_postings"
    ENTRY_MUST_BALANCE = "entry_must_balance"
    ENTRY_TOO_LARGE = "entry_too_large"
    BATCH_TOO_LARGE = "batch_too_large"
    ID_MUST_NOT_BE_EMPTY = "id_must_not_be_empty"
    TEXT_INVALID = "text_invalid"
    DATE_INVALID = "date_invalid"
    # a typed field of a request holds a value of the wrong type or out of range (detail: field)
    FIELD_INVALID = "field_invalid"
    PROGRAM_YEAR_INVALID = "program_year_invalid"
    # books, accounts, entities
    BOOK_NOT_FOUND = "book_not_found"
    BOOK_EXISTS = "book_exists"
    BOOK_BASIS_INVALID = "book_basis_invalid"
    ACCOUNT_NOT_FOUND = "account_not_found"
    ACCOUNT_EXISTS = "account_exists"
    ACCOUNT_CLOSED = "account_closed"
    ACCOUNT_NAME_INVALID = "account_name_invalid"
    ACCOUNT_TYPE_NOT_ALLOWED_IN_BOOK = "account_type_not_allowed_in_book"
    ACCOUNT_CURRENCY_MISMATCH = "account_currency_mismatch"
    ACCOUNT_FLAGS_MUTUALLY_EXCLUSIVE = "account_flags_mutually_exclusive"
    MEMO_ACCOUNT_NEEDS_NORMAL_SIDE = "memo_account_needs_normal_side"
    DEBITS_EXCEED_CREDITS = "debits_exceed_credits"
    CREDITS_EXCEED_DEBITS = "credits_exceed_debits"
    CREDIT_CODE_INVALID = "credit_code_invalid"
    REGION_CODE_INVALID = "region_code_invalid"
    ENTITY_NOT_FOUND = "entity_not_found"
    # periods
    PERIOD_CLOSED = "period_closed"
    PERIOD_INVALID = "period_invalid"
    # pending, post, void, reversal
    PENDING_NOT_FOUND = "pending_not_found"
    PENDING_ALREADY_RESOLVED = "pending_already_resolved"
    PENDING_EXPIRED = "pending_expired"
    POST_EXCEEDS_PENDING_AMOUNT = "post_exceeds_pending_amount"
    POST_MUST_MATCH_PENDING_ACCOUNTS = "post_must_match_pending_accounts"
    EXPIRY_MUST_BE_AFTER_RECORDING = "expiry_must_be_after_recording"
    TRANSACTION_NOT_FOUND = "transaction_not_found"
    TRANSACTION_ALREADY_REVERSED = "transaction_already_reversed"
    PENDING_CANNOT_BE_REVERSED = "pending_cannot_be_reversed"
    REASON_REQUIRED = "reason_required"
    # imports
    CSV_ROW_INVALID = "csv_row_invalid"
    CSV_HEADER_INVALID = "csv_header_invalid"
    FILE_INVALID = "file_invalid"
    # append-only storage
    JOURNAL_IS_APPEND_ONLY = "journal_is_append_only"


class LedgerError(Exception):
    """A refused command. Nothing it touched was written.

    ``code`` is a ``ResultCode`` here; domain packages raise it with their own ``StrEnum`` codes."""

    def __init__(self, code: StrEnum, message: str, **detail: Any) -> None:
        super().__init__(f"{code.value}: {message}")
        self.code = code
        self.message = message
        self.detail = detail

    def as_dict(self) -> dict[str, Any]:
        return {"code": str(self.code.value), "message": self.message, **{k: str(v) for k, v in self.detail.items()}}
