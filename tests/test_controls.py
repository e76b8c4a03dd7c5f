"""ledger.controls: the reads every domain's control-account check is built on."""

from ledger.controls import compare, posted_balances, posted_by, snapshot, transaction_legs
from tests.ledger_helpers import BOOK, chart, transfer


def _world(ledger):
    chart(ledger)
    ledger.post(transfer("fund-2025", "Assets:Bank", "NetAssets:Appropriations", "1000.00", program_year=2025))
    ledger.post(transfer("fund-2026", "Assets:Bank", "NetAssets:Appropriations", "300.00", program_year=2026))
    ledger.post(transfer("grant-1", "Expenses:Grants", "Assets:Bank", "120.50", kind="grant", program_year=2026))
    ledger.post(transfer("reserve", "Expenses:Grants", "Assets:Bank", "9.00", pending=True))


def test_posted_by_groups_posted_legs_by_account_kind_and_program_year(ledger):
    _world(ledger)
    with snapshot(ledger.engine) as conn:
        everything = posted_by(conn, books=[BOOK])
        by_year = posted_by(conn, books=[BOOK], path="Assets:Bank", by_program_year=True)
        grants = posted_by(conn, prefix="Expenses", kind="grant")
        nothing = posted_by(conn, books=[BOOK], kind="no-such-kind")
        cached = posted_balances(conn, book=BOOK)
    assert by_year == {(BOOK, "Assets:Bank", 2025): 100_000, (BOOK, "Assets:Bank", 2026): 30_000 - 12_050}
    assert grants == {(BOOK, "Expenses:Grants"): 12_050}
    assert nothing == {}
    # The pending reservation is not posted: summed postings equal the cached posted totals.
    assert everything == {account: fen for account, fen in cached.items() if fen}


def test_transaction_legs_and_compare_name_each_difference(ledger):
    _world(ledger)
    with snapshot(ledger.engine) as conn:
        legs = transaction_legs(conn, {"bank": (BOOK, "Assets:Bank"), "grants": (BOOK, "Expenses")})
    assert sorted(legs.values(), key=lambda groups: sorted(groups.items())) == sorted(
        [{"bank": 100_000}, {"bank": 30_000}, {"bank": -12_050, "grants": 12_050}],
        key=lambda groups: sorted(groups.items()),
    )
    assert compare("grants", {"2026": 12_050}, {"2026": 12_050}) == []
    (finding,) = compare("grants", {"2026": 12_050}, {"2026": 12_000, "2027": 0})
    assert (finding.subject, finding.expected_fen, finding.actual_fen) == ("grants 2026", 12_050, 12_000)
    assert "off by -0.50 CNY" in finding.message
