"""DuckDB fund and pool reports equal funds.metrics and the pool service's statements."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from fractions import Fraction

from sqlalchemy import select

from funds.demo import POOL_CODE, SUBFUNDS, load_demo
from funds.guidance import GuidanceFunds
from funds.metrics import subfund_metrics
from funds.pools import T_CLAIMS, RiskPools
from funds.reports import fund_sheets, pool_statements, subfund_metrics_over_time

RATIO_PLACES = Decimal("0.0001")


def _world(ledger) -> None:
    """The demo's guidance fund (three sub-funds, calls, investments, fees, a valuation) and risk pool (a
    paid claim), plus a mid-year valuation, a recallable distribution and a recovery on the claim."""
    load_demo(ledger)
    funds = GuidanceFunds(ledger)
    seed = SUBFUNDS[0][0]
    funds.record_valuation(seed, date(2026, 6, 30), "2.5亿", source="interim valuation")
    distribution = funds.record_distribution(
        seed, date(2026, 9, 10), "500万", "120万", recallable=True, actor="gp-clerk", client_id="report-dist"
    )
    funds.approve_distribution(distribution, approver="gf-reviewer")
    with ledger.engine.connect() as conn:
        claim_id = conn.execute(select(T_CLAIMS.c.id).order_by(T_CLAIMS.c.id)).scalar()
    RiskPools(ledger).record_recovery(
        claim_id, "100万", "10万", date(2026, 12, 15), actor="bank-officer", client_id="report-recovery"
    )


def _shown(ratio: Fraction | None) -> Decimal | None:
    """funds.metrics's presentation of an exact ratio: four places."""
    if ratio is None:
        return None
    return (Decimal(ratio.numerator) / Decimal(ratio.denominator)).quantize(RATIO_PLACES)


def test_subfund_metrics_over_time_equal_funds_metrics_at_the_month_ends_of_each_event(ledger):
    _world(ledger)
    series = subfund_metrics_over_time(ledger.engine, first_period="2026-01", last_period="2027-12")
    assert len(series) == len(SUBFUNDS) * 24
    # the month ends around each kind of event: commitments (Feb), calls paid (Mar), investments (Jun),
    # the interim valuation (Jun), the distribution (Sep), fees (Dec) and the last valuation (Dec 2027)
    checked = {"2026-01", "2026-02", "2026-03", "2026-06", "2026-09", "2026-12", "2027-11", "2027-12"}
    for row in (row for row in series if row["period"] in checked):
        expected = subfund_metrics(ledger, row["subfund"], row["as_of"])
        for name in ("commitment_fen", "called_fen", "unfunded_fen", "paid_in_fen", "distributed_fen", "nav_fen"):
            assert row[name] == expected[name], (row["subfund"], row["period"], name)
        for name in ("dpi", "rvpi", "tvpi", "leverage"):
            assert _shown(row[name]) == expected[name], (row["subfund"], row["period"], name)
    seed_september = next(r for r in series if r["subfund"] == SUBFUNDS[0][0] and r["period"] == "2026-09")
    assert seed_september["distributed_fen"] > 0 and seed_september["nav_fen"] > 0  # not a comparison of zeros


def test_pool_statements_sum_to_the_funder_statement_month_by_month(ledger):
    _world(ledger)
    rows = pool_statements(ledger.engine)
    expected = RiskPools(ledger).funder_statement(POOL_CODE)
    for funder in expected:
        months = [row for row in rows if row["pool"] == POOL_CODE and row["funder"] == funder["funder"]]
        assert sum(row["contributed_fen"] for row in months) == funder["contributed_fen"]
        assert sum(row["compensation_paid_fen"] for row in months) == funder["compensation_paid_fen"]
        assert sum(row["recovered_fen"] for row in months) == funder["recovered_fen"]
        assert months[-1]["remaining_fen"] == funder["remaining_fen"]
        assert funder["compensation_paid_fen"] > 0 and funder["recovered_fen"] > 0
    before_recovery = pool_statements(ledger.engine, through=date(2026, 11, 30))
    assert sum(row["recovered_fen"] for row in before_recovery) == 0
    metrics_sheet, pool_sheet = fund_sheets(ledger.engine, through=date(2026, 12, 31))
    assert pool_sheet.rows == pool_statements(ledger.engine, through=date(2026, 12, 31))
    assert {row["period"] for row in pool_sheet.rows} <= {f"2026-{month:02d}" for month in range(1, 13)}
    assert {row["subfund"] for row in metrics_sheet.rows} == {code for code, *_rest in SUBFUNDS}
