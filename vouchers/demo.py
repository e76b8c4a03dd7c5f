"""Demo data: 长三角 innovation vouchers in three regions (上海 310000, 江苏苏州 320500, 浙江杭州 330100),
with local and cross-region (通兑 and 通用) redemptions, a first-quarter settlement per region pair and the
first-quarter provider payout of every region that owes a provider. Safe to run twice: the second run finds
the demo loaded, and the payout batches are idempotent per region and quarter."""

from __future__ import annotations

import itertools
from datetime import date

from sqlalchemy import select

from ledger.engine import Ledger
from ledger.entities import credit_code_check_character
from ledger.errors import LedgerError
from vouchers import programs
from vouchers.codes import VoucherCode
from vouchers.config import ProgramConfig
from vouchers.grants import grant_approve_in_one
from vouchers.models import VoucherRedemption
from vouchers.payments import approve_batch, prepare_batch, quarter
from vouchers.redemptions import claim, reserve
from vouchers.settlement import settle

DEMO_YEAR = 2026
REGIONS = {"310000": "上海市", "320500": "江苏省苏州市", "330100": "浙江省杭州市"}
# Per region: annual cap, per application, budget (Shanghai ≤50万 a firm; YRD pilot ≤10万; 玉环 2万 an application).
PROGRAM_LIMITS = {
    "310000": ("50万", "20万", "2000万"),
    "320500": ("10万", "5万", "800万"),
    "330100": ("10万", "2万", "600万"),
}
CATEGORIES = ("testing", "rd_design", "tech_transfer", "ip_services")
FIRST_REDEMPTION = "DEMO-2026-310000-0001"
PAYOUT_QUARTER = f"{DEMO_YEAR}-Q1"


def _code(first_seventeen: str) -> str:
    return first_seventeen + credit_code_check_character(first_seventeen)


def _parties(ledger: Ledger) -> tuple[dict[str, str], dict[str, str]]:
    enterprises, providers = {}, {}
    for index, (region, name) in enumerate(REGIONS.items()):
        enterprises[region] = ledger.register_institution(
            _code(f"91{region}MA1D{index}X0K1"),
            f"{name}示范科技有限公司",
            "enterprise",
            region_code=region,
        )
        providers[region] = ledger.register_institution(
            _code(f"12{region}MB2P{index}Y0R2"), f"{name}科技服务平台", "service_provider", region_code=region
        )
    return enterprises, providers


def load_demo(ledger: Ledger) -> dict:
    for region, name in REGIONS.items():
        programs.add_region(ledger, region, name)
    enterprises, providers = _parties(ledger)
    program_codes = {region: f"YRD-{region}-{DEMO_YEAR}" for region in REGIONS}
    with ledger.engine.connect() as conn:
        loaded = conn.execute(
            select(VoucherRedemption.__table__.c.id).where(
                VoucherRedemption.__table__.c.contract_no == FIRST_REDEMPTION
            )
        ).first()
    if loaded is None:
        _load(ledger, enterprises, providers, program_codes)
    paid_batches = _pay_providers(ledger)
    with ledger.engine.connect() as conn:
        table = VoucherRedemption.__table__
        rows = conn.execute(select(table.c.mode, table.c.claimed_fen)).all()
    return {
        "regions": len(REGIONS),
        "programs": len(program_codes),
        "redemptions": len(rows),
        "cross_region_redemptions": sum(1 for mode, _ in rows if mode != "local"),
        "provider_payout_batches": len(paid_batches),
        "provider_payout_fen": sum(batch["total_fen"] for batch in paid_batches),
    }


def _pay_providers(ledger: Ledger) -> list[dict]:
    """Each region's first-quarter provider payout (idempotent: a second run returns the paid batches)."""
    paid = []
    for region in REGIONS:
        try:
            batch = prepare_batch(
                ledger, region, maker="payout-clerk", on=date(DEMO_YEAR, 4, 10), **quarter(PAYOUT_QUARTER)
            )
        except LedgerError as error:
            if error.code == VoucherCode.PAYMENT_BATCH_MUST_NOT_BE_EMPTY:
                continue  # this region owes no provider: its vouchers went out under 通用 or elsewhere
            raise
        paid.append(
            approve_batch(
                ledger,
                batch["id"],
                checker="finance-director",
                approval_doc=f"{REGIONS[region]}科委〔{DEMO_YEAR}〕31号",
                on=date(DEMO_YEAR, 4, 20),
            )
        )
    return paid


def _load(ledger: Ledger, enterprises: dict, providers: dict, program_codes: dict) -> None:
    for index, region in enumerate(REGIONS):
        programs.register_enterprise(
            ledger,
            enterprises[region],
            registration_no=f"{DEMO_YEAR}{region}A{index:04d}",
            valid_from=date(2025, 6, 1),
            valid_until=date(2027, 5, 31),
        )
        programs.certify_provider(
            ledger,
            providers[region],
            certifying_region=region,
            categories=list(CATEGORIES[:3]),
            certified_from=date(2025, 1, 1),
        )
        cap, per_application, budget = PROGRAM_LIMITS[region]
        config = ProgramConfig.from_dict(
            dict(
                code=program_codes[region],
                name=f"{REGIONS[region]} {DEMO_YEAR} 科技创新券",
                region_code=region,
                year=DEMO_YEAR,
                budget=budget,
                enterprise_annual_cap=cap,
                per_application=per_application,
                copay_ratio="50%",
                categories=CATEGORIES,
                use_by=date(DEMO_YEAR, 11, 30),
                redeem_by=date(DEMO_YEAR, 12, 31),
                recognized_regions=tuple(REGIONS),
                region_match_level="city",
            )
        )
        programs.create_program(
            ledger,
            config,
            actor="finance-clerk",
            approver="finance-director",
            approval_doc=f"{REGIONS[region]}科委〔{DEMO_YEAR}〕12号",
            on=date(DEMO_YEAR, 1, 6),
        )
        grant_approve_in_one(
            ledger,
            program_codes[region],
            enterprises[region],
            cap,
            maker="sci-clerk",
            checker="sci-director",
            on=date(DEMO_YEAR, 1, 15),
            client_id=f"demo-grant-{region}",
        )
    plans = [
        ("310000", "310000", None, "120000.00"),
        ("310000", "320500", "tongdui", "60000.00"),
        ("320500", "310000", "tongdui", "30000.00"),
        ("320500", "330100", "tongyong", "20000.00"),
        ("330100", "310000", "tongdui", "35000.00"),
        ("330100", "320500", "tongyong", "8000.00"),
    ]
    counters = {region: itertools.count(1) for region in REGIONS}
    for home, away, mode, amount in plans:
        contract_no = f"DEMO-{DEMO_YEAR}-{home}-{next(counters[home]):04d}"
        redemption = reserve(
            ledger,
            program_codes[home],
            enterprise=enterprises[home],
            provider=providers[away],
            category="testing",
            contract_no=contract_no,
            contract_amount=amount,
            on=date(DEMO_YEAR, 2, 20),
            actor="enterprise-user",
            mode=mode,
        )
        claim(
            ledger,
            redemption["id"],
            invoice_no=f"FP{contract_no}",
            invoiced_amount=amount,
            on=date(DEMO_YEAR, 3, 18),
            actor="provider-user",
            verifier=f"officer-{home}",
        )
    for low, high in itertools.combinations(REGIONS, 2):
        settle(
            ledger,
            low,
            high,
            period_label=f"{DEMO_YEAR}Q1",
            period_start=date(DEMO_YEAR, 1, 1),
            period_end=date(DEMO_YEAR, 3, 31),
            on=date(DEMO_YEAR, 4, 15),
            actor="settlement-clerk",
            approver="settlement-director",
        )
