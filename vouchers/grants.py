"""Quota grants: a commitment in the memo book (not a liability), recorded by one user and approved by
another. The per-enterprise annual cap and the remaining program budget bind at approval: refused with the
room left (``stop``), granted up to the room (``clip``, 核减, the rule recorded) or granted in full and flagged
for audit (``warn``: the rule recorded in ``warned_by``; the amount counts toward later caps)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, func, select
from sqlalchemy.exc import IntegrityError

from ledger.engine import Ledger, posting_specs_fen
from ledger.entries import Audit, TransactionRequest
from ledger.errors import LedgerError, ResultCode
from ledger.money import format_fen
from ledger.numbers import parse_amount_fen
from vouchers import books
from vouchers.codes import VoucherCode
from vouchers.config import ProgramConfig
from vouchers.models import VoucherGrant, VoucherProgram
from vouchers.programs import check_enterprise_eligible, load_program, record_event, require_maker_checker

T_GRANTS = VoucherGrant.__table__
T_PROGRAMS = VoucherProgram.__table__


@dataclass(frozen=True)
class GrantDecision:
    grant_id: int
    status: str
    requested_fen: int
    granted_fen: int | None
    clipped_by: str | None
    warned_by: str | None = None  # under warn: the rule the grant went beyond (flagged for audit)


def submit_grant(ledger: Ledger, program: str, enterprise: str, amount, *, maker: str, on: date, client_id: str) -> int:
    """Record a grant request. With ``stop`` enforcement a request already beyond the room is refused now.

    ``client_id`` is the caller's key: a retry with the same content returns the same grant and writes nothing;
    the same key with other content is refused (``grant_client_id_has_other_content``)."""
    requested_fen = parse_amount_fen(amount)
    content = {
        "program_code": program,
        "enterprise_code": enterprise,
        "requested_fen": requested_fen,
        "maker": maker,
        "submitted_on": on,
    }
    with ledger.engine.begin() as conn:
        stored = _grant_with_client_id(conn, client_id, content)
        if stored is not None:
            return stored
        config = load_program(conn, program)
        _check_grant_date(config, on)
        check_enterprise_eligible(conn, config, enterprise, on)
        if requested_fen <= 0:
            raise LedgerError(ResultCode.AMOUNT_MUST_BE_POSITIVE, "a grant must be greater than zero")
        if config.cap_enforcement == "stop":
            _binding_room(conn, config, enterprise, requested_fen)
        try:
            with conn.begin_nested():
                grant_id = conn.execute(
                    T_GRANTS.insert().values(status="submitted", client_id=client_id, **content)
                ).inserted_primary_key[0]
        except IntegrityError as error:
            # the same key submitted at the same instant by another unit of work: the key decides
            stored = _grant_with_client_id(conn, client_id, content)
            if stored is None:
                raise error
            return stored
        record_event(ledger, conn, "grant", grant_id, "submitted", maker, requested=format_fen(requested_fen))
        return grant_id


def _grant_with_client_id(conn: Connection, client_id: str, content: dict) -> int | None:
    """The grant already recorded under ``client_id`` when its content is the same; refused when it differs."""
    row = conn.execute(select(T_GRANTS).where(T_GRANTS.c.client_id == client_id)).mappings().first()
    if row is None:
        return None
    if any(row[column] != value for column, value in content.items()):
        raise LedgerError(
            VoucherCode.GRANT_CLIENT_ID_HAS_OTHER_CONTENT,
            f"grant key {client_id!r} was already used for grant {row['id']} with other content",
            grant=str(row["id"]),
        )
    return row["id"]


def approve_grant(ledger: Ledger, grant_id: int, *, checker: str, approval_doc: str, on: date) -> GrantDecision:
    with ledger.engine.begin() as conn:
        stored = _same_approval(ledger, conn, grant_id, checker, approval_doc)
        if stored is not None:
            return stored  # a retry of this approval: the grant is keyed by its own id
        grant = _lock_undecided_grant(ledger, conn, grant_id)
        require_maker_checker(grant["maker"], checker)
        config = load_program(conn, grant["program_code"])
        _lock_program(ledger, conn, config.code)
        _check_grant_date(config, on)
        enterprise = grant["enterprise_code"]
        check_enterprise_eligible(conn, config, enterprise, on)
        granted_fen, clipped_by, warned_by = _binding_room(conn, config, enterprise, grant["requested_fen"])
        books.create_quota_accounts(ledger, config.region_code, config.code, enterprise, conn=conn)
        ledger.post(
            TransactionRequest(
                client_id=f"grant:{grant_id}",
                postings=posting_specs_fen(
                    books.memo_book(config.region_code),
                    [
                        (books.program_grantable(config.code), granted_fen),
                        (books.enterprise_quota(config.code, enterprise), -granted_fen),
                    ],
                ),
                effective_date=on,
                source=books.LEDGER_SOURCE,
                kind="voucher_quota_grant",
                memo=f"创新券 quota for {enterprise} in {config.code}"
                + (f" (核减: {clipped_by})" if clipped_by else "")
                + (f" (超限预警: {warned_by})" if warned_by else ""),
                audit=Audit(grant["maker"], checker, approval_doc),
                program_year=config.year,
                link_type="voucher_grant",
                link_id=str(grant_id),
            ),
            conn=conn,
        )
        conn.execute(
            T_GRANTS.update()
            .where(T_GRANTS.c.id == grant_id)
            .values(
                status="approved",
                granted_fen=granted_fen,
                clipped_by=clipped_by,
                warned_by=warned_by,
                checker=checker,
                approval_doc=approval_doc,
                decided_on=on,
            )
        )
        record_event(
            ledger,
            conn,
            "grant",
            grant_id,
            "approved",
            checker,
            granted=format_fen(granted_fen),
            clipped_by=clipped_by,
            warned_by=warned_by,
        )
        return GrantDecision(grant_id, "approved", grant["requested_fen"], granted_fen, clipped_by, warned_by)


def reject_grant(ledger: Ledger, grant_id: int, *, checker: str, reason: str, on: date) -> GrantDecision:
    if not reason.strip():
        raise LedgerError(VoucherCode.REJECTION_NEEDS_REASON, "a rejected grant needs a reason")
    with ledger.engine.begin() as conn:
        grant = _lock_undecided_grant(ledger, conn, grant_id)
        require_maker_checker(grant["maker"], checker)
        conn.execute(
            T_GRANTS.update()
            .where(T_GRANTS.c.id == grant_id)
            .values(status="rejected", checker=checker, reason=reason, decided_on=on)
        )
        record_event(ledger, conn, "grant", grant_id, "rejected", checker, reason=reason)
        return GrantDecision(grant_id, "rejected", grant["requested_fen"], None, None)


def grant_approve_in_one(
    ledger: Ledger,
    program: str,
    enterprise: str,
    amount,
    *,
    maker: str,
    checker: str,
    on: date,
    client_id: str,
    approval_doc: str = "",
) -> GrantDecision:
    """Convenience for imports and demos: submit and approve (still two different users). A retry with the same
    ``client_id`` and content returns the same decision."""
    grant_id = submit_grant(ledger, program, enterprise, amount, maker=maker, on=on, client_id=client_id)
    return approve_grant(ledger, grant_id, checker=checker, approval_doc=approval_doc or f"grant-{grant_id}", on=on)


# rules ----------------------------------------------------------------------------------------------


def _check_grant_date(config: ProgramConfig, on: date) -> None:
    if on > config.use_by:
        raise LedgerError(
            VoucherCode.GRANT_BEFORE_USE_BY,
            f"program {config.code} stopped granting after its use-by date {config.use_by}",
            use_by=config.use_by.isoformat(),
        )


def approved_total_fen(conn: Connection, program: str, enterprise: str) -> int:
    return conn.execute(
        select(func.coalesce(func.sum(T_GRANTS.c.granted_fen), 0)).where(
            T_GRANTS.c.program_code == program,
            T_GRANTS.c.enterprise_code == enterprise,
            T_GRANTS.c.status == "approved",
        )
    ).scalar_one()


def _tightest_limit(conn: Connection, config: ProgramConfig, enterprise: str) -> tuple[int, VoucherCode, str, str]:
    """The room under the tighter of the enterprise's annual cap and the program's grantable budget (never
    below zero), that limit's code, its configured figure and its name."""
    cap_room = config.enterprise_annual_cap_fen - approved_total_fen(conn, config.code, enterprise)
    budget_room = books.credit_room(conn, books.memo_book(config.region_code), books.program_grantable(config.code))
    limits = [
        (
            max(cap_room, 0),
            VoucherCode.GRANT_WITHIN_ENTERPRISE_ANNUAL_CAP,
            config.enterprise_annual_cap,
            "enterprise_annual_cap",
        ),
        (max(budget_room, 0), VoucherCode.GRANT_WITHIN_PROGRAM_BUDGET, config.budget, "program budget"),
    ]
    return min(limits, key=lambda item: item[0])


def grant_room(conn: Connection, program: str, enterprise: str) -> tuple[int, str]:
    """What an approval could still grant this enterprise in this program (fen) and the limit that binds: the
    figures a preview shows beside a request that fits."""
    room, code, _limit, _rule = _tightest_limit(conn, load_program(conn, program), enterprise)
    return room, str(code)


def _binding_room(
    conn: Connection, config: ProgramConfig, enterprise: str, requested_fen: int
) -> tuple[int, str | None, str | None]:
    """The amount to grant, the rule that clipped it (clip) and the rule it went beyond (warn); refuse (stop)
    when the request is beyond the room. Earlier warned grants count: they leave less (or negative) room."""
    room, code, limit, rule = _tightest_limit(conn, config, enterprise)
    if requested_fen <= room:
        return requested_fen, None, None
    if config.cap_enforcement == "warn":
        return requested_fen, None, str(code)
    if config.cap_enforcement == "clip" and room > 0:
        return room, str(code), None
    raise LedgerError(
        code,
        f"grant of {format_fen(requested_fen)} exceeds the {rule} ({limit}) of program {config.code}: "
        f"{format_fen(room)} left",
        room_left=format_fen(room),
        limit=limit,
        source=config.sources.get(rule.replace(" ", "_"), config.sources.get("program", "")),
    )


def _lock_undecided_grant(ledger: Ledger, conn: Connection, grant_id: int):
    query = select(T_GRANTS).where(T_GRANTS.c.id == grant_id)
    if ledger.postgres:
        query = query.with_for_update()
    grant = conn.execute(query).mappings().first()
    if grant is None:
        raise LedgerError(VoucherCode.GRANT_NOT_FOUND, f"grant {grant_id} does not exist")
    if grant["status"] != "submitted":
        raise LedgerError(VoucherCode.GRANT_ALREADY_DECIDED, f"grant {grant_id} was already {grant['status']}")
    return grant


def _lock_program(ledger: Ledger, conn: Connection, program: str) -> None:
    """Serialize approvals within a program so the annual cap is read and consumed atomically."""
    if ledger.postgres:
        conn.execute(select(T_PROGRAMS.c.id).where(T_PROGRAMS.c.code == program).with_for_update())


def warned_grants(conn: Connection, program: str | None = None) -> list[dict]:
    """Approved grants that went beyond a warn rule, for the limit-breach scan and the auditors."""
    query = select(T_GRANTS).where(T_GRANTS.c.status == "approved", T_GRANTS.c.warned_by.is_not(None))
    if program is not None:
        query = query.where(T_GRANTS.c.program_code == program)
    return [dict(row) for row in conn.execute(query.order_by(T_GRANTS.c.id)).mappings()]


def _same_approval(ledger: Ledger, conn: Connection, grant_id: int, checker: str, approval_doc: str):
    """The stored decision when this very approval (same checker and document) was already recorded."""
    query = select(T_GRANTS).where(T_GRANTS.c.id == grant_id)
    if ledger.postgres:
        query = query.with_for_update()
    grant = conn.execute(query).mappings().first()
    if grant is None or grant["status"] != "approved":
        return None
    if (grant["checker"], grant["approval_doc"]) != (checker, approval_doc):
        return None
    return GrantDecision(
        grant_id, "approved", grant["requested_fen"], grant["granted_fen"], grant["clipped_by"], grant["warned_by"]
    )
