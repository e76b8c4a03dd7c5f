"""Checks over time, called by the scheduled limit-breach scan: each returns findings, never raises.

- at least 50% of fund size and at least 3x the guidance contribution in target enterprises by the end of
  the investment period (target = seed or start-up stage, or hard-tech: 投早投小投硬科技, 国科发区〔2022〕263号 专栏5);
- local re-investment (返投) at least the configured multiple of the guidance contribution;
- money idle (sub-fund cash not invested) more than the configured days;
- the investor structure once final (established, or capital called): the guidance fund's share of the fund
  within its bounds and never the largest investor, over all its commitments (a ``warn`` rule lets a breach
  through at approval; this scan keeps showing it until it is cured).

``check_pool`` finds enterprises whose loans filed in a year exceed the pool's annual cap (filed under a
``warn`` rule).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import date, timedelta
from fractions import Fraction

from sqlalchemy import func, select

from funds.codes import FundsCode
from funds.common import T_FLAGS, available_debit_balance_fen, fetch_one
from funds.config import BankAgreementTerms, FundPolicy, PoolPolicy
from funds.guidance import T_CALLS, T_COMMITMENTS, T_GUIDANCE, T_INVESTMENTS, T_SUBFUNDS, never_largest_breach, sf_book
from funds.pools import (
    POOL_CASH,
    T_AGREEMENTS,
    T_CLAIMS,
    T_CONTRIBUTIONS,
    T_FUNDERS,
    T_LOANS,
    T_POOLS,
    financial_book,
)
from ledger.engine import Ledger
from ledger.money import format_fen
from ledger.numbers import apply_ratio_down
from ledger.queries import balance


@dataclass(frozen=True, slots=True)
class Finding:
    code: FundsCode | str
    subject: str
    amount_fen: int | None
    limit_fen: int | None
    message: str
    citation: str = ""  # the rule's policy source
    region: str | None = None  # the region whose finance office oversees the subject
    excess_fen: int | None = None  # how far past the limit, where "the distance to the limit" is not it


def _is_target(investment: dict) -> bool:
    return investment["stage"] in ("seed", "start_up") or bool(investment["hard_tech"])


def check_subfund(ledger: Ledger, subfund_code: str, as_of: date) -> list[Finding]:
    with ledger.engine.connect() as c:
        subfund = fetch_one(c, T_SUBFUNDS, "sub-fund", code=subfund_code)
        fund = fetch_one(c, T_GUIDANCE, "guidance fund", id=subfund["guidance_fund_id"])
        policy = FundPolicy.model_validate_json(fund["policy_json"])
        investments = [
            dict(row)
            for row in c.execute(
                select(T_INVESTMENTS).where(
                    T_INVESTMENTS.c.subfund_id == subfund["id"], T_INVESTMENTS.c.invested_on <= as_of
                )
            ).mappings()
        ]
        structure = [
            dict(row)
            for row in c.execute(
                select(T_COMMITMENTS).where(
                    T_COMMITMENTS.c.subfund_id == subfund["id"], T_COMMITMENTS.c.status == "approved"
                )
            ).mappings()
        ]
        called = c.execute(
            select(T_CALLS.c.id).where(
                T_CALLS.c.subfund_id == subfund["id"],
                T_CALLS.c.status.in_(("approved", "paid")),
                T_CALLS.c.notice_on <= as_of,
            )
        ).first()
    guidance_fen = sum(row["amount_fen"] for row in structure if row["is_guidance"])
    findings: list[Finding] = []
    established = subfund["first_close_on"] is not None and subfund["first_close_on"] <= as_of
    if established or called is not None:
        findings += _structure_findings(policy, subfund, structure, guidance_fen)
    target_fen = sum(row["amount_fen"] for row in investments if _is_target(row))
    local_fen = sum(row["amount_fen"] for row in investments if row["is_local"])
    if as_of >= subfund["investment_period_end"]:
        need = apply_ratio_down(subfund["size_fen"], policy.target_investment_min_of_size.ratio())
        if target_fen < need:
            findings.append(
                Finding(
                    FundsCode.TARGET_INVESTMENT_BELOW_FUND_SHARE,
                    subfund_code,
                    target_fen,
                    need,
                    f"target enterprises hold {target_fen} fen, below {policy.target_investment_min_of_size.value} "
                    f"of the fund ({policy.target_investment_min_of_size.source})",
                    citation=policy.target_investment_min_of_size.source,
                )
            )
        need = apply_ratio_down(guidance_fen, policy.target_investment_min_multiple.ratio())
        if target_fen < need:
            findings.append(
                Finding(
                    FundsCode.TARGET_INVESTMENT_BELOW_GUIDANCE_MULTIPLE,
                    subfund_code,
                    target_fen,
                    need,
                    f"target enterprises hold less than {policy.target_investment_min_multiple.value}× the "
                    f"guidance contribution ({policy.target_investment_min_multiple.source})",
                    citation=policy.target_investment_min_multiple.source,
                )
            )
        need = apply_ratio_down(guidance_fen, policy.local_reinvestment_multiple.ratio())
        if local_fen < need:
            findings.append(
                Finding(
                    FundsCode.LOCAL_REINVESTMENT_BELOW_MULTIPLE,
                    subfund_code,
                    local_fen,
                    need,
                    f"local re-investment (返投) below {policy.local_reinvestment_multiple.value}× the guidance "
                    f"contribution ({policy.local_reinvestment_multiple.source})",
                    citation=policy.local_reinvestment_multiple.source,
                )
            )
    findings += _idle_money(ledger, subfund_code, policy, as_of)
    return findings


def _structure_findings(policy: FundPolicy, subfund: dict, structure: list[dict], guidance_fen: int) -> list[Finding]:
    findings = []
    size_fen = subfund["size_fen"]
    low_fen = math.ceil(size_fen * policy.guidance_share_min.ratio())  # the share is at least the minimum
    high_fen = apply_ratio_down(size_fen, policy.guidance_share_max.ratio())
    if guidance_fen and not (low_fen <= guidance_fen <= high_fen):
        findings.append(
            Finding(
                FundsCode.GUIDANCE_SHARE_OUT_OF_BOUNDS,
                subfund["code"],
                guidance_fen,
                high_fen if guidance_fen > high_fen else low_fen,
                f"the guidance fund holds {guidance_fen} fen of a {size_fen} fen fund, outside "
                f"{policy.guidance_share_min.value}–{policy.guidance_share_max.value} "
                f"({policy.guidance_share_max.source})",
                citation=policy.guidance_share_max.source,
            )
        )
    breach = never_largest_breach(policy, structure)
    if breach is not None:
        findings.append(
            Finding(
                FundsCode.GUIDANCE_MUST_NOT_BE_LARGEST_INVESTOR,
                subfund["code"],
                breach[0],
                breach[1],
                f"the guidance fund's {breach[0]} fen is not below the largest other investor's {breach[1]} fen "
                f"({policy.guidance_never_largest.source})",
                citation=policy.guidance_never_largest.source,
            )
        )
    return findings


def check_pool(ledger: Ledger, pool_code: str) -> list[Finding]:
    """Enterprises whose filed loans in a year exceed the pool's annual cap (let through by a ``warn`` rule)."""
    with ledger.engine.connect() as c:
        pool = fetch_one(c, T_POOLS, "pool", code=pool_code)
        rule = PoolPolicy.model_validate_json(pool["policy_json"]).enterprise_annual_filed_loans_cap
        if rule is None:
            return []
        totals: dict[tuple[str, int], int] = {}
        for enterprise, disbursed_on, covered_fen in c.execute(
            select(T_LOANS.c.enterprise_code, T_LOANS.c.disbursed_on, T_LOANS.c.covered_fen).where(
                T_LOANS.c.pool_id == pool["id"], T_LOANS.c.status != "revoked"
            )
        ):
            key = (enterprise, disbursed_on.year)
            totals[key] = totals.get(key, 0) + covered_fen
    cap_fen = rule.fen()
    return [
        Finding(
            FundsCode.ENTERPRISE_ANNUAL_FILED_LOANS_CAP_EXCEEDED,
            f"{pool_code}:{enterprise}:{year}",
            filed_fen,
            cap_fen,
            f"enterprise {enterprise} has {filed_fen} fen of loans filed in {year}, above {rule.value} ({rule.source})",
            citation=rule.source,
        )
        for (enterprise, year), filed_fen in sorted(totals.items())
        if filed_fen > cap_fen
    ]


def _idle_money(ledger: Ledger, subfund_code: str, policy: FundPolicy, as_of: date) -> list[Finding]:
    """Cash held a year ago and never spent since: the lowest balance over the window is idle money."""
    days = policy.idle_money_max_days.count()
    start = as_of - timedelta(days=days)
    book = sf_book(subfund_code)
    held_then = balance(ledger, book, "Assets:Bank", as_of=start).balance_fen
    if held_then <= 0:
        return []
    spent = balance(ledger, book, "Assets:Bank", as_of=as_of)
    outflows_since = spent.credits_fen - balance(ledger, book, "Assets:Bank", as_of=start).credits_fen
    idle_fen = held_then - min(held_then, outflows_since)
    if idle_fen <= 0:
        return []
    return [
        Finding(
            FundsCode.MONEY_IDLE_TOO_LONG,
            subfund_code,
            idle_fen,
            0,
            f"{idle_fen} fen held since {start} has not been used in {days} days ({policy.idle_money_max_days.source})",
            citation=policy.idle_money_max_days.source,
        )
    ]


# ----- the whole scan ---------------------------------------------------------------------------------

POOL_BALANCE_NEAR_EXHAUSTION = "pool_balance_near_exhaustion"
BANK_ANNUAL_CAP_NEARLY_USED = "bank_annual_cap_nearly_used"
# Rules checked when recorded that a ``warn`` enforcement let through, and nothing re-checks over time:
# the recorded flag is the finding (the structure and filing caps are re-checked live above instead).
FLAGGED_ONLY_CODES = (FundsCode.FIRST_CALL_BELOW_MINIMUM, FundsCode.FEE_RATE_ABOVE_CAP)
SCAN_KINDS = tuple(
    sorted(
        {
            *(str(code) for code in FLAGGED_ONLY_CODES),
            str(FundsCode.GUIDANCE_SHARE_OUT_OF_BOUNDS),
            str(FundsCode.GUIDANCE_MUST_NOT_BE_LARGEST_INVESTOR),
            str(FundsCode.TARGET_INVESTMENT_BELOW_FUND_SHARE),
            str(FundsCode.TARGET_INVESTMENT_BELOW_GUIDANCE_MULTIPLE),
            str(FundsCode.LOCAL_REINVESTMENT_BELOW_MULTIPLE),
            str(FundsCode.MONEY_IDLE_TOO_LONG),
            str(FundsCode.ENTERPRISE_ANNUAL_FILED_LOANS_CAP_EXCEEDED),
            POOL_BALANCE_NEAR_EXHAUSTION,
            BANK_ANNUAL_CAP_NEARLY_USED,
        }
    )
)
POOL_RUNS_AT_LEVEL = "city"  # the level whose finance office runs a pool (资金池) and sees its alerts


@dataclass(frozen=True, slots=True)
class ScanThresholds:
    """When a limit counts as nearly reached (operational settings of the scan, not policy numbers)."""

    pool_remaining_min: Fraction  # a pool holding less than this share of what was paid into it
    bank_annual_cap_near: Fraction  # a bank whose claims in a year reached this share of its annual cap


def scan_funds(ledger: Ledger, as_of: date, thresholds: ScanThresholds) -> list[Finding]:
    """Every funds rule over every sub-fund and pool, each finding with the region that oversees it."""
    with ledger.engine.connect() as c:
        subfunds = c.execute(
            select(T_SUBFUNDS.c.code, T_GUIDANCE.c.region_code)
            .join(T_GUIDANCE, T_GUIDANCE.c.id == T_SUBFUNDS.c.guidance_fund_id)
            .order_by(T_SUBFUNDS.c.code)
        ).all()
        pools = c.execute(select(T_POOLS.c.code, T_POOLS.c.id).order_by(T_POOLS.c.code)).all()
        pool_regions = {pool_id: _pool_region(c, pool_id) for _code, pool_id in pools}
    found: list[Finding] = []
    for code, region in subfunds:
        found += [replace(finding, region=region) for finding in check_subfund(ledger, code, as_of)]
    for code, pool_id in pools:
        pool_findings = check_pool(ledger, code) + check_pool_balance(ledger, code, thresholds.pool_remaining_min)
        pool_findings += check_bank_annual_caps(ledger, code, thresholds.bank_annual_cap_near)
        found += [replace(finding, region=pool_regions[pool_id]) for finding in pool_findings]
    return found + check_flagged(ledger)


def _pool_region(c, pool_id: int) -> str | None:  # noqa: ANN001 - a Connection
    funders = c.execute(
        select(T_FUNDERS.c.funder_code, T_FUNDERS.c.level)
        .where(T_FUNDERS.c.pool_id == pool_id)
        .order_by(T_FUNDERS.c.position)
    ).all()
    running = [code for code, level in funders if level == POOL_RUNS_AT_LEVEL]
    return (running or [code for code, _level in funders] or [None])[0]


def check_pool_balance(ledger: Ledger, pool_code: str, remaining_min: Fraction) -> list[Finding]:
    """A pool whose cash fell below ``remaining_min`` of all that its funders paid in: near exhaustion."""
    with ledger.engine.connect() as c:
        pool = fetch_one(c, T_POOLS, "pool", code=pool_code)
        contributed_fen = int(
            c.execute(
                select(func.coalesce(func.sum(T_CONTRIBUTIONS.c.amount_fen), 0)).where(
                    T_CONTRIBUTIONS.c.pool_id == pool["id"]
                )
            ).scalar_one()
        )
        balance_fen = available_debit_balance_fen(c, financial_book(pool_code), POOL_CASH)
    threshold_fen = apply_ratio_down(contributed_fen, remaining_min)
    if contributed_fen <= 0 or balance_fen >= threshold_fen:
        return []
    return [
        Finding(
            POOL_BALANCE_NEAR_EXHAUSTION,
            pool_code,
            balance_fen,
            threshold_fen,
            f"pool {pool_code} holds {format_fen(balance_fen)} of the {format_fen(contributed_fen)} paid in, below "
            f"the {remaining_min} warning level of {format_fen(threshold_fen)}",
            citation="scan setting: pool_remaining_min",
            excess_fen=threshold_fen - balance_fen,
        )
    ]


def check_bank_annual_caps(ledger: Ledger, pool_code: str, near: Fraction) -> list[Finding]:
    """Banks whose compensation entitled in a program year reached ``near`` of their annual cap."""
    findings = []
    with ledger.engine.connect() as c:
        pool = fetch_one(c, T_POOLS, "pool", code=pool_code)
        agreements = c.execute(
            select(T_AGREEMENTS.c.bank_code, T_AGREEMENTS.c.terms_json)
            .where(T_AGREEMENTS.c.pool_id == pool["id"])
            .order_by(T_AGREEMENTS.c.bank_code)
        ).all()
        for bank, terms_json in agreements:
            terms = BankAgreementTerms.model_validate_json(terms_json)
            cap_fen = terms.cap_fen(terms.bank_annual_cap)
            if cap_fen is None:
                continue
            threshold_fen = apply_ratio_down(cap_fen, near)
            used_by_year = c.execute(
                select(T_CLAIMS.c.program_year, func.sum(T_CLAIMS.c.entitled_fen))
                .where(
                    T_CLAIMS.c.pool_id == pool["id"],
                    T_CLAIMS.c.bank_code == bank,
                    T_CLAIMS.c.status.in_(("approved", "paid")),
                )
                .group_by(T_CLAIMS.c.program_year)
                .order_by(T_CLAIMS.c.program_year)
            ).all()
            for year, used in used_by_year:
                if int(used) < threshold_fen:
                    continue
                findings.append(
                    Finding(
                        BANK_ANNUAL_CAP_NEARLY_USED,
                        f"{pool_code}:{bank}:{year}",
                        int(used),
                        cap_fen,
                        f"bank {bank} has {format_fen(int(used))} of compensation in {year}, {near} or more of its "
                        f"annual cap of {format_fen(cap_fen)}",
                        citation=terms.source,
                        excess_fen=int(used) - threshold_fen,
                    )
                )
    return findings


def check_flagged(ledger: Ledger) -> list[Finding]:
    """First calls below the minimum and fee rates above the cap, recorded under a ``warn`` rule."""
    codes = [str(code) for code in FLAGGED_ONLY_CODES]
    with ledger.engine.connect() as c:
        flags = c.execute(
            select(T_FLAGS).where(T_FLAGS.c.enforcement == "warn", T_FLAGS.c.code.in_(codes)).order_by(T_FLAGS.c.id)
        ).mappings()
        findings = []
        for flag in flags.all():
            subfund_id = flag["subject_id"]
            if flag["subject_type"] == "capital_call":
                subfund_id = c.execute(select(T_CALLS.c.subfund_id).where(T_CALLS.c.id == flag["subject_id"])).scalar()
            subfund = c.execute(
                select(T_SUBFUNDS.c.code, T_GUIDANCE.c.region_code, T_GUIDANCE.c.policy_json)
                .join(T_GUIDANCE, T_GUIDANCE.c.id == T_SUBFUNDS.c.guidance_fund_id)
                .where(T_SUBFUNDS.c.id == subfund_id)
            ).first()
            if subfund is None:
                continue
            policy = FundPolicy.model_validate_json(subfund.policy_json)
            rule = policy.first_call_min if flag["code"] == FundsCode.FIRST_CALL_BELOW_MINIMUM else policy.fee_rate_cap
            findings.append(
                Finding(
                    flag["code"],
                    f"{subfund.code}:{flag['subject_type']}-{flag['subject_id']}",
                    flag["amount_fen"] or None,
                    flag["limit_fen"] or None,
                    flag["message"],
                    citation=rule.source,
                    region=subfund.region_code,
                )
            )
    return findings


__all__ = ["Finding", "ScanThresholds", "check_pool", "check_subfund", "scan_funds"]
