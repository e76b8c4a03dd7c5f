"""Server-rendered pages (Jinja2 + HTMX) on the API's app, auth and services."""

from __future__ import annotations

from fastapi import FastAPI


def install(app: FastAPI) -> None:
    """Mount the pages' routes and static files on ``app``."""
