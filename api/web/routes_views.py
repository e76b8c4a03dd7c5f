"""Pages for the finance office's and auditor's views: alerts, settlements, chain and reconcile status."""

from __future__ import annotations

from fastapi import APIRouter

from api.web.rendering import WEB_PREFIX

router = APIRouter(prefix=WEB_PREFIX, include_in_schema=False)
