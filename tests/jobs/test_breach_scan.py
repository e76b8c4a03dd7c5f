"""The limit-breach scan over every rule: each kind of breach seeded, exactly the expected alerts with their
figures, region and citation; a rerun changes nothing; a breach cured clears its alert."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from funds.config import DEFAULT_FUND_POLICY, FEE_SOURCE, PolicyValue
from funds.guidance import GuidanceFunds
from jobs.alerts import list_alerts
from jobs.config import JobsConfig, Retry, Thresholds
from jobs.definitions import run
from jobs.monitors import add_monitor
from subsidies.service import SubsidyService
from tests.funds.conftest import BANK_A, build_pool, defaulted_loan
from tests.funds.keys import new_key
from tests.subsidies.conftest import cap, credit_code, install, program_text
from tests.vouchers.conftest import SHANGHAI, build_scheme

WAN = 1_000_000  # fen in 1万元
SCAN_DAY = datetime(2026, 6, 15, 2, 0, tzinfo=UTC)  # 15 days before the voucher use-by date
CONFIG = JobsConfig(
    thresholds=Thresholds(
        pool_remaining_min="70%",
        bank_annual_cap_near="75%",
        voucher_budget_granted_near="70%",
        quota_use_by_warning_days=30,
    ),
    retry=Retry(attempts=1),
)
SUBSIDY_CITATION = "test cap"
PROGRAM = "gz-rd"


def seed_subsidies(ledger) -> dict:
    ledger.register_region("440100", "广州市")
    service = SubsidyService(ledger)
    caps = (
        cap("per_claim", "40万", "warn")
        + cap("institution_year", "50万", "warn")
        + cap("awardees_per_year", "1", "warn")
    )
    program = install(service, program_text(PROGRAM, caps=caps, budget='"100万"', budget_enforcement="warn"))
    first, second = (
        ledger.register_institution(credit_code(serial), f"Institution {serial}", "university", region_code="440100")
        for serial in (1, 2)
    )
    grants = {}
    for institution, claim in ((first, "45万"), (first, "30万"), (second, "30万")):
        application = service.submit_application(
            program.code, institution, 2019, {"claim": claim}, actor="clerk-li", client_id=new_key()
        )
        outcome = service.approve(application, approver="director-wang", approval_doc="穗科函〔2019〕1号")
        grants.setdefault(institution, []).append(outcome.grant_id)
    return {"first": first, "second": second, "grants": grants, "service": service}


def seed_funds(ledger) -> dict:
    policy = DEFAULT_FUND_POLICY.model_copy(
        update={
            "guidance_share_max": PolicyValue(value="30%", source="share rule 30%", enforcement="warn"),
            "first_call_min": PolicyValue(value="20%", source="first call rule 20%", enforcement="warn"),
            "fee_rate_cap": PolicyValue(value="2%", source=FEE_SOURCE, enforcement="warn"),
        }
    )
    funds = GuidanceFunds(ledger)
    funds.create_guidance_fund("gzgf", "广州科技成果转化引导基金", "440100", policy)
    funds.create_subfund(
        "gzgf",
        "sf1",
        "Sub-fund sf1",
        manager_code="MGR-1",
        size="1亿",
        established_on=date(2026, 1, 1),
        term_years=8,
        investment_period_end=date(2030, 12, 31),
        fee_basis="paid_in",
        fee_rate="2.5%",
    )
    for investor, amount, guidance in (("LP-SOCIAL", "5000万", False), ("gzgf", "3500万", True)):
        commitment = funds.record_commitment(
            "sf1", investor, amount, date(2026, 1, 5), actor="manager", is_guidance=guidance, client_id=new_key()
        )
        funds.approve_commitment(commitment, approver="reviewer")
    call = funds.record_call("sf1", "10%", date(2026, 2, 1), date(2026, 3, 1), actor="manager", client_id=new_key())
    funds.approve_call(call, approver="reviewer")
    pools = build_pool(ledger)  # 1000万 paid in; bank A: 300万 per loan, 500万 a year
    for number in ("L1", "L2"):  # two 400万 defaults, 50% compensated: 200万 each
        claim = pools.submit_claim(
            defaulted_loan(pools, number=number), "400万", date(2026, 9, 1), actor="banker", client_id=new_key()
        )
        pools.approve_claim(claim, approver="auditor", paid_on=date(2026, 9, 2))
    return {"call": call}


def seed_vouchers(ledger):
    scheme = build_scheme(
        ledger, regions=(SHANGHAI,), budget="20万", per_application="20万", cap_enforcement="warn"
    )  # the enterprise cap is 10万
    scheme.grant(SHANGHAI, "15万")
    return scheme


@pytest.fixture
def world(ledger):
    return {
        "subsidies": seed_subsidies(ledger),
        "funds": seed_funds(ledger),
        "vouchers": seed_vouchers(ledger),
    }


def figures(alert) -> tuple:
    return (
        alert["kind"],
        alert["subject"],
        alert["region"],
        alert["amount_fen"],
        alert["limit_fen"],
        alert["excess_fen"],
    )


def expected_alerts(world, subfund_id: int) -> set[tuple]:
    first = world["subsidies"]["first"]
    over_claim = world["subsidies"]["grants"][first][0]
    scheme = world["vouchers"]
    program, enterprise = scheme.programs[SHANGHAI], scheme.enterprises[SHANGHAI]
    return {
        # subsidies: warn caps and budget
        ("claim_must_not_exceed_per_claim_cap", f"{PROGRAM}:grant-{over_claim}", "440100", 45 * WAN, 40 * WAN, 5 * WAN),
        (
            "institution_year_total_must_not_exceed_cap",
            f"{PROGRAM}:{first}:2019",
            "440100",
            75 * WAN,
            50 * WAN,
            25 * WAN,
        ),
        ("awardees_per_year_must_not_exceed_limit", f"{PROGRAM}:awardees:2019", "440100", None, None, None),
        ("grants_must_not_exceed_program_budget", f"{PROGRAM}:budget:2019", "440100", 105 * WAN, 100 * WAN, 5 * WAN),
        # funds: structure, first call and fee let through by warn; the pool and its bank near their limits
        ("guidance_share_out_of_bounds", "sf1", "440100", 3500 * WAN, 3000 * WAN, 500 * WAN),  # 30% of 1亿
        ("first_call_below_minimum", f"sf1:capital_call-{world['funds']['call']}", "440100", None, None, None),
        ("fee_rate_above_cap", f"sf1:subfund-{subfund_id}", "440100", None, None, None),
        ("pool_balance_near_exhaustion", "gz", "440100", 600 * WAN, 700 * WAN, 100 * WAN),
        ("bank_annual_cap_nearly_used", f"gz:{BANK_A}:2026", "440100", 400 * WAN, 500 * WAN, 25 * WAN),
        # vouchers: budget nearly granted, an enterprise over its cap under warn, quota unused near use-by
        ("voucher_budget_nearly_granted", program, SHANGHAI, 15 * WAN, 20 * WAN, 1 * WAN),
        ("grant_within_enterprise_annual_cap", f"{program}:{enterprise}", SHANGHAI, 15 * WAN, 10 * WAN, 5 * WAN),
        ("voucher_quota_unused_near_use_by", f"{program}:{enterprise}", SHANGHAI, 15 * WAN, 15 * WAN, 15 * WAN),
    }


def test_every_kind_of_breach_is_one_alert_with_its_figures(ledger, world):
    result = run(ledger, "breach-scan", now=SCAN_DAY, config=CONFIG)
    assert result.status == "succeeded"
    with ledger.engine.connect() as conn:
        subfund_id = conn.exec_driver_sql("SELECT id FROM funds_subfunds").scalar()
    alerts = list_alerts(ledger.engine)
    assert {figures(alert) for alert in alerts} == expected_alerts(world, subfund_id)
    assert len(alerts) == len(expected_alerts(world, subfund_id)) == result.counts["alerts_open"]
    assert result.counts == {"subsidies": 4, "funds": 5, "vouchers": 3, "monitors": 0, "alerts_open": 12}
    by_kind = {alert["kind"]: alert for alert in alerts}
    assert by_kind["institution_year_total_must_not_exceed_cap"]["citation"] == "test cap"
    assert by_kind["fee_rate_above_cap"]["citation"] == FEE_SOURCE
    assert by_kind["voucher_quota_unused_near_use_by"]["severity"] == "info"
    awardees = by_kind["awardees_per_year_must_not_exceed_limit"]["message"]
    assert awardees == "2 institutions were granted awards in 2019, above the limit of 1"
    assert all(alert["message"] and alert["rule"] for alert in alerts)


def test_the_cli_run_of_a_scan_that_finds_breaches_exits_non_zero(ledger, world, database_url, monkeypatch):
    from typer.testing import CliRunner

    from api.cli import app as cli_app

    monkeypatch.setattr("jobs.definitions.jobs_config", lambda: CONFIG)
    result = CliRunner().invoke(
        cli_app, ["jobs", "run", "breach-scan", "--period", "2026-06-15"], env={"FUNDLEDGER_DATABASE_URL": database_url}
    )
    assert result.exit_code == 1
    # Scanned as of today (the unused-quota warning depends on how near its use-by date that is).
    assert result.output.startswith('breach-scan [2026-06-15]: succeeded {"subsidies": 4, "funds": 5, "vouchers": ')


def test_a_rerun_changes_nothing_and_a_later_run_keeps_the_same_alerts(ledger, world):
    run(ledger, "breach-scan", now=SCAN_DAY, config=CONFIG)
    before = list_alerts(ledger.engine, status="all")
    assert run(ledger, "breach-scan", now=SCAN_DAY, config=CONFIG).status == "already_ran"
    assert list_alerts(ledger.engine, status="all") == before
    run(ledger, "breach-scan", now=SCAN_DAY + timedelta(days=1), config=CONFIG)
    after = list_alerts(ledger.engine, status="all")
    assert [(a["id"], a["first_seen"], figures(a)) for a in after] == [
        (a["id"], a["first_seen"], figures(a)) for a in before
    ]


def test_a_clawed_back_grant_clears_its_breaches(ledger, world):
    run(ledger, "breach-scan", now=SCAN_DAY, config=CONFIG)
    service, first = world["subsidies"]["service"], world["subsidies"]["first"]
    clawback = service.request_clawback(
        world["subsidies"]["grants"][first][0], reason="duplicate claim", actor="clerk-li", client_id=new_key()
    )
    service.approve_clawback(clawback, approver="director-wang", approval_doc="穗科函〔2019〕9号")
    run(ledger, "breach-scan", now=SCAN_DAY + timedelta(days=1), config=CONFIG)
    open_kinds = {alert["kind"] for alert in list_alerts(ledger.engine)}
    assert "claim_must_not_exceed_per_claim_cap" not in open_kinds  # the 45万 grant is gone
    assert "grants_must_not_exceed_program_budget" not in open_kinds  # 60万 of 100万 left
    assert "institution_year_total_must_not_exceed_cap" not in open_kinds  # 30万 this year
    cleared = list_alerts(ledger.engine, status="resolved")
    assert {alert["resolved_by"] for alert in cleared} == {"job:breach-scan"}
    assert len(cleared) == 3


def test_a_balance_monitor_raises_once_and_clears_when_the_balance_crosses_back(ledger):
    from tests.ledger_helpers import BOOK, chart, fund, transfer

    chart(ledger)
    fund(ledger)  # the bank holds the fund's money
    add_monitor(
        ledger,
        "bank-low",
        book=BOOK,
        account="Assets:Bank",
        field="balance",
        operator="<",
        threshold="900元",
        actor="finance.li",
    )
    day = SCAN_DAY
    assert run(ledger, "breach-scan", now=day, config=CONFIG).counts["monitors"] == 0
    ledger.post(transfer("spend-1", "Expenses:Grants", "Assets:Bank", "200"))
    run(ledger, "breach-scan", now=day + timedelta(days=1), config=CONFIG)
    [crossed] = list_alerts(ledger.engine)
    ledger.post(transfer("spend-2", "Expenses:Grants", "Assets:Bank", "100"))
    run(ledger, "breach-scan", now=day + timedelta(days=2), config=CONFIG)  # still crossed: the same alert
    [alert] = list_alerts(ledger.engine)
    assert (alert["id"], alert["first_seen"]) == (crossed["id"], crossed["first_seen"])
    assert (alert["kind"], alert["amount_fen"], alert["limit_fen"]) == ("balance_monitor_crossed", 700_00, 900_00)
    assert crossed["amount_fen"] == 800_00 and alert["last_seen"] >= crossed["last_seen"]
    ledger.post(transfer("refill-1", "Assets:Bank", "NetAssets:Appropriations", "300"))
    run(ledger, "breach-scan", now=day + timedelta(days=3), config=CONFIG)
    assert list_alerts(ledger.engine) == []
    assert [a["resolved_by"] for a in list_alerts(ledger.engine, status="resolved")] == ["job:breach-scan"]


def test_monitors_are_refused_with_a_code_and_managed_from_the_cli(ledger, database_url):
    import json

    from typer.testing import CliRunner

    from api.cli import app as cli_app
    from ledger.errors import LedgerError
    from tests.ledger_helpers import BOOK, chart

    chart(ledger)
    for bad, code in (
        ({"operator": "=="}, "monitor_invalid"),
        ({"field": "mood"}, "monitor_invalid"),
        ({"account": "Assets:Nowhere"}, "account_not_found"),
    ):
        rule = {"book": BOOK, "account": "Assets:Bank", "field": "balance", "operator": "<", "threshold": "1万"} | bad
        with pytest.raises(LedgerError) as refused:
            add_monitor(ledger, "m", actor="t", **rule)
        assert refused.value.code == code, refused.value.message
    runner = CliRunner()
    env = {"FUNDLEDGER_DATABASE_URL": database_url, "COLUMNS": "200"}
    add = ["jobs", "monitor", "add", "low", "--book", BOOK, "--account", "Assets:Bank", "--field", "available"]
    assert runner.invoke(cli_app, [*add, "--operator", "<", "--threshold", "1万"], env=env).exit_code == 0
    assert runner.invoke(cli_app, [*add, "--operator", "<", "--threshold", "1万"], env=env).exit_code == 0  # retry
    other = runner.invoke(cli_app, [*add, "--operator", ">", "--threshold", "1万"], env=env)
    assert other.exit_code == 1 and "monitor_exists" in other.output
    [listed] = json.loads(runner.invoke(cli_app, ["jobs", "monitor", "list", "--format", "json"], env=env).output)
    assert (listed["name"], listed["rule"]) == ("low", "available < 10000.00")
    assert runner.invoke(cli_app, ["jobs", "monitor", "remove", "low"], env=env).exit_code == 0
    assert runner.invoke(cli_app, ["jobs", "monitor", "remove", "low"], env=env).exit_code == 1


def _monitor_alerts(ledger) -> list[tuple]:
    return [
        (alert["id"], alert["subject"], alert["region"], alert["amount_fen"], alert["limit_fen"], alert["first_seen"])
        for alert in list_alerts(ledger.engine, kind="balance_monitor_crossed")
    ]


def test_a_voucher_program_monitor_raises_once_on_crossing_and_clears_when_quota_returns(ledger):
    """grantable <= 10万 on a 20万 program: not crossed, then crossed by a 10万 grant (one alert, kept on the next
    scan), then crossed back when the unused quota expires to the budget after use-by (cleared)."""
    from jobs.monitors import add_program_monitor

    scheme = build_scheme(ledger, regions=(SHANGHAI,), budget="20万", per_application="10万")
    program = scheme.programs[SHANGHAI]
    add_program_monitor(
        ledger,
        "sh-budget-low",
        program_kind="voucher",
        program=program,
        field="grantable",
        operator="<=",
        threshold="10万",
        actor="finance.zhang",
    )
    config = JobsConfig(retry=Retry(attempts=1))
    day = datetime(2026, 5, 1, 2, 0, tzinfo=UTC)
    assert run(ledger, "breach-scan", now=day, config=config).counts["monitors"] == 0
    scheme.grant(SHANGHAI, "10万")
    run(ledger, "breach-scan", now=day + timedelta(days=1), config=config)
    [crossed] = _monitor_alerts(ledger)
    subject = f"sh-budget-low: voucher program {program}"
    assert crossed[1:5] == (subject, SHANGHAI, 10 * WAN, 10 * WAN)
    run(ledger, "breach-scan", now=day + timedelta(days=2), config=config)
    assert _monitor_alerts(ledger) == [crossed]  # still crossed: the same alert, not a second one
    after_use_by = datetime(2026, 7, 1, 2, 0, tzinfo=UTC)
    assert run(ledger, "voucher-expiry", now=after_use_by, config=config).counts["quotas_returned"] == 1
    run(ledger, "breach-scan", now=after_use_by, config=config)
    assert _monitor_alerts(ledger) == []
    [cleared] = list_alerts(ledger.engine, status="resolved", kind="balance_monitor_crossed")
    assert (cleared["id"], cleared["resolved_by"]) == (crossed[0], "job:breach-scan")


def test_a_subsidy_program_monitor_watches_the_program_year_of_the_scan(ledger):
    """available < 50万 of a 100万-a-year program: crossed in 2026 by a 60万 grant, not in 2027 (a new year's
    budget), when the alert clears."""
    from jobs.monitors import add_program_monitor

    ledger.register_region("440100", "广州市")
    service = SubsidyService(ledger)
    program = install(service, program_text("mon", budget='"100万"', first_year=2026, last_year=2027))
    institution = ledger.register_institution(credit_code(7), "Institution 7", "university", region_code="440100")
    add_program_monitor(
        ledger,
        "mon-available",
        program_kind="subsidy",
        program=program.code,
        field="available",
        operator="<",
        threshold="50万",
        severity="critical",
        actor="finance.zhang",
    )
    application = service.submit_application(
        program.code, institution, 2026, {"claim": "60万"}, actor="clerk-li", client_id=new_key()
    )
    service.approve(application, approver="director-wang")
    config = JobsConfig(retry=Retry(attempts=1))
    run(ledger, "breach-scan", now=datetime(2026, 8, 1, 2, 0, tzinfo=UTC), config=config)
    [alert] = list_alerts(ledger.engine, kind="balance_monitor_crossed")
    assert (alert["subject"], alert["region"], alert["severity"]) == (
        "mon-available: subsidy program mon 2026",
        "440100",
        "critical",
    )
    assert (alert["amount_fen"], alert["limit_fen"], alert["excess_fen"]) == (40 * WAN, 50 * WAN, 10 * WAN)
    run(ledger, "breach-scan", now=datetime(2027, 1, 2, 2, 0, tzinfo=UTC), config=config)
    assert list_alerts(ledger.engine, kind="balance_monitor_crossed") == []


def test_program_monitors_are_refused_with_a_code_and_added_from_the_cli(ledger, database_url):
    import json

    from typer.testing import CliRunner

    from api.cli import app as cli_app
    from jobs.monitors import add_program_monitor
    from ledger.errors import LedgerError

    scheme = build_scheme(ledger, regions=(SHANGHAI,))
    program = scheme.programs[SHANGHAI]
    rule = {"program_kind": "voucher", "program": program, "field": "used", "operator": ">", "threshold": "1万"}
    for bad, code in (
        ({"program_kind": "fund"}, "monitor_invalid"),
        ({"field": "balance"}, "monitor_invalid"),  # an account's field, not a program's
        ({"program": "nowhere"}, "program_not_found"),
        ({"program_kind": "subsidy", "field": "granted"}, "program_not_found"),
    ):
        with pytest.raises(LedgerError) as refused:
            add_program_monitor(ledger, "m", actor="t", **(rule | bad))
        assert refused.value.code == code, refused.value.message
    runner = CliRunner()
    env = {"FUNDLEDGER_DATABASE_URL": database_url, "COLUMNS": "200"}
    add = ["jobs", "monitor", "add", "used", "--voucher-program", program, "--field", "used"]
    assert runner.invoke(cli_app, [*add, "--operator", ">", "--threshold", "1万"], env=env).exit_code == 0
    both = runner.invoke(
        cli_app, [*add, "--book", "b", "--account", "a", "--operator", ">", "--threshold", "1"], env=env
    )
    assert both.exit_code == 2 and "watch one thing" in both.output
    [listed] = json.loads(runner.invoke(cli_app, ["jobs", "monitor", "list", "--format", "json"], env=env).output)
    assert (listed["watches"], listed["rule"], listed["region"]) == (
        f"voucher program {program}",
        "used > 10000.00",
        SHANGHAI,
    )


def test_the_funds_checks_over_time_each_become_one_alert_with_their_figures(ledger):
    """The sub-fund and pool rules the first test does not seed: the guidance fund the largest investor (let
    through by warn), targets, 返投 and idle money at the end of the investment period, and an enterprise's
    filed loans over the pool's annual cap (warn). Exactly these alerts, each with its figures."""
    from tests.funds.test_issue11_defects import FIRM_1, GF, _pool_with_filing_cap, commit, file, guidance_service
    from tests.funds.test_issue11_defects import subfund as make_subfund

    warn_largest = DEFAULT_FUND_POLICY.model_copy(
        update={"guidance_never_largest": PolicyValue(value="yes", source="test: never largest", enforcement="warn")}
    )
    funds = guidance_service(ledger, warn_largest)
    make_subfund(funds, size="1000万")  # investment period ends 2030-12-31
    commit(funds, "sf1", "LP-SOCIAL", "200万")
    commit(funds, "sf1", GF, "250万", guidance=True)  # 25% of the fund: within bounds, but the largest
    funds.establish_subfund("sf1", date(2026, 2, 1), actor="g")
    call = funds.record_call("sf1", "100%", date(2026, 2, 1), date(2026, 3, 1), actor="m", client_id=new_key())
    for investor, amount_fen in funds.approve_call(call, approver="r").items():
        funds.pay_call(call, investor, f"{amount_fen // 100}", date(2026, 2, 10), actor="m", client_id=new_key())
    funds.invest(
        "sf1",
        "ENT-1",
        "100万",
        date(2026, 5, 1),
        stage="growth",
        is_local=False,
        sector="ai",
        hard_tech=False,
        actor="m",
        client_id=new_key(),
    )  # neither a target enterprise nor local; 350万 stays in the bank from then on
    pools = _pool_with_filing_cap(ledger, "warn")
    file(pools, "L1", "1500万")
    file(pools, "L2", "800万")  # 2300万 filed for one firm in 2026, over the 2000万 cap

    result = run(ledger, "breach-scan", now=datetime(2031, 1, 2, 2, 0, tzinfo=UTC), config=CONFIG)

    assert {figures(alert) for alert in list_alerts(ledger.engine)} == {
        ("guidance_must_not_be_largest_investor", "sf1", "440100", 250 * WAN, 200 * WAN, 50 * WAN),
        ("target_investment_below_fund_share", "sf1", "440100", 0, 500 * WAN, 500 * WAN),  # 50% of 1000万
        ("target_investment_below_guidance_multiple", "sf1", "440100", 0, 750 * WAN, 750 * WAN),  # 3x 250万
        ("local_reinvestment_below_multiple", "sf1", "440100", 0, 375 * WAN, 375 * WAN),  # 1.5x 250万
        ("money_idle_too_long", "sf1", "440100", 350 * WAN, 0, 350 * WAN),
        (
            "enterprise_annual_filed_loans_cap_exceeded",
            f"gz:{FIRM_1}:2026",
            "440100",
            2300 * WAN,
            2000 * WAN,
            300 * WAN,
        ),
    }
    assert result.counts == {"subsidies": 0, "funds": 6, "vouchers": 0, "monitors": 0, "alerts_open": 6}
