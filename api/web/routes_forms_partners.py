"""Pages for the fund manager's, bank's and service provider's record forms and the bank's page."""

from __future__ import annotations

from fastapi import APIRouter

from api.web.rendering import WEB_PREFIX

router = APIRouter(prefix=WEB_PREFIX, include_in_schema=False)
