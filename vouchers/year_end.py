"""Year-end close of a voucher program (结转 / 收回): once a program is over, the budget it did not spend is
carried over into a later program of the same region or recovered by the treasury, as the program is
configured (``ProgramConfig.year_end``, default ``recover``).

A program is over when its redeem-by date has passed: every quota has expired back to the budget (use-by) and
every reservation still open was voided (redeem-by); both are done here first through ``vouchers.expiry``, in
its own unit of work, in case the daily expiry job has not run. It is ready to close when, beyond that, every
claim on it is paid (providers' batches, 通用 reimbursements) and every cross-region claim is settled: until
then part of what the books show as unspent is still owed, and the close is refused with
``voucher_program_not_ready_to_close`` naming what waits.

What is swept, in one transaction with the program's close record (so a crash leaves neither):

- budgetary book: the program's 资金结存 (``BudgetBalance:FundsHeld:<program>``): appropriation less the budget
  expenditure charged to it. Under 通兑 another region's share of a cross-region claim is that region's budget
  expenditure, so this can exceed the memo figure below;
- memo book: the grantable budget left (``Memo:Program:<program>:Grantable``, quota returned at use-by included),
  closed against the program's authority;
- carry_over: both move to the receiving program (its 资金结存, and its grantable budget: it may grant them);
  recover: the appropriation is reduced in both bases (budget revenue and revenue) and the treasury gives the
  money back, so the financial and budgetary books agree (dual basis).

A program closes once: a second close returns the stored result and posts nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy import Connection, func, select
from sqlalchemy.exc import IntegrityError
from sqlmodel.sql.sqltypes import UTCDateTime

from ledger.engine import Ledger, posting_specs_fen
from ledger.entries import Audit, TransactionRequest
from ledger.errors import LedgerError
from ledger.money import format_fen
from vouchers import books
from vouchers.config import ProgramConfig
from vouchers.expiry import run_expiry
from vouchers.models import VoucherPaymentBatch, VoucherPaymentLine, VoucherProgram, VoucherRedemption
from vouchers.programs import load_program, record_event

T_PROGRAMS = VoucherProgram.__table__
T_REDEMPTIONS = VoucherRedemption.__table__
T_LINES = VoucherPaymentLine.__table__
T_BATCHES = VoucherPaymentBatch.__table__
YEAR_END_ACTOR = "system:voucher-year-end"
YEAR_END_KIND_PREFIX = "voucher_year_end_"  # + recover | carry_over

_metadata = sa.MetaData()
# One row per closed program (created by vouchers/migrations v0007).
T_YEAR_ENDS = sa.Table(
    "vouchers_year_ends",
    _metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("program_code", sa.String(40), nullable=False, unique=True),
    sa.Column("mode", sa.String(16), nullable=False),
    sa.Column("carried_to", sa.String(40)),
    sa.Column("budget_fen", sa.BigInteger, nullable=False),  # 资金结存 swept (budgetary book)
    sa.Column("grantable_fen", sa.BigInteger, nullable=False),  # grantable budget swept (memo book)
    sa.Column("closed_on", sa.Date, nullable=False),
    sa.Column("transaction_id", sa.BigInteger),
    sa.Column("actor", sa.String(100), nullable=False),
    sa.Column("recorded_at", UTCDateTime, nullable=False),
)


class YearEndCode(StrEnum):
    PROGRAM_NOT_READY_TO_CLOSE = "voucher_program_not_ready_to_close"
    CARRY_OVER_TARGET_INVALID = "voucher_carry_over_target_invalid"


@dataclass(frozen=True)
class YearEndResult:
    program: str
    mode: str
    carried_to: str | None
    budget_fen: int
    grantable_fen: int
    closed_on: date
    transaction_id: int | None
    replayed: bool = False  # closed before: the stored result, nothing posted now


def programs_due(ledger: Ledger, through: date) -> list[str]:
    """Programs whose redeem-by date is before ``through`` and that are not closed yet, by code."""
    closed = select(T_YEAR_ENDS.c.program_code)
    with ledger.reader.connect() as conn:
        codes = conn.execute(
            select(T_PROGRAMS.c.code).where(T_PROGRAMS.c.code.not_in(closed)).order_by(T_PROGRAMS.c.code)
        ).scalars()
        return [code for code in codes if load_program(conn, code).redeem_by < through]


def close_program(ledger: Ledger, program: str, *, on: date, actor: str = YEAR_END_ACTOR) -> YearEndResult:
    """Close ``program`` on ``on``, a day after its redeem-by date (the sweep and the expiry before it are dated
    ``on``; both carry the program's year): see the module's docstring."""
    with ledger.reader.connect() as conn:
        stored = _stored(conn, program)
        config = load_program(conn, program)
        if stored is not None:
            return stored
        if on <= config.redeem_by:
            raise LedgerError(
                YearEndCode.PROGRAM_NOT_READY_TO_CLOSE,
                f"program {program} may be redeemed until {config.redeem_by}; it closes after that, not on {on}",
                program=program,
            )
        _check_ready(conn, config, quota=False)  # a refusal writes nothing, not even the expiry below
        _carry_over_target(conn, config)
    run_expiry(ledger, program, as_of=on, actor=actor)  # its own unit, keyed by the date: a retry is a no-op
    try:
        with ledger.engine.begin() as conn:
            if ledger.postgres:  # one close at a time per program; the unique code settles any race anyway
                conn.execute(select(T_PROGRAMS.c.id).where(T_PROGRAMS.c.code == program).with_for_update())
            stored = _stored(conn, program)
            if stored is not None:
                return stored
            _check_ready(conn, config)
            target = _carry_over_target(conn, config)
            budget_fen = max(0, _balance(conn, books.budget_book(config.region_code), books.budget_funds_held(program)))
            grantable_fen = max(
                0, -_balance(conn, books.memo_book(config.region_code), books.program_grantable(program))
            )
            transaction_id = None
            if budget_fen or grantable_fen:
                transaction_id = ledger.post(
                    TransactionRequest(
                        client_id=f"voucher-year-end:{program}",
                        postings=_legs(config, target, budget_fen, grantable_fen),
                        effective_date=on,
                        source=books.LEDGER_SOURCE,
                        kind=YEAR_END_KIND_PREFIX + config.year_end,
                        memo=f"创新券 program {program}: unused budget "
                        + (f"结转 to {target}" if target else "收回 to the treasury"),
                        audit=Audit(actor),
                        program_year=config.year,
                        link_type="voucher_program",
                        link_id=program,
                    ),
                    conn=conn,
                ).transaction_id
            conn.execute(
                T_YEAR_ENDS.insert().values(
                    program_code=program,
                    mode=config.year_end,
                    carried_to=target,
                    budget_fen=budget_fen,
                    grantable_fen=grantable_fen,
                    closed_on=on,
                    transaction_id=transaction_id,
                    actor=actor,
                    recorded_at=ledger.clock(),
                )
            )
            record_event(
                ledger,
                conn,
                "program",
                program,
                "closed",
                actor,
                mode=config.year_end,
                carried_to=target,
                budget=format_fen(budget_fen),
                grantable=format_fen(grantable_fen),
            )
            return _stored(conn, program, replayed=False)
    except IntegrityError:  # another process closed it first: its result, ours rolled back whole
        with ledger.reader.connect() as conn:
            stored = _stored(conn, program)
        if stored is None:
            raise
        return stored


def carried_in_fen(conn: Connection, program: str) -> int:
    """Grantable budget other programs carried over (结转) into ``program``."""
    return int(
        conn.execute(
            select(func.coalesce(func.sum(T_YEAR_ENDS.c.grantable_fen), 0)).where(T_YEAR_ENDS.c.carried_to == program)
        ).scalar_one()
    )


def closed_programs(conn: Connection) -> set[str]:
    return set(conn.execute(select(T_YEAR_ENDS.c.program_code)).scalars())


def _stored(conn: Connection, program: str, *, replayed: bool = True) -> YearEndResult | None:
    row = conn.execute(select(T_YEAR_ENDS).where(T_YEAR_ENDS.c.program_code == program)).mappings().first()
    if row is None:
        return None
    return YearEndResult(
        program,
        row["mode"],
        row["carried_to"],
        int(row["budget_fen"]),
        int(row["grantable_fen"]),
        row["closed_on"],
        row["transaction_id"],
        replayed,
    )


def _check_ready(conn: Connection, config: ProgramConfig, *, quota: bool = True) -> None:
    """Refused while anything on the program is still open: unpaid claims, unsettled cross-region claims and
    (``quota``: once expiry has run) reservations and unexpired quota."""
    mine = T_REDEMPTIONS.c.program_code == config.code
    claimed = mine & (T_REDEMPTIONS.c.status == "claimed")
    paid_lines = (
        select(T_LINES.c.redemption_id)
        .join(T_BATCHES, T_BATCHES.c.id == T_LINES.c.batch_id)
        .where(T_BATCHES.c.status == "paid")
    )
    unpaid_to_providers = claimed & (T_REDEMPTIONS.c.mode != "tongyong") & T_REDEMPTIONS.c.id.not_in(paid_lines)
    unpaid_to_enterprises = claimed & (T_REDEMPTIONS.c.mode == "tongyong") & T_REDEMPTIONS.c.reimbursed_on.is_(None)
    unsettled = claimed & (T_REDEMPTIONS.c.mode != "local") & T_REDEMPTIONS.c.settlement_id.is_(None)
    waiting = {
        "claims not yet paid": unpaid_to_providers | unpaid_to_enterprises,
        "cross-region claims not yet settled": unsettled,
    }
    if quota:
        waiting["reservations still open"] = mine & (T_REDEMPTIONS.c.status == "reserved")
    reasons = []
    for what, condition in waiting.items():
        count = conn.execute(select(func.count()).select_from(T_REDEMPTIONS).where(condition)).scalar_one()
        if count:
            reasons.append(f"{count} {what}")
    prefix = books.enterprise_quota(config.code, "")
    open_quota = _balance(conn, books.memo_book(config.region_code), prefix, prefix_match=True, available=True)
    if quota and open_quota < 0:  # room left on some quota: its expiry has not run
        reasons.append(f"{format_fen(-open_quota)} of quota not yet expired")
    if reasons:
        raise LedgerError(
            YearEndCode.PROGRAM_NOT_READY_TO_CLOSE,
            f"program {config.code} cannot close yet: {'; '.join(reasons)}",
            program=config.code,
        )


def _carry_over_target(conn: Connection, config: ProgramConfig) -> str | None:
    if config.year_end != "carry_over":
        return None
    target_code = config.carry_over_to
    row = conn.execute(
        select(T_PROGRAMS.c.region_code, T_PROGRAMS.c.year).where(T_PROGRAMS.c.code == target_code)
    ).first()
    problem = None
    if row is None:
        problem = "does not exist"
    elif row.region_code != config.region_code:
        problem = f"belongs to region {row.region_code}, not {config.region_code}"
    elif row.year <= config.year:
        problem = f"is of {row.year}, not a later year than {config.year}"
    elif _stored(conn, target_code) is not None:
        problem = "is closed already"
    if problem:
        raise LedgerError(
            YearEndCode.CARRY_OVER_TARGET_INVALID,
            f"program {config.code} carries over (结转) to {target_code}, which {problem}",
            program=config.code,
        )
    return target_code


def _balance(conn: Connection, book: str, path: str, *, prefix_match: bool = False, available: bool = False) -> int:
    """Debits less credits of one account (or of every account under a prefix), read in the caller's unit;
    ``available``: pending debits count as taken (a credit-normal quota's room, negative)."""
    accounts = books.T_ACCOUNTS
    debits = accounts.c.debits_posted + (accounts.c.debits_pending if available else 0)
    query = (
        select(func.coalesce(func.sum(debits - accounts.c.credits_posted), 0))
        .join(books.T_BOOKS, books.T_BOOKS.c.id == accounts.c.book_id)
        .where(books.T_BOOKS.c.code == book)
    )
    if prefix_match:
        query = query.where(accounts.c.path.startswith(path, autoescape=True))
    else:
        query = query.where(accounts.c.path == path)
    return int(conn.execute(query).scalar_one())


def _legs(config: ProgramConfig, target: str | None, budget_fen: int, grantable_fen: int):
    region, program = config.region_code, config.code
    budget_book, memo_book = books.budget_book(region), books.memo_book(region)
    memo_close = [(books.program_grantable(program), grantable_fen), (books.program_authority(program), -grantable_fen)]
    if target is not None:
        budget = [(books.budget_funds_held(target), budget_fen), (books.budget_funds_held(program), -budget_fen)]
        memo = memo_close + [
            (books.program_authority(target), grantable_fen),
            (books.program_grantable(target), -grantable_fen),
        ]
        financial: list[tuple[str, int]] = []
    else:
        budget = [(books.budget_appropriation(program), budget_fen), (books.budget_funds_held(program), -budget_fen)]
        memo = memo_close
        financial = [(books.appropriation_revenue(program), budget_fen), (books.TREASURY, -budget_fen)]
    legs = []
    for book, lines in ((books.financial_book(region), financial), (budget_book, budget), (memo_book, memo)):
        lines = [(path, amount) for path, amount in lines if amount]
        if lines:
            legs.extend(posting_specs_fen(book, lines))
    return legs
