"""vouchers.positions: the grouped query gives, per program, what reading each source on its own gives."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from ledger.db import read_snapshot
from tests.vouchers.conftest import SHANGHAI, START, build_scheme, credit_code, program_config
from vouchers import books, programs
from vouchers.expiry import run_expiry
from vouchers.grants import grant_approve_in_one
from vouchers.payments import approve_batch, prepare_batch
from vouchers.positions import (
    T_BATCHES,
    T_EXPIRIES,
    T_GRANTS,
    T_LINES,
    T_PROGRAMS,
    T_REDEMPTIONS,
    QuotaPosition,
    enterprise_positions,
)
from vouchers.redemptions import cancel, claim, reserve

SECOND_PROGRAM = f"P{SHANGHAI}-2026-B"


def positions_source_by_source(ledger, enterprise: str) -> list[QuotaPosition]:  # noqa: ANN001
    """The reference: each figure read from its own source, program by program (the reads the grouped
    query replaced)."""
    with read_snapshot(ledger.engine) as conn:
        rows = conn.execute(
            select(T_PROGRAMS.c.code, T_PROGRAMS.c.region_code, T_PROGRAMS.c.year, func.sum(T_GRANTS.c.granted_fen))
            .join(T_GRANTS, T_GRANTS.c.program_code == T_PROGRAMS.c.code)
            .where(T_GRANTS.c.enterprise_code == enterprise, T_GRANTS.c.status == "approved")
            .group_by(T_PROGRAMS.c.code, T_PROGRAMS.c.region_code, T_PROGRAMS.c.year)
            .order_by(T_PROGRAMS.c.year, T_PROGRAMS.c.code)
        ).all()
        positions = []
        for program, region, year, granted_fen in rows:
            memo = books.memo_book(region)
            quota = books.account_state(conn, memo, books.enterprise_quota(program, enterprise))
            used = books.account_state(conn, memo, books.enterprise_quota_used(program, enterprise))
            expired_fen = conn.execute(
                select(func.coalesce(func.sum(T_EXPIRIES.c.amount_fen), 0)).where(
                    T_EXPIRIES.c.program_code == program, T_EXPIRIES.c.enterprise_code == enterprise
                )
            ).scalar_one()
            paid_fen = conn.execute(
                select(func.coalesce(func.sum(T_LINES.c.amount_fen), 0))
                .join(T_BATCHES, T_BATCHES.c.id == T_LINES.c.batch_id)
                .join(T_REDEMPTIONS, T_REDEMPTIONS.c.id == T_LINES.c.redemption_id)
                .where(
                    T_BATCHES.c.status == "paid",
                    T_REDEMPTIONS.c.program_code == program,
                    T_REDEMPTIONS.c.enterprise_code == enterprise,
                )
            ).scalar_one()
            positions.append(
                QuotaPosition(
                    program=program,
                    region=region,
                    year=year,
                    granted_fen=int(granted_fen),
                    available_fen=quota["credits_posted"] - quota["debits_posted"] - quota["debits_pending"],
                    reserved_fen=quota["debits_pending"],
                    used_fen=used["credits_posted"],
                    expired_fen=int(expired_fen),
                    paid_fen=int(paid_fen),
                )
            )
        return positions


def _reserve(scheme, program: str, contract: str, amount: str) -> int:  # noqa: ANN001
    return reserve(
        scheme.ledger,
        program,
        enterprise=scheme.enterprises[SHANGHAI],
        provider=scheme.providers[SHANGHAI],
        category="testing",
        contract_no=contract,
        contract_amount=amount,
        on=date(2026, 2, 1),
        actor="enterprise-user",
    )["id"]


def _claim(scheme, redemption: int, invoice: str, amount: str, on: date = date(2026, 3, 1)) -> None:  # noqa: ANN001
    claim(
        scheme.ledger,
        redemption,
        invoice_no=invoice,
        invoiced_amount=amount,
        on=on,
        actor="provider-user",
        verifier="sh-officer",
    )


def test_the_grouped_query_equals_the_source_by_source_reads_in_every_part(ledger):
    scheme = build_scheme(ledger, regions=(SHANGHAI,))
    programs.create_program(
        ledger,
        program_config(SHANGHAI, SECOND_PROGRAM),
        actor="budget-clerk",
        approver="bureau-head",
        approval_doc="上海市科发〔2026〕2号",
        on=START,
    )
    enterprise, first = scheme.enterprises[SHANGHAI], scheme.programs[SHANGHAI]
    scheme.grant(SHANGHAI, "5万")
    scheme.grant(SHANGHAI, "3万")  # two grants in one program: granted is their sum
    grant_approve_in_one(
        ledger, SECOND_PROGRAM, enterprise, "2万", maker="clerk", checker="director", on=START, client_id="second"
    )
    paid = _reserve(scheme, first, "C-PAID", "20000.00")
    _claim(scheme, paid, "INV-PAID", "20000.00")
    batch = prepare_batch(
        ledger,
        SHANGHAI,
        period_label="2026Q1",
        period_start=date(2026, 1, 1),
        period_end=date(2026, 3, 31),
        maker="payout-clerk",
        on=date(2026, 4, 1),
    )
    approve_batch(ledger, batch["id"], checker="director", approval_doc="沪财〔2026〕9号", on=date(2026, 4, 2))
    unpaid = _reserve(scheme, first, "C-UNPAID", "6000.00")
    _claim(scheme, unpaid, "INV-UNPAID", "6000.00", on=date(2026, 4, 10))  # used, in no batch: not paid
    _reserve(scheme, first, "C-HELD", "8000.00")  # reserved
    cancel(ledger, _reserve(scheme, first, "C-CANCEL", "4000.00"), actor="u", reason="r", on=date(2026, 3, 2))
    _reserve(scheme, SECOND_PROGRAM, "C-SECOND", "10000.00")
    run_expiry(ledger, SECOND_PROGRAM, as_of=date(2026, 10, 1))  # the second program's rest expires

    grouped = enterprise_positions(ledger, enterprise)
    assert grouped == positions_source_by_source(ledger, enterprise)
    by_program = {position.program: position for position in grouped}
    assert set(by_program) == {first, SECOND_PROGRAM}
    assert by_program[first].granted_fen == 8_000_000
    assert (by_program[first].used_fen, by_program[first].paid_fen) == (1_300_000, 1_000_000)
    assert by_program[first].reserved_fen == 400_000 and by_program[first].expired_fen == 0
    assert by_program[SECOND_PROGRAM].granted_fen == 2_000_000 and by_program[SECOND_PROGRAM].expired_fen > 0
    for position in grouped:
        assert (
            position.used_fen + position.reserved_fen + position.available_fen + position.expired_fen
            == position.granted_fen
        )


def test_an_enterprise_without_an_approved_grant_has_no_positions(scheme):
    ledger = scheme.ledger
    stranger = ledger.register_institution(credit_code(999), "无券企业", "enterprise", region_code=SHANGHAI)
    assert enterprise_positions(ledger, stranger) == [] == positions_source_by_source(ledger, stranger)
    # another enterprise's grants are not this one's
    scheme.grant(SHANGHAI, "1万")
    assert enterprise_positions(ledger, stranger) == []
    assert enterprise_positions(ledger, scheme.enterprises[SHANGHAI]) == positions_source_by_source(
        ledger, scheme.enterprises[SHANGHAI]
    )
