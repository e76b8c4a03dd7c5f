"""The whole-ledger audit that ``fundledger verify`` and the reconcile job run: the hash chain and the
reconciliation of cached balances, side by side.

The two read different things (links, transactions and postings; grouped posting totals) and spend most of
their time outside the GIL (Arrow kernels, hashing of large buffers, SQLite or PostgreSQL aggregation), so
on a machine with a spare core the audit takes little longer than its longer half.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from sqlalchemy import Engine

from ledger.chain import ChainReport, verify_chain
from ledger.queries import Finding, reconcile


@dataclass
class AuditReport:
    chain: ChainReport
    findings: list[Finding]

    @property
    def clean(self) -> bool:
        return self.chain.intact and not self.findings


def audit(engine: Engine) -> AuditReport:
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="reconcile") as pool:
        reconciliation = pool.submit(reconcile, engine)
        chain = verify_chain(engine)
        return AuditReport(chain, reconciliation.result())
