"""schemathesis, stateful (issue 12): sequences of calls chained through the document's OpenAPI links (a list
to its first item, a created object to reading and deciding it), on the demo world as admin. Whatever the
sequence, the API never answers 500 and every answer matches the schema it publishes.

Bounded for the suite (``SCENARIOS`` of at most ``STEPS_PER_SCENARIO`` calls each, derandomized);
``FUNDLEDGER_DEEP=1`` runs ``DEEP_SCENARIOS``."""

from __future__ import annotations

import os

import schemathesis
from hypothesis import HealthCheck, Phase, settings

from ledger.engine import Ledger

from .test_schemathesis import CONTRACT_CHECKS, _load_demo_world

DEEP = os.environ.get("FUNDLEDGER_DEEP") == "1"
SCENARIOS = 25
STEPS_PER_SCENARIO = 6
DEEP_SCENARIOS = 300


def test_chained_calls_never_fail_and_every_answer_matches_the_schema(app, engine, admin):
    _load_demo_world(Ledger(engine))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    calls: list[tuple[str, int]] = []
    failures: list[str] = []

    class Chains(schema.as_state_machine()):
        def before_call(self, case):  # noqa: ANN001, ANN202
            # As admin, so the chains reach the handlers (the role sweep covers who may call what); the
            # generated Authorization would win over a header passed to the call.
            case.headers = {**(case.headers or {}), **admin}

        def after_call(self, response, case):  # noqa: ANN001, ANN202
            calls.append((f"{case.method} {case.path}", response.status_code))

        def validate_response(self, response, case, additional_checks=None, **kwargs):  # noqa: ANN001, ANN202
            # Collected, not raised: a raise makes hypothesis replay the scenario, and a replay over the same
            # database meets other rows (it would report a flaky strategy instead of the failure).
            try:
                case.validate_response(response, checks=CONTRACT_CHECKS, headers=admin)
            except (Exception, BaseExceptionGroup) as error:  # noqa: BLE001 - reported together below
                failures.append(f"{case.method} {case.formatted_path}: {str(error)[:1500]}")

    Chains.run(
        settings=settings(
            max_examples=DEEP_SCENARIOS if DEEP else SCENARIOS,
            stateful_step_count=STEPS_PER_SCENARIO,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=not DEEP,
            database=None,
            phases=(Phase.explicit, Phase.generate),  # no shrinking: the database is not rewound between runs
        )
    )
    assert not failures, "\n\n".join(failures[:5])
    # The run chained calls: some call's path parameters came from an earlier answer and were found.
    found = [(call, status) for call, status in calls if "{" in call and status == 200]
    assert found, calls
