"""Innovation vouchers between regions and providers: settlements with statements, payment batches, a
provider's payments, and the voucher-usage report by region and cross-region flow (JSON, CSV, .xlsx).

The conventions are those of ``api.routers.vouchers``: money-moving POSTs keyed and dry-runnable, a settlement
run filed here and carried out by a second person in ``/v1/approvals``."""

from __future__ import annotations

import csv
import io
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response

from api.approval_requests import file_request
from api.deps import LedgerDep, PageParams, UnitOfWork, paginate
from api.routers import links
from api.routers.transactions import DryRun, IdempotencyKey
from api.routers.vouchers import (
    CREDIT_CODE_PATTERN,
    SETTLEMENT_REQUEST,
    XLSX_MEDIA_TYPE,
    Office,
    OfficeReader,
    Reader,
    RegionFilter,
    RowId,
    _outside_scope,
    _prefix,
    not_found,
)
from api.schemas.core import page_of
from api.schemas.transactions import check_idempotency_key
from api.schemas.vouchers import (
    REGION_PATTERN,
    PaymentBatchIn,
    PaymentBatchOut,
    ProviderPaymentOut,
    SettlementIn,
    SettlementOut,
    StatementItemOut,
    StatementOut,
    UsageFlowOut,
    UsageRegionOut,
    VoucherUsageOut,
    WriteDryRunOut,
)
from api.scopes import Principal, Role, redemption_visible, settlement_visible
from api.writes import Written, keyed_write
from ledger.engine import Ledger
from ledger.errors import LedgerError, ResultCode
from ledger.money import format_fen
from ledger.numbers import parse_amount_fen
from vouchers import listings
from vouchers.codes import VoucherCode
from vouchers.payments import get_batch, prepare_batch, quarter
from vouchers.settlement import statement
from vouchers.views import provider_payments

router = APIRouter(prefix="/v1", tags=["vouchers"])
USAGE_CSV_HEADER = ["区域", "核销笔数", "核销金额(元)", "本地(元)", "跨区域流出(元)", "跨区域流入(元)"]
FLOW_CSV_HEADER = [
    "企业所在区域",
    "服务机构所在区域",
    "模式",
    "笔数",
    "核销金额(元)",
    "企业区域分担(元)",
    "服务区域分担(元)",
]
SettlementPage = page_of(SettlementOut)
BatchPage = page_of(PaymentBatchOut)


PaymentPage = page_of(ProviderPaymentOut)


@router.get("/providers/{credit_code}/payments", response_model=PaymentPage)
def provider_payment_list(
    credit_code: Annotated[str, Path(pattern=CREDIT_CODE_PATTERN)],
    principal: Reader,
    ledger: LedgerDep,
    page: PageParams,
):
    """A provider's redemptions with their payment status: the provider itself, and the offices and auditors of
    a region on either side of each redemption."""
    rows = provider_payments(ledger, credit_code, limit=listings.LISTING_ROWS_MAX)
    if principal.role is Role.SERVICE_PROVIDER and credit_code not in principal.institutions():
        rows = []
    rows = [row for row in rows if redemption_visible(principal, row)]
    if not rows and not _provider_known(ledger, principal, credit_code):
        raise LedgerError(ResultCode.ENTITY_NOT_FOUND, f"provider {credit_code} is not known")
    items, cursor = paginate([ProviderPaymentOut.of(row) for row in rows], lambda p: p.redemption_id, page, {})
    return {"items": items, "next_cursor": cursor}


def _provider_known(ledger: Ledger, principal: Principal, credit_code: str) -> bool:
    entity = ledger.entity(credit_code)
    return principal.covers_institution(credit_code, entity.get("region_code") if entity else None)


# ----- settlements ---------------------------------------------------------------------------------------


@router.get(
    "/settlements",
    response_model=SettlementPage,
    openapi_extra=links.listed(
        settlement=links.to("/v1/settlements/{settlement_id}", settlement_id=links.first_item("id")),
        statement=links.to("/v1/settlements/{settlement_id}/statement", settlement_id=links.first_item("id")),
    ),
)
def list_settlements(principal: OfficeReader, ledger: LedgerDep, page: PageParams, region: RegionFilter = None):
    with ledger.reader.connect() as conn:
        rows = [
            row
            for row in listings.settlements(conn)
            if settlement_visible(principal, row)
            and (region is None or any(row[s].startswith(_prefix(region)) for s in ("region_low", "region_high")))
        ]
    items, cursor = paginate([SettlementOut.of(row) for row in rows], lambda s: s.id, page, {"region": region})
    return {"items": items, "next_cursor": cursor}


def _visible_settlement(ledger: Ledger, principal: Principal, settlement_id: int) -> dict:
    with ledger.reader.connect() as conn:
        row = listings.settlement(conn, settlement_id)
    if row is None or not settlement_visible(principal, row):
        raise not_found(VoucherCode.SETTLEMENT_NOT_FOUND, f"settlement {settlement_id}")
    return row


@router.get("/settlements/{settlement_id}", response_model=SettlementOut)
def get_settlement(settlement_id: RowId, principal: OfficeReader, ledger: LedgerDep):
    return SettlementOut.of(_visible_settlement(ledger, principal, settlement_id))


@router.get("/settlements/{settlement_id}/statement", response_model=StatementOut)
def get_statement(
    settlement_id: RowId,
    principal: OfficeReader,
    ledger: LedgerDep,
    region: Annotated[
        str | None, Query(pattern=REGION_PATTERN, description="the side whose book is read (default: yours)")
    ] = None,
):
    """One side's statement, every figure read from that region's own financial book."""
    settlement = _visible_settlement(ledger, principal, settlement_id)
    if region is None:
        sides = (settlement["region_low"], settlement["region_high"])
        region = next(side for side in sides if principal.covers_region(side))
    if not principal.covers_region(region):
        raise not_found(VoucherCode.SETTLEMENT_NOT_FOUND, f"settlement {settlement_id} for region {region}")
    side = statement(ledger, settlement_id, region)
    return StatementOut(
        settlement_id=settlement_id,
        region=side.region,
        counterparty=side.counterparty,
        period_label=side.period_label,
        items=[
            StatementItemOut(
                redemption=item["redemption"],
                contract_no=item["contract_no"],
                mode=item["mode"],
                payable=format_fen(item["payable_fen"]),
                receivable=format_fen(item["receivable_fen"]),
            )
            for item in side.items
        ],
        payable=format_fen(side.payable_fen),
        receivable=format_fen(side.receivable_fen),
        net_payable=format_fen(side.net_payable_fen),
        settled_payable=format_fen(side.settled_payable_fen),
        settled_receivable=format_fen(side.settled_receivable_fen),
        cash_paid=format_fen(side.cash_paid_fen),
        unsettled=format_fen(side.unsettled_fen),
    )


@router.post("/settlements", status_code=201, responses={409: {}})
def post_settlement(
    body: SettlementIn,
    principal: Office,
    ledger: LedgerDep,
    uow: UnitOfWork,
    request: Request,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """File a settlement run of a region pair and period; a second person approves it in ``/v1/approvals``."""
    key = check_idempotency_key(idempotency_key)
    if not (principal.covers_region(body.region_a) or principal.covers_region(body.region_b)):
        raise _outside_scope("a settlement between two regions outside your scope")
    if body.region_a == body.region_b:
        raise LedgerError(VoucherCode.SETTLEMENT_NEEDS_TWO_REGIONS, "a settlement is between two different regions")
    content = body.model_dump(mode="json")

    def produce(joined: Ledger) -> Written:
        with joined.engine.begin() as conn:
            request_id = file_request(
                conn, kind=SETTLEMENT_REQUEST, subject=f"{body.region_a}/{body.region_b}/{body.period_label}",
                payload=content, recorded_by=principal.name, recorded_at=ledger.clock(),
                region_code=body.region_a, other_region_code=body.region_b,
            )  # fmt: skip
        approval = f"{SETTLEMENT_REQUEST}:{request_id}"
        return Written({"approval": approval, "status": "pending"}, f"/v1/approvals/{approval}")

    return keyed_write(
        ledger, uow, principal, key, path=request.url.path, content=content, produce=produce, response=response
    )


# ----- payment batches -------------------------------------------------------------------------------


@router.get(
    "/payment-batches",
    response_model=BatchPage,
    openapi_extra=links.listed(batch=links.to("/v1/payment-batches/{batch_id}", batch_id=links.first_item("id"))),
)
def list_batches(
    principal: OfficeReader,
    ledger: LedgerDep,
    page: PageParams,
    status: Annotated[str | None, Query(pattern="^(prepared|paid)$")] = None,
):
    with ledger.reader.connect() as conn:
        rows = [
            row for row in listings.payment_batches(conn, status=status) if principal.covers_region(row["region_code"])
        ]
    items, cursor = paginate([PaymentBatchOut.of(row) for row in rows], lambda b: b.id, page, {"status": status})
    return {"items": items, "next_cursor": cursor}


@router.get("/payment-batches/{batch_id}", response_model=PaymentBatchOut)
def get_payment_batch(batch_id: RowId, principal: OfficeReader, ledger: LedgerDep):
    try:
        row = get_batch(ledger, batch_id)
    except LedgerError:
        row = None
    if row is None or not principal.covers_region(row["region_code"]):
        raise not_found(VoucherCode.PAYMENT_BATCH_NOT_FOUND, f"payment batch {batch_id}")
    return PaymentBatchOut.of(row)


@router.post(
    "/payment-batches",
    response_model=PaymentBatchOut | WriteDryRunOut,
    status_code=201,
    responses={409: {}, 422: {}},
    openapi_extra=links.created(batch=links.to("/v1/payment-batches/{batch_id}", batch_id=links.created_field("id"))),
)
def post_payment_batch(
    body: PaymentBatchIn,
    principal: Office,
    ledger: LedgerDep,
    uow: UnitOfWork,
    request: Request,
    response: Response,
    idempotency_key: IdempotencyKey = None,
    dry_run: DryRun = False,
):
    """Prepare the quarter's batch of claimed, unpaid provider payables of a region (nothing is paid until a
    second person approves it in ``/v1/approvals``)."""
    key = check_idempotency_key(idempotency_key)
    if not principal.covers_region(body.region):
        raise _outside_scope(f"a payment batch of region {body.region}, outside your scope")

    def produce(joined: Ledger) -> Written:
        batch = prepare_batch(
            joined, body.region, **quarter(body.period_label), maker=principal.name, on=body.on,
            redemption_ids=body.redemption_ids,
        )  # fmt: skip
        return Written(PaymentBatchOut.of(batch).model_dump(mode="json"), f"/v1/payment-batches/{batch['id']}")

    return keyed_write(
        ledger, uow, principal, key, path=request.url.path, content=body.model_dump(mode="json"),
        produce=produce, response=response, dry_run=dry_run,
    )  # fmt: skip


# ----- report: voucher usage by region and cross-region flows -------------------------------------------


def _usage(ledger: Ledger, principal: Principal, year: int | None, region: str | None) -> VoucherUsageOut:
    with ledger.reader.connect() as conn:
        flows = listings.usage_flows(conn, year=year)

    def shown(region_code: str) -> bool:
        wanted = region is None or region_code.startswith(_prefix(region))
        return wanted and principal.covers_region(region_code)

    flows = [flow for flow in flows if shown(flow["enterprise_region"]) or shown(flow["provider_region"])]
    totals: dict[str, dict[str, int]] = {}
    for flow in flows:
        home, away = flow["enterprise_region"], flow["provider_region"]
        for code in {home, away}:
            if shown(code):
                totals.setdefault(code, {"redemptions": 0, "claimed": 0, "local": 0, "out": 0, "in": 0})
        if home == away:
            totals[home]["redemptions"] += flow["redemptions"]
            totals[home]["claimed"] += flow["claimed_fen"]
            totals[home]["local"] += flow["claimed_fen"]
            continue
        if shown(home):
            totals[home]["redemptions"] += flow["redemptions"]
            totals[home]["claimed"] += flow["claimed_fen"]
            totals[home]["out"] += flow["claimed_fen"]
        if shown(away):
            totals[away]["in"] += flow["claimed_fen"]
    return VoucherUsageOut(
        year=year,
        regions=[
            UsageRegionOut(
                region=code,
                redemptions=values["redemptions"],
                claimed=format_fen(values["claimed"]),
                local=format_fen(values["local"]),
                cross_region_out=format_fen(values["out"]),
                cross_region_in=format_fen(values["in"]),
            )
            for code, values in sorted(totals.items())
        ],
        flows=[
            UsageFlowOut(
                enterprise_region=flow["enterprise_region"],
                provider_region=flow["provider_region"],
                mode=flow["mode"],
                redemptions=flow["redemptions"],
                claimed=format_fen(flow["claimed_fen"]),
                enterprise_share=format_fen(flow["enterprise_share_fen"]),
                provider_share=format_fen(flow["provider_share_fen"]),
            )
            for flow in flows
        ],
    )


UsageYear = Annotated[int | None, Query(ge=1900, le=2999)]


@router.get("/reports/voucher-usage", response_model=VoucherUsageOut)
def voucher_usage(principal: OfficeReader, ledger: LedgerDep, year: UsageYear = None, region: RegionFilter = None):
    """Claimed vouchers per region (local, flowing out to other regions' providers, flowing in) and every
    cross-region flow (enterprise's region → provider's region, by mode), each visible to both regions."""
    return _usage(ledger, principal, year, region)


@router.get("/reports/voucher-usage.csv", response_class=Response, responses={200: {"content": {"text/csv": {}}}})
def voucher_usage_csv(principal: OfficeReader, ledger: LedgerDep, year: UsageYear = None, region: RegionFilter = None):
    report = _usage(ledger, principal, year, region)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(USAGE_CSV_HEADER)
    for row in report.regions:
        writer.writerow(
            [row.region, row.redemptions, row.claimed, row.local, row.cross_region_out, row.cross_region_in]
        )
    writer.writerow([])
    writer.writerow(FLOW_CSV_HEADER)
    for flow in report.flows:
        writer.writerow(
            [
                flow.enterprise_region,
                flow.provider_region,
                flow.mode,
                flow.redemptions,
                flow.claimed,
                flow.enterprise_share,
                flow.provider_share,
            ]
        )
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8")


@router.get("/reports/voucher-usage.xlsx", response_class=Response, responses={200: {"content": {XLSX_MEDIA_TYPE: {}}}})
def voucher_usage_xlsx(
    principal: OfficeReader,
    ledger: LedgerDep,
    year: UsageYear = None,
    region: RegionFilter = None,
    unit: Annotated[str, Query(pattern="^(元|万元)$")] = "元",
):
    from ledger.spreadsheet import Column, ColumnKind, Sheet, xlsx_bytes

    report = _usage(ledger, principal, year, region)
    fen = parse_amount_fen
    regions = Sheet(
        "按区域",
        (
            Column("region", "区域"),
            Column("redemptions", "核销笔数", ColumnKind.INT),
            Column("claimed", "核销金额", ColumnKind.FEN),
            Column("local", "本地", ColumnKind.FEN),
            Column("out", "跨区域流出", ColumnKind.FEN),
            Column("in", "跨区域流入", ColumnKind.FEN),
        ),
        [
            {
                "region": r.region,
                "redemptions": r.redemptions,
                "claimed": fen(r.claimed),
                "local": fen(r.local),
                "out": fen(r.cross_region_out),
                "in": fen(r.cross_region_in),
            }
            for r in report.regions
        ],
    )
    flows = Sheet(
        "跨区域流向",
        (
            Column("from", "企业所在区域"),
            Column("to", "服务机构所在区域"),
            Column("mode", "模式"),
            Column("redemptions", "笔数", ColumnKind.INT),
            Column("claimed", "核销金额", ColumnKind.FEN),
            Column("home", "企业区域分担", ColumnKind.FEN),
            Column("away", "服务区域分担", ColumnKind.FEN),
        ),
        [
            {
                "from": f.enterprise_region,
                "to": f.provider_region,
                "mode": f.mode,
                "redemptions": f.redemptions,
                "claimed": fen(f.claimed),
                "home": fen(f.enterprise_share),
                "away": fen(f.provider_share),
            }
            for f in report.flows
        ],
    )
    return Response(xlsx_bytes([regions, flows], unit), media_type=XLSX_MEDIA_TYPE)
