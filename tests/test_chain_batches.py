"""The chain over sealed batches (migration 0005): leaves computed where the data already is, one seal per
batch, both link formats in one chain, and an existing chain carried across the upgrade. Both backends."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, date, datetime, timedelta
from io import StringIO

import pytest
from alembic import command
from alembic.config import Config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from api.bootstrap import migrate
from ledger import chain
from ledger.chain import _load, seal, verify_chain
from ledger.chain_format import canonical_encoding, link_hash
from ledger.db import MIGRATIONS_DIR, make_engine
from ledger.engine import Ledger, posting_specs
from ledger.entries import Audit, PostPendingRequest, ReversalRequest, TransactionRequest, VoidPendingRequest
from ledger.importer import import_csv
from ledger.transaction_views import chain_heads_by_day, seal_status
from tests.chain_legacy import seal_per_transaction
from tests.conftest import POSTGRES_URL
from tests.ledger_helpers import BOOK, BUDGET_BOOK, DAY, chart, transfer


def _post(ledger: Ledger, count: int, prefix: str = "t") -> None:
    for number in range(count):
        ledger.post(
            transfer(
                f"{prefix}{number}",
                "Assets:Bank",
                "NetAssets:Appropriations",
                f"{number + 1}.00",
                memo=f"拨付 {number}",
                audit=Audit("clerk", "director", "穗科〔2026〕1号"),
            )
        )


def _bypass_triggers(engine, conn) -> None:
    if engine.dialect.name == "postgresql":
        conn.execute(text("SET LOCAL session_replication_role = replica"))
    else:
        for trigger in conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'")).scalars().all():
            conn.execute(text(f"DROP TRIGGER {trigger}"))


def _tamper(engine, *statements: str) -> None:
    with engine.begin() as conn:
        _bypass_triggers(engine, conn)
        for statement in statements:
            conn.execute(text(statement))


def _both_checks(engine) -> list[str]:
    """The findings, which the bulk check (Arrow) and the row-by-row check must agree on."""
    bulk = verify_chain(engine, workers=1, bulk=True).findings
    reference = verify_chain(engine, workers=1, bulk=False).findings
    assert bulk == reference
    return bulk


def _stored_leaf(conn, tx_id: int) -> str:
    transactions, legs = _load(conn, [tx_id])
    encoding = canonical_encoding(transactions[tx_id], [leg[:3] for leg in legs[tx_id]])
    return hashlib.sha256(encoding).hexdigest()


# -- leaves at write time -------------------------------------------------------------------------------


def test_every_writer_queues_the_leaf_of_what_it_stored(ledger):
    """Leaves are computed from the values handed to the driver, before anything is read back: for every
    kind of request and the importer, the queued leaf is the hash of the stored row's encoding."""
    chart(ledger)
    ledger.post(transfer("fund", "Assets:Bank", "NetAssets:Appropriations", "100.00"))
    expiry = datetime.now(UTC) + timedelta(days=3)
    ledger.post(
        TransactionRequest(
            "hold",
            posting_specs(BOOK, [("Expenses:Grants", "5.25"), ("Assets:Bank", "-5.25")]),
            DAY,
            pending=True,
            expires_at=expiry,
            program_year=2026,
            link_type="grant",
            link_id="G-1",
        )
    )
    ledger.post(PostPendingRequest("hold-post", ("api", "hold"), amount="3"))
    ledger.post(
        TransactionRequest(
            "hold2", posting_specs(BOOK, [("Expenses:Grants", "1.00"), ("Assets:Bank", "-1.00")]), DAY, pending=True
        )
    )
    ledger.post(VoidPendingRequest("hold2-void", ("api", "hold2"), reason="not needed"))
    ledger.post(
        transfer("budget", "BudgetExpenditure:Grants", "BudgetRevenue:Appropriations", "9.99", book=BUDGET_BOOK)
    )
    ledger.post(ReversalRequest("undo-budget", ("api", "budget"), reason="红字冲销 test"))
    csv = (
        "tx_id,date,account,amount,memo\n"
        'im1,2026-03-11,Assets:Bank,12.34,"导入 ""q"""\n'
        'im1,2026-03-11,NetAssets:Appropriations,-12.34,"导入 ""q"""\n'
    )
    report = import_csv(ledger, StringIO(csv), book=BOOK)
    assert report.posted == 1, report.errors
    with ledger.engine.connect() as conn:
        queued = conn.execute(text("SELECT transaction_id, leaf_hash, period, book_ids FROM seal_queue")).all()
        assert len(queued) == 8
        books = dict(conn.execute(text("SELECT code, id FROM books")).all())
        for tx_id, leaf, period, book_ids in queued:
            assert leaf == _stored_leaf(conn, tx_id)
            legs_books = {
                row[0] for row in conn.execute(text(f"SELECT book_id FROM postings WHERE transaction_id = {tx_id}"))
            }
            assert book_ids == ",".join(str(book) for book in sorted(legs_books))
            stored_day = conn.execute(text(f"SELECT effective_date FROM transactions WHERE id = {tx_id}")).scalar()
            assert period == str(stored_day)[:7]
    assert str(books[BUDGET_BOOK]) in {row[3] for row in queued}
    assert "" in {row[3] for row in queued}  # the void has no legs, so no voucher number
    assert seal(ledger.engine) == 8
    assert _both_checks(ledger.engine) == []


def test_sealing_reads_no_transaction_back(ledger, monkeypatch):
    chart(ledger)
    _post(ledger, 4)

    def refuse(*_args):
        raise AssertionError("the chainer read a transaction back")

    monkeypatch.setattr(chain, "_load", refuse)
    assert seal(ledger.engine) == 4
    monkeypatch.undo()
    assert verify_chain(ledger.engine).intact


def test_voucher_numbers_and_the_day_head_come_from_the_seals(ledger):
    chart(ledger)
    _post(ledger, 3)
    ledger.post(transfer("b1", "BudgetExpenditure:Grants", "BudgetRevenue:Appropriations", "1.00", book=BUDGET_BOOK))
    seal(ledger.engine, batch_size=3)
    with ledger.engine.connect() as conn:
        last_seal = conn.execute(text("SELECT last_seq, hash FROM chain_seals ORDER BY last_seq DESC LIMIT 1")).first()
        ids = [row[0] for row in conn.execute(text("SELECT transaction_id FROM chain_links ORDER BY seq"))]
    assert [str(number) for number in seal_status(ledger.engine, ids[-1]).voucher_numbers] == [
        f"{BUDGET_BOOK} 2026-03 第1号"
    ]
    assert [number.number for tx_id in ids[:3] for number in seal_status(ledger.engine, tx_id).voucher_numbers] == [
        1,
        2,
        3,
    ]
    head = chain_heads_by_day(ledger.engine)[0]
    assert (head.seq, head.hash, head.links) == (last_seal[0], last_seal[1], 4)


# -- tampering with the new structure ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("statements", "expected"),
    [
        (["UPDATE chain_seals SET hash = 'f' WHERE last_seq = 6"], None),
        (["UPDATE chain_seals SET prev_hash = 'f' WHERE last_seq = 6"], None),
        (["DELETE FROM chain_seals WHERE last_seq = 6"], None),
        (
            ["UPDATE chain_seals SET first_seq = 2 WHERE last_seq = 6"],
            ["seal of links 2 to 6 overlaps the seal before it"],
        ),
        (["UPDATE chain_links SET hash = 'f' WHERE seq = 5"], None),
        (["DELETE FROM chain_links WHERE seq = 9"], None),
        (
            [
                "UPDATE chain_links SET transaction_id = -4 WHERE seq = 4",
                "UPDATE chain_links SET transaction_id = 4 WHERE seq = 5",
                "UPDATE chain_links SET transaction_id = 5 WHERE seq = 4",
            ],
            None,
        ),
        (
            ["UPDATE transactions SET memo = 'edited' WHERE client_id = 't7'"],
            ["transaction 8 (link 8) does not match its hash"],
        ),
        (
            ["UPDATE transactions SET memo = 'has \"quotes\"' WHERE client_id = 't0'"],
            ["transaction 1 (link 1) does not match its hash"],
        ),
    ],
    ids=[
        "seal-hash",
        "seal-prev",
        "seal-gone",
        "seal-overlap",
        "leaf",
        "link-gone",
        "links-swapped",
        "memo",
        "memo-escaped",
    ],
)
def test_every_tampering_with_seals_and_leaves_is_found_alike_by_both_checks(ledger, statements, expected):
    chart(ledger)
    _post(ledger, 9)
    seal(ledger.engine, batch_size=3)  # seals of links 1-3, 4-6, 7-9
    assert _both_checks(ledger.engine) == []
    _tamper(ledger.engine, *statements)
    findings = _both_checks(ledger.engine)
    assert findings
    if expected is not None:
        assert findings[: len(expected)] == expected


def test_a_leaf_rewritten_to_match_an_edited_transaction_breaks_its_seal(ledger):
    """Someone who edits a transaction and recomputes its leaf still fails the seal over the leaves."""
    chart(ledger)
    _post(ledger, 6)
    seal(ledger.engine, batch_size=3)
    _tamper(ledger.engine, "UPDATE transactions SET memo = 'edited' WHERE id = 5")
    with ledger.engine.connect() as conn:
        forged = _stored_leaf(conn, 5)
    _tamper(ledger.engine, f"UPDATE chain_links SET hash = '{forged}' WHERE seq = 5")
    assert _both_checks(ledger.engine) == ["seal of links 4 to 6 does not match its links' hashes"]


def test_verification_split_across_workers_keeps_each_seal_whole(ledger):
    chart(ledger)
    _post(ledger, 10)
    seal(ledger.engine, batch_size=4)  # seals of 1-4, 5-8, 9-10: split points in the middle of seals
    with ledger.reader.connect() as conn:
        assert chain._align_to_seals(conn, chain._split(10, 3)) == [(1, 4), (5, 8), (9, 10)]
    assert verify_chain(ledger.engine, workers=3, bulk=False).intact
    _tamper(ledger.engine, "UPDATE chain_seals SET prev_hash = 'f' WHERE last_seq = 8")
    split = verify_chain(ledger.engine, workers=3, bulk=False).findings
    single = verify_chain(ledger.engine, workers=1, bulk=False).findings
    # The seal now points elsewhere: so do its links not point at it, and its hash (over the previous
    # hash) no longer matches. Split, the seal's start is checked at the seam, after the worker's findings.
    assert single == [
        "seal of links 5 to 8 does not point at the previous link's hash",
        *(f"link {seq} does not point at the previous link's hash" for seq in range(5, 9)),
        "seal of links 5 to 8 does not match its links' hashes",
    ]
    assert sorted(split) == sorted(single)


# -- both formats in one chain, and the upgrade ---------------------------------------------------------


def test_seals_follow_links_sealed_per_transaction(ledger):
    chart(ledger)
    _post(ledger, 4, "old")
    seal_per_transaction(ledger.engine)
    _post(ledger, 4, "new")
    seal(ledger.engine, batch_size=3)
    with ledger.engine.connect() as conn:
        last_old = conn.execute(text("SELECT hash FROM chain_links WHERE seq = 4")).scalar_one()
        first_seal = conn.execute(text("SELECT first_seq, prev_hash FROM chain_seals ORDER BY last_seq")).first()
    assert tuple(first_seal) == (5, last_old)
    assert _both_checks(ledger.engine) == []
    _tamper(
        ledger.engine,
        "UPDATE transactions SET memo = 'edited' WHERE client_id = 'old2'",
        "UPDATE transactions SET memo = 'edited' WHERE client_id = 'new2'",
    )
    assert _both_checks(ledger.engine) == [
        "transaction 3 (link 3) does not match its hash",
        "transaction 7 (link 7) does not match its hash",
    ]


def test_a_seal_placed_over_links_sealed_per_transaction_is_found(ledger):
    chart(ledger)
    _post(ledger, 3)
    seal_per_transaction(ledger.engine)
    with ledger.engine.connect() as conn:
        links = conn.execute(text("SELECT prev_hash, hash FROM chain_links ORDER BY seq")).all()
    forged = hashlib.sha256((links[0].prev_hash + "".join(link.hash for link in links)).encode()).hexdigest()
    _tamper(
        ledger.engine,
        "INSERT INTO chain_seals (last_seq, first_seq, prev_hash, hash, sealed_at) "
        f"VALUES (3, 1, '{links[0].prev_hash}', '{forged}', '2026-03-10 00:00:00')",
    )
    findings = _both_checks(ledger.engine)
    assert findings and all("does not" in finding for finding in findings)


def _ledger_revisions_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", str(MIGRATIONS_DIR / "versions"))
    return config


def _write_as_before_0005(engine, ledger: Ledger, count: int) -> None:
    """Transactions written the way writers did before migration 0005: the queue holds only their ids."""
    accounts = {info.path: info.id for info in ledger.accounts(BOOK)}
    book_id = ledger.book(BOOK)["id"]
    postgres = engine.dialect.name == "postgresql"
    with engine.begin() as conn:
        start = conn.execute(text("SELECT COALESCE(MAX(id), 0) FROM transactions")).scalar_one()
        for number in range(count):
            tx_id = start + number + 1
            moment = datetime(2026, 3, 10, 1, 2, 3, 4 + number)
            conn.execute(
                text(
                    "INSERT INTO transactions (id, source, client_id, request_hash, kind, pending, effective_date, "
                    "recorded_at, memo, actor) VALUES (:id, 'api', :client, :digest, 'general', :pending, :day, "
                    ":recorded, :memo, 'clerk')"
                ),
                {
                    "id": tx_id,
                    "client": f"before-{tx_id}",
                    "digest": "ab" * 32,
                    "pending": False if postgres else 0,
                    "day": date(2026, 3, 10) if postgres else "2026-03-10",
                    "recorded": moment if postgres else moment.strftime("%Y-%m-%d %H:%M:%S.%f"),
                    "memo": f"旧 {tx_id}",
                },
            )
            for account, amount in (("Assets:Bank", 100 + number), ("NetAssets:Appropriations", -100 - number)):
                conn.execute(
                    text(
                        "INSERT INTO postings (transaction_id, account_id, book_id, amount_fen, currency, "
                        "effective_date, pending) VALUES (:tx, :account, :book, :amount, 'CNY', :day, :pending)"
                    ),
                    {
                        "tx": tx_id,
                        "account": accounts[account],
                        "book": book_id,
                        "amount": amount,
                        "day": date(2026, 3, 10) if postgres else "2026-03-10",
                        "pending": False if postgres else 0,
                    },
                )
            conn.execute(text("INSERT INTO seal_queue (transaction_id) VALUES (:tx)"), {"tx": tx_id})
        if postgres:  # the ids were given here, not drawn from the sequence the engine draws them from
            conn.execute(text("SELECT setval(pg_get_serial_sequence('transactions', 'id'), MAX(id)) FROM transactions"))


@pytest.fixture
def engine_at_0004(backend, tmp_path):
    """A database whose ledger tables stand at revision 0004 (before the seals)."""
    if backend == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'before-0005.db'}")
        schema = None
    else:
        schema = f"fl_0004_{uuid.uuid4().hex[:10]}"
        admin = make_engine(POSTGRES_URL)
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        admin.dispose()
        engine = make_engine(POSTGRES_URL, schema=schema)
    config = _ledger_revisions_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0004")
    yield engine
    engine.dispose()
    if schema:
        admin = make_engine(POSTGRES_URL)
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def test_a_chain_sealed_before_the_upgrade_verifies_after_it_and_grows_in_seals(engine_at_0004):
    engine = engine_at_0004
    ledger = Ledger(engine)
    chart(ledger)
    _write_as_before_0005(engine, ledger, 5)
    assert seal_per_transaction(engine, limit=3) == 3  # two stay queued, with no leaf, across the upgrade
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == "0004"
    migrate(engine)
    report = verify_chain(engine)
    assert (report.sealed, report.unsealed, report.intact) == (3, 2, True), report.findings
    _post(ledger, 2, "after")
    assert seal(engine, batch_size=3) == 4  # the two queued before the upgrade are read back, then the new ones
    with engine.connect() as conn:
        seals = conn.execute(text("SELECT first_seq, last_seq, prev_hash FROM chain_seals ORDER BY last_seq")).all()
        third = conn.execute(text("SELECT hash FROM chain_links WHERE seq = 3")).scalar_one()
        numbers = conn.execute(text("SELECT COUNT(*) FROM voucher_numbers")).scalar_one()
    assert [(s.first_seq, s.last_seq) for s in seals] == [(4, 6), (7, 7)]
    assert seals[0].prev_hash == third
    assert numbers == 4  # the links sealed one by one here got none (the helper gives none)
    report = verify_chain(engine, bulk=False)
    assert (report.sealed, report.unsealed, report.intact) == (7, 0, True), report.findings
    assert _both_checks(engine) == []
    _tamper(engine, "UPDATE postings SET amount_fen = amount_fen + 1 WHERE transaction_id = 2 AND amount_fen > 0")
    assert _both_checks(engine) == ["transaction 2 (link 2) does not match its hash"]


def test_the_migration_refuses_changes_to_seals(ledger):
    chart(ledger)
    _post(ledger, 2)
    seal(ledger.engine)
    for statement in ("UPDATE chain_seals SET hash = 'f'", "DELETE FROM chain_seals"):
        with pytest.raises(DBAPIError) as caught, ledger.engine.begin() as conn:
            conn.execute(text(statement))
        assert "journal_is_append_only" in str(caught.value)
    if ledger.engine.dialect.name == "sqlite":
        with pytest.raises(DBAPIError) as caught, ledger.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT OR REPLACE INTO chain_seals (last_seq, first_seq, prev_hash, hash, sealed_at) "
                    "SELECT last_seq, first_seq, prev_hash, 'f', sealed_at FROM chain_seals"
                )
            )
        assert "journal_is_append_only" in str(caught.value)
    assert verify_chain(ledger.engine).intact


# -- any byte of any stored transaction -------------------------------------------------------------------

_TEXT_FIELDS = ("source", "client_id", "request_hash", "kind", "memo", "actor", "approver", "approval_doc")


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_single_changed_byte_of_any_stored_transaction_is_found(ledger, data):
    """One character of one field of one sealed transaction (or one digit of one of its amounts, accounts or
    its date) changed behind the triggers' back: the row-by-row check names that transaction."""
    if not ledger.books():
        chart(ledger)
        _post(ledger, 5)
        seal(ledger.engine, batch_size=2)
    tx_id = data.draw(st.integers(1, 5), label="transaction")
    field = data.draw(st.sampled_from([*_TEXT_FIELDS, "effective_date", "amount_fen", "account_id"]), label="field")
    with ledger.engine.connect() as conn:
        if field in ("amount_fen", "account_id"):
            posting_id, original = conn.execute(
                text(f"SELECT id, {field} FROM postings WHERE transaction_id = {tx_id} ORDER BY id LIMIT 1")
            ).first()
        else:
            posting_id, original = (
                None,
                conn.execute(text(f"SELECT {field} FROM transactions WHERE id = {tx_id}")).scalar(),
            )
    original_text = str(original)
    position = data.draw(st.integers(0, len(original_text) - 1), label="position")
    if field in ("amount_fen", "account_id", "effective_date"):
        replacement = data.draw(st.sampled_from("0123456789"), label="digit")
    else:
        replacement = data.draw(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), label="char")
    changed_text = original_text[:position] + replacement + original_text[position + 1 :]
    if changed_text == original_text or (
        field == "account_id" and (changed_text.startswith("0") or changed_text == "")
    ):
        return
    if field == "effective_date":
        try:
            changed: object = date.fromisoformat(changed_text)
        except ValueError:
            return
    elif field in ("amount_fen", "account_id"):
        changed = int(changed_text)
    else:
        changed = changed_text
    table, key = ("postings", posting_id) if posting_id is not None else ("transactions", tx_id)
    try:
        _set(ledger.engine, table, key, field, changed)
    except DBAPIError:  # the database refuses the value (a key another transaction holds): nothing changed
        return
    try:
        findings = verify_chain(ledger.engine, workers=1, bulk=False).findings
        assert findings[0] == f"transaction {tx_id} (link {tx_id}) does not match its hash", (field, changed)
    finally:
        _set(ledger.engine, table, key, field, original)
    assert verify_chain(ledger.engine, workers=1, bulk=False).intact


def _set(engine, table: str, key: int, field: str, value) -> None:  # noqa: ANN001
    with engine.begin() as conn:
        _bypass_triggers(engine, conn)
        conn.execute(text(f"UPDATE {table} SET {field} = :value WHERE id = :key"), {"value": value, "key": key})


def test_links_sealed_per_transaction_are_still_checked_link_by_link(ledger):
    """The old format's rule is kept: a per-transaction link's hash covers its previous hash."""
    chart(ledger)
    _post(ledger, 2)
    seal_per_transaction(ledger.engine)
    with ledger.engine.connect() as conn:
        first = conn.execute(text("SELECT prev_hash, hash FROM chain_links WHERE seq = 1")).first()
        transactions, legs = _load(conn, [1])
    encoding = canonical_encoding(transactions[1], [leg[:3] for leg in legs[1]])
    assert first.hash == link_hash(first.prev_hash, encoding)
    assert _both_checks(ledger.engine) == []
