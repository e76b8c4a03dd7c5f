"""One import chunk checked and written in columns (the vectorised reader's ``Piece``s, gathered into chunks).

A chunk whose transactions all pass every check, or are already posted with the same content, is
written from arrays: digests, leaf encodings, posting rows, month and account totals built with pyarrow
and numpy, sums in int64 (guarded against overflow, never through a float), the same values and the same
statements as ``CsvImporter._write``. A chunk with anything else — a refusal, an account with a limit flag,
content changed since an earlier run — is handed whole to the row path's ``_accept`` and ``_write``, which
word its refusals; so the two paths cannot differ on a rule.
"""

from __future__ import annotations

import hashlib
from collections import deque
from datetime import date
from itertools import repeat
from operator import itemgetter

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection

from ledger.chain_format import _json_string, _json_text, _moment_text
from ledger.db import SQLITE_CACHE_KIB
from ledger.engine import utc_now
from ledger.entries import MEMO_MAX_LENGTH, POSTINGS_PER_TRANSACTION_MAX
from ledger.gc_pause import cyclic_gc_paused
from ledger.import_vectorised import VectorisedReader, arange, to_transactions
from ledger.importer import _NO_LINKS, IMPORT_KIND, CsvImporter, _Row
from ledger.money import CURRENCY_PLACES
from ledger.store import DriverStatements

# int64 sums are exact only below 2**63: a chunk whose largest amount times its number of rows could reach
# it goes to the row path, where Python's integers are unbounded and the BIGINT checks speak.
INT64_SUM_BOUND = 2**63
# SQLite page cache while loading with the secondary posting indexes dropped (the engine's is 128 MiB):
# measured on 1M transactions, peak RSS 648 -> 518 MiB at the same speed.
LOAD_CACHE_KIB = 16_384
# A chunk's rows are handed to the driver this many transactions at a time, in the chunk's one database
# transaction: the same rows in the same order, a fifth of the Python objects alive at once.
WRITE_SLICE_TRANSACTIONS = 10_000
# Characters json.encoder.encode_basestring escapes (a test checks this against every code point).
JSON_ESCAPED = r'[\x00-\x1f"\\]'


def run_vectorised(imp: CsvImporter, binary, columns, data_start: int) -> None:
    """Pieces from the vectorised reader gathered into chunks of ``chunk_transactions``. Refusals of rows are
    reported where the row path reports them: those up to a chunk's last line before the chunk's own (the row
    reader hands a chunk's last transaction on when it reads the next record, before judging that record)."""
    reader = VectorisedReader(binary, columns, data_start)
    errors: deque = deque()
    tx_parts: list = []
    row_parts: list = []
    pending = 0
    size = imp.chunk_transactions
    with cyclic_gc_paused():
        for piece in reader.pieces():
            errors.extend(piece.errors)
            if piece.txs.num_rows:
                tx_parts.append(piece.txs)
                row_parts.append(piece.rows)
                pending += piece.txs.num_rows
            while pending >= size:
                txs, rows = pa.concat_tables(tx_parts), pa.concat_tables(row_parts)
                head = txs.slice(0, size)
                row_count = pc.sum(head.column("n")).as_py()
                _report_errors(imp, errors, up_to=head.column("last_line")[-1].as_py())
                commit_columns(imp, head, rows.slice(0, row_count))
                tx_parts, row_parts = [txs.slice(size)], [rows.slice(row_count)]
                pending -= size
        _report_errors(imp, errors, up_to=None)
        if pending:
            commit_columns(imp, pa.concat_tables(tx_parts), pa.concat_tables(row_parts))


def _report_errors(imp: CsvImporter, errors: deque, *, up_to: int | None) -> None:
    while errors and (up_to is None or errors[0][0].line <= up_to):
        error, refuses = errors.popleft()
        imp.report.add_error(error, refuses_transaction=refuses)


def commit_columns(imp: CsvImporter, txs: pa.Table, rows: pa.Table) -> None:
    with imp.ledger.engine.begin() as conn:
        if imp.indexes_dropped:
            # Loading without the secondary indexes touches only the ends of the table's B-trees: a small
            # page cache holds them, and the process stays well under its memory bound. Given back below.
            conn.exec_driver_sql(f"PRAGMA cache_size=-{LOAD_CACHE_KIB}")
        db = DriverStatements(conn)
        try:
            _commit(imp, conn, db, txs.combine_chunks(), rows.combine_chunks())
        finally:
            db.close()
            if imp.indexes_dropped:
                conn.exec_driver_sql(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    if imp.progress is not None:
        imp.progress(txs.num_rows)


def _sha256_hex(texts: pa.Array) -> list[str]:
    sha256 = hashlib.sha256
    return [sha256(value).hexdigest() for value in pc.cast(texts, pa.binary()).to_pylist()]


def _join(*parts, separator: str = "") -> pa.Array:
    return pc.binary_join_element_wise(*parts, separator)


def _json_column(column: pa.Array) -> pa.Array:
    """Each text as the chain's canonical encoding writes it (``_json_string``): quoted, escaped where needed."""
    quoted = _join('"', column, '"')
    escaped = pc.match_substring_regex(column, JSON_ESCAPED)
    if pc.any(escaped).as_py():
        values = [_json_string(value) for value in pc.filter(column, escaped).to_pylist()]
        quoted = pc.replace_with_mask(quoted, escaped, pa.array(values, pa.string()))
    return quoted


def _list_join(offsets: pa.Array, values: pa.Array, separator: str) -> pa.Array:
    return pc.binary_join(pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), values), separator)


def _pick(values: list, indices: list[int]) -> list:
    """``[values[i] for i in indices]`` in C, the picked objects shared, not copied (one text per day)."""
    if not indices:
        return []
    picked = itemgetter(*indices)(values)
    return list(picked) if len(indices) > 1 else [picked]


def _offsets(n: pa.Array) -> pa.Array:
    return pa.concat_arrays([pa.array([0], pa.int64()), pc.cumulative_sum(n)])


def _parents(offsets: pa.Array, values: pa.Array) -> pa.Array:
    """For each element of ``values``, the index of the transaction it belongs to."""
    return pc.list_parent_indices(pa.ListArray.from_arrays(pc.cast(offsets, pa.int32()), values))


def _sums(keys: dict[str, pa.Array], values: dict[str, pa.Array]) -> pa.Table:
    """Exact int64 sums of ``values`` per distinct ``keys`` (pyarrow's hash aggregation, no float)."""
    table = pa.table({**keys, **values})
    return table.group_by(list(keys), use_threads=False).aggregate([(name, "sum") for name in values])


def _commit(imp: CsvImporter, conn: Connection, db: DriverStatements, txs: pa.Table, rows: pa.Table) -> None:
    tx_ids = txs.column("tx_id").to_pylist()
    existing = {} if imp.fresh_source else db.request_hashes(imp.source, tx_ids)
    encoded = pc.dictionary_encode(rows.column("account").combine_chunks())
    paths = encoded.dictionary.to_pylist()
    entry = pc.cast(encoded.indices, pa.int64())
    currency = rows.column("currency").combine_chunks()
    imp._refused_accounts = {}
    if imp.create_accounts:
        # Opened in the order the file first names them, with that row's currency, as the row path does.
        firsts = (
            pa.table({"entry": entry, "row": arange(0, len(entry))})
            .group_by("entry", use_threads=False)
            .aggregate([("row", "min")])
            .sort_by("entry")
            .column("row_min")
        )
        lines = pc.take(rows.column("line"), firsts).to_pylist()
        currencies = pc.take(currency, firsts).to_pylist()
        wanted = {
            path: _Row(line, path, 0, code)
            for path, line, code in zip(paths, lines, currencies)
            if path not in imp.accounts
        }
        imp._open_wanted(conn, wanted)
    known = [imp.accounts.get(path) for path in paths]
    closed_periods = imp._lock_accounts_and_read_closed_periods(conn, {k.id for k in known if k is not None})

    n = txs.column("n").combine_chunks()
    offsets = _offsets(n)
    amount = rows.column("amount").combine_chunks()
    bounds = pc.min_max(amount).as_py()
    largest = max(abs(bounds["min"] or 0), abs(bounds["max"] or 0))
    digests = _digests(imp.book, txs, rows, offsets)
    if (
        any(k is not None and k.flagged for k in known)
        or largest * max(len(amount), 1) >= INT64_SUM_BOUND
        or _any_refused(txs, known, entry, currency, amount, n, offsets, closed_periods)
        or any(existing.get(tx_id, digest) != digest for tx_id, digest in zip(tx_ids, digests))
    ):
        chunk = to_transactions(txs, rows)
        accepted = imp._accept(conn, db, chunk)
        if accepted:
            imp._write(conn, db, accepted)
        return

    if existing:
        keep = pa.array([tx_id not in existing for tx_id in tx_ids], pa.bool_())
        kept = pc.sum(pc.cast(keep, pa.int64())).as_py() or 0
        imp.report.skipped += len(tx_ids) - kept
        if not kept:
            return
        row_keep = pc.take(keep, _parents(offsets, amount))
        txs, rows = txs.filter(keep), rows.filter(row_keep)
        digests = [digest for digest, flag in zip(digests, keep.to_pylist()) if flag]
        tx_ids = txs.column("tx_id").to_pylist()
        entry, amount = pc.filter(entry, row_keep), rows.column("amount").combine_chunks()
        currency, n = rows.column("currency").combine_chunks(), txs.column("n").combine_chunks()
        offsets = _offsets(n)
    _write(imp, conn, db, txs, rows, tx_ids, digests, known, entry, currency, amount, offsets)


def _digests(book: str, txs: pa.Table, rows: pa.Table, offsets: pa.Array) -> list[str]:
    """``importer._digest`` of every transaction: book, date, memo and "account\\x1ffen\\x1fcurrency" per
    row, joined with \\x1e, hashed."""
    legs = _join(
        rows.column("account").combine_chunks(),
        pc.cast(rows.column("amount").combine_chunks(), pa.string()),
        rows.column("currency").combine_chunks(),
        separator="\x1f",
    )
    texts = _join(
        book,
        txs.column("date").combine_chunks(),
        txs.column("memo").combine_chunks(),
        _list_join(offsets, legs, "\x1e"),
        separator="\x1e",
    )
    return _sha256_hex(texts)


def _any_refused(txs, known, entry, currency, amount, n, offsets, closed_periods) -> bool:
    """True if some transaction of the chunk breaks a rule ``_decide`` checks (the row path then words it)."""
    if pc.any(pc.or_(pc.less(n, 2), pc.greater(n, POSTINGS_PER_TRANSACTION_MAX))).as_py():
        return True
    memo, tx_id = txs.column("memo"), txs.column("tx_id")
    if pc.any(pc.greater(pc.utf8_length(memo), MEMO_MAX_LENGTH)).as_py():
        return True
    if pc.any(pc.match_substring(memo, "\x00")).as_py() or pc.any(pc.match_substring(tx_id, "\x00")).as_py():
        return True
    if any(k is None or k.closed for k in known):
        return True
    account_currency = pa.array([k.currency for k in known], pa.string())
    if not pc.all(pc.equal(pc.take(account_currency, entry), currency)).as_py():
        return True
    if closed_periods:
        periods = pc.utf8_slice_codeunits(txs.column("date"), 0, 7)
        if pc.any(pc.is_in(periods, value_set=pa.array(sorted(closed_periods), pa.string()))).as_py():
            return True
    # Balanced per currency: the sum of each transaction's amounts in each of its currencies is zero.
    sums = _sums({"tx": _parents(offsets, amount), "currency": currency}, {"amount": amount})
    return pc.any(pc.not_equal(sums.column("amount_sum"), 0)).as_py()


def _amount_texts(amount: pa.Array, currency: pa.Array) -> pa.Array:
    """``chain_format._amount_text`` per row: "-1234.56" for two-place currencies, format_fen for others."""
    if {CURRENCY_PLACES.get(code) for code in pc.unique(currency).to_pylist()} != {2}:
        from ledger.chain_format import _amount_text

        return pa.array(
            [_amount_text(value, code) for value, code in zip(amount.to_pylist(), currency.to_pylist())], pa.string()
        )
    magnitude = pc.abs(amount)
    whole = pc.divide(magnitude, 100)  # integer division of non-negative int64: exact
    cents = pc.subtract(magnitude, pc.multiply(whole, 100))
    sign = pc.if_else(pc.less(amount, 0), "-", "")
    return _join(sign, pc.cast(whole, pa.string()), ".", pc.utf8_lpad(pc.cast(cents, pa.string()), 2, "0"))


def _write(imp, conn, db, txs, rows, tx_ids, digests, known, entry, currency, amount, offsets) -> None:
    count = txs.num_rows
    ids = db.reserve_transaction_ids(count)
    recorded_at = db.moment(utc_now())
    not_pending = db.flag(False)
    dates = pc.dictionary_encode(txs.column("date").combine_chunks())
    isos = dates.dictionary.to_pylist()
    day_of_tx = pc.cast(dates.indices, pa.int64())
    day_values = [db.day(date.fromisoformat(iso)) for iso in isos]
    periods = [iso[:7] for iso in isos]
    account_ids = pc.take(pa.array([k.id for k in known], pa.int64()), entry)
    tx_of_row = _parents(offsets, amount)
    day_of_row = pc.take(day_of_tx, tx_of_row)

    # Month and account totals: int64 sums (the chunk is below INT64_SUM_BOUND), by account and month.
    debit = pc.max_element_wise(amount, 0)
    credit = pc.max_element_wise(pc.negate(amount), 0)
    by_month = _sums(
        {"account": account_ids, "period": pc.take(pa.array(periods, pa.string()), day_of_row)},
        {"debit": debit, "credit": credit},
    )
    month_totals = {
        (account_id, period): [debits_fen, credits_fen]
        for account_id, period, debits_fen, credits_fen in zip(
            *(by_month.column(name).to_pylist() for name in ("account", "period", "debit_sum", "credit_sum"))
        )
    }
    by_account = _sums({"account": account_ids}, {"debit": debit, "credit": credit})
    debits, credits = {}, {}
    for account_id, debits_fen, credits_fen in zip(
        *(by_account.column(name).to_pylist() for name in ("account", "debit_sum", "credit_sum"))
    ):
        if debits_fen:
            debits[account_id] = debits_fen
        if credits_fen:
            credits[account_id] = credits_fen
    imp._store_balances(conn, db, debits, credits)

    codes = pc.unique(currency).to_pylist()
    legs = _join(
        "[", pc.cast(account_ids, pa.string()), ',"', _amount_texts(amount, currency), '",', _json_column(currency), "]"
    )
    client_json = _json_column(txs.column("tx_id").combine_chunks())
    memo_json = _json_column(txs.column("memo").combine_chunks())
    memo, date_text = txs.column("memo").combine_chunks(), txs.column("date").combine_chunks()
    offset_values = offsets.to_pylist()
    for first in range(0, count, WRITE_SLICE_TRANSACTIONS):
        last = min(first + WRITE_SLICE_TRANSACTIONS, count)
        row_first, row_last = offset_values[first], offset_values[last]
        part_ids = ids[first:last]
        ids_array = pa.array(part_ids, pa.int64())
        part_days = day_of_tx.slice(first, last - first).to_pylist()
        part_offsets = pc.subtract(offsets.slice(first, last - first + 1), row_first)
        tx_rows = list(
            zip(
                part_ids, repeat(imp.source), tx_ids[first:last], digests[first:last], repeat(IMPORT_KIND),
                repeat(not_pending), _pick(day_values, part_days), repeat(recorded_at),
                memo.slice(first, last - first).to_pylist(), repeat(imp.actor), *(repeat(value) for value in _NO_LINKS),
            )
        )  # fmt: skip
        # The chain's leaf of each transaction: chain_format.canonical_encoding, written in columns (a test
        # proves the bytes equal; verify recomputes every leaf from the stored rows).
        texts = _join(
            '{"actor":' + _json_text(imp.actor) + ',"approval_doc":null,"approver":null,"client_id":',
            client_json.slice(first, last - first),
            ',"effective_date":"', date_text.slice(first, last - first), '","expires_at":null,"id":',
            pc.cast(ids_array, pa.string()),
            ',"kind":' + _json_string(IMPORT_KIND) + ',"link_id":null,"link_type":null,"memo":',
            memo_json.slice(first, last - first),
            ',"pending":' + ("true" if not_pending else "false") + ',"postings":[',
            _list_join(part_offsets, legs.slice(row_first, row_last - row_first), ","),
            '],"program_year":null,"reason":null,"recorded_at":"' + _moment_text(recorded_at) + '","request_hash":"',
            pa.array(digests[first:last], pa.string()),
            '","resolves_id":null,"reverses_id":null,"source":' + _json_string(imp.source) + "}",
        )  # fmt: skip
        # An import posts to one book: every transaction's voucher numbers are there.
        queued = list(zip(part_ids, _sha256_hex(texts), _pick(periods, part_days), repeat(str(imp.book_id))))
        db.insert_transactions(tx_rows, queued)
        del tx_rows, queued, texts
        part_tx_of_row = pc.subtract(tx_of_row.slice(row_first, row_last - row_first), first)
        posting_rows = list(
            zip(
                pc.take(ids_array, part_tx_of_row).to_pylist(),
                account_ids.slice(row_first, row_last - row_first).to_pylist(), repeat(imp.book_id),
                amount.slice(row_first, row_last - row_first).to_pylist(),
                repeat(codes[0]) if len(codes) == 1 else currency.slice(row_first, row_last - row_first).to_pylist(),
                _pick(day_values, day_of_row.slice(row_first, row_last - row_first).to_pylist()), repeat(not_pending),
            )
        )  # fmt: skip
        db.insert_postings(posting_rows)
        del posting_rows
    db.add_month_totals(month_totals)
    imp.report.posted += count
    imp.report.postings += offset_values[-1]
