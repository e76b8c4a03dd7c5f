"""Login, logout, the language and unit switches, and the home page that sends each role to its pages."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form
from fastapi.responses import Response

from api.auth import USERNAME_MAX_LENGTH, check_password
from api.deps import client_address
from api.problems import ApiProblem
from api.routers.auth import PASSWORD_MAX_LENGTH
from api.scopes import ALL_ROLES, Role
from api.web.i18n import parse_language, parse_unit
from api.web.rendering import (
    LANGUAGE_COOKIE,
    UNIT_COOKIE,
    WEB_PREFIX,
    AnyPage,
    Page,
    PageRefusal,
    redirect,
    render,
    safe_next,
    set_preference,
    signed_in,
)
from api.web.session import CSRF_FIELD, csrf_matches, end_session, start_session

router = APIRouter(prefix=WEB_PREFIX, include_in_schema=False)
CsrfField = Annotated[str, Form(alias=CSRF_FIELD, max_length=200)]
NextField = Annotated[str, Form(max_length=2_000)]
SignedInPage = Annotated[Page, Depends(signed_in(*ALL_ROLES))]


def check_csrf(page: Page, submitted: str | None) -> None:
    """Every form posts the session's token; a form from another site cannot know it."""
    if not csrf_matches(page.session, submitted):
        raise PageRefusal(403, page.t("error.csrf"), "csrf_token_invalid")


def home_of(role: Role, scope_values: list[str]) -> str:
    if role is Role.ENTERPRISE and scope_values:
        return f"{WEB_PREFIX}/enterprises/{scope_values[0]}"
    if role is Role.SERVICE_PROVIDER and scope_values:
        return f"{WEB_PREFIX}/providers/{scope_values[0]}"
    if role is Role.FUND_MANAGER and scope_values:
        return f"{WEB_PREFIX}/funds/{scope_values[0]}"
    if role is Role.BANK and scope_values:
        return f"{WEB_PREFIX}/banks/{scope_values[0]}"
    if role in (Role.FINANCE_OFFICE, Role.AUDITOR, Role.ADMIN):
        return f"{WEB_PREFIX}/finance"
    return f"{WEB_PREFIX}/home"


@router.get("/login")
def login_form(page: AnyPage, next: str | None = None, failed: bool = False):  # noqa: A002 - the URL's name
    return render(page, "login.html", next_url=safe_next(next, f"{WEB_PREFIX}/"), failed=failed)


@router.post("/login")
def login_submit(
    page: AnyPage,
    csrf: CsrfField,
    username: Annotated[str, Form(min_length=1, max_length=USERNAME_MAX_LENGTH)],
    password: Annotated[str, Form(min_length=1, max_length=PASSWORD_MAX_LENGTH)],
    next_url: NextField = "",
):
    check_csrf(page, csrf)
    state = page.request.app.state
    client = client_address(page.request)
    try:
        state.limiter.check(client, username)
    except ApiProblem as problem:
        raise PageRefusal(problem.status, problem.detail, str(problem.code)) from problem
    principal = check_password(state.engine, username, password)
    if principal is None:
        state.limiter.failed(client, username)
        return render(page, "login.html", status=401, next_url=safe_next(next_url, f"{WEB_PREFIX}/"), failed=True)
    target = safe_next(next_url, "") or home_of(principal.role, [scope.value for scope in principal.scopes])
    response = redirect(target)
    start_session(page.request, response, principal)
    return response


@router.post("/logout")
def logout(page: SignedInPage, csrf: CsrfField):
    check_csrf(page, csrf)
    response = redirect(f"{WEB_PREFIX}/login")
    end_session(response)
    return response


@router.post("/preferences")
def preferences(
    page: AnyPage,
    csrf: CsrfField,
    language: Annotated[str | None, Form(max_length=8)] = None,
    unit: Annotated[str | None, Form(max_length=8)] = None,
    next_url: NextField = "",
) -> Response:
    check_csrf(page, csrf)
    response = redirect(safe_next(next_url, f"{WEB_PREFIX}/"))
    if language is not None:
        set_preference(response, LANGUAGE_COOKIE, parse_language(language).value)
    if unit is not None:
        set_preference(response, UNIT_COOKIE, parse_unit(unit).value)
    return response


@router.get("/")
def root(page: SignedInPage):
    principal = page.principal
    return redirect(home_of(principal.role, [scope.value for scope in principal.scopes]))


@router.get("/home")
def home(page: SignedInPage):
    return render(page, "home.html")
