"""The page context (who, language, unit, CSRF token), templates, and the refusals a page can show.

A page handler asks for ``Page`` (anyone) or ``signed_in(*roles)`` (a user of those roles). A refusal is a
``PageRefusal``: the app shows it as a page with the rule's message and code, never a traceback."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from api.problems import ApiProblem
from api.scopes import Principal, Role
from api.web.i18n import (
    MESSAGES,
    Language,
    Unit,
    date_text,
    label,
    moment_text,
    money_text,
    parse_language,
    parse_unit,
    recorded_text,
    translate,
)
from api.web.session import CSRF_FIELD, WebSession, attach_presession, read_session
from ledger.db import read_only
from ledger.engine import Ledger
from ledger.errors import LedgerError
from ledger.money import to_fen

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
LANGUAGE_COOKIE = "fl_lang"
UNIT_COOKIE = "fl_unit"
PREFERENCE_DAYS = 365
WEB_PREFIX = "/web"

_environment = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True, slots=True)
class Page:
    request: Request
    session: WebSession
    language: Language
    unit: Unit

    @property
    def principal(self) -> Principal | None:
        return self.session.principal

    def t(self, key: str, **values: object) -> str:
        return translate(self.language, key, **values)

    def label(self, prefix: str, value: str | None) -> str:
        return label(self.language, prefix, value)

    def money(self, fen: int | None, currency: str = "CNY") -> str:
        return money_text(fen, self.unit, currency)

    def yuan(self, text: str | None) -> str:
        """An amount the API layer gives as a decimal string in 元, shown like any other."""
        return "" if not text else money_text(to_fen(text), self.unit)


class PageRefusal(Exception):
    """A page that cannot be shown or an action refused: shown with its message (and rule code).

    ``from_service``: the message is a service's own (English, with its figures), so a page in another
    language shows the rule's message from the catalogue above it (``rule_message``); a message the page
    wrote itself is already in the page's language."""

    def __init__(self, status: int, message: str, code: str | None = None, *, from_service: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.from_service = from_service


@dataclass(frozen=True, slots=True)
class ShownRefusal:
    """A refusal as a template shows it: the text in the page's language, and the service's own message
    under it when the text is the catalogue's (``detail``; None when the text is the service's message)."""

    status: int
    message: str
    code: str | None
    detail: str | None = None


RULE_PREFIX = "rule."


def rule_message(language: Language, code: str | None, service_message: str) -> tuple[str, str | None]:
    """The rule's message in ``language`` for a service's refusal, and the service's own message to show
    under it; a code the catalogue does not hold in that language (every code in English) shows the
    service's message alone."""
    text = MESSAGES[language].get(f"{RULE_PREFIX}{code}") if code else None
    if not text or text == service_message:  # unknown, or empty: the service's message is the text
        return service_message, None
    return text, service_message


def shown_refusal(language: Language, refusal: PageRefusal) -> ShownRefusal:
    if not refusal.from_service:
        return ShownRefusal(refusal.status, refusal.message, refusal.code)
    text, detail = rule_message(language, refusal.code, refusal.message)
    return ShownRefusal(refusal.status, text, refusal.code, detail)


class LoginRequired(Exception):
    """No session (or an ended one): the browser goes to the login page and comes back after."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


def page_of(request: Request) -> Page:
    return Page(
        request=request,
        session=read_session(request),
        language=parse_language(request.cookies.get(LANGUAGE_COOKIE)),
        unit=parse_unit(request.cookies.get(UNIT_COOKIE)),
    )


AnyPage = Annotated[Page, Depends(page_of)]


def signed_in(*roles: Role) -> Callable[..., Page]:
    """A page for users of ``roles``: no session → login; another role → 403 page."""

    def check(page: AnyPage) -> Page:
        if page.principal is None:
            target = page.request.url.path + (f"?{page.request.url.query}" if page.request.url.query else "")
            raise LoginRequired(target)
        if page.principal.role not in roles:
            raise PageRefusal(403, page.t("error.forbidden"), "role_forbidden")
        return page

    check.__name__ = "signed_in_" + "_".join(role.value for role in roles)
    return check


def refusal_of(error: LedgerError | ApiProblem) -> PageRefusal:
    """A service's refusal as the page shows it: the rule's own message and code."""
    if isinstance(error, LedgerError):
        code = str(error.code.value)
        status = 404 if code.endswith("_not_found") else 409
        return PageRefusal(status, error.message, code, from_service=True)
    return PageRefusal(error.status, error.detail, str(error.code), from_service=True)


def reading_ledger(page: Page) -> Ledger:
    """The app's ledger over read-only connections, for what a page only reads. On SQLite a plain connection
    begins with BEGIN IMMEDIATE (it may write), so a service's reads on it would queue every page behind the
    write lock and behind each other; over this ledger each read begins deferred and sees committed data.
    Never for a write: the page's forms go through ``app.state.ledger``."""
    state = page.request.app.state
    reader = getattr(state, READING_LEDGER_ATTRIBUTE, None)
    if reader is None:
        reader = Ledger(read_only(state.ledger.engine), clock=state.ledger.clock)
        setattr(state, READING_LEDGER_ATTRIBUTE, reader)
    return reader


READING_LEDGER_ATTRIBUTE = "web_reading_ledger"


def chart_json(option: dict[str, Any]) -> str:
    """An ECharts option as the JSON a data block carries (``</`` escaped so it cannot end the block)."""
    return json.dumps(option, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")


def render(page: Page, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """``template`` with the page's helpers. A ``refusal`` in the context is shown in the page's language;
    ``rule_text(code, message)`` does the same for any template holding a service's code and message."""
    if isinstance(context.get("refusal"), PageRefusal):
        context["refusal"] = shown_refusal(page.language, context["refusal"])
    body = _environment.get_template(template).render(
        rule_text=lambda code, message: rule_message(page.language, code, message)[0],
        page=page,
        t=page.t,
        money=page.money,
        yuan=page.yuan,
        label=page.label,
        day=date_text,
        recorded=recorded_text,
        moment=moment_text,
        csrf_field=CSRF_FIELD,
        csrf_token=page.session.csrf_token,
        here=quote(page.request.url.path + (f"?{page.request.url.query}" if page.request.url.query else ""), safe=""),
        **context,
    )
    response = HTMLResponse(body, status_code=status)
    attach_presession(page.request, response, page.session)
    return response


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def safe_next(url: str | None, default: str) -> str:
    """Only a path inside the pages may be a redirect target (no open redirect to another site)."""
    if url and url.startswith(WEB_PREFIX + "/") and not url.startswith("//") and "\\" not in url:
        return url
    return default


def set_preference(response: Response, name: str, value: str) -> None:
    response.set_cookie(name, value, max_age=PREFERENCE_DAYS * 86_400, httponly=True, samesite="lax", path="/")
