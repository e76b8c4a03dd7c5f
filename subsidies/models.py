"""Domain tables of the subsidy package (SQLModel). Money is BIGINT fen; times are UTC.

Status fields change (submitted -> approved -> paid -> clawed_back), so every change is also written to
``subsidies_events``, and every money movement is a ledger transaction whose id is kept on the row.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, UniqueConstraint
from sqlmodel import Field, SQLModel


def _money(nullable: bool = False) -> Column:
    return Column(BigInteger, nullable=nullable)


class SubsidyProgram(SQLModel, table=True):
    """An installed program: the TOML text is kept verbatim, so the rules applied are the rules read."""

    __tablename__ = "subsidies_programs"
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=64, unique=True)
    name: str = Field(max_length=200)
    config_text: str
    installed_by: str = Field(max_length=100)
    installed_at: datetime


class SubsidyApplication(SQLModel, table=True):
    __tablename__ = "subsidies_applications"
    __table_args__ = (UniqueConstraint("program_code", "client_id", name="uq_subsidies_applications_client"),)
    id: int | None = Field(default=None, primary_key=True)
    program_code: str = Field(max_length=64, index=True)
    client_id: str = Field(max_length=200)
    institution_code: str = Field(max_length=18, index=True)
    program_year: int
    base_figures_json: str  # {"name": fen as a decimal string}
    status: str = Field(max_length=16)  # submitted | approved | rejected | refused
    submitted_by: str = Field(max_length=100)
    submitted_at: datetime
    decided_by: str | None = Field(default=None, max_length=100)
    decided_at: datetime | None = None
    decision_code: str | None = Field(default=None, max_length=64)
    decision_reason: str | None = Field(default=None, max_length=1000)


class SubsidyGrant(SQLModel, table=True):
    """An approved application: the amount granted after the caps, consuming room in its program year."""

    __tablename__ = "subsidies_grants"
    id: int | None = Field(default=None, primary_key=True)
    application_id: int = Field(foreign_key="subsidies_applications.id", unique=True)
    program_code: str = Field(max_length=64, index=True)
    institution_code: str = Field(max_length=18, index=True)
    program_year: int
    computed_fen: int = Field(sa_column=_money())
    amount_fen: int = Field(sa_column=_money())
    status: str = Field(max_length=16)  # approved | paid | clawed_back
    approved_by: str = Field(max_length=100)
    approval_doc: str | None = Field(default=None, max_length=200)
    approved_at: datetime
    commitment_tx_id: int = Field(sa_column=_money())  # pending budget reservation
    payable_tx_id: int = Field(sa_column=_money())
    # The release of the reservation when paid (the payment itself carries the budgetary entry).
    budget_post_tx_id: int | None = Field(default=None, sa_column=_money(nullable=True))
    payment_tx_id: int | None = Field(default=None, sa_column=_money(nullable=True))
    paid_at: datetime | None = None


class SubsidyGrantFlag(SQLModel, table=True):
    """A cap that clipped (核减) or warned on a grant, with the numbers it saw."""

    __tablename__ = "subsidies_grant_flags"
    id: int | None = Field(default=None, primary_key=True)
    grant_id: int = Field(foreign_key="subsidies_grants.id", index=True)
    rule: str = Field(max_length=32)
    enforcement: str = Field(max_length=8)
    code: str = Field(max_length=64)
    requested_fen: int = Field(sa_column=_money())
    granted_fen: int = Field(sa_column=_money())
    limit_value: int = Field(sa_column=_money())
    room_value: int = Field(sa_column=_money())


class SubsidyClawback(SQLModel, table=True):
    """收回/追回 of a grant: requested with a reason by one person, approved by another."""

    __tablename__ = "subsidies_clawbacks"
    __table_args__ = (UniqueConstraint("grant_id", "client_id", name="uq_subsidies_clawbacks_client"),)
    id: int | None = Field(default=None, primary_key=True)
    grant_id: int = Field(foreign_key="subsidies_grants.id", index=True)
    client_id: str | None = Field(default=None, max_length=200)  # the caller's key; a retry returns this row
    reason: str = Field(max_length=1000)
    status: str = Field(max_length=16)  # requested | approved | rejected
    requested_by: str = Field(max_length=100)
    requested_at: datetime
    approved_by: str | None = Field(default=None, max_length=100)
    approval_doc: str | None = Field(default=None, max_length=200)
    approved_at: datetime | None = None


class SubsidyYearEnd(SQLModel, table=True):
    """A year-end sweep of unused budget: carried over (结转) to the next year or recovered (收回)."""

    __tablename__ = "subsidies_year_ends"
    __table_args__ = (
        UniqueConstraint("program_code", "program_year", "sequence", name="uq_subsidies_year_ends"),
        UniqueConstraint("program_code", "client_id", name="uq_subsidies_year_ends_client"),
    )
    id: int | None = Field(default=None, primary_key=True)
    program_code: str = Field(max_length=64)
    client_id: str | None = Field(default=None, max_length=200)  # the caller's key; a retry returns this row
    program_year: int
    sequence: int
    mode: str = Field(max_length=16)  # carry_over | recover
    amount_fen: int = Field(sa_column=_money())
    transaction_id: int | None = Field(default=None, sa_column=_money(nullable=True))  # None: nothing to sweep
    actor: str = Field(max_length=100)
    recorded_at: datetime


class SubsidyCapLock(SQLModel, table=True):
    """One row per cap scope, locked FOR UPDATE while a cap is checked and consumed (PostgreSQL)."""

    __tablename__ = "subsidies_cap_locks"
    scope: str = Field(max_length=200, primary_key=True)


class SubsidyEvent(SQLModel, table=True):
    """Audit trail of every status change."""

    __tablename__ = "subsidies_events"
    id: int | None = Field(default=None, primary_key=True)
    subject: str = Field(max_length=32)  # application | grant | clawback | program | year_end
    subject_id: int
    event: str = Field(max_length=32)
    actor: str = Field(max_length=100)
    recorded_at: datetime
    detail_json: str = Field(default="{}")


APPLICATIONS = SubsidyApplication.__table__
GRANTS = SubsidyGrant.__table__
FLAGS = SubsidyGrantFlag.__table__
CLAWBACKS = SubsidyClawback.__table__
YEAR_ENDS = SubsidyYearEnd.__table__
CAP_LOCKS = SubsidyCapLock.__table__
EVENTS = SubsidyEvent.__table__
PROGRAMS = SubsidyProgram.__table__
