"""The approvals queue: items waiting for a second person, across the domains."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v1", tags=["approvals"])
