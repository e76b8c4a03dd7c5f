"""Guidance funds and sub-funds: life cycle, rules when recorded (with codes), checks over time, metrics."""

from datetime import date

import pytest

from funds.checks import check_subfund
from funds.codes import FundsCode
from funds.common import flags_for
from funds.config import DEFAULT_FUND_POLICY
from funds.guidance import GuidanceFunds
from funds.metrics import guidance_fund_metrics, subfund_metrics
from ledger.errors import LedgerError
from tests.funds.keys import new_key

WAN = 1_000_000
GF = "gzgf"


def balances(ledger) -> dict:
    return {(a.book, a.path): (a.debits_posted, a.credits_posted) for a in ledger.accounts()}


def refused(code, call, *args, **kwargs) -> LedgerError:
    with pytest.raises(LedgerError) as caught:
        call(*args, **kwargs)
    assert caught.value.code == code, caught.value
    return caught.value


def make_subfund(funds: GuidanceFunds, code="sf1", fee_rate="2%", size="1亿") -> None:
    funds.create_subfund(
        GF,
        code,
        f"Sub-fund {code}",
        manager_code="MGR-1",
        size=size,
        established_on=date(2026, 1, 1),
        term_years=8,
        investment_period_end=date(2030, 12, 31),
        fee_basis="paid_in",
        fee_rate=fee_rate,
    )


def commit(funds, subfund, investor, amount, *, guidance=False):
    commitment_id = funds.record_commitment(
        subfund, investor, amount, date(2026, 1, 5), actor="manager", is_guidance=guidance, client_id=new_key()
    )
    funds.approve_commitment(commitment_id, approver="reviewer")


@pytest.fixture
def funds(ledger) -> GuidanceFunds:
    service = GuidanceFunds(ledger)
    service.create_guidance_fund(GF, "广州科技成果转化引导基金", "440100", DEFAULT_FUND_POLICY)
    service.appropriate(
        GF,
        "1亿",
        date(2026, 1, 2),
        actor="budget",
        approver="director",
        approval_doc="穗财〔2026〕1号",
        client_id=new_key(),
    )
    make_subfund(service)
    commit(service, "sf1", "LP-SOCIAL", "5000万")
    commit(service, "sf1", "LP-BANK", "2500万")
    commit(service, "sf1", GF, "2000万", guidance=True)
    return service


def test_subfund_life_cycle_and_metrics(ledger, funds):
    call_id = funds.record_call("sf1", "40%", date(2026, 2, 1), date(2026, 3, 1), actor="manager", client_id=new_key())
    assert funds.approve_call(call_id, approver="reviewer") == {
        "LP-SOCIAL": 2000 * WAN,
        "LP-BANK": 1000 * WAN,
        GF: 800 * WAN,
    }
    assert (
        funds.pay_call(call_id, "LP-SOCIAL", "1500万", date(2026, 2, 20), actor="manager", client_id=new_key())
        == 500 * WAN
    )  # partial
    funds.pay_call(call_id, "LP-SOCIAL", "500万", date(2026, 2, 25), actor="manager", client_id=new_key())
    funds.pay_call(call_id, "LP-BANK", "1000万", date(2026, 2, 25), actor="manager", client_id=new_key())
    funds.pay_call(call_id, GF, "800万", date(2026, 2, 25), actor="manager", client_id=new_key())
    assert ledger.account("gf:gzgf", "Assets:Bank").balance_fen == 9200 * WAN
    assert ledger.account("sf:sf1", "Assets:Bank").balance_fen == 3800 * WAN
    investment = funds.invest(
        "sf1",
        "ENT-1",
        "2000万",
        date(2026, 4, 1),
        stage="seed",
        is_local=True,
        sector="biotech",
        hard_tech=True,
        actor="manager",
        client_id=new_key(),
    )
    assert funds.accrue_fees("sf1", date(2027, 2, 25), actor="manager") > 0
    funds.exit_investment(investment, "1000万", "3000万", date(2028, 1, 10), actor="manager", client_id=new_key())
    distribution = funds.record_distribution(
        "sf1", date(2028, 2, 1), "1900万", "1900万", recallable=True, actor="manager", client_id=new_key()
    )
    parts = funds.approve_distribution(distribution, approver="reviewer")
    assert sum(capital for capital, _ in parts.values()) == 1900 * WAN
    assert parts[GF] == (400 * WAN, 400 * WAN)  # 800/3800 of each half
    assert ledger.account("gf:gzgf", "Revenue:DistributionIncome:sf1").balance_fen == -400 * WAN
    funds.record_valuation("sf1", date(2028, 12, 31), "2500万", source="audited NAV 2028")

    metrics = subfund_metrics(ledger, "sf1", date(2028, 12, 31))
    assert metrics["commitment_fen"] == 9500 * WAN and metrics["called_fen"] == 3800 * WAN
    assert metrics["unfunded_fen"] == 9500 * WAN - 3800 * WAN + 1900 * WAN
    assert str(metrics["dpi"]) == "1.0000" and str(metrics["tvpi"]) == str(metrics["dpi"] + metrics["rvpi"])
    assert metrics["xirr"] > 0 and str(metrics["leverage"]) == "5.0000"
    whole = guidance_fund_metrics(ledger, GF, date(2028, 12, 31))
    assert whole["paid_in_fen"] == 800 * WAN and whole["distributed_fen"] == 800 * WAN

    funds.remit_to_treasury(GF, "1亿", date(2029, 1, 5), actor="budget", approver="director", client_id=new_key())
    assert ledger.account("gf:gzgf", "Assets:Bank").balance_fen == 0


def test_guidance_share_out_of_bounds_is_refused(ledger, funds):
    make_subfund(funds, "sf2")
    commit(funds, "sf2", "LP-SOCIAL", "6000万")
    commitment = funds.record_commitment(
        "sf2", GF, "3500万", date(2026, 1, 5), actor="manager", is_guidance=True, client_id=new_key()
    )
    before = balances(ledger)
    refused(FundsCode.GUIDANCE_SHARE_OUT_OF_BOUNDS, funds.approve_commitment, commitment, approver="reviewer")
    assert balances(ledger) == before


def test_guidance_never_the_largest_investor_is_refused_at_establishment(ledger, funds):
    """The structure is final at the first close: a guidance fund above every other investor is refused there."""
    make_subfund(funds, "sf2")
    commit(funds, "sf2", "LP-SOCIAL", "1500万")
    commit(funds, "sf2", GF, "2000万", guidance=True)
    before = balances(ledger)
    error = refused(
        FundsCode.GUIDANCE_MUST_NOT_BE_LARGEST_INVESTOR, funds.establish_subfund, "sf2", date(2026, 2, 1), actor="gp"
    )
    assert error.detail == {"amount": "20000000.00", "limit": "15000000.00"}
    assert balances(ledger) == before
    # Once another investor commits more, the structure may close.
    commit(funds, "sf2", "LP-BANK", "3000万")
    assert funds.establish_subfund("sf2", date(2026, 2, 1), actor="gp") == {
        "LP-SOCIAL": 1500 * WAN,
        GF: 2000 * WAN,
        "LP-BANK": 3000 * WAN,
    }


def test_commitment_approved_by_its_recorder_is_refused(ledger, funds):
    commitment = funds.record_commitment("sf1", "LP-X", "100万", date(2026, 1, 5), actor="manager", client_id=new_key())
    refused(FundsCode.APPROVER_MUST_DIFFER_FROM_RECORDER, funds.approve_commitment, commitment, approver="manager")
    distribution = funds.record_distribution(
        "sf1", date(2026, 5, 1), "1万", "0", recallable=False, actor="manager", client_id=new_key()
    )
    refused(FundsCode.APPROVER_MUST_DIFFER_FROM_RECORDER, funds.approve_distribution, distribution, approver="manager")


def test_commitments_beyond_fund_size_are_refused(funds):
    commitment = funds.record_commitment("sf1", "LP-X", "600万", date(2026, 1, 5), actor="manager", client_id=new_key())
    refused(FundsCode.COMMITMENTS_EXCEED_FUND_SIZE, funds.approve_commitment, commitment, approver="reviewer")


def test_first_call_below_minimum_is_refused(ledger, funds):
    call_id = funds.record_call("sf1", "10%", date(2026, 2, 1), date(2026, 3, 1), actor="manager", client_id=new_key())
    before = balances(ledger)
    refused(FundsCode.FIRST_CALL_BELOW_MINIMUM, funds.approve_call, call_id, approver="reviewer")
    assert balances(ledger) == before


def test_call_beyond_unfunded_commitment_is_refused(ledger, funds):
    funds.approve_call(
        funds.record_call("sf1", "80%", date(2026, 2, 1), date(2026, 3, 1), actor="m", client_id=new_key()),
        approver="r",
    )
    call_id = funds.record_call("sf1", "30%", date(2026, 6, 1), date(2026, 7, 1), actor="m", client_id=new_key())
    before = balances(ledger)
    error = refused(FundsCode.CALL_EXCEEDS_UNFUNDED_COMMITMENT, funds.approve_call, call_id, approver="r")
    assert error.detail["room_left"] == "10000000.00"
    assert balances(ledger) == before


def test_payment_beyond_the_call_is_refused(ledger, funds):
    call_id = funds.record_call("sf1", "20%", date(2026, 2, 1), date(2026, 3, 1), actor="m", client_id=new_key())
    funds.approve_call(call_id, approver="r")
    before = balances(ledger)
    refused(
        FundsCode.PAYMENT_EXCEEDS_CALL,
        funds.pay_call,
        call_id,
        "LP-BANK",
        "501万",
        date(2026, 2, 5),
        actor="m",
        client_id=new_key(),
    )
    assert balances(ledger) == before


def test_fee_rate_above_cap_is_clipped_and_flagged(ledger, funds):
    make_subfund(funds, "sf3", fee_rate="2.5%")
    flags = flags_for(ledger, "subfund", 2)
    assert [(flag["code"], flag["enforcement"]) for flag in flags] == [(FundsCode.FEE_RATE_ABOVE_CAP, "clip")]


def test_fee_rate_above_cap_is_refused_under_stop(ledger):
    service = GuidanceFunds(ledger)
    policy = DEFAULT_FUND_POLICY.model_copy(
        update={"fee_rate_cap": DEFAULT_FUND_POLICY.fee_rate_cap.model_copy(update={"enforcement": "stop"})}
    )
    service.create_guidance_fund("strict", "strict", "440100", policy)
    refused(
        FundsCode.FEE_RATE_ABOVE_CAP,
        service.create_subfund,
        "strict",
        "sx",
        "x",
        manager_code="M",
        size="1亿",
        established_on=date(2026, 1, 1),
        term_years=8,
        investment_period_end=date(2030, 1, 1),
        fee_basis="paid_in",
        fee_rate="3%",
    )


def test_checks_over_time_flag_targets_local_reinvestment_and_idle_money(ledger, funds):
    call_id = funds.record_call("sf1", "100%", date(2026, 2, 1), date(2026, 3, 1), actor="m", client_id=new_key())
    funds.approve_call(call_id, approver="r")
    for investor, amount in (("LP-SOCIAL", "5000万"), ("LP-BANK", "2500万"), (GF, "2000万")):
        funds.pay_call(call_id, investor, amount, date(2026, 2, 10), actor="m", client_id=new_key())
    funds.invest(
        "sf1",
        "ENT-1",
        "1000万",
        date(2026, 5, 1),
        stage="growth",
        is_local=False,
        sector="ai",
        hard_tech=False,
        actor="m",
        client_id=new_key(),
    )
    codes = {finding.code for finding in check_subfund(ledger, "sf1", date(2031, 1, 1))}
    assert codes == {
        FundsCode.TARGET_INVESTMENT_BELOW_FUND_SHARE,
        FundsCode.TARGET_INVESTMENT_BELOW_GUIDANCE_MULTIPLE,
        FundsCode.LOCAL_REINVESTMENT_BELOW_MULTIPLE,
        FundsCode.MONEY_IDLE_TOO_LONG,
    }
    assert check_subfund(ledger, "sf1", date(2026, 6, 1)) == []


def test_two_equal_appropriations_with_their_own_documents_are_both_recorded(ledger, funds):
    from funds.guidance import gf_book

    bank = ledger.account(gf_book(GF), "Assets:Bank").balance_fen
    for document in ("穗财〔2026〕2号", "穗财〔2026〕3号", "穗财〔2026〕3号"):  # the last is a replay
        funds.appropriate(
            GF, "1亿", date(2026, 1, 2), actor="budget", approver="director", approval_doc=document, client_id=document
        )
    assert ledger.account(gf_book(GF), "Assets:Bank").balance_fen == bank + 2 * 10**10


def _events(ledger, subject_type: str, subject_id: int) -> list[tuple[str, str, dict]]:
    import json

    from funds.models import FundsEvent

    table = FundsEvent.__table__
    with ledger.engine.connect() as conn:
        rows = conn.execute(
            table.select().where(table.c.subject_type == subject_type, table.c.subject_id == subject_id)
        ).mappings()
        return [(row["action"], row["actor"], json.loads(row["detail_json"])) for row in rows]


def test_a_rejected_commitment_call_and_distribution_post_nothing_and_keep_the_reason(ledger, funds):
    commitment = funds.record_commitment("sf1", "LP-X", "100万", date(2026, 1, 5), actor="manager", client_id=new_key())
    call = funds.record_call("sf1", "20%", date(2026, 2, 1), date(2026, 3, 1), actor="manager", client_id=new_key())
    distribution = funds.record_distribution(
        "sf1", date(2026, 5, 1), "1万", "0", recallable=False, actor="manager", client_id=new_key()
    )
    before = balances(ledger)
    funds.reject_commitment(commitment, approver="reviewer", reason="材料不全")
    funds.reject_call(call, approver="reviewer", reason="比例有误")
    funds.reject_distribution(distribution, approver="reviewer", reason="未经决议")
    assert balances(ledger) == before
    assert _events(ledger, "commitment", commitment)[-1] == ("rejected", "reviewer", {"reason": "材料不全"})
    assert _events(ledger, "capital_call", call)[-1] == ("rejected", "reviewer", {"reason": "比例有误"})
    assert _events(ledger, "distribution", distribution)[-1] == ("rejected", "reviewer", {"reason": "未经决议"})
    # its checker repeating the rejection changes nothing; approving it afterwards is refused
    funds.reject_call(call, approver="reviewer", reason="比例有误")
    assert len(_events(ledger, "capital_call", call)) == 2
    refused(FundsCode.ALREADY_DECIDED, funds.approve_call, call, approver="reviewer")
    refused(FundsCode.ALREADY_DECIDED, funds.approve_commitment, commitment, approver="other")
    assert balances(ledger) == before


def test_a_rejection_by_the_recorder_or_without_a_reason_is_refused(ledger, funds):
    from ledger.errors import ResultCode

    commitment = funds.record_commitment("sf1", "LP-X", "100万", date(2026, 1, 5), actor="manager", client_id=new_key())
    refused(
        FundsCode.APPROVER_MUST_DIFFER_FROM_RECORDER,
        funds.reject_commitment,
        commitment,
        approver="manager",
        reason="x",
    )
    refused(ResultCode.REASON_REQUIRED, funds.reject_commitment, commitment, approver="reviewer", reason=" ")
    funds.approve_commitment(commitment, approver="reviewer")
    refused(FundsCode.ALREADY_DECIDED, funds.reject_commitment, commitment, approver="other", reason="too late")
