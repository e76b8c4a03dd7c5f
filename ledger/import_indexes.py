"""The secondary posting indexes a large SQLite import may drop while it loads, and rebuild after.

Each commit of an import chunk otherwise rewrites most of the (account, date) and (date, account) index
pages: building them once from the loaded table is a sort, far cheaper than 2M random inserts. Crash-safe
by construction: the drop is its own committed transaction, nothing reads the journal through these
indexes for correctness (they only speed queries up), the importer rebuilds them when it ends, failed or
not, and every import starts by rebuilding any that are missing, so an import killed mid-load leaves a
ledger that verifies, and its rerun restores the indexes first. PostgreSQL keeps its indexes: dropping
one there takes a lock that stops every reader of the table.
"""

from __future__ import annotations

from sqlalchemy import Engine, text

from ledger.db import SQLITE_CACHE_KIB

# Exactly as the migrations leave them (0001, 0003); a test compares these with a migrated database.
SECONDARY_POSTING_INDEXES = {
    "ix_postings_account_date": "CREATE INDEX ix_postings_account_date ON postings (account_id, effective_date)",
    "ix_postings_transaction_id": "CREATE INDEX ix_postings_transaction_id ON postings (transaction_id)",
    "ix_postings_pending": "CREATE INDEX ix_postings_pending ON postings (transaction_id) WHERE pending = 1",
    "ix_postings_date_account": (
        "CREATE INDEX ix_postings_date_account ON postings (effective_date, account_id, id, amount_fen, pending)"
    ),
}
# The two whose keys arrive out of order (by account, and by date then account) are dropped; the ones on the
# transaction id take appends in id order while loading (and the pending one no import row at all), so
# keeping them costs little, and rebuilding them would cost a scan and a sort each (0.9-1.4 s on 1M).
DROPPED_WHILE_LOADING = ("ix_postings_account_date", "ix_postings_date_account")
# Only a file this large drops them: below it, rebuilding the indexes over the table costs more than the
# inserts save (a 1M-transaction journal is ~150 MiB).
INDEX_DROP_MIN_BYTES = 32 << 20
# ... and only while the table holds at most this many postings per byte of the file (~70 bytes a row):
# rebuilding over a large journal of other books would cost more than this file's inserts.
INDEX_DROP_EXISTING_PER_BYTE = 1 / 70
# Page cache for the index build (the engine's is 128 MiB), which bounds the sort's memory too.
BUILD_CACHE_KIB = 32_768


def missing_posting_indexes(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        present = {
            row[0]
            for row in conn.execute(
                text("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'postings'")
            )
        }
    return [name for name in SECONDARY_POSTING_INDEXES if name not in present]


def restore_posting_indexes(engine: Engine) -> list[str]:
    """Rebuild whichever secondary posting index is missing (SQLite); returns their names. The build sorts
    with a bounded page cache (``BUILD_CACHE_KIB``; SQLite spills the sort to a temporary file beyond it),
    so an import's peak memory stays under its bound; the connection gets the engine's cache back."""
    missing = missing_posting_indexes(engine)
    if missing:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"PRAGMA cache_size=-{BUILD_CACHE_KIB}")
            try:
                for name in missing:
                    conn.exec_driver_sql(
                        SECONDARY_POSTING_INDEXES[name].replace("CREATE INDEX", "CREATE INDEX IF NOT EXISTS", 1)
                    )
            finally:
                conn.exec_driver_sql(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    return missing


def drop_posting_indexes(engine: Engine) -> None:
    with engine.begin() as conn:
        for name in DROPPED_WHILE_LOADING:
            conn.exec_driver_sql(f"DROP INDEX IF EXISTS {name}")


def may_drop_posting_indexes(engine: Engine, account_ids: list[int], file_bytes: int) -> bool:
    """A large file into a book with no postings yet, on a table small beside the file."""
    if file_bytes < INDEX_DROP_MIN_BYTES:
        return False
    with engine.connect() as conn:
        existing = conn.exec_driver_sql("SELECT COALESCE(MAX(id), 0) FROM postings").scalar_one()
        if existing > file_bytes * INDEX_DROP_EXISTING_PER_BYTE:
            return False
        for start in range(0, len(account_ids), 500):
            part = account_ids[start : start + 500]
            marks = ", ".join("?" * len(part))
            if conn.exec_driver_sql(
                f"SELECT 1 FROM postings WHERE account_id IN ({marks}) LIMIT 1", tuple(part)
            ).first():
                return False
    return True
