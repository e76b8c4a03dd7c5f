"""``POST /v1/transactions`` reads its body, key and dry-run flag itself (api.hot_params). It must refuse what
FastAPI refuses, alike: ``POST /v1/batches`` declares the same parts the framework's way (a ``dict`` body,
the ``Idempotency-Key`` header, a ``dry_run`` flag), so each malformed request is sent to both and their
problems compared. A change of the framework's behaviour then fails here rather than drifting apart."""

from __future__ import annotations

import pytest

from api.hot_params import openapi_document
from api.problems import PROBLEM_MEDIA_TYPE

MALFORMED = {
    "invalid JSON": ({"Content-Type": "application/json"}, b"{not json", ""),
    "not UTF-8": ({"Content-Type": "application/json"}, b"\xff\xfe{", ""),
    "an array": ({"Content-Type": "application/json"}, b"[1, 2]", ""),
    "null": ({"Content-Type": "application/json"}, b"null", ""),
    "a number": ({"Content-Type": "application/json"}, b"3", ""),
    "empty": ({"Content-Type": "application/json"}, b"", ""),
    "no content type": ({}, b"{}", ""),
    "text/plain": ({"Content-Type": "text/plain"}, b"{}", ""),
    "a form": ({"Content-Type": "application/x-www-form-urlencoded"}, b"a=1", ""),
    "dry_run not a flag": ({"Content-Type": "application/json"}, b"{}", "?dry_run=maybe"),
    "dry_run padded": ({"Content-Type": "application/json"}, b"{}", "?dry_run=%20true%20"),
    "dry_run and the body wrong": ({"Content-Type": "application/json"}, b"[]", "?dry_run=zz"),
}


def _problem(response) -> tuple[int, str, list]:  # noqa: ANN001
    assert response.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE), response.text
    body = response.json()
    return response.status_code, body["code"], body["errors"]


@pytest.mark.parametrize("case", list(MALFORMED), ids=list(MALFORMED))
def test_a_malformed_post_is_refused_as_the_framework_refuses_it(client, admin, case):
    headers, content, query = MALFORMED[case]
    sent = admin | headers | {"Idempotency-Key": f"hot-{case}"}
    hot = client.post(f"/v1/transactions{query}", headers=sent, content=content)
    declared = client.post(f"/v1/batches{query}", headers=sent, content=content)
    assert hot.status_code == 422
    assert _problem(hot) == _problem(declared)


def test_a_dry_run_flag_is_read_as_the_framework_reads_it(client, admin, books):
    document = {
        "date": "2026-01-05",
        "postings": [
            {"book": "440100-finance", "account": "Assets:Bank:Treasury", "amount": "1.00"},
            {"book": "440100-finance", "account": "NetAssets:Appropriations", "amount": "-1.00"},
        ],
    }
    for text, dry in [("YES", True), ("on", True), ("1", True), ("false", False), ("true&dry_run=false", False)]:
        response = client.post(
            f"/v1/transactions?dry_run={text}", headers=admin | {"Idempotency-Key": text}, json=document
        )
        assert response.status_code == (200 if dry else 201), (text, response.text)
        assert response.json().get("dry_run", False) is dry


def test_the_documented_parts_are_what_the_framework_would_write(app):
    """The operation's parameters and body in OpenAPI equal those of the route that declares them."""
    document = app.openapi()
    hot = document["paths"]["/v1/transactions"]["post"]
    declared = document["paths"]["/v1/batches"]["post"]
    assert [p["name"] for p in hot["parameters"]] == [p["name"] for p in declared["parameters"]]
    for mine, theirs in zip(hot["parameters"], declared["parameters"], strict=True):
        assert mine == theirs
    assert hot["requestBody"]["content"]["application/json"]["schema"]["type"] == "object"
    made = openapi_document(body_examples=[], header=("Idempotency-Key", "d"), flag=("dry_run", "d"))
    assert made["requestBody"]["required"] is True
