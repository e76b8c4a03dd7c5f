"""Provider payment batches: verified claims are paid out to providers in batches, per paying region and
period (上海科技创新券: quarterly payout to providers, see config.DEFAULT_SOURCES["payout"]).

A batch belongs to the region whose financial book holds the provider payables: the issuing region for a
local redemption, the provider's region under 通兑 (it pays its provider in full and bills the issuing
region through the inter-region settlement). Under 通用 the payable is to the enterprise, not a provider,
so those reimbursements are not in a provider batch.

One user prepares the batch (its lines and amounts are stored, never recomputed); another approves it, which
pays it in one ledger transaction: Dr provider payables / Cr treasury in the financial book, and the budget
execution in the budgetary book (预算支出 / 资金结存). A redemption is in at most one batch: the unique
redemption id on the lines refuses a second batch even when two are prepared at the same instant.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from sqlalchemy import Connection, exists, select
from sqlalchemy.exc import IntegrityError

from ledger.engine import Ledger
from ledger.entries import Audit, PostingSpec, TransactionRequest
from ledger.errors import LedgerError
from ledger.money import format_fen
from vouchers import books
from vouchers.codes import VoucherCode
from vouchers.models import VoucherPaymentBatch, VoucherPaymentLine, VoucherProgram, VoucherRedemption
from vouchers.programs import record_event, require_maker_checker

T_BATCHES = VoucherPaymentBatch.__table__
T_LINES = VoucherPaymentLine.__table__
T_REDEMPTIONS = VoucherRedemption.__table__
T_PROGRAMS = VoucherProgram.__table__
PAYABLE_MODES = ("local", "tongdui")  # modes whose payable is to the provider (通用 owes the enterprise)
QUARTER_FIRST_MONTHS = {"Q1": 1, "Q2": 4, "Q3": 7, "Q4": 10}
QUARTER_LAST_DAYS = {"Q1": (3, 31), "Q2": (6, 30), "Q3": (9, 30), "Q4": (12, 31)}


def quarter(label: str) -> dict:
    """``"2026-Q1"`` -> the period keywords of :func:`prepare_batch` (claim dates 1 Jan to 31 Mar)."""
    year_text, _, name = label.partition("-")
    if not year_text.isdigit() or name not in QUARTER_FIRST_MONTHS:
        raise LedgerError(VoucherCode.PAYMENT_PERIOD_INVALID, f"period {label!r} is not like '2026-Q1'")
    year = int(year_text)
    last_month, last_day = QUARTER_LAST_DAYS[name]
    return dict(
        period_label=label,
        period_start=date(year, QUARTER_FIRST_MONTHS[name], 1),
        period_end=date(year, last_month, last_day),
    )


def prepare_batch(
    ledger: Ledger,
    region: str,
    *,
    period_label: str,
    period_start: date,
    period_end: date,
    maker: str,
    on: date,
    redemption_ids: list[int] | None = None,
) -> dict:
    """Collect the claimed, unpaid redemptions payable to providers in ``region``'s books and claimed within
    the period (or exactly ``redemption_ids``). Idempotent per (region, period label): a second run returns
    the stored batch. Nothing is posted until the batch is approved."""
    if period_end < period_start:
        raise LedgerError(
            VoucherCode.PAYMENT_PERIOD_INVALID, f"period {period_label} ends ({period_end}) before it starts"
        )
    with ledger.engine.begin() as conn:
        existing = _batch_by_key(conn, region, period_label)
        if existing is not None:
            return _check_same_period(conn, existing, period_start, period_end)
        redemptions = _payable_redemptions(ledger, conn, region, period_start, period_end, redemption_ids)
        if not redemptions:
            raise LedgerError(
                VoucherCode.PAYMENT_BATCH_MUST_NOT_BE_EMPTY,
                f"no claimed, unpaid redemption is payable by region {region} in period {period_label}",
            )
        lines = [_line(redemption) for redemption in redemptions]
        total_fen = sum(line["amount_fen"] for line in lines)
        _check_treasury_covers(ledger, conn, region, total_fen)
        batch_id = _insert_batch(
            conn,
            region_code=region,
            period_label=period_label,
            period_start=period_start,
            period_end=period_end,
            total_fen=total_fen,
            line_count=len(lines),
            status="prepared",
            maker=maker,
            prepared_on=on,
        )
        if batch_id is None:  # a concurrent run with the same key committed first
            return _check_same_period(conn, _batch_by_key(conn, region, period_label), period_start, period_end)
        _insert_lines(conn, batch_id, lines)
        record_event(
            ledger,
            conn,
            "payment_batch",
            batch_id,
            "prepared",
            maker,
            total=format_fen(total_fen),
            redemptions=[line["redemption_id"] for line in lines],
        )
        return _batch(conn, batch_id)


def approve_batch(ledger: Ledger, batch_id: int, *, checker: str, approval_doc: str, on: date) -> dict:
    """Approve and pay a prepared batch in one ledger transaction. Approving a paid batch returns it unchanged."""
    with ledger.engine.begin() as conn:
        batch = _lock_batch(ledger, conn, batch_id)
        if batch["status"] == "paid":
            return _batch(conn, batch_id)
        require_maker_checker(batch["maker"], checker)
        _require_prepared(batch)
        region = batch["region_code"]
        _check_treasury_covers(ledger, conn, region, batch["total_fen"])
        lines = _lines(conn, batch_id)
        legs = payment_legs(region, lines)
        for leg in legs:
            ledger.create_account(leg.book, leg.account, exist_ok=True, conn=conn)
        ledger.post(
            TransactionRequest(
                client_id=f"payment-batch:{batch_id}",
                postings=tuple(legs),
                effective_date=on,
                source=books.LEDGER_SOURCE,
                kind="voucher_provider_payment",
                memo=f"创新券 provider payout {region} {batch['period_label']}: {len(lines)} redemptions, "
                f"batch {batch_id}",
                audit=Audit(batch["maker"], checker, approval_doc),
                link_type="voucher_payment_batch",
                link_id=str(batch_id),
            ),
            conn=conn,
        )
        conn.execute(
            T_BATCHES.update()
            .where(T_BATCHES.c.id == batch_id)
            .values(status="paid", checker=checker, approval_doc=approval_doc, paid_on=on)
        )
        record_event(
            ledger,
            conn,
            "payment_batch",
            batch_id,
            "paid",
            checker,
            total=format_fen(batch["total_fen"]),
            doc=approval_doc,
        )
        return _batch(conn, batch_id)


def reject_batch(ledger: Ledger, batch_id: int, *, checker: str, reason: str, on: date) -> dict:
    """The checker refuses a prepared batch: nothing is paid, and its redemptions leave it (the lines are
    removed; the prepared and rejected events keep which they were), so they are payable again in a batch
    of another period label (the batch's own label stays taken by the rejected batch). The checker who
    rejected it rejecting it again changes nothing; a paid batch is not rejected."""
    if not isinstance(reason, str) or not reason.strip():
        raise LedgerError(VoucherCode.REJECTION_NEEDS_REASON, "rejecting a payment batch needs a reason")
    with ledger.engine.begin() as conn:
        batch = _lock_batch(ledger, conn, batch_id)
        require_maker_checker(batch["maker"], checker)
        if batch["status"] == "rejected" and batch["checker"] == checker:
            return _batch(conn, batch_id)
        _require_prepared(batch)
        redemptions = [line["redemption_id"] for line in _lines(conn, batch_id)]
        conn.execute(T_LINES.delete().where(T_LINES.c.batch_id == batch_id))
        conn.execute(T_BATCHES.update().where(T_BATCHES.c.id == batch_id).values(status="rejected", checker=checker))
        record_event(
            ledger, conn, "payment_batch", batch_id, "rejected", checker, reason=reason, on=on, redemptions=redemptions
        )
        return _batch(conn, batch_id)


def _require_prepared(batch) -> None:  # noqa: ANN001 - a row mapping
    if batch["status"] != "prepared":
        raise LedgerError(
            VoucherCode.PAYMENT_BATCH_ALREADY_DECIDED,
            f"payment batch {batch['id']} is {batch['status']}, not prepared",
            batch=str(batch["id"]),
        )


def pay_reimbursement(
    ledger: Ledger, redemption_id: int, *, maker: str, checker: str, approval_doc: str, on: date
) -> dict:
    """Pay a 通用 enterprise its reimbursement (it paid the provider in full): Dr the enterprise's payable / Cr
    treasury in the issuing region's financial book, and in its budgetary book the region's own share as budget
    expenditure (预算支出 / 资金结存); the provider region's share is an advance recovered by the settlement.

    Keyed by the redemption's own id: paying it again returns the stored redemption and posts nothing."""
    with ledger.engine.begin() as conn:
        query = select(T_REDEMPTIONS).where(T_REDEMPTIONS.c.id == redemption_id)
        if ledger.postgres:
            query = query.with_for_update()
        redemption = conn.execute(query).mappings().first()
        if redemption is None:
            raise LedgerError(VoucherCode.REDEMPTION_NOT_FOUND, f"redemption {redemption_id} does not exist")
        if redemption["reimbursed_on"] is not None:
            return dict(redemption)
        if redemption["mode"] != "tongyong" or redemption["status"] != "claimed":
            raise LedgerError(
                VoucherCode.REIMBURSEMENT_MUST_BE_A_CLAIMED_TONGYONG_REDEMPTION,
                f"redemption {redemption_id} is {redemption['status']} in mode {redemption['mode']}: only a claimed "
                "通用 redemption owes its enterprise a reimbursement",
            )
        require_maker_checker(maker, checker)
        region, program = redemption["enterprise_region"], redemption["program_code"]
        _check_treasury_covers(ledger, conn, region, redemption["claimed_fen"])
        legs = reimbursement_legs(redemption)
        for leg in legs:
            ledger.create_account(leg.book, leg.account, exist_ok=True, conn=conn)
        ledger.post(
            TransactionRequest(
                client_id=reimbursement_client_id(redemption_id),
                postings=tuple(legs),
                effective_date=on,
                source=books.LEDGER_SOURCE,
                kind="voucher_enterprise_reimbursement",
                memo=f"创新券 通用 reimbursement to {redemption['enterprise_code']}, redemption {redemption_id}",
                audit=Audit(maker, checker, approval_doc),
                program_year=_program_year(conn, program),
                link_type="voucher_redemption",
                link_id=str(redemption_id),
            ),
            conn=conn,
        )
        conn.execute(
            T_REDEMPTIONS.update()
            .where(T_REDEMPTIONS.c.id == redemption_id)
            .values(reimbursed_on=on, reimbursed_by=checker)
        )
        record_event(
            ledger,
            conn,
            "redemption",
            redemption_id,
            "reimbursed",
            checker,
            amount=format_fen(redemption["claimed_fen"]),
            doc=approval_doc,
        )
        return dict(conn.execute(select(T_REDEMPTIONS).where(T_REDEMPTIONS.c.id == redemption_id)).mappings().one())


def reimbursement_client_id(redemption_id: int) -> str:
    return f"reimbursement:{redemption_id}"


def reimbursement_legs(redemption) -> list[PostingSpec]:
    region, program = redemption["enterprise_region"], redemption["program_code"]
    fin, budget_book = books.financial_book(region), books.budget_book(region)
    amount, own_share = redemption["claimed_fen"], redemption["enterprise_share_fen"]
    legs = [
        PostingSpec(fin, books.payable_to(redemption["enterprise_code"]), format_fen(amount)),
        PostingSpec(fin, books.TREASURY, format_fen(-amount)),
    ]
    if own_share:
        legs.append(PostingSpec(budget_book, books.budget_voucher_expenditure(program), format_fen(own_share)))
        legs.append(PostingSpec(budget_book, books.budget_funds_held(program), format_fen(-own_share)))
    return legs


def _program_year(conn: Connection, program: str) -> int:
    return conn.execute(select(T_PROGRAMS.c.year).where(T_PROGRAMS.c.code == program)).scalar_one()


def get_batch(ledger: Ledger, batch_id: int) -> dict:
    with ledger.engine.connect() as conn:
        return _batch(conn, batch_id)


def payment_legs(region: str, lines: list[dict]) -> list[PostingSpec]:
    """Dr each provider's payable / Cr treasury (financial book); Dr budget expenditure / Cr funds held
    (budgetary book) for the region's own share: the part of a 通兑 payment the issuing region owes back is an
    advance (暂付), settled through the inter-region settlement, not this region's budget expenditure."""
    payables: dict[str, int] = defaultdict(int)
    budget: dict[tuple[str, str], int] = defaultdict(int)
    for line in lines:
        payables[line["provider_code"]] += line["amount_fen"]
        if line["mode"] == "local":
            key = (
                books.budget_voucher_expenditure(line["program_code"]),
                books.budget_funds_held(line["program_code"]),
            )
        else:
            issuing = line["issuing_region"]
            key = (books.budget_inter_region_expenditure(issuing), books.budget_inter_region_funds_held(issuing))
        budget[key] += line["budget_expenditure_fen"]
    fin, budget_book = books.financial_book(region), books.budget_book(region)
    legs = [
        PostingSpec(fin, books.payable_to(provider), format_fen(amount))
        for provider, amount in sorted(payables.items())
    ]
    legs.append(PostingSpec(fin, books.TREASURY, format_fen(-sum(payables.values()))))
    for (expenditure, funds_held), amount in sorted(budget.items()):
        if amount:
            legs.append(PostingSpec(budget_book, expenditure, format_fen(amount)))
            legs.append(PostingSpec(budget_book, funds_held, format_fen(-amount)))
    return legs


# rules and helpers -----------------------------------------------------------------------------------


def _payable_here(region: str):
    return (
        (T_REDEMPTIONS.c.status == "claimed")
        & T_REDEMPTIONS.c.mode.in_(PAYABLE_MODES)
        & (T_REDEMPTIONS.c.provider_region == region)
    )


def _in_period(start: date, end: date):
    return (T_REDEMPTIONS.c.claimed_on >= start) & (T_REDEMPTIONS.c.claimed_on <= end)


def _payable_redemptions(
    ledger: Ledger, conn: Connection, region: str, start: date, end: date, redemption_ids: list[int] | None
) -> list:
    if redemption_ids is None:
        query = select(T_REDEMPTIONS).where(
            _payable_here(region),
            _in_period(start, end),
            ~exists().where(T_LINES.c.redemption_id == T_REDEMPTIONS.c.id),
        )
    else:
        redemption_ids = sorted(set(redemption_ids))
        _check_chosen_redemptions(conn, region, start, end, redemption_ids)
        query = select(T_REDEMPTIONS).where(T_REDEMPTIONS.c.id.in_(redemption_ids))
    query = query.order_by(T_REDEMPTIONS.c.id)
    if ledger.postgres:
        query = query.with_for_update()
    return conn.execute(query).mappings().all()


def _check_chosen_redemptions(conn: Connection, region: str, start: date, end: date, ids: list[int]) -> None:
    payable = set(
        conn.execute(
            select(T_REDEMPTIONS.c.id).where(T_REDEMPTIONS.c.id.in_(ids), _payable_here(region), _in_period(start, end))
        ).scalars()
    )
    for redemption_id in ids:
        if redemption_id not in payable:
            raise LedgerError(
                VoucherCode.REDEMPTION_MUST_BE_PAYABLE_IN_BATCH,
                f"redemption {redemption_id} is not a claimed redemption payable to a provider by region {region} "
                f"claimed between {start} and {end}",
                redemption=str(redemption_id),
            )
    paid = conn.execute(
        select(T_LINES.c.redemption_id, T_LINES.c.batch_id).where(T_LINES.c.redemption_id.in_(ids))
    ).first()
    if paid is not None:
        raise _paid_once(paid[0], paid[1])


def _paid_once(redemption_id: int | None, batch_id: int | None) -> LedgerError:
    if redemption_id is None:
        message = "a redemption of this batch was put in another payment batch at the same time"
    else:
        message = f"redemption {redemption_id} is already in payment batch {batch_id}"
    return LedgerError(
        VoucherCode.REDEMPTION_PAID_ONCE, message, redemption=str(redemption_id or ""), batch=str(batch_id or "")
    )


def _line(redemption) -> dict:
    own_share = redemption["claimed_fen"] if redemption["mode"] == "local" else redemption["provider_share_fen"]
    return dict(
        redemption_id=redemption["id"],
        program_code=redemption["program_code"],
        provider_code=redemption["provider_code"],
        mode=redemption["mode"],
        issuing_region=redemption["enterprise_region"],
        amount_fen=redemption["claimed_fen"],
        budget_expenditure_fen=own_share,
    )


def _check_treasury_covers(ledger: Ledger, conn: Connection, region: str, total_fen: int) -> None:
    """Read the treasury under its row lock (PostgreSQL) so a concurrent payment or settlement cannot spend the
    same money between this check and the posting; SQLite serializes writers."""
    fin = books.financial_book(region)
    if ledger.postgres:
        books.lock_account(conn, fin, books.TREASURY)
    treasury = ledger.account(fin, books.TREASURY, conn=conn)
    available_fen = treasury.debits_posted - treasury.credits_posted - treasury.credits_pending
    if total_fen > available_fen:
        raise LedgerError(
            VoucherCode.TREASURY_MUST_COVER_PAYMENT_BATCH,
            f"the batch of {format_fen(total_fen)} exceeds the {format_fen(available_fen)} "
            f"in region {region}'s treasury",
            room_left=format_fen(max(available_fen, 0)),
            total=format_fen(total_fen),
        )


def _insert_batch(conn: Connection, **values) -> int | None:
    """The batch id, or None when the (region, period label) key was taken by a concurrent run."""
    try:
        with conn.begin_nested():
            return conn.execute(T_BATCHES.insert().values(**values)).inserted_primary_key[0]
    except IntegrityError as error:
        if "period_label" in str(error) or "uq_vouchers_payment_batch_period" in str(error):
            return None
        raise


def _insert_lines(conn: Connection, batch_id: int, lines: list[dict]) -> None:
    # The unique redemption id is the guarantee: of two batches racing for one redemption, one is refused.
    try:
        with conn.begin_nested():
            conn.execute(T_LINES.insert(), [dict(line, batch_id=batch_id) for line in lines])
    except IntegrityError as error:
        if "redemption_id" in str(error) or "uq_vouchers_payment_line_redemption" in str(error):
            raise _paid_once(None, None) from error
        raise


def _check_same_period(conn: Connection, batch, start: date, end: date) -> dict:
    if (batch["period_start"], batch["period_end"]) != (start, end):
        raise LedgerError(
            VoucherCode.PAYMENT_BATCH_KEY_HAS_ANOTHER_PERIOD,
            f"batch {batch['region_code']} {batch['period_label']} covers {batch['period_start']} to "
            f"{batch['period_end']}, not {start} to {end}",
            batch=str(batch["id"]),
        )
    return _batch(conn, batch["id"])


def _batch_by_key(conn: Connection, region: str, period_label: str):
    return (
        conn.execute(
            select(T_BATCHES).where(T_BATCHES.c.region_code == region, T_BATCHES.c.period_label == period_label)
        )
        .mappings()
        .first()
    )


def _lock_batch(ledger: Ledger, conn: Connection, batch_id: int):
    query = select(T_BATCHES).where(T_BATCHES.c.id == batch_id)
    if ledger.postgres:
        query = query.with_for_update()
    batch = conn.execute(query).mappings().first()
    if batch is None:
        raise LedgerError(VoucherCode.PAYMENT_BATCH_NOT_FOUND, f"payment batch {batch_id} does not exist")
    return batch


def _lines(conn: Connection, batch_id: int) -> list[dict]:
    rows = conn.execute(select(T_LINES).where(T_LINES.c.batch_id == batch_id).order_by(T_LINES.c.redemption_id))
    return [dict(row) for row in rows.mappings()]


def _batch(conn: Connection, batch_id: int) -> dict:
    row = conn.execute(select(T_BATCHES).where(T_BATCHES.c.id == batch_id)).mappings().first()
    if row is None:
        raise LedgerError(VoucherCode.PAYMENT_BATCH_NOT_FOUND, f"payment batch {batch_id} does not exist")
    return dict(row, lines=_lines(conn, batch_id))
