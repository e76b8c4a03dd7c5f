"""Issue 11, defect 4, audited over EVERY money-moving call of funds/: a retry with the same key returns the
same result and changes nothing (neither domain rows nor the journal); the same key with other content is
refused (exists_with_different_content) and changes nothing either. Approvals and accruals are keyed on their
own object: the same approver repeating one changes nothing; another person is told it is already decided."""

from datetime import date

import pytest
from sqlalchemy import func, select, text

from funds.codes import FundsCode
from funds.guidance import GuidanceFunds
from funds.models import SQLModel
from funds.pools import RiskPools
from ledger.engine import T_TRANSACTIONS
from ledger.errors import LedgerError, ResultCode
from tests.funds.conftest import BANK_A, CITY, FIRM_2
from tests.funds.test_funds_controls import GF, realistic_scenario

FUNDS_TABLES = sorted(name for name in SQLModel.metadata.tables if name.startswith("funds_"))
D = date(2028, 3, 1)


def state(ledger) -> tuple:
    accounts = {(a.book, a.path): (a.debits_posted, a.credits_posted, a.credits_pending) for a in ledger.accounts()}
    with ledger.engine.connect() as c:
        journal = c.execute(select(func.count()).select_from(T_TRANSACTIONS)).scalar()
        tables = {name: c.execute(text(f"SELECT * FROM {name} ORDER BY id")).all() for name in FUNDS_TABLES}
    return accounts, journal, tables


def _ids(ledger, sql: str) -> int:
    with ledger.engine.connect() as c:
        return c.execute(text(sql)).scalar()


# Each case: name -> function(funds, pools, ledger, amount) returning a call with a fixed key whose content
# depends on ``amount`` (the retry repeats the amount; the conflicting call changes it).
def _appropriate(funds, pools, ledger, amount):
    return lambda: funds.appropriate(GF, amount, D, actor="budget", approver="director", client_id="K")


def _remit(funds, pools, ledger, amount):
    return lambda: funds.remit_to_treasury(GF, amount, D, actor="budget", approver="director", client_id="K")


def _commitment(funds, pools, ledger, amount):
    return lambda: funds.record_commitment("sf1", "LP-C", amount, D, actor="gp", client_id="K")


def _call(funds, pools, ledger, amount):
    ratio = "10%" if amount == "1万" else "15%"
    return lambda: funds.record_call("sf1", ratio, D, D, actor="gp", client_id="K")


def _pay_call(funds, pools, ledger, amount):
    call_id = funds.record_call("sf1", "10%", D, D, actor="gp", client_id="second-call")
    funds.approve_call(call_id, approver="reviewer")
    return lambda: funds.pay_call(call_id, "LP-B", amount, D, actor="gp", client_id="K")


def _invest(funds, pools, ledger, amount):
    return lambda: funds.invest(
        "sf1", "ENT-9", amount, D, stage="seed", is_local=True, sector="ai", hard_tech=True, actor="gp", client_id="K"
    )


def _exit(funds, pools, ledger, amount):
    investment = _ids(ledger, "SELECT MIN(id) FROM funds_investments")
    return lambda: funds.exit_investment(investment, amount, "2万", D, actor="gp", client_id="K")


def _distribution(funds, pools, ledger, amount):
    return lambda: funds.record_distribution("sf1", D, amount, "0", recallable=False, actor="gp", client_id="K")


def _contribute(funds, pools, ledger, amount):
    return lambda: pools.contribute("gz", CITY, amount, D, actor="clerk", approver="chief", client_id="K")


def _file_loan(funds, pools, ledger, amount):
    return lambda: pools.file_loan(
        "gz", BANK_A, FIRM_2, "L-9", amount, date(2027, 2, 1), 12, date(2027, 2, 2), actor="banker", client_id="K"
    )


def _submit_claim(funds, pools, ledger, amount):
    loan = pools.file_loan(
        "gz", BANK_A, FIRM_2, "L-9", "100万", date(2027, 2, 1), 12, date(2027, 2, 2), actor="banker", client_id="l9"
    )  # a replay after the first case: the same loan
    if _ids(ledger, f"SELECT status FROM funds_loans WHERE id = {loan}") == "performing":
        pools.set_loan_status(loan, "overdue", actor="banker")
        pools.set_loan_status(loan, "defaulted", actor="banker")
    return lambda: pools.submit_claim(loan, amount, D, actor="banker", client_id="K")


def _settle(funds, pools, ledger, amount):
    paid_on = D if amount == "1万" else date(2028, 3, 2)
    return lambda: pools.settle_outstanding("gz", paid_on, actor="clerk", approver="auditor", client_id="K")


def _recovery(funds, pools, ledger, amount):
    return lambda: pools.record_recovery(1, amount, "0", D, actor="banker", client_id="K")


KEYED_CALLS = {
    "appropriate": _appropriate,
    "remit_to_treasury": _remit,
    "record_commitment": _commitment,
    "record_call": _call,
    "pay_call": _pay_call,
    "invest": _invest,
    "exit_investment": _exit,
    "record_distribution": _distribution,
    "contribute": _contribute,
    "file_loan": _file_loan,
    "submit_claim": _submit_claim,
    "settle_outstanding": _settle,
    "record_recovery": _recovery,
}


@pytest.mark.parametrize("name", sorted(KEYED_CALLS))
def test_defect_4_a_retry_with_the_same_key_changes_nothing(ledger, name):
    realistic_scenario(ledger)
    funds, pools = GuidanceFunds(ledger), RiskPools(ledger)
    make = KEYED_CALLS[name]
    first = make(funds, pools, ledger, "1万")()
    before = state(ledger)
    assert make(funds, pools, ledger, "1万")() == first
    assert state(ledger) == before
    with pytest.raises(LedgerError) as caught:
        make(funds, pools, ledger, "2万")()
    assert caught.value.code == ResultCode.EXISTS_WITH_DIFFERENT_CONTENT
    assert state(ledger) == before


def test_defect_4_approvals_and_accruals_are_keyed_on_their_object(ledger):
    realistic_scenario(ledger)
    funds, pools = GuidanceFunds(ledger), RiskPools(ledger)
    commitment = funds.record_commitment("sf1", "LP-C", "10万", D, actor="gp", client_id="c")
    call_id = funds.record_call("sf1", "10%", D, D, actor="gp", client_id="call")
    distribution = funds.record_distribution("sf1", D, "1万", "1万", recallable=False, actor="gp", client_id="d")
    loan = pools.file_loan(
        "gz", BANK_A, FIRM_2, "L-9", "10万", date(2027, 2, 1), 12, date(2027, 2, 2), actor="banker", client_id="l"
    )
    pools.set_loan_status(loan, "overdue", actor="banker")
    pools.set_loan_status(loan, "defaulted", actor="banker")
    claim = pools.submit_claim(loan, "10万", D, actor="banker", client_id="claim")
    pools.contribute("gz", CITY, "100万", D, actor="clerk", approver="chief", client_id="fund-more")
    calls = [
        (lambda who: funds.approve_commitment(commitment, approver=who)),
        (lambda who: funds.approve_call(call_id, approver=who)),
        (lambda who: funds.approve_distribution(distribution, approver=who)),
        (lambda who: pools.approve_claim(claim, approver=who, paid_on=D)),
    ]
    for call in calls:
        first = call("reviewer")
        before = state(ledger)
        assert call("reviewer") == first
        assert state(ledger) == before
        with pytest.raises(LedgerError) as caught:
            call("someone-else")
        assert caught.value.code == FundsCode.ALREADY_DECIDED
        assert state(ledger) == before
    first = funds.accrue_fees("sf1", date(2028, 6, 30), actor="gp")
    before = state(ledger)
    assert funds.accrue_fees("sf1", date(2028, 6, 30), actor="gp") == first > 0
    assert state(ledger) == before
