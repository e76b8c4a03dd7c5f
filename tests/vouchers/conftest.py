"""A small 长三角 scheme for voucher tests: three regions, one program each, enterprises and providers."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import date

import pytest

from ledger.engine import Ledger
from ledger.entities import credit_code_check_character
from vouchers import programs
from vouchers.config import ProgramConfig
from vouchers.grants import grant_approve_in_one

SHANGHAI, SUZHOU, HANGZHOU = "310000", "320500", "330100"
YEAR = 2026
USE_BY = date(2026, 6, 30)
REDEEM_BY = date(2026, 9, 30)
START = date(2026, 1, 5)


def credit_code(serial: int, prefix: str = "91310000MA1") -> str:
    """A valid 统一社会信用代码 (GB 32100 check character) for test institutions."""
    first = f"{prefix}{serial:06d}"[:17]
    return first + credit_code_check_character(first)


def program_config(region: str, code: str, **overrides) -> ProgramConfig:
    values = dict(
        code=code,
        name=f"{code} 科技创新券",
        region_code=region,
        year=YEAR,
        budget="100万",
        enterprise_annual_cap="10万",
        per_application="5万",
        copay_ratio="50%",
        categories=("testing", "rd_design", "tech_transfer"),
        use_by=USE_BY,
        redeem_by=REDEEM_BY,
        recognized_regions=(SHANGHAI, SUZHOU, HANGZHOU),
        region_match_level="city",
    )
    values.update(overrides)
    return ProgramConfig.from_dict(values)


@dataclass
class Scheme:
    ledger: Ledger
    enterprises: dict[str, str]  # region -> enterprise credit code
    providers: dict[str, str]  # region -> provider credit code
    programs: dict[str, str]  # region -> program code

    grant_keys: itertools.count = field(default_factory=lambda: itertools.count(1))

    def grant(self, region: str, amount, enterprise: str | None = None, on: date = START, client_id: str | None = None):
        return grant_approve_in_one(
            self.ledger,
            self.programs[region],
            enterprise or self.enterprises[region],
            amount,
            maker="clerk",
            checker="director",
            on=on,
            client_id=client_id or f"test-grant-{next(self.grant_keys)}",
        )


REGION_NAMES = {SHANGHAI: "上海市", SUZHOU: "江苏省苏州市", HANGZHOU: "浙江省杭州市"}


def build_scheme(ledger: Ledger, regions: tuple[str, ...] = tuple(REGION_NAMES), **program_overrides) -> Scheme:
    """The scheme in ``regions`` (all three by default; fewer keeps a test's setup short)."""
    enterprises, providers, program_codes = {}, {}, {}
    for index, (region, name) in enumerate(REGION_NAMES.items()):
        if region not in regions:
            continue
        programs.add_region(ledger, region, name)
        enterprise = ledger.register_institution(
            credit_code(100 + index), f"{name} 测试科技有限公司", "enterprise", region_code=region
        )
        provider = ledger.register_institution(
            credit_code(200 + index), f"{name} 检测服务中心", "service_provider", region_code=region
        )
        programs.register_enterprise(
            ledger,
            enterprise,
            registration_no=f"{region}-KJ-{index}",
            valid_from=date(2025, 1, 1),
            valid_until=date(2027, 12, 31),
        )
        programs.certify_provider(
            ledger,
            provider,
            certifying_region=region,
            categories=["testing", "rd_design"],
            certified_from=date(2025, 1, 1),
        )
        code = f"P{region}-{YEAR}"
        programs.create_program(
            ledger,
            program_config(region, code, **program_overrides),
            actor="budget-clerk",
            approver="bureau-head",
            approval_doc=f"{name}科发〔2026〕1号",
            on=START,
        )
        enterprises[region], providers[region], program_codes[region] = enterprise, provider, code
    return Scheme(ledger, enterprises, providers, program_codes)


@pytest.fixture
def scheme(ledger) -> Scheme:
    return build_scheme(ledger)


def balances(ledger: Ledger) -> dict[tuple[str, str], tuple[int, int, int, int]]:
    """Every account's four counters: compare before and after a refused command."""
    return {
        (account.book, account.path): (
            account.debits_posted,
            account.credits_posted,
            account.debits_pending,
            account.credits_pending,
        )
        for account in ledger.accounts()
    }
