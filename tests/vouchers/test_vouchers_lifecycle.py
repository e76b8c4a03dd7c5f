from datetime import date

from tests.vouchers.conftest import HANGZHOU, SHANGHAI, START, SUZHOU, build_scheme
from vouchers import books
from vouchers.expiry import run_expiry
from vouchers.redemptions import cancel, claim, reserve
from vouchers.views import enterprise_positions, redemption_history


def test_local_redemption_reserves_claims_and_books_expense_and_payable(scheme):
    ledger = scheme.ledger
    scheme.grant(SHANGHAI, "10万")
    enterprise, provider, program = scheme.enterprises[SHANGHAI], scheme.providers[SHANGHAI], scheme.programs[SHANGHAI]
    redemption = reserve(
        ledger,
        program,
        enterprise=enterprise,
        provider=provider,
        category="testing",
        contract_no="2026310000000001",
        contract_amount="60000.00",
        on=date(2026, 2, 1),
        actor="enterprise-user",
    )
    assert redemption["reserved_fen"] == 3_000_000  # 50% of 6万
    quota = ledger.account(books.memo_book(SHANGHAI), books.enterprise_quota(program, enterprise))
    assert quota.debits_pending == 3_000_000
    claimed = claim(
        ledger,
        redemption["id"],
        invoice_no="INV-0001",
        invoiced_amount="50000.01",
        on=date(2026, 3, 1),
        actor="provider-user",
        verifier="sh-officer",
    )
    assert claimed["claimed_fen"] == 2_500_000  # 50% of 50000.01 rounded down
    fin = books.financial_book(SHANGHAI)
    assert ledger.account(fin, books.voucher_expense(program)).balance_fen == 2_500_000
    assert ledger.account(fin, books.payable_to(provider)).balance_fen == -2_500_000
    [position] = enterprise_positions(ledger, enterprise)
    assert (position.granted_fen, position.used_fen, position.reserved_fen, position.available_fen) == (
        10_000_000,
        2_500_000,
        0,
        7_500_000,
    )
    assert redemption_history(ledger, enterprise)[0]["status"] == "claimed"


def test_reservation_under_clip_is_capped_by_the_per_application_amount(ledger):
    scheme = build_scheme(ledger, regions=(SHANGHAI,), cap_enforcement="clip")
    scheme.grant(SHANGHAI, "10万")
    redemption = reserve(
        scheme.ledger,
        scheme.programs[SHANGHAI],
        enterprise=scheme.enterprises[SHANGHAI],
        provider=scheme.providers[SHANGHAI],
        category="testing",
        contract_no="C-PER-APP",
        contract_amount="30万",
        on=date(2026, 2, 1),
        actor="u",
    )
    assert redemption["reserved_fen"] == 5_000_000  # per application 5万 < 50% of 30万


def test_reservation_takes_only_the_available_quota(scheme):
    scheme.grant(SHANGHAI, "2万")
    redemption = reserve(
        scheme.ledger,
        scheme.programs[SHANGHAI],
        enterprise=scheme.enterprises[SHANGHAI],
        provider=scheme.providers[SHANGHAI],
        category="testing",
        contract_no="C-AVAIL",
        contract_amount="10万",
        on=date(2026, 2, 1),
        actor="u",
    )
    assert redemption["reserved_fen"] == 2_000_000


def test_cancelled_contract_voids_the_reservation(scheme):
    ledger = scheme.ledger
    scheme.grant(SHANGHAI, "10万")
    redemption = reserve(
        ledger,
        scheme.programs[SHANGHAI],
        enterprise=scheme.enterprises[SHANGHAI],
        provider=scheme.providers[SHANGHAI],
        category="testing",
        contract_no="C-CANCEL",
        contract_amount="2万",
        on=date(2026, 2, 1),
        actor="u",
    )
    cancelled = cancel(ledger, redemption["id"], actor="u", reason="contract cancelled", on=date(2026, 2, 2))
    assert cancelled["status"] == "cancelled"
    [position] = enterprise_positions(ledger, scheme.enterprises[SHANGHAI])
    assert (position.reserved_fen, position.available_fen) == (0, 10_000_000)


def test_expiry_voids_late_reservations_returns_quota_and_is_idempotent(scheme):
    ledger = scheme.ledger
    program, enterprise = scheme.programs[SHANGHAI], scheme.enterprises[SHANGHAI]
    scheme.grant(SHANGHAI, "10万")
    reserve(
        ledger,
        program,
        enterprise=enterprise,
        provider=scheme.providers[SHANGHAI],
        category="testing",
        contract_no="C-LATE",
        contract_amount="2万",
        on=date(2026, 6, 1),
        actor="u",
    )
    grantable = books.program_grantable(program)
    before = ledger.account(books.memo_book(SHANGHAI), grantable).balance_fen
    first = run_expiry(ledger, program, as_of=date(2026, 10, 1))
    assert (first.reservations_voided, first.returned_fen) == (1, 10_000_000)
    after_first = ledger.account(books.memo_book(SHANGHAI), grantable).balance_fen
    assert after_first - before == -10_000_000  # credit-normal: 10万 more room in the budget
    second = run_expiry(ledger, program, as_of=date(2026, 10, 2))
    assert (second.reservations_voided, second.returned_fen) == (0, 0)
    assert ledger.account(books.memo_book(SHANGHAI), grantable).balance_fen == after_first
    [position] = enterprise_positions(ledger, enterprise)
    assert (position.expired_fen, position.available_fen, position.reserved_fen) == (10_000_000, 0, 0)


def test_expiry_after_use_by_keeps_reservations_until_redeem_by(scheme):
    ledger = scheme.ledger
    program, enterprise = scheme.programs[SHANGHAI], scheme.enterprises[SHANGHAI]
    scheme.grant(SHANGHAI, "10万")
    reserve(
        ledger,
        program,
        enterprise=enterprise,
        provider=scheme.providers[SHANGHAI],
        category="testing",
        contract_no="C-KEEP",
        contract_amount="2万",
        on=date(2026, 6, 1),
        actor="u",
    )
    result = run_expiry(ledger, program, as_of=date(2026, 7, 1))
    assert (result.reservations_voided, result.returned_fen) == (0, 9_000_000)
    [position] = enterprise_positions(ledger, enterprise)
    assert (position.reserved_fen, position.expired_fen) == (1_000_000, 9_000_000)


def _cross(scheme, mode, contract_no, home=SHANGHAI, away=SUZHOU, amount="30001.00"):
    scheme.grant(home, "10万")
    redemption = reserve(
        scheme.ledger,
        scheme.programs[home],
        enterprise=scheme.enterprises[home],
        provider=scheme.providers[away],
        category="testing",
        contract_no=contract_no,
        contract_amount=amount,
        on=date(2026, 2, 1),
        actor="u",
        mode=mode,
    )
    return claim(
        scheme.ledger,
        redemption["id"],
        invoice_no=f"INV-{contract_no}",
        invoiced_amount=amount,
        on=date(2026, 3, 1),
        actor="provider",
        verifier="officer",
    )


def test_tongdui_posts_inter_region_payable_and_receivable_split_two_thirds(scheme):
    ledger = scheme.ledger
    redemption = _cross(scheme, "tongdui", "C-TD")
    assert redemption["mode"] == "tongdui"
    claim_fen = redemption["claimed_fen"]
    assert claim_fen == 1_500_050
    # 2/3 of 1 500 050 = 1 000 033.33 -> 1 000 033; 1/3 = 500 016.67 -> 500 017 (largest remainder)
    assert (redemption["enterprise_share_fen"], redemption["provider_share_fen"]) == (1_000_033, 500_017)
    sh, sz = books.financial_book(SHANGHAI), books.financial_book(SUZHOU)
    assert ledger.account(sh, books.payable_to_region(SUZHOU)).balance_fen == -1_000_033
    assert ledger.account(sz, books.receivable_from_region(SHANGHAI)).balance_fen == 1_000_033
    assert ledger.account(sz, books.payable_to(scheme.providers[SUZHOU])).balance_fen == -claim_fen
    assert ledger.account(sz, books.inter_region_expense(SHANGHAI)).balance_fen == 500_017


def test_tongyong_reimburses_the_enterprise_and_bills_the_provider_region(scheme):
    ledger = scheme.ledger
    redemption = _cross(scheme, "tongyong", "C-TY", home=HANGZHOU, away=SHANGHAI, amount="9000.00")
    hz, sh = books.financial_book(HANGZHOU), books.financial_book(SHANGHAI)
    assert redemption["claimed_fen"] == 450_000
    assert ledger.account(hz, books.payable_to(scheme.enterprises[HANGZHOU])).balance_fen == -450_000
    assert ledger.account(hz, books.receivable_from_region(SHANGHAI)).balance_fen == 150_000
    assert ledger.account(sh, books.payable_to_region(HANGZHOU)).balance_fen == -150_000
    assert ledger.account(hz, books.voucher_expense(scheme.programs[HANGZHOU])).balance_fen == 300_000


def test_provider_in_the_same_city_is_local_whatever_mode_is_asked(scheme):
    scheme.grant(SHANGHAI, "1万")
    redemption = reserve(
        scheme.ledger,
        scheme.programs[SHANGHAI],
        enterprise=scheme.enterprises[SHANGHAI],
        provider=scheme.providers[SHANGHAI],
        category="testing",
        contract_no="C-LOCAL",
        contract_amount="1000",
        on=START,
        actor="u",
        mode="tongyong",
    )
    assert (redemption["mode"], redemption["provider_region"]) == ("local", SHANGHAI)
