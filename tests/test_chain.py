"""The hash chain: sealed in order, gapless, and any edit made behind the triggers' back is found."""

import hashlib
import json
from datetime import UTC

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from ledger.chain import _load, background_chainer, canonical_encoding, seal, verify_chain
from ledger.chain_format import GENESIS_HASH
from tests.chain_legacy import seal_per_transaction
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


def test_a_sealer_whose_head_moved_while_it_hashed_plans_again(ledger, monkeypatch):
    """On SQLite a sealer hashes outside the write lock; if another sealer stored links meanwhile, the first
    must not store its stale plan (a fork of the chain) but plan again from the new head."""
    from ledger import chain

    _post_three(ledger)
    original = chain._plan_batch
    raced: list[int] = []

    def plan_then_race(conn, batch_size):  # noqa: ANN001, ANN202
        plan = original(conn, batch_size)
        if not raced and ledger.engine.dialect.name == "sqlite":
            raced.append(0)
            # Another sealer seals the first transaction only, between our plan and our store.
            raced[0] = chain._seal_batch_outside_the_lock(ledger.engine, 1)
        return plan

    monkeypatch.setattr(chain, "_plan_batch", plan_then_race)
    sealed = seal(ledger.engine)
    if ledger.engine.dialect.name == "sqlite":
        assert raced == [1] and sealed == 2
    report = verify_chain(ledger.engine)
    assert (report.sealed, report.unsealed, report.intact) == (3, 0, True), report.findings
    with ledger.engine.connect() as conn:
        order = [row[0] for row in conn.execute(text("SELECT transaction_id FROM chain_links ORDER BY seq"))]
    assert order == sorted(order)


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


def test_each_link_sealed_per_transaction_points_at_the_previous_one(ledger):
    """The format sealed before migration 0005: one link per transaction, each over the one before."""
    _post_three(ledger)
    assert seal_per_transaction(ledger.engine) == 3
    with ledger.engine.connect() as conn:
        links = conn.execute(text("SELECT seq, prev_hash, hash FROM chain_links ORDER BY seq")).all()
    assert [link.seq for link in links] == [1, 2, 3]
    assert links[1].prev_hash == links[0].hash and links[2].prev_hash == links[1].hash
    report = verify_chain(ledger.engine)
    assert (report.sealed, report.unsealed, report.intact) == (3, 0, True), report.findings
    assert ledger.account(BOOK, "Assets:Bank").balance_fen == 600


def test_each_seal_covers_its_batch_of_leaves_and_points_at_the_previous_seal(ledger):
    """From migration 0005: a sealed batch is one seal over its transactions' leaves, computed at write time."""
    chart(ledger)
    for number in range(5):
        ledger.post(transfer(f"t{number}", "Assets:Bank", "NetAssets:Appropriations", f"{number + 1}.00"))
    assert seal(ledger.engine, batch_size=2) == 5
    with ledger.engine.connect() as conn:
        links = conn.execute(text("SELECT seq, transaction_id, prev_hash, hash FROM chain_links ORDER BY seq")).all()
        seals = conn.execute(
            text("SELECT first_seq, last_seq, prev_hash, hash FROM chain_seals ORDER BY last_seq")
        ).all()
        transactions, legs = _load(conn, [link.transaction_id for link in links])
    assert [(s.first_seq, s.last_seq) for s in seals] == [(1, 2), (3, 4), (5, 5)]
    assert seals[0].prev_hash == GENESIS_HASH
    assert seals[1].prev_hash == seals[0].hash and seals[2].prev_hash == seals[1].hash
    for link in links:
        encoding = canonical_encoding(transactions[link.transaction_id], [leg[:3] for leg in legs[link.transaction_id]])
        assert link.hash == hashlib.sha256(encoding).hexdigest()  # the leaf the writer queued
        covering = next(s for s in seals if s.first_seq <= link.seq <= s.last_seq)
        assert link.prev_hash == covering.prev_hash
    for first, last, prev_hash, hash_ in seals:
        leaves = "".join(link.hash for link in links if first <= link.seq <= last)
        assert hash_ == hashlib.sha256((prev_hash + leaves).encode()).hexdigest()
    report = verify_chain(ledger.engine)
    assert (report.sealed, report.unsealed, report.intact) == (5, 0, True), report.findings


def _reference_encoding(transaction: tuple, legs) -> bytes:
    from ledger.chain import _amount_text, _date_text, _moment_text
    from ledger.store import TRANSACTION_COLUMNS

    content = dict(zip(TRANSACTION_COLUMNS, transaction))
    content["pending"] = bool(content["pending"])
    content["effective_date"] = _date_text(content["effective_date"])
    content["recorded_at"] = _moment_text(content["recorded_at"])
    content["expires_at"] = _moment_text(content["expires_at"])
    content["postings"] = [[account, _amount_text(amount, currency), currency] for account, amount, currency in legs]
    return json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


optional_text = st.one_of(st.none(), st.text(max_size=30))


@settings(max_examples=200, deadline=None)
@given(
    tx_id=st.integers(min_value=1, max_value=2**62),
    texts=st.lists(st.text(max_size=40), min_size=5, max_size=5),
    optional=st.lists(optional_text, min_size=5, max_size=5),
    numbers=st.lists(st.one_of(st.none(), st.integers(min_value=1, max_value=2**62)), min_size=3, max_size=3),
    pending=st.booleans(),
    day=st.dates(),
    moments=st.lists(st.datetimes(timezones=st.just(UTC)), min_size=2, max_size=2),
    legs=st.lists(
        st.tuples(st.integers(1, 10**6), st.integers(-(2**62), 2**62), st.sampled_from(["CNY", "USD", "JPY"])),
        max_size=4,
    ),
)
def test_the_hand_written_canonical_encoding_is_sorted_compact_json(
    tx_id, texts, optional, numbers, pending, day, moments, legs
):
    source, client_id, request_hash, kind, memo = texts
    actor, approver, approval_doc, reason, link_type = optional
    resolves_id, reverses_id, program_year = numbers
    transaction = (
        tx_id,
        source,
        client_id,
        request_hash,
        kind,
        pending,
        day,
        moments[0],
        memo,
        actor or "",
        approver,
        approval_doc,
        reason,
        resolves_id,
        reverses_id,
        moments[1],
        program_year,
        link_type,
        link_type,
    )
    assert canonical_encoding(transaction, legs) == _reference_encoding(transaction, legs)


def test_verification_split_across_worker_processes_checks_every_link_and_the_seams(ledger):
    chart(ledger)
    for number in range(7):
        ledger.post(transfer(f"t{number}", "Assets:Bank", "NetAssets:Appropriations", f"{number + 1}.00"))
    seal(ledger.engine)
    report = verify_chain(ledger.engine, workers=3)
    assert (report.sealed, report.intact) == (7, True)
    # Break the link that starts the second range (at the seam between two workers).
    _tamper_link(ledger.engine, seq=4)
    split = verify_chain(ledger.engine, workers=3)
    single = verify_chain(ledger.engine, workers=1)
    assert not split.intact and not single.intact
    assert any("link 4" in finding for finding in split.findings)
    assert sorted(split.findings) == sorted(single.findings)


def _tamper_link(engine, seq: int) -> None:
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SET LOCAL session_replication_role = replica"))
        else:
            conn.execute(text("DROP TRIGGER chain_links_refuse_update"))
        conn.execute(text("UPDATE chain_links SET prev_hash = :fake WHERE seq = :seq"), {"fake": "f" * 64, "seq": seq})


def test_a_background_chainer_seals_while_writers_write(ledger):
    chart(ledger)
    with background_chainer(ledger.engine):
        for number in range(40):
            ledger.post(transfer(f"bg{number}", "Assets:Bank", "NetAssets:Appropriations", "1.00"))
    seal(ledger.engine)
    report = verify_chain(ledger.engine)
    assert (report.sealed, report.unsealed, report.intact) == (40, 0, True)
