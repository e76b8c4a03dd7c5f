"""Year-end close of a voucher program (结转 / 收回): what is swept in each book, once; refused while claims are
open; carried over into a later program of the region (its funds and grantable budget); the books still reconcile."""

import json
from datetime import date

import pytest

from jobs.audit import audit_all
from ledger.errors import LedgerError
from tests.vouchers.conftest import SHANGHAI, SUZHOU, balances, build_scheme, program_config
from tests.vouchers.test_vouchers_payments import Q1, _approve, _prepare, _redeem
from vouchers import books, programs
from vouchers.codes import VoucherCode
from vouchers.config import ProgramConfig
from vouchers.settlement import settle
from vouchers.year_end import YearEndCode, close_program, programs_due

WAN = 1_000_000
CLOSE_DAY = date(2026, 12, 31)  # after the conftest programs' redeem-by date (30 September)


def _fen(ledger, book, path):
    return ledger.account(book, path).balance_fen


def _refused(ledger, code, action):
    before = balances(ledger)
    with pytest.raises(LedgerError) as caught:
        action()
    assert caught.value.code == code, caught.value.message
    assert balances(ledger) == before
    return caught.value


def test_recover_returns_the_unspent_budget_in_every_book_once(ledger):
    scheme = build_scheme(ledger, regions=(SHANGHAI, SUZHOU))
    program = scheme.programs[SHANGHAI]
    scheme.grant(SHANGHAI, "10万")
    _redeem(scheme, SHANGHAI, SHANGHAI, "C1", "30000.00")  # local: 15000.00 claimed
    _approve(scheme, _prepare(scheme)["id"])  # paid in Q1's batch
    fin, budget, memo = books.financial_book(SHANGHAI), books.budget_book(SHANGHAI), books.memo_book(SHANGHAI)
    treasury_before = _fen(ledger, fin, books.TREASURY)

    result = close_program(ledger, program, on=CLOSE_DAY)

    # 100万 appropriated, 1.5万 spent: 98.5万 unspent in both bases; the 8.5万 quota left expired back first.
    assert (result.mode, result.carried_to, result.budget_fen, result.grantable_fen) == (
        "recover",
        None,
        985_000 * 100,
        985_000 * 100,
    )
    assert _fen(ledger, budget, books.budget_funds_held(program)) == 0
    assert _fen(ledger, memo, books.program_grantable(program)) == 0
    assert _fen(ledger, memo, books.enterprise_quota(program, scheme.enterprises[SHANGHAI])) == 0
    assert treasury_before - _fen(ledger, fin, books.TREASURY) == 985_000 * 100
    assert (
        _fen(ledger, fin, books.appropriation_revenue(program)) == -15_000 * 100
    )  # what was spent stays revenue (a credit)
    assert audit_all(ledger.engine).clean  # the dual basis and every control still agree

    before = balances(ledger)
    again = close_program(ledger, program, on=date(2027, 1, 5))
    assert again.replayed and (again.budget_fen, again.transaction_id) == (result.budget_fen, result.transaction_id)
    assert balances(ledger) == before
    assert programs_due(ledger, date(2027, 1, 1)) == [scheme.programs[SUZHOU]]


def test_carry_over_moves_the_unspent_budget_into_the_later_programs_funds_and_grantable_budget(ledger):
    build_scheme(ledger, regions=(SHANGHAI,))
    later = "P310000-2027"
    programs.create_program(
        ledger,
        program_config(
            SHANGHAI, later, year=2027, budget="50万", use_by=date(2027, 6, 30), redeem_by=date(2027, 9, 30)
        ),
        actor="budget-clerk",
        approver="bureau-head",
        approval_doc="沪科发〔2027〕1号",
        on=date(2027, 1, 4),
    )
    earlier = "P310000-2026b"
    programs.create_program(
        ledger,
        program_config(SHANGHAI, earlier, budget="20万", year_end="carry_over", carry_over_to=later),
        actor="budget-clerk",
        approver="bureau-head",
        approval_doc="沪科发〔2026〕2号",
        on=date(2026, 1, 5),
    )
    budget, memo = books.budget_book(SHANGHAI), books.memo_book(SHANGHAI)

    result = close_program(ledger, earlier, on=CLOSE_DAY)

    assert (result.mode, result.carried_to, result.budget_fen, result.grantable_fen) == (
        "carry_over",
        later,
        20 * WAN,
        20 * WAN,
    )
    assert _fen(ledger, budget, books.budget_funds_held(earlier)) == 0
    assert _fen(ledger, budget, books.budget_funds_held(later)) == 70 * WAN
    assert _fen(ledger, memo, books.program_grantable(later)) == -70 * WAN  # credit-normal: 70万 grantable
    assert audit_all(ledger.engine).clean


def test_a_program_with_open_claims_is_not_closed_and_nothing_is_written(ledger):
    scheme = build_scheme(ledger, regions=(SHANGHAI, SUZHOU))
    scheme.grant(SHANGHAI, "10万")
    _redeem(scheme, SHANGHAI, SHANGHAI, "C1", "30000.00")  # claimed, never paid
    _redeem(scheme, SHANGHAI, SUZHOU, "C2", "10000.00", mode="tongdui")  # cross-region, never settled
    program = scheme.programs[SHANGHAI]
    error = _refused(
        ledger, YearEndCode.PROGRAM_NOT_READY_TO_CLOSE, lambda: close_program(ledger, program, on=CLOSE_DAY)
    )
    assert "2 claims not yet paid" in error.message and "1 cross-region claims not yet settled" in error.message
    _approve(scheme, _prepare(scheme)["id"])  # the local claim, paid by Shanghai
    _approve(scheme, _prepare(scheme, region=SUZHOU)["id"])  # the 通兑 claim, paid by the provider's region
    error = _refused(
        ledger, YearEndCode.PROGRAM_NOT_READY_TO_CLOSE, lambda: close_program(ledger, program, on=CLOSE_DAY)
    )
    assert "claims not yet paid" not in error.message and "1 cross-region claims not yet settled" in error.message
    settle(ledger, SHANGHAI, SUZHOU, on=date(2026, 4, 10), actor="clerk", approver="director", **Q1)
    assert close_program(ledger, program, on=CLOSE_DAY).budget_fen > 0
    assert audit_all(ledger.engine).clean


def test_a_program_closes_only_after_its_redeem_by_date(ledger):
    scheme = build_scheme(ledger, regions=(SHANGHAI,))
    program = scheme.programs[SHANGHAI]
    _refused(
        ledger,
        YearEndCode.PROGRAM_NOT_READY_TO_CLOSE,
        lambda: close_program(ledger, program, on=date(2026, 9, 30)),
    )
    assert programs_due(ledger, date(2026, 9, 30)) == []
    assert programs_due(ledger, date(2026, 10, 1)) == [program]


def test_a_carry_over_to_a_program_of_another_region_or_year_is_refused(ledger):
    scheme = build_scheme(ledger, regions=(SHANGHAI, SUZHOU))
    for code, target in (("bad-region", scheme.programs[SUZHOU]), ("bad-year", scheme.programs[SHANGHAI])):
        programs.create_program(
            ledger,
            program_config(SHANGHAI, code, budget="1万", year_end="carry_over", carry_over_to=target),
            actor="budget-clerk",
            approver="bureau-head",
            approval_doc="doc",
            on=date(2026, 1, 5),
        )
        _refused(
            ledger,
            YearEndCode.CARRY_OVER_TARGET_INVALID,
            lambda code=code: close_program(ledger, code, on=CLOSE_DAY),
        )


def test_the_year_end_policy_is_validated_and_left_out_of_the_stored_text_at_its_default():
    for overrides in (
        {"year_end": "keep"},
        {"year_end": "carry_over"},  # names no program to carry over to
        {"carry_over_to": "P2027"},  # recovers, yet names one
        {"year_end": "carry_over", "carry_over_to": "P1"},  # itself
    ):
        with pytest.raises(LedgerError) as caught:
            program_config(SHANGHAI, "P1", **overrides)
        assert caught.value.code == VoucherCode.PROGRAM_CONFIG_INVALID
    default = program_config(SHANGHAI, "P1")
    assert "year_end" not in default.to_json() and "carry_over_to" not in default.to_json()
    carried = program_config(SHANGHAI, "P1", year_end="carry_over", carry_over_to="P2")
    assert ProgramConfig.from_dict(json.loads(carried.to_json())) == carried


def test_a_close_that_fails_midway_leaves_no_half_result_and_its_retry_closes_it(ledger, monkeypatch):
    """The sweep is posted and the close recorded in one transaction: a failure after the posting (here, its
    audit event) leaves neither; the quota expiry before it is a unit of its own, complete or absent."""
    import vouchers.year_end

    scheme = build_scheme(ledger, regions=(SHANGHAI,))
    program = scheme.programs[SHANGHAI]
    scheme.grant(SHANGHAI, "10万")

    def fail(*args, **kwargs):
        raise RuntimeError("connection lost")

    monkeypatch.setattr(vouchers.year_end, "record_event", fail)
    with pytest.raises(RuntimeError):
        close_program(ledger, program, on=CLOSE_DAY)
    after_failure = balances(ledger)
    memo = books.memo_book(SHANGHAI)
    assert after_failure[(memo, books.program_grantable(program))] == (10 * WAN, 110 * WAN, 0, 0)  # 10万 back, unswept
    assert programs_due(ledger, date(2027, 1, 1)) == [program]  # not closed
    monkeypatch.undo()
    result = close_program(ledger, program, on=CLOSE_DAY)
    assert (result.replayed, result.budget_fen, result.grantable_fen) == (False, 100 * WAN, 100 * WAN)


def test_the_http_program_body_carries_the_year_end_policy_to_the_configuration():
    from pydantic import ValidationError

    from api.schemas.vouchers import VoucherProgramIn

    body = {
        "code": "sh-2026",
        "name": "上海市2026年科技创新券",
        "region": SHANGHAI,
        "year": 2026,
        "budget": "200000.00",
        "enterprise_annual_cap": "100000.00",
        "per_application": "50000.00",
        "copay_ratio": "50%",
        "categories": ["testing"],
        "use_by": "2026-06-30",
        "redeem_by": "2026-09-30",
    }
    default = ProgramConfig.from_dict(VoucherProgramIn.model_validate(body).config_values())
    assert (default.year_end, default.carry_over_to) == ("recover", None)
    carried = VoucherProgramIn.model_validate(body | {"year_end": "carry_over", "carry_over_to": "sh-2027"})
    config = ProgramConfig.from_dict(carried.config_values())
    assert (config.year_end, config.carry_over_to) == ("carry_over", "sh-2027")
    with pytest.raises(ValidationError):
        VoucherProgramIn.model_validate(body | {"year_end": "keep"})
