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


def _linked_operations(document: dict) -> set[tuple[str, str]]:
    linked = set()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for response in operation.get("responses", {}).values():
                for link in response.get("links", {}).values():
                    linked.add((method, path))
                    _, _, target_path, target_method = link["operationRef"].split("/")
                    linked.add((target_method, target_path.replace("~1", "/").replace("~0", "~")))
    return linked


def test_chained_calls_never_fail_and_every_answer_matches_the_schema(app, engine, admin):
    _load_demo_world(Ledger(engine))
    # The operations a link leaves from or leads to: the others start no chain and end none (a report, a
    # token), and each one drawn instead is a step no chain takes (the stateless run covers them).
    linked = _linked_operations(app.openapi())
    schema = schemathesis.openapi.from_asgi("/openapi.json", app).include(
        lambda ctx: (ctx.operation.method.lower(), ctx.operation.path) in linked
    )
    chained: list[tuple[str, int]] = []  # calls whose parameters a link took from an earlier answer
    failures: list[str] = []

    class Chains(schema.as_state_machine()):
        def before_call(self, case):  # noqa: ANN001, ANN202
            # As admin, so the chains reach the handlers (the role sweep covers who may call what); the
            # generated Authorization would win over a header passed to the call.
            case.headers = {**(case.headers or {}), **admin}

        def step(self, input):  # noqa: A002, ANN001, ANN202 - the state machine's own name
            output = super().step(input)
            if input.transition is not None and input.applied_parameters:
                chained.append((f"{input.case.method} {input.case.path}", output.response.status_code))
            return output

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
    # The run chained calls: a link took a call's parameters from an earlier answer, and what it named exists.
    assert any(status == 200 for _call, status in chained), chained
