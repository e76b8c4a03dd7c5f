"""OpenAPI links: how one answer leads to the next call (a created object to reading and deciding it, a list
to its first item), declared on the producing route (``openapi_extra``, merged into its operation) so that
clients, and schemathesis's stateful run, can chain calls with real ids (OpenAPI 3.1 "Link Object")."""

from __future__ import annotations

from typing import Any

FIRST_ITEM = "$response.body#/items/0/"
CREATED_BODY = "$response.body#/"


def _pointer(path: str) -> str:
    return path.replace("~", "~0").replace("/", "~1")


def to(route: str, method: str = "get", /, **parameters: str) -> dict[str, Any]:
    """A link to the operation at ``route`` (its path as the router declares it) with its path parameters
    taken from runtime expressions (``$response.body#/id``, ``$request.path.book``)."""
    return {"operationRef": f"#/paths/{_pointer(route)}/{method}", "parameters": parameters}


def on_status(status: int, **links: dict[str, Any]) -> dict[str, Any]:
    """The route's ``openapi_extra``: ``links`` on its ``status`` answer."""
    return {"responses": {str(status): {"links": links}}}


def created(**links: dict[str, Any]) -> dict[str, Any]:
    """The links of a 201 (a dry run answers 200 and creates nothing to link to)."""
    return on_status(201, **links)


def listed(**links: dict[str, Any]) -> dict[str, Any]:
    """The links of a 200: a list to its first item, an object to what it leads to."""
    return on_status(200, **links)


def first_item(field: str) -> str:
    return FIRST_ITEM + field


def created_field(field: str) -> str:
    return CREATED_BODY + field
