"""Request and response models of the approvals queue."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

from api.schemas.vouchers import DOCUMENT_MAX_LENGTH, REASON_MAX_LENGTH, DomainIn


class ApprovalItemOut(BaseModel):
    id: str = Field(description="<kind>:<id>, the item's address under /v1/approvals", examples=["voucher_grant:12"])
    kind: str
    subject: str
    region: str | None
    other_region: str | None = None
    institution: str | None
    amount: str | None
    recorded_by: str
    recorded: str = Field(description="when it was recorded: a date or an RFC 3339 moment")
    summary: str
    # What the scope check needs, never shown: a cash request's (kind, fund or pool); a sub-fund item's
    # (guidance fund, region, sub-fund); a pool claim's funding levels.
    funds_subject: tuple[str, str] | None = Field(default=None, exclude=True)
    fund_scope: tuple[str, str, str] | None = Field(default=None, exclude=True)
    pool_funders: tuple[str, ...] = Field(default=(), exclude=True)


class ApprovalIn(DomainIn):
    approval_doc: str = Field(min_length=1, max_length=DOCUMENT_MAX_LENGTH, examples=["穗科券〔2026〕12号"])
    on: date = Field(examples=["2026-03-10"])

    model_config = {"json_schema_extra": {"examples": [{"approval_doc": "穗科券〔2026〕12号", "on": "2026-03-10"}]}}


class RejectionIn(DomainIn):
    reason: str = Field(min_length=1, max_length=REASON_MAX_LENGTH, examples=["材料不全"])
    on: date = Field(examples=["2026-03-10"])

    model_config = {"json_schema_extra": {"examples": [{"reason": "材料不全", "on": "2026-03-10"}]}}


class DecisionOut(BaseModel):
    id: str
    kind: str
    status: str
    decided_by: str
    result: dict = Field(default_factory=dict, description="what the owning domain's service returned")
