"""Request and response models of the voucher routes. Amounts are decimal strings in 元, both ways."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from api.problems import ApiCode, ApiProblem
from api.schemas.core import Strict
from ledger.money import format_fen

AMOUNT_PATTERN = r"^\d{1,13}(\.\d{1,2})?$"
CREDIT_CODE_PATTERN = r"^[0-9A-HJ-NPQRTUWXY]{18}$"
REGION_PATTERN = r"^\d{6}$"
PROGRAM_CODE_MAX_LENGTH = 40
DOCUMENT_MAX_LENGTH = 200
REASON_MAX_LENGTH = 1000
NUMBER_MAX_LENGTH = 64
# Who acts is the authenticated caller; a body never names it.
SERVER_FIELDS = ("actor", "approver", "maker", "checker", "verifier", "recorded_by", "source")

Amount = Field(pattern=AMOUNT_PATTERN, description="元, a decimal string", examples=["50000.00"])


class DomainIn(Strict):
    """A body of a domain call: refuses the fields only the server fills in (422 ``body_names_actor``)."""

    @model_validator(mode="before")
    @classmethod
    def _no_actor(cls, values: Any) -> Any:
        if isinstance(values, dict):
            for name in SERVER_FIELDS:
                if name in values:
                    raise ApiProblem(
                        422,
                        ApiCode.BODY_NAMES_ACTOR,
                        f"{name!r} is the authenticated caller's and cannot be named in a body",
                        errors=[
                            {"pointer": f"/{name}", "code": ApiCode.BODY_NAMES_ACTOR, "detail": "set by the server"}
                        ],
                    )
        return values


def money(fen: int | None) -> str | None:
    return None if fen is None else format_fen(fen)


# ----- programs --------------------------------------------------------------------------------------


class VoucherProgramOut(BaseModel):
    code: str
    name: str
    region: str
    year: int
    budget: str
    enterprise_annual_cap: str
    per_application: str
    copay_ratio: str
    categories: list[str]
    use_by: date
    redeem_by: date
    cap_enforcement: str
    cross_region_split: str

    @classmethod
    def of(cls, row: dict) -> VoucherProgramOut:
        config = row["config"]
        return cls(
            code=row["code"],
            name=config["name"],
            region=row["region_code"],
            year=row["year"],
            budget=config["budget"],
            enterprise_annual_cap=config["enterprise_annual_cap"],
            per_application=config["per_application"],
            copay_ratio=config["copay_ratio"],
            categories=list(config["categories"]),
            use_by=config["use_by"],
            redeem_by=config["redeem_by"],
            cap_enforcement=config.get("cap_enforcement", "stop"),
            cross_region_split=config.get("cross_region_split", ""),
        )


RATIO_PATTERN = r"^\d{1,3}(\.\d{1,4})?%$|^\d{1,6}/\d{1,6}$"


class VoucherProgramIn(DomainIn):
    """A program as configured; it is created (with its appropriation) when a second person approves it."""

    code: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$", examples=["gz-2026"])
    name: str = Field(min_length=1, max_length=200, examples=["广州市2026年科技创新券"])
    region: str = Field(pattern=REGION_PATTERN, examples=["440100"])
    year: int = Field(ge=1900, le=2999, examples=[2026])
    budget: str = Amount
    enterprise_annual_cap: str = Amount
    per_application: str = Amount
    copay_ratio: str = Field(pattern=RATIO_PATTERN, examples=["50%"])
    categories: list[str] = Field(min_length=1, max_length=20, examples=[["testing", "rd_design"]])
    use_by: date
    redeem_by: date
    recognized_regions: list[str] = Field(default_factory=list, max_length=50)
    region_match_level: Literal["province", "city", "county"] = "city"
    cross_region_split: str = Field(default="2/3", pattern=RATIO_PATTERN)
    cap_enforcement: Literal["stop", "clip", "warn"] = "stop"
    # Once the program is over (vouchers.year_end): recovered by the treasury (收回) or carried over (结转)
    # into the later program of the same region named here.
    year_end: Literal["recover", "carry_over"] = "recover"
    carry_over_to: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "code": "gz-2026",
                    "name": "广州市2026年科技创新券",
                    "region": "440100",
                    "year": 2026,
                    "budget": "5000000.00",
                    "enterprise_annual_cap": "100000.00",
                    "per_application": "50000.00",
                    "copay_ratio": "50%",
                    "categories": ["testing", "rd_design"],
                    "use_by": "2026-06-30",
                    "redeem_by": "2026-09-30",
                }
            ]
        }
    }

    def config_values(self) -> dict[str, Any]:
        """The keyword values of ``vouchers.config.ProgramConfig`` (JSON-safe, dates as ISO text)."""
        values = self.model_dump(mode="json")
        values["region_code"] = values.pop("region")
        return values


class ProgramFiledOut(BaseModel):
    approval: str = Field(description="the approvals queue item that creates the program when approved")
    code: str
    status: Literal["pending"] = "pending"


class ExpiryIn(DomainIn):
    as_of: date = Field(description="the Asia/Shanghai business date of the run", examples=["2027-01-01"])

    model_config = {"json_schema_extra": {"examples": [{"as_of": "2027-01-01"}]}}


class ExpiryOut(BaseModel):
    program: str
    reservations_voided: int
    quotas_returned: int
    returned: str


# ----- grants of quota ("vouchers") ---------------------------------------------------------------------


class VoucherGrantIn(DomainIn):
    program: str = Field(min_length=1, max_length=PROGRAM_CODE_MAX_LENGTH, examples=["gz-2026"])
    enterprise: str = Field(pattern=CREDIT_CODE_PATTERN, examples=["91440101MA5CXXXX1B"])
    amount: str = Amount
    on: date = Field(examples=["2026-03-02"])

    model_config = {
        "json_schema_extra": {
            "examples": [
                {"program": "gz-2026", "enterprise": "91440101MA5CXXXX1B", "amount": "50000.00", "on": "2026-03-02"}
            ]
        }
    }


class VoucherGrantOut(BaseModel):
    id: int
    program: str
    region: str
    enterprise: str
    requested: str
    granted: str | None
    status: str
    clipped_by: str | None
    warned_by: str | None
    submitted_on: date
    decided_on: date | None
    maker: str
    checker: str | None
    approval_doc: str | None
    reason: str | None

    @classmethod
    def of(cls, row: dict) -> VoucherGrantOut:
        return cls(
            id=row["id"],
            program=row["program_code"],
            region=row["region_code"],
            enterprise=row["enterprise_code"],
            requested=format_fen(row["requested_fen"]),
            granted=money(row["granted_fen"]),
            status=row["status"],
            clipped_by=row["clipped_by"],
            warned_by=row["warned_by"],
            submitted_on=row["submitted_on"],
            decided_on=row["decided_on"],
            maker=row["maker"],
            checker=row["checker"],
            approval_doc=row["approval_doc"],
            reason=row["reason"],
        )


# ----- redemptions ------------------------------------------------------------------------------------


class ReservationIn(DomainIn):
    program: str = Field(min_length=1, max_length=PROGRAM_CODE_MAX_LENGTH, examples=["gz-2026"])
    enterprise: str = Field(pattern=CREDIT_CODE_PATTERN)
    provider: str = Field(pattern=CREDIT_CODE_PATTERN)
    category: str = Field(min_length=1, max_length=NUMBER_MAX_LENGTH, examples=["testing"])
    contract_no: str = Field(min_length=1, max_length=NUMBER_MAX_LENGTH, description="技术合同登记号")
    contract_amount: str = Amount
    on: date
    mode: Literal["tongdui", "tongyong"] | None = Field(default=None, description="cross-region: 通兑 or 通用")

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "program": "gz-2026",
                    "enterprise": "91440101MA5CXXXX1B",
                    "provider": "91440101MA5PPPPP3K",
                    "category": "testing",
                    "contract_no": "2026440100000123",
                    "contract_amount": "80000.00",
                    "on": "2026-04-01",
                }
            ]
        }
    }


class ClaimIn(DomainIn):
    invoice_no: str = Field(min_length=1, max_length=NUMBER_MAX_LENGTH, examples=["INV-2026-0001"])
    invoiced_amount: str = Amount
    requested_amount: str | None = Field(default=None, pattern=AMOUNT_PATTERN)
    on: date

    model_config = {
        "json_schema_extra": {
            "examples": [{"invoice_no": "INV-2026-0001", "invoiced_amount": "80000.00", "on": "2026-05-01"}]
        }
    }


class CancellationIn(DomainIn):
    reason: str = Field(min_length=1, max_length=REASON_MAX_LENGTH, examples=["contract withdrawn"])
    on: date

    model_config = {"json_schema_extra": {"examples": [{"reason": "contract withdrawn", "on": "2026-04-10"}]}}


class RedemptionOut(BaseModel):
    id: int
    program: str
    enterprise: str
    provider: str
    category: str
    contract_no: str
    contract_amount: str
    reserved: str
    invoice_no: str | None
    invoiced: str | None
    claimed: str | None
    status: str
    mode: str
    enterprise_region: str
    provider_region: str
    enterprise_share: str | None
    provider_share: str | None
    reserved_on: date
    claimed_on: date | None
    settlement_id: int | None
    warned_by: str | None

    @classmethod
    def of(cls, row: dict) -> RedemptionOut:
        return cls(
            id=row["id"],
            program=row["program_code"],
            enterprise=row["enterprise_code"],
            provider=row["provider_code"],
            category=row["category"],
            contract_no=row["contract_no"],
            contract_amount=format_fen(row["contract_fen"]),
            reserved=format_fen(row["reserved_fen"]),
            invoice_no=row["invoice_no"],
            invoiced=money(row["invoiced_fen"]),
            claimed=money(row["claimed_fen"]),
            status=row["status"],
            mode=row["mode"],
            enterprise_region=row["enterprise_region"],
            provider_region=row["provider_region"],
            enterprise_share=money(row["enterprise_share_fen"]),
            provider_share=money(row["provider_share_fen"]),
            reserved_on=row["reserved_on"],
            claimed_on=row["claimed_on"],
            settlement_id=row["settlement_id"],
            warned_by=row["warned_by"],
        )


class ProviderPaymentOut(BaseModel):
    redemption_id: int
    program: str
    enterprise: str
    contract_no: str
    status: str
    claimed: str | None
    claimed_on: date | None
    payment_status: str | None = Field(description="unpaid, in_batch, paid or paid_by_enterprise (通用)")
    payment_batch_id: int | None
    paid_on: date | None

    @classmethod
    def of(cls, row: dict) -> ProviderPaymentOut:
        return cls(
            redemption_id=row["id"],
            program=row["program_code"],
            enterprise=row["enterprise_code"],
            contract_no=row["contract_no"],
            status=row["status"],
            claimed=money(row["claimed_fen"]),
            claimed_on=row["claimed_on"],
            payment_status=row["payment_status"],
            payment_batch_id=row["payment_batch_id"],
            paid_on=row["paid_on"],
        )


class ClaimFiledOut(BaseModel):
    approval: str = Field(description="the approvals queue item a finance office decides")
    redemption_id: int
    invoice_no: str
    invoiced: str
    status: Literal["pending"] = "pending"


# ----- settlements and payments --------------------------------------------------------------------------


class SettlementIn(DomainIn):
    region_a: str = Field(pattern=REGION_PATTERN)
    region_b: str = Field(pattern=REGION_PATTERN)
    period_label: str = Field(min_length=1, max_length=16, examples=["2026-Q2"])
    period_start: date
    period_end: date
    on: date

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "region_a": "440100",
                    "region_b": "440300",
                    "period_label": "2026-Q2",
                    "period_start": "2026-04-01",
                    "period_end": "2026-06-30",
                    "on": "2026-07-05",
                }
            ]
        }
    }


class SettlementOut(BaseModel):
    id: int
    region_low: str
    region_high: str
    period_label: str
    period_start: date
    period_end: date
    low_owes_high: str
    high_owes_low: str
    settled_on: date
    actor: str
    approver: str

    @classmethod
    def of(cls, row: dict) -> SettlementOut:
        return cls(
            id=row["id"],
            region_low=row["region_low"],
            region_high=row["region_high"],
            period_label=row["period_label"],
            period_start=row["period_start"],
            period_end=row["period_end"],
            low_owes_high=format_fen(row["low_owes_high_fen"]),
            high_owes_low=format_fen(row["high_owes_low_fen"]),
            settled_on=row["settled_on"],
            actor=row["actor"],
            approver=row["approver"],
        )


class StatementItemOut(BaseModel):
    redemption: int
    contract_no: str
    mode: str
    payable: str
    receivable: str


class StatementOut(BaseModel):
    settlement_id: int
    region: str
    counterparty: str
    period_label: str
    items: list[StatementItemOut]
    payable: str
    receivable: str
    net_payable: str
    settled_payable: str
    settled_receivable: str
    cash_paid: str
    unsettled: str


class PaymentBatchIn(DomainIn):
    region: str = Field(pattern=REGION_PATTERN, examples=["440100"])
    period_label: str = Field(pattern=r"^\d{4}-Q[1-4]$", examples=["2026-Q2"], description="a quarter")
    on: date
    redemption_ids: list[int] | None = Field(default=None, max_length=1000)

    model_config = {
        "json_schema_extra": {"examples": [{"region": "440100", "period_label": "2026-Q2", "on": "2026-07-02"}]}
    }


class PaymentLineOut(BaseModel):
    redemption_id: int
    program: str
    provider: str
    mode: str
    amount: str


class PaymentBatchOut(BaseModel):
    id: int
    region: str
    period_label: str
    period_start: date
    period_end: date
    total: str
    line_count: int
    status: str
    maker: str
    checker: str | None
    approval_doc: str | None
    prepared_on: date
    paid_on: date | None
    lines: list[PaymentLineOut] = []

    @classmethod
    def of(cls, row: dict) -> PaymentBatchOut:
        return cls(
            id=row["id"],
            region=row["region_code"],
            period_label=row["period_label"],
            period_start=row["period_start"],
            period_end=row["period_end"],
            total=format_fen(row["total_fen"]),
            line_count=row["line_count"],
            status=row["status"],
            maker=row["maker"],
            checker=row.get("checker"),
            approval_doc=row.get("approval_doc"),
            prepared_on=row["prepared_on"],
            paid_on=row.get("paid_on"),
            lines=[
                PaymentLineOut(
                    redemption_id=line["redemption_id"],
                    program=line["program_code"],
                    provider=line["provider_code"],
                    mode=line["mode"],
                    amount=format_fen(line["amount_fen"]),
                )
                for line in row.get("lines", [])
            ],
        )


class ReimbursementIn(DomainIn):
    on: date
    approval_doc: str = Field(min_length=1, max_length=DOCUMENT_MAX_LENGTH, examples=["穗科券〔2026〕8号"])

    model_config = {"json_schema_extra": {"examples": [{"on": "2026-05-20", "approval_doc": "穗科券〔2026〕8号"}]}}


# ----- reports ---------------------------------------------------------------------------------------------


class UsageRegionOut(BaseModel):
    region: str
    redemptions: int
    claimed: str
    local: str
    cross_region_out: str = Field(description="claims of this region's vouchers at other regions' providers")
    cross_region_in: str = Field(description="claims of other regions' vouchers at this region's providers")


class UsageFlowOut(BaseModel):
    enterprise_region: str
    provider_region: str
    mode: str
    redemptions: int
    claimed: str
    enterprise_share: str
    provider_share: str


class VoucherUsageOut(BaseModel):
    year: int | None
    regions: list[UsageRegionOut]
    flows: list[UsageFlowOut]


class WriteDryRunOut(BaseModel):
    """What a money-moving call would do (``?dry_run=true``); nothing was written."""

    dry_run: Literal[True] = True
    code: str = Field(description="ok, or the code of the rule that would refuse it")
    message: str
    result: dict[str, Any] | None = Field(description="the would-be response body")
    binding_cap: str | None = Field(description="the cap or rule that binds (clips, warns or refuses)")
    room_left: str | None = Field(description="元 left under the binding cap, when the domain tells")
    detail_values: dict[str, Any] = Field(default_factory=dict)
