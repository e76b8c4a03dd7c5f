"""funds.reads.book_regions: every book the fund and pool services open, with the regions that oversee it
(a guidance fund's and its sub-funds' the fund's region, a pool's every funder's), on both backends."""

from __future__ import annotations

from datetime import date

from funds.config import DEFAULT_FUND_POLICY, GUANGZHOU_POOL_POLICY
from funds.guidance import GuidanceFunds
from funds.pools import FunderShare, RiskPools
from funds.reads import book_regions


def test_every_fund_and_pool_book_is_listed_with_the_regions_that_oversee_it(ledger):
    before = {book["code"] for book in ledger.books()}
    funds = GuidanceFunds(ledger)
    funds.create_guidance_fund("SZ-TT", "深圳引导基金", "440300", DEFAULT_FUND_POLICY)
    funds.create_subfund(
        "SZ-TT", "SZ-A-1", "深圳天使子基金", manager_code="91440300MA5DYYYY2J", size="50000000.00",
        established_on=date(2026, 1, 10), term_years=8, investment_period_end=date(2031, 1, 10),
        fee_basis="paid_in", fee_rate="2%",
    )  # fmt: skip
    funders = [FunderShare("440000", "province", "30%"), FunderShare("440300", "city", "70%")]
    RiskPools(ledger).create_pool("sz-pool", "深圳风险补偿资金池", GUANGZHOU_POOL_POLICY, funders)
    opened = {book["code"] for book in ledger.books()} - before

    owners = book_regions(ledger)

    assert set(owners) == opened  # no book the services open is left without its regions
    assert {book: owners[book] for book in opened if book.startswith(("gf:", "sf:"))} == {
        "gf:SZ-TT": ("440300",), "gf:SZ-TT:memo": ("440300",), "gf:SZ-TT:budget": ("440300",),
        "sf:SZ-A-1": ("440300",), "sf:SZ-A-1:memo": ("440300",),
    }  # fmt: skip
    for book in ("pool:sz-pool", "pool:sz-pool:memo", "pool:sz-pool:budget"):
        assert owners[book] == ("440000", "440300")  # in the funders' order


def test_no_funds_no_books(ledger):
    assert book_regions(ledger) == {}
