"""Request and response models of the core ledger routes (separate from the tables).

Amounts leave as decimal strings in 元; amounts arrive inside transaction bodies, which the ledger's own
JSON reader parses (``ledger.jsonio``), so HTTP and ``fundledger post`` accept exactly the same documents."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ledger.engine import AccountInfo
from ledger.money import format_fen
from ledger.queries import Balance, TrialBalanceRow

CODE_MAX_LENGTH = 64
NAME_MAX_LENGTH = 200
PATH_MAX_LENGTH = 255


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


class BookIn(Strict):
    code: str = Field(min_length=1, max_length=CODE_MAX_LENGTH, examples=["440100-finance"])
    name: str = Field(min_length=1, max_length=NAME_MAX_LENGTH, examples=["广州市财政局"])
    basis: Literal["financial", "budgetary", "memo"] = Field(examples=["financial"])
    entity_code: str | None = Field(default=None, max_length=18, examples=["440100"])


class BookOut(BaseModel):
    code: str
    name: str
    basis: str
    entity_code: str | None


class AccountIn(Strict):
    path: str = Field(min_length=1, max_length=PATH_MAX_LENGTH, examples=["Assets:Bank:Treasury"])
    currency: str = Field(default="CNY", min_length=3, max_length=3)
    normal_side: Literal["debit", "credit"] | None = None
    debits_must_not_exceed_credits: bool = Field(default=False, description="a credit-normal account never overdrawn")
    credits_must_not_exceed_debits: bool = Field(default=False, description="a debit-normal account never overdrawn")
    owner_code: str | None = Field(default=None, max_length=18)


class AccountOut(BaseModel):
    book: str
    path: str
    type: str
    normal_side: str
    currency: str
    debits_posted: str
    credits_posted: str
    debits_pending: str
    credits_pending: str
    balance: str
    closed: bool
    owner_code: str | None

    @classmethod
    def of(cls, info: AccountInfo) -> AccountOut:
        money = lambda fen: format_fen(fen, info.currency)  # noqa: E731
        return cls(
            book=info.book,
            path=info.path,
            type=info.type,
            normal_side=info.normal_side,
            currency=info.currency,
            debits_posted=money(info.debits_posted),
            credits_posted=money(info.credits_posted),
            debits_pending=money(info.debits_pending),
            credits_pending=money(info.credits_pending),
            balance=money(info.balance_fen),
            closed=info.closed,
            owner_code=info.owner_code,
        )


class BalanceOut(BaseModel):
    book: str
    account: str
    currency: str
    as_of: date | None
    recorded_before: datetime | None = None
    debits: str
    credits: str
    debits_pending: str
    credits_pending: str
    balance: str

    @classmethod
    def of(cls, value: Balance, as_of: date | None, recorded_before: datetime | None = None) -> BalanceOut:
        money = lambda fen: format_fen(fen, value.currency)  # noqa: E731
        return cls(
            book=value.book,
            account=value.account,
            currency=value.currency,
            as_of=as_of,
            recorded_before=recorded_before,
            debits=money(value.debits_fen),
            credits=money(value.credits_fen),
            debits_pending=money(value.debits_pending_fen),
            credits_pending=money(value.credits_pending_fen),
            balance=money(value.balance_fen),
        )


class HistoryRowOut(BaseModel):
    transaction_id: int
    date: date
    amount: str
    balance: str
    memo: str
    kind: str


class TrialBalanceRowOut(BaseModel):
    book: str
    account: str
    type: str
    currency: str
    debit: str
    credit: str

    @classmethod
    def of(cls, row: TrialBalanceRow) -> TrialBalanceRowOut:
        return cls(
            book=row.book,
            account=row.account,
            type=row.type,
            currency=row.currency,
            debit=format_fen(row.debit_fen, row.currency),
            credit=format_fen(row.credit_fen, row.currency),
        )


class PeriodCloseOut(BaseModel):
    book: str
    period: str
    closed: Literal[True] = True


class PostingOut(BaseModel):
    book: str
    account: str
    amount: str
    currency: str


class TransactionOut(BaseModel):
    id: int
    source: str
    client_id: str
    kind: str
    date: date
    memo: str
    actor: str
    approver: str | None
    pending: bool
    postings: list[PostingOut]
    resolution: dict[str, Any] | None

    @classmethod
    def of(cls, row: dict) -> TransactionOut:
        return cls(
            id=row["id"],
            source=row["source"],
            client_id=row["client_id"],
            kind=row["kind"],
            date=row["effective_date"],
            memo=row["memo"],
            actor=row["actor"],
            approver=row.get("approver"),
            pending=bool(row["pending"]),
            postings=[
                PostingOut(
                    book=p["book"],
                    account=p["account"],
                    amount=format_fen(p["amount_fen"], p["currency"]),
                    currency=p["currency"],
                )
                for p in row["postings"]
            ],
            resolution=row.get("resolution"),
        )


class TransactionCreatedOut(BaseModel):
    transaction_id: int
    source: str
    client_id: str


class DryRunOut(BaseModel):
    dry_run: Literal[True] = True
    code: str
    message: str
    accounts_after: list[AccountOut]


class BatchItemOut(BaseModel):
    index: int
    code: str
    client_id: str
    transaction_id: int | None
    message: str


class BatchOut(BaseModel):
    results: list[BatchItemOut]
    dry_run: bool = False


class VerifyOut(BaseModel):
    clean: bool
    sealed: int
    unsealed: int
    transactions: int
    chain_findings: list[str]
    reconciliation_findings: list[dict[str, Any]]


def page_of(model: type[BaseModel]):  # noqa: ANN201 - builds a response model
    return type(
        f"{model.__name__}Page", (BaseModel,), {"__annotations__": {"items": list[model], "next_cursor": str | None}}
    )
