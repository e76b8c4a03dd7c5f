"""Control-account checks of the voucher sub-ledger: each domain table mirroring money equals the accounts it
posts to, read in one snapshot (``ledger.controls``). ``CONTROL_PAIRS`` lists what is proved:

- claimed redemptions per issuing region ↔ its own ``Expenses:Vouchers:<program>`` (financial book of the issuing
  region) plus every other region's ``Expenses:Vouchers:InterRegion:<issuing region>`` (通兑/通用 shares);
- approved grants (``granted_fen``) per program and enterprise ↔ the quota-grant postings on
  ``Memo:Quota:<program>:<enterprise>`` (memo book of the program's region);
- open reservations (status ``reserved``) per program and enterprise ↔ the pending debits of that quota account;
- quota expiries per program and enterprise ↔ the quota-expiry postings on that quota account;
- lines of paid provider payment batches per paying region and provider ↔ the payment postings on
  ``Liabilities:Payables:<provider>`` (financial book of the paying region);
- each settlement (region pair and period) ↔ what its offset and net entries cleared on both regions'
  ``Liabilities:Payable:InterRegion:<other>`` and ``Assets:Receivable:InterRegion:<other>``, and ↔ the owed shares
  of the redemptions it lists;
- claimed cross-region redemptions not yet settled ↔ the open balances of those inter-region accounts, per region
  pair;
- paid 通用 reimbursements per issuing region and enterprise ↔ the reimbursement postings on
  ``Liabilities:Payables:<enterprise>``; claimed 通用 redemptions not yet reimbursed ↔ that account's balance;
- dual basis (政府会计制度), per transaction and region: the treasury leg in the financial book equals the budgetary
  entry (budget revenue less budget expenditure) in the same transaction, save the part that is a clearing
  between treasuries (暂付/暂收, never budget revenue or expenditure; see ``vouchers.settlement``)."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import Connection, Engine, func, select

from ledger.controls import compare, pending_balances, posted_balances, posted_by, snapshot, transaction_legs
from ledger.engine import T_TRANSACTIONS
from ledger.queries import Finding
from vouchers import books
from vouchers.models import (
    VoucherGrant,
    VoucherPaymentBatch,
    VoucherPaymentLine,
    VoucherProgram,
    VoucherQuotaExpiry,
    VoucherRedemption,
    VoucherRegion,
    VoucherSettlement,
)
from vouchers.settlement import SETTLEMENT_LINK_TYPE, owed_direction

T_REDEMPTIONS = VoucherRedemption.__table__
T_GRANTS = VoucherGrant.__table__
T_PROGRAMS = VoucherProgram.__table__
T_EXPIRIES = VoucherQuotaExpiry.__table__
T_BATCHES = VoucherPaymentBatch.__table__
T_LINES = VoucherPaymentLine.__table__
T_SETTLEMENTS = VoucherSettlement.__table__
T_REGIONS = VoucherRegion.__table__
EXPENSE_PREFIX = "Expenses:Vouchers"
INTER_REGION_PREFIX = "Expenses:Vouchers:InterRegion:"
FINANCIAL_BOOK_PREFIX, FINANCIAL_BOOK_SUFFIX = "vouchers-", "-financial"
QUOTA_PREFIX = "Memo:Quota"
PROVIDER_PAYABLE_PREFIX = "Liabilities:Payables"
GRANT_KIND, EXPIRY_KIND, PAYMENT_KIND = "voucher_quota_grant", "voucher_quota_expiry", "voucher_provider_payment"
REIMBURSEMENT_KIND = "voucher_enterprise_reimbursement"
INTER_REGION_RECEIVABLE_PREFIX = "Assets:Receivable:InterRegion"
INTER_REGION_PAYABLE_PREFIX = "Liabilities:Payable:InterRegion"
SETTLEMENT_KIND_PREFIX = "voucher_settlement_"
BUDGET_BALANCE_PREFIX = "BudgetBalance"  # 资金结存: moved by every budget revenue and budget expenditure

SUBJECT_CLAIMS = "voucher redemptions claimed ↔ Expenses:Vouchers"
SUBJECT_GRANTS = "vouchers_grants granted_fen ↔ Memo:Quota grants"
SUBJECT_RESERVATIONS = "vouchers_redemptions reserved_fen (open) ↔ Memo:Quota pending"
SUBJECT_EXPIRIES = "vouchers_quota_expiries amount_fen ↔ Memo:Quota expiries"
SUBJECT_PAYMENTS = "vouchers_payment_lines amount_fen (paid batches) ↔ Liabilities:Payables payments"
SUBJECT_SETTLEMENTS = "vouchers_settlements owed amounts ↔ inter-region accounts cleared by the settlement"
SUBJECT_SETTLED_REDEMPTIONS = "vouchers_settlements owed amounts ↔ owed shares of the redemptions it lists"
SUBJECT_INTER_REGION_OPEN = "vouchers_redemptions owed shares (claimed, unsettled) ↔ inter-region balances"
SUBJECT_REIMBURSEMENTS = "vouchers_redemptions claimed_fen (通用, reimbursed) ↔ Liabilities:Payables reimbursements"
SUBJECT_ENTERPRISE_PAYABLES = "vouchers_redemptions claimed_fen (通用, not reimbursed) ↔ Liabilities:Payables balance"
SUBJECT_DUAL_BASIS = "dual basis treasury ↔ budgetary entry"
DUAL_BASIS_ACCOUNTS = "(Assets:Treasury less 暂付/暂收 ↔ BudgetRevenue − BudgetExpenditure)"

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
    (
        "vouchers_settlements.low_owes_high_fen / high_owes_low_fen, per region pair and period",
        "vouchers-<low>-financial and vouchers-<high>-financial",
        "Liabilities:Payable:InterRegion:<other> (debits) and Assets:Receivable:InterRegion:<other> (credits) of the "
        "settlement's offset and net entries",
    ),
    (
        "vouchers_settlements.low_owes_high_fen / high_owes_low_fen, per region pair and period",
        "(domain rows)",
        "the owed shares (通兑: enterprise_share_fen; 通用: provider_share_fen) of the redemptions it lists",
    ),
    (
        "owed shares of claimed cross-region vouchers_redemptions not yet settled, per region pair",
        "vouchers-<region>-financial",
        "Liabilities:Payable:InterRegion:<other> / Assets:Receivable:InterRegion:<other> (posted balances)",
    ),
    (
        "vouchers_redemptions.claimed_fen, mode 通用, reimbursed, per issuing region and enterprise",
        "vouchers-<issuing region>-financial",
        f"Liabilities:Payables:<enterprise> (posted debits of {REIMBURSEMENT_KIND} transactions)",
    ),
    (
        "vouchers_redemptions.claimed_fen, mode 通用, claimed and not reimbursed, per issuing region and enterprise",
        "vouchers-<issuing region>-financial",
        "Liabilities:Payables:<enterprise> (posted balance)",
    ),
    (
        "each transaction's treasury leg, less its 暂付/暂收 clearing between treasuries (dual basis)",
        "vouchers-<region>-financial / vouchers-<region>-budget",
        "Assets:Treasury ↔ BudgetRevenue:* − BudgetExpenditure:* in the same transaction",
    ),
]


def reconcile_controls(engine: Engine) -> list[Finding]:
    with snapshot(engine) as conn:
        return (
            _claims(conn)
            + _grants(conn)
            + _reservations(conn)
            + _expiries(conn)
            + _payments(conn)
            + _settlements(conn)
            + _open_inter_region(conn)
            + _reimbursements(conn)
            + _dual_basis(conn)
        )


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


# ----- settlements and the inter-region accounts -------------------------------------------------------------


def _side_accounts(low: str, high: str, low_owes_high: int, high_owes_low: int) -> dict[tuple[str, str], int]:
    """What settling these owed amounts does to the pair's inter-region accounts (debit-positive fen): each side's
    payable to the other is debited by what it owed, its receivable from the other credited by what it was owed."""
    return {
        (books.financial_book(low), books.payable_to_region(high)): low_owes_high,
        (books.financial_book(low), books.receivable_from_region(high)): -high_owes_low,
        (books.financial_book(high), books.payable_to_region(low)): high_owes_low,
        (books.financial_book(high), books.receivable_from_region(low)): -low_owes_high,
    }


def _settlements(conn: Connection) -> list[Finding]:
    """Per settlement (region pair and period): its stored owed amounts ↔ what its entries cleared on the
    inter-region accounts of both financial books, and ↔ the owed shares of the redemptions it lists."""
    settlements = {row["id"]: row for row in conn.execute(select(T_SETTLEMENTS)).mappings()}
    if not settlements:
        return []
    label = {sid: f"{row['region_low']}/{row['region_high']} {row['period_label']}" for sid, row in settlements.items()}
    stored: dict[tuple, int] = {}
    selectors: dict[str, tuple[str, str]] = {}
    for sid, row in settlements.items():
        sides = _side_accounts(
            row["region_low"], row["region_high"], row["low_owes_high_fen"], row["high_owes_low_fen"]
        )
        for (book, path), fen in sides.items():
            stored[(label[sid], book, path)] = fen
            selectors[f"{book} {path}"] = (book, path)
    links = dict(
        conn.execute(
            select(T_TRANSACTIONS.c.id, T_TRANSACTIONS.c.link_id).where(
                T_TRANSACTIONS.c.link_type == SETTLEMENT_LINK_TYPE, T_TRANSACTIONS.c.source == books.LEDGER_SOURCE
            )
        ).all()
    )
    cleared: dict[tuple, int] = defaultdict(int)
    for tx, groups in transaction_legs(conn, selectors).items():
        link = links.get(tx)
        if link is None or not link.isdigit() or int(link) not in settlements:
            continue
        for name, fen in groups.items():
            book, path = selectors[name]
            cleared[(label[int(link)], book, path)] += fen
    listed: dict[tuple, int] = defaultdict(int)
    for redemption in conn.execute(select(T_REDEMPTIONS).where(T_REDEMPTIONS.c.settlement_id.is_not(None))).mappings():
        settlement = settlements.get(redemption["settlement_id"])
        payer, payee, amount = owed_direction(redemption)
        if settlement is None:
            listed[(f"(missing settlement {redemption['settlement_id']})", payer, payee)] += int(amount or 0)
            continue
        listed[(label[settlement["id"]], payer, payee)] += int(amount or 0)
    owed = {}
    for sid, row in settlements.items():
        low, high = row["region_low"], row["region_high"]
        owed[(label[sid], low, high)] = row["low_owes_high_fen"]
        owed[(label[sid], high, low)] = row["high_owes_low_fen"]
    return compare(SUBJECT_SETTLEMENTS, stored, dict(cleared), describe=lambda g: " ".join(g)) + compare(
        SUBJECT_SETTLED_REDEMPTIONS, owed, dict(listed), describe=lambda g: f"{g[0]} {g[1]} owes {g[2]}"
    )


def _open_inter_region(conn: Connection) -> list[Finding]:
    """Claimed cross-region redemptions not yet settled ↔ the balances of the inter-region receivables and
    payables in each region's financial book (per region pair: region, counterparty)."""
    expected: dict[tuple[str, str], int] = defaultdict(int)
    for redemption in conn.execute(
        select(T_REDEMPTIONS).where(
            T_REDEMPTIONS.c.status == "claimed",
            T_REDEMPTIONS.c.settlement_id.is_(None),
            T_REDEMPTIONS.c.enterprise_region != T_REDEMPTIONS.c.provider_region,
        )
    ).mappings():
        payer, payee, amount = owed_direction(redemption)
        expected[(books.financial_book(payer), books.payable_to_region(payee))] -= int(amount or 0)
        expected[(books.financial_book(payee), books.receivable_from_region(payer))] += int(amount or 0)
    actual = {
        account: fen
        for prefix in (INTER_REGION_RECEIVABLE_PREFIX, INTER_REGION_PAYABLE_PREFIX)
        for account, fen in posted_balances(conn, prefix=prefix).items()
        if _is_financial_book(account[0])
    }
    return compare(SUBJECT_INTER_REGION_OPEN, dict(expected), actual, describe=_describe)


def _is_financial_book(book: str) -> bool:
    return book.startswith(FINANCIAL_BOOK_PREFIX) and book.endswith(FINANCIAL_BOOK_SUFFIX)


# ----- 通用 reimbursements ----------------------------------------------------------------------------------------


def _reimbursements(conn: Connection) -> list[Finding]:
    """通用: the issuing region owes its enterprise the whole claim (``Liabilities:Payables:<enterprise>``) until the
    reimbursement pays it. Paid ones ↔ the reimbursement postings; unpaid ones ↔ the payable's balance."""
    paid: dict[tuple[str, str], int] = defaultdict(int)
    owed: dict[tuple[str, str], int] = defaultdict(int)
    enterprises: set[str] = set()
    for region, enterprise, fen, reimbursed_on in conn.execute(
        select(
            T_REDEMPTIONS.c.enterprise_region,
            T_REDEMPTIONS.c.enterprise_code,
            T_REDEMPTIONS.c.claimed_fen,
            T_REDEMPTIONS.c.reimbursed_on,
        ).where(T_REDEMPTIONS.c.mode == "tongyong", T_REDEMPTIONS.c.status == "claimed")
    ):
        key = (books.financial_book(region), books.payable_to(enterprise))
        enterprises.add(enterprise)
        if reimbursed_on is None:
            owed[key] -= int(fen)  # a credit balance: owed to the enterprise
        else:
            paid[key] += int(fen)
    enterprises.update(conn.execute(select(T_REDEMPTIONS.c.enterprise_code).distinct()).scalars())
    reimbursed = _kind_legs(conn, REIMBURSEMENT_KIND, PROVIDER_PAYABLE_PREFIX)
    balances = {
        (book, path): fen
        for (book, path), fen in posted_balances(conn, prefix=PROVIDER_PAYABLE_PREFIX).items()
        if _is_financial_book(book) and path.rsplit(":", 1)[-1] in enterprises
    }
    return compare(SUBJECT_REIMBURSEMENTS, dict(paid), reimbursed, describe=_describe) + compare(
        SUBJECT_ENTERPRISE_PAYABLES, dict(owed), balances, describe=_describe
    )


# ----- dual basis ---------------------------------------------------------------------------------------------


def _dual_basis(conn: Connection) -> list[Finding]:
    """政府会计制度's dual function: in every transaction, each region's treasury movement (financial book) equals
    its budgetary entry (budget revenue less budget expenditure, budgetary book), except the part that is a
    clearing between treasuries (暂付/暂收), which is neither budget revenue nor budget expenditure:

    - a provider payment batch pays the issuing region's 通兑 share as an advance (暂付): its lines' amount less
      their budget expenditure;
    - a 通用 reimbursement pays the provider region's share as an advance: the claim less the enterprise's share;
    - a settlement's entries (offset and net, checked together, since the budget legs ride on one of them) recover
      what the other region owed: the credits they put on ``Assets:Receivable:InterRegion:*``.

    Every other movement of a treasury (the appropriation, or any other entry) has its budgetary entry in full."""
    regions = list(conn.execute(select(T_REGIONS.c.code).order_by(T_REGIONS.c.code)).scalars())
    selectors: dict[str, tuple[str, str]] = {}
    for region in regions:
        fin, budget = books.financial_book(region), books.budget_book(region)
        selectors[f"{region} treasury"] = (fin, books.TREASURY)
        selectors[f"{region} receivable"] = (fin, INTER_REGION_RECEIVABLE_PREFIX)
        # The budgetary book balances in every transaction (the engine refuses it otherwise), so what its
        # 资金结存 accounts move is exactly budget revenue less budget expenditure: one selector instead of two.
        selectors[f"{region} budget"] = (budget, BUDGET_BALANCE_PREFIX)
    legs = transaction_legs(conn, selectors)
    if not legs:
        return []
    # Only payments, reimbursements and settlements clear anything between treasuries: read those transactions
    # (a bounded set, found by kind and link, never a list of every transaction id in the journal)
    special = conn.execute(
        select(T_TRANSACTIONS.c.id, T_TRANSACTIONS.c.kind, T_TRANSACTIONS.c.link_id).where(
            T_TRANSACTIONS.c.kind.in_((PAYMENT_KIND, REIMBURSEMENT_KIND))
            | (
                (T_TRANSACTIONS.c.link_type == SETTLEMENT_LINK_TYPE)
                & T_TRANSACTIONS.c.kind.startswith(SETTLEMENT_KIND_PREFIX, autoescape=True)
            )
        )
    ).all()
    settlement_of = {row.id: row.link_id for row in special if row.kind.startswith(SETTLEMENT_KIND_PREFIX)}
    advances = _advances(conn, special)
    expected: dict[tuple[str, str], int] = defaultdict(int)
    actual: dict[tuple[str, str], int] = defaultdict(int)
    for tx, groups in legs.items():
        settlement = tx in settlement_of
        unit = f"settlement {settlement_of[tx]}" if settlement else f"transaction {tx}"
        for region in regions:
            treasury = groups.get(f"{region} treasury", 0)
            budget = groups.get(f"{region} budget", 0)
            clearing = advances.get((tx, region), 0)
            if settlement:
                clearing = -groups.get(f"{region} receivable", 0)
            if treasury or budget or clearing:
                expected[(unit, region)] += treasury - clearing
                actual[(unit, region)] += budget
    return compare(
        SUBJECT_DUAL_BASIS,
        dict(expected),
        dict(actual),
        describe=lambda g: f"{g[0]} region {g[1]} {DUAL_BASIS_ACCOUNTS}",
    )


def _advances(conn: Connection, transactions) -> dict[tuple[int, str], int]:  # noqa: ANN001 - transaction rows
    """(transaction, paying region) -> the treasury outflow (negative fen) that pays another region's share, as
    stored on the payment batch lines and the 通用 redemptions the transactions link to."""
    batches = {int(row.link_id): row.id for row in transactions if row.kind == PAYMENT_KIND and _is_id(row.link_id)}
    reimbursements = {
        int(row.link_id): row.id for row in transactions if row.kind == REIMBURSEMENT_KIND and _is_id(row.link_id)
    }
    advances: dict[tuple[int, str], int] = defaultdict(int)
    if batches:
        for batch_id, region, amount, own in conn.execute(
            select(T_LINES.c.batch_id, T_BATCHES.c.region_code, T_LINES.c.amount_fen, T_LINES.c.budget_expenditure_fen)
            .join(T_BATCHES, T_BATCHES.c.id == T_LINES.c.batch_id)
            .where(T_BATCHES.c.status == "paid")
        ):
            if batch_id in batches:
                advances[(batches[batch_id], region)] -= int(amount) - int(own)
    if reimbursements:
        for redemption_id, region, claimed, own in conn.execute(
            select(
                T_REDEMPTIONS.c.id,
                T_REDEMPTIONS.c.enterprise_region,
                T_REDEMPTIONS.c.claimed_fen,
                T_REDEMPTIONS.c.enterprise_share_fen,
            ).where(T_REDEMPTIONS.c.mode == "tongyong", T_REDEMPTIONS.c.claimed_fen.is_not(None))
        ):
            if redemption_id in reimbursements:
                advances[(reimbursements[redemption_id], region)] -= int(claimed or 0) - int(own or 0)
    return dict(advances)


def _is_id(text: str | None) -> bool:
    return text is not None and text.isdigit()
