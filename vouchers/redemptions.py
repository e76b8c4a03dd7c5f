"""Redemptions: a service contract reserves quota (a pending memo transaction); the provider's verified
claim posts min(reserved, co-pay ratio x invoiced), rounded down, and releases the rest, booking the expense
and the payable; a cancelled contract voids the reservation.

Across regions (长三角 通用通兑) the claim is split between the enterprise's region and the provider's
region by the program's agreed ratio (largest remainder, stored on the redemption) and posts the
inter-region receivable and payable (往来) in both regions' financial books, in one transaction.
"""

from __future__ import annotations

import json
from datetime import date

from sqlalchemy import Connection, select
from sqlalchemy.exc import IntegrityError

from ledger.engine import Ledger, posting_specs_fen
from ledger.entities import region_at_level
from ledger.entries import Audit, PostingSpec, PostPendingRequest, TransactionRequest, VoidPendingRequest
from ledger.errors import LedgerError, ResultCode
from ledger.money import format_fen
from ledger.numbers import apply_ratio_down, parse_amount_fen, split_largest_remainder
from vouchers import books
from vouchers.codes import VoucherCode
from vouchers.config import CROSS_REGION_MODES, ProgramConfig
from vouchers.models import VoucherEvent, VoucherRedemption
from vouchers.programs import (
    check_enterprise_eligible,
    check_not_related,
    check_provider_certified,
    institution_region,
    load_program,
    record_event,
    require_maker_checker,
    settling_region,
)

T_REDEMPTIONS = VoucherRedemption.__table__
T_EVENTS = VoucherEvent.__table__
LOCAL_MODE = "local"


def reservation_client_id(redemption_id: int) -> str:
    return f"reserve:{redemption_id}"


def claim_client_id(redemption_id: int) -> str:
    return f"claim:{redemption_id}"


def reserve(
    ledger: Ledger,
    program: str,
    *,
    enterprise: str,
    provider: str,
    category: str,
    contract_no: str,
    contract_amount,
    on: date,
    actor: str,
    mode: str | None = None,
) -> dict:
    """Reserve min(co-pay ratio x contract, per-application amount, available quota), rounded down."""
    contract_fen = parse_amount_fen(contract_amount)
    if contract_fen <= 0:
        raise LedgerError(ResultCode.AMOUNT_MUST_BE_POSITIVE, "the service contract amount must be greater than zero")
    content = {
        "program_code": program,
        "enterprise_code": enterprise,
        "provider_code": provider,
        "category": category,
        "contract_fen": contract_fen,
        "reserved_on": on,
    }
    with ledger.engine.begin() as conn:
        stored = _same_reservation(conn, contract_no, content, mode)
        if stored is not None:
            return stored  # a retry of this reservation: the contract number is its key
        config = load_program(conn, program)
        if on > config.use_by:
            raise LedgerError(
                VoucherCode.REDEMPTION_BEFORE_USE_BY,
                f"vouchers of program {program} could be used until {config.use_by}, not on {on}",
                use_by=config.use_by.isoformat(),
            )
        enterprise_region_raw = check_enterprise_eligible(conn, config, enterprise, on)
        if category not in config.categories:
            raise LedgerError(
                VoucherCode.SERVICE_CATEGORY_MUST_BE_COVERED,
                f"program {program} does not cover the service category {category!r}",
                category=category,
                covered=", ".join(config.categories),
            )
        check_provider_certified(conn, config, provider, category, on)
        check_not_related(conn, enterprise, provider)
        provider_region = _provider_settling_region(conn, config, enterprise_region_raw, provider)
        resolved_mode = _resolve_mode(config, provider_region, mode)
        _check_contract_number_unused(conn, contract_no)
        quota_path = books.enterprise_quota(program, enterprise)
        available_fen = _locked_quota_room(ledger, conn, config, quota_path)
        covered_fen = min(apply_ratio_down(contract_fen, config.copay), available_fen)
        reserved_fen, clipped_by, warned_by = _per_application_enforced(config, covered_fen)
        if reserved_fen <= 0:
            raise LedgerError(
                VoucherCode.QUOTA_MUST_COVER_RESERVATION,
                f"enterprise {enterprise} has no quota left in program {program}",
                room_left=format_fen(max(available_fen, 0)),
            )
        redemption_id = _insert_redemption(
            conn,
            **content,
            contract_no=contract_no,
            reserved_fen=reserved_fen,
            status="reserved",
            mode=resolved_mode,
            enterprise_region=config.region_code,
            provider_region=provider_region,
            split_ratio=config.cross_region_split,
            clipped_by=clipped_by,
            warned_by=warned_by,
        )
        if redemption_id is None:
            # the same contract number reserved at the same instant by another unit of work
            stored = _same_reservation(conn, contract_no, content, mode)
            if stored is None:
                raise _contract_used(contract_no, None)
            return stored
        _post_reservation(ledger, conn, config, enterprise, redemption_id, reserved_fen, on, actor)
        record_event(
            ledger,
            conn,
            "redemption",
            redemption_id,
            "reserved",
            actor,
            reserved=format_fen(reserved_fen),
            clipped_by=clipped_by,
            warned_by=warned_by,
        )
        return _redemption(conn, redemption_id)


def claim(
    ledger: Ledger,
    redemption_id: int,
    *,
    invoice_no: str,
    invoiced_amount,
    on: date,
    actor: str,
    verifier: str,
    requested_amount=None,
) -> dict:
    """Post the provider's verified claim: min(reserved, co-pay ratio x invoiced, requested), rest released."""
    invoiced_fen = parse_amount_fen(invoiced_amount)
    if invoiced_fen <= 0:
        raise LedgerError(ResultCode.AMOUNT_MUST_BE_POSITIVE, "the invoiced amount must be greater than zero")
    with ledger.engine.begin() as conn:
        redemption = _lock_redemption(ledger, conn, redemption_id)
        if _same_claim(conn, redemption, invoice_no, invoiced_fen, requested_amount, on, verifier):
            return dict(redemption)  # a retry of this claim: the stored outcome, nothing posted
        if redemption["status"] == "claimed":
            raise LedgerError(
                VoucherCode.REDEMPTION_CLAIMED_ONCE,
                f"redemption {redemption_id} was already claimed (invoice {redemption['invoice_no']})",
            )
        _require_reserved(redemption)
        require_maker_checker(actor, verifier)
        config = load_program(conn, redemption["program_code"])
        if on > config.redeem_by:
            raise LedgerError(
                VoucherCode.CLAIM_BEFORE_REDEEM_BY,
                f"claims under program {config.code} were due by {config.redeem_by}, not {on}",
                redeem_by=config.redeem_by.isoformat(),
            )
        reserved_fen = redemption["reserved_fen"]
        requested_fen = parse_amount_fen(requested_amount) if requested_amount is not None else reserved_fen
        if requested_fen > reserved_fen:
            raise LedgerError(
                VoucherCode.CLAIM_WITHIN_RESERVATION,
                f"claim of {format_fen(requested_fen)} exceeds the reservation of {format_fen(reserved_fen)}",
                room_left=format_fen(reserved_fen),
            )
        claim_fen = min(reserved_fen, apply_ratio_down(invoiced_fen, config.copay), requested_fen)
        if claim_fen <= 0:
            raise LedgerError(VoucherCode.CLAIM_MUST_BE_POSITIVE, "the claim rounds to zero: nothing to redeem")
        _check_invoice_number_unused(conn, invoice_no)
        enterprise_share_fen, provider_share_fen = _split(config, redemption, claim_fen)
        _record_claim(
            conn,
            redemption_id,
            invoice_no=invoice_no,
            invoiced_fen=invoiced_fen,
            claimed_fen=claim_fen,
            enterprise_share_fen=enterprise_share_fen,
            provider_share_fen=provider_share_fen,
            claimed_on=on,
        )
        audit = Audit(actor, verifier, invoice_no)
        ledger.post(
            PostPendingRequest(
                client_id=claim_client_id(redemption_id),
                pending=(books.LEDGER_SOURCE, reservation_client_id(redemption_id)),
                source=books.LEDGER_SOURCE,
                amount=format_fen(claim_fen),
                effective_date=on,
                memo=f"创新券 claim, invoice {invoice_no}",
                audit=audit,
            ),
            conn=conn,
        )
        redemption = _redemption(conn, redemption_id)
        _post_expense(ledger, conn, config, redemption, on, audit)
        record_event(
            ledger,
            conn,
            "redemption",
            redemption_id,
            "claimed",
            verifier,
            claimed=format_fen(claim_fen),
            requested=format_fen(requested_fen) if requested_amount is not None else None,
        )
        return redemption


def cancel(ledger: Ledger, redemption_id: int, *, actor: str, reason: str, on: date) -> dict:
    """A cancelled service contract voids its reservation: the quota is available again."""
    with ledger.engine.begin() as conn:
        redemption = _lock_redemption(ledger, conn, redemption_id)
        if redemption["status"] == "cancelled" and _last_event(conn, redemption_id, "cancelled") == (
            actor,
            {"reason": reason, "on": on.isoformat()},
        ):
            return dict(redemption)  # a retry of this cancellation: the stored outcome, nothing posted
        _require_reserved(redemption)
        void_reservation(ledger, conn, redemption, "cancelled", actor=actor, reason=reason, on=on)
        return _redemption(conn, redemption_id)


def void_reservation(
    ledger: Ledger, conn: Connection, redemption, status: str, *, actor: str, reason: str, on: date
) -> None:
    redemption_id = redemption["id"]
    ledger.post(
        VoidPendingRequest(
            client_id=f"{status}:{redemption_id}",
            pending=(books.LEDGER_SOURCE, reservation_client_id(redemption_id)),
            source=books.LEDGER_SOURCE,
            reason=reason,
            effective_date=on,
            audit=Audit(actor),
        ),
        conn=conn,
    )
    conn.execute(T_REDEMPTIONS.update().where(T_REDEMPTIONS.c.id == redemption_id).values(status=status))
    record_event(ledger, conn, "redemption", redemption_id, status, actor, reason=reason, on=on.isoformat())


def get_redemption(ledger: Ledger, redemption_id: int) -> dict:
    with ledger.engine.connect() as conn:
        return _redemption(conn, redemption_id)


# rules and helpers -----------------------------------------------------------------------------------


def _provider_settling_region(conn: Connection, config: ProgramConfig, enterprise_region: str, provider: str) -> str:
    """The issuing region when the provider matches the enterprise at the configured level, else the
    scheme region that settles for the provider."""
    provider_region = institution_region(conn, provider)
    level = config.region_match_level
    if region_at_level(provider_region, level) == region_at_level(enterprise_region, level):
        return config.region_code
    return settling_region(conn, provider_region)


def _resolve_mode(config: ProgramConfig, provider_region: str, mode: str | None) -> str:
    if provider_region == config.region_code:
        return LOCAL_MODE
    resolved = mode or CROSS_REGION_MODES[0]
    if resolved not in CROSS_REGION_MODES:
        raise LedgerError(
            VoucherCode.CROSS_REGION_MODE_INVALID,
            f"cross-region mode {resolved!r} is not one of {', '.join(CROSS_REGION_MODES)} (通兑, 通用)",
        )
    return resolved


def _check_contract_number_unused(conn: Connection, contract_no: str) -> None:
    used = conn.execute(select(T_REDEMPTIONS.c.id).where(T_REDEMPTIONS.c.contract_no == contract_no)).first()
    if used is not None:
        raise _contract_used(contract_no, used[0])


def _check_invoice_number_unused(conn: Connection, invoice_no: str) -> None:
    used = conn.execute(select(T_REDEMPTIONS.c.id).where(T_REDEMPTIONS.c.invoice_no == invoice_no)).first()
    if used is not None:
        raise _invoice_used(invoice_no, used[0])


def _contract_used(contract_no: str, redemption_id: int | None) -> LedgerError:
    return LedgerError(
        VoucherCode.CONTRACT_NUMBER_REDEEMS_ONCE,
        f"contract {contract_no} (技术合同登记号) was already used for a voucher in some region",
        redemption=str(redemption_id or ""),
    )


def _invoice_used(invoice_no: str, redemption_id: int | None) -> LedgerError:
    return LedgerError(
        VoucherCode.INVOICE_NUMBER_REDEEMS_ONCE,
        f"invoice {invoice_no} was already redeemed in some region",
        redemption=str(redemption_id or ""),
    )


def _insert_redemption(conn: Connection, **values) -> int | None:
    """The new redemption's id, or None when its contract number was taken meanwhile. The unique constraint is
    the guarantee: two regions inserting the same number at once cannot both win."""
    try:
        with conn.begin_nested():
            return conn.execute(T_REDEMPTIONS.insert().values(**values)).inserted_primary_key[0]
    except IntegrityError as error:
        if "contract_no" in str(error):
            return None
        raise


def _same_reservation(conn: Connection, contract_no: str, content: dict, mode: str | None) -> dict | None:
    """The stored redemption when ``contract_no`` was already reserved with this very content (a retry); refused
    as ``contract_number_redeems_once`` when it was used with other content."""
    row = conn.execute(select(T_REDEMPTIONS).where(T_REDEMPTIONS.c.contract_no == contract_no)).mappings().first()
    if row is None:
        return None
    same_mode = row["mode"] == LOCAL_MODE or (mode or CROSS_REGION_MODES[0]) == row["mode"]
    if not same_mode or any(row[column] != value for column, value in content.items()):
        raise _contract_used(contract_no, row["id"])
    return dict(row)


def _record_claim(conn: Connection, redemption_id: int, **values) -> None:
    try:
        with conn.begin_nested():
            conn.execute(
                T_REDEMPTIONS.update().where(T_REDEMPTIONS.c.id == redemption_id).values(status="claimed", **values)
            )
    except IntegrityError as error:
        if "invoice_no" in str(error):
            raise _invoice_used(values["invoice_no"], None) from error
        raise


def _locked_quota_room(ledger: Ledger, conn: Connection, config: ProgramConfig, quota_path: str) -> int:
    """Available quota, read under the account's row lock on PostgreSQL so concurrent reservations for one
    enterprise compute their amounts one after another (the ledger's flag is the hard guarantee either way)."""
    if ledger.postgres:
        books.lock_account(conn, books.memo_book(config.region_code), quota_path)
    return books.credit_room(conn, books.memo_book(config.region_code), quota_path)


def _post_reservation(
    ledger: Ledger,
    conn: Connection,
    config: ProgramConfig,
    enterprise: str,
    redemption_id: int,
    amount_fen: int,
    on: date,
    actor: str,
) -> None:
    request = TransactionRequest(
        client_id=reservation_client_id(redemption_id),
        postings=posting_specs_fen(
            books.memo_book(config.region_code),
            [
                (books.enterprise_quota(config.code, enterprise), amount_fen),
                (books.enterprise_quota_used(config.code, enterprise), -amount_fen),
            ],
        ),
        effective_date=on,
        source=books.LEDGER_SOURCE,
        kind="voucher_redemption",
        memo=f"创新券 reservation for redemption {redemption_id}",
        audit=Audit(actor),
        pending=True,
        program_year=config.year,
        link_type="voucher_redemption",
        link_id=str(redemption_id),
    )
    try:
        ledger.post(request, conn=conn)
    except LedgerError as error:
        if error.code in (ResultCode.DEBITS_EXCEED_CREDITS, ResultCode.ACCOUNT_NOT_FOUND):
            raise LedgerError(
                VoucherCode.QUOTA_MUST_COVER_RESERVATION,
                f"enterprise {enterprise} has not enough quota left in program {config.code}",
                room_left=error.detail.get("available", "0.00"),
            ) from error
        raise


def _per_application_enforced(config: ProgramConfig, covered_fen: int) -> tuple[int, str | None, str | None]:
    """(amount to reserve, the rule that clipped it, the warn rule it went beyond) under the program's
    enforcement of the per-application amount (DESIGN "Domain rules"): ``stop`` refuses a reservation beyond it
    with the room left, before anything is written; ``clip`` reserves up to it (核减); ``warn`` reserves the whole
    covered amount and flags it for audit."""
    limit_fen = config.per_application_fen
    rule = str(VoucherCode.RESERVATION_WITHIN_PER_APPLICATION_AMOUNT)
    if covered_fen <= limit_fen:
        return covered_fen, None, None
    if config.cap_enforcement == "warn":
        return covered_fen, None, rule
    if config.cap_enforcement == "clip":
        return limit_fen, rule, None
    raise LedgerError(
        VoucherCode.RESERVATION_WITHIN_PER_APPLICATION_AMOUNT,
        f"the voucher would cover {format_fen(covered_fen)} of this contract, beyond program {config.code}'s "
        f"per-application amount of {format_fen(limit_fen)}",
        room_left=format_fen(limit_fen),
        requested=format_fen(covered_fen),
    )


def _split(config: ProgramConfig, redemption, claim_fen: int) -> tuple[int, int]:
    """The enterprise's region's and the provider's region's parts; they sum exactly to the claim."""
    if redemption["mode"] == LOCAL_MODE:
        return claim_fen, 0
    share = config.enterprise_region_share
    enterprise_part, provider_part = split_largest_remainder(claim_fen, [share, 1 - share])
    return enterprise_part, provider_part


def expense_legs(redemption) -> list[PostingSpec]:
    """The financial legs of a verified claim, in the books of both regions (zero legs left out)."""
    program = redemption["program_code"]
    home, away = redemption["enterprise_region"], redemption["provider_region"]
    claim_fen = redemption["claimed_fen"]
    home_part, away_part = redemption["enterprise_share_fen"], redemption["provider_share_fen"]
    home_book, away_book = books.financial_book(home), books.financial_book(away)
    mode = redemption["mode"]
    if mode == LOCAL_MODE:
        legs = [
            (home_book, books.voucher_expense(program), claim_fen),
            (home_book, books.payable_to(redemption["provider_code"]), -claim_fen),
        ]
    elif mode == "tongdui":
        # 通兑: the provider redeems the voucher part in its own region, which bills the issuing region.
        legs = [
            (home_book, books.voucher_expense(program), home_part),
            (home_book, books.payable_to_region(away), -home_part),
            (away_book, books.receivable_from_region(home), home_part),
            (away_book, books.inter_region_expense(home), away_part),
            (away_book, books.payable_to(redemption["provider_code"]), -claim_fen),
        ]
    else:
        # 通用: the enterprise paid in full; its region reimburses it and bills the provider's region.
        legs = [
            (home_book, books.voucher_expense(program), home_part),
            (home_book, books.receivable_from_region(away), away_part),
            (home_book, books.payable_to(redemption["enterprise_code"]), -claim_fen),
            (away_book, books.inter_region_expense(home), away_part),
            (away_book, books.payable_to_region(home), -away_part),
        ]
    return [PostingSpec(book, path, format_fen(amount)) for book, path, amount in legs if amount != 0]


def _post_expense(ledger: Ledger, conn: Connection, config: ProgramConfig, redemption, on: date, audit: Audit) -> None:
    legs = expense_legs(redemption)
    home, away = redemption["enterprise_region"], redemption["provider_region"]
    if away != home:
        books.create_cross_region_accounts(ledger, home, away, conn=conn)
        books.create_cross_region_accounts(ledger, away, home, conn=conn)
    for leg in legs:
        if leg.account.startswith("Liabilities:Payables:"):
            ledger.create_account(leg.book, leg.account, exist_ok=True, conn=conn)
    ledger.post(
        TransactionRequest(
            client_id=f"expense:{redemption['id']}",
            postings=tuple(legs),
            effective_date=on,
            source=books.LEDGER_SOURCE,
            kind=f"voucher_expense_{redemption['mode']}",
            memo=f"创新券 redemption {redemption['id']} ({redemption['mode']}), contract {redemption['contract_no']}",
            audit=audit,
            program_year=config.year,
            link_type="voucher_redemption",
            link_id=str(redemption["id"]),
        ),
        conn=conn,
    )


def _lock_redemption(ledger: Ledger, conn: Connection, redemption_id: int):
    query = select(T_REDEMPTIONS).where(T_REDEMPTIONS.c.id == redemption_id)
    if ledger.postgres:
        query = query.with_for_update()
    row = conn.execute(query).mappings().first()
    if row is None:
        raise LedgerError(VoucherCode.REDEMPTION_NOT_FOUND, f"redemption {redemption_id} does not exist")
    return row


def _last_event(conn: Connection, redemption_id: int, event: str) -> tuple[str, dict] | None:
    """(actor, detail) of the latest ``event`` of a redemption in its audit trail."""
    row = conn.execute(
        select(T_EVENTS.c.actor, T_EVENTS.c.detail_json)
        .where(
            T_EVENTS.c.subject_type == "redemption",
            T_EVENTS.c.subject_id == str(redemption_id),
            T_EVENTS.c.event == event,
        )
        .order_by(T_EVENTS.c.id.desc())
        .limit(1)
    ).first()
    return None if row is None else (row[0], json.loads(row[1]))


def _same_claim(
    conn: Connection, redemption, invoice_no: str, invoiced_fen: int, requested_amount, on: date, verifier: str
) -> bool:
    """Whether this claim (same invoice, amounts, date and verifier) is the one already recorded."""
    if redemption["status"] != "claimed":
        return False
    if (redemption["invoice_no"], redemption["invoiced_fen"], redemption["claimed_on"]) != (
        invoice_no,
        invoiced_fen,
        on,
    ):
        return False
    requested = format_fen(parse_amount_fen(requested_amount)) if requested_amount is not None else None
    stored = _last_event(conn, redemption["id"], "claimed")
    return stored is not None and stored[0] == verifier and stored[1].get("requested") == requested


def _require_reserved(redemption) -> None:
    if redemption["status"] != "reserved":
        raise LedgerError(
            VoucherCode.REDEMPTION_MUST_BE_RESERVED,
            f"redemption {redemption['id']} is {redemption['status']}, not reserved",
        )


def _redemption(conn: Connection, redemption_id: int) -> dict:
    row = conn.execute(select(T_REDEMPTIONS).where(T_REDEMPTIONS.c.id == redemption_id)).mappings().first()
    if row is None:
        raise LedgerError(VoucherCode.REDEMPTION_NOT_FOUND, f"redemption {redemption_id} does not exist")
    return dict(row)
