"""Two approvals racing for the last room under a cap never both succeed (PostgreSQL, separate processes)."""

import multiprocessing

import pytest

from ledger.db import make_engine
from ledger.engine import Ledger
from ledger.errors import LedgerError
from ledger.numbers import parse_amount_fen
from subsidies.audit import institution_year_report, program_report
from subsidies.codes import SubsidyCode
from subsidies.service import SubsidyService
from tests.subsidies.conftest import CHECKER, MAKER, cap, credit_code, install, program_text

WORKER_TIMEOUT_S = 60


def _approve_in_own_process(url: str, application_id: int, barrier, results) -> None:
    engine = make_engine(url)
    service = SubsidyService(Ledger(engine))
    barrier.wait(timeout=WORKER_TIMEOUT_S)
    try:
        outcome = service.approve(application_id, approver=CHECKER)
        results.put((application_id, "ok", outcome.granted_fen))
    except LedgerError as error:
        results.put((application_id, str(error.code), 0))
    finally:
        engine.dispose()


def _race(url: str, application_ids: list[int]) -> list[tuple[int, str, int]]:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(len(application_ids))
    results = context.Queue()
    workers = [
        context.Process(target=_approve_in_own_process, args=(url, app_id, barrier, results))
        for app_id in application_ids
    ]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=WORKER_TIMEOUT_S) for _ in workers]
    for worker in workers:
        worker.join(timeout=WORKER_TIMEOUT_S)
        assert worker.exitcode == 0
    return sorted(outcomes)


def _setup(postgres_engine, text: str, institutions: int):
    ledger = Ledger(postgres_engine)
    ledger.register_region("440100", "广州市")
    codes = [ledger.register_institution(credit_code(n), f"Institution {n}", "university") for n in range(institutions)]
    service = SubsidyService(ledger)
    return service, install(service, text), codes


def _apply(service, program, institution, claim, client_id):
    return service.submit_application(
        program.code, institution, 2019, {"claim": claim}, actor=MAKER, client_id=client_id
    )


@pytest.mark.slow
def test_two_approvals_for_the_last_institution_room_never_both_succeed(postgres_engine, postgres_url):
    service, program, (institution,) = _setup(
        postgres_engine, program_text(caps=cap("institution_year", "100万", "stop")), 1
    )
    applications = [_apply(service, program, institution, "60万", f"race-{n}") for n in range(2)]
    outcomes = _race(postgres_url, applications)
    assert sorted(code for _id, code, _fen in outcomes) == ["institution_year_total_must_not_exceed_cap", "ok"]
    assert institution_year_report(service, program.code)[0]["granted_fen"] == parse_amount_fen("60万")


@pytest.mark.slow
def test_two_clipped_approvals_share_the_room_exactly(postgres_engine, postgres_url):
    service, program, (institution,) = _setup(
        postgres_engine, program_text(caps=cap("institution_year", "100万", "clip")), 1
    )
    applications = [_apply(service, program, institution, "60万", f"clip-{n}") for n in range(2)]
    outcomes = _race(postgres_url, applications)
    assert sorted(fen for _id, _code, fen in outcomes) == [parse_amount_fen("40万"), parse_amount_fen("60万")]


@pytest.mark.slow
def test_approvals_for_different_institutions_race_for_the_last_budget(postgres_engine, postgres_url):
    service, program, institutions = _setup(postgres_engine, program_text(budget='"100万"'), 3)
    applications = [_apply(service, program, code, "40万", f"budget-{code}") for code in institutions]
    outcomes = _race(postgres_url, applications)
    codes = sorted(code for _id, code, _fen in outcomes)
    assert codes == [SubsidyCode.GRANTS_MUST_NOT_EXCEED_PROGRAM_BUDGET.value, "ok", "ok"]
    assert program_report(service, program.code)[0]["available_fen"] == parse_amount_fen("20万")
