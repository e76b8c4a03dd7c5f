from vouchers import books
from vouchers.demo import load_demo


def test_demo_loads_three_regions_with_cross_region_redemptions_and_runs_twice(ledger):
    first = load_demo(ledger)
    assert first["regions"] == 3 and first["cross_region_redemptions"] >= 4
    balances = {(a.book, a.path): a.balance_fen for a in ledger.accounts()}
    assert load_demo(ledger) == first
    assert {(a.book, a.path): a.balance_fen for a in ledger.accounts()} == balances
    # the Q1 settlements squared every inter-region account
    for account in ledger.accounts():
        if ":InterRegion:" in account.path and not account.path.startswith("Expenses"):
            assert account.balance_fen == 0, account.path
    assert any(a.path == books.TREASURY for a in ledger.accounts())
