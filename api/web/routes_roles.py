"""The fund manager's and the service provider's pages.

Fund manager (基金管理人): the guidance fund's own position and each sub-fund's metrics as of a date (in the
URL), with TVPI and DPI at every month end as a line chart; the scope rule is api.scopes.fund_visible, as
in the API. Service provider (服务机构): its redemptions to claim, every redemption with its claim and payout
status (vouchers.views), the claims it filed and their decisions, and the payment batches paying it."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Annotated

from fastapi import APIRouter, Depends, Path

from api.approval_requests import PENDING, requests_of_institution
from api.routers.vouchers import CLAIM_REQUEST
from api.scopes import CREDIT_CODE, Role, fund_visible, redemption_visible
from api.web.rendering import WEB_PREFIX, Page, PageRefusal, chart_json, reading_ledger, render, signed_in
from funds.metrics import guidance_fund_metrics, subfund_metrics
from funds.reads import guidance_fund, subfunds
from funds.reports import subfund_metrics_over_time
from ledger.engine import today_shanghai
from ledger.numbers import period_of
from vouchers.payments import get_batch
from vouchers.programs import load_program
from vouchers.views import provider_payments

router = APIRouter(prefix=WEB_PREFIX, include_in_schema=False)
FUND_READERS = (Role.FUND_MANAGER, Role.FINANCE_OFFICE, Role.AUDITOR, Role.ADMIN)
PROVIDER_READERS = (Role.SERVICE_PROVIDER, Role.FINANCE_OFFICE, Role.AUDITOR, Role.ADMIN)
FundPage = Annotated[Page, Depends(signed_in(*FUND_READERS))]
ProviderPage = Annotated[Page, Depends(signed_in(*PROVIDER_READERS))]
FundCode = Annotated[str, Path(max_length=64)]
RATIO_CHART_PLACES = Decimal("0.0001")


def _ratio_text(value: Fraction | Decimal | None) -> str | None:
    """A multiple for the chart as a decimal string, four places (exact ratios are Fractions; no float)."""
    if value is None:
        return None
    if isinstance(value, Fraction):
        value = Decimal(value.numerator) / Decimal(value.denominator)
    return str(value.quantize(RATIO_CHART_PLACES))


@router.get("/funds/{code}")
def fund_page(page: FundPage, code: FundCode, as_of: date | None = None):
    ledger = page.request.app.state.ledger
    fund = guidance_fund(ledger, code)
    if fund is None or not fund_visible(page.principal, fund["code"], fund["region_code"]):
        raise PageRefusal(404, page.t("error.not_found"), "fund_not_found")
    day = as_of or today_shanghai()
    own = [row for row in subfunds(ledger) if row["guidance_code"] == code]
    rows = [{"subfund": row, "metrics": subfund_metrics(ledger, row["code"], day)} for row in own]
    own_codes = {row["code"] for row in own}
    month_ends = subfund_metrics_over_time(ledger.engine, last_period=period_of(day))
    history = [row for row in month_ends if row["subfund"] in own_codes]
    return render(
        page,
        "fund.html",
        fund=fund,
        as_of=day,
        total=guidance_fund_metrics(ledger, code, day),
        rows=rows,
        chart=_tvpi_chart(page, history),
    )


def _tvpi_chart(page: Page, history: list[dict]) -> str:
    periods = sorted({row["period"] for row in history})
    codes = sorted({row["subfund"] for row in history})
    by_key = {(row["subfund"], row["period"]): row for row in history}
    return chart_json(
        {
            "tooltip": {"trigger": "axis"},
            "legend": {"top": 0, "data": [f"{code} TVPI" for code in codes]},
            "grid": {"left": 60, "right": 20, "top": 50, "bottom": 40},
            "xAxis": {"type": "category", "data": periods},
            "yAxis": {"type": "value", "name": "×"},
            "series": [
                {
                    "name": f"{code} TVPI",
                    "type": "line",
                    "data": [_ratio_text(by_key.get((code, period), {}).get("tvpi")) for period in periods],
                }
                for code in codes
            ],
        }
    )


@router.get("/providers/{code}")
def provider_page(page: ProviderPage, code: Annotated[str, Path(max_length=18)]):
    """Redemptions to claim (reserved, with the claim awaiting verification if one is filed and the program's
    last day for claims), every redemption with its claim and payout status, the claims filed and how each
    was decided, and the payment batches that hold the provider's payouts. The rows are the API's
    (``/v1/providers/{code}/payments``) under its scope rule (api.scopes.redemption_visible)."""
    ledger = reading_ledger(page)  # the page only reads: deferred, never queued behind the writer
    entity = ledger.entity(code) if CREDIT_CODE.match(code) else None
    region = entity.get("region_code") if entity else None
    if entity is None or not page.principal.covers_institution(code, region):
        raise PageRefusal(404, page.t("error.not_found"), "entity_not_found")
    rows = [row for row in provider_payments(ledger, code) if redemption_visible(page.principal, row)]
    names: dict[str, str] = {}
    for row in rows:
        if row["enterprise_code"] not in names:
            enterprise = ledger.entity(row["enterprise_code"])
            names[row["enterprise_code"]] = enterprise["name"] if enterprise else row["enterprise_code"]
    items = [{**row, "enterprise_name": names[row["enterprise_code"]]} for row in rows]
    by_id = {row["id"]: row for row in items}
    with ledger.reader.connect() as conn:
        filed = [
            {**request, "redemption": by_id[int(request["subject"])]}
            for request in requests_of_institution(conn, CLAIM_REQUEST, code)
            if request["subject"].isdigit() and int(request["subject"]) in by_id
        ]
        redeem_by = {
            program: load_program(conn, program).redeem_by for program in {row["program_code"] for row in rows}
        }
    pending = {request["redemption"]["id"] for request in filed if request["status"] == PENDING}
    to_claim = [
        {**row, "claim_pending": row["id"] in pending, "redeem_by": redeem_by[row["program_code"]]}
        for row in items
        if row["status"] == "reserved"
    ]
    return render(
        page,
        "provider.html",
        entity=entity,
        redemptions=items,
        to_claim=to_claim,
        claims=filed,
        batches=_payment_batches(ledger, code, items),
    )


def _payment_batches(ledger, code: str, rows: list[dict]) -> list[dict]:  # noqa: ANN001 - ledger.engine.Ledger
    """Each payment batch holding one of the provider's redemptions, with the provider's own lines in it."""
    shown = []
    for batch_id in sorted({row["payment_batch_id"] for row in rows if row["payment_batch_id"] is not None}):
        batch = get_batch(ledger, batch_id)
        lines = [line for line in batch["lines"] if line["provider_code"] == code]
        shown.append({**batch, "own_lines": len(lines), "own_fen": sum(line["amount_fen"] for line in lines)})
    return shown
