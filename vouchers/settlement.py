"""Inter-region settlement (长三角 通用通兑): net what two regions owe each other for a period.

For a pair (low, high) and a period, every claimed, unsettled cross-region redemption between them counts:
under 通兑 the enterprise's region owes the provider's region its share; under 通用 the provider's region owes
the enterprise's region its share. Two entries post in both financial books at once: an offset entry that
clears the smaller direction against the larger, and a net entry that moves the difference through the
treasuries. Both list the redemptions they settle. A statement per side is read from that side's own book.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import Connection, or_, select
from sqlalchemy.exc import IntegrityError

from ledger.engine import Ledger
from ledger.entries import Audit, PostingSpec, TransactionRequest
from ledger.errors import LedgerError
from ledger.money import format_fen
from vouchers import books
from vouchers.codes import VoucherCode
from vouchers.models import VoucherRedemption, VoucherSettlement
from vouchers.programs import record_event, require_maker_checker

T_REDEMPTIONS = VoucherRedemption.__table__
T_SETTLEMENTS = VoucherSettlement.__table__
MEMO_LIST_MAX_CHARACTERS = 900
SETTLEMENT_LINK_TYPE = "voucher_settlement"


@dataclass(frozen=True)
class Statement:
    """One side's view of a settlement, every figure read from its own financial book."""

    region: str
    counterparty: str
    period_label: str
    items: list[dict] = field(default_factory=list)  # per redemption: payable_fen, receivable_fen
    payable_fen: int = 0  # booked by the claims: owed to the counterparty
    receivable_fen: int = 0  # booked by the claims: owed by the counterparty
    settled_payable_fen: int = 0  # cleared by the settlement entries
    settled_receivable_fen: int = 0
    cash_paid_fen: int = 0  # treasury outflow (negative: inflow)

    @property
    def net_payable_fen(self) -> int:
        return self.payable_fen - self.receivable_fen

    @property
    def unsettled_fen(self) -> int:
        """What the claims booked and the settlement did not clear: zero when both sides are square."""
        return (self.payable_fen - self.settled_payable_fen) + (self.receivable_fen - self.settled_receivable_fen)


def owed_direction(redemption) -> tuple[str, str, int]:
    """(payer region, payee region, amount) of one cross-region redemption."""
    if redemption["mode"] == "tongdui":
        return redemption["enterprise_region"], redemption["provider_region"], redemption["enterprise_share_fen"]
    return redemption["provider_region"], redemption["enterprise_region"], redemption["provider_share_fen"]


def settle(
    ledger: Ledger,
    region_a: str,
    region_b: str,
    *,
    period_label: str,
    period_start: date,
    period_end: date,
    on: date,
    actor: str,
    approver: str,
) -> dict | None:
    """Settle a region pair for a period. Keyed by (pair, period label): a retry returns the stored settlement and
    posts nothing (the same label over other dates is refused); None when nothing is due."""
    if region_a == region_b:
        raise LedgerError(VoucherCode.SETTLEMENT_NEEDS_TWO_REGIONS, "a settlement is between two different regions")
    require_maker_checker(actor, approver)
    low, high = sorted((region_a, region_b))
    with ledger.engine.begin() as conn:
        existing = _settlement_by_key(conn, low, high, period_label)
        if existing is not None:
            return _same_period(existing, period_start, period_end)
        query = (
            select(T_REDEMPTIONS)
            .where(
                T_REDEMPTIONS.c.status == "claimed",
                T_REDEMPTIONS.c.settlement_id.is_(None),
                T_REDEMPTIONS.c.claimed_on >= period_start,
                T_REDEMPTIONS.c.claimed_on <= period_end,
                or_(
                    (T_REDEMPTIONS.c.enterprise_region == low) & (T_REDEMPTIONS.c.provider_region == high),
                    (T_REDEMPTIONS.c.enterprise_region == high) & (T_REDEMPTIONS.c.provider_region == low),
                ),
            )
            .order_by(T_REDEMPTIONS.c.id)
        )
        if ledger.postgres:
            query = query.with_for_update()
        redemptions = conn.execute(query).mappings().all()
        if not redemptions:
            # On PostgreSQL a concurrent run of the same key may have settled them while this one waited on their
            # locks: it committed, so its settlement is visible now and is the answer
            existing = _settlement_by_key(conn, low, high, period_label)
            return None if existing is None else _same_period(existing, period_start, period_end)
        low_owes_high = sum(amount for payer, _, amount in map(owed_direction, redemptions) if payer == low)
        high_owes_low = sum(amount for payer, _, amount in map(owed_direction, redemptions) if payer == high)
        try:
            with conn.begin_nested():
                settlement_id = conn.execute(
                    T_SETTLEMENTS.insert().values(
                        region_low=low,
                        region_high=high,
                        period_label=period_label,
                        period_start=period_start,
                        period_end=period_end,
                        low_owes_high_fen=low_owes_high,
                        high_owes_low_fen=high_owes_low,
                        settled_on=on,
                        actor=actor,
                        approver=approver,
                    )
                ).inserted_primary_key[0]
        except IntegrityError:
            # the same key settled at the same instant by another unit of work: the key decides
            existing = _settlement_by_key(conn, low, high, period_label)
            if existing is None:
                raise
            return _same_period(existing, period_start, period_end)
        ids = [row["id"] for row in redemptions]
        conn.execute(T_REDEMPTIONS.update().where(T_REDEMPTIONS.c.id.in_(ids)).values(settlement_id=settlement_id))
        audit = Audit(actor, approver, f"settlement-{settlement_id}")
        listing = _listing(ids, settlement_id)
        entries = _settlement_entries(low, high, low_owes_high, high_owes_low)
        budget_legs = settlement_budget_legs(redemptions)
        if entries and budget_legs:
            # The payer's share becomes its budget expenditure where it is paid: with the cash (net entry),
            # or with the offset when the two directions cancel out.
            suffix, legs = entries[-1]
            entries[-1] = (suffix, [*legs, *budget_legs])
            for leg in budget_legs:
                ledger.create_account(leg.book, leg.account, exist_ok=True, conn=conn)
        for suffix, legs in entries:
            ledger.post(
                TransactionRequest(
                    client_id=f"settle-{suffix}:{settlement_id}",
                    postings=tuple(legs),
                    effective_date=on,
                    source=books.LEDGER_SOURCE,
                    kind=f"voucher_settlement_{suffix}",
                    memo=f"通用通兑 settlement {low}/{high} {period_label} ({suffix}): {listing}",
                    audit=audit,
                    link_type=SETTLEMENT_LINK_TYPE,
                    link_id=str(settlement_id),
                ),
                conn=conn,
            )
        record_event(
            ledger,
            conn,
            "settlement",
            settlement_id,
            "settled",
            approver,
            low_owes_high=format_fen(low_owes_high),
            high_owes_low=format_fen(high_owes_low),
            redemptions=ids,
        )
        return dict(conn.execute(select(T_SETTLEMENTS).where(T_SETTLEMENTS.c.id == settlement_id)).mappings().one())


def _settlement_by_key(conn: Connection, low: str, high: str, period_label: str):  # noqa: ANN202 - a row or None
    query = select(T_SETTLEMENTS).where(
        T_SETTLEMENTS.c.region_low == low,
        T_SETTLEMENTS.c.region_high == high,
        T_SETTLEMENTS.c.period_label == period_label,
    )
    return conn.execute(query).mappings().first()


def _same_period(settlement, period_start: date, period_end: date) -> dict:
    if (settlement["period_start"], settlement["period_end"]) != (period_start, period_end):
        raise LedgerError(
            VoucherCode.SETTLEMENT_KEY_HAS_ANOTHER_PERIOD,
            f"settlement {settlement['region_low']}/{settlement['region_high']} {settlement['period_label']} covers "
            f"{settlement['period_start']} to {settlement['period_end']}, not {period_start} to {period_end}",
            settlement=str(settlement["id"]),
        )
    return dict(settlement)


def settlement_budget_legs(redemptions) -> list[PostingSpec]:
    """Budgetary legs of a settlement (issue 11, defect 8): each region's share of a redemption it owes the
    other region reaches its own budgetary book as budget expenditure (预算支出 / 资金结存), so its budgetary and
    financial books agree on every redemption. Under 通兑 the issuing region owes its share of its own program;
    under 通用 the provider's region owes its share of another region's voucher."""
    totals: dict[tuple[str, str, str], int] = {}
    for redemption in redemptions:
        payer, _, amount = owed_direction(redemption)
        if not amount:
            continue
        if redemption["mode"] == "tongdui":
            program = redemption["program_code"]
            pair = (books.budget_voucher_expenditure(program), books.budget_funds_held(program))
        else:
            issuing = redemption["enterprise_region"]
            pair = (books.budget_inter_region_expenditure(issuing), books.budget_inter_region_funds_held(issuing))
        key = (payer, *pair)
        totals[key] = totals.get(key, 0) + amount
    legs = []
    for (region, expenditure, funds_held), amount in sorted(totals.items()):
        book = books.budget_book(region)
        legs.append(PostingSpec(book, expenditure, format_fen(amount)))
        legs.append(PostingSpec(book, funds_held, format_fen(-amount)))
    return legs


def _listing(ids: list[int], settlement_id: int) -> str:
    text = "redemptions " + ", ".join(str(i) for i in ids)
    if len(text) > MEMO_LIST_MAX_CHARACTERS:
        text = text[:MEMO_LIST_MAX_CHARACTERS] + f"… ({len(ids)} in all, see settlement {settlement_id})"
    return text


def _settlement_entries(low: str, high: str, low_owes_high: int, high_owes_low: int):
    offset = min(low_owes_high, high_owes_low)
    net = low_owes_high - high_owes_low  # positive: low pays high
    entries = []
    if offset > 0:
        entries.append(
            (
                "offset",
                _legs(
                    [
                        (low, books.payable_to_region(high), offset),
                        (low, books.receivable_from_region(high), -offset),
                        (high, books.payable_to_region(low), offset),
                        (high, books.receivable_from_region(low), -offset),
                    ]
                ),
            )
        )
    if net != 0:
        # The payee's treasury receipt has no budgetary leg, on purpose: it is not budget revenue but a clearing
        # between treasuries (暂付/暂收). What it receives is the other region's share, which the payee paid out
        # (or will pay) on the other region's behalf: under 通兑 in its provider batch, under 通用 in its
        # reimbursement, each booked there as an advance, not as its own budget expenditure. 预算收入 is a cash
        # inflow 纳入预算管理 (《政府会计准则——基本准则》, 财政部令第78号); 政府会计制度 (财会〔2017〕25号) books a
        # 暂付 advance paid or recovered, and a 暂收 receipt, in the financial accounts only ("预算会计不做处理"),
        # and the expenditure once, by the region that bears it: here the payer, whose budget legs this entry
        # carries. vouchers.controls' dual-basis check holds the payee to exactly this.
        payer, payee, amount = (low, high, net) if net > 0 else (high, low, -net)
        entries.append(
            (
                "net",
                _legs(
                    [
                        (payer, books.payable_to_region(payee), amount),
                        (payer, books.TREASURY, -amount),
                        (payee, books.TREASURY, amount),
                        (payee, books.receivable_from_region(payer), -amount),
                    ]
                ),
            )
        )
    return entries


def _legs(rows: list[tuple[str, str, int]]) -> list[PostingSpec]:
    return [PostingSpec(books.financial_book(region), path, format_fen(amount)) for region, path, amount in rows]


def statement(ledger: Ledger, settlement_id: int, region: str) -> Statement:
    """Read from ``region``'s own financial book: what its claims booked toward the counterparty and what the
    settlement entries cleared. Both sides' statements agree to the fen."""
    settlement, ids = _settlement_and_redemptions(ledger, settlement_id)
    if region not in (settlement["region_low"], settlement["region_high"]):
        raise LedgerError(VoucherCode.SETTLEMENT_NEEDS_TWO_REGIONS, f"region {region} is not a side of this settlement")
    return _statement_of(settlement, ids, region, _transactions(ledger, settlement_id, ids))


def both_statements(ledger: Ledger, settlement_id: int) -> tuple[Statement, Statement]:
    """The low and the high region's statements (``statement`` of each side), reading each of the
    settlement's transactions once for both sides."""
    settlement, ids = _settlement_and_redemptions(ledger, settlement_id)
    transactions = _transactions(ledger, settlement_id, ids)
    return (
        _statement_of(settlement, ids, settlement["region_low"], transactions),
        _statement_of(settlement, ids, settlement["region_high"], transactions),
    )


def _settlement_and_redemptions(ledger: Ledger, settlement_id: int) -> tuple[dict, list]:
    with ledger.reader.connect() as conn:
        settlement = conn.execute(select(T_SETTLEMENTS).where(T_SETTLEMENTS.c.id == settlement_id)).mappings().first()
        if settlement is None:
            raise LedgerError(VoucherCode.SETTLEMENT_NOT_FOUND, f"settlement {settlement_id} does not exist")
        ids = conn.execute(
            select(T_REDEMPTIONS.c.id, T_REDEMPTIONS.c.contract_no, T_REDEMPTIONS.c.mode)
            .where(T_REDEMPTIONS.c.settlement_id == settlement_id)
            .order_by(T_REDEMPTIONS.c.id)
        ).all()
    return dict(settlement), list(ids)


def _transactions(ledger: Ledger, settlement_id: int, ids: list) -> dict[str, dict | None]:
    """The claims' expense entries and the settlement's offset and net entries, by their client ids."""
    keys = [f"expense:{redemption_id}" for redemption_id, _contract, _mode in ids]
    keys += [f"settle-{suffix}:{settlement_id}" for suffix in ("offset", "net")]
    return {key: ledger.transaction((books.LEDGER_SOURCE, key)) for key in keys}


def _statement_of(settlement: dict, ids: list, region: str, transactions: dict[str, dict | None]) -> Statement:
    other = settlement["region_high"] if region == settlement["region_low"] else settlement["region_low"]
    book = books.financial_book(region)
    payable_path, receivable_path = books.payable_to_region(other), books.receivable_from_region(other)
    items, payable, receivable = [], 0, 0
    for redemption_id, contract_no, mode in ids:
        legs = _legs_in_book(transactions[f"expense:{redemption_id}"], book)
        item_payable = -legs.get(payable_path, 0)
        item_receivable = legs.get(receivable_path, 0)
        items.append(
            {
                "redemption": redemption_id,
                "contract_no": contract_no,
                "mode": mode,
                "payable_fen": item_payable,
                "receivable_fen": item_receivable,
            }
        )
        payable += item_payable
        receivable += item_receivable
    settled_payable = settled_receivable = cash_paid = 0
    for suffix in ("offset", "net"):
        legs = _legs_in_book(transactions[f"settle-{suffix}:{settlement['id']}"], book)
        settled_payable += legs.get(payable_path, 0)
        settled_receivable -= legs.get(receivable_path, 0)
        cash_paid -= legs.get(books.TREASURY, 0)
    return Statement(
        region=region,
        counterparty=other,
        period_label=settlement["period_label"],
        items=items,
        payable_fen=payable,
        receivable_fen=receivable,
        settled_payable_fen=settled_payable,
        settled_receivable_fen=settled_receivable,
        cash_paid_fen=cash_paid,
    )


def _legs_in_book(transaction: dict | None, book: str) -> dict[str, int]:
    legs: dict[str, int] = {}
    if transaction is None:
        return legs
    for posting in transaction["postings"]:
        if posting["book"] == book:
            legs[posting["account"]] = legs.get(posting["account"], 0) + posting["amount_fen"]
    return legs
