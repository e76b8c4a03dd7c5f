"""Requests as JSON documents (``fundledger post FILE.json``, and later the HTTP API).

A document is one request object or a list of them. Amounts are decimal strings ("1234.56") or
integers; a JSON number with a fraction is refused, since it would arrive as a float.

    {"id": "gz-2026-0001", "date": "2026-01-05", "memo": "appropriation",
     "postings": [{"book": "gz", "account": "Assets:Bank", "amount": "1000.00"},
                  {"book": "gz", "account": "NetAssets:Appropriations", "amount": "-1000.00"}]}

Other request types: {"type": "post_pending", "id": ..., "pending": <id or "source/client_id">, "amount": ...},
{"type": "void_pending", ...}, {"type": "reversal", "id": ..., "target": ..., "reason": ...}.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from typing import Any

from ledger.entries import (
    Audit,
    MalformedRequest,
    PostingSpec,
    PostPendingRequest,
    Request,
    ReversalRequest,
    TransactionRef,
    TransactionRequest,
    VoidPendingRequest,
    check_program_year,
)
from ledger.errors import LedgerError, ResultCode
from ledger.money import DEFAULT_CURRENCY, to_decimal
from ledger.numbers import SHANGHAI, parse_date

# A batch document may hold at most this many items; the engine refuses more (BATCH_REQUESTS_MAX) too.
DOCUMENT_ITEMS_MAX = 10_000
# An expires_at longer than this is no ISO timestamp; bounded before parsing.
TIMESTAMP_TEXT_MAX_LENGTH = 40


def _amount(value: Any, name: str = "amount") -> Any:
    if isinstance(value, float):
        raise LedgerError(
            ResultCode.AMOUNT_MUST_NOT_BE_FLOAT,
            f'amount {value!r} is a JSON number with a fraction; write it as a string such as "1234.56"',
            field=name,
        )
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise LedgerError(ResultCode.AMOUNT_INVALID, f"{name} must be a decimal string", field=name)
    # Checked here for form and size (defect 15/16); the places depend on the currency, checked later.
    to_decimal(value)
    return value


def _text(document: dict, name: str, default: str | None = "") -> str | None:
    """A text field; an explicit null is the default only where the field is optional (default None)."""
    value = document.get(name, default)
    if value is None and default is None:
        return None
    if not isinstance(value, str):
        raise LedgerError(ResultCode.TEXT_INVALID, f"{name} must be text, not {type(value).__name__}", field=name)
    return value


def _flag(document: dict, name: str) -> bool:
    value = document.get(name, False)
    if not isinstance(value, bool):
        raise LedgerError(ResultCode.FIELD_INVALID, f"{name} must be true or false", field=name)
    return value


def _client_id(document: dict) -> str:
    value = document.get("id", "")
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise LedgerError(ResultCode.FIELD_INVALID, "id must be text", field="id")
    return value


def _date(document: dict) -> date | None:
    value = document.get("date")
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise LedgerError(ResultCode.DATE_INVALID, "date must be text YYYY-MM-DD", field="date")
    try:
        return parse_date(value)
    except LedgerError as error:
        raise LedgerError(error.code, error.message, field="date") from None


def _expires_at(value: Any) -> datetime | None:
    """ISO date and time; without a time zone it is Shanghai time (defect 17, DESIGN)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > TIMESTAMP_TEXT_MAX_LENGTH:
        raise LedgerError(ResultCode.DATE_INVALID, "expires_at must be an ISO date and time", field="expires_at")
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise LedgerError(
            ResultCode.DATE_INVALID, f"expires_at {value!r} is not an ISO date and time", field="expires_at"
        ) from None
    return moment.replace(tzinfo=SHANGHAI) if moment.tzinfo is None else moment


def _program_year(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) == 4:
        value = int(value)
    check_program_year(value)
    return value


def _ref(value: Any, name: str = "pending") -> TransactionRef:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and "/" in value:
        source, client_id = value.split("/", 1)
        return (source, client_id)
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    raise LedgerError(
        ResultCode.TRANSACTION_NOT_FOUND, f"{name} {value!r} is not a transaction id or 'source/client_id'", field=name
    )


def _postings(items: Any, default_book: Any) -> tuple[PostingSpec, ...]:
    if not isinstance(items, list):
        raise LedgerError(ResultCode.ENTRY_MUST_HAVE_TWO_POSTINGS, "postings must be a list", field="postings")
    specs = []
    for item in items:
        if not isinstance(item, dict) or "account" not in item or "amount" not in item:
            raise LedgerError(ResultCode.FILE_INVALID, f"posting {item!r} needs account and amount")
        book = item.get("book", default_book)
        if not book:
            raise LedgerError(ResultCode.BOOK_NOT_FOUND, f"posting to {item['account']!r} names no book")
        for name, value in (("book", book), ("account", item["account"]), ("currency", item.get("currency", ""))):
            if not isinstance(value, str):
                raise LedgerError(
                    ResultCode.FIELD_INVALID, f"posting {name} must be text, not {type(value).__name__}", field=name
                )
        specs.append(
            PostingSpec(book, item["account"], _amount(item["amount"]), item.get("currency", DEFAULT_CURRENCY))
        )
    return tuple(specs)


def _audit(document: dict) -> Audit:
    return Audit(
        actor=_text(document, "actor"),
        approver=_text(document, "approver", None),
        approval_doc=_text(document, "approval_doc", None),
    )


def parse_request(document: Any, *, source: str) -> Request:
    if not isinstance(document, dict):
        raise LedgerError(ResultCode.FILE_INVALID, "each request must be a JSON object")
    kind = document.get("type", "transaction")
    client_id = _client_id(document)
    source = _text(document, "source", source)
    effective = _date(document)
    linked = _flag(document, "linked")
    if kind == "transaction":
        if effective is None:
            raise LedgerError(
                ResultCode.DATE_INVALID, f"transaction {client_id!r} needs a date (YYYY-MM-DD)", field="date"
            )
        return TransactionRequest(
            client_id=client_id,
            postings=_postings(document.get("postings"), document.get("book")),
            effective_date=effective,
            source=source,
            kind=_text(document, "kind", "general"),
            memo=_text(document, "memo"),
            audit=_audit(document),
            pending=_flag(document, "pending"),
            expires_at=_expires_at(document.get("expires_at")),
            program_year=_program_year(document.get("program_year")),
            link_type=_text(document, "link_type", None),
            link_id=_text(document, "link_id", None),
            linked=linked,
        )
    if kind == "post_pending":
        amount = document.get("amount")
        return PostPendingRequest(
            client_id=client_id,
            pending=_ref(document.get("pending")),
            source=source,
            amount=None if amount is None else _amount(amount),
            postings=_postings(document["postings"], document.get("book")) if "postings" in document else None,
            effective_date=effective,
            memo=_text(document, "memo"),
            audit=_audit(document),
            linked=linked,
        )
    if kind == "void_pending":
        return VoidPendingRequest(
            client_id=client_id,
            pending=_ref(document.get("pending")),
            source=source,
            reason=_text(document, "reason"),
            effective_date=effective,
            audit=_audit(document),
            linked=linked,
        )
    if kind == "reversal":
        return ReversalRequest(
            client_id=client_id,
            target=_ref(document.get("target"), "target"),
            reason=_text(document, "reason"),
            source=source,
            effective_date=effective,
            audit=_audit(document),
            linked=linked,
        )
    raise LedgerError(ResultCode.FILE_INVALID, f"unknown request type {str(kind)[:64]!r}", field="type")


def _malformed(item: Any, error: LedgerError, source: str) -> MalformedRequest:
    """The refusal of one unreadable item, keeping what can be read of its key and chain flag."""
    fields = item if isinstance(item, dict) else {}
    client_id = fields.get("id")
    item_source = fields.get("source")
    return MalformedRequest(
        error=error,
        client_id=client_id if isinstance(client_id, str) else "",
        source=item_source if isinstance(item_source, str) else source,
        linked=fields.get("linked") is True,
    )


def parse_document(document: Any, *, source: str) -> list[Request]:
    """Every item of a document becomes a request; an unreadable one becomes a ``MalformedRequest`` that
    ``Ledger.submit`` refuses with its own code, so the good items of a batch are still posted (defect 15)."""
    items = document if isinstance(document, list) else [document]
    if len(items) > DOCUMENT_ITEMS_MAX:
        raise LedgerError(ResultCode.BATCH_TOO_LARGE, f"a document may hold at most {DOCUMENT_ITEMS_MAX} requests")
    requests: list[Request] = []
    for item in items:
        try:
            requests.append(parse_request(item, source=source))
        except LedgerError as error:
            requests.append(_malformed(item, error, source))
    return requests


def link_all(requests: list[Request]) -> list[Request]:
    """The whole document as one linked chain (``post --atomic``): every request but the last is ``linked``,
    so the engine posts all of them or none, whatever ``linked`` flags the file carried."""
    last = len(requests) - 1
    return [replace(request, linked=index < last) for index, request in enumerate(requests)]
