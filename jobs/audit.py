"""The whole audit: the core's (hash chain, cached balances, books balance) and every domain's
control-account reconciliation. ``fundledger verify`` and the reconcile job both run this one function,
so they can never disagree about what "clean" means.

The ledger knows nothing of the domains; this outer layer names them. Each domain package has a
``controls`` module with ``reconcile_controls(engine) -> list[Finding]`` that reads its own tables and its
control accounts in one snapshot.
"""

from __future__ import annotations

import importlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from sqlalchemy import Engine

from ledger.audit import AuditReport, audit
from ledger.controls import CONTROL_FINDING_KIND
from ledger.queries import Finding, reconcile

DOMAIN_CONTROL_MODULES = ("funds.controls", "vouchers.controls", "subsidies.controls")


@dataclass
class FullAuditReport:
    core: AuditReport
    controls: list[Finding]

    @property
    def clean(self) -> bool:
        return self.core.clean and not self.controls


def domain_control_kinds() -> tuple[str, ...]:
    """Every finding kind a domain check may report (so the reconcile job resolves them once fixed)."""
    kinds = {CONTROL_FINDING_KIND}
    for name in DOMAIN_CONTROL_MODULES:
        kinds.update(getattr(importlib.import_module(name), "CONTROL_FINDING_KINDS", ()))
    return tuple(sorted(kinds))


def reconcile_domains(engine: Engine) -> list[Finding]:
    """Every domain's control-account check, one thread each: their time goes to database reads (which release
    the GIL) as much as to Python, so on a spare core they overlap."""
    with ThreadPoolExecutor(max_workers=len(DOMAIN_CONTROL_MODULES), thread_name_prefix="controls") as pool:
        checks = [
            pool.submit(importlib.import_module(name).reconcile_controls, engine) for name in DOMAIN_CONTROL_MODULES
        ]
        return [finding for check in checks for finding in check.result()]


def reconcile_with_controls(engine: Engine) -> tuple[list[Finding], list[Finding]]:
    """The core reconciliation (cached balances, month totals, books balance) and every domain's control
    accounts, side by side, without the hash chain: (core findings, domain findings)."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="reconcile") as pool:
        controls = pool.submit(reconcile_domains, engine)
        return reconcile(engine), controls.result()


def audit_all(engine: Engine) -> FullAuditReport:
    # The domain checks read far less than the core's; they run beside it on the spare core.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="controls") as pool:
        controls = pool.submit(reconcile_domains, engine)
        core = audit(engine)
        return FullAuditReport(core, controls.result())
