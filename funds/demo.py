"""Demo data: a Guangzhou guidance fund with three sub-funds, and a risk pool with two partner banks.
Idempotent: a second run finds the fund and the pool and changes nothing."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from funds.config import DEFAULT_FUND_POLICY, GUANGZHOU_POOL_POLICY, BankAgreementTerms
from funds.guidance import T_GUIDANCE, GuidanceFunds
from funds.metrics import guidance_fund_metrics
from funds.pools import T_POOLS, FunderShare, RiskPools
from ledger.engine import Ledger
from ledger.entities import credit_code_check_character

GUIDANCE_CODE = "gz-tt-gf"
POOL_CODE = "gz-sme-pool"
GUANGZHOU = "440100"


def _credit_code(first_seventeen: str) -> str:
    return first_seventeen + credit_code_check_character(first_seventeen)


# The pool's partner banks and borrowers are keyed by 统一社会信用代码, as the API and the bank's login scope
# (institution:CODE) need them: a bank user sees the loans filed under its own code.
BANK_GZ_01 = _credit_code("91440101MA5BANK01")
BANK_GZ_02 = _credit_code("91440101MA5BANK02")
SME_01 = _credit_code("91440101MA5DK0001")
SME_02 = _credit_code("91440101MA5DK0002")
POOL_INSTITUTIONS = (
    (BANK_GZ_01, "广州示范银行（演示）", "bank"),
    (BANK_GZ_02, "广州城商示范银行（演示）", "bank"),
    (SME_01, "广州甲贷科技有限公司（演示）", "enterprise"),
    (SME_02, "广州乙贷科技有限公司（演示）", "enterprise"),
)
SUBFUNDS = (  # code, size, social investors, guidance commitment, investments (enterprise, amount, stage, local)
    (
        "gz-seed-1",
        "2亿",
        [("LP-GUOTOU", "9000万"), ("LP-PRIVATE-A", "6000万")],
        "5000万",
        [("ENT-BIO-01", "3000万", "seed", True), ("ENT-CHIP-02", "4000万", "start_up", True)],
    ),
    (
        "gz-growth-2",
        "5亿",
        [("LP-INSURER", "2亿"), ("LP-PRIVATE-B", "1.5亿"), ("LP-BANKCAP", "5000万")],
        "1亿",
        [("ENT-AI-03", "8000万", "growth", False)],
    ),
    (
        "gz-hardtech-3",
        "3亿",
        [("LP-SOE", "1.5亿"), ("LP-PRIVATE-C", "9000万")],
        "6000万",
        [("ENT-MAT-04", "5000万", "start_up", True)],
    ),
)


def load_demo(ledger: Ledger) -> dict:
    with ledger.engine.connect() as conn:
        fund_exists = conn.execute(select(T_GUIDANCE.c.id).where(T_GUIDANCE.c.code == GUIDANCE_CODE)).first()
        pool_exists = conn.execute(select(T_POOLS.c.id).where(T_POOLS.c.code == POOL_CODE)).first()
    if not fund_exists:
        _load_guidance_fund(ledger)
    if not pool_exists:
        _load_pool(ledger)
    pools = RiskPools(ledger)
    metrics = guidance_fund_metrics(ledger, GUIDANCE_CODE, date(2027, 12, 31))
    return {
        "guidance_fund": GUIDANCE_CODE,
        "subfunds": len(SUBFUNDS),
        "guidance_paid_in_fen": metrics["paid_in_fen"],
        "leverage": str(metrics["leverage"]),
        "pool": POOL_CODE,
        "pool_balance_fen": pools.balance_fen(POOL_CODE),
        "banks": len(pools.bank_statement(POOL_CODE)),
    }


def _load_guidance_fund(ledger: Ledger) -> None:
    funds = GuidanceFunds(ledger)
    funds.create_guidance_fund(GUIDANCE_CODE, "广州市科技成果转化引导基金", "440100", DEFAULT_FUND_POLICY)
    funds.appropriate(
        GUIDANCE_CODE,
        "3亿",
        date(2026, 1, 5),
        actor="finance-clerk",
        approver="finance-director",
        approval_doc="穗财科〔2026〕3号",
        client_id="demo:appropriation:穗财科〔2026〕3号",
    )
    for code, size, investors, guidance, investments in SUBFUNDS:
        funds.create_subfund(
            GUIDANCE_CODE,
            code,
            f"子基金 {code}",
            manager_code="GP-" + code.upper(),
            size=size,
            established_on=date(2026, 2, 1),
            term_years=8,
            investment_period_end=date(2030, 12, 31),
            fee_basis="paid_in",
            fee_rate="2%",
        )
        for investor, amount in investors:
            funds.approve_commitment(
                funds.record_commitment(
                    code, investor, amount, date(2026, 2, 1), actor="gp-clerk", client_id=f"demo:{code}:{investor}"
                ),
                approver="gf-reviewer",
            )
        funds.approve_commitment(
            funds.record_commitment(
                code,
                GUIDANCE_CODE,
                guidance,
                date(2026, 2, 2),
                actor="gp-clerk",
                is_guidance=True,
                client_id=f"demo:{code}:{GUIDANCE_CODE}",
            ),
            approver="gf-reviewer",
        )
        funds.establish_subfund(code, date(2026, 2, 15), actor="gf-reviewer")
        call_id = funds.record_call(
            code, "40%", date(2026, 3, 1), date(2026, 3, 31), actor="gp-clerk", client_id=f"demo:{code}:call:1"
        )
        for investor, amount_fen in funds.approve_call(call_id, approver="gf-reviewer").items():
            funds.pay_call(
                call_id,
                investor,
                f"{amount_fen // 100}",
                date(2026, 3, 20),
                actor="gp-clerk",
                client_id=f"demo:{code}:call:1:{investor}",
            )
        for enterprise, amount, stage, local in investments:
            funds.invest(
                code,
                enterprise,
                amount,
                date(2026, 6, 1),
                stage=stage,
                is_local=local,
                sector="hard-tech",
                hard_tech=stage != "growth",
                actor="gp-clerk",
                client_id=f"demo:{code}:investment:{enterprise}",
            )
        funds.accrue_fees(code, date(2026, 12, 31), actor="gp-clerk")
        funds.record_valuation(code, date(2027, 12, 31), size, source="demo valuation")


def _load_pool(ledger: Ledger) -> None:
    ledger.register_region(GUANGZHOU, "广州市")
    for code, name, kind in POOL_INSTITUTIONS:
        ledger.register_institution(code, name, kind, region_code=GUANGZHOU)
    pools = RiskPools(ledger)
    funders = [
        FunderShare("440000", "province", "20%"),
        FunderShare("440100", "city", "50%"),
        FunderShare("440106", "district", "30%"),
    ]
    pools.create_pool(POOL_CODE, "广州市科技型中小企业信贷风险补偿资金池", GUANGZHOU_POOL_POLICY, funders)
    for funder, amount in (("440000", "2000万"), ("440100", "5000万"), ("440106", "3000万")):
        pools.contribute(
            POOL_CODE,
            funder,
            amount,
            date(2026, 1, 10),
            actor="finance-clerk",
            approver="finance-director",
            client_id=f"demo:pool:contribution:{funder}",
        )
    pools.add_bank(
        POOL_CODE,
        BANK_GZ_01,
        BankAgreementTerms(source="合作协议 GZRP-2026-01", per_loan_cap="500万", bank_annual_cap="3000万"),
        date(2026, 1, 1),
        date(2028, 12, 31),
    )
    pools.add_bank(
        POOL_CODE,
        BANK_GZ_02,
        BankAgreementTerms(source="合作协议 GZRP-2026-02", per_loan_cap="300万", enterprise_cumulative_cap="500万"),
        date(2026, 1, 1),
        date(2028, 12, 31),
    )
    first = pools.file_loan(
        POOL_CODE,
        BANK_GZ_01,
        SME_01,
        "GZ01-0001",
        "800万",
        date(2026, 2, 10),
        12,
        date(2026, 3, 1),
        actor="bank-officer",
        client_id="demo:loan:GZ01-0001",
    )
    pools.file_loan(
        POOL_CODE,
        BANK_GZ_02,
        SME_02,
        "GZ02-0001",
        "500万",
        date(2026, 3, 5),
        12,
        date(2026, 4, 1),
        actor="bank-officer",
        client_id="demo:loan:GZ02-0001",
    )
    pools.set_loan_status(first, "overdue", actor="bank-officer")
    pools.set_loan_status(first, "defaulted", actor="bank-officer")
    claim = pools.submit_claim(first, "600万", date(2026, 11, 1), actor="bank-officer", client_id="demo:claim:1")
    pools.approve_claim(claim, approver="finance-auditor", paid_on=date(2026, 11, 20), approval_doc="穗科补〔2026〕9号")
    pools.record_recovery(claim, "200万", "20万", date(2027, 5, 1), actor="bank-officer", client_id="demo:recovery:1")
