"""Balance monitors: a rule (field, operator, threshold) on one account or on one program that the breach scan
evaluates.

While the rule holds (say, an account's ``balance < 100000``, or a voucher program's ``grantable < 10万``) it is
one alert, raised the first time the scan sees it crossed and kept (not raised again) while it stays crossed;
when the figure crosses back the alert clears. Thresholds are amounts with their unit ("10万", "500000.00元").

A program's figures come from its domain (``vouchers.scan.program_figures``; a subsidy program's figures of the
program year the scan date is in, ``subsidies.audit.program_year_figures``): no figure is computed here.
"""

from __future__ import annotations

import operator as operators
import re
from collections.abc import Callable
from datetime import date
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlmodel.sql.sqltypes import UTCDateTime

from jobs.alerts import ALERT_SEVERITIES, Finding
from ledger.engine import AccountInfo, Ledger, utc_now
from ledger.errors import LedgerError, ResultCode
from ledger.money import format_fen
from ledger.numbers import SHANGHAI, parse_amount_fen

MONITOR_ALERT_KIND = "balance_monitor_crossed"
MONITOR_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MONITORS_MAX = 1_000
OPERATORS: dict[str, Callable[[int, int], bool]] = {
    "<": operators.lt,
    "<=": operators.le,
    ">": operators.gt,
    ">=": operators.ge,
}


def _normal_side(info: AccountInfo, debit: int, credit: int) -> int:
    return debit - credit if info.normal_side == "debit" else credit - debit


# What a monitor may watch, each in the account's own sense (a fund's credit balance is positive).
FIELDS: dict[str, Callable[[AccountInfo], int]] = {
    "balance": lambda a: _normal_side(a, a.debits_posted, a.credits_posted),
    # The balance less what pending entries would take from it: what may still be spent or granted.
    "available": lambda a: (
        _normal_side(a, a.debits_posted, a.credits_posted)
        - (a.credits_pending if a.normal_side == "debit" else a.debits_pending)
    ),
    "debits_posted": lambda a: a.debits_posted,
    "credits_posted": lambda a: a.credits_posted,
    "debits_pending": lambda a: a.debits_pending,
    "credits_pending": lambda a: a.credits_pending,
}

PROGRAM_KINDS = ("subsidy", "voucher")


def program_fields(kind: str) -> tuple[str, ...]:
    from subsidies.audit import PROGRAM_YEAR_FIGURES
    from vouchers.scan import PROGRAM_FIGURES

    return {"subsidy": PROGRAM_YEAR_FIGURES, "voucher": PROGRAM_FIGURES}[kind]


_metadata = sa.MetaData()
T_MONITORS = sa.Table(
    "balance_monitors",
    _metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("book", sa.String(64)),  # an account's monitor: its book and path
    sa.Column("account", sa.String(400)),
    sa.Column("program_kind", sa.String(16)),  # a program's monitor: subsidy | voucher, and its code
    sa.Column("program_code", sa.String(64)),
    sa.Column("field", sa.String(32), nullable=False),
    sa.Column("operator", sa.String(2), nullable=False),
    sa.Column("threshold_fen", sa.BigInteger, nullable=False),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("region", sa.String(6)),
    sa.Column("created_by", sa.String(100), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)


class MonitorCode(StrEnum):
    MONITOR_INVALID = "monitor_invalid"
    MONITOR_EXISTS = "monitor_exists"
    MONITOR_NOT_FOUND = "monitor_not_found"


def add_monitor(
    ledger: Ledger,
    name: str,
    *,
    book: str,
    account: str,
    field: str,
    operator: str,
    threshold: str,
    severity: str = "warning",
    actor: str,
) -> dict:
    """Watch one existing account. The region of its alerts is that of the book's entity."""
    _check_rule(name, field, FIELDS, operator, severity)
    threshold_fen = parse_amount_fen(threshold)
    ledger.account(book, account)  # refuses an account that does not exist
    target = {"book": book, "account": account, "program_kind": None, "program_code": None}
    return _insert(ledger, name, target, field, operator, threshold_fen, severity, _region_of_book(ledger, book), actor)


def add_program_monitor(
    ledger: Ledger,
    name: str,
    *,
    program_kind: str,
    program: str,
    field: str,
    operator: str,
    threshold: str,
    severity: str = "warning",
    actor: str,
) -> dict:
    """Watch one existing program's figure (``program_fields(kind)``). Its alerts carry the program's region."""
    if program_kind not in PROGRAM_KINDS:
        raise LedgerError(
            MonitorCode.MONITOR_INVALID, f"program kind {program_kind!r} is not one of {', '.join(PROGRAM_KINDS)}"
        )
    _check_rule(name, field, program_fields(program_kind), operator, severity)
    threshold_fen = parse_amount_fen(threshold)
    region = _program_region(ledger, program_kind, program)  # refuses a program that does not exist
    target = {"book": None, "account": None, "program_kind": program_kind, "program_code": program}
    return _insert(ledger, name, target, field, operator, threshold_fen, severity, region, actor)


def _check_rule(name: str, field: str, fields, operator: str, severity: str) -> None:  # noqa: ANN001 - names
    if not MONITOR_NAME.match(name):
        raise LedgerError(MonitorCode.MONITOR_INVALID, f"monitor name {name[:80]!r}: letters, digits, . _ -")
    if field not in fields:
        raise LedgerError(MonitorCode.MONITOR_INVALID, f"field {field!r} is not one of {', '.join(fields)}")
    if operator not in OPERATORS:
        raise LedgerError(MonitorCode.MONITOR_INVALID, f"operator {operator!r} is not one of {' '.join(OPERATORS)}")
    if severity not in ALERT_SEVERITIES:
        raise LedgerError(MonitorCode.MONITOR_INVALID, f"severity {severity!r} is not one of {ALERT_SEVERITIES}")


SAME_RULE_KEYS = ("book", "account", "program_kind", "program_code", "field", "operator", "threshold_fen")


def _insert(
    ledger: Ledger,
    name: str,
    target: dict,
    field: str,
    operator: str,
    threshold_fen: int,
    severity: str,
    region: str | None,
    actor: str,
) -> dict:
    values = {
        "name": name,
        **target,
        "field": field,
        "operator": operator,
        "threshold_fen": threshold_fen,
        "severity": severity,
        "region": region,
        "created_by": actor,
        "created_at": utc_now(),
    }
    try:
        with ledger.engine.begin() as conn:
            count = conn.execute(select(sa.func.count()).select_from(T_MONITORS)).scalar_one()
            if count >= MONITORS_MAX:
                raise LedgerError(MonitorCode.MONITOR_INVALID, f"at most {MONITORS_MAX} monitors")
            conn.execute(T_MONITORS.insert().values(**values))
    except IntegrityError:
        existing = monitor(ledger.engine, name)
        if not all(existing[key] == values[key] for key in SAME_RULE_KEYS):
            raise LedgerError(MonitorCode.MONITOR_EXISTS, f"monitor {name!r} exists with another rule") from None
    return monitor(ledger.engine, name)


def monitor(engine: Engine, name: str) -> dict:
    with engine.connect() as conn:
        row = conn.execute(select(T_MONITORS).where(T_MONITORS.c.name == name)).mappings().first()
    if row is None:
        raise LedgerError(MonitorCode.MONITOR_NOT_FOUND, f"no monitor {name!r}")
    return dict(row)


def monitors(engine: Engine) -> list[dict]:
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(select(T_MONITORS).order_by(T_MONITORS.c.name)).mappings()]


def remove_monitor(engine: Engine, name: str) -> None:
    """Stop watching; its alert (if any) clears on the next scan."""
    with engine.begin() as conn:
        if conn.execute(T_MONITORS.delete().where(T_MONITORS.c.name == name)).rowcount != 1:
            raise LedgerError(MonitorCode.MONITOR_NOT_FOUND, f"no monitor {name!r}")


def monitor_findings(ledger: Ledger, today: date | None = None) -> list[Finding]:
    """One finding per monitor whose rule holds now (``today``: the scan's date, which picks a subsidy program's
    year; by default today in Shanghai)."""
    today = today or utc_now().astimezone(SHANGHAI).date()
    findings = []
    for rule in monitors(ledger.engine):
        watched = _watched_value(ledger, rule, today)
        if watched is None:
            continue  # the account, program or program year is gone: nothing to watch
        what, value_fen = watched
        if not OPERATORS[rule["operator"]](value_fen, rule["threshold_fen"]):
            continue
        findings.append(
            Finding(
                MONITOR_ALERT_KIND,
                f"{rule['name']}: {what}",
                f"{rule['field']} of {what} is {format_fen(value_fen)}, "
                f"{rule['operator']} {format_fen(rule['threshold_fen'])}",
                rule["severity"],
                amount_fen=value_fen,
                limit_fen=rule["threshold_fen"],
                region=rule["region"],
                rule=f"{rule['field']} {rule['operator']} {format_fen(rule['threshold_fen'])}",
                citation=f"balance monitor {rule['name']} (set by {rule['created_by']})",
            )
        )
    return findings


def _watched_value(ledger: Ledger, rule: dict, today: date) -> tuple[str, int] | None:
    """(what is watched, its figure in fen), or None when it no longer exists."""
    if rule["program_kind"] is None:
        try:
            info = ledger.account(rule["book"], rule["account"])
        except LedgerError as error:
            if error.code != ResultCode.ACCOUNT_NOT_FOUND and error.code != ResultCode.BOOK_NOT_FOUND:
                raise
            return None
        return f"{rule['book']}/{rule['account']}", FIELDS[rule["field"]](info)
    kind, code = rule["program_kind"], rule["program_code"]
    try:
        if kind == "voucher":
            from vouchers.scan import program_figures

            return f"voucher program {code}", program_figures(ledger, code)[rule["field"]]
        from subsidies.audit import program_year_figures
        from subsidies.service import SubsidyService

        figures = program_year_figures(SubsidyService(ledger), code, today.year)
    except LedgerError as error:
        from subsidies.codes import SubsidyCode
        from vouchers.codes import VoucherCode

        if error.code not in (SubsidyCode.PROGRAM_NOT_FOUND, VoucherCode.PROGRAM_NOT_FOUND):
            raise
        return None
    return None if figures is None else (f"subsidy program {code} {today.year}", figures[rule["field"]])


def _program_region(ledger: Ledger, kind: str, code: str) -> str:
    if kind == "voucher":
        from vouchers.scan import program_region

        return program_region(ledger, code)
    from subsidies.service import SubsidyService

    return SubsidyService(ledger).program(code).region


def _region_of_book(ledger: Ledger, book: str) -> str | None:
    row = next((row for row in ledger.books() if row["code"] == book), None)
    if row is None or row.get("entity_code") is None:
        return None
    entity = ledger.entity(row["entity_code"])
    if entity is None:
        return None
    return entity["code"] if entity["kind"] == "region" else entity.get("region_code")
