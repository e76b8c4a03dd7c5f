"""Seeded generator of a realistic fund/voucher journal as import CSV.

    python bench/generate.py --transactions 1000000 --seed 20261122 --out bench/data/journal.csv

About 14k accounts (regions, enterprises, providers, sub-funds), 80% two-leg and 20% three-leg
transactions (≈2.2 postings each), dated across 2026, amounts to the fen. The same seed writes the
same file byte for byte.
"""

from __future__ import annotations

import argparse
import csv
import random
from datetime import date, timedelta
from pathlib import Path

REGIONS = ["310000", "320500", "330100", "340100", "440100", "440300", "440106", "350100"]
ENTERPRISES = 9_000
PROVIDERS = 3_000
SUB_FUNDS = 400
PORTFOLIO = 1_500
THREE_LEG_SHARE = 0.2


def accounts(rng: random.Random) -> dict[str, list[str]]:
    enterprises = [f"E{n:05d}" for n in range(ENTERPRISES)]
    providers = [f"P{n:05d}" for n in range(PROVIDERS)]
    return {
        "bank": [f"Assets:Bank:Treasury:{region}" for region in REGIONS],
        "appropriation": [f"NetAssets:Appropriations:{region}" for region in REGIONS],
        "voucher_expense": [f"Expenses:Vouchers:{region}" for region in REGIONS],
        "provider_payable": [f"Liabilities:Payables:Providers:{p}" for p in providers],
        "subsidy_payable": [f"Liabilities:Payables:Subsidies:{e}" for e in enterprises[:4_000]],
        "subsidy_expense": [f"Expenses:Subsidies:{program}" for program in ("TechTransfer", "Platforms", "Contracts")],
        "investment": [f"Assets:Investments:Equity:{e}" for e in enterprises[:PORTFOLIO]],
        "subfund_cash": [f"Assets:Bank:SubFunds:SF{n:03d}" for n in range(SUB_FUNDS)],
        "interregion": [f"Assets:Receivable:InterRegion:{region}" for region in REGIONS],
        "fees": [f"Expenses:ManagementFees:SF{n:03d}" for n in range(SUB_FUNDS)],
    }


def amount(rng: random.Random, low_yuan: int, high_yuan: int) -> int:
    return rng.randint(low_yuan * 100, high_yuan * 100)


def fen_text(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}{fen // 100}.{fen % 100:02d}"


def transaction(rng: random.Random, chart: dict[str, list[str]]) -> list[tuple[str, int]]:
    pick = rng.choice
    kind = rng.random()
    if rng.random() < THREE_LEG_SHARE:
        # A cross-region voucher redemption: expense split 2/3 - 1/3 between two regions' accounts.
        total = amount(rng, 1_000, 100_000)
        home = total * 2 // 3
        return [
            (pick(chart["voucher_expense"]), home),
            (pick(chart["interregion"]), total - home),
            (pick(chart["provider_payable"]), -total),
        ]
    if kind < 0.35:
        value = amount(rng, 1_000, 100_000)
        return [(pick(chart["voucher_expense"]), value), (pick(chart["provider_payable"]), -value)]
    if kind < 0.55:
        value = amount(rng, 10_000, 5_000_000)
        return [(pick(chart["subsidy_expense"]), value), (pick(chart["subsidy_payable"]), -value)]
    if kind < 0.70:
        value = amount(rng, 500_000, 50_000_000)
        return [(pick(chart["investment"]), value), (pick(chart["subfund_cash"]), -value)]
    if kind < 0.80:
        value = amount(rng, 10_000, 2_000_000)
        return [(pick(chart["fees"]), value), (pick(chart["subfund_cash"]), -value)]
    value = amount(rng, 1_000_000, 500_000_000)
    return [(pick(chart["bank"]), value), (pick(chart["appropriation"]), -value)]


def generate(path: Path, transactions: int, seed: int) -> int:
    rng = random.Random(seed)
    chart = accounts(rng)
    start = date(2026, 1, 1)
    postings = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(["tx_id", "date", "account", "amount", "currency", "memo"])
        for number in range(transactions):
            day = (start + timedelta(days=number * 365 // transactions)).isoformat()
            tx_id = f"T{number:08d}"
            for account, value in transaction(rng, chart):
                writer.writerow([tx_id, day, account, fen_text(value), "CNY", ""])
                postings += 1
    return postings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--transactions", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument("--out", type=Path, default=Path("bench/data/journal.csv"))
    arguments = parser.parse_args()
    postings = generate(arguments.out, arguments.transactions, arguments.seed)
    print(f"{arguments.transactions} transactions, {postings} postings -> {arguments.out}")


if __name__ == "__main__":
    main()
