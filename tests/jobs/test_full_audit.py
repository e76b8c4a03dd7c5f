"""The whole audit (issue 11): the core's checks and every domain's control-account reconciliation, over
the demo world that loads every domain, on both backends; a domain row tampered with is a finding of
``verify`` and of the reconcile job."""

from __future__ import annotations

import importlib
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from api.bootstrap import DOMAIN_PACKAGES
from api.cli import app
from jobs.audit import DOMAIN_CONTROL_MODULES, audit_all
from jobs.definitions import run
from jobs.runs import alerts
from ledger.chain import seal
from ledger.sample import load_core_demo

NOW = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)


def _load_every_demo(ledger):
    load_core_demo(ledger)
    for package in DOMAIN_PACKAGES:
        importlib.import_module(f"{package}.demo").load_demo(ledger)
    seal(ledger.engine)


def test_every_domain_has_a_control_check():
    assert {name.split(".")[0] for name in DOMAIN_CONTROL_MODULES} == set(DOMAIN_PACKAGES)


def test_the_demo_world_reconciles_clean_in_every_domain(ledger):
    _load_every_demo(ledger)
    report = audit_all(ledger.engine)
    assert report.core.findings == []
    assert report.core.chain.intact
    assert report.controls == []
    assert report.clean


# One mirrored table per domain: a changed amount no longer matches the journal (domain tables are not
# append-only: their statuses move; the journal is).
TAMPERING = {
    "funds": "UPDATE funds_investments SET amount_fen = amount_fen + 100",
    "vouchers": "UPDATE vouchers_redemptions SET claimed_fen = claimed_fen + 100 WHERE status = 'claimed'",
    "subsidies": "UPDATE subsidies_grants SET amount_fen = amount_fen + 100",
}


@pytest.mark.parametrize("domain", sorted(TAMPERING))
def test_verify_and_the_reconcile_job_report_a_tampered_domain_row(domain, ledger, database_url):
    _load_every_demo(ledger)
    assert run(ledger, "reconcile", now=NOW).counts["control_findings"] == 0
    with ledger.engine.begin() as conn:
        changed = conn.execute(text(TAMPERING[domain])).rowcount
    assert changed > 0, f"the demo has no {domain} row to tamper with"
    report = audit_all(ledger.engine)
    assert report.controls, f"a {domain} row that disagrees with its control account must be a finding"
    assert all(finding.expected_fen != finding.actual_fen for finding in report.controls)

    result = CliRunner().invoke(app, ["verify", "--database-url", database_url])
    assert result.exit_code == 1
    assert report.controls[0].subject in result.output

    job = run(ledger, "reconcile", now=NOW.replace(day=3))
    assert job.counts["control_findings"] == len(report.controls)
    open_subjects = {alert["subject"] for alert in alerts(ledger.engine)}
    assert {finding.subject for finding in report.controls} <= open_subjects
