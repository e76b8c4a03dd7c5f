"""Property tests: an enterprise's quota is conserved (and paid never exceeds used); settlements conserve every
region's totals."""

import itertools
from datetime import date

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.errors import LedgerError
from tests.vouchers.conftest import HANGZHOU, SHANGHAI, SUZHOU, build_scheme, credit_code
from vouchers import books, programs
from vouchers.expiry import run_expiry
from vouchers.payments import approve_batch, prepare_batch
from vouchers.redemptions import cancel, claim, reserve
from vouchers.settlement import settle, statement
from vouchers.views import enterprise_positions

PROPERTY_SETTINGS = settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
REGIONS = (SHANGHAI, SUZHOU, HANGZHOU)
fen_amounts = st.integers(min_value=1, max_value=8_000_000)
APPROPRIATION_FEN = 10_000_000_000  # the 1亿 program budget, all in Shanghai's treasury
opening_fen = st.integers(min_value=2, max_value=8_000_000)  # half of it rounds down to at least 1 fen
operations = st.lists(
    st.one_of(
        st.tuples(st.just("grant"), st.integers(min_value=1, max_value=6_000_000)),
        st.tuples(st.just("reserve"), fen_amounts),
        st.tuples(st.just("claim"), st.integers(min_value=0, max_value=9), fen_amounts),
        st.tuples(st.just("cancel"), st.integers(min_value=0, max_value=9)),
        st.tuples(st.just("expire"), st.booleans()),
        st.tuples(st.just("pay"), st.booleans()),
    ),
    min_size=1,
    max_size=12,
)


def yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def test_used_reserved_available_and_expired_always_sum_to_granted_and_paid_stays_within_used(ledger):
    scheme = build_scheme(ledger, budget="1亿", enterprise_annual_cap="20万")
    counter = itertools.count(1000)
    enterprises = []

    def check_identity(enterprise):
        for position in enterprise_positions(ledger, enterprise):
            assert position.available_fen >= 0 and position.reserved_fen >= 0
            assert (
                position.used_fen + position.reserved_fen + position.available_fen + position.expired_fen
                == position.granted_fen
            )
            assert position.granted_fen <= 20_000_000
            assert 0 <= position.paid_fen <= position.used_fen

    def pay(label, approve):
        batch = prepare_batch(
            ledger,
            SHANGHAI,
            period_label=label,
            period_start=date(2026, 1, 1),
            period_end=date(2026, 12, 31),
            maker="payout-clerk",
            on=date(2026, 4, 1),
        )
        if approve:  # some batches stay prepared: their claims are used, in a batch, not yet paid
            approve_batch(ledger, batch["id"], checker="director", approval_doc="d", on=date(2026, 4, 2))

    @PROPERTY_SETTINGS
    @given(opening_fen, opening_fen, operations)
    def run(opening_contract_fen, opening_invoice_fen, steps):
        serial = next(counter)
        enterprise = ledger.register_institution(
            credit_code(serial), f"企业{serial}", "enterprise", region_code=SHANGHAI
        )
        programs.register_enterprise(
            ledger, enterprise, registration_no=f"P-{serial}", valid_from=date(2025, 1, 1), valid_until=date(2027, 1, 1)
        )
        enterprises.append(enterprise)
        # An opening quota, reservation and claim, so that every example has something to pay out.
        scheme.grant(SHANGHAI, "5万", enterprise)
        program = scheme.programs[SHANGHAI]
        redemptions = [
            reserve(
                ledger,
                program,
                enterprise=enterprise,
                provider=scheme.providers[SHANGHAI],
                category="testing",
                contract_no=f"PC-{serial}-opening",
                contract_amount=yuan(opening_contract_fen),
                on=date(2026, 2, 1),
                actor="u",
            )["id"]
        ]
        claim(
            ledger,
            redemptions[0],
            invoice_no=f"PI-{serial}-opening",
            invoiced_amount=yuan(opening_invoice_fen),
            on=date(2026, 3, 1),
            actor="p",
            verifier="o",
        )
        for number, step in enumerate(steps):
            try:
                if step[0] == "grant":
                    scheme.grant(SHANGHAI, yuan(step[1]), enterprise)
                elif step[0] == "reserve":
                    redemptions.append(
                        reserve(
                            ledger,
                            program,
                            enterprise=enterprise,
                            provider=scheme.providers[SHANGHAI],
                            category="testing",
                            contract_no=f"PC-{serial}-{number}",
                            contract_amount=yuan(step[1]),
                            on=date(2026, 2, 1),
                            actor="u",
                        )["id"]
                    )
                elif step[0] == "claim" and redemptions:
                    claim(
                        ledger,
                        redemptions[step[1] % len(redemptions)],
                        invoice_no=f"PI-{serial}-{number}",
                        invoiced_amount=yuan(step[2]),
                        on=date(2026, 3, 1),
                        actor="p",
                        verifier="o",
                    )
                elif step[0] == "cancel" and redemptions:
                    cancel(ledger, redemptions[step[1] % len(redemptions)], actor="u", reason="r", on=date(2026, 3, 2))
                elif step[0] == "expire":
                    run_expiry(ledger, program, as_of=date(2026, 10, 1) if step[1] else date(2026, 7, 1))
                elif step[0] == "pay":
                    pay(f"B{serial}-{number}", approve=step[1])
            except LedgerError:
                pass  # refusals are fine; the identity must hold either way
            check_identity(enterprise)
        try:
            pay(f"B{serial}-final", approve=True)  # so that most examples end with claims paid
        except LedgerError:
            pass  # nothing claimed and unpaid
        for earlier in enterprises:  # a batch also pays earlier examples' claims
            check_identity(earlier)
        # the ledger's treasury and budget execution agree with the paid claims, read from the batches
        paid_fen = sum(p.paid_fen for earlier in enterprises for p in enterprise_positions(ledger, earlier))
        treasury = ledger.account(books.financial_book(SHANGHAI), books.TREASURY)
        assert treasury.balance_fen == APPROPRIATION_FEN - paid_fen
        if paid_fen:
            expenditure = ledger.account(books.budget_book(SHANGHAI), books.budget_voucher_expenditure(program))
            assert expenditure.balance_fen == paid_fen

    run()


redemption_plans = st.lists(
    st.tuples(
        st.sampled_from(list(itertools.permutations(REGIONS, 2))),
        st.sampled_from(["tongdui", "tongyong"]),
        st.integers(min_value=1, max_value=4_000_000),
    ),
    min_size=1,
    max_size=6,
)


def test_settlements_conserve_every_regions_totals(ledger):
    scheme = build_scheme(ledger, budget="1亿", enterprise_annual_cap="1亿", per_application="1亿")
    for region in REGIONS:
        scheme.grant(region, "1亿")
    counter = itertools.count(1)

    def fin_balance(region, path):
        try:
            return ledger.account(books.financial_book(region), path).balance_fen
        except LedgerError:
            return 0

    @PROPERTY_SETTINGS
    @given(redemption_plans)
    def run(plans):
        batch = next(counter)
        treasury_before = {region: fin_balance(region, books.TREASURY) for region in REGIONS}
        for number, ((home, away), mode, amount_fen) in enumerate(plans):
            redemption = reserve(
                ledger,
                scheme.programs[home],
                enterprise=scheme.enterprises[home],
                provider=scheme.providers[away],
                category="testing",
                contract_no=f"S-{batch}-{number}",
                contract_amount=yuan(amount_fen * 2),
                on=date(2026, 2, 1),
                actor="u",
                mode=mode,
            )
            claimed = claim(
                ledger,
                redemption["id"],
                invoice_no=f"SI-{batch}-{number}",
                invoiced_amount=yuan(amount_fen * 2),
                on=date(2026, 3, 1),
                actor="p",
                verifier="o",
            )
            assert claimed["enterprise_share_fen"] + claimed["provider_share_fen"] == claimed["claimed_fen"]
        for low, high in itertools.combinations(REGIONS, 2):
            settlement = settle(
                ledger,
                low,
                high,
                period_label=f"B{batch}",
                period_start=date(2026, 1, 1),
                period_end=date(2026, 12, 31),
                on=date(2026, 4, 1),
                actor="clerk",
                approver="director",
            )
            if settlement is None:
                continue
            one, other = statement(ledger, settlement["id"], low), statement(ledger, settlement["id"], high)
            assert (one.payable_fen, one.receivable_fen) == (other.receivable_fen, other.payable_fen)
            assert one.cash_paid_fen == -other.cash_paid_fen == one.net_payable_fen
            assert one.unsettled_fen == other.unsettled_fen == 0
        # every inter-region account is square after settling all pairs; money only moved between treasuries
        for region, other in itertools.permutations(REGIONS, 2):
            assert fin_balance(region, books.payable_to_region(other)) == 0
            assert fin_balance(region, books.receivable_from_region(other)) == 0
        assert sum(fin_balance(region, books.TREASURY) - treasury_before[region] for region in REGIONS) == 0

    run()
