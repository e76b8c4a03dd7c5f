"""The import's vectorised reader: pyarrow parses the CSV in blocks and pyarrow compute checks the rows.

It must refuse exactly what the row-by-row reader (``ledger.importer.read_transactions``) refuses, with the
same messages and line numbers, so it takes a file only when a byte scan proves that pyarrow and
``csv.reader`` read it alike and that a record is a line (``plain_layout``): no quote character, no
carriage return outside a CRLF line end, no NUL, valid UTF-8. Any other file goes row by row. Within such
a file a block is checked in columns when pyarrow splits every line into the header's number of fields,
there is no blank line, and every row is well formed (``_fast_block``); the first block that is not, and
every block after it, goes through the row reader's own rules (``_RowGrouper``) record by record (from
csv.reader over the block's text where pyarrow could not split it), so a refusal is always worded by
that code.

Amounts become fen by string operations on the digits ("-1234.56" -> -123456), never through a float.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from ledger.entries import CLIENT_ID_MAX_LENGTH
from ledger.errors import LedgerError
from ledger.importer import (
    FAST_AMOUNT_DIGITS_MAX,
    ImportError_,
    _Columns,
    _Row,
    _row_date,
    _RowGrouper,
    _Tx,
)
from ledger.money import DEFAULT_CURRENCY

# Files smaller than this go row by row: setting up arrow costs more than it saves on a few thousand rows.
VECTORISED_MIN_BYTES = 1 << 20
# The reader takes this much of the file at a time (then up to the next line end): ~100k transactions of a
# typical journal and a few tens of MiB in arrow, so memory stays flat whatever the file's size.
BLOCK_BYTES = 4 << 20
# The amount shape the row reader's fast path takes (importer._fen): sign, at most 16 integer digits, two
# places. Anything else is read by to_fen, row by row.
FAST_AMOUNT_PATTERN = rf"^-?[0-9]{{1,{FAST_AMOUNT_DIGITS_MAX}}}\.[0-9]{{2}}$"
UTF8_BOM = codecs.BOM_UTF8
COLUMN_KEYS = ("tx", "date", "account", "amount", "currency", "memo")


def arange(start: int, count: int) -> pa.Array:
    return pa.array(range(start, start + count), pa.int64())


@dataclass
class Piece:
    """Transactions the reader accepted, in file order, as columns, and the row refusals met on the way.

    ``txs``: tx_id, line (its first row's), last_line, date (ISO text), memo, n (its number of rows).
    ``rows``: line, account (trimmed), amount (fen, int64), currency."""

    txs: pa.Table
    rows: pa.Table
    errors: list[tuple[ImportError_, bool]] = field(default_factory=list)


TX_SCHEMA = pa.schema(
    [
        ("tx_id", pa.string()),
        ("line", pa.int64()),
        ("last_line", pa.int64()),
        ("date", pa.string()),
        ("memo", pa.string()),
        ("n", pa.int64()),
    ]
)
ROW_SCHEMA = pa.schema(
    [("line", pa.int64()), ("account", pa.string()), ("amount", pa.int64()), ("currency", pa.string())]
)


# ----- which files ---------------------------------------------------------------------------------------


@dataclass
class Source:
    binary: BinaryIO
    strip_bom: bool
    size: int
    close: bool


def binary_source(source) -> Source | None:
    """The bytes behind ``source`` if the vectorised reader can take them: a path (read as UTF-8 with an
    optional BOM, as import_csv opens it), a text file opened as UTF-8 and not yet read (the CLI's), or an
    in-memory text stream; None for anything else (the row reader takes it)."""
    if isinstance(source, str | Path):
        path = Path(source)
        return Source(path.open("rb"), True, path.stat().st_size, True)
    if isinstance(source, io.StringIO):
        if source.tell() != 0:
            return None
        try:
            data = source.getvalue().encode("utf-8")
        except UnicodeEncodeError:
            return None
        return Source(io.BytesIO(data), False, len(data), True)
    buffer = getattr(source, "buffer", None)
    encoding = getattr(source, "encoding", None)
    if buffer is None or not encoding:
        return None
    try:
        name = codecs.lookup(encoding).name
        if name not in ("utf-8", "utf-8-sig") or source.tell() != 0 or buffer.tell() != 0 or not buffer.seekable():
            return None
        size = Path(source.name).stat().st_size if isinstance(getattr(source, "name", None), str) else None
    except (LookupError, OSError, ValueError):
        return None
    if size is None:
        return None
    return Source(buffer, name == "utf-8-sig", size, False)


def read_header_line(src: Source) -> tuple[_Columns, int] | None:
    """The header's columns and the offset of the first data line, if the header line is plain."""
    first = src.binary.readline()
    if src.strip_bom and first.startswith(UTF8_BOM):
        first = first[len(UTF8_BOM) :]
    if not first.endswith(b"\n"):
        return None
    first = first[:-2] if first.endswith(b"\r\n") else first[:-1]
    if any(mark in first for mark in (b'"', b"\r", b"\x00")):
        return None
    try:
        text = first.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return _Columns(text.split(",")), src.binary.tell()


def plain_layout(binary: BinaryIO) -> bool:
    """True if no record of the rest of the file can span lines or be read otherwise by csv.reader than by
    pyarrow: no quote character, no carriage return but in a CRLF line end, no NUL, and valid UTF-8 (the row
    reader would stop at a bad byte mid-file, after committing what came before: such a file goes row by row,
    to stop alike).
    Reads to the end; the caller seeks back. Field counts and blank lines are checked per block later."""
    while True:
        block = binary.read(BLOCK_BYTES)
        if not block:
            return True
        if not block.endswith(b"\n"):
            block += binary.readline()  # a UTF-8 sequence is never cut at a line end
        if b'"' in block or b"\x00" in block or block.count(b"\r") != block.count(b"\r\n"):
            return False
        try:
            block.decode("utf-8")
        except UnicodeDecodeError:
            return False


# ----- reading -------------------------------------------------------------------------------------------


class _Compact(_Columns):
    """Column positions within the compact records the exact path builds from arrow's columns."""

    def __init__(self, has_currency: bool, has_memo: bool) -> None:
        self.tx, self.date, self.account, self.amount = 0, 1, 2, 3
        self.currency = 4 if has_currency else None
        self.memo = (5 if has_currency else 4) if has_memo else None
        self.width = 4 + has_currency + has_memo


class VectorisedReader:
    """Yields ``Piece``s of one plain file, block by block. ``seen_ids`` spans the file (a tx_id met again
    after other transactions is refused as the row reader refuses it)."""

    def __init__(self, binary: BinaryIO, columns: _Columns, data_start: int) -> None:
        self.binary = binary
        self.columns = columns
        self.data_start = data_start
        self.compact = _Compact(columns.currency is not None, columns.memo is not None)
        self.keys = [key for key, index in zip(COLUMN_KEYS, self._positions()) if index is not None]
        self.seen_ids: set[str] = set()
        self.grouper: _RowGrouper | None = None  # set once a block needs the exact path; kept from then on
        self.errors: list[tuple[ImportError_, bool]] = []
        self.dates: dict[str, str | None] = {}  # raw date text -> ISO date, None if the row reader refuses it

    def _positions(self) -> list[int | None]:
        c = self.columns
        return [c.tx, c.date, c.account, c.amount, c.currency, c.memo]

    def _parse(self, data: bytes) -> dict[str, pa.Array] | None:
        """The block's wanted columns as strings, or None if a line has another number of fields (a blank
        line has one): the exact path then reads the block's text itself."""
        if data.startswith((b"\n", b"\r\n")) or b"\n\n" in data or b"\n\r\n" in data:
            return None  # a blank line: pyarrow reads it as a row of empty fields, csv.reader skips it
        names = [f"c{i}" for i in range(self.columns.width)]
        wanted = [names[index] for index in self._positions() if index is not None]
        invalid = []

        def on_invalid(row) -> str:
            invalid.append(row)
            return "skip"

        table = pa_csv.read_csv(
            io.BytesIO(data),
            read_options=pa_csv.ReadOptions(column_names=names, block_size=len(data) + 1),
            parse_options=pa_csv.ParseOptions(
                quote_char=False,
                double_quote=False,
                escape_char=False,
                newlines_in_values=False,
                ignore_empty_lines=False,
                invalid_row_handler=on_invalid,
            ),  # fmt: skip
            convert_options=pa_csv.ConvertOptions(
                column_types={name: pa.string() for name in wanted},
                include_columns=wanted,
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
                check_utf8=True,
            ),
        )
        if invalid:
            return None
        return {key: table.column(name).combine_chunks() for key, name in zip(self.keys, wanted)}

    def pieces(self) -> Iterator[Piece]:
        self.binary.seek(self.data_start)
        carry: dict[str, pa.Array] | None = None
        first_line = 2  # the header is line 1; the first line of ``carry``, else of the next block
        while True:
            data = self.binary.read(BLOCK_BYTES)
            if data and not data.endswith(b"\n"):
                data += self.binary.readline()
            if not data:
                break
            block = self._parse(data)
            if block is None:
                yield self._exact_text(carry, data, first_line)
                first_line += (len(carry["tx"]) if carry else 0) + data.count(b"\n") + (not data.endswith(b"\n"))
                carry = None
                continue
            if carry is not None:
                block = {key: pa.concat_arrays([carry[key], block[key]]) for key in block}
            piece, carry, first_line = self._block(block, first_line, final=False)
            if piece is not None:
                yield piece
        if carry is not None:
            piece, _, first_line = self._block(carry, first_line, final=True)
            if piece is not None:
                yield piece
        if self.grouper is not None:
            last = self.grouper.finish()
            yield self._from_transactions([last] if last is not None else [])

    def _block(
        self, block: dict[str, pa.Array], first_line: int, *, final: bool
    ) -> tuple[Piece | None, dict | None, int]:
        """One parsed block: its complete transactions as a Piece, the rows held back (the last transaction
        may go on in the next block) and the line the held-back rows start on."""
        count = len(block["tx"])
        if count == 0:
            return None, None, first_line
        if self.grouper is not None:
            return self._exact_columns(block, first_line), None, first_line + count
        tx = block["tx"]
        changes = pc.indices_nonzero(pc.not_equal(tx.slice(1), tx.slice(0, count - 1)))
        starts = pa.concat_arrays([pa.array([0], pa.int64()), pc.add(pc.cast(changes, pa.int64()), 1)])
        carry = None
        if not final:
            held = starts[-1].as_py()
            if held == 0:  # one transaction fills the block: read on
                return None, block, first_line
            carry = {key: column.slice(held) for key, column in block.items()}
            block = {key: column.slice(0, held) for key, column in block.items()}
            starts, count = starts.slice(0, len(starts) - 1), held
        piece = self._fast_block(block, starts, first_line)
        if piece is None:
            piece = self._exact_columns(block, first_line)
        return piece, carry, first_line + count

    def _error(self, error: ImportError_, refuses: bool) -> None:
        self.errors.append((error, refuses))

    def _date_iso(self, raw: str) -> str | None:
        if raw not in self.dates:
            try:
                self.dates[raw] = _row_date(raw.strip()).isoformat()
            except LedgerError:
                self.dates[raw] = None
        return self.dates[raw]

    def _fast_block(self, block: dict[str, pa.Array], starts: pa.Array, first_line: int) -> Piece | None:
        """The block as columns if every row is well formed and every transaction whole; else None."""
        count = len(block["tx"])
        run_ids = pc.take(block["tx"], starts).to_pylist()
        for tx_id in run_ids:
            if not tx_id or len(tx_id) > CLIENT_ID_MAX_LENGTH or tx_id.strip() != tx_id:
                return None
        if len(set(run_ids)) != len(run_ids) or not self.seen_ids.isdisjoint(run_ids):
            return None
        if "currency" in block:
            currencies = pc.unique(block["currency"]).to_pylist()
            if any((value.strip() or DEFAULT_CURRENCY) != DEFAULT_CURRENCY for value in currencies):
                return None
        amount = block["amount"]
        if not pc.all(pc.match_substring_regex(amount, FAST_AMOUNT_PATTERN)).as_py():
            return None
        # "-0012.34" -> "-001234" -> -1234, as int() reads it: exact, and no float on the way.
        fen = pc.cast(pc.replace_substring(amount, ".", "", max_replacements=1), pa.int64())
        if not pc.all(pc.not_equal(fen, 0)).as_py():
            return None
        dates = pc.dictionary_encode(block["date"])
        isos = [self._date_iso(raw) for raw in dates.dictionary.to_pylist()]
        if any(iso is None for iso in isos):
            return None
        # Rows of a transaction must share one date (as dates: " 2026-01-05" and "2026-01-05" are one day).
        canonical = {iso: number for number, iso in enumerate(dict.fromkeys(isos))}
        day_of_row = pc.take(pa.array([canonical[iso] for iso in isos], pa.int64()), dates.indices)
        counts = pc.subtract(pa.concat_arrays([starts.slice(1), pa.array([count], pa.int64())]), starts)
        offsets = pa.concat_arrays([starts, pa.array([count], pa.int64())])
        tx_of_row = pc.list_parent_indices(pa.ListArray.from_arrays(pc.cast(offsets, pa.int32()), day_of_row))
        if not pc.all(pc.equal(day_of_row, pc.take(pc.take(day_of_row, starts), tx_of_row))).as_py():
            return None
        accounts = pc.dictionary_encode(block["account"])
        trimmed = pa.array([path.strip() for path in accounts.dictionary.to_pylist()], pa.string())
        self.seen_ids.update(run_ids)
        lines = arange(first_line, count)
        txs = pa.table(
            {
                "tx_id": pa.array(run_ids, pa.string()),
                "line": pc.take(lines, starts),
                "last_line": pc.take(lines, pc.subtract(pc.add(starts, counts), 1)),
                "date": pc.take(pa.array(isos, pa.string()), pc.take(dates.indices, starts)),
                "memo": pc.take(block["memo"], starts)
                if "memo" in block
                else pa.array([""] * len(starts), pa.string()),
                "n": counts,
            },
            schema=TX_SCHEMA,
        )
        rows = pa.table(
            {
                "line": lines,
                "account": pc.take(trimmed, accounts.indices),
                "amount": fen,
                "currency": pa.repeat(pa.scalar(DEFAULT_CURRENCY), count),
            },
            schema=ROW_SCHEMA,
        )
        return self._piece(txs, rows)

    def _piece(self, txs: pa.Table, rows: pa.Table) -> Piece:
        piece = Piece(txs, rows, self.errors)
        self.errors = []
        return piece

    def _grouper(self) -> _RowGrouper:
        if self.grouper is None:
            self.grouper = _RowGrouper(self.compact, self._error, self.seen_ids)
        return self.grouper

    def _exact_columns(self, block: dict[str, pa.Array], first_line: int) -> Piece:
        """Record by record through the row reader's rules: a block with a row it refuses, or any block
        after one. The records are the parsed columns (every line had the header's field count)."""
        grouper = self._grouper()
        grouper.columns = self.compact
        done = self._feed(grouper, zip(*(block[key].to_pylist() for key in self.keys)), first_line)
        return self._from_transactions(done)

    def _exact_text(self, carry: dict[str, pa.Array] | None, data: bytes, first_line: int) -> Piece:
        """A block pyarrow could not split into the header's fields (a blank line, a short row): the rows held
        back from the block before, then csv.reader over the block's text, as the row reader reads it."""
        grouper = self._grouper()
        done = []
        if carry is not None:
            grouper.columns = self.compact
            done = self._feed(grouper, zip(*(carry[key].to_pylist() for key in self.keys)), first_line)
            first_line += len(carry["tx"])
        grouper.columns = self.columns
        done += self._feed(grouper, csv.reader(io.StringIO(data.decode("utf-8"))), first_line)
        return self._from_transactions(done)

    @staticmethod
    def _feed(grouper: _RowGrouper, records, first_line: int) -> list[_Tx]:
        feed = grouper.feed
        done = []
        for line, record in enumerate(records, start=first_line):
            tx = feed(line, list(record))
            if tx is not None:
                done.append(tx)
        return done

    def _from_transactions(self, done: list[_Tx]) -> Piece:
        rows = [row for tx in done for row in tx.rows]
        txs = pa.table(
            {
                "tx_id": [tx.tx_id for tx in done],
                "line": [tx.line for tx in done],
                "last_line": [tx.rows[-1].line for tx in done],
                "date": [tx.effective_date.isoformat() for tx in done],
                "memo": [tx.memo for tx in done],
                "n": [len(tx.rows) for tx in done],
            },
            schema=TX_SCHEMA,
        )
        table = pa.table(
            {
                "line": [row.line for row in rows],
                "account": [row.account for row in rows],
                "amount": [row.amount_fen for row in rows],
                "currency": [row.currency for row in rows],
            },
            schema=ROW_SCHEMA,
        )
        return self._piece(txs, table)


def to_transactions(txs: pa.Table, rows: pa.Table) -> list[_Tx]:
    """Columns back to the row path's objects, for a chunk whose checks need it (a refusal, a limit flag)."""
    lines, accounts, amounts, currencies = (rows.column(name).to_pylist() for name in ROW_SCHEMA.names)
    out = []
    at = 0
    days: dict[str, date] = {}
    for tx_id, line, _last, day, memo, n in zip(*(txs.column(name).to_pylist() for name in TX_SCHEMA.names)):
        if day not in days:
            days[day] = date.fromisoformat(day)
        legs = [_Row(lines[i], accounts[i], amounts[i], currencies[i]) for i in range(at, at + n)]
        out.append(_Tx(tx_id, line, days[day], memo, legs))
        at += n
    return out
