"""Books, accounts, balances, history, trial balance and period closes (scope-filtered)."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Response

from api.deps import (
    LedgerDep,
    PageParams,
    UnitOfWork,
    decode_cursor,
    encode_cursor,
    paginate,
    requires,
    resource_path,
)
from api.problems import ApiCode, ApiProblem
from api.routers import BOOKKEEPING_ROLES, READ_ROLES, links
from api.schemas.core import (
    CODE_MAX_LENGTH,
    PATH_MAX_LENGTH,
    AccountIn,
    AccountOut,
    BalanceOut,
    BookIn,
    BookOut,
    HistoryRowOut,
    PeriodCloseOut,
    TrialBalanceRowOut,
    page_of,
)
from api.scopes import Principal, book_visible, require_book, visible_books
from ledger.money import currency_places, format_fen
from ledger.queries import TrialBalanceRow, balance, history_page, trial_balance
from ledger.spreadsheet import WAN_YUAN, YUAN, Column, ColumnKind, Sheet, xlsx_bytes

router = APIRouter(prefix="/v1", tags=["ledger"])
Reader = Annotated[Principal, Depends(requires(*READ_ROLES))]
Bookkeeper = Annotated[Principal, Depends(requires(*BOOKKEEPING_ROLES))]
BookCode = Annotated[str, Path(min_length=1, max_length=CODE_MAX_LENGTH)]
AccountPath = Annotated[str, Path(min_length=1, max_length=PATH_MAX_LENGTH)]
PeriodText = Annotated[str, Path(pattern=r"^\d{4}-\d{2}$")]
TRIAL_BALANCE_DEPTH_MAX = 10
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
XlsxUnit = Annotated[Literal["元", "万元"], Query(description="amounts of the .xlsx in 元 or 万元")]
DEFAULT_CURRENCY = "CNY"
FEN_PLACES = 2  # the export writer's money columns are 元 with two places
BookPage = page_of(BookOut)
AccountPage = page_of(AccountOut)
HistoryPage = page_of(HistoryRowOut)


@router.get(
    "/books",
    response_model=BookPage,
    openapi_extra=links.listed(
        book=links.to("/v1/books/{book}", book=links.first_item("code")),
        accounts=links.to("/v1/books/{book}/accounts", book=links.first_item("code")),
    ),
)
def list_books(principal: Reader, ledger: LedgerDep, page: PageParams):
    books = [
        BookOut(**{k: row[k] for k in ("code", "name", "basis", "entity_code")})
        for row in visible_books(ledger, principal)
    ]
    items, cursor = paginate(books, lambda book: book.code, page, {})
    return {"items": items, "next_cursor": cursor}


@router.post(
    "/books",
    response_model=BookOut,
    status_code=201,
    openapi_extra=links.created(book=links.to("/v1/books/{book}", book=links.created_field("code"))),
)
def create_book(body: BookIn, principal: Bookkeeper, ledger: LedgerDep, uow: UnitOfWork, response: Response):
    if not book_visible(ledger, principal, body.model_dump()):
        raise ApiProblem(403, ApiCode.ROLE_FORBIDDEN, "a book outside your scope")
    ledger.create_book(body.code, body.name, body.basis, entity_code=body.entity_code, conn=uow)
    response.headers["Location"] = resource_path("books", body.code)
    return BookOut(code=body.code, name=body.name, basis=body.basis, entity_code=body.entity_code)


@router.get("/books/{book}", response_model=BookOut)
def get_book(book: BookCode, principal: Reader, ledger: LedgerDep):
    row = require_book(ledger, principal, book)
    return BookOut(code=row["code"], name=row["name"], basis=row["basis"], entity_code=row["entity_code"])


@router.get(
    "/books/{book}/accounts",
    response_model=AccountPage,
    openapi_extra=links.listed(
        account=links.to("/v1/books/{book}/accounts/{path}", book="$request.path.book", path=links.first_item("path")),
        balance=links.to(
            "/v1/books/{book}/accounts/{path}/balance", book="$request.path.book", path=links.first_item("path")
        ),
        history=links.to(
            "/v1/books/{book}/accounts/{path}/history", book="$request.path.book", path=links.first_item("path")
        ),
    ),
)
def list_accounts(
    book: BookCode,
    principal: Reader,
    ledger: LedgerDep,
    page: PageParams,
    type: Annotated[str | None, Query(max_length=32)] = None,  # noqa: A002 - the account type filter
):
    require_book(ledger, principal, book)
    accounts = [AccountOut.of(info) for info in ledger.accounts(book) if type is None or info.type == type]
    items, cursor = paginate(accounts, lambda account: account.path, page, {"type": type})
    return {"items": items, "next_cursor": cursor}


@router.post(
    "/books/{book}/accounts",
    response_model=AccountOut,
    status_code=201,
    openapi_extra=links.created(
        account=links.to(
            "/v1/books/{book}/accounts/{path}", book="$request.path.book", path=links.created_field("path")
        )
    ),
)
def create_account(
    book: BookCode, body: AccountIn, principal: Bookkeeper, ledger: LedgerDep, uow: UnitOfWork, response: Response
):
    require_book(ledger, principal, book)
    ledger.create_account(
        book,
        body.path,
        currency=body.currency,
        normal_side=body.normal_side,
        debits_must_not_exceed_credits=body.debits_must_not_exceed_credits,
        credits_must_not_exceed_debits=body.credits_must_not_exceed_debits,
        owner_code=body.owner_code,
        conn=uow,
    )
    response.headers["Location"] = resource_path("books", book, "accounts", body.path)
    return AccountOut.of(ledger.account(book, body.path, conn=uow))


@router.get("/books/{book}/accounts/{path}", response_model=AccountOut)
def get_account(book: BookCode, path: AccountPath, principal: Reader, ledger: LedgerDep):
    require_book(ledger, principal, book)
    return AccountOut.of(ledger.account(book, path))


@router.get("/books/{book}/accounts/{path}/balance", response_model=BalanceOut)
def get_balance(
    book: BookCode,
    path: AccountPath,
    principal: Reader,
    ledger: LedgerDep,
    as_of: date | None = None,
    recorded_before: RecordedBefore = None,
):
    require_book(ledger, principal, book)
    found = balance(ledger, book, path, as_of=as_of, recorded_before=recorded_before)
    return BalanceOut.of(found, as_of, recorded_before)


@router.get("/books/{book}/accounts/{path}/history", response_model=HistoryPage)
def get_history(
    book: BookCode,
    path: AccountPath,
    principal: Reader,
    ledger: LedgerDep,
    page: PageParams,
    date_from: Annotated[date | None, Query(alias="from")] = None,
    date_to: Annotated[date | None, Query(alias="to")] = None,
):
    require_book(ledger, principal, book)
    info = ledger.account(book, path)
    limit, cursor = page
    filters = {"from": date_from, "to": date_to}
    after = None if cursor is None else _history_position(decode_cursor(cursor, filters))
    found = history_page(ledger, book, path, limit=limit, after=after, date_from=date_from, date_to=date_to)
    next_cursor = None
    if found.next_after is not None:
        day, posting_id = found.next_after
        next_cursor = encode_cursor([day.isoformat(), posting_id], filters)
    items = [
        HistoryRowOut(
            transaction_id=row["transaction_id"],
            date=row["date"],
            amount=format_fen(row["amount_fen"], info.currency),
            balance=format_fen(row["balance_fen"], info.currency),
            memo=row["memo"],
            kind=row["kind"],
        )
        for row in found.rows
    ]
    return {"items": items, "next_cursor": next_cursor}


def _history_position(after: object) -> tuple[date, int]:
    """A history cursor holds the (date, posting id) the next page starts after."""
    try:
        day, posting_id = after  # type: ignore[misc]
        return date.fromisoformat(day), int(posting_id)
    except (TypeError, ValueError) as error:
        raise ApiProblem(422, ApiCode.CURSOR_INVALID, "the cursor is not one this server made") from error


@router.post("/books/{book}/periods/{period}/close", response_model=PeriodCloseOut)
def close_period(book: BookCode, period: PeriodText, principal: Bookkeeper, ledger: LedgerDep, uow: UnitOfWork):
    require_book(ledger, principal, book)
    ledger.close_period(book, period, actor=principal.name, conn=uow)
    return PeriodCloseOut(book=book, period=period)


def _visible_trial_balance(
    ledger,  # noqa: ANN001
    principal: Principal,
    book: str | None,
    as_of: date | None,
    depth: int | None,
    recorded_before: datetime | None = None,
) -> list[TrialBalanceRow]:
    if book is not None:
        require_book(ledger, principal, book)
    visible = {row["code"] for row in visible_books(ledger, principal)}
    return [
        row
        for row in trial_balance(ledger, book=book, as_of=as_of, depth=depth, recorded_before=recorded_before)
        if row.book in visible
    ]


def _trial_balance_rows(
    ledger,  # noqa: ANN001
    principal: Principal,
    book: str | None,
    as_of: date | None,
    depth: int | None,
    recorded_before: datetime | None = None,
) -> list[TrialBalanceRowOut]:
    rows = _visible_trial_balance(ledger, principal, book, as_of, depth, recorded_before)
    return [TrialBalanceRowOut.of(row) for row in rows]


# Bi-temporal reads: the books as recorded before this moment (RFC 3339; without an offset, Shanghai time).
RecordedBefore = Annotated[
    datetime | None, Query(description="only transactions recorded before this moment (RFC 3339)")
]
TrialBook = Annotated[str | None, Query(max_length=CODE_MAX_LENGTH)]
TrialDepth = Annotated[int | None, Query(ge=1, le=TRIAL_BALANCE_DEPTH_MAX)]


# The trial balance is also a report under /v1/reports with the others (the product's public names).
@router.get("/reports/trial-balance", response_model=list[TrialBalanceRowOut])
@router.get("/trial-balance", response_model=list[TrialBalanceRowOut])
def get_trial_balance(
    principal: Reader,
    ledger: LedgerDep,
    book: TrialBook = None,
    as_of: date | None = None,
    depth: TrialDepth = None,
    recorded_before: RecordedBefore = None,
):
    return _trial_balance_rows(ledger, principal, book, as_of, depth, recorded_before)


@router.get("/reports/trial-balance.csv", response_class=Response, responses={200: {"content": {"text/csv": {}}}})
@router.get("/trial-balance.csv", response_class=Response, responses={200: {"content": {"text/csv": {}}}})
def get_trial_balance_csv(
    principal: Reader,
    ledger: LedgerDep,
    book: TrialBook = None,
    as_of: date | None = None,
    depth: TrialDepth = None,
    recorded_before: RecordedBefore = None,
):
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["book", "account", "type", "currency", "debit", "credit"])
    for row in _trial_balance_rows(ledger, principal, book, as_of, depth, recorded_before):
        writer.writerow([row.book, row.account, row.type, row.currency, row.debit, row.credit])
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8")


TRIAL_BALANCE_HEADERS = (("book", "账簿"), ("account", "科目"), ("type", "类别"), ("currency", "币种"))


def _trial_balance_sheets(rows: list[TrialBalanceRow], on: date) -> list[Sheet]:
    """One sheet per currency, so that its 合计 row adds like amounts only (debits equal credits per book and
    currency); a currency without minor units (JPY) is counted in whole units."""
    sheets = []
    for currency in sorted({row.currency for row in rows}) or [DEFAULT_CURRENCY]:
        amount_kind = ColumnKind.FEN if currency_places(currency) == FEN_PLACES else ColumnKind.INT
        columns = (
            *(Column(key, header, ColumnKind.TEXT) for key, header in TRIAL_BALANCE_HEADERS),
            Column("debit", "借方", amount_kind),
            Column("credit", "贷方", amount_kind),
        )
        sheet_rows = [
            {
                "book": row.book,
                "account": row.account,
                "type": row.type,
                "currency": row.currency,
                "debit": row.debit_fen,
                "credit": row.credit_fen,
            }
            for row in rows
            if row.currency == currency
        ]
        sheets.append(Sheet(f"试算平衡表 {currency} {on.isoformat()}", columns, sheet_rows))
    return sheets


@router.get("/reports/trial-balance.xlsx", response_class=Response, responses={200: {"content": {XLSX_MEDIA_TYPE: {}}}})
@router.get("/trial-balance.xlsx", response_class=Response, responses={200: {"content": {XLSX_MEDIA_TYPE: {}}}})
def get_trial_balance_xlsx(
    principal: Reader,
    ledger: LedgerDep,
    book: TrialBook = None,
    as_of: date | None = None,
    depth: TrialDepth = None,
    recorded_before: RecordedBefore = None,
    unit: XlsxUnit = YUAN,
):
    """The trial balance as the export writer makes it: header row frozen, amounts in 元 or 万元 (display
    only), 合计 summed in fen, Chinese headers; one sheet per currency."""
    on = as_of or date.today()
    rows = _visible_trial_balance(ledger, principal, book, as_of, depth, recorded_before)
    return Response(
        xlsx_bytes(_trial_balance_sheets(rows, on), unit=WAN_YUAN if unit == WAN_YUAN else YUAN),
        media_type=XLSX_MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="trial-balance-{on.isoformat()}.xlsx"'},
    )


@router.get("/books/{book}/periods", response_model=list[PeriodCloseOut])
def list_closed_periods(book: BookCode, principal: Reader, ledger: LedgerDep):
    """The book's closed periods, oldest first (postings dated inside them are refused)."""
    require_book(ledger, principal, book)
    return [PeriodCloseOut(book=book, period=period) for period in ledger.closed_periods(book)]
