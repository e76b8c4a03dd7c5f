"""POST /v1/auth/token: a user name and password for a short-lived bearer token (OAuth2 password form)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request

from api.auth import USERNAME_MAX_LENGTH, login
from api.deps import client_address
from api.schemas.core import TokenOut

# Long enough for any passphrase; bounds the Argon2 input.
PASSWORD_MAX_LENGTH = 1_000
router = APIRouter(prefix="/v1/auth", tags=["auth"])


@router.post("/token", response_model=TokenOut, responses={401: {"description": "credentials_invalid"}})
def token(
    request: Request,
    username: Annotated[str, Form(min_length=1, max_length=USERNAME_MAX_LENGTH)],
    password: Annotated[str, Form(min_length=1, max_length=PASSWORD_MAX_LENGTH)],
) -> TokenOut:
    state = request.app.state
    access_token, seconds = login(
        state.engine, state.settings, state.limiter, client_address(request), username, password
    )
    return TokenOut(access_token=access_token, expires_in=seconds)
