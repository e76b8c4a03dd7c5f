"""RFC 9457 problem details: every refusal is ``application/problem+json`` with its rule's code.

422 for malformed input, 404 for what is unknown (or may not be known), 409 for rule refusals and
conflicts; a 5xx says only that something failed, never how."""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ledger.errors import LedgerError, ResultCode

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://fundledger.example/problems/"
log = logging.getLogger("fundledger.api")

# Codes that say the input itself is malformed (422); any other refusal of a rule is a conflict (409).
MALFORMED_INPUT_CODES = frozenset(
    {
        ResultCode.AMOUNT_MUST_NOT_BE_FLOAT,
        ResultCode.AMOUNT_MUST_NOT_BE_ZERO,
        ResultCode.AMOUNT_MUST_BE_POSITIVE,
        ResultCode.AMOUNT_EXCEEDS_CURRENCY_PLACES,
        ResultCode.AMOUNT_EXCEEDS_BIGINT,
        ResultCode.AMOUNT_INVALID,
        ResultCode.RATIO_INVALID,
        ResultCode.CURRENCY_UNKNOWN,
        ResultCode.ENTRY_MUST_HAVE_TWO_POSTINGS,
        ResultCode.ENTRY_MUST_BALANCE,
        ResultCode.ENTRY_TOO_LARGE,
        ResultCode.BATCH_TOO_LARGE,
        ResultCode.ID_MUST_NOT_BE_EMPTY,
        ResultCode.TEXT_INVALID,
        ResultCode.DATE_INVALID,
        ResultCode.FIELD_INVALID,
        ResultCode.PROGRAM_YEAR_INVALID,
        ResultCode.BOOK_BASIS_INVALID,
        ResultCode.ACCOUNT_NAME_INVALID,
        ResultCode.ACCOUNT_FLAGS_MUTUALLY_EXCLUSIVE,
        ResultCode.MEMO_ACCOUNT_NEEDS_NORMAL_SIDE,
        ResultCode.CREDIT_CODE_INVALID,
        ResultCode.REGION_CODE_INVALID,
        ResultCode.PERIOD_INVALID,
        ResultCode.REASON_REQUIRED,
        ResultCode.FILE_INVALID,
        ResultCode.EXPIRY_MUST_BE_AFTER_RECORDING,
    }
)
NOT_FOUND_SUFFIX = "_not_found"


class ApiCode(StrEnum):
    """Refusals of the HTTP layer itself (the ledger and the domains have their own codes)."""

    REQUEST_INVALID = "request_invalid"
    CREDENTIALS_REQUIRED = "credentials_required"
    CREDENTIALS_INVALID = "credentials_invalid"
    AUTH_RATE_LIMITED = "auth_rate_limited"
    ROLE_FORBIDDEN = "role_forbidden"
    SCOPE_INVALID = "scope_invalid"
    ROLE_INVALID = "role_invalid"
    USER_EXISTS = "user_exists"
    USER_NOT_FOUND = "user_not_found"
    KEY_NOT_FOUND = "key_not_found"
    PASSWORD_TOO_SHORT = "password_too_short"
    IDEMPOTENCY_KEY_REQUIRED = "idempotency_key_required"
    IDEMPOTENCY_KEY_INVALID = "idempotency_key_invalid"
    BODY_NAMES_ACTOR = "body_names_actor"
    LIMIT_TOO_LARGE = "limit_too_large"
    CURSOR_INVALID = "cursor_invalid"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    INTERNAL_ERROR = "internal_error"


class ApiProblem(Exception):
    def __init__(
        self,
        status: int,
        code: StrEnum | str,
        detail: str,
        *,
        errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = str(code)
        self.detail = detail
        self.errors = errors or []
        self.headers = headers or {}
        self.extra = extra or {}


def status_for_code(code: str) -> int:
    if code.endswith(NOT_FOUND_SUFFIX):
        return 404
    if code in MALFORMED_INPUT_CODES:
        return 422
    return 409


def title_of(code: str) -> str:
    return code.replace("_", " ").capitalize()


def problem_response(
    status: int,
    code: str,
    detail: str,
    *,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + code,
        "title": title_of(code),
        "status": status,
        "detail": detail,
        "code": code,
        "errors": errors or [],
    }
    body.update(extra or {})
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


def ledger_error_problem(error: LedgerError, *, pointer_prefix: str = "") -> ApiProblem:
    code = str(error.code.value)
    errors = []
    field = error.detail.get("field")
    if field is not None:
        errors.append({"pointer": f"{pointer_prefix}/{field}", "code": code, "detail": error.message})
    detail_extra = {k: str(v) for k, v in error.detail.items() if k != "field"}
    return ApiProblem(status_for_code(code), code, error.message, errors=errors, extra={"detail_values": detail_extra})


def json_pointer(location: tuple | list) -> str:
    """``("body", "postings", 0, "amount")`` → ``/postings/0/amount`` (RFC 6901 escaping)."""
    parts = list(location)
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        source, parts = parts[0], parts[1:]
        if source != "body":
            parts = [source, *parts]
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in parts)


def _validation_errors(error: RequestValidationError) -> list[dict[str, str]]:
    return [
        {"pointer": json_pointer(item.get("loc", ())), "code": str(item.get("type", "invalid")), "detail": item["msg"]}
        for item in error.errors()
    ]


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiProblem)
    async def _api_problem(_request: Request, error: ApiProblem) -> JSONResponse:
        return problem_response(
            error.status, error.code, error.detail, errors=error.errors, headers=error.headers, extra=error.extra
        )

    @app.exception_handler(LedgerError)
    async def _ledger_error(_request: Request, error: LedgerError) -> JSONResponse:
        problem = ledger_error_problem(error)
        return problem_response(
            problem.status, problem.code, problem.detail, errors=problem.errors, extra=problem.extra
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(_request: Request, error: RequestValidationError) -> JSONResponse:
        return problem_response(
            422,
            ApiCode.REQUEST_INVALID,
            "the request does not have the expected form",
            errors=_validation_errors(error),
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, error: StarletteHTTPException) -> JSONResponse:
        status = error.status_code
        # A body the framework cannot even parse (bytes that are not text) is malformed input like any other:
        # 422, as documented, not the framework's 400.
        if status == 400:
            status = 422
        code = {404: ApiCode.NOT_FOUND, 405: ApiCode.METHOD_NOT_ALLOWED}.get(status, ApiCode.REQUEST_INVALID)
        if status >= 500:
            code = ApiCode.INTERNAL_ERROR
        detail = str(error.detail) if status < 500 else "the server could not answer"
        return problem_response(status, code, detail, headers=getattr(error, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, error: Exception) -> JSONResponse:
        # Logged for operators; the client learns only that the server failed.
        log.exception("unhandled error", exc_info=error)
        return problem_response(500, ApiCode.INTERNAL_ERROR, "the server could not answer this request")


# ----- the OpenAPI document: every error a route can give, as problem+json ---------------------------

# Statuses any authenticated route can answer with, whatever its handler does: the caller's credentials
# (401, 429), its role (403), an object outside its scope or unknown (404), a rule (409), malformed input (422).
DOCUMENTED_PROBLEM_STATUSES = {
    "401": ("credentials_required", "no or bad credentials"),
    "403": ("role_forbidden", "the caller's role may not do this"),
    "404": ("not_found", "unknown, or outside the caller's scope"),
    "409": ("rule_refused", "a rule of the ledger or of the domain refused the request (its code says which)"),
    "422": ("request_invalid", "the request is malformed (errors[] points at each field)"),
    "429": ("rate_limited", "too many failed authentications"),
}
PROBLEM_SCHEMA = {
    "type": "object",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string", "description": "the rule's result code"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "pointer": {"type": "string", "description": "JSON pointer to the field at fault"},
                    "code": {"type": "string"},
                    "detail": {"type": "string"},
                },
            },
        },
    },
    "additionalProperties": True,
}


def _problem_response_doc(code: str, description: str, status: int) -> dict[str, Any]:
    example = {
        "type": PROBLEM_TYPE_BASE + code,
        "title": title_of(code),
        "status": status,
        "detail": description,
        "code": code,
        "errors": [],
    }
    return {
        "description": description,
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}, "example": example}},
    }


DRY_RUN_PARAMETER = "dry_run"


def _document_dry_run(operation: dict[str, Any], responses: dict[str, Any]) -> None:
    """A creating call (201) asked as a dry run creates nothing and answers 200, with the body its route
    declares (the would-be result or the dry-run outcome): documented wherever a route did not say so."""
    takes_dry_run = any(
        parameter.get("in") == "query" and parameter.get("name") == DRY_RUN_PARAMETER
        for parameter in operation.get("parameters", [])
    )
    if takes_dry_run and "201" in responses and "200" not in responses:
        created = responses["201"]
        responses["200"] = {
            "description": "dry_run=true: the would-be result; nothing written",
            **({"content": created["content"]} if "content" in created else {}),
        }


def document_problems(openapi: dict[str, Any]) -> dict[str, Any]:
    """Every operation documents the problem+json answers it can give (replacing FastAPI's default 422
    body, which is not what this API sends), so clients and schemathesis see the real contract."""
    schemas = openapi.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    for item in openapi.get("paths", {}).values():
        for operation in item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            _document_dry_run(operation, responses)
            for status, (code, description) in DOCUMENTED_PROBLEM_STATUSES.items():
                documented = responses.get(status)
                text = documented.get("description", description) if status != "422" and documented else description
                responses[status] = _problem_response_doc(code, text, int(status))
    return openapi
