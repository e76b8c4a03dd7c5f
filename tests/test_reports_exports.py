"""The per-period analytics export: every file, the same bytes on a rerun, nothing half-written after a crash."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from datetime import date

import openpyxl
import pyarrow.parquet as pq
import pytest
from sqlalchemy import func, select

from funds.demo import load_demo
from jobs import analytics_export
from jobs.analytics_export import MANIFEST, SECTION_FILES, export_analytics
from ledger.engine import T_POSTINGS
from ledger.errors import LedgerError, ResultCode
from ledger.queries import trial_balance

PERIOD = "2026-03"


def _posted_in_march(engine) -> tuple[int, int]:
    with engine.connect() as conn:
        count, total = conn.execute(
            select(func.count(), func.coalesce(func.sum(func.abs(T_POSTINGS.c.amount_fen)), 0)).where(
                T_POSTINGS.c.pending.is_(False),
                T_POSTINGS.c.effective_date >= date(2026, 3, 1),
                T_POSTINGS.c.effective_date <= date(2026, 3, 31),
            )
        ).one()
    return int(count), int(total)


def test_export_writes_every_file_once_and_the_same_state_gives_the_same_bytes(ledger, tmp_path):
    load_demo(ledger)
    result = export_analytics(ledger.engine, PERIOD, tmp_path)
    assert result.written and result.directory == tmp_path / PERIOD
    names = {path.name for path in result.directory.iterdir()}
    assert names == {MANIFEST, "journal.parquet", "analytics.xlsx", "analytics-wanyuan.xlsx", *SECTION_FILES.values()}

    journal = pq.read_table(result.directory / "journal.parquet")
    count, magnitude = _posted_in_march(ledger.engine)
    assert journal.num_rows == count > 0
    assert sum(abs(value) for value in journal["amount_fen"].to_pylist()) == magnitude

    expected = trial_balance(ledger, as_of=date(2026, 3, 31))
    rows = list(csv.reader(io.StringIO((result.directory / "trial-balance.csv").read_text(encoding="utf-8-sig"))))
    assert rows[0] == ["账簿", "科目", "类别", "借方余额（元）", "贷方余额（元）"]
    assert rows[1:] == [[r.book, r.account, r.type, r.debit_text, r.credit_text] for r in expected]

    workbook = openpyxl.load_workbook(result.directory / "analytics.xlsx")
    assert workbook.sheetnames == list(SECTION_FILES)
    sheet = workbook["试算平衡表"]
    total_row = len(expected) + 2
    assert sheet.cell(total_row, 1).value == "合计"
    debit_total = sum(r.debit_fen for r in expected)
    assert round(sheet.cell(total_row, 4).value * 100) == debit_total == sum(r.credit_fen for r in expected)

    manifest = json.loads((result.directory / MANIFEST).read_text(encoding="utf-8"))
    assert manifest["journal_rows"] == count
    assert {entry["name"]: entry["sha256"] for entry in manifest["files"]} == result.files

    # a rerun changes nothing; a fresh run of the same state elsewhere gives the same bytes
    first = result
    stamps = {path.name: path.stat().st_mtime_ns for path in first.directory.iterdir()}
    again = export_analytics(ledger.engine, PERIOD, tmp_path)
    assert not again.written and again.files == first.files
    assert {path.name: path.stat().st_mtime_ns for path in first.directory.iterdir()} == stamps
    fresh = export_analytics(ledger.engine, PERIOD, tmp_path / "elsewhere")
    assert fresh.written and fresh.files == first.files


def test_a_crash_midway_leaves_no_manifest_and_no_partial_file_and_the_next_run_writes_it_whole(
    ledger, tmp_path, monkeypatch
):
    load_demo(ledger)
    real_replace = os.replace
    renamed = []

    def crash_on_the_fourth(source, destination):
        if len(renamed) == 3:
            raise OSError("disk gone")
        renamed.append(destination)
        real_replace(source, destination)

    monkeypatch.setattr(analytics_export.os, "replace", crash_on_the_fourth)
    with pytest.raises(OSError):
        export_analytics(ledger.engine, PERIOD, tmp_path)
    left = sorted(path.name for path in (tmp_path / PERIOD).iterdir())
    assert MANIFEST not in left and len(left) == 3  # three whole files, no temporary one
    monkeypatch.setattr(analytics_export.os, "replace", real_replace)
    result = export_analytics(ledger.engine, PERIOD, tmp_path)
    assert result.written and len(result.files) == len(SECTION_FILES) + 3
    for name, digest in result.files.items():  # every file whole, as the manifest describes it
        assert hashlib.sha256((result.directory / name).read_bytes()).hexdigest() == digest
    assert not [path for path in result.directory.iterdir() if path.name.endswith(".tmp")]


def test_an_invalid_period_is_refused_and_writes_nothing(ledger, tmp_path):
    with pytest.raises(LedgerError) as refused:
        export_analytics(ledger.engine, "2026-13", tmp_path / "out")
    assert refused.value.code == ResultCode.PERIOD_INVALID
    assert not (tmp_path / "out").exists()
