"""Voucher program configuration: every amount carries its unit, every ratio is exact, every number cites
its source (../shared/POLICY_SOURCES.md). Parsed once into fen and fractions; stored as given."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import date
from fractions import Fraction

from ledger.entities import validate_region_code
from ledger.errors import LedgerError
from ledger.numbers import parse_amount_fen, parse_date, parse_ratio
from vouchers.codes import VoucherCode

REGION_MATCH_LEVELS = ("province", "city", "county")
CAP_ENFORCEMENTS = ("stop", "clip", "warn")
CROSS_REGION_MODES = ("tongdui", "tongyong")  # 通兑: provider redeems; 通用: enterprise pays, is reimbursed
YEAR_END_MODES = ("recover", "carry_over")  # 收回 to the treasury, or 结转 into a later program of the region
DEFAULT_YEAR_END = "recover"
PROGRAM_CODE_MAX_LENGTH = 40

# Defaults with their sources. A program overrides any of them in its own configuration.
DEFAULT_SOURCES: dict[str, str] = {
    "program": "国办发〔2016〕28号 第22条 (创新券); 国科办区〔2020〕50号 第五条 (全覆盖, 跨区域互通互认)",
    "copay_ratio": "上海科技创新券: ≤50% of the service contract",
    "enterprise_annual_cap": "上海科技创新券: ≤50万 per firm per year; 长三角双创券 pilot: ≤10万 per firm per year",
    "per_application": "浙江玉环创新券: 2万 per application, 10万 a year",
    "cross_region_split": "长三角双创券 pilot: 2/3 by the enterprise's region, 1/3 by the provider's region",
    "region_match_level": "国科发区〔2022〕263号 专栏7 (跨区域互通互认); 国家高新区规划 专栏8 (通用通兑)",
    "payout": "上海科技创新券: quarterly payout to providers",
}
DEFAULT_CROSS_REGION_SPLIT = "2/3"


def _refuse(message: str, **detail) -> LedgerError:
    return LedgerError(VoucherCode.PROGRAM_CONFIG_INVALID, message, **detail)


@dataclass(frozen=True)
class ProgramConfig:
    """A voucher program of one issuing region and fiscal year, as configured (amounts with units)."""

    code: str
    name: str
    region_code: str
    year: int
    budget: str  # e.g. "500万"
    enterprise_annual_cap: str  # e.g. "50万"
    per_application: str  # e.g. "20万"
    copay_ratio: str  # e.g. "50%": the share of a service contract a voucher may cover
    categories: tuple[str, ...]
    use_by: date  # last day a reservation may be made
    redeem_by: date  # last day a provider's claim may be verified
    recognized_regions: tuple[str, ...] = ()  # regions whose certified providers are accepted (互认)
    region_match_level: str = "city"  # two regions differ when their codes differ at this level
    cross_region_split: str = DEFAULT_CROSS_REGION_SPLIT  # the enterprise's region's share
    cap_enforcement: str = "stop"  # stop: refuse beyond cap/budget; clip: grant the room left (核减); warn: grant, flag
    # What the year-end close does with the budget left once the program is over (vouchers.year_end).
    year_end: str = DEFAULT_YEAR_END
    carry_over_to: str | None = None  # under carry_over: the later program of the same region that receives it
    sources: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_SOURCES))

    @classmethod
    def from_dict(cls, values: dict) -> ProgramConfig:
        values = dict(values)
        for key in ("use_by", "redeem_by"):
            values[key] = parse_date(values[key])
        values["categories"] = tuple(values.get("categories", ()))
        values["recognized_regions"] = tuple(values.get("recognized_regions", ()))
        config = cls(**values)
        config.validate()
        return config

    def to_json(self) -> str:
        data = asdict(self)
        data["use_by"], data["redeem_by"] = self.use_by.isoformat(), self.redeem_by.isoformat()
        # Left out at their defaults, so a program stored before these fields existed still reads as the same
        # configuration (create_program compares the stored text).
        if data["year_end"] == DEFAULT_YEAR_END and data["carry_over_to"] is None:
            del data["year_end"], data["carry_over_to"]
        return json.dumps(data, ensure_ascii=False, sort_keys=True)

    # parsed values ------------------------------------------------------------------------------

    @property
    def budget_fen(self) -> int:
        return parse_amount_fen(self.budget)

    @property
    def enterprise_annual_cap_fen(self) -> int:
        return parse_amount_fen(self.enterprise_annual_cap)

    @property
    def per_application_fen(self) -> int:
        return parse_amount_fen(self.per_application)

    @property
    def copay(self) -> Fraction:
        return parse_ratio(self.copay_ratio)

    @property
    def enterprise_region_share(self) -> Fraction:
        return parse_ratio(self.cross_region_split)

    @property
    def accepted_provider_regions(self) -> tuple[str, ...]:
        return (self.region_code, *[code for code in self.recognized_regions if code != self.region_code])

    def validate(self) -> None:
        if not self.code or len(self.code) > PROGRAM_CODE_MAX_LENGTH or ":" in self.code or " " in self.code:
            raise _refuse(f"program code {self.code!r} must be 1-{PROGRAM_CODE_MAX_LENGTH} characters, no ':' or space")
        validate_region_code(self.region_code)
        for code in self.recognized_regions:
            validate_region_code(code)
        for name in ("budget_fen", "enterprise_annual_cap_fen", "per_application_fen"):
            if getattr(self, name) <= 0:
                raise _refuse(f"{name.removesuffix('_fen')} must be greater than zero")
        if not 0 < self.copay <= 1:
            raise _refuse(f"co-pay ratio {self.copay_ratio!r} must be above 0 and at most 100%")
        if not 0 <= self.enterprise_region_share <= 1:
            raise _refuse(f"cross-region split {self.cross_region_split!r} must be between 0 and 1")
        if self.region_match_level not in REGION_MATCH_LEVELS:
            raise _refuse(f"region match level {self.region_match_level!r} is not one of {REGION_MATCH_LEVELS}")
        if self.cap_enforcement not in CAP_ENFORCEMENTS:
            raise _refuse(f"cap enforcement {self.cap_enforcement!r} is not one of {CAP_ENFORCEMENTS}")
        if not self.categories:
            raise _refuse("a program covers at least one service category")
        if self.redeem_by < self.use_by:
            raise _refuse("the redeem-by date cannot be before the use-by date")
        if self.use_by.year < self.year:
            raise _refuse("the use-by date cannot be before the program year")
        if self.year_end not in YEAR_END_MODES:
            raise _refuse(f"year-end {self.year_end!r} is not one of {YEAR_END_MODES}")
        if (self.year_end == "carry_over") != (self.carry_over_to is not None):
            raise _refuse("a program that carries over (结转) names the program it carries over to, and only then")
        if self.carry_over_to == self.code:
            raise _refuse("a program cannot carry over into itself")
