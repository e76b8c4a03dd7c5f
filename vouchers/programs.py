"""Setting up the scheme: regions, programs (with their appropriation), certified providers, eligible
enterprises (科技型中小企业 入库编号) and declared related parties."""

from __future__ import annotations

import json
from datetime import date

from sqlalchemy import Connection, select

from ledger import schema
from ledger.engine import Ledger, posting_specs_fen
from ledger.entities import validate_credit_code, validate_region_code
from ledger.entries import Audit, TransactionRequest
from ledger.errors import LedgerError
from ledger.money import format_fen
from vouchers import books
from vouchers.codes import VoucherCode
from vouchers.config import ProgramConfig
from vouchers.models import (
    VoucherEnterpriseRegistration,
    VoucherEvent,
    VoucherProgram,
    VoucherProviderCertification,
    VoucherRegion,
    VoucherRelatedParty,
)

T_REGIONS = VoucherRegion.__table__
T_PROGRAMS = VoucherProgram.__table__
T_CERTIFICATIONS = VoucherProviderCertification.__table__
T_REGISTRATIONS = VoucherEnterpriseRegistration.__table__
T_RELATED = VoucherRelatedParty.__table__
T_EVENTS = VoucherEvent.__table__
T_ENTITIES = schema.Entity.__table__


def record_event(ledger: Ledger, conn: Connection, subject_type: str, subject_id, event: str, actor: str, **detail):
    conn.execute(
        T_EVENTS.insert().values(
            subject_type=subject_type,
            subject_id=str(subject_id),
            event=event,
            actor=actor,
            recorded_at=ledger.clock(),
            detail_json=json.dumps(detail, ensure_ascii=False, sort_keys=True, default=str),
        )
    )


def require_maker_checker(maker: str, checker: str) -> None:
    """不相容岗位分离: whoever records an event that moves public money cannot approve it."""
    if not maker or not checker or maker == checker:
        raise LedgerError(
            VoucherCode.APPROVER_MUST_DIFFER_FROM_MAKER,
            f"the approver ({checker!r}) must be a different user from the one who recorded it ({maker!r})",
        )


# regions ------------------------------------------------------------------------------------------


def add_region(ledger: Ledger, code: str, name: str) -> None:
    """A region joins the scheme with its own three books. Idempotent."""
    validate_region_code(code)
    with ledger.engine.begin() as conn:
        ledger.register_region(code, name, conn=conn)
        books.create_region_books(ledger, code, name, conn=conn)
        if conn.execute(select(T_REGIONS.c.id).where(T_REGIONS.c.code == code)).first() is None:
            conn.execute(T_REGIONS.insert().values(code=code, name=name))


def scheme_regions(conn: Connection) -> list[str]:
    return [row[0] for row in conn.execute(select(T_REGIONS.c.code).order_by(T_REGIONS.c.code))]


def settling_region(conn: Connection, region_code: str) -> str:
    """The most specific scheme region that contains ``region_code`` (e.g. 310104 -> 310000)."""
    for candidate in (region_code, region_code[:4] + "00", region_code[:2] + "0000"):
        if conn.execute(select(T_REGIONS.c.id).where(T_REGIONS.c.code == candidate)).first() is not None:
            return candidate
    raise LedgerError(
        VoucherCode.REGION_NOT_IN_SCHEME, f"region {region_code} is not part of the voucher scheme", region=region_code
    )


def institution_region(conn: Connection, code: str) -> str:
    row = conn.execute(select(T_ENTITIES.c.region_code).where(T_ENTITIES.c.code == code)).first()
    if row is None or row[0] is None:
        raise LedgerError(
            VoucherCode.REGION_NOT_IN_SCHEME, f"institution {code} is not registered with a region", institution=code
        )
    return row[0]


# programs -----------------------------------------------------------------------------------------


def create_program(
    ledger: Ledger, config: ProgramConfig, *, actor: str, approver: str, approval_doc: str, on: date
) -> int:
    """Create a program and book its appropriation in all three books of its region. Idempotent by code
    (the same configuration again returns the stored program; a different one is refused)."""
    config.validate()
    require_maker_checker(actor, approver)
    with ledger.engine.begin() as conn:
        existing = conn.execute(select(T_PROGRAMS).where(T_PROGRAMS.c.code == config.code)).mappings().first()
        if existing is not None:
            if existing["config_json"] != config.to_json():
                raise LedgerError(
                    VoucherCode.PROGRAM_CONFIG_INVALID,
                    f"program {config.code} exists with a different configuration",
                )
            return existing["id"]
        settling_region(conn, config.region_code)
        books.create_program_accounts(
            ledger, config.region_code, config.code, conn=conn, cap_enforcement=config.cap_enforcement
        )
        program_id = conn.execute(
            T_PROGRAMS.insert().values(
                code=config.code,
                region_code=config.region_code,
                year=config.year,
                config_json=config.to_json(),
                created_by=actor,
                created_at=ledger.clock(),
            )
        ).inserted_primary_key[0]
        _post_appropriation(ledger, conn, config, Audit(actor, approver, approval_doc), on)
        record_event(ledger, conn, "program", config.code, "created", actor, budget=format_fen(config.budget_fen))
        return program_id


def _post_appropriation(ledger: Ledger, conn: Connection, config: ProgramConfig, audit: Audit, on: date) -> None:
    region, program, amount = config.region_code, config.code, config.budget_fen
    legs = (
        *posting_specs_fen(
            books.financial_book(region),
            [(books.TREASURY, amount), (books.appropriation_revenue(program), -amount)],
        ),
        *posting_specs_fen(
            books.budget_book(region),
            [(books.budget_funds_held(program), amount), (books.budget_appropriation(program), -amount)],
        ),
        *posting_specs_fen(
            books.memo_book(region),
            [(books.program_authority(program), amount), (books.program_grantable(program), -amount)],
        ),
    )
    ledger.post(
        TransactionRequest(
            client_id=f"program:{program}",
            postings=legs,
            effective_date=on,
            source=books.LEDGER_SOURCE,
            kind="voucher_program_appropriation",
            memo=f"创新券 program {program} appropriation",
            audit=audit,
            program_year=config.year,
            link_type="voucher_program",
            link_id=program,
        ),
        conn=conn,
    )


def load_program(conn: Connection, code: str) -> ProgramConfig:
    row = conn.execute(select(T_PROGRAMS.c.config_json).where(T_PROGRAMS.c.code == code)).first()
    if row is None:
        raise LedgerError(VoucherCode.PROGRAM_NOT_FOUND, f"voucher program {code!r} does not exist", program=code)
    return ProgramConfig.from_dict(json.loads(row[0]))


# providers, enterprises, related parties ------------------------------------------------------------


def certify_provider(
    ledger: Ledger,
    provider_code: str,
    *,
    certifying_region: str,
    categories: list[str],
    certified_from: date,
    certified_until: date | None = None,
) -> None:
    """Record a provider's certification by a region (idempotent per provider, region and start date)."""
    code = validate_credit_code(provider_code)
    with ledger.engine.begin() as conn:
        exists = conn.execute(
            select(T_CERTIFICATIONS.c.id).where(
                T_CERTIFICATIONS.c.provider_code == code,
                T_CERTIFICATIONS.c.certifying_region == certifying_region,
                T_CERTIFICATIONS.c.certified_from == certified_from,
            )
        ).first()
        if exists is None:
            conn.execute(
                T_CERTIFICATIONS.insert().values(
                    provider_code=code,
                    certifying_region=certifying_region,
                    categories_json=json.dumps(sorted(categories), ensure_ascii=False),
                    certified_from=certified_from,
                    certified_until=certified_until,
                )
            )


def register_enterprise(
    ledger: Ledger, enterprise_code: str, *, registration_no: str, valid_from: date, valid_until: date
) -> None:
    """科技型中小企业 入库编号 with its validity (idempotent by number)."""
    code = validate_credit_code(enterprise_code)
    with ledger.engine.begin() as conn:
        exists = conn.execute(
            select(T_REGISTRATIONS.c.id).where(T_REGISTRATIONS.c.registration_no == registration_no)
        ).first()
        if exists is None:
            conn.execute(
                T_REGISTRATIONS.insert().values(
                    enterprise_code=code,
                    registration_no=registration_no,
                    valid_from=valid_from,
                    valid_until=valid_until,
                )
            )


def declare_related_parties(ledger: Ledger, enterprise_code: str, provider_code: str, relation: str = "") -> None:
    with ledger.engine.begin() as conn:
        pair = (validate_credit_code(enterprise_code), validate_credit_code(provider_code))
        exists = conn.execute(
            select(T_RELATED.c.id).where(T_RELATED.c.enterprise_code == pair[0], T_RELATED.c.provider_code == pair[1])
        ).first()
        if exists is None:
            conn.execute(T_RELATED.insert().values(enterprise_code=pair[0], provider_code=pair[1], relation=relation))


# eligibility checks (used by grants and redemptions) -------------------------------------------------


def check_enterprise_eligible(conn: Connection, config: ProgramConfig, enterprise: str, on: date) -> str:
    """The enterprise holds a 入库编号 valid on ``on`` and belongs to the issuing region. Returns its region."""
    registered = conn.execute(
        select(T_REGISTRATIONS.c.registration_no).where(
            T_REGISTRATIONS.c.enterprise_code == enterprise,
            T_REGISTRATIONS.c.valid_from <= on,
            T_REGISTRATIONS.c.valid_until >= on,
        )
    ).first()
    if registered is None:
        raise LedgerError(
            VoucherCode.ENTERPRISE_MUST_BE_ELIGIBLE,
            f"enterprise {enterprise} has no 科技型中小企业 入库编号 valid on {on}",
            enterprise=enterprise,
        )
    region = institution_region(conn, enterprise)
    if settling_region(conn, region) != config.region_code:
        raise LedgerError(
            VoucherCode.ENTERPRISE_MUST_BE_ELIGIBLE,
            f"enterprise {enterprise} is registered in {region}, outside the issuing region {config.region_code}",
            enterprise=enterprise,
        )
    return region


def check_provider_certified(conn: Connection, config: ProgramConfig, provider: str, category: str, on: date) -> None:
    """Certified on ``on`` for ``category`` by the issuing region or a region it recognizes (互认)."""
    rows = conn.execute(
        select(T_CERTIFICATIONS.c.categories_json)
        .where(
            T_CERTIFICATIONS.c.provider_code == provider,
            T_CERTIFICATIONS.c.certifying_region.in_(config.accepted_provider_regions),
            T_CERTIFICATIONS.c.certified_from <= on,
        )
        .where((T_CERTIFICATIONS.c.certified_until.is_(None)) | (T_CERTIFICATIONS.c.certified_until >= on))
    ).all()
    if not any(category in json.loads(row[0]) for row in rows):
        raise LedgerError(
            VoucherCode.PROVIDER_MUST_BE_CERTIFIED,
            f"provider {provider} holds no certification for {category!r} on {on} recognized by program {config.code}",
            provider=provider,
            category=category,
        )


def check_not_related(conn: Connection, enterprise: str, provider: str) -> None:
    related = conn.execute(
        select(T_RELATED.c.relation).where(
            T_RELATED.c.enterprise_code == enterprise, T_RELATED.c.provider_code == provider
        )
    ).first()
    if related is not None:
        raise LedgerError(
            VoucherCode.RELATED_PARTIES_CANNOT_TRANSACT,
            f"enterprise {enterprise} and provider {provider} are related parties ({related[0] or 'declared'})",
            enterprise=enterprise,
            provider=provider,
        )
