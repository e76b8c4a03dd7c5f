"""DuckDB voucher reports equal the voucher services' own records and the ledger's balances."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date, timedelta
from fractions import Fraction

from sqlalchemy import select

from ledger.numbers import period_of
from vouchers import books
from vouchers.analytics import cross_region_flows, voucher_sheets, voucher_usage
from vouchers.demo import load_demo
from vouchers.expiry import run_expiry
from vouchers.models import VoucherGrant, VoucherProgram, VoucherRedemption
from vouchers.settlement import owed_direction
from vouchers.views import enterprise_positions

T_GRANTS = VoucherGrant.__table__
T_PROGRAMS = VoucherProgram.__table__
T_REDEMPTIONS = VoucherRedemption.__table__


def _world(ledger) -> None:
    """The 长三角 demo (local, 通兑 and 通用 redemptions, a settlement per pair), then one program's quota
    expired after its redeem-by date, so every column of the usage report has something in it."""
    load_demo(ledger)
    with ledger.engine.connect() as conn:
        code, config = conn.execute(
            select(T_PROGRAMS.c.code, T_PROGRAMS.c.config_json).order_by(T_PROGRAMS.c.code)
        ).first()
    redeem_by = json.loads(config)["redeem_by"]
    run_expiry(ledger, code, as_of=date.fromisoformat(redeem_by) + timedelta(days=1))


def test_voucher_usage_equals_the_sum_of_the_enterprise_positions(ledger):
    _world(ledger)
    with ledger.engine.connect() as conn:
        enterprises = conn.execute(select(T_GRANTS.c.enterprise_code).distinct()).scalars().all()
    expected = defaultdict(lambda: defaultdict(int))
    for enterprise in enterprises:
        for position in enterprise_positions(ledger, enterprise):
            figures = expected[(position.region, position.program)]
            for name in ("granted_fen", "reserved_fen", "used_fen", "expired_fen", "available_fen"):
                figures[name] += getattr(position, name)
            figures["enterprises"] += 1
    usage = voucher_usage(ledger.engine)
    assert len(usage) == 3 and any(row["expired_fen"] for row in usage) and any(row["used_fen"] for row in usage)
    for row in usage:
        figures = expected[(row["region"], row["program"])]
        assert {name: row[name] for name in figures} == dict(figures), row["program"]
        expense = ledger.account(books.financial_book(row["region"]), books.voucher_expense(row["program"]))
        assert row["expensed_fen"] == expense.balance_fen
        budget = books.budget_book(row["region"])
        appropriation = ledger.account(budget, books.budget_appropriation(row["program"]))
        spent = ledger.account(budget, books.budget_voucher_expenditure(row["program"]))
        assert (row["appropriated_fen"], row["budget_expended_fen"]) == (-appropriation.balance_fen, spent.balance_fen)
        assert row["execution_ratio"] == Fraction(spent.balance_fen, -appropriation.balance_fen)
    assert any(row["budget_expended_fen"] for row in usage)  # the demo pays its first-quarter providers
    assert {(row["region"], row["program"]) for row in usage} == set(expected)


def test_cross_region_flows_equal_the_redemptions_owed_and_the_open_balances(ledger):
    _world(ledger)
    with ledger.engine.connect() as conn:
        redemptions = (
            conn.execute(
                select(T_REDEMPTIONS).where(
                    T_REDEMPTIONS.c.status == "claimed",
                    T_REDEMPTIONS.c.enterprise_region != T_REDEMPTIONS.c.provider_region,
                )
            )
            .mappings()
            .all()
        )
    owed = defaultdict(int)
    for redemption in redemptions:
        payer, payee, amount = owed_direction(redemption)
        if amount:
            owed[(payer, payee, period_of(redemption["claimed_on"]))] += amount
    flows = cross_region_flows(ledger.engine)
    assert owed
    assert {(f["payer"], f["payee"], f["period"]): f["owed_fen"] for f in flows if f["owed_fen"]} == dict(owed)
    assert any(flow["settled_fen"] for flow in flows)  # the demo settles the first quarter
    open_by_pair = defaultdict(int)
    for flow in flows:
        open_by_pair[(flow["payer"], flow["payee"])] += flow["open_fen"]
    for (payer, payee), open_fen in open_by_pair.items():
        payable = ledger.account(books.financial_book(payer), books.payable_to_region(payee))
        assert open_fen == -payable.balance_fen
    usage_sheet, flows_sheet = voucher_sheets(ledger.engine)
    assert flows_sheet.total_fen("owed_fen") == sum(owed.values())
    assert usage_sheet.total_fen("granted_fen") == sum(row["granted_fen"] for row in voucher_usage(ledger.engine))
