"""Read functions for people's views (the pages and the HTTP API): applications awaiting a second person,
an institution's grants, the installed programs. Amounts are integer fen; each list is bounded."""

from __future__ import annotations

from sqlalchemy import select

from subsidies.models import APPLICATIONS, GRANTS, PROGRAMS
from subsidies.service import SubsidyService

VIEW_ROWS_MAX = 10_000


def program_codes(service: SubsidyService) -> list[str]:
    with service.engine.connect() as conn:
        return list(conn.execute(select(PROGRAMS.c.code).order_by(PROGRAMS.c.code).limit(VIEW_ROWS_MAX)).scalars())


def applications_awaiting_approval(service: SubsidyService) -> list[dict]:
    """Submitted applications not yet decided, oldest first, each with its program's name and region (the
    region a finance office must cover to decide it)."""
    with service.engine.connect() as conn:
        rows = conn.execute(
            select(APPLICATIONS, PROGRAMS.c.name.label("program_name"))
            .join(PROGRAMS, PROGRAMS.c.code == APPLICATIONS.c.program_code)
            .where(APPLICATIONS.c.status == "submitted")
            .order_by(APPLICATIONS.c.submitted_at, APPLICATIONS.c.id)
            .limit(VIEW_ROWS_MAX)
        ).mappings()
        items = [dict(row) for row in rows]
    for item in items:
        item["program_region"] = service.program(item["program_code"]).region
    return items


def institution_grants(service: SubsidyService, institution_code: str) -> list[dict]:
    """An institution's grants, oldest first, with the program's name, the approver and the status."""
    with service.engine.connect() as conn:
        rows = conn.execute(
            select(GRANTS, PROGRAMS.c.name.label("program_name"))
            .join(PROGRAMS, PROGRAMS.c.code == GRANTS.c.program_code)
            .where(GRANTS.c.institution_code == institution_code)
            .order_by(GRANTS.c.program_year, GRANTS.c.id)
            .limit(VIEW_ROWS_MAX)
        ).mappings()
        return [dict(row) for row in rows]


def application(service: SubsidyService, application_id: int) -> dict | None:
    """One application with its program's region (which finance offices may decide it), or None."""
    with service.engine.connect() as conn:
        row = conn.execute(select(APPLICATIONS).where(APPLICATIONS.c.id == application_id)).mappings().first()
    if row is None:
        return None
    return {**row, "program_region": service.program(row["program_code"]).region}
