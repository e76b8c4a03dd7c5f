"""The bulk chain check (Arrow columns via ADBC) against the row-by-row reference encoding."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from ledger import chain, chain_bulk
from ledger.arrow_scan import arrow_source
from ledger.chain import canonical_encoding, seal, verify_chain
from ledger.db import make_engine
from ledger.engine import posting_specs_fen
from ledger.entries import Audit, TransactionRequest
from ledger.store import TRANSACTION_COLUMNS
from tests.chain_legacy import seal_per_transaction
from tests.ledger_helpers import BOOK, chart, transfer

# Text that JSON leaves alone, text it escapes (quote, backslash, control characters), and the rest of
# Unicode the ledger may meet (CJK, emoji, U+2028, DEL).
plain_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters='"\\'), max_size=24)
any_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=24)
some_text = st.one_of(plain_text, any_text, st.sampled_from(["拨付 2026", '"quoted"', "back\\slash", "a\nb", "\u2028"]))
optional_text = st.one_of(st.none(), some_text)
moment = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(UTC))

transaction_rows = st.fixed_dictionaries(
    {
        "source": some_text,
        "client_id": some_text,
        "request_hash": st.text("0123456789abcdef", min_size=64, max_size=64),
        "kind": some_text,
        "pending": st.booleans(),
        "effective_date": st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)),
        "recorded_at": moment,
        "memo": some_text,
        "actor": some_text,
        "approver": optional_text,
        "approval_doc": optional_text,
        "reason": optional_text,
        "resolves_id": st.one_of(st.none(), st.integers(1, 2**62)),
        "reverses_id": st.one_of(st.none(), st.integers(1, 2**62)),
        "expires_at": st.one_of(st.none(), moment),
        "program_year": st.one_of(st.none(), st.integers(2000, 2100)),
        "link_type": optional_text,
        "link_id": optional_text,
        "legs": st.lists(
            st.tuples(
                st.integers(1, 10**6),
                st.integers(-(2**63), 2**63 - 1).filter(bool),
                st.sampled_from(["CNY", "USD", "JPY"]),
            ),
            min_size=1,
            max_size=4,
        ),
    }
)


def _as_stored(row: dict, tx_id: int, *, sqlite: bool) -> tuple:
    """The transaction tuple ``canonical_encoding`` takes, as the given database hands it back."""
    values = dict(row, id=tx_id)
    if sqlite:
        values["pending"] = int(row["pending"])
        values["effective_date"] = row["effective_date"].isoformat()
        for name in ("recorded_at", "expires_at"):
            if row[name] is not None:
                values[name] = row[name].astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    else:
        for name in ("recorded_at", "expires_at"):
            if row[name] is not None:
                values[name] = row[name].astimezone(UTC).replace(tzinfo=None)
    return tuple(values[name] for name in TRANSACTION_COLUMNS)


def _arrow_tables(stored: list[tuple], legs: list[list[tuple]], *, sqlite: bool) -> tuple[pa.Table, pa.Table]:
    names = list(TRANSACTION_COLUMNS)
    columns = {name: [row[i] for row in stored] for i, name in enumerate(names)}
    types = {name: pa.string() for name in names}
    types.update(id=pa.int64(), resolves_id=pa.int64(), reverses_id=pa.int64(), program_year=pa.int64())
    if sqlite:
        types["pending"] = pa.int64()
    else:
        types.update(
            pending=pa.bool_(),
            effective_date=pa.date32(),
            recorded_at=pa.timestamp("us"),
            expires_at=pa.timestamp("us"),
        )
    transactions = pa.table({name: pa.array(columns[name], types[name]) for name in names})
    posting_rows = [
        (tx[0], account, amount, currency) for tx, tx_legs in zip(stored, legs) for account, amount, currency in tx_legs
    ]
    postings = pa.table(
        {
            "id": pa.array(range(1, len(posting_rows) + 1), pa.int64()),
            "transaction_id": pa.array([row[0] for row in posting_rows], pa.int64()),
            "account_id": pa.array([row[1] for row in posting_rows], pa.int64()),
            "amount_fen": pa.array([row[2] for row in posting_rows], pa.int64()),
            "currency": pa.array([row[3] for row in posting_rows], pa.string()),
        }
    )
    return transactions, postings


@pytest.mark.parametrize("sqlite", [True, False], ids=["sqlite-text", "postgres-typed"])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(transaction_rows, min_size=1, max_size=6))
def test_bulk_encodings_equal_the_reference_or_are_left_to_it(sqlite, rows):
    stored = [_as_stored(row, 1000 + number, sqlite=sqlite) for number, row in enumerate(rows)]
    legs = [row["legs"] for row in rows]
    transactions, postings = _arrow_tables(stored, legs, sqlite=sqlite)
    encodings, needs_reference = chain_bulk._encodings(transactions, postings)
    for number, transaction in enumerate(stored):
        texts = [value for value in transaction if isinstance(value, str)]
        escapes = any(char in '"\\' or ord(char) < 0x20 for value in texts for char in value)
        assert needs_reference[number].as_py() == escapes
        if not escapes:
            expected = canonical_encoding(transaction, legs[number])
            assert encodings[number].as_py().encode() == expected


def _reference_findings(engine) -> list[str]:
    return verify_chain(engine, workers=1, bulk=False).findings


def _bulk_findings(engine) -> list[str]:
    assert arrow_source(engine) is not None  # the test databases are files or servers: the bulk path runs
    return verify_chain(engine, workers=1, bulk=True).findings


_posted = iter(range(10**9))


def _storable(text: str | None, limit: int) -> str | None:
    """What the ledger accepts (no NUL, within the column's width)."""
    return None if text is None else text.replace("\x00", "")[:limit]


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(transaction_rows, min_size=1, max_size=4))
def test_posted_and_sealed_transactions_pass_both_checks(ledger, rows):
    """Generated text goes in through the posting engine (on PostgreSQL as JSON rows), comes back exactly as
    posted, and both chain checks accept what was sealed."""
    if not ledger.books():
        chart(ledger)
    expected = {}
    for row in rows:
        amount = abs(row["legs"][0][1]) % 10**9 or 1
        request = TransactionRequest(
            f"gen-{next(_posted)}",
            posting_specs_fen(BOOK, [("Assets:Receivable", amount), ("NetAssets:Appropriations", -amount)]),
            row["effective_date"],
            source=_storable(row["source"], 100) or "api",
            memo=_storable(row["memo"], 1_000),
            kind=_storable(row["kind"], 64) or "general",
            audit=Audit(
                _storable(row["actor"], 100), _storable(row["approver"], 100), _storable(row["approval_doc"], 200)
            ),
            program_year=row["program_year"],
            link_type=_storable(row["link_type"], 64),
            link_id=_storable(row["link_id"], 100),
        )
        tx_id = ledger.post(request).raise_for_error().transaction_id
        audit = request.audit
        expected[tx_id] = (request.source, request.client_id, request.kind, request.memo, audit.actor, audit.approver,
                           audit.approval_doc, request.program_year, request.link_type, request.link_id)  # fmt: skip
    with ledger.engine.connect() as conn:
        stored = {
            row[0]: tuple(row[1:])
            for row in conn.execute(
                text(
                    "SELECT id, source, client_id, kind, memo, actor, approver, approval_doc, program_year, "
                    "link_type, link_id FROM transactions"
                )
            )
            if row[0] in expected
        }
    assert stored == expected
    seal(ledger.engine)
    assert _bulk_findings(ledger.engine) == [] == _reference_findings(ledger.engine)


def _bypass_triggers(engine, conn) -> None:
    if engine.dialect.name == "postgresql":
        conn.execute(text("SET LOCAL session_replication_role = replica"))
    else:
        for trigger in conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'")).scalars().all():
            conn.execute(text(f"DROP TRIGGER {trigger}"))


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE transactions SET memo = 'edited' WHERE client_id = 't3'",
        "UPDATE transactions SET memo = 'has \"quotes\"' WHERE client_id = 't3'",
        "UPDATE transactions SET approver = NULL WHERE client_id = 't1'",
        "UPDATE postings SET amount_fen = amount_fen + 1 WHERE id = 5",
        "UPDATE postings SET account_id = account_id + 1 WHERE id = 2",
        "DELETE FROM transactions WHERE client_id = 't2'",
        "DELETE FROM chain_links WHERE seq = 4",
        "UPDATE chain_links SET prev_hash = 'f' WHERE seq = 3",
        "UPDATE chain_links SET hash = 'f' WHERE seq = 6",
        [
            "UPDATE transactions SET memo = 'edited' WHERE client_id = 't4'",
            "UPDATE transactions SET memo = 'a \\ backslash' WHERE client_id = 't1'",
            "DELETE FROM transactions WHERE client_id = 't2'",
            "UPDATE chain_links SET prev_hash = 'f' WHERE seq = 2",
        ],
    ],
    ids=["memo", "memo-escaped", "approver", "amount", "account", "missing-tx", "gap", "unlinked", "hash", "several"],
)
def test_every_tampering_is_reported_alike_by_both_checks(ledger, statement):
    chart(ledger)
    for number in range(6):
        ledger.post(
            transfer(
                f"t{number}",
                "Assets:Bank",
                "NetAssets:Appropriations",
                f"{number + 1}.00",
                memo=f"拨付 {number}",
                audit=Audit("clerk", "director", "穗科〔2026〕1号"),
            )
        )
    seal(ledger.engine)
    assert _bulk_findings(ledger.engine) == []
    with ledger.engine.begin() as conn:
        _bypass_triggers(ledger.engine, conn)
        for one in [statement] if isinstance(statement, str) else statement:
            conn.execute(text(one))
    bulk = _bulk_findings(ledger.engine)
    assert bulk, statement
    assert bulk == _reference_findings(ledger.engine)


def test_rounds_meet_at_their_seams(ledger, monkeypatch):
    """Links sealed per transaction (before migration 0005), checked in several rounds: a break exactly at a
    round's first link is still found."""
    monkeypatch.setattr(chain_bulk, "BULK_VERIFY_CHUNK_LINKS", 2)
    chart(ledger)
    for number in range(7):
        ledger.post(transfer(f"t{number}", "Assets:Bank", "NetAssets:Appropriations", "1.00"))
    seal_per_transaction(ledger.engine)
    assert verify_chain(ledger.engine, workers=1, bulk=True).intact
    with ledger.engine.begin() as conn:
        _bypass_triggers(ledger.engine, conn)
        conn.execute(text("UPDATE chain_links SET prev_hash = 'f' WHERE seq = 5"))
    # Link 5 now points elsewhere, and its own hash (which covers the previous hash) no longer matches.
    expected = ["link 5 does not point at the previous link's hash", "transaction 5 (link 5) does not match its hash"]
    assert _bulk_findings(ledger.engine) == expected == _reference_findings(ledger.engine)


def test_seals_spanning_rounds_are_checked_whole(ledger, monkeypatch):
    """Seals of three links checked in rounds of two: each seal's leaves are gathered across rounds, and a
    link under a seal that points elsewhere is found (its leaf does not cover the previous hash)."""
    monkeypatch.setattr(chain_bulk, "BULK_VERIFY_CHUNK_LINKS", 2)
    chart(ledger)
    for number in range(7):
        ledger.post(transfer(f"t{number}", "Assets:Bank", "NetAssets:Appropriations", "1.00"))
    seal(ledger.engine, batch_size=3)
    assert _bulk_findings(ledger.engine) == [] == _reference_findings(ledger.engine)
    with ledger.engine.begin() as conn:
        _bypass_triggers(ledger.engine, conn)
        conn.execute(text("UPDATE chain_links SET prev_hash = 'f' WHERE seq = 5"))
        conn.execute(text("UPDATE chain_links SET hash = 'e' WHERE seq = 3"))
    expected = [
        "transaction 3 (link 3) does not match its hash",
        "seal of links 1 to 3 does not match its links' hashes",
        "link 5 does not point at the previous link's hash",
    ]
    assert _bulk_findings(ledger.engine) == expected == _reference_findings(ledger.engine)


@pytest.mark.parametrize(("seal_size", "seam"), [(1, 6), (3, 7)])
def test_a_chain_split_across_bulk_processes_is_checked_whole_at_its_seams(ledger, monkeypatch, seal_size, seam):
    """SQLite's bulk check splits a long chain across processes: each range ends where a seal ends (9 links in
    two: 1-5 and 6-9, or with seals of three 1-6 and 7-9), and a break at the seam (the second range's first
    link) or inside a range is found as by one check."""
    if ledger.postgres:
        pytest.skip("PostgreSQL's bulk check runs in one range in its caller's process")
    ranges: list[tuple[int, int]] = []
    check_range = chain._bulk_in_subprocess

    def counted(source, first_seq, last_seq, chunk_links):  # noqa: ANN001, ANN202
        ranges.append((first_seq, last_seq))
        return check_range(source, first_seq, last_seq, chunk_links)

    monkeypatch.setattr(chain, "_bulk_in_subprocess", counted)
    chart(ledger)
    for number in range(9):
        ledger.post(transfer(f"t{number}", "Assets:Bank", "NetAssets:Appropriations", "1.00"))
    seal(ledger.engine, batch_size=seal_size)
    split = verify_chain(ledger.engine, workers=2, bulk=True)
    assert split.intact and split.sealed == 9
    assert sorted(ranges) == [(1, seam - 1), (seam, 9)]
    with ledger.engine.begin() as conn:
        _bypass_triggers(ledger.engine, conn)
        conn.execute(text(f"UPDATE chain_links SET prev_hash = 'f' WHERE seq = {seam}"))
        conn.execute(text("UPDATE transactions SET memo = 'edited' WHERE client_id = 't1'"))
    split = verify_chain(ledger.engine, workers=2, bulk=True).findings
    assert any(f"link {seam} " in finding or f"links {seam} " in finding for finding in split), split
    assert split == _bulk_findings(ledger.engine) == _reference_findings(ledger.engine)


def test_an_in_memory_sqlite_database_is_checked_row_by_row():
    engine = make_engine("sqlite:///:memory:")
    assert arrow_source(engine) is None


def test_the_postgres_address_keeps_the_user_password_and_schema():
    engine = make_engine("postgresql://auditor:s%40fe@db.example:5433/ledger?schema=audit_2026")
    source = arrow_source(engine)
    assert source.postgres
    assert source.uri == "postgresql://auditor:s%40fe@db.example:5433/ledger?options=-csearch_path%3Daudit_2026"


def test_moments_and_days_come_out_as_the_chain_writes_them():
    typed = pa.array([datetime(2026, 1, 2, 3, 4, 5, 7)], pa.timestamp("us"))
    text_form = pa.array(["2026-01-02 03:04:05.000007"])
    assert chain_bulk._moment(typed).to_pylist() == chain_bulk._moment(text_form).to_pylist()
    assert chain_bulk._moment(typed).to_pylist() == ["2026-01-02T03:04:05.000007Z"]
    whole_second = pa.array([datetime(2026, 1, 2, 3, 4, 5)], pa.timestamp("us"))
    assert chain_bulk._moment(whole_second).to_pylist() == ["2026-01-02T03:04:05.000000Z"]
    assert chain_bulk._day(pa.array([date(2026, 1, 2) + timedelta(days=30)])).to_pylist() == ["2026-02-01"]


def test_when_the_bulk_process_cannot_finish_the_chain_is_checked_row_by_row(ledger, monkeypatch):
    from ledger import chain

    chart(ledger)
    for number in range(3):
        ledger.post(transfer(f"t{number}", "Assets:Bank", "NetAssets:Appropriations", "1.00"))
    seal(ledger.engine)

    def fail(*_args):
        raise chain.BulkCheckFailed("the bulk chain check exited with status 1")

    monkeypatch.setattr(chain, "_bulk_in_subprocess", fail)
    monkeypatch.setattr(chain, "_bulk_in_process", fail)
    report = verify_chain(ledger.engine, bulk=True)
    assert (report.sealed, report.intact) == (3, True)


def test_output_of_a_bulk_process_that_stopped_halfway_is_not_taken_for_a_result():
    issue = '{"issue": {"seq": 4, "transaction_id": 4, "prev_hash": "f", "hash": "a", "kind": "unlinked"}}'
    with pytest.raises(ValueError):
        chain_bulk.read_process_output([issue])
    done = '{"range": {"links": 9, "first_seq": 1, "first_prev_hash": "0", "last_seq": 9, "last_hash": "b"}}'
    result = chain_bulk.read_process_output([issue, done])
    assert result.links == 9 and [i.kind for i in result.issues] == ["unlinked"]
