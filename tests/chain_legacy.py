"""Links in the format sealed before migration 0005 (one link per transaction), for the tests that prove a
chain sealed that way still verifies: the sealer as it was, reading each queued transaction back."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, text

from ledger.chain import _load
from ledger.chain_format import GENESIS_HASH, canonical_encoding, link_hash


def seal_per_transaction(engine: Engine, *, limit: int | None = None) -> int:
    """Seal the queue (or its first ``limit`` transactions) one link per transaction:
    ``hash = sha256(previous hash || canonical encoding)``. Returns how many were sealed."""
    with engine.begin() as conn:
        ids = [row[0] for row in conn.execute(text("SELECT transaction_id FROM seal_queue ORDER BY transaction_id"))]
        ids = ids[:limit] if limit is not None else ids
        if not ids:
            return 0
        head = conn.execute(text("SELECT seq, hash FROM chain_links ORDER BY seq DESC LIMIT 1")).first()
        seq, prev_hash = (head[0], head[1]) if head else (0, GENESIS_HASH)
        transactions, legs = _load(conn, ids)
        now = datetime.now(UTC).replace(tzinfo=None)
        for tx_id in ids:
            seq += 1
            encoding = canonical_encoding(transactions[tx_id], [(a, amount, c) for a, amount, c, _b in legs[tx_id]])
            current = link_hash(prev_hash, encoding)
            conn.execute(
                text(
                    "INSERT INTO chain_links (seq, transaction_id, prev_hash, hash, sealed_at) "
                    "VALUES (:seq, :tx, :prev, :hash, :now)"
                ),
                {"seq": seq, "tx": tx_id, "prev": prev_hash, "hash": current, "now": now},
            )
            conn.execute(text("DELETE FROM seal_queue WHERE transaction_id = :tx"), {"tx": tx_id})
            prev_hash = current
    return len(ids)
