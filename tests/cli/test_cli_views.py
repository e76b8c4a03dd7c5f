"""The domain's read views on the command line, on the demo world: figures equal the services' own results."""

import csv
import io
import json
from decimal import Decimal

import pytest
from typer.testing import CliRunner

from api.cli import app
from funds.demo import POOL_CODE
from funds.demo import load_demo as load_funds_demo
from funds.metrics import subfund_metrics
from funds.pools import RiskPools
from ledger.chain import seal
from ledger.money import format_fen
from ledger.sample import load_core_demo
from subsidies.audit import institution_year_report
from subsidies.demo import load_demo as load_subsidies_demo
from subsidies.service import SubsidyService
from vouchers.demo import load_demo as load_vouchers_demo
from vouchers.settlement import statement
from vouchers.views import enterprise_positions

runner = CliRunner()


@pytest.fixture
def demo_world(ledger):
    load_core_demo(ledger)
    load_funds_demo(ledger)
    load_vouchers_demo(ledger)
    load_subsidies_demo(ledger)
    seal(ledger.engine)
    return ledger


@pytest.fixture
def cli(database_url, demo_world):
    def invoke(*arguments):
        result = runner.invoke(app, [*arguments], env={"FUNDLEDGER_DATABASE_URL": database_url, "COLUMNS": "80"})
        assert result.exit_code == 0, result.output
        return result.output

    return invoke


def _an_enterprise(ledger) -> str:
    accounts = [info.path for info in ledger.accounts("vouchers-310000-memo") if info.path.startswith("Memo:Quota:")]
    return accounts[0].split(":")[-1]


def test_voucher_positions_in_json_and_csv_equal_the_view(cli, demo_world):
    enterprise = _an_enterprise(demo_world)
    expected = enterprise_positions(demo_world, enterprise)
    rows = json.loads(cli("vouchers", "positions", enterprise, "--format", "json"))
    assert [(row["program"], row["granted"], row["used"], row["available"]) for row in rows] == [
        (p.program, format_fen(p.granted_fen), format_fen(p.used_fen), format_fen(p.available_fen)) for p in expected
    ]
    table = list(csv.DictReader(io.StringIO(cli("vouchers", "positions", enterprise, "--format", "csv"))))
    assert [row["reserved"] for row in table] == [format_fen(p.reserved_fen) for p in expected]
    assert {row["currency"] for row in table} == {"CNY"}
    assert cli("vouchers", "positions", enterprise, "--year", "1999", "--format", "json").strip() == "[]"


def test_subsidies_report_lists_each_cap_with_its_enforcement_for_one_or_every_program(cli, demo_world):
    report = institution_year_report(SubsidyService(demo_world), "gz-income-award-pilot")
    rows = json.loads(cli("subsidies", "report", "gz-income-award-pilot", "--format", "json"))
    expected = [
        (entry["institution"], entry["year"], cap["rule"], cap["enforcement"], format_fen(cap["room_fen"]))
        for entry in report
        for cap in entry["caps"]
    ]
    assert [(r["institution"], r["year"], r["rule"], r["enforcement"], r["room"]) for r in rows] == expected
    assert "clip" in {row["enforcement"] for row in rows}

    # Without a program: every program in one listing (one demo load serves both checks: it is slow).
    from subsidies import listings

    service = SubsidyService(demo_world)
    with demo_world.reader.connect() as conn:
        codes = [config.code for _row, config in listings.programs(conn)]
    expected = [
        (code, entry["institution"], entry["year"], cap["rule"], cap["enforcement"], format_fen(cap["room_fen"]))
        for code in codes
        for entry in institution_year_report(service, code)
        for cap in entry["caps"]
    ]
    rows = [row for row in json.loads(cli("subsidies", "report", "--format", "json")) if row["rule"] is not None]
    assert [(r["program"], r["institution"], r["year"], r["rule"], r["enforcement"], r["room"]) for r in rows] == (
        expected
    )
    assert len({row["program"] for row in rows}) > 1
    only_2019 = json.loads(cli("subsidies", "report", "--year", "2019", "--format", "json"))
    assert only_2019 and {row["year"] for row in only_2019} == {2019}


def test_fund_metrics_equal_the_service(cli, demo_world):
    from datetime import date

    expected = subfund_metrics(demo_world, "gz-seed-1", date(2027, 12, 31))
    [row] = json.loads(cli("funds", "metrics", "gz-seed-1", "--as-of", "2027-12-31", "--format", "json"))
    assert row["paid_in"] == format_fen(expected["paid_in_fen"])
    assert row["tvpi"] == (None if expected["tvpi"] is None else str(expected["tvpi"]))
    table = cli("funds", "metrics", "gz-seed-1", "--as-of", "2027-12-31", "--unit", "万元")
    assert "万元" in table and f"{expected['paid_in_fen'] / 1_000_000:,.6f}" in table


def test_pool_statement_per_funder_and_per_bank(cli, demo_world):
    pools = RiskPools(demo_world)
    funders = json.loads(cli("pools", "statement", POOL_CODE, "--format", "json"))
    assert [(r["funder"], r["remaining"]) for r in funders] == [
        (f["funder"], format_fen(f["remaining_fen"])) for f in pools.funder_statement(POOL_CODE)
    ]
    banks = json.loads(cli("pools", "statement", POOL_CODE, "--banks", "--format", "json"))
    assert [(r["bank"], r["paid"]) for r in banks] == [
        (b["bank"], format_fen(b["paid_fen"])) for b in pools.bank_statement(POOL_CODE)
    ]
    # Thousands separators in the table, and no number cut at 80 columns when piped.
    table = cli("pools", "statement", POOL_CODE, "--banks")
    assert "8,000,000.00" in table and "…" not in table


def test_settlements_by_region_pair_and_period_equal_the_service(cli, database_url, demo_world):
    expected = statement(demo_world, 1, "310000")
    for arguments in (("310000", "320500"), ("310000", expected.counterparty)):
        payload = json.loads(cli("settlements", "statement", *arguments, "2026Q1", "--format", "json"))
        assert payload["settlement"] == 1 and payload["counterparty"] == expected.counterparty
        assert payload["net_payable"] == format_fen(expected.net_payable_fen)
        assert [item["payable"] for item in payload["items"]] == [format_fen(i["payable_fen"]) for i in expected.items]
    other_side = json.loads(cli("settlements", "statement", "320500", "310000", "2026Q1", "--format", "json"))
    assert other_side["region"] == "320500" and other_side["payable"] == payload["receivable"]

    # The listing per region pair and period, and a period never settled (one demo load for all: it is slow).
    every = json.loads(cli("settlements", "list", "--format", "json"))
    assert [(row["region_low"], row["region_high"], row["period"]) for row in every] == [
        ("310000", "320500", "2026Q1"),
        ("310000", "330100", "2026Q1"),
        ("320500", "330100", "2026Q1"),
    ]
    assert all(Decimal(r["net"]) == Decimal(r["low_owes_high"]) - Decimal(r["high_owes_low"]) for r in every)
    assert len(json.loads(cli("settlements", "list", "330100", "--format", "json"))) == 2
    [pair] = json.loads(cli("settlements", "list", "330100", "310000", "--format", "json"))
    assert pair["settlement"] == 2
    arguments = ["settlements", "statement", "310000", "320500", "2026Q2"]
    result = runner.invoke(app, arguments, env={"FUNDLEDGER_DATABASE_URL": database_url})
    assert result.exit_code == 1
    [line] = result.output.strip().splitlines()
    assert line.startswith("error: settlement_not_found: ") and "settled periods: 2026Q1" in line


def test_unknown_pool_is_one_error_line(database_url, demo_world):
    result = runner.invoke(app, ["pools", "statement", "nope"], env={"FUNDLEDGER_DATABASE_URL": database_url})
    assert result.exit_code == 1
    assert result.output.strip().startswith("error: ") and len(result.output.strip().splitlines()) == 1
