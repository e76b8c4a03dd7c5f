from __future__ import annotations

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app as cli

from .conftest import TEST_SECRET


def test_users_and_keys_are_managed_from_the_command_line(engine, database_url, settings):
    runner = CliRunner()
    base = ["--database-url", database_url]
    made = runner.invoke(
        cli, ["keys", "create", "--role", "auditor", "--scope", "region:440100", "--name", "bot", *base]
    )
    assert made.exit_code == 0, made.output
    key = made.stdout.strip().splitlines()[0]
    assert key.startswith("fl_")
    added = runner.invoke(
        cli, ["users", "add", "clerk.chen", "--role", "admin", "--password", "a long enough password", *base]
    )
    assert added.exit_code == 0, added.output
    refused = runner.invoke(cli, ["keys", "create", "--role", "auditor", "--scope", "fund:X", *base])
    assert refused.exit_code == 1 and "scope_invalid" in refused.output
    with TestClient(create_app(engine, settings)) as client:
        headers = {"Authorization": f"Bearer {key}"}
        assert client.get("/v1/books", headers=headers).status_code == 200
        login = client.post("/v1/auth/token", data={"username": "clerk.chen", "password": "a long enough password"})
        assert login.status_code == 200
        prefix = key.split("_")[1]
        assert runner.invoke(cli, ["keys", "revoke", prefix, *base]).exit_code == 0
        assert client.get("/v1/books", headers=headers).status_code == 401
        assert runner.invoke(cli, ["users", "disable", "clerk.chen", *base]).exit_code == 0
        token = {"Authorization": f"Bearer {login.json()['access_token']}"}
        assert client.get("/v1/books", headers=token).status_code == 401
        assert TEST_SECRET not in client.get("/openapi.json").text


def test_serve_refuses_a_missing_database_or_a_default_secret_in_one_line(tmp_path, monkeypatch):
    """`serve` checks what each worker's app factory would otherwise fail on with a traceback."""
    from typer.testing import CliRunner

    from api.cli import app

    runner = CliRunner()
    monkeypatch.setenv("FUNDLEDGER_ENV", "development")
    missing = runner.invoke(app, ["serve", "--database-url", str(tmp_path / "nowhere" / "x.db")])
    assert missing.exit_code == 1 and "error: database_directory_missing:" in missing.output
    monkeypatch.delenv("FUNDLEDGER_ENV")
    monkeypatch.delenv("FUNDLEDGER_JWT_SECRET", raising=False)
    secret = runner.invoke(app, ["serve", "--database-url", str(tmp_path / "x.db")])
    assert secret.exit_code == 1 and "error: settings_invalid:" in secret.output
    assert "Traceback" not in missing.output + secret.output


def test_the_bare_address_leads_to_the_pages(client):
    response = client.get("/", follow_redirects=False)
    assert response.status_code == 307 and response.headers["location"] == "/web/"


def test_serve_passes_its_worker_and_access_log_options_to_uvicorn(database_url, monkeypatch):
    import uvicorn
    from typer.testing import CliRunner

    from api.cli import app
    from jobs.scheduler import SCHEDULER_ENV
    from ledger.db import DATABASE_URL_ENV

    started = []
    monkeypatch.setattr(uvicorn, "run", lambda target, **options: started.append((target, options)))
    monkeypatch.setenv("FUNDLEDGER_ENV", "development")
    for name in (SCHEDULER_ENV, DATABASE_URL_ENV):  # serve sets them for its workers; restored afterwards
        monkeypatch.setenv(name, "")
    runner = CliRunner()
    plain = runner.invoke(app, ["serve", "--database-url", database_url, "--no-scheduler"])
    assert plain.exit_code == 0, plain.output
    quiet = runner.invoke(app, ["serve", "--database-url", database_url, "--workers", "2", "--no-access-log"])
    assert quiet.exit_code == 0, quiet.output
    (_, first), (target, second) = started
    assert target == "api.app:create_app" and second["factory"] is True
    assert (first["workers"], first["access_log"]) == (1, True)
    assert (second["workers"], second["access_log"]) == (2, False)
