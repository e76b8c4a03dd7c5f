"""The subsidy sub-ledgers against their control accounts, read in one snapshot (issue 11).

Every subsidy table that mirrors money is added up and compared with the ledger accounts it posts to,
per book and, where the journal carries one, per program year; each difference is a ``control`` finding
naming the table, the group, the two amounts and the difference. Dual basis: every transaction that moves
a program's bank account in its financial book records the same amount in its budgetary book, on the
program year's funds (资金结存) and as budget revenue or expenditure, in that same transaction.

The pairs checked (domain rows ↔ (book, account)) are ``CONTROL_PAIRS``; docs/LEDGER_CORE.md quotes them.
A program's ``Assets:Bank`` in its financial book is taken to belong to the subsidy programs of that book.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import Connection, Engine, select

from ledger.controls import compare, pending_balances, posted_balances, posted_by, snapshot, transaction_legs
from ledger.engine import T_ACCOUNTS, T_BOOKS
from ledger.queries import Finding
from subsidies import books
from subsidies.config import ProgramConfig, parse_program
from subsidies.models import CLAWBACKS, GRANTS, PROGRAMS, YEAR_ENDS

# (domain rows, book, account path): what each comparison below proves equal.
CONTROL_PAIRS: tuple[tuple[str, str, str], ...] = (
    (
        "subsidies_grants approved, not paid (commitments), per program year",
        "<budget_book>",
        "BudgetBalance:FundsAvailable:<program>:<year> (pending credit)",
    ),
    (
        "subsidies_grants approved, not paid (commitments)",
        "<budget_book>",
        "BudgetExpenditure:Subsidies:<program> (pending debit)",
    ),
    ("subsidies_grants approved, not paid, per institution", "<financial_book>", "Liabilities:Payables:<institution>"),
    ("subsidies_grants approved or paid, per program year", "<financial_book>", "Expenses:Subsidies:<program>"),
    ("subsidies_grants ever approved (any status)", "<financial_book>", "Expenses:Subsidies:<program> (debits)"),
    ("subsidies_grants paid (payments), per program year", "<budget_book>", "BudgetExpenditure:Subsidies:<program>"),
    ("subsidies_clawbacks approved (grant amounts)", "<financial_book>", "Expenses:Subsidies:<program> (credits)"),
    (
        "subsidies_clawbacks approved of paid grants",
        "<budget_book>",
        "BudgetExpenditure:Subsidies:<program> (credits)",
    ),
    (
        "program budget per year + subsidies_year_ends carried in - swept - grants paid",
        "<budget_book>",
        "BudgetBalance:FundsAvailable:<program>:<year>",
    ),
    (
        "program budget - subsidies_year_ends recovered",
        "<budget_book>",
        "BudgetRevenue:Appropriations:<program>",
    ),
    ("program budget - subsidies_year_ends recovered", "<financial_book>", "Revenue:Appropriations:<program>"),
    (
        "program budget - subsidies_year_ends recovered - grants paid, per financial book",
        "<financial_book>",
        "Assets:Bank",
    ),
    (
        "each transaction's bank leg (dual basis)",
        "<budget_book>",
        "BudgetBalance:FundsAvailable:* and -(BudgetRevenue:Appropriations:* + BudgetExpenditure:Subsidies:*)",
    ),
)

_ACTIVE = ("approved", "paid")


def reconcile_controls(engine: Engine) -> list[Finding]:
    """Every subsidy sub-ledger against its control accounts, and the dual basis of the money it moves."""
    with snapshot(engine) as conn:
        programs = [parse_program(text) for text in conn.execute(select(PROGRAMS.c.config_text)).scalars()]
        if not programs:
            return []
        return _grant_findings(conn, programs) + _budget_findings(conn, programs) + _dual_basis_findings(conn, programs)


# ----- grants: commitments, payables, expenses, payments, clawbacks -------------------------------------------


def _grant_findings(conn: Connection, programs: list[ProgramConfig]) -> list[Finding]:
    by_code = {program.code: program for program in programs}
    reserved, reserved_by_program, payables = defaultdict(int), defaultdict(int), defaultdict(int)
    expensed, ever_approved, paid = defaultdict(int), defaultdict(int), defaultdict(int)
    for row in conn.execute(select(GRANTS)).mappings():
        program = by_code[row["program_code"]]
        year, amount = row["program_year"], int(row["amount_fen"])
        ever_approved[(program.financial_book, program.code)] += amount
        if row["status"] == "approved":
            reserved[(program.budget_book, program.code, year)] -= amount
            reserved_by_program[(program.budget_book, program.code)] += amount
            payables[(program.financial_book, row["institution_code"])] -= amount
        if row["status"] in _ACTIVE:
            expensed[(program.financial_book, program.code, year)] += amount
        if row["status"] == "paid":
            paid[(program.budget_book, program.code, year)] += amount

    clawed, clawed_paid = defaultdict(int), defaultdict(int)
    for row in conn.execute(
        select(GRANTS.c.program_code, GRANTS.c.amount_fen, GRANTS.c.payment_tx_id)
        .join(CLAWBACKS, CLAWBACKS.c.grant_id == GRANTS.c.id)
        .where(CLAWBACKS.c.status == "approved")
    ).mappings():
        program = by_code[row["program_code"]]
        clawed[(program.financial_book, program.code)] += int(row["amount_fen"])
        if row["payment_tx_id"] is not None:
            clawed_paid[(program.budget_book, program.code)] += int(row["amount_fen"])

    funds_pending, expenditure_pending, ledger_payables = {}, {}, {}
    expense_by_year, payments_by_year, expense_gross, expenditure_gross = {}, {}, {}, {}
    pending = pending_balances(conn)
    posted = posted_balances(conn)
    for program in programs:
        for year in program.years:
            path = books.funds_available_account(program.code, year)
            funds_pending[(program.budget_book, program.code, year)] = pending.get((program.budget_book, path), 0)
        expenditure = books.budget_expenditure_account(program.code)
        expense = books.expense_account(program.code)
        expenditure_pending[(program.budget_book, program.code)] = pending.get((program.budget_book, expenditure), 0)
        for year, fen in _posted_by_program_year(conn, program.financial_book, expense).items():
            expense_by_year[(program.financial_book, program.code, year)] = fen
        for year, fen in _posted_by_program_year(conn, program.budget_book, expenditure).items():
            payments_by_year[(program.budget_book, program.code, year)] = fen
        expense_gross[(program.financial_book, program.code)] = _totals(conn, program.financial_book, expense)
        expenditure_gross[(program.budget_book, program.code)] = _totals(conn, program.budget_book, expenditure)
    payable_prefix = books.payable_account("")
    for (book, path), fen in posted.items():
        if book in {program.financial_book for program in programs} and path.startswith(payable_prefix):
            ledger_payables[(book, path[len(payable_prefix) :])] = fen

    return (
        compare("subsidies_grants commitments", reserved, funds_pending, describe=_program_year)
        + compare("subsidies_grants commitments", reserved_by_program, expenditure_pending, describe=_program)
        + compare("subsidies_grants payables", payables, ledger_payables, describe=_institution)
        + compare("subsidies_grants expenses", expensed, expense_by_year, describe=_program_year)
        + compare(
            "subsidies_grants approved (gross)",
            ever_approved,
            {key: debits for key, (debits, _credits) in expense_gross.items()},
            describe=_program,
        )
        + compare("subsidies_grants payments", paid, payments_by_year, describe=_program_year)
        + compare(
            "subsidies_clawbacks",
            clawed,
            {key: credits for key, (_debits, credits) in expense_gross.items()},
            describe=_program,
        )
        + compare(
            "subsidies_clawbacks of paid grants",
            clawed_paid,
            {key: credits for key, (_debits, credits) in expenditure_gross.items()},
            describe=_program,
        )
    )


# ----- program budget, year-end carry-over and recovery, bank -----------------------------------------------------


def _budget_findings(conn: Connection, programs: list[ProgramConfig]) -> list[Finding]:
    by_code = {program.code: program for program in programs}
    funds, appropriations_budget, appropriations_revenue, bank = (defaultdict(int) for _ in range(4))
    for program in programs:
        for year in program.years:
            appropriated = program.budget.for_year(year)
            funds[(program.budget_book, program.code, year)] += appropriated
            appropriations_budget[(program.budget_book, program.code)] -= appropriated
            appropriations_revenue[(program.financial_book, program.code)] -= appropriated
            bank[(program.financial_book,)] += appropriated
    for row in conn.execute(select(YEAR_ENDS).where(YEAR_ENDS.c.amount_fen != 0)).mappings():
        program, year, amount = by_code[row["program_code"]], row["program_year"], int(row["amount_fen"])
        funds[(program.budget_book, program.code, year)] -= amount
        if row["mode"] == "carry_over":
            funds[(program.budget_book, program.code, year + 1)] += amount
        else:
            appropriations_budget[(program.budget_book, program.code)] += amount
            appropriations_revenue[(program.financial_book, program.code)] += amount
            bank[(program.financial_book,)] -= amount
    for row in conn.execute(select(GRANTS).where(GRANTS.c.status == "paid")).mappings():
        program, amount = by_code[row["program_code"]], int(row["amount_fen"])
        funds[(program.budget_book, program.code, row["program_year"])] -= amount
        bank[(program.financial_book,)] -= amount

    posted = posted_balances(conn)
    ledger_funds, ledger_budget, ledger_revenue, ledger_bank = {}, {}, {}, {}
    for program in programs:
        for year in program.years:
            path = books.funds_available_account(program.code, year)
            ledger_funds[(program.budget_book, program.code, year)] = posted.get((program.budget_book, path), 0)
        ledger_budget[(program.budget_book, program.code)] = posted.get(
            (program.budget_book, books.appropriation_budget_account(program.code)), 0
        )
        ledger_revenue[(program.financial_book, program.code)] = posted.get(
            (program.financial_book, books.appropriation_revenue_account(program.code)), 0
        )
        ledger_bank[(program.financial_book,)] = posted.get((program.financial_book, books.BANK), 0)
    return (
        compare("program budget and subsidies_year_ends", funds, ledger_funds, describe=_program_year)
        + compare("program appropriations", appropriations_budget, ledger_budget, describe=_program)
        + compare("program appropriations", appropriations_revenue, ledger_revenue, describe=_program)
        + compare("program bank", bank, ledger_bank, describe=lambda key: f"{key[0]} {books.BANK}")
    )


# ----- dual basis -------------------------------------------------------------------------------------------------


def _dual_basis_findings(conn: Connection, programs: list[ProgramConfig]) -> list[Finding]:
    """Per transaction on these accounts: bank leg = funds leg = -(budget revenue + budget expenditure).

    So cash never moves without its budgetary entry, and a budgetary entry never lacks its cash."""
    selectors: dict[str, tuple[str, str]] = {}
    for financial_book in sorted({program.financial_book for program in programs}):
        selectors[f"bank@{financial_book}"] = (financial_book, books.BANK)
    for budget_book in sorted({program.budget_book for program in programs}):
        selectors[f"funds@{budget_book}"] = (budget_book, "BudgetBalance:FundsAvailable")
        selectors[f"revenue@{budget_book}"] = (budget_book, "BudgetRevenue:Appropriations")
        selectors[f"expenditure@{budget_book}"] = (budget_book, "BudgetExpenditure:Subsidies")
    findings = []
    for transaction_id, legs in sorted(transaction_legs(conn, selectors).items()):
        # A carry-over moves funds between years and no cash: all three sums are zero and agree.
        bank = _sum(legs, "bank@")
        funds = _sum(legs, "funds@")
        budget_entry = -(_sum(legs, "revenue@") + _sum(legs, "expenditure@"))
        for label, have in (("BudgetBalance:FundsAvailable", funds), ("BudgetRevenue/BudgetExpenditure", budget_entry)):
            if have != bank:
                findings += compare(
                    "dual basis of transaction",
                    {transaction_id: bank},
                    {transaction_id: have},
                    describe=lambda tx, label=label: f"{tx}: bank leg against {label}",
                )
    return findings


# ----- helpers ----------------------------------------------------------------------------------------------------


def _posted_by_program_year(conn: Connection, book: str, path: str) -> dict[int | None, int]:
    """Posted debit-positive fen on one account, per program year of the transactions that posted it."""
    by_year = posted_by(conn, books=[book], path=path, by_program_year=True)
    return {year: fen for (_book, _path, year), fen in by_year.items()}


def _totals(conn: Connection, book: str, path: str) -> tuple[int, int]:
    """Posted debits and credits of one account (gross), from the cached totals."""
    row = conn.execute(
        select(T_ACCOUNTS.c.debits_posted, T_ACCOUNTS.c.credits_posted)
        .join(T_BOOKS, T_BOOKS.c.id == T_ACCOUNTS.c.book_id)
        .where(T_BOOKS.c.code == book, T_ACCOUNTS.c.path == path)
    ).first()
    return (0, 0) if row is None else (int(row[0]), int(row[1]))


def _sum(legs: dict[str, int], prefix: str) -> int:
    return sum(fen for name, fen in legs.items() if name.startswith(prefix))


def _program_year(key: Iterable) -> str:
    book, program, year = key
    return f"{book} {program} {year}"


def _program(key: Iterable) -> str:
    book, program = key
    return f"{book} {program}"


def _institution(key: Iterable) -> str:
    book, institution = key
    return f"{book} {books.payable_account(institution)}"
