"""The chain check over Arrow columns: every canonical encoding rebuilt with Arrow compute kernels.

``ledger.chain.canonical_encoding`` is the definition; this module writes the same bytes column by column
(pyarrow.compute string kernels) over rows read by ADBC (``ledger.arrow_scan``), so the only per-row Python
left is the SHA-256 itself (hashlib). A transaction whose text JSON would escape (a quote, a backslash, a
control character) is not encoded here: it is handed back for the row-by-row check, so the two paths never
have to agree on escaping, and tests compare them on generated text.
"""

from __future__ import annotations

import argparse
import bisect
import hashlib
import json
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc

from ledger.arrow_scan import ArrowReader, ArrowSource, arrow_reader
from ledger.chain_format import seal_hash
from ledger.money import CURRENCY_PLACES
from ledger.store import TRANSACTION_COLUMNS

# Links checked per round: bounds memory (a round holds its links, transactions and postings as Arrow).
BULK_VERIFY_CHUNK_LINKS = 100_000

# What a link or a seal can fail: ledger.chain_format.ISSUE_KINDS ("reference": not checked here, left to the
# row-by-row check: text that JSON escapes).

# Characters json.dumps escapes (ensure_ascii=False): control characters, the quote and the backslash.
_JSON_ESCAPED = r'[\x00-\x1f"\\]'
# Everything else for SQLite arrives as stored text; PostgreSQL hands over typed columns.
_MOMENT_FORMAT = "%Y-%m-%dT%H:%M:%S"  # Arrow prints the microseconds of a timestamp[us] with %S


@dataclass
class LinkIssue:
    seq: int
    transaction_id: int
    prev_hash: str
    hash: str
    kind: str  # one of ISSUE_KINDS
    before_seq: int | None = None
    sealed: bool = False  # under a seal: its hash is its transaction's leaf
    first_seq: int | None = None  # a seal's issue: the links it covers
    last_seq: int | None = None


@dataclass
class BulkRange:
    """What the check saw: ``first_prev_hash`` is what its first element points at (``first_seal`` its links
    when that element is a seal), ``last_hash`` the hash of its last link's element."""

    links: int = 0
    first_seq: int | None = None
    first_prev_hash: str | None = None
    first_seal: tuple[int, int] | None = None
    last_seq: int | None = None
    last_hash: str | None = None
    issues: list[LinkIssue] = field(default_factory=list)


@dataclass
class _Seal:
    first: int
    last: int
    prev_hash: str
    hash: str
    opened: bool = False
    leaves: list[str] = field(default_factory=list)


@dataclass
class _Walk:
    """The seals met so far, as ``ledger.chain._Walk`` keeps them (the same rules, over whole rounds)."""

    started: bool = False
    before: str | None = None  # the hash of the last link's element
    last_accepted_seq: int = 0
    seen_seal_end: int = 0
    pending: list[_Seal] = field(default_factory=list)


# -- reading --------------------------------------------------------------------------------------------

# The typing row's value per column (described in _transactions_sql); text columns get ''.
_TYPING_TEXT = "''"
_TYPING_VALUES = {"id": "-1", "pending": "0", "resolves_id": "NULL", "reverses_id": "NULL", "program_year": "NULL"}
_TYPING_ROW_ID = -1
_TEXT_FIELDS = (
    "source",
    "client_id",
    "request_hash",
    "kind",
    "memo",
    "actor",
    "approver",
    "approval_doc",
    "reason",
    "link_type",
    "link_id",
)


def _transactions_sql(source: ArrowSource, low: int, high: int) -> str:
    """The chain's transaction columns as stored, in id order. On SQLite a typing row (id -1, text in every
    text column) comes first: ADBC's SQLite driver types a column by its first rows and refuses text after
    a run of NULLs (``approver`` is NULL in most rows). PostgreSQL declares the types, so it needs none."""
    names = ", ".join(TRANSACTION_COLUMNS)
    rows = f"SELECT {names} FROM transactions WHERE id BETWEEN {int(low)} AND {int(high)}"
    if source.postgres:
        return rows + " ORDER BY id"
    typing_row = ", ".join(f"{_TYPING_VALUES.get(name, _TYPING_TEXT)} AS {name}" for name in TRANSACTION_COLUMNS)
    return f"SELECT {typing_row} UNION ALL {rows}"


@dataclass
class _Round:
    low: int
    high: int
    chain: pa.Table | None
    transactions: pa.Table | None
    postings: pa.Table | None
    seals: list[tuple[int, int, str, str]]


def _read_seals(reader: ArrowReader, low: int, high: int) -> list[tuple[int, int, str, str]]:
    """(first, last seq, previous hash, hash) of the seals ending in [low, high], and of the one ending after
    it if it covers part of it, by last seq (as ``ledger.chain._seals_between``)."""
    columns = "first_seq, last_seq, prev_hash, hash"
    rows = reader.table(
        f"SELECT {columns} FROM chain_seals WHERE last_seq BETWEEN {int(low)} AND {int(high)} "
        f"UNION ALL SELECT {columns} FROM (SELECT {columns} FROM chain_seals WHERE last_seq > {int(high)} "
        f"ORDER BY last_seq LIMIT 1) AS after WHERE first_seq <= {int(high)}"
    ).to_pylist()
    return sorted(
        ((row["first_seq"], row["last_seq"], row["prev_hash"], row["hash"]) for row in rows), key=lambda s: s[1]
    )


def _read_round(reader: ArrowReader, source: ArrowSource, low: int, high: int) -> _Round:
    seals = _read_seals(reader, low, high)
    chain = reader.table(
        f"SELECT seq, transaction_id, prev_hash, hash FROM chain_links WHERE seq BETWEEN {int(low)} AND {int(high)} "
        "ORDER BY seq"
    )
    if chain.num_rows == 0:
        return _Round(low, high, None, None, None, seals)
    ids = chain.column("transaction_id")
    tx_low, tx_high = pc.min(ids).as_py(), pc.max(ids).as_py()
    transactions = reader.table(_transactions_sql(source, tx_low, tx_high))
    transactions = transactions.filter(pc.not_equal(transactions.column("id"), _TYPING_ROW_ID))
    # A transaction's legs in posting-id order, which is the order the chain lists them in.
    postings = reader.table(
        "SELECT id, transaction_id, account_id, amount_fen, currency FROM postings "
        f"WHERE transaction_id BETWEEN {int(tx_low)} AND {int(tx_high)} ORDER BY transaction_id, id"
    )
    return _Round(low, high, chain.combine_chunks(), transactions.combine_chunks(), postings.combine_chunks(), seals)


# -- encoding -------------------------------------------------------------------------------------------


def _join(*parts) -> pa.Array:  # noqa: ANN002 - arrays and str scalars
    return pc.binary_join_element_wise(*parts, "")


def _quoted(column: pa.Array) -> pa.Array:
    """A JSON string for text that needs no escaping (see _JSON_ESCAPED); null as ``null``."""
    return pc.fill_null(_join('"', column, '"'), "null")


def _number(column: pa.Array) -> pa.Array:
    return pc.fill_null(pc.cast(column, pa.string()), "null")


def _day(column: pa.Array) -> pa.Array:
    return column if pa.types.is_string(column.type) else pc.cast(column, pa.string())


def _moment(column: pa.Array) -> pa.Array:
    """``YYYY-MM-DDTHH:MM:SS.ffffffZ`` from SQLite's "YYYY-MM-DD HH:MM:SS.ffffff" text or a timestamp."""
    if pa.types.is_string(column.type) or pa.types.is_null(column.type):
        text = pc.replace_substring(pc.cast(column, pa.string()), " ", "T", max_replacements=1)
    else:
        text = pc.strftime(pc.cast(column, pa.timestamp("us")), format=_MOMENT_FORMAT)
    return _join(text, "Z")


def _amounts(amounts: pa.Array, currencies: pa.Array) -> pa.Array:
    """Minor units as ``ledger.chain`` writes them: decimal text with the currency's places. Exact: an
    int64 as decimal(19, 0) times 10^-places is a decimal, whose text is "-0.05", "1234.56".

    An unconfigured currency gives null, so its transaction fails its hash (the engine never writes one)."""
    result = pa.nulls(len(amounts), pa.string())
    for code in pc.unique(currencies).to_pylist():
        places = CURRENCY_PLACES.get(code)
        if places is None:
            continue
        if places == 0:
            text = pc.cast(amounts, pa.string())
        else:
            scale = pa.scalar(Decimal(1).scaleb(-places), pa.decimal128(places + 1, places))
            text = pc.cast(pc.multiply(pc.cast(amounts, pa.decimal128(19, 0)), scale), pa.string())
        result = pc.if_else(pc.equal(currencies, code), text, result)
    return result


def _legs_by_transaction(postings: pa.Table) -> tuple[pa.Array, pa.Array]:
    """(transaction ids, their ``[account,"amount","currency"]`` legs joined with commas), from postings
    sorted by transaction and posting id: each transaction's legs are one run of rows."""
    leg = _join(
        "[",
        pc.cast(postings.column("account_id"), pa.string()),
        ',"',
        _amounts(postings.column("amount_fen"), postings.column("currency")),
        '","',
        postings.column("currency"),
        '"]',
    )
    runs = pc.run_end_encode(postings.column("transaction_id").combine_chunks())
    offsets = pa.concat_arrays([pa.array([0], pa.int32()), pc.cast(runs.run_ends, pa.int32())])
    lists = pa.ListArray.from_arrays(offsets, leg.combine_chunks() if isinstance(leg, pa.ChunkedArray) else leg)
    return runs.values, pc.binary_join(lists, ",")


def _encodings(transactions: pa.Table, postings: pa.Table) -> tuple[pa.Array, pa.Array]:
    """(canonical encoding, needs the reference check) per transaction row."""
    t = transactions.column
    leg_ids, legs = _legs_by_transaction(postings)
    tx_legs = pc.fill_null(pc.take(legs, pc.index_in(t("id"), value_set=leg_ids)), "")
    pending = pc.if_else(pc.cast(t("pending"), pa.bool_()), "true", "false")
    encoding = _join(
        '{"actor":',
        _quoted(t("actor")),
        ',"approval_doc":',
        _quoted(t("approval_doc")),
        ',"approver":',
        _quoted(t("approver")),
        ',"client_id":',
        _quoted(t("client_id")),
        ',"effective_date":"',
        _day(t("effective_date")),
        '","expires_at":',
        pc.fill_null(_join('"', _moment(t("expires_at")), '"'), "null"),
        ',"id":',
        pc.cast(t("id"), pa.string()),
        ',"kind":',
        _quoted(t("kind")),
        ',"link_id":',
        _quoted(t("link_id")),
        ',"link_type":',
        _quoted(t("link_type")),
        ',"memo":',
        _quoted(t("memo")),
        ',"pending":',
        pending,
        ',"postings":[',
        tx_legs,
        '],"program_year":',
        _number(t("program_year")),
        ',"reason":',
        _quoted(t("reason")),
        ',"recorded_at":"',
        _moment(t("recorded_at")),
        '","request_hash":',
        _quoted(t("request_hash")),
        ',"resolves_id":',
        _number(t("resolves_id")),
        ',"reverses_id":',
        _number(t("reverses_id")),
        ',"source":',
        _quoted(t("source")),
        "}",
    )
    # One regex pass over all the text fields end to end: joining adds no character of its own.
    text = pc.binary_join_element_wise(*[pc.fill_null(t(name), "") for name in _TEXT_FIELDS], "")
    return encoding, pc.match_substring_regex(text, _JSON_ESCAPED)


# -- checking -------------------------------------------------------------------------------------------


def _chunk_bounds(first_seq: int, last_seq: int, chunk_links: int) -> Iterator[tuple[int, int]]:
    low = first_seq
    while low <= last_seq:
        high = min(low + chunk_links - 1, last_seq)
        yield low, high
        low = high + 1


def verify_links(
    reader: ArrowReader,
    source: ArrowSource,
    first_seq: int,
    last_seq: int,
    *,
    chunk_links: int = BULK_VERIFY_CHUNK_LINKS,
) -> BulkRange:
    """Check links ``first_seq``..``last_seq`` and their seals by the rules of ``ledger.chain._Walk``: each
    element points at the one before it, each link hashes its transaction (a leaf under a seal, onto its
    previous hash if sealed alone), each seal hashes its links' leaves. Returns the failures (and the rows
    left to the reference check).

    A reader thread fetches the next round while this one is checked (ADBC and Arrow release the GIL)."""
    result = BulkRange()
    walk = _Walk(last_accepted_seq=first_seq - 1, seen_seal_end=first_seq - 1)
    bounds = list(_chunk_bounds(first_seq, last_seq, chunk_links))
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="chain-read") as prefetch:
        upcoming = prefetch.submit(_read_round, reader, source, *bounds[0]) if bounds else None
        for index in range(len(bounds)):
            current = upcoming.result()
            has_next = index + 1 < len(bounds)
            upcoming = prefetch.submit(_read_round, reader, source, *bounds[index + 1]) if has_next else None
            _check_round(result, walk, current)
    for seal in walk.pending:
        _close_seal(result, walk, seal)
    walk.pending.clear()
    result.last_hash = walk.before
    return result


def _seal_issue(result: BulkRange, seal: _Seal, kind: str) -> None:
    anchor = seal.last if kind == "seal_mismatch" else seal.first
    result.issues.append(
        LinkIssue(anchor, 0, seal.prev_hash, seal.hash, kind, first_seq=seal.first, last_seq=seal.last)
    )


def _take_seals(result: BulkRange, walk: _Walk, seals: list[tuple[int, int, str, str]]) -> None:
    for first, last, prev_hash, hash_ in seals:
        if last <= walk.seen_seal_end:
            continue
        walk.seen_seal_end = last
        seal = _Seal(first, last, prev_hash, hash_)
        if first <= walk.last_accepted_seq or first > last:
            _seal_issue(result, seal, "seal_overlap")
            continue
        walk.last_accepted_seq = last
        walk.pending.append(seal)


def _open_seal(result: BulkRange, walk: _Walk, seal: _Seal, before: str | None) -> None:
    seal.opened = True
    if not walk.started:
        walk.started = True
        result.first_prev_hash, result.first_seal = seal.prev_hash, (seal.first, seal.last)
    elif seal.prev_hash != before:
        _seal_issue(result, seal, "seal_unlinked")


def _close_seal(result: BulkRange, walk: _Walk, seal: _Seal) -> None:
    if not seal.opened:
        _open_seal(result, walk, seal, walk.before)
    if seal_hash(seal.prev_hash, seal.leaves) != seal.hash:
        _seal_issue(result, seal, "seal_mismatch")


def _check_round(result: BulkRange, walk: _Walk, current: _Round) -> None:
    _take_seals(result, walk, current.seals)
    chain = current.chain
    if chain is None:  # no links here: only seals whose links are gone, closed as the row-by-row walk does
        while walk.pending and walk.pending[0].first <= current.high:
            if walk.pending[0].last > current.high:
                break
            _close_seal(result, walk, walk.pending.pop(0))
        return
    seqs, prev_hashes, hashes = chain.column("seq"), chain.column("prev_hash"), chain.column("hash")
    seq_list, stored = seqs.to_pylist(), hashes.to_pylist()
    tx_ids = chain.column("transaction_id")
    count = len(chain)

    def issue(index: int, kind: str, *, sealed: bool = False) -> None:
        before = seq_list[index - 1] if index else result.last_seq
        result.issues.append(
            LinkIssue(
                seq_list[index], tx_ids[index].as_py(), prev_hashes[index].as_py(), stored[index], kind, before, sealed
            )
        )

    # Which accepted seal covers each link (-1: sealed alone), by the seals' runs of rows.
    covering = [-1] * count
    local: list[tuple[_Seal, int, int]] = []
    for seal in walk.pending:
        if seal.first > current.high:
            break
        start, stop = bisect.bisect_left(seq_list, seal.first), bisect.bisect_right(seq_list, seal.last)
        if stop > start:
            covering[start:stop] = [len(local)] * (stop - start)
        local.append((seal, start, stop))

    def element_hash(index: int) -> str:
        return local[covering[index]][0].hash if covering[index] >= 0 else stored[index]

    def first_link() -> None:
        if covering[0] >= 0:
            return
        if not walk.started:
            walk.started = True
            result.first_prev_hash = prev_hashes[0].as_py()
        elif prev_hashes[0].as_py() != walk.before:
            issue(0, "unlinked")

    if result.first_seq is None:
        result.first_seq = seq_list[0]
    elif seq_list[0] != result.last_seq + 1:  # the seam with the round before
        issue(0, "jump")
    first_done = False
    for seal, start, stop in local:
        if not first_done and seq_list[0] < seal.first:
            first_link()
            first_done = True
        if not seal.opened:
            _open_seal(result, walk, seal, element_hash(start - 1) if start > 0 else walk.before)
        seal.leaves.extend(stored[start:stop])
    if not first_done:
        first_link()
    closing = [seal for seal, _start, _stop in local if seal.last <= current.high]
    for seal in closing:
        _close_seal(result, walk, seal)
    del walk.pending[: len(closing)]

    sealed = pa.array([index >= 0 for index in covering], pa.bool_())
    seal_hashes = pa.array([seal.hash for seal, _start, _stop in local] or [""], pa.string())
    seal_prevs = pa.array([seal.prev_hash for seal, _start, _stop in local] or [""], pa.string())
    where = pa.array([max(index, 0) for index in covering], pa.int64())
    elements = pc.if_else(sealed, pc.take(seal_hashes, where), hashes)
    jumps = pc.not_equal(seqs.slice(1), pc.add(seqs.slice(0, count - 1), 1))
    # A link sealed alone points at the element of the link before it; one under a seal, at the seal's.
    unlinked_alone = pc.and_(
        pc.invert(sealed.slice(1)), pc.not_equal(prev_hashes.slice(1), elements.slice(0, count - 1))
    )
    unlinked_sealed = pc.and_(sealed, pc.not_equal(prev_hashes, pc.take(seal_prevs, where)))
    unlinked = pc.or_(unlinked_alone, unlinked_sealed.slice(1))
    if count and unlinked_sealed[0].as_py():
        issue(0, "unlinked")
    for index in pc.indices_nonzero(pc.or_(jumps, unlinked)).to_pylist():
        if jumps[index].as_py():
            issue(index + 1, "jump")
        if unlinked[index].as_py():
            issue(index + 1, "unlinked")

    encodings, escaped = _encodings(current.transactions, current.postings)
    positions = pc.index_in(tx_ids, value_set=current.transactions.column("id"))
    for index in pc.indices_nonzero(pc.is_null(positions)).to_pylist():
        issue(index, "missing")
    needs_reference = pc.fill_null(pc.take(escaped, positions), False)
    for index in pc.indices_nonzero(needs_reference).to_pylist():
        issue(index, "reference", sealed=covering[index] >= 0)
    # Missing and reference links hash null here and are skipped: each already has its issue.
    checkable = pc.if_else(needs_reference, None, pc.take(encodings, positions))
    # Under a seal a link holds the leaf (the encoding alone); sealed alone, the hash over its previous hash.
    data = pc.if_else(sealed, checkable, _join(prev_hashes, checkable))
    hashed = pc.cast(data, pa.binary()).to_pylist()
    sha256 = hashlib.sha256
    for index, value in enumerate(hashed):
        if value is not None and sha256(value).hexdigest() != stored[index]:
            issue(index, "mismatch")
    result.links += count
    result.last_seq = seq_list[-1]
    walk.before = element_hash(count - 1)


# -- as a process of its own ----------------------------------------------------------------------------
# ``python -m ledger.chain_bulk``: how ``ledger.chain`` runs the bulk check on SQLite, away from the
# sqlite3 connections of its caller (see ``verify_chain``). It imports Arrow and the ADBC driver, nothing
# else of the application, and writes one JSON line per issue, then one summary line.


def _main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ledger.chain_bulk")
    parser.add_argument("--uri", required=True)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--first", type=int, required=True)
    parser.add_argument("--last", type=int, required=True)
    parser.add_argument("--chunk-links", type=int, default=BULK_VERIFY_CHUNK_LINKS)
    args = parser.parse_args(argv)
    source = ArrowSource(args.postgres, args.uri)
    with arrow_reader(source) as reader:
        result = verify_links(reader, source, args.first, args.last, chunk_links=args.chunk_links)
    out = sys.stdout
    for issue in result.issues:
        out.write(json.dumps({"issue": asdict(issue)}) + "\n")
    summary = asdict(result)
    del summary["issues"]
    out.write(json.dumps({"range": summary}) + "\n")
    out.flush()


def read_process_output(lines) -> BulkRange:  # noqa: ANN001 - an iterable of text lines
    """The ``BulkRange`` a ``python -m ledger.chain_bulk`` process wrote; ValueError if it did not finish."""
    issues = []
    for line in lines:
        record = json.loads(line)
        if "issue" in record:
            issues.append(LinkIssue(**record["issue"]))
        elif "range" in record:
            return BulkRange(**record["range"], issues=issues)
    raise ValueError("the bulk chain check ended without its summary")


if __name__ == "__main__":
    _main()
