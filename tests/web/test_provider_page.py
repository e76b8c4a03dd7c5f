"""The service provider's page over httpx (SQLite and PostgreSQL): redemptions to claim (reserved; with the
claim filed and awaiting verification when there is one, and the program's redeem-by date), every
redemption with its claim and payout status, the claims it filed over the HTTP API and how each was decided
(a rejection with its reason), and the payment batches holding its payouts with its own lines; another
provider and another region's office get a 404."""

from __future__ import annotations

import re
from datetime import date

import pytest

from tests.vouchers.conftest import REDEEM_BY, SHANGHAI, build_scheme
from tests.web.partners_support import GUANGZHOU, PASSWORD, add_users, credit_code, login, make_app
from vouchers.payments import approve_batch, prepare_batch, quarter
from vouchers.redemptions import claim, reserve


def _reserve(scheme, contract_no: str, amount: str, provider: str | None = None) -> int:
    return reserve(
        scheme.ledger, scheme.programs[SHANGHAI], enterprise=scheme.enterprises[SHANGHAI],
        provider=provider or scheme.providers[SHANGHAI], category="testing", contract_no=contract_no,
        contract_amount=amount, on=date(2026, 2, 1), actor="enterprise-user",
    )["id"]  # fmt: skip


@pytest.fixture
def site(engine, ledger):
    scheme = build_scheme(ledger, regions=(SHANGHAI,))
    provider = scheme.providers[SHANGHAI]
    other = ledger.register_institution(
        credit_code("12310000MB2P0Y9R2"), "其他服务中心", "service_provider", region_code=SHANGHAI
    )
    scheme.grant(SHANGHAI, "5万")
    paid = _reserve(scheme, "C-PAID", "20000.00")
    claim(scheme.ledger, paid, invoice_no="INV-PAID", invoiced_amount="20000.00", on=date(2026, 3, 1),
          actor="provider-user", verifier="officer")  # fmt: skip
    batch = prepare_batch(ledger, SHANGHAI, maker="payout-clerk", on=date(2026, 4, 10), **quarter("2026-Q1"))
    approve_batch(ledger, batch["id"], checker="director", approval_doc="沪科〔2026〕9号", on=date(2026, 4, 20))
    ids = {name: _reserve(scheme, f"C-{name}", "10000.00") for name in ("PENDING", "REJECTED", "OPEN")}
    add_users(
        engine,
        {
            "provider": ("service_provider", [f"institution:{provider}"]),
            "other-provider": ("service_provider", [f"institution:{other}"]),
            "sh-office": ("finance_office", [f"region:{SHANGHAI}"]),
            "gz-office": ("finance_office", [f"region:{GUANGZHOU}"]),
            "enterprise": ("enterprise", [f"institution:{scheme.enterprises[SHANGHAI]}"]),
        },
    )
    app = make_app(engine)
    return app, provider, ids, batch["id"], other


def _token(client, username: str) -> dict[str, str]:
    response = client.post("/v1/auth/token", data={"username": username, "password": PASSWORD})
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _file_claims(app, ids: dict[str, int]) -> None:
    """The provider files two claims over the HTTP API; the Shanghai office rejects one with a reason."""
    client, _ = login(app, "provider")
    provider = _token(client, "provider")
    for name in ("PENDING", "REJECTED"):
        filed = client.post(
            f"/v1/redemptions/{ids[name]}/claim",
            json={"invoice_no": f"INV-{name}", "invoiced_amount": "10000.00", "on": "2026-05-01"},
            headers=provider | {"Idempotency-Key": f"claim-{name}"},
        )
        assert filed.status_code == 201, filed.text
        if name == "REJECTED":
            office = _token(client, "sh-office")
            rejected = client.post(
                f"/v1/approvals/{filed.json()['approval']}/reject",
                json={"reason": "发票与合同不符", "on": "2026-05-03"},
                headers=office | {"Idempotency-Key": "reject-1"},
            )
            assert rejected.status_code == 200, rejected.text


def _table(text: str, testid: str) -> str:
    match = re.search(rf'data-testid="{testid}">(.*?)</table>', text, re.S)
    assert match, f"no table {testid}"
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", match.group(1)))


def _row(text: str, testid: str) -> str:
    match = re.search(rf'<tr data-testid="{testid}">(.*?)</tr>', text, re.S)
    assert match, f"no row {testid}"
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", match.group(1)))


def test_redemptions_to_claim_show_a_filed_claim_awaiting_verification_and_the_redeem_by_date(site):
    app, provider, ids, _, _ = site
    _file_claims(app, ids)
    client, home = login(app, "provider")
    assert home == f"/web/providers/{provider}"
    page = client.get(home).text
    pending = _row(page, f"to-claim-{ids['PENDING']}")
    assert "C-PENDING" in pending and "已提交，待核验" in pending and REDEEM_BY.isoformat() in pending
    assert "尚未申领" in _row(page, f"to-claim-{ids['OPEN']}")
    assert "尚未申领" in _row(page, f"to-claim-{ids['REJECTED']}")  # a rejected claim may be filed again
    assert "C-PAID" not in _table(page, "provider-to-claim")
    assert 'href="/web/forms/voucher-claim"' in page and client.get("/web/forms/voucher-claim").status_code == 200


def test_the_claims_filed_and_their_decisions(site):
    app, _, ids, _, _ = site
    _file_claims(app, ids)
    client, home = login(app, "provider")
    claims = _table(client.get(home).text, "provider-claims")
    assert "INV-PENDING" in claims and "待核验" in claims and "¥10,000.00" in claims
    assert "INV-REJECTED" in claims and "已驳回" in claims and "发票与合同不符" in claims and "sh-office" in claims


def test_every_redemption_with_its_payout_and_the_batches_paying_the_provider(site):
    app, _, _, batch_id, _ = site
    client, home = login(app, "provider")
    page = client.get(home).text
    redemptions = _table(page, "provider-redemptions")
    assert "C-PAID" in redemptions and "已支付" in redemptions and "C-OPEN" in redemptions and "已冻结" in redemptions
    batch = _row(page, f"batch-{batch_id}")
    # the provider's one line: 50% co-pay of a 2万 contract is a 1万 claim, paid on 20 April
    assert "2026-Q1" in batch and "已支付" in batch and "2026-04-20" in batch and "沪科〔2026〕9号" in batch
    assert "¥10,000.00" in batch and " 1 " in batch


def test_another_provider_another_regions_office_and_other_roles_do_not_reach_the_page(site):
    app, provider, ids, _, _ = site
    _file_claims(app, ids)
    shanghai, _ = login(app, "sh-office")
    page = shanghai.get(f"/web/providers/{provider}")
    assert page.status_code == 200 and "INV-REJECTED" in page.text
    guangzhou, _ = login(app, "gz-office")
    assert guangzhou.get(f"/web/providers/{provider}").status_code == 404
    other_provider, home = login(app, "other-provider")
    assert other_provider.get(f"/web/providers/{provider}").status_code == 404
    assert "INV-PENDING" not in other_provider.get(home).text
    enterprise, _ = login(app, "enterprise")
    assert enterprise.get(f"/web/providers/{provider}").status_code == 403


def test_the_page_in_english(site):
    app, _, ids, batch_id, _ = site
    _file_claims(app, ids)
    client, home = login(app, "provider")
    client.cookies.set("fl_lang", "en")
    page = client.get(home).text
    assert "Redemptions to claim" in page and "Payment batches" in page
    assert "filed, awaiting verification" in _row(page, f"to-claim-{ids['PENDING']}")
    assert "paid" in _row(page, f"batch-{batch_id}")
