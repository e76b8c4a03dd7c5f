"""Request and response models of the subsidy routes. Amounts are decimal strings in 元, both ways."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from api.schemas.vouchers import AMOUNT_PATTERN, CREDIT_CODE_PATTERN, REASON_MAX_LENGTH, DomainIn
from ledger.money import format_fen
from subsidies.config import ProgramConfig

CONFIG_TEXT_MAX_LENGTH = 20_000
BASE_FIGURE_NAME_MAX_LENGTH = 64
YEAR_MIN, YEAR_MAX = 1900, 2999
PROGRAM_EXAMPLE = """code = "gz-contract-registration"
name = "广州市技术合同登记服务奖补"
region = "440100"
budget_book = "gz-budget"
financial_book = "gz-finance"
first_year = 2018
last_year = 2020
source = { document = "《广州市促进科技成果转移转化行动方案(2018-2020年)》", article = "二(二)8" }

[amount]
kind = "rate"
base = "registered_contract_turnover"
amount = "0.5万"
per = "1亿"
source = { document = "《广州市促进科技成果转移转化行动方案(2018-2020年)》", article = "二(二)8" }

[budget]
per_year = "250万"
enforcement = "warn"
year_end = "recover"
source = { document = "《广州市促进科技成果转移转化行动方案(2018-2020年)》", article = "二(二)8" }
"""


FigureName = Annotated[str, StringConstraints(min_length=1, max_length=BASE_FIGURE_NAME_MAX_LENGTH)]
FigureAmount = Annotated[str, StringConstraints(pattern=AMOUNT_PATTERN)]


class SubsidyProgramIn(DomainIn):
    config: str = Field(min_length=1, max_length=CONFIG_TEXT_MAX_LENGTH, description="the program's TOML definition")

    model_config = {"json_schema_extra": {"examples": [{"config": PROGRAM_EXAMPLE}]}}


class CapOut(BaseModel):
    kind: str
    enforcement: str
    limit: str = Field(description="元, or a count of awardees for awardees_per_year")


class SubsidyProgramOut(BaseModel):
    code: str
    name: str
    region: str
    first_year: int
    last_year: int
    amount_kind: str
    caps: list[CapOut]
    budget_per_year: str
    budget_enforcement: str
    year_end: str

    @classmethod
    def of(cls, config: ProgramConfig) -> SubsidyProgramOut:
        return cls(
            code=config.code,
            name=config.name,
            region=config.region,
            first_year=config.first_year,
            last_year=config.last_year,
            amount_kind=config.amount.kind,
            caps=[
                CapOut(
                    kind=cap.kind,
                    enforcement=cap.enforcement,
                    limit=str(cap.count) if cap.kind == "awardees_per_year" else format_fen(cap.amount),
                )
                for cap in config.caps
            ],
            budget_per_year=format_fen(config.budget.per_year),
            budget_enforcement=config.budget.enforcement,
            year_end=config.budget.year_end,
        )


class ApplicationIn(DomainIn):
    institution: str = Field(pattern=CREDIT_CODE_PATTERN, examples=["91440101MA5CXXXX1B"])
    year: int = Field(ge=YEAR_MIN, le=YEAR_MAX, examples=[2019])
    base_figures: dict[FigureName, FigureAmount] = Field(
        default_factory=dict, max_length=20, description="named base amounts in 元 (decimal strings)"
    )

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "institution": "91440101MA5CXXXX1B",
                    "year": 2019,
                    "base_figures": {"registered_contract_turnover": "300000000.00"},
                }
            ]
        }
    }


class ApplicationOut(BaseModel):
    id: int
    program: str
    region: str | None
    institution: str
    year: int
    base_figures: dict[str, str]
    status: str
    submitted_by: str
    submitted_at: datetime
    decided_by: str | None
    decision_code: str | None
    decision_reason: str | None

    @classmethod
    def of(cls, row: dict) -> ApplicationOut:
        figures = {name: format_fen(int(fen)) for name, fen in json.loads(row["base_figures_json"]).items()}
        return cls(
            id=row["id"],
            program=row["program_code"],
            region=row["region_code"],
            institution=row["institution_code"],
            year=row["program_year"],
            base_figures=figures,
            status=row["status"],
            submitted_by=row["submitted_by"],
            submitted_at=row["submitted_at"],
            decided_by=row["decided_by"],
            decision_code=row["decision_code"],
            decision_reason=row["decision_reason"],
        )


class FlagOut(BaseModel):
    rule: str
    enforcement: str
    code: str
    requested: str
    granted: str
    limit: str
    room: str


class SubsidyGrantOut(BaseModel):
    id: int
    application_id: int
    program: str
    region: str | None
    institution: str
    year: int
    computed: str
    amount: str
    status: str
    approved_by: str
    approval_doc: str | None
    approved_at: datetime
    paid_at: datetime | None
    flags: list[FlagOut]

    @classmethod
    def of(cls, row: dict) -> SubsidyGrantOut:
        def limit_text(flag: dict, value: int) -> str:
            return str(value) if flag["rule"] == "awardees_per_year" else format_fen(value)

        return cls(
            id=row["id"],
            application_id=row["application_id"],
            program=row["program_code"],
            region=row["region_code"],
            institution=row["institution_code"],
            year=row["program_year"],
            computed=format_fen(row["computed_fen"]),
            amount=format_fen(row["amount_fen"]),
            status=row["status"],
            approved_by=row["approved_by"],
            approval_doc=row["approval_doc"],
            approved_at=row["approved_at"],
            paid_at=row["paid_at"],
            flags=[
                FlagOut(
                    rule=flag["rule"],
                    enforcement=flag["enforcement"],
                    code=flag["code"],
                    requested=format_fen(flag["requested_fen"]),
                    granted=format_fen(flag["granted_fen"]),
                    limit=limit_text(flag, flag["limit_value"]),
                    room=limit_text(flag, flag["room_value"]),
                )
                for flag in row.get("flags", [])
            ],
        )


class PaymentIn(DomainIn):
    on: date = Field(examples=["2019-06-30"])

    model_config = {"json_schema_extra": {"examples": [{"on": "2019-06-30"}]}}


class PaymentOut(BaseModel):
    grant_id: int
    amount: str
    payment_transaction_id: int


class ClawbackIn(DomainIn):
    reason: str = Field(min_length=1, max_length=REASON_MAX_LENGTH, examples=["项目未按期验收"])

    model_config = {"json_schema_extra": {"examples": [{"reason": "项目未按期验收"}]}}


class ClawbackFiledOut(BaseModel):
    clawback_id: int
    approval: str
    grant_id: int
    status: str


class YearEndIn(DomainIn):
    year: int = Field(ge=YEAR_MIN, le=YEAR_MAX, examples=[2019])
    on: date | None = Field(default=None, examples=["2019-12-31"])

    model_config = {"json_schema_extra": {"examples": [{"year": 2019, "on": "2019-12-31"}]}}


class YearEndOut(BaseModel):
    program: str
    year: int
    mode: str | None
    amount: str


class CapUsageOut(BaseModel):
    rule: str
    enforcement: str
    limit: str
    used: str
    room: str
    over: bool = Field(description="used beyond the cap (only a warn cap lets that happen)")


class InstitutionYearOut(BaseModel):
    program: str
    region: str
    institution: str
    year: int
    granted: str
    caps: list[CapUsageOut]
