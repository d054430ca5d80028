"""Sign-in failures and cached sessions stay inside the tenant they belong to."""
from __future__ import annotations

import uuid

from runtime.auth.tokens import JwtCodec
from tests.runtime.auth.conftest import JWT_SECRET, PASSWORD, bearer, device, signup
from tests.runtime.auth.test_cli import run
from tests.runtime.conftest import make_client


async def test_another_tenants_token_cannot_lock_an_account(auth_app, tenant):
    _acme, acme_beta = await tenant()
    _globex, globex_beta = await tenant()
    async with make_client(auth_app()) as client:
        user = await signup(client, acme_beta)
        bad = {"email": user["email"], "password": "Wrong-Pass-1", "device": device()}
        for _ in range(12):
            answer = await client.post("/api/auth/login", json=bad, headers=bearer(globex_beta))
            assert answer.status_code == 401
        good = await client.post("/api/auth/login", json={**bad, "password": PASSWORD}, headers=bearer(acme_beta))
        assert good.status_code == 200, good.text


async def test_login_answers_do_not_tell_accounts_apart(auth_app, tenant):
    _tid, beta = await tenant()
    async with make_client(auth_app()) as client:
        user = await signup(client, beta)
        bad = {"email": user["email"], "password": "Wrong-Pass-1", "device": device()}
        for _ in range(10):
            await client.post("/api/auth/login", json=bad, headers=bearer(beta))
        locked = await client.post("/api/auth/login", json=bad, headers=bearer(beta))
        stranger = await client.post("/api/auth/login", json={**bad, "email": f"n{uuid.uuid4().hex[:8]}@example.com"},
                                     headers=bearer(beta))
        assert locked.status_code == stranger.status_code == 401
        assert locked.json() == stranger.json()


async def test_cached_session_is_not_served_in_another_tenant(auth_app, tenant):
    _acme, acme_beta = await tenant()
    globex, _globex_beta = await tenant()
    async with make_client(auth_app(auth_cache_seconds=30)) as client:
        user = await signup(client, acme_beta)
        access = user["tokens"]["access_token"]
        me = await client.get("/api/auth/me", headers=bearer(access))
        assert me.status_code == 200  # the session is now cached
        claims = JwtCodec(JWT_SECRET).verify(access)
        forged, _ = JwtCodec(JWT_SECRET).issue(user_id=claims.user_id, tenant_id=globex, session_id=claims.session_id,
                                               role=claims.role, device_id=claims.device_id)
        answer = await client.get("/api/auth/me", headers=bearer(forged))
        assert answer.status_code == 401, answer.text


async def test_cli_token_list_shows_only_the_named_tenant(database):
    acme, globex = f"acme-{uuid.uuid4().hex[:6]}", f"globex-{uuid.uuid4().hex[:6]}"
    for slug in (acme, globex):
        assert run(database, "admin", "tenant", "create", slug).returncode == 0
        assert run(database, "admin", "token", "issue", "--tenant", slug, "--name", f"tester of {slug}").returncode == 0
    listed = run(database, "admin", "token", "list", "--tenant", globex)
    assert listed.returncode == 0, listed.stderr
    assert f"tester of {globex}" in listed.stdout
    assert f"tester of {acme}" not in listed.stdout


async def test_a_cached_session_gives_each_token_its_own_principal(auth_app, tenant):
    _acme, beta = await tenant()
    app = auth_app(auth_cache_seconds=30)
    async with make_client(app) as client:
        user = await signup(client, beta)
        access = user["tokens"]["access_token"]
        auth = app.state.ctx.auth
        first = await auth.user_token(access)
        assert await auth.user_token(access) is first  # built once per cached session and token
        claims = JwtCodec(JWT_SECRET).verify(access)
        other, _ = JwtCodec(JWT_SECRET).issue(user_id=claims.user_id, tenant_id=claims.tenant_id, session_id=claims.session_id,
                                              role=claims.role, device_id="another-device")
        second = await auth.user_token(other)
        assert (first.token_id, first.device_id) == (claims.jti, claims.device_id)
        assert second.token_id != first.token_id and second.device_id == "another-device"
        assert (second.user_id, second.session_id, second.tenant_id) == (first.user_id, first.session_id, first.tenant_id)
