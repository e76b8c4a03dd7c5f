"""Fixtures for the subsidy tests: a service on the parametrized ledger, institutions, program text."""

from __future__ import annotations

import pytest

from ledger.entities import credit_code_check_character
from subsidies.config import EXAMPLES_DIR, parse_program
from subsidies.service import SubsidyService

MAKER = "clerk-li"
CHECKER = "director-wang"


def credit_code(serial: int) -> str:
    """A valid 统一社会信用代码 for a Guangzhou (440101) legal person, numbered by ``serial``."""
    first_seventeen = f"12440101{serial:09d}"
    return first_seventeen + credit_code_check_character(first_seventeen)


def install(service: SubsidyService, text: str):
    program = parse_program(text)
    service.install_program(program, text, actor="finance-admin")
    return program


def example_text(name: str) -> str:
    return (EXAMPLES_DIR / f"{name}.toml").read_text(encoding="utf-8")


def program_text(
    code: str = "test-program",
    *,
    amount: str = 'kind = "claimed"\nbase = "claim"',
    caps: str = "",
    budget: str = '"1000万"',
    budget_enforcement: str = "stop",
    year_end: str = "carry_over",
    first_year: int = 2019,
    last_year: int = 2020,
) -> str:
    source = '{ document = "test", article = "1" }'
    return f"""
code = "{code}"
name = "test program {code}"
region = "440100"
budget_book = "gz-budget"
financial_book = "gz-finance"
first_year = {first_year}
last_year = {last_year}
source = {source}

[amount]
{amount}
source = {source}

{caps}

[budget]
per_year = {budget}
enforcement = "{budget_enforcement}"
year_end = "{year_end}"
source = {source}
"""


def cap(kind: str, limit: str, enforcement: str) -> str:
    field = "count" if kind == "awardees_per_year" else "amount"
    value = limit if kind == "awardees_per_year" else f'"{limit}"'
    return f"""
[[caps]]
kind = "{kind}"
{field} = {value}
enforcement = "{enforcement}"
source = {{ document = "test", article = "cap" }}
"""


@pytest.fixture
def service(ledger) -> SubsidyService:
    ledger.register_region("440100", "广州市")
    return SubsidyService(ledger)


@pytest.fixture
def institutions(ledger) -> list[str]:
    return [
        ledger.register_institution(credit_code(serial), f"Institution {serial}", "university", region_code="440100")
        for serial in range(1, 6)
    ]
