"""Server-rendered pages (Jinja2 + HTMX) on the API's app, auth and services."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles

from api.web.rendering import WEB_PREFIX, LoginRequired, PageRefusal, page_of, redirect, render

WEB_STATIC_DIR = Path(__file__).resolve().parent / "static"


def install(app: FastAPI) -> None:
    """Mount the pages' routes and static files on ``app``."""
    from api.web import (
        routes_enterprise,
        routes_finance,
        routes_forms_finance,
        routes_forms_funds,
        routes_forms_lending,
        routes_forms_partners,
        routes_ledger,
        routes_roles,
        routes_session,
        routes_views,
    )

    app.mount(f"{WEB_PREFIX}/static", StaticFiles(directory=WEB_STATIC_DIR), name="web-static")
    for module in (
        routes_session,
        routes_enterprise,
        routes_finance,
        routes_ledger,
        routes_roles,
        routes_forms_finance,
        routes_forms_funds,
        routes_forms_lending,
        routes_forms_partners,
        routes_views,
    ):
        app.include_router(module.router)

    @app.exception_handler(PageRefusal)
    async def show_refusal(request: Request, refusal: PageRefusal):
        return render(page_of(request), "error.html", status=refusal.status, refusal=refusal)

    api_validation_handler = app.exception_handlers.get(RequestValidationError)

    @app.exception_handler(RequestValidationError)
    async def show_invalid_input(request: Request, error: RequestValidationError):
        """A malformed query or form on a page is a page saying what is wrong; the API keeps its problem+json."""
        if not request.url.path.startswith(WEB_PREFIX + "/"):
            return await api_validation_handler(request, error)
        fields = "; ".join(f"{item['loc'][-1]}: {item['msg']}" for item in error.errors())
        return render(page_of(request), "error.html", status=422, refusal=PageRefusal(422, fields, "request_invalid"))

    @app.exception_handler(LoginRequired)
    async def go_to_login(request: Request, needed: LoginRequired):
        return redirect(f"{WEB_PREFIX}/login?next={quote(needed.next_url, safe='')}")
