"""Sub-ledgers of the funds package against their control accounts, read in one snapshot.

Every domain table that mirrors money is added up and compared with the ledger accounts it posts to (per
book and, where the journal carries one, per program year); a difference is a ``control`` finding naming
the table, the group, the two amounts and the difference. Dual basis: every transaction that moves a
guidance fund's or a pool's cash in its financial book carries the same amount in its budgetary book's
``BudgetBalance:Funds`` (资金结存), and the two balances agree.

The pairs checked (domain rows ↔ (book, account)) are listed in ``CONTROL_PAIRS``; docs/LEDGER_CORE.md
quotes them.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import Connection, Engine, select

from funds.common import BUDGET_CASH, budget_book
from funds.guidance import (
    T_CALL_ITEMS,
    T_CALL_PAYMENTS,
    T_CALLS,
    T_COMMITMENTS,
    T_DISTRIBUTION_PARTS,
    T_DISTRIBUTIONS,
    T_EXITS,
    T_FEES,
    T_GUIDANCE,
    T_INVESTMENTS,
    T_SUBFUNDS,
    gf_book,
)
from funds.pools import (
    POOL_CASH,
    T_CLAIMS,
    T_CONTRIBUTIONS,
    T_LOANS,
    T_PAYMENT_PARTS,
    T_PAYMENTS,
    T_POOLS,
    T_RECOVERIES,
    T_RECOVERY_PARTS,
    financial_book,
    memo_book,
)
from ledger.controls import compare, posted_balances, posted_by, snapshot, transaction_legs
from ledger.queries import Finding

GF_CASH = "Assets:Bank"

# (domain rows, book, account path): what each comparison below proves equal.
CONTROL_PAIRS: tuple[tuple[str, str, str], ...] = (
    ("funds_commitments approved, per investor", "sf:<sf>:memo", "Memo:Committed:<investor>"),
    ("funds_commitments approved guidance", "gf:<gf>:memo", "Memo:Commitments:<sf>"),
    ("funds_call_items of approved/paid calls, per investor", "sf:<sf>:memo", "Memo:Called:<investor>"),
    ("commitments - call items + recallable capital parts", "sf:<sf>:memo", "Memo:Unfunded:<investor>"),
    ("funds_distribution_parts capital of recallable distributions", "sf:<sf>:memo", "Memo:Recallable:<investor>"),
    ("funds_call_payments, per investor", "sf:<sf>", "NetAssets:PaidIn:<investor>"),
    ("funds_call_items.paid_fen, per investor", "sf:<sf>", "NetAssets:PaidIn:<investor>"),
    ("guidance call payments - guidance capital parts", "gf:<gf>", "Assets:Investments:SubFunds:<sf>"),
    ("funds_investments amount - exited_cost, per enterprise", "sf:<sf>", "Assets:EquityInvestments:<enterprise>"),
    ("funds_investments amount - funds_investment_exits cost", "sf:<sf>", "Assets:EquityInvestments:<enterprise>"),
    ("funds_distribution_parts capital, per investor", "sf:<sf>", "NetAssets:ReturnedCapital:<investor>"),
    ("funds_distribution_parts income, per investor", "sf:<sf>", "NetAssets:DistributedIncome:<investor>"),
    ("funds_distributions approved capital + income", "sf:<sf>", "NetAssets:ReturnedCapital:* + DistributedIncome:*"),
    ("guidance distribution income parts", "gf:<gf>", "Revenue:DistributionIncome:<sf>"),
    ("funds_fee_accruals", "sf:<sf>", "Expenses:ManagementFees"),
    ("funds_pool_contributions, per funder and program year", "pool:<p>", "NetAssets:Contributions:<funder>"),
    ("funds_claim_payment_parts, per funder and program year", "pool:<p>", "Expenses:Compensation:<funder>"),
    ("funds_claim_payments, per program year", "pool:<p>", "Expenses:Compensation:*"),
    ("funds_claims.paid_fen, per program year", "pool:<p>", "Expenses:Compensation:*"),
    ("funds_recovery_parts, per funder and program year", "pool:<p>", "Revenue:Recoveries:<funder>"),
    ("funds_recoveries.returned_fen, per program year", "pool:<p>", "Revenue:Recoveries:*"),
    ("funds_claims.recovered_fen, per program year", "pool:<p>", "Revenue:Recoveries:*"),
    ("contributions - payments + recoveries", "pool:<p>", "Assets:Bank:Pool"),
    ("funds_loans.covered_fen not revoked, per bank", "pool:<p>:memo", "Memo:FiledLoans:<bank>"),
    ("each transaction's cash leg (dual basis)", "gf:<gf>:budget / pool:<p>:budget", "BudgetBalance:Funds"),
    ("Assets:Bank / Assets:Bank:Pool balance", "gf:<gf>:budget / pool:<p>:budget", "BudgetBalance:Funds"),
)


def reconcile_controls(engine: Engine) -> list[Finding]:
    """Every funds sub-ledger against its control accounts, and the dual basis of public money."""
    with snapshot(engine) as conn:
        return _guidance_findings(conn) + _pool_findings(conn) + _dual_basis_findings(conn)


# ----- guidance funds and sub-funds -------------------------------------------------------------------------


def _guidance_findings(conn: Connection) -> list[Finding]:
    subfunds = {
        row.id: (row.code, row.guidance_code)
        for row in conn.execute(
            select(T_SUBFUNDS.c.id, T_SUBFUNDS.c.code, T_GUIDANCE.c.code.label("guidance_code")).join(
                T_GUIDANCE, T_GUIDANCE.c.id == T_SUBFUNDS.c.guidance_fund_id
            )
        )
    }
    guidance_codes = {guidance for _, guidance in subfunds.values()}
    sf_memo = _by_path(posted_balances(conn, prefix="Memo"), lambda book: book.endswith(":memo") and book[:3] == "sf:")
    sf_fin = _by_path(posted_balances(conn), lambda book: book.startswith("sf:") and not book.endswith(":memo"))

    committed, guidance_committed = defaultdict(int), defaultdict(int)
    for row in conn.execute(select(T_COMMITMENTS).where(T_COMMITMENTS.c.status == "approved")):
        code, guidance = subfunds[row.subfund_id]
        committed[(code, row.investor_code)] += row.amount_fen
        if row.is_guidance:
            guidance_committed[(guidance, code)] += row.amount_fen

    called, paid_items = defaultdict(int), defaultdict(int)
    for row in conn.execute(
        select(T_CALLS.c.subfund_id, T_CALL_ITEMS.c.investor_code, T_CALL_ITEMS.c.amount_fen, T_CALL_ITEMS.c.paid_fen)
        .join(T_CALLS, T_CALLS.c.id == T_CALL_ITEMS.c.call_id)
        .where(T_CALLS.c.status.in_(("approved", "paid")))
    ):
        called[(subfunds[row.subfund_id][0], row.investor_code)] += row.amount_fen
        paid_items[(subfunds[row.subfund_id][0], row.investor_code)] += row.paid_fen

    paid = defaultdict(int)
    for row in conn.execute(
        select(T_CALLS.c.subfund_id, T_CALL_ITEMS.c.investor_code, T_CALL_PAYMENTS.c.amount_fen)
        .join(T_CALL_ITEMS, T_CALL_ITEMS.c.id == T_CALL_PAYMENTS.c.call_item_id)
        .join(T_CALLS, T_CALLS.c.id == T_CALL_ITEMS.c.call_id)
    ):
        paid[(subfunds[row.subfund_id][0], row.investor_code)] += row.amount_fen

    capital, income, recallable, headers = defaultdict(int), defaultdict(int), defaultdict(int), defaultdict(int)
    for row in conn.execute(
        select(
            T_DISTRIBUTIONS.c.subfund_id,
            T_DISTRIBUTIONS.c.recallable,
            T_DISTRIBUTION_PARTS.c.investor_code,
            T_DISTRIBUTION_PARTS.c.capital_fen,
            T_DISTRIBUTION_PARTS.c.income_fen,
        )
        .join(T_DISTRIBUTIONS, T_DISTRIBUTIONS.c.id == T_DISTRIBUTION_PARTS.c.distribution_id)
        .where(T_DISTRIBUTIONS.c.status == "approved")
    ):
        key = (subfunds[row.subfund_id][0], row.investor_code)
        capital[key] += row.capital_fen
        income[key] += row.income_fen
        if row.recallable:
            recallable[key] += row.capital_fen
    for row in conn.execute(select(T_DISTRIBUTIONS).where(T_DISTRIBUTIONS.c.status == "approved")):
        headers[subfunds[row.subfund_id][0]] += row.capital_fen + row.income_fen

    held, held_by_exits = defaultdict(int), defaultdict(int)
    exits_by_investment = defaultdict(int)
    for row in conn.execute(select(T_EXITS.c.investment_id, T_EXITS.c.cost_fen)):
        exits_by_investment[row.investment_id] += row.cost_fen
    for row in conn.execute(select(T_INVESTMENTS)):
        key = (subfunds[row.subfund_id][0], row.enterprise_code)
        held[key] += row.amount_fen - row.exited_cost_fen
        held_by_exits[key] += row.amount_fen - exits_by_investment[row.id]

    fees = defaultdict(int)
    for row in conn.execute(select(T_FEES.c.subfund_id, T_FEES.c.amount_fen)):
        fees[subfunds[row.subfund_id][0]] += row.amount_fen

    unfunded = defaultdict(int)
    for key in set(committed) | set(called) | set(recallable):
        unfunded[key] = committed[key] - called[key] + recallable[key]

    guidance_paid, guidance_capital, guidance_income = defaultdict(int), defaultdict(int), defaultdict(int)
    for code, guidance in subfunds.values():
        guidance_paid[(guidance, code)] = paid.get((code, guidance), 0) - capital.get((code, guidance), 0)
        guidance_income[(guidance, code)] = income.get((code, guidance), 0)
        guidance_capital[(guidance, code)] = capital.get((code, guidance), 0)

    gf_memo = posted_balances(conn, prefix="Memo:Commitments")
    gf_fin = posted_balances(conn)

    def gf_ledger(path_prefix: str, sign: int) -> dict:
        totals = defaultdict(int)
        for (book, path), fen in gf_fin.items():
            if book in {gf_book(g) for g in guidance_codes} and path.startswith(path_prefix + ":"):
                totals[(book[3:], path[len(path_prefix) + 1 :])] += sign * fen
        return totals

    pairs = [
        ("funds_commitments", committed, _accounts(sf_memo, "Memo:Committed", -1)),
        ("funds_call_items", called, _accounts(sf_memo, "Memo:Called", 1)),
        ("funds_commitments - funds_call_items + recallable", unfunded, _accounts(sf_memo, "Memo:Unfunded", 1)),
        ("funds_distribution_parts recallable", recallable, _accounts(sf_memo, "Memo:Recallable", -1)),
        ("funds_call_payments", paid, _accounts(sf_fin, "NetAssets:PaidIn", -1)),
        ("funds_call_items paid", paid_items, _accounts(sf_fin, "NetAssets:PaidIn", -1)),
        ("funds_investments", held, _accounts(sf_fin, "Assets:EquityInvestments", 1)),
        ("funds_investment_exits", held_by_exits, _accounts(sf_fin, "Assets:EquityInvestments", 1)),
        ("funds_distribution_parts capital", capital, _accounts(sf_fin, "NetAssets:ReturnedCapital", 1)),
        ("funds_distribution_parts income", income, _accounts(sf_fin, "NetAssets:DistributedIncome", 1)),
        (
            "funds_distributions",
            headers,
            _totals(sf_fin, ("NetAssets:ReturnedCapital", "NetAssets:DistributedIncome"), 1),
        ),
        ("funds_fee_accruals", fees, _totals(sf_fin, ("Expenses:ManagementFees",), 1)),
        (
            "funds_commitments guidance",
            guidance_committed,
            {(book[3:-5], path.split(":", 2)[2]): fen for (book, path), fen in gf_memo.items()},
        ),
        (
            "funds_call_payments guidance net of capital returned",
            guidance_paid,
            gf_ledger("Assets:Investments:SubFunds", 1),
        ),
        ("funds_distribution_parts guidance income", guidance_income, gf_ledger("Revenue:DistributionIncome", -1)),
    ]
    findings = []
    for subject, expected, actual in pairs:
        findings += compare(subject, _nonzero(expected), _nonzero(actual), describe=_describe)
    return findings


def _by_path(balances: dict, keep) -> dict:  # noqa: ANN001 - keep: a predicate on the book code
    return {(book, path): fen for (book, path), fen in balances.items() if keep(book)}


def _accounts(balances: dict, prefix: str, sign: int) -> dict:
    """{(sub-fund code, last segment): sign x balance} of the accounts under ``prefix`` in sub-fund books."""
    totals = defaultdict(int)
    for (book, path), fen in balances.items():
        if path.startswith(prefix + ":"):
            totals[(_subfund_of(book), path[len(prefix) + 1 :])] += sign * fen
    return totals


def _totals(balances: dict, prefixes: tuple[str, ...], sign: int) -> dict:
    totals = defaultdict(int)
    for (book, path), fen in balances.items():
        if any(path == prefix or path.startswith(prefix + ":") for prefix in prefixes):
            totals[_subfund_of(book)] += sign * fen
    return totals


def _subfund_of(book: str) -> str:
    return book.removeprefix("sf:").removesuffix(":memo")


def _nonzero(totals: dict) -> dict:
    return {key: fen for key, fen in totals.items() if fen}


def _describe(group) -> str:  # noqa: ANN001 - a str or a tuple of str/int
    return "/".join(str(part) for part in group) if isinstance(group, tuple) else str(group)


# ----- risk-compensation pools ------------------------------------------------------------------------------


def _pool_findings(conn: Connection) -> list[Finding]:
    pools = {row.id: row.code for row in conn.execute(select(T_POOLS.c.id, T_POOLS.c.code))}
    claims = {row.id: row for row in conn.execute(select(T_CLAIMS))}

    contributions = defaultdict(int)
    for row in conn.execute(select(T_CONTRIBUTIONS)):
        contributions[(pools[row.pool_id], row.funder_code, row.program_year)] += row.amount_fen
    payment_parts, recovery_parts = defaultdict(int), defaultdict(int)
    for row in conn.execute(select(T_PAYMENT_PARTS)):
        claim = claims[row.claim_id]
        payment_parts[(pools[claim.pool_id], row.funder_code, claim.program_year)] += row.amount_fen
    for row in conn.execute(select(T_RECOVERY_PARTS)):
        claim = claims[row.claim_id]
        recovery_parts[(pools[claim.pool_id], row.funder_code, claim.program_year)] += row.amount_fen
    payments, recoveries = defaultdict(int), defaultdict(int)
    for row in conn.execute(select(T_PAYMENTS.c.claim_id, T_PAYMENTS.c.amount_fen)):
        claim = claims[row.claim_id]
        payments[(pools[claim.pool_id], claim.program_year)] += row.amount_fen
    for row in conn.execute(select(T_RECOVERIES.c.claim_id, T_RECOVERIES.c.returned_fen)):
        claim = claims[row.claim_id]
        recoveries[(pools[claim.pool_id], claim.program_year)] += row.returned_fen
    claims_paid, claims_recovered = defaultdict(int), defaultdict(int)
    for claim in claims.values():
        claims_paid[(pools[claim.pool_id], claim.program_year)] += claim.paid_fen
        claims_recovered[(pools[claim.pool_id], claim.program_year)] += claim.recovered_fen
    cash = defaultdict(int)
    for (pool, _funder, _year), fen in contributions.items():
        cash[pool] += fen
    for (pool, _year), fen in payments.items():
        cash[pool] -= fen
    for (pool, _year), fen in recoveries.items():
        cash[pool] += fen
    filed = defaultdict(int)
    for row in conn.execute(select(T_LOANS).where(T_LOANS.c.status != "revoked")):
        filed[(pools[row.pool_id], row.bank_code)] += row.covered_fen

    pool_books = {financial_book(code): code for code in pools.values()}
    by_year = _pool_ledger_by_year(conn, pool_books)
    balances = posted_balances(conn)

    def per_funder(prefix: str, sign: int) -> dict:
        return {
            (pool, path[len(prefix) + 1 :], year): sign * fen
            for (pool, path, year), fen in by_year.items()
            if path.startswith(prefix + ":")
        }

    def per_year(prefix: str, sign: int) -> dict:
        totals = defaultdict(int)
        for (pool, path, year), fen in by_year.items():
            if path.startswith(prefix + ":"):
                totals[(pool, year)] += sign * fen
        return totals

    ledger_cash = {code: balances.get((book, POOL_CASH), 0) for book, code in pool_books.items()}
    ledger_filed = {
        (book.removeprefix("pool:").removesuffix(":memo"), path.removeprefix("Memo:FiledLoans:")): fen
        for (book, path), fen in balances.items()
        if book in {memo_book(code) for code in pools.values()} and path.startswith("Memo:FiledLoans:")
    }
    pairs = [
        ("funds_pool_contributions", contributions, per_funder("NetAssets:Contributions", -1)),
        ("funds_claim_payment_parts", payment_parts, per_funder("Expenses:Compensation", 1)),
        ("funds_claim_payments", payments, per_year("Expenses:Compensation", 1)),
        ("funds_claims paid", claims_paid, per_year("Expenses:Compensation", 1)),
        ("funds_recovery_parts", recovery_parts, per_funder("Revenue:Recoveries", -1)),
        ("funds_recoveries", recoveries, per_year("Revenue:Recoveries", -1)),
        ("funds_claims recovered", claims_recovered, per_year("Revenue:Recoveries", -1)),
        ("pool cash (contributions - payouts + recoveries)", cash, ledger_cash),
        ("funds_loans covered", filed, ledger_filed),
    ]
    findings = []
    for subject, expected, actual in pairs:
        findings += compare(subject, _nonzero(expected), _nonzero(actual), describe=_describe)
    return findings


def _pool_ledger_by_year(conn: Connection, pool_books: dict[str, str]) -> dict[tuple[str, str, int], int]:
    """Posted amount per (pool, account path, program year) in the pools' financial books."""
    if not pool_books:
        return {}
    by_year = posted_by(conn, books=pool_books, by_program_year=True)
    return {(pool_books[book], path, year): fen for (book, path, year), fen in by_year.items()}


# ----- dual basis -------------------------------------------------------------------------------------------


def _dual_basis_findings(conn: Connection) -> list[Finding]:
    """Each transaction moving public cash has its budgetary entry in the same transaction, same amount."""
    books = [gf_book(row.code) for row in conn.execute(select(T_GUIDANCE.c.code))]
    books += [financial_book(row.code) for row in conn.execute(select(T_POOLS.c.code))]
    findings = []
    balances = posted_balances(conn)
    for book in books:
        cash_path = POOL_CASH if book.startswith("pool:") else GF_CASH
        legs = transaction_legs(conn, {"cash": (book, cash_path), "budget": (budget_book(book), BUDGET_CASH)})
        expected = {tx: groups.get("cash", 0) for tx, groups in legs.items()}
        actual = {tx: groups.get("budget", 0) for tx, groups in legs.items()}
        findings += compare(
            f"dual basis {book} transaction", expected, actual, describe=lambda tx, path=cash_path: f"{tx} ({path})"
        )
        findings += compare(
            f"dual basis {book}",
            {cash_path: balances.get((book, cash_path), 0)},
            {cash_path: balances.get((budget_book(book), BUDGET_CASH), 0)},
        )
    return findings


__all__ = ["CONTROL_PAIRS", "reconcile_controls"]
