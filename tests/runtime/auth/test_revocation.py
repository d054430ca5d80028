"""Revocation reaches every instance within UNAMENTIS_AUTH_CACHE_SECONDS (at most 30 s)."""
from __future__ import annotations

import time
import uuid

import pytest

from runtime.auth.store import issue_beta_token, revoke_beta_token, scope_to
from runtime.errors import ApiError
from runtime.settings import ConfigError, Settings
from tests.runtime.auth.conftest import bearer, signup
from tests.runtime.conftest import make_client

CACHE = 1.0


async def _until_status(client, headers, status, *, limit: float) -> float:
    """Seconds until GET /api/auth/me answers ``status``; fails after ``limit`` seconds."""
    start = time.monotonic()
    while True:
        response = await client.get("/api/auth/me", headers=headers)
        if response.status_code == status:
            return time.monotonic() - start
        assert time.monotonic() - start < limit, f"still {response.status_code} after {limit} s"
        time.sleep(0.1)


async def _issue(database, tenant_id, name: str, **options):
    """A beta token issued through the runtime role: (id, token)."""
    conn = await database.app()
    try:
        return await issue_beta_token(conn, tenant_id, name, **options)
    finally:
        await conn.close()


def test_cache_window_is_capped_at_30_seconds():
    assert Settings().auth_cache_seconds <= 30
    with pytest.raises(ConfigError, match="at most 30"):
        Settings.from_env({"UNAMENTIS_AUTH_CACHE_SECONDS": "31"})


async def test_revoked_beta_token_gets_401_on_every_instance(auth_app, tenant, database):
    tid, _ = await tenant()
    token_id, token = await _issue(database, tid, "tester")
    async with make_client(auth_app(auth_cache_seconds=CACHE)) as warm, make_client(auth_app(auth_cache_seconds=CACHE)) as cold:
        # Valid: the beta token authenticates (this route then wants a user token: 403, not 401).
        assert (await warm.get("/api/auth/me", headers=bearer(token))).status_code == 403
        owner = await database.owner()
        try:
            async with owner.transaction():
                await scope_to(owner, tid)
                assert await revoke_beta_token(owner, token_id)
        finally:
            await owner.close()
        # An instance that had not cached the token refuses at once, a warm one within the window.
        refused = await cold.get("/api/auth/me", headers=bearer(token))
        assert refused.status_code == 401 and refused.json()["error"] == "invalid_token"
        waited = await _until_status(warm, bearer(token), 401, limit=CACHE + 2)
        assert waited <= CACHE + 2


async def test_logout_on_one_instance_stops_the_token_on_another(auth_app, tenant):
    _tid, beta = await tenant()
    async with make_client(auth_app(auth_cache_seconds=CACHE)) as a, make_client(auth_app(auth_cache_seconds=CACHE)) as b:
        user = await signup(a, beta)
        h = bearer(user["tokens"]["access_token"])
        assert (await b.get("/api/auth/me", headers=h)).status_code == 200  # b caches the session
        assert (await a.post("/api/auth/logout", headers=h)).status_code == 200
        assert (await a.get("/api/auth/me", headers=h)).status_code == 401  # the instance that logged out: at once
        await _until_status(b, h, 401, limit=CACHE + 2)


async def test_device_bound_beta_token(auth_app, tenant, database):
    tid, _ = await tenant()
    _id, fixed = await _issue(database, tid, "fixed", device_id="device-a")
    _id, first = await _issue(database, tid, "first use", bind_on_first_use=True)
    app = auth_app()
    async with make_client(app):
        app_ctx = app.state.ctx
        ok = await app_ctx.auth.client(fixed, device_id="device-a")
        assert ok.device_id == "device-a" and ok.kind == "beta_token"
        for device in (None, "device-b"):
            with pytest.raises(ApiError) as info:
                await app_ctx.auth.client(fixed, device_id=device)
            assert info.value.status == 401 and info.value.error == "device_mismatch"
        with pytest.raises(ApiError):
            await app_ctx.auth.client(first)  # must name a device to bind
        bound = await app_ctx.auth.client(first, device_id="phone-1")
        assert bound.device_id == "phone-1"
        with pytest.raises(ApiError) as info:
            await app_ctx.auth.client(first, device_id="phone-2")
        assert info.value.error == "device_mismatch"
        assert (await app_ctx.auth.client(first, device_id="phone-1")).token_id == bound.token_id


async def test_expired_beta_token_and_suspended_tenant(auth_app, tenant, database):
    from datetime import datetime, timedelta, timezone

    tid, beta = await tenant()
    _id, old = await _issue(database, tid, "old", expires_at=datetime.now(timezone.utc) - timedelta(minutes=1))
    async with make_client(auth_app()) as client:
        expired = await client.get("/api/auth/me", headers=bearer(old))
        assert expired.status_code == 401 and expired.json()["error"] == "token_expired"
    owner = await database.owner()
    try:
        await owner.execute("update tenants set status = 'suspended' where id = $1", uuid.UUID(tid))
    finally:
        await owner.close()
    async with make_client(auth_app()) as client:
        suspended = await client.get("/api/auth/me", headers=bearer(beta))
        assert suspended.status_code == 403 and suspended.json()["error"] == "tenant_suspended"


async def test_a_known_token_is_looked_up_once_and_forgotten_when_its_row_is(auth_app, tenant, database, monkeypatch):
    """Requests in flight when a token's row is not cached share one lookup; later requests are
    answered from memory until the row is dropped (revocation, logout) or the token expires."""
    import asyncio
    from datetime import datetime, timedelta, timezone

    from runtime.auth import store

    tid, _ = await tenant()
    _id, token = await _issue(database, tid, "tester")
    _id, brief = await _issue(database, tid, "brief", expires_at=datetime.now(timezone.utc) + timedelta(hours=1))
    lookups: list[str] = []
    original = store.beta_token_any_tenant

    async def counted(conn, hashed):
        lookups.append(hashed)
        await asyncio.sleep(0.05)  # the others arrive while this one is in flight
        return await original(conn, hashed)

    monkeypatch.setattr(store, "beta_token_any_tenant", counted)
    app = auth_app(auth_cache_seconds=30)
    async with make_client(app):
        auth = app.state.ctx.auth
        burst = await asyncio.gather(*(auth.client(token) for _ in range(32)))
        assert len(lookups) == 1 and all(who is burst[0] for who in burst)
        for _ in range(5):
            assert await auth.client(token) is burst[0]
        assert len(lookups) == 1
        auth.forget_beta_token(token)  # what revoking through this instance does
        assert (await auth.client(token)).token_id == burst[0].token_id
        assert len(lookups) == 2
        # a remembered token still stops at its own expiry, as a fresh check would
        assert (await auth.client(brief)).name == "brief"
        later = time.time() + 2 * 3600
        monkeypatch.setattr(time, "time", lambda: later)
        with pytest.raises(ApiError) as expired:
            await auth.client(brief)
        assert expired.value.status == 401 and expired.value.error == "token_expired"


async def test_a_failed_lookup_leaves_the_waiting_requests_to_look_up_themselves(auth_app, tenant, database, monkeypatch):
    import asyncio

    from runtime.auth import store

    tid, _ = await tenant()
    _id, token = await _issue(database, tid, "tester")
    original = store.beta_token_any_tenant
    calls = 0

    async def first_fails(conn, hashed):
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        if calls == 1:
            raise ConnectionResetError("the database went away")
        return await original(conn, hashed)

    monkeypatch.setattr(store, "beta_token_any_tenant", first_fails)
    app = auth_app(auth_cache_seconds=30)
    async with make_client(app):
        auth = app.state.ctx.auth
        answers = await asyncio.gather(*(auth.client(token) for _ in range(4)), return_exceptions=True)
        assert isinstance(answers[0], ConnectionResetError)
        assert all(getattr(who, "name", None) == "tester" for who in answers[1:])
        assert calls == 2  # one failed lookup, then one for the three that waited
