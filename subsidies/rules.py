"""Pure rule pieces: the amount formula and the caps, checked in a stated order. No storage here.

Order of the caps (narrowest first, so the recorded binding rule is the most specific one):
per-claim -> institution per year -> institution lifetime -> awardees per year -> program budget.
Each cap sees the amount left by the caps before it; a ``warn`` cap lets the amount through, so it counts
toward the caps after it (and, once granted, toward later applications).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction

from ledger.errors import LedgerError
from ledger.money import format_fen
from ledger.numbers import apply_ratio_down
from subsidies.codes import SubsidyCode
from subsidies.config import (
    AmountFormula,
    ClaimedAmount,
    FixedAmount,
    ProgramConfig,
    RateAmount,
    ScheduleAmount,
    TieredAmount,
)

CAP_ORDER = ("per_claim", "institution_year", "lifetime", "awardees_per_year", "program_budget")
CAP_CODES = {
    "per_claim": SubsidyCode.CLAIM_MUST_NOT_EXCEED_PER_CLAIM_CAP,
    "institution_year": SubsidyCode.INSTITUTION_YEAR_TOTAL_MUST_NOT_EXCEED_CAP,
    "lifetime": SubsidyCode.INSTITUTION_LIFETIME_TOTAL_MUST_NOT_EXCEED_CAP,
    "awardees_per_year": SubsidyCode.AWARDEES_PER_YEAR_MUST_NOT_EXCEED_LIMIT,
    "program_budget": SubsidyCode.GRANTS_MUST_NOT_EXCEED_PROGRAM_BUDGET,
}


# ----- amount formulas ------------------------------------------------------------------------------


def tiered_amount_fen(base_fen: int, tiers: list[tuple[int | None, Fraction]]) -> int:
    """Marginal rates on slices of the base, summed exactly and rounded down once (never per slice)."""
    total = Fraction(0)
    lower = 0
    for upper, ratio in tiers:
        top = base_fen if upper is None else min(base_fen, upper)
        if top > lower:
            total += (top - lower) * ratio
        if upper is None or base_fen <= upper:
            break
        lower = upper
    return apply_ratio_down(1, total)


def _base(figures: Mapping[str, int], name: str) -> int:
    if name not in figures:
        raise LedgerError(
            SubsidyCode.BASE_FIGURE_REQUIRED, f"the application needs the base figure {name!r}", base=name
        )
    value = figures[name]
    if value < 0:
        raise LedgerError(SubsidyCode.BASE_FIGURE_MUST_NOT_BE_NEGATIVE, f"base figure {name!r} is negative", base=name)
    return value


def compute_amount_fen(formula: AmountFormula, figures: Mapping[str, int], schedule_year_index: int = 0) -> int:
    """What the formula gives before any cap. ``schedule_year_index`` is 0 in the first award year."""
    if isinstance(formula, FixedAmount):
        amount = formula.amount
    elif isinstance(formula, ClaimedAmount):
        amount = _base(figures, formula.base)
    elif isinstance(formula, RateAmount):
        amount = apply_ratio_down(_base(figures, formula.base), formula.exact_ratio)
    elif isinstance(formula, TieredAmount):
        tiers = [(tier.up_to, tier.ratio) for tier in formula.tiers]
        amount = tiered_amount_fen(_base(figures, formula.base), tiers)
    elif isinstance(formula, ScheduleAmount):
        if not 0 <= schedule_year_index < len(formula.amounts):
            raise LedgerError(
                SubsidyCode.SCHEDULE_YEARS_EXHAUSTED,
                f"the schedule covers {len(formula.amounts)} consecutive years from the first award; "
                f"this would be year {schedule_year_index + 1}",
                schedule_years=len(formula.amounts),
            )
        amount = formula.amounts[schedule_year_index]
    else:  # pragma: no cover - the discriminated union admits nothing else
        raise TypeError(f"unknown formula {formula!r}")
    if amount <= 0:
        raise LedgerError(SubsidyCode.COMPUTED_AMOUNT_MUST_BE_POSITIVE, "the formula gives nothing to grant")
    return amount


# ----- caps -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Usage:
    """What is already consumed where the application would land (approved grants, paid or not)."""

    institution_year_fen: int = 0
    institution_lifetime_fen: int = 0
    awardees_this_year: int = 0
    already_awardee_this_year: bool = False
    budget_room_fen: int = 0


@dataclass(frozen=True, slots=True)
class CapCheck:
    """A cap that bound (clip) or was overrun (warn): recorded with the grant for audit."""

    rule: str
    enforcement: str
    code: str
    requested_fen: int
    granted_fen: int
    limit: int  # fen, or a count for awardees_per_year
    room: int  # fen or places left before this grant; never negative


@dataclass(frozen=True, slots=True)
class Decision:
    computed_fen: int
    granted_fen: int
    flags: tuple[CapCheck, ...]


@dataclass(frozen=True, slots=True)
class _Rule:
    kind: str
    enforcement: str
    limit: int
    room: int
    counts_places: bool = False


def _rules(program: ProgramConfig, usage: Usage) -> list[_Rule]:
    rules = []
    for cap in program.caps:
        if cap.kind == "per_claim":
            rules.append(_Rule("per_claim", cap.enforcement, cap.amount, cap.amount))
        elif cap.kind == "institution_year":
            rules.append(_Rule(cap.kind, cap.enforcement, cap.amount, cap.amount - usage.institution_year_fen))
        elif cap.kind == "lifetime":
            rules.append(_Rule(cap.kind, cap.enforcement, cap.amount, cap.amount - usage.institution_lifetime_fen))
        else:
            places_left = 1 if usage.already_awardee_this_year else cap.count - usage.awardees_this_year
            rules.append(_Rule(cap.kind, cap.enforcement, cap.count, places_left, counts_places=True))
    budget = program.budget
    rules.append(_Rule("program_budget", budget.enforcement, budget.per_year, usage.budget_room_fen))
    return sorted(rules, key=lambda rule: CAP_ORDER.index(rule.kind))


def _refuse(rule: _Rule, requested_fen: int) -> LedgerError:
    room = max(rule.room, 0)
    if rule.counts_places:
        message = f"the {rule.kind} limit of {rule.limit} awardees is reached ({room} places left)"
        return LedgerError(CAP_CODES[rule.kind], message, rule=rule.kind, limit=rule.limit, room_left=room)
    message = (
        f"{format_fen(requested_fen)} exceeds the {rule.kind} cap of {format_fen(rule.limit)}: {format_fen(room)} left"
    )
    return LedgerError(
        CAP_CODES[rule.kind],
        message,
        rule=rule.kind,
        limit=format_fen(rule.limit),
        room_left=format_fen(room),
        requested=format_fen(requested_fen),
    )


def decide(program: ProgramConfig, computed_fen: int, usage: Usage) -> Decision:
    """Check every cap in ``CAP_ORDER``; stop raises, clip lowers the amount, warn flags it."""
    amount = computed_fen
    flags: list[CapCheck] = []
    for rule in _rules(program, usage):
        over = rule.room < 1 if rule.counts_places else amount > rule.room
        if not over:
            continue
        if rule.enforcement == "stop" or (rule.enforcement == "clip" and rule.room <= 0):
            raise _refuse(rule, amount)
        granted = rule.room if rule.enforcement == "clip" else amount
        flags.append(
            CapCheck(rule.kind, rule.enforcement, CAP_CODES[rule.kind], amount, granted, rule.limit, max(rule.room, 0))
        )
        amount = granted
    return Decision(computed_fen, amount, tuple(flags))
