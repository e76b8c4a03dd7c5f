"""Alerts: what the jobs found, kept so a finance office can act on it.

An alert is about one (kind, subject): a rule and the thing that breaks it. While the job keeps finding it,
the same alert stays active (its figures and ``last_seen`` follow the latest run), so a breach found on a
hundred nights is one alert, first seen on the first. When the job no longer finds it, the alert is
*cleared* (and resolved by the job, if nobody had); if it comes back later it is a new alert.

A person may resolve an active alert with a reason (an exception approved, a correction under way): it
leaves the open list at once but stays active, so the next scan does not raise it again while the same
breach persists. At most one active alert per (kind, subject), by a partial unique index.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy import Connection, Engine, select, update
from sqlmodel.sql.sqltypes import UTCDateTime

from ledger.engine import utc_now
from ledger.errors import LedgerError, ResultCode

ALERT_SEVERITIES = ("info", "warning", "critical")
ALERT_STATUSES = ("open", "resolved", "all")
ALERT_LIST_MAX = 10_000
MESSAGE_MAX_LENGTH = 2000
REASON_MAX_LENGTH = 1000
SUBJECT_MAX_LENGTH = 400

_metadata = sa.MetaData()
# The alerts table of the ledger's first migration, with the columns jobs/migrations adds.
T_ALERTS = sa.Table(
    "alerts",
    _metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("subject", sa.String(SUBJECT_MAX_LENGTH), nullable=False),
    sa.Column("region", sa.String(6)),
    sa.Column("amount_fen", sa.BigInteger),
    sa.Column("limit_fen", sa.BigInteger),
    sa.Column("excess_fen", sa.BigInteger),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("rule", sa.String(64)),
    sa.Column("citation", sa.String(400)),
    sa.Column("message", sa.String(MESSAGE_MAX_LENGTH), nullable=False),
    sa.Column("job", sa.String(64)),
    sa.Column("first_seen", UTCDateTime, nullable=False),
    sa.Column("last_seen", UTCDateTime),
    sa.Column("resolved_at", UTCDateTime),
    sa.Column("resolved_by", sa.String(100)),
    sa.Column("resolution_reason", sa.String(REASON_MAX_LENGTH)),
    sa.Column("cleared_at", UTCDateTime),
)


class AlertsCode(StrEnum):
    ALERT_NOT_FOUND = "alert_not_found"
    ALERT_ALREADY_RESOLVED = "alert_already_resolved"
    ALERT_FILTER_INVALID = "alert_filter_invalid"


@dataclass(frozen=True)
class Finding:
    """Something a job found: becomes (or keeps active) an alert of ``kind`` about ``subject``.

    ``amount_fen`` is the figure found, ``limit_fen`` the rule's limit, ``excess_fen`` how far past it (above a
    cap, or short of a minimum; by default the distance between the two). ``rule`` names the rule and
    ``citation`` its policy source (document and article); ``region`` decides who may see the alert."""

    kind: str
    subject: str
    message: str
    severity: str = "warning"
    amount_fen: int | None = None
    limit_fen: int | None = None
    excess_fen: int | None = None
    region: str | None = None
    rule: str | None = None
    citation: str | None = None

    def excess(self) -> int | None:
        if self.excess_fen is not None:
            return self.excess_fen
        if self.amount_fen is None or self.limit_fen is None:
            return None
        return abs(self.amount_fen - self.limit_fen)


def record_findings(
    conn: Connection,
    job: str,
    findings: Iterable[Finding],
    kinds: Iterable[str],
    now: datetime | None = None,
    *,
    subjects: Collection[str] | None = None,
) -> int:
    """Open an alert per new finding, refresh the active ones still found, clear the active alerts of
    ``kinds`` (and of ``subjects``, if given) not found. On the caller's connection (the job's run is finished
    in the same transaction). Returns how many of these alerts are open (active and not resolved by a
    person) afterwards."""
    findings = _one_per_subject(findings)
    kinds = set(kinds) | {finding.kind for finding in findings}
    now = now or utc_now()
    query = select(T_ALERTS.c.id, T_ALERTS.c.kind, T_ALERTS.c.subject, T_ALERTS.c.resolved_at).where(
        T_ALERTS.c.kind.in_(sorted(kinds)), T_ALERTS.c.cleared_at.is_(None)
    )
    if subjects is not None:
        query = query.where(T_ALERTS.c.subject.in_(sorted(set(subjects) | {finding.subject for finding in findings})))
    active = {(row.kind, row.subject): row for row in conn.execute(query)}
    open_count = 0
    for finding in findings:
        figures = _figures(finding)
        row = active.pop((finding.kind, finding.subject), None)
        if row is None:
            conn.execute(
                T_ALERTS.insert().values(
                    kind=finding.kind, subject=finding.subject, job=job, first_seen=now, last_seen=now, **figures
                )
            )
            open_count += 1
            continue
        conn.execute(update(T_ALERTS).where(T_ALERTS.c.id == row.id).values(last_seen=now, **figures))
        open_count += row.resolved_at is None
    for row in active.values():  # not found any more: the condition is gone
        values = {"cleared_at": now}
        if row.resolved_at is None:
            values |= {"resolved_at": now, "resolved_by": f"job:{job}", "resolution_reason": "no longer found"}
        conn.execute(update(T_ALERTS).where(T_ALERTS.c.id == row.id).values(**values))
    return open_count


def _one_per_subject(findings: Iterable[Finding]) -> list[Finding]:
    """The first finding of each (kind, subject): one alert each, whatever a scan repeats."""
    seen: dict[tuple[str, str], Finding] = {}
    for finding in findings:
        subject = finding.subject[:SUBJECT_MAX_LENGTH]  # stored as long as the column allows, keyed the same
        seen.setdefault((finding.kind, subject), replace(finding, subject=subject))
    return list(seen.values())


def _figures(finding: Finding) -> dict:
    if finding.severity not in ALERT_SEVERITIES:
        raise ValueError(f"severity {finding.severity!r} is not one of {ALERT_SEVERITIES}")
    return {
        "region": finding.region,
        "amount_fen": finding.amount_fen,
        "limit_fen": finding.limit_fen,
        "excess_fen": finding.excess(),
        "severity": finding.severity,
        "rule": finding.rule,
        "citation": None if finding.citation is None else finding.citation[:400],
        "message": finding.message[:MESSAGE_MAX_LENGTH],
    }


def list_alerts(
    engine: Engine,
    *,
    status: str = "open",
    kind: str | None = None,
    severity: str | None = None,
    region_prefixes: Sequence[str] | None = None,
) -> list[dict]:
    """Alerts in the order first seen. ``region_prefixes``: only alerts whose region starts with one of them
    (``None``: every alert, with or without a region; an empty list: none)."""
    if status not in ALERT_STATUSES:
        raise LedgerError(AlertsCode.ALERT_FILTER_INVALID, f"status {status!r} is not one of {ALERT_STATUSES}")
    if severity is not None and severity not in ALERT_SEVERITIES:
        raise LedgerError(AlertsCode.ALERT_FILTER_INVALID, f"severity {severity!r} is not one of {ALERT_SEVERITIES}")
    query = select(T_ALERTS).order_by(T_ALERTS.c.first_seen, T_ALERTS.c.id).limit(ALERT_LIST_MAX)
    if status == "open":
        query = query.where(T_ALERTS.c.resolved_at.is_(None))
    elif status == "resolved":
        query = query.where(T_ALERTS.c.resolved_at.is_not(None))
    if kind is not None:
        query = query.where(T_ALERTS.c.kind == kind)
    if severity is not None:
        query = query.where(T_ALERTS.c.severity == severity)
    if region_prefixes is not None:
        if not region_prefixes:
            return []
        query = query.where(sa.or_(*(T_ALERTS.c.region.startswith(prefix) for prefix in region_prefixes)))
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]


def get_alert(engine: Engine, alert_id: int) -> dict:
    with engine.connect() as conn:
        row = conn.execute(select(T_ALERTS).where(T_ALERTS.c.id == alert_id)).mappings().first()
    if row is None:
        raise LedgerError(AlertsCode.ALERT_NOT_FOUND, f"alert {alert_id} does not exist")
    return dict(row)


def resolve_alert(engine: Engine, alert_id: int, *, actor: str, reason: str) -> dict:
    """Resolve an open alert with who and why. Resolving it again with the same reason changes nothing
    (a retried call); a different resolution of a resolved alert is refused."""
    reason = " ".join((reason or "").split())
    if not reason:
        raise LedgerError(ResultCode.REASON_REQUIRED, "resolving an alert needs a reason")
    if len(reason) > REASON_MAX_LENGTH:
        raise LedgerError(ResultCode.TEXT_INVALID, f"the reason is longer than {REASON_MAX_LENGTH} characters")
    with engine.begin() as conn:
        resolved = conn.execute(
            update(T_ALERTS)
            .where(T_ALERTS.c.id == alert_id, T_ALERTS.c.resolved_at.is_(None))
            .values(resolved_at=utc_now(), resolved_by=actor, resolution_reason=reason)
        ).rowcount
    alert = get_alert(engine, alert_id)
    if resolved != 1 and (alert["resolved_by"], alert["resolution_reason"]) != (actor, reason):
        raise LedgerError(
            AlertsCode.ALERT_ALREADY_RESOLVED,
            f"alert {alert_id} was resolved by {alert['resolved_by']} at {alert['resolved_at']}",
        )
    return alert
