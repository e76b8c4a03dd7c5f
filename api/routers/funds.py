"""Guidance funds: appropriations, sub-funds, commitments, calls, investments, exits, fees, valuations, distributions, metrics."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v1", tags=["funds"])
