"""The pages' session: a signed, HttpOnly, SameSite=Lax cookie naming the user, with a CSRF token.

The cookie is an HS256 JWT (PyJWT, as the API's tokens, with its own audience so neither passes for the
other) holding the user name, the expiry and a random CSRF token. Every form carries that token and every
POST is refused unless the form's token equals the session's (a cross-site form cannot read it). Before
login the same check runs against a short-lived signed pre-session cookie, so the login form is protected
too. Each request re-reads the user (api.auth.check_token's rule): a disabled user's session ends at once.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

import jwt
from fastapi import Request
from fastapi.responses import Response
from sqlalchemy import select

from api.auth import JWT_ALGORITHM, T_USERS, _user_principal
from api.scopes import Principal
from ledger.db import read_only
from ledger.engine import utc_now

SESSION_COOKIE = "fl_session"
PRESESSION_COOKIE = "fl_presession"
SESSION_AUDIENCE = "fundledger-web"
PRESESSION_AUDIENCE = "fundledger-web-login"
# A working day: the pages are used at a desk; the cookie and the token inside it end together.
SESSION_MINUTES = 8 * 60
PRESESSION_MINUTES = 30
CSRF_TOKEN_BYTES = 32
CSRF_FIELD = "csrf_token"
COOKIE_TEXT_MAX_LENGTH = 4_000


@dataclass(frozen=True, slots=True)
class WebSession:
    principal: Principal | None
    csrf_token: str
    # Set when this request minted a new pre-session token: the response must carry its cookie.
    new_presession: str | None = None


def _secret(request: Request) -> str:
    return request.app.state.settings.jwt_secret


def _decode(request: Request, value: str | None, audience: str) -> dict | None:
    if not value or len(value) > COOKIE_TEXT_MAX_LENGTH:
        return None
    try:
        return jwt.decode(
            value,
            _secret(request),
            algorithms=[JWT_ALGORITHM],
            audience=audience,
            options={"require": ["exp", "aud", "csrf"]},
        )
    except jwt.PyJWTError:
        return None


def _principal_named(request: Request, username: str) -> Principal | None:
    with read_only(request.app.state.engine).connect() as conn:
        row = conn.execute(select(T_USERS).where(T_USERS.c.username == username)).mappings().first()
    if row is None or row["disabled"]:
        return None
    return _user_principal(row)


def read_session(request: Request) -> WebSession:
    """The signed-in user and CSRF token, or an anonymous session with a pre-session token."""
    claims = _decode(request, request.cookies.get(SESSION_COOKIE), SESSION_AUDIENCE)
    if claims is not None and isinstance(claims.get("sub"), str):
        principal = _principal_named(request, claims["sub"])
        if principal is not None:
            return WebSession(principal, claims["csrf"])
    pre = _decode(request, request.cookies.get(PRESESSION_COOKIE), PRESESSION_AUDIENCE)
    if pre is not None:
        return WebSession(None, pre["csrf"])
    token = secrets.token_urlsafe(CSRF_TOKEN_BYTES)
    return WebSession(None, token, new_presession=token)


def csrf_matches(session: WebSession, submitted: str | None) -> bool:
    return bool(submitted) and hmac.compare_digest(session.csrf_token.encode(), str(submitted).encode())


def _signed(request: Request, audience: str, minutes: int, **claims) -> str:
    now = utc_now()
    body = {"aud": audience, "iat": now, "exp": now + timedelta(minutes=minutes), **claims}
    return jwt.encode(body, _secret(request), algorithm=JWT_ALGORITHM)


def _set_cookie(request: Request, response: Response, name: str, value: str, minutes: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=minutes * 60,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )


def attach_presession(request: Request, response: Response, session: WebSession) -> None:
    if session.new_presession is not None:
        value = _signed(request, PRESESSION_AUDIENCE, PRESESSION_MINUTES, csrf=session.new_presession)
        _set_cookie(request, response, PRESESSION_COOKIE, value, PRESESSION_MINUTES)


def start_session(request: Request, response: Response, principal: Principal) -> None:
    """A fresh CSRF token at login, so a token seen before login is worth nothing after it."""
    value = _signed(
        request, SESSION_AUDIENCE, SESSION_MINUTES, sub=principal.name, csrf=secrets.token_urlsafe(CSRF_TOKEN_BYTES)
    )
    _set_cookie(request, response, SESSION_COOKIE, value, SESSION_MINUTES)
    response.delete_cookie(PRESESSION_COOKIE, path="/")


def end_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")
