"""OpenAPI links (issue 12): every link of the published document leads to an operation that exists, names
only that operation's path parameters, and takes each from a field the producing answer has."""

from __future__ import annotations

from sqlalchemy import create_engine

from api.app import create_app
from api.settings import Settings

from .conftest import TEST_SECRET

BODY_PREFIX = "$response.body#/"
REQUEST_PATH_PREFIX = "$request.path."
# The chains a client most needs: a created object leads to reading it.
REQUIRED_LINKS = {
    ("/v1/books", "post", "201", "book"),
    ("/v1/sub-funds/{subfund}/commitments", "post", "201", "commitment"),
    ("/v1/claims", "post", "201", "claim"),
    ("/v1/vouchers", "post", "201", "voucher"),
    ("/v1/subsidy-programs/{program_code}/applications", "post", "201", "application"),
    ("/v1/approvals", "get", "200", "item"),
}


def _document() -> dict:
    app = create_app(create_engine("sqlite://"), Settings(jwt_secret=TEST_SECRET))
    return app.openapi()


def _resolve(document: dict, reference: str) -> dict:
    assert reference.startswith("#/")
    node = document
    for part in reference[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _schema_fields(document: dict, schema: dict) -> set[str]:
    """The properties an answer of ``schema`` may have (through $ref, anyOf and allOf)."""
    if "$ref" in schema:
        return _schema_fields(document, _resolve(document, schema["$ref"]))
    fields = set(schema.get("properties", {}))
    for key in ("anyOf", "oneOf", "allOf"):
        for part in schema.get(key, []):
            fields |= _schema_fields(document, part)
    return fields


def _field_schema(document: dict, schema: dict, field: str) -> dict:
    if "$ref" in schema:
        return _field_schema(document, _resolve(document, schema["$ref"]), field)
    if field in schema.get("properties", {}):
        return schema["properties"][field]
    for key in ("anyOf", "oneOf", "allOf"):
        for part in schema.get(key, []):
            found = _field_schema(document, part, field)
            if found:
                return found
    return {}


def _pointer_exists(document: dict, schema: dict, pointer: str) -> bool:
    node = schema
    for part in pointer.split("/"):
        if part.isdigit():
            items = _field_schema(document, node, "items") if "items" not in node else node
            node = items.get("items", items)
            continue
        if part not in _schema_fields(document, node):
            return False
        node = _field_schema(document, node, part)
    return True


def test_every_link_leads_to_a_real_operation_with_its_parameters_from_real_fields():
    document = _document()
    seen = set()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for status, response in operation.get("responses", {}).items():
                for name, link in response.get("links", {}).items():
                    seen.add((path, method, status, name))
                    target = _resolve(document, link["operationRef"])
                    target_path = link["operationRef"].split("/")[2].replace("~1", "/")
                    path_parameters = {p["name"] for p in target.get("parameters", []) if p["in"] == "path"}
                    assert set(link["parameters"]) == path_parameters, (path, name, target_path)
                    schema = response["content"]["application/json"]["schema"]
                    for expression in link["parameters"].values():
                        if expression.startswith(REQUEST_PATH_PREFIX):
                            assert "{" + expression[len(REQUEST_PATH_PREFIX) :] + "}" in path, (path, expression)
                        else:
                            assert expression.startswith(BODY_PREFIX), expression
                            assert _pointer_exists(document, schema, expression[len(BODY_PREFIX) :]), (path, expression)
    assert REQUIRED_LINKS <= seen
    assert len(seen) >= 50
