"""The HTTP API's app factory: ``create_app(engine, settings)``; ``fundledger serve`` runs it."""

from __future__ import annotations

import os
import threading
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine

from api.auth import FailureLimiter
from api.problems import document_problems, install_problem_handlers
from api.routers import approvals as approval_routes
from api.routers import auth as auth_routes
from api.routers import books as book_routes
from api.routers import cash_requests as cash_request_routes
from api.routers import fund_metrics as fund_metric_routes
from api.routers import funds as fund_routes
from api.routers import operations as operation_routes
from api.routers import pools as pool_routes
from api.routers import subsidies as subsidy_routes
from api.routers import transactions as transaction_routes
from api.routers import voucher_settlements as voucher_settlement_routes
from api.routers import vouchers as voucher_routes
from api.settings import Settings, settings_from_env
from ledger.db import is_postgres, make_engine
from ledger.engine import Ledger

STATIC_DIR = Path(__file__).resolve().parent / "static"
API_TITLE = "fundledger"
API_VERSION = "1"
ROUTER_MODULES = (
    auth_routes,
    book_routes,
    transaction_routes,
    operation_routes,
    fund_routes,
    fund_metric_routes,
    pool_routes,
    cash_request_routes,
    voucher_routes,
    voucher_settlement_routes,
    subsidy_routes,
    approval_routes,
)


def create_app(engine: Engine | None = None, settings: Settings | None = None) -> FastAPI:
    settings = settings or settings_from_env()
    engine = engine or make_engine()
    app = FastAPI(
        title=API_TITLE,
        version=API_VERSION,
        description="Double-entry ledger for public science-and-technology finance. Amounts are decimal strings in 元.",
        docs_url=None,
        redoc_url=None,
        lifespan=_lifespan,
    )
    app.state.engine = engine
    app.state.settings = settings
    app.state.ledger = Ledger(engine)
    app.state.sqlite_writer_turn = None if is_postgres(engine) else threading.Lock()
    app.state.limiter = FailureLimiter(settings.auth_failure_rate)
    install_problem_handlers(app)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for module in ROUTER_MODULES:
        app.include_router(module.router)
    _include_web_pages(app)
    _publish_problems_in_openapi(app)

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        # People open the bare address; the pages live under /web, the API under /v1.
        return RedirectResponse("/web/", status_code=307)

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        # Swagger UI's files are vendored (closed government networks reach no CDN).
        return get_swagger_ui_html(
            openapi_url=app.openapi_url,
            title=f"{API_TITLE} API",
            swagger_js_url="/static/swagger/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger/swagger-ui.css",
            swagger_favicon_url="/static/swagger/swagger-ui.css",
        )

    return app


def _publish_problems_in_openapi(app: FastAPI) -> None:
    def openapi() -> dict:
        if app.openapi_schema is None:
            document = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            app.openapi_schema = document_problems(document)
        return app.openapi_schema

    app.openapi = openapi


def _include_web_pages(app: FastAPI) -> None:
    """The server-rendered pages (api/web) share the app, its auth and its services."""
    from api import web

    web.install(app)


@asynccontextmanager
async def _lifespan(app: FastAPI):
    # `fundledger serve` asks every worker to run the scheduler; the leader lock lets exactly one of them.
    from jobs.scheduler import SCHEDULER_ENV, SchedulerService
    from ledger.db import engine_url_for_workers

    scheduler = None
    if os.environ.get(SCHEDULER_ENV) == "1":
        scheduler = SchedulerService(engine_url_for_workers(app.state.engine))
        scheduler.start()
    app.state.scheduler = scheduler
    yield
    if scheduler is not None:
        scheduler.stop()
    from api.deps import close_async_reader

    await close_async_reader(app.state.ledger)
    app.state.ledger.close()  # its own connections live outside the engine's pool
