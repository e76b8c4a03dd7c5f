"""A request's parts read by the handler itself, for the hottest routes (one post per request).

FastAPI resolves each declared parameter per request (a header, a query flag, a JSON body: each its own
field, validation and cache key), and for ``POST /v1/transactions`` that resolution cost more CPU than the
route's own work (a third of it, docs/BENCHMARKS.md, HTTP API). Such a route takes the ``Request`` and reads
its parts here, refusing what FastAPI refuses with the same errors (``RequestValidationError``: the same
problem+json, pointers and codes), and documents the parts through ``openapi_document`` so that its OpenAPI
operation and its examples stay what FastAPI would have written for the declared parameters."""

from __future__ import annotations

import email.message
import json
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError
from starlette.exceptions import HTTPException

# What FastAPI validates these parts with (pydantic's own adapters): the same readings and the same errors.
_FLAG = TypeAdapter(bool)
_JSON_OBJECT = TypeAdapter(dict[str, Any])


def _errors_at(error: ValidationError, *location: str | int) -> list[dict[str, Any]]:
    return [{**item, "loc": (*location, *item["loc"])} for item in error.errors(include_url=False)]


class RequestParts:
    """Collects what is wrong with a request's parts, to refuse them together, as FastAPI does (read the
    query's parts before the body, so the errors come in FastAPI's order)."""

    def __init__(self) -> None:
        self.errors: list[dict[str, Any]] = []

    def flag(self, request: Request, name: str, *, default: bool = False) -> bool:
        """A ``bool`` query parameter (the last value when repeated, as FastAPI takes it)."""
        value = request.query_params.get(name)
        if value is None:
            return default
        try:
            return _FLAG.validate_python(value)
        except ValidationError as error:
            self.errors += _errors_at(error, "query", name)
            return default

    async def json_object(self, request: Request) -> dict[str, Any] | None:
        """The body as a JSON object, read as FastAPI reads a ``dict`` body: JSON only when the content type
        says so (application/json or application/*+json), refused when empty, malformed or not an object."""
        body = await request.body()
        if not body:
            self.errors.append({"type": "missing", "loc": ("body",), "msg": "Field required", "input": None})
            return None
        value: Any = body
        content_type = request.headers.get("content-type")
        if content_type:
            message = email.message.Message()
            message["content-type"] = content_type
            subtype = message.get_content_subtype()
            if message.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json")):
                try:
                    value = json.loads(body)
                except json.JSONDecodeError as error:
                    # Malformed JSON is refused at once, before the other parts (FastAPI reads the body first).
                    raise RequestValidationError(
                        [
                            {
                                "type": "json_invalid",
                                "loc": ("body", error.pos),
                                "msg": "JSON decode error",
                                "input": {},
                                "ctx": {"error": error.msg},
                            }
                        ]
                    ) from error
                except UnicodeDecodeError as error:
                    # Bytes that are no text at all: FastAPI answers 400 (the problem handlers make it a 422).
                    raise HTTPException(400, "There was an error parsing the body") from error
        try:
            return _JSON_OBJECT.validate_python(value)
        except ValidationError as error:
            self.errors += _errors_at(error, "body")
            return None

    def refuse_if_any(self) -> None:
        if self.errors:
            raise RequestValidationError(self.errors)


def openapi_document(
    *, body_examples: list[dict[str, Any]], header: tuple[str, str] | None = None, flag: tuple[str, str] | None = None
) -> dict[str, Any]:
    """``openapi_extra`` for a route that reads its parts itself: a required JSON-object body with its
    examples, an optional header and an optional ``bool`` query flag, each with its description (the
    fragments FastAPI writes for ``Body(examples=…)``, ``Header(alias=…)`` and ``Query()`` parameters)."""
    parameters: list[dict[str, Any]] = []
    if flag is not None:
        name, description = flag
        parameters.append(
            {
                "name": name,
                "in": "query",
                "required": False,
                "schema": {
                    "type": "boolean",
                    "description": description,
                    "default": False,
                    "title": name.replace("_", " ").title(),
                },
                "description": description,
            }
        )
    if header is not None:
        name, description = header
        parameters.append(
            {
                "name": name,
                "in": "header",
                "required": False,
                "schema": {
                    "anyOf": [{"type": "string"}, {"type": "null"}],
                    "description": description,
                    "title": name,
                },
                "description": description,
            }
        )
    body_schema = {"type": "object", "additionalProperties": True, "examples": body_examples, "title": "Document"}
    return {
        "parameters": parameters,
        "requestBody": {"required": True, "content": {"application/json": {"schema": body_schema}}},
    }
