from __future__ import annotations

from datetime import timedelta

import jwt
import pytest
from sqlalchemy import update

from api import auth
from api.problems import PROBLEM_MEDIA_TYPE
from api.scopes import Principal, Role
from api.settings import Settings, SettingsError, settings_from_env
from ledger.engine import utc_now

from .conftest import TEST_SECRET


def test_no_credentials_is_401_with_bearer_challenge(client):
    response = client.get("/v1/books")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)
    assert response.json()["code"] == "credentials_required"


def test_key_is_shown_once_stored_hashed_and_revocable(client, engine):
    new = auth.create_key(engine, "robot", "admin", [])
    assert new.key.startswith("fl_")
    with engine.connect() as conn:
        stored = conn.execute(auth.T_KEYS.select()).mappings().one()
    assert new.key not in stored.values() and len(stored["key_sha256"]) == 64
    headers = {"Authorization": f"Bearer {new.key}"}
    assert client.get("/v1/books", headers=headers).status_code == 200
    auth.revoke_key(engine, new.prefix)
    response = client.get("/v1/books", headers=headers)
    assert response.status_code == 401 and response.json()["code"] == "credentials_invalid"


def test_expired_key_and_wrong_secret_are_refused(client, engine):
    new = auth.create_key(engine, "robot", "admin", [])
    with engine.begin() as conn:
        conn.execute(update(auth.T_KEYS).values(expires_at=utc_now()))
    assert client.get("/v1/books", headers={"Authorization": f"Bearer {new.key}"}).status_code == 401
    forged = new.key[:-4] + "AAAA"
    assert client.get("/v1/books", headers={"Authorization": f"Bearer {forged}"}).status_code == 401


def test_password_login_gives_a_short_lived_token(client, engine, settings):
    auth.add_user(engine, "clerk.li", "correct horse battery", "finance_office", ["region:440100"])
    response = client.post("/v1/auth/token", data={"username": "clerk.li", "password": "correct horse battery"})
    assert response.status_code == 200
    body = response.json()
    claims = jwt.decode(body["access_token"], TEST_SECRET, algorithms=["HS256"], audience=auth.TOKEN_AUDIENCE)
    assert claims["sub"] == "clerk.li" and body["expires_in"] == settings.token_minutes * 60
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    assert client.get("/v1/books", headers=headers).status_code == 200
    auth.disable_user(engine, "clerk.li")
    assert client.get("/v1/books", headers=headers).status_code == 401


def test_wrong_password_is_401_and_failures_are_rate_limited(client, engine):
    auth.add_user(engine, "clerk.wang", "correct horse battery", "auditor", ["region:440100"])
    statuses = [
        client.post("/v1/auth/token", data={"username": "clerk.wang", "password": "wrong password!"}).status_code
        for _ in range(6)
    ]
    assert statuses[:5] == [401] * 5
    assert statuses[5] == 429
    limited = client.post("/v1/auth/token", data={"username": "clerk.wang", "password": "correct horse battery"})
    assert limited.status_code == 429 and limited.json()["code"] == "auth_rate_limited"


def test_expired_token_is_refused(client, engine):
    auth.add_user(engine, "clerk.zhao", "correct horse battery", "admin", [])
    stale = jwt.encode(
        {"sub": "clerk.zhao", "aud": auth.TOKEN_AUDIENCE, "exp": 1}, TEST_SECRET, algorithm=auth.JWT_ALGORITHM
    )
    assert client.get("/v1/books", headers={"Authorization": f"Bearer {stale}"}).status_code == 401


def test_user_rules_have_codes(engine):
    with pytest.raises(auth.ApiProblem) as short:
        auth.add_user(engine, "a", "short", "admin", [])
    assert short.value.code == "password_too_short"
    with pytest.raises(auth.ApiProblem) as scope:
        auth.add_user(engine, "b", "long enough password", "finance_office", [])
    assert scope.value.code == "scope_invalid"
    with pytest.raises(auth.ApiProblem) as role:
        auth.create_key(engine, "c", "janitor", [])
    assert role.value.code == "role_invalid"
    auth.add_user(engine, "d", "long enough password", "admin", [])
    with pytest.raises(auth.ApiProblem) as twice:
        auth.add_user(engine, "d", "long enough password", "admin", [])
    assert twice.value.code == "user_exists"


@pytest.mark.parametrize("secret", ["", "changeme", "short-secret"])
def test_settings_refuse_default_or_empty_secrets_outside_development(secret):
    with pytest.raises(SettingsError):
        settings_from_env({"FUNDLEDGER_JWT_SECRET": secret})


def test_settings_allow_an_empty_secret_in_development_only():
    settings = settings_from_env({"FUNDLEDGER_ENV": "development"})
    assert settings.development and len(settings.jwt_secret) >= 32
    assert settings_from_env({"FUNDLEDGER_JWT_SECRET": "x" * 40}).jwt_secret == "x" * 40


def test_docs_are_served_from_vendored_files(client):
    page = client.get("/docs")
    assert page.status_code == 200 and "/static/swagger/swagger-ui-bundle.js" in page.text
    assert "cdn" not in page.text.lower()
    assert client.get("/static/swagger/swagger-ui-bundle.js").status_code == 200
    assert client.get("/openapi.json").json()["info"]["title"] == "fundledger"


# ----- remembered callers (api.auth.PrincipalCache) -------------------------------------------------------


@pytest.fixture
def clock(monkeypatch):
    """The principal cache's clock, moved by hand: ``clock[0] += seconds``."""
    now = [utc_now().timestamp()]
    monkeypatch.setattr(auth.principal_cache, "clock", lambda: now[0])
    return now


def test_a_key_revoked_elsewhere_is_refused_within_the_cache_bound(client, engine, clock):
    new = auth.create_key(engine, "robot", "admin", [])
    headers = {"Authorization": f"Bearer {new.key}"}
    assert client.get("/v1/books", headers=headers).status_code == 200
    # Another process (the CLI) revokes it: this process does not hear of it and remembers the key a while.
    with engine.begin() as conn:
        conn.execute(update(auth.T_KEYS).values(revoked_at=utc_now()))
    clock[0] += auth.PRINCIPAL_CACHE_SECONDS - 1
    assert client.get("/v1/books", headers=headers).status_code == 200
    clock[0] += 1
    response = client.get("/v1/books", headers=headers)
    assert response.status_code == 401 and response.json()["code"] == "credentials_invalid"


def test_a_user_disabled_elsewhere_is_refused_within_the_cache_bound(client, engine, clock):
    auth.add_user(engine, "clerk.sun", "correct horse battery", "admin", [])
    token = client.post("/v1/auth/token", data={"username": "clerk.sun", "password": "correct horse battery"})
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    assert client.get("/v1/books", headers=headers).status_code == 200
    with engine.begin() as conn:
        conn.execute(update(auth.T_USERS).values(disabled=True))
    assert client.get("/v1/books", headers=headers).status_code == 200
    clock[0] += auth.PRINCIPAL_CACHE_SECONDS
    assert client.get("/v1/books", headers=headers).status_code == 401


def test_a_remembered_key_never_outlives_its_own_expiry(client, engine, clock):
    new = auth.create_key(engine, "robot", "admin", [])
    with engine.begin() as conn:
        conn.execute(update(auth.T_KEYS).values(expires_at=utc_now() + timedelta(seconds=2)))
    headers = {"Authorization": f"Bearer {new.key}"}
    assert client.get("/v1/books", headers=headers).status_code == 200
    clock[0] += 3  # inside the cache's bound, past the key's expiry, and the database agrees it has expired
    with engine.begin() as conn:
        conn.execute(update(auth.T_KEYS).values(expires_at=utc_now() - timedelta(seconds=1)))
    assert client.get("/v1/books", headers=headers).status_code == 401


def test_remembered_callers_are_kept_apart_per_database_and_credential(backend, engine_factory):
    if backend != "sqlite":
        pytest.skip("engine_factory hands out one schema on PostgreSQL; two SQLite files are two databases")
    first, second = engine_factory(), engine_factory()
    key = auth.create_key(first, "robot", "admin", []).key
    settings = Settings(jwt_secret=TEST_SECRET, auth_failure_rate="5/minute")
    limiter = auth.FailureLimiter(settings.auth_failure_rate)
    assert auth.authenticate_bearer(first, settings, limiter, "127.0.0.1", key).role.value == "admin"
    # The same credential against a ledger that never issued it is refused, remembered elsewhere or not.
    with pytest.raises(auth.ApiProblem) as refused:
        auth.authenticate_bearer(second, settings, limiter, "127.0.0.1", key)
    assert refused.value.code == "credentials_invalid"


def test_the_cache_forgets_the_oldest_when_full():
    cache = auth.PrincipalCache(seconds=60, max_entries=4)
    principals = [Principal(name=f"key:{i}", client=f"key:{i}", role=Role.ADMIN, scopes=()) for i in range(5)]
    for index, principal in enumerate(principals):
        cache.put("db", f"digest-{index}", principal, expires_at=cache.clock() + 3600)
    assert cache.get("db", "digest-4") is principals[4]
    assert cache.get("db", "digest-0") is None  # dropped to make room
    assert len(cache._entries) <= 4
    cache.forget("key:4")
    assert cache.get("db", "digest-4") is None
