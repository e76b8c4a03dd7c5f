"""One small machinery for the pages' record forms: fields → validate → dry-run preview → submit once.

A ``RecordForm`` names its fields and one ``record`` function that calls the HTTP API's own route handler
(api.routers.*) with the principal, the request's unit of work and the form's idempotency key: the pages add
no second copy of a rule, a scope check or an idempotency store. A preview runs the same call as a dry run
(the handler's own ``dry_run`` when it has one, which tells the binding cap and the room left; otherwise the
call inside a savepoint that is always rolled back), so what the preview says is what the submit does.

Each rendered form carries a fresh random key: a double click or a resubmitted page sends the same key and
the handler's idempotency answers with the stored result (``Idempotency-Replayed``), so it records once.
Handlers the API does not key (a valuation, a period close) are keyed here through ``api.writes.keyed_write``,
the API's own store of keyed responses, written in the same transaction as the effect."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ValidationError
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from api.deps import unit_of_work
from api.problems import ApiProblem, ledger_error_problem
from api.routers.transactions import REPLAYED_HEADER
from api.scopes import Principal, Role
from api.web.i18n import MESSAGES, recorded_text
from api.web.rendering import WEB_PREFIX, Page, PageRefusal, render, rule_message, signed_in
from api.web.routes_session import check_csrf
from api.web.session import CSRF_FIELD
from api.writes import Written, keyed_write
from ledger.engine import Ledger, today_shanghai
from ledger.errors import LedgerError, ResultCode

FORMS_PREFIX = f"{WEB_PREFIX}/forms"
FORM_KEY_FIELD = "form_key"
INTENT_FIELD = "intent"
FORM_KEY_BYTES = 16
FORM_KEY_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
# The key a handler gets: the API's Idempotency-Key rules (visible ASCII, at most 100), in a web namespace.
KEY_PREFIX = "web-"
# A form has a handful of fields; anything bigger is not one of ours and is refused before it is read.
FORM_FIELDS_MAX = 40
# The longest form (a program's TOML text of at most LONG_TEXT_MAX_LENGTH characters, 3 bytes each, escaped).
FORM_BODY_MAX_BYTES = 256 * 1024
TEXT_MAX_LENGTH = 200
LONG_TEXT_MAX_LENGTH = 20_000
YUAN_PATTERN = re.compile(r"^\d{1,15}(\.\d{1,2})?$")
RATIO_PATTERN = re.compile(r"^(\d{1,3}(\.\d{1,4})?%|\d{1,6}/\d{1,6})$")
INTEGER_PATTERN = re.compile(r"^\d{1,9}$")
LIST_ITEMS_MAX = 50
HTMX_HEADER = "HX-Request"
# The API's own unit of work (SQLite's writer turn, the arrival noted for keyed writes), as a context manager.
request_unit_of_work = contextmanager(unit_of_work)
# The API writes amounts as decimal strings with two places (ledger.money.format_fen); ids, ratios and
# dates never look like that, so a result's value of this shape is shown as money in the page's unit.
MONEY_TEXT = re.compile(r"^-?\d+\.\d{2}$")
CHOICE_RESULTS = ("stage", "mode", "cap_enforcement", "enforcement")  # shown as the form's options are
MOMENT_TEXT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


class Intent(StrEnum):
    PREVIEW = "preview"
    RECORD = "record"


class FieldKind(StrEnum):
    TEXT = "text"
    LONG_TEXT = "long_text"
    YUAN = "yuan"  # typed in 元 as "1234.56"; passed on as that decimal string (the API's amount format)
    DATE = "date"
    INTEGER = "integer"
    RATIO = "ratio"
    CHOICE = "choice"
    FLAG = "flag"
    LIST = "list"  # comma-separated codes


@dataclass(frozen=True, slots=True)
class Choice:
    value: str
    label: str


@dataclass(frozen=True, slots=True)
class FormField:
    """One input. ``name`` is the API body's own field name (or the handler's path parameter)."""

    name: str
    kind: FieldKind = FieldKind.TEXT
    required: bool = True
    max_length: int = TEXT_MAX_LENGTH
    # Fixed options of a CHOICE; for a TEXT field, suggestions (a datalist) the user may ignore.
    choices: Callable[[Page], list[Choice]] | None = None
    default: Callable[[Page], str] | None = None

    @property
    def label_key(self) -> str:
        return f"form.field.{self.name}"


def today_text(_page: Page) -> str:
    return today_shanghai().isoformat()


@dataclass(frozen=True)
class Call:
    """What a form's ``record`` function gets: who, the values read, the unit of work and the key."""

    page: Page
    values: dict[str, Any]
    key: str
    dry_run: bool
    uow: Connection | None
    response: Response

    @property
    def principal(self) -> Principal:
        return self.page.principal

    @property
    def ledger(self) -> Ledger:
        return self.page.request.app.state.ledger

    @property
    def request(self) -> Request:
        return self.page.request

    def body(self, model: type[BaseModel], *names: str) -> BaseModel:
        """The API's own request body from the named values (its validation is the API's)."""
        return model.model_validate({name: self.values[name] for name in names if name in self.values})


@dataclass(frozen=True)
class RecordForm:
    slug: str
    group: str  # whose records these are (the index's heading): finance, enterprise, fund, bank, provider
    roles: tuple[Role, ...]
    fields: tuple[FormField, ...]
    record: Callable[[Call], Any]
    # The handler takes ``dry_run`` itself (and so tells the binding cap and room); else a rolled-back savepoint.
    handler_dry_run: bool = False
    # The handler keys its own writes by the Idempotency-Key; else the form keys it (api.writes.keyed_write).
    handler_keyed: bool = True
    # The handler opens its own transaction (the journal's group commit): no unit of work around it.
    own_transaction: bool = False
    # What it records waits for a second person (a grant, a clawback...): the outcome says so.
    goes_to_approval: bool = False

    @property
    def path(self) -> str:
        return f"{FORMS_PREFIX}/{self.slug}"

    @property
    def title_key(self) -> str:
        return f"form.{self.slug}.title"

    @property
    def help_key(self) -> str:
        return f"form.{self.slug}.help"


@dataclass
class Outcome:
    """A preview's or a submit's answer as the page shows it."""

    ok: bool
    dry_run: bool
    code: str
    message: str = ""
    result: dict[str, Any] = field(default_factory=dict)
    binding: str | None = None
    room_left: str | None = None
    replayed: bool = False
    status: int = 200


@dataclass
class FormState:
    """A form as shown: the values typed (kept after a preview or a refusal), per-field errors, the key."""

    form: RecordForm
    values: dict[str, str]
    key: str
    errors: dict[str, str] = field(default_factory=dict)
    outcome: Outcome | None = None


def new_key() -> str:
    return secrets.token_urlsafe(FORM_KEY_BYTES)


def blank_state(form: RecordForm, page: Page) -> FormState:
    values = {item.name: item.default(page) if item.default else "" for item in form.fields}
    return FormState(form, values, new_key())


# ----- reading and checking the fields ---------------------------------------------------------------------


def read_fields(form: RecordForm, page: Page, data: FormData) -> tuple[dict[str, str], dict[str, Any], dict[str, str]]:
    """The raw text of each field, its value for the API body, and the errors in the page's language."""
    typed: dict[str, str] = {}
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for item in form.fields:
        raw = data.get(item.name)
        text = raw.strip() if isinstance(raw, str) else ""
        typed[item.name] = text
        limit = LONG_TEXT_MAX_LENGTH if item.kind is FieldKind.LONG_TEXT else item.max_length
        if item.kind is FieldKind.FLAG:
            values[item.name] = text in ("on", "true", "1")
            continue
        if not text:
            if item.required:
                errors[item.name] = page.t("form.error.required")
            continue
        if len(text) > limit:
            errors[item.name] = page.t("form.error.too_long", limit=limit)
            continue
        value, error = _convert(item, text, page)
        if error:
            errors[item.name] = error
        else:
            values[item.name] = value
    return typed, values, errors


def _convert(item: FormField, text: str, page: Page) -> tuple[Any, str | None]:  # noqa: PLR0911 - one branch a kind
    kind = item.kind
    if kind is FieldKind.YUAN:
        return (text, None) if YUAN_PATTERN.match(text) else (None, page.t("form.error.yuan"))
    if kind is FieldKind.DATE:
        try:
            return date.fromisoformat(text).isoformat(), None
        except ValueError:
            return None, page.t("form.error.date")
    if kind is FieldKind.INTEGER:
        return (int(text), None) if INTEGER_PATTERN.match(text) else (None, page.t("form.error.integer"))
    if kind is FieldKind.RATIO:
        return (text, None) if RATIO_PATTERN.match(text) else (None, page.t("form.error.ratio"))
    if kind is FieldKind.CHOICE and item.choices is not None:
        allowed = {choice.value for choice in item.choices(page)}
        return (text, None) if text in allowed else (None, page.t("form.error.choice"))
    if kind is FieldKind.LIST:
        parts = [part.strip() for part in re.split(r"[,，\s]+", text) if part.strip()]
        if len(parts) > LIST_ITEMS_MAX:
            return None, page.t("form.error.too_many", limit=LIST_ITEMS_MAX)
        return parts, None
    return text, None


def _validation_errors(form: RecordForm, error: ValidationError, page: Page) -> dict[str, str]:
    """The API body's own validation, per field of the form (a field the form lacks goes to the form)."""
    names = {item.name for item in form.fields}
    errors: dict[str, str] = {}
    for problem in error.errors():
        location = [str(part) for part in problem.get("loc", ())]
        name = next((part for part in location if part in names), "")
        errors.setdefault(name, page.t("form.error.invalid", detail=problem.get("msg", "")))
    return errors


# ----- running the API's call --------------------------------------------------------------------------------


def run(form: RecordForm, page: Page, values: dict[str, Any], key: str, *, dry_run: bool) -> Outcome:
    """The form's call through the API's handler: a dry run (nothing kept) or the real thing (kept once)."""
    response = Response()
    handler_key = KEY_PREFIX + key
    try:
        if form.own_transaction:
            produced = form.record(Call(page, values, handler_key, dry_run, None, response))
        else:
            with request_unit_of_work(page.request) as uow:
                produced = _in_unit_of_work(form, page, values, handler_key, dry_run, uow, response)
    except LedgerError as error:
        return _refused(ledger_error_problem(error), dry_run)
    except ApiProblem as problem:
        return _refused(problem, dry_run)
    return _answered(produced, response, dry_run)


def _in_unit_of_work(form, page, values, key, dry_run, uow, response) -> Any:  # noqa: ANN001, PLR0913
    if dry_run and not form.handler_dry_run:
        savepoint = uow.begin_nested()
        try:
            return _keyed(form, Call(page, values, key, False, uow, response))
        finally:
            savepoint.rollback()
    return _keyed(form, Call(page, values, key, dry_run, uow, response))


def _keyed(form: RecordForm, call: Call) -> Any:
    if form.handler_keyed or call.dry_run:
        return form.record(call)
    ledger = call.ledger

    def produce(_joined: Ledger) -> Written:
        return Written(_as_dict(form.record(call)))

    return keyed_write(
        ledger, call.uow, call.principal, call.key, path=form.path, content=call.values, produce=produce,
        response=call.response,
    )  # fmt: skip


def _as_dict(produced: Any) -> dict[str, Any]:
    if isinstance(produced, BaseModel):
        return produced.model_dump(mode="json")
    if isinstance(produced, dict):
        return {name: value.model_dump(mode="json") if isinstance(value, BaseModel) else value
                for name, value in produced.items()}  # fmt: skip
    return {"result": produced}


def _answered(produced: Any, response: Response, dry_run: bool) -> Outcome:
    body = _as_dict(produced)
    if dry_run and body.get("dry_run") is True:
        code = str(body.get("code", ResultCode.OK.value))
        result = body.get("result")
        if result is None and "accounts_after" in body:
            result = {"accounts_after": body["accounts_after"]}
        return Outcome(
            ok=code == ResultCode.OK.value,
            dry_run=True,
            code=code,
            message=str(body.get("message", "")) if code != ResultCode.OK.value else "",
            result=result or {},
            binding=body.get("binding_cap") or body.get("binding_limit"),
            room_left=body.get("room_left"),
            status=200 if code == ResultCode.OK.value else 409,
        )
    return Outcome(
        ok=True,
        dry_run=dry_run,
        code=ResultCode.OK.value,
        result=body,
        replayed=response.headers.get(REPLAYED_HEADER) == "true",
        status=200,
    )


def _refused(problem: ApiProblem, dry_run: bool) -> Outcome:
    values = (problem.extra or {}).get("detail_values", {})
    return Outcome(
        ok=False,
        dry_run=dry_run,
        code=str(problem.code),
        message=problem.detail,
        binding=values.get("rule") if "room_left" in values else None,
        room_left=values.get("room_left"),
        status=problem.status if problem.status >= 400 else 409,
    )


# ----- the pages ---------------------------------------------------------------------------------------------


def forms_for(principal: Principal | None, forms: Iterable[RecordForm]) -> list[RecordForm]:
    if principal is None:
        return []
    return [form for form in forms if principal.role in form.roles]


def _choices(state: FormState, page: Page) -> dict[str, list[Choice]]:
    return {item.name: item.choices(page) for item in state.form.fields if item.choices is not None}


def result_rows(page: Page, result: dict[str, Any], *, dry_run: bool = False) -> list[tuple[str, str]]:
    """A result's fields as the page shows them: labelled as the form's fields are where the catalogue knows
    the name, amounts in the page's unit, a status in the page's language, a nested mapping on one line. A
    preview leaves out the would-be id (nothing was kept under it); the caps table is shown on its own."""
    rows = []
    for name, value in result.items():
        if name == "caps_now" or value is None or value == "" or value == {} or isinstance(value, list):
            continue
        if dry_run and name == "id":
            continue
        if isinstance(value, dict):
            parts = (f"{key}: {_shown(page, item)}" for key, item in value.items() if not isinstance(item, dict))
            shown = "; ".join(parts)
        elif name == "status":
            shown = _status(page, str(value))
        elif name in CHOICE_RESULTS:
            shown = page.label("form.choice", str(value))
        else:
            shown = _shown(page, value)
        rows.append((_result_label(page, name), shown))
    return rows


def _result_label(page: Page, name: str) -> str:
    catalogue = MESSAGES[page.language]
    return catalogue.get(f"form.result.{name}") or catalogue.get(f"form.field.{name}") or name


def _status(page: Page, value: str) -> str:
    catalogue = MESSAGES[page.language]
    return catalogue.get(f"status.{value}") or catalogue.get(f"form.status.{value}") or value


def _shown(page: Page, value: Any) -> str:
    if isinstance(value, bool):
        return page.t("form.yes") if value else page.t("form.no")
    if isinstance(value, str) and MONEY_TEXT.match(value):
        return page.yuan(value)
    if isinstance(value, str) and MOMENT_TEXT.match(value):
        return recorded_text(value)  # a recorded moment, shown in Asia/Shanghai as the pages show moments
    return str(value)


def show(page: Page, state: FormState, *, status: int = 200) -> Response:
    """The whole page, or only the form's card when HTMX asked (it swaps the card in place)."""
    outcome = state.outcome
    previewed = bool(outcome and outcome.dry_run)
    message, detail = rule_message(page.language, outcome.code, outcome.message) if outcome else ("", None)
    context = {"state": state, "choices": _choices(state, page), "FieldKind": FieldKind,
               "message": message, "detail": detail,
               "key_field": FORM_KEY_FIELD, "intent_field": INTENT_FIELD,
               "result_rows": lambda result: result_rows(page, result, dry_run=previewed)}  # fmt: skip
    if page.request.headers.get(HTMX_HEADER):
        # HTMX swaps only a successful response by default: a refusal is a 200 fragment with its code shown.
        return render(page, "forms/_card.html", **context)
    return render(page, "forms/form.html", status=status, **context)


async def _form_data(page: Page) -> FormData:
    await _read_bounded(page)
    try:
        return await page.request.form(max_files=0, max_fields=FORM_FIELDS_MAX)
    except Exception:  # noqa: BLE001 - starlette raises its own errors for a body it will not read
        raise PageRefusal(400, page.t("form.error.unreadable", limit=FORM_FIELDS_MAX), "request_invalid") from None


async def _read_bounded(page: Page) -> None:
    """Read the body up to the limit (the parser would hold any size in memory), so a form costs bounded work."""
    request = page.request
    declared = request.headers.get("content-length", "")
    too_big = PageRefusal(413, page.t("form.error.too_big", limit=FORM_BODY_MAX_BYTES // 1024), "request_too_large")
    if declared.isdigit() and int(declared) > FORM_BODY_MAX_BYTES:
        raise too_big
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > FORM_BODY_MAX_BYTES:
            raise too_big
        chunks.append(chunk)
    request._body = b"".join(chunks)  # noqa: SLF001 - starlette's own cache of the body, which form() then parses


def submitted(form: RecordForm, page: Page, data: FormData) -> Response:
    """A posted form: check CSRF and the key, read the fields, then preview or record."""
    csrf = data.get(CSRF_FIELD)
    check_csrf(page, csrf if isinstance(csrf, str) else None)
    key = data.get(FORM_KEY_FIELD)
    if not isinstance(key, str) or not FORM_KEY_PATTERN.match(key):
        raise PageRefusal(422, page.t("form.error.key"), "request_invalid")
    intent = Intent.PREVIEW if data.get(INTENT_FIELD) == Intent.PREVIEW.value else Intent.RECORD
    typed, values, errors = read_fields(form, page, data)
    state = FormState(form, typed, key, errors)
    if errors:
        return show(page, state, status=422)
    try:
        outcome = run(form, page, values, key, dry_run=intent is Intent.PREVIEW)
    except ValidationError as error:
        state.errors = _validation_errors(form, error, page)
        return show(page, state, status=422)
    if outcome.ok and not outcome.dry_run:
        fresh = blank_state(form, page)  # the next record gets its own key; this one stays recorded once
        fresh.outcome = outcome
        return show(page, fresh)
    state.outcome = outcome
    return show(page, state, status=outcome.status if not outcome.ok else 200)


def install_forms(router: APIRouter, forms: Iterable[RecordForm]) -> None:
    """A GET (the blank form) and a POST (preview or record) per form, for the form's roles only."""
    for form in forms:
        _install_one(router, form)


def _install_one(router: APIRouter, form: RecordForm) -> None:
    # A default, not an annotation: with postponed annotations a local alias would not resolve.
    role_page = Depends(signed_in(*form.roles))

    def blank(page: Page = role_page) -> Response:
        return show(page, blank_state(form, page))

    async def posted(page: Page = role_page) -> Response:
        data = await _form_data(page)
        return await run_in_threadpool(submitted, form, page, data)

    suffix = form.slug.replace("-", "_")
    router.add_api_route(form.path, blank, methods=["GET"], name=f"form_{suffix}")
    router.add_api_route(form.path, posted, methods=["POST"], name=f"form_{suffix}_post")
