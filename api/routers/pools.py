"""Risk-compensation pools: pools, funders, banks, loans, claims, settlements, recoveries, statements."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v1", tags=["pools"])
