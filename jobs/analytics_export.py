"""The analytics export of one fiscal period (the ``analytics-export`` job calls ``export_analytics``).

Into ``<directory>/<YYYY-MM>/`` it writes:
- ``journal.parquet``: every posted leg dated in the period (``ledger.analytics.period_journal``);
- one CSV per report section (amounts in 元, decimal strings) and ``analytics.xlsx`` (a sheet per section,
  元) and ``analytics-wanyuan.xlsx`` (the same in 万元), through the one writer ``ledger.spreadsheet``;
- ``manifest.json`` last: each file's name, size and SHA-256, and what each section is as of.

Sections: trial balance and balance history as of the period's last day; subsidies by institution against
caps, budget execution, voucher usage, cross-region flows, sub-fund metrics and risk-pool statements as
the reports compute them (``subsidies.reports``, ``vouchers.analytics``, ``funds.reports``): the journal
parts through the period's end, the parts read from cached balances (budget commitments and room, voucher
quotas) as at the export — the manifest says which.

Idempotent per period: a period whose manifest exists is not written again (the run returns the stored
manifest), so a rerun changes nothing. Crash-safe: each file is written to a temporary name in the same
directory, flushed to disk and renamed over its final name; the manifest goes last, so a run killed
midway leaves no manifest and the next run writes the period whole. The same state gives the same bytes
(XlsxWriter's fixed dates, Parquet and CSV in a fixed order).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pyarrow.parquet as pq
from sqlalchemy import Engine

from funds.reports import fund_sheets
from ledger.analytics import LiveSource, balance_history, period_journal, trial_balance_live
from ledger.numbers import add_months_clamped, parse_period
from ledger.spreadsheet import WAN_YUAN, YUAN, Column, Sheet, csv_bytes, xlsx_bytes
from subsidies.reports import subsidy_sheets
from vouchers.analytics import voucher_sheets

MANIFEST = "manifest.json"
JOURNAL_FILE = "journal.parquet"
WORKBOOK_FILE = "analytics.xlsx"
WORKBOOK_WAN_YUAN_FILE = "analytics-wanyuan.xlsx"
PARQUET_ROW_GROUP_ROWS = 100_000
# File name (ASCII, for every file system and archive tool) of each workbook section's CSV.
SECTION_FILES = {
    "试算平衡表": "trial-balance.csv",
    "余额变动": "balance-history.csv",
    "补贴按单位年度": "subsidies-by-institution.csv",
    "预算执行": "budget-execution.csv",
    "创新券使用": "voucher-usage.csv",
    "跨区域结算": "cross-region-flows.csv",
    "子基金指标": "subfund-metrics.csv",
    "风险补偿资金池": "pool-statements.csv",
}
AS_AT_EXPORT = {"预算执行", "创新券使用"}  # read from cached balances: the state when the export ran


@dataclass(frozen=True)
class ExportResult:
    period: str
    directory: Path
    files: dict[str, str]  # file name -> SHA-256
    written: bool  # False: the period's export already existed and was left as it was


def _period_days(period: str) -> tuple[date, date]:
    first = date.fromisoformat(parse_period(period) + "-01")
    return first, add_months_clamped(first, 1) - timedelta(days=1)


def _ledger_sheets(engine: Engine, period: str, last_day: date, source: LiveSource) -> list[Sheet]:
    trial = [
        {"book": r.book, "account": r.account, "type": r.type, "debit": r.debit_fen, "credit": r.credit_fen}
        for r in trial_balance_live(engine, last_day, source=source)
    ]
    history = [
        {
            "book": r.book,
            "account": r.account,
            "opening": r.opening_fen,
            "debits": r.debits_fen,
            "credits": r.credits_fen,
            "closing": r.closing_fen,
        }
        for r in balance_history(engine, prefix="", first_period=period, last_period=period, source=source)
    ]
    return [
        Sheet(
            "试算平衡表",
            (
                Column("book", "账簿"),
                Column("account", "科目"),
                Column("type", "类别"),
                Column("debit", "借方余额", "fen"),
                Column("credit", "贷方余额", "fen"),
            ),
            trial,
        ),
        Sheet(
            "余额变动",
            (
                Column("book", "账簿"),
                Column("account", "科目"),
                Column("opening", "期初余额（借正）", "fen"),
                Column("debits", "本期借方", "fen"),
                Column("credits", "本期贷方", "fen"),
                Column("closing", "期末余额（借正）", "fen"),
            ),
            history,
            totals=False,  # balances of different books and sides do not add up
        ),
    ]


def _write_atomically(path: Path, content: bytes) -> None:
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _parquet_bytes(table) -> bytes:  # noqa: ANN001 - a pyarrow Table
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd", row_group_size=PARQUET_ROW_GROUP_ROWS)
    return buffer.getvalue()


def export_analytics(engine: Engine, period: str, directory: str | os.PathLike) -> ExportResult:
    """Write the period's analytics export under ``directory/<period>/`` (see the module docstring)."""
    first_day, last_day = _period_days(period)
    target = Path(directory) / period
    manifest_path = target / MANIFEST
    if manifest_path.exists():
        stored = json.loads(manifest_path.read_text(encoding="utf-8"))
        return ExportResult(period, target, {f["name"]: f["sha256"] for f in stored["files"]}, written=False)
    target.mkdir(parents=True, exist_ok=True)
    with LiveSource(engine) as source:  # every section reads the same snapshot
        journal = period_journal(source, first_day, last_day)
        sheets = [
            *_ledger_sheets(engine, period, last_day, source),
            *subsidy_sheets(engine, through=last_day, source=source),
            *voucher_sheets(engine, through=last_day, source=source),
            *fund_sheets(engine, through=last_day, source=source),
        ]
    contents = {JOURNAL_FILE: _parquet_bytes(journal)}
    for sheet in sheets:
        contents[SECTION_FILES[sheet.title]] = csv_bytes(sheet, YUAN)
    contents[WORKBOOK_FILE] = xlsx_bytes(sheets, YUAN)
    contents[WORKBOOK_WAN_YUAN_FILE] = xlsx_bytes(sheets, WAN_YUAN)
    for name, content in contents.items():
        _write_atomically(target / name, content)
    files = {name: hashlib.sha256(content).hexdigest() for name, content in contents.items()}
    manifest = {
        "period": period,
        "first_day": first_day.isoformat(),
        "last_day": last_day.isoformat(),
        "journal_rows": journal.num_rows,
        "sections": [
            {
                "title": sheet.title,
                "file": SECTION_FILES[sheet.title],
                "rows": len(sheet.rows),
                "as_of": "export time" if sheet.title in AS_AT_EXPORT else last_day.isoformat(),
            }
            for sheet in sheets
        ],
        "files": [{"name": name, "bytes": len(contents[name]), "sha256": files[name]} for name in contents],
    }
    _write_atomically(manifest_path, json.dumps(manifest, ensure_ascii=False, indent=2).encode("utf-8"))
    return ExportResult(period, target, files, written=True)
