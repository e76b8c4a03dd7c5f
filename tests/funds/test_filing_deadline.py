"""The filing deadline a page shows is the one the filing rule enforces (funds.pools.filing_deadline)."""

from datetime import date

import pytest

from funds.codes import FundsCode
from funds.config import GUANGZHOU_POOL_POLICY, PolicyValue
from funds.pools import filing_deadline
from ledger.errors import LedgerError
from tests.funds.conftest import BANK_A, FIRM_1
from tests.funds.keys import new_key


@pytest.mark.parametrize(
    ("disbursed_on", "deadline"),
    [
        (date(2026, 2, 10), date(2026, 5, 10)),
        (date(2026, 11, 30), date(2027, 2, 28)),  # three months on, clamped to the month's last day
        (date(2027, 11, 30), date(2028, 2, 29)),  # a leap year's February
    ],
)
def test_the_guangzhou_deadline_is_three_months_after_disbursement(disbursed_on, deadline):
    assert filing_deadline(GUANGZHOU_POOL_POLICY, disbursed_on) == deadline


def test_the_deadline_follows_the_pools_configured_window():
    six_months = GUANGZHOU_POOL_POLICY.model_copy(
        update={"filing_window_months": PolicyValue(value="6", source="a pool configured with six months")}
    )
    assert filing_deadline(six_months, date(2026, 8, 31)) == date(2027, 2, 28)


def test_a_loan_filed_on_the_deadline_is_accepted_and_a_day_later_refused(pools):
    disbursed = date(2026, 3, 31)
    deadline = filing_deadline(GUANGZHOU_POOL_POLICY, disbursed)
    late = date.fromordinal(deadline.toordinal() + 1)
    with pytest.raises(LedgerError) as caught:
        pools.file_loan("gz", BANK_A, FIRM_1, "L-late", "100万", disbursed, 12, late, actor="b", client_id=new_key())
    assert caught.value.code == FundsCode.LOAN_FILING_WINDOW_PASSED and caught.value.detail["deadline"] == deadline
    on_the_deadline = pools.file_loan(
        "gz", BANK_A, FIRM_1, "L-ok", "100万", disbursed, 12, deadline, actor="b", client_id=new_key()
    )
    assert on_the_deadline
