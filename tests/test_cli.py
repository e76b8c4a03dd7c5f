"""The command line on both backends: readable errors, non-zero exits, and the documented commands."""

import json

import pytest
from typer.testing import CliRunner

from api.cli import app

runner = CliRunner()


@pytest.fixture
def cli(database_url, engine):
    def invoke(*arguments):
        return runner.invoke(app, [*arguments], env={"FUNDLEDGER_DATABASE_URL": database_url, "COLUMNS": "200"})

    return invoke


def setup_books(cli):
    assert cli("book", "create", "gz").exit_code == 0
    assert cli("account", "open", "gz", "Assets:Bank", "--no-overdraft").exit_code == 0
    assert cli("account", "open", "gz", "NetAssets:Appropriations").exit_code == 0
    assert cli("account", "open", "gz", "Expenses:Grants").exit_code == 0


def test_post_balance_trial_balance_and_verify(cli, tmp_path):
    setup_books(cli)
    request = {
        "id": "a1",
        "date": "2026-01-05",
        "book": "gz",
        "postings": [
            {"account": "Assets:Bank", "amount": "1000.00"},
            {"account": "NetAssets:Appropriations", "amount": "-1000.00"},
        ],
    }
    path = tmp_path / "post.json"
    path.write_text(json.dumps(request))
    result = cli("post", str(path))
    assert result.exit_code == 0, result.output
    assert "item 1 (a1): ok" in result.output
    again = cli("post", str(path))
    assert again.exit_code == 0 and "item 1 (a1): exists" in again.output
    balance = cli("balance", "Assets:Bank")
    assert "1000.00 CNY" in balance.output
    assert "0.00 CNY" in cli("balance", "Assets:Bank", "--as-of", "2026-01-04").output
    table = cli("trial-balance", "--format", "csv")
    assert table.output.splitlines() == [
        "book,account,type,currency,debit,credit",
        "gz,Assets:Bank,Assets,CNY,1000.00,0.00",
        "gz,NetAssets:Appropriations,NetAssets,CNY,0.00,1000.00",
    ]
    rows = json.loads(cli("trial-balance", "--format", "json", "--depth", "1").output)
    assert [(row["account"], row["debit"], row["credit"]) for row in rows] == [
        ("Assets", "1000.00", "0.00"),
        ("NetAssets", "0.00", "1000.00"),
    ]
    verified = cli("verify")
    assert verified.exit_code == 0, verified.output
    assert "1 sealed" in verified.output


def test_a_refused_post_prints_its_code_and_exits_non_zero(cli, tmp_path):
    setup_books(cli)
    path = tmp_path / "bad.json"
    path.write_text(
        json.dumps(
            {
                "id": "x",
                "date": "2026-01-05",
                "book": "gz",
                "postings": [
                    {"account": "Expenses:Grants", "amount": "5.00"},
                    {"account": "Assets:Bank", "amount": "-5.00"},
                ],
            }
        )
    )
    result = cli("post", str(path))
    assert result.exit_code == 1
    assert "credits_exceed_debits" in result.output


def test_a_float_in_json_is_refused_clearly(cli, tmp_path):
    setup_books(cli)
    path = tmp_path / "float.json"
    path.write_text(
        '{"id": "f", "date": "2026-01-05", "book": "gz", "postings": '
        '[{"account": "Assets:Bank", "amount": 10.5}, {"account": "NetAssets:Appropriations", "amount": "-10.50"}]}'
    )
    result = cli("post", str(path))
    assert result.exit_code == 1
    assert "amount_must_not_be_float" in result.output


def test_malformed_json_names_the_line(cli, tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{\n "id": "x",\n oops\n}')
    result = cli("post", str(path))
    assert result.exit_code == 1 and "line 3" in result.output


def test_import_reports_bad_lines_and_exits_non_zero(cli, tmp_path):
    path = tmp_path / "journal.csv"
    path.write_text(
        "tx_id,date,account,amount\n"
        "t1,2026-01-05,Assets:Bank,10.00\n"
        "t1,2026-01-05,Income:Fees,-10.00\n"
        "t2,2026-01-05,Assets:Bank,1.001\n"
        "t2,2026-01-05,Income:Fees,-1.001\n"
    )
    result = cli("import", str(path), "--create-accounts", "--book", "imp")
    assert result.exit_code == 1
    assert "1 transactions (2 postings) posted" in result.output
    assert "line 4" in result.output and "amount_exceeds_currency_places" in result.output
    rerun = cli("import", str(path), "--create-accounts", "--book", "imp")
    assert "1 already posted" in rerun.output


def test_unknown_account_in_balance_is_a_clear_error(cli):
    setup_books(cli)
    result = cli("balance", "Assets:Nowhere")
    assert result.exit_code == 1 and "account_not_found" in result.output


def test_verify_fails_when_a_book_does_not_balance(cli, engine):
    setup_books(cli)
    from sqlalchemy import text

    with engine.begin() as conn:
        conn.execute(text("UPDATE accounts SET debits_posted = 5 WHERE path = 'Assets:Bank'"))
    result = cli("verify")
    assert result.exit_code == 1
    assert "cached_balance_differs" in result.output
    assert "debits_posted is 0.05 CNY but its postings sum to 0.00 CNY" in result.output
    assert " fen" not in result.output


def test_demo_loads_and_is_idempotent(cli):
    first = cli("demo")
    assert first.exit_code == 0, first.output
    second = cli("demo")
    assert second.exit_code == 0, second.output
    assert cli("verify").exit_code == 0
