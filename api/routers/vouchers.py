"""Innovation vouchers: programs, grants, reservations, claims, cancellations, expiry, settlements, payment batches."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v1", tags=["vouchers"])
