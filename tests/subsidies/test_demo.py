from subsidies.audit import flagged_grants
from subsidies.demo import load_demo
from subsidies.service import SubsidyService


def test_demo_loads_twice_with_the_same_result(ledger):
    first = load_demo(ledger)
    second = load_demo(ledger)
    assert first == second
    assert first["programs"] == 7
    rules = sorted(
        (flag["program_code"], flag["rule"], flag["enforcement"]) for flag in flagged_grants(SubsidyService(ledger))
    )
    assert rules == [
        ("gz-contract-registration", "program_budget", "warn"),
        ("gz-income-award-pilot", "institution_year", "clip"),
        ("nansha-revenue-lifetime", "lifetime", "clip"),
    ]
