"""Demo logins exist only in development: elsewhere the call is refused and no user is written. (The
development path, one login per role that then signs in, is exercised by the browser tests.)"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from api.auth import T_USERS
from api.demo_users import DEMO_USERS, NotDevelopment, create_demo_users, print_demo_users
from api.scopes import Role, check_role_scopes, parse_scope


def test_demo_users_are_refused_outside_development_and_nothing_is_written(engine):
    with pytest.raises(NotDevelopment):
        create_demo_users(engine, "production")
    printed = []
    print_demo_users(engine, type("Console", (), {"print": lambda self, text, **_: printed.append(text)})(), "")
    assert len(printed) == 1 and "FUNDLEDGER_ENV=development" in printed[0]
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(T_USERS)).scalar_one() == 0


def test_there_is_a_demo_login_for_every_role_with_the_scope_kind_it_needs():
    assert {Role(user.role) for user in DEMO_USERS} == set(Role)
    assert len({user.username for user in DEMO_USERS}) == len(DEMO_USERS)
    for user in DEMO_USERS:  # refuses a scope of the wrong kind, or none for a role that needs one
        check_role_scopes(Role(user.role), [parse_scope(text) for text in user.scopes])
