"""Balance monitors: a rule on one account (field, operator, threshold) that the breach scan evaluates.

While the rule holds (say, a program's grantable budget ``balance < 100000``) it is one alert, raised the
first time the scan sees it crossed and kept (not raised again) while it stays crossed; when the balance
crosses back the alert clears. Thresholds are amounts with their unit ("10万", "500000.00元").
"""

from __future__ import annotations

import operator as operators
import re
from collections.abc import Callable
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlmodel.sql.sqltypes import UTCDateTime

from jobs.alerts import ALERT_SEVERITIES, Finding
from ledger.engine import AccountInfo, Ledger, utc_now
from ledger.errors import LedgerError, ResultCode
from ledger.money import format_fen
from ledger.numbers import parse_amount_fen

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

_metadata = sa.MetaData()
T_MONITORS = sa.Table(
    "balance_monitors",
    _metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("book", sa.String(64), nullable=False),
    sa.Column("account", sa.String(400), nullable=False),
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
    if not MONITOR_NAME.match(name):
        raise LedgerError(MonitorCode.MONITOR_INVALID, f"monitor name {name[:80]!r}: letters, digits, . _ -")
    if field not in FIELDS:
        raise LedgerError(MonitorCode.MONITOR_INVALID, f"field {field!r} is not one of {', '.join(FIELDS)}")
    if operator not in OPERATORS:
        raise LedgerError(MonitorCode.MONITOR_INVALID, f"operator {operator!r} is not one of {' '.join(OPERATORS)}")
    if severity not in ALERT_SEVERITIES:
        raise LedgerError(MonitorCode.MONITOR_INVALID, f"severity {severity!r} is not one of {ALERT_SEVERITIES}")
    threshold_fen = parse_amount_fen(threshold)
    ledger.account(book, account)  # refuses an account that does not exist
    values = {
        "name": name,
        "book": book,
        "account": account,
        "field": field,
        "operator": operator,
        "threshold_fen": threshold_fen,
        "severity": severity,
        "region": _region_of_book(ledger, book),
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
        same = all(existing[key] == values[key] for key in ("book", "account", "field", "operator", "threshold_fen"))
        if not same:
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


def monitor_findings(ledger: Ledger) -> list[Finding]:
    """One finding per monitor whose rule holds now."""
    findings = []
    for rule in monitors(ledger.engine):
        try:
            info = ledger.account(rule["book"], rule["account"])
        except LedgerError as error:
            if error.code != ResultCode.ACCOUNT_NOT_FOUND and error.code != ResultCode.BOOK_NOT_FOUND:
                raise
            continue
        value_fen = FIELDS[rule["field"]](info)
        if not OPERATORS[rule["operator"]](value_fen, rule["threshold_fen"]):
            continue
        findings.append(
            Finding(
                MONITOR_ALERT_KIND,
                f"{rule['name']}: {rule['book']}/{rule['account']}",
                f"{rule['field']} of {rule['book']}/{rule['account']} is {format_fen(value_fen)}, "
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


def _region_of_book(ledger: Ledger, book: str) -> str | None:
    row = next((row for row in ledger.books() if row["code"] == book), None)
    if row is None or row.get("entity_code") is None:
        return None
    entity = ledger.entity(row["entity_code"])
    if entity is None:
        return None
    return entity["code"] if entity["kind"] == "region" else entity.get("region_code")
