"""The finance office's two books for a program, and the postings that install its annual budget.

Budgetary book (预算会计, one per finance office, shared by its programs):
- ``BudgetRevenue:Appropriations:<program>``            budget appropriated (财政拨款预算收入)
- ``BudgetBalance:FundsAvailable:<program>:<year>``     funds on hand for the program year (资金结存):
  debited by the appropriation, credited by grants. Under a ``stop`` or ``clip`` budget it carries
  ``credits_must_not_exceed_debits``, so the engine's sorted account locks refuse any overdraft even if a
  caller skipped the cap check; under ``warn`` it carries no flag (DESIGN.md, Domain rules).
- ``BudgetExpenditure:Subsidies:<program>``             budget spent on grants
Financial book (财务会计): ``Revenue:Appropriations:<program>``, ``Expenses:Subsidies:<program>``,
``Liabilities:Payables:<统一社会信用代码>``, ``Assets:Bank``.

A grant moves budget -> payable -> paid: approval reserves the budget (a pending transaction, so it counts
against the flag at once) and accrues the payable; payment posts the reservation and pays the payable.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Connection

from ledger.engine import Ledger, posting_specs
from ledger.entries import Audit, TransactionRequest
from ledger.money import format_fen
from subsidies.config import ProgramConfig

SOURCE = "subsidies"
BANK = "Assets:Bank"
# The journal keeps at most 200 characters of an approval document reference.
APPROVAL_DOC_MAX_LENGTH = 200


def appropriation_budget_account(program: str) -> str:
    return f"BudgetRevenue:Appropriations:{program}"


def funds_available_account(program: str, year: int) -> str:
    return f"BudgetBalance:FundsAvailable:{program}:{year}"


def budget_expenditure_account(program: str) -> str:
    return f"BudgetExpenditure:Subsidies:{program}"


def appropriation_revenue_account(program: str) -> str:
    return f"Revenue:Appropriations:{program}"


def expense_account(program: str) -> str:
    return f"Expenses:Subsidies:{program}"


def payable_account(institution_code: str) -> str:
    return f"Liabilities:Payables:{institution_code}"


def _citation(program: ProgramConfig) -> str:
    source = program.budget.source
    return f"{source.document} {source.article}"[:APPROVAL_DOC_MAX_LENGTH]


def create_program_accounts(ledger: Ledger, program: ProgramConfig, conn: Connection) -> None:
    ledger.create_book(program.budget_book, f"{program.region} finance office (budgetary)", "budgetary", conn=conn)
    ledger.create_book(program.financial_book, f"{program.region} finance office (financial)", "financial", conn=conn)
    guarded = program.budget.enforcement != "warn"
    for path in (appropriation_budget_account(program.code), budget_expenditure_account(program.code)):
        ledger.create_account(program.budget_book, path, exist_ok=True, conn=conn)
    for year in program.years:
        ledger.create_account(
            program.budget_book,
            funds_available_account(program.code, year),
            credits_must_not_exceed_debits=guarded,
            metadata={"program": program.code, "year": year, "enforcement": program.budget.enforcement},
            exist_ok=True,
            conn=conn,
        )
    for path in (appropriation_revenue_account(program.code), expense_account(program.code), BANK):
        ledger.create_account(program.financial_book, path, exist_ok=True, conn=conn)


def appropriate_year(ledger: Ledger, program: ProgramConfig, year: int, actor: str, conn: Connection) -> None:
    """Post the configured budget of one program year in both books (idempotent by its client id)."""
    amount = format_fen(program.budget.for_year(year))
    postings = posting_specs(
        program.budget_book,
        [
            (funds_available_account(program.code, year), amount),
            (appropriation_budget_account(program.code), "-" + amount),
        ],
    ) + posting_specs(
        program.financial_book, [(BANK, amount), (appropriation_revenue_account(program.code), "-" + amount)]
    )
    ledger.post(
        TransactionRequest(
            client_id=f"{program.code}:appropriation:{year}",
            postings=postings,
            effective_date=date(year, 1, 1),
            source=SOURCE,
            kind="subsidy_appropriation",
            memo=f"{program.name} {year} budget",
            audit=Audit(actor=actor, approval_doc=_citation(program)),
            program_year=year,
            link_type="subsidy_program",
            link_id=program.code,
        ),
        conn=conn,
    )
