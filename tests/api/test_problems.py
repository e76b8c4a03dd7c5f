"""Bad input is never a 500; a 5xx never shows internals."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.problems import PROBLEM_MEDIA_TYPE

from .conftest import GZ_BOOK

# Bounded so the pass stays within seconds per backend.
FUZZ_EXAMPLES = 60
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
posting = st.fixed_dictionaries(
    {"book": st.sampled_from([GZ_BOOK, "nope", ""]), "account": st.sampled_from(["Assets:Bank:Treasury", "X"])},
    optional={"amount": json_values | st.sampled_from(["1.00", "-1.00", "1e5", "0", "99999999999999999999"])},
)
transaction_like = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["transaction", "post_pending", "void_pending", "reversal", "other"]),
        "date": st.sampled_from(["2026-01-05", "2026-13-01", "", 5]) | json_values,
        "postings": st.lists(posting, max_size=3) | json_values,
        "pending": json_values,
        "target": json_values,
        "expires_at": json_values,
        "program_year": json_values,
        "memo": json_values,
    },
)


def test_malformed_json_is_a_422_problem(client, admin):
    response = client.post(
        "/v1/transactions",
        headers=admin | {"Idempotency-Key": "k", "Content-Type": "application/json"},
        content=b"{not json",
    )
    assert response.status_code == 422
    assert response.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)
    body = response.json()
    assert {"type", "title", "status", "detail", "code", "errors"} <= set(body)


def test_a_body_that_is_not_text_is_a_422_problem(client, admin):
    """Bytes that are not UTF-8 fail before JSON parsing (the framework says 400); malformed input is 422."""
    response = client.post(
        "/v1/books",
        headers=admin | {"Content-Type": "application/json"},
        content=b"\xffK\xc5\xbam\xe9",
    )
    assert response.status_code == 422 and response.json()["code"] == "request_invalid"
    assert response.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)


def test_unknown_path_is_a_404_problem(client, admin):
    response = client.get("/v1/nothing-here", headers=admin)
    assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_an_unexpected_error_does_not_leak(app, admin, monkeypatch):
    def explode(*_args, **_kwargs):
        raise RuntimeError("password=hunter2 at /srv/secret.py line 3")

    monkeypatch.setattr(app.state.ledger, "books", explode)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/v1/books", headers=admin)
    assert response.status_code == 500 and response.json()["code"] == "internal_error"
    assert "hunter2" not in response.text and "secret.py" not in response.text


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(document=transaction_like | json_values)
def test_no_body_makes_a_500(client, admin, books, document):
    body = json.dumps(document).encode()
    headers = admin | {"Idempotency-Key": "fuzz", "Content-Type": "application/json"}
    for url in ("/v1/transactions?dry_run=true", "/v1/batches?dry_run=true", "/v1/books"):
        response = client.post(url, headers=headers, content=body)
        assert response.status_code < 500, (url, document, response.text)
    wrapped = json.dumps({"requests": [document]}).encode()
    assert client.post("/v1/batches?dry_run=true", headers=headers, content=wrapped).status_code < 500
