"""Fixtures of the content tests (curricula, KB, sessions, telemetry, models, admin, storage).

``moto_s3`` runs moto's S3 server on a free loopback port for the module (a real HTTP peer, no mocks
inside the client) and yields its endpoint URL; each test makes its own bucket.
"""
from __future__ import annotations

import pytest


# ------------------------------------------------------------------------------ app and callers
JWT_SECRET = "content-test-secret-" + "y" * 40
PASSWORD = "Correct-Horse-42"


@pytest.fixture
def content_app(make_app, tmp_path):
    """``content_app(services=None, database=None, **overrides)``: the app with filesystem storage in
    a temp dir, a JWT secret (admin tests sign in) and rate limits out of the way of fast tests."""

    def factory(services=None, database=None, **overrides):
        from runtime.storage import StorageConfig

        overrides.setdefault("storage", StorageConfig(url=f"file://{tmp_path / 'storage'}"))
        overrides.setdefault("jwt_secret", JWT_SECRET)
        overrides.setdefault("rate_limit_token", (100_000, 60.0))
        overrides.setdefault("rate_limit_ip", (100_000, 60.0))
        overrides.setdefault("rate_limit_user", (100_000, 60.0))
        overrides.setdefault("rate_limit_login", (1000, 60.0))
        return make_app(None if services is None else list(services), database=database, **overrides)

    return factory


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def sign_in_admin(client, database, tenant_id: str, beta: str, *, role: str = "admin",
                        email: str | None = None) -> str:
    """Create a user with ``role`` in ``tenant_id`` (as the owner) and return its access token."""
    import uuid as _uuid

    from runtime.auth.passwords import hash_password

    email = email or f"admin-{_uuid.uuid4().hex[:8]}@example.com"
    owner = await database.owner()
    try:
        await owner.execute(
            "insert into users (tenant_id, email, password_hash, display_name, role) values ($1, $2, $3, 'Admin', $4)",
            _uuid.UUID(tenant_id), email, hash_password(PASSWORD), role)
    finally:
        await owner.close()
    login = await client.post("/api/auth/login", json={"email": email, "password": PASSWORD,
                                                       "device": {"fingerprint": _uuid.uuid4().hex, "type": "web"}},
                              headers=bearer(beta))
    assert login.status_code == 200, login.text
    return login.json()["tokens"]["access_token"]
