"""Roles and scopes: who may call a route (an explicit dependency per route) and which objects it sees.

Scopes: ``region:440100`` (that region and the regions below it: 6-digit codes, province 2 digits, city 4,
county 6, so 440100 covers 4401xx), ``fund:CODE``, ``institution:CREDIT_CODE``. Admin sees everything."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from api.problems import ApiCode, ApiProblem


class Role(StrEnum):
    ADMIN = "admin"
    FINANCE_OFFICE = "finance_office"
    AUDITOR = "auditor"
    FUND_MANAGER = "fund_manager"
    ENTERPRISE = "enterprise"
    BANK = "bank"
    SERVICE_PROVIDER = "service_provider"


ALL_ROLES = tuple(Role)
SCOPE_KINDS = ("region", "fund", "institution")
REGION_CODE = re.compile(r"^\d{6}$")
FUND_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
CREDIT_CODE = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{18}$")
SCOPE_PATTERNS = {"region": REGION_CODE, "fund": FUND_CODE, "institution": CREDIT_CODE}
# Which scope kinds a role's scopes may be of (admin needs none).
ROLE_SCOPE_KINDS = {
    Role.ADMIN: (),
    Role.FINANCE_OFFICE: ("region",),
    Role.AUDITOR: ("region",),
    Role.FUND_MANAGER: ("fund",),
    Role.ENTERPRISE: ("institution",),
    Role.BANK: ("institution",),
    Role.SERVICE_PROVIDER: ("institution",),
}


@dataclass(frozen=True, slots=True)
class Scope:
    kind: str
    value: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


def parse_role(text: str) -> Role:
    try:
        return Role(text)
    except ValueError as error:
        raise ApiProblem(
            422, ApiCode.ROLE_INVALID, f"role {text[:40]!r} is not one of {', '.join(ALL_ROLES)}"
        ) from error


def parse_scope(text: str) -> Scope:
    kind, _, value = text.partition(":")
    pattern = SCOPE_PATTERNS.get(kind)
    if pattern is None or not pattern.match(value):
        raise ApiProblem(
            422, ApiCode.SCOPE_INVALID, f"scope {text[:80]!r} is not region:NNNNNN, fund:CODE or institution:CODE"
        )
    return Scope(kind, value)


def check_role_scopes(role: Role, scopes: Iterable[Scope]) -> tuple[Scope, ...]:
    scopes = tuple(scopes)
    allowed = ROLE_SCOPE_KINDS[role]
    if role is not Role.ADMIN and not scopes:
        raise ApiProblem(422, ApiCode.SCOPE_INVALID, f"role {role} needs a scope of kind {' or '.join(allowed)}")
    for scope in scopes:
        if scope.kind not in allowed:
            raise ApiProblem(422, ApiCode.SCOPE_INVALID, f"role {role} cannot hold a {scope.kind} scope")
    return scopes


def region_prefix(code: str) -> str:
    """The significant digits of a region code: 440000 → 44, 440100 → 4401, 440103 → 440103."""
    if code.endswith("0000"):
        return code[:2]
    if code.endswith("00"):
        return code[:4]
    return code


def region_covers(scope_region: str, region: str | None) -> bool:
    return region is not None and region.startswith(region_prefix(scope_region))


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller: its name is the journal's actor, its client the idempotency source."""

    name: str
    client: str
    role: Role
    scopes: tuple[Scope, ...]

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    def regions(self) -> list[str]:
        return [scope.value for scope in self.scopes if scope.kind == "region"]

    def institutions(self) -> list[str]:
        return [scope.value for scope in self.scopes if scope.kind == "institution"]

    def funds(self) -> list[str]:
        return [scope.value for scope in self.scopes if scope.kind == "fund"]

    def covers_region(self, region: str | None) -> bool:
        return self.is_admin or any(region_covers(scope, region) for scope in self.regions())

    def covers_institution(self, code: str | None, region: str | None = None) -> bool:
        """An institution is in scope as itself, or through the region it is registered in."""
        return self.is_admin or code in self.institutions() or self.covers_region(region)

    def covers_entity(self, entity: dict | None) -> bool:
        """A book's entity (a region or an institution) is in scope; a book without one only for admin."""
        if self.is_admin:
            return True
        if entity is None:
            return False
        if entity["kind"] == "region":
            return self.covers_region(entity["code"])
        return self.covers_institution(entity["code"], entity.get("region_code"))


def role_holder(principal: Principal, roles: Iterable[Role]) -> None:
    if principal.role not in tuple(roles):
        raise ApiProblem(403, ApiCode.ROLE_FORBIDDEN, f"role {principal.role} may not do this")


# ----- scope filters over the ledger's objects ---------------------------------------------------


# Roles that read a region's books: the domain books without an entity are theirs through their region.
REGION_BOOK_ROLES = (Role.FINANCE_OFFICE, Role.AUDITOR)


def domain_book_regions(ledger) -> dict[str, tuple[str, ...]]:  # noqa: ANN001 - ledger.engine.Ledger
    """The books the subsidy and funds packages open without an entity (a program's, a fund's, a pool's),
    with the regions whose finance offices keep or oversee each, as those packages know them."""
    from funds.reads import book_regions as fund_book_regions
    from subsidies.listings import book_regions as subsidy_book_regions

    with ledger.reader.connect() as conn:
        owners = dict(subsidy_book_regions(conn))
        for book, regions in fund_book_regions(ledger, conn=conn).items():
            owners[book] = tuple(sorted({*owners.get(book, ()), *regions}))
    return owners


def book_visible(ledger, principal: Principal, book: dict, owners: dict | None = None) -> bool:  # noqa: ANN001
    """A book with an entity: that entity in scope. A domain book without one (a subsidy program's, a
    fund's, a pool's): one of its regions in a finance office's or auditor's scope. ``owners`` is
    ``domain_book_regions``, when the caller checks many books at once."""
    if principal.is_admin:
        return True
    code = book.get("entity_code")
    if code is not None:
        return principal.covers_entity(ledger.entity(code))
    if principal.role not in REGION_BOOK_ROLES:
        return False
    regions = (domain_book_regions(ledger) if owners is None else owners).get(book.get("code"), ())
    return any(principal.covers_region(region) for region in regions)


def visible_books(ledger, principal: Principal) -> list[dict]:  # noqa: ANN001
    books = ledger.books()
    if principal.is_admin:
        return books
    owners = domain_book_regions(ledger) if principal.role in REGION_BOOK_ROLES else {}
    return [book for book in books if book_visible(ledger, principal, book, owners)]


def require_book(ledger, principal: Principal, code: str) -> dict:  # noqa: ANN001
    """The book, if the caller may know it exists; otherwise the same 404 as a book that does not."""
    from ledger.errors import LedgerError, ResultCode

    book = ledger.book(code)
    if book is None or not book_visible(ledger, principal, book):
        raise LedgerError(ResultCode.BOOK_NOT_FOUND, f"book {code!r} does not exist")
    return book


def require_books(ledger, principal: Principal, codes) -> None:  # noqa: ANN001
    for code in sorted(set(codes)):
        require_book(ledger, principal, code)


# ----- scope predicates of guidance funds and risk pools -------------------------------------------------
# A guidance fund belongs to its region; a sub-fund to its guidance fund's region. A fund manager's
# ``fund:CODE`` scope names a sub-fund it manages, or a guidance fund (and so every sub-fund under it).
# A risk pool is overseen by the finance office of each level that funds it; a bank sees the pools it has
# an agreement with, and of those only its own loans, claims and recoveries.


def fund_visible(principal: Principal, guidance_code: str, region_code: str, subfund_code: str | None = None) -> bool:
    if principal.is_admin:
        return True
    if principal.role in (Role.FINANCE_OFFICE, Role.AUDITOR):
        return principal.covers_region(region_code)
    if principal.role is Role.FUND_MANAGER:
        managed = set(principal.funds())
        return guidance_code in managed or (subfund_code is not None and subfund_code in managed)
    return False


def pool_visible(principal: Principal, funder_codes: Iterable[str], bank_codes: Iterable[str]) -> bool:
    if principal.is_admin:
        return True
    if principal.role in (Role.FINANCE_OFFICE, Role.AUDITOR):
        return any(principal.covers_region(code) for code in funder_codes)
    if principal.role is Role.BANK:
        return bool(set(principal.institutions()) & set(bank_codes))
    return False


def bank_record_visible(principal: Principal, bank_code: str, funder_codes: Iterable[str]) -> bool:
    """A loan, claim or recovery: its bank's own, or in a pool its region funds."""
    if principal.role is Role.BANK:
        return bank_code in principal.institutions()
    return pool_visible(principal, funder_codes, ())


# ----- scope predicates over voucher and subsidy objects (issue 12) -----------------------------------


def institution_regions(ledger, principal: Principal) -> list[str]:  # noqa: ANN001 - ledger.engine.Ledger
    """The regions the caller's institutions are registered in."""
    regions = []
    for code in principal.institutions():
        entity = ledger.entity(code)
        if entity is not None and entity.get("region_code"):
            regions.append(entity["region_code"])
    return regions


def program_visible(principal: Principal, program_region: str, registered_regions: Iterable[str] = ()) -> bool:
    """A program (voucher or subsidy) is known to the offices and auditors of its region and to institutions
    registered inside that region."""
    return principal.covers_region(program_region) or any(
        region_covers(program_region, region) for region in registered_regions
    )


def voucher_grant_visible(principal: Principal, grant: dict) -> bool:
    return principal.covers_region(grant["region_code"]) or grant["enterprise_code"] in principal.institutions()


def redemption_visible(principal: Principal, redemption: dict) -> bool:
    """A cross-region redemption is visible to both regions' offices and auditors, its enterprise and provider."""
    return (
        principal.covers_region(redemption["enterprise_region"])
        or principal.covers_region(redemption["provider_region"])
        or redemption["enterprise_code"] in principal.institutions()
        or redemption["provider_code"] in principal.institutions()
    )


def settlement_visible(principal: Principal, settlement: dict) -> bool:
    return principal.covers_region(settlement["region_low"]) or principal.covers_region(settlement["region_high"])


def subsidy_item_visible(principal: Principal, program_region: str, institution: str) -> bool:
    """An application or grant: the program region's offices and auditors, and the institution itself."""
    return principal.covers_region(program_region) or institution in principal.institutions()
