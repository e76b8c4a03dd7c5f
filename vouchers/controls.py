"""Control-account checks of the voucher sub-ledger (first check; the rest are listed in the report).

Claimed redemptions ↔ voucher expense: for each issuing region, the claimed amounts of its vouchers equal its
own ``Expenses:Vouchers:<program>`` (financial book of the issuing region) plus every other region's
``Expenses:Vouchers:InterRegion:<issuing region>`` (the provider region's share under 通兑/通用)."""

from __future__ import annotations

from sqlalchemy import Engine, func, select

from ledger.controls import compare, posted_balances, snapshot
from ledger.queries import Finding
from vouchers.models import VoucherRedemption

T_REDEMPTIONS = VoucherRedemption.__table__
EXPENSE_PREFIX = "Expenses:Vouchers"
INTER_REGION_PREFIX = "Expenses:Vouchers:InterRegion:"
FINANCIAL_BOOK_PREFIX, FINANCIAL_BOOK_SUFFIX = "vouchers-", "-financial"


def reconcile_controls(engine: Engine) -> list[Finding]:
    with snapshot(engine) as conn:
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
    return compare(
        "voucher redemptions claimed ↔ Expenses:Vouchers", expected, actual, describe=lambda r: f"issuing region {r}"
    )
