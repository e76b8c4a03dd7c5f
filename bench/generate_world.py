"""Seeded generator of a domain world, built through the domain services into a ledger database (beside the
1M journal of bench/generate.py, or alone):

- ``--institutions`` institutions (default 10,000) registered in Guangzhou (440100), and 5 subsidy programs
  (claimed, fixed, rate and tiered amounts; caps that clip, stop and warn) to which every institution applies
  once or twice over three program years: approved by a second person, most of them paid, the refusals
  recorded as the service records them;
- voucher programs in 3 regions (上海 310000, 苏州 320500, 杭州 330100), one enterprise in twenty of the
  institutions' size per region holding a quota, each redeeming one contract with a provider of its own
  region or another (本地, 通兑, 通用), claimed, and a first-quarter settlement per region pair;
- a guidance fund with 30 sub-funds (two social investors each, commitments, establishment, a 40% call paid,
  two investments, fees, a valuation);
- a risk pool with three funders, two banks, one loan per fifty institutions, one in ten defaulting into a
  paid claim.

The same seed and size build the same world (dates, amounts and choices come from ``random.Random(seed)``).

    .venv/bin/python bench/generate_world.py --db /tmp/world.db --institutions 2000
    .venv/bin/python bench/generate_world.py --url postgresql://... --institutions 10000
"""

from __future__ import annotations

import argparse
import itertools
import random
import sys
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import DEFAULT_SEED, log, sqlite_url  # noqa: E402

DEFAULT_INSTITUTIONS = 10_000
SUBSIDY_REGION = "440100"
SUBSIDY_YEARS = (2024, 2025, 2026)
SUBFUNDS = 30
VOUCHER_YEAR = 2026
VOUCHER_REGIONS = {"310000": "上海市", "320500": "江苏省苏州市", "330100": "浙江省杭州市"}
VOUCHER_CATEGORIES = ("testing", "rd_design", "tech_transfer", "ip_services")
PROVIDERS_PER_REGION = 5
ENTERPRISES_PER_INSTITUTIONS = 20  # one voucher enterprise per region for this many institutions
LOANS_PER_INSTITUTIONS = 50
DEFAULT_SHARE = 10  # one loan in ten defaults
MAKER, CHECKER, CASHIER = "bench-clerk", "bench-director", "bench-cashier"
SOURCE = '{ document = "bench world (generated)", article = "-" }'

# (code, amount formula, caps, budget per year, base figure name or None, its range in 元)
SUBSIDY_PROGRAMS = (
    (
        "bench-income-award",
        'kind = "claimed"\nbase = "claim"',
        [("institution_year", "100万", "clip")],
        "20亿",
        "claim",
    ),
    ("bench-service-award", 'kind = "fixed"\namount = "20万"', [("institution_year", "20万", "stop")], "20亿", None),
    (
        "bench-contract-rate",
        'kind = "rate"\nbase = "turnover"\nratio = "1%"',
        [("institution_year", "50万", "warn"), ("lifetime", "120万", "clip")],
        "20亿",
        "turnover",
    ),
    (
        "bench-transfer-tiered",
        'kind = "tiered"\nbase = "transfer"\n[[amount.tiers]]\nup_to = "100万"\nratio = "10%"\n'
        '[[amount.tiers]]\nratio = "5%"',
        [("institution_year", "80万", "clip")],
        "20亿",
        "transfer",
    ),
    (
        "bench-platform-claim",
        'kind = "claimed"\nbase = "claim"',
        [("per_claim", "30万", "stop"), ("lifetime", "200万", "warn")],
        "20亿",
        "claim",
    ),
)
BASE_RANGES_YUAN = {"claim": (50_000, 1_500_000), "turnover": (1_000_000, 80_000_000), "transfer": (200_000, 9_000_000)}


def credit_code(stem_prefix: str, serial: int) -> str:
    from ledger.entities import credit_code_check_character

    stem = f"{stem_prefix}{serial:09d}"
    return stem + credit_code_check_character(stem)


def _program_text(code: str, amount: str, caps: list[tuple[str, str, str]], budget: str) -> str:
    cap_text = "".join(
        f'\n[[caps]]\nkind = "{kind}"\namount = "{limit}"\nenforcement = "{enforcement}"\nsource = {SOURCE}\n'
        for kind, limit, enforcement in caps
    )
    return f"""
code = "{code}"
name = "{code} (bench)"
region = "{SUBSIDY_REGION}"
budget_book = "gz-budget"
financial_book = "gz-finance"
first_year = {SUBSIDY_YEARS[0]}
last_year = {SUBSIDY_YEARS[-1]}
source = {SOURCE}

[amount]
source = {SOURCE}
{amount}
{cap_text}
[budget]
per_year = "{budget}"
enforcement = "stop"
year_end = "carry_over"
source = {SOURCE}
"""


def build_subsidies(ledger, rng: random.Random, institutions: list[str]) -> dict:
    from ledger.errors import LedgerError
    from subsidies.config import parse_program
    from subsidies.service import SubsidyService

    service = SubsidyService(ledger)
    programs = []
    for code, amount, caps, budget, base in SUBSIDY_PROGRAMS:
        text = _program_text(code, amount, caps, budget)
        program = parse_program(text)
        service.install_program(program, text, actor="bench-admin")
        programs.append((program, base))
    counts = {"applications": 0, "granted": 0, "refused": 0, "paid": 0}
    for index, institution in enumerate(institutions):
        for number in range(rng.choice((1, 1, 2))):
            program, base = rng.choice(programs)
            year = rng.choice(SUBSIDY_YEARS)
            figures = {} if base is None else {base: str(rng.randint(*BASE_RANGES_YUAN[base]))}
            application = service.submit_application(
                program.code, institution, year, figures, actor=MAKER, client_id=f"bench-{index}-{number}"
            )
            counts["applications"] += 1
            try:
                outcome = service.approve(application, approver=CHECKER, approval_doc="bench")
            except LedgerError:
                counts["refused"] += 1  # a stop cap or an exhausted budget: recorded on the application
                continue
            counts["granted"] += 1
            if rng.random() < 0.7:
                service.pay(outcome.grant_id, actor=CASHIER, on=date(year, 12, 1))
                counts["paid"] += 1
    return counts


def build_vouchers(ledger, rng: random.Random, institutions: int) -> dict:
    from vouchers import programs
    from vouchers.config import ProgramConfig
    from vouchers.grants import grant_approve_in_one
    from vouchers.redemptions import claim, reserve
    from vouchers.settlement import settle

    per_region = max(1, institutions // ENTERPRISES_PER_INSTITUTIONS)
    enterprises: dict[str, list[str]] = {}
    providers: dict[str, list[str]] = {}
    for region_index, (region, name) in enumerate(VOUCHER_REGIONS.items()):
        programs.add_region(ledger, region, name)
        enterprises[region] = []
        for serial in range(per_region):
            code = ledger.register_institution(
                credit_code(f"91{region}", serial), f"{name}企业{serial}", "enterprise", region_code=region
            )
            programs.register_enterprise(
                ledger,
                code,
                registration_no=f"{VOUCHER_YEAR}{region}B{serial:05d}",
                valid_from=date(2025, 6, 1),
                valid_until=date(2027, 5, 31),
            )
            enterprises[region].append(code)
        providers[region] = []
        for serial in range(PROVIDERS_PER_REGION):
            code = ledger.register_institution(
                credit_code(f"12{region}", 900_000 + serial),
                f"{name}服务机构{serial}",
                "service_provider",
                region_code=region,
            )
            programs.certify_provider(
                ledger,
                code,
                certifying_region=region,
                categories=list(VOUCHER_CATEGORIES),
                certified_from=date(2025, 1, 1),
            )
            providers[region].append(code)
        config = ProgramConfig.from_dict(
            dict(
                code=f"BENCH-{region}-{VOUCHER_YEAR}",
                name=f"{name} {VOUCHER_YEAR} 创新券 (bench)",
                region_code=region,
                year=VOUCHER_YEAR,
                budget=f"{per_region * 20}万",
                enterprise_annual_cap="20万",
                per_application="10万",
                copay_ratio="50%",
                categories=VOUCHER_CATEGORIES,
                use_by=date(VOUCHER_YEAR, 11, 30),
                redeem_by=date(VOUCHER_YEAR, 12, 31),
                recognized_regions=tuple(VOUCHER_REGIONS),
                region_match_level="city",
            )
        )
        programs.create_program(
            ledger,
            config,
            actor="finance-clerk",
            approver="finance-director",
            approval_doc="bench",
            on=date(2026, 1, 6),
        )
        for serial, enterprise in enumerate(enterprises[region]):
            grant_approve_in_one(
                ledger,
                config.code,
                enterprise,
                "20万",
                maker="sci-clerk",
                checker="sci-director",
                on=date(VOUCHER_YEAR, 1, 15),
                client_id=f"bench-grant-{region_index}-{serial}",
            )
    redemptions = 0
    regions = list(VOUCHER_REGIONS)
    for home in regions:
        for serial, enterprise in enumerate(enterprises[home]):
            away = home if rng.random() < 0.6 else rng.choice([r for r in regions if r != home])
            mode = None if away == home else rng.choice(("tongdui", "tongyong"))
            amount = f"{rng.randint(10_000, 180_000)}.00"
            contract_no = f"BENCH-{home}-{serial:05d}"
            day = date(VOUCHER_YEAR, 2, 1) + timedelta(days=rng.randint(0, 40))
            redemption = reserve(
                ledger,
                f"BENCH-{home}-{VOUCHER_YEAR}",
                enterprise=enterprise,
                provider=rng.choice(providers[away]),
                category=rng.choice(VOUCHER_CATEGORIES),
                contract_no=contract_no,
                contract_amount=amount,
                on=day,
                actor="enterprise-user",
                mode=mode,
            )
            claim(
                ledger,
                redemption["id"],
                invoice_no=f"FP-{contract_no}",
                invoiced_amount=amount,
                on=day + timedelta(days=20),
                actor="provider-user",
                verifier=f"officer-{home}",
            )
            redemptions += 1
    for low, high in itertools.combinations(regions, 2):
        settle(
            ledger,
            low,
            high,
            period_label=f"{VOUCHER_YEAR}Q1",
            period_start=date(VOUCHER_YEAR, 1, 1),
            period_end=date(VOUCHER_YEAR, 3, 31),
            on=date(VOUCHER_YEAR, 4, 15),
            actor="settlement-clerk",
            approver="settlement-director",
        )
    return {"voucher_enterprises": per_region * len(regions), "redemptions": redemptions}


def build_funds(ledger, rng: random.Random) -> dict:
    from funds.config import DEFAULT_FUND_POLICY
    from funds.guidance import GuidanceFunds

    funds = GuidanceFunds(ledger)
    guidance = "bench-gf"
    funds.create_guidance_fund(guidance, "引导基金 (bench)", SUBSIDY_REGION, DEFAULT_FUND_POLICY)
    funds.appropriate(
        guidance,
        "20亿",
        date(2026, 1, 5),
        actor="finance-clerk",
        approver="finance-director",
        approval_doc="bench",
        client_id="bench:appropriation",
    )
    for number in range(SUBFUNDS):
        code = f"bench-sf-{number:02d}"
        size_wan = rng.choice((20_000, 30_000, 50_000))
        funds.create_subfund(
            guidance,
            code,
            f"子基金 {number}",
            manager_code=f"GP-{number:02d}",
            size=f"{size_wan}万",
            established_on=date(2026, 2, 1),
            term_years=8,
            investment_period_end=date(2030, 12, 31),
            fee_basis="paid_in",
            fee_rate="2%",
        )
        investors = [(f"LP-{number:02d}-A", size_wan * 45 // 100), (f"LP-{number:02d}-B", size_wan * 35 // 100)]
        for investor, amount_wan in investors:
            funds.approve_commitment(
                funds.record_commitment(
                    code,
                    investor,
                    f"{amount_wan}万",
                    date(2026, 2, 1),
                    actor="gp-clerk",
                    client_id=f"b:{code}:{investor}",
                ),
                approver="gf-reviewer",
            )
        funds.approve_commitment(
            funds.record_commitment(
                code,
                guidance,
                f"{size_wan * 20 // 100}万",
                date(2026, 2, 2),
                actor="gp-clerk",
                is_guidance=True,
                client_id=f"b:{code}:{guidance}",
            ),
            approver="gf-reviewer",
        )
        funds.establish_subfund(code, date(2026, 2, 15), actor="gf-reviewer")
        call = funds.record_call(
            code, "40%", date(2026, 3, 1), date(2026, 3, 31), actor="gp-clerk", client_id=f"b:{code}:c1"
        )
        for investor, amount_fen in funds.approve_call(call, approver="gf-reviewer").items():
            funds.pay_call(
                call,
                investor,
                f"{amount_fen // 100}",
                date(2026, 3, 20),
                actor="gp-clerk",
                client_id=f"b:{code}:c1:{investor}",
            )
        for target in range(2):
            funds.invest(
                code,
                f"ENT-{number:02d}-{target}",
                f"{size_wan * 15 // 100}万",
                date(2026, 5 + target, 1),
                stage=rng.choice(("seed", "start_up", "growth")),
                is_local=rng.random() < 0.7,
                sector="hard-tech",
                hard_tech=True,
                actor="gp-clerk",
                client_id=f"b:{code}:inv:{target}",
            )
        funds.accrue_fees(code, date(2026, 12, 31), actor="gp-clerk")
        funds.record_valuation(code, date(2026, 12, 31), f"{size_wan * 42 // 100}万", source="bench valuation")
    return {"subfunds": SUBFUNDS}


def build_pool(ledger, rng: random.Random, institutions: list[str]) -> dict:
    from funds.config import GUANGZHOU_POOL_POLICY, BankAgreementTerms
    from funds.pools import FunderShare, RiskPools

    pools = RiskPools(ledger)
    pool = "bench-pool"
    funders = [
        FunderShare("440000", "province", "20%"),
        FunderShare("440100", "city", "50%"),
        FunderShare("440106", "district", "30%"),
    ]
    pools.create_pool(pool, "风险补偿资金池 (bench)", GUANGZHOU_POOL_POLICY, funders)
    for funder, amount in (("440000", "2亿"), ("440100", "5亿"), ("440106", "3亿")):
        pools.contribute(
            pool,
            funder,
            amount,
            date(2026, 1, 10),
            actor="finance-clerk",
            approver="finance-director",
            client_id=f"bench:pool:{funder}",
        )
    for bank in ("BANK-01", "BANK-02"):
        terms = BankAgreementTerms(source=f"bench {bank}", per_loan_cap="500万", bank_annual_cap="5亿")
        pools.add_bank(pool, bank, terms, date(2026, 1, 1), date(2028, 12, 31))
    loans = claims = 0
    for number, enterprise in enumerate(institutions[::LOANS_PER_INSTITUTIONS]):
        disbursed = date(2026, 1, 15) + timedelta(days=rng.randint(0, 120))
        principal_wan = rng.randint(50, 800)
        loan = pools.file_loan(
            pool,
            rng.choice(("BANK-01", "BANK-02")),
            enterprise,
            f"BL-{number:05d}",
            f"{principal_wan}万",
            disbursed,
            12,
            disbursed + timedelta(days=20),
            actor="bank-officer",
            client_id=f"bench:loan:{number}",
        )
        loans += 1
        if number % DEFAULT_SHARE == 0:
            pools.set_loan_status(loan, "overdue", actor="bank-officer")
            pools.set_loan_status(loan, "defaulted", actor="bank-officer")
            claim = pools.submit_claim(
                # half the principal non-performing: never more than the loan
                loan,
                f"{principal_wan // 2}万",
                date(2026, 10, 1),
                actor="bank-officer",
                client_id=f"bench:claim:{number}",
            )
            pools.approve_claim(claim, approver="finance-auditor", paid_on=date(2026, 10, 20), approval_doc="bench")
            claims += 1
    return {"loans": loans, "claims": claims}


def generate_world(url: str, institutions: int, seed: int) -> dict:
    """Build the world into the (migrated) database at ``url``; returns what was built and how long it took."""
    from api.bootstrap import migrate
    from ledger.db import make_engine
    from ledger.engine import Ledger

    rng = random.Random(seed)
    engine = make_engine(url)
    migrate(engine)
    ledger = Ledger(engine)
    started = time.perf_counter()
    ledger.register_region(SUBSIDY_REGION, "广州市")
    codes = [
        ledger.register_institution(
            credit_code("12440101", serial), f"机构{serial}", "university", region_code=SUBSIDY_REGION
        )
        for serial in range(institutions)
    ]
    built: dict = {"institutions": institutions, "seed": seed}
    steps = (
        ("subsidies", lambda: build_subsidies(ledger, rng, codes)),
        ("vouchers", lambda: build_vouchers(ledger, rng, institutions)),
        ("funds", lambda: build_funds(ledger, rng)),
        ("pool", lambda: build_pool(ledger, rng, codes)),
    )
    for name, step in steps:
        log(f"world: {name}")
        step_started = time.perf_counter()
        built[name] = step()
        built[name]["build_s"] = round(time.perf_counter() - step_started, 1)
    built["build_s"] = round(time.perf_counter() - started, 1)
    engine.dispose()
    return built


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--db", type=Path, help="SQLite file (created and migrated if missing)")
    target.add_argument("--url", help="database URL (PostgreSQL: add ?schema=NAME for a schema of its own)")
    parser.add_argument("--institutions", type=int, default=DEFAULT_INSTITUTIONS)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args()
    url = args.url or sqlite_url(args.db)
    built = generate_world(url, args.institutions, args.seed)
    print(built)


if __name__ == "__main__":
    main()
