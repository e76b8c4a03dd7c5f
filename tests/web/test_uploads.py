"""Bulk uploads: reading a file (api.web.uploads, no database) and the pages over httpx (SQLite and
PostgreSQL). The preview lists every row with what was read and its result or the rule's refusal and writes
nothing; one submit records the good rows through the API's handlers, each once (the same file submitted
again, or a corrected file holding rows already recorded, records nothing twice); each row is scope-checked
(another bank's loan, another region's program); a file too large, with too many rows, in an unknown
encoding, with a wrong header or a bad amount or date gets a message, never a traceback."""

from __future__ import annotations

import html
import io
import re
import zipfile
from datetime import date, datetime

import openpyxl
import pytest

from api.web import uploads
from api.web.routes_uploads import KINDS, row_keys
from api.web.uploads import UPLOAD_ROWS_MAX, CellKind, UploadCode, UploadColumn, UploadRefused, read_upload
from funds import reads
from subsidies import listings as subsidy_listings
from subsidies.config import example_programs
from subsidies.service import SubsidyService
from tests.web.partners_support import (
    BANK_A,
    BANK_B,
    BORROWER_1,
    GUANGZHOU,
    POOL,
    SHENZHEN,
    add_users,
    build_lending,
    credit_code,
    csrf_of,
    login,
    make_app,
)

COLUMNS = (
    UploadColumn("program", "项目代码"),
    UploadColumn("amount", "金额（元）", CellKind.YUAN),
    UploadColumn("on", "日期", CellKind.DATE),
    UploadColumn("year", "年度", CellKind.INTEGER),
    UploadColumn("note", "备注", required=False),
)
HEADER = "项目代码,金额（元）,日期,年度,备注\n"


def _refusal(data: bytes, filename: str = "a.csv") -> UploadRefused:
    with pytest.raises(UploadRefused) as caught:
        read_upload(data, filename, COLUMNS)
    return caught.value


# ----- reading files (pure) --------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_a_csv_in_utf8_with_or_without_bom_or_gb18030_reads_the_same(encoding):
    text = HEADER + '广州-2026,"1,234.50",2026/3/2,2026,创新券\n'
    rows = read_upload(text.encode(encoding), "grants.csv", COLUMNS)
    assert [(row.number, row.values) for row in rows] == [
        (2, {"program": "广州-2026", "amount": "1234.50", "on": "2026-03-02", "year": 2026, "note": "创新券"})
    ]
    assert rows[0].read["金额（元）"] == "1,234.50"


def test_bad_cells_are_the_rows_refusal_naming_the_column_and_what_was_read():
    text = (
        HEADER
        + "p,12.345,2026-02-30,二〇二六,\np,abc,2026-01-01,2026,\n,100,2026-01-01,2026,\np,100,2026-01-01,2026,\n"
    )
    first, second, third, good = read_upload(text.encode(), "a.csv", COLUMNS)
    reasons = {(problem.column, problem.read, problem.reason) for problem in first.problems}
    assert reasons == {
        ("金额（元）", "12.345", "upload.cell.too_many_places"),
        ("日期", "2026-02-30", "upload.cell.not_date"),
        ("年度", "二〇二六", "upload.cell.not_integer"),
    }
    assert [problem.reason for problem in second.problems] == ["upload.cell.not_yuan"]
    assert [problem.reason for problem in third.problems] == ["upload.cell.missing"]
    assert good.readable and good.values["amount"] == "100.00" and "note" not in good.values


def test_a_header_that_is_not_the_templates_is_refused_naming_what_is_missing_and_unknown():
    refused = _refusal("项目代码,金额,日期,年度\np,1,2026-01-01,2026\n".encode())
    assert refused.code is UploadCode.UPLOAD_HEADER_INVALID
    assert refused.values == {"missing": "金额（元）", "unknown": "金额"}
    english = read_upload(b"program,amount,on,year\np,1,2026-01-01,2026\n", "a.csv", COLUMNS)
    assert english[0].values["amount"] == "1.00"  # the field names are a header too


def test_an_unknown_encoding_a_binary_file_and_a_broken_csv_are_refused():
    assert _refusal(HEADER.encode("utf-16")).code is UploadCode.UPLOAD_ENCODING_INVALID
    assert _refusal(b"\xff\xfe\xfa\x80\x81" * 20).code is UploadCode.UPLOAD_ENCODING_INVALID
    assert _refusal((HEADER + 'p,"1\n').encode()).code is UploadCode.UPLOAD_CSV_INVALID
    assert _refusal(b"").code is UploadCode.UPLOAD_EMPTY
    assert _refusal(b"%PDF-1.4", "grants.pdf").code is UploadCode.UPLOAD_FORMAT_UNKNOWN
    assert _refusal(b"").code is UploadCode.UPLOAD_EMPTY
    assert _refusal(b"\n\n").code is UploadCode.UPLOAD_HEADER_INVALID


def test_the_limits_on_bytes_and_rows_refuse_the_whole_file():
    at_limit = HEADER + "p,1,2026-01-01,2026,\n" * UPLOAD_ROWS_MAX
    assert len(read_upload(at_limit.encode(), "a.csv", COLUMNS)) == UPLOAD_ROWS_MAX
    over = _refusal((at_limit + "p,1,2026-01-01,2026,\n").encode())
    assert over.code is UploadCode.UPLOAD_TOO_MANY_ROWS and over.values == {"limit": UPLOAD_ROWS_MAX}
    big = _refusal(b"x" * (uploads.UPLOAD_BYTES_MAX + 1))
    assert big.code is UploadCode.UPLOAD_TOO_LARGE and big.values["size"] == uploads.UPLOAD_BYTES_MAX + 1


def _xlsx(rows: list[list]) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def test_an_xlsx_reads_numbers_dates_and_text_cells():
    data = _xlsx(
        [
            ["项目代码", "金额（元）", "日期", "年度"],
            ["p", 1234.56, datetime(2026, 3, 2), 2026],
            ["p", 50000, date(2026, 3, 3), 2026.0],
            ["p", 1234.567, "2026年3月4日", "2026"],  # not to the 分
        ]
    )
    first, second, third = read_upload(data, "grants.xlsx", COLUMNS)
    assert first.values == {"program": "p", "amount": "1234.56", "on": "2026-03-02", "year": 2026}
    assert second.values == {"program": "p", "amount": "50000.00", "on": "2026-03-03", "year": 2026}
    assert [problem.reason for problem in third.problems] == ["upload.cell.too_many_places"]
    assert first.number == 2 and third.number == 4


def test_a_damaged_xlsx_and_a_zip_bomb_are_refused_unread():
    assert _refusal(b"PK\x03\x04 not really a zip", "a.xlsx").code is UploadCode.UPLOAD_XLSX_INVALID
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", b"\0" * (uploads.XLSX_UNPACKED_BYTES_MAX + 1))
    assert len(buffer.getvalue()) < uploads.UPLOAD_BYTES_MAX
    assert _refusal(buffer.getvalue(), "bomb.xlsx").code is UploadCode.UPLOAD_TOO_LARGE
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("hello.txt", b"a zip, not a workbook")
    assert _refusal(buffer.getvalue(), "a.xlsx").code is UploadCode.UPLOAD_XLSX_INVALID


@pytest.mark.parametrize("slug", sorted(KINDS))
def test_each_template_has_the_chinese_header_and_reads_back_as_no_rows(slug):
    columns = KINDS[slug].columns
    workbook = openpyxl.load_workbook(io.BytesIO(uploads.template_xlsx(columns)), read_only=True)
    header = next(workbook.worksheets[0].iter_rows(values_only=True))
    assert list(header) == [column.header for column in columns]
    assert all(re.search(r"[\u4e00-\u9fff]", text) for text in header)
    assert read_upload(uploads.template_xlsx(columns), "t.xlsx", columns) == []
    assert read_upload(uploads.template_csv(columns), "t.csv", columns) == []


def test_row_keys_follow_the_rows_values_and_count_repeats():
    kind = KINDS["voucher-grants"]
    rows = read_upload((HEADER + "p,1,2026-01-01,2026,\np,1,2026-01-01,2026,\np,2,2026-01-01,2026,\n").encode(),
                       "a.csv", COLUMNS)  # fmt: skip
    first, repeat, other = row_keys(kind, rows)
    assert first.endswith("-1") and repeat == first[:-1] + "2" and other != first
    assert row_keys(kind, rows[2:]) == [other]  # the same row in another file keeps its key
    assert all(len(key) <= 100 for key in (first, repeat, other))


# ----- the pages -------------------------------------------------------------------------------------------

PROGRAM = "gz-service-demonstration"
OTHER_PROGRAM = "fuqing-tiered-transfer"  # region 350181: not the Guangzhou office's
GZ_UNIT_1 = credit_code("91440101MA5TUP001")
GZ_UNIT_2 = credit_code("91440101MA5TUP002")
APPLICATION_HEADER = "补助项目代码,单位统一社会信用代码,年度,计算基数名称,计算基数金额（元）\n"


@pytest.fixture
def site(engine, ledger):
    service = SubsidyService(ledger)
    for program, text in example_programs():
        if program.code in (PROGRAM, OTHER_PROGRAM):
            service.install_program(program, text, actor="setup")
    lending = build_lending(ledger)
    for code in (GZ_UNIT_1, GZ_UNIT_2):
        ledger.register_institution(code, f"上传测试单位 {code[-4:]}", "enterprise", region_code=GUANGZHOU)
    add_users(
        engine,
        {
            "gz-clerk": ("finance_office", [f"region:{GUANGZHOU}"]),
            "sz-clerk": ("finance_office", [f"region:{SHENZHEN}"]),
            "bank-a": ("bank", [f"institution:{BANK_A}"]),
            "enterprise": ("enterprise", [f"institution:{GZ_UNIT_1}"]),
        },
    )
    return make_app(engine), lending


def _preview(client, slug: str, data: bytes, filename: str = "rows.csv", token: str | None = None):
    token = token if token is not None else csrf_of(client, "/web/uploads")
    return client.post(
        f"/web/uploads/{slug}/preview", data={"csrf_token": token}, files={"file": (filename, data, "text/csv")}
    )


def _statuses(response) -> dict[int, str]:
    return {int(n): status for n, status in re.findall(r'data-testid="row-(\d+)" data-status="(\w+)"', response.text)}


def _cell(response, number: int) -> str:
    match = re.search(rf'data-testid="row-{number}" data-status="\w+">(.*?)</tr>', response.text, re.S)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", match.group(1))))


def _submit(client, response):
    fields = {
        name: html.unescape(re.search(rf'name="{name}" value="([^"]*)"', response.text).group(1))
        for name in ("csrf_token", "payload", "signature", "filename")
    }
    return client.post(re.search(r'action="(/web/uploads/[\w-]+/submit)"', response.text).group(1), data=fields)


def _applications(engine) -> list[tuple[str, int]]:
    with engine.connect() as conn:
        return [(row["institution_code"], row["program_year"]) for row in subsidy_listings.applications(conn)]


def test_preview_lists_each_rows_result_and_writes_nothing_then_one_submit_records_the_good_rows_once(site, engine):
    app, _ = site
    clerk, _ = login(app, "gz-clerk")
    rows = (
        APPLICATION_HEADER
        + f"{PROGRAM},{GZ_UNIT_1},2019,,\n"
        + f"{PROGRAM},{GZ_UNIT_2},2020,,\n"
        + f"{OTHER_PROGRAM},{GZ_UNIT_1},2020,,\n"  # another region's program: not known to this office
        + f"{PROGRAM},{GZ_UNIT_1},2031,,\n"  # outside the program's years: the service's rule
        + f"{PROGRAM},{GZ_UNIT_2},20x0,,\n"  # unreadable
    ).encode("gb18030")
    preview = _preview(clerk, "subsidy-applications", rows)
    assert preview.status_code == 200
    assert _statuses(preview) == {2: "ok", 3: "ok", 4: "refused", 5: "refused", 6: "refused"}
    assert "program_not_found" in _cell(preview, 4) and OTHER_PROGRAM in _cell(preview, 4)
    assert "program_year_must_be_within_program" in _cell(preview, 5)
    assert "upload_cell_invalid" in _cell(preview, 6) and "“年度”不是整数：20x0" in _cell(preview, 6)
    assert _applications(engine) == []  # the preview wrote nothing

    recorded = _submit(clerk, preview)
    assert recorded.status_code == 200 and _statuses(recorded) == {2: "ok", 3: "ok"}
    assert sorted(_applications(engine)) == [(GZ_UNIT_1, 2019), (GZ_UNIT_2, 2020)]
    again = _submit(clerk, preview)  # the same submit sent twice
    assert _statuses(again) == {2: "replayed", 3: "replayed"}
    assert len(_applications(engine)) == 2

    corrected = (APPLICATION_HEADER + f"{PROGRAM},{GZ_UNIT_2},2020,,\n" + f"{PROGRAM},{GZ_UNIT_2},2019,,\n").encode()
    second = _preview(clerk, "subsidy-applications", corrected, "corrected.csv")
    assert _statuses(second) == {2: "replayed", 3: "ok"}  # a row already recorded is not recorded twice
    _submit(clerk, second)
    assert sorted(_applications(engine)) == [(GZ_UNIT_1, 2019), (GZ_UNIT_2, 2019), (GZ_UNIT_2, 2020)]


def _loan_rows(*lines: str) -> bytes:
    header = ",".join(column.header for column in KINDS["loans"].columns) + "\n"
    return (header + "".join(line + "\n" for line in lines)).encode()


def test_a_bank_uploads_loans_each_scope_checked_and_filed_through_the_pools_rule(site, ledger):
    app, _ = site
    bank, _ = login(app, "bank-a")
    before = len(reads.loans(ledger))
    data = _loan_rows(
        f'{POOL},{BANK_A},{BORROWER_1},A-0100,"1,500,000.00",2026-07-01,12,2026-07-20',
        f"{POOL},{BANK_B},{BORROWER_1},B-0100,1000000,2026-07-01,12,2026-07-20",  # another bank's loan
        f"{POOL},{BANK_A},{BORROWER_1},A-0101,1000000,2026-01-01,12,2026-06-01",  # filed after the window
        f"{POOL},{BANK_A},{BORROWER_1},A-0102,12x,2026/7/1,12,2026-07-02",
        f"{POOL},{BANK_A},{BORROWER_1},A-0001,1000000,2026-07-01,12,2026-07-20",  # a number the bank filed before
    )
    preview = _preview(bank, "loans", data)
    assert _statuses(preview) == {2: "ok", 3: "refused", 4: "refused", 5: "refused", 6: "refused"}
    assert "funds_object_already_exists" in _cell(preview, 6) and "A-0001" in _cell(preview, 6)
    assert "role_forbidden" in _cell(preview, 3) and "loan_filing_window_passed" in _cell(preview, 4)
    assert "已超过备案期限" in _cell(preview, 4)  # the rule in the page's language ...
    assert "2026-04-01" in _cell(preview, 4)  # ... and the service's message under it, naming the deadline
    assert "upload_cell_invalid" in _cell(preview, 5) and "12x" in _cell(preview, 5)
    assert len(reads.loans(ledger)) == before
    recorded = _submit(bank, preview)
    assert _statuses(recorded) == {2: "ok"} and "编号" in _cell(recorded, 2)
    filed = [row for row in reads.loans(ledger) if row["loan_number"] == "A-0100"]
    assert [(row["bank_code"], row["principal_fen"]) for row in filed] == [(BANK_A, 150_000_000)]
    assert _statuses(_submit(bank, preview)) == {2: "replayed"} and len(reads.loans(ledger)) == before + 1


def test_who_may_upload_what(site):
    app, _ = site
    enterprise, _ = login(app, "enterprise")
    assert enterprise.get("/web/uploads").status_code == 403
    bank, _ = login(app, "bank-a")
    page = bank.get("/web/uploads").text
    assert "upload-loans" in page and "upload-subsidy-applications" not in page
    token = csrf_of(bank, "/web/uploads")
    assert _preview(bank, "subsidy-applications", APPLICATION_HEADER.encode(), token=token).status_code == 403
    clerk, _ = login(app, "gz-clerk")
    assert _preview(clerk, "loans", _loan_rows()).status_code == 403
    assert clerk.get("/web/uploads/no-such-kind/template.csv").status_code == 404


def test_a_preview_without_the_csrf_token_or_a_tampered_submit_is_refused_and_writes_nothing(site, engine):
    app, _ = site
    clerk, _ = login(app, "gz-clerk")
    rows = (APPLICATION_HEADER + f"{PROGRAM},{GZ_UNIT_1},2019,,\n").encode()
    forged = _preview(clerk, "subsidy-applications", rows, token="forged")
    assert forged.status_code == 403 and "csrf_token_invalid" in forged.text
    preview = _preview(clerk, "subsidy-applications", rows)
    tampered = preview.text.replace(GZ_UNIT_1, GZ_UNIT_2)
    response = _submit(clerk, type("Page", (), {"text": tampered}))
    assert response.status_code == 400 and "upload_payload_invalid" in response.text
    assert _applications(engine) == []
    other_user, _ = login(app, "sz-clerk")  # the signed rows are the previewing user's only
    stolen = _submit(other_user, type("Page", (), {"text": preview.text.replace(
        re.search(r'name="csrf_token" value="([^"]*)"', preview.text).group(1), csrf_of(other_user, "/web/uploads")
    )}))  # fmt: skip
    assert stolen.status_code == 400 and _applications(engine) == []


def test_a_file_that_cannot_be_read_is_a_message_on_the_page(site):
    app, _ = site
    clerk, _ = login(app, "gz-clerk")
    cases = {
        "upload_header_invalid": (b"a,b,c\n1,2,3\n", "rows.csv", "缺少的列"),
        "upload_encoding_invalid": (APPLICATION_HEADER.encode("utf-16"), "rows.csv", "UTF-8 或 GB18030"),
        "upload_xlsx_invalid": (b"PK\x03\x04broken", "rows.xlsx", ".xlsx"),
        "upload_format_unknown": (b"%PDF", "rows.pdf", ".xlsx 或 .csv"),
        "upload_empty": (b"", "rows.csv", "没有选择文件"),
    }
    for code, (data, filename, message) in cases.items():
        response = _preview(clerk, "subsidy-applications", data, filename)
        assert response.status_code in (413, 422), code
        refusal = re.search(r'data-testid="refusal">(.*?)</p>', response.text, re.S).group(1)
        assert code in response.text and message in html.unescape(refusal) and "Traceback" not in response.text


def test_a_request_above_the_size_limit_is_refused_before_it_is_read(site):
    app, _ = site
    clerk, _ = login(app, "gz-clerk")
    data = APPLICATION_HEADER.encode() + b"x" * (uploads.UPLOAD_BYTES_MAX + 20_000)
    response = _preview(clerk, "subsidy-applications", data)
    assert response.status_code == 413 and "upload_too_large" in response.text and "至多 1000000 字节" in response.text


def test_the_template_downloads(site):
    app, _ = site
    clerk, _ = login(app, "gz-clerk")
    xlsx = clerk.get("/web/uploads/subsidy-applications/template.xlsx")
    assert xlsx.status_code == 200 and xlsx.headers["content-type"] == uploads.XLSX_MEDIA_TYPE
    header = next(openpyxl.load_workbook(io.BytesIO(xlsx.content)).worksheets[0].iter_rows(values_only=True))
    assert header[0] == "补助项目代码"
    csv = clerk.get("/web/uploads/subsidy-applications/template.csv")
    assert csv.content.decode("utf-8-sig") == APPLICATION_HEADER


@pytest.fixture
def voucher_site(engine, ledger):
    from tests.vouchers.conftest import SHANGHAI, build_scheme

    scheme = build_scheme(ledger, regions=(SHANGHAI,))
    add_users(engine, {"sh-clerk": ("finance_office", [f"region:{SHANGHAI}"])})
    return make_app(engine), scheme


def _grants(engine) -> list[tuple[str, int, str]]:
    from vouchers import listings as voucher_listings

    with engine.connect() as conn:
        return [(row["enterprise_code"], row["requested_fen"], row["status"]) for row in voucher_listings.grants(conn)]


def test_an_xlsx_of_voucher_grant_requests_is_previewed_and_recorded_through_the_grant_rule(voucher_site, engine):
    from tests.vouchers.conftest import SHANGHAI

    app, scheme = voucher_site
    program, enterprise = scheme.programs[SHANGHAI], scheme.enterprises[SHANGHAI]
    stranger = credit_code("91310000MA1TUP999")  # registered nowhere: not eligible
    data = _xlsx(
        [
            [column.header for column in KINDS["voucher-grants"].columns],
            [program, enterprise, 50000, datetime(2026, 3, 2)],
            [program, stranger, 10000.5, datetime(2026, 3, 2)],
            [program, enterprise, "abc", "2026/3/2"],
        ]
    )
    clerk, _ = login(app, "sh-clerk")
    preview = _preview(clerk, "voucher-grants", data, "grants.xlsx")
    assert _statuses(preview) == {2: "ok", 3: "refused", 4: "refused"}
    assert "enterprise_must_be_eligible" in _cell(preview, 3) and "10000.5" in _cell(preview, 3)  # as read
    assert "“申请额度（元）”不是以元为单位的金额：abc" in _cell(preview, 4)
    assert _grants(engine) == []
    recorded = _submit(clerk, preview)
    assert _statuses(recorded) == {2: "ok"} and "待审批" in _cell(recorded, 2)
    assert _grants(engine) == [(enterprise, 5_000_000, "submitted")]
    assert _statuses(_submit(clerk, preview)) == {2: "replayed"} and len(_grants(engine)) == 1
