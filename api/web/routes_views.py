"""The finance office's and auditor's oversight views: open alerts (a finance office resolves one with a
reason), risk pools' balance and exposure, and cross-region settlement statements with both regions'
figures side by side (each side read from its own book, as vouchers.settlement.statement reads it).

Every figure comes from the owning service (jobs.alerts, funds, vouchers.settlement); the scope rules are the
API's (api.scopes): alerts of the principal's regions, pools its region funds, settlements with one side in
its regions. The dashboard (routes_finance) shows the first page of each; the settlements page pages the
rest by key, with its region filter in the URL. Resolving an alert is the dashboard's action (routes_finance)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query

from api.scopes import Principal, Role, pool_visible, region_prefix, settlement_visible
from api.web.rendering import WEB_PREFIX, Page, PageRefusal, reading_ledger, render, shown_refusal, signed_in
from funds import reads as funds_reads
from funds.pools import RiskPools, memo_book
from jobs.alerts import REASON_MAX_LENGTH, list_alerts
from vouchers import listings as voucher_listings
from vouchers.settlement import Statement, both_statements

router = APIRouter(prefix=WEB_PREFIX, include_in_schema=False)
OVERSIGHT_READERS = (Role.FINANCE_OFFICE, Role.AUDITOR, Role.ADMIN)
# Resolving an alert is the office's act (as POST /v1/alerts/{id}/resolve); an auditor only reads.
ALERT_RESOLVERS = (Role.FINANCE_OFFICE, Role.ADMIN)
OversightPage = Annotated[Page, Depends(signed_in(*OVERSIGHT_READERS))]
SETTLEMENTS_PAGE_SIZE = 20
SETTLEMENTS_ON_DASHBOARD = 5
FILED_LOANS_CONTROL = "Memo:FiledLoansControl"
# A statement's figures in the order the side-by-side table shows them (Statement attribute per row).
STATEMENT_FIGURES = (
    "payable_fen",
    "receivable_fen",
    "net_payable_fen",
    "settled_payable_fen",
    "settled_receivable_fen",
    "cash_paid_fen",
    "unsettled_fen",
)


# ----- alerts ----------------------------------------------------------------------------------------------


def alert_region_prefixes(principal: Principal) -> list[str] | None:
    """The alerts a principal sees, as jobs.alerts.list_alerts filters them (None: every alert, for admin)."""
    return None if principal.is_admin else [region_prefix(region) for region in principal.regions()]


def open_alerts(page: Page) -> list[dict]:
    engine = reading_ledger(page).engine
    return list_alerts(engine, region_prefixes=alert_region_prefixes(page.principal))


ALERTS_PAGE_SIZE = 50


def alerts_context(
    page: Page, *, notice: str | None = None, refusal: PageRefusal | None = None, after: int | None = None
) -> dict:
    """The alerts card: a page of the open alerts after the id ``after`` (in the URL as ``alerts_after``)."""
    alerts = [alert for alert in open_alerts(page) if after is None or alert["id"] > after]
    shown = alerts[:ALERTS_PAGE_SIZE]
    return {
        "alerts": shown,
        "alerts_next": shown[-1]["id"] if len(alerts) > ALERTS_PAGE_SIZE else None,
        "alerts_paged": after is not None,
        "may_resolve": page.principal.role in ALERT_RESOLVERS,
        "reason_max": REASON_MAX_LENGTH,
        "alert_notice": notice,
        "alert_refusal": None if refusal is None else shown_refusal(page.language, refusal),
    }


# ----- risk pools ------------------------------------------------------------------------------------------


def pools_in_scope(page: Page) -> list[dict]:
    """Each pool the principal's regions fund: its cash balance, the filed loans it covers (its exposure),
    and its claims entitled, paid, still owed and recovered, summed over its banks (funds.pools' reads)."""
    ledger = reading_ledger(page)
    service = RiskPools(ledger)
    rows = []
    for pool in funds_reads.pools(ledger):
        funders = [funder["funder_code"] for funder in pool["funders"]]
        if not pool_visible(page.principal, funders, ()):
            continue
        banks = service.bank_statement(pool["code"])
        totals = {
            name: sum(bank[name] for bank in banks)
            for name in ("filed_loans", "filed_principal_fen", "entitled_fen", "paid_fen", "owed_fen", "recovered_fen")
        }
        rows.append(
            {
                "code": pool["code"],
                "name": pool["name"],
                "funders": funders,
                "balance_fen": service.balance_fen(pool["code"]),
                # covered amounts are credited to the control account: its credit balance is the exposure
                "covered_fen": -ledger.account(memo_book(pool["code"]), FILED_LOANS_CONTROL).balance_fen,
                **totals,
            }
        )
    return rows


# ----- cross-region settlements ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SideBySide:
    """One settlement with each side's statement read from that side's own financial book."""

    settlement: dict
    low: Statement
    high: Statement

    @property
    def agrees(self) -> bool:
        """What one side booked as payable to the other, the other booked as receivable, to the fen."""
        return (self.low.payable_fen, self.low.receivable_fen) == (self.high.receivable_fen, self.high.payable_fen)

    def rows(self) -> list[tuple[str, int, int]]:
        return [(name, getattr(self.low, name), getattr(self.high, name)) for name in STATEMENT_FIGURES]


def _settlement_rows(page: Page, region: str | None) -> list[dict]:
    """Settlements the principal may see (one side in its regions), narrowed to ``region``, newest first."""
    with page.request.app.state.ledger.reader.connect() as conn:
        rows = [row for row in voucher_listings.settlements(conn) if settlement_visible(page.principal, row)]
    if region:
        prefix = region_prefix(region)
        rows = [row for row in rows if row["region_low"].startswith(prefix) or row["region_high"].startswith(prefix)]
    return sorted(rows, key=lambda row: row["id"], reverse=True)


def side_by_side(page: Page, rows: list[dict]) -> list[SideBySide]:
    ledger = reading_ledger(page)
    return [SideBySide(row, *both_statements(ledger, row["id"])) for row in rows]


def dashboard_settlements(page: Page) -> tuple[list[SideBySide], bool]:
    """The newest few for the dashboard, and whether there are more (the settlements page has them)."""
    rows = _settlement_rows(page, None)
    return side_by_side(page, rows[:SETTLEMENTS_ON_DASHBOARD]), len(rows) > SETTLEMENTS_ON_DASHBOARD


def region_names(page: Page, codes: set[str]) -> dict[str, str]:
    ledger = page.request.app.state.ledger
    names = {}
    for code in sorted(codes):
        entity = ledger.entity(code)
        names[code] = entity["name"] if entity else code
    return names


RegionQuery = Annotated[str | None, Query(pattern=r"^(\d{6})?$")]


@router.get("/settlements")
def settlements_page(
    page: OversightPage,
    region: RegionQuery = None,
    before: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
):
    """Every settlement in scope, newest first, a page at a time (``before``: the id the page starts below),
    each with both regions' statements side by side; the region filter stays in the URL."""
    rows = _settlement_rows(page, region or None)
    if before is not None:
        rows = [row for row in rows if row["id"] < before]
    shown = rows[:SETTLEMENTS_PAGE_SIZE]
    query = {"region": region} if region else {}
    next_url = None
    if len(rows) > SETTLEMENTS_PAGE_SIZE:
        next_url = page_url("/settlements", **query, before=shown[-1]["id"])
    settlements = side_by_side(page, shown)
    codes = {side for item in settlements for side in (item.low.region, item.high.region)}
    return render(
        page,
        "settlements.html",
        settlements=settlements,
        names=region_names(page, codes),
        region=region or "",
        next_url=next_url,
        first_url=page_url("/settlements", **query) if before is not None else None,
    )


def page_url(path: str, **query: object) -> str:
    present = {key: value for key, value in query.items() if value not in (None, "")}
    return f"{WEB_PREFIX}{path}" + (f"?{urlencode(present)}" if present else "")
