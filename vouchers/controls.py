"""Control-account checks of the voucher sub-ledger: each domain table mirroring money equals the accounts it
posts to, read in one snapshot (``ledger.controls``). ``CONTROL_PAIRS`` lists what is proved:

- claimed redemptions per issuing region ↔ its own ``Expenses:Vouchers:<program>`` (financial book of the issuing
  region) plus every other region's ``Expenses:Vouchers:InterRegion:<issuing region>`` (通兑/通用 shares);
- approved grants (``granted_fen``) per program and enterprise ↔ the quota-grant postings on
  ``Memo:Quota:<program>:<enterprise>`` (memo book of the program's region);
- open reservations (status ``reserved``) per program and enterprise ↔ the pending debits of that quota account;
- quota expiries per program and enterprise ↔ the quota-expiry postings on that quota account;
- lines of paid provider payment batches per paying region and provider ↔ the payment postings on
  ``Liabilities:Payables:<provider>`` (financial book of the paying region)."""

from __future__ import annotations

from sqlalchemy import Connection, Engine, func, select

from ledger.controls import compare, pending_balances, posted_balances, posted_by, snapshot
from ledger.queries import Finding
from vouchers import books
from vouchers.models import (
    VoucherGrant,
    VoucherPaymentBatch,
    VoucherPaymentLine,
    VoucherProgram,
    VoucherQuotaExpiry,
    VoucherRedemption,
)

T_REDEMPTIONS = VoucherRedemption.__table__
T_GRANTS = VoucherGrant.__table__
T_PROGRAMS = VoucherProgram.__table__
T_EXPIRIES = VoucherQuotaExpiry.__table__
T_BATCHES = VoucherPaymentBatch.__table__
T_LINES = VoucherPaymentLine.__table__
EXPENSE_PREFIX = "Expenses:Vouchers"
INTER_REGION_PREFIX = "Expenses:Vouchers:InterRegion:"
FINANCIAL_BOOK_PREFIX, FINANCIAL_BOOK_SUFFIX = "vouchers-", "-financial"
QUOTA_PREFIX = "Memo:Quota"
PROVIDER_PAYABLE_PREFIX = "Liabilities:Payables"
GRANT_KIND, EXPIRY_KIND, PAYMENT_KIND = "voucher_quota_grant", "voucher_quota_expiry", "voucher_provider_payment"

SUBJECT_CLAIMS = "voucher redemptions claimed ↔ Expenses:Vouchers"
SUBJECT_GRANTS = "vouchers_grants granted_fen ↔ Memo:Quota grants"
SUBJECT_RESERVATIONS = "vouchers_redemptions reserved_fen (open) ↔ Memo:Quota pending"
SUBJECT_EXPIRIES = "vouchers_quota_expiries amount_fen ↔ Memo:Quota expiries"
SUBJECT_PAYMENTS = "vouchers_payment_lines amount_fen (paid batches) ↔ Liabilities:Payables payments"

CONTROL_PAIRS: list[tuple[str, str, str]] = [
    (
        "vouchers_redemptions.claimed_fen, status claimed, per issuing region",
        "vouchers-<issuing region>-financial + vouchers-<other region>-financial",
        "Expenses:Vouchers:<program> + Expenses:Vouchers:InterRegion:<issuing region> (posted)",
    ),
    (
        "vouchers_grants.granted_fen, status approved, per program and enterprise",
        "vouchers-<program region>-memo",
        f"Memo:Quota:<program>:<enterprise> (posted credits of {GRANT_KIND} transactions)",
    ),
    (
        "vouchers_redemptions.reserved_fen, status reserved, per program and enterprise",
        "vouchers-<program region>-memo",
        "Memo:Quota:<program>:<enterprise> (pending debits)",
    ),
    (
        "vouchers_quota_expiries.amount_fen per program and enterprise",
        "vouchers-<program region>-memo",
        f"Memo:Quota:<program>:<enterprise> (posted debits of {EXPIRY_KIND} transactions)",
    ),
    (
        "vouchers_payment_lines.amount_fen of paid batches, per paying region and provider",
        "vouchers-<paying region>-financial",
        f"Liabilities:Payables:<provider> (posted debits of {PAYMENT_KIND} transactions)",
    ),
]


def reconcile_controls(engine: Engine) -> list[Finding]:
    with snapshot(engine) as conn:
        return _claims(conn) + _grants(conn) + _reservations(conn) + _expiries(conn) + _payments(conn)


def _describe(group: tuple[str, str]) -> str:
    return f"{group[0]} {group[1]}"


def _claims(conn: Connection) -> list[Finding]:
    expected = {
        region: int(total)
        for region, total in conn.execute(
            select(T_REDEMPTIONS.c.enterprise_region, func.sum(T_REDEMPTIONS.c.claimed_fen))
            .where(T_REDEMPTIONS.c.status == "claimed")
            .group_by(T_REDEMPTIONS.c.enterprise_region)
        )
    }
    actual: dict[str, int] = {}
    for (book, path), fen in posted_balances(conn, prefix=EXPENSE_PREFIX).items():
        if not (book.startswith(FINANCIAL_BOOK_PREFIX) and book.endswith(FINANCIAL_BOOK_SUFFIX)):
            continue
        book_region = book.removeprefix(FINANCIAL_BOOK_PREFIX).removesuffix(FINANCIAL_BOOK_SUFFIX)
        issuing = path.removeprefix(INTER_REGION_PREFIX) if path.startswith(INTER_REGION_PREFIX) else book_region
        actual[issuing] = actual.get(issuing, 0) + fen
    return compare(SUBJECT_CLAIMS, expected, actual, describe=lambda r: f"issuing region {r}")


def _kind_legs(conn: Connection, kind: str, prefix: str) -> dict[tuple[str, str], int]:
    """Posted debit-positive fen that the transactions of one kind put on each account under ``prefix``."""
    return posted_by(conn, prefix=prefix, kind=kind, source=books.LEDGER_SOURCE)


def _per_quota(rows) -> dict[tuple[str, str], int]:  # noqa: ANN001 - (region, program, enterprise, fen) rows
    totals: dict[tuple[str, str], int] = {}
    for region, program, enterprise, fen in rows:
        key = (books.memo_book(region), books.enterprise_quota(program, enterprise))
        totals[key] = totals.get(key, 0) + int(fen or 0)
    return totals


def _grants(conn: Connection) -> list[Finding]:
    expected = _per_quota(
        conn.execute(
            select(
                T_PROGRAMS.c.region_code, T_GRANTS.c.program_code, T_GRANTS.c.enterprise_code, T_GRANTS.c.granted_fen
            )
            .join(T_PROGRAMS, T_PROGRAMS.c.code == T_GRANTS.c.program_code)
            .where(T_GRANTS.c.status == "approved")
        )
    )
    actual = {account: -fen for account, fen in _kind_legs(conn, GRANT_KIND, QUOTA_PREFIX).items()}
    return compare(SUBJECT_GRANTS, expected, actual, describe=_describe)


def _reservations(conn: Connection) -> list[Finding]:
    expected = _per_quota(
        conn.execute(
            select(
                T_REDEMPTIONS.c.enterprise_region,
                T_REDEMPTIONS.c.program_code,
                T_REDEMPTIONS.c.enterprise_code,
                T_REDEMPTIONS.c.reserved_fen,
            ).where(T_REDEMPTIONS.c.status == "reserved")
        )
    )
    actual = {account: fen for account, fen in pending_balances(conn, prefix=QUOTA_PREFIX).items() if fen}
    return compare(SUBJECT_RESERVATIONS, expected, actual, describe=_describe)


def _expiries(conn: Connection) -> list[Finding]:
    expected = _per_quota(
        conn.execute(
            select(
                T_PROGRAMS.c.region_code,
                T_EXPIRIES.c.program_code,
                T_EXPIRIES.c.enterprise_code,
                T_EXPIRIES.c.amount_fen,
            ).join(T_PROGRAMS, T_PROGRAMS.c.code == T_EXPIRIES.c.program_code)
        )
    )
    return compare(SUBJECT_EXPIRIES, expected, _kind_legs(conn, EXPIRY_KIND, QUOTA_PREFIX), describe=_describe)


def _payments(conn: Connection) -> list[Finding]:
    expected: dict[tuple[str, str], int] = {}
    for region, provider, fen in conn.execute(
        select(T_BATCHES.c.region_code, T_LINES.c.provider_code, T_LINES.c.amount_fen)
        .join(T_BATCHES, T_BATCHES.c.id == T_LINES.c.batch_id)
        .where(T_BATCHES.c.status == "paid")
    ):
        key = (books.financial_book(region), books.payable_to(provider))
        expected[key] = expected.get(key, 0) + int(fen)
    actual = _kind_legs(conn, PAYMENT_KIND, PROVIDER_PAYABLE_PREFIX)
    return compare(SUBJECT_PAYMENTS, expected, actual, describe=_describe)
