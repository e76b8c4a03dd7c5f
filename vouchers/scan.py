"""The vouchers part of the scheduled limit-breach scan: program budgets nearly all granted, quota still unused
as the use-by date nears (it will return to the budget unspent), and enterprises granted beyond the annual
cap under a ``warn`` rule. Read-only; each returns findings, never raises for a finding. Amounts are integer fen."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from fractions import Fraction

from sqlalchemy import Connection, func, select

from ledger.engine import T_ACCOUNTS, T_BOOKS, Ledger
from ledger.money import format_fen
from ledger.numbers import apply_ratio_down
from vouchers import books
from vouchers.codes import VoucherCode
from vouchers.config import ProgramConfig
from vouchers.models import VoucherGrant, VoucherProgram, VoucherRedemption
from vouchers.programs import load_program
from vouchers.year_end import carried_in_fen, closed_programs

T_GRANTS = VoucherGrant.__table__
T_PROGRAMS = VoucherProgram.__table__
BUDGET_NEARLY_GRANTED = "voucher_budget_nearly_granted"
QUOTA_UNUSED_NEAR_USE_BY = "voucher_quota_unused_near_use_by"
ENTERPRISE_OVER_ANNUAL_CAP = str(VoucherCode.GRANT_WITHIN_ENTERPRISE_ANNUAL_CAP)
SCAN_KINDS = (BUDGET_NEARLY_GRANTED, ENTERPRISE_OVER_ANNUAL_CAP, QUOTA_UNUSED_NEAR_USE_BY)
FINDINGS_PER_PROGRAM_MAX = 10_000


@dataclass(frozen=True, slots=True)
class ScanThresholds:
    """When a budget counts as nearly granted, and how long before use-by unused quota is worth a warning."""

    budget_granted_near: Fraction
    quota_use_by_warning_days: int


@dataclass(frozen=True, slots=True)
class VoucherFinding:
    kind: str
    subject: str
    region: str
    amount_fen: int
    limit_fen: int
    excess_fen: int
    citation: str
    message: str
    severity: str = "warning"


def scan_vouchers(ledger: Ledger, as_of: date, thresholds: ScanThresholds) -> list[VoucherFinding]:
    with ledger.engine.connect() as conn:
        codes = conn.execute(select(T_PROGRAMS.c.code).order_by(T_PROGRAMS.c.code)).scalars().all()
        closed = closed_programs(conn)  # closed at year-end (结转 / 收回): nothing left to grant or use
        found: list[VoucherFinding] = []
        for code in codes:
            if code in closed:
                continue
            config = load_program(conn, code)
            found += _budget(conn, config, thresholds.budget_granted_near)
            found += _unused_quota(conn, config, as_of, thresholds.quota_use_by_warning_days)
            found += _over_enterprise_cap(conn, config)
    return found


def _budget(conn: Connection, config: ProgramConfig, near: Fraction) -> list[VoucherFinding]:
    """Granted = the budget (with what earlier programs carried over into it) less what is still grantable
    (quota returned at use-by is grantable again)."""
    grantable = _accounts(conn, books.memo_book(config.region_code), books.program_grantable(config.code))
    room_fen = sum(credits - debits for _path, debits, credits in grantable)
    budget_fen = config.budget_fen + carried_in_fen(conn, config.code)
    granted_fen = budget_fen - room_fen
    threshold_fen = apply_ratio_down(budget_fen, near)
    if granted_fen < threshold_fen:
        return []
    return [
        VoucherFinding(
            BUDGET_NEARLY_GRANTED,
            config.code,
            config.region_code,
            granted_fen,
            budget_fen,
            granted_fen - threshold_fen,
            config.sources.get("program", ""),
            f"program {config.code} has granted {format_fen(granted_fen)} of its {format_fen(budget_fen)} "
            f"budget ({near} or more); {format_fen(room_fen)} left",
        )
    ]


def _unused_quota(conn: Connection, config: ProgramConfig, as_of: date, warning_days: int) -> list[VoucherFinding]:
    days_left = (config.use_by - as_of).days
    if not 0 <= days_left <= warning_days:
        return []
    prefix = books.enterprise_quota(config.code, "")
    findings = []
    for path, debits, credits, debits_pending in _accounts(
        conn, books.memo_book(config.region_code), prefix, prefix_match=True, with_pending=True
    ):
        unused_fen = credits - debits - debits_pending
        if unused_fen <= 0:
            continue
        enterprise = path.removeprefix(prefix)
        findings.append(
            VoucherFinding(
                QUOTA_UNUSED_NEAR_USE_BY,
                f"{config.code}:{enterprise}",
                config.region_code,
                unused_fen,
                credits,
                unused_fen,
                config.sources.get("program", ""),
                f"{enterprise} has {format_fen(unused_fen)} of its {format_fen(credits)} quota unused, "
                f"{days_left} days before the use-by date {config.use_by}",
                "info",
            )
        )
    return findings


def _over_enterprise_cap(conn: Connection, config: ProgramConfig) -> list[VoucherFinding]:
    """Under ``warn``, enterprises granted more than the annual cap in the program (re-checked live, so a
    grant rejected or a program corrected clears it)."""
    if config.cap_enforcement != "warn":
        return []
    cap_fen = config.enterprise_annual_cap_fen
    rows = conn.execute(
        select(T_GRANTS.c.enterprise_code, func.sum(T_GRANTS.c.granted_fen))
        .where(T_GRANTS.c.program_code == config.code, T_GRANTS.c.status == "approved")
        .group_by(T_GRANTS.c.enterprise_code)
        .having(func.sum(T_GRANTS.c.granted_fen) > cap_fen)
        .order_by(T_GRANTS.c.enterprise_code)
        .limit(FINDINGS_PER_PROGRAM_MAX)
    ).all()
    return [
        VoucherFinding(
            ENTERPRISE_OVER_ANNUAL_CAP,
            f"{config.code}:{enterprise}",
            config.region_code,
            int(granted),
            cap_fen,
            int(granted) - cap_fen,
            config.sources.get("enterprise_annual_cap", ""),
            f"{enterprise} was granted {format_fen(int(granted))} in program {config.code}, above the annual cap "
            f"of {format_fen(cap_fen)} (let through by warn)",
        )
        for enterprise, granted in rows
    ]


# What a balance monitor on a voucher program may watch (jobs.monitors), in fen.
PROGRAM_FIGURES = ("budget", "granted", "grantable", "reserved", "used", "unused_quota")


def program_figures(ledger: Ledger, program: str) -> dict[str, int]:
    """A program's budget figures from its memo accounts: ``budget`` (appropriation and what was carried over
    into it), ``granted`` (quota granted net of quota returned at use-by), ``grantable`` (budget not yet granted),
    ``reserved`` (quota held by open reservations), ``used`` (quota used by claims) and ``unused_quota`` (granted,
    neither used nor reserved)."""
    with ledger.reader.connect() as conn:
        config = load_program(conn, program)
        memo = books.memo_book(config.region_code)
        grantable = sum(
            credits - debits for _path, debits, credits in _accounts(conn, memo, books.program_grantable(program))
        )
        quotas = _accounts(conn, memo, books.enterprise_quota(program, ""), prefix_match=True, with_pending=True)
        used = _accounts(conn, memo, books.enterprise_quota_used(program, ""), prefix_match=True)
        budget = config.budget_fen + carried_in_fen(conn, program)
    return {
        "budget": budget,
        "granted": budget - grantable,
        "grantable": grantable,
        "reserved": sum(pending for _path, _debits, _credits, pending in quotas),
        "used": sum(credits - debits for _path, debits, credits in used),
        "unused_quota": sum(credits - debits - pending for _path, debits, credits, pending in quotas),
    }


def program_region(ledger: Ledger, program: str) -> str:
    with ledger.reader.connect() as conn:
        return load_program(conn, program).region_code


def _accounts(
    conn: Connection, book: str, path: str, *, prefix_match: bool = False, with_pending: bool = False
) -> list[tuple]:
    """(path, debits posted, credits posted[, debits pending]) of one account or of every account under a
    prefix, in one query (a program may have thousands of enterprise quotas)."""
    columns = [T_ACCOUNTS.c.path, T_ACCOUNTS.c.debits_posted, T_ACCOUNTS.c.credits_posted]
    if with_pending:
        columns.append(T_ACCOUNTS.c.debits_pending)
    condition = T_ACCOUNTS.c.path.startswith(path, autoescape=True) if prefix_match else T_ACCOUNTS.c.path == path
    query = (
        select(*columns)
        .join(T_BOOKS, T_BOOKS.c.id == T_ACCOUNTS.c.book_id)
        .where(T_BOOKS.c.code == book, condition)
        .order_by(T_ACCOUNTS.c.path)
    )
    return [tuple(row) for row in conn.execute(query)]


# ----- inter-region settlement per period -------------------------------------------------------------

T_REDEMPTIONS = VoucherRedemption.__table__
SETTLEMENT_DUE = "voucher_settlement_due"
SETTLEMENT_STATEMENTS_DIFFER = "voucher_settlement_statements_differ"
SETTLEMENT_KINDS = (SETTLEMENT_DUE, SETTLEMENT_STATEMENTS_DIFFER)


def settlement_pairs_due(ledger: Ledger, through: date) -> list[tuple[str, str, str]]:
    """(low region, high region, month "YYYY-MM") of every claimed cross-region redemption not yet settled,
    claimed on or before ``through``: a month left unsettled is picked up by a later run."""
    with ledger.engine.connect() as conn:
        rows = conn.execute(
            select(T_REDEMPTIONS.c.enterprise_region, T_REDEMPTIONS.c.provider_region, T_REDEMPTIONS.c.claimed_on)
            .where(
                T_REDEMPTIONS.c.status == "claimed",
                T_REDEMPTIONS.c.settlement_id.is_(None),
                T_REDEMPTIONS.c.enterprise_region != T_REDEMPTIONS.c.provider_region,
                T_REDEMPTIONS.c.claimed_on <= through,
            )
            .distinct()
        ).all()
    return sorted({(*sorted((home, away)), claimed_on.strftime("%Y-%m")) for home, away, claimed_on in rows})


def settlement_disagreement(ledger: Ledger, settlement_id: int) -> str | None:
    """Why the two regions' statements of a settlement disagree (each read from its own book), or None."""
    from vouchers.settlement import T_SETTLEMENTS, statement

    with ledger.engine.connect() as conn:
        row = conn.execute(
            select(T_SETTLEMENTS.c.region_low, T_SETTLEMENTS.c.region_high).where(T_SETTLEMENTS.c.id == settlement_id)
        ).one()
    low, high = statement(ledger, settlement_id, row.region_low), statement(ledger, settlement_id, row.region_high)
    problems = []
    if low.payable_fen != high.receivable_fen:
        problems.append(
            f"{low.region} owes {format_fen(low.payable_fen)}, {high.region} is owed {format_fen(high.receivable_fen)}"
        )
    if low.receivable_fen != high.payable_fen:
        problems.append(
            f"{low.region} is owed {format_fen(low.receivable_fen)}, {high.region} owes {format_fen(high.payable_fen)}"
        )
    for side in (low, high):
        if side.unsettled_fen:
            problems.append(f"{format_fen(side.unsettled_fen)} left unsettled in {side.region}'s book")
    return "; ".join(problems) or None
