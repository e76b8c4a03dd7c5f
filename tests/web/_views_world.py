"""A small world for the finance office's and auditor's view tests: subsidy programs of three regions, a
Guangzhou guidance fund with a sub-fund, and a pool funded by the province and a Guangzhou district, each
made through its service; users and API keys per role and region; a login helper."""

from __future__ import annotations

import functools
import re
from datetime import date

from fastapi.testclient import TestClient
from pwdlib import PasswordHash

from api import auth
from funds.config import DEFAULT_FUND_POLICY, GUANGZHOU_POOL_POLICY
from funds.guidance import GuidanceFunds
from funds.pools import FunderShare, RiskPools
from ledger.engine import utc_now
from subsidies.config import example_programs
from subsidies.service import SubsidyService

SECRET = "views-test-secret-that-is-long-enough-for-hs256"
PASSWORD = "correct horse battery"
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')
REGIONS = {"440000": "广东省", "440100": "广州市", "440106": "天河区", "440115": "南沙区", "440300": "深圳市",
           "442000": "中山市", "350181": "福清市"}  # fmt: skip
# Example programs of three regions: Guangzhou (440100), Nansha inside it (440115), Zhongshan (442000).
PROGRAMS = ("gz-service-demonstration", "nansha-revenue-lifetime", "zhongshan-contract-ratio")
GZ_SUBSIDY_BOOKS = {"gz-budget", "gz-finance"}
NANSHA_BOOKS = {"nansha-budget", "nansha-finance"}
ZHONGSHAN_BOOKS = {"zhongshan-budget", "zhongshan-finance"}
FUND, SUBFUND, POOL = "GZ-TT", "GZ-SEED-1", "gz-sme"
FUND_BOOKS = {f"gf:{FUND}", f"gf:{FUND}:memo", f"gf:{FUND}:budget", f"sf:{SUBFUND}", f"sf:{SUBFUND}:memo"}
POOL_BOOKS = {f"pool:{POOL}", f"pool:{POOL}:memo", f"pool:{POOL}:budget"}
POOL_FUNDERS = (("440000", "province", "40%"), ("440106", "district", "60%"))
MANAGER_CODE = "91440101MA5CXXXX1B"


def build_world(ledger) -> None:  # noqa: ANN001 - ledger.engine.Ledger
    for code, name in REGIONS.items():
        ledger.register_region(code, name)
    service = SubsidyService(ledger)
    for program, text in example_programs():
        if program.code in PROGRAMS:
            service.install_program(program, text, actor="setup")
    funds = GuidanceFunds(ledger)
    funds.create_guidance_fund(FUND, "广州科技成果转化引导基金", "440100", DEFAULT_FUND_POLICY)
    funds.create_subfund(
        FUND, SUBFUND, "广州种子子基金", manager_code=MANAGER_CODE, size="100000000.00",
        established_on=date(2026, 1, 10), term_years=8, investment_period_end=date(2031, 1, 10),
        fee_basis="paid_in", fee_rate="2%",
    )  # fmt: skip
    funders = [FunderShare(code, level, share) for code, level, share in POOL_FUNDERS]
    RiskPools(ledger).create_pool(POOL, "广东中小企业风险补偿资金池", GUANGZHOU_POOL_POLICY, funders)


@functools.cache
def password_hash() -> str:
    """One Argon2 hash for every test user: hashing costs most of a second by design, once is enough."""
    return PasswordHash.recommended().hash(PASSWORD)


def add_users(engine, users: dict[str, tuple[str, list[str]]]) -> None:  # noqa: ANN001
    with engine.begin() as conn:
        for name, (role, scopes) in users.items():
            conn.execute(
                auth.T_USERS.insert().values(
                    username=name, password_hash=password_hash(), role=role, scopes=" ".join(scopes),
                    disabled=False, created_at=utc_now(),
                )
            )  # fmt: skip


def login(app, username: str) -> TestClient:  # noqa: ANN001
    client = TestClient(app, raise_server_exceptions=False, follow_redirects=False)
    token = CSRF_INPUT.search(client.get("/web/login").text).group(1)
    response = client.post(
        "/web/login", data={"csrf_token": token, "username": username, "password": PASSWORD, "next_url": ""}
    )
    assert response.status_code == 303, response.text[:500]
    return client


def csrf_of(client: TestClient, path: str) -> str:
    return CSRF_INPUT.search(client.get(path).text).group(1)


def api_key(engine, role: str, *scopes: str) -> dict[str, str]:  # noqa: ANN001
    return {"Authorization": f"Bearer {auth.create_key(engine, f'{role}-views', role, list(scopes)).key}"}
