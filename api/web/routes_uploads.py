"""Bulk uploads (批量导入): a finance office uploads many voucher grants or subsidy applications, a bank many
loans to file with a risk pool, as an .xlsx or .csv (api.web.uploads reads it). The preview lists every row
with what was read and its result or refusal (the rule's code and message); one submit records the good rows.

Each row goes through the HTTP API's own handler (api.routers.vouchers.post_grant,
api.routers.subsidies.post_application, api.routers.pools.file_loan): the same scope check per row, the same
service call, the same idempotency store. The preview runs every row for real in one database transaction
that is rolled back, so it shows what the submit will do, rows that interact included (an enterprise's
annual cap consumed by an earlier row of the same file). The submit runs the rows the preview found good,
each in its own savepoint of one transaction that commits once: a row refused meanwhile is reported and
the others are kept.

A row's idempotency key is derived from the upload: the kind and the row's values as read (and, for rows
repeated in one file, which repeat it is). Submitting the same file again, or a corrected file holding rows
already recorded, records nothing twice: those rows answer "already recorded". The rows the preview read
travel to the submit in the page, signed with the server's secret for this user and kind, so the submit
records exactly what was previewed."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections import Counter
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from api.problems import ApiProblem, ledger_error_problem
from api.routers import pools as pool_routes
from api.routers import subsidies as subsidy_routes
from api.routers import vouchers as voucher_routes
from api.routers.transactions import REPLAYED_HEADER
from api.schemas.pools import LoanIn
from api.schemas.subsidies import ApplicationIn
from api.schemas.vouchers import VoucherGrantIn
from api.scopes import ALL_ROLES, Principal, Role
from api.web.rendering import Page, PageRefusal, render, signed_in
from api.web.routes_session import CsrfField, check_csrf
from api.web.session import CSRF_FIELD
from api.web.uploads import (
    UPLOAD_BYTES_MAX,
    UPLOAD_ROWS_MAX,
    XLSX_MEDIA_TYPE,
    CellKind,
    UploadCode,
    UploadColumn,
    UploadRefused,
    UploadRow,
    read_upload,
    template_csv,
    template_xlsx,
)
from ledger.engine import Ledger
from ledger.errors import LedgerError

# Paths below the pages' prefix: api.web.routes_forms_partners includes this router into its own.
router = APIRouter(include_in_schema=False)
KEY_PREFIX = "upload-"
KEY_DIGEST_CHARS = 32
# The multipart envelope around the file: boundaries, the CSRF field and the part headers.
FORM_OVERHEAD_BYTES = 16_384
UPLOAD_FORM_FIELDS_MAX = 4
# The submit carries the rows read (as JSON) back: at most the rows allowed, each a few hundred characters.
PAYLOAD_CHARS_MAX = 900_000
SIGNATURE_CHARS = 64
FILENAME_CHARS_MAX = 120  # of the uploaded file's name, as the pages show it
UploadPage = Annotated[Page, Depends(signed_in(*ALL_ROLES))]
OK, REPLAYED, REFUSED = "ok", "replayed", "refused"


# ----- what can be uploaded ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ApiRequest:
    """What an API handler reads of its request: the path its idempotency fingerprint names. The API's own
    path, so a row's key means the same in the preview, the submit, and a call over HTTP."""

    path: str

    @property
    def url(self) -> SimpleNamespace:
        return SimpleNamespace(path=self.path)


@dataclass(frozen=True, slots=True)
class RowCall:
    """One row's call: the API handler's arguments besides its body."""

    principal: Principal
    ledger: Ledger
    uow: Connection
    response: Response
    key: str


@dataclass(frozen=True, slots=True)
class UploadKind:
    slug: str
    roles: tuple[Role, ...]  # the API handler's roles, of those who upload many at once
    columns: tuple[UploadColumn, ...]
    record: Callable[[dict[str, Any], RowCall], Any]  # the API handler for one row (raises its refusal)

    @property
    def title_key(self) -> str:
        return f"upload.kind.{self.slug}"


def _body(model: type[BaseModel], values: dict[str, Any]) -> BaseModel:
    """The API's own body from a row, validated as the API validates the JSON it is sent."""
    return model.model_validate_json(json.dumps(values, ensure_ascii=False))


def _voucher_grant(values: dict[str, Any], call: RowCall) -> Any:
    body = _body(VoucherGrantIn, values)
    return voucher_routes.post_grant(
        body, call.principal, call.ledger, call.uow, ApiRequest("/v1/vouchers"), call.response,
        idempotency_key=call.key,
    )  # fmt: skip


def _subsidy_application(values: dict[str, Any], call: RowCall) -> Any:
    program = str(values["program"])  # a required column: every readable row has it
    figures = {}
    if "figure_name" in values or "figure_amount" in values:  # one named base figure, as the record form has
        figures = {str(values.get("figure_name", "")): values.get("figure_amount", "")}
    body = _body(ApplicationIn, {"institution": values["institution"], "year": values["year"], "base_figures": figures})
    return subsidy_routes.post_application(
        program, body, call.principal, call.ledger, call.uow,
        ApiRequest(f"/v1/subsidy-programs/{program}/applications"), call.response, idempotency_key=call.key,
    )  # fmt: skip


def _loan(values: dict[str, Any], call: RowCall) -> Any:
    body = _body(LoanIn, values)
    return pool_routes.file_loan(body, call.principal, call.ledger, call.uow, call.response, idempotency_key=call.key)


C = UploadColumn
KINDS: dict[str, UploadKind] = {
    kind.slug: kind
    for kind in (
        UploadKind(
            "voucher-grants",
            (Role.FINANCE_OFFICE, Role.ADMIN),
            (
                C("program", "创新券项目代码"),
                C("enterprise", "企业统一社会信用代码"),
                C("amount", "申请额度（元）", CellKind.YUAN),
                C("on", "申请日期", CellKind.DATE),
            ),
            _voucher_grant,
        ),
        UploadKind(
            "subsidy-applications",
            (Role.FINANCE_OFFICE, Role.ADMIN),
            (
                C("program", "补助项目代码"),
                C("institution", "单位统一社会信用代码"),
                C("year", "年度", CellKind.INTEGER),
                C("figure_name", "计算基数名称", required=False),
                C("figure_amount", "计算基数金额（元）", CellKind.YUAN, required=False),
            ),
            _subsidy_application,
        ),
        UploadKind(
            "loans",
            pool_routes.BANK_ROLES,
            (
                C("pool", "资金池代码"),
                C("bank_code", "合作银行统一社会信用代码"),
                C("enterprise_code", "企业统一社会信用代码"),
                C("loan_number", "贷款编号"),
                C("principal", "贷款本金（元）", CellKind.YUAN),
                C("disbursed_on", "放款日期", CellKind.DATE),
                C("term_months", "期限（月）", CellKind.INTEGER),
                C("filed_on", "备案日期", CellKind.DATE),
            ),
            _loan,
        ),
    )
}


def kinds_for(principal: Principal | None) -> list[UploadKind]:
    return [kind for kind in KINDS.values() if principal is not None and principal.role in kind.roles]


def _kind(page: Page, slug: str) -> UploadKind:
    kind = KINDS.get(slug)
    if kind is None:
        raise PageRefusal(404, page.t("error.not_found"), "upload_kind_not_found")
    if page.principal.role not in kind.roles:
        raise PageRefusal(403, page.t("error.forbidden"), "role_forbidden")
    return kind


KindSlug = Annotated[str, Path(max_length=40)]


# ----- running rows through the API's handlers ---------------------------------------------------------------


@dataclass(slots=True)
class RowOutcome:
    row: UploadRow
    status: str  # ok (would record / recorded), replayed (already recorded), refused
    code: str = ""
    message: str = ""
    result: dict[str, Any] = field(default_factory=dict)


def row_keys(kind: UploadKind, rows: list[UploadRow]) -> list[str]:
    """Each row's idempotency key: its kind and values as read; identical rows of one file count up."""
    seen: Counter[str] = Counter()
    keys = []
    for row in rows:
        canonical = json.dumps([kind.slug, row.values], sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        digest = hashlib.sha256(canonical.encode()).hexdigest()[:KEY_DIGEST_CHARS]
        seen[digest] += 1
        keys.append(f"{KEY_PREFIX}{digest}-{seen[digest]}")
    return keys


def _as_dict(produced: Any) -> dict[str, Any]:
    if isinstance(produced, BaseModel):
        return produced.model_dump(mode="json")
    return dict(produced) if isinstance(produced, dict) else {"result": produced}


def _validation_message(kind: UploadKind, error: ValidationError) -> str:
    headers = {column.key: column.header for column in kind.columns}
    parts = []
    for item in error.errors():
        name = str(item["loc"][0]) if item["loc"] else ""
        parts.append(f"{headers.get(name, name)}: {item['msg']}")
    return "; ".join(parts)


def _run_row(page: Page, kind: UploadKind, row: UploadRow, key: str, uow: Connection) -> RowOutcome:
    """One row in its own savepoint: kept when the handler answers, undone when it refuses."""
    response = Response()
    call = RowCall(page.principal, page.request.app.state.ledger, uow, response, key)
    savepoint = uow.begin_nested()
    try:
        produced = kind.record(row.values, call)
    except ValidationError as error:
        savepoint.rollback()
        return RowOutcome(row, REFUSED, "request_invalid", _validation_message(kind, error))
    except LedgerError as error:
        savepoint.rollback()
        problem = ledger_error_problem(error)
        return RowOutcome(row, REFUSED, str(problem.code), problem.detail)
    except ApiProblem as problem:
        savepoint.rollback()
        return RowOutcome(row, REFUSED, str(problem.code), problem.detail)
    except IntegrityError:
        savepoint.rollback()
        return RowOutcome(row, REFUSED, "request_in_flight", page.t("upload.in_flight"))
    savepoint.commit()
    status = REPLAYED if response.headers.get(REPLAYED_HEADER) == "true" else OK
    return RowOutcome(row, status, result=_as_dict(produced))


def _unreadable(page: Page, row: UploadRow) -> RowOutcome:
    message = "; ".join(page.t(problem.reason, column=problem.column, read=problem.read) for problem in row.problems)
    return RowOutcome(row, REFUSED, UploadCode.UPLOAD_CELL_INVALID.value, message)


def run_rows(page: Page, kind: UploadKind, rows: list[UploadRow], *, keep: bool) -> list[RowOutcome]:
    """Every row through the API's handler in one transaction: committed once (``keep``) or rolled back (the
    preview). Unreadable rows are refused without a call."""
    state = page.request.app.state
    readable = [row for row in rows if row.readable]
    keys = dict(zip((row.number for row in readable), row_keys(kind, readable)))
    outcomes = {}
    if readable:
        turn = getattr(state, "sqlite_writer_turn", None)
        with turn or nullcontext(), state.ledger.engine.connect() as conn:
            transaction = conn.begin()
            try:
                for row in readable:
                    outcomes[row.number] = _run_row(page, kind, row, keys[row.number], conn)
            except BaseException:
                transaction.rollback()
                raise
            if keep:
                transaction.commit()
            else:
                transaction.rollback()
    return [outcomes.get(row.number) or _unreadable(page, row) for row in rows]


# ----- carrying the previewed rows to the submit --------------------------------------------------------------


def _signature(page: Page, kind: UploadKind, payload: str) -> str:
    secret = page.request.app.state.settings.jwt_secret.encode()
    message = f"{page.principal.client}\n{kind.slug}\n{payload}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def _payload(outcomes: list[RowOutcome]) -> str:
    """The rows not refused, as read (row number and values; the cells as shown are the values again)."""
    good = [{"n": o.row.number, "values": o.row.values} for o in outcomes if o.status != REFUSED]
    return json.dumps(good, ensure_ascii=False, separators=(",", ":"))


def _rows_of(page: Page, kind: UploadKind, payload: str, signature: str) -> list[UploadRow]:
    if not hmac.compare_digest(_signature(page, kind, payload), signature):
        raise PageRefusal(400, page.t("upload.tampered"), "upload_payload_invalid")
    rows = []
    for item in json.loads(payload):
        shown = {column.header: str(item["values"].get(column.key, "")) for column in kind.columns}
        rows.append(UploadRow(item["n"], shown, item["values"]))
    return rows


# ----- the pages -------------------------------------------------------------------------------------------


def _summary(page: Page, outcome: RowOutcome, submitted: bool) -> list[str]:
    """What the handler answered for a row, in a few words: the record's number once it exists (a preview's
    numbers are rolled back with it), its status, and a loan's covered amount where a cap clipped it."""
    result = outcome.result
    shown = []
    if (submitted or outcome.status == REPLAYED) and result.get("id") is not None:
        shown.append(page.t("upload.record_id", id=result["id"]))
    if result.get("status"):
        shown.append(page.label("upload.record_status", str(result["status"])))
    covered, principal = result.get("covered"), result.get("principal")
    if covered and principal and covered != principal:
        shown.append(page.t("upload.covered", amount=page.yuan(covered)))
    return shown


def _outcomes_page(page: Page, kind: UploadKind, outcomes: list[RowOutcome], *, submitted: bool, filename: str):
    payload = "" if submitted else _payload(outcomes)
    return render(
        page, "upload_preview.html", kind=kind, filename=filename, outcomes=outcomes, submitted=submitted,
        summaries=[_summary(page, outcome, submitted) for outcome in outcomes],
        payload=payload, signature=_signature(page, kind, payload) if payload else "",
        counts=Counter(outcome.status for outcome in outcomes),
    )  # fmt: skip


def _index(page: Page, *, refusal: PageRefusal | None = None, chosen: str | None = None, status: int = 200):
    kinds = kinds_for(page.principal)
    if not kinds:
        raise PageRefusal(403, page.t("error.forbidden"), "role_forbidden")
    return render(
        page, "upload.html", status=status, kinds=kinds, refusal=refusal, chosen=chosen,
        rows_max=UPLOAD_ROWS_MAX, bytes_max=UPLOAD_BYTES_MAX,
    )  # fmt: skip


@router.get("/uploads")
def upload_index(page: UploadPage):
    return _index(page)


@router.get("/uploads/{slug}/template.{extension}")
def upload_template(page: UploadPage, slug: KindSlug, extension: Annotated[str, Path(pattern="^(xlsx|csv)$")]):
    kind = _kind(page, slug)
    if extension == "xlsx":
        content, media_type = template_xlsx(kind.columns), XLSX_MEDIA_TYPE
    else:
        content, media_type = template_csv(kind.columns), "text/csv; charset=utf-8"
    disposition = f'attachment; filename="fundledger-{kind.slug}-template.{extension}"'
    return Response(content, media_type=media_type, headers={"Content-Disposition": disposition})


def _file_refusal(page: Page, refused: UploadRefused) -> PageRefusal:
    status = 413 if refused.code in (UploadCode.UPLOAD_TOO_LARGE, UploadCode.UPLOAD_TOO_MANY_ROWS) else 422
    return PageRefusal(status, page.t(f"upload.refused.{refused.code.value}", **refused.values), refused.code.value)


async def _uploaded(page: Page, request: Request) -> tuple[bytes, str]:
    """The file of a preview form, read only after the request's size is known to be within the limit."""
    declared = request.headers.get("content-length", "")
    if not declared.isdigit() or int(declared) > UPLOAD_BYTES_MAX + FORM_OVERHEAD_BYTES:
        raise UploadRefused(UploadCode.UPLOAD_TOO_LARGE, limit=UPLOAD_BYTES_MAX, size=declared or "?")
    try:
        form = await request.form(max_files=1, max_fields=UPLOAD_FORM_FIELDS_MAX)
    except HTTPException:  # a body that is not a multipart form (Starlette's parser refuses it)
        raise UploadRefused(UploadCode.UPLOAD_FORM_INVALID) from None
    try:
        token = form.get(CSRF_FIELD)
        check_csrf(page, token if isinstance(token, str) else None)
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise UploadRefused(UploadCode.UPLOAD_EMPTY)
        return await upload.read(UPLOAD_BYTES_MAX + 1), upload.filename or ""
    finally:
        await form.close()


@router.post("/uploads/{slug}/preview")
async def upload_preview(page: UploadPage, slug: KindSlug, request: Request):
    kind = _kind(page, slug)
    try:
        data, filename = await _uploaded(page, request)
        rows = await run_in_threadpool(read_upload, data, filename, kind.columns)
    except UploadRefused as refused:
        refusal = _file_refusal(page, refused)
        return _index(page, refusal=refusal, chosen=kind.slug, status=refusal.status)
    outcomes = await run_in_threadpool(run_rows, page, kind, rows, keep=False)
    return _outcomes_page(page, kind, outcomes, submitted=False, filename=filename[-FILENAME_CHARS_MAX:])


@router.post("/uploads/{slug}/submit")
def upload_submit(
    page: UploadPage,
    slug: KindSlug,
    csrf: CsrfField,
    payload: Annotated[str, Form(max_length=PAYLOAD_CHARS_MAX)],
    signature: Annotated[str, Form(max_length=SIGNATURE_CHARS)],
    filename: Annotated[str, Form(max_length=FILENAME_CHARS_MAX)] = "",
):
    check_csrf(page, csrf)
    kind = _kind(page, slug)
    rows = _rows_of(page, kind, payload, signature)
    return _outcomes_page(page, kind, run_rows(page, kind, rows, keep=True), submitted=True, filename=filename)
