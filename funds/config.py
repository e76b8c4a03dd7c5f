"""Policy configuration per pool and per fund: every number with its unit and its cited source.

Values are written as people write them in policy documents ("2000万", "50%", "1.5") and parsed
exactly with ledger.numbers; nothing here is a float. Presets name their source (../shared/POLICY_SOURCES.md);
a region with other numbers (the Anhui 30% variant) is a new preset or a JSON document, not new code.
"""

from __future__ import annotations

from fractions import Fraction
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from funds.codes import FundsCode
from ledger.errors import LedgerError
from ledger.numbers import parse_amount_fen, parse_ratio

Enforcement = Literal["stop", "clip", "warn"]

GUANGZHOU_POOL_SOURCE = "广州市科技型中小企业信贷风险补偿资金池 (穗科规字〔2021〕2号)"
ANHUI_POOL_SOURCE = "Anhui loan risk compensation: 30% of non-performing principal (POLICY_SOURCES.md, Elsewhere)"
SHANDONG_FILING_SOURCE = "Shandong risk compensation: loans filed within 3 months of disbursement (POLICY_SOURCES.md)"
SUBFUND_PRACTICE_SOURCE = "转化基金 sub-fund rules (POLICY_SOURCES.md, Elsewhere: Sub-funds)"
FEE_SOURCE = "国办发〔2025〕1号: management fee ≤2%/yr on paid-in or invested capital"
QUANZHOU_REINVESTMENT_SOURCE = "返投 1×–1.5× of the guidance contribution (Quanzhou; POLICY_SOURCES.md)"


class PolicyValue(BaseModel):
    """One configured number: its text with unit, where it comes from, and what happens when it binds."""

    model_config = ConfigDict(frozen=True)
    value: str
    source: str
    enforcement: Enforcement = "stop"

    @field_validator("source")
    @classmethod
    def _source_is_cited(cls, source: str) -> str:
        if not source.strip():
            raise ValueError("every policy value must cite its source")
        return source

    def fen(self) -> int:
        return parse_amount_fen(self.value)

    def ratio(self) -> Fraction:
        return parse_ratio(self.value)

    def count(self) -> int:
        try:
            return int(self.value)
        except ValueError:
            raise LedgerError(FundsCode.CONFIGURATION_INVALID, f"{self.value!r} is not a whole number") from None


class PoolPolicy(BaseModel):
    """Rules of one loan risk-compensation pool (贷款风险补偿资金池)."""

    model_config = ConfigDict(frozen=True)
    name: str
    compensation_ratio: PolicyValue
    filing_window_months: PolicyValue
    enterprise_annual_filed_loans_cap: PolicyValue | None = None


class BankAgreementTerms(BaseModel):
    """A partner bank's agreement with the pool. Caps left ``None`` do not bind."""

    model_config = ConfigDict(frozen=True)
    source: str
    compensation_ratio: str | None = None  # None: the pool's ratio
    per_loan_cap: str | None = None
    bank_annual_cap: str | None = None
    enterprise_cumulative_cap: str | None = None

    def ratio_or(self, pool_ratio: Fraction) -> Fraction:
        return parse_ratio(self.compensation_ratio) if self.compensation_ratio else pool_ratio

    @staticmethod
    def cap_fen(text: str | None) -> int | None:
        return None if text is None else parse_amount_fen(text)


GUANGZHOU_POOL_POLICY = PoolPolicy(
    name="Guangzhou 科技型中小企业信贷风险补偿资金池",
    compensation_ratio=PolicyValue(
        value="50%", source=f"{GUANGZHOU_POOL_SOURCE}: 补偿不超过不良贷款本金的50%", enforcement="clip"
    ),
    filing_window_months=PolicyValue(value="3", source=SHANDONG_FILING_SOURCE),
    enterprise_annual_filed_loans_cap=PolicyValue(
        value="2000万", source=f"{GUANGZHOU_POOL_SOURCE}: 单家企业每年纳入资金池的贷款不超过2000万元"
    ),
)

ANHUI_POOL_POLICY = GUANGZHOU_POOL_POLICY.model_copy(
    update={
        "name": "Anhui 贷款风险补偿 (30% variant)",
        "compensation_ratio": PolicyValue(value="30%", source=ANHUI_POOL_SOURCE, enforcement="clip"),
        "enterprise_annual_filed_loans_cap": None,
    }
)


class FundPolicy(BaseModel):
    """Rules for the sub-funds of one guidance fund (引导基金)."""

    model_config = ConfigDict(frozen=True)
    name: str
    guidance_share_min: PolicyValue
    guidance_share_max: PolicyValue
    guidance_never_largest: PolicyValue  # value "yes" / "no"
    first_call_min: PolicyValue
    fee_rate_cap: PolicyValue  # per year
    target_investment_min_of_size: PolicyValue
    target_investment_min_multiple: PolicyValue
    local_reinvestment_multiple: PolicyValue
    idle_money_max_days: PolicyValue

    # A structure or a call ratio cannot be granted "up to the room": these rules stop or warn, never clip.
    UNCLIPPABLE_RULES: ClassVar[tuple[str, ...]] = ("guidance_share_min", "guidance_never_largest", "first_call_min")

    @model_validator(mode="after")
    def _clip_only_where_it_means_something(self) -> FundPolicy:
        for name in self.UNCLIPPABLE_RULES:
            if getattr(self, name).enforcement == "clip":
                raise LedgerError(FundsCode.CONFIGURATION_INVALID, f"{name} cannot be clipped; configure stop or warn")
        return self


DEFAULT_FUND_POLICY = FundPolicy(
    name="科技成果转化引导基金 default sub-fund rules",
    guidance_share_min=PolicyValue(value="10%", source=f"{SUBFUND_PRACTICE_SOURCE}: share 10–30%"),
    guidance_share_max=PolicyValue(value="30%", source=f"{SUBFUND_PRACTICE_SOURCE}: share 10–30%"),
    guidance_never_largest=PolicyValue(value="yes", source=f"{SUBFUND_PRACTICE_SOURCE}: never the largest investor"),
    first_call_min=PolicyValue(value="20%", source=f"{SUBFUND_PRACTICE_SOURCE}: first paid-in ≥20%"),
    fee_rate_cap=PolicyValue(value="2%", source=FEE_SOURCE, enforcement="clip"),
    target_investment_min_of_size=PolicyValue(
        value="50%", source=f"{SUBFUND_PRACTICE_SOURCE}: ≥50% of the fund in target enterprises", enforcement="warn"
    ),
    target_investment_min_multiple=PolicyValue(
        value="3", source=f"{SUBFUND_PRACTICE_SOURCE}: ≥3× its contribution in target enterprises", enforcement="warn"
    ),
    local_reinvestment_multiple=PolicyValue(value="1.5", source=QUANZHOU_REINVESTMENT_SOURCE, enforcement="warn"),
    idle_money_max_days=PolicyValue(
        value="365", source=f"{SUBFUND_PRACTICE_SOURCE}: idle >1 year is an exit trigger", enforcement="warn"
    ),
)
