"""Reading a bulk upload (.xlsx or .csv) into rows of plain values, and writing its template. Parsing only:
what a row may do is decided by the service the API calls for it, never here.

A file is one header row (the template's Chinese headers, or the field names) and at most
``UPLOAD_ROWS_MAX`` data rows, in at most ``UPLOAD_BYTES_MAX`` bytes. A CSV is UTF-8 (with or without a
BOM) or GB18030, as spreadsheet programs on Chinese systems save it. Each cell is read by its column's kind
(text, an amount in 元, a date, a whole number) into the text the API's request body takes; a cell that
cannot be read is that row's refusal (``upload_cell_invalid``, naming the column and what was read), and a
file that cannot be read at all is one ``UploadRefused`` with its code. Nothing here raises anything else
on any input: the size checks come before any parsing, and an .xlsx is opened only after its unpacked size
is known to be bounded (a zip bomb is refused unread)."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from ledger.spreadsheet import Column, Sheet, csv_bytes, xlsx_bytes

UPLOAD_BYTES_MAX = 1_000_000  # one upload file: a few thousand rows of text, far below any real grant list
UPLOAD_ROWS_MAX = 200  # data rows per file: each is an API call inside one transaction that holds the writer
XLSX_UNPACKED_BYTES_MAX = 20_000_000  # an .xlsx is a zip: its parts together, unpacked, at most this
XLSX_COLUMNS_READ_MAX = 40  # cells read per row; a template has a handful of columns
CELL_TEXT_MAX = 200  # characters in one cell
AMOUNT_PLACES_MAX = 2  # 元 to the 分
AMOUNT_DIGITS_MAX = 16  # as the API's amount pattern
CSV_ENCODINGS = ("utf-8", "gb18030")
UTF8_BOM = b"\xef\xbb\xbf"
XLSX_MAGIC = b"PK\x03\x04"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DATE_TEXT = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?$")
INTEGER_TEXT = re.compile(r"^[+-]?\d{1,9}$")
INTEGER_MAX = 10**9  # a year or a term in months; the API bounds each further
AMOUNT_TEXT = re.compile(r"^-?\d+(\.\d+)?$")
THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(\D|$))")


class UploadCode(StrEnum):
    UPLOAD_EMPTY = "upload_empty"
    UPLOAD_FORM_INVALID = "upload_form_invalid"
    UPLOAD_TOO_LARGE = "upload_too_large"
    UPLOAD_TOO_MANY_ROWS = "upload_too_many_rows"
    UPLOAD_FORMAT_UNKNOWN = "upload_format_unknown"
    UPLOAD_ENCODING_INVALID = "upload_encoding_invalid"
    UPLOAD_CSV_INVALID = "upload_csv_invalid"
    UPLOAD_XLSX_INVALID = "upload_xlsx_invalid"
    UPLOAD_HEADER_INVALID = "upload_header_invalid"
    UPLOAD_CELL_INVALID = "upload_cell_invalid"


class CellKind(StrEnum):
    TEXT = "text"
    YUAN = "yuan"
    DATE = "date"
    INTEGER = "integer"


@dataclass(frozen=True, slots=True)
class UploadColumn:
    key: str  # the API body's field name; also accepted as a header
    header: str  # the template's Chinese header
    kind: CellKind = CellKind.TEXT
    required: bool = True


class UploadRefused(Exception):
    """The file as a whole cannot be read: its code, and what to fix (with the values the message names)."""

    def __init__(self, code: UploadCode, **values: object) -> None:
        super().__init__(code.value)
        self.code = code
        self.values = values


@dataclass(frozen=True, slots=True)
class CellProblem:
    column: str  # the header as the template names it
    read: str  # what the cell held, as text
    reason: str  # a message key (upload.cell.*)


@dataclass(slots=True)
class UploadRow:
    """One data row: its number in the file (the header is row 1), the cells as read (header → text) and
    the values for the API's body (key → text, or int for a whole number), or the cells that could not be read."""

    number: int
    read: dict[str, str]
    values: dict[str, str | int] = field(default_factory=dict)
    problems: list[CellProblem] = field(default_factory=list)

    @property
    def readable(self) -> bool:
        return not self.problems


def read_upload(data: bytes, filename: str, columns: tuple[UploadColumn, ...]) -> list[UploadRow]:
    """The data rows of an uploaded file, each read by ``columns`` (refused whole when it cannot be read)."""
    if not data:
        raise UploadRefused(UploadCode.UPLOAD_EMPTY)
    if len(data) > UPLOAD_BYTES_MAX:
        raise UploadRefused(UploadCode.UPLOAD_TOO_LARGE, limit=UPLOAD_BYTES_MAX, size=len(data))
    name = filename.lower()
    if data.startswith(XLSX_MAGIC) or name.endswith(".xlsx"):
        raw_rows = _xlsx_rows(data)
    elif name.endswith((".csv", ".txt")) or not name:
        raw_rows = _csv_rows(data)
    else:
        raise UploadRefused(UploadCode.UPLOAD_FORMAT_UNKNOWN, name=filename[-80:])
    return _read_rows(raw_rows, columns)


# ----- files into raw rows -------------------------------------------------------------------------------


def _decoded(data: bytes) -> str:
    if data.startswith(UTF8_BOM):
        data = data[len(UTF8_BOM) :]
    if b"\x00" in data:
        raise UploadRefused(UploadCode.UPLOAD_ENCODING_INVALID)  # a binary file, or UTF-16: not a CSV we read
    for encoding in CSV_ENCODINGS:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise UploadRefused(UploadCode.UPLOAD_ENCODING_INVALID)


def _csv_rows(data: bytes):  # noqa: ANN202 - an iterator of (row number, cells)
    text = _decoded(data)
    first_line = text.partition("\n")[0]
    # Comma-separated, as spreadsheet programs save CSV; a tab-separated file (copied out of a sheet) too.
    dialect = csv.excel_tab if "\t" in first_line and "," not in first_line else csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect, strict=True)  # a stray quote is an error
    try:
        for cells in reader:
            yield reader.line_num, cells
    except csv.Error as error:
        raise UploadRefused(UploadCode.UPLOAD_CSV_INVALID, line=reader.line_num, reason=str(error)[:200]) from None


def _xlsx_rows(data: bytes):  # noqa: ANN202 - an iterator of (row number, cells)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(item.file_size for item in archive.infolist())
    except (zipfile.BadZipFile, ValueError, OSError):
        raise UploadRefused(UploadCode.UPLOAD_XLSX_INVALID) from None
    if unpacked > XLSX_UNPACKED_BYTES_MAX:
        raise UploadRefused(UploadCode.UPLOAD_TOO_LARGE, limit=UPLOAD_BYTES_MAX, size=len(data))
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # noqa: BLE001 - openpyxl raises many kinds on a damaged file; each is the same refusal
        raise UploadRefused(UploadCode.UPLOAD_XLSX_INVALID) from None
    try:
        if not workbook.worksheets:
            raise UploadRefused(UploadCode.UPLOAD_XLSX_INVALID)
        sheet = workbook.worksheets[0]
        try:
            for number, cells in enumerate(sheet.iter_rows(max_col=XLSX_COLUMNS_READ_MAX, values_only=True), 1):
                yield number, list(cells)
        except UploadRefused:
            raise
        except Exception:  # noqa: BLE001 - a damaged sheet part: the same refusal as a damaged file
            raise UploadRefused(UploadCode.UPLOAD_XLSX_INVALID) from None
    finally:
        workbook.close()


# ----- raw rows into upload rows ----------------------------------------------------------------------------


def _blank(cell: object) -> bool:
    return cell is None or (isinstance(cell, str) and not cell.strip())


def _header_key(cell: object, columns: tuple[UploadColumn, ...]) -> str | None:
    text = _cell_text(cell).strip().lstrip("\ufeff")
    for column in columns:
        if text in (column.header, column.key) or text.lower() == column.key:
            return column.key
    return None


def _read_rows(raw_rows, columns: tuple[UploadColumn, ...]) -> list[UploadRow]:  # noqa: ANN001 - an iterator
    header = None
    rows: list[UploadRow] = []
    for number, cells in raw_rows:
        if all(_blank(cell) for cell in cells):
            continue
        if header is None:
            header = _header(cells, columns)
            continue
        if len(rows) == UPLOAD_ROWS_MAX:
            raise UploadRefused(UploadCode.UPLOAD_TOO_MANY_ROWS, limit=UPLOAD_ROWS_MAX)
        rows.append(_row(number, cells, header, columns))
    if header is None:
        raise UploadRefused(UploadCode.UPLOAD_HEADER_INVALID, missing=_names(columns), unknown="")
    return rows


def _names(columns) -> str:  # noqa: ANN001
    return "、".join(column.header for column in columns)


def _header(cells: list, columns: tuple[UploadColumn, ...]) -> dict[int, UploadColumn]:
    """Which column each position holds; every required column must be there, and nothing unknown."""
    by_key = {column.key: column for column in columns}
    positions: dict[int, UploadColumn] = {}
    unknown = []
    for index, cell in enumerate(cells):
        if _blank(cell):
            continue
        key = _header_key(cell, columns)
        if key is None or key in {column.key for column in positions.values()}:
            unknown.append(_cell_text(cell)[:40])
            continue
        positions[index] = by_key[key]
    present = {column.key for column in positions.values()}
    missing = [column for column in columns if column.required and column.key not in present]
    if missing or unknown:
        raise UploadRefused(UploadCode.UPLOAD_HEADER_INVALID, missing=_names(missing), unknown="、".join(unknown))
    return positions


def _row(number: int, cells: list, header: dict[int, UploadColumn], columns: tuple[UploadColumn, ...]) -> UploadRow:
    row = UploadRow(number=number, read={})
    for index, column in header.items():
        cell = cells[index] if index < len(cells) else None
        shown = _cell_text(cell)[:CELL_TEXT_MAX]
        row.read[column.header] = shown
        if _blank(cell):
            if column.required:
                row.problems.append(CellProblem(column.header, "", "upload.cell.missing"))
            continue
        value, reason = _convert(cell, column.kind)
        if reason is not None:
            row.problems.append(CellProblem(column.header, shown, reason))
        else:
            row.values[column.key] = value
    for column in columns:  # a column the header did not name reads as empty, in the template's order
        row.read.setdefault(column.header, "")
    row.read = {column.header: row.read[column.header] for column in columns}
    return row


def _cell_text(cell: object) -> str:
    if cell is None:
        return ""
    if isinstance(cell, datetime):
        return cell.date().isoformat() if cell.time() == datetime.min.time() else cell.isoformat(sep=" ")
    if isinstance(cell, date):
        return cell.isoformat()
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return str(cell)


def _convert(cell: object, kind: CellKind) -> tuple[str | int, str | None]:
    """The cell as the API's body takes it (text; a whole number as int), or why it cannot be read (a
    message key)."""
    if isinstance(cell, bool):
        return "", "upload.cell.not_" + kind.value
    if kind is CellKind.TEXT:
        text = _cell_text(cell).strip()
        return (text, None) if len(text) <= CELL_TEXT_MAX else ("", "upload.cell.too_long")
    if kind is CellKind.YUAN:
        return _yuan(cell)
    if kind is CellKind.DATE:
        return _day(cell)
    return _integer(cell)


def _yuan(cell: object) -> tuple[str, str | None]:
    if isinstance(cell, int):
        amount = Decimal(cell)
    elif isinstance(cell, float):
        # A spreadsheet stores numbers as doubles: the shortest text that reads back as the same double is
        # what the person typed (1234.56, not 1234.5599999...); more than two places is refused below.
        amount = Decimal(repr(cell)) if cell == cell and abs(cell) != float("inf") else None
    else:
        text = THOUSANDS.sub("", str(cell).strip().removeprefix("¥").removesuffix("元").strip())
        amount = Decimal(text) if AMOUNT_TEXT.match(text) else None
    if amount is None:
        return "", "upload.cell.not_yuan"
    try:
        exponent = amount.as_tuple().exponent
        places = -exponent if isinstance(exponent, int) and exponent < 0 else 0
        if places > AMOUNT_PLACES_MAX and amount != amount.quantize(Decimal("0.01")):
            return "", "upload.cell.too_many_places"
        text = f"{amount.quantize(Decimal('0.01')):f}"
    except InvalidOperation:
        return "", "upload.cell.not_yuan"
    if len(text.lstrip("-").partition(".")[0]) > AMOUNT_DIGITS_MAX:
        return "", "upload.cell.not_yuan"
    return text, None


def _day(cell: object) -> tuple[str, str | None]:
    if isinstance(cell, datetime):
        return cell.date().isoformat(), None
    if isinstance(cell, date):
        return cell.isoformat(), None
    match = DATE_TEXT.match(str(cell).strip())
    if match is None:
        return "", "upload.cell.not_date"
    try:
        return date(int(match.group(1)), int(match.group(2)), int(match.group(3))).isoformat(), None
    except ValueError:
        return "", "upload.cell.not_date"


def _integer(cell: object) -> tuple[int | str, str | None]:
    if isinstance(cell, int):
        return (cell, None) if abs(cell) < INTEGER_MAX else ("", "upload.cell.not_integer")
    if isinstance(cell, float):
        return (int(cell), None) if cell.is_integer() and abs(cell) < INTEGER_MAX else ("", "upload.cell.not_integer")
    text = str(cell).strip()
    return (int(text), None) if INTEGER_TEXT.match(text) else ("", "upload.cell.not_integer")


# ----- the template -----------------------------------------------------------------------------------------

TEMPLATE_SHEET_TITLE = "导入"


def template_xlsx(columns: tuple[UploadColumn, ...]) -> bytes:
    """An .xlsx with the header row only (Chinese headers; amounts in 元 as the header says)."""
    sheet = Sheet(TEMPLATE_SHEET_TITLE, tuple(Column(column.key, column.header) for column in columns), (), False)
    return xlsx_bytes([sheet])


def template_csv(columns: tuple[UploadColumn, ...]) -> bytes:
    """The same header row as UTF-8 CSV with a BOM (so a spreadsheet program on a Chinese system reads it)."""
    sheet = Sheet(TEMPLATE_SHEET_TITLE, tuple(Column(column.key, column.header) for column in columns), (), False)
    return csv_bytes(sheet)
