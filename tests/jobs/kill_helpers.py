"""Run as ``python -m tests.jobs.kill_helpers DATABASE_URL MARKER``: a breach scan that stops after finding
its breaches and before recording them, announcing it by creating ``MARKER + READY_SUFFIX``, so the test
can kill it there with SIGKILL."""

from __future__ import annotations

import sys
import time
from pathlib import Path

READY_SUFFIX = ".ready"
HOLD_S = 60


def main(database_url: str, marker: str) -> None:
    import jobs.scan
    from jobs.config import JobsConfig, Retry
    from jobs.definitions import run
    from ledger.db import make_engine
    from ledger.engine import Ledger

    found = jobs.scan.monitor_findings

    def found_then_hold(ledger, today=None):  # noqa: ANN001
        findings = found(ledger, today)
        Path(marker + READY_SUFFIX).touch()
        time.sleep(HOLD_S)  # killed here
        return findings

    jobs.scan.monitor_findings = found_then_hold
    run(Ledger(make_engine(database_url)), "breach-scan", config=JobsConfig(retry=Retry(attempts=1)))


if __name__ == "__main__":
    main(*sys.argv[1:3])
