"""append-only against REPLACE and UPSERT on SQLite (issue 11, defect 13)

SQLite's ``INSERT OR REPLACE`` (and ``REPLACE INTO``) satisfies a primary or unique key by deleting the
row that holds it, and that delete fires no DELETE trigger unless the connection enabled
``recursive_triggers``: a journal row could be rewritten in place while the chain check stayed clean. A
BEFORE INSERT trigger on every append-only table refuses an insert whose primary key or any unique key is
already taken, before the conflict resolution runs. Every key it probes is indexed, and an INTEGER PRIMARY
KEY left to SQLite (NEW.id NULL) matches nothing, so the cost is one index probe per key and row.

``INSERT ... ON CONFLICT DO UPDATE`` (UPSERT) runs the table's UPDATE triggers on both databases, and
PostgreSQL has no REPLACE: nothing changes there (tests/test_append_only.py proves both).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 14:40:00
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# Each append-only table with its primary key and unique keys (0001_initial_schema).
APPEND_ONLY_KEYS: dict[str, tuple[tuple[str, ...], ...]] = {
    "transactions": (("id",), ("source", "client_id")),
    "postings": (("id",),),
    "transaction_resolutions": (("target_id",),),
    "chain_links": (("seq",), ("transaction_id",)),
    "voucher_numbers": (("book_id", "period", "number"), ("book_id", "transaction_id")),
    "period_closes": (("book_id", "period"),),
}


def _trigger_name(table: str) -> str:
    return f"{table}_refuse_replace"


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table, keys in APPEND_ONLY_KEYS.items():
        taken = " OR ".join(
            f"EXISTS (SELECT 1 FROM {table} WHERE " + " AND ".join(f"{column} = NEW.{column}" for column in key) + ")"
            for key in keys
        )
        op.execute(
            f"CREATE TRIGGER {_trigger_name(table)} BEFORE INSERT ON {table} WHEN {taken} "
            f"BEGIN SELECT RAISE(ABORT, 'journal_is_append_only: INSERT over an existing row of {table} "
            f"is refused'); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in APPEND_ONLY_KEYS:
        op.execute(f"DROP TRIGGER IF EXISTS {_trigger_name(table)}")
