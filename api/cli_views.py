"""The domain's read views on the command line: voucher positions, subsidy caps, fund metrics, pool and
settlement statements. Each command calls the same service function the HTTP API uses and only formats."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from datetime import date
from typing import Annotated

import typer

from api.cli_format import AmountUnit, Column, ColumnKind, OutputFormat, emit_rows, plain_value
from api.cli_lang import label
from api.cli_support import (
    EXIT_USAGE,
    USAGE_ERROR,
    DatabaseOption,
    console,
    fail,
    ledger_for,
    parse_optional_date,
    run_refusable,
)
from ledger.money import DEFAULT_CURRENCY, format_fen

FormatOption = Annotated[OutputFormat, typer.Option("--format", help="table, csv or json.")]
UnitOption = Annotated[AmountUnit, typer.Option("--unit", help="Amounts in tables: 元 or 万元.")]

vouchers_app = typer.Typer(help="Innovation vouchers: what an enterprise holds.", no_args_is_help=True)
subsidies_app = typer.Typer(help="Subsidy programs: awards against their caps.", no_args_is_help=True)
funds_app = typer.Typer(help="Guidance funds and sub-funds: metrics.", no_args_is_help=True)
pools_app = typer.Typer(help="Loan risk-compensation pools: statements.", no_args_is_help=True)
settlements_app = typer.Typer(help="Inter-region voucher settlements: statements.", no_args_is_help=True)

POSITION_COLUMNS = [
    Column("program", "program"),
    Column("region", "region"),
    Column("year", "year", ColumnKind.number),
    Column("granted_fen", "granted", ColumnKind.amount),
    Column("reserved_fen", "reserved", ColumnKind.amount),
    Column("used_fen", "used", ColumnKind.amount),
    Column("expired_fen", "expired", ColumnKind.amount),
    Column("available_fen", "available", ColumnKind.amount),
    Column("paid_fen", "paid (of used)", ColumnKind.amount),
]
CAP_COLUMNS = [
    Column("program", "program"),
    Column("institution", "institution"),
    Column("year", "year", ColumnKind.number),
    Column("granted_fen", "granted", ColumnKind.amount),
    Column("rule", "cap"),
    Column("enforcement", "enforcement"),
    Column("limit_fen", "limit", ColumnKind.amount),
    Column("used_fen", "used", ColumnKind.amount),
    Column("room_fen", "room", ColumnKind.amount),
]
METRIC_COLUMNS = [
    Column("as_of", "as of"),
    Column("commitment_fen", "commitment", ColumnKind.amount),
    Column("called_fen", "called", ColumnKind.amount),
    Column("unfunded_fen", "unfunded", ColumnKind.amount),
    Column("paid_in_fen", "paid in", ColumnKind.amount),
    Column("distributed_fen", "distributed", ColumnKind.amount),
    Column("nav_fen", "NAV", ColumnKind.amount),
    Column("dpi", "DPI", ColumnKind.number),
    Column("rvpi", "RVPI", ColumnKind.number),
    Column("tvpi", "TVPI", ColumnKind.number),
    Column("xirr", "XIRR", ColumnKind.number),
    Column("leverage", "leverage", ColumnKind.number),
]
FUNDER_COLUMNS = [
    Column("funder", "funder"),
    Column("level", "level"),
    Column("share", "share", ColumnKind.number),
    Column("contributed_fen", "contributed", ColumnKind.amount),
    Column("compensation_paid_fen", "compensation paid", ColumnKind.amount),
    Column("recovered_fen", "recovered", ColumnKind.amount),
    Column("remaining_fen", "remaining", ColumnKind.amount),
]
BANK_COLUMNS = [
    Column("bank", "bank"),
    Column("suspended", "suspended"),
    Column("filed_loans", "filed loans", ColumnKind.number),
    Column("filed_principal_fen", "filed principal", ColumnKind.amount),
    Column("claims", "claims", ColumnKind.number),
    Column("entitled_fen", "entitled", ColumnKind.amount),
    Column("paid_fen", "paid", ColumnKind.amount),
    Column("owed_fen", "owed", ColumnKind.amount),
    Column("recovered_fen", "recovered", ColumnKind.amount),
]
SETTLEMENT_ITEM_COLUMNS = [
    Column("redemption", "redemption", ColumnKind.number),
    Column("contract_no", "contract"),
    Column("mode", "mode"),
    Column("payable_fen", "payable", ColumnKind.amount),
    Column("receivable_fen", "receivable", ColumnKind.amount),
]
SETTLEMENT_SUMMARY_COLUMNS = [
    Column("payable_fen", "payable (claims)", ColumnKind.amount),
    Column("receivable_fen", "receivable (claims)", ColumnKind.amount),
    Column("net_payable_fen", "net payable", ColumnKind.amount),
    Column("settled_payable_fen", "settled payable", ColumnKind.amount),
    Column("settled_receivable_fen", "settled receivable", ColumnKind.amount),
    Column("cash_paid_fen", "cash paid", ColumnKind.amount),
    Column("unsettled_fen", "unsettled", ColumnKind.amount),
]


@vouchers_app.command("positions")
def voucher_positions(
    enterprise: Annotated[str, typer.Argument(metavar="ENTERPRISE", help="The enterprise's credit code.")],
    program: Annotated[str | None, typer.Option(help="Only this voucher program.")] = None,
    year: Annotated[int | None, typer.Option(help="Only this program year.")] = None,
    output_format: FormatOption = OutputFormat.table,
    unit: UnitOption = AmountUnit.yuan,
    database_url: DatabaseOption = None,
) -> None:
    """Per program and year: granted = used + reserved + available + expired; paid is the part of used paid out."""
    from vouchers.views import enterprise_positions

    ledger = ledger_for(database_url)
    positions = run_refusable(lambda: enterprise_positions(ledger, enterprise))
    rows = [
        asdict(position)
        for position in positions
        if (program is None or position.program == program) and (year is None or position.year == year)
    ]
    emit_rows(
        console,
        rows,
        POSITION_COLUMNS,
        output_format,
        title=label("voucher positions of {enterprise}", enterprise=enterprise),
        unit=unit,
    )


@subsidies_app.command("report")
def subsidies_report(
    program: Annotated[
        str | None,
        typer.Argument(
            metavar="PROGRAM", help="Subsidy program code, e.g. gz-income-award-pilot; omit it for every program."
        ),
    ] = None,
    year: Annotated[int | None, typer.Option(help="Only this program year.")] = None,
    institution: Annotated[str | None, typer.Option(help="Only this institution (credit code).")] = None,
    output_format: FormatOption = OutputFormat.table,
    unit: UnitOption = AmountUnit.yuan,
    database_url: DatabaseOption = None,
) -> None:
    """Per program, institution and year: granted, and against each cap its limit, used and room, with the
    cap's enforcement (stop: refused beyond it, clip: cut to it, warn: granted and flagged)."""
    from subsidies import listings
    from subsidies.audit import institution_year_report
    from subsidies.service import SubsidyService

    ledger = ledger_for(database_url)
    service = SubsidyService(ledger)

    def installed() -> list[str]:
        if program is not None:
            return [service.program(program).code]  # an unknown program is refused with its code
        with ledger.reader.connect() as conn:
            return [config.code for _row, config in listings.programs(conn)]

    rows = []
    for code in run_refusable(installed):
        for entry in run_refusable(lambda code=code: institution_year_report(service, code)):
            if (year is not None and entry["year"] != year) or (
                institution is not None and entry["institution"] != institution
            ):
                continue
            base = {
                "program": code,
                "institution": entry["institution"],
                "year": entry["year"],
                "granted_fen": entry["granted_fen"],
            }
            rows.extend({**base, **cap} for cap in entry["caps"]) if entry["caps"] else rows.append(base)
    title = (
        label("subsidy program {program}: caps", program=program)
        if program is not None
        else label("every subsidy program: caps")
    )
    emit_rows(console, rows, CAP_COLUMNS, output_format, title=title, unit=unit)


@funds_app.command("metrics")
def fund_metrics(
    subfund: Annotated[
        str | None, typer.Argument(metavar="SUBFUND", help="Sub-fund code; omit it and pass --guidance.")
    ] = None,
    guidance: Annotated[str | None, typer.Option(help="Guidance fund code: its own position.")] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Date YYYY-MM-DD; default today.")] = None,
    output_format: FormatOption = OutputFormat.table,
    unit: UnitOption = AmountUnit.yuan,
    database_url: DatabaseOption = None,
) -> None:
    """Commitment, called, unfunded, paid-in, distributed, NAV, DPI, RVPI, TVPI, XIRR and leverage (撬动比)."""
    from funds.metrics import guidance_fund_metrics, subfund_metrics

    if (subfund is None) == (guidance is None):
        fail(USAGE_ERROR, "pass a SUBFUND code or --guidance CODE (one of them)", EXIT_USAGE)
    on = parse_optional_date(as_of) or date.today()
    ledger = ledger_for(database_url)

    def compute() -> dict:
        if subfund is not None:
            return subfund_metrics(ledger, subfund, on)
        return guidance_fund_metrics(ledger, guidance, on)

    metrics = run_refusable(compute)
    if subfund is not None:
        title = label("sub-fund {code} as of {as_of}", code=subfund, as_of=on.isoformat())
    else:
        title = label("guidance fund {code} as of {as_of}", code=guidance, as_of=on.isoformat())
    emit_rows(console, [metrics], METRIC_COLUMNS, output_format, title=title, unit=unit)


@pools_app.command("statement")
def pool_statement(
    pool: Annotated[str, typer.Argument(metavar="POOL", help="Pool code, e.g. gz-sme-pool.")],
    banks: Annotated[bool, typer.Option("--banks", help="Per partner bank instead of per funder.")] = False,
    year: Annotated[int | None, typer.Option(help="With --banks: only claims of this program year.")] = None,
    output_format: FormatOption = OutputFormat.table,
    unit: UnitOption = AmountUnit.yuan,
    database_url: DatabaseOption = None,
) -> None:
    """Per funder: contributed, compensation paid, recovered, remaining; with --banks, per partner bank."""
    from funds.pools import RiskPools

    pools = RiskPools(ledger_for(database_url))
    if banks:
        rows = run_refusable(lambda: pools.bank_statement(pool, year))
        emit_rows(console, rows, BANK_COLUMNS, output_format, title=label("pool {pool}: banks", pool=pool), unit=unit)
        return
    rows = run_refusable(lambda: pools.funder_statement(pool))
    emit_rows(console, rows, FUNDER_COLUMNS, output_format, title=label("pool {pool}: funders", pool=pool), unit=unit)


SETTLEMENT_COLUMNS = [
    Column("settlement", "id", ColumnKind.number),
    Column("period", "period"),
    Column("region_low", "region"),
    Column("region_high", "counterparty"),
    Column("low_owes_high_fen", "payable", ColumnKind.amount),
    Column("high_owes_low_fen", "receivable", ColumnKind.amount),
    Column("net_fen", "net payable", ColumnKind.amount),
    Column("settled_on", "settled on"),
    Column("approver", "approver"),
]


@settlements_app.command("list")
def settlement_list(
    region: Annotated[
        str | None, typer.Argument(metavar="REGION", help="Only settlements with this region (code).")
    ] = None,
    counterparty: Annotated[
        str | None, typer.Argument(metavar="COUNTERPARTY", help="Only those between REGION and this region.")
    ] = None,
    output_format: FormatOption = OutputFormat.table,
    unit: UnitOption = AmountUnit.yuan,
    database_url: DatabaseOption = None,
) -> None:
    """Settlements per region pair and period: what the lower-coded region owed the other, the reverse, and
    the net it paid."""
    from vouchers.reports import settlements_of

    if counterparty is not None and region is None:
        fail(USAGE_ERROR, "COUNTERPARTY needs REGION", EXIT_USAGE)
    rows = run_refusable(lambda: settlements_of(ledger_for(database_url), region, counterparty))
    title = label("settlements of {region} with {counterparty}", region=region or "*", counterparty=counterparty or "*")
    emit_rows(console, rows, SETTLEMENT_COLUMNS, output_format, title=title, unit=unit)


@settlements_app.command("statement")
def settlement_statement(
    region: Annotated[
        str, typer.Argument(metavar="REGION", help="The side whose own financial book is read (region code).")
    ],
    counterparty: Annotated[str, typer.Argument(metavar="COUNTERPARTY", help="The other region of the pair.")],
    period: Annotated[
        str, typer.Argument(metavar="PERIOD", help="The settlement period, e.g. 2026Q1 (see `settlements list`).")
    ],
    output_format: FormatOption = OutputFormat.table,
    unit: UnitOption = AmountUnit.yuan,
    database_url: DatabaseOption = None,
) -> None:
    """REGION's statement of its settlement with COUNTERPARTY for PERIOD, read from its own financial book:
    per redemption and in total."""
    from vouchers.reports import settlement_id_for
    from vouchers.settlement import statement

    ledger = ledger_for(database_url)
    settlement_id = run_refusable(lambda: settlement_id_for(ledger, region, counterparty, period))
    result = run_refusable(lambda: statement(ledger, settlement_id, region))
    summary = {
        **{column.key: getattr(result, column.key) for column in SETTLEMENT_SUMMARY_COLUMNS},
        "settlement": settlement_id,
        "region": result.region,
        "counterparty": result.counterparty,
        "period": result.period_label,
    }
    if output_format is OutputFormat.json:
        payload = {
            **{key: plain_value(value) for key, value in summary.items() if not key.endswith("_fen")},
            "currency": DEFAULT_CURRENCY,
            **{key.removesuffix("_fen"): format_fen(value) for key, value in summary.items() if key.endswith("_fen")},
            "items": [_machine_item(item) for item in result.items],
        }
        sys.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2) + "\n")
        return
    title = label(
        "settlement {settlement} {period}: {region} with {counterparty}",
        settlement=settlement_id,
        period=result.period_label,
        region=result.region,
        counterparty=result.counterparty,
    )
    emit_rows(console, result.items, SETTLEMENT_ITEM_COLUMNS, output_format, title=title, unit=unit)
    if output_format is OutputFormat.table:
        emit_rows(console, [summary], SETTLEMENT_SUMMARY_COLUMNS, output_format, title="totals", unit=unit)


def _machine_item(item: dict) -> dict:
    return {
        key.removesuffix("_fen"): format_fen(value) if key.endswith("_fen") else plain_value(value)
        for key, value in item.items()
    }


def register(app: typer.Typer) -> None:
    app.add_typer(vouchers_app, name="vouchers")
    app.add_typer(subsidies_app, name="subsidies")
    app.add_typer(funds_app, name="funds")
    app.add_typer(pools_app, name="pools")
    app.add_typer(settlements_app, name="settlements")
