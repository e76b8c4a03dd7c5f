"""postings: the (date, account) covering index keys on the posting id before the amount

The covering index was (effective_date, account_id, amount_fen, pending): within one account and day its
entries sort by amount, so each new posting lands at a random place among that account's postings of the
day and a commit of many postings dirties a page for almost every one of them. With the posting id (which
only grows) before the amount, new entries append at the end of their (date, account) run: a batch of 1,000
2-leg transfers among 200 accounts dirties about one page per account. The index still covers the
trial-balance and reconciliation reads (date range, account, amount, pending) without table lookups.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 21:40:00
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

COVERING_INDEX = "ix_postings_date_account"


def upgrade() -> None:
    op.drop_index(COVERING_INDEX, table_name="postings")
    op.create_index(COVERING_INDEX, "postings", ["effective_date", "account_id", "id", "amount_fen", "pending"])


def downgrade() -> None:
    op.drop_index(COVERING_INDEX, table_name="postings")
    op.create_index(COVERING_INDEX, "postings", ["effective_date", "account_id", "amount_fen", "pending"])
