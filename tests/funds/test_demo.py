from funds.demo import load_demo


def test_demo_loads_twice_without_change(ledger):
    first = load_demo(ledger)
    second = load_demo(ledger)
    assert first == second
    assert first["subfunds"] == 3 and first["banks"] == 2
    # 1亿 funded; 300万 paid (50% of 600万, per-loan cap 500万 not binding); 90万 recovered (half of 180万 net).
    assert first["pool_balance_fen"] == (10_000 - 300 + 90) * 1_000_000
