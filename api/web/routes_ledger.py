"""The books as a finance office or auditor reads them: the trial balance as of a date, an account's history
(明细账, paged by the server by key so a long account stays fast, filters in the URL so a view can be
bookmarked), and one transaction (记账凭证) with its voucher number, actor, approver, 批复文号 and
hash-chain status. Scope as in the API: books the
principal may see, and the same 404 for a book or transaction outside it as for one that does not exist."""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Path, Query

from api.scopes import Principal, Role, book_visible, require_book, visible_books
from api.web.rendering import WEB_PREFIX, Page, PageRefusal, reading_ledger, refusal_of, render, signed_in
from jobs.runs import last_runs
from ledger.account_pages import account_page
from ledger.errors import LedgerError
from ledger.queries import trial_balance
from ledger.transaction_views import chain_heads_by_day, seal_status

router = APIRouter(prefix=WEB_PREFIX, include_in_schema=False)
BOOK_READERS = (Role.FINANCE_OFFICE, Role.AUDITOR, Role.ADMIN)
BookPage = Annotated[Page, Depends(signed_in(*BOOK_READERS))]
HISTORY_PAGE_SIZE = 50


def _ledger(page: Page):  # noqa: ANN202 - ledger.engine.Ledger
    return page.request.app.state.ledger


def _not_found(page: Page, code: str) -> PageRefusal:
    return PageRefusal(404, page.t("error.not_found"), code)


@router.get("/trial-balance")
def trial_balance_page(
    page: BookPage,
    as_of: date | None = None,
    book: Annotated[str | None, Query(max_length=64)] = None,
):
    ledger = _ledger(page)
    books = visible_books(ledger, page.principal)
    visible = {row["code"] for row in books}
    if book and book not in visible:
        raise _not_found(page, "book_not_found")
    rows = [row for row in trial_balance(ledger, book=book or None, as_of=as_of) if row.book in visible]
    return render(page, "trial_balance.html", rows=rows, books=books, as_of=as_of, book=book or "")


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
    date_from: Annotated[date | None, Query(alias="from")] = None,
    date_to: Annotated[date | None, Query(alias="to")] = None,
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
