"""Program definitions: TOML read with ``tomllib``, validated by pydantic, every rule citing its source.

Amounts carry units ("1000万", "0.5万", "2亿") and become integer fen; ratios are exact ("0.5%", "2/3")
and become ``Fraction``. A float anywhere is refused. A validation error names the field
(``caps.1.amount``), so a finance officer can fix the file.
"""

from __future__ import annotations

import tomllib
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, ValidationError, model_validator

from ledger.errors import LedgerError
from ledger.numbers import parse_amount_fen, parse_ratio
from subsidies.codes import SubsidyCode

Enforcement = Literal["stop", "clip", "warn"]
YearEnd = Literal["carry_over", "recover"]
PROGRAM_CODE_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
BASE_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"
YEAR_MIN, YEAR_MAX = 2000, 2100
TIERS_MAX = 20
SCHEDULE_YEARS_MAX = 20
AWARDEES_PER_YEAR_MAX = 100_000


def _amount_fen(value: object) -> int:
    """A configured amount with its unit, as fen. Floats are refused (TOML 0.5 would be a float)."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f'amount {value!r} must be a string with a unit, e.g. "1000万"')
    try:
        fen = parse_amount_fen(value)
    except LedgerError as error:
        raise ValueError(error.message) from None
    if fen <= 0:
        raise ValueError(f"amount {value!r} must be greater than zero")
    return fen


def _ratio(value: object) -> Fraction:
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError(f'ratio {value!r} must be a string such as "0.5%" or "2/3"')
    try:
        ratio = parse_ratio(value)
    except LedgerError as error:
        raise ValueError(error.message) from None
    if ratio <= 0:
        raise ValueError(f"ratio {value!r} must be greater than zero")
    return ratio


AmountFen = Annotated[int, PlainValidator(_amount_fen)]
Ratio = Annotated[Fraction, PlainValidator(_ratio)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


class Source(_Strict):
    """Where a number comes from: the document and its article (see POLICY_SOURCES.md)."""

    document: str = Field(min_length=1, max_length=400)
    article: str = Field(min_length=1, max_length=200)


class FixedAmount(_Strict):
    """The same amount to every awardee (每家补助经费50万元)."""

    kind: Literal["fixed"]
    amount: AmountFen
    source: Source


class ClaimedAmount(_Strict):
    """The amount is the applicant's own base figure (e.g. the retained award income to be subsidised)."""

    kind: Literal["claimed"]
    base: str = Field(pattern=BASE_NAME_PATTERN)
    source: Source


class RateAmount(_Strict):
    """Rate x base, rounded down: either ``ratio = "0.005%"`` or ``amount = "0.5万"`` per ``per = "1亿"``."""

    kind: Literal["rate"]
    base: str = Field(pattern=BASE_NAME_PATTERN)
    ratio: Ratio | None = None
    amount: AmountFen | None = None
    per: AmountFen | None = None
    source: Source

    @model_validator(mode="after")
    def _one_way_of_writing_the_rate(self) -> RateAmount:
        written_as_ratio = self.ratio is not None
        written_as_amount_per = self.amount is not None or self.per is not None
        if written_as_ratio == written_as_amount_per:
            raise ValueError('give either ratio = "0.005%" or both amount = "0.5万" and per = "1亿"')
        if written_as_amount_per and (self.amount is None or self.per is None):
            raise ValueError("a rate written as amount per base needs both amount and per")
        return self

    @property
    def exact_ratio(self) -> Fraction:
        if self.ratio is not None:
            return self.ratio
        return Fraction(self.amount, self.per)


class Tier(_Strict):
    up_to: AmountFen | None = None
    ratio: Ratio


class TieredAmount(_Strict):
    """Marginal rates: each tier's ratio applies to the slice of the base inside it (0.5% of the first 3000万...)."""

    kind: Literal["tiered"]
    base: str = Field(pattern=BASE_NAME_PATTERN)
    tiers: list[Tier] = Field(min_length=1, max_length=TIERS_MAX)
    source: Source

    @model_validator(mode="after")
    def _tiers_ascend_and_the_last_is_open(self) -> TieredAmount:
        bounds = [tier.up_to for tier in self.tiers]
        if bounds[-1] is not None:
            raise ValueError("the last tier must have no up_to (it covers everything above)")
        closed = bounds[:-1]
        if any(bound is None for bound in closed):
            raise ValueError("only the last tier may omit up_to")
        if any(later <= earlier for earlier, later in zip(closed, closed[1:])):
            raise ValueError("tier bounds (up_to) must strictly ascend")
        return self


class ScheduleAmount(_Strict):
    """Multi-year schedule: ``amounts[i]`` in the i-th consecutive year from the institution's first award."""

    kind: Literal["schedule"]
    amounts: list[AmountFen] = Field(min_length=1, max_length=SCHEDULE_YEARS_MAX)
    source: Source


AmountFormula = Annotated[
    FixedAmount | ClaimedAmount | RateAmount | TieredAmount | ScheduleAmount, Field(discriminator="kind")
]


class Cap(_Strict):
    """One cap with its enforcement. ``amount`` caps: per_claim, institution_year, lifetime. ``count``: awardees."""

    kind: Literal["per_claim", "institution_year", "lifetime", "awardees_per_year"]
    amount: AmountFen | None = None
    count: int | None = Field(default=None, ge=1, le=AWARDEES_PER_YEAR_MAX)
    enforcement: Enforcement
    source: Source

    @model_validator(mode="after")
    def _limit_matches_kind(self) -> Cap:
        if self.kind == "awardees_per_year":
            if self.count is None or self.amount is not None:
                raise ValueError("an awardees_per_year cap needs count (and no amount)")
            if self.enforcement == "clip":
                # An awardee cannot be granted "part of" a place: the count is stopped or warned, never clipped.
                raise ValueError("an awardees_per_year cap is enforced by stop or warn, not clip")
        elif self.amount is None or self.count is not None:
            raise ValueError(f"a {self.kind} cap needs amount (and no count)")
        return self


class Budget(_Strict):
    """The program budget per year (budgetary book) and what happens to the unused part at year-end."""

    per_year: AmountFen
    years: dict[str, AmountFen] = Field(default_factory=dict)
    enforcement: Enforcement
    year_end: YearEnd
    source: Source

    def for_year(self, year: int) -> int:
        return self.years.get(str(year), self.per_year)


class ProgramConfig(_Strict):
    code: str = Field(pattern=PROGRAM_CODE_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    region: str = Field(pattern=r"^[1-9][0-9]{5}$")
    budget_book: str = Field(min_length=1, max_length=64)
    financial_book: str = Field(min_length=1, max_length=64)
    first_year: int = Field(ge=YEAR_MIN, le=YEAR_MAX)
    last_year: int = Field(ge=YEAR_MIN, le=YEAR_MAX)
    source: Source
    amount: AmountFormula
    caps: list[Cap] = Field(default_factory=list, max_length=10)
    budget: Budget

    @model_validator(mode="after")
    def _years_and_caps_are_consistent(self) -> ProgramConfig:
        if self.last_year < self.first_year:
            raise ValueError("last_year must not be before first_year")
        kinds = [cap.kind for cap in self.caps]
        if len(kinds) != len(set(kinds)):
            raise ValueError("each cap kind may appear once per program")
        for year in self.budget.years:
            if not year.isdigit() or not self.first_year <= int(year) <= self.last_year:
                raise ValueError(f"budget.years has {year!r}, outside {self.first_year}-{self.last_year}")
        return self

    @property
    def years(self) -> range:
        return range(self.first_year, self.last_year + 1)

    def cap(self, kind: str) -> Cap | None:
        return next((cap for cap in self.caps if cap.kind == kind), None)


def _describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        location = ".".join(str(part) for part in item["loc"]) or "(program)"
        lines.append(f"{location}: {item['msg']}")
    return "; ".join(lines)


def parse_program(text: str) -> ProgramConfig:
    """Parse and validate one program definition; refuse it naming every bad field."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise LedgerError(SubsidyCode.PROGRAM_CONFIG_INVALID, f"program file is not valid TOML: {error}") from None
    try:
        return ProgramConfig.model_validate(raw)
    except ValidationError as error:
        raise LedgerError(
            SubsidyCode.PROGRAM_CONFIG_INVALID,
            f"program definition is invalid: {_describe(error)}",
            fields=[".".join(str(part) for part in item["loc"]) for item in error.errors()],
        ) from None


# Stored program texts parsed once per process: a stored text never changes meaning and its config is frozen,
# and parsing and validating one costs milliseconds, which every page and scope check listing programs paid.
STORED_PROGRAMS_CACHED = 512


@lru_cache(maxsize=STORED_PROGRAMS_CACHED)
def stored_program(text: str) -> ProgramConfig:
    """``parse_program`` of a program text as stored when it was installed (valid then), cached by the text."""
    return parse_program(text)


def load_program(path: Path) -> tuple[ProgramConfig, str]:
    text = path.read_text(encoding="utf-8")
    return parse_program(text), text


EXAMPLES_DIR = Path(__file__).parent / "examples"


def example_programs() -> list[tuple[ProgramConfig, str]]:
    """The shipped Guangzhou (and comparison) programs, in file-name order."""
    return [load_program(path) for path in sorted(EXAMPLES_DIR.glob("*.toml"))]
