"""Requests the posting engine accepts, and their pure validation.

A request is what a client asks for; ``normalize_*`` turns it into exact fen and checks every rule that
needs no database (at least two postings, no zero or float amounts, balanced per book and currency).
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from ledger.errors import LedgerError, ResultCode
from ledger.money import DEFAULT_CURRENCY, format_fen, to_fen

POSTINGS_PER_TRANSACTION_MAX = 1_000
CLIENT_ID_MAX_LENGTH = 200
MEMO_MAX_LENGTH = 1_000

# Built once: json.dumps with options constructs a new encoder on every call.
_REQUEST_JSON = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"))

# A transaction is named by its ledger id or by the (source, client id) it was recorded under.
TransactionRef = int | tuple[str, str]


@dataclass(frozen=True, slots=True)
class PostingSpec:
    book: str
    account: str
    amount: Decimal | str | int
    currency: str = DEFAULT_CURRENCY


@dataclass(frozen=True, slots=True)
class Posting:
    """A validated leg: debit-positive amount in minor units."""

    book: str
    account: str
    amount_fen: int
    currency: str


@dataclass(frozen=True, slots=True)
class Audit:
    """Who recorded an event and who approved it (不相容岗位分离), with the approval document."""

    actor: str = ""
    approver: str | None = None
    approval_doc: str | None = None


@dataclass(frozen=True)
class TransactionRequest:
    client_id: str
    postings: tuple[PostingSpec, ...]
    effective_date: date
    source: str = "api"
    kind: str = "general"
    memo: str = ""
    audit: Audit = field(default_factory=Audit)
    pending: bool = False
    expires_at: datetime | None = None
    program_year: int | None = None
    link_type: str | None = None
    link_id: str | None = None
    linked: bool = False


@dataclass(frozen=True)
class PostPendingRequest:
    """Post a pending transaction: in full, by ``amount`` (two-leg pendings) or by explicit ``postings``
    on the same accounts, each no larger than its pending leg. The rest is released."""

    client_id: str
    pending: TransactionRef
    source: str = "api"
    amount: Decimal | str | int | None = None
    postings: tuple[PostingSpec, ...] | None = None
    effective_date: date | None = None
    memo: str = ""
    audit: Audit = field(default_factory=Audit)
    linked: bool = False


@dataclass(frozen=True)
class VoidPendingRequest:
    client_id: str
    pending: TransactionRef
    source: str = "api"
    reason: str = ""
    effective_date: date | None = None
    audit: Audit = field(default_factory=Audit)
    linked: bool = False


@dataclass(frozen=True)
class ReversalRequest:
    """红字冲销: a new transaction with every leg negated, linked to the original."""

    client_id: str
    target: TransactionRef
    reason: str
    source: str = "api"
    effective_date: date | None = None
    audit: Audit = field(default_factory=Audit)
    linked: bool = False


@dataclass(frozen=True)
class MalformedRequest:
    """An item of a batch that could not be read as a request (defect 15). It travels with the batch so
    it gets its own refusal result while the other items are posted; ``linked`` is read from the item
    when it says so, so a chain it belongs to fails as a whole."""

    error: LedgerError
    client_id: str = ""
    source: str = "api"
    linked: bool = False
    audit: Audit = field(default_factory=Audit)


Request = TransactionRequest | PostPendingRequest | VoidPendingRequest | ReversalRequest | MalformedRequest

# Program years a request may name: a fiscal year of this ledger's era, stored as an integer column.
PROGRAM_YEAR_MIN = 1900
PROGRAM_YEAR_MAX = 2999


def check_client_id(client_id: str) -> None:
    if not client_id or not str(client_id).strip():
        raise LedgerError(ResultCode.ID_MUST_NOT_BE_EMPTY, "every transaction needs a client id (idempotency key)")
    if len(client_id) > CLIENT_ID_MAX_LENGTH:
        raise LedgerError(ResultCode.ID_MUST_NOT_BE_EMPTY, f"client id longer than {CLIENT_ID_MAX_LENGTH} characters")


# Longest text each field of a request may carry: the widths of the transactions table's columns.
TEXT_FIELD_MAX_LENGTHS = {
    "source": 100,
    "kind": 64,
    "memo": MEMO_MAX_LENGTH,
    "actor": 100,
    "approver": 100,
    "approval_doc": 200,
    "reason": 1_000,
    "link_type": 64,
    "link_id": 100,
}


def check_texts(request: Request) -> None:
    """Every text of a request fits its column and holds no NUL character (PostgreSQL cannot store one, so
    SQLite must not accept what PostgreSQL would refuse)."""
    audit = request.audit
    values = {
        "client_id": request.client_id,
        "source": request.source,
        "kind": getattr(request, "kind", None),
        "memo": getattr(request, "memo", None),
        "actor": audit.actor,
        "approver": audit.approver,
        "approval_doc": audit.approval_doc,
        "reason": getattr(request, "reason", None),
        "link_type": getattr(request, "link_type", None),
        "link_id": getattr(request, "link_id", None),
    }
    for name, value in values.items():
        if value is None:
            continue
        if not isinstance(value, str):
            raise LedgerError(ResultCode.TEXT_INVALID, f"{name} must be text, not {type(value).__name__}", field=name)
        if "\x00" in value:
            raise LedgerError(ResultCode.TEXT_INVALID, f"{name} contains a NUL character", field=name)
        limit = TEXT_FIELD_MAX_LENGTHS.get(name)
        if limit is not None and len(value) > limit:
            raise LedgerError(
                ResultCode.TEXT_INVALID, f"{name} is longer than {limit} characters ({len(value)})", field=name
            )


def _field_error(name: str, expected: str, value: object) -> LedgerError:
    return LedgerError(ResultCode.FIELD_INVALID, f"{name} must be {expected}, not {type(value).__name__}", field=name)


def check_program_year(value: object) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise LedgerError(
            ResultCode.PROGRAM_YEAR_INVALID,
            f"program_year must be an integer year, not {type(value).__name__}",
            field="program_year",
        )
    if not PROGRAM_YEAR_MIN <= value <= PROGRAM_YEAR_MAX:
        raise LedgerError(
            ResultCode.PROGRAM_YEAR_INVALID,
            f"program_year {value} is outside {PROGRAM_YEAR_MIN}..{PROGRAM_YEAR_MAX}",
            field="program_year",
        )


def _check_ref(name: str, ref: object) -> None:
    if isinstance(ref, int) and not isinstance(ref, bool):
        return
    if isinstance(ref, tuple) and len(ref) == 2 and all(isinstance(part, str) for part in ref):
        return
    raise _field_error(name, "a transaction id or a (source, client id) pair", ref)


def check_fields(request: Request) -> None:
    """Every typed field holds its type before anything is stored (defect 12): a wrong value stored in an
    append-only row could never be corrected, and a driver error is no refusal."""
    if isinstance(request, MalformedRequest):
        raise request.error
    if not isinstance(request.client_id, str):
        raise _field_error("id", "text", request.client_id)
    if not isinstance(request.linked, bool):
        raise _field_error("linked", "true or false", request.linked)
    if not isinstance(request.audit.actor, str):
        raise LedgerError(ResultCode.TEXT_INVALID, "actor must be text", field="actor")
    effective = request.effective_date
    if effective is not None and (not isinstance(effective, date) or isinstance(effective, datetime)):
        raise LedgerError(ResultCode.DATE_INVALID, "date must be a calendar date (YYYY-MM-DD)", field="date")
    if isinstance(request, TransactionRequest):
        if effective is None:
            raise LedgerError(ResultCode.DATE_INVALID, "a transaction needs a date (YYYY-MM-DD)", field="date")
        if not isinstance(request.pending, bool):
            raise _field_error("pending", "true or false", request.pending)
        if request.expires_at is not None and not isinstance(request.expires_at, datetime):
            raise LedgerError(ResultCode.DATE_INVALID, "expires_at must be a date and time", field="expires_at")
        check_program_year(request.program_year)
    elif isinstance(request, PostPendingRequest):
        _check_ref("pending", request.pending)
    elif isinstance(request, VoidPendingRequest):
        _check_ref("pending", request.pending)
    elif isinstance(request, ReversalRequest):
        _check_ref("target", request.target)
        if not isinstance(request.reason, str):
            raise LedgerError(ResultCode.TEXT_INVALID, "reason must be text", field="reason")
    postings = getattr(request, "postings", None)
    if postings is not None and not isinstance(postings, tuple | list):
        raise _field_error("postings", "a list of postings", postings)
    for spec in postings or ():
        if not isinstance(spec, PostingSpec):
            raise _field_error("postings", "a list of postings", spec)
        for name in ("book", "account", "currency"):
            value = getattr(spec, name)
            if not isinstance(value, str) or "\x00" in value:
                raise LedgerError(
                    ResultCode.FIELD_INVALID, f"posting {name} must be text, not {type(value).__name__}", field=name
                )


def normalize_postings(specs: tuple[PostingSpec, ...] | list[PostingSpec]) -> tuple[Posting, ...]:
    """Exact legs, each non-zero; at least two; balanced per book and currency."""
    if len(specs) < 2:
        raise LedgerError(
            ResultCode.ENTRY_MUST_HAVE_TWO_POSTINGS, f"a transaction needs at least 2 postings, got {len(specs)}"
        )
    if len(specs) > POSTINGS_PER_TRANSACTION_MAX:
        raise LedgerError(
            ResultCode.ENTRY_TOO_LARGE, f"a transaction may have at most {POSTINGS_PER_TRANSACTION_MAX} postings"
        )
    postings = []
    for spec in specs:
        amount_fen = to_fen(spec.amount, spec.currency)
        if amount_fen == 0:
            raise LedgerError(
                ResultCode.AMOUNT_MUST_NOT_BE_ZERO, f"posting to {spec.book}/{spec.account} has a zero amount"
            )
        postings.append(Posting(spec.book, spec.account, amount_fen, spec.currency))
    check_balanced(postings)
    return tuple(postings)


def check_balanced(postings: tuple[Posting, ...] | list[Posting]) -> None:
    totals: dict[tuple[str, str], int] = defaultdict(int)
    for posting in postings:
        totals[(posting.book, posting.currency)] += posting.amount_fen
    for (book, currency), total in sorted(totals.items()):
        if total != 0:
            raise LedgerError(
                ResultCode.ENTRY_MUST_BALANCE,
                f"postings in book {book!r} are off by {format_fen(total, currency)} {currency}"
                " (debits must equal credits per book and currency)",
                book=book,
                currency=currency,
                difference=format_fen(total, currency),
            )


def _ref_json(ref: TransactionRef) -> object:
    return ref if isinstance(ref, int) else list(ref)


def _postings_json(postings: tuple[Posting, ...] | None) -> object:
    if postings is None:
        return None
    return [[p.book, p.account, str(p.amount_fen), p.currency] for p in postings]


def request_hash(request: Request, postings: tuple[Posting, ...] | None, amount_fen: int | None = None) -> str:
    """Digest of what the client asked for, to tell a replay from a different request under the same key.

    Amounts enter as fen, so "100" and "100.00" are the same content."""
    audit = request.audit
    content: dict[str, object] = {
        "type": type(request).__name__,
        "actor": audit.actor,
        "approver": audit.approver,
        "approval_doc": audit.approval_doc,
        "postings": _postings_json(postings),
        "effective_date": request.effective_date.isoformat() if request.effective_date else None,
    }
    if isinstance(request, TransactionRequest):
        content.update(
            kind=request.kind,
            memo=request.memo,
            pending=request.pending,
            expires_at=request.expires_at.isoformat() if request.expires_at else None,
            program_year=request.program_year,
            link=[request.link_type, request.link_id],
        )
    elif isinstance(request, PostPendingRequest):
        content.update(pending_ref=_ref_json(request.pending), amount=amount_fen, memo=request.memo)
    elif isinstance(request, VoidPendingRequest):
        content.update(pending_ref=_ref_json(request.pending), reason=request.reason)
    else:
        content.update(target=_ref_json(request.target), reason=request.reason)
    return hashlib.sha256(_REQUEST_JSON.encode(content).encode()).hexdigest()
