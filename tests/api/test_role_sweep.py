"""Every /v1 route declares its role dependency, and no role sees or touches objects outside its scope."""

from __future__ import annotations

import pytest
from fastapi.routing import APIRoute

from api.app import create_app
from api.deps import ROLES_ATTRIBUTE
from api.scopes import Role
from api.settings import Settings

from .conftest import GZ_BOOK, SZ_BOOK, TEST_SECRET, appropriation

PUBLIC_ROUTES = {("POST", "/v1/auth/token")}
GZ_ENTERPRISE = "91440101MA5CXXXX1B"
SZ_ENTERPRISE = "91440300MA5DYYYY2J"
# A principal of each role whose scope is Guangzhou (or a Guangzhou institution / fund).
INSIDE_GZ = {
    Role.FINANCE_OFFICE: ["region:440100"],
    Role.AUDITOR: ["region:440100"],
    Role.FUND_MANAGER: ["fund:GZ-ANGEL-1"],
    Role.ENTERPRISE: [f"institution:{GZ_ENTERPRISE}"],
    Role.BANK: [f"institution:{GZ_ENTERPRISE}"],
    Role.SERVICE_PROVIDER: [f"institution:{GZ_ENTERPRISE}"],
}


def _role_checks(dependant) -> list[tuple]:  # noqa: ANN001
    found = []
    for dependency in dependant.dependencies:
        roles = getattr(dependency.call, ROLES_ATTRIBUTE, None)
        if roles is not None:
            found.append(roles)
        found.extend(_role_checks(dependency))
    return found


def _flat_routes(routes) -> list[APIRoute]:  # noqa: ANN001
    """The app's APIRoutes, also inside included routers (this FastAPI includes them lazily)."""
    flat = []
    for route in routes:
        if isinstance(route, APIRoute):
            flat.append(route)
        elif getattr(route, "original_router", None) is not None:
            flat.extend(_flat_routes(route.original_router.routes))
        elif getattr(route, "routes", None):
            flat.extend(_flat_routes(route.routes))
    return flat


def _v1_routes(app) -> list[APIRoute]:  # noqa: ANN001
    return [route for route in _flat_routes(app.routes) if route.path.startswith("/v1")]


def test_every_v1_route_declares_a_role_dependency():
    app = create_app(engine=_unused_engine(), settings=Settings(jwt_secret=TEST_SECRET))
    routes = _v1_routes(app)
    walked = {(method.lower(), route.path) for route in routes for method in route.methods}
    documented = {(method, path) for path, item in app.openapi()["paths"].items() for method in item}
    assert walked == {entry for entry in documented if entry[1].startswith("/v1")}, "a route escaped the walk"
    for route in routes:
        for method in route.methods:
            if (method, route.path) in PUBLIC_ROUTES:
                continue
            checks = _role_checks(route.dependant)
            assert len(checks) == 1, f"{method} {route.path} must declare exactly one role dependency"


def _unused_engine():
    from sqlalchemy import create_engine

    return create_engine("sqlite://")


@pytest.fixture
def world(client, admin, books):
    books.register_institution(GZ_ENTERPRISE, "广州某科技公司", "enterprise", region_code="440100")
    books.register_institution(SZ_ENTERPRISE, "深圳某科技公司", "enterprise", region_code="440300")
    ids = {}
    for book in (GZ_BOOK, SZ_BOOK):
        response = client.post(
            "/v1/transactions", headers=admin | {"Idempotency-Key": f"seed-{book}"}, json=appropriation(book=book)
        )
        ids[book] = response.json()["transaction_id"]
    return ids


def _outside_scope_calls(app, world) -> list[tuple[str, str, dict | None]]:  # noqa: ANN001
    """Each /v1 route once, aimed at Shenzhen objects (outside every Guangzhou scope)."""
    _seed_funds_and_pools(world, app.state.ledger)
    values = {
        "book": SZ_BOOK,
        "path": "Assets:Bank:Treasury",
        "period": "2026-01",
        "transaction_id": str(world[SZ_BOOK]),
        "credit_code": SZ_ENTERPRISE,
        "alert_id": "1",
        **world.get(FUNDS_PATH_VALUES, {}),
        **world.get(DOMAIN_PATH_VALUES, {}),
    }
    bodies = {
        ("POST", "/v1/books"): {"code": "440300-memo", "name": "x", "basis": "memo", "entity_code": "440300"},
        ("POST", "/v1/books/{book}/accounts"): {"path": "Expenses:Other"},
        ("POST", "/v1/transactions"): appropriation("1.00", book=SZ_BOOK),
        ("POST", "/v1/batches"): {"requests": [appropriation("1.00", book=SZ_BOOK)]},
        ("POST", "/v1/alerts/{alert_id}/resolve"): {"reason": "sweep"},
        **_funds_and_pools_bodies(world),
        **VOUCHER_SUBSIDY_BODIES,
    }
    calls = []
    for route in _v1_routes(app):
        for method in sorted(route.methods):
            if (method, route.path) in PUBLIC_ROUTES:
                continue
            path = route.path
            for name, value in values.items():
                path = path.replace("{" + name + "}", value)
            calls.append((method, path, bodies.get((method, route.path))))
    return calls


@pytest.mark.parametrize("role", list(INSIDE_GZ))
def test_outside_scope_is_404_or_403_and_never_listed(client, app, key_for, world, shenzhen_domains, role):
    headers = key_for(role.value, *INSIDE_GZ[role]) | {"Idempotency-Key": f"sweep-{role}"}
    calls = _outside_scope_calls(app, world)
    assert len(calls) == len({(m, r.path) for r in _v1_routes(app) for m in r.methods}) - len(PUBLIC_ROUTES)
    for method, path, body in calls:
        response = client.request(method, path, headers=headers, json=body)
        assert response.status_code in (200, 403, 404), f"{role} {method} {path}: {response.status_code}"
        if response.status_code == 200:
            assert method == "GET", f"{role} changed something outside its scope: {method} {path}"
            shown = _shown_text(response)
            assert SZ_BOOK not in shown and "440300" not in shown, f"{role} saw Shenzhen in {path}"


XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _shown_text(response) -> str:  # noqa: ANN001
    """What a caller reads in an answer: its text, or every cell of a workbook (an .xlsx is compressed, so
    its bytes would hide a Shenzhen code from a plain search)."""
    if not response.headers.get("content-type", "").startswith(XLSX_MEDIA_TYPE):
        return response.text
    import io

    from openpyxl import load_workbook

    workbook = load_workbook(io.BytesIO(response.content), read_only=True)
    return "\n".join(
        " ".join("" if cell is None else str(cell) for cell in row)
        for sheet in workbook.worksheets
        for row in sheet.iter_rows(values_only=True)
    )


@pytest.mark.parametrize(
    ("role", "book_visible", "may_keep_books"),
    [
        (Role.FINANCE_OFFICE, True, True),
        (Role.AUDITOR, True, False),
        (Role.FUND_MANAGER, False, False),
        (Role.ENTERPRISE, False, False),
        (Role.BANK, False, False),
        (Role.SERVICE_PROVIDER, False, False),
    ],
)
def test_inside_scope_by_role(client, key_for, world, role, book_visible, may_keep_books):
    headers = key_for(role.value, *INSIDE_GZ[role])
    listed = [book["code"] for book in client.get("/v1/books", headers=headers).json()["items"]]
    assert listed == ([GZ_BOOK] if book_visible else [])
    assert client.get(f"/v1/books/{GZ_BOOK}", headers=headers).status_code == (200 if book_visible else 404)
    seen = client.get(f"/v1/transactions/{world[GZ_BOOK]}", headers=headers).status_code
    assert seen == (200 if book_visible else 404)
    write = client.post(
        "/v1/transactions", headers=headers | {"Idempotency-Key": "in-scope"}, json=appropriation("5.00")
    )
    assert write.status_code == (201 if may_keep_books else 403)
    if may_keep_books:
        assert (
            client.get("/v1/transactions/" + str(write.json()["transaction_id"]), headers=headers)
            .json()["actor"]
            .startswith("key:")
        )
    rows = client.get("/v1/trial-balance", headers=headers).json()
    assert {row["book"] for row in rows} == ({GZ_BOOK} if book_visible else set())


def test_a_region_covers_the_regions_below_it(client, key_for, world):
    province = key_for("auditor", "region:440000")
    assert [b["code"] for b in client.get("/v1/books", headers=province).json()["items"]] == [GZ_BOOK, SZ_BOOK]
    county = key_for("auditor", "region:440103")
    assert client.get("/v1/books", headers=county).json()["items"] == []


def test_voucher_positions_only_for_the_enterprise_itself_or_its_region(client, key_for, world):
    own = key_for("enterprise", f"institution:{GZ_ENTERPRISE}")
    assert client.get(f"/v1/enterprises/{GZ_ENTERPRISE}/voucher-positions", headers=own).json() == []
    other = client.get(f"/v1/enterprises/{SZ_ENTERPRISE}/voucher-positions", headers=own)
    assert other.status_code == 404 and other.json()["code"] == "entity_not_found"
    office = key_for("finance_office", "region:440100")
    assert client.get(f"/v1/enterprises/{GZ_ENTERPRISE}/voucher-positions", headers=office).status_code == 200
    assert client.get(f"/v1/enterprises/{SZ_ENTERPRISE}/voucher-positions", headers=office).status_code == 404
    bank = key_for("bank", f"institution:{GZ_ENTERPRISE}")
    assert client.get(f"/v1/enterprises/{GZ_ENTERPRISE}/voucher-positions", headers=bank).status_code == 403


# ----- vouchers, subsidies and the approvals queue (issue 12): real Shenzhen objects behind the ids -----------

DOMAIN_PATH_VALUES = "domain_path_values"
SZ_VOUCHER_PROGRAM = "P440300-2026"
SZ_SUBSIDY_PROGRAM = "sz-sweep-subsidy"
ABSENT_ID = "999999"
SWEEP_DAY = "2026-03-02"
VOUCHER_SUBSIDY_BODIES = {
    ("POST", "/v1/vouchers"): {
        "program": SZ_VOUCHER_PROGRAM,
        "enterprise": SZ_ENTERPRISE,
        "amount": "1.00",
        "on": SWEEP_DAY,
    },
    ("POST", "/v1/redemptions"): {
        "program": SZ_VOUCHER_PROGRAM,
        "enterprise": SZ_ENTERPRISE,
        "provider": SZ_ENTERPRISE,
        "category": "testing",
        "contract_no": "SWEEP-1",
        "contract_amount": "10.00",
        "on": SWEEP_DAY,
    },
    ("POST", "/v1/redemptions/{redemption_id}/cancel"): {"reason": "sweep", "on": SWEEP_DAY},
    ("POST", "/v1/redemptions/{redemption_id}/claim"): {"invoice_no": "S", "invoiced_amount": "1.00", "on": SWEEP_DAY},
    ("POST", "/v1/redemptions/{redemption_id}/reimbursement"): {"on": SWEEP_DAY, "approval_doc": "sweep"},
    ("POST", "/v1/voucher-programs/{code}/expiry"): {"as_of": "2026-07-01"},
    ("POST", "/v1/voucher-programs"): {
        "code": "sz-sweep-2",
        "name": "深圳 sweep",
        "region": "440300",
        "year": 2026,
        "budget": "1000.00",
        "enterprise_annual_cap": "100.00",
        "per_application": "100.00",
        "copay_ratio": "50%",
        "categories": ["testing"],
        "use_by": "2026-06-30",
        "redeem_by": "2026-09-30",
    },
    ("POST", "/v1/settlements"): {
        "region_a": "440300",
        "region_b": "440400",
        "period_label": "2026-Q1",
        "period_start": "2026-01-01",
        "period_end": "2026-03-31",
        "on": "2026-04-02",
    },
    ("POST", "/v1/payment-batches"): {"region": "440300", "period_label": "2026-Q1", "on": "2026-04-02"},
    ("POST", "/v1/subsidy-programs"): {"config": "placeholder: set by the shenzhen_domains fixture"},
    ("POST", "/v1/subsidy-programs/{program_code}/applications"): {"institution": SZ_ENTERPRISE, "year": 2019},
    ("POST", "/v1/subsidy-programs/{program_code}/year-ends"): {"year": 2019},
    ("POST", "/v1/grants/{grant_id}/payments"): {"on": "2019-06-30"},
    ("POST", "/v1/grants/{grant_id}/clawbacks"): {"reason": "sweep"},
    ("POST", "/v1/approvals/{item_id}/approve"): {"approval_doc": "sweep", "on": SWEEP_DAY},
    ("POST", "/v1/approvals/{item_id}/reject"): {"reason": "sweep", "on": SWEEP_DAY},
}


@pytest.fixture
def shenzhen_domains(world, books):
    """A Shenzhen voucher program with a submitted grant and a Shenzhen subsidy program with a submitted
    application, made through the services, so the voucher, subsidy and approvals routes are swept against
    objects that exist outside every Guangzhou scope (and the queue has Shenzhen items to hide)."""
    from datetime import date

    from subsidies.service import SubsidyService
    from tests.subsidies.conftest import program_text
    from tests.vouchers.conftest import program_config
    from vouchers import programs
    from vouchers.grants import submit_grant

    programs.add_region(books, "440300", "深圳市")
    programs.register_enterprise(
        books,
        SZ_ENTERPRISE,
        registration_no="440300-SWEEP",
        valid_from=date(2025, 1, 1),
        valid_until=date(2027, 12, 31),
    )
    config = program_config("440300", SZ_VOUCHER_PROGRAM, recognized_regions=("440300",))
    programs.create_program(
        books, config, actor="sz-a", approver="sz-b", approval_doc="深科〔2026〕1号", on=date(2026, 1, 5)
    )
    voucher = submit_grant(
        books, SZ_VOUCHER_PROGRAM, SZ_ENTERPRISE, "1000.00", maker="sz-a", on=date(2026, 2, 2), client_id="sweep"
    )
    text = (
        program_text(SZ_SUBSIDY_PROGRAM)
        .replace('region = "440100"', 'region = "440300"')
        .replace("gz-budget", "sz-budget")
        .replace("gz-finance", "sz-finance")
    )
    subsidies = SubsidyService(books)
    subsidies.install_program(parse_subsidy_program(text), text, actor="sz-a")
    application = subsidies.submit_application(
        SZ_SUBSIDY_PROGRAM, SZ_ENTERPRISE, 2019, {"claim": "100.00"}, actor="sz-a", client_id="sweep"
    )
    VOUCHER_SUBSIDY_BODIES[("POST", "/v1/subsidy-programs")] = {"config": text}
    world[DOMAIN_PATH_VALUES] = {
        "code": SZ_VOUCHER_PROGRAM,
        "program_code": SZ_SUBSIDY_PROGRAM,
        "voucher_id": str(voucher),
        "application_id": str(application),
        "item_id": f"voucher_grant:{voucher}",
        "redemption_id": ABSENT_ID,
        "settlement_id": ABSENT_ID,
        "batch_id": ABSENT_ID,
        "grant_id": ABSENT_ID,
    }
    return world


def parse_subsidy_program(text: str):  # noqa: ANN201
    from subsidies.config import parse_program

    return parse_program(text)


# ----- guidance funds and risk pools (issue 12): real Shenzhen and Guangzhou objects behind the ids ------------

FUNDS_PATH_VALUES = "funds_path_values"
SWEEP_SUBFUND = {
    "code": "SZ-NEW-1",
    "name": "x",
    "manager_code": SZ_ENTERPRISE,
    "size": "1000.00",
    "established_on": "2026-01-10",
    "term_years": 5,
    "investment_period_end": "2030-01-10",
    "fee_basis": "paid_in",
    "fee_rate": "1%",
}


def _seed_funds_and_pools(world: dict, books) -> None:  # noqa: ANN001 - a Ledger
    """A guidance fund, sub-fund and risk pool in each city (the funds and pool routes' path values are the
    Shenzhen ones), so lists inside Guangzhou scopes hold rows and must still hide Shenzhen's. Made for the
    outside-scope sweep only (once per world): the other tests of the world do not need them."""
    from .conftest import seed_funds_and_pools

    if FUNDS_PATH_VALUES in world:
        return

    seed_funds_and_pools(books, "GZ", "440100", GZ_ENTERPRISE, GZ_ENTERPRISE)
    shenzhen = seed_funds_and_pools(books, "SZ", "440300", SZ_ENTERPRISE, SZ_ENTERPRISE)
    world[FUNDS_PATH_VALUES] = {name: str(value) for name, value in shenzhen.items()}


def _funds_and_pools_bodies(world: dict) -> dict:
    shenzhen = world.get(FUNDS_PATH_VALUES, {})
    loan_id, claim_id = int(shenzhen.get("loan_id", 1)), int(shenzhen.get("claim_id", 1))
    return {
        ("POST", "/v1/funds"): {"code": "SZ-NEW", "name": "x", "region_code": "440300"},
        ("POST", "/v1/funds/{fund}/sub-funds"): SWEEP_SUBFUND,
        ("POST", "/v1/sub-funds/{subfund}/establishment"): {"on": "2026-02-01"},
        ("POST", "/v1/sub-funds/{subfund}/commitments"): {
            "investor_code": "LP-X",
            "amount": "1.00",
            "committed_on": "2026-03-01",
        },
        ("POST", "/v1/sub-funds/{subfund}/capital-calls"): {
            "ratio": "10%",
            "notice_on": "2026-03-01",
            "due_on": "2026-03-31",
        },
        ("POST", "/v1/capital-calls/{call_id}/payments"): {
            "investor_code": "LP-1",
            "amount": "1.00",
            "paid_on": "2026-02-20",
        },
        ("POST", "/v1/sub-funds/{subfund}/investments"): {
            "enterprise_code": SZ_ENTERPRISE,
            "amount": "1.00",
            "invested_on": "2026-03-01",
            "stage": "seed",
            "is_local": True,
            "sector": "x",
            "hard_tech": False,
        },
        ("POST", "/v1/investments/{investment_id}/exits"): {
            "cost": "1.00",
            "proceeds": "1.00",
            "exited_on": "2026-06-01",
        },
        ("POST", "/v1/sub-funds/{subfund}/valuations"): {"as_of": "2026-12-31", "nav": "1.00"},
        ("POST", "/v1/sub-funds/{subfund}/fee-accruals"): {"through": "2026-12-31"},
        ("POST", "/v1/sub-funds/{subfund}/distributions"): {
            "distributed_on": "2026-12-31",
            "capital": "1.00",
            "income": "0.00",
        },
        ("POST", "/v1/risk-pools"): {
            "code": "sz-new",
            "name": "x",
            "preset": "guangzhou",
            "funders": [{"funder_code": "440300", "level": "city", "share": "100%"}],
        },
        ("POST", "/v1/risk-pools/{pool}/banks"): {
            "bank_code": GZ_ENTERPRISE,
            "source": "sweep",
            "valid_from": "2026-01-01",
            "valid_to": "2026-12-31",
        },
        ("POST", "/v1/risk-pools/{pool}/banks/{bank_code}/suspension"): {"suspended": True},
        ("POST", "/v1/loans"): {
            "pool": shenzhen.get("pool", "sz-pool"),
            "bank_code": SZ_ENTERPRISE,
            "enterprise_code": SZ_ENTERPRISE,
            "loan_number": "SWEEP",
            "principal": "1.00",
            "disbursed_on": "2026-03-01",
            "term_months": 12,
            "filed_on": "2026-03-20",
        },
        ("POST", "/v1/loans/{loan_id}/status"): {"status": "overdue"},
        ("POST", "/v1/loans/{loan_id}/revocation"): {"reason": "sweep"},
        ("POST", "/v1/claims"): {"loan_id": loan_id, "non_performing": "1.00", "claimed_on": "2026-11-01"},
        ("POST", "/v1/claims/{claim_id}/approval"): {"paid_on": "2026-11-20"},
        ("POST", "/v1/claims/{claim_id}/rejection"): {"reason": "sweep"},
        ("POST", "/v1/funds/{fund}/appropriations"): {"amount": "1.00", "on": "2026-04-01"},
        ("POST", "/v1/funds/{fund}/remittances"): {"amount": "1.00", "on": "2026-04-01"},
        ("POST", "/v1/risk-pools/{pool}/contributions"): {
            "funder_code": "440300",
            "amount": "1.00",
            "on": "2026-04-01",
        },
        ("POST", "/v1/risk-pools/{pool}/settlements"): {"on": "2027-01-15"},
        ("POST", "/v1/cash-requests/{cash_request_id}/rejection"): {"reason": "sweep"},
        ("POST", "/v1/recoveries"): {
            "claim_id": claim_id,
            "gross": "1.00",
            "costs": "0.00",
            "recovered_on": "2027-01-01",
        },
    }
