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
    values = {
        "book": SZ_BOOK,
        "path": "Assets:Bank:Treasury",
        "period": "2026-01",
        "transaction_id": str(world[SZ_BOOK]),
        "credit_code": SZ_ENTERPRISE,
        "alert_id": "1",
    }
    bodies = {
        ("POST", "/v1/books"): {"code": "440300-memo", "name": "x", "basis": "memo", "entity_code": "440300"},
        ("POST", "/v1/books/{book}/accounts"): {"path": "Expenses:Other"},
        ("POST", "/v1/transactions"): appropriation("1.00", book=SZ_BOOK),
        ("POST", "/v1/batches"): {"requests": [appropriation("1.00", book=SZ_BOOK)]},
        ("POST", "/v1/alerts/{alert_id}/resolve"): {"reason": "sweep"},
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
def test_outside_scope_is_404_or_403_and_never_listed(client, app, key_for, world, role):
    headers = key_for(role.value, *INSIDE_GZ[role]) | {"Idempotency-Key": f"sweep-{role}"}
    calls = _outside_scope_calls(app, world)
    assert len(calls) == len({(m, r.path) for r in _v1_routes(app) for m in r.methods}) - len(PUBLIC_ROUTES)
    for method, path, body in calls:
        response = client.request(method, path, headers=headers, json=body)
        assert response.status_code in (200, 403, 404), f"{role} {method} {path}: {response.status_code}"
        if response.status_code == 200:
            assert method == "GET", f"{role} changed something outside its scope: {method} {path}"
            assert SZ_BOOK not in response.text and "440300" not in response.text, f"{role} saw Shenzhen in {path}"


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
