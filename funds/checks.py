"""Checks over time, called by the scheduled limit-breach scan: each returns findings, never raises.

- at least 50% of fund size and at least 3x the guidance contribution in target enterprises by the end of
  the investment period (target = seed or start-up stage, or hard-tech: 投早投小投硬科技, 国科发区〔2022〕263号 专栏5);
- local re-investment (返投) at least the configured multiple of the guidance contribution;
- money idle (sub-fund cash not invested) more than the configured days.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select

from funds.codes import FundsCode
from funds.common import fetch_one
from funds.config import FundPolicy
from funds.guidance import T_COMMITMENTS, T_GUIDANCE, T_INVESTMENTS, T_SUBFUNDS, sf_book
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
        guidance_fen = sum(
            row.amount_fen
            for row in c.execute(
                select(T_COMMITMENTS).where(
                    T_COMMITMENTS.c.subfund_id == subfund["id"],
                    T_COMMITMENTS.c.is_guidance.is_(True),
                    T_COMMITMENTS.c.status == "approved",
                )
            )
        )
    findings: list[Finding] = []
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


__all__ = ["Finding", "check_subfund"]
