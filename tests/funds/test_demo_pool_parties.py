"""The risk pool demo keys its banks and borrowers by 统一社会信用代码, and the demo bank login holds one of them
(so the bank's page shows that bank's loans)."""

from api.demo_users import DEMO_USERS
from funds import reads
from funds.demo import BANK_GZ_01, load_demo
from ledger.entities import validate_credit_code


def test_the_demo_pools_banks_and_borrowers_are_registered_credit_codes_and_the_bank_login_is_one(ledger):
    load_demo(ledger)
    loans = reads.loans(ledger)
    codes = {row["bank_code"] for row in loans} | {row["enterprise_code"] for row in loans}
    assert codes and all(validate_credit_code(code) == code and ledger.entity(code) for code in codes)
    bank_user = next(user for user in DEMO_USERS if user.role == "bank")
    assert bank_user.scopes == (f"institution:{BANK_GZ_01}",)
    assert [row["loan_number"] for row in loans if row["bank_code"] == BANK_GZ_01] == ["GZ01-0001"]
