"""The one .xlsx writer: every report and export that becomes a spreadsheet goes through ``xlsx_bytes``.

A workbook is a list of ``Sheet`` (one per report section), each a list of ``Column`` and rows of plain
values keyed by the column's ``key``. Amounts arrive as integer fen and are never turned into a float
before the last step, when a cell must hold an IEEE double because that is what .xlsx stores:

- 元: the cell holds the exact amount (fen / 100), number format ``#,##0.00``. A double holds every amount
  of up to ``EXACT_CELL_DIGITS_MAX`` significant digits exactly enough to read back the same decimal;
  a larger amount (beyond 10^13 元) is written as its decimal text instead of a rounded number.
- 万元: the cell holds the *display* value, computed from fen with ``Decimal`` and rounded half up to two
  places of 万元 (to the 100 元). Why not the exact value with a display format: the spreadsheet program
  would round a binary double for display (1234.565 万元 is stored as 1234.56499...), WPS and LibreOffice
  do not all round it alike, and a reader who copies or sums the cells would get figures other than the
  ones shown. A 万元 sheet therefore shows figures a reader can recompute by hand, at the cost of a
  rounding difference (尾差) between a total and the sum of its shown parts; the note under the table says so.
- Totals are summed in fen (Python integers), then shown like any other cell of the column: the 万元
  total is the rounded exact total, not the sum of rounded parts.

The header row is frozen, headers are the caller's (Chinese) text with the unit appended to amount
columns, and each column is as wide as its widest shown value (East Asian wide characters count two).
The output is deterministic: the same sheets give the same bytes (fixed document dates; XlsxWriter fixes
the zip entries' times), so an export rerun for the same period writes an identical file.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from fractions import Fraction
from typing import Any

import xlsxwriter

from ledger.errors import LedgerError

YUAN = "元"
WAN_YUAN = "万元"
UNITS = (YUAN, WAN_YUAN)
FEN_PER_YUAN = 100
FEN_PER_WAN_YUAN = 1_000_000
AMOUNT_PLACES = 2
# A double reads back as the same decimal for up to 15 significant digits (DBL_DIG); beyond, text.
EXACT_CELL_DIGITS_MAX = 15
# Excel's own limits: a sheet title of at most 31 characters, without []:*?/\ ; 1,048,576 rows.
SHEET_TITLE_LENGTH_MAX = 31
SHEET_TITLE_FORBIDDEN = frozenset("[]:*?/\\")
SHEET_ROWS_MAX = 1_048_576
SHEETS_MAX = 255
# Column widths in character cells: never narrower than a short figure, never wider than a screen.
COLUMN_WIDTH_MIN = 6
COLUMN_WIDTH_MAX = 60
COLUMN_WIDTH_PADDING = 2
TOTAL_LABEL = "合计"
WAN_YUAN_NOTE = "注：金额单位为万元，按分精确计算后四舍五入保留两位小数；合计按分汇总后取整，与分项之和可能存在尾差。"
# A fixed creation time: the same sheets give the same bytes.
DOCUMENT_CREATED = datetime(2000, 1, 1)

YUAN_FORMAT = "#,##0.00"
INT_FORMAT = "#,##0"
RATIO_FORMAT = "0.00%"
DATE_FORMAT = "yyyy-mm-dd"
# A ratio in CSV: six decimal places, half up (0.333333 for 1/3); the exact fraction stays in the report.
CSV_RATIO_PLACES = 6


class ColumnKind(StrEnum):
    TEXT = "text"
    FEN = "fen"
    DATE = "date"
    INT = "int"
    RATIO = "ratio"


COLUMN_KINDS = frozenset(kind.value for kind in ColumnKind)


class SpreadsheetCode(StrEnum):
    SPREADSHEET_UNIT_INVALID = "spreadsheet_unit_invalid"
    SPREADSHEET_COLUMN_KIND_INVALID = "spreadsheet_column_kind_invalid"
    SPREADSHEET_COLUMN_KEYS_MUST_BE_DISTINCT = "spreadsheet_column_keys_must_be_distinct"
    SPREADSHEET_SHEET_TITLE_INVALID = "spreadsheet_sheet_title_invalid"
    SPREADSHEET_SHEET_TITLES_MUST_BE_DISTINCT = "spreadsheet_sheet_titles_must_be_distinct"
    SPREADSHEET_TOO_MANY_ROWS = "spreadsheet_too_many_rows"
    SPREADSHEET_TOO_MANY_SHEETS = "spreadsheet_too_many_sheets"
    SPREADSHEET_NEEDS_A_SHEET = "spreadsheet_needs_a_sheet"
    SPREADSHEET_CELL_INVALID = "spreadsheet_cell_invalid"


@dataclass(frozen=True, slots=True)
class Column:
    """``key`` names the row field; ``header`` is the caller's heading; ``kind`` one of ``ColumnKind``.

    Values by kind: text → str; fen → int (minor units, never a float or Decimal 元); date → date;
    int → int (a count); ratio → Fraction or Decimal (0.5 is shown 50.00%). None leaves the cell empty."""

    key: str
    header: str
    kind: str = ColumnKind.TEXT

    def __post_init__(self) -> None:
        if self.kind not in COLUMN_KINDS:
            raise LedgerError(
                SpreadsheetCode.SPREADSHEET_COLUMN_KIND_INVALID,
                f"column {self.key!r} has kind {self.kind!r}; use one of {', '.join(ColumnKind)}",
                column=self.key,
            )


@dataclass(frozen=True, slots=True)
class Sheet:
    """One section of a workbook. ``totals`` adds a 合计 row summing the fen and int columns."""

    title: str
    columns: tuple[Column, ...]
    rows: Sequence[Mapping[str, Any]] = field(default_factory=tuple)
    totals: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "columns", tuple(self.columns))
        _check_title(self.title)
        keys = [column.key for column in self.columns]
        if len(set(keys)) != len(keys):
            raise LedgerError(
                SpreadsheetCode.SPREADSHEET_COLUMN_KEYS_MUST_BE_DISTINCT,
                f"sheet {self.title!r} names a column key twice",
                sheet=self.title,
            )

    def total_fen(self, key: str) -> int:
        """The exact total of a fen or int column, as the totals row shows it (before unit rounding)."""
        return sum(_integer(row.get(key), self.title, key) or 0 for row in self.rows)


def _check_title(title: str) -> None:
    if not title or len(title) > SHEET_TITLE_LENGTH_MAX or SHEET_TITLE_FORBIDDEN & set(title) or title[0] == "'":
        raise LedgerError(
            SpreadsheetCode.SPREADSHEET_SHEET_TITLE_INVALID,
            f"sheet title {title!r} must be 1-{SHEET_TITLE_LENGTH_MAX} characters without []:*?/\\ or a leading '",
            sheet=title,
        )


def _integer(value: object, sheet: str, key: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise LedgerError(
            SpreadsheetCode.SPREADSHEET_CELL_INVALID,
            f"sheet {sheet!r} column {key!r} needs an integer (fen or a count), got {type(value).__name__}",
            sheet=sheet,
            column=key,
        )
    return value


def fen_shown(fen: int, unit: str) -> Decimal:
    """The figure a cell shows for ``fen`` in ``unit``: exact 元, or 万元 rounded half up to two places."""
    if unit == YUAN:
        return Decimal(fen).scaleb(-AMOUNT_PLACES)
    if unit == WAN_YUAN:
        exact = Decimal(fen) / FEN_PER_WAN_YUAN
        return exact.quantize(Decimal(1).scaleb(-AMOUNT_PLACES), rounding=ROUND_HALF_UP)
    raise LedgerError(SpreadsheetCode.SPREADSHEET_UNIT_INVALID, f"unit {unit!r} is not one of {', '.join(UNITS)}")


def _display_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


class _Formats:
    def __init__(self, workbook: xlsxwriter.Workbook) -> None:
        self.header = workbook.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": False})
        self.amount = workbook.add_format({"num_format": YUAN_FORMAT})
        self.amount_text = workbook.add_format({"align": "right"})
        self.integer = workbook.add_format({"num_format": INT_FORMAT})
        self.ratio = workbook.add_format({"num_format": RATIO_FORMAT})
        self.date = workbook.add_format({"num_format": DATE_FORMAT})
        self.text = workbook.add_format({})
        self.total_label = workbook.add_format({"bold": True, "top": 1})
        self.total_amount = workbook.add_format({"bold": True, "top": 1, "num_format": YUAN_FORMAT})
        self.total_amount_text = workbook.add_format({"bold": True, "top": 1, "align": "right"})
        self.total_integer = workbook.add_format({"bold": True, "top": 1, "num_format": INT_FORMAT})
        self.total_blank = workbook.add_format({"top": 1})
        self.note = workbook.add_format({"italic": True, "font_color": "#595959"})


class _SheetWriter:
    """Writes one sheet; remembers the widest shown text per column for the widths set at the end."""

    def __init__(self, worksheet: Any, sheet: Sheet, unit: str, formats: _Formats) -> None:
        self.worksheet = worksheet
        self.sheet = sheet
        self.unit = unit
        self.formats = formats
        self.widths = [0] * len(sheet.columns)

    def header_text(self, column: Column) -> str:
        return f"{column.header}（{self.unit}）" if column.kind == ColumnKind.FEN else column.header

    def write(self) -> None:
        for index, column in enumerate(self.sheet.columns):
            text = self.header_text(column)
            self.worksheet.write_string(0, index, text, self.formats.header)
            self._widen(index, text)
        self.worksheet.freeze_panes(1, 0)
        row_number = 1
        for row in self.sheet.rows:
            for index, column in enumerate(self.sheet.columns):
                self._cell(row_number, index, column, row.get(column.key), total=False)
            row_number += 1
        if self.sheet.totals and any(column.kind in (ColumnKind.FEN, ColumnKind.INT) for column in self.sheet.columns):
            self._totals(row_number)
            row_number += 1
        if self.unit == WAN_YUAN and any(column.kind == ColumnKind.FEN for column in self.sheet.columns):
            self.worksheet.write_string(row_number + 1, 0, WAN_YUAN_NOTE, self.formats.note)
        for index, width in enumerate(self.widths):
            self.worksheet.set_column(
                index, index, min(max(width + COLUMN_WIDTH_PADDING, COLUMN_WIDTH_MIN), COLUMN_WIDTH_MAX)
            )

    def _totals(self, row_number: int) -> None:
        for index, column in enumerate(self.sheet.columns):
            if column.kind in (ColumnKind.FEN, ColumnKind.INT):
                self._cell(row_number, index, column, self.sheet.total_fen(column.key), total=True)
            elif index == 0:
                self.worksheet.write_string(row_number, index, TOTAL_LABEL, self.formats.total_label)
                self._widen(index, TOTAL_LABEL)
            else:
                self.worksheet.write_blank(row_number, index, None, self.formats.total_blank)

    def _widen(self, index: int, text: str) -> None:
        self.widths[index] = max(self.widths[index], _display_width(text))

    def _cell(self, row: int, index: int, column: Column, value: object, *, total: bool) -> None:
        formats = self.formats
        if value is None:
            return
        kind = column.kind
        if kind == ColumnKind.FEN:
            shown = fen_shown(_integer(value, self.sheet.title, column.key), self.unit)
            text = f"{shown:,}"
            if len(shown.as_tuple().digits) <= EXACT_CELL_DIGITS_MAX:
                # str -> float: the nearest double, which .16g writes and a reader parses back to ``shown``.
                self.worksheet.write_number(
                    row, index, float(str(shown)), formats.total_amount if total else formats.amount
                )
            else:
                self.worksheet.write_string(
                    row, index, str(shown), formats.total_amount_text if total else formats.amount_text
                )
        elif kind == ColumnKind.INT:
            count = _integer(value, self.sheet.title, column.key)
            text = f"{count:,}"
            if len(str(abs(count))) <= EXACT_CELL_DIGITS_MAX:
                self.worksheet.write_number(row, index, count, formats.total_integer if total else formats.integer)
            else:
                self.worksheet.write_string(row, index, str(count), formats.amount_text)
        elif kind == ColumnKind.RATIO:
            ratio = self._ratio(value, column)
            text = f"{ratio * 100:.2f}%"
            self.worksheet.write_number(row, index, ratio, formats.ratio)
        elif kind == ColumnKind.DATE:
            if not isinstance(value, date) or isinstance(value, datetime):
                raise self._refusal(column, "a date", value)
            text = value.isoformat()
            self.worksheet.write_datetime(row, index, datetime(value.year, value.month, value.day), formats.date)
        else:
            if not isinstance(value, str):
                raise self._refusal(column, "text", value)
            text = value
            self.worksheet.write_string(row, index, value, formats.text)
        self._widen(index, text)

    def _ratio(self, value: object, column: Column) -> float:
        # A ratio is not money: the cell's double is only shown as a percentage with two places.
        if isinstance(value, Fraction):
            return value.numerator / value.denominator
        if isinstance(value, Decimal) and value.is_finite():
            return float(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        raise self._refusal(column, "a Fraction or Decimal ratio", value)

    def _refusal(self, column: Column, wanted: str, value: object) -> LedgerError:
        return LedgerError(
            SpreadsheetCode.SPREADSHEET_CELL_INVALID,
            f"sheet {self.sheet.title!r} column {column.key!r} needs {wanted}, got {type(value).__name__}",
            sheet=self.sheet.title,
            column=column.key,
        )


def _check_sheets(sheets: Sequence[Sheet], unit: str) -> None:
    if unit not in UNITS:
        raise LedgerError(SpreadsheetCode.SPREADSHEET_UNIT_INVALID, f"unit {unit!r} is not one of {', '.join(UNITS)}")
    if not sheets:
        raise LedgerError(SpreadsheetCode.SPREADSHEET_NEEDS_A_SHEET, "a workbook needs at least one sheet")
    if len(sheets) > SHEETS_MAX:
        raise LedgerError(SpreadsheetCode.SPREADSHEET_TOO_MANY_SHEETS, f"a workbook holds at most {SHEETS_MAX} sheets")
    titles = [sheet.title.casefold() for sheet in sheets]  # Excel compares sheet names without case
    if len(set(titles)) != len(titles):
        raise LedgerError(SpreadsheetCode.SPREADSHEET_SHEET_TITLES_MUST_BE_DISTINCT, "two sheets share a title")
    for sheet in sheets:
        # header + rows + totals + a blank line and the 万元 note
        if len(sheet.rows) + 4 > SHEET_ROWS_MAX:
            raise LedgerError(
                SpreadsheetCode.SPREADSHEET_TOO_MANY_ROWS,
                f"sheet {sheet.title!r} has {len(sheet.rows)} rows; a sheet holds at most {SHEET_ROWS_MAX - 4}",
                sheet=sheet.title,
            )


def xlsx_bytes(sheets: Sequence[Sheet], unit: str = YUAN) -> bytes:
    """The workbook holding ``sheets`` in order, amounts in ``unit`` (元 or 万元), as .xlsx bytes.

    Every sheet and cell is checked before anything is returned: a refusal produces no partial file."""
    _check_sheets(sheets, unit)
    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_numbers": False, "strings_to_urls": False})
    try:
        workbook.set_properties({"created": DOCUMENT_CREATED})
        formats = _Formats(workbook)
        for sheet in sheets:
            _SheetWriter(workbook.add_worksheet(sheet.title), sheet, unit, formats).write()
    finally:
        workbook.close()
    return buffer.getvalue()


def _csv_text(column: Column, value: object, sheet: Sheet, unit: str) -> str:
    if value is None:
        return ""
    if column.kind == ColumnKind.FEN:
        return str(fen_shown(_integer(value, sheet.title, column.key), unit))
    if column.kind == ColumnKind.INT:
        return str(_integer(value, sheet.title, column.key))
    if column.kind == ColumnKind.RATIO:
        if isinstance(value, Fraction):
            exact = Decimal(value.numerator) / Decimal(value.denominator)
        elif isinstance(value, Decimal | int) and not isinstance(value, bool):
            exact = Decimal(value)
        else:
            raise LedgerError(
                SpreadsheetCode.SPREADSHEET_CELL_INVALID,
                f"sheet {sheet.title!r} column {column.key!r} needs a Fraction or Decimal ratio",
                sheet=sheet.title,
                column=column.key,
            )
        return str(exact.quantize(Decimal(1).scaleb(-CSV_RATIO_PLACES), rounding=ROUND_HALF_UP))
    if column.kind == ColumnKind.DATE:
        if not isinstance(value, date) or isinstance(value, datetime):
            raise LedgerError(
                SpreadsheetCode.SPREADSHEET_CELL_INVALID,
                f"sheet {sheet.title!r} column {column.key!r} needs a date",
                sheet=sheet.title,
                column=column.key,
            )
        return value.isoformat()
    if not isinstance(value, str):
        raise LedgerError(
            SpreadsheetCode.SPREADSHEET_CELL_INVALID,
            f"sheet {sheet.title!r} column {column.key!r} needs text",
            sheet=sheet.title,
            column=column.key,
        )
    return value


def csv_bytes(sheet: Sheet, unit: str = YUAN) -> bytes:
    """One section as CSV (UTF-8 with a BOM, so a spreadsheet program on a Chinese system reads the headers):
    the same headers as the workbook, amounts as decimal strings in ``unit`` (never a float), no totals row
    (a CSV is data to load, and a loader would count the total twice)."""
    _check_sheets([sheet], unit)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        [f"{column.header}（{unit}）" if column.kind == ColumnKind.FEN else column.header for column in sheet.columns]
    )
    for row in sheet.rows:
        writer.writerow([_csv_text(column, row.get(column.key), sheet, unit) for column in sheet.columns])
    return buffer.getvalue().encode("utf-8-sig")
