"""Request and response models of the guidance-fund routes (separate from the tables in funds/models.py).

Amounts arrive and leave as decimal strings in 元 ("1000000.00"); the services turn them into fen. A body
never names who acts: the actor and the approver are the authenticated caller."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from api.problems import ApiCode
from ledger.money import format_fen

CODE_MAX_LENGTH = 32
NAME_MAX_LENGTH = 200
TEXT_MAX_LENGTH = 200
CREDIT_CODE_LENGTH = 18
TERM_YEARS_MAX = 30
ID_MAX = 2_147_483_647  # object ids are PostgreSQL INTEGERs: a larger one is malformed input
# A decimal amount in 元 with at most two places; units ("万") belong to configuration, not to the API.
AMOUNT_PATTERN = r"^\d{1,16}(\.\d{1,2})?$"
RATIO_PATTERN = r"^\d{1,3}(\.\d{1,6})?%$|^\d{1,6}/\d{1,6}$"
# Names a body may not carry: who acts is the authenticated caller.
ACTOR_FIELDS = ("actor", "approver", "recorded_by", "approved_by")


def amount_field(example: str, description: str = "元, a decimal string") -> Any:
    return Field(pattern=AMOUNT_PATTERN, examples=[example], description=description)


def money(fen: int | None) -> str | None:
    return None if fen is None else format_fen(fen)


class DomainIn(BaseModel):
    """A request body: unknown fields are refused, and so is any field naming an actor or approver."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_actor(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name in ACTOR_FIELDS:
                if name in data:
                    raise PydanticCustomError(
                        str(ApiCode.BODY_NAMES_ACTOR),
                        "{name} is the authenticated caller and cannot be named in a body",
                        {"name": name},
                    )
        return data


def _example(values: dict[str, Any]) -> ConfigDict:
    return ConfigDict(extra="forbid", json_schema_extra={"examples": [values]})


# ----- requests --------------------------------------------------------------------------------------------


class GuidanceFundIn(DomainIn):
    model_config = _example({"code": "GZ-TT", "name": "广州市科技成果转化引导基金", "region_code": "440100"})
    code: str = Field(min_length=1, max_length=CODE_MAX_LENGTH, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    name: str = Field(min_length=1, max_length=NAME_MAX_LENGTH)
    region_code: str = Field(pattern=r"^\d{6}$")


class SubFundIn(DomainIn):
    model_config = _example(
        {
            "code": "GZ-ANGEL-1",
            "name": "广州天使一期子基金",
            "manager_code": "91440101MA5CXXXX1B",
            "size": "100000000.00",
            "established_on": "2026-01-10",
            "term_years": 8,
            "investment_period_end": "2031-01-10",
            "fee_basis": "paid_in",
            "fee_rate": "2%",
        }
    )
    code: str = Field(min_length=1, max_length=CODE_MAX_LENGTH, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    name: str = Field(min_length=1, max_length=NAME_MAX_LENGTH)
    manager_code: str = Field(min_length=1, max_length=CREDIT_CODE_LENGTH)
    size: str = amount_field("100000000.00")
    established_on: date
    term_years: int = Field(ge=1, le=TERM_YEARS_MAX)
    investment_period_end: date
    fee_basis: Literal["paid_in", "invested"]
    fee_rate: str = Field(pattern=RATIO_PATTERN, description="per year, exact: 2% or 1/50")


class EstablishmentIn(DomainIn):
    model_config = _example({"on": "2026-02-01"})
    on: date


class CommitmentIn(DomainIn):
    model_config = _example({"investor_code": "LP-1", "amount": "60000000.00", "committed_on": "2026-01-15"})
    investor_code: str = Field(min_length=1, max_length=CODE_MAX_LENGTH)
    amount: str = amount_field("60000000.00")
    committed_on: date
    is_guidance: bool = Field(default=False, description="true only for the guidance fund's own commitment")


class CapitalCallIn(DomainIn):
    model_config = _example({"ratio": "20%", "notice_on": "2026-02-01", "due_on": "2026-02-28"})
    ratio: str = Field(pattern=RATIO_PATTERN, description="of each investor's commitment")
    notice_on: date
    due_on: date


class CallPaymentIn(DomainIn):
    model_config = _example({"investor_code": "LP-1", "amount": "12000000.00", "paid_on": "2026-02-20"})
    investor_code: str = Field(min_length=1, max_length=CODE_MAX_LENGTH)
    amount: str = amount_field("12000000.00")
    paid_on: date


class InvestmentIn(DomainIn):
    model_config = _example(
        {
            "enterprise_code": "91440101MA5CXXXX1B",
            "amount": "5000000.00",
            "invested_on": "2026-03-01",
            "stage": "start_up",
            "is_local": True,
            "sector": "新材料",
            "hard_tech": True,
        }
    )
    enterprise_code: str = Field(min_length=1, max_length=CREDIT_CODE_LENGTH)
    amount: str = amount_field("5000000.00")
    invested_on: date
    stage: Literal["seed", "start_up", "growth"]
    is_local: bool
    sector: str = Field(min_length=1, max_length=64)
    hard_tech: bool


class ExitIn(DomainIn):
    model_config = _example({"cost": "1000000.00", "proceeds": "2500000.00", "exited_on": "2027-06-30"})
    cost: str = amount_field("1000000.00", "元 of cost leaving the books")
    proceeds: str = amount_field("2500000.00", "元 received")
    exited_on: date


class ValuationIn(DomainIn):
    model_config = _example({"as_of": "2026-12-31", "nav": "130000000.00", "source": "2026 年度审计报告"})
    as_of: date
    nav: str = amount_field("130000000.00")
    source: str = Field(default="", max_length=TEXT_MAX_LENGTH)


class FeeAccrualIn(DomainIn):
    model_config = _example({"through": "2026-06-30"})
    through: date


class DistributionIn(DomainIn):
    model_config = _example(
        {"distributed_on": "2027-06-30", "capital": "1000000.00", "income": "1500000.00", "recallable": False}
    )
    distributed_on: date
    capital: str = amount_field("1000000.00", "元 returned as capital")
    income: str = amount_field("1500000.00", "元 of income")
    recallable: bool = False


# ----- responses -------------------------------------------------------------------------------------------


class GuidanceFundOut(BaseModel):
    code: str
    name: str
    region_code: str

    @classmethod
    def of(cls, row: dict) -> GuidanceFundOut:
        return cls(code=row["code"], name=row["name"], region_code=row["region_code"])


class SubFundOut(BaseModel):
    code: str
    name: str
    guidance_code: str
    region_code: str
    manager_code: str
    size: str
    established_on: date
    term_years: int
    investment_period_end: date
    fee_basis: str
    fee_rate: str
    status: str
    first_close_on: date | None

    @classmethod
    def of(cls, row: dict) -> SubFundOut:
        fields = (
            "code name guidance_code region_code manager_code established_on term_years investment_period_end "
            "fee_basis fee_rate status first_close_on"
        ).split()
        return cls(size=money(row["size_fen"]), **{name: row[name] for name in fields})


class EstablishmentOut(BaseModel):
    subfund: str
    first_close_on: date
    commitments: dict[str, str] = Field(description="each investor's approved commitment, 元")


class CommitmentOut(BaseModel):
    id: int
    subfund: str
    investor_code: str
    is_guidance: bool
    amount: str
    committed_on: date
    status: str
    recorded_by: str
    approved_by: str | None

    @classmethod
    def of(cls, row: dict) -> CommitmentOut:
        return cls(
            subfund=row["subfund_code"],
            amount=money(row["amount_fen"]),
            **{k: row[k] for k in ("id", "investor_code", "is_guidance", "committed_on", "status")},
            recorded_by=row["recorded_by"],
            approved_by=row["approved_by"],
        )


class CallItemOut(BaseModel):
    investor_code: str
    amount: str
    paid: str


class CapitalCallOut(BaseModel):
    id: int
    subfund: str
    sequence: int
    ratio: str
    notice_on: date
    due_on: date
    status: str
    recorded_by: str
    approved_by: str | None
    items: list[CallItemOut]

    @classmethod
    def of(cls, row: dict) -> CapitalCallOut:
        return cls(
            subfund=row["subfund_code"],
            items=[
                CallItemOut(investor_code=i["investor_code"], amount=money(i["amount_fen"]), paid=money(i["paid_fen"]))
                for i in row["items"]
            ],
            **{
                k: row[k]
                for k in ("id", "sequence", "ratio", "notice_on", "due_on", "status", "recorded_by", "approved_by")
            },
        )


class CallPaymentOut(BaseModel):
    call_id: int
    investor_code: str
    paid: str
    still_owed: str = Field(description="what the investor still owes on this call, 元")


class InvestmentOut(BaseModel):
    id: int
    subfund: str
    enterprise_code: str
    amount: str
    invested_on: date
    stage: str
    is_local: bool
    sector: str
    hard_tech: bool
    exited_cost: str
    proceeds: str

    @classmethod
    def of(cls, row: dict) -> InvestmentOut:
        return cls(
            subfund=row["subfund_code"],
            amount=money(row["amount_fen"]),
            exited_cost=money(row["exited_cost_fen"]),
            proceeds=money(row["proceeds_fen"]),
            **{k: row[k] for k in ("id", "enterprise_code", "invested_on", "stage", "is_local", "sector", "hard_tech")},
        )


class ExitOut(BaseModel):
    id: int
    investment_id: int
    cost: str
    proceeds: str
    exited_on: date
    cost_left: str = Field(description="cost of the investment still held after this exit, 元")


class ValuationOut(BaseModel):
    id: int
    subfund: str
    as_of: date
    nav: str
    source: str


class FeeAccrualOut(BaseModel):
    subfund: str
    through: date
    amount: str = Field(description="this accrual; 0.00 when nothing more was due")
    cumulative: str


class DistributionPartOut(BaseModel):
    investor_code: str
    capital: str
    income: str


class DistributionOut(BaseModel):
    id: int
    subfund: str
    distributed_on: date
    capital: str
    income: str
    recallable: bool
    status: str
    recorded_by: str
    approved_by: str | None
    parts: list[DistributionPartOut]

    @classmethod
    def of(cls, row: dict) -> DistributionOut:
        return cls(
            subfund=row["subfund_code"],
            capital=money(row["capital_fen"]),
            income=money(row["income_fen"]),
            parts=[
                DistributionPartOut(
                    investor_code=p["investor_code"], capital=money(p["capital_fen"]), income=money(p["income_fen"])
                )
                for p in row["parts"]
            ],
            **{k: row[k] for k in ("id", "distributed_on", "recallable", "status", "recorded_by", "approved_by")},
        )


class FlagOut(BaseModel):
    """A rule that clipped or warned when the call was recorded (核减 / flagged for audit)."""

    code: str
    enforcement: str
    message: str
    amount: str | None
    limit: str | None

    @classmethod
    def of(cls, row: dict) -> FlagOut:
        return cls(
            code=row["code"],
            enforcement=row["enforcement"],
            message=row["message"],
            amount=money(row["amount_fen"]),
            limit=money(row["limit_fen"]),
        )


class FundDecisionOut(BaseModel):
    """The outcome of an approval: the object as it stands after it, and the rules that clipped or warned."""

    commitment: CommitmentOut | None = None
    capital_call: CapitalCallOut | None = None
    distribution: DistributionOut | None = None
    flags: list[FlagOut] = []
    dry_run: bool = False


class MetricsOut(BaseModel):
    subject: str = Field(description="a sub-fund's code, or the guidance fund's code for its own position")
    kind: Literal["subfund", "guidance_fund"]
    as_of: date
    commitment: str
    called: str
    unfunded: str
    paid_in: str
    distributed: str
    nav: str
    dpi: Decimal | None
    rvpi: Decimal | None
    tvpi: Decimal | None
    xirr: Decimal | None
    leverage: Decimal | None

    @classmethod
    def of(cls, subject: str, kind: str, values: dict) -> MetricsOut:
        amounts = ("commitment", "called", "unfunded", "paid_in", "distributed", "nav")
        return cls(
            subject=subject,
            kind=kind,
            as_of=values["as_of"],
            **{name: money(values[f"{name}_fen"]) for name in amounts},
            **{name: values[name] for name in ("dpi", "rvpi", "tvpi", "xirr", "leverage")},
        )


class DryRunResult(BaseModel):
    """What a money-moving call would do; nothing was written."""

    dry_run: Literal[True] = True
    result: dict[str, Any]
    room_left: str | None = Field(default=None, description="room under the binding limit after the call, 元")
    binding_limit: str | None = None


# ----- cash movements filed by one person and approved by another --------------------------------------------


class CashMovementIn(DomainIn):
    model_config = _example({"amount": "50000000.00", "on": "2026-01-05", "approval_doc": "穗财科〔2026〕1号"})
    amount: str = amount_field("50000000.00")
    on: date
    approval_doc: str | None = Field(default=None, max_length=TEXT_MAX_LENGTH, description="批复文号")


class ContributionIn(CashMovementIn):
    model_config = _example(
        {"funder_code": "440100", "amount": "10000000.00", "on": "2026-01-10", "approval_doc": "穗财科〔2026〕2号"}
    )
    funder_code: str = Field(pattern=r"^\d{6}$", description="the funding level paying in")


class PoolSettlementIn(DomainIn):
    model_config = _example({"on": "2027-01-15"})
    on: date = Field(description="the payment date of what approved claims are still owed")


class CashRejectionIn(DomainIn):
    model_config = _example({"reason": "预算指标未下达"})
    reason: str = Field(min_length=1, max_length=1000)


class CashRequestOut(BaseModel):
    """A cash movement waiting for (or decided by) a second person; ``result`` once it is carried out."""

    id: int
    kind: str
    subject: str = Field(description="the guidance fund's or the pool's code")
    amount: str | None = Field(description="元; none for a settlement (it pays what is owed)")
    on: date
    funder_code: str | None
    approval_doc: str | None
    status: str
    recorded_by: str
    approved_by: str | None
    reason: str | None
    result: dict[str, Any] | None

    @classmethod
    def of(cls, row: dict) -> CashRequestOut:
        payload = row["payload"]
        return cls(
            id=row["id"],
            kind=row["kind"],
            subject=row["subject_code"],
            amount=money(row["amount_fen"]),
            on=payload["on"],
            funder_code=payload["funder_code"],
            approval_doc=payload["approval_doc"],
            status=row["status"],
            recorded_by=row["recorded_by"],
            approved_by=row["approved_by"],
            reason=row["reason"],
            result=_money_result(row["result"]),
        )


def _money_result(result: dict | None) -> dict | None:
    """A settlement's payouts with their amounts in 元 (the service keeps fen)."""
    if result is None or "payouts" not in result:
        return result
    return {
        "payouts": [
            {
                "claim_id": payout["claim_id"],
                "amount": money(payout["amount_fen"]),
                "binding_limit": payout["binding_limit"],
                "parts": {code: money(fen) for code, fen in payout["parts"].items()},
            }
            for payout in result["payouts"]
        ]
    }
