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

from datetime import datetime
from typing import Any

from ledger.entries import (
    Audit,
    PostingSpec,
    PostPendingRequest,
    Request,
    ReversalRequest,
    TransactionRef,
    TransactionRequest,
    VoidPendingRequest,
)
from ledger.errors import LedgerError, ResultCode
from ledger.money import DEFAULT_CURRENCY
from ledger.numbers import parse_date


def _amount(value: Any) -> Any:
    if isinstance(value, float):
        raise LedgerError(
            ResultCode.AMOUNT_MUST_NOT_BE_FLOAT,
            f'amount {value!r} is a JSON number with a fraction; write it as a string such as "1234.56"',
        )
    return value


def _ref(value: Any) -> TransactionRef:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and "/" in value:
        source, client_id = value.split("/", 1)
        return (source, client_id)
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise LedgerError(ResultCode.TRANSACTION_NOT_FOUND, f"{value!r} is not a transaction id or 'source/client_id'")


def _postings(items: Any, default_book: str | None) -> tuple[PostingSpec, ...]:
    if not isinstance(items, list):
        raise LedgerError(ResultCode.ENTRY_MUST_HAVE_TWO_POSTINGS, "postings must be a list")
    specs = []
    for item in items:
        if not isinstance(item, dict) or "account" not in item or "amount" not in item:
            raise LedgerError(ResultCode.FILE_INVALID, f"posting {item!r} needs account and amount")
        book = item.get("book", default_book)
        if not book:
            raise LedgerError(ResultCode.BOOK_NOT_FOUND, f"posting to {item['account']!r} names no book")
        specs.append(
            PostingSpec(book, item["account"], _amount(item["amount"]), item.get("currency", DEFAULT_CURRENCY))
        )
    return tuple(specs)


def _audit(document: dict) -> Audit:
    return Audit(
        actor=document.get("actor", ""), approver=document.get("approver"), approval_doc=document.get("approval_doc")
    )


def parse_request(document: Any, *, source: str) -> Request:
    if not isinstance(document, dict):
        raise LedgerError(ResultCode.FILE_INVALID, "each request must be a JSON object")
    kind = document.get("type", "transaction")
    client_id = str(document.get("id", ""))
    source = document.get("source", source)
    effective = parse_date(document["date"]) if document.get("date") else None
    linked = bool(document.get("linked", False))
    if kind == "transaction":
        if effective is None:
            raise LedgerError(ResultCode.DATE_INVALID, f"transaction {client_id!r} needs a date (YYYY-MM-DD)")
        expires_at = document.get("expires_at")
        return TransactionRequest(
            client_id=client_id,
            postings=_postings(document.get("postings"), document.get("book")),
            effective_date=effective,
            source=source,
            kind=document.get("kind", "general"),
            memo=document.get("memo", ""),
            audit=_audit(document),
            pending=bool(document.get("pending", False)),
            expires_at=datetime.fromisoformat(expires_at) if expires_at else None,
            program_year=document.get("program_year"),
            link_type=document.get("link_type"),
            link_id=document.get("link_id"),
            linked=linked,
        )
    if kind == "post_pending":
        return PostPendingRequest(
            client_id=client_id,
            pending=_ref(document.get("pending")),
            source=source,
            amount=_amount(document.get("amount")),
            postings=_postings(document["postings"], document.get("book")) if "postings" in document else None,
            effective_date=effective,
            memo=document.get("memo", ""),
            audit=_audit(document),
            linked=linked,
        )
    if kind == "void_pending":
        return VoidPendingRequest(
            client_id=client_id,
            pending=_ref(document.get("pending")),
            source=source,
            reason=document.get("reason", ""),
            effective_date=effective,
            audit=_audit(document),
            linked=linked,
        )
    if kind == "reversal":
        return ReversalRequest(
            client_id=client_id,
            target=_ref(document.get("target")),
            reason=document.get("reason", ""),
            source=source,
            effective_date=effective,
            audit=_audit(document),
            linked=linked,
        )
    raise LedgerError(ResultCode.FILE_INVALID, f"unknown request type {kind!r}")


def parse_document(document: Any, *, source: str) -> list[Request]:
    items = document if isinstance(document, list) else [document]
    return [parse_request(item, source=source) for item in items]
