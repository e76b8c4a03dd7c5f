"""hash chain over commit batches: leaves queued by the writers, one seal per sealed batch

Writers now compute each transaction's leaf hash at write time (``ledger.chain_format``) and queue it with
the month and books its voucher numbers need, so the chainer never reads a transaction back; a sealed batch
gets one ``chain_seals`` row (sha256 over the previous hash and the batch's leaves), and each of its
``chain_links`` rows keeps its transaction's leaf. Links sealed before this revision keep their
per-transaction format, and ``verify`` checks both: an existing chain verifies unchanged, and the first
seal points at its last link's hash. Rows already queued carry no leaf; the chainer reads those back.

``chain_seals`` is append-only like the rest of the journal (0001's triggers, 0004's on SQLite).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 09:00:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

SEALS = "chain_seals"


def upgrade() -> None:
    op.add_column("seal_queue", sa.Column("leaf_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
    op.add_column("seal_queue", sa.Column("period", sqlmodel.sql.sqltypes.AutoString(length=7), nullable=True))
    op.add_column("seal_queue", sa.Column("book_ids", sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    op.create_table(
        SEALS,
        sa.Column("last_seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("first_seq", sa.BigInteger(), nullable=False),
        sa.Column("prev_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("sealed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("last_seq"),
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    for operation in ("UPDATE", "DELETE"):
        name = f"{SEALS}_refuse_{operation.lower()}"
        if postgres:
            # fundledger_refuse_change() is 0001's.
            op.execute(
                f"CREATE TRIGGER {name} BEFORE {operation} ON {SEALS} "
                "FOR EACH ROW EXECUTE FUNCTION fundledger_refuse_change()"
            )
        else:
            op.execute(
                f"CREATE TRIGGER {name} BEFORE {operation} ON {SEALS} "
                f"BEGIN SELECT RAISE(ABORT, 'journal_is_append_only: {operation} on {SEALS} is refused'); END"
            )
    if postgres:
        op.execute(
            f"CREATE TRIGGER {SEALS}_refuse_truncate BEFORE TRUNCATE ON {SEALS} "
            "FOR EACH STATEMENT EXECUTE FUNCTION fundledger_refuse_change()"
        )
    else:
        # As 0004 does for the other journal tables: INSERT OR REPLACE would delete the row holding the key.
        op.execute(
            f"CREATE TRIGGER {SEALS}_refuse_replace BEFORE INSERT ON {SEALS} "
            f"WHEN EXISTS (SELECT 1 FROM {SEALS} WHERE last_seq = NEW.last_seq) "
            f"BEGIN SELECT RAISE(ABORT, 'journal_is_append_only: INSERT over an existing row of {SEALS} "
            "is refused'); END"
        )


def downgrade() -> None:
    # Seals cannot be expressed as per-transaction links: a downgrade with sealed batches would orphan them.
    op.drop_table(SEALS)
    op.drop_column("seal_queue", "book_ids")
    op.drop_column("seal_queue", "period")
    op.drop_column("seal_queue", "leaf_hash")
