"""How the command line shows figures: amounts with thousands separators in 元 or 万元, each currency with its
own places; listings as a table (never cutting a number or a name), CSV or JSON. Formatting only: no rule,
no query."""

from __future__ import annotations

import csv
import io
import json
import sys
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

from api.cli_lang import label
from ledger.money import DEFAULT_CURRENCY, currency_places, format_fen, from_fen

# 1 万元 = 10 000 元: shown with four more places than the currency has, so no fen is ever rounded away.
YUAN_PER_WAN = 10_000
WAN_EXTRA_PLACES = 4
# A table printed to a pipe or a file is as wide as its widest row, up to this many characters.
PIPED_TABLE_WIDTH_MAX = 10_000


class OutputFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


class AmountUnit(StrEnum):
    yuan = "元"
    wan = "万元"


class ColumnKind(StrEnum):
    text = "text"
    amount = "amount"  # integer minor units (fen); the row's "currency" names the currency
    number = "number"  # counts, ratios, years: shown as they are


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    kind: ColumnKind = ColumnKind.text


def amount_text(fen: int, currency: str = DEFAULT_CURRENCY, unit: AmountUnit = AmountUnit.yuan) -> str:
    """An amount for people: "1,234,567.89" (元) or "123.456789" (万元); JPY with no places."""
    places = currency_places(currency)
    value = from_fen(fen, currency)
    if unit is AmountUnit.wan:
        places += WAN_EXTRA_PLACES
        value = value / YUAN_PER_WAN
    return format(value, f",.{places}f")


def plain_value(value: object) -> object:
    """A value as JSON carries it: Decimal as its exact string, dates as ISO text."""
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def machine_key(column: Column) -> str:
    """CSV and JSON carry amounts in the currency's main unit: "granted", not "granted_fen"."""
    return column.key.removesuffix("_fen") if column.kind is ColumnKind.amount else column.key


def _machine_value(row: dict, column: Column) -> object:
    value = row.get(column.key)
    if value is None:
        return None
    if column.kind is ColumnKind.amount:
        return format_fen(value, row.get("currency", DEFAULT_CURRENCY))
    return plain_value(value)


def _human_value(row: dict, column: Column, unit: AmountUnit) -> str:
    value = row.get(column.key)
    if value is None:
        return ""
    if column.kind is ColumnKind.amount:
        return amount_text(value, row.get("currency", DEFAULT_CURRENCY), unit)
    if isinstance(value, bool):
        return label("yes") if value else ""
    return str(plain_value(value))


def emit_rows(
    console: Console,
    rows: list[dict],
    columns: list[Column],
    output_format: OutputFormat,
    *,
    title: str,
    unit: AmountUnit = AmountUnit.yuan,
) -> None:
    """Print ``rows`` (amounts in integer fen). CSV and JSON carry exact decimal strings in the currency's
    main unit with a currency column; the table groups thousands and shows ``unit``."""
    machine_columns = list(columns)
    if any(column.kind is ColumnKind.amount for column in columns) and all(c.key != "currency" for c in columns):
        machine_columns.append(Column("currency", "currency"))
    if output_format is OutputFormat.json:
        payload = [
            {
                machine_key(column): _machine_value({"currency": DEFAULT_CURRENCY, **row}, column)
                for column in machine_columns
            }
            for row in rows
        ]
        sys.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2) + "\n")
        return
    if output_format is OutputFormat.csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow([machine_key(column) for column in machine_columns])
        for row in rows:
            values = [_machine_value({"currency": DEFAULT_CURRENCY, **row}, column) for column in machine_columns]
            writer.writerow(["" if value is None else value for value in values])
        return
    print_table(console, rows, columns, title=title, unit=unit)


# A name folds onto several lines below this width; a narrower column would hide it.
TEXT_COLUMN_MIN_WIDTH = 12


def _said_elsewhere(rows: list[dict], column: Column, title: str) -> bool:
    """A text column a table need not spend width on: the same value in every row, and that value already
    said by the title (the one book of ``trial-balance --book``) or, for the currency, by the unit (元)."""
    if column.kind is not ColumnKind.text or not rows:
        return False
    values = {_human_value(row, column, AmountUnit.yuan) for row in rows}
    if len(values) != 1:
        return False
    [value] = values
    if column.key == "currency":
        return value == DEFAULT_CURRENCY
    return bool(value) and value in title.split()


def build_table(rows: list[dict], columns: list[Column], *, title: str, unit: AmountUnit) -> Table:
    has_amounts = any(column.kind is ColumnKind.amount for column in columns)
    title = label(title)  # a title the command built with label() is already translated and stays as it is
    columns = [column for column in columns if not _said_elsewhere(rows, column, title)]
    table = Table(title=Text(f"{title} ({unit.value})" if has_amounts else title))
    for column in columns:
        header = label(column.header)
        if column.kind is ColumnKind.text:
            # Folded on a narrow terminal, but never squeezed to nothing while the numbers keep their width.
            longest = max((cell_len(_human_value(row, column, unit)) for row in rows), default=0)
            width = min(max(longest, cell_len(header)), TEXT_COLUMN_MIN_WIDTH)
            table.add_column(Text(header), overflow="fold", min_width=width)
        else:
            table.add_column(Text(header), justify="right", no_wrap=True)
    for row in rows:
        # Text cells: Rich markup and emoji codes never rewrite a name such as "Assets:Bank:".
        table.add_row(*(Text(_human_value(row, column, unit)) for column in columns))
    return table


def _one_row_table(row: dict, columns: list[Column], *, title: str, unit: AmountUnit) -> Table:
    """One row as a column of fields (header, value): a row of a dozen figures fits a terminal this way."""
    has_amounts = any(column.kind is ColumnKind.amount for column in columns)
    title = label(title)
    table = Table(title=Text(f"{title} ({unit.value})" if has_amounts else title), show_header=False)
    table.add_column(overflow="fold")
    table.add_column(justify="right", no_wrap=True)
    for column in columns:
        if not _said_elsewhere([row], column, title):
            table.add_row(Text(label(column.header)), Text(_human_value(row, column, unit)))
    return table


def print_table(console: Console, rows: list[dict], columns: list[Column], *, title: str, unit: AmountUnit) -> None:
    table = build_table(rows, columns, title=title, unit=unit)
    if len(rows) == 1 and console.is_terminal and not _fits(table, console.width):
        table = _one_row_table(rows[0], columns, title=title, unit=unit)
    print_renderable(console, table)


# Rich shortens a cell that does not fit its unwrappable column (a number, a header) with this character.
ELLIPSIS = "…"


def _fits(renderable: Table, width: int) -> bool:
    """Whether the table, folded to ``width``, keeps every line within it (Rich crops what does not fit) and
    shortens no number or header: Rich squeezes even no-wrap columns when the table is too wide, marking each
    shortened cell with an ellipsis, so the rendering may hold no more ellipses than the cells themselves."""
    trial = Console(file=io.StringIO(), width=width, emoji=False, highlight=False, color_system=None)
    trial.print(renderable, crop=False)
    rendered = trial.file.getvalue()
    own = sum(str(column.header).count(ELLIPSIS) for column in renderable.columns)
    own += sum(str(cell).count(ELLIPSIS) for column in renderable.columns for cell in column.cells)
    own += str(renderable.title or "").count(ELLIPSIS)
    return rendered.count(ELLIPSIS) <= own and all(cell_len(line) <= width for line in rendered.splitlines())


def print_renderable(console: Console, renderable: Table) -> None:
    """On a terminal, fold text columns to its width; piped, or on a terminal too narrow for the numbers and
    the shortest readable names, print at the table's full width so nothing is cut."""
    if console.is_terminal and _fits(renderable, console.width):
        console.print(renderable, soft_wrap=False)
        return
    wide = Console(file=console.file, width=PIPED_TABLE_WIDTH_MAX, emoji=False, highlight=False, color_system=None)
    width = wide.measure(renderable).maximum
    Console(file=console.file, width=max(width, 1), emoji=False, highlight=False, color_system=None).print(renderable)
