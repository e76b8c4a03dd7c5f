"""Tables on a terminal: text folds to the width, but no name or number is ever cropped or squeezed away."""

import io

from rich.console import Console

from api.cli_format import AmountUnit, Column, ColumnKind, print_table

COLUMNS = [
    Column("funder", "funder"),
    Column("level", "level"),
    Column("contributed_fen", "contributed", ColumnKind.amount),
    Column("paid_fen", "compensation paid", ColumnKind.amount),
    Column("remaining_fen", "remaining", ColumnKind.amount),
]
ROWS = [
    {
        "funder": "440106",
        "level": "district",
        "contributed_fen": 3_000_000_000,
        "paid_fen": 90_000_000,
        "remaining_fen": 2_937_000_000,
    }
]


def _terminal_output(width: int) -> str:
    out = io.StringIO()
    console = Console(file=out, width=width, force_terminal=True, color_system=None, emoji=False)
    print_table(console, ROWS, COLUMNS, title="pool gz: funders", unit=AmountUnit.yuan)
    return out.getvalue()


def test_a_terminal_too_narrow_for_the_numbers_gets_the_whole_table_uncut():
    text = _terminal_output(60)
    for value in ("440106", "district", "30,000,000.00", "900,000.00", "29,370,000.00"):
        assert value in text


def test_a_wide_enough_terminal_keeps_the_table_within_its_width():
    text = _terminal_output(120)
    assert max(len(line) for line in text.splitlines()) <= 120
    assert "29,370,000.00" in text and "district" in text


def test_a_table_whose_headers_and_negative_numbers_do_not_fit_is_printed_whole():
    columns = [Column(f"amount_{index}_fen", f"settled receivable {index}", ColumnKind.amount) for index in range(7)]
    rows = [{f"amount_{index}_fen": -1_000_000 for index in range(7)}]
    out = io.StringIO()
    console = Console(file=out, width=80, force_terminal=True, color_system=None, emoji=False)
    print_table(console, rows, columns, title="totals", unit=AmountUnit.yuan)
    text = out.getvalue()
    assert "…" not in text and text.count("-10,000.00") == 7 and "settled receivable 6" in text


def test_one_row_too_wide_for_the_terminal_is_shown_as_a_column_of_fields():
    columns = [Column(f"figure_{index}_fen", f"figure {index}", ColumnKind.amount) for index in range(10)]
    rows = [{f"figure_{index}_fen": 123_456_789_00 for index in range(10)}]
    out = io.StringIO()
    console = Console(file=out, width=80, force_terminal=True, color_system=None, emoji=False)
    print_table(console, rows, columns, title="metrics", unit=AmountUnit.yuan)
    lines = out.getvalue().splitlines()
    assert max(len(line) for line in lines) <= 80
    assert sum("123,456,789.00" in line for line in lines) == 10 and any("figure 9" in line for line in lines)


def test_a_column_the_title_or_the_unit_already_says_is_left_out_of_the_table_only():
    columns = [Column("book", "book"), Column("account", "account"), Column("currency", "currency")]
    columns.append(Column("debit_fen", "debit", ColumnKind.amount))
    rows = [{"book": "gz", "account": name, "currency": "CNY", "debit_fen": 100} for name in ("Assets:A", "Assets:B")]
    out = io.StringIO()
    print_table(Console(file=out, width=200, color_system=None), rows, columns, title="of gz", unit=AmountUnit.yuan)
    header = next(line for line in out.getvalue().splitlines() if "account" in line)
    assert "book" not in header and "currency" not in header and "debit" in header
    usd = [{**row, "currency": "USD"} for row in rows]
    out = io.StringIO()
    print_table(Console(file=out, width=200, color_system=None), usd, columns, title="of gz", unit=AmountUnit.yuan)
    assert "currency" in out.getvalue() and "USD" in out.getvalue()
