"""API settings from the environment. Secrets are never defaulted outside development."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass

ENV_VAR = "FUNDLEDGER_ENV"
JWT_SECRET_VAR = "FUNDLEDGER_JWT_SECRET"
TOKEN_MINUTES_VAR = "FUNDLEDGER_TOKEN_MINUTES"
AUTH_FAILURE_RATE_VAR = "FUNDLEDGER_AUTH_FAILURE_RATE"
DEVELOPMENT = "development"
# Placeholders people copy from examples: refused like an empty secret.
KNOWN_DEFAULT_SECRETS = frozenset({"secret", "changeme", "change-me", "default", "development", "fundledger"})
# An HMAC-SHA256 key shorter than its output weakens it (RFC 7518 §3.2).
JWT_SECRET_MIN_LENGTH = 32
DEFAULT_TOKEN_MINUTES = 15
TOKEN_MINUTES_MAX = 24 * 60
# Failed authentications allowed per client and key prefix (or user name) before 429.
DEFAULT_AUTH_FAILURE_RATE = "10/minute"


class SettingsError(Exception):
    """The environment does not give a usable configuration."""


@dataclass(frozen=True, slots=True)
class Settings:
    jwt_secret: str
    environment: str = "production"
    token_minutes: int = DEFAULT_TOKEN_MINUTES
    auth_failure_rate: str = DEFAULT_AUTH_FAILURE_RATE

    @property
    def development(self) -> bool:
        return self.environment == DEVELOPMENT


def check_secret(secret: str, environment: str) -> None:
    if environment == DEVELOPMENT:
        return
    if not secret or secret.strip().lower() in KNOWN_DEFAULT_SECRETS:
        raise SettingsError(f"{JWT_SECRET_VAR} is empty or a known default; set a random secret")
    if len(secret) < JWT_SECRET_MIN_LENGTH:
        raise SettingsError(f"{JWT_SECRET_VAR} must be at least {JWT_SECRET_MIN_LENGTH} characters")


def settings_from_env(environ: dict[str, str] | None = None) -> Settings:
    environ = os.environ if environ is None else environ
    environment = environ.get(ENV_VAR, "production").strip() or "production"
    secret = environ.get(JWT_SECRET_VAR, "")
    check_secret(secret, environment)
    if environment == DEVELOPMENT and not secret:
        # A development server signs with a secret of its own run: tokens die with the process.
        secret = secrets.token_urlsafe(JWT_SECRET_MIN_LENGTH)
    try:
        minutes = int(environ.get(TOKEN_MINUTES_VAR, DEFAULT_TOKEN_MINUTES))
    except ValueError as error:
        raise SettingsError(f"{TOKEN_MINUTES_VAR} must be a whole number of minutes") from error
    if not 1 <= minutes <= TOKEN_MINUTES_MAX:
        raise SettingsError(f"{TOKEN_MINUTES_VAR} must be between 1 and {TOKEN_MINUTES_MAX}")
    return Settings(
        jwt_secret=secret,
        environment=environment,
        token_minutes=minutes,
        auth_failure_rate=environ.get(AUTH_FAILURE_RATE_VAR, DEFAULT_AUTH_FAILURE_RATE),
    )
