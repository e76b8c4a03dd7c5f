"""Fund metrics as of any date: commitment, called, unfunded, PIC, DPI, RVPI, TVPI, XIRR, leverage (撬动比).

Ratios are exact fractions shown as Decimal strings; XIRR comes from pyxirr over dated cash flows from the
investors' side (paid-in out, distributions in, NAV at the date as the final inflow).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from fractions import Fraction

import pyxirr
from sqlalchemy import Connection, select

from funds.common import fetch_one
from funds.guidance import (
    T_CALL_ITEMS,
    T_CALL_PAYMENTS,
    T_CALLS,
    T_COMMITMENTS,
    T_DISTRIBUTION_PARTS,
    T_DISTRIBUTIONS,
    T_GUIDANCE,
    T_SUBFUNDS,
    T_VALUATIONS,
)
from ledger.engine import Ledger
from ledger.money import from_fen

RATIO_PLACES = Decimal("0.0001")


def _ratio(numerator: int, denominator: int) -> Decimal | None:
    if denominator == 0:
        return None
    fraction = Fraction(numerator, denominator)
    return (Decimal(fraction.numerator) / Decimal(fraction.denominator)).quantize(RATIO_PLACES)


def _flows(c: Connection, subfund_id: int, as_of: date, investor: str | None) -> dict:
    commitments = (
        c.execute(
            select(T_COMMITMENTS).where(
                T_COMMITMENTS.c.subfund_id == subfund_id,
                T_COMMITMENTS.c.status == "approved",
                T_COMMITMENTS.c.committed_on <= as_of,
            )
        )
        .mappings()
        .all()
    )
    called = c.execute(
        select(T_CALL_ITEMS.c.investor_code, T_CALL_ITEMS.c.amount_fen)
        .join(T_CALLS, T_CALLS.c.id == T_CALL_ITEMS.c.call_id)
        .where(T_CALLS.c.subfund_id == subfund_id, T_CALLS.c.notice_on <= as_of)
    ).all()
    payments = c.execute(
        select(T_CALL_ITEMS.c.investor_code, T_CALL_PAYMENTS.c.paid_on, T_CALL_PAYMENTS.c.amount_fen)
        .join(T_CALL_ITEMS, T_CALL_ITEMS.c.id == T_CALL_PAYMENTS.c.call_item_id)
        .join(T_CALLS, T_CALLS.c.id == T_CALL_ITEMS.c.call_id)
        .where(T_CALLS.c.subfund_id == subfund_id, T_CALL_PAYMENTS.c.paid_on <= as_of)
    ).all()
    distributions = c.execute(
        select(
            T_DISTRIBUTION_PARTS.c.investor_code,
            T_DISTRIBUTIONS.c.distributed_on,
            T_DISTRIBUTIONS.c.recallable,
            T_DISTRIBUTION_PARTS.c.capital_fen,
            T_DISTRIBUTION_PARTS.c.income_fen,
        )
        .join(T_DISTRIBUTIONS, T_DISTRIBUTIONS.c.id == T_DISTRIBUTION_PARTS.c.distribution_id)
        .where(T_DISTRIBUTIONS.c.subfund_id == subfund_id, T_DISTRIBUTIONS.c.distributed_on <= as_of)
    ).all()

    def mine(code: str) -> bool:
        return investor is None or code == investor

    return {
        "commitment": sum(row["amount_fen"] for row in commitments if mine(row["investor_code"])),
        "called": sum(amount for code, amount in called if mine(code)),
        "payments": [(on, amount) for code, on, amount in payments if mine(code)],
        "distributions": [(on, capital + income) for code, on, _r, capital, income in distributions if mine(code)],
        "recallable": sum(capital for code, _on, recallable, capital, _i in distributions if recallable and mine(code)),
        "all_paid_in": sum(amount for _code, _on, amount in payments),
    }


def _nav(c: Connection, subfund_id: int, as_of: date) -> int:
    row = c.execute(
        select(T_VALUATIONS.c.nav_fen)
        .where(T_VALUATIONS.c.subfund_id == subfund_id, T_VALUATIONS.c.as_of <= as_of)
        .order_by(T_VALUATIONS.c.as_of.desc(), T_VALUATIONS.c.id.desc())
    ).first()
    return row[0] if row else 0


def _summary(commitment, called, recallable, paid_in, distributed, nav, dated_flows, as_of, size, guidance) -> dict:
    flows = [(on, -amount) for on, amount in dated_flows[0]] + list(dated_flows[1])
    if nav:
        flows.append((as_of, nav))
    xirr = None
    if any(amount < 0 for _on, amount in flows) and any(amount > 0 for _on, amount in flows):
        rate = pyxirr.xirr([on for on, _ in flows], [from_fen(amount) for _, amount in flows])
        xirr = None if rate is None else Decimal(str(rate)).quantize(RATIO_PLACES)
    return {
        "as_of": as_of,
        "commitment_fen": commitment,
        "called_fen": called,
        "unfunded_fen": commitment - called + recallable,
        "paid_in_fen": paid_in,
        "distributed_fen": distributed,
        "nav_fen": nav,
        "dpi": _ratio(distributed, paid_in),
        "rvpi": _ratio(nav, paid_in),
        "tvpi": _ratio(distributed + nav, paid_in),
        "xirr": xirr,
        "leverage": _ratio(size, guidance),
    }


def subfund_metrics(ledger: Ledger, subfund_code: str, as_of: date) -> dict:
    """Metrics of a sub-fund for all its investors together."""
    with ledger.engine.connect() as c:
        subfund = fetch_one(c, T_SUBFUNDS, "sub-fund", code=subfund_code)
        fund = fetch_one(c, T_GUIDANCE, "guidance fund", id=subfund["guidance_fund_id"])
        flows = _flows(c, subfund["id"], as_of, None)
        guidance = _flows(c, subfund["id"], as_of, fund["code"])["commitment"]
        nav = _nav(c, subfund["id"], as_of)
    paid_in = sum(amount for _on, amount in flows["payments"])
    distributed = sum(amount for _on, amount in flows["distributions"])
    return _summary(
        flows["commitment"],
        flows["called"],
        flows["recallable"],
        paid_in,
        distributed,
        nav,
        (flows["payments"], flows["distributions"]),
        as_of,
        subfund["size_fen"],
        guidance,
    )


def guidance_fund_metrics(ledger: Ledger, guidance_code: str, as_of: date) -> dict:
    """The guidance fund's own position over all its sub-funds; its NAV share is pro rata to paid-in."""
    with ledger.engine.connect() as c:
        fund = fetch_one(c, T_GUIDANCE, "guidance fund", code=guidance_code)
        subfunds = c.execute(select(T_SUBFUNDS).where(T_SUBFUNDS.c.guidance_fund_id == fund["id"])).mappings().all()
        totals = {"commitment": 0, "called": 0, "recallable": 0, "nav": 0, "size": 0}
        payments, distributions = [], []
        for subfund in subfunds:
            flows = _flows(c, subfund["id"], as_of, guidance_code)
            totals["commitment"] += flows["commitment"]
            totals["called"] += flows["called"]
            totals["recallable"] += flows["recallable"]
            totals["size"] += subfund["size_fen"]
            payments += flows["payments"]
            distributions += flows["distributions"]
            paid_by_guidance = sum(amount for _on, amount in flows["payments"])
            if flows["all_paid_in"]:
                totals["nav"] += _nav(c, subfund["id"], as_of) * paid_by_guidance // flows["all_paid_in"]
    return _summary(
        totals["commitment"],
        totals["called"],
        totals["recallable"],
        sum(a for _o, a in payments),
        sum(a for _o, a in distributions),
        totals["nav"],
        (payments, distributions),
        as_of,
        totals["size"],
        totals["commitment"],
    )
