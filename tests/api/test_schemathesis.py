"""schemathesis over the whole OpenAPI document, on the demo world: whatever a client sends that the schema
allows (and much that it does not), the API never answers 500, and every response it gives matches the
schema it publishes (status codes, content types, bodies, problem+json).

Bounded for the suite (``EXAMPLES_PER_OPERATION``); ``FUNDLEDGER_DEEP=1`` runs ``DEEP_EXAMPLES_PER_OPERATION``.
"""

from __future__ import annotations

import importlib
import os

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks

from api.bootstrap import DOMAIN_PACKAGES
from ledger.engine import Ledger
from ledger.sample import load_core_demo

# What the API promises of every answer. Left out on purpose: positive_data_acceptance (most refusals are
# rules no JSON Schema can state: a 0 amount, an unknown book, a cursor this server did not make) and
# ignored_auth (the rate limiter answers 429 to its repeated bad credentials; the role sweep covers auth).
CONTRACT_CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
    checks.negative_data_rejection,
]
DEEP = os.environ.get("FUNDLEDGER_DEEP") == "1"
EXAMPLES_PER_OPERATION = 3
DEEP_EXAMPLES_PER_OPERATION = 60


def _load_demo_world(ledger: Ledger) -> None:
    load_core_demo(ledger)
    for package in DOMAIN_PACKAGES:
        importlib.import_module(f"{package}.demo").load_demo(ledger)


def test_no_server_error_and_every_response_matches_the_schema(app, engine, admin):
    _load_demo_world(Ledger(engine))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: dict[str, str] = {}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 20, "the schema lost its operations"

    for operation in operations:
        # As admin, so the checks reach the handlers rather than stopping at the role dependency (the role
        # sweep covers who may call what).
        @given(case=operation.as_strategy())
        @settings(
            max_examples=DEEP_EXAMPLES_PER_OPERATION if DEEP else EXAMPLES_PER_OPERATION,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=not DEEP,
            database=None,
        )
        def call(case):
            case.call_and_validate(headers=admin, checks=CONTRACT_CHECKS)

        try:
            call()
        except (Exception, BaseExceptionGroup) as error:  # noqa: BLE001 - collected, then reported together
            failures[operation.label] = f"{type(error).__name__}: {str(error)[:2000]}"
    assert not failures, "\n\n".join(f"{label}\n{detail}" for label, detail in failures.items())
