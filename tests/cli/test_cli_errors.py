"""Refusals end in one line ``error: CODE: message`` with a hint and a non-zero exit, and leave nothing behind."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app
from tests.conftest import POSTGRES_URL

runner = CliRunner()
FUNDLEDGER = str(Path(sys.executable).parent / "fundledger")


def _one_error_line(result) -> str:
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.mark.parametrize("command", [["verify"], ["trial-balance"], ["account", "list"], ["alerts"]])
def test_a_read_command_on_a_fresh_path_says_run_init_and_creates_nothing(tmp_path, command):
    database = tmp_path / "fresh.db"
    result = runner.invoke(app, [*command, "--database-url", str(database)])
    assert result.exit_code == 1
    assert "database_not_initialised" in _one_error_line(result) and "fundledger init" in result.output
    assert list(tmp_path.iterdir()) == []


def test_import_into_a_database_never_initialised_is_refused(tmp_path):
    journal = tmp_path / "j.csv"
    journal.write_text("tx_id,date,account,amount\nt1,2026-01-05,Assets:Bank,1.00\nt1,2026-01-05,Income:X,-1.00\n")
    result = runner.invoke(app, ["import", str(journal), "--database-url", f"sqlite:///{tmp_path / 'none.db'}"])
    assert result.exit_code == 1 and "database_not_initialised" in _one_error_line(result)
    assert not (tmp_path / "none.db").exists()


def test_an_empty_existing_file_is_not_initialised(tmp_path):
    database = tmp_path / "empty.db"
    database.touch()
    result = runner.invoke(app, ["verify", "--database-url", str(database)])
    assert result.exit_code == 1 and "has no fundledger tables" in _one_error_line(result)


def test_a_missing_directory_is_named(tmp_path):
    result = runner.invoke(app, ["init", "--database-url", str(tmp_path / "nowhere" / "x.db")])
    assert result.exit_code == 1 and "database_directory_missing" in _one_error_line(result)
    assert not (tmp_path / "nowhere").exists()


def test_a_plain_path_is_a_sqlite_file(tmp_path):
    database = tmp_path / "plain.db"
    assert runner.invoke(app, ["init", "--database-url", str(database)]).exit_code == 0
    assert database.exists()
    listed = runner.invoke(app, ["account", "list", "--format", "json", "--database-url", str(database)])
    assert listed.exit_code == 0 and json.loads(listed.output) == []


def test_a_postgres_database_that_does_not_exist_says_createdb():
    base = POSTGRES_URL.rsplit("/", 1)[0]
    result = runner.invoke(app, ["verify", "--database-url", f"{base}/fundledger_no_such_db"])
    assert result.exit_code == 1
    assert "database_not_found" in _one_error_line(result) and "createdb fundledger_no_such_db" in result.output


def test_a_gbk_csv_is_refused_whole_and_imports_with_gb18030(tmp_path):
    database = tmp_path / "l.db"
    assert runner.invoke(app, ["init", "--database-url", str(database)]).exit_code == 0
    journal = tmp_path / "gbk.csv"
    journal.write_bytes(
        "tx_id,date,account,amount,currency,memo\n"
        "t1,2026-01-05,Assets:Bank,10.00,CNY,拨款\n"
        "t1,2026-01-05,NetAssets:Appropriations,-10.00,CNY,拨款\n".encode("gbk")
    )
    arguments = ["import", str(journal), "--create-accounts", "--book", "gz", "--database-url", str(database)]
    refused = runner.invoke(app, arguments)
    assert refused.exit_code == 1
    line = _one_error_line(refused)
    assert "file_encoding_invalid" in line and "--encoding gb18030" in line
    listed = runner.invoke(app, ["account", "list", "--format", "json", "--database-url", str(database)])
    assert json.loads(listed.output) == []
    imported = runner.invoke(app, [*arguments, "--encoding", "gb18030"])
    assert imported.exit_code == 0, imported.output
    assert "1 transactions (2 postings) posted" in imported.output


def test_account_names_are_never_rewritten_by_markup(tmp_path):
    database = str(tmp_path / "m.db")
    assert runner.invoke(app, ["init", "--database-url", database]).exit_code == 0
    assert runner.invoke(app, ["book", "create", "gz", "--database-url", database]).exit_code == 0
    opened = runner.invoke(app, ["account", "open", "gz", "Assets:Bank:Smile", "--database-url", database])
    assert opened.exit_code == 0, opened.output
    table = runner.invoke(app, ["account", "list", "--database-url", database], env={"COLUMNS": "200"})
    # ":Bank:" and ":Smile:" would be emoji codes to Rich; the name prints as it is.
    assert "Assets:Bank:Smile" in table.output


def test_version_and_real_subprocess_runs(tmp_path):
    version = subprocess.run([FUNDLEDGER, "--version"], capture_output=True, text=True, check=False)
    assert version.returncode == 0 and version.stdout.startswith("fundledger ")
    fresh = tmp_path / "fresh.db"
    refused = subprocess.run(
        [FUNDLEDGER, "trial-balance", "--database-url", str(fresh)], capture_output=True, text=True, check=False
    )
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert refused.stderr.strip().splitlines() == [refused.stderr.strip()]
    assert refused.stderr.startswith("error: database_not_initialised: ") and not fresh.exists()
    usage = subprocess.run(
        [FUNDLEDGER, "trial-balance", "--format", "xml"], capture_output=True, text=True, check=False
    )
    assert usage.returncode == 2
    assert usage.stderr.strip().splitlines() == [usage.stderr.strip()]
    assert usage.stderr.startswith("error: usage: ") and "'xml'" in usage.stderr


def test_demo_prints_amounts_in_yuan_and_what_to_try(tmp_path):
    database = tmp_path / "demo.db"
    run = subprocess.run(
        [FUNDLEDGER, "demo", "--database-url", str(database)], capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stderr
    assert "_fen" not in run.stdout and " 元" in run.stdout
    assert "try next:" in run.stdout and "fundledger pools statement gz-sme-pool" in run.stdout
    tb = subprocess.run(
        [
            FUNDLEDGER,
            "trial-balance",
            "--book",
            "440100-finance",
            "--as-of",
            "2026-12-31",
            "--database-url",
            str(database),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert tb.returncode == 0 and "trial balance of 440100-finance as of 2026-12-31" in tb.stdout
    assert "50,000,000.00" in tb.stdout
    # The summary is one line per book, within 80 columns; each suggested command works on the demo.
    assert "books of the demo: totals" in run.stdout
    table = [line for line in run.stdout.splitlines() if line.startswith(("┃", "│", "┏", "└"))]
    assert table and max(len(line) for line in table) <= 80
    from api.cli import DEMO_NEXT_COMMANDS

    for command in DEMO_NEXT_COMMANDS:
        arguments = command.split("   ")[0].replace("CREDIT_CODE", "91310000MA1D0X0K1Y").split()
        if "-o" in arguments:
            arguments[arguments.index("-o") + 1] = str(tmp_path / "demo.beancount")
        tried = runner.invoke(app, [*arguments, "--database-url", str(database)])
        assert tried.exit_code == 0, (command, tried.output)
