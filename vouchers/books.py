"""Where every voucher movement is booked. Each region is its own accounting entity with three books:

- budgetary (预算会计): program appropriation and budget balance;
- financial (财务会计): voucher expense, payables to providers (or to enterprises under 通用) and the
  inter-region receivables and payables (往来);
- memo: commitments that are not liabilities: the program's grantable budget and each enterprise's quota.
  The flags on the memo accounts make "grant beyond the budget" and "reserve beyond the quota" impossible,
  under any concurrency, because the engine checks them under its account locks.
"""

from __future__ import annotations

from sqlalchemy import Connection, select

from ledger import schema
from ledger.engine import Ledger

LEDGER_SOURCE = "vouchers"
T_ACCOUNTS = schema.Account.__table__
T_BOOKS = schema.Book.__table__


def budget_book(region: str) -> str:
    return f"vouchers-{region}-budget"


def financial_book(region: str) -> str:
    return f"vouchers-{region}-financial"


def memo_book(region: str) -> str:
    return f"vouchers-{region}-memo"


# financial book -----------------------------------------------------------------------------------
TREASURY = "Assets:Treasury"  # 国库 / 零余额账户用款额度


def appropriation_revenue(program: str) -> str:
    return f"Revenue:Appropriation:{program}"


def voucher_expense(program: str) -> str:
    return f"Expenses:Vouchers:{program}"


def inter_region_expense(other_region: str) -> str:
    """This region's share of vouchers issued by another region and redeemed here (or the reverse)."""
    return f"Expenses:Vouchers:InterRegion:{other_region}"


def payable_to(payee: str) -> str:
    return f"Liabilities:Payables:{payee}"


def receivable_from_region(other_region: str) -> str:
    return f"Assets:Receivable:InterRegion:{other_region}"


def payable_to_region(other_region: str) -> str:
    return f"Liabilities:Payable:InterRegion:{other_region}"


# budgetary book -----------------------------------------------------------------------------------
def budget_funds_held(program: str) -> str:
    return f"BudgetBalance:FundsHeld:{program}"  # 资金结存


def budget_appropriation(program: str) -> str:
    return f"BudgetRevenue:Appropriation:{program}"  # 财政拨款预算收入


def budget_voucher_expenditure(program: str) -> str:
    """Budget execution (预算支出) of a program: recorded when the treasury pays, not when the claim is booked."""
    return f"BudgetExpenditure:Vouchers:{program}"


def budget_inter_region_expenditure(issuing_region: str) -> str:
    """This region's own share of vouchers issued by another region and paid out here (通兑)."""
    return f"BudgetExpenditure:Vouchers:InterRegion:{issuing_region}"


def budget_inter_region_funds_held(issuing_region: str) -> str:
    """资金结存 drawn by this region's share of another region's vouchers. No program appropriates to it here,
    so its balance shows the cross-region share spent beyond this region's voucher appropriations."""
    return f"BudgetBalance:FundsHeld:InterRegion:{issuing_region}"


# memo book ----------------------------------------------------------------------------------------
def program_authority(program: str) -> str:
    """Debit side of the program's memo budget: the appropriation the memo budget stands for."""
    return f"Memo:Program:{program}:Authority"


def program_grantable(program: str) -> str:
    """Budget not yet granted as quota. Credit-normal, must never go below zero."""
    return f"Memo:Program:{program}:Grantable"


def enterprise_quota(program: str, enterprise: str) -> str:
    """An enterprise's quota in one program (one region, one year): credits = granted; debits = used or
    expired; pending debits = reserved. Debits may never exceed credits."""
    return f"Memo:Quota:{program}:{enterprise}"


def enterprise_quota_used(program: str, enterprise: str) -> str:
    return f"Memo:QuotaUsed:{program}:{enterprise}"


def create_region_books(ledger: Ledger, region: str, name: str, *, conn: Connection) -> None:
    ledger.create_book(budget_book(region), f"{name} 创新券 预算会计", "budgetary", entity_code=region, conn=conn)
    ledger.create_book(financial_book(region), f"{name} 创新券 财务会计", "financial", entity_code=region, conn=conn)
    ledger.create_book(memo_book(region), f"{name} 创新券 备查簿", "memo", entity_code=region, conn=conn)
    ledger.create_account(financial_book(region), TREASURY, exist_ok=True, conn=conn)


def create_program_accounts(
    ledger: Ledger, region: str, program: str, *, conn: Connection, cap_enforcement: str = "stop"
) -> None:
    """The program's accounts. Under ``warn`` the grantable budget carries no overdraft flag (DESIGN "Domain
    rules"): a grant beyond it is booked and flagged, and the negative balance shows how far beyond."""
    fin, budget, memo = financial_book(region), budget_book(region), memo_book(region)
    ledger.create_account(fin, appropriation_revenue(program), exist_ok=True, conn=conn)
    ledger.create_account(fin, voucher_expense(program), exist_ok=True, conn=conn)
    ledger.create_account(budget, budget_funds_held(program), exist_ok=True, conn=conn)
    ledger.create_account(budget, budget_appropriation(program), exist_ok=True, conn=conn)
    ledger.create_account(memo, program_authority(program), normal_side="debit", exist_ok=True, conn=conn)
    ledger.create_account(
        memo,
        program_grantable(program),
        normal_side="credit",
        debits_must_not_exceed_credits=cap_enforcement != "warn",
        exist_ok=True,
        conn=conn,
    )


def create_quota_accounts(ledger: Ledger, region: str, program: str, enterprise: str, *, conn: Connection) -> None:
    memo = memo_book(region)
    ledger.create_account(
        memo,
        enterprise_quota(program, enterprise),
        normal_side="credit",
        debits_must_not_exceed_credits=True,
        owner_code=enterprise,
        exist_ok=True,
        conn=conn,
    )
    ledger.create_account(
        memo,
        enterprise_quota_used(program, enterprise),
        normal_side="credit",
        owner_code=enterprise,
        exist_ok=True,
        conn=conn,
    )


def create_cross_region_accounts(ledger: Ledger, region: str, other: str, *, conn: Connection) -> None:
    fin = financial_book(region)
    for path in (receivable_from_region(other), payable_to_region(other), inter_region_expense(other)):
        ledger.create_account(fin, path, exist_ok=True, conn=conn)


def account_state(conn: Connection, book: str, path: str) -> dict:
    """The cached counters of one account, read inside the caller's unit of work (sees its own writes)."""
    row = (
        conn.execute(
            select(
                T_ACCOUNTS.c.debits_posted,
                T_ACCOUNTS.c.credits_posted,
                T_ACCOUNTS.c.debits_pending,
                T_ACCOUNTS.c.credits_pending,
            )
            .join(T_BOOKS, T_BOOKS.c.id == T_ACCOUNTS.c.book_id)
            .where(T_BOOKS.c.code == book, T_ACCOUNTS.c.path == path)
        )
        .mappings()
        .first()
    )
    return dict(row) if row else {"debits_posted": 0, "credits_posted": 0, "debits_pending": 0, "credits_pending": 0}


def credit_room(conn: Connection, book: str, path: str) -> int:
    """Credits not yet consumed by posted or pending debits: what a debits-must-not-exceed-credits account allows."""
    state = account_state(conn, book, path)
    return state["credits_posted"] - state["debits_posted"] - state["debits_pending"]


def lock_account(conn: Connection, book: str, path: str) -> None:
    """PostgreSQL row lock on one account for the rest of the unit of work (the engine re-locks it in order)."""
    book_id = select(T_BOOKS.c.id).where(T_BOOKS.c.code == book).scalar_subquery()
    conn.execute(
        select(T_ACCOUNTS.c.id).where(T_ACCOUNTS.c.book_id == book_id, T_ACCOUNTS.c.path == path).with_for_update()
    )
