"""Who calls: API keys for programs and password users for people, with short-lived signed tokens.

A key is ``fl_<prefix>_<secret>``: the prefix finds its row, only the SHA-256 of the whole key is stored,
and the key is shown once when made. Passwords are hashed with Argon2 (pwdlib). Tokens are HS256 JWTs
(PyJWT) naming the user; each request re-reads the user, so disabling one takes effect at once.
Failed authentications are rate-limited per client address and key prefix or user name (``limits``)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt
import sqlalchemy as sa
from limits import parse as parse_rate
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from pwdlib import PasswordHash
from sqlalchemy import Engine, select, update
from sqlalchemy.exc import IntegrityError

from api.problems import ApiCode, ApiProblem
from api.scopes import Principal, Role, Scope, check_role_scopes, parse_role, parse_scope
from api.settings import Settings
from ledger.db import read_only
from ledger.engine import as_utc, utc_now

KEY_MARKER = "fl"
KEY_PREFIX_BYTES = 6  # 8 url-safe characters: the lookup part, not secret
KEY_SECRET_BYTES = 32
DEFAULT_KEY_DAYS = 90
KEY_DAYS_MAX = 3 * 365
PASSWORD_MIN_LENGTH = 12
USERNAME_MAX_LENGTH = 100
JWT_ALGORITHM = "HS256"
TOKEN_AUDIENCE = "fundledger-api"
BEARER_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="fundledger"'}
# A Bearer credential longer than this is neither a key nor one of our tokens; refused before parsing.
CREDENTIAL_MAX_LENGTH = 2_000

_metadata = sa.MetaData()
T_USERS = sa.Table(
    "api_users",
    _metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("username", sa.String(100), nullable=False),
    sa.Column("password_hash", sa.String(300), nullable=False),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("scopes", sa.String(2000), nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)
T_KEYS = sa.Table(
    "api_keys",
    _metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("prefix", sa.String(16), nullable=False),
    sa.Column("key_sha256", sa.String(64), nullable=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("scopes", sa.String(2000), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
)
_password_hash = PasswordHash.recommended()
# Verifying against this when a user is unknown keeps the time of "no such user" and "wrong password" alike.
_UNKNOWN_USER_HASH = _password_hash.hash(secrets.token_urlsafe(16))


def _scopes_text(scopes: tuple[Scope, ...]) -> str:
    return " ".join(str(scope) for scope in scopes)


def _scopes_of(text: str) -> tuple[Scope, ...]:
    return tuple(parse_scope(item) for item in text.split())


def _grant(role_text: str, scope_texts: list[str]) -> tuple[Role, tuple[Scope, ...]]:
    role = parse_role(role_text)
    return role, check_role_scopes(role, [parse_scope(text) for text in scope_texts])


def _check_password(password: str) -> None:
    if len(password) < PASSWORD_MIN_LENGTH:
        raise ApiProblem(422, ApiCode.PASSWORD_TOO_SHORT, f"a password needs at least {PASSWORD_MIN_LENGTH} characters")


# ----- users ---------------------------------------------------------------------------------------


def add_user(engine: Engine, username: str, password: str, role: str, scopes: list[str]) -> None:
    if not username or len(username) > USERNAME_MAX_LENGTH or username.startswith(KEY_MARKER + "_"):
        raise ApiProblem(422, ApiCode.REQUEST_INVALID, f"a user name has 1 to {USERNAME_MAX_LENGTH} characters")
    _check_password(password)
    granted_role, granted_scopes = _grant(role, scopes)
    try:
        with engine.begin() as conn:
            conn.execute(
                T_USERS.insert().values(
                    username=username,
                    password_hash=_password_hash.hash(password),
                    role=granted_role.value,
                    scopes=_scopes_text(granted_scopes),
                    disabled=False,
                    created_at=utc_now(),
                )
            )
    except IntegrityError as error:
        raise ApiProblem(409, ApiCode.USER_EXISTS, f"user {username!r} exists") from error


def _update_user(engine: Engine, username: str, **values) -> None:
    with engine.begin() as conn:
        changed = conn.execute(update(T_USERS).where(T_USERS.c.username == username).values(**values)).rowcount
    if not changed:
        raise ApiProblem(404, ApiCode.USER_NOT_FOUND, f"no user {username!r}")


def disable_user(engine: Engine, username: str) -> None:
    _update_user(engine, username, disabled=True)


def reset_password(engine: Engine, username: str, password: str) -> None:
    _check_password(password)
    _update_user(engine, username, password_hash=_password_hash.hash(password), disabled=False)


def _user_principal(row) -> Principal:  # noqa: ANN001 - a row mapping
    return Principal(
        name=row["username"], client=f"user:{row['username']}", role=Role(row["role"]), scopes=_scopes_of(row["scopes"])
    )


def check_password(engine: Engine, username: str, password: str) -> Principal | None:
    with read_only(engine).connect() as conn:
        row = conn.execute(select(T_USERS).where(T_USERS.c.username == username)).mappings().first()
    if row is None:
        _password_hash.verify(password, _UNKNOWN_USER_HASH)
        return None
    if not _password_hash.verify(password, row["password_hash"]) or row["disabled"]:
        return None
    return _user_principal(row)


# ----- API keys ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewKey:
    key: str  # shown once, never stored
    prefix: str
    expires_at: datetime


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(engine: Engine, name: str, role: str, scopes: list[str], *, days: int = DEFAULT_KEY_DAYS) -> NewKey:
    if not 1 <= days <= KEY_DAYS_MAX:
        raise ApiProblem(422, ApiCode.REQUEST_INVALID, f"a key lives 1 to {KEY_DAYS_MAX} days")
    granted_role, granted_scopes = _grant(role, scopes)
    prefix = secrets.token_urlsafe(KEY_PREFIX_BYTES).replace("_", "x").replace("-", "y")
    key = f"{KEY_MARKER}_{prefix}_{secrets.token_urlsafe(KEY_SECRET_BYTES)}"
    now = utc_now()
    expires_at = now + timedelta(days=days)
    with engine.begin() as conn:
        conn.execute(
            T_KEYS.insert().values(
                prefix=prefix,
                key_sha256=_digest(key),
                name=name[:USERNAME_MAX_LENGTH] or prefix,
                role=granted_role.value,
                scopes=_scopes_text(granted_scopes),
                created_at=now,
                expires_at=expires_at,
                revoked_at=None,
            )
        )
    return NewKey(key, prefix, expires_at)


def revoke_key(engine: Engine, prefix: str) -> None:
    with engine.begin() as conn:
        changed = conn.execute(
            update(T_KEYS).where(T_KEYS.c.prefix == prefix, T_KEYS.c.revoked_at.is_(None)).values(revoked_at=utc_now())
        ).rowcount
    if not changed:
        raise ApiProblem(404, ApiCode.KEY_NOT_FOUND, f"no live key with prefix {prefix!r}")


def key_prefix(credential: str) -> str | None:
    parts = credential.split("_", 2)
    if len(parts) == 3 and parts[0] == KEY_MARKER and parts[1]:
        return parts[1]
    return None


def check_key(engine: Engine, credential: str) -> Principal | None:
    # Credentials are read on every request: through a read-only connection, because on SQLite a plain
    # connection begins with BEGIN IMMEDIATE and every request, reads too, would queue for the write lock.
    prefix = key_prefix(credential)
    if prefix is None:
        return None
    with read_only(engine).connect() as conn:
        row = conn.execute(select(T_KEYS).where(T_KEYS.c.prefix == prefix)).mappings().first()
    if row is None or not hmac.compare_digest(row["key_sha256"], _digest(credential)):
        return None
    if row["revoked_at"] is not None or as_utc(row["expires_at"]) <= utc_now():
        return None
    return Principal(
        name=f"key:{row['name']}", client=f"key:{prefix}", role=Role(row["role"]), scopes=_scopes_of(row["scopes"])
    )


# ----- tokens --------------------------------------------------------------------------------------


def issue_token(settings: Settings, principal: Principal) -> tuple[str, int]:
    now = utc_now()
    seconds = settings.token_minutes * 60
    claims = {"sub": principal.name, "aud": TOKEN_AUDIENCE, "iat": now, "exp": now + timedelta(seconds=seconds)}
    return jwt.encode(claims, settings.jwt_secret, algorithm=JWT_ALGORITHM), seconds


def check_token(engine: Engine, settings: Settings, token: str) -> Principal | None:
    try:
        claims = jwt.decode(
            token,
            settings.jwt_secret,
            algorithms=[JWT_ALGORITHM],
            audience=TOKEN_AUDIENCE,
            options={"require": ["exp", "sub", "aud"]},
        )
    except jwt.PyJWTError:
        return None
    with read_only(engine).connect() as conn:
        row = conn.execute(select(T_USERS).where(T_USERS.c.username == claims["sub"])).mappings().first()
    if row is None or row["disabled"]:
        return None
    return _user_principal(row)


# ----- failures ------------------------------------------------------------------------------------


class FailureLimiter:
    """Counts failed authentications per (client address, key prefix or user name)."""

    def __init__(self, rate: str) -> None:
        self.rate = parse_rate(rate)
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    def check(self, client: str, who: str) -> None:
        if not self.limiter.test(self.rate, client, who):
            raise ApiProblem(
                429,
                ApiCode.AUTH_RATE_LIMITED,
                "too many failed authentications; wait and try again",
                headers={"Retry-After": str(self.rate.get_expiry())},
            )

    def failed(self, client: str, who: str) -> None:
        self.limiter.hit(self.rate, client, who)


def invalid_credentials() -> ApiProblem:
    return ApiProblem(401, ApiCode.CREDENTIALS_INVALID, "the credentials are not valid", headers=BEARER_CHALLENGE)


def authenticate_bearer(
    engine: Engine, settings: Settings, limiter: FailureLimiter, client: str, credential: str
) -> Principal:
    if len(credential) > CREDENTIAL_MAX_LENGTH:
        raise invalid_credentials()
    who = key_prefix(credential) or "token"
    limiter.check(client, who)
    principal = check_key(engine, credential) if who != "token" else check_token(engine, settings, credential)
    if principal is None:
        limiter.failed(client, who)
        raise invalid_credentials()
    return principal


def login(
    engine: Engine, settings: Settings, limiter: FailureLimiter, client: str, username: str, password: str
) -> tuple[str, int]:
    limiter.check(client, username)
    principal = check_password(engine, username, password)
    if principal is None:
        limiter.failed(client, username)
        raise invalid_credentials()
    return issue_token(settings, principal)
