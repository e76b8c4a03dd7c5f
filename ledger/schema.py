"""The storage schema (SQLModel). Alembic migrations in ledger/migrations create it; this is their model.

Money columns are BIGINT minor units (fen). Timestamps are naive UTC; business dates are DATE.
The journal tables (transactions, postings, transaction_resolutions, chain_links, chain_seals,
voucher_numbers, period_closes) are append-only: database triggers refuse UPDATE and DELETE on them.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Column, Index, Integer, UniqueConstraint, text
from sqlmodel import Field, SQLModel

APPEND_ONLY_TABLES = (
    "transactions",
    "postings",
    "transaction_resolutions",
    "chain_links",
    "chain_seals",
    "voucher_numbers",
    "period_closes",
)


# SQLite only auto-assigns INTEGER PRIMARY KEY (the rowid alias), which is 64-bit there anyway.
ID_TYPE = BigInteger().with_variant(Integer(), "sqlite")


def _money() -> Column:
    return Column(BigInteger, nullable=False, server_default="0")


class Entity(SQLModel, table=True):
    """A region (6-digit 行政区划 code) or an institution (18-character 统一社会信用代码)."""

    __tablename__ = "entities"
    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)  # region | institution
    code: str = Field(max_length=18, unique=True)
    name: str = Field(max_length=200)
    parent_code: str | None = Field(default=None, max_length=18)
    institution_kind: str | None = Field(default=None, max_length=32)
    region_code: str | None = Field(default=None, max_length=6)
    metadata_json: str = Field(default="{}")


class Book(SQLModel, table=True):
    """An accounting entity x basis (financial | budgetary | memo). Transactions balance per book."""

    __tablename__ = "books"
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=64, unique=True)
    name: str = Field(max_length=200)
    entity_code: str | None = Field(default=None, max_length=18)
    basis: str = Field(max_length=16)


class Account(SQLModel, table=True):
    __tablename__ = "accounts"
    __table_args__ = (UniqueConstraint("book_id", "path", name="uq_accounts_book_path"),)
    id: int | None = Field(default=None, primary_key=True)
    book_id: int = Field(foreign_key="books.id", index=True)
    path: str = Field(max_length=400)
    type: str = Field(max_length=24)
    normal_side: str = Field(max_length=6)  # debit | credit
    currency: str = Field(default="CNY", max_length=3)
    owner_code: str | None = Field(default=None, max_length=18)
    metadata_json: str = Field(default="{}")
    debits_must_not_exceed_credits: bool = Field(default=False)
    credits_must_not_exceed_debits: bool = Field(default=False)
    closed: bool = Field(default=False)
    debits_posted: int = Field(default=0, sa_column=_money())
    credits_posted: int = Field(default=0, sa_column=_money())
    debits_pending: int = Field(default=0, sa_column=_money())
    credits_pending: int = Field(default=0, sa_column=_money())
    version: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default="0"))
    created_at: datetime


class Transaction(SQLModel, table=True):
    """A 记账凭证. Immutable once written: corrections are reversals, pending is resolved by new rows."""

    __tablename__ = "transactions"
    __table_args__ = (
        UniqueConstraint("source", "client_id", name="uq_transactions_source_client_id"),
        # Partial: most transactions resolve nothing, and bulk imports should not pay for NULL entries.
        Index(
            "ix_transactions_resolves_id",
            "resolves_id",
            sqlite_where=text("resolves_id IS NOT NULL"),
            postgresql_where=text("resolves_id IS NOT NULL"),
        ),
        Index(
            "ix_transactions_reverses_id",
            "reverses_id",
            sqlite_where=text("reverses_id IS NOT NULL"),
            postgresql_where=text("reverses_id IS NOT NULL"),
        ),
        # Only pending transactions expire: the expiry job finds them without scanning the journal.
        Index(
            "ix_transactions_expires_at",
            "expires_at",
            sqlite_where=text("expires_at IS NOT NULL"),
            postgresql_where=text("expires_at IS NOT NULL"),
        ),
    )
    id: int | None = Field(default=None, primary_key=True, sa_type=ID_TYPE)
    source: str = Field(max_length=100)
    client_id: str = Field(max_length=200)
    request_hash: str = Field(max_length=64)
    kind: str = Field(default="general", max_length=64)
    pending: bool = Field(default=False)
    effective_date: date
    recorded_at: datetime
    memo: str = Field(default="", max_length=1000)
    actor: str = Field(default="", max_length=100)
    approver: str | None = Field(default=None, max_length=100)
    approval_doc: str | None = Field(default=None, max_length=200)
    reason: str | None = Field(default=None, max_length=1000)
    resolves_id: int | None = Field(default=None, sa_type=BigInteger)
    reverses_id: int | None = Field(default=None, sa_type=BigInteger)
    expires_at: datetime | None = Field(default=None)
    program_year: int | None = Field(default=None)
    link_type: str | None = Field(default=None, max_length=64)
    link_id: str | None = Field(default=None, max_length=100)


class Posting(SQLModel, table=True):
    """One leg: debit-positive ``amount_fen`` on one account. ``pending`` and ``effective_date`` are
    copied from the transaction so balance queries read one table."""

    __tablename__ = "postings"
    __table_args__ = (
        Index("ix_postings_account_date", "account_id", "effective_date"),
        # Covering for as-of and reconciliation reads; the id before the amount makes new postings append
        # at the end of their (date, account) run instead of landing at random among them (migration 0003).
        Index("ix_postings_date_account", "effective_date", "account_id", "id", "amount_fen", "pending"),
        # Pending legs are few; reconciliation and expiry find them without scanning the journal.
        Index(
            "ix_postings_pending",
            "transaction_id",
            sqlite_where=text("pending = 1"),
            postgresql_where=text("pending = true"),
        ),
    )
    id: int | None = Field(default=None, primary_key=True, sa_type=ID_TYPE)
    transaction_id: int = Field(sa_type=BigInteger, index=True)
    account_id: int
    book_id: int
    amount_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    currency: str = Field(default="CNY", max_length=3)
    effective_date: date
    pending: bool = Field(default=False)


class AccountMonthTotal(SQLModel, table=True):
    """Posted debits and credits per account per month, kept in the same transaction as the postings.

    A balance as of a date is the months before it from here plus that month's postings up to the
    date, so reports never scan the whole journal. The reconcile job proves it equals the postings."""

    __tablename__ = "account_month_totals"
    account_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    period: str = Field(primary_key=True, max_length=7)
    debits_fen: int = Field(default=0, sa_column=_money())
    credits_fen: int = Field(default=0, sa_column=_money())


class TransactionResolution(SQLModel, table=True):
    """A pending transaction posted, voided or expired, or a posted one reversed: at most once each."""

    __tablename__ = "transaction_resolutions"
    target_id: int = Field(primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False})
    resolver_id: int = Field(sa_type=BigInteger)
    kind: str = Field(max_length=8)  # post | void | expire | reverse


class PeriodClose(SQLModel, table=True):
    __tablename__ = "period_closes"
    book_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    period: str = Field(primary_key=True, max_length=7)
    closed_at: datetime
    actor: str = Field(max_length=100)


class SealQueue(SQLModel, table=True):
    """Committed transactions not yet in the hash chain. The chainer drains it in commit order.

    The writer queues what sealing needs, computed where the data already was (migration 0005): the
    transaction's leaf hash, and the month and books its voucher numbers are given in. Rows queued before
    0005 have none of them; the chainer reads those transactions back."""

    __tablename__ = "seal_queue"
    transaction_id: int = Field(primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False})
    leaf_hash: str | None = Field(default=None, max_length=64)
    period: str | None = Field(default=None, max_length=7)
    book_ids: str | None = Field(default=None)  # sorted book ids, comma-separated (ledger.chain_format)


class ChainLink(SQLModel, table=True):
    """Gapless sequence of sealed transactions, one row each (ledger.chain_format): before migration 0005
    hash = sha256(previous hash + canonical encoding); from it on, the transaction's leaf, covered by a
    ``ChainSeal``."""

    __tablename__ = "chain_links"
    seq: int = Field(primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False})
    transaction_id: int = Field(sa_type=BigInteger, unique=True)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)
    sealed_at: datetime


class ChainSeal(SQLModel, table=True):
    """One sealed batch of links ``first_seq..last_seq``: hash = sha256(previous hash + their leaves)."""

    __tablename__ = "chain_seals"
    last_seq: int = Field(primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False})
    first_seq: int = Field(sa_type=BigInteger)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)
    sealed_at: datetime


class VoucherNumber(SQLModel, table=True):
    """记账凭证号: gapless per book per month, given in seal order."""

    __tablename__ = "voucher_numbers"
    __table_args__ = (UniqueConstraint("book_id", "transaction_id", name="uq_voucher_numbers_book_tx"),)
    book_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    period: str = Field(primary_key=True, max_length=7)
    number: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    transaction_id: int = Field(sa_type=BigInteger, index=True)


class VoucherCounter(SQLModel, table=True):
    __tablename__ = "voucher_counters"
    book_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    period: str = Field(primary_key=True, max_length=7)
    last_number: int = Field(default=0)


class Alert(SQLModel, table=True):
    """A finding of a scheduled job: reconciliation differences, limit breaches, ..."""

    __tablename__ = "alerts"
    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=64)
    subject: str = Field(max_length=400)
    amount_fen: int | None = Field(default=None, sa_type=BigInteger)
    limit_fen: int | None = Field(default=None, sa_type=BigInteger)
    severity: str = Field(default="warning", max_length=16)
    message: str = Field(default="", max_length=2000)
    first_seen: datetime
    resolved_at: datetime | None = None


class JobRun(SQLModel, table=True):
    __tablename__ = "job_runs"
    __table_args__ = (UniqueConstraint("job", "period_key", name="uq_job_runs_job_period"),)
    id: int | None = Field(default=None, primary_key=True)
    job: str = Field(max_length=64)
    period_key: str = Field(max_length=64)
    started_at: datetime
    finished_at: datetime | None = None
    status: str = Field(default="running", max_length=16)
    counts_json: str = Field(default="{}")
