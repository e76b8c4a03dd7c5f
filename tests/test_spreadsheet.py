"""ledger.spreadsheet: what a finance office opens is exactly what the ledger holds, read back by openpyxl."""

from __future__ import annotations

import io
from datetime import date, datetime
from decimal import Decimal
from fractions import Fraction

import openpyxl
import pytest

from ledger.errors import LedgerError
from ledger.spreadsheet import (
    COLUMN_WIDTH_MAX,
    TOTAL_LABEL,
    WAN_YUAN_NOTE,
    Column,
    Sheet,
    SpreadsheetCode,
    csv_bytes,
    fen_shown,
    xlsx_bytes,
)

COLUMNS = (
    Column("institution", "单位名称", "text"),
    Column("granted", "拨付金额", "fen"),
    Column("grants", "笔数", "int"),
    Column("share", "占比", "ratio"),
    Column("day", "日期", "date"),
)
ROWS = [
    {
        "institution": "广州某某科技有限公司",
        "granted": 123_456_789,
        "grants": 3,
        "share": Fraction(1, 3),
        "day": date(2026, 3, 31),
    },
    {"institution": "华南某研究院", "granted": 10, "grants": 1, "share": Decimal("0.5"), "day": date(2026, 4, 1)},
    {"institution": "某大学", "granted": -1_234_565_000, "grants": 2, "share": None, "day": None},
]


def _workbook(sheets, unit="元"):
    return openpyxl.load_workbook(io.BytesIO(xlsx_bytes(sheets, unit=unit)))


def _values(worksheet):
    return [list(row) for row in worksheet.iter_rows(values_only=True)]


def test_yuan_cells_hold_the_exact_amounts_with_two_places_and_totals_summed_in_fen():
    worksheet = _workbook([Sheet("补贴", COLUMNS, ROWS)])["补贴"]
    values = _values(worksheet)
    assert values[0] == ["单位名称", "拨付金额（元）", "笔数", "占比", "日期"]
    assert [Decimal(str(row[1])) for row in values[1:4]] == [
        Decimal("1234567.89"),
        Decimal("0.10"),
        Decimal("-12345650.00"),
    ]
    assert values[1][4] == datetime(2026, 3, 31)
    assert values[3][3] is None and values[3][4] is None
    total = values[4]
    assert total[0] == TOTAL_LABEL
    assert Decimal(str(total[1])) == Decimal(123_456_789 + 10 - 1_234_565_000) / 100
    assert total[2] == 6
    assert worksheet["B2"].number_format == "#,##0.00"
    assert worksheet["B5"].number_format == "#,##0.00"
    assert worksheet["C2"].number_format == "#,##0"
    assert worksheet["D2"].number_format == "0.00%"
    assert worksheet["D2"].value == pytest.approx(1 / 3)
    assert worksheet["E2"].number_format == "yyyy-mm-dd"
    assert len(values) == 5  # no 万元 note under a 元 sheet


def test_header_row_is_frozen_and_columns_fit_their_widest_value():
    worksheet = _workbook([Sheet("补贴", COLUMNS, ROWS)])["补贴"]
    assert worksheet.freeze_panes == "A2"
    widths = {letter: worksheet.column_dimensions[letter].width for letter in "ABCDE"}
    # "广州某某科技有限公司": ten wide characters are twenty cells; the 元 amount "-12,345,650.00" fourteen.
    assert widths["A"] >= 20
    assert widths["B"] >= len("-12,345,650.00")
    assert widths["A"] > widths["C"]
    assert all(width <= COLUMN_WIDTH_MAX for width in widths.values())


def test_wan_yuan_cells_hold_the_half_up_display_value_and_the_total_is_the_rounded_exact_total():
    # 0.005 万元 (50 元) rounds up to 0.01; two of them shown 0.01 each, their exact total 0.01 too.
    rows = [{"name": "甲", "amount": 5_000}, {"name": "乙", "amount": 5_000}, {"name": "丙", "amount": 123_456_789}]
    worksheet = _workbook([Sheet("万元表", (Column("name", "名称"), Column("amount", "金额", "fen")), rows)], "万元")[
        "万元表"
    ]
    values = _values(worksheet)
    assert values[0] == ["名称", "金额（万元）"]
    assert [Decimal(str(row[1])) for row in values[1:4]] == [Decimal("0.01"), Decimal("0.01"), Decimal("123.46")]
    # exact total 123,466,789 fen = 123.466789 万元 → 123.47, while the shown parts sum to 123.48 (尾差)
    assert Decimal(str(values[4][1])) == Decimal("123.47")
    assert worksheet["B2"].number_format == "#,##0.00"
    assert values[-1][0] == WAN_YUAN_NOTE


def test_fen_shown_rounds_half_up_from_fen_not_from_a_double():
    assert fen_shown(12_345_650_000, "万元") == Decimal("12345.65")
    assert fen_shown(12_345_655_000, "万元") == Decimal("12345.66")
    assert fen_shown(-12_345_655_000, "万元") == Decimal("-12345.66")
    assert fen_shown(12_345_654_999, "万元") == Decimal("12345.65")
    assert fen_shown(1, "元") == Decimal("0.01")


def test_an_amount_too_large_for_an_exact_double_is_written_as_its_decimal_text():
    huge_fen = 9_000_000_000_000_000_001  # 9e16 元 and one fen: 19 digits
    worksheet = _workbook(
        [Sheet("大额", (Column("name", "名称"), Column("amount", "金额", "fen")), [{"name": "x", "amount": huge_fen}])]
    )["大额"]
    assert worksheet["B2"].value == "90000000000000000.01"
    assert worksheet["B3"].value == "90000000000000000.01"


def test_a_sheet_per_section_in_the_given_order_and_identical_bytes_for_identical_sheets():
    sheets = [Sheet("资产负债", COLUMNS, ROWS), Sheet("明细", COLUMNS, ROWS[:1], totals=False)]
    workbook = _workbook(sheets)
    assert workbook.sheetnames == ["资产负债", "明细"]
    assert len(_values(workbook["明细"])) == 2  # header and one row: no totals asked
    assert xlsx_bytes(sheets) == xlsx_bytes(sheets)


def test_an_empty_sheet_still_has_its_header_and_a_zero_total():
    values = _values(_workbook([Sheet("空", COLUMNS, [])])["空"])
    assert values[0][0] == "单位名称"
    assert values[1][:3] == [TOTAL_LABEL, 0, 0]


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda: xlsx_bytes([Sheet("a", COLUMNS, ROWS)], unit="亿元"), SpreadsheetCode.SPREADSHEET_UNIT_INVALID),
        (lambda: xlsx_bytes([]), SpreadsheetCode.SPREADSHEET_NEEDS_A_SHEET),
        (lambda: Column("x", "X", "money"), SpreadsheetCode.SPREADSHEET_COLUMN_KIND_INVALID),
        (lambda: Sheet("a/b", COLUMNS), SpreadsheetCode.SPREADSHEET_SHEET_TITLE_INVALID),
        (lambda: Sheet("x" * 32, COLUMNS), SpreadsheetCode.SPREADSHEET_SHEET_TITLE_INVALID),
        (
            lambda: Sheet("a", (Column("k", "A"), Column("k", "B"))),
            SpreadsheetCode.SPREADSHEET_COLUMN_KEYS_MUST_BE_DISTINCT,
        ),
        (
            lambda: xlsx_bytes([Sheet("Ab", COLUMNS), Sheet("aB", COLUMNS)]),
            SpreadsheetCode.SPREADSHEET_SHEET_TITLES_MUST_BE_DISTINCT,
        ),
        (
            lambda: xlsx_bytes([Sheet("a", (Column("m", "金额", "fen"),), [{"m": 12.5}])]),
            SpreadsheetCode.SPREADSHEET_CELL_INVALID,
        ),
        (
            lambda: xlsx_bytes([Sheet("a", (Column("m", "金额", "fen"),), [{"m": Decimal("12.50")}])]),
            SpreadsheetCode.SPREADSHEET_CELL_INVALID,
        ),
        (
            lambda: xlsx_bytes([Sheet("a", (Column("d", "日期", "date"),), [{"d": "2026-01-01"}])]),
            SpreadsheetCode.SPREADSHEET_CELL_INVALID,
        ),
        (
            lambda: xlsx_bytes([Sheet("a", (Column("r", "比例", "ratio"),), [{"r": 0.5}])]),
            SpreadsheetCode.SPREADSHEET_CELL_INVALID,
        ),
    ],
)
def test_bad_input_is_refused_with_its_code(make, code):
    with pytest.raises(LedgerError) as refused:
        make()
    assert refused.value.code == code


def test_csv_carries_the_same_headers_and_exact_decimal_amounts_without_a_totals_row():
    text = csv_bytes(Sheet("补贴", COLUMNS, ROWS)).decode("utf-8-sig")
    assert text.splitlines() == [
        "单位名称,拨付金额（元）,笔数,占比,日期",
        "广州某某科技有限公司,1234567.89,3,0.333333,2026-03-31",
        "华南某研究院,0.10,1,0.500000,2026-04-01",
        "某大学,-12345650.00,2,,",
    ]
    wan = csv_bytes(Sheet("补贴", COLUMNS, ROWS), unit="万元").decode("utf-8-sig").splitlines()
    assert wan[1].split(",")[1] == "123.46" and wan[0].split(",")[1] == "拨付金额（万元）"
