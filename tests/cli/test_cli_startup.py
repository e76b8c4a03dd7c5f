"""`fundledger --help` and `--version` start without loading the database, web or domain modules."""

import json
import subprocess
import sys

import pytest

# Modules that cost hundreds of milliseconds to import (or are a command's own domain): none may load
# before a command that needs it runs.
HEAVY_MODULES = (
    "sqlalchemy",
    "sqlmodel",
    "fastapi",
    "uvicorn",
    "duckdb",
    "pyarrow",
    "argon2",
    "jwt",
    "ledger.engine",
    "funds",
    "vouchers",
    "subsidies",
    "jobs",
)
PROBE = """
import json, sys
from api.cli import main
sys.argv = ["fundledger", *json.loads(sys.argv[1])]
try:
    main()
except SystemExit:
    pass
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in {h.split(".")[0] for h in HEAVY} and any(
    m == h or m.startswith(h + ".") for h in HEAVY))))
"""


@pytest.mark.parametrize("arguments", [["--help"], ["--version"], ["export", "--help"]])
def test_start_up_imports_no_heavy_module(arguments):
    code = f"HEAVY = {list(HEAVY_MODULES)!r}\n{PROBE}"
    completed = subprocess.run(
        [sys.executable, "-c", code, json.dumps(arguments)], capture_output=True, text=True, timeout=60
    )
    assert completed.returncode == 0, completed.stderr
    loaded = json.loads(completed.stdout.strip().splitlines()[-1])
    assert loaded == [], loaded


def test_the_constants_written_out_for_start_up_agree_with_their_sources():
    from api import auth, cli_admin, cli_support
    from ledger import db

    assert cli_support.DATABASE_URL_ENV == db.DATABASE_URL_ENV
    assert cli_admin.KEY_DAYS_DEFAULT == auth.DEFAULT_KEY_DAYS
