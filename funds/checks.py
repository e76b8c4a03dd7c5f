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
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select

from funds.codes import FundsCode
from funds.common import fetch_one
from funds.config import FundPolicy, PoolPolicy
from funds.guidance import T_CALLS, T_COMMITMENTS, T_GUIDANCE, T_INVESTMENTS, T_SUBFUNDS, never_largest_breach, sf_book
from funds.pools import T_LOANS, T_POOLS
from ledger.engine import Ledger
from ledger.numbers import apply_ratio_down
from ledger.queries import balance


@dataclass(frozen=True, slots=True)
class Finding:
    code: FundsCode
    subject: str
    amount_fen: int
    limit_fen: int
    message: str


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
        )
    ]


__all__ = ["Finding", "check_pool", "check_subfund"]
