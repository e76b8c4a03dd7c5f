"""Subsidies: programs, applications, approvals, payments, clawbacks, year-end, institution-year reports."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v1", tags=["subsidies"])
