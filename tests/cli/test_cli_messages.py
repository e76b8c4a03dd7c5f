"""Messages speak in the user's units and name what was read; ``post`` says whether a file is one unit."""

import json

import pytest
from typer.testing import CliRunner

from api.cli import app

runner = CliRunner()


@pytest.fixture
def cli(database_url, engine):
    def invoke(*arguments):
        return runner.invoke(app, [*arguments], env={"FUNDLEDGER_DATABASE_URL": database_url, "COLUMNS": "80"})

    assert invoke("book", "create", "gz").exit_code == 0
    assert invoke("account", "open", "gz", "Assets:Bank").exit_code == 0
    assert invoke("account", "open", "gz", "NetAssets:Appropriations").exit_code == 0
    return invoke


def _request(client_id: str, amount: str = "1.00", other: str | None = None, day: str = "2026-01-05") -> dict:
    return {
        "id": client_id,
        "date": day,
        "book": "gz",
        "postings": [
            {"account": "Assets:Bank", "amount": amount},
            {"account": "NetAssets:Appropriations", "amount": f"-{other or amount}"},
        ],
    }


def _write(tmp_path, name: str, document) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return str(path)


def _bank_balance(cli) -> str:
    return cli("balance", "Assets:Bank").output.splitlines()[0]


def test_post_without_atomic_posts_the_good_items_and_refuses_the_bad_one_alone(cli, tmp_path):
    path = _write(tmp_path, "mixed.json", [_request("a", "5.00"), _request("b", "100.00", other="1.00")])
    result = cli("post", path)
    assert result.exit_code == 1
    assert "2 items, each with its own result" in result.output
    assert "item 1 (a): ok" in result.output
    assert "item 2 (b): entry_must_balance: postings in book 'gz' are off by 99.00 CNY" in result.output
    assert "1 posted, 0 already posted, 1 refused" in result.output
    assert _bank_balance(cli) == "gz Assets:Bank: 5.00 CNY"


def test_post_atomic_posts_nothing_when_one_item_is_refused_and_all_once_it_is_fixed(cli, tmp_path):
    bad = _write(tmp_path, "bad.json", [_request("a", "5.00"), _request("b", "100.00", other="1.00")])
    refused = cli("post", "--atomic", bad)
    assert refused.exit_code == 1
    assert "2 items as one atomic unit (all posted or none)" in refused.output
    assert "item 1 (a): linked_event_failed" in refused.output
    assert "nothing was posted, the file is one unit" in refused.output
    assert _bank_balance(cli) == "gz Assets:Bank: 0.00 CNY"
    good = _write(tmp_path, "good.json", [_request("a", "5.00"), _request("b", "100.00")])
    assert cli("post", "--atomic", good).exit_code == 0
    retried = cli("post", "--atomic", good)
    assert retried.exit_code == 0 and "0 posted, 2 already posted, 0 refused" in retried.output
    assert _bank_balance(cli) == "gz Assets:Bank: 105.00 CNY"


def test_post_help_says_how_a_file_is_posted():
    text = " ".join(runner.invoke(app, ["post", "--help"], env={"COLUMNS": "200"}).output.split())
    assert "each item gets its own result" in text and "--atomic" in text and "every item is posted or none" in text


def test_an_empty_id_never_starts_a_message_with_a_colon(cli, tmp_path):
    path = _write(tmp_path, "noid.json", [_request("")])
    posted = cli("post", path)
    assert posted.exit_code == 1 and "item 1 (no id): id_must_not_be_empty" in posted.output
    journal = tmp_path / "noid.csv"
    journal.write_text(
        "tx_id,date,account,amount\n,2026-01-05,Assets:Bank,1\n,2026-01-05,NetAssets:Appropriations,-1\n"
    )
    imported = cli("import", str(journal), "--book", "gz")
    assert imported.exit_code == 1 and "line 2: id_must_not_be_empty: tx_id is empty" in imported.output
    for result in (posted, imported):
        assert not any(line.startswith(":") for line in result.output.splitlines()), result.output


def test_an_unbalanced_import_says_off_by_in_the_currency(cli, tmp_path):
    journal = tmp_path / "off.csv"
    journal.write_text("tx_id,date,account,amount\nt1,2026-01-05,Assets:Bank,100.00\nt1,2026-01-05,Assets:Bank,-0.50\n")
    result = cli("import", str(journal), "--book", "gz")
    assert result.exit_code == 1
    assert "off by 99.50 CNY" in result.output and "minor units" not in result.output


def test_a_bad_date_names_its_line_and_what_was_read(cli, tmp_path):
    journal = tmp_path / "dates.csv"
    journal.write_text(
        "tx_id,date,account,amount\n"
        "t1,2026-01-05,Assets:Bank,1.00\n"
        "t1,2026-01-05,NetAssets:Appropriations,-1.00\n"
        "t2,20260105,Assets:Bank,1.00\n"
        "t2,20260105,NetAssets:Appropriations,-1.00\n"
        "t3,2026-02-30,Assets:Bank,1.00\n"
        "t3,2026-02-30,NetAssets:Appropriations,-1.00\n"
    )
    result = cli("import", str(journal), "--book", "gz")
    assert result.exit_code == 1
    assert "line 4 (tx t2): date_invalid: date '20260105' is not YYYY-MM-DD" in result.output
    assert "line 6 (tx t3): date_invalid: date '2026-02-30' is not a calendar date" in result.output


def test_refused_rows_are_counted_as_transactions(cli, tmp_path):
    journal = tmp_path / "three.csv"
    journal.write_text(
        "tx_id,date,account,amount\n"
        "t1,2026/01/05,Assets:Bank,1.00\n"
        "t1,2026/01/05,NetAssets:Appropriations,-1.00\n"
        "t2,2026-01-05,Assets:Bank,1.00\n"
        "t2,2026-01-05,NetAssets:Appropriations,-2.00\n"
        "t3,2026-01-05,Assets:Bank,x\n"
        "t3,2026-01-05,NetAssets:Appropriations,y\n"
        "t4,2026-01-05,Assets:Bank,3.00\n"
        "t4,2026-01-05,NetAssets:Appropriations,-3.00\n"
    )
    result = cli("import", str(journal), "--book", "gz")
    assert result.exit_code == 1
    assert "1 transactions (2 postings) posted" in result.output and "3 transactions refused" in result.output


def test_an_import_into_a_missing_book_names_book_create_and_create_accounts(cli, tmp_path):
    journal = tmp_path / "main.csv"
    journal.write_text("tx_id,date,account,amount\nt1,2026-01-05,Assets:Cash,1.00\nt1,2026-01-05,Assets:Bank,-1.00\n")
    missing = cli("import", str(journal))
    assert missing.exit_code == 1
    [line] = missing.output.strip().splitlines()
    assert line.startswith("error: book_not_found: book 'main' does not exist")
    assert "fundledger book create main" in line and "--create-accounts" in line
    unknown = cli("import", str(journal), "--book", "gz")
    assert "line 2 (tx t1): account_not_found: account gz/Assets:Cash does not exist" in unknown.output
    assert unknown.output.count("line 2") == 1
