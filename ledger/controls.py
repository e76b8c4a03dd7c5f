"""What a sub-ledger check needs from the core: one consistent snapshot, and posted balances by account.

Domain packages reconcile their own tables (commitments, grants, redemptions, ...) against the control
accounts they post to. Both sides must be read in one snapshot, or a write that lands between the two
reads shows up as a false difference: on PostgreSQL the snapshot is a REPEATABLE READ, READ ONLY
transaction; on SQLite (WAL) a deferred read transaction, whose snapshot is taken at its first read and
kept until it ends. The ledger knows nothing of the domains: they call these helpers and build their own
findings (``ledger.queries.Finding``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import Connection, Engine, func, select

from ledger.db import read_snapshot
from ledger.engine import T_ACCOUNTS, T_BOOKS, T_POSTINGS, T_TRANSACTIONS
from ledger.queries import Finding

CONTROL_FINDING_KIND = "control"


def snapshot(engine: Engine):  # noqa: ANN201 - a context manager yielding a Connection
    """A read-only connection whose reads all see one committed state of the database (``read_snapshot``)."""
    return read_snapshot(engine)


Balances = dict[tuple[str, str], int]


def posted_balances(conn: Connection, *, book: str | None = None, prefix: str | None = None) -> Balances:
    """Posted (not pending) debit-positive balance in fen of each account, keyed by (book code, path).

    ``prefix`` keeps the accounts whose path is ``prefix`` or starts with ``prefix + ":"``. Read from the
    cached totals, which the core's own reconciliation proves equal to the postings."""
    return _balances(conn, T_ACCOUNTS.c.debits_posted, T_ACCOUNTS.c.credits_posted, book, prefix)


def pending_balances(conn: Connection, *, book: str | None = None, prefix: str | None = None) -> Balances:
    """Open pending (reserved, not yet posted or voided) debit-positive amount in fen of each account."""
    return _balances(conn, T_ACCOUNTS.c.debits_pending, T_ACCOUNTS.c.credits_pending, book, prefix)


def _balances(conn: Connection, debits, credits, book: str | None, prefix: str | None) -> Balances:  # noqa: ANN001
    query = select(T_BOOKS.c.code, T_ACCOUNTS.c.path, debits, credits).join(
        T_BOOKS, T_BOOKS.c.id == T_ACCOUNTS.c.book_id
    )
    if book is not None:
        query = query.where(T_BOOKS.c.code == book)
    if prefix is not None:
        query = query.where(_under(prefix))
    return {(row[0], row[1]): int(row[2]) - int(row[3]) for row in conn.execute(query)}


def _under(prefix: str):  # noqa: ANN202 - a SQL condition
    return (T_ACCOUNTS.c.path == prefix) | T_ACCOUNTS.c.path.startswith(prefix + ":", autoescape=True)


def posted_by(
    conn: Connection,
    *,
    books: Iterable[str] | None = None,
    path: str | None = None,
    prefix: str | None = None,
    kind: str | None = None,
    source: str | None = None,
    by_program_year: bool = False,
) -> dict[tuple, int]:
    """Posted (not pending) debit-positive fen summed in the database from the postings themselves, keyed
    by (book code, path) or, with ``by_program_year``, by (book code, path, program year).

    For checks the cached totals cannot answer: the share of one transaction kind (a quota account mixes
    grants, claims and expiries) or of one program year. ``path`` keeps one account, ``prefix`` an account
    and those below it; ``kind`` and ``source`` filter the transactions."""
    keys = [T_BOOKS.c.code, T_ACCOUNTS.c.path]
    if by_program_year:
        keys.append(T_TRANSACTIONS.c.program_year)
    query = (
        select(*keys, func.sum(T_POSTINGS.c.amount_fen))
        .join(T_ACCOUNTS, T_ACCOUNTS.c.id == T_POSTINGS.c.account_id)
        .join(T_BOOKS, T_BOOKS.c.id == T_ACCOUNTS.c.book_id)
        .join(T_TRANSACTIONS, T_TRANSACTIONS.c.id == T_POSTINGS.c.transaction_id)
        .where(T_POSTINGS.c.pending.is_(False))
        .group_by(*keys)
    )
    if books is not None:
        query = query.where(T_BOOKS.c.code.in_(list(books)))
    if path is not None:
        query = query.where(T_ACCOUNTS.c.path == path)
    if prefix is not None:
        query = query.where(_under(prefix))
    if kind is not None:
        query = query.where(T_TRANSACTIONS.c.kind == kind)
    if source is not None:
        query = query.where(T_TRANSACTIONS.c.source == source)
    return {tuple(row[:-1]): int(row[-1]) for row in conn.execute(query)}


def sum_by(balances: dict[tuple[str, str], int], key) -> dict:  # noqa: ANN001 - key maps (book, path) to a group
    """Add balances up per group (``key`` returns None to leave an account out)."""
    totals: dict = defaultdict(int)
    for account, fen in balances.items():
        group = key(account)
        if group is not None:
            totals[group] += fen
    return dict(totals)


def compare(
    subject_kind: str, expected: dict, actual: dict, *, describe=str, kind: str = CONTROL_FINDING_KIND
) -> list[Finding]:
    """One finding per group whose domain total (``expected``) differs from its ledger total (``actual``).

    A group missing on one side counts as zero there. ``describe`` turns a group key into the subject."""
    findings = []
    for group in sorted(set(expected) | set(actual), key=repr):
        want, have = int(expected.get(group, 0)), int(actual.get(group, 0))
        if want != have:
            subject = f"{subject_kind} {describe(group)}"
            findings.append(
                Finding(
                    kind,
                    subject,
                    want,
                    have,
                    f"sub-ledger {_yuan(want)} CNY, control accounts {_yuan(have)} CNY, "
                    f"off by {_yuan(have - want)} CNY",
                )
            )
    return findings


def _yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole:,}.{cents:02d}"


def transaction_legs(conn: Connection, selectors: dict[str, tuple[str, str]]) -> dict[int, dict[str, int]]:
    """Posted amount in fen that each transaction puts on each selected group of accounts.

    ``selectors`` names groups as (book code, path prefix); the answer keeps only transactions touching at
    least one group, as {transaction id: {group name: debit-positive fen}}. Pending legs are left out (a
    pending reserves; its post is a transaction of its own). Dual-basis checks use it: every transaction
    moving a region's bank account in its financial book has its budgetary entry in the same transaction."""
    legs: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for name, (book, prefix) in selectors.items():
        query = (
            select(T_POSTINGS.c.transaction_id, T_POSTINGS.c.amount_fen)
            .join(T_ACCOUNTS, T_ACCOUNTS.c.id == T_POSTINGS.c.account_id)
            .join(T_BOOKS, T_BOOKS.c.id == T_ACCOUNTS.c.book_id)
            .where(T_BOOKS.c.code == book, T_POSTINGS.c.pending.is_(False))
            .where(_under(prefix))
        )
        for transaction_id, amount in conn.execute(query):
            legs[int(transaction_id)][name] += int(amount)
    return {tx: dict(groups) for tx, groups in legs.items()}
