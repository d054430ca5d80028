"""Fixtures of the auth tests (on top of tests/runtime/conftest.py).

``database`` is the module's ``shared_database``: creating and migrating a database per test
would dominate the run time, so each test makes its own tenants, users and e-mails instead and
scopes any owner-side query to them.

``auth_app(**overrides)`` builds an app with the auth service (plus anything in ``services``) and
a JWT secret; ``signup(client, beta)`` registers and signs in a user and returns the login body.
"""
from __future__ import annotations

import uuid
from typing import Any

import pytest

JWT_SECRET = "test-secret-" + "x" * 40
PASSWORD = "Correct-Horse-42"


@pytest.fixture
def database(shared_database):
    return shared_database


@pytest.fixture
def auth_app(make_app):
    def factory(services=("health", "auth"), database=None, **overrides: Any):
        overrides.setdefault("jwt_secret", JWT_SECRET)
        # Tests sign in many times from one IP; the tests of these limits pass them explicitly.
        overrides.setdefault("rate_limit_login", (1000, 60.0))
        overrides.setdefault("rate_limit_register", (1000, 60.0))
        overrides.setdefault("rate_limit_ip", (10_000, 60.0))
        return make_app(list(services), database=database, **overrides)

    return factory


def device(fingerprint: str | None = None, kind: str = "ios") -> dict[str, Any]:
    return {"fingerprint": fingerprint or uuid.uuid4().hex, "name": "Test phone", "type": kind,
            "model": "iPhone15,2", "os_version": "18.1", "app_version": "1.4.0"}


async def signup(client, beta: str, email: str | None = None, password: str = PASSWORD, fingerprint: str | None = None) -> dict[str, Any]:
    email = email or f"u{uuid.uuid4().hex[:10]}@example.com"
    reg = await client.post("/api/auth/register", json={"email": email, "password": password, "display_name": "Ada"},
                            headers={"Authorization": f"Bearer {beta}"})
    assert reg.status_code == 201, reg.text
    login = await client.post("/api/auth/login", json={"email": email, "password": password, "device": device(fingerprint)},
                              headers={"Authorization": f"Bearer {beta}"})
    assert login.status_code == 200, login.text
    body = login.json()
    body["email"] = email
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
