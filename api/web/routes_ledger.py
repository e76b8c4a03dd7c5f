"""The books as a finance office or auditor reads them: the trial balance as of a date, an account's history
(明细账, paged by the server by key so a long account stays fast, filters in the URL so a view can be
bookmarked), and one transaction (记账凭证) with its voucher number, actor, approver, 批复文号 and
hash-chain status. Scope as in the API: books the
principal may see, and the same 404 for a book or transaction outside it as for one that does not exist."""

from __future__ import annotations

import csv
import io
import json
import threading
from bisect import bisect_right
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BeforeValidator

from api.scopes import Principal, Role, book_visible, require_book, visible_books
from api.web.rendering import WEB_PREFIX, Page, PageRefusal, reading_ledger, refusal_of, render, signed_in
from jobs.runs import last_runs
from ledger.account_pages import account_page
from ledger.engine import today_shanghai
from ledger.errors import LedgerError
from ledger.money import DEFAULT_CURRENCY
from ledger.queries import posted_version, trial_balance
from ledger.spreadsheet import WAN_YUAN, YUAN, Column, ColumnKind, Sheet, xlsx_bytes
from ledger.transaction_views import chain_heads_by_day, seal_status

router = APIRouter(prefix=WEB_PREFIX, include_in_schema=False)
BOOK_READERS = (Role.FINANCE_OFFICE, Role.AUDITOR, Role.ADMIN)
BookPage = Annotated[Page, Depends(signed_in(*BOOK_READERS))]
HISTORY_PAGE_SIZE = 50
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# A filter form sends an empty date field as "": no filter, as if it were left out of the URL.
OptionalDay = Annotated[date | None, BeforeValidator(lambda value: value or None)]


def _ledger(page: Page):  # noqa: ANN202 - ledger.engine.Ledger
    return page.request.app.state.ledger


def _not_found(page: Page, code: str) -> PageRefusal:
    return PageRefusal(404, page.t("error.not_found"), code)


TRIAL_BALANCE_PAGE_ROWS = 100
TRIAL_BALANCES_CACHED = 16
# Trial balances per (book, as of, posted version, books in the reader's scope), shared by the readers of this
# process: a 9,000-account book over a 1M-transaction journal costs 0.2 s (0.6 s as of a date) to compute, and
# at the same posted version (ledger.queries.posted_version) it is the same trial balance.
_trial_balances: OrderedDict[tuple, ScopedTrialBalance] = OrderedDict()
_trial_balances_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class ScopedTrialBalance:
    rows: list  # ledger.queries.TrialBalanceRow in (book, account) order
    keys: list[tuple[str, str]]  # each row's (book, account), for finding where a page starts
    totals: list[tuple[str, tuple[int, int]]]  # per currency: the debit and the credit column's totals

    @classmethod
    def of(cls, rows: list) -> ScopedTrialBalance:
        totals: dict[str, tuple[int, int]] = {}
        for row in rows:
            debits, credits = totals.get(row.currency, (0, 0))
            totals[row.currency] = (debits + row.debit_fen, credits + row.credit_fen)
        return cls(rows, [(row.book, row.account) for row in rows], sorted(totals.items()))


def _cached_trial_balance(ledger, book: str | None, as_of: date | None, visible: set[str]) -> ScopedTrialBalance:  # noqa: ANN001
    key = (book, as_of, posted_version(ledger), frozenset(visible))
    with _trial_balances_lock:
        if key in _trial_balances:
            _trial_balances.move_to_end(key)
            return _trial_balances[key]
    rows = [row for row in trial_balance(ledger, book=book, as_of=as_of) if row.book in visible]
    found = ScopedTrialBalance.of(rows)
    with _trial_balances_lock:
        _trial_balances[key] = found
        while len(_trial_balances) > TRIAL_BALANCES_CACHED:
            _trial_balances.popitem(last=False)
    return found


def _trial_balance_rows(page: Page, as_of: date | None, book: str | None) -> tuple[list[dict], ScopedTrialBalance]:
    """The books the reader sees and the trial balance of those (or of ``book``, which must be one)."""
    ledger = _ledger(page)
    books = visible_books(ledger, page.principal)
    visible = {row["code"] for row in books}
    if book and book not in visible:
        raise _not_found(page, "book_not_found")
    return books, _cached_trial_balance(ledger, book or None, as_of, visible)


@router.get("/trial-balance")
def trial_balance_page(
    page: BookPage,
    as_of: OptionalDay = None,
    book: Annotated[str | None, Query(max_length=64)] = None,
    after_book: Annotated[str | None, Query(max_length=64)] = None,
    after_account: Annotated[str | None, Query(max_length=400)] = None,
):
    """The trial balance a page of rows at a time, by key (the last row's book and account), with the
    whole selection's debit and credit totals; every filter stays in the URL."""
    books, found = _trial_balance_rows(page, as_of, book)
    start = 0
    if after_book is not None and after_account is not None:
        start = bisect_right(found.keys, (after_book, after_account))
    shown = found.rows[start : start + TRIAL_BALANCE_PAGE_ROWS]
    filters = {"book": book, "as_of": as_of}
    next_url = None
    if start + TRIAL_BALANCE_PAGE_ROWS < len(found.rows):
        last = shown[-1]
        next_url = _trial_balance_url(**filters, after_book=last.book, after_account=last.account)
    return render(
        page,
        "trial_balance.html",
        rows=shown,
        row_count=len(found.rows),
        first_row=start + 1,
        totals=found.totals,
        books=books,
        as_of=as_of,
        book=book or "",
        next_url=next_url,
        first_url=_trial_balance_url(**filters) if start else None,
        export_query=urlencode({k: v for k, v in filters.items() if v}),
    )


def _trial_balance_url(**query: object) -> str:
    present = {key: value for key, value in query.items() if value not in (None, "")}
    return f"{WEB_PREFIX}/trial-balance" + (f"?{urlencode(present)}" if present else "")


TRIAL_BALANCE_COLUMNS = ("book", "account", "type", "currency", "debit", "credit")


@router.get("/trial-balance.csv")
def trial_balance_csv(
    page: BookPage, as_of: OptionalDay = None, book: Annotated[str | None, Query(max_length=64)] = None
) -> Response:
    """The whole selection as the API's CSV has it (amounts as decimal strings in the row's currency)."""
    rows = _trial_balance_rows(page, as_of, book)[1].rows
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(TRIAL_BALANCE_COLUMNS)
    for row in rows:
        writer.writerow([row.book, row.account, row.type, row.currency, row.debit_text, row.credit_text])
    name = f"trial-balance-{book or 'all'}-{(as_of or today_shanghai()).isoformat()}.csv"
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name.replace(":", "_")}"'},
    )


@router.get("/trial-balance.xlsx")
def trial_balance_xlsx(
    page: BookPage, as_of: OptionalDay = None, book: Annotated[str | None, Query(max_length=64)] = None
) -> Response:
    """The whole selection as a workbook in the page's unit, with its totals row."""
    rows = _trial_balance_rows(page, as_of, book)[1].rows
    t = page.t
    sheet = Sheet(
        t("ledger.trial_balance")[:31],
        [Column("book", t("ledger.book")), Column("account", t("ledger.account")),
         Column("type", t("ledger.type")), Column("debit_fen", t("ledger.debit"), ColumnKind.FEN),
         Column("credit_fen", t("ledger.credit"), ColumnKind.FEN)],
        [{"book": row.book, "account": row.account, "type": row.type, "debit_fen": row.debit_fen,
          "credit_fen": row.credit_fen} for row in rows if row.currency == DEFAULT_CURRENCY],
    )  # fmt: skip
    unit = WAN_YUAN if page.unit.value == "wan" else YUAN
    name = f"trial-balance-{book or 'all'}-{(as_of or today_shanghai()).isoformat()}.xlsx".replace(":", "_")
    return Response(
        xlsx_bytes([sheet], unit),
        media_type=XLSX_MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _history_url(book: str, path: str, **query: object) -> str:
    present = {key: value for key, value in query.items() if value not in (None, "")}
    suffix = f"?{urlencode(present)}" if present else ""
    return f"{WEB_PREFIX}/books/{book}/accounts/{path}{suffix}"


def _position(page: Page, text: str | None) -> tuple[date, int] | None:
    """``after=2026-03-18:1234`` (a movement's date and posting id) as the page's start; malformed is a 404."""
    if not text:
        return None
    day, _, posting = text.partition(":")
    try:
        return date.fromisoformat(day), int(posting)
    except ValueError as error:
        raise _not_found(page, "page_not_found") from error


@router.get("/books/{book}/accounts/{path:path}")
def account_page_view(
    page: BookPage,
    book: Annotated[str, Path(max_length=64)],
    path: Annotated[str, Path(max_length=400)],
    date_from: Annotated[OptionalDay, Query(alias="from")] = None,
    date_to: Annotated[OptionalDay, Query(alias="to")] = None,
    after: Annotated[str | None, Query(max_length=40)] = None,
):
    ledger = _ledger(page)
    position = _position(page, after)
    try:
        require_book(ledger, page.principal, book)
        info = ledger.account(book, path)
        chunk = account_page(
            ledger, book, path, limit=HISTORY_PAGE_SIZE, after=position, date_from=date_from, date_to=date_to
        )
    except LedgerError as error:
        raise refusal_of(error) from error
    filters = {"from": date_from, "to": date_to}
    next_after = f"{chunk.next_after[0].isoformat()}:{chunk.next_after[1]}" if chunk.next_after else None
    return render(
        page,
        "account.html",
        book=book,
        info=info,
        rows=chunk.movements,
        date_from=date_from,
        date_to=date_to,
        next_url=_history_url(book, path, **filters, after=next_after) if next_after else None,
        first_url=_history_url(book, path, **filters) if position else None,
    )


def _require_transaction(ledger, principal: Principal, transaction_id: int) -> dict | None:  # noqa: ANN001
    transaction = ledger.transaction(transaction_id)
    if transaction is None:
        return None
    books = {row["code"]: row for row in ledger.books()}
    for posting in transaction["postings"]:
        if not book_visible(ledger, principal, books[posting["book"]]):
            return None
    return transaction


@router.get("/transactions/{transaction_id}")
def transaction_page(page: BookPage, transaction_id: Annotated[int, Path(ge=1)]):
    ledger = _ledger(page)
    transaction = _require_transaction(ledger, page.principal, transaction_id)
    if transaction is None:
        raise _not_found(page, "transaction_not_found")
    return render(page, "transaction.html", tx=transaction, seal=seal_status(ledger.engine, transaction_id))


AUDIT_READERS = (Role.AUDITOR, Role.FINANCE_OFFICE, Role.ADMIN)
AuditPage = Annotated[Page, Depends(signed_in(*AUDIT_READERS))]
CHAIN_DAYS_SHOWN = 30


RECONCILE_JOB = "reconcile"
# The reconcile run's counts that are findings: any of them above zero is a failed reconciliation.
RECONCILE_FINDING_COUNTS = ("findings", "control_findings")


@router.get("/audit")
def audit_page(page: AuditPage):
    """What an auditor checks without running a verify: the last reconcile run's result as the job recorded
    it (chain, cached balances, every sub-ledger against its control accounts), each job's last recorded run,
    and the chain head at the end of each day."""
    engine = reading_ledger(page).engine
    runs = []
    for job, row in sorted(last_runs(engine).items()):
        counts = json.loads(row["counts_json"]) if row.get("counts_json") else {}
        runs.append({**row, "job": job, "counts": counts})
    reconcile = next((run for run in runs if run["job"] == RECONCILE_JOB), None)
    clean = None
    if reconcile is not None and reconcile["status"] == "succeeded":
        clean = not any(reconcile["counts"].get(name, 0) for name in RECONCILE_FINDING_COUNTS)
    return render(
        page,
        "audit.html",
        runs=runs,
        reconcile=reconcile,
        reconcile_clean=clean,
        heads=chain_heads_by_day(engine, days=CHAIN_DAYS_SHOWN),
    )
