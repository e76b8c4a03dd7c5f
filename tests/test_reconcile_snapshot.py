"""``reconcile`` reads one snapshot: writes committed while it runs cause no false finding and no KeyError
(issue 11, defect 14). Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import threading

from ledger import queries
from ledger.engine import Ledger
from ledger.queries import reconcile
from tests.ledger_helpers import BOOK, chart, fund, transfer

# Writes committed from other connections in the middle of one reconcile.
CONCURRENT_WRITES = 5


def _write_meanwhile(ledger: Ledger, round_number: int) -> None:
    """Another writer: a transfer, and an account opened and posted to, each committed on its own."""
    for number in range(CONCURRENT_WRITES):
        ledger.post(transfer(f"meanwhile-{round_number}-{number}", "Expenses:Grants", "Assets:Bank", "1.00"))
    path = f"Expenses:Opened{round_number}"
    ledger.create_account(BOOK, path)
    ledger.post(transfer(f"opened-{round_number}", path, "Assets:Bank", "2.00"))


def test_defect_14_writes_during_reconcile_are_no_findings(ledger, monkeypatch):
    chart(ledger)
    fund(ledger)
    original = queries._month_total_differences
    rounds = []

    def scan_then_let_others_write(conn):
        # The journal scan is done; the cached totals and the month totals are still to be read. Writers
        # on other connections (another thread, as a concurrent client would be) commit now.
        scanned = original(conn)
        writer = threading.Thread(target=_write_meanwhile, args=(ledger, len(rounds)))
        writer.start()
        writer.join()
        rounds.append(len(rounds))
        return scanned

    monkeypatch.setattr(queries, "_month_total_differences", scan_then_let_others_write)
    for _ in range(3):
        assert reconcile(ledger.engine) == []
    assert len(rounds) == 3
    monkeypatch.undo()
    # What the writers committed is whole and consistent once reconcile sees it.
    assert reconcile(ledger.engine) == []
    assert ledger.account(BOOK, "Expenses:Opened2").debits_posted == 200
