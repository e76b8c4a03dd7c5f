"""Where one transaction stands in the tamper-evident journal: its 记账凭证号 per book and its chain link;
and the chain head at the end of each day, which an auditor notes.

A transaction is numbered and linked when the chainer seals it (seconds after commit); before that it has
neither, and the view says so rather than guessing a number."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Engine, func, select

from ledger import schema
from ledger.db import read_only

T_CHAIN = schema.ChainLink.__table__
T_SEALS = schema.ChainSeal.__table__
T_VOUCHER_NUMBERS = schema.VoucherNumber.__table__
T_BOOKS = schema.Book.__table__


@dataclass(frozen=True, slots=True)
class VoucherNumber:
    book: str
    period: str
    number: int

    def __str__(self) -> str:
        return f"{self.book} {self.period} 第{self.number}号"


@dataclass(frozen=True, slots=True)
class SealStatus:
    voucher_numbers: tuple[VoucherNumber, ...]
    chain_seq: int | None  # None: not sealed yet
    chain_hash: str | None  # its link's hash: the transaction's leaf once links are sealed in batches

    @property
    def sealed(self) -> bool:
        return self.chain_seq is not None


def seal_status(engine: Engine, transaction_id: int) -> SealStatus:
    with read_only(engine).connect() as conn:
        numbers = conn.execute(
            select(T_BOOKS.c.code, T_VOUCHER_NUMBERS.c.period, T_VOUCHER_NUMBERS.c.number)
            .join(T_BOOKS, T_BOOKS.c.id == T_VOUCHER_NUMBERS.c.book_id)
            .where(T_VOUCHER_NUMBERS.c.transaction_id == transaction_id)
            .order_by(T_BOOKS.c.code)
        ).all()
        link = conn.execute(
            select(T_CHAIN.c.seq, T_CHAIN.c.hash).where(T_CHAIN.c.transaction_id == transaction_id)
        ).first()
    return SealStatus(
        voucher_numbers=tuple(VoucherNumber(book, period, number) for book, period, number in numbers),
        chain_seq=link[0] if link else None,
        chain_hash=link[1] if link else None,
    )


@dataclass(frozen=True, slots=True)
class DayHead:
    """The last link the chainer sealed on one Asia/Shanghai day: an auditor notes it to detect a rewrite.
    ``hash`` is the chain's hash there: the seal's that ends at ``seq`` (a whole batch is sealed at once, so a
    day's last link ends a seal), or the link's own for links sealed one by one before migration 0005."""

    day: date
    seq: int
    hash: str
    links: int


CHAIN_DAYS_MAX = 366


def _shanghai_day(engine: Engine):  # noqa: ANN202 - a SQL expression
    if engine.dialect.name == "postgresql":
        return func.date(func.timezone("Asia/Shanghai", T_CHAIN.c.sealed_at))
    return func.date(T_CHAIN.c.sealed_at, "+8 hours")  # SQLite keeps the UTC moment as text; Shanghai is UTC+8


def chain_heads_by_day(engine: Engine, *, days: int = 30) -> list[DayHead]:
    """The chain head at the end of each of the last ``days`` days that sealed anything, newest first."""
    days = max(1, min(days, CHAIN_DAYS_MAX))
    day = _shanghai_day(engine).label("day")
    per_day = (
        select(day, func.max(T_CHAIN.c.seq).label("seq"), func.count().label("links"))
        .group_by(day)
        .order_by(day.desc())
        .limit(days)
        .subquery()
    )
    with read_only(engine).connect() as conn:
        rows = conn.execute(
            select(per_day.c.day, per_day.c.seq, per_day.c.links, func.coalesce(T_SEALS.c.hash, T_CHAIN.c.hash))
            .join(T_CHAIN, T_CHAIN.c.seq == per_day.c.seq)
            .outerjoin(T_SEALS, T_SEALS.c.last_seq == per_day.c.seq)
            .order_by(per_day.c.seq.desc())
        ).all()
    return [
        DayHead(
            day=value if isinstance(value, date) else date.fromisoformat(str(value)), seq=seq, hash=hash_, links=links
        )
        for value, seq, links, hash_ in rows
    ]
