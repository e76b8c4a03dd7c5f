"""The limit-breach scan: every domain's rules (they live in the domain packages) and the balance monitors,
their findings turned into alerts. Thin: no rule is decided here."""

from __future__ import annotations

from datetime import datetime

from jobs.alerts import Finding
from jobs.config import JobsConfig
from jobs.monitors import MONITOR_ALERT_KIND, monitor_findings
from jobs.runs import JobOutcome
from ledger.engine import Ledger
from ledger.numbers import SHANGHAI


def scan_kinds() -> tuple[str, ...]:
    """Every alert kind the scan owns: an open one it does not find again clears."""
    from funds.checks import SCAN_KINDS as FUNDS_KINDS
    from subsidies.rules import CAP_CODES
    from vouchers.scan import SCAN_KINDS as VOUCHER_KINDS

    subsidy_kinds = {str(code) for code in CAP_CODES.values()}
    return tuple(sorted({*FUNDS_KINDS, *VOUCHER_KINDS, *subsidy_kinds, MONITOR_ALERT_KIND}))


def breach_scan(ledger: Ledger, now: datetime, config: JobsConfig) -> JobOutcome:
    from funds.checks import ScanThresholds as FundThresholds
    from funds.checks import scan_funds
    from subsidies.audit import breach_scan as subsidy_breaches
    from subsidies.service import SubsidyService
    from vouchers.scan import ScanThresholds as VoucherThresholds
    from vouchers.scan import scan_vouchers

    today = now.astimezone(SHANGHAI).date()
    thresholds = config.thresholds
    subsidies = [
        Finding(
            breach.code,
            breach.subject,
            breach.message,
            "warning",
            amount_fen=breach.amount_fen,
            limit_fen=breach.limit_fen,
            excess_fen=breach.excess_fen,
            region=breach.region,
            rule=breach.rule,
            citation=breach.citation,
        )
        for breach in subsidy_breaches(SubsidyService(ledger))
    ]
    funds = [
        Finding(
            str(finding.code),
            finding.subject,
            finding.message,
            "warning",
            amount_fen=finding.amount_fen,
            limit_fen=finding.limit_fen,
            excess_fen=finding.excess_fen,
            region=finding.region,
            rule=str(finding.code),
            citation=finding.citation or None,
        )
        for finding in scan_funds(
            ledger,
            today,
            FundThresholds(
                pool_remaining_min=thresholds.ratio("pool_remaining_min"),
                bank_annual_cap_near=thresholds.ratio("bank_annual_cap_near"),
            ),
        )
    ]
    vouchers = [
        Finding(
            finding.kind,
            finding.subject,
            finding.message,
            finding.severity,
            amount_fen=finding.amount_fen,
            limit_fen=finding.limit_fen,
            excess_fen=finding.excess_fen,
            region=finding.region,
            rule=finding.kind,
            citation=finding.citation or None,
        )
        for finding in scan_vouchers(
            ledger,
            today,
            VoucherThresholds(
                budget_granted_near=thresholds.ratio("voucher_budget_granted_near"),
                quota_use_by_warning_days=thresholds.quota_use_by_warning_days,
            ),
        )
    ]
    monitored = monitor_findings(ledger, today)
    findings = [*subsidies, *funds, *vouchers, *monitored]
    return JobOutcome(
        counts={
            "subsidies": len(subsidies),
            "funds": len(funds),
            "vouchers": len(vouchers),
            "monitors": len(monitored),
        },
        findings=findings,
        alert_kinds=scan_kinds(),
    )
