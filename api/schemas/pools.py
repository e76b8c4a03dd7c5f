"""Request and response models of the risk-pool routes (separate from the tables in funds/models.py).

Amounts are decimal strings in 元 both ways; a body never names who acts (see ``DomainIn``)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.funds import (
    AMOUNT_PATTERN,
    CODE_MAX_LENGTH,
    CREDIT_CODE_LENGTH,
    ID_MAX,
    NAME_MAX_LENGTH,
    RATIO_PATTERN,
    TEXT_MAX_LENGTH,
    DomainIn,
    amount_field,
    money,
)

REASON_MAX_LENGTH = 1000
TERM_MONTHS_MAX = 360
FUNDERS_MAX = 10
LOAN_NUMBER_MAX_LENGTH = 64
PRESETS = ("guangzhou", "anhui")


def _example(values: dict) -> ConfigDict:
    return ConfigDict(extra="forbid", json_schema_extra={"examples": [values]})


class FunderIn(DomainIn):
    model_config = _example({"funder_code": "440100", "level": "city", "share": "50%"})
    funder_code: str = Field(pattern=r"^\d{6}$", description="the funding level's region code")
    level: Literal["province", "city", "district"]
    share: str = Field(pattern=RATIO_PATTERN)


class PoolIn(DomainIn):
    model_config = _example(
        {
            "code": "gz-sme-pool",
            "name": "广州市科技型中小企业信贷风险补偿资金池",
            "preset": "guangzhou",
            "funders": [
                {"funder_code": "440000", "level": "province", "share": "20%"},
                {"funder_code": "440100", "level": "city", "share": "50%"},
                {"funder_code": "440106", "level": "district", "share": "30%"},
            ],
        }
    )
    code: str = Field(min_length=1, max_length=CODE_MAX_LENGTH, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    name: str = Field(min_length=1, max_length=NAME_MAX_LENGTH)
    preset: Literal["guangzhou", "anhui"] = Field(description="the policy preset (穗科规字〔2021〕2号, or Anhui 30%)")
    funders: list[FunderIn] = Field(min_length=1, max_length=FUNDERS_MAX)


class BankIn(DomainIn):
    model_config = _example(
        {
            "bank_code": "91440101MA5CXXXX1B",
            "source": "合作协议 2026-01",
            "per_loan_cap": "2000000.00",
            "bank_annual_cap": "10000000.00",
            "valid_from": "2026-01-01",
            "valid_to": "2028-12-31",
        }
    )
    bank_code: str = Field(min_length=CREDIT_CODE_LENGTH, max_length=CREDIT_CODE_LENGTH)
    source: str = Field(min_length=1, max_length=TEXT_MAX_LENGTH, description="the agreement it comes from")
    compensation_ratio: str | None = Field(default=None, pattern=RATIO_PATTERN)
    per_loan_cap: str | None = Field(default=None, pattern=AMOUNT_PATTERN, description="元; absent: no cap")
    bank_annual_cap: str | None = Field(default=None, pattern=AMOUNT_PATTERN, description="元; absent: no cap")
    enterprise_cumulative_cap: str | None = Field(
        default=None, pattern=AMOUNT_PATTERN, description="元; absent: no cap"
    )
    valid_from: date
    valid_to: date


class LoanIn(DomainIn):
    model_config = _example(
        {
            "pool": "gz-sme-pool",
            "bank_code": "91440101MA5CXXXX1B",
            "enterprise_code": "91440101MA5DZZZZ3K",
            "loan_number": "GZB-2026-001",
            "principal": "5000000.00",
            "disbursed_on": "2026-03-01",
            "term_months": 12,
            "filed_on": "2026-03-20",
        }
    )
    pool: str = Field(min_length=1, max_length=CODE_MAX_LENGTH)
    bank_code: str = Field(min_length=CREDIT_CODE_LENGTH, max_length=CREDIT_CODE_LENGTH)
    enterprise_code: str = Field(min_length=CREDIT_CODE_LENGTH, max_length=CREDIT_CODE_LENGTH)
    loan_number: str = Field(min_length=1, max_length=LOAN_NUMBER_MAX_LENGTH)
    principal: str = amount_field("5000000.00")
    disbursed_on: date
    term_months: int = Field(ge=1, le=TERM_MONTHS_MAX)
    filed_on: date


class LoanStatusIn(DomainIn):
    model_config = _example({"status": "overdue"})
    status: Literal["performing", "overdue", "defaulted"]


class RevocationIn(DomainIn):
    model_config = _example({"reason": "贷款用途不符合备案条件", "revoked_on": "2026-05-01"})
    reason: str = Field(min_length=1, max_length=REASON_MAX_LENGTH)
    revoked_on: date | None = None


class PoolClaimIn(DomainIn):
    model_config = _example({"loan_id": 1, "non_performing": "4000000.00", "claimed_on": "2026-11-01"})
    loan_id: int = Field(ge=1, le=ID_MAX)
    non_performing: str = amount_field("4000000.00", "元 of non-performing principal")
    claimed_on: date


class ClaimApprovalIn(DomainIn):
    model_config = _example({"paid_on": "2026-11-20", "approval_doc": "穗科补〔2026〕9号"})
    paid_on: date
    approval_doc: str | None = Field(default=None, max_length=TEXT_MAX_LENGTH)


class ClaimRejectionIn(DomainIn):
    model_config = _example({"reason": "不良认定材料不全"})
    reason: str = Field(min_length=1, max_length=REASON_MAX_LENGTH)


class RecoveryIn(DomainIn):
    model_config = _example({"claim_id": 1, "gross": "2000000.00", "costs": "200000.00", "recovered_on": "2027-05-01"})
    claim_id: int = Field(ge=1, le=ID_MAX)
    gross: str = amount_field("2000000.00", "元 recovered")
    costs: str = amount_field("200000.00", "元 of recovery costs")
    recovered_on: date


# ----- responses -------------------------------------------------------------------------------------------


class FunderOut(BaseModel):
    funder_code: str
    level: str
    share: str


class BankOut(BaseModel):
    bank_code: str
    valid_from: date
    valid_to: date
    suspended: bool


class PoolOut(BaseModel):
    code: str
    name: str
    funders: list[FunderOut]
    banks: list[BankOut]

    @classmethod
    def of(cls, row: dict, bank_codes: set[str] | None = None) -> PoolOut:
        """``bank_codes``: when given, only those banks are shown (a bank sees its own agreement)."""
        return cls(
            code=row["code"],
            name=row["name"],
            funders=[FunderOut(**{k: f[k] for k in ("funder_code", "level", "share")}) for f in row["funders"]],
            banks=[
                BankOut(**{k: b[k] for k in ("bank_code", "valid_from", "valid_to", "suspended")})
                for b in row["banks"]
                if bank_codes is None or b["bank_code"] in bank_codes
            ],
        )


class LoanOut(BaseModel):
    id: int
    pool: str
    bank_code: str
    enterprise_code: str
    loan_number: str
    principal: str
    covered: str = Field(description="principal counted into the pool (less when the enterprise's cap clipped it)")
    disbursed_on: date
    term_months: int
    filed_on: date
    status: str

    @classmethod
    def of(cls, row: dict) -> LoanOut:
        keys = (
            "id",
            "bank_code",
            "enterprise_code",
            "loan_number",
            "disbursed_on",
            "term_months",
            "filed_on",
            "status",
        )
        return cls(
            pool=row["pool_code"],
            principal=money(row["principal_fen"]),
            covered=money(row["covered_fen"]),
            **{k: row[k] for k in keys},
        )


class ClaimOut(BaseModel):
    id: int
    pool: str
    loan_id: int
    bank_code: str
    enterprise_code: str
    non_performing: str
    claimed_on: date
    program_year: int
    status: str
    recorded_by: str
    approved_by: str | None
    approval_doc: str | None
    reason: str | None
    entitled: str
    binding_limit: str | None
    paid: str
    owed: str
    recovered: str

    @classmethod
    def of(cls, row: dict) -> ClaimOut:
        keys = (
            "id loan_id bank_code enterprise_code claimed_on program_year status recorded_by approved_by "
            "approval_doc reason binding_limit"
        ).split()
        return cls(
            pool=row["pool_code"],
            non_performing=money(row["non_performing_fen"]),
            entitled=money(row["entitled_fen"]),
            paid=money(row["paid_fen"]),
            owed=money(row["entitled_fen"] - row["paid_fen"]),
            recovered=money(row["recovered_fen"]),
            **{k: row[k] for k in keys},
        )


class ClaimDecisionOut(BaseModel):
    """An approved claim: the entitlement under every limit, the one that binds, and what was paid now."""

    claim: ClaimOut
    entitled: str
    binding_limit: str
    limits: dict[str, str] = Field(description="each limit's room in 元: ratio, caps left, pool balance")
    paid_now: str
    funder_parts: dict[str, str] = Field(description="each funder's portion of the payment, 元")


class RecoveryOut(BaseModel):
    id: int
    claim_id: int
    net: str
    returned: str = Field(description="what returns to the pool: its share of the net, never beyond its payout")
    clipped: bool
    funder_parts: dict[str, str]


class FunderStatementOut(BaseModel):
    funder: str
    level: str
    share: str
    contributed: str
    compensation_paid: str
    recovered: str
    remaining: str


class BankStatementOut(BaseModel):
    bank: str
    suspended: bool
    filed_loans: int
    filed_principal: str
    claims: int
    entitled: str
    paid: str
    owed: str
    recovered: str


class PoolStatementOut(BaseModel):
    pool: str
    year: int | None
    balance: str | None = Field(description="the pool's cash; hidden from a bank")
    funders: list[FunderStatementOut]
    banks: list[BankStatementOut]


class SuspensionIn(DomainIn):
    model_config = _example({"suspended": True})
    suspended: bool
