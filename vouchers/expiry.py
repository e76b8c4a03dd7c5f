"""Expiry: reservations still pending after the redeem-by date are voided; unused quota returns to the
program's grantable budget after the use-by date. A run is keyed by its program and date: running it again for
the same date changes nothing (issue 11, vouchers), even when quota was released in between (a reservation
cancelled after the first run); that quota returns with the next day's run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select

from ledger.engine import Ledger, posting_specs_fen
from ledger.entries import Audit, TransactionRequest
from vouchers import books
from vouchers.models import VoucherGrant, VoucherQuotaExpiry, VoucherRedemption
from vouchers.programs import load_program, record_event
from vouchers.redemptions import void_reservation

T_GRANTS = VoucherGrant.__table__
T_EXPIRIES = VoucherQuotaExpiry.__table__
T_REDEMPTIONS = VoucherRedemption.__table__
EXPIRY_ACTOR = "system:voucher-expiry"


@dataclass(frozen=True)
class ExpiryResult:
    """What the run voided, and every quota returned on its date (a retry reports the first run's returns)."""

    program: str
    reservations_voided: int
    quotas_returned: int
    returned_fen: int


def run_expiry(ledger: Ledger, program: str, *, as_of: date, actor: str = EXPIRY_ACTOR) -> ExpiryResult:
    """One unit of work per program. Dates are Asia/Shanghai business dates: a use-by of 30 June means the
    quota expires on 1 July."""
    with ledger.engine.begin() as conn:
        config = load_program(conn, program)
        voided = 0
        if as_of > config.redeem_by:
            pending = conn.execute(
                select(T_REDEMPTIONS)
                .where(T_REDEMPTIONS.c.program_code == program, T_REDEMPTIONS.c.status == "reserved")
                .order_by(T_REDEMPTIONS.c.id)
            ).mappings()
            for redemption in pending.all():
                void_reservation(
                    ledger, conn, redemption, "expired", actor=actor, reason="redeem-by date passed", on=as_of
                )
                voided += 1
        if as_of > config.use_by:
            memo = books.memo_book(config.region_code)
            enterprises = conn.execute(
                select(T_GRANTS.c.enterprise_code)
                .where(T_GRANTS.c.program_code == program, T_GRANTS.c.status == "approved")
                .distinct()
                .order_by(T_GRANTS.c.enterprise_code)
            ).scalars()
            already_returned = set(
                conn.execute(
                    select(T_EXPIRIES.c.enterprise_code).where(
                        T_EXPIRIES.c.program_code == program, T_EXPIRIES.c.expired_on == as_of
                    )
                ).scalars()
            )
            for enterprise in enterprises.all():
                if enterprise in already_returned:
                    continue  # this run's date already returned this quota: a retry
                quota = books.enterprise_quota(program, enterprise)
                if ledger.postgres:
                    books.lock_account(conn, memo, quota)
                room_fen = books.credit_room(conn, memo, quota)
                if room_fen <= 0:
                    continue
                sequence = (
                    1
                    + conn.execute(
                        select(func.count()).where(
                            T_EXPIRIES.c.program_code == program, T_EXPIRIES.c.enterprise_code == enterprise
                        )
                    ).scalar_one()
                )
                ledger.post(
                    TransactionRequest(
                        client_id=f"quota-expiry:{program}:{enterprise}:{as_of.isoformat()}",
                        postings=posting_specs_fen(
                            memo, [(quota, room_fen), (books.program_grantable(program), -room_fen)]
                        ),
                        effective_date=as_of,
                        source=books.LEDGER_SOURCE,
                        kind="voucher_quota_expiry",
                        memo=f"unused 创新券 quota of {enterprise} returns to program {program} after {config.use_by}",
                        audit=Audit(actor),
                        program_year=config.year,
                        link_type="voucher_program",
                        link_id=program,
                    ),
                    conn=conn,
                )
                conn.execute(
                    T_EXPIRIES.insert().values(
                        program_code=program,
                        enterprise_code=enterprise,
                        sequence=sequence,
                        amount_fen=room_fen,
                        expired_on=as_of,
                    )
                )
                record_event(ledger, conn, "quota", f"{program}:{enterprise}", "expired", actor, amount_fen=room_fen)
        returned, returned_fen = conn.execute(
            select(func.count(), func.coalesce(func.sum(T_EXPIRIES.c.amount_fen), 0)).where(
                T_EXPIRIES.c.program_code == program, T_EXPIRIES.c.expired_on == as_of
            )
        ).one()
        return ExpiryResult(program, voided, int(returned), int(returned_fen))
