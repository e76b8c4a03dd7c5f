"""What the hash chain hashes: each transaction's canonical encoding, its leaf, and the seals over leaves.

Two link formats live in one chain, in sequence order (``ledger.chain`` seals, ``verify_chain`` checks):
- a **per-transaction link** (every link sealed before migration 0005): its ``chain_links`` row holds
  ``hash = sha256(prev_hash || canonical encoding)``, ``prev_hash`` the hash of the element before it;
- a **seal** (``chain_seals``, from migration 0005 on) covers links ``first_seq..last_seq``, one commit batch
  of the chainer in commit order: ``hash = sha256(prev_hash || leaf_1 || ... || leaf_n)`` over the leaves in
  sequence order, ``prev_hash`` the hash of the element before it. Each covered ``chain_links`` row holds the
  transaction's leaf, ``hash = sha256(canonical encoding)``, and the seal's ``prev_hash``.
Hashes are lowercase hex text, and are hashed as that text. The leaf is computed where the data already is
(the engine's and the importer's writes), so sealing never reads a transaction back; ``verify`` recomputes
every leaf from the stored rows and every seal from the stored leaves, so an edit to any field of any
transaction, to a leaf, or to a seal is found.

No SQLAlchemy here: the engine, the importer and the bulk check's own process (``ledger.chain_bulk``) use it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import UTC, datetime

from ledger.money import CURRENCY_PLACES, format_fen

GENESIS_HASH = "0" * 64

# What a check can find, in the order findings about one sequence number are reported (both checks sort
# by sequence number, then by this): a seq that does not follow the link before ("jump"); a seal starting
# inside the seal before it ("seal_overlap") or not pointing at the element before it ("seal_unlinked"); a
# link not pointing at the element before it, or under a seal not at the seal's previous hash
# ("unlinked"); its transaction gone ("missing"); "reference": not checked in bulk, left to the row-by-row
# encoder (text that JSON escapes); a link whose hash does not match ("mismatch"); a seal whose hash does
# not match its links' leaves ("seal_mismatch", reported at the seal's last seq).
ISSUE_KINDS = ("jump", "seal_overlap", "seal_unlinked", "unlinked", "missing", "reference", "mismatch", "seal_mismatch")

# The standard library's JSON string escaper (C-accelerated), as json.dumps(ensure_ascii=False) uses it.
_json_string = json.encoder.encode_basestring


def _date_text(value) -> str:
    # SQLite hands back the stored ISO text, PostgreSQL a date.
    return value if isinstance(value, str) else value.isoformat()


def _as_utc(moment: datetime) -> datetime:
    """Stored timestamps are UTC; a naive one read back from either database is UTC too."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _moment_text(value) -> str | None:
    """UTC instant as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` whichever database stored it."""
    if value is None:
        return None
    if isinstance(value, str):
        # SQLite keeps naive UTC as "YYYY-MM-DD HH:MM:SS.ffffff" (SQLAlchemy's format; the importer's too).
        return value.replace(" ", "T", 1) + "Z"
    return _as_utc(value).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _amount_text(amount_fen: int, currency: str) -> str:
    if CURRENCY_PLACES.get(currency) == 2:
        sign = "-" if amount_fen < 0 else ""
        whole, cents = divmod(abs(amount_fen), 100)
        return f"{sign}{whole}.{cents:02d}"
    return format_fen(amount_fen, currency)


def _json_text(value: str | None) -> str:
    return "null" if value is None else _json_string(value)


def _json_int(value: int | None) -> str:
    return "null" if value is None else str(int(value))


def canonical_encoding(transaction: tuple, legs: list[tuple[int, int, str]]) -> bytes:
    """The bytes the chain hashes: a compact UTF-8 JSON object with sorted keys, amounts as decimal
    strings, actor and approver included.

    ``transaction`` holds ``ledger.store.TRANSACTION_COLUMNS`` in that order, either as a database returns
    them or as a writer hands them to its driver (the same values); ``legs`` are (account id, amount in
    minor units, currency) in posting order. Written out by hand because ``verify`` runs it once per
    transaction of the whole journal; a test proves it equals ``json.dumps(..., sort_keys=True,
    ensure_ascii=False, separators=(",", ":"))``."""
    (
        tx_id,
        source,
        client_id,
        request_hash,
        kind,
        pending,
        effective_date,
        recorded_at,
        memo,
        actor,
        approver,
        approval_doc,
        reason,
        resolves_id,
        reverses_id,
        expires_at,
        program_year,
        link_type,
        link_id,
    ) = transaction
    postings = ",".join(
        f'[{int(account)},"{_amount_text(amount, currency)}",{_json_string(currency)}]'
        for account, amount, currency in legs
    )
    text = (
        f'{{"actor":{_json_text(actor)},"approval_doc":{_json_text(approval_doc)},"approver":{_json_text(approver)},'
        f'"client_id":{_json_string(client_id)},"effective_date":"{_date_text(effective_date)}",'
        f'"expires_at":{_json_text(_moment_text(expires_at))},"id":{int(tx_id)},"kind":{_json_string(kind)},'
        f'"link_id":{_json_text(link_id)},"link_type":{_json_text(link_type)},"memo":{_json_string(memo)},'
        f'"pending":{"true" if pending else "false"},"postings":[{postings}],'
        f'"program_year":{_json_int(program_year)},"reason":{_json_text(reason)},'
        f'"recorded_at":"{_moment_text(recorded_at)}","request_hash":{_json_string(request_hash)},'
        f'"resolves_id":{_json_int(resolves_id)},"reverses_id":{_json_int(reverses_id)},"source":{_json_string(source)}}}'
    )
    return text.encode()


def link_hash(prev_hash: str, encoding: bytes) -> str:
    """A per-transaction link (the format sealed before migration 0005)."""
    digest = hashlib.sha256(prev_hash.encode())
    digest.update(encoding)
    return digest.hexdigest()


def leaf_hash(encoding: bytes) -> str:
    """One transaction's leaf: the hash of its canonical encoding alone."""
    return hashlib.sha256(encoding).hexdigest()


def transaction_leaf(transaction: tuple, legs: list[tuple[int, int, str]]) -> str:
    return hashlib.sha256(canonical_encoding(transaction, legs)).hexdigest()


def seal_hash(prev_hash: str, leaves: Iterable[str]) -> str:
    """A seal over leaves in sequence order, chained onto the element before it."""
    digest = hashlib.sha256(prev_hash.encode())
    digest.update("".join(leaves).encode())
    return digest.hexdigest()


def voucher_books(book_ids: Iterable[int]) -> str:
    """The books a transaction's legs post to, as the seal queue keeps them: sorted ids, comma-separated."""
    return ",".join(str(book_id) for book_id in sorted(set(book_ids)))


def parse_voucher_books(text: str | None) -> list[int]:
    return [int(part) for part in text.split(",")] if text else []
