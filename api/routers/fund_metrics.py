"""Guidance-fund metrics: a fund's and a sub-fund's position as of a date, and the fund-metrics report as JSON,
CSV and .xlsx (through the one export writer), each row a fund the caller may see (api.routers.funds' scope).

Thin over funds.metrics: commitment, called, unfunded, paid-in, distributed, NAV, DPI, RVPI, TVPI, XIRR and
leverage, computed by the domain."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from api.deps import LedgerDep
from api.routers.commands import XLSX_MEDIA_TYPE
from api.routers.funds import FilterCode, FundCode, Reader, _subfund_visible, _visible_fund, _visible_subfund
from api.schemas.funds import MetricsOut
from api.scopes import Principal, fund_visible
from funds import reads
from funds.metrics import guidance_fund_metrics, subfund_metrics
from ledger.spreadsheet import WAN_YUAN, YUAN, Column, ColumnKind, Sheet, xlsx_bytes

router = APIRouter(prefix="/v1", tags=["funds"])
Unit = Annotated[Literal["元", "万元"], Query(description="amounts of the .xlsx in 元 or 万元")]


@router.get("/funds/{fund}/metrics", response_model=MetricsOut)
def get_fund_metrics(fund: FundCode, principal: Reader, ledger: LedgerDep, as_of: date | None = None):
    """The guidance fund's own position over all its sub-funds, as of an effective date (default today)."""
    _visible_fund(ledger, principal, fund)
    on = as_of or date.today()
    return MetricsOut.of(fund, "guidance_fund", guidance_fund_metrics(ledger, fund, on))


@router.get("/sub-funds/{subfund}/metrics", response_model=MetricsOut)
def get_subfund_metrics(subfund: FundCode, principal: Reader, ledger: LedgerDep, as_of: date | None = None):
    _visible_subfund(ledger, principal, subfund)
    return MetricsOut.of(subfund, "subfund", subfund_metrics(ledger, subfund, as_of or date.today()))


# ----- the fund-metrics report (JSON, CSV, .xlsx) ----------------------------------------------------------

METRICS_COLUMNS = (
    ("subject", "对象", ColumnKind.TEXT),
    ("kind", "类别", ColumnKind.TEXT),
    ("commitment", "认缴", ColumnKind.FEN),
    ("called", "已催缴", ColumnKind.FEN),
    ("unfunded", "未缴", ColumnKind.FEN),
    ("paid_in", "实缴", ColumnKind.FEN),
    ("distributed", "已分配", ColumnKind.FEN),
    ("nav", "净值", ColumnKind.FEN),
    ("dpi", "DPI", ColumnKind.TEXT),
    ("rvpi", "RVPI", ColumnKind.TEXT),
    ("tvpi", "TVPI", ColumnKind.TEXT),
    ("xirr", "XIRR", ColumnKind.TEXT),
    ("leverage", "撬动比", ColumnKind.TEXT),
)


def _metrics_rows(ledger, principal: Principal, fund: str | None, on: date) -> list[tuple[MetricsOut, dict]]:  # noqa: ANN001
    """Each visible sub-fund, then each guidance fund the caller may see whole (its own position)."""
    rows = []
    for row in reads.subfunds(ledger):
        if _subfund_visible(principal, row) and (fund is None or row["guidance_code"] == fund):
            values = subfund_metrics(ledger, row["code"], on)
            rows.append((MetricsOut.of(row["code"], "subfund", values), values))
    for row in reads.guidance_funds(ledger):
        if fund_visible(principal, row["code"], row["region_code"]) and (fund is None or row["code"] == fund):
            values = guidance_fund_metrics(ledger, row["code"], on)
            rows.append((MetricsOut.of(row["code"], "guidance_fund", values), values))
    return rows


@router.get("/reports/fund-metrics", response_model=list[MetricsOut])
def fund_metrics_report(principal: Reader, ledger: LedgerDep, fund: FilterCode = None, as_of: date | None = None):
    return [out for out, _values in _metrics_rows(ledger, principal, fund, as_of or date.today())]


@router.get("/reports/fund-metrics.csv", response_class=Response, responses={200: {"content": {"text/csv": {}}}})
def fund_metrics_csv(principal: Reader, ledger: LedgerDep, fund: FilterCode = None, as_of: date | None = None):
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["as_of", *(key for key, _header, _kind in METRICS_COLUMNS)])
    for row, _values in _metrics_rows(ledger, principal, fund, as_of or date.today()):
        data = row.model_dump(mode="json")
        writer.writerow([data["as_of"], *("" if data[key] is None else data[key] for key, _h, _k in METRICS_COLUMNS)])
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8")


@router.get("/reports/fund-metrics.xlsx", response_class=Response, responses={200: {"content": {XLSX_MEDIA_TYPE: {}}}})
def fund_metrics_xlsx(
    principal: Reader, ledger: LedgerDep, fund: FilterCode = None, as_of: date | None = None, unit: Unit = YUAN
):
    on = as_of or date.today()
    rows = []
    for out, values in _metrics_rows(ledger, principal, fund, on):
        data = out.model_dump(mode="json")
        row = {key: data[key] for key, _header, kind in METRICS_COLUMNS if kind is ColumnKind.TEXT}
        row |= {key: values[f"{key}_fen"] for key, _header, kind in METRICS_COLUMNS if kind is ColumnKind.FEN}
        rows.append(row)
    sheet = Sheet(
        f"基金指标 {on.isoformat()}",
        tuple(Column(key, header, kind) for key, header, kind in METRICS_COLUMNS),
        rows,
        totals=False,  # sub-fund and guidance-fund rows overlap: a sum would count money twice
    )
    return Response(
        xlsx_bytes([sheet], unit=WAN_YUAN if unit == WAN_YUAN else YUAN),
        media_type=XLSX_MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="fund-metrics-{on.isoformat()}.xlsx"'},
    )
