from __future__ import annotations

from sqlalchemy import func, select

from ledger.engine import T_TRANSACTIONS
from ledger.queries import balance

from .conftest import GZ_BOOK, SZ_BOOK, appropriation


def _count_transactions(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(T_TRANSACTIONS)).scalar_one()


def test_books_and_accounts_are_created_and_listed(client, admin, books):
    created = client.post("/v1/books", headers=admin, json={"code": "memo-gz", "name": "备查簿", "basis": "memo"})
    assert created.status_code == 201 and created.headers["Location"] == "/v1/books/memo-gz"
    account = client.post(
        f"/v1/books/{GZ_BOOK}/accounts",
        headers=admin,
        json={"path": "Assets:Bank:Special", "credits_must_not_exceed_debits": True},
    )
    assert account.status_code == 201 and account.json()["balance"] == "0.00"
    assert client.get(f"/v1/books/{GZ_BOOK}/accounts/Assets:Bank:Special", headers=admin).json()["type"] == "Assets"
    codes = [book["code"] for book in client.get("/v1/books", headers=admin).json()["items"]]
    assert codes == sorted(codes) and "memo-gz" in codes


def test_setup_refusals_have_their_codes(client, admin, books):
    twice = client.post(f"/v1/books/{GZ_BOOK}/accounts", headers=admin, json={"path": "Expenses:Grants"})
    assert twice.status_code == 409 and twice.json()["code"] == "account_exists"
    bad_name = client.post(f"/v1/books/{GZ_BOOK}/accounts", headers=admin, json={"path": "Nonsense:X"})
    assert bad_name.status_code == 422 and bad_name.json()["code"] == "account_name_invalid"
    missing = client.get(f"/v1/books/{GZ_BOOK}/accounts/Assets:Nowhere", headers=admin)
    assert missing.status_code == 404 and missing.json()["code"] == "account_not_found"
    extra = client.post("/v1/books", headers=admin, json={"code": "x", "name": "x", "basis": "memo", "actor": "me"})
    assert extra.status_code == 422 and extra.json()["errors"][0]["pointer"] == "/actor"


def test_transaction_needs_an_idempotency_key(client, admin, books, engine):
    response = client.post("/v1/transactions", headers=admin, json=appropriation())
    assert response.status_code == 422 and response.json()["code"] == "idempotency_key_required"
    assert _count_transactions(engine) == 0


def test_transaction_replay_and_conflict(client, admin, books, engine):
    headers = admin | {"Idempotency-Key": "gz-2026-0001"}
    first = client.post("/v1/transactions", headers=headers, json=appropriation())
    assert first.status_code == 201 and "Idempotency-Replayed" not in first.headers
    again = client.post("/v1/transactions", headers=headers, json=appropriation("1000"))
    assert again.status_code == 201 and again.headers["Idempotency-Replayed"] == "true"
    assert again.json() == first.json()
    other = client.post("/v1/transactions", headers=headers, json=appropriation("999.00"))
    assert other.status_code == 409 and other.json()["code"] == "exists_with_different_content"
    assert _count_transactions(engine) == 1
    stored = client.get(first.headers["Location"], headers=admin).json()
    assert stored["actor"].startswith("key:") and stored["postings"][0]["amount"] == "1000.00"


def test_a_body_naming_its_actor_or_approver_is_refused(client, admin, books, engine):
    for field in ("actor", "approver", "source"):
        body = appropriation() | {field: "director.wang"}
        response = client.post("/v1/transactions", headers=admin | {"Idempotency-Key": f"k-{field}"}, json=body)
        assert response.status_code == 422 and response.json()["code"] == "body_names_actor"
        assert response.json()["errors"][0]["pointer"] == f"/{field}"
    assert _count_transactions(engine) == 0


def test_rule_refusals_are_409_and_malformed_amounts_422(client, admin, books, engine):
    unbalanced = appropriation()
    unbalanced["postings"][1]["amount"] = "-999.00"
    response = client.post("/v1/transactions", headers=admin | {"Idempotency-Key": "u1"}, json=unbalanced)
    assert response.status_code == 422 and response.json()["code"] == "entry_must_balance"
    floated = appropriation()
    floated["postings"][0]["amount"] = 1000.5
    response = client.post("/v1/transactions", headers=admin | {"Idempotency-Key": "f1"}, json=floated)
    assert response.status_code == 422 and response.json()["code"] == "amount_must_not_be_float"
    client.post(
        f"/v1/books/{GZ_BOOK}/accounts",
        headers=admin,
        json={"path": "Assets:Bank:Guarded", "credits_must_not_exceed_debits": True},
    )
    overdraft = {
        "date": "2026-01-05",
        "postings": [
            {"book": GZ_BOOK, "account": "Expenses:Grants", "amount": "5.00"},
            {"book": GZ_BOOK, "account": "Assets:Bank:Guarded", "amount": "-5.00"},
        ],
    }
    response = client.post("/v1/transactions", headers=admin | {"Idempotency-Key": "o1"}, json=overdraft)
    assert response.status_code == 409 and response.json()["code"] == "credits_exceed_debits"
    assert _count_transactions(engine) == 0


def test_dry_run_reports_the_would_be_result_and_writes_nothing(client, admin, books, engine):
    headers = admin | {"Idempotency-Key": "dry-1"}
    response = client.post("/v1/transactions?dry_run=true", headers=headers, json=appropriation())
    assert response.status_code == 200
    body = response.json()
    assert body["dry_run"] is True and body["code"] == "ok"
    treasury = next(a for a in body["accounts_after"] if a["path"] == "Assets:Bank:Treasury")
    assert treasury["balance"] == "1000.00"
    assert _count_transactions(engine) == 0
    assert balance(books, GZ_BOOK, "Assets:Bank:Treasury").balance_fen == 0
    # The same key can still be used for real afterwards: the dry run stored no key either.
    assert client.post("/v1/transactions", headers=headers, json=appropriation()).status_code == 201


def test_pending_post_void_and_reversal(client, admin, books, engine):
    pending = appropriation("300.00") | {"pending": True}
    held = client.post("/v1/transactions", headers=admin | {"Idempotency-Key": "p1"}, json=pending).json()
    account = client.get(f"/v1/books/{GZ_BOOK}/accounts/Assets:Bank:Treasury", headers=admin).json()
    assert account["debits_pending"] == "300.00" and account["balance"] == "0.00"
    posted = client.post(
        "/v1/transactions",
        headers=admin | {"Idempotency-Key": "p1-post"},
        json={"type": "post_pending", "pending": held["transaction_id"], "amount": "200.00"},
    )
    assert posted.status_code == 201
    twice = client.post(
        "/v1/transactions",
        headers=admin | {"Idempotency-Key": "p1-void"},
        json={"type": "void_pending", "pending": held["transaction_id"]},
    )
    assert twice.status_code == 409 and twice.json()["code"] == "pending_already_resolved"
    reversed_ = client.post(
        "/v1/transactions",
        headers=admin | {"Idempotency-Key": "p1-rev"},
        json={"type": "reversal", "target": posted.json()["transaction_id"], "reason": "entered twice"},
    )
    assert reversed_.status_code == 201
    assert balance(books, GZ_BOOK, "Assets:Bank:Treasury").balance_fen == 0


def test_batch_with_linked_items_fails_together(client, admin, books, engine):
    bad = appropriation("1.00")
    bad["postings"][1]["account"] = "NetAssets:Missing"
    body = {"requests": [appropriation("10.00") | {"linked": True}, bad, appropriation("20.00")]}
    response = client.post("/v1/batches", headers=admin | {"Idempotency-Key": "b1"}, json=body)
    assert response.status_code == 200
    codes = [item["code"] for item in response.json()["results"]]
    assert codes[0] == "linked_event_failed" and codes[1] == "account_not_found" and codes[2] == "ok"
    assert balance(books, GZ_BOOK, "Assets:Bank:Treasury").balance_fen == 2000
    replay = client.post("/v1/batches", headers=admin | {"Idempotency-Key": "b1"}, json=body)
    assert [item["code"] for item in replay.json()["results"]] == codes
    assert balance(books, GZ_BOOK, "Assets:Bank:Treasury").balance_fen == 2000
    body["requests"][2] = appropriation("21.00")
    changed = client.post("/v1/batches", headers=admin | {"Idempotency-Key": "b1"}, json=body)
    assert changed.json()["results"][2]["code"] == "exists_with_different_content"
    dry = client.post("/v1/batches?dry_run=true", headers=admin | {"Idempotency-Key": "b2"}, json=body)
    assert dry.json()["dry_run"] is True and dry.json()["results"][2]["code"] == "ok"
    assert balance(books, GZ_BOOK, "Assets:Bank:Treasury").balance_fen == 2000
    missing = client.post("/v1/batches", headers=admin, json=body)
    assert missing.status_code == 422 and missing.json()["code"] == "idempotency_key_required"


def test_balances_history_trial_balance_and_period_close(client, admin, books):
    for index, day in enumerate(("2026-01-05", "2026-02-10", "2026-03-15")):
        headers = admin | {"Idempotency-Key": f"h{index}"}
        assert (
            client.post("/v1/transactions", headers=headers, json=appropriation("100.00", day=day)).status_code == 201
        )
    url = f"/v1/books/{GZ_BOOK}/accounts/Assets:Bank:Treasury"
    assert client.get(f"{url}/balance", headers=admin).json()["balance"] == "300.00"
    assert client.get(f"{url}/balance?as_of=2026-02-28", headers=admin).json()["balance"] == "200.00"
    first = client.get(f"{url}/history?limit=2&from=2026-01-01", headers=admin).json()
    assert [row["balance"] for row in first["items"]] == ["100.00", "200.00"] and first["next_cursor"]
    rest = client.get(f"{url}/history?limit=2&from=2026-01-01&cursor={first['next_cursor']}", headers=admin).json()
    assert [row["balance"] for row in rest["items"]] == ["300.00"] and rest["next_cursor"] is None
    changed = client.get(f"{url}/history?limit=2&from=2026-02-01&cursor={first['next_cursor']}", headers=admin)
    assert changed.status_code == 422 and changed.json()["code"] == "cursor_invalid"
    rows = client.get(f"/v1/trial-balance?book={GZ_BOOK}&as_of=2026-01-31", headers=admin).json()
    assert {(row["account"], row["debit"], row["credit"]) for row in rows} == {
        ("Assets:Bank:Treasury", "100.00", "0.00"),
        ("NetAssets:Appropriations", "0.00", "100.00"),
    }
    csv_text = client.get(f"/v1/trial-balance.csv?book={GZ_BOOK}", headers=admin).text
    assert csv_text.splitlines()[0] == "book,account,type,currency,debit,credit" and "300.00" in csv_text
    closed = client.post(f"/v1/books/{GZ_BOOK}/periods/2026-01/close", headers=admin)
    assert closed.status_code == 200 and closed.json()["closed"] is True
    late = client.post("/v1/transactions", headers=admin | {"Idempotency-Key": "late"}, json=appropriation())
    assert late.status_code == 409 and late.json()["code"] == "period_closed"


def test_limits_and_cursors(client, admin, books):
    too_many = client.get(f"/v1/books/{GZ_BOOK}/accounts?limit=501", headers=admin)
    assert too_many.status_code == 422 and too_many.json()["code"] == "limit_too_large"
    first = client.get(f"/v1/books/{GZ_BOOK}/accounts?limit=2", headers=admin).json()
    second = client.get(f"/v1/books/{GZ_BOOK}/accounts?limit=2&cursor={first['next_cursor']}", headers=admin).json()
    paths = [a["path"] for a in first["items"] + second["items"]]
    assert paths == ["Assets:Bank:Treasury", "Expenses:Grants", "NetAssets:Appropriations"]
    filtered = client.get(f"/v1/books/{GZ_BOOK}/accounts?type=Expenses", headers=admin).json()
    assert [a["path"] for a in filtered["items"]] == ["Expenses:Grants"]
    garbage = client.get(f"/v1/books/{GZ_BOOK}/accounts?cursor=%%%", headers=admin)
    assert garbage.status_code == 422 and garbage.json()["code"] == "cursor_invalid"


def test_operations_reads(client, admin, books):
    assert (
        client.post("/v1/transactions", headers=admin | {"Idempotency-Key": "v1"}, json=appropriation()).status_code
        == 201
    )
    verify = client.get("/v1/verify", headers=admin).json()
    assert verify["clean"] is True and verify["transactions"] >= 1
    assert client.get("/v1/alerts", headers=admin).json() == {"items": [], "next_cursor": None}
    assert client.get("/v1/job-runs", headers=admin).status_code == 200


def test_location_of_an_object_named_in_chinese_is_percent_encoded(client, admin, books):
    """Found by schemathesis: a book code outside Latin-1 made the Location header raise (a 500)."""
    created = client.post("/v1/books", headers=admin, json={"code": "广州-备查", "name": "备查簿", "basis": "memo"})
    assert created.status_code == 201
    location = created.headers["Location"]
    assert location == "/v1/books/%E5%B9%BF%E5%B7%9E-%E5%A4%87%E6%9F%A5"
    assert client.get(location, headers=admin).json()["code"] == "广州-备查"


def test_balances_and_trial_balance_as_recorded_before_a_moment(client, admin, books):
    """Bi-temporal: a transaction recorded later, even one back-dated into January, is not in the books as
    they stood before it was recorded; ``as_of`` and ``recorded_before`` combine."""
    from datetime import UTC, datetime
    from urllib.parse import quote

    first = client.post("/v1/transactions", headers=admin | {"Idempotency-Key": "r1"}, json=appropriation("100.00"))
    assert first.status_code == 201
    between = datetime.now(UTC).isoformat()
    later = appropriation("40.00", day="2026-01-20")
    assert client.post("/v1/transactions", headers=admin | {"Idempotency-Key": "r2"}, json=later).status_code == 201
    url = f"/v1/books/{GZ_BOOK}/accounts/Assets:Bank:Treasury/balance"
    before = client.get(f"{url}?recorded_before={quote(between)}", headers=admin).json()
    assert before["balance"] == "100.00" and before["recorded_before"] is not None
    assert client.get(url, headers=admin).json()["balance"] == "140.00"
    both = client.get(f"{url}?recorded_before={quote(between)}&as_of=2026-01-10", headers=admin).json()
    assert both["balance"] == "100.00"
    nothing_yet = client.get(f"{url}?recorded_before=2000-01-01T00:00:00%2B08:00", headers=admin).json()
    assert nothing_yet["balance"] == "0.00"
    rows = client.get(f"/v1/trial-balance?book={GZ_BOOK}&recorded_before={quote(between)}", headers=admin).json()
    assert {(row["account"], row["debit"], row["credit"]) for row in rows} == {
        ("Assets:Bank:Treasury", "100.00", "0.00"),
        ("NetAssets:Appropriations", "0.00", "100.00"),
    }
    bad = client.get(f"{url}?recorded_before=yesterday", headers=admin)
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")


def test_trial_balance_as_a_workbook_and_the_closed_periods(client, admin, key_for, books):
    import io

    from openpyxl import load_workbook

    for index, amount in enumerate(("100.00", "23456.78")):
        headers = admin | {"Idempotency-Key": f"x{index}"}
        assert client.post("/v1/transactions", headers=headers, json=appropriation(amount)).status_code == 201
    shenzhen_post = appropriation("7.00", book=SZ_BOOK)
    assert (
        client.post("/v1/transactions", headers=admin | {"Idempotency-Key": "sz"}, json=shenzhen_post).status_code
        == 201
    )
    office = key_for("finance_office", "region:440100")
    answer = client.get("/v1/trial-balance.xlsx", headers=office, params={"as_of": "2026-01-31"})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(answer.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("账簿", "科目", "类别", "币种", "借方（元）", "贷方（元）") and sheet.freeze_panes == "A2"
    body = {row[1]: row for row in rows[1:-1]}
    assert body["Assets:Bank:Treasury"][4:] == (23556.78, 0) and body["NetAssets:Appropriations"][4:] == (0, 23556.78)
    assert rows[-1][0] == "合计" and rows[-1][4:] == (23556.78, 23556.78)  # debits equal credits
    assert {row[0] for row in rows[1:-1]} == {GZ_BOOK}  # the Shenzhen book is outside the office's scope
    in_wan = load_workbook(
        io.BytesIO(client.get("/v1/trial-balance.xlsx", headers=office, params={"unit": "万元"}).content)
    ).active
    totals = next(row for row in in_wan.iter_rows(values_only=True) if row[0] == "合计")
    assert totals[4] == 2.36  # 23556.78 元 in 万元, rounded half up for display
    for report in ("trial-balance", "trial-balance.csv", "trial-balance.xlsx"):  # the same report under /v1/reports
        named = client.get(f"/v1/reports/{report}", headers=office, params={"as_of": "2026-01-31"})
        assert named.content == client.get(f"/v1/{report}", headers=office, params={"as_of": "2026-01-31"}).content
    assert client.get(f"/v1/books/{GZ_BOOK}/periods", headers=office).json() == []
    assert client.post(f"/v1/books/{GZ_BOOK}/periods/2026-01/close", headers=admin).status_code == 200
    assert client.get(f"/v1/books/{GZ_BOOK}/periods", headers=office).json() == [
        {"book": GZ_BOOK, "period": "2026-01", "closed": True}
    ]
    shenzhen = key_for("finance_office", "region:440300")
    assert client.get(f"/v1/books/{GZ_BOOK}/periods", headers=shenzhen).status_code == 404
