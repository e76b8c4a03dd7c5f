"""Read-only audit views: per institution per year against each cap, per program budget and awardees,
the list of clipped (核减) and warn-mode grants, and the breach scan of what ``warn`` rules let through.
Amounts are integer fen."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import case, func, select

from ledger.money import format_fen
from subsidies.config import ProgramConfig
from subsidies.models import FLAGS, GRANTS, PROGRAMS, YEAR_ENDS
from subsidies.rules import CAP_CODES
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


def budget_execution(service: SubsidyService, programs: list[ProgramConfig]) -> dict[str, dict[str, int]]:
    """``program_report``'s money over all of each program's years, for many programs in one grouped query:
    appropriated (each year's configured budget), granted (active grants) and paid, per program code. What a
    dashboard charts per program, without a report's per-year queries."""
    codes = [program.code for program in programs]
    totals = {
        program.code: {
            "appropriated_fen": sum(program.budget.for_year(year) for year in program.years),
            "granted_fen": 0,
            "paid_fen": 0,
        }
        for program in programs
    }
    if not codes:
        return totals
    years = {program.code: set(program.years) for program in programs}
    paid = func.coalesce(func.sum(case((GRANTS.c.status == "paid", GRANTS.c.amount_fen), else_=0)), 0)
    with service.engine.connect() as conn:
        rows = conn.execute(
            select(GRANTS.c.program_code, GRANTS.c.program_year, func.sum(GRANTS.c.amount_fen), paid)
            .where(GRANTS.c.program_code.in_(codes), GRANTS.c.status.in_(ACTIVE_GRANT_STATUSES))
            .group_by(GRANTS.c.program_code, GRANTS.c.program_year)
        ).all()
    for code, year, granted, paid_fen in rows:
        if year in years[code]:  # as program_report, which reads the program's own years
            totals[code]["granted_fen"] += int(granted)
            totals[code]["paid_fen"] += int(paid_fen)
    return totals


# What a balance monitor on a subsidy program may watch (jobs.monitors): figures of one program year, in fen.
PROGRAM_YEAR_FIGURES = ("appropriated", "granted", "paid", "available")


def program_year_figures(service: SubsidyService, program_code: str, year: int) -> dict[str, int] | None:
    """``program_report``'s money figures of one program year (None outside the program's years)."""
    program = service.program(program_code)
    if year not in program.years:
        return None
    [row] = [row for row in program_report(service, program_code) if row["year"] == year]
    return {name: row[f"{name}_fen"] for name in PROGRAM_YEAR_FIGURES}


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


# ----- limit-breach scan ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Breach:
    """A ``warn`` rule a program let a grant through (the scheduled breach scan turns it into an alert).

    ``amount_fen`` is what was granted, ``limit_fen`` the rule's limit and ``excess_fen`` how far beyond it
    (None for the awardee count, which is no amount: its message gives the numbers); ``citation`` is the
    rule's policy source."""

    code: str
    rule: str
    program: str
    subject: str
    region: str
    amount_fen: int | None
    limit_fen: int | None
    excess_fen: int | None
    citation: str
    message: str


def _citation(source) -> str:  # noqa: ANN001 - subsidies.config.Source
    return f"{source.document} {source.article}"


def breach_scan(service: SubsidyService) -> list[Breach]:
    """Every breach of a ``warn`` cap or budget in every installed program, as it stands today: institutions
    over their per-year or lifetime cap, years over their awardee count or budget, grants over the per-claim
    cap. A grant clawed back no longer counts, so its breach disappears with it."""
    with service.engine.connect() as conn:
        codes = conn.execute(select(PROGRAMS.c.code).order_by(PROGRAMS.c.code)).scalars().all()
    breaches: list[Breach] = []
    for code in codes:
        breaches += _program_breaches(service, service.program(code))
    return breaches


def _program_breaches(service: SubsidyService, program) -> list[Breach]:  # noqa: ANN001 - ProgramConfig
    warned = {cap.kind: cap for cap in program.caps if cap.enforcement == "warn"}
    active = (GRANTS.c.program_code == program.code) & GRANTS.c.status.in_(ACTIVE_GRANT_STATUSES)
    found: list[Breach] = []

    def add(rule: str, subject: str, amount: int | None, limit: int | None, citation: str, message: str) -> None:
        found.append(
            Breach(
                str(CAP_CODES[rule]),
                rule,
                program.code,
                f"{program.code}:{subject}",
                program.region,
                amount,
                limit,
                None if amount is None or limit is None else amount - limit,
                citation,
                message,
            )
        )

    with service.engine.connect() as conn:
        if (cap := warned.get("institution_year")) is not None:
            rows = conn.execute(
                select(GRANTS.c.institution_code, GRANTS.c.program_year, func.sum(GRANTS.c.amount_fen))
                .where(active)
                .group_by(GRANTS.c.institution_code, GRANTS.c.program_year)
                .having(func.sum(GRANTS.c.amount_fen) > cap.amount)
                .order_by(GRANTS.c.institution_code, GRANTS.c.program_year)
                .limit(REPORT_ROWS_MAX)
            ).all()
            for institution, year, granted in rows:
                add(
                    "institution_year",
                    f"{institution}:{year}",
                    int(granted),
                    cap.amount,
                    _citation(cap.source),
                    f"{institution} was granted {format_fen(int(granted))} in {year}, above the per-year cap of "
                    f"{format_fen(cap.amount)}",
                )
        if (cap := warned.get("lifetime")) is not None:
            rows = conn.execute(
                select(GRANTS.c.institution_code, func.sum(GRANTS.c.amount_fen))
                .where(active)
                .group_by(GRANTS.c.institution_code)
                .having(func.sum(GRANTS.c.amount_fen) > cap.amount)
                .order_by(GRANTS.c.institution_code)
                .limit(REPORT_ROWS_MAX)
            ).all()
            for institution, granted in rows:
                add(
                    "lifetime",
                    institution,
                    int(granted),
                    cap.amount,
                    _citation(cap.source),
                    f"{institution} was granted {format_fen(int(granted))} in all, above the lifetime cap of "
                    f"{format_fen(cap.amount)}",
                )
        if (cap := warned.get("per_claim")) is not None:
            rows = conn.execute(
                select(GRANTS.c.id, GRANTS.c.institution_code, GRANTS.c.amount_fen)
                .where(active, GRANTS.c.amount_fen > cap.amount)
                .order_by(GRANTS.c.id)
                .limit(REPORT_ROWS_MAX)
            ).all()
            for grant_id, institution, granted in rows:
                add(
                    "per_claim",
                    f"grant-{grant_id}",
                    int(granted),
                    cap.amount,
                    _citation(cap.source),
                    f"grant {grant_id} to {institution} is {format_fen(int(granted))}, above the per-claim cap of "
                    f"{format_fen(cap.amount)}",
                )
        if (cap := warned.get("awardees_per_year")) is not None:
            rows = conn.execute(
                select(GRANTS.c.program_year, func.count(func.distinct(GRANTS.c.institution_code)))
                .where(active)
                .group_by(GRANTS.c.program_year)
                .having(func.count(func.distinct(GRANTS.c.institution_code)) > cap.count)
                .order_by(GRANTS.c.program_year)
            ).all()
            for year, awardees in rows:
                # A count, not money: no amount, limit or excess in fen; the message gives the numbers.
                add(
                    "awardees_per_year",
                    f"awardees:{year}",
                    None,
                    None,
                    _citation(cap.source),
                    f"{awardees} institutions were granted awards in {year}, above the limit of {cap.count}",
                )
        if program.budget.enforcement == "warn":
            for year in program.years:
                room = service.budget_room(conn, program, year)
                if room >= 0:
                    continue
                granted = conn.execute(
                    select(func.coalesce(func.sum(GRANTS.c.amount_fen), 0)).where(active, GRANTS.c.program_year == year)
                ).scalar_one()
                add(
                    "program_budget",
                    f"budget:{year}",
                    int(granted),
                    int(granted) + room,
                    _citation(program.budget.source),
                    f"grants of {year} total {format_fen(int(granted))}, {format_fen(-room)} beyond the funds "
                    f"available to the program",
                )
    return found
