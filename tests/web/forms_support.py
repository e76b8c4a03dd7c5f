"""What the record-form tests share: the demo world (built once per run by tests/web/test_browser.py's
helper, so the pages are tested on the data a person tries them on), an app over a fresh copy of it per test,
a signed-in client per demo user, and the helpers that fill a form, read its outcome and count what the
database holds (so "nothing written" and "recorded once" are checked on every table, not one chosen)."""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import add_user
from api.settings import Settings
from ledger.db import make_engine
from ledger.engine import Ledger
from ledger.entities import credit_code_check_character
from tests.web.test_browser import DEMO_USER_LINE, _demo_database


@dataclass
class DemoWorld:
    database: Path
    passwords: dict[str, str]
    extras: object


SECRET = "forms-test-secret-that-is-long-enough-for-hs256"
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')
KEY_INPUT = re.compile(r'name="form_key" value="([^"]+)"')
OUTCOME = re.compile(r'data-testid="outcome" data-code="([^"]+)"')
FIELD_ERROR = re.compile(r'data-testid="error-([^"]+)">([^<]*)<')


SUZHOU_CLERK = "suzhou-clerk"
SUZHOU_CLERK_PASSWORD = "suzhou clerk test password"
SH_ENTERPRISE = "91310000MA1D0X0K1Y"
SZ_ENTERPRISE = "91320500MA1D1X0K1L"  # 江苏省苏州市示范科技有限公司: room left under its annual voucher cap
NEW_SZ_ENTERPRISE = "91320500MA1D9X0K9" + credit_code_check_character("91320500MA1D9X0K9")
SH_PROVIDER = "12310000MB2P0Y0R2N"
CLAWED_BACK_GRANT = 8  # the demo's approved, unpaid 南沙 grant: clawed back here
OTHER_PROVIDER = "12320500MB2P1Y0R2C"
GZ_BANK = "91440101MA5BANK01C"
GZ_OTHER_BANK = "91440101MA5BANK02F"
GZ_BORROWER = "91440101MA5DK0002F"
SHENZHEN = "440300"
SHENZHEN_BANK = "91440300MA5BANK03" + credit_code_check_character("91440300MA5BANK03")
SHENZHEN_ENTERPRISE = "91440300MA5DK0003" + credit_code_check_character("91440300MA5DK0003")


@dataclass
class Extras:
    """What the forms' tests add to the demo: objects a form acts on that the demo leaves finished, and a
    second region's fund and pool that the demo users must not reach."""

    defaulted_loan: int
    open_call: int
    reserved_redemption: int
    clawed_back_grant: int
    other: dict


def _add_extras(engine: sa.Engine) -> Extras:
    from funds.guidance import GuidanceFunds
    from funds.pools import RiskPools
    from subsidies.service import SubsidyService
    from tests.api.conftest import seed_funds_and_pools
    from vouchers.programs import register_enterprise
    from vouchers.redemptions import reserve

    ledger = Ledger(engine)
    try:
        add_user(engine, SUZHOU_CLERK, SUZHOU_CLERK_PASSWORD, "finance_office", ["region:320500"])
        pools = RiskPools(ledger)
        loan = pools.file_loan(
            "gz-sme-pool", GZ_BANK, GZ_BORROWER, "FORMS-L2", "2000000.00", date(2026, 4, 1), 12, date(2026, 4, 20),
            actor="forms-seed-bank", client_id="forms:loan",
        )  # fmt: skip
        pools.set_loan_status(loan, "overdue", actor="forms-seed-bank")
        pools.set_loan_status(loan, "defaulted", actor="forms-seed-bank")
        funds = GuidanceFunds(ledger)
        call = funds.record_call(
            "gz-growth-2", "10%", date(2026, 9, 1), date(2026, 9, 30), actor="forms-seed-gp", client_id="forms:call"
        )
        funds.approve_call(call, approver="forms-seed-gp-b")
        redemption = reserve(
            ledger, "YRD-310000-2026", enterprise=SH_ENTERPRISE, provider=SH_PROVIDER, category="testing",
            contract_no="FORMS-C-0001", contract_amount="2000.00", on=date(2026, 6, 1), actor="forms-seed-enterprise",
        )  # fmt: skip
        ledger.register_institution(NEW_SZ_ENTERPRISE, "苏州新申请科技（测试）", "enterprise", region_code="320500")
        register_enterprise(
            ledger, NEW_SZ_ENTERPRISE, registration_no="2026320500F0001", valid_from=date(2025, 6, 1),
            valid_until=date(2027, 5, 31),
        )  # fmt: skip
        subsidies = SubsidyService(ledger)
        clawback = subsidies.request_clawback(
            CLAWED_BACK_GRANT, reason="测试：项目终止", actor="forms-seed-clerk", client_id="forms:clawback"
        )
        subsidies.approve_clawback(clawback, approver="forms-seed-director")
        ledger.register_region(SHENZHEN, "深圳市")
        ledger.register_institution(SHENZHEN_BANK, "深圳示范银行（测试）", "bank", region_code=SHENZHEN)
        ledger.register_institution(SHENZHEN_ENTERPRISE, "深圳示范科技（测试）", "enterprise", region_code=SHENZHEN)
        other = seed_funds_and_pools(ledger, "SZ", SHENZHEN, SHENZHEN_BANK, SHENZHEN_ENTERPRISE)
        return Extras(loan, call, redemption["id"], CLAWED_BACK_GRANT, other)
    finally:
        ledger.close()


@pytest.fixture(scope="session", name="demo_world")
def demo_world_fixture(tmp_path_factory) -> DemoWorld:
    env = os.environ | {"FUNDLEDGER_ENV": "development", "FUNDLEDGER_JWT_SECRET": SECRET, "COLUMNS": "200"}
    built, printed = _demo_database(tmp_path_factory, env)
    passwords = {m.group(1): m.group(2) for m in map(DEMO_USER_LINE.match, printed.splitlines()) if m}
    passwords[SUZHOU_CLERK] = SUZHOU_CLERK_PASSWORD
    world = tmp_path_factory.mktemp("forms-world") / "forms-world.db"
    shutil.copy(built, world)
    engine = make_engine(f"sqlite:///{world}")
    try:
        extras = _add_extras(engine)
    finally:
        engine.dispose()
    return DemoWorld(world, passwords, extras)


@dataclass
class FormSite:
    app: object
    engine: sa.Engine
    passwords: dict[str, str]
    extras: Extras
    raise_errors: bool = False

    def client(self, username: str) -> TestClient:
        """A client signed in as the demo user ``username``."""
        client = TestClient(self.app, raise_server_exceptions=self.raise_errors, follow_redirects=False)
        token = CSRF_INPUT.search(client.get("/web/login").text).group(1)
        response = client.post(
            "/web/login",
            data={"csrf_token": token, "username": username, "password": self.passwords[username], "next_url": ""},
        )
        assert response.status_code == 303, response.text[:500]
        return client

    def rows(self) -> dict[str, int]:
        """The row count of every table: two equal snapshots mean nothing was written in between."""
        with self.engine.connect() as conn:
            names = sa.inspect(conn).get_table_names()
            return {name: conn.execute(sa.text(f'SELECT COUNT(*) FROM "{name}"')).scalar_one() for name in names}


def changed(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {name: after[name] - before.get(name, 0) for name in after if after[name] != before.get(name, 0)}


@pytest.fixture(name="forms_site")
def forms_site_fixture(demo_world, tmp_path) -> FormSite:
    """An app over its own copy of the demo database (a test's records never reach another test)."""
    copy = tmp_path / "forms-demo.db"
    shutil.copy(demo_world.database, copy)
    engine = make_engine(f"sqlite:///{copy}")
    app = create_app(engine, Settings(jwt_secret=SECRET, environment="development", auth_failure_rate="100/minute"))
    yield FormSite(app, engine, demo_world.passwords, demo_world.extras)
    app.state.ledger.close()
    engine.dispose()


@dataclass
class Filled:
    """A form as fetched: its path and the hidden fields a browser would send back."""

    path: str
    csrf: str
    key: str

    def data(self, intent: str, **values: str) -> dict[str, str]:
        return {"csrf_token": self.csrf, "form_key": self.key, "intent": intent, **values}


def open_form(client: TestClient, slug: str) -> Filled:
    page = client.get(f"/web/forms/{slug}")
    assert page.status_code == 200, page.text[:1000]
    return Filled(f"/web/forms/{slug}", CSRF_INPUT.search(page.text).group(1), KEY_INPUT.search(page.text).group(1))


def outcome_code(html: str) -> str | None:
    found = OUTCOME.search(html)
    return found.group(1) if found else None


def field_errors(html: str) -> dict[str, str]:
    return dict(FIELD_ERROR.findall(html))


def send(client: TestClient, filled: Filled, intent: str, values: dict[str, str], *, htmx: bool = True):
    headers = {"HX-Request": "true"} if htmx else {}
    return client.post(filled.path, data=filled.data(intent, **values), headers=headers)
