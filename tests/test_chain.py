"""The hash chain: sealed in order, gapless, and any edit made behind the triggers' back is found."""

from sqlalchemy import text

from ledger.chain import seal, verify_chain
from tests.ledger_helpers import BOOK, chart, transfer


def _post_three(ledger):
    chart(ledger)
    for number in range(3):
        ledger.post(transfer(f"t{number}", "Assets:Bank", "NetAssets:Appropriations", f"{number + 1}.00"))


def _tamper(engine, statement: str) -> None:
    """What someone with database superuser rights could do: bypass the append-only triggers."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            conn.execute(text(statement))
        else:
            conn.execute(text("DROP TRIGGER transactions_refuse_update"))
            conn.execute(text("DROP TRIGGER postings_refuse_update"))
            conn.execute(text(statement))


def test_unsealed_transactions_are_counted_then_sealed(ledger):
    _post_three(ledger)
    report = verify_chain(ledger.engine)
    assert (report.sealed, report.unsealed, report.intact) == (0, 3, True)
    assert seal(ledger.engine) == 3
    assert seal(ledger.engine) == 0
    report = verify_chain(ledger.engine)
    assert (report.sealed, report.unsealed, report.intact) == (3, 0, True)


def test_an_edited_memo_breaks_the_chain(ledger):
    _post_three(ledger)
    seal(ledger.engine)
    _tamper(ledger.engine, "UPDATE transactions SET memo = 'edited' WHERE client_id = 't1'")
    report = verify_chain(ledger.engine)
    assert not report.intact
    assert any("does not match its hash" in finding for finding in report.findings)


def test_an_edited_amount_breaks_the_chain(ledger):
    _post_three(ledger)
    seal(ledger.engine)
    _tamper(ledger.engine, "UPDATE postings SET amount_fen = amount_fen * 10")
    assert not verify_chain(ledger.engine).intact


def test_a_changed_approver_breaks_the_chain(ledger):
    _post_three(ledger)
    seal(ledger.engine)
    _tamper(ledger.engine, "UPDATE transactions SET approver = 'someone.else' WHERE client_id = 't0'")
    assert not verify_chain(ledger.engine).intact


def test_each_link_points_at_the_previous_one(ledger):
    _post_three(ledger)
    seal(ledger.engine, batch_size=1)
    with ledger.engine.connect() as conn:
        links = conn.execute(text("SELECT seq, prev_hash, hash FROM chain_links ORDER BY seq")).all()
    assert [link.seq for link in links] == [1, 2, 3]
    assert links[1].prev_hash == links[0].hash and links[2].prev_hash == links[1].hash
    assert ledger.account(BOOK, "Assets:Bank").balance_fen == 600
