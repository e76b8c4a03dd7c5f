"""Development only: one login per role over the demo data, so a person can try every page.

Each run gives every demo user a fresh random password (printed once by ``fundledger demo``): the demo's
passwords are never fixed strings in the code, and a rerun of the demo keeps the users and resets them."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass

from sqlalchemy import Engine

from api.auth import add_user, reset_password
from api.problems import ApiCode, ApiProblem
from api.settings import DEVELOPMENT, ENV_VAR
from funds.demo import BANK_GZ_01

DEMO_PASSWORD_BYTES = 12  # 16 url-safe characters, above the password minimum
GUANGZHOU = "440100"
GUANGZHOU_ENTERPRISE = "91440101MA59A0023L"  # subsidies demo: 广州某科技有限公司（演示）, 南沙区
SHANGHAI_ENTERPRISE = "91310000MA1D0X0K1Y"  # vouchers demo: 上海市示范科技有限公司
SHANGHAI_PROVIDER = "12310000MB2P0Y0R2N"  # vouchers demo: 上海市科技服务平台
GUIDANCE_FUND = "gz-tt-gf"
DEMO_BANK = BANK_GZ_01  # the risk pool demo's first partner bank: the bank user sees that bank's loans


@dataclass(frozen=True, slots=True)
class DemoUser:
    username: str
    role: str
    scopes: tuple[str, ...]
    what: str


DEMO_USERS = (
    DemoUser("admin", "admin", (), "everything"),
    DemoUser("gz-clerk", "finance_office", (f"region:{GUANGZHOU}",), "广州 finance office: records"),
    DemoUser("gz-director", "finance_office", (f"region:{GUANGZHOU}",), "广州 finance office: approves"),
    DemoUser("gz-auditor", "auditor", (f"region:{GUANGZHOU}",), "广州 auditor: reads"),
    DemoUser("gz-fund-manager", "fund_manager", (f"fund:{GUIDANCE_FUND}",), "the guidance fund's manager"),
    DemoUser("gz-enterprise", "enterprise", (f"institution:{GUANGZHOU_ENTERPRISE}",), "enterprise with subsidies"),
    DemoUser("sh-enterprise", "enterprise", (f"institution:{SHANGHAI_ENTERPRISE}",), "enterprise with vouchers"),
    DemoUser("gz-bank", "bank", (f"institution:{DEMO_BANK}",), "partner bank"),
    DemoUser("sh-provider", "service_provider", (f"institution:{SHANGHAI_PROVIDER}",), "voucher service provider"),
)


class NotDevelopment(Exception):
    """Demo users are made only where FUNDLEDGER_ENV=development."""


def create_demo_users(engine: Engine, environment: str) -> list[tuple[DemoUser, str]]:
    """Create (or reset) every demo user with a new random password; returns each user and its password."""
    if environment != DEVELOPMENT:
        raise NotDevelopment(f"demo users are made only when {ENV_VAR}={DEVELOPMENT}")
    made = []
    for user in DEMO_USERS:
        password = secrets.token_urlsafe(DEMO_PASSWORD_BYTES)
        try:
            add_user(engine, user.username, password, user.role, list(user.scopes))
        except ApiProblem as problem:
            if problem.code != ApiCode.USER_EXISTS:
                raise
            reset_password(engine, user.username, password)
        made.append((user, password))
    return made


def print_demo_users(engine: Engine, console, environment: str | None = None) -> None:  # noqa: ANN001 - a Console
    """What ``fundledger demo`` says about logins: the users and passwords in development, else how to get them."""
    environment = os.environ.get(ENV_VAR, "") if environment is None else environment
    if environment != DEVELOPMENT:
        console.print(f"web logins: set {ENV_VAR}={DEVELOPMENT} and rerun demo for one user per role", markup=False)
        return
    console.print("web logins (development only; passwords are new on every run):", markup=False)
    for user, password in create_demo_users(engine, environment):
        scopes = " ".join(user.scopes) or "-"
        line = f"  {user.username:<16} {password}  {user.role:<16} {scopes:<32} {user.what}"
        console.print(line, markup=False, soft_wrap=True)
