"""Who calls: API keys for programs and password users for people, with short-lived signed tokens.

A key is ``fl_<prefix>_<secret>``: the prefix finds its row, only the SHA-256 of the whole key is stored,
and the key is shown once when made. Passwords are hashed with Argon2 (pwdlib). Tokens are HS256 JWTs
(PyJWT) naming the user. Failed authentications are rate-limited per client address and key prefix or user
name (``limits``).

A caller that authenticated is remembered for ``PRINCIPAL_CACHE_SECONDS`` by the SHA-256 of its credential
(``PrincipalCache``, one per process), so a busy client costs no database read per request. The bound is
what revocation is honoured within: a key revoked or a user disabled from another process (the CLI, another
server worker) is refused at the latest that many seconds later; in the process that revokes or disables, at
once (``revoke_key`` and ``disable_user`` forget it). A key's or a token's own expiry is never overstayed."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import secrets
import threading
import time
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
# How long an authenticated caller is remembered without reading the database again, and so the longest a
# revocation or a disabled user made by another process can go unnoticed (see the module's docstring).
PRINCIPAL_CACHE_SECONDS = 5.0
# Distinct credentials remembered per process; past it the oldest are forgotten (they only cost a read).
PRINCIPAL_CACHE_MAX_ENTRIES = 10_000

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
    principal_cache.forget(f"user:{username}")


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
    principal_cache.forget(f"key:{prefix}")


def key_prefix(credential: str) -> str | None:
    parts = credential.split("_", 2)
    if len(parts) == 3 and parts[0] == KEY_MARKER and parts[1]:
        return parts[1]
    return None


def check_key(engine: Engine, credential: str) -> Principal | None:
    grant = _key_grant(engine, credential, _digest(credential))
    return None if grant is None else grant[0]


def _key_grant(engine: Engine, credential: str, digest: str) -> tuple[Principal, float] | None:
    """The key's principal and its expiry (a POSIX time), or None for a key that is not valid now."""
    # Through a read-only connection: on SQLite a plain connection begins with BEGIN IMMEDIATE, and every
    # request, reads too, would queue for the write lock.
    prefix = key_prefix(credential)
    if prefix is None:
        return None
    with read_only(engine).connect() as conn:
        row = conn.execute(select(T_KEYS).where(T_KEYS.c.prefix == prefix)).mappings().first()
    if row is None or not hmac.compare_digest(row["key_sha256"], digest):
        return None
    expires_at = as_utc(row["expires_at"])
    if row["revoked_at"] is not None or expires_at <= utc_now():
        return None
    principal = Principal(
        name=f"key:{row['name']}", client=f"key:{prefix}", role=Role(row["role"]), scopes=_scopes_of(row["scopes"])
    )
    return principal, expires_at.timestamp()


# ----- tokens --------------------------------------------------------------------------------------


def issue_token(settings: Settings, principal: Principal) -> tuple[str, int]:
    now = utc_now()
    seconds = settings.token_minutes * 60
    claims = {"sub": principal.name, "aud": TOKEN_AUDIENCE, "iat": now, "exp": now + timedelta(seconds=seconds)}
    return jwt.encode(claims, settings.jwt_secret, algorithm=JWT_ALGORITHM), seconds


def check_token(engine: Engine, settings: Settings, token: str) -> Principal | None:
    grant = _token_grant(engine, settings, token)
    return None if grant is None else grant[0]


def _token_grant(engine: Engine, settings: Settings, token: str) -> tuple[Principal, float] | None:
    """The token's user as a principal and the token's expiry (a POSIX time), or None."""
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
    return _user_principal(row), float(claims["exp"])


# ----- remembered callers ----------------------------------------------------------------------------


class PrincipalCache:
    """Authenticated callers by the SHA-256 of their credential and the database they were read from, each
    until ``PRINCIPAL_CACHE_SECONDS`` have passed or its key or token expires, whichever is first. Only
    successes are kept: a refused credential is read (and rate-limited) every time."""

    def __init__(self, seconds: float = PRINCIPAL_CACHE_SECONDS, max_entries: int = PRINCIPAL_CACHE_MAX_ENTRIES):
        self.seconds = seconds
        self.max_entries = max_entries
        self.clock = time.time  # POSIX seconds, comparable with key and token expiries
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str], tuple[Principal, float]] = {}

    def get(self, database: str, digest: str) -> Principal | None:
        entry = self._entries.get((database, digest))
        if entry is None:
            return None
        principal, until = entry
        if self.clock() >= until:
            with self._lock:
                self._entries.pop((database, digest), None)
            return None
        return principal

    def put(self, database: str, digest: str, principal: Principal, expires_at: float) -> None:
        until = min(self.clock() + self.seconds, expires_at)
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._drop_oldest()
            self._entries[(database, digest)] = (principal, until)

    def forget(self, client: str) -> None:
        """Forget every credential of one client (``key:PREFIX`` or ``user:NAME``), in every database."""
        with self._lock:
            for key in [key for key, (principal, _) in self._entries.items() if principal.client == client]:
                del self._entries[key]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def _drop_oldest(self) -> None:
        now = self.clock()
        live = {key: entry for key, entry in self._entries.items() if entry[1] > now}
        if len(live) >= self.max_entries:  # all live: drop the oldest half (insertion order)
            live = dict(list(live.items())[len(live) // 2 :])
        self._entries = live


principal_cache = PrincipalCache()


_engine_serials = itertools.count(1)


def _database_of(engine: Engine) -> str:
    """The cache's name for the database behind ``engine``: one process may serve several ledgers (tests do,
    even several in-memory SQLite databases of one URL), whose keys and users differ, so each engine gets
    its own serial number."""
    name = getattr(engine, "fundledger_cache_name", None)
    if name is None:
        name = f"{next(_engine_serials)}:{engine.url.render_as_string(hide_password=True)}"
        engine.fundledger_cache_name = name
    return name


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


def remembered_caller(engine: Engine, limiter: FailureLimiter, client: str, credential: str) -> Principal | None:
    """The caller if the cache remembers its credential, else None; no database read, so an async handler
    may call it on the event loop (``authenticate_bearer`` reads the database for the rest)."""
    if len(credential) > CREDENTIAL_MAX_LENGTH:
        raise invalid_credentials()
    limiter.check(client, key_prefix(credential) or "token")  # a locked-out client stays out, remembered or not
    return principal_cache.get(_database_of(engine), _digest(credential))


def authenticate_bearer(
    engine: Engine, settings: Settings, limiter: FailureLimiter, client: str, credential: str
) -> Principal:
    remembered = remembered_caller(engine, limiter, client, credential)
    if remembered is not None:
        return remembered
    who = key_prefix(credential) or "token"
    digest = _digest(credential)
    database = _database_of(engine)
    grant = _key_grant(engine, credential, digest) if who != "token" else _token_grant(engine, settings, credential)
    if grant is None:
        limiter.failed(client, who)
        raise invalid_credentials()
    principal_cache.put(database, digest, *grant)
    return grant[0]


def login(
    engine: Engine, settings: Settings, limiter: FailureLimiter, client: str, username: str, password: str
) -> tuple[str, int]:
    limiter.check(client, username)
    principal = check_password(engine, username, password)
    if principal is None:
        limiter.failed(client, username)
        raise invalid_credentials()
    return issue_token(settings, principal)
