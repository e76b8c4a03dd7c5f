"""Requests that wait for a second person and that no domain table holds yet: a provider's filed voucher claim
waits for the finance office that verifies it (``vouchers.redemptions.claim`` takes both the filer and the
verifier at once). The store keeps the request as filed; deciding it calls the owning domain's service, which
checks its rules (the recorder is never the approver) when the request is carried out."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from api.writes import API_METADATA

PENDING = "pending"
APPROVED = "approved"
REJECTED = "rejected"
REQUEST_ROWS_MAX = 5_000
T_APPROVAL_REQUESTS = sa.Table(
    "api_approval_requests",
    API_METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("subject", sa.String(100), nullable=False),
    sa.Column("region_code", sa.String(6)),
    sa.Column("other_region_code", sa.String(6)),
    sa.Column("institution_code", sa.String(18)),
    sa.Column("payload_json", sa.Text, nullable=False),
    sa.Column("amount_fen", sa.BigInteger),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("recorded_by", sa.String(100), nullable=False),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("decided_by", sa.String(100)),
    sa.Column("decided_at", sa.DateTime(timezone=True)),
    sa.Column("reason", sa.String(1000)),
)


def file_request(
    conn: Connection,
    *,
    kind: str,
    subject: str,
    payload: dict[str, Any],
    recorded_by: str,
    recorded_at: datetime,
    region_code: str | None = None,
    other_region_code: str | None = None,
    institution_code: str | None = None,
    amount_fen: int | None = None,
) -> int:
    return conn.execute(
        T_APPROVAL_REQUESTS.insert().values(
            kind=kind,
            subject=subject,
            payload_json=json.dumps(payload, ensure_ascii=False, sort_keys=True, default=str),
            recorded_by=recorded_by,
            recorded_at=recorded_at,
            region_code=region_code,
            other_region_code=other_region_code,
            institution_code=institution_code,
            amount_fen=amount_fen,
            status=PENDING,
        )
    ).inserted_primary_key[0]


def pending_for_subject(conn: Connection, kind: str, subject: str) -> dict | None:
    row = (
        conn.execute(
            sa.select(T_APPROVAL_REQUESTS).where(
                T_APPROVAL_REQUESTS.c.kind == kind,
                T_APPROVAL_REQUESTS.c.subject == subject,
                T_APPROVAL_REQUESTS.c.status == PENDING,
            )
        )
        .mappings()
        .first()
    )
    return None if row is None else _decoded(row)


def pending_requests(conn: Connection) -> list[dict]:
    rows = conn.execute(
        sa.select(T_APPROVAL_REQUESTS)
        .where(T_APPROVAL_REQUESTS.c.status == PENDING)
        .order_by(T_APPROVAL_REQUESTS.c.id)
        .limit(REQUEST_ROWS_MAX)
    ).mappings()
    return [_decoded(row) for row in rows]


def requests_of_institution(
    conn: Connection, kind: str, institution: str, *, limit: int = REQUEST_ROWS_MAX
) -> list[dict]:
    """The requests of one kind filed for an institution (a provider's voucher claims), oldest first, decided or not."""
    rows = conn.execute(
        sa.select(T_APPROVAL_REQUESTS)
        .where(T_APPROVAL_REQUESTS.c.kind == kind, T_APPROVAL_REQUESTS.c.institution_code == institution)
        .order_by(T_APPROVAL_REQUESTS.c.id)
        .limit(limit)
    ).mappings()
    return [_decoded(row) for row in rows]


def request_for_update(conn: Connection, request_id: int, *, postgres: bool) -> dict | None:
    query = sa.select(T_APPROVAL_REQUESTS).where(T_APPROVAL_REQUESTS.c.id == request_id)
    if postgres:
        query = query.with_for_update()
    row = conn.execute(query).mappings().first()
    return None if row is None else _decoded(row)


def decide(
    conn: Connection, request_id: int, *, status: str, decided_by: str, at: datetime, reason: str | None
) -> None:
    conn.execute(
        T_APPROVAL_REQUESTS.update()
        .where(T_APPROVAL_REQUESTS.c.id == request_id)
        .values(status=status, decided_by=decided_by, decided_at=at, reason=reason)
    )


def _decoded(row) -> dict:  # noqa: ANN001 - a row mapping
    item = dict(row)
    item["payload"] = json.loads(item.pop("payload_json"))
    return item
