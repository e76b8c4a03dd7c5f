"""Read-only audit views: per institution per year against each cap, per program budget and awardees,
and the list of clipped (核减) and warn-mode grants. Amounts are integer fen."""

from __future__ import annotations

from sqlalchemy import func, select

from subsidies.models import FLAGS, GRANTS, YEAR_ENDS
from subsidies.service import ACTIVE_GRANT_STATUSES, SubsidyService

REPORT_ROWS_MAX = 10_000


def institution_year_report(service: SubsidyService, program_code: str) -> list[dict]:
    """For each institution and program year: granted (active grants) and, per cap, limit, used and room."""
    program = service.program(program_code)
    with service.engine.connect() as conn:
        rows = conn.execute(
            select(GRANTS.c.institution_code, GRANTS.c.program_year, func.sum(GRANTS.c.amount_fen))
            .where(GRANTS.c.program_code == program.code, GRANTS.c.status.in_(ACTIVE_GRANT_STATUSES))
            .group_by(GRANTS.c.institution_code, GRANTS.c.program_year)
            .order_by(GRANTS.c.institution_code, GRANTS.c.program_year)
            .limit(REPORT_ROWS_MAX)
        ).all()
    lifetime: dict[str, int] = {}
    for institution, _year, granted in rows:
        lifetime[institution] = lifetime.get(institution, 0) + int(granted)
    report = []
    for institution, year, granted in rows:
        caps = []
        for cap in program.caps:
            if cap.kind == "institution_year":
                used = int(granted)
            elif cap.kind == "lifetime":
                used = lifetime[institution]
            else:
                continue
            caps.append(
                {
                    "rule": cap.kind,
                    "enforcement": cap.enforcement,
                    "limit_fen": cap.amount,
                    "used_fen": used,
                    "room_fen": cap.amount - used,
                }
            )
        report.append({"institution": institution, "year": year, "granted_fen": int(granted), "caps": caps})
    return report


def program_report(service: SubsidyService, program_code: str) -> list[dict]:
    """Per program year: appropriated, granted, paid, swept at year-end, funds available, awardees."""
    program = service.program(program_code)
    report = []
    with service.engine.connect() as conn:
        for year in program.years:
            active = (
                (GRANTS.c.program_code == program.code)
                & (GRANTS.c.program_year == year)
                & GRANTS.c.status.in_(ACTIVE_GRANT_STATUSES)
            )
            granted, awardees = conn.execute(
                select(
                    func.coalesce(func.sum(GRANTS.c.amount_fen), 0),
                    func.count(func.distinct(GRANTS.c.institution_code)),
                ).where(active)
            ).one()
            paid = conn.execute(
                select(func.coalesce(func.sum(GRANTS.c.amount_fen), 0)).where(active & (GRANTS.c.status == "paid"))
            ).scalar_one()
            swept = conn.execute(
                select(func.coalesce(func.sum(YEAR_ENDS.c.amount_fen), 0)).where(
                    YEAR_ENDS.c.program_code == program.code, YEAR_ENDS.c.program_year == year
                )
            ).scalar_one()
            awardee_cap = program.cap("awardees_per_year")
            report.append(
                {
                    "year": year,
                    "appropriated_fen": program.budget.for_year(year),
                    "granted_fen": int(granted),
                    "paid_fen": int(paid),
                    "swept_at_year_end_fen": int(swept),
                    "available_fen": service.budget_room(conn, program, year),
                    "awardees": int(awardees),
                    "awardee_limit": awardee_cap.count if awardee_cap else None,
                }
            )
    return report


def flagged_grants(service: SubsidyService, program_code: str | None = None) -> list[dict]:
    """Every clipped (核减) or warn-mode grant with the rule, the amounts and the room it saw."""
    query = (
        select(
            GRANTS.c.id.label("grant_id"),
            GRANTS.c.program_code,
            GRANTS.c.institution_code,
            GRANTS.c.program_year,
            GRANTS.c.status,
            FLAGS.c.rule,
            FLAGS.c.enforcement,
            FLAGS.c.code,
            FLAGS.c.requested_fen,
            FLAGS.c.granted_fen,
            FLAGS.c.limit_value,
            FLAGS.c.room_value,
        )
        .join(GRANTS, GRANTS.c.id == FLAGS.c.grant_id)
        .order_by(FLAGS.c.id)
        .limit(REPORT_ROWS_MAX)
    )
    if program_code is not None:
        query = query.where(GRANTS.c.program_code == program_code)
    with service.engine.connect() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]
