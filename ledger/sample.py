"""A small generic journal for ``fundledger demo``: a finance office's books with an appropriation,
an approved payable, a payment, a pending reservation posted in part, and a reversal."""

from __future__ import annotations

from datetime import date

from ledger.engine import Ledger, posting_specs
from ledger.entries import Audit, PostPendingRequest, ReversalRequest, TransactionRequest
from ledger.errors import ResultCode

DEMO_SOURCE = "demo:ledger"
DEMO_REGION = ("440100", "广州市")
DEMO_BOOK = "440100-finance"


def load_core_demo(ledger: Ledger) -> dict:
    """Idempotent: running it again finds every transaction already recorded."""
    ledger.register_region("440000", "广东省")
    ledger.register_region(*DEMO_REGION)
    ledger.create_book(DEMO_BOOK, "广州市财政局 (financial)", "financial", entity_code=DEMO_REGION[0])
    for path, flags in (
        ("Assets:Bank:Treasury", {"credits_must_not_exceed_debits": True}),
        ("NetAssets:Appropriations", {}),
        ("Liabilities:Payables:Grants", {}),
        ("Expenses:Grants:TechTransfer", {}),
    ):
        ledger.create_account(DEMO_BOOK, path, exist_ok=True, **flags)
    office = Audit(actor="clerk.li", approver="director.wang", approval_doc="穗财科〔2026〕1号")
    requests = [
        TransactionRequest(
            "appropriation-2026",
            posting_specs(
                DEMO_BOOK, [("Assets:Bank:Treasury", "50000000.00"), ("NetAssets:Appropriations", "-50000000.00")]
            ),
            date(2026, 1, 5),
            source=DEMO_SOURCE,
            kind="appropriation",
            memo="2026 年度科技成果转化专项资金",
            audit=office,
        ),
        TransactionRequest(
            "grant-approval-001",
            posting_specs(
                DEMO_BOOK,
                [("Expenses:Grants:TechTransfer", "5000000.00"), ("Liabilities:Payables:Grants", "-5000000.00")],
            ),
            date(2026, 3, 2),
            source=DEMO_SOURCE,
            kind="grant",
            memo="成果转化补助 approved",
            audit=office,
        ),
        TransactionRequest(
            "grant-payment-001",
            posting_specs(
                DEMO_BOOK, [("Liabilities:Payables:Grants", "5000000.00"), ("Assets:Bank:Treasury", "-5000000.00")]
            ),
            date(2026, 3, 20),
            source=DEMO_SOURCE,
            kind="payment",
            memo="成果转化补助 paid",
            audit=office,
            pending=True,
        ),
        PostPendingRequest(
            "grant-payment-001-post",
            (DEMO_SOURCE, "grant-payment-001"),
            source=DEMO_SOURCE,
            amount="4800000.00",
            audit=office,
        ),
        TransactionRequest(
            "grant-approval-002",
            posting_specs(
                DEMO_BOOK,
                [("Expenses:Grants:TechTransfer", "300000.00"), ("Liabilities:Payables:Grants", "-300000.00")],
            ),
            date(2026, 4, 8),
            source=DEMO_SOURCE,
            kind="grant",
            memo="duplicate approval, reversed below",
            audit=office,
        ),
        ReversalRequest(
            "grant-approval-002-reversal",
            (DEMO_SOURCE, "grant-approval-002"),
            reason="重复批复 (duplicate approval)",
            source=DEMO_SOURCE,
            effective_date=date(2026, 4, 9),
            audit=office,
        ),
    ]
    results = ledger.submit(requests)
    failures = [f"{r.index}: {r.code.value} {r.message}" for r in results if not r.ok]
    if failures:
        raise RuntimeError("core demo refused: " + "; ".join(failures))
    return {
        "book": DEMO_BOOK,
        "recorded": sum(1 for r in results if r.code == ResultCode.OK),
        "already_present": sum(1 for r in results if r.code == ResultCode.EXISTS),
    }
