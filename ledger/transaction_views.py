"""Where one transaction stands in the tamper-evident journal: its 记账凭证号 per book and its chain link.

A transaction is numbered and linked when the chainer seals it (seconds after commit); before that it has
neither, and the view says so rather than guessing a number."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, select

from ledger import schema
from ledger.db import read_only

T_CHAIN = schema.ChainLink.__table__
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
    chain_hash: str | None

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
